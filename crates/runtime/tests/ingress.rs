//! Ingress over real HTTP (axum on 127.0.0.1:0, reqwest), with a small HMAC-signing test adapter:
//! the runtime itself knows no vendor.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{Envelope, EventId};
use chatport_runtime::ingress::{
    Flows, HandshakeError, IngressState, ParseFailure, UNPARSEABLE_FLOW, UNPARSEABLE_KIND,
    Unreadable, VerifyError, WebhookAdapter, WebhookBatch, WebhookRequest, router, serve,
};
use chatport_runtime::{
    AttemptRecord, Claimed, EnqueueReport, EventFilter, EventStatus, LeaseToken, NewEvent, Outbox,
    OutboxStats, Resolution, SqliteStore, StoreError, StoredEvent,
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const SECRET: &[u8] = b"test-app-secret";
const HEADER: &str = "x-test-signature";

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Body: `{"events":[{"id":"..","kind":"..","key":".."}]}`; signature header
/// `x-test-signature: sha256=<hex hmac>`; GET handshake with `mode=subscribe&token=verify-me&challenge=..`.
struct TestAdapter;

impl WebhookAdapter for TestAdapter {
    fn source(&self) -> &str {
        "test"
    }

    fn handshake(&self, query: &HashMap<String, String>) -> Result<String, HandshakeError> {
        let get = |k: &str| query.get(k).map(String::as_str);
        match (get("mode"), get("token"), get("challenge")) {
            (Some("subscribe"), Some("verify-me"), Some(challenge)) => Ok(challenge.to_owned()),
            _ => Err(HandshakeError::Refused("wrong mode or token".into())),
        }
    }

    fn verify(&self, request: &WebhookRequest<'_>, body: &[u8]) -> Result<(), VerifyError> {
        let value = request
            .headers
            .get(HEADER)
            .ok_or_else(|| VerifyError::Missing(HEADER.into()))?
            .to_str()
            .map_err(|_| VerifyError::Malformed("not ASCII".into()))?;
        let hex_sig = value
            .strip_prefix("sha256=")
            .ok_or_else(|| VerifyError::Malformed("no sha256= prefix".into()))?;
        let sig = hex::decode(hex_sig).map_err(|_| VerifyError::Malformed("not hex".into()))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(body);
        mac.verify_slice(&sig).map_err(|_| VerifyError::Mismatch)
    }

    /// An event without an `id` is an unreadable part; the others are stored.
    fn parse(&self, body: &[u8], received_at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| ParseFailure::new(e.to_string()))?;
        let events = value["events"]
            .as_array()
            .ok_or_else(|| ParseFailure::new("no events array"))?;
        let mut batch = WebhookBatch::default();
        for e in events {
            let raw = serde_json::to_vec(e).unwrap();
            let Some(id) = e["id"].as_str() else {
                batch
                    .unreadable
                    .push(Unreadable::new(raw, "event without id"));
                continue;
            };
            let kind = e["kind"].as_str().unwrap_or("message").to_owned();
            let mut envelope =
                Envelope::new(EventId::new(id), "test", kind, raw).occurred_at(received_at);
            if let Some(key) = e["key"].as_str() {
                envelope = envelope.ordering_key(key);
            }
            batch.events.push(envelope);
        }
        Ok(batch)
    }
}

/// No handshake (default impl), accepts any body.
struct OpenAdapter;

