//! Flows L1–L7 end to end: OrangeDAM webhooks (path token) and signed WhatsApp webhooks over real
//! HTTP → SQLite outbox → workers → Orange Logic emulator + Graph emulator; redeliveries and
//! replays must produce no second effect.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore, StoredEvent};
use chatport_testkit::graph::{GraphEmulator, SentMessage};
use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER, StoredAsset};
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::{Value, json};

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "test-app-secret";
const HOOK_TOKEN: &str = "ol-path-token-0123456789abcdef0123";

const APPROVER_1: &str = "+4915100000001";
const APPROVER_2: &str = "+4915100000002";
const OWNER: &str = "+4915100000005";
const FALLBACK: &str = "+4915100000009";
const LEGAL: &str = "+442079460000";
const EMEA_CONTACT: &str = "+4917011111111";
const NA_CONTACT: &str = "+16505550101";
const FIELD_TECH: &str = "4915222222222";
const AGENT: &str = "4915333333333";
const CUSTOMER: &str = "16505550000";
const FAN: &str = "447700900123";
const FAN_2: &str = "447700900456";

const CONFIG: &str = r##"
[workers]
concurrency = 4
lease_secs = 30
retry_schedule_secs = [1]
max_attempts = 4
poll_interval_ms = 20

[whatsapp]
api_base = "${GRAPH_URL}"
access_token = "${WA_TOKEN}"
app_secrets = ["${WA_SECRET}"]
verify_token = "${WA_VERIFY}"
timeout_secs = 2

[orangelogic]
base_url = "${OL_URL}"
client_id = "${OL_CLIENT}"
client_secret = "${OL_SECRET}"
presigned_links_path = "/webapi/objectmanagement/share/getpresignedlinks_emu_v1"
phone_number_id = "106540352242922"
in_doubt_recheck_secs = 1

[orangelogic.webhook]
token = "${OL_HOOK_TOKEN}"

[[directory]]
phone = "+49 152 2222 2222"
name = "Tom Field"
role = "field"

[[directory]]
phone = "+49 153 3333 3333"
name = "Alex Agent"
role = "agent"

[[directory]]
phone = "+49 170 1111 1111"
name = "Eva Regional"
role = "regional"

[flows.o1]
enabled = false

[flows.l1]
enabled = true
approvers = ["+49 151 0000 0001", "+49 151 0000 0002"]

[flows.l2]
enabled = true
root_folder = "ROOTFOLDER01"

[[flows.l2.projects]]
tag = "#bridge-a4"
folder_title = "Bridge A4"

[flows.l3]
enabled = true
poll_interval_secs = 1
legal = ["+44 20 7946 0000"]

[flows.l4]
enabled = true

[[flows.l4.regions]]
region = "EMEA"
contacts = ["+49 170 1111 1111"]

[[flows.l4.regions]]
region = "NA"
contacts = ["+1 650 555 0101"]

[flows.l5]
enabled = true

[flows.l6]
enabled = true
root_folder = "ROOTFOLDER01"

[[flows.l6.campaigns]]
tag = "#summer25"
name = "Summer 25"

[flows.l7]
enabled = true
required_fields = ["Rights.Usage"]
fallback_recipients = ["+49 151 0000 0009"]
"##;

