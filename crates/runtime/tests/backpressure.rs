//! Ingress backpressure over real HTTP: 503 + Retry-After past the outbox depth or age marks,
//! from a cached stats snapshot.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chatport_core::{Envelope, EventId};
use chatport_runtime::ingress::{
    Backpressure, Flows, IngressState, ParseFailure, VerifyError, WebhookAdapter, WebhookBatch,
    WebhookRequest, router, serve,
};
use chatport_runtime::{EventFilter, NewEvent, Outbox, Resolution, SqliteStore};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// Accepts bodies carrying `x-token: ok`; each body line is one event id.
struct LineAdapter;

impl WebhookAdapter for LineAdapter {
    fn source(&self) -> &str {
        "lines"
    }
    fn verify(&self, request: &WebhookRequest<'_>, _body: &[u8]) -> Result<(), VerifyError> {
        match request.headers.get("x-token").map(|v| v.as_bytes()) {
            Some(b"ok") => Ok(()),
            _ => Err(VerifyError::Mismatch),
        }
    }
    fn parse(&self, body: &[u8], _at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure> {
        let text = std::str::from_utf8(body).map_err(|e| ParseFailure::new(e.to_string()))?;
        Ok(text
            .lines()
            .map(|id| Envelope::new(EventId::new(id), "lines", "line", id.as_bytes().to_vec()))
            .collect::<Vec<_>>()
            .into())
    }
}

struct Ingress {
    url: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Ingress {
    async fn start(store: Arc<SqliteStore>, backpressure: Option<Backpressure>) -> Self {
        let mut state =
            IngressState::new(store).route("/hook", Arc::new(LineAdapter), Flows::one("B1"));
        if let Some(bp) = backpressure {
            state = state.backpressure(bp);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(serve(listener, router(state), shutdown.clone()));
        Self {
            url,
            client: reqwest::Client::new(),
            shutdown,
        }
    }

    async fn post(&self, body: &str) -> reqwest::Response {
        self.client
            .post(&self.url)
            .header("x-token", "ok")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn enqueue(store: &SqliteStore, ids: &[&str]) {
    store
        .enqueue(
            ids.iter()
                .map(|id| NewEvent::new("lines", EventId::new(*id), "line", "B1", Vec::new()))
                .collect(),
        )
        .await
        .unwrap();
}

/// Claims every due row and marks it done.
async fn drain(store: &SqliteStore) {
    loop {
        let claimed = store
            .claim("test", 100, Duration::from_secs(60))
            .await
            .unwrap();
        if claimed.is_empty() {
            return;
        }
        for c in claimed {
            store
                .resolve(&c.lease, c.event.id, Resolution::Done { receipt: None })
                .await
                .unwrap();
        }
    }
}

async fn count(store: &SqliteStore) -> usize {
    store.list(&EventFilter::new(), 1000).await.unwrap().len()
}

#[tokio::test]
async fn depth_past_the_mark_answers_503_with_retry_after_and_stores_nothing() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let bp = Backpressure::new()
        .max_pending(2)
        .refresh(Duration::ZERO)
        .retry_after(Duration::from_secs(7));
    let ingress = Ingress::start(store.clone(), Some(bp)).await;

    // 0 pending, then 2 pending (not more than 2): both accepted.
    assert_eq!(ingress.post("a1\na2").await.status(), 200);
    assert_eq!(ingress.post("a3").await.status(), 200);
    assert_eq!(count(&store).await, 3);

    // 3 pending > 2: refused, with Retry-After, and the body is not stored.
    let refused = ingress.post("a4").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "7");
    assert_eq!(count(&store).await, 3);

    // The workers catch up: accepted again.
    drain(&store).await;
    assert_eq!(ingress.post("a4").await.status(), 200);
    assert_eq!(count(&store).await, 4);
}

#[tokio::test]
async fn age_past_the_mark_answers_503_until_the_backlog_is_resolved() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let bp = Backpressure::new()
        .max_pending_age(Duration::ZERO)
        .refresh(Duration::ZERO);
    let ingress = Ingress::start(store.clone(), Some(bp)).await;

    // Nothing pending: no age.
    assert_eq!(ingress.post("b1").await.status(), 200);
    // b1 is now older than the zero limit.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let refused = ingress.post("b2").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5", "default Retry-After");
    assert_eq!(count(&store).await, 1);

    drain(&store).await;
    assert_eq!(ingress.post("b2").await.status(), 200);
}

#[tokio::test]
async fn the_snapshot_is_cached_between_refreshes() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let bp = Backpressure::new()
        .max_pending(1)
        .refresh(Duration::from_secs(3600));
    let ingress = Ingress::start(store.clone(), Some(bp)).await;

    // The first POST takes the snapshot (0 pending) and is accepted.
    assert_eq!(ingress.post("c1").await.status(), 200);
    // The backlog grows behind the snapshot's back; within the refresh period no stats query
    // runs, so the stale snapshot still lets POSTs through.
    enqueue(&store, &["c2", "c3", "c4"]).await;
    assert_eq!(ingress.post("c5").await.status(), 200);
    assert_eq!(count(&store).await, 5);
}

#[tokio::test]
async fn off_by_default_whatever_the_backlog() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    enqueue(&store, &["d1", "d2", "d3", "d4", "d5"]).await;
    let ingress = Ingress::start(store.clone(), None).await;
    assert_eq!(ingress.post("d6").await.status(), 200);
    assert!(!Backpressure::default().is_enabled());
}

#[tokio::test]
async fn backpressure_does_not_touch_health_or_signature_checks_when_under_the_mark() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let bp = Backpressure::new().max_pending(0).refresh(Duration::ZERO);
    let ingress = Ingress::start(store.clone(), Some(bp)).await;
    // Under the mark, a bad signature is still a 401.
    let unsigned = ingress
        .client
        .post(&ingress.url)
        .body("e1")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(ingress.post("e1").await.status(), 200);
    // Over the mark (1 pending > 0): POSTs are refused, /healthz still answers.
    assert_eq!(ingress.post("e2").await.status(), 503);
    let health = ingress
        .client
        .get(ingress.url.replace("/hook", "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