impl WebhookAdapter for OpenAdapter {
    fn source(&self) -> &str {
        "open"
    }
    /// Accepts only requests whose path ends in `/open` (or `/open/<token>` with token `t0k3n`)
    /// from a loopback peer: the ingress hands the adapter the concrete path and the peer.
    fn verify(&self, request: &WebhookRequest<'_>, _body: &[u8]) -> Result<(), VerifyError> {
        let peer_ok = request.peer.is_some_and(|p| p.ip().is_loopback());
        let path_ok = request.path == "/webhooks/open" || request.path == "/webhooks/fan/t0k3n";
        if peer_ok && path_ok {
            Ok(())
        } else {
            Err(VerifyError::new("wrong path or peer"))
        }
    }
    /// Each body line is an event of kind `asset`.
    fn parse(&self, body: &[u8], _at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure> {
        let text = std::str::from_utf8(body).map_err(|e| ParseFailure::new(e.to_string()))?;
        Ok(text
            .lines()
            .map(|id| Envelope::new(EventId::new(id), "open", "asset", id.as_bytes().to_vec()))
            .collect::<Vec<_>>()
            .into())
    }
}

struct Server {
    base: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(state: IngressState) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, router(state), shutdown.clone()));
        Server {
            base,
            client: reqwest::Client::new(),
            shutdown,
            task,
        }
    }

    async fn post(&self, body: &[u8], signature: Option<String>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/test", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header(HEADER, signature);
        }
        request.send().await.unwrap()
    }

    async fn post_signed(&self, body: &[u8]) -> reqwest::Response {
        self.post(body, Some(sign(body))).await
    }

    async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.base, path_and_query))
            .send()
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn body(events: &[(&str, &str)]) -> Vec<u8> {
    let events: Vec<Value> = events
        .iter()
        .map(|(id, kind)| json!({"id": id, "kind": kind, "key": "16505551234", "text": "Grüße"}))
        .collect();
    serde_json::to_vec(&json!({ "events": events })).unwrap()
}

async fn setup() -> (Server, Arc<SqliteStore>, Arc<Notify>) {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let notify = Arc::new(Notify::new());
    let state = IngressState::new(store.clone())
        .route("/webhooks/test", Arc::new(TestAdapter), Flows::one("T1"))
        .route("/webhooks/open", Arc::new(OpenAdapter), Flows::one("A1"))
        .route(
            "/webhooks/fan/{token}",
            Arc::new(OpenAdapter),
            Flows::fan_out(["L1", "L3"]),
        )
        .notify(notify.clone())
        .max_body_bytes(4096);
    (Server::start(state).await, store, notify)
}

async fn rows(store: &SqliteStore) -> Vec<StoredEvent> {
    store.list(&EventFilter::new(), 100).await.unwrap()
}

