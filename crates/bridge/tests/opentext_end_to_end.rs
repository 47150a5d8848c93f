//! The OpenText flows O2–O8 end to end: signed webhooks and CMS pollers → SQLite outbox → workers
//! → CMS + CSS emulator and Graph emulator.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_opentext::{Category, InstancePatch, UploadOptions};
use chatport_runtime::{EventFilter, EventStatus, KvStore, Outbox, SqliteStore};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::{Map, Value, json};

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";
const DISPLAY: &str = "15550783881";
const SECRET: &str = "test-app-secret";
const IDA: &str = "4915111112222"; // manager: approvals, exceptions, document requests
const TOM: &str = "4917000000042"; // technician
const VERA: &str = "4930123456789"; // vendor
const CUSTOMER: &str = "16505551234"; // not in the directory

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

[[directory]]
phone = "+49 151 1111 2222"
name = "Ida Approver"
customer_id = "u-ida"
role = "manager"

[[directory]]
phone = "+49 170 000 000 42"
name = "Tom Tech"
role = "technician"

[[directory]]
phone = "+49 30 123456789"
name = "Vera Vendor"
customer_id = "V-100"
role = "vendor"

[flows.o2]
enabled = true

[flows.o3]
enabled = true
phone_number_id = "106540352242922"
poll_interval_secs = 1

[flows.o4]
enabled = true

[flows.o5]
enabled = true

[flows.o7]
enabled = true
phone_number_id = "106540352242922"
poll_interval_secs = 1
[[flows.o7.watch]]
category = "file"
type_name = "ca_invoice"

[flows.o8]
enabled = true
phone_number_id = "106540352242922"
poll_interval_secs = 1
"#;

struct Harness {
    graph: GraphEmulator,
    cms: CmsEmulator,
    client: chatport_opentext::Client,
    store: SqliteStore,
    service: Option<Service>,
    simulator: WebhookSimulator,
    _dir: tempfile::TempDir,
    config: Config,
    vars: BTreeMap<String, String>,
}

impl Harness {
    async fn start() -> Self {
        let graph = GraphEmulator::start().await.unwrap();
        let cms = CmsEmulator::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("o.sqlite"), Default::default()).unwrap();
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
        let client = chatport_opentext::Client::builder()
            .tenant_id(cms.tenant_id())
            .auth_base(&cms.base_url())
            .cms_base(&format!("{}/cms", cms.base_url()))
            .css_base(&cms.base_url())
            .client_credentials(cms.client_id(), cms.client_secret().to_owned())
            .build()
            .unwrap();
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
            client,
            store,
            service: Some(service),
            simulator,
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
        self.simulator = WebhookSimulator::new(
            format!("http://{}/webhooks/whatsapp", service.local_addr()),
            SECRET.as_bytes().to_vec(),
        );
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

