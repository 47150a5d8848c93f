//! `chatport serve` as a process: a configuration file with secrets from the environment, signed
//! webhooks over HTTP, emulated vendors, and a graceful stop on SIGTERM.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
#![cfg(unix)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};

const SECRET: &str = "serve-test-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_serve(config: &std::path::Path, graph: &GraphEmulator, cms: &CmsEmulator) -> Child {
    Command::new(env!("CARGO_BIN_EXE_chatport"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("WA_TOKEN", graph.access_token())
        .env("WA_SECRET", SECRET)
        .env("WA_VERIFY", "verify")
        .env("CMS_CLIENT_SECRET", cms.client_secret())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let start = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "chatport serve did not become healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "chatport serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_o1_from_a_config_file_and_stops_on_sigterm() {
    let graph = GraphEmulator::start().await.unwrap();
    let cms = CmsEmulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("chatport.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[service]
listen = "127.0.0.1:{port}"

[store]
path = "{store}"

[workers]
retry_schedule_secs = [1]
poll_interval_ms = 50

[whatsapp]
api_base = "{graph}"
access_token = "${{WA_TOKEN}}"
app_secrets = ["${{WA_SECRET}}"]
verify_token = "${{WA_VERIFY}}"

[opentext]
auth_base = "{cms}"
cms_base = "{cms}/cms"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret = "${{CMS_CLIENT_SECRET}}"
"#,
            store = dir.path().join("chatport.sqlite").display(),
            graph = graph.base_url(),
            cms = cms.base_url(),
            tenant = cms.tenant_id(),
            client = cms.client_id(),
        ),
    )
    .unwrap();

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let child = spawn_serve(&config, &graph, &cms);
    wait_healthy(&http, &base).await;

    let simulator = WebhookSimulator::new(
        format!("{base}/webhooks/whatsapp"),
        SECRET.as_bytes().to_vec(),
    );
    let delivery = Delivery::new("102290129340398")
        .message(
            "106540352242922",
            "15550783881",
            MessageSpec::text(
                "16505551234",
                "wamid.serve1",
                1_751_247_548,
                "Where is my invoice?",
            ),
        )
        .build();
    let result = simulator.deliver(&delivery).await.unwrap();
    assert_eq!(result.status, 200, "{}", result.body);

    let start = Instant::now();
    while graph.sent().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no reply was sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cms.instances_of_type("ca_support_case").len(), 1);

    let status = terminate(child);
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );

    // A restart on the same store, and Meta redelivering the same POST: nothing happens twice.
    let child = spawn_serve(&config, &graph, &cms);
    wait_healthy(&http, &base).await;
    let again = simulator.deliver(&delivery).await.unwrap();
    assert_eq!(again.status, 200);
    let ack: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(ack["duplicates"], 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(terminate(child).success());
    assert_eq!(cms.instances_of_type("ca_support_case").len(), 1);
    assert_eq!(graph.sent().len(), 1);
}

#[test]
fn serve_refuses_a_configuration_with_an_unset_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chatport.toml");
    std::fs::write(
        &config,
        r#"
[whatsapp]
access_token = "${CHATPORT_TEST_SURELY_UNSET_TOKEN}"
app_secrets = ["${CHATPORT_TEST_SURELY_UNSET_SECRET}"]
verify_token = "${CHATPORT_TEST_SURELY_UNSET_VERIFY}"

[flows.o1]
enabled = false
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatport"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CHATPORT_TEST_SURELY_UNSET"), "{stderr}");
}
