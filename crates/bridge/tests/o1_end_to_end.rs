//! Flow O1 end to end: signed webhooks over real HTTP → SQLite outbox → workers → CMS emulator +
//! Graph emulator.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::failure::Failure;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, StatusSpec, WebhookSimulator};
use serde_json::Value;

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "test-app-secret";

const CONFIG: &str = r#"
[workers]
concurrency = 4
lease_secs = 30
retry_schedule_secs = [1]
max_attempts = 6
poll_interval_ms = 20

[whatsapp]
api_base = "${GRAPH_URL}"
access_token = "${WA_TOKEN}"
app_secrets = ["${OLD_SECRET}", "${WA_SECRET}"]
verify_token = "${WA_VERIFY}"
timeout_secs = 1

[opentext]
auth_base = "${CMS_URL}"
cms_base = "${CMS_URL}/cms"
tenant_id = "${CMS_TENANT}"
client_id = "${CMS_CLIENT}"
client_secret = "${CMS_SECRET}"

[[classifier.issue_types]]
name = "billing"
keywords = ["invoice", "rechnung"]

[[classifier.priorities]]
name = "high"
keywords = ["urgent", "dringend"]

[classifier.regions]
"49" = "EMEA"
"1" = "NA"

[[directory]]
phone = "+49 151 2345 6789"
name = "Anna Schmidt"
customer_id = "CUST-1001"

[flows.o1]
in_doubt_recheck_secs = 1

[[flows.o1.queues]]
queue = "billing-escalations"
issue_type = "billing"
priority = "high"
"#;

