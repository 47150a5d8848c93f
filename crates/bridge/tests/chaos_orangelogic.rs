//! Fault tolerance end to end for an Orange Logic flow: **L2 field media ingest** through the real
//! service wiring (signed webhooks → outbox → workers → Graph media download → OrangeDAM folder
//! lookup, upload, metadata update → WhatsApp reply) while the OrangeDAM emulator answers a seeded
//! share of its API requests with 429 + Retry-After, 503, dropped connections (the request is not
//! processed; the client sees a transport error after sending, so the upload is *in doubt*) and
//! slow answers, loses the answer of a share of the requests it *did* process (the write happened,
//! the client cannot know: the in-doubt case), and the Graph emulator throttles a share of its requests — the same discipline as
//! `chaos.rs` for O1 and `chaos_c1.rs` for C1.
//!
//! Several field technicians send photos at once (half of them above the chunked-upload
//! threshold, so both upload paths meet the chaos); a share of the webhooks is delivered twice.
//! What must hold, whatever the interleaving:
//!
//! - every photo's event ends `done` (no retryable failure may exhaust the attempts, and nothing is
//!   dead-lettered), one row per message;
//! - exactly one asset per photo with its bytes and its source message (an upload in doubt is
//!   looked up by its file name before it is repeated), in the project folder, routed to review;
//! - exactly one reply per photo, naming that asset;
//! - the project folder is found, never created a second time;
//! - chaos really happened, of every kind, on the OrangeDAM emulator.
//!
//! Deterministic (seeded chaos, invariants only, no timing); SQLite store.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore};
use chatport_testkit::Chaos;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::orangelogic::{
    CHUNKED_COMPLETE_PATH, CHUNKED_REGISTER_PATH, CHUNKED_TRANSACTION_PATH, OrangeLogicEmulator,
    ROOT_FOLDER,
};
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::Value;

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "chaos-app-secret";
const TECHS: usize = 6;
const PHOTOS_EACH: usize = 5;
const REDELIVERED: usize = 8;
const MAX_ATTEMPTS: u32 = 40;
/// Photos of this size or more take the chunked upload.
const CHUNKED_THRESHOLD: usize = 4096;

fn tech(i: usize) -> String {
    format!("4915222200{i:03}")
}

fn config() -> Config {
    let mut directory = String::new();
    for i in 0..TECHS {
        directory.push_str(&format!(
            "[[directory]]\nphone = \"+{}\"\nname = \"Tech {i}\"\nrole = \"field\"\n\n",
            tech(i)
        ));
    }
    Config::from_toml_str(&format!(
        r##"
[workers]
concurrency = 6
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

[orangelogic]
base_url = "${{OL_URL}}"
client_id = "${{OL_CLIENT}}"
client_secret = "${{OL_SECRET}}"
phone_number_id = "{PNID}"
in_doubt_recheck_secs = 0
chunked_threshold_bytes = {CHUNKED_THRESHOLD}
chunked_transaction_path = "{CHUNKED_TRANSACTION_PATH}"
chunked_register_path = "{CHUNKED_REGISTER_PATH}"
chunked_complete_path = "{CHUNKED_COMPLETE_PATH}"
timeout_secs = 5

{directory}
[flows.o1]
enabled = false

[flows.l2]
enabled = true
root_folder = "{ROOT_FOLDER}"

[[flows.l2.projects]]
tag = "#bridge-a4"
folder_title = "Bridge A4"
"##
    ))
    .unwrap()
}