#[tokio::test]
async fn a_valid_delivery_is_stored_then_acknowledged() {
    let (server, store, notify) = setup().await;
    let response = server.post_signed(&body(&[("wamid.1", "message")])).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["received"], 1);
    assert_eq!(answer["duplicates"], 0);
    let stored = rows(&store).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].event_id.as_str(), "wamid.1");
    assert_eq!(stored[0].source, "test");
    assert_eq!(stored[0].flow, "T1");
    assert_eq!(stored[0].ordering_key.as_deref(), Some("16505551234"));
    assert_eq!(stored[0].status, EventStatus::Pending);
    // The worker pool was woken.
    tokio::time::timeout(Duration::from_secs(5), notify.notified())
        .await
        .expect("ingress did not notify the workers");
    server.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_signature_is_401_and_stores_nothing() {
    let (server, store, _) = setup().await;
    let payload = body(&[("wamid.2", "message")]);
    let wrong = server.post(&payload, Some(sign(b"some other body"))).await;
    assert_eq!(wrong.status(), 401);
    let missing = server.post(&payload, None).await;
    assert_eq!(missing.status(), 401);
    let malformed = server.post(&payload, Some("md5=abc".into())).await;
    assert_eq!(malformed.status(), 401);
    // A body changed by one byte after signing fails too.
    let mut tampered = payload.clone();
    let signature = sign(&payload);
    *tampered.last_mut().unwrap() = b' ';
    assert_eq!(server.post(&tampered, Some(signature)).await.status(), 401);
    assert!(rows(&store).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_413_and_stores_nothing() {
    let (server, store, _) = setup().await;
    let big_text = "x".repeat(5000);
    let payload =
        serde_json::to_vec(&json!({"events": [{"id": "wamid.big", "text": big_text}]})).unwrap();
    assert!(payload.len() > 4096);
    let response = server.post_signed(&payload).await;
    assert_eq!(response.status(), 413);
    assert!(rows(&store).await.is_empty());
    // Just under the limit is fine.
    let small = body(&[("wamid.small", "message")]);
    assert_eq!(server.post_signed(&small).await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn a_redelivery_gives_one_row() {
    let (server, store, _) = setup().await;
    let payload = body(&[("wamid.3", "message"), ("wamid.4", "message")]);
    let first: Value = server.post_signed(&payload).await.json().await.unwrap();
    assert_eq!(
        (first["received"].clone(), first["duplicates"].clone()),
        (json!(2), json!(0))
    );
    let second = server.post_signed(&payload).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["duplicates"], 2);
    assert_eq!(second["inserted"], 0);
    assert_eq!(rows(&store).await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn one_post_with_five_events_gives_five_rows() {
    let (server, store, _) = setup().await;
    let payload = body(&[
        ("wamid.m1", "message"),
        ("wamid.m2", "message"),
        ("wamid.m3", "message"),
        ("wamid.s1:delivered", "status"),
        ("wamid.s2:read", "status"),
    ]);
    let answer: Value = server.post_signed(&payload).await.json().await.unwrap();
    assert_eq!(answer["received"], 5);
    let stored = rows(&store).await;
    assert_eq!(stored.len(), 5);
    let kinds: Vec<_> = stored.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["message", "message", "message", "status", "status"]);
    server.stop().await;
}

#[tokio::test]
async fn a_signed_body_that_does_not_parse_is_stored_dead_and_acknowledged() {
    let (server, store, _) = setup().await;
    let garbage = b"{\"events\": [ this is not json".to_vec();
    let response = server.post_signed(&garbage).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["dead"], 1);
    let stored = rows(&store).await;
    assert_eq!(stored.len(), 1);
    let dead = &stored[0];
    assert_eq!(dead.status, EventStatus::Dead);
    assert_eq!(dead.kind, UNPARSEABLE_KIND);
    assert_eq!(dead.flow, UNPARSEABLE_FLOW);
    assert_eq!(dead.payload, garbage);
    assert_eq!(dead.event_id, EventId::from_content(&garbage));
    assert!(dead.last_error.as_deref().unwrap().contains("expected"));
    // The sender's redelivery of the same bytes dedupes.
    let again: Value = server.post_signed(&garbage).await.json().await.unwrap();
    assert_eq!(again["duplicates"], 1);
    assert_eq!(rows(&store).await.len(), 1);
    // Unsigned garbage is refused, not stored.
    assert_eq!(server.post(b"nope", None).await.status(), 401);
    assert_eq!(rows(&store).await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn an_unreadable_part_is_stored_dead_beside_the_readable_events() {
    let (server, store, _) = setup().await;
    let payload = serde_json::to_vec(&json!({"events": [
        {"id": "wamid.ok", "kind": "message", "key": "k"},
        {"kind": "message", "text": "no id here"},
    ]}))
    .unwrap();
    let answer: Value = server.post_signed(&payload).await.json().await.unwrap();
    assert_eq!(answer["received"], 2);
    assert_eq!(answer["dead"], 1);
    let stored = rows(&store).await;
    assert_eq!(stored.len(), 2);
    let ok = stored
        .iter()
        .find(|e| e.event_id.as_str() == "wamid.ok")
        .unwrap();
    assert_eq!(ok.status, EventStatus::Pending);
    assert_eq!(ok.flow, "T1");
    let dead = stored.iter().find(|e| e.kind == UNPARSEABLE_KIND).unwrap();
    assert_eq!(dead.status, EventStatus::Dead);
    assert_eq!(dead.source, "test");
    assert_eq!(dead.flow, UNPARSEABLE_FLOW);
    assert_eq!(dead.last_error.as_deref(), Some("event without id"));
    let part: Value = serde_json::from_slice(&dead.payload).unwrap();
    assert_eq!(part["text"], "no id here");
    // A redelivery stores neither part twice.
    let again: Value = server.post_signed(&payload).await.json().await.unwrap();
    assert_eq!(again["duplicates"], 2);
    assert_eq!(rows(&store).await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn the_adapter_sees_the_request_path_and_peer_and_fan_out_stores_one_row_per_flow() {
    let (server, store, _) = setup().await;
    let post = |path: &str| {
        server
            .client
            .post(format!("{}{path}", server.base))
            .body("asset-1")
            .send()
    };
    assert_eq!(post("/webhooks/fan/wrong").await.unwrap().status(), 401);
    assert!(rows(&store).await.is_empty());
    assert_eq!(post("/webhooks/fan/t0k3n").await.unwrap().status(), 200);
    assert_eq!(post("/webhooks/open").await.unwrap().status(), 200);
    let mut stored: Vec<_> = rows(&store)
        .await
        .into_iter()
        .map(|e| (e.event_id.as_str().to_owned(), e.flow))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            ("asset-1".to_owned(), "A1".to_owned()),
            ("asset-1:L1".to_owned(), "L1".to_owned()),
            ("asset-1:L3".to_owned(), "L3".to_owned()),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn get_handshake_answers_the_challenge() {
    let (server, _, _) = setup().await;
    let ok = server
        .get("/webhooks/test?mode=subscribe&token=verify-me&challenge=1158201444")
        .await;
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let refused = server
        .get("/webhooks/test?mode=subscribe&token=wrong&challenge=1")
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(server.get("/webhooks/test").await.status(), 403);
    assert_eq!(server.get("/webhooks/open?x=1").await.status(), 405);
    server.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let (server, _, _) = setup().await;
    let health = server.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    assert_eq!(server.get("/readyz").await.status(), 200);
    server.stop().await;
}

/// An outbox whose every call fails, like a full disk.
struct BrokenOutbox;

fn down() -> StoreError {
    StoreError::Io("disk full".into())
}

#[async_trait]
impl Outbox for BrokenOutbox {
    async fn enqueue(&self, _events: Vec<NewEvent>) -> Result<EnqueueReport, StoreError> {
        Err(down())
    }
    async fn claim(&self, _: &str, _: usize, _: Duration) -> Result<Vec<Claimed>, StoreError> {
        Err(down())
    }
    async fn resolve(&self, _: &LeaseToken, _: i64, _: Resolution) -> Result<(), StoreError> {
        Err(down())
    }
    async fn release(&self, _: &LeaseToken, _: i64) -> Result<(), StoreError> {
        Err(down())
    }
    async fn set_flow(&self, _: i64, _: &str) -> Result<(), StoreError> {
        Err(down())
    }
    async fn stats(&self) -> Result<OutboxStats, StoreError> {
        Err(down())
    }
    async fn list(&self, _: &EventFilter, _: usize) -> Result<Vec<StoredEvent>, StoreError> {
        Err(down())
    }
    async fn get(&self, _: i64) -> Result<Option<StoredEvent>, StoreError> {
        Err(down())
    }
    async fn attempts(&self, _: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        Err(down())
    }
    async fn replay(&self, _: &EventFilter) -> Result<u64, StoreError> {
        Err(down())
    }
    async fn purge(&self, _: &EventFilter) -> Result<u64, StoreError> {
        Err(down())
    }
}

#[tokio::test]
async fn a_store_failure_is_503_so_the_sender_retries() {
    let state = IngressState::new(Arc::new(BrokenOutbox)).route(
        "/webhooks/test",
        Arc::new(TestAdapter),
        Flows::one("T1"),
    );
    let server = Server::start(state).await;
    let response = server.post_signed(&body(&[("wamid.5", "message")])).await;
    assert_eq!(response.status(), 503);
    // Verification still comes first: a bad signature is 401 even when the store is down.
    let unsigned = server.post(&body(&[("wamid.5", "message")]), None).await;
    assert_eq!(unsigned.status(), 401);
    assert_eq!(server.get("/readyz").await.status(), 503);
    assert_eq!(server.get("/healthz").await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn serve_stops_on_shutdown() {
    let (server, _, _) = setup().await;
    let base = server.base.clone();
    server.stop().await;
    assert!(
        reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err(),
        "server still answering after shutdown"
    );
}
