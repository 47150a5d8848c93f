//! Fault tolerance end to end for a Creatio flow: **C1 handoff** through the real service wiring
//! (signed webhooks → outbox → workers → Creatio and Graph clients) while the Creatio and Graph
//! emulators answer a seeded share of requests with 429 + Retry-After, 503, dropped connections
//! and slow answers — the same discipline as `chaos.rs` for O1.
//!
//! Each customer writes three messages: a greeting (no flow claims it; it joins the conversation
//! log), "I need to speak with a person" (the handoff), and a follow-up (routed to the agent's
//! case by the routing session). What must hold, whatever the interleaving:
//!
//! - every event ends `done`, except handoffs whose confirmation reply is honestly in doubt (a 503
//!   or a dropped connection on `POST /messages`), which end dead after `max_attempts`; their
//!   number is bounded by the Graph chaos answers of those kinds;
//! - exactly one Contact and one Case per customer, despite retries and redeliveries (client-chosen
//!   ids derived from the idempotency keys);
//! - no message of a conversation becomes two activities, and every message of a customer whose
//!   handoff is done is on the case;
//! - each confirmation reply at most once (exactly once for a done handoff);
//! - chaos really happened on both emulators.
//!
//! Deterministic (seeded chaos, invariants only, no timing); SQLite store.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::{Service, Stores};
use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore};
use chatport_testkit::Chaos;
use chatport_testkit::creatio::CreatioEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::Value;

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "chaos-app-secret";
const CUSTOMERS: usize = 30;
const REDELIVERED: usize = 10;
const MAX_ATTEMPTS: u32 = 25;

fn customer(i: usize) -> String {
    format!("491520000{i:04}")
}

fn config() -> Config {
    Config::from_toml_str(&format!(
        r#"
[workers]
concurrency = 8
lease_secs = 30
retry_schedule_secs = [0]
max_attempts = {MAX_ATTEMPTS}
poll_interval_ms = 20

[whatsapp]
api_base = "${{GRAPH_URL}}"
access_token = "${{WA_TOKEN}}"
app_secrets = ["${{WA_SECRET}}"]
verify_token = "${{WA_VERIFY}}"
timeout_secs = 5

[creatio]
base_url = "${{CREATIO_URL}}"
auth = "oauth"
client_id = "${{CREATIO_CLIENT_ID}}"
client_secret = "${{CREATIO_CLIENT_SECRET}}"
token_url = "${{CREATIO_URL}}/connect/token"
timeout_secs = 5

[flows.o1]
enabled = false

[flows.c1]
enabled = true
public_url = "http://127.0.0.1:1"
transcript_secret = "${{TRANSCRIPT_SECRET}}"
handoff_token = "${{HANDOFF_TOKEN}}"
in_doubt_recheck_secs = 0
"#
    ))
    .unwrap()
}

