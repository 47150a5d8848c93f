//! # chatport-bridge
//!
//! The integration flows of chatport: thin compositions of the connector crates over the
//! at-least-once runtime. A flow is configured, not coded per customer: the TOML file
//! ([`config::Config`]) chooses types, properties, classification rules, queues, directories and
//! reply texts.
//!
//! | Flow | What it does | Module |
//! |---|---|---|
//! | O1 case intake | WhatsApp complaint → classified CMS case in a support queue → reply with the case reference | [`flows::o1`] |
//! | C1–C5 Creatio handoff | escalation → Creatio case with summary, contact, one activity per message, media, transcript link; agent replies back within the 24-hour window; closure | [`flows::creatio`] |
//! | L1 review request | OrangeDAM asset in review → template to the approvers | [`flows::orangelogic::l1`] |
//! | L2 field media ingest | field staff's WhatsApp media → DAM upload in the project folder, metadata, review | [`flows::orangelogic::l2`] |
//! | L3 rights expiry watch | scheduled search → alerts to owners and legal once per asset and threshold | [`flows::orangelogic::l3`] |
//! | L4 campaign rollout | approved package → regional contacts notified; button answers written back | [`flows::orangelogic::l4`] |
//! | L5 approved content sharing | agent's command → approved, unexpired asset sent as media by link; recorded | [`flows::orangelogic::l5`] |
//! | L6 user-generated content | tagged submission → consent with buttons before storage → upload, moderation | [`flows::orangelogic::l6`] |
//! | L7 policy alert | rejected / blocked / incomplete asset → alert to the owner with the reason | [`flows::orangelogic::l7`] |
//!
//! Every inbound and outbound WhatsApp message is kept per conversation by the
//! [`conversation_store`] (recorded by the dispatcher and the once-only sender).
//! | O2–O8 document flows | capture, status notification, document request, field evidence, compliance archive, exception loop, supplier exchange | [`flows::opentext`] |
//!
//! How an event travels: the WhatsApp webhook ([`whatsapp::WhatsAppWebhook`]) verifies the signature
//! on the raw bytes and writes every event of the POST to the outbox in one transaction; workers
//! claim events (in order per customer) and hand them to [`service::FlowRouter`], which runs the
//! flow. Every external effect is idempotent by an [`IdempotencyKey`](chatport_core::IdempotencyKey)
//! derived from the event, so retries, redeliveries and replays never duplicate a case or a reply.
//!
//! ```no_run
//! # async fn run() -> Result<(), chatport_bridge::Error> {
//! use chatport_bridge::config::{Config, EnvVars};
//! use chatport_bridge::service::Service;
//!
//! let config = Config::load(std::path::Path::new("chatport.toml"))?;
//! let store = chatport_runtime::SqliteStore::open(&config.store.path, Default::default())?;
//! let listener = tokio::net::TcpListener::bind(&config.service.listen).await
//!     .map_err(|e| chatport_bridge::Error::Server(e.to_string()))?;
//! let service = Service::start(&config, &EnvVars, store, listener).await?;
//! tokio::signal::ctrl_c().await.ok();
//! service.stop().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod classify;
pub mod config;
pub mod conversation_store;
mod error;
pub mod flows;
pub mod retention;
pub mod routing;
pub mod service;
pub mod whatsapp;

pub use error::Error;
