//! The assistant behind the flows, end to end (issue 15): `[assistant]` pointing at the testkit's
//! Chat Completions emulator, with O1 routing by the model's classification, O2 filing a document
//! whose metadata the model extracted (from a PDF's text) without asking the sender, and C1
//! creating a case with a model-written summary, the handoff reason and AI-filled columns (a
//! lookup answered only from Creatio's real values). Every failure of the model ends in the
//! rule-based result, and no phone number or e-mail address reaches the model.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_runtime::{Outbox, SqliteStore};
use chatport_testkit::chat::{ChatEmulator, ChatFailure};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::creatio::CreatioEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::{Value, json};

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "test-app-secret";
const ANNA: &str = "4915123456789";
const KEY: &str = "sk-test-assistant";
const MODEL: &str = "test-model";

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
media_hosts = ["127.0.0.1"]

[opentext]
auth_base = "${CMS_URL}"
cms_base = "${CMS_URL}/cms"
css_base = "${CMS_URL}"
tenant_id = "${CMS_TENANT}"
client_id = "${CMS_CLIENT}"
client_secret = "${CMS_SECRET}"

[creatio]
base_url = "${CREATIO_URL}"
auth = "oauth"
client_id = "${CREATIO_CLIENT}"
client_secret = "${CREATIO_SECRET}"
token_url = "${CREATIO_URL}/connect/token"

[assistant]
base_url = "${CHAT_URL}"
model = "test-model"
api_key = "${CHAT_KEY}"
timeout_secs = 2

[[classifier.issue_types]]
name = "billing"
keywords = ["invoice"]

[[classifier.issue_types]]
name = "delivery"
keywords = ["parcel"]

[flows.o1]
classifier = "model"
in_doubt_recheck_secs = 1

[[flows.o1.queues]]
queue = "logistics"
issue_type = "delivery"

[flows.o2]
enabled = true
extractor = "model"
in_doubt_recheck_secs = 1

[flows.c1]
enabled = true
classifier = "model"
summariser = "model"
in_doubt_recheck_secs = 1

[[flows.c1.ai_fields]]
column = "PriorityId"
name = "priority"
title = "Priority"
kind = "lookup"
lookup = "CasePriority"
instruction = "How urgent the customer's problem is."

[[flows.c1.ai_fields]]
column = "UsrProduct"
title = "Product"
kind = "text"
instruction = "The product the customer writes about."
"#;

struct Harness {
    graph: GraphEmulator,
    cms: CmsEmulator,
    creatio: CreatioEmulator,
    chat: ChatEmulator,
    store: SqliteStore,
    _service: Service,
    simulator: WebhookSimulator,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Self {
        let graph = GraphEmulator::start().await.unwrap();
        let cms = CmsEmulator::start().await.unwrap();
        let creatio = CreatioEmulator::builder().start().await.unwrap();
        let chat = ChatEmulator::builder().api_key(KEY).start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("a.sqlite"), Default::default()).unwrap();
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
            ("CHAT_URL", chat.base_url()),
            ("CHAT_KEY", KEY.to_owned()),
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
            creatio,
            chat,
            store,
            _service: service,
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
                start.elapsed() < Duration::from_secs(60),
                "outbox did not drain: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn send(&self, spec: MessageSpec) {
        let body = Delivery::new(WABA)
            .message(PNID, DISPLAY, spec.profile_name("Anna Schmidt"))
            .build();
        let r = self.simulator.deliver(&body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        self.drain().await;
    }

    /// Everything the model was sent, as one string.
    fn prompts(&self) -> String {
        serde_json::to_string(&self.chat.requests()).unwrap()
    }

