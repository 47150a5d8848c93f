//! `chatport templates list|create|delete` against the testkit's Graph emulator on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use chatport_testkit::graph::GraphEmulator;
use serde_json::Value;

fn config(dir: &Path, graph: &GraphEmulator) -> std::path::PathBuf {
    let path = dir.join("chatport.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[whatsapp]
api_base = "{}"
access_token = "${{WA_TOKEN}}"
app_secrets = ["${{WA_SECRET}}"]
verify_token = "${{WA_VERIFY}}"

[flows.o1]
enabled = false
"#,
            graph.base_url()
        ),
    )
    .unwrap();
    path
}

async fn chatport(graph: &GraphEmulator, args: Vec<String>) -> Output {
    let token = graph.access_token().to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_chatport"))
            .args(&args)
            .env("WA_TOKEN", token)
            .env("WA_SECRET", "app-secret")
            .env("WA_VERIFY", "verify")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_create_and_delete_templates() {
    let graph = GraphEmulator::start().await.unwrap();
    graph.add_template("order_update", "en_US", "APPROVED");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &graph);
    let config = config.to_str().unwrap();

    let out = chatport(
        &graph,
        args(&[
            "templates",
            "list",
            "--config",
            config,
            "--waba-id",
            "102290129340398",
            "--json",
        ]),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["name"], "order_update");
    assert_eq!(listed[0]["status"], "APPROVED");

    let file = dir.path().join("template.json");
    std::fs::write(
        &file,
        r#"{"name": "case_opened", "language": "en_US", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Case {{1}} is open.",
                            "example": {"body_text": [["CASE-1042"]]}}]}"#,
    )
    .unwrap();
    let out = chatport(
        &graph,
        args(&[
            "templates",
            "create",
            "--config",
            config,
            "--waba-id",
            "102290129340398",
            "--file",
            file.to_str().unwrap(),
        ]),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!created["id"].as_str().unwrap().is_empty(), "{created}");
    assert!(
        graph.templates().iter().any(|t| t["name"] == "case_opened"),
        "{:?}",
        graph.templates()
    );

    let out = chatport(
        &graph,
        args(&[
            "templates",
            "delete",
            "--config",
            config,
            "--waba-id",
            "102290129340398",
            "--name",
            "case_opened",
        ]),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(!graph.templates().iter().any(|t| t["name"] == "case_opened"));

    // A file without components is a usage error (exit 2), nothing is sent.
    std::fs::write(
        &file,
        r#"{"name": "x", "language": "en_US", "category": "UTILITY"}"#,
    )
    .unwrap();
    let out = chatport(
        &graph,
        args(&[
            "templates",
            "create",
            "--config",
            config,
            "--waba-id",
            "102290129340398",
            "--file",
            file.to_str().unwrap(),
        ]),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("components"));
}
