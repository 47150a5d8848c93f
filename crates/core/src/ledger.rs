use async_trait::async_trait;

use crate::{IdempotencyKey, StateError};

/// The state of one key in an [`IdempotencyLedger`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LedgerEntry {
    /// The key was not known: it is now recorded as in progress, and the caller must perform the
    /// effect, then call [`IdempotencyLedger::complete`] or [`IdempotencyLedger::release`].
    Started,
    /// The effect already happened; here is its receipt. Do not perform it again.
    Completed(serde_json::Value),
    /// An earlier attempt started the effect and never said how it ended (a timeout after the
    /// request left, or a crash). Whether the effect happened is unknown: a sink without a way to
    /// check (WhatsApp sends) must **not** repeat it blindly.
    InDoubt,
}

/// A durable record of effects performed under an [`IdempotencyKey`], for sinks whose API has no
/// idempotency key of its own (WhatsApp `POST /messages` has none).
///
/// Protocol: `begin(key)` → `Started` means "go ahead"; after the call, `complete(key, receipt)` on
/// success, `release(key)` when the request provably had no effect (the server refused it before
/// acting), and nothing at all when the outcome is unknown, so that the next `begin` says `InDoubt`.
#[async_trait]
pub trait IdempotencyLedger: Send + Sync {
    /// Records the key as in progress, or tells what an earlier attempt left.
    async fn begin(&self, key: &IdempotencyKey) -> Result<LedgerEntry, StateError>;
    /// Records the effect's receipt.
    async fn complete(
        &self,
        key: &IdempotencyKey,
        receipt: &serde_json::Value,
    ) -> Result<(), StateError>;
    /// Forgets an in-progress key whose effect provably did not happen, so it may be tried again.
    async fn release(&self, key: &IdempotencyKey) -> Result<(), StateError>;
}
