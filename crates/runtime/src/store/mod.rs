//! The durable outbox and key-value store: data types, the [`Outbox`] and [`KvStore`] traits, the
//! embedded SQLite backend [`SqliteStore`], and (cargo feature `postgres`) the PostgreSQL backend
//! `PgStore` in [`postgres`](self#backends) for several replicas sharing one queue.
//!
//! # Backends
//!
//! * [`sqlite`]: one process, one file, group commit. The default.
//! * `postgres` (feature `postgres`): `PgStore`, claims with `FOR UPDATE SKIP LOCKED` and a
//!   per-ordering-key advisory lock; any number of processes share one database.
//!
//! # Row life cycle
//!
//! ```text
//!  enqueue ──► pending ──claim──► in_flight ──resolve(Done)──► done
//!     │           ▲                 │  │
//!     │           └─resolve(Retry)──┘  └──resolve(Dead)──► dead ──purge──► (deleted)
//!     │           ▲  release (no attempt counted)            │
//!     │           └──────────── replay (attempts = 0) ◄──────┘ (also from done)
//!     └─ dead_reason: Some ──► dead
//! ```
//!
//! * `enqueue` writes all rows of one call in **one transaction**; `UNIQUE(source, event_id)`
//!   drops redeliveries (also two equal events inside the same call).
//! * `claim` takes rows that are pending with `next_attempt_at <= now`, or in flight with an
//!   expired lease. Rows that share an `ordering_key` are delivered one at a time in arrival (row
//!   id) order: a keyed row is claimable only when no earlier row of its key is pending or in
//!   flight, and no other row of its key holds a live lease. Dead and done rows never block their
//!   key. Rows without a key are independent.
//! * `resolve` needs the [`LeaseToken`] of the claim; when the row was re-claimed by someone else
//!   (the lease expired), or replayed, the call fails with [`StoreError::LeaseLost`]. A lease that
//!   expired but was not re-claimed is still honoured: the work was done, recording it is better
//!   than redoing it.
//!
//! Every backend must pass the conformance suite (`chatport_runtime::conformance`, feature
//! `conformance`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::EventId;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crate::error::StoreError;
pub use chatport_core::KvStore;

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::{PG_SCHEMA_VERSION, PgOptions, PgStore};
pub use sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStore};

/// An event to write to the outbox, as ingress (or a poller) produced it.
///
/// Build it with [`NewEvent::new`] and the setters:
///
/// ```
/// use chatport_core::EventId;
/// use chatport_runtime::NewEvent;
///
/// let event = NewEvent::new("whatsapp", EventId::new("wamid.1"), "message", "O1", b"{}".to_vec())
///     .ordering_key("16505551234");
/// assert_eq!(event.ordering_key.as_deref(), Some("16505551234"));
/// assert!(event.dead_reason.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Where the event came from (`"whatsapp"`, `"orangelogic"`). Part of the dedup key.
    pub source: String,
    /// Upstream identity, stable across redeliveries. Part of the dedup key `(source, event_id)`.
    pub event_id: EventId,
    /// What happened (`"message"`, `"status"`, `"unparseable"`), for filters and metrics.
    pub kind: String,
    /// The handler route chosen at ingress (a flow name such as `"O1"`).
    pub flow: String,
    /// Events with the same key are delivered one at a time, in arrival order (e.g. the customer's
    /// WhatsApp id). `None`: independent of every other event.
    pub ordering_key: Option<String>,
    /// When the event happened upstream (defaults to now).
    pub occurred_at: DateTime<Utc>,
    /// The event's bytes, stored as given (usually JSON).
    pub payload: Vec<u8>,
    /// `Some(reason)` stores the row directly as dead with `reason` as its last error (a signed
    /// body that does not parse).
    pub dead_reason: Option<String>,
}

