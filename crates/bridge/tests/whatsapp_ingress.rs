//! The WhatsApp webhook endpoint over real HTTP: the runtime's ingress with the bridge's WhatsApp
//! adapter and a SQLite outbox (no workers, so the stored rows can be counted as they arrive).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::PathBuf;
use std::sync::Arc;

use chatport_bridge::routing::FLOW_INBOUND;
use chatport_bridge::whatsapp::{FLOW_STATUS, WhatsAppWebhook};
use chatport_runtime::ingress::{self, IngressState};
use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore, StoredEvent};
use chatport_testkit::webhook::{Delivery, MessageSpec, StatusSpec, meta_json, sign};
use chatport_whatsapp::webhook::{self, EventKind, SignatureVerifier};
use secrecy::SecretString;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "ingress-test-secret";
const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../whatsapp/tests/fixtures")
        .join(name)
}

struct Endpoint {
    url: String,
    store: SqliteStore,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _stop: tokio_util::sync::DropGuard,
}

async fn endpoint(secrets: &[&str]) -> Endpoint {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("ingress.sqlite"), Default::default()).unwrap();
    let verifier =
        SignatureVerifier::new(secrets.iter().map(|s| SecretString::from(s.to_string()))).unwrap();
    let adapter = WhatsAppWebhook::new(verifier, SecretString::from("verify-me"));
    let outbox: Arc<dyn Outbox> = Arc::new(store.clone());
    let app = ingress::router(IngressState::new(outbox).route(
        "/webhooks/whatsapp",
        Arc::new(adapter),
        chatport_bridge::whatsapp::flows(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(ingress::serve(listener, app, stop.clone()));
    Endpoint {
        url: format!("http://{addr}/webhooks/whatsapp"),
        store,
        http: reqwest::Client::new(),
        _dir: dir,
        _stop: stop.drop_guard(),
    }
}

impl Endpoint {
    async fn post(&self, body: &[u8], signature: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = signature {
            request = request.header("x-hub-signature-256", sig);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post_signed(&self, payload: &Value) -> (u16, Value) {
        let body = meta_json(payload);
        self.post(
            body.as_bytes(),
            Some(&sign(SECRET.as_bytes(), body.as_bytes())),
        )
        .await
    }

    async fn rows(&self) -> Vec<StoredEvent> {
        self.store
            .list(&EventFilter::default(), 10_000)
            .await
            .unwrap()
    }
}

fn text(from: &str, wamid: &str, body: &str) -> Value {
    Delivery::new(WABA)
        .message(
            PNID,
            "15550783881",
            MessageSpec::text(from, wamid, 1_751_247_548, body),
        )
        .build()
}

#[tokio::test]
async fn the_real_meta_signed_delivery_is_accepted_byte_for_byte() {
    let secret = std::fs::read_to_string(fixture("real-signed.secret")).unwrap();
    let e = endpoint(&[secret.trim()]).await;
    let body = std::fs::read(fixture("real-signed.json")).unwrap();
    let sig = std::fs::read_to_string(fixture("real-signed.sig")).unwrap();
    let (status, ack) = e.post(&body, Some(sig.trim())).await;
    assert_eq!(status, 200, "{ack}");
    let rows = e.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].event_id.as_str(),
        "wamid.HBgMOTcyNTQ0NDAxMjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA"
    );
    assert_eq!(rows[0].ordering_key.as_deref(), Some("972544401243"));
    assert_eq!(
        rows[0].flow, FLOW_INBOUND,
        "routed to a flow when a worker picks it up"
    );
}

#[tokio::test]
async fn wrong_and_missing_signatures_are_refused_and_nothing_is_stored() {
    let e = endpoint(&[SECRET]).await;
    let body = meta_json(&text("16505551234", "wamid.1", "hello"));
    let (status, _) = e
        .post(
            body.as_bytes(),
            Some(&sign(b"some-other-secret", body.as_bytes())),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = e.post(body.as_bytes(), None).await;
    assert_eq!(status, 401);
    let (status, _) = e.post(body.as_bytes(), Some("sha256=not-hex")).await;
    assert_eq!(status, 401);
    assert!(e.rows().await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let e = endpoint(&[SECRET]).await;
    let body = vec![b' '; 3 * 1024 * 1024 + 1];
    let (status, _) = e.post(&body, Some(&sign(SECRET.as_bytes(), &body))).await;
    assert_eq!(status, 413);
    assert!(e.rows().await.is_empty());
}

#[tokio::test]
async fn a_duplicate_delivery_gives_one_row() {
    let e = endpoint(&[SECRET]).await;
    let payload = text("16505551234", "wamid.dup", "hello");
    assert_eq!(e.post_signed(&payload).await.0, 200);
    let (status, ack) = e.post_signed(&payload).await;
    assert_eq!(status, 200);
    assert_eq!(ack["duplicates"], 1);
    assert_eq!(e.rows().await.len(), 1);
}

#[tokio::test]
async fn three_messages_and_two_statuses_give_five_events() {
    let e = endpoint(&[SECRET]).await;
    let payload = Delivery::new(WABA)
        .message(
            PNID,
            "15550783881",
            MessageSpec::text("16505551234", "wamid.m1", 1_751_247_548, "one"),
        )
        .message(
            PNID,
            "15550783881",
            MessageSpec::text("4915123456789", "wamid.m2", 1_751_247_549, "two"),
        )
        .message(
            PNID,
            "15550783881",
            MessageSpec::text("16505551234", "wamid.m3", 1_751_247_550, "three"),
        )
        .status(
            PNID,
            "15550783881",
            StatusSpec::new("wamid.out1", "sent", "16505551234", 1_751_247_551),
        )
        .status(
            PNID,
            "15550783881",
            StatusSpec::new("wamid.out1", "delivered", "16505551234", 1_751_247_552),
        )
        .build();
    let (status, ack) = e.post_signed(&payload).await;
    assert_eq!(status, 200, "{ack}");
    let rows = e.rows().await;
    assert_eq!(rows.len(), 5);
    let messages: Vec<_> = rows.iter().filter(|r| r.kind == "message").collect();
    let statuses: Vec<_> = rows.iter().filter(|r| r.kind == "status").collect();
    assert_eq!((messages.len(), statuses.len()), (3, 2));
    assert!(
        messages
            .iter()
            .all(|r| r.flow == FLOW_INBOUND && r.ordering_key.is_some())
    );
    // statuses never wait behind a customer's messages
    assert!(
        statuses
            .iter()
            .all(|r| r.flow == FLOW_STATUS && r.ordering_key.is_none())
    );
    let ids: Vec<&str> = statuses.iter().map(|r| r.event_id.as_str()).collect();
    assert!(ids.contains(&"wamid.out1:sent") && ids.contains(&"wamid.out1:delivered"));
    assert!(rows.iter().all(|r| r.status == EventStatus::Pending));
}

#[tokio::test]
async fn non_ascii_text_signed_as_meta_signs_it_is_kept_exactly() {
    let e = endpoint(&[SECRET]).await;
    let original = "J'ai mangé des pâtes äöå — 注文 😢";
    let payload = text("33612345678", "wamid.u1", original);
    let body = meta_json(&payload);
    assert!(
        body.is_ascii() && body.contains("\\u00e9"),
        "signed as escaped unicode"
    );
    let (status, _) = e.post_signed(&payload).await;
    assert_eq!(status, 200);
    let rows = e.rows().await;
    let stored: webhook::Event = serde_json::from_slice(&rows[0].payload).unwrap();
    let EventKind::Message(message) = stored.kind else {
        panic!("not a message")
    };
    assert_eq!(message.text_body(), Some(original));
}

#[tokio::test]
async fn a_signed_body_that_does_not_parse_is_kept_as_a_dead_event() {
    let e = endpoint(&[SECRET]).await;
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":"#;
    let (status, _) = e.post(body, Some(&sign(SECRET.as_bytes(), body))).await;
    assert_eq!(
        status, 200,
        "acknowledged so that Meta does not retry it for 7 days"
    );
    let rows = e.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, EventStatus::Dead);
    assert_eq!(
        rows[0].payload,
        body.to_vec(),
        "the raw body is kept for inspection"
    );
    assert!(rows[0].last_error.as_deref().is_some_and(|e| !e.is_empty()));
}

#[tokio::test]
async fn the_subscription_handshake_echoes_the_challenge_only_for_our_token() {
    let e = endpoint(&[SECRET]).await;
    let ok = e
        .http
        .get(format!(
            "{}?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444",
            e.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = e
        .http
        .get(format!(
            "{}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444",
            e.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
}
