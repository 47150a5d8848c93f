//! Logs never carry a phone number or message text: every chatport log line and span field,
//! captured at TRACE over deliveries through ingress, routing, O1, retries (a throttled reply, a
//! CMS 503), a status update, an unparseable body and a bad signature.
//!
//! One test in this binary: it installs the global tracing subscriber.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_runtime::{Outbox, SqliteStore};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::failure::Failure;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, StatusSpec, WebhookSimulator, sign};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "log-test-secret";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const CONFIG: &str = r#"
[workers]
concurrency = 4
retry_schedule_secs = [1]
poll_interval_ms = 20

[whatsapp]
api_base = "${GRAPH_URL}"
access_token = "${WA_TOKEN}"
app_secrets = ["${WA_SECRET}"]
verify_token = "${WA_VERIFY}"

[opentext]
auth_base = "${CMS_URL}"
cms_base = "${CMS_URL}/cms"
tenant_id = "${CMS_TENANT}"
client_id = "${CMS_CLIENT}"
client_secret = "${CMS_SECRET}"

[[directory]]
phone = "+49 151 2345 6789"
name = "Anna Schmidt"
customer_id = "CUST-1001"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_phone_number_or_message_text_reaches_the_logs() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(
            "warn,chatport_runtime=trace,chatport_bridge=trace,chatport_whatsapp=trace,\
             chatport_opentext=trace,chatport_core=trace",
        ))
        .with_writer(capture.clone())
        .with_ansi(false)
        .init();

    let graph = GraphEmulator::start().await.unwrap();
    let cms = CmsEmulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("logs.sqlite"), Default::default()).unwrap();
    let vars: BTreeMap<String, String> = [
        ("GRAPH_URL", graph.base_url()),
        ("WA_TOKEN", graph.access_token().to_owned()),
        ("WA_SECRET", SECRET.to_owned()),
        ("WA_VERIFY", "verify-me".to_owned()),
        ("CMS_URL", cms.base_url()),
        ("CMS_TENANT", cms.tenant_id().to_owned()),
        ("CMS_CLIENT", cms.client_id().to_owned()),
        ("CMS_SECRET", cms.client_secret().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_toml_str(CONFIG).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start(&config, &vars, store.clone(), listener)
        .await
        .unwrap();
    let url = format!("http://{}/webhooks/whatsapp", service.local_addr());
    let simulator = WebhookSimulator::new(url.clone(), SECRET.as_bytes().to_vec());

    // The first CMS call and the first reply fail, so retries are logged too.
    cms.fail_next(1, Failure::Status(503));
    graph.fail_next(1, Failure::graph_error(400, 130429, "Rate limit hit"));
    let delivery = Delivery::new(WABA)
        .message(
            PNID,
            DISPLAY,
            MessageSpec::text(
                "4915123456789",
                "wamid.LOG1",
                1_751_247_548,
                "Meine Rechnung ist falsch – dringend!",
            )
            .profile_name("Anna Schmidt"),
        )
        .message(
            PNID,
            DISPLAY,
            MessageSpec::text(
                "16505551234",
                "wamid.LOG2",
                1_751_247_549,
                "my invoice is wrong, call me at +1 650 555 1234",
            ),
        )
        .status(
            PNID,
            DISPLAY,
            StatusSpec::new("wamid.OUT9", "delivered", "16505551234", 1_751_247_550),
        )
        .build();
    assert_eq!(simulator.deliver(&delivery).await.unwrap().status, 200);

    // A signed body that does not parse (stored dead), and one with a wrong signature.
    let garbage =
        br#"{"object":"whatsapp_business_account","from":"4915123456789","text":"Meine Rechnung"#;
    let http = reqwest::Client::new();
    let r = http
        .post(&url)
        .header("x-hub-signature-256", sign(SECRET.as_bytes(), garbage))
        .body(garbage.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(&url)
        .header("x-hub-signature-256", sign(b"wrong", garbage))
        .body(garbage.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let start = Instant::now();
    loop {
        let stats = store.stats().await.unwrap();
        if stats.is_drained() && graph.sent().len() >= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "did not drain: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.stop().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture really saw the paths under test.
    for seen in [
        "wamid.LOG1",
        "delivery",
        "retry",
        "signature refused",
        "does not parse",
    ] {
        assert!(
            logs.contains(seen),
            "expected {seen:?} in the logs:\n{logs}"
        );
    }
    for secret in [
        "4915123456789",
        "151 2345 6789",
        "16505551234",
        "650 555 1234",
        "6505551234",
        "Meine Rechnung",
        "falsch",
        "invoice is wrong",
        "call me",
        "Anna Schmidt",
        SECRET,
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into the logs:\n{logs}"
        );
    }
}
