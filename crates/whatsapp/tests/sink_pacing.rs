//! The message sink with a [`Pacer`] against a wiremock Graph API on loopback: a Business Use
//! Case usage header that says "throttled" holds the next send back as a retryable
//! [`Error::Paced`], the pair limit and the 131056 back-off do the same per recipient, a short
//! throughput wait is slept inside the sink, and a held-back send leaves its key free.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chatport_core::{Classify, ErrorClass, EventId, IdempotencyKey, IdempotencyLedger, KvStore};
use chatport_runtime::SqliteStore;
use chatport_whatsapp::sink::{MessageSink, SendOnce};
use chatport_whatsapp::{
    Client, Error, OutgoingMessage, PaceLimit, Pacer, PacingConfig, Recipient,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PNID: &str = "106540352242922";
const ALICE: &str = "+16505551234";
const BOB: &str = "+16505550000";

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp",
        "contacts": [{"input": ALICE, "wa_id": "16505551234"}],
        "messages": [{"id": "wamid.OUT"}]}))
}

fn key(name: &str) -> IdempotencyKey {
    IdempotencyKey::derive("test", "reply", &EventId::new(name))
}

fn text(to: &str) -> OutgoingMessage {
    OutgoingMessage::text(Recipient::phone(to), "hello")
}

/// A sink over `server` paced by `config`, never sleeping (`inline` zero) unless told; the
/// client feeds its usage headers to the pacer as the bridge's service does.
async fn sink(server: &MockServer, config: PacingConfig, inline: Duration) -> MessageSink {
    let pacer = Arc::new(Pacer::new(config).unwrap());
    let p = pacer.clone();
    let client = Client::builder()
        .access_token(SecretString::from("token"))
        .base_url(&server.uri())
        .on_usage(move |usage| {
            p.observe_usage(usage);
        })
        .build()
        .unwrap();
    let store = SqliteStore::open_in_memory().unwrap();
    let ledger: Arc<dyn IdempotencyLedger> = Arc::new(store.clone());
    let kv: Arc<dyn KvStore> = Arc::new(store);
    MessageSink::builder(client, ledger, kv)
        .pacer(pacer)
        .pacer_inline_wait(inline)
        .build()
}

fn paced(error: &Error) -> (PaceLimit, Duration) {
    match error {
        Error::Paced { limit, retry_after } => (*limit, *retry_after),
        other => panic!("expected a paced error, got {other:?}"),
    }
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn a_usage_header_at_100_percent_holds_the_next_send_back_as_a_retry() {
    let server = MockServer::start().await;
    let header_value = r#"{"102290129340398":[{"type":"whatsapp_business_messaging","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":5}]}"#;
    Mock::given(method("POST"))
        .and(path(format!("/v26.0/{PNID}/messages")))
        .respond_with(accepted().insert_header("X-Business-Use-Case-Usage", header_value))
        .mount(&server)
        .await;
    let sink = sink(&server, PacingConfig::standard(), Duration::ZERO).await;
    assert_eq!(
        sink.send(&key("1"), PNID, text(ALICE)).await.unwrap(),
        SendOnce::Sent("wamid.OUT".into())
    );
    // Another recipient, another key: still held back, Meta is not called.
    let err = sink.send(&key("2"), PNID, text(BOB)).await.unwrap_err();
    let (limit, wait) = paced(&err);
    assert_eq!(limit, PaceLimit::UseCaseUsage);
    assert!(wait > Duration::from_secs(240), "{wait:?}");
    assert!(matches!(
        err.class(),
        ErrorClass::Throttled { retry_after: Some(w) } if w == wait
    ));
    assert!(err.may_resend());
    assert_eq!(requests(&server).await, 1);
    // The key was released, not left in doubt: the next write is paced again, not `InDoubt`.
    let again = sink.send(&key("2"), PNID, text(BOB)).await.unwrap_err();
    assert_eq!(paced(&again).0, PaceLimit::UseCaseUsage);
    // The first key is still answered from the ledger without a pacer slot or a request.
    assert_eq!(
        sink.send(&key("1"), PNID, text(ALICE)).await.unwrap(),
        SendOnce::Sent("wamid.OUT".into())
    );
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn the_pair_limit_holds_back_a_second_message_to_the_same_user_only() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted())
        .mount(&server)
        .await;
    let config = PacingConfig::standard().pair_limit(Duration::from_secs(3600), 1);
    let sink = sink(&server, config, Duration::ZERO).await;
    sink.send(&key("1"), PNID, text(ALICE)).await.unwrap();
    let err = sink.send(&key("2"), PNID, text(ALICE)).await.unwrap_err();
    assert_eq!(paced(&err).0, PaceLimit::Pair);
    sink.send(&key("3"), PNID, text(BOB)).await.unwrap();
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_131056_answer_starts_the_pair_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "type": "OAuthException", "code": 131056, "fbtrace_id": "A"}})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(accepted())
        .mount(&server)
        .await;
    let sink = sink(&server, PacingConfig::standard(), Duration::ZERO).await;
    let first = sink.send(&key("1"), PNID, text(ALICE)).await.unwrap_err();
    assert!(first.api().is_some_and(|a| a.code == 131_056), "{first:?}");
    // The retry of the same key waits for Meta's 4^0 = 1 s back-off instead of calling again.
    let retry = sink.send(&key("1"), PNID, text(ALICE)).await.unwrap_err();
    let (limit, wait) = paced(&retry);
    assert_eq!(limit, PaceLimit::PairBackoff);
    assert!(wait <= Duration::from_secs(1), "{wait:?}");
    // Other users are not held.
    sink.send(&key("2"), PNID, text(BOB)).await.unwrap();
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_short_throughput_wait_is_slept_inside_the_sink() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted())
        .mount(&server)
        .await;
    // One message per second on the number: the second send must wait up to a second.
    let config = PacingConfig::standard().messages_per_second(1);
    let strict = sink(&server, config.clone(), Duration::ZERO).await;
    strict.send(&key("1"), PNID, text(ALICE)).await.unwrap();
    let err = strict.send(&key("2"), PNID, text(BOB)).await.unwrap_err();
    assert_eq!(paced(&err).0, PaceLimit::Throughput);

    let patient = sink(&server, config, Duration::from_secs(5)).await;
    patient.send(&key("1"), PNID, text(ALICE)).await.unwrap();
    assert_eq!(
        patient.send(&key("2"), PNID, text(BOB)).await.unwrap(),
        SendOnce::Sent("wamid.OUT".into())
    );
    assert_eq!(requests(&server).await, 3);
}
