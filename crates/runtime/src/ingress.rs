//! Webhook ingress: an axum router that verifies, parses and durably stores webhook deliveries
//! before it acknowledges them.
//!
//! For each route (a path, a [`WebhookAdapter`] from a connector crate, and the [`Flows`] its
//! envelopes go to):
//!
//! | Request | Answer |
//! |---|---|
//! | `GET` | [`WebhookAdapter::handshake`] with the query: 200 `text/plain` challenge; refused → 403; not supported → 405 |
//! | `POST`, `Content-Length` over the body limit (default 3 MiB) | 413 before the body is read, nothing stored |
//! | `POST`, the outbox is over its high-water mark ([`Backpressure`], off by default) | 503 with `Retry-After` before the body is read, nothing stored |
//! | `POST`, the [`BodyBudget`] (bodies held in memory at once, default 64 MiB) cannot take this body | 503 with `Retry-After` before the body is read, nothing stored |
//! | `POST`, body over the limit without `Content-Length` (chunked) | 413, nothing read past the limit, nothing stored |
//! | `POST`, the body is not complete within the body read timeout (default 30 s) | 408 and the connection closed, nothing stored |
//! | `POST`, [`WebhookAdapter::verify`] fails (it sees the raw bytes, the path, the headers and the peer) | 401, nothing stored |
//! | `POST`, verified, parsed | one row per envelope and flow, plus one dead row per [`Unreadable`] part, in **one** [`Outbox::enqueue`], then 200 `{"received":n,"inserted":i,"duplicates":d,"dead":u}` |
//! | `POST`, verified, does not parse | one dead row (kind [`UNPARSEABLE_KIND`], flow [`UNPARSEABLE_FLOW`], event id `EventId::from_content(body)` so redeliveries dedupe, payload = the raw body, last error = the parse error), then 200 |
//! | `POST`, the store cannot commit | 503, so the sender delivers again later |
//!
//! Plus `GET /healthz` (200 `ok` while the process serves) and `GET /readyz` (200 `ready` when the
//! store answers [`Outbox::ping`], 503 otherwise).
//!
//! The 200 is sent only after the commit, so an acknowledged event is never lost (see the
//! `synchronous=FULL` note of [`SqliteStore`](crate::SqliteStore)); a 503 or a dropped connection
//! makes the sender retry, and the outbox's `UNIQUE(source, event_id)` drops the redelivery.
//!
//! [`serve`] / [`serve_with`] drive the router over HTTP/1.1 (hyper) so that no client can wedge
//! the process: a connection that has not sent a complete request head within
//! [`ServeOptions::header_read_timeout`] (default 10 s; this also closes silent and idle
//! keep-alive connections) is closed, and after the shutdown token is cancelled the connections
//! still open after [`ServeOptions::shutdown_timeout`] (default 10 s) are closed and `serve`
//! returns. A request cut that way never got its 200: its events are either committed (and a
//! redelivery is dropped as a duplicate) or not stored, never acknowledged and lost.
//!
//! Metrics (`metrics` crate): `chatport_webhooks_received_total{source}` per POST,
//! `chatport_webhooks_rejected_total{source, reason}` (`too_large`, `bad_body`, `body_timeout`,
//! `memory`, `signature`, `store`), `chatport_events_received_total{source, kind}` per event of a
//! verified POST, `chatport_events_duplicate_total{source}`,
//! `chatport_ingress_body_bytes_in_use` (gauge: bytes of the [`BodyBudget`] held by requests in
//! progress); with [`Backpressure`] on, each refreshed stats snapshot is also published
//! ([`OutboxStats::record_metrics`](crate::OutboxStats::record_metrics)) and a refused POST counts
//! as `chatport_webhooks_rejected_total{reason="backpressure"}`. Logs carry sizes and counts,
//! never bodies.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chatport_core::{Envelope, EventId};
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::{RequestBodyTimeout, TimeoutError};

pub use chatport_core::webhook::{
    HandshakeError, ParseFailure, Unreadable, VerifyError, WebhookAdapter, WebhookBatch,
    WebhookRequest,
};

use crate::store::{NewEvent, Outbox};

