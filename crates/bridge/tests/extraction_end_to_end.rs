//! Metadata extraction by the `[assistant]` model in O5, O8 (OpenText) and L2, L6 (Orange Logic),
//! end to end (issue 15): signed webhooks → SQLite outbox → workers → the CMS, Orange Logic, Graph
//! and Chat Completions emulators. Per flow: the model fills what the rules cannot (from the
//! caption, the conversation and a PDF's text) and the model and prompt version are written with
//! the values; and a failing model leaves the rules' result, with no provenance written.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_runtime::{EventFilter, Outbox, SqliteStore};
use chatport_testkit::chat::{ChatEmulator, ChatFailure};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::orangelogic::{OrangeLogicEmulator, StoredAsset};
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::{Map, Value, json};

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "test-app-secret";
const KEY: &str = "sk-test-assistant";
const MODEL: &str = "test-model";
const TOM: &str = "4917000000042"; // technician (O5)
const VERA: &str = "4930123456789"; // vendor (O8)
const FRED: &str = "4915222222222"; // field staff (L2)
const FAN: &str = "447700900123"; // anyone (L6)

const CONFIG: &str = r##"
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

[orangelogic]
base_url = "${OL_URL}"
client_id = "${OL_CLIENT}"
client_secret = "${OL_SECRET}"
phone_number_id = "106540352242922"
in_doubt_recheck_secs = 1

[assistant]
base_url = "${CHAT_URL}"
model = "test-model"
api_key = "${CHAT_KEY}"
timeout_secs = 2

[[directory]]
phone = "+49 170 000 000 42"
name = "Tom Tech"
role = "technician"

[[directory]]
phone = "+49 30 123456789"
name = "Vera Vendor"
customer_id = "V-100"
role = "vendor"

[[directory]]
phone = "+49 152 2222 2222"
name = "Fred Field"
role = "field"

[flows.o1]
enabled = false

[flows.o5]
enabled = true
extractor = "model"
in_doubt_recheck_secs = 1

[flows.o8]
enabled = true
extractor = "model"
phone_number_id = "106540352242922"
poll_interval_secs = 1
in_doubt_recheck_secs = 1

[flows.l2]
enabled = true
extractor = "model"
root_folder = "ROOTFOLDER01"

[[flows.l2.projects]]
tag = "#bridge-a4"
folder_title = "Bridge A4"

[[flows.l2.ai_fields]]
field = "Field.Damage-Type"
name = "damage_type"
title = "Damage type"
kind = "lookup"
values = ["crack", "corrosion"]
instruction = "The kind of damage the media shows."

[flows.l6]
enabled = true
extractor = "model"
root_folder = "ROOTFOLDER01"

[[flows.l6.campaigns]]
tag = "#summer25"
name = "Summer 25"

[[flows.l6.ai_fields]]
field = "UGC.Subject"
name = "subject"
title = "Subject"
kind = "text"
instruction = "What the submission shows, in a few words."
"##;

struct Harness {
    graph: GraphEmulator,
    cms: CmsEmulator,
    ol: OrangeLogicEmulator,
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
        let ol = OrangeLogicEmulator::start().await.unwrap();
        let chat = ChatEmulator::builder().api_key(KEY).start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("x.sqlite"), Default::default()).unwrap();
        let vars: BTreeMap<String, String> = [
            ("GRAPH_URL", graph.base_url()),
            ("WA_TOKEN", graph.access_token().to_owned()),
            ("WA_SECRET", SECRET.to_owned()),
            ("WA_VERIFY", "verify-me".to_owned()),
            ("CMS_URL", cms.base_url()),
            ("CMS_TENANT", cms.tenant_id().to_owned()),
            ("CMS_CLIENT", cms.client_id().to_owned()),
            ("CMS_SECRET", cms.client_secret().to_owned()),
            ("OL_URL", ol.base_url()),
            ("OL_CLIENT", ol.client_id().to_owned()),
            ("OL_SECRET", ol.client_secret().to_owned()),
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
            ol,
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
        let body = Delivery::new(WABA).message(PNID, DISPLAY, spec).build();
        let r = self.simulator.deliver(&body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        self.drain().await;
    }

    /// A PDF with `text` as WhatsApp media, and its SHA-256.
    fn pdf(&self, text: &str) -> (String, String) {
        let media = self.graph.add_media(
            "application/pdf",
            chatport_testkit::documents::pdf_with_text(text).unwrap(),
        );
        let sha = self.graph.media(&media).unwrap().sha256_hex();
        (media, sha)
    }

    /// The model answers every extraction with `values` (by field name; a field of the request
    /// not in `values` is answered `null`).
    fn answer(&self, values: &[(&str, &str)]) {
        let values: BTreeMap<String, String> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.chat.answer_with(move |request| {
            let properties =
                request["response_format"]["json_schema"]["schema"]["properties"].as_object()?;
            let answer: Map<String, Value> = properties
                .keys()
                .map(|k| (k.clone(), values.get(k).map_or(Value::Null, |v| json!(v))))
                .collect();
            Some(Value::Object(answer))
        });
    }

    /// Everything the model was sent, as one string.
    fn prompts(&self) -> String {
        serde_json::to_string(&self.chat.requests()).unwrap()
    }

    /// The texts sent in answer to `wamid`.
    fn replies_to(&self, wamid: &str) -> Vec<String> {
        self.graph
            .sent()
            .into_iter()
            .filter(|m| m.body["context"]["message_id"] == wamid)
            .map(|m| m.text_body().unwrap_or_default().to_owned())
            .collect()
    }

    /// The uploaded asset whose source message is `wamid` (`source_field`).
    fn asset_of(&self, source_field: &str, wamid: &str) -> StoredAsset {
        let found: Vec<StoredAsset> = self
            .ol
            .assets()
            .into_iter()
            .filter(|a| a.fields.get(source_field) == Some(&json!(wamid)))
            .collect();
        assert_eq!(found.len(), 1, "one asset for {wamid}: {found:#?}");
        found.into_iter().next().unwrap()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp() - 60
}

fn field(asset: &StoredAsset, name: &str) -> Value {
    asset.fields.get(name).cloned().unwrap_or(Value::Null)
}

fn is_provenance(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|v| v.starts_with(&format!("model {MODEL}, prompt extract@")))
}