    /// The `response_format` schema names of the requests so far.
    fn tasks(&self) -> Vec<String> {
        self.chat
            .requests()
            .iter()
            .filter_map(|r| {
                r["response_format"]["json_schema"]["name"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Seeds the CasePriority lookup; returns the id of "High".
fn seed_priorities(creatio: &CreatioEmulator) -> String {
    let mut high = String::new();
    for name in ["Low", "Medium", "High"] {
        let row = creatio
            .seed("CasePriority", json!({ "Name": name }))
            .unwrap();
        if name == "High" {
            high = row["Id"].as_str().unwrap().to_owned();
        }
    }
    high
}

#[tokio::test]
async fn o1_routes_by_the_model_and_o2_files_what_the_model_extracted_without_asking() {
    let h = Harness::start().await;

    // O1: no rule keyword matches ("parcel" is the rules' word for delivery); the model reads
    // "delivery" and the queue rule for delivery routes the case.
    h.send(MessageSpec::text(
        ANNA,
        "wamid.A1",
        now(),
        "My delivery is late again. Write to anna@example.com or call +49 151 2345 6789.",
    ))
    .await;
    let cases = h.cms.instances_of_type("ca_support_case");
    assert_eq!(cases.len(), 1);
    let p = &cases[0]["properties"];
    assert_eq!(p["issue_type"], "delivery", "{p}");
    assert_eq!(p["support_queue"], "logistics", "{p}");
    assert_eq!(h.tasks(), ["classify"], "{:?}", h.tasks());

    // O2: a PDF without a caption. The rules would ask for the type; the model reads the
    // document's text, chooses "Invoice" from the configured types and fills the invoice number.
    let media = h.graph.add_media(
        "application/pdf",
        chatport_testkit::documents::pdf_with_text("Invoice INV-0042 total 120.00 EUR").unwrap(),
    );
    let sha = h.graph.media(&media).unwrap().sha256_hex();
    h.send(
        MessageSpec::document(
            ANNA,
            "wamid.A2",
            now(),
            &media,
            "application/pdf",
            "scan.pdf",
        )
        .sha256(&sha),
    )
    .await;
    let files = h.cms.instances_of_type("ca_captured_document");
    assert_eq!(files.len(), 1, "filed without asking");
    let p = &files[0]["properties"];
    assert_eq!(p["document_type"], "invoice", "{p}");
    assert!(
        p["invoice_number"].as_str().is_some_and(|n| !n.is_empty()),
        "{p}"
    );
    assert!(
        p["ai_provenance"]
            .as_str()
            .is_some_and(|v| v.starts_with(&format!("model {MODEL}, prompt extract@"))),
        "{p}"
    );
    let asked = h
        .graph
        .sent()
        .into_iter()
        .filter(|m| m.body["context"]["message_id"] == "wamid.A2")
        .filter(|m| m.body["interactive"].is_object())
        .count();
    assert_eq!(asked, 0, "nothing was asked");
    let prompts = h.prompts();
    assert!(
        prompts.contains("Invoice INV-0042 total"),
        "the PDF's text reached the model: {prompts}"
    );

    // Governance: the e-mail address and the phone number (in the text and as the sender) never
    // left the process.
    for secret in ["anna@example.com", "2345 6789", "23456789", ANNA] {
        assert!(!prompts.contains(secret), "{secret} reached the model");
    }
}

#[tokio::test]
async fn c1_case_carries_the_model_summary_the_reason_and_ai_filled_fields() {
    let h = Harness::start().await;
    let high = seed_priorities(&h.creatio);
    h.send(MessageSpec::text(
        ANNA,
        "wamid.C1",
        now(),
        "My Fritzbox router drops the line every hour, this is high priority.",
    ))
    .await;
    h.send(MessageSpec::text(
        ANNA,
        "wamid.C2",
        now(),
        "I want to speak to a person please",
    ))
    .await;
    let cases = h.creatio.records("Case");
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case = &cases[0];
    assert_eq!(case["PriorityId"], high.as_str(), "a real lookup value");
    assert!(
        case["UsrProduct"].as_str().is_some_and(|v| !v.is_empty()),
        "{case}"
    );
    let symptoms = case["Symptoms"].as_str().unwrap();
    assert!(symptoms.contains("Sentiment:"), "{symptoms}");
    assert!(
        symptoms.contains("Handoff: the customer asked"),
        "{symptoms}"
    );
    let case_id = case["Id"].as_str().unwrap();
    let first = h
        .creatio
        .records("Activity")
        .into_iter()
        .filter(|a| a["CaseId"] == case_id)
        .find(|a| {
            a["Title"]
                .as_str()
                .is_some_and(|t| t.contains("Conversation handed off"))
        })
        .unwrap();
    let notes = first["Notes"].as_str().unwrap();
    assert!(
        notes.contains(&format!("Summary: model {MODEL}, prompt summary@")),
        "{notes}"
    );
    assert!(
        notes.contains("AI-filled fields (model test-model, prompt fields@"),
        "{notes}"
    );
    assert!(notes.contains("PriorityId = High"), "{notes}");
    let tasks = h.tasks();
    for task in ["summary", "fields"] {
        assert!(tasks.iter().any(|t| t == task), "{task} in {tasks:?}");
    }
    let prompts = h.prompts();
    assert!(
        !prompts.contains(ANNA),
        "the customer's number reached the model"
    );
}

#[tokio::test]
async fn every_model_failure_ends_in_the_rules_with_nothing_lost() {
    let h = Harness::start().await;
    seed_priorities(&h.creatio);
    for (n, failure) in [
        ChatFailure::ServerError,
        ChatFailure::Malformed,
        ChatFailure::OffSchema,
        ChatFailure::Refusal,
    ]
    .into_iter()
    .enumerate()
    {
        // Enough failures for every retry of every call of one handoff.
        h.chat.fail_next(50, failure.clone());
        let before: Vec<Value> = h
            .creatio
            .records("Case")
            .iter()
            .map(|c| c["Id"].clone())
            .collect();
        let customer = format!("49151000000{n}");
        h.send(MessageSpec::text(
            &customer,
            format!("wamid.F{n}"),
            now(),
            "I need to speak to a person about my contract",
        ))
        .await;
        let cases = h.creatio.records("Case");
        let case = cases
            .iter()
            .find(|c| !before.contains(&c["Id"]))
            .unwrap_or_else(|| panic!("{failure:?}: no new case in {cases:?}"));
        assert!(
            case["Symptoms"]
                .as_str()
                .is_some_and(|s| s.contains("about my contract")),
            "{failure:?}: the rules' summary: {case}"
        );
        assert!(case.get("UsrProduct").is_none_or(Value::is_null), "{case}");
        let id = case["Id"].as_str().unwrap();
        let notes: Vec<String> = h
            .creatio
            .records("Activity")
            .into_iter()
            .filter(|a| a["CaseId"] == id)
            .filter_map(|a| a["Notes"].as_str().map(str::to_owned))
            .collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("Summary: rules (the model did not answer).")),
            "{failure:?}: {notes:?}"
        );
    }
    let dead = h
        .store
        .list(
            &chatport_runtime::EventFilter::default().status(chatport_runtime::EventStatus::Dead),
            100,
        )
        .await
        .unwrap();
    assert!(dead.is_empty(), "nothing lost: {dead:?}");
}

#[tokio::test]
async fn o2_writes_no_provenance_when_the_model_filled_nothing() {
    let h = Harness::start().await;
    // The model answers every requested field with null: it answered, but gave nothing.
    h.chat.answer_with(|request| {
        let properties =
            request["response_format"]["json_schema"]["schema"]["properties"].as_object()?;
        Some(serde_json::Value::Object(
            properties
                .keys()
                .map(|k| (k.clone(), serde_json::Value::Null))
                .collect(),
        ))
    });
    // "Rechnung" gives the rules the type (invoice) but no number: the model is asked for it.
    let media = h.graph.add_media(
        "application/pdf",
        chatport_testkit::documents::pdf_with_text("Delivery note, no number").unwrap(),
    );
    let sha = h.graph.media(&media).unwrap().sha256_hex();
    h.send(
        MessageSpec::document(
            ANNA,
            "wamid.N1",
            now(),
            &media,
            "application/pdf",
            "scan.pdf",
        )
        .caption("Rechnung")
        .sha256(&sha),
    )
    .await;
    assert_eq!(h.tasks(), ["extract"], "{:?}", h.tasks());
    assert!(
        h.cms.instances_of_type("ca_captured_document").is_empty(),
        "the number is still missing: the sender is asked"
    );
    // The sender gives the number; the record carries the rules' and the sender's values only.
    h.send(MessageSpec::text(ANNA, "wamid.N2", now(), "INV-0099"))
        .await;
    let files = h.cms.instances_of_type("ca_captured_document");
    assert_eq!(files.len(), 1);
    let p = &files[0]["properties"];
    assert_eq!(p["document_type"], "invoice", "{p}");
    assert_eq!(p["invoice_number"], "INV-0099", "{p}");
    assert!(
        p.get("ai_provenance")
            .is_none_or(serde_json::Value::is_null),
        "no value of the model was used, so no provenance: {p}"
    );
}
