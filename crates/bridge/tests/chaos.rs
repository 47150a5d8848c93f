//! Fault tolerance end to end: flow O1 (case intake → CMS case + WhatsApp reply) through the real
//! service wiring (signed webhooks → outbox → workers → clients) while the Graph and CMS emulators
//! answer a seeded share of requests with 429 + Retry-After, 503, dropped connections and slow
//! answers.
//!
//! What must hold, and is asserted event by event:
//!
//! - every event that is not poisoned ends `done` — **except** replies whose outcome is honestly
//!   unknown: a 503 (Graph code 2) or a dropped connection on `POST /messages` may have sent the
//!   message (Meta offers no idempotency key), so chatport never resends it blindly; it waits for a
//!   status webhook, and after `max_attempts` the event is dead with "outcome unknown". The Graph
//!   emulator cuts the connection and answers 503 **before** recording the message, so no status
//!   webhook ever comes for those: they end in the dead-letter queue, with their case created once
//!   and the reply sent at most once (here: never). Their number is bounded by the Graph chaos
//!   answers of those two kinds;
//! - each CMS case exists exactly once and each reply at most once (exactly once for `done`),
//!   despite retries, dropped connections and redelivered webhooks;
//! - the poisoned events (senders missing from the directory, so the case lacks the `customer_id`
//!   the seeded CMS type requires → HTTP 400, permanent) are dead with that error as the last entry
//!   of their attempt history, and nothing was created or sent for them;
//! - chaos really happened on both emulators.
//!
//! Each backend runs in the two modes a deployment chooses between with
//! `[whatsapp] resend_in_doubt_after_secs`:
//!
//! - **at most once** (unset, the default): as above, in-doubt replies end in the dead-letter queue;
//! - **resend in doubt** (set; 0 s here so the test needs no waiting): a send in doubt that no
//!   status webhook settles is sent again, so **every** event that is not poisoned ends `done` with
//!   exactly one case and exactly one reply, and the dead-letter queue holds only the poisoned
//!   (permanently failing) events. Exactly one reply holds because the emulator's 503 and cut
//!   connection come before it records anything; with a real Meta, a duplicate needs the first
//!   request accepted **and** its status webhook later than the resend period.
//!
//! Deterministic: the chaos RNGs are seeded and every assertion is an invariant that holds
//! whatever the interleaving of the workers (which request meets which draw depends on arrival
//! order, so the number of in-doubt replies varies and is checked against its bound, not a
//! constant). Nothing is timed: the outbox is polled until drained, with a generous deadline.
//!
//! The PostgreSQL variant needs `CHATPORT_TEST_POSTGRES_URL` and is skipped (with a line on
//! stderr) without it.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::{Service, Stores};
use chatport_runtime::{EventFilter, EventStatus, Outbox, PgOptions, PgStore, SqliteStore};
use chatport_testkit::Chaos;
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::{Value, json};

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "chaos-app-secret";

/// Customers in the directory; each sends `MESSAGES_EACH` messages.
const CUSTOMERS: usize = 80;
const MESSAGES_EACH: usize = 3;
/// Senders missing from the directory: their cases are refused by the CMS (permanent).
const POISONED: usize = 5;
/// Deliveries sent a second time (Meta redelivers): must not create anything twice.
const REDELIVERED: usize = 25;
/// Attempts before a row is dead (in-doubt replies use them all up).
const MAX_ATTEMPTS: u32 = 25;

fn customer(i: usize) -> String {
    format!("491510000{i:04}")
}

fn poisoned(i: usize) -> String {
    format!("165055599{i:02}")
}

/// How a send in doubt is settled (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    AtMostOnce,
    ResendInDoubt,
}