/// The `kind` of the dead row stored for a verified body that does not parse.
pub const UNPARSEABLE_KIND: &str = "unparseable";
/// The `flow` of the dead row stored for a verified body that does not parse.
pub const UNPARSEABLE_FLOW: &str = "ingress";
/// The default body limit: 3 MiB (WhatsApp documents deliveries of up to 3 MB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// The default [`BodyBudget`]: 64 MiB of request bodies held in memory at once (21 bodies of the
/// maximum size).
pub const DEFAULT_BODY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// The default body read timeout: 30 s from the end of the request head to the last body byte.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default header read timeout: 10 s for a complete request head (see [`ServeOptions`]).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default shutdown deadline: connections still open 10 s after shutdown was asked are closed
/// (see [`ServeOptions`]).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A budget of request-body bytes held in memory at once, shared by every route of one router.
///
/// Bodies are buffered whole before the signature check (the signature covers the raw bytes), so
/// without a bound many concurrent large deliveries could take the process's memory. Before it
/// reads a body, a `POST` reserves its `Content-Length` (the body limit when there is none, e.g.
/// chunked) from the budget without waiting; when the budget cannot take it the ingress answers
/// `503 Service Unavailable` with `Retry-After` ([`BodyBudget::retry_after`], default 1 s) and
/// counts `chatport_webhooks_rejected_total{reason="memory"}`; the sender delivers again later.
/// The reservation is held until the answer (through the signature check, parsing and the store
/// commit) and then released.
///
/// A reservation is at most the whole budget (so one body of the maximum size always fits into an
/// idle budget even when the budget is smaller than the body limit), and at most 4 GiB. The
/// budget counts body bytes; while a body is processed the process briefly holds more (the
/// received chunks, the contiguous copy the signature is checked on, the parsed rows): about
/// 1.5 × the budget above the baseline at the peak in the measurement of `docs/operations.md`.
///
/// ```
/// use std::time::Duration;
/// use chatport_runtime::ingress::BodyBudget;
///
/// let budget = BodyBudget::new(64 * 1024 * 1024).retry_after(Duration::from_secs(2));
/// assert_eq!(budget.capacity(), 64 * 1024 * 1024);
/// assert_eq!(budget.in_use(), 0);
/// ```
#[derive(Clone)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    capacity: usize,
    retry_after: Duration,
}

impl fmt::Debug for BodyBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyBudget")
            .field("capacity", &self.capacity)
            .field("in_use", &self.in_use())
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(DEFAULT_BODY_BUDGET_BYTES)
    }
}

impl BodyBudget {
    /// A budget of `bytes` (at least 1, at most 4 GiB), `Retry-After` 1 s.
    pub fn new(bytes: usize) -> Self {
        let capacity = bytes
            .clamp(1, u32::MAX as usize)
            .min(Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            retry_after: Duration::from_secs(1),
        }
    }

    /// Sets the `Retry-After` of the 503 (whole seconds, at least 1).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// The budget in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes reserved by requests in progress.
    pub fn in_use(&self) -> usize {
        self.capacity
            .saturating_sub(self.permits.available_permits())
    }

    /// Reserves `bytes` (at most the whole budget) now, or `None` when the budget cannot take
    /// them.
    fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        let bytes = bytes.clamp(1, self.capacity);
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.permits).try_acquire_many_owned(n).ok()?;
        self.publish();
        Some(Reservation {
            permit: Some(permit),
            budget: self.clone(),
        })
    }

    fn publish(&self) {
        metrics::gauge!("chatport_ingress_body_bytes_in_use").set(self.in_use() as f64);
    }

    fn refusal(&self) -> Response {
        let secs = self.retry_after.as_secs().max(1);
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, secs.to_string())],
            "too many webhook bodies in memory; retry later",
        )
            .into_response()
    }
}

/// Bytes of a [`BodyBudget`] held by one request; released (and the gauge updated) on drop.
struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    budget: BodyBudget,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.budget.publish();
    }
}

