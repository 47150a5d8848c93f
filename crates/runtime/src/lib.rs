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
//! ```no_run
//! use std::sync::Arc;
//! use chatport_runtime::{Outbox, SqliteOptions, SqliteStore};
//! use chatport_runtime::worker::{WorkerConfig, WorkerPool, Handler};
//! use chatport_runtime::ingress::{IngressState, WebhookAdapter, router, serve};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn run(handler: Arc<dyn Handler>, adapter: Arc<dyn WebhookAdapter>) -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::open("chatport.db", SqliteOptions::default())?;
//! let outbox: Arc<dyn Outbox> = Arc::new(store);
//! let shutdown = CancellationToken::new();
//! let pool = WorkerPool::spawn(outbox.clone(), handler, WorkerConfig::default(), shutdown.clone());
//! let app = router(IngressState::new(outbox).route("/webhooks/whatsapp", adapter).notify(pool.notifier()));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! serve(listener, app, shutdown.clone()).await?; // returns after shutdown.cancel()
//! pool.join().await;
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
pub use store::{
    AttemptRecord, Claimed, EnqueueReport, EventFilter, EventStatus, KvStore, LeaseToken, NewEvent,
    Outbox, OutboxStats, Resolution, SCHEMA_VERSION, SqliteOptions, SqliteStore, StatusCounts,
    StoredEvent, UnknownStatus,
};
#[cfg(feature = "postgres")]
pub use store::{PG_SCHEMA_VERSION, PgOptions, PgStore};
