//! Flows C1–C5 end to end: signed WhatsApp webhooks over real HTTP → SQLite outbox → workers →
//! the Creatio emulator (which calls chatport back as a Creatio business process would) + the
//! Graph emulator + the CMS emulator (O1 answers the customer before the handoff).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore, StoredEvent};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::creatio::{AGENT_CONTACT_ID, CreatioEmulator};
use chatport_testkit::failure::Failure;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::{Value, json};
use sha2::Digest;
use uuid::Uuid;

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "test-app-secret";
const ANNA: &str = "4915123456789";
const HIGH: &str = "8b700f24-f46b-1410-ee8c-0050ba5d6c38";
const RESOLVED: &str = "ae7f411e-f46b-1410-009b-0050ba5d6c38";
const MOBILE: &str = "d4a2dc80-30ca-df11-9b2a-001d60e938c6";
const HOOK_SECRET: &str = "creatio-hook-secret";
const HANDOFF_TOKEN: &str = "handoff-token";

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
app_secrets = ["${WA_SECRET}"]
verify_token = "${WA_VERIFY}"
timeout_secs = 2
media_hosts = ["127.0.0.1"]

[opentext]
auth_base = "${CMS_URL}"
cms_base = "${CMS_URL}/cms"
tenant_id = "${CMS_TENANT}"
client_id = "${CMS_CLIENT}"
client_secret = "${CMS_SECRET}"

[creatio]
base_url = "${CREATIO_URL}"
auth = "oauth"
client_id = "${CREATIO_CLIENT}"
client_secret = "${CREATIO_SECRET}"
token_url = "${CREATIO_URL}/connect/token"
timeout_secs = 1

[[classifier.issue_types]]
name = "billing"
keywords = ["invoice", "rechnung"]

[[classifier.priorities]]
name = "high"
keywords = ["urgent", "dringend"]

[flows.o1]
in_doubt_recheck_secs = 1

[flows.c1]
enabled = true
public_url = "${PUBLIC_URL}"
transcript_secret = "${TRANSCRIPT_SECRET}"
handoff_token = "${HANDOFF_TOKEN}"
attach_media = true
in_doubt_recheck_secs = 1

[flows.c1.fields.priority]
column = "PriorityId"
values = { high = "8b700f24-f46b-1410-ee8c-0050ba5d6c38" }

[flows.c1.fields.issue_type]
column = "UsrIssueType"

[flows.c2]
enabled = true
webhook_secret = "${CREATIO_HOOK_SECRET}"
integration_contact_id = "410006e1-ca4e-4502-a9ec-e54d922d2c00"
poll_interval_secs = POLL
close_message = "Your case {case_number} is resolved. Thank you!"
in_doubt_recheck_secs = 1

[flows.c2.window_template]
name = "reopen_conversation"
language = "en_US"
parameters = ["{customer_name}", "{case_number}"]
"#;