impl NewEvent {
    /// A pending event without ordering key, occurred now.
    pub fn new(
        source: impl Into<String>,
        event_id: EventId,
        kind: impl Into<String>,
        flow: impl Into<String>,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            source: source.into(),
            event_id,
            kind: kind.into(),
            flow: flow.into(),
            ordering_key: None,
            occurred_at: Utc::now(),
            payload,
            dead_reason: None,
        }
    }

    /// Sets the ordering key.
    pub fn ordering_key(mut self, key: impl Into<String>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }

    /// Sets or clears the ordering key.
    pub fn with_ordering_key(mut self, key: Option<String>) -> Self {
        self.ordering_key = key;
        self
    }

    /// Sets when the event happened upstream.
    pub fn occurred_at(mut self, at: DateTime<Utc>) -> Self {
        self.occurred_at = at;
        self
    }

    /// Stores the event directly as dead, with `reason` as its last error.
    pub fn dead(mut self, reason: impl Into<String>) -> Self {
        self.dead_reason = Some(reason.into());
        self
    }
}

/// The state of an outbox row.
///
/// Stored as `pending`, `in_flight`, `done`, `dead` ([`EventStatus::as_str`], [`FromStr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventStatus {
    /// Waiting for its `next_attempt_at`.
    Pending,
    /// Claimed by a worker under a lease.
    InFlight,
    /// Delivered (receipt stored).
    Done,
    /// Rejected or exhausted: the dead-letter queue.
    Dead,
}

impl EventStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [EventStatus; 4] = [
        EventStatus::Pending,
        EventStatus::InFlight,
        EventStatus::Done,
        EventStatus::Dead,
    ];

    /// The stored name: `pending`, `in_flight`, `done`, `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::InFlight => "in_flight",
            EventStatus::Done => "done",
            EventStatus::Dead => "dead",
        }
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown [`EventStatus`] name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown event status {0:?} (expected pending, in_flight, done or dead)")]
pub struct UnknownStatus(pub String);

impl FromStr for EventStatus {
    type Err = UnknownStatus;

    /// Parses `pending`, `in_flight` (also `in-flight`, `inflight`), `done`, `dead`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(EventStatus::Pending),
            "in_flight" | "in-flight" | "inflight" => Ok(EventStatus::InFlight),
            "done" => Ok(EventStatus::Done),
            "dead" => Ok(EventStatus::Dead),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// One outbox row.
#[derive(Clone, PartialEq)]
pub struct StoredEvent {
    /// Row id, increasing in arrival order (never reused).
    pub id: i64,
    /// Where the event came from.
    pub source: String,
    /// Upstream identity.
    pub event_id: EventId,
    /// What happened.
    pub kind: String,
    /// The handler route.
    pub flow: String,
    /// Per-key ordering.
    pub ordering_key: Option<String>,
    /// When it happened upstream.
    pub occurred_at: DateTime<Utc>,
    /// When the outbox stored it.
    pub received_at: DateTime<Utc>,
    /// The stored bytes.
    pub payload: Vec<u8>,
    /// Current state.
    pub status: EventStatus,
    /// Delivery attempts started so far (incremented by each claim; reset by replay).
    pub attempts: u32,
    /// Earliest time of the next attempt (meaningful while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// Last failure (retry reason, rejection, exhaustion, or the parse error of an unparseable body).
    pub last_error: Option<String>,
    /// What the handler returned on delivery.
    pub receipt: Option<serde_json::Value>,
    /// Last change of the row.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for StoredEvent {
    /// Leaves out the payload (it may hold phone numbers and message text): shows its length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredEvent")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("event_id", &self.event_id)
            .field("kind", &self.kind)
            .field("flow", &self.flow)
            .field("has_ordering_key", &self.ordering_key.is_some())
            .field("occurred_at", &self.occurred_at)
            .field("received_at", &self.received_at)
            .field("payload_len", &self.payload.len())
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("last_error", &self.last_error)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// Proof that a worker holds a row: the owner name plus a unique claim id (a UUID v4 per `claim`
/// call). A worker whose lease expired and whose row was re-claimed holds a stale token, and
/// [`Outbox::resolve`] / [`Outbox::release`] refuse it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseToken {
    /// The worker (pool) name given to `claim`.
    pub owner: String,
    /// Unique per claim.
    pub claim_id: String,
}

impl LeaseToken {
    /// A fresh token for `owner` with a random claim id.
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            claim_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// A row claimed by a worker, with its lease.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The row as it is after the claim (status in flight, attempts incremented).
    pub event: StoredEvent,
    /// The lease to hand back to `resolve` or `release`.
    pub lease: LeaseToken,
}

/// How a claimed row ends its attempt.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Resolution {
    /// Delivered: the row becomes done with the receipt.
    Done {
        /// What the target returned.
        receipt: Option<serde_json::Value>,
    },
    /// Failed transiently: the row becomes pending again, due at `at`.
    Retry {
        /// When to try again.
        at: DateTime<Utc>,
        /// Why (kept as `last_error` and in the attempt history).
        error: String,
    },
    /// Failed for good: the row becomes dead.
    Dead {
        /// Why.
        error: String,
    },
}