/// The ingress high-water marks: past them a `POST` is answered `503 Service Unavailable` with
/// `Retry-After`, so the sender (Meta retries for up to 7 days) delivers again later instead of
/// growing an outbox the workers cannot drain. Off by default (both limits `None`).
///
/// The check is cheap: it reads a cached [`OutboxStats`](crate::OutboxStats) snapshot, refreshed by at most one
/// request at a time and at most every [`Backpressure::refresh`]; the other requests meanwhile use
/// the previous snapshot. A request that finds no snapshot yet (or a store that cannot answer the
/// stats query) is let through: store failures are answered by the enqueue itself.
///
/// * depth: refused while the snapshot shows **more than** `max_pending` pending rows (rows
///   waiting for a first attempt or for a scheduled retry; rows in flight do not count);
/// * age: refused while the oldest unresolved row (pending or in flight) was received more than
///   `max_pending_age` ago (measured from the snapshot's `oldest_pending_at` to now).
///
/// ```
/// use std::time::Duration;
/// use chatport_runtime::ingress::Backpressure;
///
/// let bp = Backpressure::new()
///     .max_pending(50_000)
///     .max_pending_age(Duration::from_secs(300))
///     .refresh(Duration::from_millis(250));
/// assert!(bp.is_enabled());
/// assert!(!Backpressure::new().is_enabled());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backpressure {
    /// Most pending rows before POSTs are refused. `None`: no depth limit.
    pub max_pending: Option<u64>,
    /// Oldest unresolved row's greatest age before POSTs are refused. `None`: no age limit.
    pub max_pending_age: Option<Duration>,
    /// Longest time a stats snapshot is reused before one request refreshes it. Default 250 ms.
    pub refresh: Duration,
    /// The `Retry-After` sent with the 503, in whole seconds (at least 1). Default 5 s.
    pub retry_after: Duration,
}

impl Default for Backpressure {
    fn default() -> Self {
        Self {
            max_pending: None,
            max_pending_age: None,
            refresh: Duration::from_millis(250),
            retry_after: Duration::from_secs(5),
        }
    }
}

impl Backpressure {
    /// No limits (off), refresh 250 ms, Retry-After 5 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`Backpressure::max_pending`].
    pub fn max_pending(mut self, max: u64) -> Self {
        self.max_pending = Some(max);
        self
    }

    /// Sets [`Backpressure::max_pending_age`].
    pub fn max_pending_age(mut self, age: Duration) -> Self {
        self.max_pending_age = Some(age);
        self
    }

    /// Sets [`Backpressure::refresh`] (`Duration::ZERO`: every request refreshes unless another
    /// refresh is running).
    pub fn refresh(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// Sets [`Backpressure::retry_after`].
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// Whether any limit is set.
    pub fn is_enabled(&self) -> bool {
        self.max_pending.is_some() || self.max_pending_age.is_some()
    }

    /// Why a snapshot is over the marks (`"depth"` or `"age"`), if it is.
    fn over(&self, snapshot: &Snapshot) -> Option<&'static str> {
        if let Some(max) = self.max_pending
            && snapshot.pending > max
        {
            return Some("depth");
        }
        if let (Some(max), Some(oldest)) = (self.max_pending_age, snapshot.oldest_pending_at) {
            let age = (Utc::now() - oldest).to_std().unwrap_or_default();
            if age > max {
                return Some("age");
            }
        }
        None
    }
}

#[derive(Clone, Copy, Debug)]
struct Snapshot {
    taken: Instant,
    pending: u64,
    oldest_pending_at: Option<DateTime<Utc>>,
}

/// The cached stats snapshot behind [`Backpressure`], shared by every route of one router.
struct Gate {
    config: Backpressure,
    outbox: Arc<dyn Outbox>,
    cache: Mutex<Option<Snapshot>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Gate {
    fn cached(&self) -> Option<Snapshot> {
        match self.cache.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn store(&self, snapshot: Snapshot) {
        match self.cache.lock() {
            Ok(mut guard) => *guard = Some(snapshot),
            Err(poisoned) => *poisoned.into_inner() = Some(snapshot),
        }
    }

    fn is_fresh(&self, snapshot: &Option<Snapshot>) -> bool {
        snapshot.is_some_and(|s| s.taken.elapsed() < self.config.refresh)
    }

    /// The current snapshot: the cached one while fresh; otherwise this request refreshes it,
    /// unless another request is already doing so (then the stale one, or none, is used).
    async fn snapshot(&self) -> Option<Snapshot> {
        let cached = self.cached();
        if self.is_fresh(&cached) {
            return cached;
        }
        let Ok(_guard) = self.refreshing.try_lock() else {
            return cached;
        };
        let cached = self.cached();
        if self.is_fresh(&cached) {
            return cached;
        }
        match self.outbox.stats().await {
            Ok(stats) => {
                stats.record_metrics();
                let snapshot = Snapshot {
                    taken: Instant::now(),
                    pending: stats.pending,
                    oldest_pending_at: stats.oldest_pending_at,
                };
                self.store(snapshot);
                Some(snapshot)
            }
            Err(error) => {
                tracing::warn!(%error, "backpressure: outbox stats unavailable; not refusing");
                cached
            }
        }
    }

    /// `Some(reason)` when the POST must be refused.
    async fn check(&self) -> Option<&'static str> {
        let snapshot = self.snapshot().await?;
        self.config.over(&snapshot)
    }

    fn refusal(&self) -> Response {
        let secs = self.config.retry_after.as_secs().max(1);
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, secs.to_string())],
            "outbox over its high-water mark; retry later",
        )
            .into_response()
    }
}

