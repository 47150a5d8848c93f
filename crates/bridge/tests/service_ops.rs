//! `Service::start_with_routes` over HTTP: the `[service]` backpressure keys answer webhooks 503
//! past the outbox marks, and extra routers are served on the same listener.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_core::EventId;
use chatport_runtime::{NewEvent, Outbox, Resolution, SqliteStore};
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};

const SECRET: &str = "ops-test-secret";

fn vars() -> BTreeMap<String, String> {
    [
        ("WA_TOKEN", "token"),
        ("WA_SECRET", SECRET),
        ("WA_VERIFY", "verify"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn config(service: &str) -> Config {
    Config::from_toml_str(&format!(
        r#"
[service]
{service}

[whatsapp]
api_base = "http://127.0.0.1:9"
access_token = "${{WA_TOKEN}}"
app_secrets = ["${{WA_SECRET}}"]
verify_token = "${{WA_VERIFY}}"

[flows.o1]
enabled = false
"#
    ))
    .unwrap()
}

fn delivery(wamid: &str) -> serde_json::Value {
    Delivery::new("102290129340398")
        .message(
            "106540352242922",
            "15550783881",
            MessageSpec::text("16505551234", wamid, 1_751_247_548, "hello"),
        )
        .build()
}

/// One pending row that no worker will take for an hour: claimed by the test, then scheduled
/// for a retry far ahead.
async fn park_one_pending_row(store: &SqliteStore) {
    store
        .enqueue(vec![NewEvent::new(
            "test",
            EventId::new("parked"),
            "line",
            "X1",
            Vec::new(),
        )])
        .await
        .unwrap();
    let claimed = store
        .claim("test", 1, Duration::from_secs(60))
        .await
        .unwrap();
    let row = &claimed[0];
    store
        .resolve(
            &row.lease,
            row.event.id,
            Resolution::Retry {
                at: chrono::Utc::now() + chrono::TimeDelta::hours(1),
                error: "parked by the test".into(),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn service_keys_turn_on_backpressure() {
    let store = SqliteStore::open_in_memory().unwrap();
    park_one_pending_row(&store).await;
    let config =
        config("max_pending = 0\nbackpressure_refresh_ms = 0\nbackpressure_retry_after_secs = 9");
    assert_eq!(config.service.max_pending, Some(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start(&config, &vars(), store.clone(), listener)
        .await
        .unwrap();
    let simulator = WebhookSimulator::new(
        format!("http://{}/webhooks/whatsapp", service.local_addr()),
        SECRET.as_bytes().to_vec(),
    );
    let refused = simulator.deliver(&delivery("wamid.BP1")).await.unwrap();
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(store.stats().await.unwrap().total(), 1, "nothing stored");
    service.stop().await;

    // The same backlog without the keys: accepted.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start(&config_without_limits(), &vars(), store.clone(), listener)
        .await
        .unwrap();
    let simulator = WebhookSimulator::new(
        format!("http://{}/webhooks/whatsapp", service.local_addr()),
        SECRET.as_bytes().to_vec(),
    );
    let accepted = simulator.deliver(&delivery("wamid.BP1")).await.unwrap();
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    service.stop().await;
}

fn config_without_limits() -> Config {
    config("")
}

#[tokio::test]
async fn service_age_key_refuses_while_the_oldest_row_waits() {
    let store = SqliteStore::open_in_memory().unwrap();
    park_one_pending_row(&store).await;
    let config = config("max_pending_age_secs = 0\nbackpressure_refresh_ms = 0");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start(&config, &vars(), store.clone(), listener)
        .await
        .unwrap();
    let url = format!("http://{}/webhooks/whatsapp", service.local_addr());
    let simulator = WebhookSimulator::new(url, SECRET.as_bytes().to_vec());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let refused = simulator.deliver(&delivery("wamid.AGE1")).await.unwrap();
    assert_eq!(refused.status, 503);
    service.stop().await;
}

#[tokio::test]
async fn extra_routes_are_served_next_to_the_webhook() {
    let store = SqliteStore::open_in_memory().unwrap();
    let extra = Router::new().route("/extra", get(|| async { "extra route" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start_with_routes(
        &config_without_limits(),
        &vars(),
        store,
        listener,
        vec![extra],
    )
    .await
    .unwrap();
    let base = format!("http://{}", service.local_addr());
    let http = reqwest::Client::new();
    let r = http.get(format!("{base}/extra")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "extra route");
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let simulator = WebhookSimulator::new(
        format!("{base}/webhooks/whatsapp"),
        SECRET.as_bytes().to_vec(),
    );
    assert_eq!(
        simulator
            .deliver(&delivery("wamid.X1"))
            .await
            .unwrap()
            .status,
        200
    );
    service.stop().await;
}

#[test]
fn backpressure_keys_default_off_and_reject_typos() {
    let plain = config_without_limits();
    assert!(!plain.service.backpressure().is_enabled());
    let bp = config("max_pending = 10\nmax_pending_age_secs = 300")
        .service
        .backpressure();
    assert_eq!(bp.max_pending, Some(10));
    assert_eq!(bp.max_pending_age, Some(Duration::from_secs(300)));
    assert_eq!(bp.refresh, Duration::from_millis(250));
    let error = Config::from_toml_str(
        "[service]\nmax_pendng = 3\n[whatsapp]\naccess_token = \"x\"\napp_secrets = [\"y\"]\nverify_token = \"z\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("max_pending"), "{error}");
}