impl Resolution {
    /// The stored outcome name: `done`, `retry`, `dead`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Resolution::Done { .. } => "done",
            Resolution::Retry { .. } => "retry",
            Resolution::Dead { .. } => "dead",
        }
    }
}

/// One entry of an [`Outbox::resolve_many`] batch: the lease of the claim, the row, and how its
/// attempt ended.
///
/// ```
/// use chatport_runtime::{LeaseToken, Resolution, ResolveRequest};
/// let request = ResolveRequest::new(LeaseToken::new("w"), 7, Resolution::Done { receipt: None });
/// assert_eq!(request.row_id, 7);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ResolveRequest {
    /// The lease returned by the claim.
    pub lease: LeaseToken,
    /// The outbox row id.
    pub row_id: i64,
    /// How the attempt ended.
    pub resolution: Resolution,
}

impl ResolveRequest {
    /// A request to resolve `row_id`, held under `lease`, with `resolution`.
    pub fn new(lease: LeaseToken, row_id: i64, resolution: Resolution) -> Self {
        Self {
            lease,
            row_id,
            resolution,
        }
    }
}

/// What one `enqueue` call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnqueueReport {
    /// New rows written (dead ones included).
    pub inserted: u64,
    /// Events dropped because `(source, event_id)` was already stored (or repeated in the call).
    pub duplicates: u64,
    /// Of the inserted rows, how many were stored directly as dead (`dead_reason`).
    pub dead: u64,
}

/// Row counts per status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// Waiting rows.
    pub pending: u64,
    /// Claimed rows.
    pub in_flight: u64,
    /// Delivered rows.
    pub done: u64,
    /// Dead-letter rows.
    pub dead: u64,
}

impl StatusCounts {
    /// The count of one status.
    pub fn get(&self, status: EventStatus) -> u64 {
        match status {
            EventStatus::Pending => self.pending,
            EventStatus::InFlight => self.in_flight,
            EventStatus::Done => self.done,
            EventStatus::Dead => self.dead,
        }
    }

    /// Adds `n` to the count of `status`.
    pub fn add(&mut self, status: EventStatus, n: u64) {
        match status {
            EventStatus::Pending => self.pending += n,
            EventStatus::InFlight => self.in_flight += n,
            EventStatus::Done => self.done += n,
            EventStatus::Dead => self.dead += n,
        }
    }

    /// All rows.
    pub fn total(&self) -> u64 {
        self.pending + self.in_flight + self.done + self.dead
    }
}