/// Which flow each envelope of a route goes to: the adapter knows its vendor, the caller that
/// mounts it knows the flows.
///
/// ```
/// use chatport_runtime::ingress::Flows;
/// // WhatsApp: messages to the inbound router, statuses and errors to their recorders.
/// let whatsapp = Flows::by_kind(
///     [("message", "whatsapp.inbound"), ("status", "whatsapp.status")],
///     "whatsapp.other",
/// );
/// assert_eq!(whatsapp.flows_for("status"), vec!["whatsapp.status".to_owned()]);
/// assert_eq!(whatsapp.flows_for("system"), vec!["whatsapp.other".to_owned()]);
/// // One asset event handled by two flows: one row per flow.
/// let dam = Flows::fan_out(["L1", "L3"]);
/// assert_eq!(dam.flows_for("asset.created").len(), 2);
/// ```
#[derive(Clone)]
pub struct Flows(FlowRule);

/// A caller's rule from an envelope kind to its flows.
type FlowFn = dyn Fn(&str) -> Vec<String> + Send + Sync;

#[derive(Clone)]
enum FlowRule {
    One(String),
    ByKind(HashMap<String, String>, String),
    FanOut(Vec<String>),
    Custom(Arc<FlowFn>),
}

impl fmt::Debug for Flows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            FlowRule::One(flow) => f.debug_tuple("Flows::one").field(flow).finish(),
            FlowRule::ByKind(map, default) => f
                .debug_struct("Flows::by_kind")
                .field("kinds", map)
                .field("default", default)
                .finish(),
            FlowRule::FanOut(flows) => f.debug_tuple("Flows::fan_out").field(flows).finish(),
            FlowRule::Custom(_) => f.write_str("Flows::custom(..)"),
        }
    }
}

impl Flows {
    /// Every envelope goes to `flow`.
    pub fn one(flow: impl Into<String>) -> Self {
        Self(FlowRule::One(flow.into()))
    }

    /// An envelope goes to the flow its `kind` maps to, else to `default`.
    pub fn by_kind<K: Into<String>, F: Into<String>>(
        kinds: impl IntoIterator<Item = (K, F)>,
        default: impl Into<String>,
    ) -> Self {
        Self(FlowRule::ByKind(
            kinds
                .into_iter()
                .map(|(k, f)| (k.into(), f.into()))
                .collect(),
            default.into(),
        ))
    }

    /// Every envelope is stored once per flow in `flows` (event id `{id}:{flow}`, so each flow
    /// dedupes its own redeliveries); an empty list stores nothing.
    pub fn fan_out<F: Into<String>>(flows: impl IntoIterator<Item = F>) -> Self {
        Self(FlowRule::FanOut(
            flows.into_iter().map(Into::into).collect(),
        ))
    }

    /// The flows of an envelope are what `rule` answers for its kind; more than one fans out as
    /// [`Flows::fan_out`] does.
    pub fn custom(rule: impl Fn(&str) -> Vec<String> + Send + Sync + 'static) -> Self {
        Self(FlowRule::Custom(Arc::new(rule)))
    }

    /// The flows an envelope of `kind` goes to.
    pub fn flows_for(&self, kind: &str) -> Vec<String> {
        match &self.0 {
            FlowRule::One(flow) => vec![flow.clone()],
            FlowRule::ByKind(map, default) => {
                vec![map.get(kind).unwrap_or(default).clone()]
            }
            FlowRule::FanOut(flows) => flows.clone(),
            FlowRule::Custom(rule) => rule(kind),
        }
    }

