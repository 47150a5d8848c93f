//! The operations commands run as a user runs them, against a store file the test prepares:
//! `chatport dlq list|show|retry|purge`, `chatport replay`, `chatport check --probe`, and
//! `chatport bench ingest` against an in-process service.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_core::EventId;
use chatport_runtime::{EventFilter, EventStatus, NewEvent, Outbox, Resolution, SqliteStore};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::creatio::CreatioEmulator;
use chatport_testkit::orangelogic::OrangeLogicEmulator;
use serde_json::{Value, json};

fn chatport(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatport"));
    cmd.args(args).env_remove("CHATPORT_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_out(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            stdout(out),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn event(id: &str, flow: &str) -> NewEvent {
    NewEvent::new(
        "whatsapp",
        EventId::new(id),
        "message",
        flow,
        serde_json::to_vec(&json!({"id": id, "text": {"body": "hello"}})).unwrap(),
    )
}

/// Row ids by event id after preparing: O1 rows `d1` (dead after one attempt), `d2` (stored dead),
/// `ok1`, `ok2` (done); an O2 row `x1` (dead after one attempt).
struct Prepared {
    _dir: tempfile::TempDir,
    path: PathBuf,
    ids: BTreeMap<String, i64>,
}

async fn prepare() -> Prepared {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ops.sqlite");
    let store = SqliteStore::open(&path, Default::default()).unwrap();
    store
        .enqueue(vec![
            event("d1", "O1"),
            event("d2", "O1").dead("unparseable: expected value at line 1"),
            event("ok1", "O1"),
            event("ok2", "O1"),
            event("x1", "O2"),
        ])
        .await
        .unwrap();
    let claimed = store
        .claim("prep", 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);
    for c in claimed {
        let resolution = match c.event.event_id.as_str() {
            "d1" => Resolution::Dead {
                error: "CMS rejected the case: missing type ca_support_case".into(),
            },
            "x1" => Resolution::Dead {
                error: "permanent: 131047 re-engagement".into(),
            },
            _ => Resolution::Done {
                receipt: Some(json!({"case": "C-1"})),
            },
        };
        store
            .resolve(&c.lease, c.event.id, resolution)
            .await
            .unwrap();
    }
    let ids = store
        .list(&EventFilter::new(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event_id.as_str().to_owned(), e.id))
        .collect();
    drop(store);
    Prepared {
        _dir: dir,
        path,
        ids,
    }
}

impl Prepared {
    fn store_arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
    fn id(&self, event: &str) -> String {
        self.ids[event].to_string()
    }
    fn reopen(&self) -> SqliteStore {
        SqliteStore::open(&self.path, Default::default()).unwrap()
    }
}

fn write_config(dir: &Path, store: &Path) -> PathBuf {
    let config = dir.join("chatport.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
path = "{}"

[whatsapp]
access_token = "${{WA_TOKEN}}"
app_secrets = ["${{WA_SECRET}}"]
verify_token = "${{WA_VERIFY}}"

[flows.o1]
enabled = false
"#,
            store.display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test]
async fn dlq_list_shows_dead_rows_as_table_and_json() {
    let p = prepare().await;
    let out = chatport(&["dlq", "list", "--store", p.store_arg(), "--json"], &[]);
    assert!(out.status.success(), "{out:?}");
    let rows = json_out(&out);
    let rows = rows.as_array().unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![p.ids["d1"], p.ids["d2"], p.ids["x1"]]);
    assert_eq!(rows[0]["flow"], "O1");
    assert_eq!(rows[0]["status"], "dead");
    assert_eq!(rows[0]["attempts"], 1);
    assert_eq!(
        rows[0]["last_error"],
        "CMS rejected the case: missing type ca_support_case"
    );
    assert!(rows[0].get("payload").is_none(), "list leaves payloads out");

    // Filter by flow, through the configuration file.
    let config = write_config(p._dir.path(), &p.path);
    let out = chatport(
        &[
            "dlq",
            "list",
            "--config",
            config.to_str().unwrap(),
            "--flow",
            "O2",
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let rows = json_out(&out);
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["event_id"], "x1");

    // The table for people.
    let out = chatport(&["dlq", "list", "--store", p.store_arg()], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("LAST ERROR"),
        "{text}"
    );
    assert!(text.contains("131047"), "{text}");
    assert!(text.contains("3 shown, 3 dead in the store"), "{text}");
}

#[tokio::test]
async fn dlq_show_gives_fields_history_and_payload() {
    let p = prepare().await;
    let out = chatport(
        &[
            "dlq",
            "show",
            &p.id("d1"),
            "--store",
            p.store_arg(),
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let row = json_out(&out);
    assert_eq!(row["event_id"], "d1");
    assert_eq!(row["payload"]["text"]["body"], "hello");
    let history = row["attempt_history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["outcome"], "dead");
    assert_eq!(history[0]["attempt"], 1);

    let out = chatport(&["dlq", "show", &p.id("d1"), "--store", p.store_arg()], &[]);
    let text = stdout(&out);
    assert!(text.contains("attempt history:"), "{text}");
    assert!(text.contains("\"body\": \"hello\""), "{text}");

    let out = chatport(&["dlq", "show", "999999", "--store", p.store_arg()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no row 999999"));
}

#[tokio::test]
async fn dlq_retry_puts_dead_rows_back_and_reports_the_others() {
    let p = prepare().await;
    let out = chatport(
        &[
            "dlq",
            "retry",
            &p.id("d1"),
            &p.id("ok1"),
            "--store",
            p.store_arg(),
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "a skipped id fails the command");
    let report = json_out(&out);
    assert_eq!(report["retried"], 1);
    assert_eq!(report["retried_ids"], json!([p.ids["d1"]]));
    assert_eq!(report["skipped_ids"], json!([p.ids["ok1"]]));

    let store = p.reopen();
    let d1 = store.get(p.ids["d1"]).await.unwrap().unwrap();
    assert_eq!(d1.status, EventStatus::Pending);
    assert_eq!(d1.attempts, 0);
    let ok1 = store.get(p.ids["ok1"]).await.unwrap().unwrap();
    assert_eq!(ok1.status, EventStatus::Done, "a done row is not touched");
    drop(store);

    let out = chatport(
        &["dlq", "retry", &p.id("x1"), "--store", p.store_arg()],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("retried 1 dead row(s)"));
}

#[tokio::test]
async fn dlq_purge_honours_before_and_dry_run() {
    let p = prepare().await;
    // Nothing was received before 2000.
    let out = chatport(
        &[
            "dlq",
            "purge",
            "--before",
            "2000-01-01",
            "--store",
            p.store_arg(),
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json_out(&out), json!({"purged": 0}));

    let out = chatport(
        &[
            "dlq",
            "purge",
            "--dry-run",
            "--flow",
            "O1",
            "--store",
            p.store_arg(),
            "--json",
        ],
        &[],
    );
    assert_eq!(json_out(&out), json!({"would_purge": 2}));
    assert_eq!(
        p.reopen().stats().await.unwrap().dead,
        3,
        "dry run deletes nothing"
    );

    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    let out = chatport(
        &[
            "dlq",
            "purge",
            "--before",
            &tomorrow,
            "--flow",
            "O1",
            "--store",
            p.store_arg(),
            "--json",
        ],
        &[],
    );
    assert_eq!(json_out(&out), json!({"purged": 2}));
    let stats = p.reopen().stats().await.unwrap();
    assert_eq!(stats.dead, 1, "the O2 row stays");
    assert_eq!(stats.done, 2, "done rows are never purged");
}

#[tokio::test]
async fn replay_resets_dead_or_done_rows_of_a_flow_since_a_time() {
    let p = prepare().await;
    let out = chatport(
        &[
            "replay",
            "--flow",
            "O1",
            "--since",
            "1h",
            "--status",
            "done",
            "--store",
            p.store_arg(),
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json_out(&out), json!({"replayed": 2}));
    let store = p.reopen();
    for id in ["ok1", "ok2"] {
        let row = store.get(p.ids[id]).await.unwrap().unwrap();
        assert_eq!(row.status, EventStatus::Pending, "{id}");
    }
    drop(store);

    // Default status: dead. Rows received before --since are left alone.
    let out = chatport(
        &[
            "replay",
            "--flow",
            "O1",
            "--since",
            "2999-01-01",
            "--store",
            p.store_arg(),
            "--json",
        ],
        &[],
    );
    assert_eq!(json_out(&out), json!({"replayed": 0}));
    let out = chatport(
        &[
            "replay",
            "--flow",
            "O1",
            "--since",
            "2000-01-01",
            "--store",
            p.store_arg(),
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).starts_with("replayed 2 dead row(s) of flow O1"),
        "{}",
        stdout(&out)
    );

    // Usage errors.
    let out = chatport(&["replay", "--since", "1h", "--store", p.store_arg()], &[]);
    assert_eq!(out.status.code(), Some(2), "--flow is required");
    let out = chatport(
        &[
            "replay",
            "--flow",
            "O1",
            "--since",
            "1h",
            "--status",
            "pending",
            "--store",
            p.store_arg(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ops_commands_refuse_a_missing_store() {
    let out = chatport(
        &["dlq", "list", "--store", "/nonexistent/chatport.sqlite"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store at"));
    let out = chatport(&["dlq", "list"], &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--config or --store is required"
    );
}

/// A Graph API stand-in answering `GET /{default version}/me` for the bearer token `good-token`.
async fn graph_stub() -> String {
    let app = Router::new().route(
        &format!("/{}/me", chatport_whatsapp::DEFAULT_API_VERSION),
        get(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if auth == "Bearer good-token" {
                (StatusCode::OK, axum::Json(json!({"id": "1234567890"})))
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": {"message": "Invalid OAuth access token.",
                        "type": "OAuthException", "code": 190}})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probe_reports_each_connector_without_secrets() {
    let graph = graph_stub().await;
    let cms = CmsEmulator::start().await.unwrap();
    let dam = OrangeLogicEmulator::start().await.unwrap();
    let crm = CreatioEmulator::start().await.unwrap();
    let chat = chatport_testkit::chat::ChatEmulator::builder()
        .api_key("sk-good-chat-key")
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("probe.sqlite");
    let config = dir.path().join("chatport.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[whatsapp]
api_base = "{graph}"
access_token = "${{WA_TOKEN}}"
app_secrets = ["${{WA_SECRET}}"]
verify_token = "${{WA_VERIFY}}"
timeout_secs = 5

[opentext]
auth_base = "{cms}"
cms_base = "{cms}/cms"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret = "${{CMS_SECRET}}"

[orangelogic]
base_url = "{dam}"
client_id = "{dam_client}"
client_secret = "${{DAM_SECRET}}"

[creatio]
base_url = "{crm}"
client_id = "{crm_client}"
client_secret = "${{CRM_SECRET}}"
token_url = "{crm}/connect/token"

[assistant]
base_url = "{chat}"
model = "probe-model"
api_key = "${{CHAT_KEY}}"

[store]
path = "{db}"
"#,
            chat = chat.base_url(),
            cms = cms.base_url(),
            tenant = cms.tenant_id(),
            client = cms.client_id(),
            dam = dam.base_url(),
            dam_client = dam.client_id(),
            crm = crm.base_url(),
            crm_client = crm.client_id(),
            db = db.display(),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let good_cms = cms.client_secret().to_owned();
    let good_dam = dam.client_secret().to_owned();
    let good_crm = crm.client_secret().to_owned();
    let env = |wa: &'static str, cms_secret: String, chat_key: &'static str| {
        vec![
            ("CHAT_KEY", chat_key.to_owned()),
            ("WA_TOKEN", wa.to_owned()),
            ("WA_SECRET", "app-secret".to_owned()),
            ("WA_VERIFY", "verify".to_owned()),
            ("CMS_SECRET", cms_secret),
            ("DAM_SECRET", good_dam.clone()),
            ("CRM_SECRET", good_crm.clone()),
        ]
    };
    let run = |env: Vec<(&'static str, String)>, json: bool| {
        let config = config.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let mut args = vec!["check", "--config", &config, "--probe"];
                if json {
                    args.push("--json");
                }
                chatport(&args, &env)
            })
            .await
            .unwrap()
        }
    };

    let out = run(
        env("good-token", good_cms.clone(), "sk-good-chat-key"),
        true,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let report = json_out(&out);
    assert_eq!(report["config"], "OK");
    let probes = report["probes"].as_array().unwrap();
    let connectors: Vec<&str> = probes
        .iter()
        .map(|p| p["connector"].as_str().unwrap())
        .collect();
    assert_eq!(
        connectors,
        [
            "store",
            "whatsapp",
            "opentext",
            "orangelogic",
            "creatio",
            "assistant"
        ]
    );
    for probe in probes {
        assert_eq!(probe["status"], "OK", "{report}");
    }
    // The SQLite probe does not create the database file (serve does).
    assert!(!db.exists());
    assert!(
        dam.token_requests() > 0,
        "the Orange Logic probe asked for a token"
    );
    assert_eq!(chat.requests().len(), 1, "one tiny request to the model");
    assert_eq!(chat.requests()[0]["model"], "probe-model");

    let bad_secret = "wrong-cms-secret-7f3a";
    let out = run(
        env(
            "expired-token-9c2e",
            bad_secret.to_owned(),
            "sk-revoked-chat-key",
        ),
        false,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("configuration OK"), "{text}");
    let wa_line = text.lines().find(|l| l.starts_with("whatsapp")).unwrap();
    assert!(
        wa_line.contains("FAILED") && wa_line.contains("(auth)"),
        "{text}"
    );
    assert!(wa_line.contains("190"), "{text}");
    let ot_line = text.lines().find(|l| l.starts_with("opentext")).unwrap();
    assert!(
        ot_line.contains("FAILED") && ot_line.contains("(auth)"),
        "{text}"
    );
    let ai_line = text.lines().find(|l| l.starts_with("assistant")).unwrap();
    assert!(
        ai_line.contains("FAILED") && ai_line.contains("(auth)"),
        "{text}"
    );
    assert!(!text.contains("sk-revoked-chat-key"), "{text}");
    assert!(!text.contains("expired-token-9c2e"), "{text}");
    assert!(!text.contains(bad_secret), "{text}");
    for connector in ["store", "orangelogic", "creatio"] {
        let line = text.lines().find(|l| l.starts_with(connector)).unwrap();
        assert!(line.contains(" OK "), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probe_reaches_the_postgresql_store_without_printing_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chatport.toml");
    let graph = graph_stub().await;
    let write = |url_var: &str| {
        std::fs::write(
            &config,
            format!(
                r#"
[whatsapp]
api_base = "{graph}"
access_token = "${{WA_TOKEN}}"
app_secrets = ["${{WA_SECRET}}"]
verify_token = "${{WA_VERIFY}}"

[store]
backend = "postgres"
url = "${{{url_var}}}"
schema = "check_probe"

[flows.o1]
enabled = false
"#
            ),
        )
        .unwrap();
    };
    let run = |url: String| {
        let config = config.to_str().unwrap().to_owned();
        async move {
            tokio::task::spawn_blocking(move || {
                chatport(
                    &["check", "--config", &config, "--probe", "--json"],
                    &[
                        ("WA_TOKEN", "good-token"),
                        ("WA_SECRET", "app-secret"),
                        ("WA_VERIFY", "verify"),
                        ("PG_URL", url.as_str()),
                    ],
                )
            })
            .await
            .unwrap()
        }
    };
    write("PG_URL");
    // Nothing listens on port 9: the probe fails as unavailable, and the password stays hidden.
    let out = run("postgres://chatport:pg-secret-41d7@127.0.0.1:9/none".into()).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let report = json_out(&out);
    assert_eq!(report["probes"][0]["connector"], "store", "{report}");
    assert_eq!(report["probes"][0]["status"], "FAILED", "{report}");
    assert!(!text.contains("pg-secret-41d7"), "{text}");

    let Some(url) = chatport_testkit::postgres::test_url("check_store (the reachable half)") else {
        return;
    };
    let out = run(url).await;
    assert!(out.status.success(), "{out:?}");
    let report = json_out(&out);
    assert_eq!(report["probes"][0]["connector"], "store", "{report}");
    assert_eq!(report["probes"][0]["status"], "OK", "{report}");
    assert_eq!(
        report["probes"][0]["target"],
        "PostgreSQL, schema check_probe"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_ingest_reports_the_documented_json_against_an_in_process_service() {
    const SECRET: &str = "bench-app-secret";
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.sqlite"), Default::default()).unwrap();
    let config = Config::from_toml_str(
        r#"
[whatsapp]
api_base = "http://127.0.0.1:9"
access_token = "${WA_TOKEN}"
app_secrets = ["${WA_SECRET}"]
verify_token = "${WA_VERIFY}"

[flows.o1]
enabled = false
"#,
    )
    .unwrap();
    let vars: BTreeMap<String, String> = [
        ("WA_TOKEN", "token"),
        ("WA_SECRET", SECRET),
        ("WA_VERIFY", "verify"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start(&config, &vars, store.clone(), listener)
        .await
        .unwrap();
    let url = format!("http://{}/webhooks/whatsapp", service.local_addr());

    let out = tokio::task::spawn_blocking(move || {
        chatport(
            &[
                "bench",
                "ingest",
                "--url",
                &url,
                "--concurrency",
                "4",
                "--duration",
                "1",
                "--secret-env",
                "BENCH_SECRET",
                "--json",
            ],
            &[("BENCH_SECRET", SECRET)],
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report = json_out(&out);
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec!["requests", "ok", "errors", "throughput_per_s", "latency_ms"];
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "{report}");
    let ok = report["ok"].as_u64().unwrap();
    assert!(ok > 0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["requests"].as_u64().unwrap(), ok);
    assert!(report["throughput_per_s"].as_f64().unwrap() > 0.0);
    let latency = report["latency_ms"].as_object().unwrap();
    for key in ["p50", "p90", "p99", "max"] {
        assert!(latency[key].as_f64().unwrap() > 0.0, "{report}");
    }
    assert!(latency["p50"].as_f64() <= latency["max"].as_f64());
    // Every acknowledged delivery was stored (at least one event each).
    let stats = store.stats().await.unwrap();
    assert!(stats.total() >= ok, "{stats:?} vs {ok}");
    service.stop().await;

    // Not loopback: refused without --allow-remote.
    let out = chatport(
        &[
            "bench",
            "ingest",
            "--url",
            "http://192.0.2.1/x",
            "--duration",
            "1",
        ],
        &[("WHATSAPP_APP_SECRET", "s")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

/// `chatport bench e2e --replicas 2`: two services on one PostgreSQL schema share the offered
/// load and deliver all of it (the throughput figures themselves are in docs/performance.md).
#[test]
fn bench_e2e_runs_two_replicas_on_one_postgres_schema() {
    let Some(url) = chatport_testkit::postgres::test_url("bench e2e --replicas 2") else {
        return;
    };
    let out = chatport(
        &[
            "bench",
            "e2e",
            "--store",
            "postgres",
            "--postgres-url-env",
            "CHATPORT_TEST_POSTGRES_URL",
            "--replicas",
            "2",
            "--rate",
            "100",
            "--duration",
            "2",
            "--drain-secs",
            "60",
            "--json",
        ],
        &[("CHATPORT_TEST_POSTGRES_URL", url.as_str())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_out(&out);
    assert_eq!(report["replicas"], 2, "{report}");
    assert_eq!(report["store"], "postgres");
    let step = &report["steps"][0];
    let acknowledged = step["acknowledged_events"].as_u64().unwrap();
    assert_eq!(
        acknowledged,
        step["offered_events"].as_u64().unwrap(),
        "{step}"
    );
    assert_eq!(step["errors"], serde_json::json!({}), "{step}");
    assert_eq!(step["drained"], true, "every event was delivered: {step}");
    assert_eq!(step["dead"], 0, "{step}");
    let per_replica: Vec<u64> = step["acknowledged_by_replica"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(per_replica.len(), 2, "{step}");
    assert!(
        per_replica.iter().all(|&n| n > 0),
        "both replicas took deliveries: {step}"
    );
    assert_eq!(per_replica.iter().sum::<u64>(), acknowledged);
}
