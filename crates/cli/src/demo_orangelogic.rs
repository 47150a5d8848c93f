//! The Orange Logic part of `chatport demo`: flows L1–L7 against the OrangeDAM emulator.
//!
//! Before the service starts, the DAM is seeded (assets in review, rejected, an approved campaign
//! package, shareable and expired assets, licences ending in 5 and 20 days). After the O1 part,
//! the script fires asset webhooks (one of them twice), lets regional contacts answer the
//! rollout, an agent share two assets, a field technician send a location and a tagged photo,
//! and a fan submit a photo and consent; then it checks what the DAM and WhatsApp hold.

use std::time::{Duration, Instant};

use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore};
use chatport_testkit::graph::{GraphEmulator, SentMessage};
use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER, StoredAsset};
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::{Value, json};

const WEBHOOK_TOKEN: &str = "demo-ol-path-token-7c1e9a40d2b35f68";
const WABA_ID: &str = "102290129340398";
const PHONE_NUMBER_ID: &str = "106540352242922";
const DISPLAY_NUMBER: &str = "15550783881";
const FIELD_TECH: &str = "4915222222222";
const AGENT: &str = "4915333333333";
const EMEA_CONTACT: &str = "4917011111111";
const NA_CONTACT: &str = "16505550101";
const CUSTOMER: &str = "+16505550000";
const FAN: &str = "447700900456";
const FLOWS: [&str; 8] = ["L1", "L2", "L3", "L4", "L4.answer", "L5", "L6", "L7"];

/// What the Orange Logic part adds to the report.
pub(crate) struct Section {
    /// Events the ingress or the pollers added to the outbox.
    pub(crate) accepted: u64,
    /// Redeliveries dropped.
    pub(crate) duplicates: u64,
    /// Webhook POSTs made.
    pub(crate) deliveries: u64,
    /// The `orangelogic` object of the JSON report.
    pub(crate) json: Value,
    /// The text report's section.
    pub(crate) text: String,
    /// What went wrong.
    pub(crate) problems: Vec<String>,
}

struct Seeded {
    review: StoredAsset,
    rejected: StoredAsset,
    package: StoredAsset,
    shareable: StoredAsset,
    expired: StoredAsset,
}

/// The OrangeDAM emulator, seeded.
pub(crate) struct OrangeLogicDemo {
    ol: OrangeLogicEmulator,
    seeded: Seeded,
}

fn seed(ol: &OrangeLogicEmulator, title: &str, fields: Value) -> StoredAsset {
    let map = match fields {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    ol.seed_asset(
        title,
        ROOT_FOLDER,
        map,
        Some(format!("{title} bytes").into_bytes()),
    )
}

fn days(n: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(n)).to_string()
}

fn ts() -> i64 {
    chrono::Utc::now().timestamp() - 60
}

impl OrangeLogicDemo {
    /// Starts and seeds the emulator (before the service, so the expiry poller's first round
    /// finds the licences).
    pub(crate) async fn start() -> Result<Self, String> {
        let ol = OrangeLogicEmulator::start()
            .await
            .map_err(|e| format!("Orange Logic emulator: {e}"))?;
        let seeded = Seeded {
            review: seed(
                &ol,
                "Spring key visual",
                json!({ "Workflow.State": "In Review", "Review.Deadline": days(3),
                        "Campaign.Name": "Spring 26", "Rights.Usage": "Web and print, EU" }),
            ),
            rejected: seed(
                &ol,
                "Summer banner",
                json!({ "Workflow.State": "Rejected", "Workflow.Reason": "logo below minimum size",
                        "Asset.Owner-Phone": "+49 151 0000 0005", "Rights.Usage": "Web" }),
            ),
            package: seed(
                &ol,
                "Spring campaign package",
                json!({ "Workflow.State": "Approved", "Campaign.Name": "Spring 26",
                        "Campaign.Regions": ["EMEA", "NA"], "Rights.Usage": "EU and US" }),
            ),
            shareable: seed(
                &ol,
                "Product shot",
                json!({ "Workflow.State": "Approved", "Rights.Expiry-Date": days(60),
                        "MediaType": "Image", "Rights.Usage": "All media" }),
            ),
            expired: seed(
                &ol,
                "Old product shot",
                json!({ "Workflow.State": "Approved", "Rights.Expiry-Date": days(-1),
                        "Rights.Usage": "All media" }),
            ),
        };
        seed(
            &ol,
            "Licensed photo",
            json!({ "Rights.Expiry-Date": days(5), "Asset.Owner-Phone": "+49 151 0000 0005",
                    "Rights.Usage": "Web" }),
        );
        seed(
            &ol,
            "Stock video",
            json!({ "Rights.Expiry-Date": days(20), "Rights.Usage": "Web" }),
        );
        Ok(Self { ol, seeded })
    }