    /// The outbox rows of `batch`: one per envelope and flow (fanned-out rows get the event id
    /// `{id}:{flow}`), then one dead row per unreadable part (source `source`, kind
    /// [`UNPARSEABLE_KIND`], flow [`UNPARSEABLE_FLOW`], occurred at `received_at`).
    pub fn rows(
        &self,
        source: &str,
        received_at: DateTime<Utc>,
        batch: WebhookBatch,
    ) -> Vec<NewEvent> {
        let mut rows = Vec::with_capacity(batch.events.len() + batch.unreadable.len());
        for envelope in batch.events {
            let flows = self.flows_for(&envelope.kind);
            rows.extend(envelope_rows(envelope, flows));
        }
        for part in batch.unreadable {
            rows.push(
                NewEvent::new(
                    source,
                    part.id,
                    UNPARSEABLE_KIND,
                    UNPARSEABLE_FLOW,
                    part.raw,
                )
                .occurred_at(received_at)
                .dead(part.reason),
            );
        }
        rows
    }
}

fn envelope_rows(envelope: Envelope<Vec<u8>>, flows: Vec<String>) -> Vec<NewEvent> {
    let fan_out = flows.len() > 1;
    let mut rows = Vec::with_capacity(flows.len());
    let count = flows.len();
    let mut payload = Some(envelope.payload);
    for (i, flow) in flows.into_iter().enumerate() {
        let bytes = if i + 1 == count {
            payload.take().unwrap_or_default()
        } else {
            payload.clone().unwrap_or_default()
        };
        let id = if fan_out {
            EventId::new(format!("{}:{flow}", envelope.id))
        } else {
            envelope.id.clone()
        };
        let mut row = NewEvent::new(
            envelope.source.to_string(),
            id,
            envelope.kind.to_string(),
            flow,
            bytes,
        )
        .occurred_at(envelope.occurred_at);
        if let Some(key) = &envelope.ordering_key {
            row = row.ordering_key(key.clone());
        }
        rows.push(row);
    }
    rows
}

/// What [`router`] serves: the outbox, the webhook routes, the worker wake-up, the body limit,
/// the body read timeout and the [`BodyBudget`].
///
/// ```no_run
/// # fn demo(outbox: std::sync::Arc<dyn chatport_runtime::Outbox>,
/// #         whatsapp: std::sync::Arc<dyn chatport_runtime::ingress::WebhookAdapter>,
/// #         wake: std::sync::Arc<tokio::sync::Notify>) {
/// use chatport_runtime::ingress::{Flows, IngressState, router};
/// let app = router(
///     IngressState::new(outbox)
///         .route("/webhooks/whatsapp", whatsapp, Flows::one("whatsapp.inbound"))
///         .notify(wake)
///         .max_body_bytes(3 * 1024 * 1024)
///         .body_read_timeout(std::time::Duration::from_secs(30))
///         .body_budget(chatport_runtime::ingress::BodyBudget::new(64 * 1024 * 1024))
///         .backpressure(chatport_runtime::ingress::Backpressure::new().max_pending(50_000)),
/// );
/// # drop(app); }
/// ```
#[derive(Clone)]
pub struct IngressState {
    outbox: Arc<dyn Outbox>,
    routes: Vec<(String, Arc<dyn WebhookAdapter>, Flows)>,
    notify: Option<Arc<Notify>>,
    max_body_bytes: usize,
    body_read_timeout: Duration,
    body_budget: BodyBudget,
    backpressure: Backpressure,
}

impl fmt::Debug for IngressState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngressState")
            .field(
                "routes",
                &self
                    .routes
                    .iter()
                    .map(|(path, adapter, _)| (path.as_str(), adapter.source()))
                    .collect::<Vec<_>>(),
            )
            .field("notify", &self.notify.is_some())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("body_budget", &self.body_budget)
            .field("backpressure", &self.backpressure)
            .finish_non_exhaustive()
    }
}

impl IngressState {
    /// No routes yet, body limit [`DEFAULT_MAX_BODY_BYTES`], body read timeout
    /// [`DEFAULT_BODY_READ_TIMEOUT`], body budget [`DEFAULT_BODY_BUDGET_BYTES`], no backpressure.
    pub fn new(outbox: Arc<dyn Outbox>) -> Self {
        Self {
            outbox,
            routes: Vec::new(),
            notify: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            body_budget: BodyBudget::default(),
            backpressure: Backpressure::default(),
        }
    }