    /// Waits until `f` holds (pollers run every second).
    async fn until(&self, what: &str, f: impl Fn(&Self) -> bool) {
        let start = Instant::now();
        while !f(self) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.drain().await;
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

    async fn upload(&self, name: &str, bytes: &[u8]) -> String {
        let content = self
            .client
            .upload_content(
                std::io::Cursor::new(bytes.to_vec()),
                &UploadOptions::new(name)
                    .mime_type("application/pdf")
                    .length(bytes.len() as u64),
            )
            .await
            .unwrap();
        content.blob_id().to_owned()
    }

    fn sent_to(&self, to: &str) -> Vec<chatport_testkit::graph::SentMessage> {
        self.graph
            .sent()
            .into_iter()
            .filter(|m| m.to.as_deref() == Some(to))
            .collect()
    }
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect()
}

#[tokio::test]
async fn o3_notifies_the_responsible_user_once_per_item_and_status() {
    let h = Harness::start().await;
    let doc = h.cms.seed_instance(
        "file",
        "ca_document",
        "Contract ACME 2025",
        props(&[
            ("status", "pending_review"),
            ("responsible_user", "u-ida"),
            ("document_type", "contract"),
            ("due_date", "2025-07-31"),
            ("requester", "Sam Sales"),
            ("priority", "high"),
        ]),
    );
    h.cms.seed_instance(
        "file",
        "ca_document",
        "Draft",
        props(&[("status", "draft"), ("responsible_user", "u-ida")]),
    );
    h.until("the O3 template", |h| !h.sent_to(IDA).is_empty())
        .await;
    // Several more polling rounds read the same item again: no second notification.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    h.drain().await;
    let sent = h.sent_to(IDA);
    assert_eq!(sent.len(), 1, "once per item and status");
    assert_eq!(sent[0].template_name(), Some("document_status_changed"));
    let params: Vec<&str> = sent[0]
        .body
        .pointer("/template/components/0/parameters")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        [
            "Contract ACME 2025",
            "pending_review",
            "contract",
            "2025-07-31",
            "Sam Sales",
            "high"
        ]
    );
    let rows = h.rows("O3").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].event_id.as_str(),
        format!("{}:pending_review", doc["id"].as_str().unwrap())
    );

    // A new status of the same item notifies again.
    let id = doc["id"].as_str().unwrap();
    h.client
        .patch_instance(
            Category::File,
            "ca_document",
            id,
            &InstancePatch::new().property("status", "rejected"),
        )
        .await
        .unwrap();
    h.until("the second O3 template", |h| h.sent_to(IDA).len() == 2)
        .await;
    assert_eq!(h.rows("O3").await.len(), 2);
    assert!(
        h.rows("O3")
            .await
            .iter()
            .all(|r| r.status == EventStatus::Done)
    );
}

#[tokio::test]
async fn o7_exception_reply_is_written_back_and_acknowledged_once() {
    let h = Harness::start().await;
    let invoice = h.cms.seed_instance(
        "file",
        "ca_invoice",
        "Scan 2025-06-30",
        props(&[
            ("exception", "missing_metadata"),
            ("exception_detail", "The invoice number is missing"),
            ("exception_field", "invoice_number"),
            ("responsible_user", "Ida Approver"),
        ]),
    );
    let id = invoice["id"].as_str().unwrap().to_owned();
    h.until("the O7 template", |h| !h.sent_to(IDA).is_empty())
        .await;
    let notification = h.sent_to(IDA).remove(0);
    assert_eq!(notification.template_name(), Some("record_exception"));

    // Someone else answering the notification writes nothing.
    h.send(
        MessageSpec::text(CUSTOMER, "wamid.O7-stranger", 1_751_247_600, "123")
            .context(&notification.wamid),
    )
    .await;
    assert!(
        h.cms.instance(&id).unwrap()["properties"]
            .get("invoice_number")
            .is_none()
    );

    let reply = h
        .send(
            MessageSpec::text(IDA, "wamid.O7-reply", 1_751_247_601, "INV-4711")
                .context(&notification.wamid),
        )
        .await;
    let record = h.cms.instance(&id).unwrap();
    assert_eq!(record["properties"]["invoice_number"], "INV-4711");
    assert_eq!(record["properties"]["exception"], "answered");
    assert_eq!(record["properties"]["exception_responder"], "Ida Approver");
    let acks: Vec<_> = h
        .sent_to(IDA)
        .into_iter()
        .filter(|m| m.body["context"]["message_id"] == "wamid.O7-reply")
        .collect();
    assert_eq!(acks.len(), 1);
    assert!(acks[0].text_body().unwrap().contains("Scan 2025-06-30"));

    // A redelivered reply produces nothing new; the answered record is not polled again.
    let again = h.simulator.deliver(&reply).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&again.body).unwrap()["duplicates"],
        1
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    h.drain().await;
    assert_eq!(
        h.sent_to(IDA).len(),
        2,
        "one template and one acknowledgement"
    );
    assert_eq!(
        h.rows("O7")
            .await
            .iter()
            .filter(|r| r.kind == "instance.status")
            .count(),
        1
    );
}

