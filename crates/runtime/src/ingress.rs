//! Webhook ingress: an axum router that verifies, parses and durably stores webhook deliveries
//! before it acknowledges them.
//!
//! For each route (a path and a [`WebhookAdapter`]):
//!
//! | Request | Answer |
//! |---|---|
//! | `GET` | [`WebhookAdapter::handshake`] with the query: 200 `text/plain` challenge; refused → 403; not supported → 405 |
//! | `POST`, body over the limit (default 3 MiB) | 413, nothing read past the limit, nothing stored |
//! | `POST`, [`WebhookAdapter::verify`] fails on the raw bytes | 401, nothing stored |
//! | `POST`, verified, parsed | every event in **one** [`Outbox::enqueue`], then 200 `{"received":n,"inserted":i,"duplicates":d,"dead":0}` |
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
//! Metrics (`metrics` crate): `chatport_webhooks_received_total{source}` per POST,
//! `chatport_webhooks_rejected_total{source, reason}` (`too_large`, `bad_body`, `signature`,
//! `store`), `chatport_events_received_total{source, kind}` per event of a verified POST,
//! `chatport_events_duplicate_total{source}`. Logs carry sizes and counts, never bodies.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chatport_core::EventId;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{NewEvent, Outbox};

/// The `kind` of the dead row stored for a verified body that does not parse.
pub const UNPARSEABLE_KIND: &str = "unparseable";
/// The `flow` of the dead row stored for a verified body that does not parse.
pub const UNPARSEABLE_FLOW: &str = "ingress";
/// The default body limit: 3 MiB (WhatsApp documents deliveries of up to 3 MB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Why a `GET` handshake was not answered with the challenge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// This source has no GET handshake (answered 405).
    #[error("this webhook has no GET handshake")]
    NotSupported,
    /// The handshake was refused: wrong mode or verify token, missing challenge (answered 403).
    /// The text is logged: it must not contain the expected token.
    #[error("webhook handshake refused: {0}")]
    Refused(String),
}

impl HandshakeError {
    /// A refusal with `reason` ([`HandshakeError::Refused`]).
    pub fn new(reason: impl Into<String>) -> Self {
        HandshakeError::Refused(reason.into())
    }
}

/// Why a `POST` body failed verification (answered 401, nothing stored).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature (or token) header is absent.
    #[error("signature header {0} is missing")]
    Missing(String),
    /// The header is not in the expected form (`sha256=<hex>`, ...).
    #[error("signature header is malformed: {0}")]
    Malformed(String),
    /// The signature does not match the body under any configured secret.
    #[error("signature does not match the body")]
    Mismatch,
    /// Refused for another reason (the adapter's verifier error, free of secrets).
    #[error("signature refused: {0}")]
    Invalid(String),
}

impl VerifyError {
    /// A refusal with `reason` ([`VerifyError::Invalid`]).
    pub fn new(reason: impl Into<String>) -> Self {
        VerifyError::Invalid(reason.into())
    }
}

/// A verified body that could not be parsed into events. `reason` is stored as the dead row's last
/// error; it is never logged (parser messages can quote input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unparseable webhook body: {reason}")]
pub struct ParseFailure {
    /// What the parser said.
    pub reason: String,
}

impl ParseFailure {
    /// A failure with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// One webhook source: how to answer its handshake, verify its signature and turn its body into
/// outbox events. Implemented by connector crates (the WhatsApp adapter checks
/// `X-Hub-Signature-256` and answers `hub.challenge`); the runtime knows no vendor.
///
/// All methods are synchronous and must not block: they run on the request task.
pub trait WebhookAdapter: Send + Sync + 'static {
    /// The outbox `source` of this webhook's events (`"whatsapp"`), used for dedup and metrics.
    fn source(&self) -> &str;

    /// Answers a `GET` verification request (query parameters decoded) with the text to send back.
    /// The default refuses with [`HandshakeError::NotSupported`] (405).
    ///
    /// # Errors
    /// [`HandshakeError`].
    fn handshake(&self, query: &HashMap<String, String>) -> Result<String, HandshakeError> {
        let _ = query;
        Err(HandshakeError::NotSupported)
    }

    /// Verifies the request's signature over the **raw** body bytes, in constant time.
    ///
    /// # Errors
    /// [`VerifyError`]: the request is answered 401 and nothing is stored.
    fn verify(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), VerifyError>;

    /// Turns a verified body into outbox events (each with its flow and ordering key).
    /// `received_at` is when ingress read the body.
    ///
    /// # Errors
    /// [`ParseFailure`]: the body is stored as one dead row and acknowledged.
    fn parse(&self, body: &[u8], received_at: DateTime<Utc>)
    -> Result<Vec<NewEvent>, ParseFailure>;
}

/// What [`router`] serves: the outbox, the webhook routes, the worker wake-up and the body limit.
///
/// ```no_run
/// # fn demo(outbox: std::sync::Arc<dyn chatport_runtime::Outbox>,
/// #         whatsapp: std::sync::Arc<dyn chatport_runtime::ingress::WebhookAdapter>,
/// #         wake: std::sync::Arc<tokio::sync::Notify>) {
/// use chatport_runtime::ingress::{IngressState, router};
/// let app = router(
///     IngressState::new(outbox)
///         .route("/webhooks/whatsapp", whatsapp)
///         .notify(wake)
///         .max_body_bytes(3 * 1024 * 1024),
/// );
/// # drop(app); }
/// ```
#[derive(Clone)]
pub struct IngressState {
    outbox: Arc<dyn Outbox>,
    routes: Vec<(String, Arc<dyn WebhookAdapter>)>,
    notify: Option<Arc<Notify>>,
    max_body_bytes: usize,
}

impl fmt::Debug for IngressState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngressState")
            .field(
                "routes",
                &self
                    .routes
                    .iter()
                    .map(|(path, adapter)| (path.as_str(), adapter.source()))
                    .collect::<Vec<_>>(),
            )
            .field("notify", &self.notify.is_some())
            .field("max_body_bytes", &self.max_body_bytes)
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
        }
    }

    /// Serves `adapter` at `path` (GET handshake, POST deliveries). `path` starts with `/`.
    pub fn route(mut self, path: &str, adapter: Arc<dyn WebhookAdapter>) -> Self {
        self.routes.push((path.to_owned(), adapter));
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
}

struct RouteState {
    outbox: Arc<dyn Outbox>,
    adapter: Arc<dyn WebhookAdapter>,
    notify: Option<Arc<Notify>>,
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
    for (path, adapter) in state.routes {
        let route = Arc::new(RouteState {
            outbox: Arc::clone(&state.outbox),
            adapter,
            notify: state.notify.clone(),
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
    if let Err(error) = adapter.verify(&headers, &body) {
        rejected(&source, "signature");
        tracing::warn!(%source, %error, bytes = body.len(), "webhook signature refused");
        return (StatusCode::UNAUTHORIZED, "invalid signature").into_response();
    }
    let received_at = Utc::now();
    let events = match adapter.parse(&body, received_at) {
        Ok(events) => events,
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
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
