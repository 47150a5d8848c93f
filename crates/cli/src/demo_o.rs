//! The OpenText document flows O2–O8 in `chatport demo`: CMS records seeded in the emulator (found
//! by the flows' pollers) and scripted WhatsApp deliveries from a manager, a customer, a technician
//! and a vendor of the demo directory, and a customer whose tagged messages are archived (O6).

use std::time::{Duration, Instant};

use chatport_runtime::{EventFilter, Outbox, SqliteStore};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::{Map, Value, json};

const IDA: &str = "4915111112222";
const TOM: &str = "4917000000042";
const VERA: &str = "4930123456789";
const LEA: &str = "447700900789";
/// O6: a customer of the compliance scene; no other scenario uses this number.
const NOE: &str = "34612000606";

/// What the O-flow scenario did.
pub(crate) struct OReport {
    /// Events the ingress stored for these deliveries (duplicates excluded).
    pub accepted: u64,
    /// Duplicates the ingress dropped.
    pub duplicates: u64,
    /// Webhook POSTs made.
    pub deliveries: u64,
    /// Rows written by the CMS pollers (O3, O7, O8).
    pub polled: u64,
    /// One line per step.
    pub log: Vec<String>,
    /// What went wrong.
    pub problems: Vec<String>,
    /// Counts for the JSON report.
    pub summary: Value,
}

struct Ctx<'a> {
    graph: &'a GraphEmulator,
    simulator: &'a WebhookSimulator,
    store: &'a SqliteStore,
    waba: &'a str,
    pnid: &'a str,
    display: &'a str,
    report: OReport,
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect()
}

fn ts(offset: i64) -> i64 {
    chrono::Utc::now().timestamp() - 300 + offset
}