#[tokio::test]
async fn o4_link_refusal_list_and_audit() {
    let h = Harness::start().await;
    let blob = h
        .upload("invoice-12345.pdf", b"%PDF-1.7 invoice 12345")
        .await;
    let mut body = Map::new();
    body.insert("name".into(), json!("Invoice 12345"));
    body.insert("properties".into(), json!({ "invoice_number": "12345" }));
    body.insert(
        "renditions".into(),
        json!([{ "name": "invoice-12345.pdf", "blob_id": blob, "rendition_type": "primary" }]),
    );
    let invoice = h.cms.seed_instance_body("file", "ca_invoice", body);
    h.cms.seed_instance(
        "file",
        "ca_document",
        "ACME master agreement",
        props(&[("customer_name", "ACME Corp")]),
    );
    h.cms.seed_instance(
        "file",
        "ca_document",
        "ACME price list",
        props(&[("customer_name", "Acme Industries")]),
    );

    // An authorised number gets an expiring link.
    h.send(MessageSpec::text(
        IDA,
        "wamid.O4-1",
        1_751_247_700,
        "invoice 12345",
    ))
    .await;
    let reply = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == "wamid.O4-1")
        .unwrap();
    let links = h.cms.share_links();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["object_id"], invoice["id"]);
    assert!(
        reply
            .text_body()
            .unwrap()
            .contains(links[0]["publicUrl"].as_str().unwrap()),
        "{:?}",
        reply.text_body()
    );

    // An unknown number is refused politely; nothing is searched or linked.
    h.send(MessageSpec::text(
        CUSTOMER,
        "wamid.O4-2",
        1_751_247_701,
        "invoice 12345",
    ))
    .await;
    let refusal = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == "wamid.O4-2")
        .unwrap();
    assert!(refusal.text_body().unwrap().contains("not authorised"));
    assert_eq!(h.cms.share_links().len(), 1);

    // Several matches: an interactive list; the choice answers with a reference (no content).
    h.send(MessageSpec::text(
        IDA,
        "wamid.O4-3",
        1_751_247_702,
        "customer acme",
    ))
    .await;
    let list = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == "wamid.O4-3")
        .unwrap();
    assert_eq!(list.body["interactive"]["type"], "list");
    let rows = list.body["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 2);
    let chosen = rows[1]["id"].as_str().unwrap();
    h.send(
        MessageSpec::list_reply(
            IDA,
            "wamid.O4-4",
            1_751_247_703,
            chosen,
            rows[1]["title"].as_str().unwrap(),
        )
        .context(&list.wamid),
    )
    .await;
    let answer = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == "wamid.O4-4")
        .unwrap();
    assert!(
        answer.text_body().unwrap().contains(chosen),
        "{:?}",
        answer.text_body()
    );

    // A complaint that mentions an invoice number is not a request: O1 takes it.
    h.send(MessageSpec::text(
        CUSTOMER,
        "wamid.O4-5",
        1_751_247_704,
        "my invoice 12345 is wrong, I was charged twice",
    ))
    .await;
    assert_eq!(h.rows("O1").await.len(), 1);

    // Every request is audited.
    let audit = KvStore::list(&h.store, chatport_bridge::flows::opentext::o4::KV_AUDIT, "")
        .await
        .unwrap();
    let outcomes: Vec<String> = audit
        .iter()
        .map(|(_, v)| {
            serde_json::from_slice::<Value>(v).unwrap()["outcome"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    for o in ["link", "refused", "list", "reference"] {
        assert!(
            outcomes.iter().any(|x| x == o),
            "{o} missing in {outcomes:?}"
        );
    }
}

#[tokio::test]
async fn o2_asks_for_missing_metadata_across_a_restart_and_files_once() {
    let mut h = Harness::start().await;
    let bytes = b"%PDF-1.7 scanned document".repeat(1000);
    let media = h.graph.add_media("application/pdf", bytes.clone());
    let sha = h.graph.media(&media).unwrap().sha256_hex();
    let first = h
        .send(
            MessageSpec::document(
                CUSTOMER,
                "wamid.O2-1",
                1_751_247_800,
                &media,
                "application/pdf",
                "scan.pdf",
            )
            .sha256(&sha),
        )
        .await;
    // No caption: the type is asked with an interactive list.
    let ask = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == "wamid.O2-1")
        .unwrap();
    assert_eq!(ask.body["interactive"]["type"], "list");
    assert!(h.cms.instances_of_type("ca_captured_document").is_empty());
    assert_eq!(
        h.cms.contents_uploaded().len(),
        1,
        "the file is already stored in the CSS"
    );

    // The conversation state survives a restart.
    h.restart().await;
    h.send(
        MessageSpec::list_reply(CUSTOMER, "wamid.O2-2", 1_751_247_801, "invoice", "Invoice")
            .context(&ask.wamid),
    )
    .await;
    let question = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == "wamid.O2-2")
        .unwrap();
    assert!(
        question.text_body().unwrap().contains("invoice number"),
        "{:?}",
        question.text_body()
    );
    let answer = h
        .send(MessageSpec::text(
            CUSTOMER,
            "wamid.O2-3",
            1_751_247_802,
            "98765",
        ))
        .await;

    let files = h.cms.instances_of_type("ca_captured_document");
    assert_eq!(files.len(), 1);
    let p = &files[0]["properties"];
    assert_eq!(p["document_type"], "invoice");
    assert_eq!(p["invoice_number"], "98765");
    assert_eq!(p["classification"], "finance/accounts-payable");
    assert_eq!(p["retention_tag"], "FIN-10Y");
    assert_eq!(p["source_message_id"], "wamid.O2-1");
    assert_eq!(p["content_sha256"], sha.as_str());
    let renditions = h.cms.renditions(files[0]["id"].as_str().unwrap());
    let blob = renditions[0]["blob_id"].as_str().unwrap();
    assert_eq!(
        h.cms.content(blob).unwrap(),
        bytes,
        "the CSS holds exactly the verified bytes"
    );
    let done = h
        .graph
        .sent()
        .into_iter()
        .find(|m| m.body["context"]["message_id"] == "wamid.O2-3")
        .unwrap();
    assert!(
        done.text_body()
            .unwrap()
            .contains(p["document_reference"].as_str().unwrap())
    );

    // Redelivered webhooks create nothing twice.
    let sent_before = h.graph.sent().len();
    for body in [&first, &answer] {
        h.simulator.deliver(body).await.unwrap();
    }
    h.drain().await;
    assert_eq!(h.cms.instances_of_type("ca_captured_document").len(), 1);
    assert_eq!(h.cms.contents_uploaded().len(), 1);
    assert_eq!(h.graph.sent().len(), sent_before);
}