struct Harness {
    graph: GraphEmulator,
    ol: OrangeLogicEmulator,
    store: SqliteStore,
    service: Option<Service>,
    simulator: WebhookSimulator,
    hook: String,
    _dir: tempfile::TempDir,
    config: Config,
    vars: BTreeMap<String, String>,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts the emulators, lets `seed` prepare the DAM (before the pollers' first round), then
    /// the service.
    async fn start_with(seed: impl FnOnce(&OrangeLogicEmulator)) -> Self {
        Self::start_config(CONFIG, seed).await
    }

    async fn start_config(text: &str, seed: impl FnOnce(&OrangeLogicEmulator)) -> Self {
        let graph = GraphEmulator::start().await.unwrap();
        let ol = OrangeLogicEmulator::start().await.unwrap();
        seed(&ol);
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("l.sqlite"), Default::default()).unwrap();
        let vars: BTreeMap<String, String> = [
            ("GRAPH_URL", graph.base_url()),
            ("WA_TOKEN", graph.access_token().to_owned()),
            ("WA_SECRET", SECRET.to_owned()),
            ("WA_VERIFY", "verify-me".to_owned()),
            ("OL_URL", ol.base_url()),
            ("OL_CLIENT", ol.client_id().to_owned()),
            ("OL_SECRET", ol.client_secret().to_owned()),
            ("OL_HOOK_TOKEN", HOOK_TOKEN.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let config = Config::from_toml_str(text).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service = Service::start(&config, &vars, store.clone(), listener)
            .await
            .unwrap();
        let addr = service.local_addr();
        let simulator = WebhookSimulator::new(
            format!("http://{addr}/webhooks/whatsapp"),
            SECRET.as_bytes().to_vec(),
        );
        Self {
            graph,
            ol,
            store,
            service: Some(service),
            simulator,
            hook: format!("http://{addr}/webhooks/orangelogic/{HOOK_TOKEN}"),
            _dir: dir,
            config,
            vars,
        }
    }

    async fn restart(&mut self) {
        self.service.take().unwrap().stop().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service = Service::start(&self.config, &self.vars, self.store.clone(), listener)
            .await
            .unwrap();
        let addr = service.local_addr();
        self.simulator = WebhookSimulator::new(
            format!("http://{addr}/webhooks/whatsapp"),
            SECRET.as_bytes().to_vec(),
        );
        self.hook = format!("http://{addr}/webhooks/orangelogic/{HOOK_TOKEN}");
        self.service = Some(service);
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

    async fn rows(&self, flow: &str) -> Vec<StoredEvent> {
        self.store
            .list(&EventFilter::default().flow(flow), 1000)
            .await
            .unwrap()
    }

    /// Fires an asset event and returns the ingress acknowledgement and the payload sent.
    async fn fire(&self, kind: &str, id: &str) -> (Value, Value) {
        let d = self
            .ol
            .fire_asset_event(&self.hook, kind, id)
            .await
            .unwrap();
        let r = d.result.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        (serde_json::from_str(&r.body).unwrap(), d.payload)
    }

    async fn redeliver(&self, payload: &Value) -> Value {
        let d = self.ol.redeliver(&self.hook, payload).await.unwrap();
        let r = d.result.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    async fn whatsapp(&self, body: &Value) -> Value {
        let r = self.simulator.deliver(body).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    fn templates(&self, name: &str) -> Vec<SentMessage> {
        self.graph
            .sent()
            .into_iter()
            .filter(|m| m.template_name() == Some(name))
            .collect()
    }

    fn seed(&self, title: &str, fields: Value) -> StoredAsset {
        seed(&self.ol, title, fields)
    }
}

fn seed(ol: &OrangeLogicEmulator, title: &str, fields: Value) -> StoredAsset {
    let Value::Object(map) = fields else {
        panic!("fields must be an object")
    };
    ol.seed_asset(title, ROOT_FOLDER, map, Some(b"JPEGDATA".to_vec()))
}

/// The image link of a template message's header.
fn header_image_link(m: &SentMessage) -> String {
    m.body["template"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "header")
        .and_then(|c| c["parameters"][0]["image"]["link"].as_str())
        .unwrap()
        .to_owned()
}

fn params(m: &SentMessage) -> Vec<String> {
    m.body["template"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "body")
        .map(|c| {
            c["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn message(spec: MessageSpec) -> Value {
    Delivery::new(WABA).message(PNID, DISPLAY, spec).build()
}

fn ts() -> i64 {
    chrono::Utc::now().timestamp() - 60
}

fn field(asset: &StoredAsset, name: &str) -> Value {
    asset.fields.get(name).cloned().unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_webhook_needs_the_path_token() {
    let h = Harness::start().await;
    let asset = h.seed(
        "Poster",
        json!({ "Workflow.State": "Draft", "Rights.Usage": "Web" }),
    );
    let wrong = h.hook.replace(HOOK_TOKEN, "guessed-token");
    let d =
        h.ol.fire_asset_event(&wrong, "edited", &asset.record_id)
            .await
            .unwrap();
    assert_eq!(d.result.unwrap().status, 401);
    let (ack, _) = h.fire("edited", &asset.record_id).await;
    assert_eq!(ack["inserted"], 3, "one row per subscribed flow: {ack}");
    h.drain().await;
    for flow in ["L1", "L4", "L7"] {
        let rows = h.rows(flow).await;
        assert_eq!(rows.len(), 1, "{flow}");
        assert_eq!(rows[0].status, EventStatus::Done);
    }
    assert!(h.graph.sent().is_empty(), "a draft triggers nothing");

    // A client cannot smuggle the token in through the header the service uses internally.
    let spoof = reqwest::Client::new()
        .post(&wrong)
        .header(
            "x-chatport-request-path",
            format!("/webhooks/orangelogic/{HOOK_TOKEN}"),
        )
        .header("content-type", "application/json")
        .body(r#"{"eventId":"spoof-1","eventType":"Asset.Edited","recordId":"X"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(spoof.status().as_u16(), 401);
    assert!(
        h.rows("L1")
            .await
            .iter()
            .all(|r| !r.event_id.as_str().starts_with("spoof"))
    );
}

#[tokio::test]
async fn l1_review_request_goes_to_the_approvers_once_per_review() {
    let h = Harness::start().await;
    let asset = h.seed(
        "Spring key visual",
        json!({
            "Workflow.State": "In Review",
            "Review.Deadline": "2026-04-30",
            "Campaign.Name": "Spring 26",
            "Rights.Usage": "Web and print, EU, until 2027",
        }),
    );
    let (_, payload) = h.fire("edited", &asset.record_id).await;
    h.drain().await;
    let sent = h.templates("dam_review_request");
    assert_eq!(sent.len(), 2);
    let mut to: Vec<_> = sent.iter().map(|m| m.to.clone().unwrap()).collect();
    to.sort();
    assert_eq!(to, vec![APPROVER_1.to_owned(), APPROVER_2.to_owned()]);
    let p = params(&sent[0]);
    assert_eq!(p[0], "Spring key visual");
    assert_eq!(
        p[1],
        format!("{}/asset-management/{}", h.ol.base_url(), asset.record_id)
    );
    assert_eq!(p[2], "2026-04-30");
    assert_eq!(p[3], "Spring 26");
    assert_eq!(p[4], "Web and print, EU, until 2027");

    // The same event again: dropped by the outbox.
    let ack = h.redeliver(&payload).await;
    assert_eq!(ack["duplicates"], 3, "{ack}");
    // Another edit during the same review: no second request.
    h.fire("edited", &asset.record_id).await;
    h.drain().await;
    assert_eq!(h.templates("dam_review_request").len(), 2);
    // A replay of every L1 row: the ledger and the marker hold.
    h.store
        .replay(&EventFilter::default().flow("L1"))
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(h.templates("dam_review_request").len(), 2);

    // Out of review and back in: a new review is announced.
    h.ol.set_field(
        &asset.record_id,
        "Workflow.State",
        json!("Changes Requested"),
    );
    h.fire("edited", &asset.record_id).await;
    h.drain().await;
    h.ol.set_field(&asset.record_id, "Workflow.State", json!("In Review"));
    h.fire("edited", &asset.record_id).await;
    h.drain().await;
    assert_eq!(h.templates("dam_review_request").len(), 4);
}

#[tokio::test]
async fn l7_policy_alert_reaches_the_owner_with_the_reason() {
    let h = Harness::start().await;
    let rejected = h.seed(
        "Summer banner",
        json!({
            "Workflow.State": "Rejected",
            "Workflow.Reason": "logo below minimum size",
            "Asset.Owner-Phone": "+49 151 0000 0005",
            "Rights.Usage": "Web",
        }),
    );
    let (_, payload) = h.fire("edited", &rejected.record_id).await;
    h.drain().await;
    let sent = h.templates("dam_policy_alert");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to.as_deref(), Some(OWNER));
    let p = params(&sent[0]);
    assert_eq!(p[0], "Summer banner");
    assert_eq!(p[1], "rejected: logo below minimum size");
    assert!(p[2].ends_with(&rejected.record_id));

    // Redelivered, or edited again with the same problem: no second alert.
    h.redeliver(&payload).await;
    h.fire("edited", &rejected.record_id).await;
    h.drain().await;
    assert_eq!(h.templates("dam_policy_alert").len(), 1);

    // Missing metadata on an asset without owner: the fallback recipient, the field named.
    let incomplete = h.seed("Untitled upload", json!({ "Workflow.State": "Draft" }));
    h.fire("edited", &incomplete.record_id).await;
    h.drain().await;
    let sent = h.templates("dam_policy_alert");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].to.as_deref(), Some(FALLBACK));
    assert_eq!(params(&sent[1])[1], "missing metadata: Rights.Usage");

    // A `created` event is not checked (metadata arrives in a second call).
    let fresh = h.seed("Fresh", json!({}));
    h.fire("created", &fresh.record_id).await;
    h.drain().await;
    assert_eq!(h.templates("dam_policy_alert").len(), 2);
}

#[tokio::test]
async fn l4_rollout_notifies_regions_and_writes_answers_back() {
    let h = Harness::start().await;
    let package = h.seed(
        "Spring campaign package",
        json!({
            "Workflow.State": "Approved",
            "Campaign.Name": "Spring 26",
            "Campaign.Regions": ["EMEA"],
            "Rights.Usage": "EU",
        }),
    );
    let (_, payload) = h.fire("edited", &package.record_id).await;
    h.drain().await;
    let sent = h.templates("dam_campaign_rollout");
    assert_eq!(sent.len(), 1, "EMEA only");
    assert_eq!(sent[0].to.as_deref(), Some(EMEA_CONTACT));
    let p = params(&sent[0]);
    assert_eq!(p[0], "Spring 26");
    assert!(
        p[2].starts_with(&format!("{}/presigned/", h.ol.base_url())),
        "a presigned link: {}",
        p[2]
    );
    let buttons: Vec<_> = sent[0].body["template"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "button")
        .map(|c| c["parameters"][0]["payload"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(buttons, ["received", "need_format", "issue"]);
    h.redeliver(&payload).await;
    h.fire("edited", &package.record_id).await;
    h.drain().await;
    assert_eq!(
        h.templates("dam_campaign_rollout").len(),
        1,
        "rolled out once"
    );

    // The contact taps "need another format" on the template.
    let tap = message(
        MessageSpec::unknown(
            "4917011111111",
            "wamid.tap-1",
            ts(),
            "button",
            json!({ "payload": "need_format", "text": "Need another format" }),
        )
        .context(&sent[0].wamid),
    );
    h.whatsapp(&tap).await;
    h.drain().await;
    let feedback = field(
        &h.ol.asset(&package.record_id).unwrap(),
        "Campaign.Feedback",
    );
    let text = feedback.as_str().unwrap().to_owned();
    assert!(
        text.contains("Eva Regional (EMEA): needs another format"),
        "{text}"
    );
    let acks: Vec<_> = h
        .graph
        .sent()
        .into_iter()
        .filter(|m| m.body["context"]["message_id"] == "wamid.tap-1")
        .collect();
    assert_eq!(acks.len(), 1);

    // Redelivered tap and a replay of the answer row: nothing written or sent twice.
    let ack = h.whatsapp(&tap).await;
    assert_eq!(ack["duplicates"], 1);
    h.store
        .replay(&EventFilter::default().flow("L4.answer"))
        .await
        .unwrap();
    h.drain().await;
    let again = field(
        &h.ol.asset(&package.record_id).unwrap(),
        "Campaign.Feedback",
    );
    assert_eq!(again.as_str().unwrap(), text);
    assert_eq!(
        h.graph
            .sent()
            .iter()
            .filter(|m| m.body["context"]["message_id"] == "wamid.tap-1")
            .count(),
        1
    );
    assert_eq!(h.rows("L4.answer").await[0].status, EventStatus::Done);
    assert!(
        h.graph
            .sent()
            .iter()
            .all(|m| m.to.as_deref() != Some(NA_CONTACT)),
        "NA is not among the package's regions"
    );
}

#[tokio::test]
async fn l5_shares_only_approved_unexpired_assets_and_records_it() {
    let h = Harness::start().await;
    let future = (chrono::Utc::now().date_naive() + chrono::Days::new(60)).to_string();
    let past = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string();
    let ok = h.seed(
        "Product shot",
        json!({ "Workflow.State": "Approved", "Rights.Expiry-Date": future, "MediaType": "Image" }),
    );
    let expired = h.seed(
        "Old shot",
        json!({ "Workflow.State": "Approved", "Rights.Expiry-Date": past }),
    );
    let draft = h.seed("Draft shot", json!({ "Workflow.State": "In Review" }));

    let command = |wamid: &str, text: String| {
        message(MessageSpec::text(AGENT, wamid, ts(), text).profile_name("Alex"))
    };
    let share = command(
        "wamid.share-1",
        format!("share {} with +1 650 555 0000", ok.identifier),
    );
    h.whatsapp(&share).await;
    h.whatsapp(&command(
        "wamid.share-2",
        format!("share {} with +1 650 555 0000", expired.identifier),
    ))
    .await;
    h.whatsapp(&command(
        "wamid.share-3",
        format!("share {} with +1 650 555 0000", draft.identifier),
    ))
    .await;
    h.whatsapp(&command(
        "wamid.share-4",
        "share NOPE123 with +1 650 555 0000".into(),
    ))
    .await;
    h.drain().await;

    let to_customer: Vec<_> = h
        .graph
        .sent()
        .into_iter()
        .filter(|m| m.to.as_deref() == Some(&format!("+{CUSTOMER}")))
        .collect();
    assert_eq!(to_customer.len(), 1, "only the approved, unexpired asset");
    let link = header_image_link(&to_customer[0]);
    let link = link.as_str();
    assert!(link.starts_with(&format!("{}/presigned/", h.ol.base_url())));
    assert_eq!(params(&to_customer[0]), ["Alex Agent", "Product shot"]);

    let log = field(&h.ol.asset(&ok.record_id).unwrap(), "Sharing.Log");
    let log = log.as_str().unwrap();
    assert!(log.contains("Alex Agent shared"), "{log}");
    assert!(log.contains(&format!("+{CUSTOMER}")), "{log}");
    assert!(log.contains(&to_customer[0].wamid), "{log}");

    let replies: BTreeMap<String, String> = h
        .graph
        .sent()
        .into_iter()
        .filter(|m| m.to.as_deref() == Some(AGENT))
        .map(|m| {
            (
                m.body["context"]["message_id"].as_str().unwrap().to_owned(),
                m.text_body().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(replies["wamid.share-1"].starts_with("Sent Product shot"));
    assert!(replies["wamid.share-2"].contains("expired"), "{replies:?}");
    assert!(
        replies["wamid.share-3"].contains("not approved"),
        "{replies:?}"
    );
    assert!(
        replies["wamid.share-4"].contains("not found"),
        "{replies:?}"
    );

    // Redelivery and replay: no second share, log entry or reply.
    h.whatsapp(&share).await;
    h.store
        .replay(&EventFilter::default().flow("L5"))
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(
        h.graph
            .sent()
            .iter()
            .filter(|m| m.to.as_deref() == Some(&format!("+{CUSTOMER}")))
            .count(),
        1
    );
    let log_again = field(&h.ol.asset(&ok.record_id).unwrap(), "Sharing.Log");
    assert_eq!(log_again.as_str().unwrap(), log);
    assert_eq!(h.graph.sent().len(), 5);
}

#[tokio::test]
async fn l2_field_media_lands_in_the_project_folder_with_metadata_and_review_state() {
    let h = Harness::start().await;
    let bytes = b"\xff\xd8\xff\xe0 field photo of pier 3".to_vec();
    let media_id = h.graph.add_media("image/jpeg", bytes.clone());
    let digest = h.graph.media(&media_id).unwrap().sha256_hex();

    let location = message(MessageSpec::unknown(
        FIELD_TECH,
        "wamid.loc-1",
        ts(),
        "location",
        json!({ "latitude": 52.520008, "longitude": 13.404954, "name": "Pier 3" }),
    ));
    h.whatsapp(&location).await;
    h.drain().await;
    let photo = message(
        MessageSpec::image(FIELD_TECH, "wamid.photo-1", ts(), &media_id, "image/jpeg")
            .sha256(&digest)
            .caption("Crack at the bearing #bridge-a4"),
    );
    h.whatsapp(&photo).await;
    h.drain().await;

    let rows = h.rows("L2").await;
    assert_eq!(rows.len(), 2, "the location and the photo");
    assert!(rows.iter().all(|r| r.status == EventStatus::Done));
    let uploaded: Vec<_> =
        h.ol.assets()
            .into_iter()
            .filter(|a| a.bytes.as_deref() == Some(&bytes[..]))
            .collect();
    assert_eq!(uploaded.len(), 1);
    let a = &uploaded[0];
    let folder =
        h.ol.asset(field(a, "CoreField.Parent-folder").as_str().unwrap())
            .unwrap();
    assert_eq!(field(&folder, "CoreField.Title"), "Bridge A4");
    assert_eq!(field(&folder, "CoreField.Parent-folder"), ROOT_FOLDER);
    assert_eq!(field(a, "Field.Sender"), "Tom Field");
    assert_eq!(field(a, "Field.Sender-Phone"), format!("+{FIELD_TECH}"));
    assert_eq!(field(a, "Field.Project"), "bridge-a4");
    assert_eq!(field(a, "Field.Location"), "52.520008,13.404954 (Pier 3)");
    assert_eq!(field(a, "Workflow.State"), "In Review");
    assert_eq!(field(a, "Field.Source-Message"), "wamid.photo-1");
    let keywords = field(a, "CoreField.Keywords");
    assert!(keywords.as_array().unwrap().contains(&json!("bridge-a4")));
    assert!(keywords.as_array().unwrap().contains(&json!("whatsapp")));
    let reply: Vec<_> = h
        .graph
        .sent()
        .into_iter()
        .filter(|m| m.body["context"]["message_id"] == "wamid.photo-1")
        .collect();
    assert_eq!(reply.len(), 1);
    assert!(reply[0].text_body().unwrap().contains(&a.identifier));

    // Redelivery and replay: no second upload, no second reply.
    h.whatsapp(&photo).await;
    h.store
        .replay(&EventFilter::default().flow("L2"))
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(
        h.ol.assets()
            .iter()
            .filter(|x| x.bytes.as_deref() == Some(&bytes[..]))
            .count(),
        1
    );
    assert_eq!(h.graph.sent().len(), 1);
    let receipt = h
        .rows("L2")
        .await
        .into_iter()
        .find(|r| r.event_id.as_str() == "wamid.photo-1")
        .unwrap();
    assert_eq!(receipt.receipt.unwrap()["reused_upload"], true);
}

#[tokio::test]
async fn l2_media_whose_hash_does_not_match_is_not_stored() {
    let h = Harness::start().await;
    let media_id = h.graph.add_media("image/jpeg", b"tampered bytes".to_vec());
    let before = h.ol.assets().len();
    let photo = message(
        MessageSpec::image(FIELD_TECH, "wamid.photo-bad", ts(), &media_id, "image/jpeg")
            .sha256("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=")
            .caption("#bridge-a4"),
    );
    h.whatsapp(&photo).await;
    h.drain().await;
    let rows = h.rows("L2").await;
    assert_eq!(
        rows[0].status,
        EventStatus::Dead,
        "{:?}",
        rows[0].last_error
    );
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains("sha")
    );
    // Only the project folder may have been created; no asset.
    assert!(h.ol.assets().iter().filter(|a| !a.folder).count() <= before);
    assert!(
        h.ol.assets()
            .iter()
            .all(|a| a.bytes.as_deref() != Some(&b"tampered bytes"[..]))
    );
    assert!(h.graph.sent().is_empty());
}

#[tokio::test]
async fn l6_consent_is_recorded_before_anything_is_stored() {
    let h = Harness::start().await;
    let bytes = b"\x89PNG beach photo".to_vec();
    let media_id = h.graph.add_media("image/png", bytes.clone());
    let digest = h.graph.media(&media_id).unwrap().sha256_hex();
    let assets_before = h.ol.assets().len();

    let submission = message(
        MessageSpec::image(FAN, "wamid.ugc-1", ts(), &media_id, "image/png")
            .sha256(&digest)
            .caption("Beach day! #summer25")
            .profile_name("Sam"),
    );
    h.whatsapp(&submission).await;
    h.drain().await;
    assert_eq!(
        h.ol.assets().len(),
        assets_before,
        "nothing stored before consent"
    );
    let sent = h.graph.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_type, "interactive");
    let ids: Vec<_> = sent[0].body["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reply"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["l6:yes", "l6:no"]);

    let yes = message(
        MessageSpec::button_reply(FAN, "wamid.ugc-yes", ts(), "l6:yes", "Yes, I agree")
            .context(&sent[0].wamid),
    );
    h.whatsapp(&yes).await;
    h.drain().await;
    let stored: Vec<_> =
        h.ol.assets()
            .into_iter()
            .filter(|a| a.bytes.as_deref() == Some(&bytes[..]))
            .collect();
    assert_eq!(stored.len(), 1);
    let a = &stored[0];
    assert_eq!(field(a, "UGC.Campaign"), "Summer 25");
    assert_eq!(field(a, "UGC.Source"), "whatsapp-ugc");
    assert_eq!(field(a, "UGC.Consent"), "yes");
    assert_eq!(field(a, "UGC.Consent-Message"), "wamid.ugc-yes");
    assert_eq!(field(a, "UGC.Submitter"), "Sam");
    assert_eq!(field(a, "Workflow.State"), "Pending Moderation");
    let keywords = field(a, "CoreField.Keywords");
    assert!(keywords.as_array().unwrap().contains(&json!("Summer 25")));
    assert!(
        keywords
            .as_array()
            .unwrap()
            .contains(&json!("whatsapp-ugc"))
    );
    let folder =
        h.ol.asset(field(a, "CoreField.Parent-folder").as_str().unwrap())
            .unwrap();
    assert_eq!(field(&folder, "CoreField.Title"), "Summer 25");

    // Redelivered "yes" and a replay: still one asset, one thank-you.
    h.whatsapp(&yes).await;
    h.store
        .replay(&EventFilter::default().flow("L6"))
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(
        h.ol.assets()
            .iter()
            .filter(|x| x.bytes.as_deref() == Some(&bytes[..]))
            .count(),
        1
    );
    assert_eq!(
        h.graph
            .sent()
            .iter()
            .filter(|m| m.body["context"]["message_id"] == "wamid.ugc-yes")
            .count(),
        1
    );

    // A second fan says no: nothing stored, told so.
    let media_2 = h.graph.add_media("image/jpeg", b"another".to_vec());
    let digest_2 = h.graph.media(&media_2).unwrap().sha256_hex();
    h.whatsapp(&message(
        MessageSpec::image(FAN_2, "wamid.ugc-2", ts(), &media_2, "image/jpeg")
            .sha256(&digest_2)
            .caption("#SUMMER25"),
    ))
    .await;
    h.drain().await;
    let question = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == "wamid.ugc-2")
        .unwrap();
    let before = h.ol.assets().len();
    h.whatsapp(&message(
        MessageSpec::button_reply(FAN_2, "wamid.ugc-no", ts(), "l6:no", "No")
            .context(&question.wamid),
    ))
    .await;
    h.drain().await;
    assert_eq!(h.ol.assets().len(), before);
    assert!(
        h.ol.assets()
            .iter()
            .all(|a| a.bytes.as_deref() != Some(&b"another"[..]))
    );
    let declined = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == "wamid.ugc-no")
        .unwrap();
    assert!(declined.text_body().unwrap().contains("not stored"));
    let l6 = h.rows("L6").await;
    assert!(l6.iter().all(|r| r.status == EventStatus::Done), "{l6:?}");
}

async fn wait_rows(h: &Harness, n: usize) {
    let start = Instant::now();
    while h.rows("L3").await.len() < n {
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.drain().await;
}

#[tokio::test]
async fn l3_alerts_once_per_asset_and_threshold_across_restarts() {
    let today = chrono::Utc::now().date_naive();
    let in_days = |d: u64| (today + chrono::Days::new(d)).to_string();
    let (soon_id, later_id) = (
        std::sync::Mutex::new(String::new()),
        std::sync::Mutex::new(String::new()),
    );
    let mut h = Harness::start_with(|ol| {
        let soon = seed(
            ol,
            "Licensed photo",
            json!({ "Rights.Expiry-Date": in_days(5), "Asset.Owner-Phone": "+49 151 0000 0005" }),
        );
        let later = seed(
            ol,
            "Stock video",
            json!({ "Rights.Expiry-Date": in_days(20) }),
        );
        seed(ol, "Far away", json!({ "Rights.Expiry-Date": in_days(45) }));
        seed(
            ol,
            "Expired",
            json!({ "Rights.Expiry-Date": (today - chrono::Days::new(2)).to_string() }),
        );
        *soon_id.lock().unwrap() = soon.record_id;
        *later_id.lock().unwrap() = later.record_id;
    })
    .await;
    let soon = soon_id.into_inner().unwrap();
    let later = later_id.into_inner().unwrap();
    wait_rows(&h, 2).await;
    let mut ids: Vec<_> = h
        .rows("L3")
        .await
        .iter()
        .map(|r| r.event_id.as_str().to_owned())
        .collect();
    ids.sort();
    let mut expected = vec![
        format!("{soon}:{}:7d", in_days(5)),
        format!("{later}:{}:30d", in_days(20)),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    let sent = h.templates("dam_rights_expiry");
    // The 5-day asset: its owner and legal; the 20-day asset: legal only.
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent.iter()
            .filter(|m| m.to.as_deref() == Some(OWNER))
            .count(),
        1
    );
    assert_eq!(
        sent.iter()
            .filter(|m| m.to.as_deref() == Some(LEGAL))
            .count(),
        2
    );
    let owner_msg = sent
        .iter()
        .find(|m| m.to.as_deref() == Some(OWNER))
        .unwrap();
    assert_eq!(params(owner_msg)[1], in_days(5));
    assert_eq!(params(owner_msg)[2], "5");

    // More rounds and a restart: the same alerts are not queued again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    h.restart().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    h.drain().await;
    assert_eq!(h.rows("L3").await.len(), 2);
    assert_eq!(h.templates("dam_rights_expiry").len(), 3);

    // The 20-day licence now ends in 2 days: the 7-day threshold is a new alert.
    h.ol.set_field(&later, "Rights.Expiry-Date", json!(in_days(2)));
    wait_rows(&h, 3).await;
    assert_eq!(h.templates("dam_rights_expiry").len(), 4);
    assert!(
        h.rows("L3")
            .await
            .iter()
            .all(|r| r.status == EventStatus::Done)
    );
}

#[tokio::test]
async fn l1_by_poller_announces_a_review_once_and_the_webhook_adds_nothing() {
    let text = CONFIG.replace(
        "[flows.l1]\nenabled = true\n",
        "[flows.l1]\nenabled = true\npoll_interval_secs = 1\n",
    );
    assert_ne!(text, CONFIG);
    let record = std::sync::Mutex::new(String::new());
    let h = Harness::start_config(&text, |ol| {
        let a = seed(
            ol,
            "Polled visual",
            json!({ "Workflow.State": "In Review", "Rights.Usage": "Web" }),
        );
        *record.lock().unwrap() = a.record_id;
    })
    .await;
    let record = record.into_inner().unwrap();
    let start = Instant::now();
    while h.templates("dam_review_request").len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // More rounds, then the webhook reports an edit of the same review: nothing new.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    h.fire("edited", &record).await;
    h.drain().await;
    assert_eq!(h.templates("dam_review_request").len(), 2);
    let rows = h.rows("L1").await;
    assert!(
        rows.iter()
            .any(|r| r.event_id.as_str().starts_with(&format!("poll:{record}:")))
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.event_id.as_str().starts_with("poll:"))
            .count(),
        1,
        "one poll row per asset and day"
    );
}

#[tokio::test]
async fn a_throttled_notification_is_retried_and_sent_once() {
    let h = Harness::start().await;
    let asset = h.seed(
        "Rejected flyer",
        json!({ "Workflow.State": "Blocked", "Asset.Owner-Phone": "+49 151 0000 0005", "Rights.Usage": "Web" }),
    );
    h.graph.fail_next(
        1,
        chatport_testkit::failure::Failure::graph_error(400, 130429, "Rate limit hit"),
    );
    h.fire("edited", &asset.record_id).await;
    h.drain().await;
    let rows = h.rows("L7").await;
    assert_eq!(rows[0].status, EventStatus::Done);
    assert_eq!(rows[0].attempts, 2);
    let sent = h.templates("dam_policy_alert");
    assert_eq!(sent.len(), 1);
    assert_eq!(params(&sent[0])[1], "blocked");
}

#[tokio::test]
async fn a_configuration_without_the_orangelogic_section_is_refused() {
    let text = CONFIG.replace("[orangelogic]", "[orangelogic_x]");
    assert!(Config::from_toml_str(&text).is_err());
    let no_token = CONFIG.replace("token = \"${OL_HOOK_TOKEN}\"", "");
    let err = Config::from_toml_str(&no_token).unwrap_err().to_string();
    assert!(err.contains("webhook.token"), "{err}");
}

#[tokio::test]
async fn l5_with_embed_links_sends_one_public_embed_link_per_share_even_when_retried() {
    // No presigned path at all: `link = "embed"` does not need it.
    let text = CONFIG
        .replace(
            "presigned_links_path = \"/webapi/objectmanagement/share/getpresignedlinks_emu_v1\"\n",
            "",
        )
        .replace(
            "[flows.l5]\nenabled = true",
            "[flows.l5]\nenabled = true\nlink = \"embed\"",
        );
    assert!(!text.contains("presigned_links_path"));
    let h = Harness::start_config(&text, |_| {}).await;
    let future = (chrono::Utc::now().date_naive() + chrono::Days::new(60)).to_string();
    let ok = h.seed(
        "Product shot",
        json!({ "Workflow.State": "Approved", "Rights.Expiry-Date": future, "MediaType": "Image" }),
    );
    // The first customer send fails after the link exists: the retry must reuse the link.
    h.graph.fail_next(
        1,
        chatport_testkit::failure::Failure::graph_error(400, 130429, "Rate limit hit"),
    );
    let share = message(
        MessageSpec::text(
            AGENT,
            "wamid.embed-1",
            ts(),
            format!("share {} with +1 650 555 0000", ok.identifier),
        )
        .profile_name("Alex"),
    );
    h.whatsapp(&share).await;
    h.drain().await;

    let routes = h.ol.embed_routes();
    assert_eq!(routes.len(), 1, "{routes:?}");
    let route = &routes[0];
    assert!(
        route.starts_with(&format!("/public/{}-TRX-", ok.identifier)),
        "{route}"
    );
    let rows = h.rows("L5").await;
    assert_eq!(rows[0].status, EventStatus::Done);
    assert_eq!(rows[0].attempts, 2, "the send was retried");
    let to_customer = h.graph.sent_to(&format!("+{CUSTOMER}"));
    assert_eq!(to_customer.len(), 1);
    let link = header_image_link(&to_customer[0]);
    let link = link.as_str();
    assert_eq!(link, format!("{}{route}", h.ol.base_url()));
    // The public link serves the asset's bytes.
    let bytes = reqwest::get(link).await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], b"JPEGDATA");

    // A replay neither creates a second link nor sends again.
    h.store
        .replay(&EventFilter::default().flow("L5"))
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(h.ol.embed_routes().len(), 1);
    assert_eq!(h.graph.sent_to(&format!("+{CUSTOMER}")).len(), 1);
}

#[tokio::test]
async fn l5_with_presigned_links_still_needs_the_presigned_path() {
    let text = CONFIG.replace(
        "presigned_links_path = \"/webapi/objectmanagement/share/getpresignedlinks_emu_v1\"\n",
        "",
    );
    let config = Config::from_toml_str(&text).unwrap();
    let vars = BTreeMap::from([
        ("GRAPH_URL".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("WA_TOKEN".to_owned(), "t".to_owned()),
        ("WA_SECRET".to_owned(), "s".to_owned()),
        ("WA_VERIFY".to_owned(), "v".to_owned()),
        ("OL_URL".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("OL_CLIENT".to_owned(), "c".to_owned()),
        ("OL_SECRET".to_owned(), "s".to_owned()),
        ("OL_HOOK_TOKEN".to_owned(), HOOK_TOKEN.to_owned()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("l.sqlite"), Default::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let Err(err) = Service::start(&config, &vars, store, listener).await else {
        panic!("L5 without a presigned path started");
    };
    assert!(err.to_string().contains("presigned_links_path"), "{err}");
}

#[tokio::test]
async fn with_pacing_a_burst_to_one_customer_is_retried_not_lost() {
    // One message per second to a user, no burst: the service's sink holds the second share
    // back (a retry after the pair interval) instead of sending it into Meta's 131056.
    let text = CONFIG.replace(
        "timeout_secs = 2\n",
        "timeout_secs = 2\npacing = \"standard\"\npair_burst = 1\npair_interval_secs = 1\n",
    );
    let h = Harness::start_config(&text, |_| {}).await;
    let future = (chrono::Utc::now().date_naive() + chrono::Days::new(60)).to_string();
    let ok = h.seed(
        "Product shot",
        json!({ "Workflow.State": "Approved", "Rights.Expiry-Date": future, "MediaType": "Image" }),
    );
    for n in 1..=2 {
        h.whatsapp(&message(
            MessageSpec::text(
                AGENT,
                format!("wamid.burst-{n}"),
                ts(),
                format!("share {} with +1 650 555 0000", ok.identifier),
            )
            .profile_name("Alex"),
        ))
        .await;
    }
    h.drain().await;
    let rows = h.rows("L5").await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r.status == EventStatus::Done),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.attempts >= 2),
        "the second share was paced and retried: {rows:?}"
    );
    assert_eq!(h.graph.sent_to(&format!("+{CUSTOMER}")).len(), 2);
    assert_eq!(h.graph.sent_to(AGENT).len(), 2);
}