#[tokio::test]
async fn o5_the_model_reads_the_job_asset_and_note_from_a_pdf_without_asking() {
    let h = Harness::start().await;
    h.answer(&[
        ("job_number", "7788"),
        ("asset_id", "P-12"),
        ("note", "Pump P-12 replaced"),
    ]);
    let (media, sha) = h.pdf("Service report. Work order 7788. Pump P-12 replaced.");
    // No caption, no job in the session: the rules would ask for the job.
    h.send(
        MessageSpec::document(TOM, "wamid.X5-1", now(), &media, "application/pdf", "r.pdf")
            .sha256(&sha),
    )
    .await;
    let evidence = h.cms.instances_of_type("ca_field_evidence");
    assert_eq!(evidence.len(), 1, "filed without asking: {evidence:#?}");
    let p = &evidence[0]["properties"];
    assert_eq!(p["job_number"], "JOB-7788", "the rules' form: {p}");
    assert_eq!(p["asset_id"], "P-12", "{p}");
    assert_eq!(p["note"], "Pump P-12 replaced", "{p}");
    assert!(is_provenance(&p["ai_provenance"]), "{p}");
    assert_eq!(p["content_sha256"], sha.as_str(), "{p}");
    assert!(
        h.prompts().contains("Work order 7788"),
        "the PDF's text reached the model"
    );
    let replies = h.replies_to("wamid.X5-1");
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("JOB-7788"), "{replies:?}");

    // The model's job is the session's job now: the next photo is filed under it, with the
    // provenance of the job.
    let photo = h.graph.add_media("image/jpeg", b"jpeg".to_vec());
    let photo_sha = h.graph.media(&photo).unwrap().sha256_hex();
    let asked_before = h.chat.requests().len();
    h.send(
        MessageSpec::image(TOM, "wamid.X5-2", now(), &photo, "image/jpeg")
            .sha256(&photo_sha)
            .caption("seal replaced too"),
    )
    .await;
    let evidence = h.cms.instances_of_type("ca_field_evidence");
    assert_eq!(evidence.len(), 2);
    let second = evidence
        .iter()
        .find(|e| e["properties"]["source_message_id"] == "wamid.X5-2")
        .unwrap();
    assert_eq!(second["properties"]["job_number"], "JOB-7788");
    assert_eq!(second["properties"]["note"], "seal replaced too");
    assert!(is_provenance(&second["properties"]["ai_provenance"]));
    assert_eq!(
        h.chat.requests().len(),
        asked_before,
        "nothing was empty: the model was not asked"
    );

    // A replay files nothing twice and asks the model nothing.
    h.store
        .replay(&EventFilter::default().flow("O5"))
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(h.cms.instances_of_type("ca_field_evidence").len(), 2);
    assert_eq!(h.chat.requests().len(), asked_before);
}