#[tokio::test]
async fn o2_a_tampered_file_is_not_stored() {
    let h = Harness::start().await;
    let media = h.graph.add_media("application/pdf", b"real bytes".to_vec());
    h.send(
        MessageSpec::document(
            CUSTOMER,
            "wamid.O2-bad",
            1_751_247_810,
            &media,
            "application/pdf",
            "x.pdf",
        )
        .caption("invoice 1")
        .sha256("0000000000000000000000000000000000000000000000000000000000000000"),
    )
    .await;
    let rows = h.rows("O2").await;
    assert_eq!(
        rows[0].status,
        EventStatus::Dead,
        "a hash mismatch is permanent"
    );
    assert!(h.cms.contents_uploaded().is_empty());
    assert!(h.cms.instances_of_type("ca_captured_document").is_empty());
}

#[tokio::test]
async fn o5_evidence_is_filed_under_the_job() {
    let h = Harness::start().await;
    let photo = h.graph.add_media("image/jpeg", b"jpeg bytes".to_vec());
    let sha = h.graph.media(&photo).unwrap().sha256_hex();
    // A photo before any job: kept, and the job is asked.
    h.send(
        MessageSpec::image(TOM, "wamid.O5-1", 1_751_247_900, &photo, "image/jpeg")
            .sha256(&sha)
            .caption("asset P-9 leaking"),
    )
    .await;
    assert!(h.cms.instances_of_type("ca_field_evidence").is_empty());
    h.send(MessageSpec::text(
        TOM,
        "wamid.O5-2",
        1_751_247_901,
        "JOB-42",
    ))
    .await;
    h.send(MessageSpec::unknown(
        TOM,
        "wamid.O5-3",
        1_751_247_902,
        "location",
        json!({ "latitude": 52.52, "longitude": 13.405, "name": "Pump station 3" }),
    ))
    .await;
    let evidence = h.cms.instances_of_type("ca_field_evidence");
    assert_eq!(evidence.len(), 2, "{evidence:#?}");
    let photo_item = evidence
        .iter()
        .find(|e| e["properties"]["kind"] == "photo")
        .unwrap();
    assert_eq!(photo_item["properties"]["job_number"], "JOB-42");
    assert_eq!(photo_item["properties"]["asset_id"], "P-9");
    assert_eq!(photo_item["properties"]["technician"], "Tom Tech");
    assert!(
        photo_item["properties"]["captured_at"]
            .as_str()
            .unwrap()
            .starts_with("2025-06-30")
    );
    let location = evidence
        .iter()
        .find(|e| e["properties"]["kind"] == "location")
        .unwrap();
    assert_eq!(location["properties"]["latitude"], 52.52);
    assert_eq!(location["properties"]["job_number"], "JOB-42");
    assert!(
        h.rows("O1").await.is_empty(),
        "a technician's messages are not cases"
    );
}