    /// The emulator (the demo's shape scenarios upload to it directly).
    pub(crate) fn emulator(&self) -> &OrangeLogicEmulator {
        &self.ol
    }

    /// The variables the configuration references.
    pub(crate) fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("ORANGELOGIC_URL".into(), self.ol.base_url()),
            (
                "ORANGELOGIC_CLIENT_ID".into(),
                self.ol.client_id().to_owned(),
            ),
            (
                "ORANGELOGIC_CLIENT_SECRET".into(),
                self.ol.client_secret().to_owned(),
            ),
            ("ORANGELOGIC_WEBHOOK_TOKEN".into(), WEBHOOK_TOKEN.to_owned()),
        ]
    }

    /// Runs the scripted scenario against the running service at `addr`.
    pub(crate) async fn run(
        &self,
        addr: std::net::SocketAddr,
        graph: &GraphEmulator,
        simulator: &WebhookSimulator,
        store: &SqliteStore,
    ) -> Result<Section, String> {
        let hook = format!("http://{addr}/webhooks/orangelogic/{WEBHOOK_TOKEN}");
        let mut s = Section {
            accepted: 0,
            duplicates: 0,
            deliveries: 0,
            json: Value::Null,
            text: String::new(),
            problems: Vec::new(),
        };
        let mut log = Vec::new();

        // 1. OrangeDAM reports edits of three assets; the first report arrives twice.
        let mut first_payload = None;
        for (what, asset) in [
            ("asset in review", &self.seeded.review),
            ("rejected asset", &self.seeded.rejected),
            ("approved campaign package", &self.seeded.package),
        ] {
            let d = self
                .ol
                .fire_asset_event(&hook, "edited", &asset.record_id)
                .await
                .map_err(|e| format!("OrangeDAM webhook: {e}"))?;
            first_payload.get_or_insert(d.payload.clone());
            count(
                &mut s,
                &mut log,
                &format!("OrangeDAM: {what} edited"),
                d.result.map(|r| (r.status, r.body)),
            );
        }
        if let Some(payload) = &first_payload {
            let d = self
                .ol
                .redeliver(&hook, payload)
                .await
                .map_err(|e| format!("OrangeDAM webhook: {e}"))?;
            count(
                &mut s,
                &mut log,
                "OrangeDAM: redelivery of the first event",
                d.result.map(|r| (r.status, r.body)),
            );
        }
        crate::demo::wait_drained(store).await?;

        // 2. The regional contacts answer the rollout template with its buttons.
        for (contact, payload, wamid) in [
            (EMEA_CONTACT, "received", "wamid.demo-l4-eva"),
            (NA_CONTACT, "need_format", "wamid.demo-l4-nick"),
        ] {
            let Some(template) = graph.sent().into_iter().find(|m| {
                m.template_name() == Some("dam_campaign_rollout")
                    && m.to.as_deref() == Some(&format!("+{contact}"))
            }) else {
                s.problems.push(format!(
                    "no rollout template to {}",
                    chatport_core::redact::phone(contact)
                ));
                continue;
            };
            let tap = MessageSpec::unknown(
                contact,
                wamid,
                ts(),
                "button",
                json!({ "payload": payload, "text": payload }),
            )
            .context(&template.wamid);
            self.whatsapp(&mut s, &mut log, simulator, "rollout answer (button)", tap)
                .await?;
        }

        // 3. An agent shares an approved asset and an expired one with a customer.
        for (asset, wamid) in [
            (&self.seeded.shareable, "wamid.demo-l5-1"),
            (&self.seeded.expired, "wamid.demo-l5-2"),
        ] {
            let text = format!("share {} with {CUSTOMER}", asset.identifier);
            self.whatsapp(
                &mut s,
                &mut log,
                simulator,
                "agent: share command",
                MessageSpec::text(AGENT, wamid, ts(), text).profile_name("Alex"),
            )
            .await?;
        }

        // 4. A field technician shares a location, then a tagged photo (delivered twice).
        let photo_bytes = b"\xff\xd8\xff\xe0 demo field photo of pier 3".to_vec();
        let media = graph.add_media("image/jpeg", photo_bytes.clone());
        let digest = graph
            .media(&media)
            .map(|m| m.sha256_hex())
            .unwrap_or_default();
        self.whatsapp(
            &mut s,
            &mut log,
            simulator,
            "field: location",
            MessageSpec::unknown(
                FIELD_TECH,
                "wamid.demo-l2-loc",
                ts(),
                "location",
                json!({ "latitude": 52.520008, "longitude": 13.404954, "name": "Pier 3" }),
            ),
        )
        .await?;
        crate::demo::wait_drained(store).await?;
        let photo = MessageSpec::image(
            FIELD_TECH,
            "wamid.demo-l2-photo",
            ts(),
            &media,
            "image/jpeg",
        )
        .sha256(&digest)
        .caption("Crack at the bearing #bridge-a4");
        self.whatsapp(
            &mut s,
            &mut log,
            simulator,
            "field: tagged photo",
            photo.clone(),
        )
        .await?;
        self.whatsapp(
            &mut s,
            &mut log,
            simulator,
            "field: redelivery of the photo",
            photo,
        )
        .await?;

        // 5. A fan submits a photo for a campaign, then consents.
        let ugc_bytes = b"\x89PNG demo beach photo".to_vec();
        let ugc = graph.add_media("image/png", ugc_bytes.clone());
        let ugc_digest = graph
            .media(&ugc)
            .map(|m| m.sha256_hex())
            .unwrap_or_default();
        self.whatsapp(
            &mut s,
            &mut log,
            simulator,
            "fan: photo with #summer25",
            MessageSpec::image(FAN, "wamid.demo-l6-photo", ts(), &ugc, "image/png")
                .sha256(&ugc_digest)
                .caption("Beach day! #summer25")
                .profile_name("Sam"),
        )
        .await?;
        crate::demo::wait_drained(store).await?;
        let stored_before_consent = self
            .ol
            .assets()
            .iter()
            .any(|a| a.bytes.as_deref() == Some(&ugc_bytes[..]));
        if stored_before_consent {
            s.problems
                .push("L6 stored the submission before consent".into());
        }
        match graph
            .sent()
            .into_iter()
            .find(|m| m.body["context"]["message_id"] == "wamid.demo-l6-photo")
        {
            Some(question) => {
                let yes = MessageSpec::button_reply(
                    FAN,
                    "wamid.demo-l6-yes",
                    ts(),
                    "l6:yes",
                    "Yes, I agree",
                )
                .context(&question.wamid);
                self.whatsapp(&mut s, &mut log, simulator, "fan: consent (button)", yes)
                    .await?;
            }
            None => s.problems.push("L6 asked no consent question".into()),
        }
        crate::demo::wait_drained(store).await?;

        // 6. The expiry poller ran at start; wait for its two alerts.
        let start = Instant::now();
        while rows(store, "L3").await?.len() < 2 && start.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        crate::demo::wait_drained(store).await?;
        s.accepted += rows(store, "L3").await?.len() as u64;

        // What the DAM and WhatsApp hold now.
        let sent: Vec<SentMessage> = graph.sent();
        let templates = |name: &str| {
            sent.iter()
                .filter(|m| m.template_name() == Some(name))
                .count()
        };
        let assets = self.ol.assets();
        let field_photo = assets
            .iter()
            .find(|a| a.bytes.as_deref() == Some(&photo_bytes[..]));
        let ugc_asset = assets
            .iter()
            .find(|a| a.bytes.as_deref() == Some(&ugc_bytes[..]));
        let count_bytes = |b: &[u8]| {
            assets
                .iter()
                .filter(|a| a.bytes.as_deref() == Some(b))
                .count()
        };
        let text_field = |id: &str, f: &str| {
            self.ol
                .asset(id)
                .and_then(|a| a.fields.get(f).and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default()
        };
        let feedback = text_field(&self.seeded.package.record_id, "Campaign.Feedback");
        let share_log = text_field(&self.seeded.shareable.record_id, "Sharing.Log");
        let to_customer = sent
            .iter()
            .filter(|m| m.to.as_deref() == Some(CUSTOMER))
            .count();

        let mut expect = |ok: bool, what: &str| {
            if !ok {
                s.problems.push(what.to_owned());
            }
        };
        expect(
            templates("dam_review_request") == 2,
            "L1: expected 2 review requests (one per approver)",
        );
        expect(
            templates("dam_policy_alert") == 1,
            "L7: expected 1 policy alert",
        );
        expect(
            templates("dam_campaign_rollout") == 2,
            "L4: expected 2 rollout templates (EMEA, NA)",
        );
        expect(
            feedback.lines().count() == 2,
            "L4: expected 2 answers written back to the package",
        );
        expect(
            to_customer == 1,
            "L5: expected exactly 1 share to the customer (the expired asset is refused)",
        );
        expect(
            share_log.contains("Alex Agent shared"),
            "L5: the share is not recorded on the asset",
        );
        expect(
            count_bytes(&photo_bytes) == 1,
            "L2: expected exactly 1 uploaded field photo",
        );
        expect(
            field_photo
                .is_some_and(|a| a.fields.get("Workflow.State") == Some(&json!("In Review"))),
            "L2: the field photo is not routed to review",
        );
        expect(
            count_bytes(&ugc_bytes) == 1,
            "L6: expected exactly 1 stored submission after consent",
        );
        expect(
            ugc_asset.is_some_and(|a| a.fields.get("UGC.Consent") == Some(&json!("yes"))),
            "L6: the consent is not recorded on the asset",
        );
        expect(
            templates("dam_rights_expiry") == 3,
            "L3: expected 3 expiry alerts (owner + legal, legal)",
        );

        let mut flows = serde_json::Map::new();
        for flow in FLOWS {
            let r = rows(store, flow).await?;
            let dead = r.iter().filter(|e| e.status == EventStatus::Dead).count();
            if dead > 0 {
                s.problems
                    .push(format!("{dead} {flow} event(s) in the dead-letter queue"));
            }
            flows.insert(flow.to_owned(), json!(r.len()));
        }
        s.json = json!({
            "emulator": self.ol.base_url(),
            "events_by_flow": flows,
            "duplicates_dropped": s.duplicates,
            "review_requests": templates("dam_review_request"),
            "policy_alerts": templates("dam_policy_alert"),
            "rollout_messages": templates("dam_campaign_rollout"),
            "answers_written_back": feedback.lines().count(),
            "shares_sent": to_customer,
            "field_uploads": count_bytes(&photo_bytes),
            "ugc_stored": count_bytes(&ugc_bytes),
            "expiry_alerts": templates("dam_rights_expiry"),
        });
        let mut text = String::from("\nOrange Logic flows L1–L7 (OrangeDAM emulator):\n");
        for line in &log {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&format!(
            "  L1 review requests {}, L7 policy alerts {}, L4 rollout messages {} and answers written back {},\n  L5 shares sent {}, L2 field uploads {}, L6 stored after consent {}, L3 expiry alerts {}\n",
            templates("dam_review_request"),
            templates("dam_policy_alert"),
            templates("dam_campaign_rollout"),
            feedback.lines().count(),
            to_customer,
            count_bytes(&photo_bytes),
            count_bytes(&ugc_bytes),
            templates("dam_rights_expiry"),
        ));
        s.text = text;
        Ok(s)
    }

    async fn whatsapp(
        &self,
        s: &mut Section,
        log: &mut Vec<String>,
        simulator: &WebhookSimulator,
        what: &str,
        spec: MessageSpec,
    ) -> Result<(), String> {
        let body = Delivery::new(WABA_ID)
            .message(PHONE_NUMBER_ID, DISPLAY_NUMBER, spec)
            .build();
        let r = simulator
            .deliver(&body)
            .await
            .map_err(|e| format!("webhook delivery: {e}"))?;
        count(
            s,
            log,
            &format!("WhatsApp: {what}"),
            Some((r.status, r.body)),
        );
        Ok(())
    }
}

fn count(s: &mut Section, log: &mut Vec<String>, what: &str, result: Option<(u16, String)>) {
    s.deliveries += 1;
    let Some((status, body)) = result else {
        s.problems.push(format!("{what}: no answer"));
        return;
    };
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let new = ["inserted", "dead"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_u64))
        .sum::<u64>();
    let dup = body.get("duplicates").and_then(Value::as_u64).unwrap_or(0);
    if status != 200 {
        s.problems.push(format!("{what}: HTTP {status}"));
    }
    s.accepted += new;
    s.duplicates += dup;
    log.push(format!(
        "  POST {what:<44} → HTTP {status} (new events: {new}, duplicates dropped: {dup})"
    ));
}

async fn rows(
    store: &SqliteStore,
    flow: &str,
) -> Result<Vec<chatport_runtime::StoredEvent>, String> {
    store
        .list(&EventFilter::default().flow(flow), 10_000)
        .await
        .map_err(|e| e.to_string())
}
