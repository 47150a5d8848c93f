//! # chatport
//!
//! Facade re-exporting the chatport crates, one feature per connector: WhatsApp Business Cloud API
//! joined to OpenText CMS/CSS, Orange Logic OrangeDAM and Creatio, through an at-least-once
//! runtime (a durable outbox, idempotent effects).
//!
//! | Module | Crate | Feature |
//! |---|---|---|
//! | [`core`] | `chatport-core`: `EventId`, `IdempotencyKey`, `Envelope`, `Classify`, `Outcome` | always |
//! | `whatsapp` | `chatport-whatsapp`: Cloud API client, webhook verification and parsing | `whatsapp` |
//! | `opentext` | `chatport-opentext`: CMS + CSS client | `opentext` |
//! | `orangelogic` | `chatport-orangelogic`: OrangeDAM client | `orangelogic` |
//! | `creatio` | `chatport-creatio`: OData 4 client | `creatio` |
//! | `assistant` | `chatport-assistant`: classification and the handoff summary (traits, rule-based defaults) | `assistant` |
//! | `runtime` | `chatport-runtime`: outbox (SQLite), ingress, workers, pollers; `PgStore` with `postgres` | `runtime`, `postgres`, `postgres-tls` |
//! | `bridge` | `chatport-bridge`: the flows O1–O8, L1–L7, C1–C5 and the service | `bridge` |
//! | [`prelude`] | what public signatures use: `SecretString`, `IdempotencyKey`, `Sink`, `Source`, stream extensions, `Uuid`, and each enabled connector's sinks, sources and header names | always |
//!
//! The connectors (and `rustls`, `assistant`) are on by default; the runtime, PostgreSQL and the
//! bridge are opt-in, so a plain dependency builds no database driver. A service that only needs
//! one connector depends on its crate (or on this one with `default-features = false` and that
//! feature):
//!
//! ```toml
//! chatport = { version = "0.1", default-features = false, features = ["rustls", "whatsapp"] }
//! ```
//!
//! [`secrecy`], [`futures`], [`async_trait`] and [`uuid`] are re-exported at the root, so
//! building a client, draining a stream, writing a sink or naming a Creatio record needs no
//! dependency of its own. `examples/` has one program
//! per client crate and per flow family, each runnable with `cargo run --example NAME` against the
//! testkit's emulators.
//!
//! A reply to a WhatsApp message, sent once per idempotency key, runnable here against the
//! testkit's Graph emulator:
//!
//! ```
//! use chatport::core::{EventId, IdempotencyKey};
//! use chatport::whatsapp::{Client, OutgoingMessage, Recipient};
//! use chatport_testkit::graph::GraphEmulator;
//! use secrecy::SecretString;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let graph = GraphEmulator::start().await?;
//! let client = Client::builder()
//!     .access_token(SecretString::from(graph.access_token().to_owned()))
//!     .base_url(&graph.base_url())
//!     .build()?;
//! let inbound = EventId::new("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdC");
//! let key = IdempotencyKey::derive("O1", "reply", &inbound);
//! let reply = OutgoingMessage::text(Recipient::phone("+16505551234"), "Case CASE-1042 is open.")
//!     .biz_opaque_callback_data(key.as_str()); // Meta echoes it in the status webhook
//! let accepted = client.send("106540352242922", &reply).await?;
//! assert!(accepted.wamid().is_some());
//! assert_eq!(graph.sent().len(), 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use async_trait;
pub use futures;
pub use secrecy;
pub use uuid;

#[cfg(feature = "assistant")]
pub use chatport_assistant as assistant;
#[cfg(feature = "bridge")]
pub use chatport_bridge as bridge;
pub use chatport_core as core;
#[cfg(feature = "creatio")]
pub use chatport_creatio as creatio;
#[cfg(feature = "opentext")]
pub use chatport_opentext as opentext;
#[cfg(feature = "orangelogic")]
pub use chatport_orangelogic as orangelogic;
#[cfg(feature = "runtime")]
pub use chatport_runtime as runtime;
#[cfg(feature = "whatsapp")]
pub use chatport_whatsapp as whatsapp;

/// What public signatures use, in one import: `use chatport::prelude::*;`.
///
/// The contracts of `chatport-core` ([`EventId`](crate::core::EventId),
/// [`IdempotencyKey`](crate::core::IdempotencyKey), [`Sink`](crate::core::Sink),
/// [`Source`](crate::core::Source), [`Classify`](crate::core::Classify),
/// [`ErrorClass`](crate::core::ErrorClass), [`Outcome`](crate::core::Outcome)), the secret type
/// every client builder takes ([`SecretString`](secrecy::SecretString) and
/// [`ExposeSecret`](secrecy::ExposeSecret)), the stream extension traits the paging listings
/// are drained with ([`StreamExt`](futures::StreamExt), [`TryStreamExt`](futures::TryStreamExt)),
/// [`async_trait`](async_trait::async_trait) for implementing a sink or a source, and
/// [`Uuid`](uuid::Uuid) (Creatio record ids).
///
/// From the crate prelude of each enabled connector (`chatport::whatsapp::prelude`, …), the
/// names that are unique across connectors: the sinks, sources and webhook adapters and their
/// builders, and the WhatsApp header names. `Client`, `ClientBuilder`, `Error`, `Listing` and
/// `Query` exist in several connectors and are left out so that no two names clash: name them
/// through the connector (`chatport::whatsapp::Client`), or import that connector's prelude
/// alone (`use chatport::whatsapp::prelude::*;`).
///
/// ```
/// use chatport::prelude::*;
///
/// let key = IdempotencyKey::derive("O1", "reply", &EventId::new("wamid.HBgLMTY1"));
/// let token = SecretString::from("EAAJB-token".to_owned());
/// assert_eq!(token.expose_secret(), "EAAJB-token");
/// let pages = chatport::futures::stream::iter([Ok::<_, std::io::Error>(1), Ok(2)]);
/// let all: Vec<u32> = chatport::futures::executor::block_on(pages.try_collect()).unwrap();
/// assert_eq!(all, [1, 2]);
/// assert_eq!(Uuid::nil().to_string().len(), 36);
/// assert!(!key.as_str().is_empty());
/// # #[cfg(feature = "whatsapp")]
/// assert_eq!(SIGNATURE_HEADER, "x-hub-signature-256");
/// ```
pub mod prelude {
    pub use crate::core::{Classify, ErrorClass, EventId, IdempotencyKey, Outcome, Sink, Source};
    pub use async_trait::async_trait;
    pub use futures::{StreamExt as _, TryStreamExt as _};
    pub use secrecy::{ExposeSecret, SecretString};
    pub use uuid::Uuid;

    #[cfg(feature = "creatio")]
    pub use chatport_creatio::prelude::{
        ActivitySource, ActivitySourceBuilder, EntitySink, EntitySinkBuilder,
    };
    #[cfg(feature = "opentext")]
    pub use chatport_opentext::prelude::{
        DocumentSink, DocumentSinkBuilder, InstanceSink, InstanceSinkBuilder, StatusSource,
        StatusSourceBuilder,
    };
    #[cfg(feature = "orangelogic")]
    pub use chatport_orangelogic::prelude::{
        AssetSearchSource, AssetSink, AssetSinkBuilder, AssetWebhook, MetadataSink,
    };
    #[cfg(feature = "whatsapp")]
    pub use chatport_whatsapp::prelude::{
        BUSINESS_USE_CASE_USAGE_HEADER, MessageSink, MessageSinkBuilder, SIGNATURE_HEADER,
        SignatureVerifier, WhatsAppWebhook,
    };
}