fn config(mode: Mode) -> Config {
    let resend = match mode {
        Mode::AtMostOnce => "",
        Mode::ResendInDoubt => "resend_in_doubt_after_secs = 0",
    };
    let mut toml = format!(
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
{resend}

[opentext]
auth_base = "${{CMS_URL}}"
cms_base = "${{CMS_URL}}/cms"
tenant_id = "${{CMS_TENANT}}"
client_id = "${{CMS_CLIENT}}"
client_secret = "${{CMS_SECRET}}"
# the emulator has no rate limit of its own; chaos supplies the 429s
requests_per_second = 0

[[classifier.issue_types]]
name = "billing"
keywords = ["invoice"]

[flows.o1]
in_doubt_recheck_secs = 0
"#
    );
    for i in 0..CUSTOMERS {
        write!(
            toml,
            "\n[[directory]]\nphone = \"+{}\"\nname = \"Customer {i}\"\ncustomer_id = \"CUST-{i:04}\"\n",
            customer(i)
        )
        .unwrap();
    }
    Config::from_toml_str(&toml).unwrap()
}

/// The backend under test and what to clean up after it.
enum Backend {
    /// The directory of the SQLite file, deleted on drop.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        schema: String,
    },
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Postgres { url, schema } = self {
            let (url, schema) = (url.clone(), schema.clone());
            // Drop runs inside the test's runtime: clean up on a thread of its own.
            let cleanup = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                    let task = tokio::spawn(connection);
                    client
                        .batch_execute(&format!(
                            "SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                        ))
                        .await
                        .unwrap();
                    drop(client);
                    let _ = task.await;
                });
            });
            let _ = cleanup.join();
        }
    }
}