#[tokio::test]
async fn o5_a_failing_model_leaves_the_rules_which_ask_for_the_job() {
    let h = Harness::start().await;
    h.chat.fail_next(50, ChatFailure::ServerError);
    let (media, sha) = h.pdf("Service report. Work order 7788. Pump P-12 replaced.");
    h.send(
        MessageSpec::document(TOM, "wamid.Y5-1", now(), &media, "application/pdf", "r.pdf")
            .sha256(&sha),
    )
    .await;
    assert!(h.cms.instances_of_type("ca_field_evidence").is_empty());
    assert!(!h.chat.requests().is_empty(), "the model was tried");
    let replies = h.replies_to("wamid.Y5-1");
    assert_eq!(replies.len(), 1);
    assert!(replies[0].contains("Which job"), "{replies:?}");

    h.send(MessageSpec::text(TOM, "wamid.Y5-2", now(), "JOB-55"))
        .await;
    let evidence = h.cms.instances_of_type("ca_field_evidence");
    assert_eq!(evidence.len(), 1, "{evidence:#?}");
    let p = &evidence[0]["properties"];
    assert_eq!(p["job_number"], "JOB-55");
    assert!(p.get("asset_id").is_none_or(Value::is_null), "{p}");
    assert!(p.get("note").is_none_or(Value::is_null), "{p}");
    assert!(p.get("ai_provenance").is_none_or(Value::is_null), "{p}");
    assert!(!p.to_string().contains("fallback"), "{p}");
}

