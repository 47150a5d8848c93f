use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::{Checkpoint, Classify, Envelope, IdempotencyKey};

/// The stream a [`Source`] yields: each item is an envelope with the checkpoint that becomes valid
/// once it (and everything before it) was acknowledged.
pub type SourceStream<'a, T, E> = BoxStream<'a, Result<(Envelope<T>, Option<Checkpoint>), E>>;

/// Where events come from.
///
/// Push sources (webhooks) are served by the runtime's ingress and do not need this trait; pull
/// sources (pollers of CMS status changes, Orange Logic searches, Creatio activities) implement it.
/// The runtime writes every yielded envelope to the outbox and commits the checkpoint only after
/// that, so a crash repeats events instead of losing them.
#[async_trait]
pub trait Source: Send + Sync {
    /// The payload of the envelopes.
    type Event: Send + 'static;
    /// The source's error type.
    type Error: std::error::Error + Classify + Send + Sync + 'static;

    /// Probes the upstream system (credentials, reachability). Used by `chatport check`.
    async fn check(&self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Polls once, resuming after `resume` (the last committed checkpoint, `None` on first start).
    async fn poll(
        &self,
        resume: Option<Checkpoint>,
    ) -> Result<SourceStream<'_, Self::Event, Self::Error>, Self::Error>;
}

/// Where effects go.
///
/// **Contract:** `write` must be idempotent for `key`: a second call with the same key (a retry, a
/// replay, a second replica) must not create a second effect, and returns the first effect's receipt
/// where the target allows finding it. How each connector does it: Creatio takes a client-chosen
/// record id ([`IdempotencyKey::uuid`]), the CMS stores the key in a property and looks it up before
/// creating, WhatsApp keeps an [`IdempotencyLedger`](crate::IdempotencyLedger) and never resends
/// blindly after an ambiguous timeout.
#[async_trait]
pub trait Sink: Send + Sync {
    /// What is written.
    type Item: Send + Sync;
    /// What the target returned (a record id, a wamid).
    type Receipt: serde::Serialize + Send;
    /// The sink's error type.
    type Error: std::error::Error + Classify + Send + Sync + 'static;

    /// Probes the target system. Used by `chatport check`.
    async fn check(&self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Writes `item` at most once per `key`.
    async fn write(
        &self,
        item: &Self::Item,
        key: &IdempotencyKey,
    ) -> Result<Self::Receipt, Self::Error>;
}
