//! Webhook ingress: an axum router that verifies, parses and durably stores webhook deliveries
//! before it acknowledges them.
//!
//! For each route (a path, a [`WebhookAdapter`] from a connector crate, and the [`Flows`] its
//! envelopes go to):
//!
//! | Request | Answer |
//! |---|---|
//! | `GET` | [`WebhookAdapter::handshake`] with the query: 200 `text/plain` challenge; refused → 403; not supported → 405 |
//! | `POST`, body over the limit (default 3 MiB) | 413, nothing read past the limit, nothing stored |
//! | `POST`, [`WebhookAdapter::verify`] fails (it sees the raw bytes, the path, the headers and the peer) | 401, nothing stored |
//! | `POST`, verified, parsed | one row per envelope and flow, plus one dead row per [`Unreadable`] part, in **one** [`Outbox::enqueue`], then 200 `{"received":n,"inserted":i,"duplicates":d,"dead":u}` |
//! | `POST`, verified, does not parse | one dead row (kind [`UNPARSEABLE_KIND`], flow [`UNPARSEABLE_FLOW`], event id `EventId::from_content(body)` so redeliveries dedupe, payload = the raw body, last error = the parse error), then 200 |
//! | `POST`, the store cannot commit | 503, so the sender delivers again later |
//! | `POST`, the outbox is over its high-water mark ([`Backpressure`], off by default) | 503 with `Retry-After`, nothing read into the store (checked before the signature) |
//!
//! Plus `GET /healthz` (200 `ok` while the process serves) and `GET /readyz` (200 `ready` when the
//! store answers [`Outbox::ping`], 503 otherwise).
//!
//! The 200 is sent only after the commit, so an acknowledged event is never lost (see the
//! `synchronous=FULL` note of [`SqliteStore`](crate::SqliteStore)); a 503 or a dropped connection
//! makes the sender retry, and the outbox's `UNIQUE(source, event_id)` drops the redelivery.
//!
//! Metrics (`metrics` crate): `chatport_webhooks_received_total{source}` per POST,
//! `chatport_webhooks_rejected_total{source, reason}` (`too_large`, `bad_body`, `signature`,
//! `store`), `chatport_events_received_total{source, kind}` per event of a verified POST,
//! `chatport_events_duplicate_total{source}`; with [`Backpressure`] on, each refreshed stats
//! snapshot is also published ([`OutboxStats::record_metrics`](crate::OutboxStats::record_metrics)) and a refused POST counts as
//! `chatport_webhooks_rejected_total{reason="backpressure"}`. Logs carry sizes and counts, never
//! bodies.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chatport_core::{Envelope, EventId};
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

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

/// What [`router`] serves: the outbox, the webhook routes, the worker wake-up and the body limit.
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
            .field("backpressure", &self.backpressure)
            .finish_non_exhaustive()
    }
}

impl IngressState {
    /// No routes yet, body limit [`DEFAULT_MAX_BODY_BYTES`].
    pub fn new(outbox: Arc<dyn Outbox>) -> Self {
        Self {
            outbox,
            routes: Vec::new(),
            notify: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
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
        });
        app = app.merge(
            Router::new()
                .route(&path, get(handshake).post(receive))
                .layer(DefaultBodyLimit::max(state.max_body_bytes))
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

async fn receive(
    State(route): State<Arc<RouteState>>,
    extensions: axum::http::Extensions,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let adapter = &route.adapter;
    let source = adapter.source().to_owned();
    metrics::counter!("chatport_webhooks_received_total", "source" => source.clone()).increment(1);
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            rejected(&source, "too_large");
            tracing::warn!(%source, "webhook body over the size limit");
            return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
        }
        Err(rejection) => {
            rejected(&source, "bad_body");
            tracing::warn!(%source, error = %rejection, "webhook body could not be read");
            return (rejection.status(), "body could not be read").into_response();
        }
    };
    if let Some(gate) = &route.gate
        && let Some(reason) = gate.check().await
    {
        rejected(&source, "backpressure");
        tracing::debug!(%source, reason, "outbox over its high-water mark; answering 503");
        return gate.refusal();
    }
    let request = WebhookRequest::new(uri.path(), &headers);
    // The peer is known when the server was started with `into_make_service_with_connect_info`.
    let request = match extensions.get::<ConnectInfo<std::net::SocketAddr>>() {
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

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops accepting connections
/// and lets requests in progress finish (graceful shutdown: a webhook being stored still gets its
/// answer).
///
/// # Errors
/// The I/O error that stopped the server.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}
