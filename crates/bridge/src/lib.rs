//! # chatport-bridge
//!
//! The integration flows of chatport: thin compositions of the connector crates over the
//! at-least-once runtime. A flow is configured, not coded per customer: the TOML file
//! ([`config::Config`]) chooses types, properties, classification rules, queues, directories and
//! reply texts.
//!
//! | Flow | What it does | Module |
//! |---|---|---|
//! | O1 case intake | WhatsApp complaint → classified CMS case in a support queue → reply with the case reference | [`flows::opentext::o1`] |
//! | C1–C5 Creatio handoff | escalation → Creatio case with summary, contact, one activity per message, media, transcript link; agent replies back within the 24-hour window; closure | [`flows::creatio`] |
//! | L1 review request | OrangeDAM asset in review → template to the approvers | [`flows::orangelogic::l1`] |
//! | L2 field media ingest | field staff's WhatsApp media → DAM upload in the project folder, metadata, review | [`flows::orangelogic::l2`] |
//! | L3 rights expiry watch | scheduled search → alerts to owners and legal once per asset and threshold | [`flows::orangelogic::l3`] |
//! | L4 campaign rollout | approved package → regional contacts notified; button answers written back | [`flows::orangelogic::l4`] |
//! | L5 approved content sharing | agent's command → approved, unexpired asset sent as media by link; recorded | [`flows::orangelogic::l5`] |
//! | L6 user-generated content | tagged submission → consent with buttons before storage → upload, moderation | [`flows::orangelogic::l6`] |
//! | L7 policy alert | rejected / blocked / incomplete asset → alert to the owner with the reason | [`flows::orangelogic::l7`] |
//! | O2–O8 document flows | capture, status notification, document request, field evidence, compliance archive, exception loop, supplier exchange | [`flows::opentext`] |
//!
//! Every inbound and outbound WhatsApp message is kept per conversation by the
//! [`chatport_whatsapp::conversation`] (recorded by the dispatcher and the once-only sender).
//!
//! How an event travels: the WhatsApp webhook ([`whatsapp::WhatsAppWebhook`]) verifies the signature
//! on the raw bytes and writes every event of the POST to the outbox in one transaction; workers
//! claim events (in order per customer) and hand them to [`service::FlowRouter`], which runs the
//! flow. Every external effect is idempotent by an [`IdempotencyKey`](chatport_core::IdempotencyKey)
//! derived from the event, so retries, redeliveries and replays never duplicate a case or a reply.
//!
//! `chatport serve` in a few lines, runnable here against the testkit's Graph and CMS emulators:
//! the configuration names them through `${VAR}` references (in production the variables come
//! from the environment, [`settings::EnvVars`]); one webhook signed like Meta's becomes a CMS case
//! (flow O1) and a reply.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::Duration;
//!
//! use chatport_bridge::config::Config;
//! use chatport_bridge::service::{Service, Stores};
//! use chatport_testkit::{cms::CmsEmulator, graph::GraphEmulator};
//! use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (graph, cms) = (GraphEmulator::start().await?, CmsEmulator::start().await?);
//! let dir = tempfile::tempdir()?;
//! let config = Config::from_toml_str(&format!(r#"
//!     [store]
//!     path = "{}"
//!     [whatsapp]
//!     api_base = "${{GRAPH_URL}}"
//!     access_token = "${{WHATSAPP_TOKEN}}"
//!     app_secrets = ["${{WHATSAPP_APP_SECRET}}"]
//!     verify_token = "${{WHATSAPP_VERIFY_TOKEN}}"
//!     [opentext]
//!     auth_base = "${{CMS_URL}}"
//!     cms_base = "${{CMS_URL}}/cms"
//!     tenant_id = "${{CMS_TENANT}}"
//!     client_id = "${{CMS_CLIENT}}"
//!     client_secret = "${{CMS_SECRET}}"
//!     requests_per_second = 0
//! "#, dir.path().join("chatport.sqlite").display()))?;
//! let vars: BTreeMap<String, String> = [
//!     ("GRAPH_URL", graph.base_url()),
//!     ("WHATSAPP_TOKEN", graph.access_token().to_owned()),
//!     ("WHATSAPP_APP_SECRET", "app-secret".to_owned()),
//!     ("WHATSAPP_VERIFY_TOKEN", "verify-token".to_owned()),
//!     ("CMS_URL", cms.base_url()),
//!     ("CMS_TENANT", cms.tenant_id().to_owned()),
//!     ("CMS_CLIENT", cms.client_id().to_owned()),
//!     ("CMS_SECRET", cms.client_secret().to_owned()),
//! ].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
//!
//! let stores = Stores::open(&config.store, &vars).await?; // SQLite here; PostgreSQL by [store] backend
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let service = Service::start(&config, &vars, stores, listener).await?;
//!
//! let meta = WebhookSimulator::new(
//!     format!("http://{}/webhooks/whatsapp", service.local_addr()),
//!     b"app-secret".to_vec(),
//! );
//! let body = Delivery::new("102290129340398")
//!     .message("106540352242922", "15550783881",
//!         MessageSpec::text("4915123456789", "wamid.1", chrono::Utc::now().timestamp(), "My parcel arrived damaged"))
//!     .build();
//! assert_eq!(meta.deliver(&body).await?.status, 200); // stored durably, then acknowledged
//!
//! for _ in 0..500 {
//!     if !graph.sent().is_empty() { break }
//!     tokio::time::sleep(Duration::from_millis(20)).await;
//! }
//! service.stop().await; // stops intake, finishes in-flight work, releases leases
//! assert_eq!(cms.instances_of_type("ca_support_case").len(), 1);
//! assert!(graph.sent()[0].text_body().unwrap_or_default().contains("CASE-"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod assistant;
pub mod config;
pub mod directory;
mod error;
pub mod flows;
pub mod retention;
pub mod routing;
pub mod service;
pub mod settings;
pub mod templates;
pub mod whatsapp;

pub use error::Error;