/// A snapshot of the outbox: row counts over all flows, per flow, and the oldest unresolved row.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OutboxStats {
    /// Pending rows (including retries scheduled for later).
    pub pending: u64,
    /// Rows claimed by a worker.
    pub in_flight: u64,
    /// Delivered rows.
    pub done: u64,
    /// Dead-letter rows.
    pub dead: u64,
    /// Counts per flow.
    pub by_flow: BTreeMap<String, StatusCounts>,
    /// `received_at` of the first-arrived row not yet resolved (pending or in flight).
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Age of that row when the snapshot was taken.
    pub oldest_pending_age: Option<Duration>,
}

impl OutboxStats {
    /// Nothing pending and nothing in flight (retries scheduled for later count as pending).
    pub fn is_drained(&self) -> bool {
        self.pending == 0 && self.in_flight == 0
    }

    /// The counts over all flows as a [`StatusCounts`].
    pub fn totals(&self) -> StatusCounts {
        StatusCounts {
            pending: self.pending,
            in_flight: self.in_flight,
            done: self.done,
            dead: self.dead,
        }
    }

    /// All rows.
    pub fn total(&self) -> u64 {
        self.totals().total()
    }

    /// Publishes the snapshot as gauges (`metrics` crate): `chatport_outbox_rows{status}` (row
    /// counts), `chatport_outbox_flow_rows{flow, status}`, and
    /// `chatport_outbox_oldest_pending_seconds` (0 when nothing is pending). Call it periodically,
    /// for example from the metrics endpoint.
    pub fn record_metrics(&self) {
        for status in EventStatus::ALL {
            metrics::gauge!("chatport_outbox_rows", "status" => status.as_str())
                .set(self.totals().get(status) as f64);
            for (flow, counts) in &self.by_flow {
                metrics::gauge!(
                    "chatport_outbox_flow_rows",
                    "flow" => flow.clone(),
                    "status" => status.as_str()
                )
                .set(counts.get(status) as f64);
            }
        }
        metrics::gauge!("chatport_outbox_oldest_pending_seconds").set(
            self.oldest_pending_age
                .map(|age| age.as_secs_f64())
                .unwrap_or(0.0),
        );
    }
}

/// Which rows `list`, `replay` and `purge` act on. Empty fields match everything; set fields are
/// combined with AND.
///
/// ```
/// use chatport_runtime::{EventFilter, EventStatus};
/// let dead_o1 = EventFilter::new().status(EventStatus::Dead).flow("O1");
/// assert_eq!(dead_o1.flow.as_deref(), Some("O1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventFilter {
    /// Only rows in this state.
    pub status: Option<EventStatus>,
    /// Only rows of this flow.
    pub flow: Option<String>,
    /// Only rows from this source.
    pub source: Option<String>,
    /// Only rows received at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only rows received strictly before this time (`since..until` is a half-open interval).
    pub until: Option<DateTime<Utc>>,
    /// Only these row ids (empty: any id).
    pub ids: Vec<i64>,
}

impl EventFilter {
    /// Matches every row.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only rows in `status`.
    pub fn status(mut self, status: EventStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only rows of `flow`.
    pub fn flow(mut self, flow: impl Into<String>) -> Self {
        self.flow = Some(flow.into());
        self
    }

    /// Only rows from `source`.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Only rows received at or after `since`.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Only rows received strictly before `until` (for example, dead rows older than 30 days:
    /// `EventFilter::new().status(EventStatus::Dead).until(Utc::now() - Duration::days(30))`).
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Only these row ids.
    pub fn ids(mut self, ids: impl IntoIterator<Item = i64>) -> Self {
        self.ids = ids.into_iter().collect();
        self
    }
}

/// The filter a `purge` runs with: dead rows unless the caller asked for done rows.
///
/// # Errors
/// [`StoreError::Invalid`] for pending or in-flight rows.
pub(crate) fn purge_filter(filter: &EventFilter) -> Result<EventFilter, StoreError> {
    match filter.status {
        None => Ok(filter.clone().status(EventStatus::Dead)),
        Some(EventStatus::Dead | EventStatus::Done) => Ok(filter.clone()),
        Some(status) => Err(StoreError::Invalid(format!(
            "purge removes dead or done rows only, not {status} rows"
        ))),
    }
}

/// One entry of a row's attempt history (written by every `resolve`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttemptRecord {
    /// The outbox row id.
    pub row_id: i64,
    /// The attempt number (the row's `attempts` at resolve time; starts again at 1 after replay).
    pub attempt: u32,
    /// When the attempt was resolved.
    pub at: DateTime<Utc>,
    /// `done`, `retry` or `dead`.
    pub outcome: String,
    /// The error of a retry or dead outcome.
    pub error: Option<String>,
}