impl Ctx<'_> {
    async fn post(&mut self, what: &str, spec: MessageSpec) -> Result<Value, String> {
        let body = Delivery::new(self.waba)
            .message(self.pnid, self.display, spec)
            .build();
        self.post_body(what, &body).await?;
        Ok(body)
    }

    async fn post_body(&mut self, what: &str, body: &Value) -> Result<(), String> {
        let result = self
            .simulator
            .deliver(body)
            .await
            .map_err(|e| format!("webhook delivery: {e}"))?;
        let ack: Value = serde_json::from_str(&result.body).unwrap_or(Value::Null);
        let received: u64 = ["inserted", "dead"]
            .iter()
            .filter_map(|k| ack.get(*k).and_then(Value::as_u64))
            .sum();
        let dup = ack.get("duplicates").and_then(Value::as_u64).unwrap_or(0);
        if result.status != 200 {
            self.report
                .problems
                .push(format!("{what}: HTTP {}", result.status));
        }
        self.report.deliveries += 1;
        self.report.accepted += received;
        self.report.duplicates += dup;
        self.report.log.push(format!(
            "  POST {what:<40} → HTTP {} (new events: {received}, duplicates dropped: {dup})",
            result.status
        ));
        crate::demo::wait_drained(self.store).await
    }

    async fn wait_for(
        &mut self,
        what: &str,
        f: impl Fn(&GraphEmulator) -> bool,
    ) -> Result<(), String> {
        let start = Instant::now();
        while !f(self.graph) {
            if start.elapsed() > Duration::from_secs(30) {
                self.report
                    .problems
                    .push(format!("timed out waiting for {what}"));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        crate::demo::wait_drained(self.store).await
    }

    fn reply_to(&self, wamid: &str) -> Option<chatport_testkit::graph::SentMessage> {
        self.graph
            .sent()
            .into_iter()
            .find(|m| m.body["context"]["message_id"] == wamid)
    }
}

/// Runs the scenario against the running service.
pub(crate) async fn run(
    graph: &GraphEmulator,
    cms: &CmsEmulator,
    simulator: &WebhookSimulator,
    store: &SqliteStore,
    (waba, pnid, display): (&str, &str, &str),
) -> Result<OReport, String> {
    let mut c = Ctx {
        graph,
        simulator,
        store,
        waba,
        pnid,
        display,
        report: OReport {
            accepted: 0,
            duplicates: 0,
            deliveries: 0,
            polled: 0,
            log: Vec::new(),
            problems: Vec::new(),
            summary: Value::Null,
        },
    };

    // CMS records the pollers find: an item awaiting review (O3), an exception (O7), a confirmed
    // purchase order (O8); and an invoice with content for a document request (O4).
    cms.seed_instance(
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
    let scan = cms.seed_instance(
        "file",
        "ca_document",
        "Scan 2025-06-30",
        props(&[
            ("exception", "missing_metadata"),
            ("exception_detail", "The invoice number is missing"),
            ("exception_field", "invoice_number"),
            ("responsible_user", "u-ida"),
        ]),
    );
    cms.seed_instance(
        "object",
        "ca_purchase_order",
        "PO-4711",
        props(&[
            ("po_number", "PO-4711"),
            ("vendor_id", "V-100"),
            ("status", "confirmed"),
        ]),
    );
    let blob = graph_free_upload(cms).await?;
    let mut body = Map::new();
    body.insert("name".into(), json!("Invoice 12345"));
    body.insert("properties".into(), json!({ "invoice_number": "12345" }));
    body.insert(
        "renditions".into(),
        json!([{ "name": "invoice-12345.pdf", "blob_id": blob, "rendition_type": "primary" }]),
    );
    cms.seed_instance_body("file", "ca_invoice", body);

    // O3 + O7 + O8 notifications (templates) from the pollers.
    c.wait_for("the O3/O7 templates to the manager", |g| {
        g.sent_to(IDA)
            .iter()
            .filter(|m| m.template_name().is_some())
            .count()
            >= 2
    })
    .await?;
    c.wait_for("the O8 template to the vendor", |g| {
        g.sent_to(VERA).iter().any(|m| m.template_name().is_some())
    })
    .await?;
    let o7_template = graph
        .sent_to(IDA)
        .into_iter()
        .find(|m| m.template_name() == Some("record_exception"));

    // O7: the manager answers the exception notification.
    if let Some(t) = &o7_template {
        c.post(
            "O7 reply to the exception notification",
            MessageSpec::text(IDA, "wamid.demo-ida-0001", ts(1), "INV-2025-0630").context(&t.wamid),
        )
        .await?;
    } else {
        c.report
            .problems
            .push("no O7 exception notification was sent".into());
    }
    // O4: a document request from the manager, and the same from a number not in the directory.
    c.post(
        "O4 document request (authorised)",
        MessageSpec::text(IDA, "wamid.demo-ida-0002", ts(2), "invoice 12345"),
    )
    .await?;
    c.post(
        "O4 document request (unknown number)",
        MessageSpec::text(LEA, "wamid.demo-o-lea-0001", ts(3), "invoice 12345"),
    )
    .await?;
    // O2: a document without a caption; the type is asked with a list, then the invoice number.
    let bytes = b"%PDF-1.7 demo scan".repeat(64);
    let media = graph.add_media("application/pdf", bytes);
    let sha = graph
        .media(&media)
        .map(|m| m.sha256_hex())
        .unwrap_or_default();
    let doc = c
        .post(
            "O2 document without caption",
            MessageSpec::document(
                LEA,
                "wamid.demo-o-lea-0002",
                ts(4),
                &media,
                "application/pdf",
                "scan.pdf",
            )
            .sha256(&sha),
        )
        .await?;
    c.post_body("redelivery of the document", &doc).await?;
    match c.reply_to("wamid.demo-o-lea-0002") {
        Some(list) => {
            c.post(
                "O2 document type chosen from the list",
                MessageSpec::list_reply(LEA, "wamid.demo-o-lea-0003", ts(5), "invoice", "Invoice")
                    .context(&list.wamid),
            )
            .await?;
            c.post(
                "O2 invoice number answered",
                MessageSpec::text(LEA, "wamid.demo-o-lea-0004", ts(6), "98765"),
            )
            .await?;
        }
        None => c
            .report
            .problems
            .push("O2 asked nothing for the document without caption".into()),
    }
    // O5: a technician's photo with job and asset, and a shared location.
    let photo = graph.add_media("image/jpeg", b"jpeg demo bytes".to_vec());
    let photo_sha = graph
        .media(&photo)
        .map(|m| m.sha256_hex())
        .unwrap_or_default();
    c.post(
        "O5 technician photo (JOB-42, asset P-9)",
        MessageSpec::image(TOM, "wamid.demo-tom-0001", ts(7), &photo, "image/jpeg")
            .sha256(&photo_sha)
            .caption("JOB-42 asset P-9 seal replaced"),
    )
    .await?;
    c.post(
        "O5 technician location",
        MessageSpec::unknown(
            TOM,
            "wamid.demo-tom-0002",
            ts(8),
            "location",
            json!({ "latitude": 52.52, "longitude": 13.405, "name": "Pump station 3" }),
        ),
    )
    .await?;
    // O8: a vendor's delivery note for the purchase order.
    let note = graph.add_media("application/pdf", b"delivery note PO-4711".to_vec());
    let note_sha = graph
        .media(&note)
        .map(|m| m.sha256_hex())
        .unwrap_or_default();
    c.post(
        "O8 vendor delivery note (PO-4711)",
        MessageSpec::document(
            VERA,
            "wamid.demo-vera-0001",
            ts(9),
            &note,
            "application/pdf",
            "dn-4711.pdf",
        )
        .sha256(&note_sha)
        .caption("Delivery note for PO-4711"),
    )
    .await?;

    // O6: an incident report, then a signed consent form; each tag archives the conversation so far.
    c.post(
        "O6 #incident message",
        MessageSpec::text(
            NOE,
            "wamid.demo-o6-noe-0001",
            ts(10),
            "#incident Pump station 3 flooded the basement",
        ),
    )
    .await?;
    let form = graph.add_media("application/pdf", b"%PDF-1.7 signed consent form".to_vec());
    let form_sha = graph
        .media(&form)
        .map(|m| m.sha256_hex())
        .unwrap_or_default();
    c.post(
        "O6 signed consent form (#consent)",
        MessageSpec::document(
            NOE,
            "wamid.demo-o6-noe-0002",
            ts(11),
            &form,
            "application/pdf",
            "consent-form.pdf",
        )
        .sha256(&form_sha)
        .caption("#consent signed form for the basement access"),
    )
    .await?;

    // What the CMS holds now.
    let archives = cms.instances_of_type("ca_compliance_archive");
    let archive_props = |tag: &str| {
        archives
            .iter()
            .find(|a| a["properties"]["compliance_tag"] == tag)
            .map(|a| a["properties"].clone())
            .unwrap_or(Value::Null)
    };
    let (incident, consent) = (archive_props("incident"), archive_props("consent"));
    let captured = cms.instances_of_type("ca_captured_document");
    let evidence = cms.instances_of_type("ca_field_evidence");
    let supplier = cms.instances_of_type("ca_supplier_document");
    let answered = cms
        .instance(scan["id"].as_str().unwrap_or_default())
        .map(|i| i["properties"]["invoice_number"] == "INV-2025-0630")
        .unwrap_or(false);
    let links = cms.share_links().len();
    let checks = [
        (
            captured.len() == 1,
            format!("O2: {} captured documents (expected 1)", captured.len()),
        ),
        (
            evidence.len() == 2,
            format!("O5: {} evidence items (expected 2)", evidence.len()),
        ),
        (
            supplier.len() == 1
                && supplier
                    .iter()
                    .all(|s| s["properties"]["link_status"] == "linked"),
            format!(
                "O8: {} linked supplier documents (expected 1)",
                supplier.len()
            ),
        ),
        (
            answered,
            "O7: the exception answer was not written back".to_owned(),
        ),
        (links == 1, format!("O4: {links} share links (expected 1)")),
        (
            archives.len() == 2,
            format!("O6: {} compliance archives (expected 2)", archives.len()),
        ),
        (
            incident["legal_hold"] == true && incident["message_count"] == 1,
            format!("O6: the incident archive is wrong: {incident}"),
        ),
        (
            // The incident message, its confirmation and the consent form.
            consent["legal_hold"] == false && consent["message_count"] == 3,
            format!("O6: the consent archive is wrong: {consent}"),
        ),
        (
            c.reply_to("wamid.demo-o6-noe-0002").is_some(),
            "O6: the consent archive was not confirmed".to_owned(),
        ),
        (
            c.reply_to("wamid.demo-o-lea-0001")
                .and_then(|m| m.text_body().map(|t| t.contains("not authorised")))
                .unwrap_or(false),
            "O4: the unknown number was not refused".to_owned(),
        ),
    ];
    for (ok, problem) in checks {
        if !ok {
            c.report.problems.push(problem);
        }
    }
    let rows = store
        .list(&EventFilter::default(), 10_000)
        .await
        .map_err(|e| e.to_string())?;
    c.report.polled = rows.iter().filter(|r| r.source == "opentext").count() as u64;
    for flow in ["O2", "O3", "O4", "O5", "O6", "O7", "O8"] {
        let dead = rows
            .iter()
            .filter(|r| r.flow == flow && r.status == chatport_runtime::EventStatus::Dead)
            .count();
        if dead > 0 {
            c.report
                .problems
                .push(format!("{dead} {flow} event(s) in the dead-letter queue"));
        }
    }
    c.report.summary = json!({
        "captured_documents": captured.len(),
        "field_evidence": evidence.len(),
        "supplier_documents": supplier.len(),
        "share_links": links,
        "compliance_archives": archives.len(),
        "exception_answered": answered,
        "polled_events": c.report.polled,
    });
    Ok(c.report)
}

/// Stores an invoice PDF in the emulated CSS (as a user of the tenant would have).
async fn graph_free_upload(cms: &CmsEmulator) -> Result<String, String> {
    let client = chatport_opentext::Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.base_url())
        .cms_base(&cms.cms_base())
        .css_base(&cms.css_base())
        .client_credentials(cms.client_id(), cms.client_secret().to_owned())
        .build()
        .map_err(|e| e.to_string())?;
    let bytes = b"%PDF-1.7 invoice 12345".to_vec();
    let length = bytes.len() as u64;
    let content = client
        .upload_content(
            std::io::Cursor::new(bytes),
            &chatport_opentext::UploadOptions::new("invoice-12345.pdf")
                .mime_type("application/pdf")
                .length(length),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(content.blob_id().to_owned())
}
