//! # chatport-core
//!
//! The small, stable contracts every chatport crate shares. No HTTP client and no async runtime live
//! here: connector crates (`chatport-whatsapp`, `chatport-opentext`, ...) implement these traits, the
//! runtime (`chatport-runtime`) moves [`Envelope`]s through a durable outbox, and the bridge composes
//! them into flows.
//!
//! | Item | What it is |
//! |---|---|
//! | [`EventId`] | Upstream identity of an event, stable across redeliveries (a WhatsApp wamid, ...) |
//! | [`IdempotencyKey`] | `derive(flow, step, &EventId)`: the same event gives the same key on every retry and replay |
//! | [`Envelope`] | An event with its source, kind, timestamps and ordering key |
//! | [`Checkpoint`] | Opaque resume position of a pull [`Source`] |
//! | [`Source`] / [`Sink`] | Where events come from / where effects go, idempotent by key |
//! | [`ErrorClass`] / [`Classify`] | How every connector error says whether and when to retry |
//! | [`Outcome`] | How one delivery attempt ended: delivered, retry later, or rejected (dead-letter) |
//! | [`IdempotencyLedger`] | Durable key → receipt ledger for sinks without a server-side idempotency key |
//! | [`KvStore`] / [`StateError`] | Durable namespaced key-value state (checkpoints, conversation state) and its error |
//! | [`webhook`] | [`WebhookAdapter`](webhook::WebhookAdapter): a push source's handshake, verification and parse into envelopes |
//! | [`sink::KeyLocks`] | Per-key async locks that make a sink's find-then-create atomic within a process |
//! | `conformance` (feature) | The sink conformance suite every connector's sinks run against their emulator |
//! | [`Listing`] ([`paging`]) | The one paging shape of every connector: `.pages()` and `.items()`, both `Unpin` streams of `Result` |
//! | [`open_enum!`] | Open enums of vendor values: known variants plus `Unknown(String)`, as wire strings |
//! | [`redact`] | Masking of phone numbers and message text before they reach logs |
//! | [`telemetry`] | The connector request metrics (`chatport_connector_requests_total`, `…_duration_seconds`) |
//!
//! The delivery guarantee chatport gives is **at-least-once**, made effectively-once by idempotent
//! sinks. It never claims exactly-once.
//!
//! ```
//! use chatport_core::{EventId, IdempotencyKey};
//!
//! let event = EventId::new("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTdCNTg5RjY1MzQ4RjM2QzU3MQA=");
//! let first = IdempotencyKey::derive("O1", "create_case", &event);
//! let again = IdempotencyKey::derive("O1", "create_case", &event);
//! assert_eq!(first, again);
//! assert_ne!(first, IdempotencyKey::derive("O1", "reply", &event));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "conformance")]
pub mod conformance;
mod envelope;
mod error;
mod id;
mod ledger;
pub mod limit;
mod open_enum;
mod outcome;
pub mod paging;
pub mod redact;
pub mod sink;
mod state;
pub mod telemetry;
mod traits;
pub mod transfer;
pub mod webhook;

pub use envelope::{Checkpoint, Envelope};
pub use error::{Classify, ErrorClass};
pub use id::{EventId, IdempotencyKey, InvalidId};
pub use ledger::{IdempotencyLedger, LedgerEntry};
pub use limit::RateBudget;
pub use outcome::Outcome;
pub use paging::Listing;
pub use state::{KvStore, StateError};
pub use traits::{Sink, Source, SourceStream};

/// What [`open_enum!`] expands to refers to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
}
