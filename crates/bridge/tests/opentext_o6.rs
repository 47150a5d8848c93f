//! Flow O6 (compliance archive) end to end: signed webhooks → SQLite outbox → workers → the
//! conversation store → a transcript in the CSS emulator and an archive record in the CMS emulator.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::Value;

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "test-app-secret";
const CUSTOMER: &str = "16505551234";

const CONFIG: &str = r#"
[workers]
concurrency = 4
retry_schedule_secs = [1]
max_attempts = 6
poll_interval_ms = 20

[whatsapp]
api_base = "${GRAPH_URL}"
access_token = "${WA_TOKEN}"
app_secrets = ["${WA_SECRET}"]
verify_token = "${WA_VERIFY}"

[opentext]
auth_base = "${CMS_URL}"
cms_base = "${CMS_URL}/cms"
css_base = "${CMS_URL}"
tenant_id = "${CMS_TENANT}"
client_id = "${CMS_CLIENT}"
client_secret = "${CMS_SECRET}"

[flows.o6]
enabled = true
reply = "Archived for compliance ({tag}, {count} messages). Reference {archive}."
"#;

struct Harness {
    graph: GraphEmulator,
    cms: CmsEmulator,
    store: SqliteStore,
    service: Option<Service>,
    simulator: WebhookSimulator,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Self {
        let graph = GraphEmulator::start().await.unwrap();
        let cms = CmsEmulator::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("o6.sqlite"), Default::default()).unwrap();
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

    async fn rows(&self, flow: &str) -> Vec<chatport_runtime::StoredEvent> {
        Outbox::list(&self.store, &EventFilter::default().flow(flow), 1000)
            .await
            .unwrap()
    }