async fn run(backend: Backend, stores: Stores, mode: Mode) {
    let outbox: Arc<dyn Outbox> = stores.outbox.clone();
    let graph = GraphEmulator::builder()
        .phone_number_id(PNID)
        .chaos(
            Chaos::seeded(0xC0FFEE)
                .throttled(0.12)
                .server_error(0.04)
                .dropped(0.04)
                .slow(0.05, Duration::from_millis(40)),
        )
        .start()
        .await
        .unwrap();
    let cms = CmsEmulator::builder()
        .chaos(
            Chaos::seeded(0xBADCAFE)
                .throttled(0.1)
                .server_error(0.08)
                .dropped(0.06)
                .slow(0.05, Duration::from_millis(40)),
        )
        .start()
        .await
        .unwrap();
    // The case type requires a customer id: cases of senders outside the directory are refused.
    cms.seed_type_definition(json!({
        "name": "ca_support_case",
        "category": "object",
        "attributes": [
            { "name": "customer_id", "data_type": "string", "required": true },
            { "name": "chatport_key", "data_type": "string" },
        ],
    }));
    let vars: BTreeMap<String, String> = [
        ("GRAPH_URL", graph.base_url()),
        ("WA_TOKEN", graph.access_token().to_owned()),
        ("WA_SECRET", SECRET.to_owned()),
        ("WA_VERIFY", "chaos-verify".to_owned()),
        ("CMS_URL", cms.base_url()),
        ("CMS_TENANT", cms.tenant_id().to_owned()),
        ("CMS_CLIENT", cms.client_id().to_owned()),
        ("CMS_SECRET", cms.client_secret().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start(&config(mode), &vars, stores, listener)
        .await
        .unwrap();
    let simulator = WebhookSimulator::new(
        format!("http://{}/webhooks/whatsapp", service.local_addr()),
        SECRET.as_bytes().to_vec(),
    );

    // wamid → sender; one delivery per message, customers interleaved.
    let mut senders: BTreeMap<String, String> = BTreeMap::new();
    let mut bodies = Vec::new();
    for round in 0..MESSAGES_EACH {
        for i in 0..CUSTOMERS {
            let wamid = format!("wamid.CHAOS.{i}.{round}");
            senders.insert(wamid.clone(), customer(i));
            bodies.push(message(&customer(i), &wamid, "my invoice is wrong"));
        }
    }
    let poisoned_wamids: BTreeSet<String> = (0..POISONED)
        .map(|i| {
            let wamid = format!("wamid.POISON.{i}");
            senders.insert(wamid.clone(), poisoned(i));
            bodies.push(message(&poisoned(i), &wamid, "invoice question"));
            wamid
        })
        .collect();
    for body in &bodies {
        let r = simulator.deliver(body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for body in bodies.iter().step_by(bodies.len() / REDELIVERED) {
        let r = simulator.deliver(body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap()["duplicates"],
            1
        );
    }

    // Poll until drained; the deadline only guards against a hang.
    let start = Instant::now();
    loop {
        let stats = outbox.stats().await.unwrap();
        if stats.pending == 0 && stats.in_flight == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "outbox did not drain: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service.stop().await;

    let rows = outbox
        .list(&EventFilter::default().flow("O1"), 10_000)
        .await
        .unwrap();
    assert_eq!(rows.len(), senders.len(), "one row per message, none twice");

    // Vendor records, keyed by the inbound wamid.
    let mut cases: HashMap<String, usize> = HashMap::new();
    for case in cms.instances_of_type("ca_support_case") {
        let wamid = case["properties"]["source_message_id"]
            .as_str()
            .unwrap()
            .to_owned();
        *cases.entry(wamid).or_default() += 1;
    }
    let mut replies: HashMap<String, usize> = HashMap::new();
    for sent in graph.sent() {
        let wamid = sent.body["context"]["message_id"]
            .as_str()
            .unwrap()
            .to_owned();
        *replies.entry(wamid).or_default() += 1;
    }

    let mut in_doubt = 0;
    let mut retried = 0;
    for row in &rows {
        let wamid = row.event_id.as_str().to_owned();
        let history = outbox.attempts(row.id).await.unwrap();
        assert_eq!(
            history.len(),
            row.attempts as usize,
            "{wamid}: one history entry per attempt"
        );
        if row.attempts > 1 {
            retried += 1;
        }
        let last = history.last().unwrap();
        let case_count = cases.get(&wamid).copied().unwrap_or(0);
        let reply_count = replies.get(&wamid).copied().unwrap_or(0);
        if poisoned_wamids.contains(&wamid) {
            assert_eq!(row.status, EventStatus::Dead, "{wamid}: poisoned");
            let error = row.last_error.as_deref().unwrap();
            assert!(
                error.contains("HTTP 400") && error.contains("ValidationException"),
                "{wamid}: {error}"
            );
            assert_eq!(last.outcome, "dead");
            assert!(
                last.error
                    .as_deref()
                    .unwrap()
                    .contains("ValidationException"),
                "{wamid}: {history:?}"
            );
            assert_eq!(case_count, 0, "{wamid}: no case for a refused event");
            assert_eq!(reply_count, 0, "{wamid}: no reply for a refused event");
            continue;
        }
        assert_eq!(case_count, 1, "{wamid}: exactly one case");
        match row.status {
            EventStatus::Done => {
                assert_eq!(reply_count, 1, "{wamid}: exactly one reply");
                assert_eq!(last.outcome, "done");
                let reply_wamid = row.receipt.as_ref().unwrap()["reply_wamid"]
                    .as_str()
                    .unwrap();
                assert!(reply_wamid.starts_with("wamid."), "{wamid}: {reply_wamid}");
            }
            EventStatus::Dead if mode == Mode::ResendInDoubt => {
                panic!(
                    "{wamid}: with resend_in_doubt_after_secs only permanent failures are dead: {:?}",
                    row.last_error
                );
            }
            EventStatus::Dead => {
                // Honest "outcome unknown": never resent blindly, so at most once; the emulator
                // cut or refused before recording, so here never.
                in_doubt += 1;
                // Its reply went in doubt at some attempt; later attempts only re-check (and
                // may meet CMS chaos on the way, so the very last error can be a CMS 503).
                let error = row.last_error.as_deref().unwrap();
                assert!(
                    error.starts_with("exhausted after")
                        && history.iter().any(|a| a
                            .error
                            .as_deref()
                            .is_some_and(|e| e.contains("outcome unknown")
                                && e.contains("not resent blindly"))),
                    "{wamid}: a transient-only event may only be dead in doubt: {error}; {history:?}"
                );
                assert_eq!(row.attempts, MAX_ATTEMPTS, "{wamid}");
                assert_eq!(last.outcome, "dead");
                assert!(reply_count <= 1, "{wamid}: at most one reply");
                assert_eq!(
                    reply_count, 0,
                    "{wamid}: the emulator records nothing for a dropped or 503 send"
                );
                // The first failed send was a 503 or a cut connection (no Graph answer of a kind
                // that proves it was refused).
                assert!(
                    history.iter().any(|a| a.outcome == "retry"),
                    "{wamid}: {history:?}"
                );
            }
            other => panic!("{wamid}: unexpected status {other:?}"),
        }
    }

    let graph_chaos = graph.chaos_counts();
    let cms_chaos = cms.chaos_counts();
    assert!(
        graph_chaos.throttled > 0 && graph_chaos.server_error + graph_chaos.dropped > 0,
        "{graph_chaos:?}"
    );
    assert!(
        cms_chaos.throttled > 0 && cms_chaos.server_error > 0 && cms_chaos.dropped > 0,
        "{cms_chaos:?}"
    );
    assert!(
        in_doubt <= graph_chaos.server_error + graph_chaos.dropped,
        "each reply in doubt met a 503 or a dropped connection on its send: {in_doubt} vs {graph_chaos:?}"
    );
    assert!(retried > 0, "chaos made some deliveries retry");
    let dead = outbox
        .list(&EventFilter::default().status(EventStatus::Dead), 10_000)
        .await
        .unwrap();
    assert_eq!(
        dead.len(),
        POISONED + in_doubt,
        "the dead-letter queue holds exactly the poisoned and the in-doubt events"
    );
    if mode == Mode::ResendInDoubt {
        assert_eq!(in_doubt, 0);
        assert_eq!(dead.len(), POISONED, "only the permanent failures are dead");
    }
    let _ = writeln!(
        std::io::stderr(),
        "chaos ({mode:?}): {} O1 events, {} retried, {in_doubt} in doubt, graph {graph_chaos:?}, cms {cms_chaos:?}",
        rows.len(),
        retried
    );
    drop(backend);
}

fn message(from: &str, wamid: &str, body: &str) -> Value {
    Delivery::new(WABA)
        .message(
            PNID,
            DISPLAY,
            MessageSpec::text(from, wamid, 1_751_247_548, body).profile_name("Customer"),
        )
        .build()
}

async fn on_sqlite(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("chaos.sqlite"), Default::default()).unwrap();
    run(Backend::Sqlite { _dir: dir }, Stores::from(store), mode).await;
}

async fn on_postgres(mode: Mode, test: &str) {
    let Some(url) = chatport_testkit::postgres::test_url(test) else {
        return;
    };
    let schema = format!("chatport_chaos_{}", uuid_like());
    let store = PgStore::connect(
        &secrecy::SecretString::from(url.clone()),
        PgOptions::default().schema(schema.clone()),
    )
    .await
    .unwrap();
    run(Backend::Postgres { url, schema }, Stores::from(store), mode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o1_under_chaos_on_sqlite_delivers_everything_once() {
    on_sqlite(Mode::ResendInDoubt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o1_under_chaos_on_sqlite_at_most_once_dead_letters_only_poison_and_doubt() {
    on_sqlite(Mode::AtMostOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o1_under_chaos_on_postgres_delivers_everything_once() {
    on_postgres(
        Mode::ResendInDoubt,
        "o1_under_chaos_on_postgres_delivers_everything_once",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o1_under_chaos_on_postgres_at_most_once_dead_letters_only_poison_and_doubt() {
    on_postgres(
        Mode::AtMostOnce,
        "o1_under_chaos_on_postgres_at_most_once_dead_letters_only_poison_and_doubt",
    )
    .await;
}

/// A unique suffix for the scratch schema (process id and clock).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{nanos}", std::process::id())
}