#[tokio::test]
async fn o8_the_model_finds_the_reference_the_caption_does_not_name() {
    let h = Harness::start().await;
    let po = h.cms.seed_instance(
        "object",
        "ca_purchase_order",
        "PO-4711",
        [
            ("po_number", json!("PO-4711")),
            ("vendor_id", json!("V-100")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    );
    h.answer(&[
        ("reference", "po-4711"),
        ("reference_kind", "purchase order"),
    ]);
    let (media, sha) = h.pdf("Delivery note. Your order PO-4711, 12 pallets.");
    h.send(
        MessageSpec::document(
            VERA,
            "wamid.X8-1",
            now(),
            &media,
            "application/pdf",
            "dn.pdf",
        )
        .sha256(&sha)
        .caption("Please find attached"),
    )
    .await;
    let docs = h.cms.instances_of_type("ca_supplier_document");
    assert_eq!(docs.len(), 1);
    let p = &docs[0]["properties"];
    assert_eq!(p["reference"], "PO-4711", "the rules' form: {p}");
    assert_eq!(p["linked_object_id"], po["id"], "{p}");
    assert_eq!(p["link_status"], "linked", "{p}");
    assert!(is_provenance(&p["ai_provenance"]), "{p}");
    assert!(
        h.prompts().contains("12 pallets"),
        "the PDF's text reached the model"
    );
    let replies = h.replies_to("wamid.X8-1");
    assert_eq!(replies.len(), 1);
    assert!(replies[0].contains("purchase order PO-4711"), "{replies:?}");
}

#[tokio::test]
async fn o8_a_failing_model_leaves_the_document_unresolved() {
    let h = Harness::start().await;
    h.chat.fail_next(50, ChatFailure::OffSchema);
    let (media, sha) = h.pdf("Delivery note. Your order PO-4711, 12 pallets.");
    h.send(
        MessageSpec::document(
            VERA,
            "wamid.Y8-1",
            now(),
            &media,
            "application/pdf",
            "dn.pdf",
        )
        .sha256(&sha)
        .caption("Please find attached"),
    )
    .await;
    let docs = h.cms.instances_of_type("ca_supplier_document");
    assert_eq!(docs.len(), 1, "filed all the same");
    let p = &docs[0]["properties"];
    assert_eq!(p["link_status"], "unresolved", "{p}");
    assert!(p.get("reference").is_none_or(Value::is_null), "{p}");
    assert!(p.get("ai_provenance").is_none_or(Value::is_null), "{p}");
    assert!(!h.chat.requests().is_empty(), "the model was tried");
    let replies = h.replies_to("wamid.Y8-1");
    assert_eq!(replies.len(), 1);
    assert!(replies[0].contains("could not find"), "{replies:?}");
}

#[tokio::test]
async fn l2_the_model_picks_the_project_location_and_ai_fields() {
    let h = Harness::start().await;
    h.answer(&[
        ("project", "Bridge A4"),
        ("location", "Pier 3, north bearing"),
        ("damage_type", "crack"),
    ]);
    let bytes = b"\xff\xd8\xff\xe0 crack photo".to_vec();
    let media = h.graph.add_media("image/jpeg", bytes.clone());
    let sha = h.graph.media(&media).unwrap().sha256_hex();
    // No project tag, no shared location: the rules file into the default project.
    h.send(
        MessageSpec::image(FRED, "wamid.X2-1", now(), &media, "image/jpeg")
            .sha256(&sha)
            .caption("crack at the north bearing of the A4 bridge, pier 3"),
    )
    .await;
    let a = h.asset_of("Field.Source-Message", "wamid.X2-1");
    let folder =
        h.ol.asset(field(&a, "CoreField.Parent-folder").as_str().unwrap())
            .unwrap();
    assert_eq!(field(&folder, "CoreField.Title"), "Bridge A4");
    assert_eq!(field(&a, "Field.Project"), "bridge-a4");
    assert_eq!(field(&a, "Field.Location"), "Pier 3, north bearing");
    assert_eq!(field(&a, "Field.Damage-Type"), "crack");
    assert!(is_provenance(&field(&a, "Field.AI-Provenance")), "{a:#?}");
    let keywords = field(&a, "CoreField.Keywords");
    assert!(keywords.as_array().unwrap().contains(&json!("bridge-a4")));
    let asked = h.chat.requests().len();
    assert_eq!(asked, 1);

    // A replay writes the same values and does not ask the model again.
    h.store
        .replay(&EventFilter::default().flow("L2"))
        .await
        .unwrap();
    h.drain().await;
    let again = h.asset_of("Field.Source-Message", "wamid.X2-1");
    assert_eq!(field(&again, "Field.Location"), "Pier 3, north bearing");
    assert_eq!(field(&again, "Field.Damage-Type"), "crack");
    assert_eq!(h.chat.requests().len(), asked);
}

#[tokio::test]
async fn l2_a_failing_model_leaves_the_default_project_and_no_ai_fields() {
    let h = Harness::start().await;
    h.chat.fail_next(50, ChatFailure::Malformed);
    let media = h.graph.add_media("image/jpeg", b"\xff\xd8 photo".to_vec());
    let sha = h.graph.media(&media).unwrap().sha256_hex();
    h.send(
        MessageSpec::image(FRED, "wamid.Y2-1", now(), &media, "image/jpeg")
            .sha256(&sha)
            .caption("crack at the north bearing of the A4 bridge, pier 3"),
    )
    .await;
    let a = h.asset_of("Field.Source-Message", "wamid.Y2-1");
    let folder =
        h.ol.asset(field(&a, "CoreField.Parent-folder").as_str().unwrap())
            .unwrap();
    assert_eq!(field(&folder, "CoreField.Title"), "WhatsApp field inbox");
    assert_eq!(field(&a, "Field.Project"), "WhatsApp field inbox");
    assert!(field(&a, "Field.Location").is_null(), "{a:#?}");
    assert!(field(&a, "Field.Damage-Type").is_null(), "{a:#?}");
    assert!(field(&a, "Field.AI-Provenance").is_null(), "{a:#?}");
    assert!(!h.chat.requests().is_empty(), "the model was tried");
    assert_eq!(h.replies_to("wamid.Y2-1").len(), 1);
}

/// Sends a campaign submission and taps "yes"; returns the stored asset.
async fn submit_and_consent(h: &Harness, wamid: &str) -> StoredAsset {
    let bytes = format!("\u{89}PNG sunset {wamid}").into_bytes();
    let media = h.graph.add_media("image/png", bytes);
    let sha = h.graph.media(&media).unwrap().sha256_hex();
    h.send(
        MessageSpec::image(FAN, wamid, now(), &media, "image/png")
            .sha256(&sha)
            .caption("Sunset at the beach #summer25")
            .profile_name("Sam"),
    )
    .await;
    let question = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == wamid)
        .unwrap();
    assert!(
        h.chat.requests().is_empty(),
        "nothing is read before the consent"
    );
    h.send(
        MessageSpec::button_reply(FAN, format!("{wamid}-yes"), now(), "l6:yes", "Yes, I agree")
            .context(&question.wamid),
    )
    .await;
    h.asset_of("UGC.Source-Message", wamid)
}

#[tokio::test]
async fn l6_the_model_fills_the_ai_fields_after_the_consent() {
    let h = Harness::start().await;
    h.answer(&[("subject", "Sunset at the beach")]);
    let a = submit_and_consent(&h, "wamid.X6-1").await;
    assert_eq!(field(&a, "UGC.Subject"), "Sunset at the beach");
    assert!(is_provenance(&field(&a, "UGC.AI-Provenance")), "{a:#?}");
    assert_eq!(field(&a, "UGC.Campaign"), "Summer 25", "never the model's");
    assert_eq!(field(&a, "UGC.Consent"), "yes", "never the model's");
    assert_eq!(h.chat.requests().len(), 1);
}

#[tokio::test]
async fn l6_a_failing_model_stores_the_submission_without_ai_fields() {
    let h = Harness::start().await;
    h.chat.fail_next(50, ChatFailure::Refusal);
    let a = submit_and_consent(&h, "wamid.Y6-1").await;
    assert_eq!(field(&a, "UGC.Campaign"), "Summer 25");
    assert!(field(&a, "UGC.Subject").is_null(), "{a:#?}");
    assert!(field(&a, "UGC.AI-Provenance").is_null(), "{a:#?}");
    assert!(!h.chat.requests().is_empty(), "the model was tried");
}