struct Harness {
    graph: GraphEmulator,
    cms: CmsEmulator,
    store: SqliteStore,
    service: Option<Service>,
    simulator: WebhookSimulator,
    _dir: tempfile::TempDir,
    config: Config,
    vars: BTreeMap<String, String>,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(CONFIG).await
    }

    async fn start_with(toml: &str) -> Self {
        let graph = GraphEmulator::start().await.unwrap();
        let cms = CmsEmulator::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("o1.sqlite"), Default::default()).unwrap();
        let vars: BTreeMap<String, String> = [
            ("GRAPH_URL", graph.base_url()),
            ("WA_TOKEN", graph.access_token().to_owned()),
            ("WA_SECRET", SECRET.to_owned()),
            ("OLD_SECRET", "previous-secret-still-accepted".to_owned()),
            ("WA_VERIFY", "verify-me".to_owned()),
            ("CMS_URL", cms.base_url()),
            ("CMS_TENANT", cms.tenant_id().to_owned()),
            ("CMS_CLIENT", cms.client_id().to_owned()),
            ("CMS_SECRET", cms.client_secret().to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let config = Config::from_toml_str(toml).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service = Service::start(&config, &vars, store.clone(), listener)
            .await
            .unwrap();
        let simulator = WebhookSimulator::new(
            format!("http://{}/webhooks/whatsapp", service.local_addr()),
            SECRET.as_bytes().to_vec(),
        );
        Self {
            graph,
            cms,
            store,
            service: Some(service),
            simulator,
            _dir: dir,
            config,
            vars,
        }
    }

    async fn drain(&self) {
        let start = Instant::now();
        loop {
            let stats = self.store.stats().await.unwrap();
            if stats.pending == 0 && stats.in_flight == 0 {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "outbox did not drain: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn cases(&self) -> Vec<Value> {
        self.cms.instances_of_type("ca_support_case")
    }

    async fn rows(&self, flow: &str) -> Vec<chatport_runtime::StoredEvent> {
        self.store
            .list(&EventFilter::default().flow(flow), 1000)
            .await
            .unwrap()
    }
}

fn text(from: &str, wamid: &str, body: &str) -> Value {
    Delivery::new(WABA)
        .message(
            PNID,
            DISPLAY,
            MessageSpec::text(from, wamid, 1_751_247_548, body).profile_name("Customer"),
        )
        .build()
}

#[tokio::test]
async fn message_becomes_a_classified_case_and_one_reply() {
    let h = Harness::start().await;
    let r = h
        .simulator
        .deliver(&text(
            "4915123456789",
            "wamid.A1",
            "Meine Rechnung ist falsch – dringend!",
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    h.drain().await;

    let cases = h.cases();
    assert_eq!(cases.len(), 1);
    let p = &cases[0]["properties"];
    assert_eq!(p["issue_type"], "billing");
    assert_eq!(p["priority"], "high");
    assert_eq!(p["region"], "EMEA");
    assert_eq!(p["customer_id"], "CUST-1001");
    assert_eq!(p["support_queue"], "billing-escalations");
    assert_eq!(p["source_message_id"], "wamid.A1");
    assert_eq!(p["description"], "Meine Rechnung ist falsch – dringend!");
    let reference = p["case_reference"].as_str().unwrap().to_owned();
    assert!(reference.starts_with("CASE-"));

    let sent = h.graph.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to.as_deref(), Some("4915123456789"));
    assert_eq!(sent[0].body["context"]["message_id"], "wamid.A1");
    assert!(
        sent[0].body["text"]["body"]
            .as_str()
            .unwrap()
            .contains(&reference)
    );

    let rows = h.rows("O1").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, EventStatus::Done);
    assert_eq!(
        rows[0].receipt.as_ref().unwrap()["reference"],
        reference.as_str()
    );
}

#[tokio::test]
async fn redelivered_webhook_creates_nothing_twice() {
    let h = Harness::start().await;
    let body = Delivery::new(WABA)
        .message(
            PNID,
            DISPLAY,
            MessageSpec::text(
                "16505551234",
                "wamid.B1",
                1_751_247_548,
                "my invoice is wrong",
            ),
        )
        .message(
            PNID,
            DISPLAY,
            MessageSpec::text("16505550000", "wamid.B2", 1_751_247_549, "hello"),
        )
        .status(
            PNID,
            DISPLAY,
            StatusSpec::new("wamid.OUT1", "delivered", "16505551234", 1_751_247_550),
        )
        .build();
    let first = h.simulator.deliver(&body).await.unwrap();
    assert_eq!(first.status, 200);
    h.drain().await;
    let second = h.simulator.deliver(&body).await.unwrap();
    assert_eq!(second.status, 200);
    let ack: Value = serde_json::from_str(&second.body).unwrap();
    assert_eq!(ack["duplicates"], 3);
    h.drain().await;

    assert_eq!(h.cases().len(), 2);
    assert_eq!(h.graph.sent().len(), 2);

    // A replay of done rows (an operator re-running the flow) finds the case and the ledger entry.
    let replayed = h
        .store
        .replay(&EventFilter::default().flow("O1"))
        .await
        .unwrap();
    assert_eq!(replayed, 2);
    h.drain().await;
    assert_eq!(h.cases().len(), 2, "replay must not create a second case");
    assert_eq!(
        h.graph.sent().len(),
        2,
        "replay must not send a second reply"
    );
}

#[tokio::test]
async fn throttled_send_is_retried_and_sent_once() {
    let h = Harness::start().await;
    h.graph
        .fail_next(1, Failure::graph_error(400, 130429, "Rate limit hit"));
    h.simulator
        .deliver(&text("16505551234", "wamid.C1", "invoice question"))
        .await
        .unwrap();
    h.drain().await;
    let rows = h.rows("O1").await;
    assert_eq!(rows[0].status, EventStatus::Done);
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(h.graph.sent().len(), 1);
    assert_eq!(
        h.cases().len(),
        1,
        "the retry found the case created by the first attempt"
    );
}

#[tokio::test]
async fn window_closed_goes_to_the_dead_letter_queue() {
    let h = Harness::start().await;
    h.graph.fail_next(
        1,
        Failure::graph_error(400, 131047, "Re-engagement message"),
    );
    h.simulator
        .deliver(&text("16505551234", "wamid.D1", "hello"))
        .await
        .unwrap();
    h.drain().await;
    let rows = h.rows("O1").await;
    assert_eq!(rows[0].status, EventStatus::Dead);
    assert_eq!(rows[0].attempts, 1, "a permanent error is not retried");
    assert!(
        rows[0].last_error.as_deref().unwrap().contains("131047"),
        "{:?}",
        rows[0].last_error
    );
    assert_eq!(h.graph.sent().len(), 0);
}

#[tokio::test]
async fn send_in_doubt_is_not_resent_until_a_status_settles_it() {
    let h = Harness::start().await;
    // The emulator accepts the message but answers after the client's 1 s timeout.
    h.graph
        .fail_next(1, Failure::Delay(Duration::from_millis(2500)));
    h.simulator
        .deliver(&text("16505551234", "wamid.E1", "invoice question"))
        .await
        .unwrap();

    // Wait until the message reached the emulator, then a little longer than a recheck.
    let start = Instant::now();
    while h.graph.sent().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(h.graph.sent().len(), 1, "never resent blindly");
    let rows = h.rows("O1").await;
    assert_ne!(
        rows[0].status,
        EventStatus::Done,
        "in doubt until a status webhook arrives"
    );

    // Meta reports the message; the status carries chatport's callback data.
    let sent = h.graph.sent();
    let callback = sent[0].body["biz_opaque_callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = Delivery::new(WABA)
        .status(
            PNID,
            DISPLAY,
            StatusSpec::new(&sent[0].wamid, "sent", "16505551234", 1_751_247_560)
                .biz_opaque_callback_data(&callback),
        )
        .build();
    h.simulator.deliver(&status).await.unwrap();
    h.drain().await;
    let rows = h.rows("O1").await;
    assert_eq!(rows[0].status, EventStatus::Done);
    assert_eq!(
        rows[0].receipt.as_ref().unwrap()["reply_wamid"],
        sent[0].wamid.as_str()
    );
    assert_eq!(h.graph.sent().len(), 1);
}

#[tokio::test]
async fn with_resend_in_doubt_an_unsettled_send_is_sent_again_once() {
    let config = CONFIG.replace(
        "timeout_secs = 1\n",
        "timeout_secs = 1\nresend_in_doubt_after_secs = 1\n",
    );
    let h = Harness::start_with(&config).await;
    // A 503 with Meta's error body: the message may or may not be out, so it is in doubt. (The
    // emulator refused it before acting, as an overloaded Graph front end does.)
    h.graph.fail_next(1, Failure::Status(503));
    h.simulator
        .deliver(&text("16505551234", "wamid.R1", "invoice question"))
        .await
        .unwrap();
    // No status webhook settles it: after the resend period it is sent again, once.
    h.drain().await;
    let rows = h.rows("O1").await;
    assert_eq!(
        rows[0].status,
        EventStatus::Done,
        "{:?}",
        rows[0].last_error
    );
    assert_eq!(h.graph.sent().len(), 1, "exactly one message reached Meta");
    assert_eq!(h.cases().len(), 1);
    let history = h.store.attempts(rows[0].id).await.unwrap();
    assert!(
        history.iter().any(|a| a
            .error
            .as_deref()
            .is_some_and(|e| e.contains("outcome unknown"))),
        "the event waited in doubt first: {history:?}"
    );
}

#[tokio::test]
async fn unknown_type_gets_a_text_request_and_no_case() {
    let h = Harness::start().await;
    let body = Delivery::new(WABA)
        .message(
            PNID,
            DISPLAY,
            MessageSpec::unknown(
                "16505551234",
                "wamid.F1",
                1_751_247_548,
                "poll",
                serde_json::json!({"question": "?"}),
            ),
        )
        .build();
    h.simulator.deliver(&body).await.unwrap();
    h.drain().await;
    assert!(h.cases().is_empty());
    assert_eq!(h.graph.sent().len(), 1);
    let rows = h.rows("O1").await;
    assert_eq!(rows[0].receipt.as_ref().unwrap()["message_type"], "poll");
}

#[tokio::test]
async fn bsuid_sender_is_answered_by_recipient() {
    let h = Harness::start().await;
    let body = Delivery::new(WABA)
        .message(
            PNID,
            DISPLAY,
            MessageSpec::text("", "wamid.G1", 1_751_247_548, "invoice is wrong")
                .from_user_id("US.13491208655302741918"),
        )
        .build();
    h.simulator.deliver(&body).await.unwrap();
    h.drain().await;
    let sent = h.graph.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].recipient.as_deref(),
        Some("US.13491208655302741918")
    );
    assert_eq!(sent[0].to, None);
    assert_eq!(h.cases()[0]["properties"]["region"], "unknown");
}

#[tokio::test]
async fn pending_events_survive_a_restart() {
    let mut h = Harness::start().await;
    // The CMS is down: the event stays pending with retries.
    h.cms.fail_next(100, Failure::Status(503));
    h.simulator
        .deliver(&text("16505551234", "wamid.H1", "invoice"))
        .await
        .unwrap();
    let start = Instant::now();
    while h.rows("O1").await.first().is_none_or(|r| r.attempts < 1) {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.service.take().unwrap().stop().await;
    h.cms.fail_next(0, Failure::Status(503));

    // Restart on the same file: the pending row is delivered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start(&h.config, &h.vars, h.store.clone(), listener)
        .await
        .unwrap();
    h.service = Some(service);
    h.drain().await;
    assert_eq!(h.rows("O1").await[0].status, EventStatus::Done);
    assert_eq!(h.cases().len(), 1);
    assert_eq!(h.graph.sent().len(), 1);
}

#[tokio::test]
async fn a_rotated_out_secret_still_verifies_and_a_wrong_one_does_not() {
    let h = Harness::start().await;
    let url = format!(
        "http://{}/webhooks/whatsapp",
        h.service.as_ref().unwrap().local_addr()
    );
    let old = WebhookSimulator::new(url.clone(), b"previous-secret-still-accepted".to_vec());
    assert_eq!(
        old.deliver(&text("16505551234", "wamid.I1", "hi"))
            .await
            .unwrap()
            .status,
        200
    );
    let wrong = WebhookSimulator::new(url, b"not-our-secret".to_vec());
    assert_eq!(
        wrong
            .deliver(&text("16505551234", "wamid.I2", "hi"))
            .await
            .unwrap()
            .status,
        401
    );
    h.drain().await;
    assert_eq!(h.rows("O1").await.len(), 1);
}