fn photo(from: &str, wamid: &str, media_id: &str, digest: &str, at: i64) -> Value {
    Delivery::new(WABA)
        .message(
            PNID,
            DISPLAY,
            MessageSpec::image(from, wamid, at, media_id, "image/jpeg")
                .sha256(digest)
                .caption("Crack at the bearing #bridge-a4"),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_under_chaos_stores_each_photo_once_and_replies_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("chaos.sqlite"), Default::default()).unwrap();
    let graph = GraphEmulator::builder()
        .phone_number_id(PNID)
        .chaos(Chaos::seeded(0x12A2).throttled(0.08))
        .start()
        .await
        .unwrap();
    let ol = OrangeLogicEmulator::builder()
        .chaos(
            Chaos::seeded(0x0DA3)
                .throttled(0.1)
                .server_error(0.06)
                .dropped(0.06)
                .slow(0.05, Duration::from_millis(30)),
        )
        .lost_answers(0x1057, 0.05)
        .start()
        .await
        .unwrap();
    let folder = ol.seed_folder("Bridge A4", ROOT_FOLDER);
    let vars: BTreeMap<String, String> = [
        ("GRAPH_URL", graph.base_url()),
        ("WA_TOKEN", graph.access_token().to_owned()),
        ("WA_SECRET", SECRET.to_owned()),
        ("WA_VERIFY", "chaos-verify".to_owned()),
        ("OL_URL", ol.base_url()),
        ("OL_CLIENT", ol.client_id().to_owned()),
        ("OL_SECRET", ol.client_secret().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = Service::start(&config(), &vars, store.clone(), listener)
        .await
        .unwrap();
    let simulator = WebhookSimulator::new(
        format!("http://{}/webhooks/whatsapp", service.local_addr()),
        SECRET.as_bytes().to_vec(),
    );

    // wamid → the photo's bytes; technicians interleaved, each one's photos in order.
    let now = chrono::Utc::now().timestamp();
    let mut sent: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut bodies = Vec::new();
    for round in 0..PHOTOS_EACH {
        for i in 0..TECHS {
            let wamid = format!("wamid.L2CHAOS.{i}.{round}");
            let size = if (i + round) % 2 == 0 {
                CHUNKED_THRESHOLD + 1500
            } else {
                900
            };
            let mut bytes = format!("\u{ff}JPEG {wamid} ").into_bytes();
            bytes.resize(size, u8::try_from((i * 7 + round) % 251).unwrap());
            let media_id = graph.add_media("image/jpeg", bytes.clone());
            let digest = graph.media(&media_id).unwrap().sha256_hex();
            let at = now - 600 + i64::try_from(round).unwrap() * 60;
            bodies.push(photo(&tech(i), &wamid, &media_id, &digest, at));
            sent.insert(wamid, bytes);
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
        let stats = store.stats().await.unwrap();
        if stats.pending == 0 && stats.in_flight == 0 {
            break;
        }
        // A bound against a hang, not a performance assertion.
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "outbox did not drain: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service.stop().await;

    let rows = store.list(&EventFilter::default(), 10_000).await.unwrap();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| sent.contains_key(r.event_id.as_str()))
        .collect();
    assert_eq!(rows.len(), sent.len(), "one row per message, none twice");
    for row in &rows {
        assert_eq!(
            row.status,
            EventStatus::Done,
            "{}: {:?}",
            row.event_id,
            row.last_error
        );
    }

    let assets = ol.assets();
    let folders: Vec<_> = assets
        .iter()
        .filter(|a| a.folder && a.fields.get("CoreField.Title") == Some(&Value::from("Bridge A4")))
        .collect();
    assert_eq!(
        folders.len(),
        1,
        "the project folder was found, not created again"
    );
    let mut identifier_of: HashMap<&str, &str> = HashMap::new();
    for (wamid, bytes) in &sent {
        let stored: Vec<_> = assets
            .iter()
            .filter(|a| !a.folder && a.bytes.as_deref() == Some(&bytes[..]))
            .collect();
        assert_eq!(stored.len(), 1, "{wamid}: exactly one asset");
        let asset = stored[0];
        assert_eq!(
            asset.fields.get("Field.Source-Message"),
            Some(&Value::from(wamid.as_str())),
            "{wamid}: metadata written"
        );
        assert_eq!(
            asset.fields.get("CoreField.Parent-folder"),
            Some(&Value::from(folder.as_str())),
            "{wamid}: in the project folder"
        );
        assert_eq!(
            asset.fields.get("Workflow.State"),
            Some(&Value::from("In Review"))
        );
        identifier_of.insert(wamid, &asset.identifier);
    }
    let uploads = assets.iter().filter(|a| !a.folder).count();
    assert_eq!(uploads, sent.len(), "no stray upload");

    let mut replies: HashMap<String, Vec<String>> = HashMap::new();
    for reply in graph.sent() {
        let to = reply.body["context"]["message_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        replies
            .entry(to)
            .or_default()
            .push(reply.text_body().unwrap_or_default().to_owned());
    }
    for (wamid, identifier) in &identifier_of {
        let texts = replies.get(*wamid).cloned().unwrap_or_default();
        assert_eq!(texts.len(), 1, "{wamid}: exactly one reply: {texts:?}");
        assert!(texts[0].contains(identifier), "{wamid}: {texts:?}");
    }
    assert_eq!(replies.len(), sent.len(), "no reply to anything else");

    let chaos = ol.chaos_counts();
    assert!(
        chaos.throttled > 0 && chaos.server_error > 0 && chaos.dropped > 0 && chaos.slow > 0,
        "{chaos:?}"
    );
    assert!(ol.lost_answers() > 0, "no answer was lost");
    assert!(graph.chaos_counts().throttled > 0);
    eprintln!(
        "L2 chaos: {} photos, {} chunked, OrangeDAM {chaos:?}, {} answers lost, graph {:?}",
        sent.len(),
        sent.values()
            .filter(|b| b.len() >= CHUNKED_THRESHOLD)
            .count(),
        ol.lost_answers(),
        graph.chaos_counts()
    );
}
