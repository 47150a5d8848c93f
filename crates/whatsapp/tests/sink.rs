//! The message sink against the Graph emulator: the sink conformance suite, and the in-doubt
//! rules (no blind resend after an ambiguous failure; a status webhook settles the key).
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::conformance::{SinkHarness, run_all};
use chatport_core::{EventId, IdempotencyKey, IdempotencyLedger, KvStore, Sink};
use chatport_runtime::SqliteStore;
use chatport_testkit::failure::Failure;
use chatport_testkit::graph::GraphEmulator;
use chatport_whatsapp::sink::{MessageSink, Outbound, SendOnce, settle_from_status};
use chatport_whatsapp::webhook::Status;
use chatport_whatsapp::{Client, OutgoingMessage, Recipient};
use secrecy::SecretString;

const PHONE_NUMBER_ID: &str = "106540352242922";

struct Harness {
    graph: GraphEmulator,
    sink: MessageSink,
}

async fn harness(resend_after: Option<Duration>) -> (Harness, SqliteStore) {
    let graph = GraphEmulator::start().await.unwrap();
    let client = Client::builder()
        .access_token(SecretString::from(graph.access_token().to_owned()))
        .base_url(&graph.base_url())
        .build()
        .unwrap();
    let store = SqliteStore::open_in_memory().unwrap();
    let ledger: Arc<dyn IdempotencyLedger> = Arc::new(store.clone());
    let kv: Arc<dyn KvStore> = Arc::new(store.clone());
    let mut builder = MessageSink::builder(client, ledger, kv);
    if let Some(after) = resend_after {
        builder = builder.resend_in_doubt_after(after);
    }
    (
        Harness {
            graph,
            sink: builder.build(),
        },
        store,
    )
}

fn reply(n: u32) -> Outbound {
    Outbound::new(
        PHONE_NUMBER_ID,
        OutgoingMessage::text(Recipient::phone("16505551234"), format!("reply {n}")),
    )
}

#[async_trait]
impl SinkHarness for Harness {
    type Sink = MessageSink;
    fn sink(&self) -> &MessageSink {
        &self.sink
    }
    fn item(&self, n: u32) -> Outbound {
        reply(n)
    }
    async fn effects(&self) -> usize {
        self.graph.sent().len()
    }
    async fn fail_next_write(&self) {
        // 429 with Graph code 4 ("application request limit"): refused before acting.
        self.graph.fail_next(1, Failure::Status(429));
    }
}

#[tokio::test]
async fn message_sink_conforms() {
    let (h, _store) = harness(None).await;
    run_all(&h).await;
}

fn key(name: &str) -> IdempotencyKey {
    IdempotencyKey::derive("test", "reply", &EventId::new(name))
}

#[tokio::test]
async fn an_ambiguous_failure_is_never_resent_until_a_status_webhook_settles_it() {
    let (h, store) = harness(None).await;
    let key = key("in-doubt");
    // A 500 (Graph code 1): Meta may have acted. The key stays in doubt.
    h.graph.fail_next(1, Failure::Status(500));
    assert!(h.sink.write(&reply(1), &key).await.is_err());
    let sent_before = h.graph.sent().len();
    assert_eq!(
        h.sink.write(&reply(1), &key).await.unwrap(),
        SendOnce::InDoubt
    );
    assert_eq!(h.graph.sent().len(), sent_before, "no blind resend");
    // The status webhook of the first request carries the key as biz_opaque_callback_data.
    let status: Status = serde_json::from_value(serde_json::json!({
        "id": "wamid.SETTLED", "status": "sent", "timestamp": "1751247548",
        "recipient_id": "16505551234", "biz_opaque_callback_data": key.as_str(),
    }))
    .unwrap();
    assert!(settle_from_status(&store, &status).await.unwrap());
    assert_eq!(
        h.sink.write(&reply(1), &key).await.unwrap(),
        SendOnce::Sent("wamid.SETTLED".into())
    );
    assert_eq!(h.graph.sent().len(), sent_before);
}

#[tokio::test]
async fn with_a_resend_period_a_send_in_doubt_is_sent_again_once_it_passed() {
    let (h, _store) = harness(Some(Duration::ZERO)).await;
    let key = key("resend");
    h.graph.fail_next(1, Failure::Status(500));
    assert!(h.sink.write(&reply(2), &key).await.is_err());
    let receipt = h.sink.write(&reply(2), &key).await.unwrap();
    assert!(matches!(receipt, SendOnce::Sent(ref w) if w.starts_with("wamid.")));
    let sent = h.graph.sent();
    assert_eq!(
        sent.last().and_then(|m| m.text_body()),
        Some("reply 2"),
        "resent after the period"
    );
    // Settled now: no further send.
    let count = sent.len();
    assert_eq!(h.sink.write(&reply(2), &key).await.unwrap(), receipt);
    assert_eq!(h.graph.sent().len(), count);
}

#[tokio::test]
async fn with_conversations_every_sent_message_joins_its_thread_once() {
    use chatport_whatsapp::conversation::{ConversationKey, ConversationStore, Direction};
    let graph = GraphEmulator::start().await.unwrap();
    let client = Client::builder()
        .access_token(SecretString::from(graph.access_token().to_owned()))
        .base_url(&graph.base_url())
        .build()
        .unwrap();
    let store = SqliteStore::open_in_memory().unwrap();
    let log = ConversationStore::new(Arc::new(store.clone()));
    let sink = MessageSink::builder(client, Arc::new(store.clone()), Arc::new(store.clone()))
        .conversations(log.clone())
        .build();
    let to = Recipient::phone("16505551234");
    let first = sink
        .send(
            &key("thread"),
            PHONE_NUMBER_ID,
            OutgoingMessage::text(to.clone(), "Case C-1 opened"),
        )
        .await
        .unwrap();
    // A redelivery: nothing is sent, and the thread does not get the message twice.
    let again = sink
        .send(
            &key("thread"),
            PHONE_NUMBER_ID,
            OutgoingMessage::text(to, "Case C-1 opened"),
        )
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(graph.sent().len(), 1);
    let thread = log
        .messages(&ConversationKey::new(PHONE_NUMBER_ID, "16505551234"))
        .await
        .unwrap();
    assert_eq!(thread.len(), 1, "{thread:?}");
    assert_eq!(thread[0].direction, Direction::Outbound);
    assert_eq!(Some(thread[0].id.as_str()), first.wamid());
    assert_eq!(thread[0].text.as_deref(), Some("Case C-1 opened"));

    // Without `conversations`, the sink keeps no thread.
    let (h, store) = harness(None).await;
    h.sink.write(&reply(3), &key("no-thread")).await.unwrap();
    let log = ConversationStore::new(Arc::new(store));
    assert!(
        log.messages(&ConversationKey::new(PHONE_NUMBER_ID, "16505551234"))
            .await
            .unwrap()
            .is_empty()
    );
}