    /// Serves `adapter` at `path` (GET handshake, POST deliveries), storing its envelopes under
    /// the flows `flows` names. `path` starts with `/` and may hold axum path parameters
    /// (`/webhooks/orangelogic/{token}`); the adapter sees the concrete path.
    pub fn route(mut self, path: &str, adapter: Arc<dyn WebhookAdapter>, flows: Flows) -> Self {
        self.routes.push((path.to_owned(), adapter, flows));
        self
    }

    /// Wakes this notifier (the worker pool's) after new rows were stored.
    pub fn notify(mut self, notify: Arc<Notify>) -> Self {
        self.notify = Some(notify);
        self
    }

    /// Largest accepted body in bytes (413 above).
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Longest time from the end of a `POST`'s head to its last body byte; a body not complete
    /// by then is answered 408 (`chatport_webhooks_rejected_total{reason="body_timeout"}`), the
    /// connection is closed and nothing is stored. Default [`DEFAULT_BODY_READ_TIMEOUT`].
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// The budget of body bytes held in memory at once ([`BodyBudget`]; default
    /// [`DEFAULT_BODY_BUDGET_BYTES`]). Every route of the router shares it; pass a clone to
    /// watch it ([`BodyBudget::in_use`]).
    pub fn body_budget(mut self, budget: BodyBudget) -> Self {
        self.body_budget = budget;
        self
    }

    /// Refuses POSTs with 503 past these high-water marks ([`Backpressure`]; off by default).
    /// All routes of the router share one cached stats snapshot.
    pub fn backpressure(mut self, backpressure: Backpressure) -> Self {
        self.backpressure = backpressure;
        self
    }
}

struct RouteState {
    outbox: Arc<dyn Outbox>,
    adapter: Arc<dyn WebhookAdapter>,
    flows: Flows,
    notify: Option<Arc<Notify>>,
    gate: Option<Arc<Gate>>,
    max_body_bytes: usize,
    body_read_timeout: Duration,
    budget: BodyBudget,
}

/// Builds the ingress router: the webhook routes plus `/healthz` and `/readyz`.
///
/// # Panics
/// When two routes share a path, a route is `/healthz` or `/readyz`, or a path does not start
/// with `/` (axum refuses such routers).
pub fn router(state: IngressState) -> Router {
    let outbox = Arc::clone(&state.outbox);
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let outbox = Arc::clone(&outbox);
                async move {
                    match outbox.ping().await {
                        Ok(()) => (StatusCode::OK, "ready"),
                        Err(error) => {
                            tracing::warn!(%error, "readiness probe: store unavailable");
                            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
                        }
                    }
                }
            }),
        );
    let gate = state.backpressure.is_enabled().then(|| {
        Arc::new(Gate {
            config: state.backpressure.clone(),
            outbox: Arc::clone(&state.outbox),
            cache: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        })
    });
    for (path, adapter, flows) in state.routes {
        let route = Arc::new(RouteState {
            outbox: Arc::clone(&state.outbox),
            adapter,
            flows,
            notify: state.notify.clone(),
            gate: gate.clone(),
            max_body_bytes: state.max_body_bytes,
            body_read_timeout: state.body_read_timeout,
            budget: state.body_budget.clone(),
        });
        app = app.merge(
            Router::new()
                .route(&path, get(handshake).post(receive))
                .with_state(route),
        );
    }
    app
}

async fn handshake(
    State(route): State<Arc<RouteState>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    match route.adapter.handshake(&query) {
        Ok(challenge) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge,
        )
            .into_response(),
        Err(HandshakeError::NotSupported) => {
            (StatusCode::METHOD_NOT_ALLOWED, "no handshake").into_response()
        }
        Err(error) => {
            tracing::warn!(source = route.adapter.source(), %error, "webhook handshake refused");
            (StatusCode::FORBIDDEN, "handshake refused").into_response()
        }
    }
}

fn rejected(source: &str, reason: &'static str) {
    metrics::counter!(
        "chatport_webhooks_rejected_total",
        "source" => source.to_owned(),
        "reason" => reason
    )
    .increment(1);
}