fn message(from: &str, wamid: &str, at: i64, body: &str) -> Value {
    Delivery::new(WABA)
        .message(
            PNID,
            DISPLAY,
            MessageSpec::text(from, wamid, at, body).profile_name("Customer"),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_under_chaos_hands_each_conversation_over_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("chaos.sqlite"), Default::default()).unwrap();
    let stores = Stores::from(store);
    let outbox: Arc<dyn Outbox> = stores.outbox.clone();
    let graph = GraphEmulator::builder()
        .phone_number_id(PNID)
        .chaos(
            Chaos::seeded(0xC1C1)
                .throttled(0.1)
                .server_error(0.04)
                .dropped(0.04)
                .slow(0.05, Duration::from_millis(30)),
        )
        .start()
        .await
        .unwrap();
    let creatio = CreatioEmulator::builder()
        .chaos(
            Chaos::seeded(0xCEA7)
                .throttled(0.1)
                .server_error(0.06)
                .dropped(0.05)
                .slow(0.05, Duration::from_millis(30)),
        )
        .start()
        .await
        .unwrap();
    let vars: BTreeMap<String, String> = [
        ("GRAPH_URL", graph.base_url()),
        ("WA_TOKEN", graph.access_token().to_owned()),
        ("WA_SECRET", SECRET.to_owned()),
        ("WA_VERIFY", "chaos-verify".to_owned()),
        ("CREATIO_URL", creatio.base_url()),
        ("CREATIO_CLIENT_ID", creatio.client_id().to_owned()),
        ("CREATIO_CLIENT_SECRET", creatio.client_secret().to_owned()),
        ("TRANSCRIPT_SECRET", "chaos-transcript".to_owned()),
        ("HANDOFF_TOKEN", "chaos-handoff".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start(&config(), &vars, stores, listener)
        .await
        .unwrap();
    let simulator = WebhookSimulator::new(
        format!("http://{}/webhooks/whatsapp", service.local_addr()),
        SECRET.as_bytes().to_vec(),
    );

    // wamid → (customer, round); customers interleaved, each customer's messages in order.
    let now = chrono::Utc::now().timestamp();
    let mut sent: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut bodies = Vec::new();
    let texts = [
        "hello",
        "I need to speak with a person",
        "my order 1234 never arrived",
    ];
    for (round, text) in texts.iter().enumerate() {
        for i in 0..CUSTOMERS {
            let wamid = format!("wamid.C1CHAOS.{i}.{round}");
            sent.insert(wamid.clone(), (i, round));
            // Recent: the confirmation goes out only inside the 24-hour window.
            let at = now - 600 + i64::try_from(round).unwrap() * 60;
            bodies.push(message(&customer(i), &wamid, at, text));
        }
    }
    for body in &bodies {
        let r = simulator.deliver(body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for body in bodies.iter().step_by(bodies.len() / REDELIVERED) {
        let r = simulator.deliver(body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }

    let start = Instant::now();
    loop {
        let stats = outbox.stats().await.unwrap();
        if stats.pending == 0 && stats.in_flight == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "outbox did not drain: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service.stop().await;

    let rows = outbox.list(&EventFilter::default(), 10_000).await.unwrap();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| sent.contains_key(r.event_id.as_str()))
        .collect();
    assert_eq!(rows.len(), sent.len(), "one row per message, none twice");

    // Creatio records.
    let contacts = creatio.records("Contact");
    let cases = creatio.records("Case");
    let activities = creatio.records("Activity");
    let mut case_of_contact: HashMap<String, usize> = HashMap::new();
    for case in &cases {
        let contact = case["ContactId"].as_str().unwrap_or_default().to_owned();
        *case_of_contact.entry(contact).or_default() += 1;
    }
    assert!(
        case_of_contact.values().all(|n| *n == 1),
        "one case per contact: {case_of_contact:?}"
    );
    let mut activities_of: HashMap<String, usize> = HashMap::new();
    for activity in &activities {
        let notes = activity["Notes"].as_str().unwrap_or_default();
        for wamid in sent.keys() {
            if notes.contains(wamid.as_str()) {
                *activities_of.entry(wamid.clone()).or_default() += 1;
            }
        }
    }
    assert!(
        activities_of.values().all(|n| *n == 1),
        "no message became two activities: {activities_of:?}"
    );
    let mut replies: HashMap<String, usize> = HashMap::new();
    for reply in graph.sent() {
        let to = reply.body["to"].as_str().unwrap_or_default().to_owned();
        *replies.entry(to).or_default() += 1;
    }

    let mut in_doubt = 0;
    let mut handoffs_done = 0;
    for row in &rows {
        let (i, round) = sent[row.event_id.as_str()];
        match (round, row.status) {
            (1, EventStatus::Done) => {
                handoffs_done += 1;
                assert_eq!(
                    replies.get(&customer(i)).copied().unwrap_or(0),
                    1,
                    "customer {i}: exactly one confirmation for a done handoff"
                );
                for r in 0..texts.len() {
                    let wamid = format!("wamid.C1CHAOS.{i}.{r}");
                    let on_case = activities_of.get(&wamid).copied().unwrap_or(0);
                    if r < 2 {
                        assert_eq!(on_case, 1, "{wamid}: on the case");
                    }
                }
            }
            (1, EventStatus::Dead) => {
                in_doubt += 1;
                let error = row.last_error.as_deref().unwrap_or_default();
                assert!(error.starts_with("exhausted after"), "{error}");
                assert!(
                    replies.get(&customer(i)).copied().unwrap_or(0) <= 1,
                    "customer {i}: at most one confirmation"
                );
            }
            (_, EventStatus::Done) => {}
            (round, status) => panic!(
                "{} (round {round}): unexpected {status:?}: {:?}",
                row.event_id, row.last_error
            ),
        }
    }
    assert_eq!(
        contacts.len(),
        CUSTOMERS,
        "one contact per customer (C5 matching under retries)"
    );
    assert_eq!(
        cases.len(),
        CUSTOMERS,
        "one case per handed-over conversation"
    );
    let graph_chaos = graph.chaos_counts();
    let creatio_chaos = creatio.chaos_counts();
    assert!(graph_chaos.throttled > 0, "{graph_chaos:?}");
    assert!(
        creatio_chaos.throttled > 0 && creatio_chaos.server_error + creatio_chaos.dropped > 0,
        "{creatio_chaos:?}"
    );
    assert!(
        in_doubt <= graph_chaos.server_error + graph_chaos.dropped,
        "{in_doubt} in doubt vs {graph_chaos:?}"
    );
    assert_eq!(handoffs_done + in_doubt, CUSTOMERS);
    eprintln!(
        "C1 chaos: {} events, {handoffs_done} handoffs done, {in_doubt} in doubt, graph {graph_chaos:?}, creatio {creatio_chaos:?}",
        rows.len()
    );
}