/// The durable outbox: at-least-once delivery of stored events to workers.
///
/// Object safe: the runtime passes it around as `Arc<dyn Outbox>`. Semantics in the
/// [module docs](self); every backend must pass `chatport_runtime::conformance`.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Writes all `events` in **one transaction**, durable when this returns `Ok`. Events whose
    /// `(source, event_id)` is already stored, or repeated earlier in `events`, are dropped and
    /// counted as duplicates. `dead_reason: Some` rows are stored as dead.
    ///
    /// # Errors
    /// Any [`StoreError`]; then nothing of the call was stored.
    async fn enqueue(&self, events: Vec<NewEvent>) -> Result<EnqueueReport, StoreError>;

    /// Claims up to `max` due rows for `owner` for `lease` (see the module docs for which rows),
    /// in arrival order; increments their `attempts`.
    ///
    /// # Errors
    /// Any [`StoreError`]; then nothing was claimed.
    async fn claim(
        &self,
        owner: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Ends the attempt on a claimed row and appends to its attempt history.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`] when `lease` no longer holds the row; any other [`StoreError`].
    async fn resolve(
        &self,
        lease: &LeaseToken,
        row_id: i64,
        resolution: Resolution,
    ) -> Result<(), StoreError>;

    /// Resolves many claimed rows at once: the same effect as one [`Outbox::resolve`] per entry,
    /// but in as few store transactions as the backend can (one on SQLite and PostgreSQL). The
    /// answer has one result per request, in request order; a [`StoreError::LeaseLost`] for one
    /// row does not fail the others. The default calls `resolve` once per entry.
    ///
    /// # Durability
    /// Like `claim`, `resolve` and `release`, a resolution need not be on disk when this returns
    /// (the SQLite store commits outcome-only batches without waiting for their fsync, the
    /// PostgreSQL store with `synchronous_commit = off`): a crash of the machine may forget it,
    /// and the row is then delivered again after its lease, which idempotent sinks absorb. Every
    /// later durable commit (an enqueue) makes it durable too. See `docs/architecture.md`,
    /// "Throughput".
    async fn resolve_many(&self, requests: Vec<ResolveRequest>) -> Vec<Result<(), StoreError>> {
        let mut results = Vec::with_capacity(requests.len());
        for request in requests {
            results.push(
                self.resolve(&request.lease, request.row_id, request.resolution)
                    .await,
            );
        }
        results
    }

    /// Extends the leases of rows still being worked on: every `(lease, row_id)` whose row is
    /// still in flight under that lease gets `lease_expires_at = now + lease`, in one store
    /// transaction. Returns the ids of the rows renewed; a row missing from the answer was lost
    /// (resolved, released, reaped or claimed by another worker) and its attempt must stop.
    ///
    /// The worker pool calls this every third of the lease for all its running attempts, so an
    /// attempt slowed by vendor rate limits or a loaded machine keeps its row instead of being
    /// taken over mid-request (which would leave a non-idempotent send in doubt), while the
    /// lease of a crashed process still expires on time.
    ///
    /// # Errors
    /// A store failure; the leases then run out at their previous expiry. The default answers
    /// [`StoreError::Invalid`] (the backend cannot renew; attempts end at their first expiry).
    async fn renew_many(
        &self,
        held: Vec<(LeaseToken, i64)>,
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let _ = (held, lease);
        Err(StoreError::Invalid(
            "this outbox cannot renew leases".into(),
        ))
    }

    /// Gives a claimed row back untouched (shutdown before the attempt started): pending again,
    /// due now, and the claim's attempt is not counted.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`] when `lease` no longer holds the row; any other [`StoreError`].
    async fn release(&self, lease: &LeaseToken, row_id: i64) -> Result<(), StoreError>;

    /// Relabels an in-flight row with the flow that handles it. A dispatcher that routes a generic
    /// event (an inbound WhatsApp message) to a flow at processing time calls this, so that retries
    /// go straight to that flow and per-flow counts, filters and replays see the real flow. Only the
    /// holder of the row's lease should call it.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`] when the row is not in flight; any other [`StoreError`].
    async fn set_flow(&self, row_id: i64, flow: &str) -> Result<(), StoreError>;

    /// Counts per status and per flow, and the oldest unresolved row.
    ///
    /// # Errors
    /// Any [`StoreError`].
    async fn stats(&self) -> Result<OutboxStats, StoreError>;

    /// Rows matching `filter`, by ascending id, at most `limit`.
    ///
    /// # Errors
    /// Any [`StoreError`].
    async fn list(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// How many rows match `filter`. The SQLite and PostgreSQL stores answer with one `COUNT(*)`
    /// query; the default loads the matching rows through [`Outbox::list`], so other backends
    /// should override it.
    ///
    /// # Errors
    /// Any [`StoreError`].
    async fn count(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        let rows = self.list(filter, usize::MAX).await?;
        Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
    }

    /// One row by id.
    ///
    /// # Errors
    /// Any [`StoreError`].
    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError>;

    /// The attempt history of a row, oldest first.
    ///
    /// # Errors
    /// Any [`StoreError`].
    async fn attempts(&self, id: i64) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Puts matching rows back to pending, `attempts` 0, due now, and returns how many. Rows in
    /// flight are never touched (their lease holder finishes them). Safe because sinks are
    /// idempotent by key.
    ///
    /// # Errors
    /// Any [`StoreError`].
    async fn replay(&self, filter: &EventFilter) -> Result<u64, StoreError>;

    /// Deletes matching rows in a final state (and their attempt history) and returns how many:
    /// **dead** rows (the dead-letter queue) when `filter.status` is unset or
    /// [`EventStatus::Dead`], **done** rows when it is [`EventStatus::Done`] (retention: a done
    /// row's payload is personal data, and its `(source, event_id)` stops guarding against a
    /// redelivery once deleted). Pending and in-flight rows are never deleted.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when `filter.status` is pending or in flight; any other
    /// [`StoreError`].
    async fn purge(&self, filter: &EventFilter) -> Result<u64, StoreError>;

    /// Cheap liveness probe for `/readyz`. The default asks for [`Outbox::stats`].
    ///
    /// # Errors
    /// Any [`StoreError`].
    async fn ping(&self) -> Result<(), StoreError> {
        self.stats().await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for status in EventStatus::ALL {
            assert_eq!(status.as_str().parse::<EventStatus>(), Ok(status));
        }
        assert!("lost".parse::<EventStatus>().is_err());
    }

    #[test]
    fn debug_hides_payload() {
        let now = Utc::now();
        let event = StoredEvent {
            id: 1,
            source: "s".into(),
            event_id: EventId::new("e"),
            kind: "k".into(),
            flow: "f".into(),
            ordering_key: Some("+16505551234".into()),
            occurred_at: now,
            received_at: now,
            payload: b"hello +16505551234".to_vec(),
            status: EventStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            receipt: None,
            updated_at: now,
        };
        let shown = format!("{event:?}");
        assert!(!shown.contains("5551234"), "{shown}");
        assert!(shown.contains("payload_len: 18"));
    }
}