    async fn send(&self, spec: MessageSpec) -> Value {
        let body = Delivery::new(WABA).message(PNID, DISPLAY, spec).build();
        let r = self.simulator.deliver(&body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        self.drain().await;
        body
    }

    fn reply_to(&self, wamid: &str) -> Vec<chatport_testkit::graph::SentMessage> {
        self.graph
            .sent()
            .into_iter()
            .filter(|m| m.body["context"]["message_id"] == wamid)
            .collect()
    }

    /// The transcript bytes of an archive record (its primary rendition in the CSS).
    fn transcript(&self, archive: &Value) -> String {
        let renditions = self.cms.renditions(archive["id"].as_str().unwrap());
        assert_eq!(renditions.len(), 1, "{renditions:?}");
        assert_eq!(renditions[0]["rendition_type"], "primary");
        let blob = renditions[0]["blob_id"].as_str().unwrap();
        String::from_utf8(self.cms.content(blob).unwrap()).unwrap()
    }
}

#[tokio::test]
async fn a_tagged_message_archives_the_conversation_once_and_untagged_messages_go_to_o1() {
    let mut h = Harness::start().await;
    // Webhook timestamps a few minutes ago, so the 24-hour window is open.
    let base = chrono::Utc::now().timestamp() - 600;
    let ts = |offset: i64| base + offset;

    // A conversation: a text and a document, both handled (and answered) by O1.
    h.send(MessageSpec::text(
        CUSTOMER,
        "wamid.O6-1",
        ts(0),
        "The pump at site 3 is leaking",
    ))
    .await;
    let bytes = b"%PDF-1.7 damage report".repeat(100);
    let media = h.graph.add_media("application/pdf", bytes);
    let sha = h.graph.media(&media).unwrap().sha256_hex();
    h.send(
        MessageSpec::document(
            CUSTOMER,
            "wamid.O6-2",
            ts(10),
            &media,
            "application/pdf",
            "damage-report.pdf",
        )
        .sha256(&sha)
        .caption("Damage report attached"),
    )
    .await;
    assert_eq!(h.rows("O1").await.len(), 2);
    let o1_replies: Vec<String> = ["wamid.O6-1", "wamid.O6-2"]
        .iter()
        .map(|w| {
            let r = h.reply_to(w);
            assert_eq!(r.len(), 1, "O1 answered {w}");
            r[0].wamid.clone()
        })
        .collect();
    assert!(h.cms.instances_of_type("ca_compliance_archive").is_empty());

    // The tag message: one archive of everything so far.
    let tagged = h
        .send(MessageSpec::text(
            CUSTOMER,
            "wamid.O6-3",
            ts(20),
            "#incident the basement is flooded",
        ))
        .await;
    let rows = h.rows("O6").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, EventStatus::Done);
    let archives = h.cms.instances_of_type("ca_compliance_archive");
    assert_eq!(archives.len(), 1);
    let archive = &archives[0];
    assert_eq!(archive["category"], "file");
    let p = &archive["properties"];
    assert_eq!(p["compliance_tag"], "incident");
    assert_eq!(p["retention_rule"], "incident-10y");
    assert_eq!(p["legal_hold"], true);
    assert_eq!(p["participant"], CUSTOMER);
    assert_eq!(p["conversation"], format!("{PNID}:{CUSTOMER}"));
    assert_eq!(p["business_phone_number_id"], PNID);
    assert_eq!(p["source_message_id"], "wamid.O6-3");
    // 3 inbound messages and O1's 2 answers.
    assert_eq!(p["message_count"], 5);
    let first = chrono::DateTime::from_timestamp(ts(0), 0).unwrap();
    assert_eq!(
        p["first_message_at"],
        first.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    assert!(p["last_message_at"].as_str().unwrap() >= p["first_message_at"].as_str().unwrap());
    assert!(p["chatport_key"].as_str().is_some());

    let transcript = h.transcript(archive);
    assert!(transcript.contains("tag: incident"), "{transcript}");
    assert!(transcript.contains("legal hold: true"));
    for needle in [
        "inbound text wamid.O6-1",
        "The pump at site 3 is leaking",
        "inbound document wamid.O6-2",
        "Damage report attached",
        &format!("id={media}"),
        &format!("sha256={sha}"),
        "file=damage-report.pdf",
        "inbound text wamid.O6-3",
        "#incident the basement is flooded",
        &format!("outbound text {}", o1_replies[0]),
        &format!("outbound text {}", o1_replies[1]),
    ] {
        assert!(transcript.contains(needle), "{needle} in {transcript}");
    }
    assert_eq!(
        p["transcript_sha256"],
        hex_sha256(transcript.as_bytes()),
        "the recorded digest is the stored transcript's"
    );

    // The confirmation, inside the window, once.
    let confirmation = h.reply_to("wamid.O6-3");
    assert_eq!(confirmation.len(), 1);
    let text = confirmation[0].text_body().unwrap();
    assert!(
        text.contains("incident") && text.contains("5 messages"),
        "{text}"
    );
    assert!(text.contains(archive["id"].as_str().unwrap()), "{text}");

    // A redelivered webhook creates nothing twice.
    let uploads = h.cms.contents_uploaded().len();
    let again = h.simulator.deliver(&tagged).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&again.body).unwrap()["duplicates"],
        1
    );
    h.drain().await;
    assert_eq!(h.cms.instances_of_type("ca_compliance_archive").len(), 1);
    assert_eq!(h.cms.contents_uploaded().len(), uploads);
    assert_eq!(h.reply_to("wamid.O6-3").len(), 1);

    // A message without a tag goes to O1, not O6.
    h.send(MessageSpec::text(
        CUSTOMER,
        "wamid.O6-4",
        ts(30),
        "Thank you, when will someone come?",
    ))
    .await;
    assert_eq!(h.rows("O1").await.len(), 3);
    assert_eq!(h.rows("O6").await.len(), 1);

    // A second tag later in the same conversation: a new archive of the conversation up to then.
    h.send(MessageSpec::text(
        CUSTOMER,
        "wamid.O6-5",
        ts(40),
        "Yes, I consent to the technician entering the basement",
    ))
    .await;
    let archives = h.cms.instances_of_type("ca_compliance_archive");
    assert_eq!(archives.len(), 2);
    let second = &archives[1];
    assert_eq!(second["properties"]["compliance_tag"], "consent");
    assert_eq!(second["properties"]["legal_hold"], false);
    assert_eq!(second["properties"]["retention_rule"], "consent-7y");
    // 5 before, the O6 confirmation, O6-4 and its O1 answer, and O6-5.
    assert_eq!(second["properties"]["message_count"], 9);
    let second_transcript = h.transcript(second);
    for needle in ["wamid.O6-1", "wamid.O6-3", "wamid.O6-4", "wamid.O6-5"] {
        assert!(second_transcript.contains(needle), "{needle}");
    }
    assert!(
        second_transcript.contains(&confirmation[0].wamid),
        "the first archive's confirmation is part of the second"
    );

    h.service.take().unwrap().stop().await;
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