#[tokio::test]
async fn o8_vendor_documents_are_linked_and_status_changes_notify_the_vendor() {
    let h = Harness::start().await;
    let po = h.cms.seed_instance(
        "object",
        "ca_purchase_order",
        "PO-4711",
        props(&[
            ("po_number", "PO-4711"),
            ("vendor_id", "V-100"),
            ("status", "open"),
        ]),
    );
    let media = h
        .graph
        .add_media("application/pdf", b"delivery note".to_vec());
    let sha = h.graph.media(&media).unwrap().sha256_hex();
    let body = h
        .send(
            MessageSpec::document(
                VERA,
                "wamid.O8-1",
                1_751_248_000,
                &media,
                "application/pdf",
                "dn.pdf",
            )
            .sha256(&sha)
            .caption("Delivery note for PO-4711"),
        )
        .await;
    let docs = h.cms.instances_of_type("ca_supplier_document");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["properties"]["linked_object_id"], po["id"]);
    assert_eq!(docs[0]["properties"]["vendor_id"], "V-100");
    h.simulator.deliver(&body).await.unwrap();
    h.drain().await;
    assert_eq!(
        h.cms.instances_of_type("ca_supplier_document").len(),
        1,
        "redelivery files nothing twice"
    );
    assert!(
        h.cms.instances_of_type("ca_captured_document").is_empty(),
        "O8, not O2"
    );

    h.client
        .patch_instance(
            Category::Object,
            "ca_purchase_order",
            po["id"].as_str().unwrap(),
            &InstancePatch::new().property("status", "shipped"),
        )
        .await
        .unwrap();
    h.until("the O8 template", |h| {
        h.sent_to(VERA).iter().any(|m| m.template_name().is_some())
    })
    .await;
    let t = h
        .sent_to(VERA)
        .into_iter()
        .find(|m| m.template_name().is_some())
        .unwrap();
    assert_eq!(t.template_name(), Some("supplier_status_update"));
    assert_eq!(
        t.body
            .pointer("/template/components/0/parameters/2/text")
            .unwrap(),
        "shipped"
    );
}
