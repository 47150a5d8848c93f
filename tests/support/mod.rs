//! What the facade-level tests share: a Graph client on the emulator and a durable ledger and
//! key-value store (an in-memory SQLite store) for the message sink.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chatport::core::{IdempotencyLedger, KvStore};
use chatport::runtime::SqliteStore;
use chatport::whatsapp::Client as GraphClient;
use chatport::whatsapp::sink::MessageSink;
use chatport_testkit::graph::GraphEmulator;
use secrecy::SecretString;

/// The business phone number id every test sends from.
pub(crate) const PHONE_NUMBER_ID: &str = "106540352242922";

/// A message sink sending through `graph`, with its ledger and state in a fresh in-memory store.
pub(crate) fn message_sink(graph: &GraphEmulator) -> MessageSink {
    let store = SqliteStore::open_in_memory().unwrap();
    let ledger: Arc<dyn IdempotencyLedger> = Arc::new(store.clone());
    let kv: Arc<dyn KvStore> = Arc::new(store);
    let client = GraphClient::builder()
        .access_token(SecretString::from(graph.access_token().to_owned()))
        .base_url(&graph.base_url())
        .build()
        .unwrap();
    MessageSink::builder(client, ledger, kv).build()
}
