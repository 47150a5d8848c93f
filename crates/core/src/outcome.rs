use std::time::Duration;

use crate::{Classify, ErrorClass};

/// How one delivery attempt of an event ended.
///
/// The runtime turns it into the row's next state: `Delivered` → done (with the receipt),
/// `Retry` → pending again at the next time of the retry schedule (or after `after`, the server's
/// hint, when it is later), `Rejected` → dead (the dead-letter queue), from where an operator can
/// replay it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The effect happened (or had already happened: an idempotent sink found it), or the event was
    /// intentionally filtered out. `receipt` is what the target returned (a record id, a wamid).
    Delivered {
        /// What the target returned, kept with the outbox row.
        receipt: Option<serde_json::Value>,
    },
    /// A transient failure: try again later.
    Retry {
        /// The earliest time to try again that the server asked for, if any.
        after: Option<Duration>,
        /// Why, for the attempt history (no secrets, no phone numbers).
        reason: String,
    },
    /// A permanent failure: retrying cannot help. The event goes to the dead-letter queue.
    Rejected {
        /// Why, for the dead-letter queue (no secrets, no phone numbers).
        reason: String,
    },
}

impl Outcome {
    /// Delivered without a receipt.
    pub fn delivered() -> Self {
        Outcome::Delivered { receipt: None }
    }

    /// Delivered with a receipt.
    pub fn delivered_with(receipt: serde_json::Value) -> Self {
        Outcome::Delivered {
            receipt: Some(receipt),
        }
    }

    /// Maps a classified error to an outcome: [`ErrorClass::Permanent`] → `Rejected`, everything else
    /// → `Retry` (with the Retry-After hint of [`ErrorClass::Throttled`]). `reason` is the error's
    /// `Display`, which connector errors keep free of secrets and phone numbers.
    pub fn from_error<E: Classify + std::fmt::Display + ?Sized>(error: &E) -> Self {
        let reason = error.to_string();
        match error.class() {
            ErrorClass::Permanent => Outcome::Rejected { reason },
            class => Outcome::Retry {
                after: class.retry_after(),
                reason,
            },
        }
    }

    /// A short stable name: `delivered`, `retry`, `rejected` (a metrics label).
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Rejected { .. } => "rejected",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("boom ({0:?})")]
    struct E(ErrorClass);
    impl Classify for E {
        fn class(&self) -> ErrorClass {
            self.0
        }
    }

    #[test]
    fn errors_map_to_outcomes() {
        assert!(matches!(
            Outcome::from_error(&E(ErrorClass::Permanent)),
            Outcome::Rejected { .. }
        ));
        let ra = Some(Duration::from_secs(9));
        assert_eq!(
            Outcome::from_error(&E(ErrorClass::Throttled { retry_after: ra })),
            Outcome::Retry {
                after: ra,
                reason: "boom (Throttled { retry_after: Some(9s) })".into()
            }
        );
        assert!(matches!(
            Outcome::from_error(&E(ErrorClass::Server)),
            Outcome::Retry { after: None, .. }
        ));
        assert_eq!(Outcome::delivered().as_str(), "delivered");
    }
}
