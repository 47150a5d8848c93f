//! # chatport-runtime
//!
//! chatport's at-least-once engine: a durable **outbox** (embedded SQLite, group commit), a
//! signed-webhook **ingress** server (axum), leased **workers** with a retry schedule and a
//! dead-letter queue, plus a small durable key-value store and the idempotency ledger for flows.
//! It knows the `chatport-core` contracts and no connector.
//!
//! | Module | What it gives |
//! |---|---|
//! | [`store`] (re-exported here) | [`Outbox`] and [`KvStore`] traits, [`SqliteStore`], row types; `PgStore` with the `postgres` feature |
//! | [`worker`] | [`worker::Handler`], [`worker::RetryPolicy`], [`worker::WorkerPool`], [`worker::drain`] |
//! | [`ingress`] | [`ingress::WebhookAdapter`], [`ingress::router`], [`ingress::serve`] |
//!
//! ## Guarantee
//!
//! **At-least-once**, made effectively-once by idempotent sinks; never exactly-once.
//!
//! 1. Ingress verifies a delivery on its raw bytes, writes every event of the POST in one
//!    transaction (`UNIQUE(source, event_id)` drops redeliveries) and answers 200 only after the
//!    commit is on disk; 503 when the store cannot commit, so the sender retries.
//! 2. Workers claim due rows under a lease, never two rows of one ordering key at once, and
//!    record the handler's [`chatport_core::Outcome`]: done, retry later (schedule or
//!    Retry-After), or dead.
//! 3. Replay puts rows back to pending; safe because handlers are idempotent by key.
//!
//! A runnable sketch: a handler, an outbox in a temporary directory, a worker pool. The same
//! event enqueued twice is stored once and delivered once. (`chatport serve` adds the ingress:
//! [`ingress::router`] with an [`ingress::IngressState`] whose route is a
//! [`ingress::WebhookAdapter`], served by [`ingress::serve`] until the shutdown token is cancelled.)
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//!
//! use chatport_core::{EventId, Outcome};
//! use chatport_runtime::worker::{self, Handler, WorkerConfig, WorkerPool};
//! use chatport_runtime::{NewEvent, Outbox, SqliteOptions, SqliteStore, StoredEvent};
//! use tokio_util::sync::CancellationToken;
//!
//! /// A flow step: must be idempotent per event id (it may run more than once).
//! struct CountDeliveries(AtomicUsize);
//!
//! #[async_trait::async_trait]
//! impl Handler for CountDeliveries {
//!     async fn handle(&self, event: &StoredEvent) -> Outcome {
//!         assert_eq!(event.flow, "O1");
//!         self.0.fetch_add(1, Ordering::SeqCst);
//!         Outcome::delivered()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("outbox.sqlite"), SqliteOptions::default())?;
//! let outbox: Arc<dyn Outbox> = Arc::new(store);
//!
//! let event = || {
//!     NewEvent::new("whatsapp", EventId::new("wamid.A1"), "message", "O1", b"{}".to_vec())
//!         .ordering_key("4915123456789")
//! };
//! let first = outbox.enqueue(vec![event()]).await?;
//! let redelivery = outbox.enqueue(vec![event()]).await?; // Meta redelivers: UNIQUE(source, event_id)
//! assert_eq!((first.inserted, redelivery.duplicates), (1, 1));
//!
//! let handler = Arc::new(CountDeliveries(AtomicUsize::new(0)));
//! let shutdown = CancellationToken::new();
//! let config = WorkerConfig::default().poll_interval(Duration::from_millis(10));
//! let pool = WorkerPool::spawn(outbox.clone(), handler.clone(), config, shutdown.clone());
//! let stats = worker::drain(outbox.as_ref(), Duration::from_secs(10)).await?;
//! shutdown.cancel();
//! pool.join().await;
//! assert_eq!((stats.done, stats.dead), (1, 0));
//! assert_eq!(handler.0.load(Ordering::SeqCst), 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "conformance")]
#[doc(hidden)]
pub mod conformance;
mod error;
pub mod ingress;
pub mod poller;
pub mod store;
pub mod worker;

pub use error::StoreError;

/// Compiles the README's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use store::ResolveRequest;
pub use store::{
    AttemptRecord, Claimed, EnqueueReport, EventFilter, EventStatus, KvStore, LeaseToken, NewEvent,
    Outbox, OutboxStats, Resolution, SCHEMA_VERSION, SqliteOptions, SqliteStore, StatusCounts,
    StoredEvent, UnknownStatus,
};
#[cfg(feature = "postgres")]
pub use store::{PG_SCHEMA_VERSION, PgOptions, PgStore};
