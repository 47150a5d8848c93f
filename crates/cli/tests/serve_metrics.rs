//! `chatport serve` as a process serves Prometheus `/metrics` next to the webhook: after a
//! delivery went through O1, the ingress, worker, outbox and connector request series are there.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
#![cfg(unix)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};

const SECRET: &str = "metrics-test-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exposes_prometheus_metrics_after_a_delivery() {
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
    let _child = Killed(
        Command::new(env!("CARGO_BIN_EXE_chatport"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("WA_TOKEN", graph.access_token())
            .env("WA_SECRET", SECRET)
            .env("WA_VERIFY", "verify")
            .env("CMS_CLIENT_SECRET", cms.client_secret())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

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
                "wamid.metrics1",
                1_751_247_548,
                "Where is my invoice?",
            ),
        )
        .build();
    assert_eq!(simulator.deliver(&delivery).await.unwrap().status, 200);
    // A redelivery counts as a duplicate.
    assert_eq!(simulator.deliver(&delivery).await.unwrap().status, 200);
    let start = Instant::now();
    while graph.sent().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no reply was sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The delivery is resolved just after the reply went out: scrape until it shows.
    let start = Instant::now();
    let (content_type, text) = loop {
        let response = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let text = response.text().await.unwrap();
        if text.contains("chatport_deliveries_total") {
            break (content_type, text);
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let has = |needle: &str| {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    };
    has(r#"chatport_webhooks_received_total{source="whatsapp"} 2"#);
    has(r#"chatport_events_received_total{source="whatsapp",kind="message"} 2"#);
    has(r#"chatport_events_duplicate_total{source="whatsapp"} 1"#);
    has(r#"chatport_delivery_attempts_total{flow="whatsapp.inbound"}"#);
    has(r#"outcome="delivered""#);
    has(r#"chatport_outbox_rows{status="done"} 1"#);
    has(r#"chatport_outbox_rows{status="pending"} 0"#);
    has("chatport_outbox_oldest_pending_seconds 0");
    // The connectors' requests: the CMS token, lookup and create, the WhatsApp reply.
    has(
        r#"chatport_connector_requests_total{connector="opentext",operation="token",class="ok"} 1"#,
    );
    has(
        r#"chatport_connector_requests_total{connector="opentext",operation="instances_get",class="ok"}"#,
    );
    has(
        r#"chatport_connector_requests_total{connector="opentext",operation="instances_post",class="ok"} 1"#,
    );
    has(
        r#"chatport_connector_requests_total{connector="whatsapp",operation="messages",class="ok"} 1"#,
    );
    has("# TYPE chatport_connector_request_duration_seconds histogram");
    has(
        r#"chatport_connector_request_duration_seconds_bucket{connector="whatsapp",operation="messages",le="30"} 1"#,
    );
    has(
        r#"chatport_connector_request_duration_seconds_count{connector="opentext",operation="instances_post"} 1"#,
    );
    assert!(!text.contains("5551234"), "no phone numbers in metrics");
}