struct Harness {
    graph: GraphEmulator,
    creatio: CreatioEmulator,
    _cms: CmsEmulator,
    store: SqliteStore,
    service: Service,
    simulator: WebhookSimulator,
    base: String,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(poll_secs: u64) -> Self {
        let graph = GraphEmulator::start().await.unwrap();
        let cms = CmsEmulator::start().await.unwrap();
        let creatio = CreatioEmulator::builder()
            .webhook_secret(HOOK_SECRET)
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("c.sqlite"), Default::default()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let vars: BTreeMap<String, String> = [
            ("GRAPH_URL", graph.base_url()),
            ("WA_TOKEN", graph.access_token().to_owned()),
            ("WA_SECRET", SECRET.to_owned()),
            ("WA_VERIFY", "verify-me".to_owned()),
            ("CMS_URL", cms.base_url()),
            ("CMS_TENANT", cms.tenant_id().to_owned()),
            ("CMS_CLIENT", cms.client_id().to_owned()),
            ("CMS_SECRET", cms.client_secret().to_owned()),
            ("CREATIO_URL", creatio.base_url()),
            ("CREATIO_CLIENT", creatio.client_id().to_owned()),
            ("CREATIO_SECRET", creatio.client_secret().to_owned()),
            ("CREATIO_HOOK_SECRET", HOOK_SECRET.to_owned()),
            ("PUBLIC_URL", base.clone()),
            ("TRANSCRIPT_SECRET", "transcript-secret".to_owned()),
            ("HANDOFF_TOKEN", HANDOFF_TOKEN.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let config =
            Config::from_toml_str(&CONFIG.replace("POLL", &poll_secs.to_string())).unwrap();
        let service = Service::start(&config, &vars, store.clone(), listener)
            .await
            .unwrap();
        creatio.set_webhook_url(Some(format!("{base}/creatio/events")));
        let simulator = WebhookSimulator::new(
            format!("{base}/webhooks/whatsapp"),
            SECRET.as_bytes().to_vec(),
        );
        Self {
            graph,
            creatio,
            _cms: cms,
            store,
            service,
            simulator,
            base,
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

    async fn say(&self, from: &str, wamid: &str, ts: i64, text: &str) {
        let body = Delivery::new(WABA)
            .message(
                PNID,
                DISPLAY,
                MessageSpec::text(from, wamid, ts, text).profile_name("Anna Schmidt"),
            )
            .build();
        let r = self.simulator.deliver(&body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        self.drain().await;
    }

    fn cases(&self) -> Vec<Value> {
        self.creatio.records("Case")
    }

    fn activities_of(&self, case: &str) -> Vec<Value> {
        self.creatio
            .records("Activity")
            .into_iter()
            .filter(|a| a["CaseId"] == case)
            .collect()
    }

    fn texts_to(&self, to: &str) -> Vec<String> {
        self.graph
            .sent_to(to)
            .iter()
            .filter_map(|m| m.text_body().map(str::to_owned))
            .collect()
    }

    async fn rows(&self, flow: &str) -> Vec<StoredEvent> {
        self.store
            .list(&EventFilter::default().flow(flow), 1000)
            .await
            .unwrap()
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out: {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.drain().await;
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn seed_anna(creatio: &CreatioEmulator) -> String {
    let contact = creatio
        .seed("Contact", json!({ "Name": "Anna Schmidt (CRM)" }))
        .unwrap();
    let id = contact["Id"].as_str().unwrap().to_owned();
    creatio
        .seed(
            "ContactCommunication",
            json!({
                "ContactId": id,
                "CommunicationTypeId": MOBILE,
                "Number": "+49 151 2345 6789",
                "SearchNumber": "9876543215194",
            }),
        )
        .unwrap();
    id
}

#[tokio::test]
async fn handoff_writes_the_whole_conversation_and_agent_replies_reach_whatsapp() {
    let h = Harness::start(0).await;
    let anna = seed_anna(&h.creatio);

    // Before the handoff: O1 answers two messages (one with a photo).
    h.say(ANNA, "wamid.A1", now() - 120, "Meine Rechnung ist falsch")
        .await;
    let photo = b"\xFF\xD8\xFF\xE0 a photo of the bill".to_vec();
    let media_id = h.graph.add_media("image/jpeg", photo.clone());
    let sha = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&photo));
    let image = Delivery::new(WABA)
        .message(
            PNID,
            DISPLAY,
            MessageSpec::image(ANNA, "wamid.A2", now() - 100, &media_id, "image/jpeg")
                .sha256(&sha)
                .caption("the bill"),
        )
        .build();
    assert_eq!(h.simulator.deliver(&image).await.unwrap().status, 200);
    h.drain().await;
    assert_eq!(h.texts_to(ANNA).len(), 2, "O1 answered both");
    assert!(h.cases().is_empty());

    // The escalation phrase hands the conversation off.
    h.say(
        ANNA,
        "wamid.A3",
        now() - 60,
        "Ich will mit einem Menschen sprechen, dringend!",
    )
    .await;
    let rows = h.rows("C1").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].status,
        EventStatus::Done,
        "{:?}",
        rows[0].last_error
    );
    let cases = h.cases();
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    let case_id = case["Id"].as_str().unwrap().to_owned();
    let number = case["Number"].as_str().unwrap().to_owned();
    assert_eq!(
        case["ContactId"],
        anna.as_str(),
        "C5: matched by the communication option"
    );
    assert_eq!(
        case["PriorityId"], HIGH,
        "assistant field mapped to a lookup column"
    );
    assert_eq!(
        case["UsrIssueType"], "billing",
        "assistant field mapped to a text column"
    );
    assert!(
        case["Subject"]
            .as_str()
            .unwrap()
            .starts_with("WhatsApp: billing")
    );
    let symptoms = case["Symptoms"].as_str().unwrap();
    assert!(symptoms.contains("mit einem menschen"), "{symptoms}");
    assert!(symptoms.contains("Meine Rechnung ist falsch"), "{symptoms}");

    // One activity per message; the first activity carries the signed transcript link.
    let activities = h.activities_of(&case_id);
    let first = &activities[0];
    let notes = first["Notes"].as_str().unwrap();
    assert!(
        first["Title"].as_str().unwrap().contains("handed off"),
        "{first}"
    );
    let link_start = notes
        .find(&h.base)
        .expect("transcript link in the first activity");
    let link: String = notes[link_start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let titles: Vec<String> = activities
        .iter()
        .map(|a| a["Title"].as_str().unwrap().to_owned())
        .collect();
    // 3 customer messages, 2 O1 answers, the confirmation, the note.
    assert_eq!(activities.len(), 7, "{titles:#?}");
    assert!(
        titles
            .iter()
            .any(|t| t == "[WhatsApp] Customer: Meine Rechnung ist falsch")
    );
    assert!(
        titles
            .iter()
            .any(|t| t == "[WhatsApp] Customer sent an image: the bill")
    );
    assert!(
        titles
            .iter()
            .filter(|t| t.starts_with("[WhatsApp] chatport:"))
            .count()
            == 3
    );
    let image_activity = activities
        .iter()
        .find(|a| a["Title"] == "[WhatsApp] Customer sent an image: the bill")
        .unwrap();
    assert!(
        image_activity["Notes"]
            .as_str()
            .unwrap()
            .contains(&media_id)
    );

    // C4: the photo is a case attachment, byte for byte.
    let files = h.creatio.records("CaseFile");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["CaseId"], case_id.as_str());
    let file_id: Uuid = files[0]["Id"].as_str().unwrap().parse().unwrap();
    assert_eq!(h.creatio.file_bytes(file_id).unwrap(), photo);

    // The confirmation went to the customer with the case number.
    let texts = h.texts_to(ANNA);
    assert_eq!(texts.len(), 3);
    assert!(texts[2].contains(&number), "{texts:?}");

    // The transcript page: readable with the link, refused with a forged one.
    let http = reqwest::Client::new();
    let page = http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Meine Rechnung ist falsch") && html.contains("image/jpeg"));
    let forged = link.replace("sig=", "sig=00");
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);

    // The photo is linked from the page (and shown as a thumbnail); the link streams the bytes
    // through the Cloud API's media download, inline because it is a JPEG, and only while signed.
    let href_start = html.find("<img src=\"").expect("a thumbnail") + "<img src=\"".len();
    let href = html[href_start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(href.starts_with(&format!("{case_id}/media/")), "{href}");
    let media_url = reqwest::Url::parse(&link).unwrap().join(&href).unwrap();
    let attachment = http.get(media_url.clone()).send().await.unwrap();
    assert_eq!(attachment.status(), 200);
    let header = |name: &str| {
        attachment
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "image/jpeg");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("cache-control"), "no-store");
    assert!(header("content-disposition").starts_with("inline;"));
    assert!(header("content-security-policy").contains("sandbox"));
    assert_eq!(attachment.bytes().await.unwrap().as_ref(), photo.as_slice());
    let mut forged_media = media_url.clone();
    forged_media.set_query(Some(&media_url.query().unwrap().replace("sig=", "sig=00")));
    assert_eq!(http.get(forged_media).send().await.unwrap().status(), 403);
    // Message 0 is the customer's first text.
    let mut text_message = media_url.clone();
    let first_text = media_url.path().rsplit_once('/').unwrap().0.to_owned() + "/0";
    text_message.set_path(&first_text);
    assert_eq!(
        http.get(text_message).send().await.unwrap().status(),
        404,
        "a text message has no attachment"
    );

    // C2: the agent answers in Creatio; the business process calls chatport.
    let case_uuid: Uuid = case_id.parse().unwrap();
    let (_, call) = h
        .creatio
        .post_agent_reply(case_uuid, "Hallo Anna, wir haben die Rechnung korrigiert.")
        .await
        .unwrap();
    let call = call.unwrap();
    assert_eq!(call.status, Some(200));
    h.drain().await;
    let texts = h.texts_to(ANNA);
    assert_eq!(texts.len(), 4);
    assert_eq!(texts[3], "Hallo Anna, wir haben die Rechnung korrigiert.");

    // The same notification again (Creatio's retry, or a second process) sends nothing twice.
    let again = http
        .post(format!("{}/creatio/events", h.base))
        .header("X-Connector-Secret", HOOK_SECRET)
        .json(&call.body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    // A notification for one of chatport's own activities is not echoed back.
    let own = activities[1]["Id"].as_str().unwrap();
    let echo = http
        .post(format!("{}/creatio/events", h.base))
        .header("X-Connector-Secret", HOOK_SECRET)
        .json(&json!({"event_type": "new_activity", "caseId": case_id, "activityId": own}))
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), 200);
    // A wrong secret is refused and stores nothing.
    let refused = http
        .post(format!("{}/creatio/events", h.base))
        .header("X-Connector-Secret", "wrong")
        .json(&call.body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    h.drain().await;
    assert_eq!(h.texts_to(ANNA).len(), 4, "no duplicate, no echo");
    let c2 = h.rows("C2").await;
    assert_eq!(c2.len(), 2, "the repeated notification was a duplicate");
    assert!(c2.iter().all(|r| r.status == EventStatus::Done));

    // While with the agent, the customer's messages go to the case (not to O1).
    h.say(
        ANNA,
        "wamid.A4",
        now() - 5,
        "Danke! Wann kommt die Gutschrift?",
    )
    .await;
    assert_eq!(
        h.texts_to(ANNA).len(),
        4,
        "no automatic answer while with the agent"
    );
    assert!(
        h.activities_of(&case_id)
            .iter()
            .any(|a| a["Title"] == "[WhatsApp] Customer: Danke! Wann kommt die Gutschrift?")
    );

    // A second handoff of the open conversation adds to the same case.
    h.say(ANNA, "wamid.A5", now() - 4, "Please let me talk to a human")
        .await;
    assert_eq!(h.cases().len(), 1, "no second case");
    assert!(
        h.activities_of(&case_id)
            .iter()
            .any(|a| a["Title"].as_str().unwrap().contains("Handed off again"))
    );

    // Closure: the case is resolved in Creatio; the customer is told once.
    let resolved: Uuid = RESOLVED.parse().unwrap();
    let call = h
        .creatio
        .set_case_status(case_uuid, resolved)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(call.status, Some(200));
    h.drain().await;
    let texts = h.texts_to(ANNA);
    assert!(
        texts
            .last()
            .unwrap()
            .contains(&format!("Your case {number} is resolved"))
    );
    let count = texts.len();

    // After closure the conversation is back with the other flows, and the next escalation
    // opens a new case for the same contact.
    h.say(
        ANNA,
        "wamid.A6",
        now() - 2,
        "my invoice again, I need a real person",
    )
    .await;
    let cases = h.cases();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[1]["ContactId"], anna.as_str());
    let new_case = cases[1]["Id"].as_str().unwrap();
    let new_titles: Vec<String> = h
        .activities_of(new_case)
        .iter()
        .map(|a| a["Title"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !new_titles
            .iter()
            .any(|t| t.contains("Meine Rechnung ist falsch")),
        "the new case starts after the previous case: {new_titles:#?}"
    );
    assert!(h.texts_to(ANNA).len() > count);
    h.service.stop().await;
}

#[tokio::test]
async fn a_reply_after_the_window_closed_sends_the_template_and_tells_the_agent() {
    let h = Harness::start(0).await;
    let day_ago = now() - 25 * 3600;
    h.say(
        "16505551234",
        "wamid.W1",
        day_ago,
        "I need to speak to a person about my order",
    )
    .await;
    let cases = h.cases();
    assert_eq!(cases.len(), 1);
    let case_id: Uuid = cases[0]["Id"].as_str().unwrap().parse().unwrap();
    let number = cases[0]["Number"].as_str().unwrap().to_owned();
    // C5: no contact matched; one was created with the number.
    let contacts = h.creatio.records("Contact");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["MobilePhone"], "+16505551234");
    assert_eq!(cases[0]["ContactId"], contacts[0]["Id"]);
    assert!(
        h.graph.sent().is_empty(),
        "no confirmation: free text outside the window is not allowed"
    );

    for reply in ["We found your order.", "It ships tomorrow."] {
        h.creatio.post_agent_reply(case_id, reply).await.unwrap();
        h.drain().await;
    }
    let sent = h.graph.sent();
    assert_eq!(sent.len(), 1, "one template per closed window: {sent:#?}");
    assert_eq!(sent[0].template_name(), Some("reopen_conversation"));
    assert!(sent[0].body.to_string().contains(&number));
    let notes: Vec<Value> = h
        .activities_of(&case_id.to_string())
        .into_iter()
        .filter(|a| {
            a["Title"]
                .as_str()
                .unwrap()
                .contains("24-hour window closed")
        })
        .collect();
    assert_eq!(notes.len(), 2, "the agent is told why, for each reply");
    assert!(
        notes[0]["Notes"]
            .as_str()
            .unwrap()
            .contains("reopen_conversation")
    );

    // The customer answers the template: the held replies go out, in order, once.
    h.say("16505551234", "wamid.W2", now(), "Hi, I'm back")
        .await;
    let texts = h.texts_to("16505551234");
    assert_eq!(texts, ["We found your order.", "It ships tomorrow."]);
    h.say("16505551234", "wamid.W3", now(), "thanks").await;
    assert_eq!(h.texts_to("16505551234").len(), 2);
    h.service.stop().await;
}

#[tokio::test]
async fn a_retried_case_creation_does_not_duplicate_the_case() {
    let h = Harness::start(0).await;
    let contact = h
        .creatio
        .seed(
            "Contact",
            json!({ "Name": "Sheena", "MobilePhone": "+16505550000" }),
        )
        .unwrap();
    // Requests of the handoff: communication options, contact by mobile phone, the case POST
    // (answered after the client's 1 s timeout although it took effect), the read-back, the note,
    // then the $batch fails with 503 so the whole event is retried by the outbox.
    for failure in [
        Failure::Delay(Duration::ZERO),
        Failure::Delay(Duration::ZERO),
        Failure::Delay(Duration::from_millis(2500)),
        Failure::Delay(Duration::ZERO),
        Failure::Delay(Duration::ZERO),
        Failure::Status(503),
    ] {
        h.creatio.enqueue_failures(1, failure);
    }
    h.say("16505550000", "wamid.R1", now(), "talk to a human please")
        .await;
    let cases = h.cases();
    assert_eq!(cases.len(), 1, "{cases:#?}");
    assert_eq!(
        cases[0]["ContactId"], contact["Id"],
        "C5: matched by MobilePhone"
    );
    let rows = h.rows("C1").await;
    assert_eq!(
        rows[0].status,
        EventStatus::Done,
        "{:?}",
        rows[0].last_error
    );
    assert_eq!(rows[0].attempts, 2, "the 503 made the outbox retry");
    let activities = h.activities_of(cases[0]["Id"].as_str().unwrap());
    let notes = activities
        .iter()
        .filter(|a| a["Title"].as_str().unwrap().contains("handed off"))
        .count();
    assert_eq!(notes, 1, "one note: {activities:#?}");
    assert!(
        !activities
            .iter()
            .any(|a| a["Title"].as_str().unwrap().contains("again")),
        "a retry is not a second handoff"
    );

    // A replay of the done row (an operator re-running it) creates nothing new either.
    h.store
        .replay(&EventFilter::default().flow("C1"))
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(h.cases().len(), 1);
    h.service.stop().await;
}

#[tokio::test]
async fn manual_handoff_by_http_and_the_poller_catches_a_missed_notification() {
    let h = Harness::start(1).await;
    h.say(ANNA, "wamid.M1", now() - 30, "My invoice is wrong")
        .await;
    assert!(h.cases().is_empty());
    let http = reqwest::Client::new();
    let url = format!("{}/creatio/handoff", h.base);
    let denied = http
        .post(&url)
        .bearer_auth("wrong")
        .json(&json!({ "user": "+49 151 2345 6789" }))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let accepted = http
        .post(&url)
        .bearer_auth(HANDOFF_TOKEN)
        .json(
            &json!({ "user": "+49 151 2345 6789", "note": "VIP customer", "request_id": "req-1" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(body["event_id"], "handoff:req-1");
    h.drain().await;
    let cases = h.cases();
    assert_eq!(cases.len(), 1);
    assert!(
        cases[0]["Symptoms"]
            .as_str()
            .unwrap()
            .contains("VIP customer")
    );
    let case_id: Uuid = cases[0]["Id"].as_str().unwrap().parse().unwrap();
    let rows = h.rows("C1.manual").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].status,
        EventStatus::Done,
        "{:?}",
        rows[0].last_error
    );

    // The business process is missing: no notification; the poller finds the agent's reply.
    h.creatio.set_webhook_url(None);
    let (activity, call) = h
        .creatio
        .post_agent_reply(case_id, "Hello from the agent")
        .await
        .unwrap();
    assert!(call.is_none());
    assert_eq!(activity["CreatedById"], AGENT_CONTACT_ID);
    h.wait_for("the polled reply", |h| {
        h.texts_to(ANNA).iter().any(|t| t == "Hello from the agent")
    })
    .await;
    // And a closure nobody notified is found too.
    h.creatio
        .set_case_status(case_id, RESOLVED.parse().unwrap())
        .await
        .unwrap();
    h.wait_for("the polled closure", |h| {
        h.texts_to(ANNA).iter().any(|t| t.contains("is resolved"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    h.drain().await;
    assert_eq!(
        h.texts_to(ANNA)
            .iter()
            .filter(|t| *t == "Hello from the agent")
            .count(),
        1,
        "polled again and again, sent once"
    );
    h.service.stop().await;
}

/// C4, agent to customer: files an agent attaches to the case reach the customer as WhatsApp
/// media inside the window (once, whatever the notification and the poller repeat), a type
/// WhatsApp does not take is refused with a note to the agent, and outside the window a file
/// waits with the replies for the customer's next message.
#[tokio::test]
async fn an_agents_file_reaches_the_customer_as_media_and_waits_for_a_closed_window() {
    let h = Harness::start(0).await;
    h.say(
        "16505551234",
        "wamid.F1",
        now(),
        "I need to speak to a person about my invoice",
    )
    .await;
    let case_id: Uuid = h.cases()[0]["Id"].as_str().unwrap().parse().unwrap();
    let before = h.graph.sent_to("16505551234").len();

    let pdf = b"%PDF-1.4 the offer".to_vec();
    let (record, call) = h
        .creatio
        .post_agent_file(case_id, "offer.pdf", "application/pdf", &pdf)
        .await
        .unwrap();
    assert_eq!(call.unwrap().status, Some(200));
    h.drain().await;
    let (photo, _) = h
        .creatio
        .post_agent_file(case_id, "photo.jpg", "image/jpeg", b"\xff\xd8\xff jpeg")
        .await
        .unwrap();
    h.drain().await;
    let sent = h.graph.sent_to("16505551234");
    let media: Vec<_> = sent[before..].iter().collect();
    assert_eq!(media.len(), 2, "{media:#?}");
    assert_eq!(media[0].message_type, "document");
    assert_eq!(media[0].body["document"]["filename"], "offer.pdf");
    let uploaded = h
        .graph
        .media(media[0].body["document"]["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        uploaded.bytes.as_ref(),
        pdf.as_slice(),
        "the file's own bytes"
    );
    assert_eq!(uploaded.mime_type, "application/pdf");
    assert_eq!(media[1].message_type, "image");

    // A repeated notification (or the poller finding the same file) sends nothing more.
    let file_id = record["Id"].as_str().unwrap();
    let rows = h.rows("C2").await;
    let row = rows
        .iter()
        .find(|r| r.event_id.as_str() == format!("file:{file_id}"))
        .unwrap();
    assert_eq!(row.status, EventStatus::Done);
    assert_eq!(
        h.store
            .replay(&EventFilter::default().ids([row.id]))
            .await
            .unwrap(),
        1
    );
    h.drain().await;
    assert_eq!(h.graph.sent_to("16505551234").len(), before + 2);
    assert_ne!(photo["Id"], record["Id"]);

    // A file WhatsApp does not carry: not sent, and the agent is told why.
    h.creatio
        .post_agent_file(case_id, "export.bin", "application/x-custom", b"\x00\x01")
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(h.graph.sent_to("16505551234").len(), before + 2);
    let refused: Vec<Value> = h
        .activities_of(&case_id.to_string())
        .into_iter()
        .filter(|a| a["Title"].as_str().unwrap().contains("File not sent"))
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(refused[0]["Notes"].as_str().unwrap().contains("export.bin"));
    h.service.stop().await;

    // Outside the window: the template once, the file held, then delivered when the customer
    // writes again.
    let h = Harness::start(0).await;
    h.say(
        "16505551234",
        "wamid.G1",
        now() - 25 * 3600,
        "I need to speak to a person about my order",
    )
    .await;
    let case_id: Uuid = h.cases()[0]["Id"].as_str().unwrap().parse().unwrap();
    h.creatio
        .post_agent_file(case_id, "label.pdf", "application/pdf", b"%PDF-1.4 label")
        .await
        .unwrap();
    h.drain().await;
    let sent = h.graph.sent_to("16505551234");
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].template_name(), Some("reopen_conversation"));
    let held_note = h
        .activities_of(&case_id.to_string())
        .into_iter()
        .find(|a| {
            a["Title"]
                .as_str()
                .unwrap()
                .contains("24-hour window closed")
        })
        .unwrap();
    assert!(held_note["Notes"].as_str().unwrap().contains("label.pdf"));
    h.say("16505551234", "wamid.G2", now(), "Hi, I'm back")
        .await;
    let sent = h.graph.sent_to("16505551234");
    let documents: Vec<_> = sent
        .iter()
        .filter(|m| m.message_type == "document")
        .collect();
    assert_eq!(documents.len(), 1, "{sent:#?}");
    assert_eq!(documents[0].body["document"]["filename"], "label.pdf");
    h.say("16505551234", "wamid.G3", now(), "thanks").await;
    assert_eq!(
        h.graph
            .sent_to("16505551234")
            .iter()
            .filter(|m| m.message_type == "document")
            .count(),
        1
    );
    h.service.stop().await;
}

/// A customer who changes their number mid-handoff stays on their case: the next message from
/// the new number is mirrored onto it, the agent's reply goes to the new number, and after the
/// case is closed a new handoff from the new number finds the same contact (C5).
#[tokio::test]
async fn a_number_change_keeps_the_case_the_replies_and_the_contact() {
    use chatport_testkit::graph::shapes::{self, Business};
    const OLD: &str = "16505551234";
    const NEW: &str = "16505559999";
    let h = Harness::start(0).await;
    h.say(
        OLD,
        "wamid.N1",
        now(),
        "I need to speak to a person about my invoice",
    )
    .await;
    let cases = h.cases();
    assert_eq!(cases.len(), 1);
    let case_id: Uuid = cases[0]["Id"].as_str().unwrap().parse().unwrap();
    let contact = cases[0]["ContactId"].clone();

    let change = shapes::user_changed_number(
        &Business::new(WABA, PNID, DISPLAY),
        OLD,
        NEW,
        None,
        "wamid.N-sys",
        now(),
    );
    let r = h.simulator.deliver(&change).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    h.drain().await;

    h.say(NEW, "wamid.N2", now(), "this is my new phone").await;
    assert_eq!(h.cases().len(), 1, "no second case for the new number");
    assert!(
        h.activities_of(&case_id.to_string())
            .iter()
            .any(|a| a["Notes"]
                .as_str()
                .unwrap_or_default()
                .contains("this is my new phone")
                || a["Title"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("this is my new phone")),
        "the new number's message is on the case"
    );
    h.creatio
        .post_agent_reply(case_id, "Noted, we will call you there.")
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(
        h.texts_to(NEW).last().map(String::as_str),
        Some("Noted, we will call you there.")
    );
    assert!(!h.texts_to(OLD).iter().any(|t| t.contains("call you there")));

    // The contact knows the new number now; after closure a new handoff finds the contact.
    let options: Vec<Value> = h
        .creatio
        .records("ContactCommunication")
        .into_iter()
        .filter(|o| o["ContactId"] == contact)
        .collect();
    assert_eq!(options.len(), 1, "{options:#?}");
    assert_eq!(options[0]["Number"], format!("+{NEW}"));
    h.creatio
        .set_case_status(case_id, RESOLVED.parse().unwrap())
        .await
        .unwrap();
    h.drain().await;
    h.say(NEW, "wamid.N3", now(), "I need to speak to a person again")
        .await;
    let cases = h.cases();
    assert_eq!(cases.len(), 2);
    assert_eq!(
        cases[1]["ContactId"], contact,
        "C5 matched the contact by its new number"
    );
    assert_eq!(h.creatio.records("Contact").len(), 1);
    h.service.stop().await;
}
