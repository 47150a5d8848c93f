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
//! | O2–O5, O7, O8 document flows | capture, status notification, document request, field evidence, exception loop, supplier exchange | [`flows::opentext`] |
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
mod error;
pub mod flows;
pub mod routing;
pub mod service;
pub mod whatsapp;

pub use error::Error;
