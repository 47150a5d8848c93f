//! The `chatport` binary, run as a user runs it.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../whatsapp/tests/fixtures")
        .join(name)
}

fn real_secret() -> String {
    std::fs::read_to_string(fixture("real-signed.secret"))
        .unwrap()
        .trim()
        .to_owned()
}

fn real_signature() -> String {
    std::fs::read_to_string(fixture("real-signed.sig"))
        .unwrap()
        .trim()
        .to_owned()
}

fn chatport(args: &[&str], secret: Option<&str>, stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatport"));
    cmd.args(args)
        .env_remove("WHATSAPP_APP_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(secret) = secret {
        cmd.env("WHATSAPP_APP_SECRET", secret);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn verify_accepts_the_real_meta_delivery() {
    let file = fixture("real-signed.json");
    let out = chatport(
        &[
            "webhook",
            "verify",
            file.to_str().unwrap(),
            "--signature",
            &real_signature(),
        ],
        Some(&real_secret()),
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "valid");
}

#[test]
fn verify_refuses_a_changed_byte_and_a_wrong_secret() {
    let mut body = std::fs::read(fixture("real-signed.json")).unwrap();
    body[100] ^= 0x01;
    let out = chatport(
        &["webhook", "verify", "-", "--signature", &real_signature()],
        Some(&real_secret()),
        Some(&body),
    );
    assert_eq!(out.status.code(), Some(1));
    let file = fixture("real-signed.json");
    let out = chatport(
        &[
            "webhook",
            "verify",
            file.to_str().unwrap(),
            "--signature",
            &real_signature(),
        ],
        Some("another-secret"),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("another-secret"),
        "secret echoed: {stdout}"
    );
}

#[test]
fn verify_usage_and_input_errors_exit_2() {
    let file = fixture("real-signed.json");
    let file = file.to_str().unwrap();
    // no secret in the environment
    assert_eq!(
        chatport(
            &["webhook", "verify", file, "--signature", &real_signature()],
            None,
            None
        )
        .status
        .code(),
        Some(2)
    );
    // malformed header value
    assert_eq!(
        chatport(
            &["webhook", "verify", file, "--signature", "sha256=zz"],
            Some("s"),
            None
        )
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        chatport(
            &["webhook", "verify", file, "--signature", "md5=00"],
            Some("s"),
            None
        )
        .status
        .code(),
        Some(2)
    );
    // missing file
    assert_eq!(
        chatport(
            &[
                "webhook",
                "verify",
                "/nonexistent/body.json",
                "--signature",
                &real_signature()
            ],
            Some("s"),
            None
        )
        .status
        .code(),
        Some(2)
    );
    // missing --signature (clap usage error)
    assert_eq!(
        chatport(&["webhook", "verify", file], Some("s"), None)
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn sign_reproduces_metas_header() {
    let file = fixture("real-signed.json");
    let out = chatport(
        &["webhook", "sign", file.to_str().unwrap()],
        Some(&real_secret()),
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        real_signature()
    );
}

fn parse_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn parse_prints_one_line_per_event() {
    let file = fixture("batch.json");
    let out = chatport(&["webhook", "parse", file.to_str().unwrap()], None, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = parse_lines(&out.stdout);
    assert_eq!(lines.len(), 5);
    assert_eq!(lines.iter().filter(|l| l["kind"] == "message").count(), 3);
    assert_eq!(lines.iter().filter(|l| l["kind"] == "status").count(), 2);
    for line in &lines {
        assert!(line["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(line["phone_number_id"].is_string());
        let ts = line["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        if line["kind"] == "message" {
            assert!(line["from"].is_string() && line["type"].is_string());
        } else {
            assert!(line["recipient_id"].is_string() && line["status"].is_string());
        }
    }
}

#[test]
fn parse_passes_unknown_types_and_fields_through() {
    let out = chatport(
        &[
            "webhook",
            "parse",
            fixture("unknown_type_poll.json").to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let lines = parse_lines(&out.stdout);
    assert_eq!(lines[0]["type"], "poll");

    let out = chatport(
        &[
            "webhook",
            "parse",
            fixture("unknown_field.json").to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(parse_lines(&out.stdout)[0]["kind"], "other");

    let out = chatport(
        &[
            "webhook",
            "parse",
            fixture("change_error.json").to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let lines = parse_lines(&out.stdout);
    assert!(lines.iter().any(
        |l| l["kind"] == "error" && l["error_codes"].as_array().is_some_and(|c| !c.is_empty())
    ));

    let out = chatport(
        &["webhook", "parse", "-"],
        None,
        Some(
            std::fs::read(fixture("bsuid_only.json"))
                .unwrap()
                .as_slice(),
        ),
    );
    assert_eq!(out.status.code(), Some(0));
    let lines = parse_lines(&out.stdout);
    assert!(
        lines[0]["from_user_id"]
            .as_str()
            .unwrap()
            .starts_with("US.")
    );
    assert!(lines[0].get("from").is_none());
}

#[test]
fn parse_reports_malformed_json_with_line_and_column() {
    let out = chatport(
        &["webhook", "parse", "-"],
        None,
        Some(b"{\n  \"object\": \"whatsapp_business_account\",\n  \"entry\": [\n}"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 4") && stderr.contains("column"),
        "{stderr}"
    );
}

#[test]
fn demo_json_reports_no_loss() {
    let out = chatport(&["demo", "--json"], None, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["lost"], 0);
    // 5 from the O1 redelivery, 1 from the O2 redelivery, and the Orange Logic redeliveries.
    let ol = &report["orangelogic"];
    assert_eq!(
        report["duplicates_dropped"].as_u64().unwrap(),
        6 + ol["duplicates_dropped"].as_u64().unwrap()
    );
    assert_eq!(report["flows"]["O1"]["events"], 6);
    assert_eq!(report["flows"]["O1"]["delivered"], 6);
    assert_eq!(report["flows"]["O1"]["dead"], 0);
    assert_eq!(report["cms_cases"], 5);
    // Orange Logic flows L1–L7.
    for (flow, events) in [
        ("L1", 3),
        ("L2", 2),
        ("L3", 2),
        ("L4", 3),
        ("L4.answer", 2),
        ("L5", 2),
        ("L6", 2),
        ("L7", 3),
    ] {
        assert_eq!(report["flows"][flow]["events"], events, "{flow}");
        assert_eq!(report["flows"][flow]["delivered"], events, "{flow}");
        assert_eq!(report["flows"][flow]["dead"], 0, "{flow}");
    }
    assert_eq!(ol["duplicates_dropped"], 4);
    assert_eq!(ol["review_requests"], 2);
    assert_eq!(ol["policy_alerts"], 1);
    assert_eq!(ol["rollout_messages"], 2);
    assert_eq!(ol["answers_written_back"], 2);
    assert_eq!(ol["shares_sent"], 1);
    assert_eq!(ol["field_uploads"], 1);
    assert_eq!(ol["ugc_stored"], 1);
    assert_eq!(ol["expiry_alerts"], 3);
    // The OpenText document flows O2–O8 (O6: an incident and a consent archive).
    for (flow, events) in [
        ("O2", 3),
        ("O3", 1),
        ("O4", 2),
        ("O5", 2),
        ("O6", 2),
        ("O7", 2),
        ("O8", 2),
    ] {
        assert_eq!(report["flows"][flow]["events"], events, "{flow}: {report}");
        assert_eq!(report["flows"][flow]["dead"], 0, "{flow}");
    }
    let docs = &report["opentext_documents"];
    assert_eq!(docs["captured_documents"], 1);
    assert_eq!(docs["field_evidence"], 2);
    assert_eq!(docs["supplier_documents"], 1);
    assert_eq!(docs["share_links"], 1);
    assert_eq!(docs["compliance_archives"], 2);
    assert_eq!(docs["exception_answered"], true);
    assert!(report["problems"].as_array().unwrap().is_empty());
    // Flows C1–C5: two handoffs, two agent replies and a closure through the business process.
    assert_eq!(report["flows"]["C1"]["events"], 2);
    assert_eq!(report["flows"]["C1"]["delivered"], 2);
    assert_eq!(report["flows"]["C2"]["events"], 3);
    assert_eq!(report["flows"]["C2"]["delivered"], 3);
    assert_eq!(report["flows"]["C2"]["dead"], 0);
    assert_eq!(report["creatio"]["cases"], 2);
    assert_eq!(report["creatio"]["agent_replies_delivered"], 1);
    assert_eq!(report["creatio"]["window_templates_sent"], 1);
    assert_eq!(report["creatio"]["closures_notified"], 1);
    assert!(
        report["assistant"].is_null(),
        "the rules, without --assistant"
    );
    // The newer vendor shapes (issue 14), counted apart from everything above.
    let s = &report["scenarios"];
    assert_eq!(s["webhook_deliveries"], 7, "{s}");
    assert_eq!(s["events"], 8, "{s}");
    assert_eq!(s["delivered"], 8, "{s}");
    assert_eq!(s["dead"], 0, "{s}");
    assert_eq!(s["username_only"]["replies_to_user_id"], 1, "{s}");
    assert_eq!(s["number_change"]["thread_followed"], true, "{s}");
    assert!(
        s["number_change"]["thread_messages"].as_u64().unwrap() >= 2,
        "{s}"
    );
    assert_eq!(s["number_change"]["system_message_replies"], 0, "{s}");
    assert_eq!(s["number_change"]["new_number_replies"], 1, "{s}");
    assert_eq!(s["standby"]["held_by_other_app"], true, "{s}");
    assert_eq!(s["standby"]["sent_during_standby"], 0, "{s}");
    assert_eq!(s["standby"]["answered_after_handover"], 1, "{s}");
    assert_eq!(s["already_exists"]["uploads"], 2, "{s}");
    assert_eq!(s["already_exists"]["already_existed"], true, "{s}");
    assert_eq!(s["already_exists"]["same_record"], true, "{s}");
    assert_eq!(s["already_exists"]["assets_created"], 1, "{s}");
}

#[test]
fn demo_with_the_assistant_asks_the_model_and_loses_nothing() {
    let out = chatport(&["demo", "--json", "--assistant"], None, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["lost"], 0);
    assert!(
        report["problems"].as_array().unwrap().is_empty(),
        "{report}"
    );
    // The same events and records as on the rules: the model changes what is written, not how
    // much.
    assert_eq!(report["flows"]["O1"]["delivered"], 6);
    assert_eq!(report["cms_cases"], 5);
    assert_eq!(report["creatio"]["cases"], 2);
    let tasks = &report["assistant"];
    assert_eq!(tasks["summary"], 2, "{tasks}");
    assert_eq!(tasks["fields"], 2, "{tasks}");
    assert!(tasks["classify"].as_u64().unwrap() >= 6, "{tasks}");
}

#[test]
fn handoff_stores_one_request_per_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("outbox.sqlite");
    let config = dir.path().join("chatport.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
path = "{}"

[whatsapp]
access_token = "${{T_TOKEN}}"
app_secrets = ["${{T_SECRET}}"]
verify_token = "${{T_VERIFY}}"

[flows.o1]
enabled = false

[creatio]
base_url = "https://acme.creatio.com"
client_id = "chatport"
client_secret = "${{CREATIO_SECRET}}"

[flows.c1]
enabled = true
"#,
            store.display()
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "handoff",
            "+49 151 2345 6789",
            "--config",
            config.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_chatport"))
            .args(&args)
            .output()
            .unwrap()
    };
    let first = run(&["--request-id", "r1", "--note", "VIP"]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "handoff requested: handoff:r1"
    );
    let again = run(&["--request-id", "r1"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already requested"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(async {
        let store = chatport_runtime::SqliteStore::open(&store, Default::default()).unwrap();
        chatport_runtime::Outbox::list(
            &store,
            &chatport_runtime::EventFilter::default().flow("C1.manual"),
            10,
        )
        .await
        .unwrap()
    });
    assert_eq!(rows.len(), 1);
    let payload: Value = serde_json::from_slice(&rows[0].payload).unwrap();
    assert_eq!(payload["note"], "VIP");
    // Without flows.c1 the command refuses.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("[flows.c1]\nenabled = true", ""),
    )
    .unwrap();
    assert_eq!(run(&[]).status.code(), Some(1));
}

#[test]
fn check_validates_a_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        r#"
[whatsapp]
access_token = "${T_TOKEN}"
app_secrets = ["${T_SECRET}"]
verify_token = "${T_VERIFY}"

[opentext]
auth_base = "https://na-1-dev.api.opentext.com"
cms_base = "https://na-1-dev.api.opentext.com/cms"
tenant_id = "tenant"
client_id = "client"
client_secret = "${T_CLIENT_SECRET}"
"#,
    )
    .unwrap();
    let run = |path: &std::path::Path, with_env: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatport"));
        cmd.args(["check", "--config", path.to_str().unwrap()]);
        if with_env {
            cmd.env("T_TOKEN", "tok")
                .env("T_SECRET", "sec")
                .env("T_VERIFY", "ver")
                .env("T_CLIENT_SECRET", "cs");
        }
        cmd.output().unwrap()
    };
    assert_eq!(run(&good, true).status.code(), Some(0));
    let missing = run(&good, false);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("T_TOKEN"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&good)
            .unwrap()
            .replace("verify_token", "verify_tokn"),
    )
    .unwrap();
    let out = run(&bad, true);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 5")
            && stderr.contains("verify_tokn")
            && stderr.contains("did you mean `verify_token`"),
        "{stderr}"
    );
}

#[test]
fn config_schema_prints_the_configuration_schema() {
    let out = chatport(&["config", "schema"], None, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schema: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(schema["title"], "Config");
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown keys are errors"
    );
    for section in [
        "service", "store", "workers", "whatsapp", "opentext", "flows",
    ] {
        assert!(
            schema["properties"].get(section).is_some(),
            "[{section}] missing"
        );
    }
    assert!(
        schema["required"]
            .as_array()
            .unwrap()
            .contains(&"whatsapp".into())
    );
}