async fn receive(State(route): State<Arc<RouteState>>, request: Request) -> Response {
    let adapter = &route.adapter;
    let source = adapter.source().to_owned();
    metrics::counter!("chatport_webhooks_received_total", "source" => source.clone()).increment(1);
    let (parts, body) = request.into_parts();
    // hyper refuses a malformed Content-Length with 400 before the handler runs.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > route.max_body_bytes as u64) {
        return too_large(&source);
    }
    if let Some(gate) = &route.gate
        && let Some(reason) = gate.check().await
    {
        rejected(&source, "backpressure");
        tracing::debug!(%source, reason, "outbox over its high-water mark; answering 503");
        return gate.refusal();
    }
    // Reserve the body's bytes before reading it; held until the answer.
    let need = declared.map_or(route.max_body_bytes, |len| {
        usize::try_from(len).unwrap_or(usize::MAX)
    });
    let Some(_reservation) = route.budget.try_reserve(need) else {
        rejected(&source, "memory");
        tracing::warn!(%source, bytes = need, in_use = route.budget.in_use(),
            "webhook body budget exhausted; answering 503");
        return route.budget.refusal();
    };
    let body = match read_body(body, route.max_body_bytes, route.body_read_timeout).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return too_large(&source),
        Err(BodyError::Timeout) => {
            rejected(&source, "body_timeout");
            tracing::warn!(%source, "webhook body not complete within the body read timeout");
            return (
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, "close")],
                "body not received in time",
            )
                .into_response();
        }
        Err(BodyError::Read(error)) => {
            rejected(&source, "bad_body");
            tracing::warn!(%source, %error, "webhook body could not be read");
            return (StatusCode::BAD_REQUEST, "body could not be read").into_response();
        }
    };
    let request = WebhookRequest::new(parts.uri.path(), &parts.headers);
    // The peer is known under `serve` (and with `into_make_service_with_connect_info`).
    let request = match parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>() {
        Some(ConnectInfo(peer)) => request.peer(*peer),
        None => request,
    };
    if let Err(error) = adapter.verify(&request, &body) {
        rejected(&source, "signature");
        tracing::warn!(%source, %error, bytes = body.len(), "webhook signature refused");
        return (StatusCode::UNAUTHORIZED, "invalid signature").into_response();
    }
    let received_at = Utc::now();
    let events = match adapter.parse(&body, received_at) {
        Ok(batch) => {
            if !batch.unreadable.is_empty() {
                tracing::warn!(%source, parts = batch.unreadable.len(),
                    "parts of a verified webhook body do not parse; stored as dead beside the rest");
            }
            route.flows.rows(&source, received_at, batch)
        }
        Err(failure) => {
            tracing::warn!(%source, bytes = body.len(), "verified webhook body does not parse; stored as dead");
            vec![
                NewEvent::new(
                    source.clone(),
                    EventId::from_content(&body),
                    UNPARSEABLE_KIND,
                    UNPARSEABLE_FLOW,
                    body.to_vec(),
                )
                .occurred_at(received_at)
                .dead(failure.reason),
            ]
        }
    };
    let received = events.len();
    for event in &events {
        metrics::counter!(
            "chatport_events_received_total",
            "source" => source.clone(),
            "kind" => event.kind.clone()
        )
        .increment(1);
    }
    if events.is_empty() {
        return ack(0, 0, 0, 0);
    }
    match route.outbox.enqueue(events).await {
        Ok(report) => {
            if report.duplicates > 0 {
                metrics::counter!("chatport_events_duplicate_total", "source" => source.clone())
                    .increment(report.duplicates);
            }
            if report.inserted > report.dead
                && let Some(notify) = &route.notify
            {
                notify.notify_one();
            }
            tracing::debug!(%source, received, inserted = report.inserted,
                duplicates = report.duplicates, dead = report.dead, "webhook stored");
            ack(received, report.inserted, report.duplicates, report.dead)
        }
        Err(error) => {
            rejected(&source, "store");
            tracing::error!(%source, %error, "webhook could not be stored; answering 503");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "store unavailable",
            )
                .into_response()
        }
    }
}

fn too_large(source: &str) -> Response {
    rejected(source, "too_large");
    tracing::warn!(%source, "webhook body over the size limit");
    (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response()
}

enum BodyError {
    TooLarge,
    Timeout,
    Read(axum::BoxError),
}

/// Reads the whole body: at most `limit` bytes, within `timeout`.
async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_elapsed) => Err(BodyError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        // The server's idle timeout between body chunks (`ServeOptions::body_read_timeout`).
        Ok(Err(error)) if error.is::<TimeoutError>() => Err(BodyError::Timeout),
        Ok(Err(error)) => Err(BodyError::Read(error)),
    }
}

fn ack(received: usize, inserted: u64, duplicates: u64, dead: u64) -> Response {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "received": received,
            "inserted": inserted,
            "duplicates": duplicates,
            "dead": dead,
        })),
    )
        .into_response()
}

/// How [`serve_with`] runs its connections: the header read timeout and the shutdown deadline.
///
/// ```
/// use std::time::Duration;
/// use chatport_runtime::ingress::ServeOptions;
///
/// let options = ServeOptions::new()
///     .header_read_timeout(Duration::from_secs(10))
///     .shutdown_timeout(Duration::from_secs(10));
/// assert_eq!(options, ServeOptions::default());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Longest time a connection may take to send a complete request head (request line and
    /// headers), counted from the moment the server waits for one: from the accept, and again
    /// after every answer on a keep-alive connection. Past it the connection is closed without
    /// an answer. So a client that sends half its headers, or nothing at all, or keeps an idle
    /// connection open, holds its file descriptor at most this long. Default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`] (hyper's `header_read_timeout`).
    pub header_read_timeout: Duration,
    /// Every route (webhooks and the routes merged into the router, e.g. a business process's
    /// webhook or a handoff endpoint): a request body that delivers no data for this long fails
    /// (tower-http's `RequestBodyTimeout`, an idle timeout between chunks), so a client that
    /// stops in the middle of a body is not waited for. The webhook routes also bound the whole
    /// body ([`IngressState::body_read_timeout`]). Default [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// After the shutdown token is cancelled, the server stops accepting, asks every connection
    /// to close after its request in progress, and waits at most this long for them; then it
    /// closes the rest and [`serve_with`] returns. A request cut this way was never answered:
    /// its events are committed or not, never acknowledged and lost. Default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`].
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

impl ServeOptions {
    /// The defaults: header read timeout 10 s, body idle timeout 30 s, shutdown deadline 10 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ServeOptions::body_read_timeout`].
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets [`ServeOptions::header_read_timeout`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`ServeOptions::shutdown_timeout`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
}

/// [`serve_with`] with the default [`ServeOptions`] (header read timeout 10 s, body idle timeout
/// 30 s, shutdown deadline 10 s).
///
/// # Errors
/// The I/O error that stopped the server (see [`serve_with`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ServeOptions::default()).await
}

/// Serves `router` over HTTP/1.1 on `listener` until `shutdown` is cancelled, then stops
/// accepting, lets requests in progress finish for at most [`ServeOptions::shutdown_timeout`],
/// closes the connections left and returns.
///
/// Each connection runs hyper's HTTP/1 server with [`ServeOptions::header_read_timeout`], and
/// every request body the idle timeout [`ServeOptions::body_read_timeout`]; the handlers see the
/// peer address as `ConnectInfo<SocketAddr>`. An error accepting one connection
/// is logged and the server goes on (after a pause of a second when it is not about that one
/// connection, e.g. out of file descriptors).
///
/// # Errors
/// None today; the `Result` is kept for errors a future listener may report.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    options: ServeOptions,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if !is_connection_error(&error) {
                    tracing::error!(%error, "ingress: accept failed; pausing for a second");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(RequestBodyTimeout::new(
            connect_info(router.clone(), peer),
            options.body_read_timeout,
        ));
        let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let stop = shutdown.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "ingress connection ended with an error");
            }
        });
    }
    drop(listener);
    let open = connections.len();
    if open > 0 {
        tracing::info!(
            connections = open,
            "ingress: waiting for requests in progress"
        );
    }
    let drained = tokio::time::timeout(options.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            deadline_secs = options.shutdown_timeout.as_secs_f64(),
            "ingress: closing connections still open at the shutdown deadline (not acknowledged)"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// The router with the peer address as a `ConnectInfo` extension (what
/// `into_make_service_with_connect_info` gives each connection).
fn connect_info(
    router: Router,
    peer: std::net::SocketAddr,
) -> axum::middleware::AddExtension<Router, ConnectInfo<std::net::SocketAddr>> {
    use tower::Layer;
    axum::Extension(ConnectInfo(peer)).layer(router)
}

/// Errors that concern only the connection being accepted (the listener is fine).
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
