//! A monotonic delivery state machine for sent messages, fed by status webhooks that arrive at
//! least once and out of order.
//!
//! Meta: webhooks/reference/messages/status: `sent | delivered | read | failed | played`;
//! "In some cases… the message is both delivered and read at the same time. In these cases, the
//! 'delivered' webhook is not sent." Seen in practice: `sent` after `delivered`
//! (chatwoot#14529), `delivered` without `sent` (postmangovsg PR #2151), a status before the send
//! call returned (botpress PR #15029).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::kind::ErrorKind;
use crate::webhook::{Status, StatusKind};

/// Where a sent message is. Ordered: `Accepted < Sent < Delivered < Read < Played`; `Failed` is
/// final.
///
/// Transition rule ([`DeliveryState::advance`]): a state only moves forward; a lower or equal
/// state is ignored; `Failed` is the top element: it replaces any state and then never changes.
/// The result is the join of all updates seen, so it does not depend on their order or on
/// duplicates (a late `sent` after `delivered`, a missing `delivered`, a `failed` before its
/// `sent` all end in the same state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DeliveryState {
    /// Meta answered the send (200) but no status arrived yet.
    Accepted,
    /// `sent`.
    Sent,
    /// `delivered`.
    Delivered,
    /// `read`.
    Read,
    /// `played` (a voice message was first played; after `read`).
    Played,
    /// `failed` (see the status's errors); final.
    Failed,
}

impl DeliveryState {
    /// The state of a status webhook value; `None` for a value this crate does not know.
    pub fn from_status(kind: &StatusKind) -> Option<DeliveryState> {
        Some(match kind {
            StatusKind::Sent => DeliveryState::Sent,
            StatusKind::Delivered => DeliveryState::Delivered,
            StatusKind::Read => DeliveryState::Read,
            StatusKind::Played => DeliveryState::Played,
            StatusKind::Failed => DeliveryState::Failed,
            _ => return None,
        })
    }

    /// Whether no further update can change it (`Failed`).
    pub fn is_final(self) -> bool {
        self == DeliveryState::Failed
    }

    /// The state after `incoming` arrived in state `self` (see the type's transition rule).
    pub fn advance(self, incoming: DeliveryState) -> DeliveryState {
        // `Failed` is declared last, so it is the maximum of the derived order.
        self.max(incoming)
    }
}

/// What the tracker knows about one message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryRecord {
    /// The current state.
    pub state: DeliveryState,
    /// When the state last changed (the status's timestamp, else the time it was applied).
    pub updated_at: DateTime<Utc>,
    /// The kind of the failure, for `Failed`
    /// (e.g. [`ErrorKind::ReEngagementRequired`] for an asynchronous 131047).
    pub failure: Option<ErrorKind>,
    /// `biz_opaque_callback_data` of the send, as echoed by a status.
    pub biz_opaque_callback_data: Option<String>,
}

/// The result of [`DeliveryTracker::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// The state before (`None` for a wamid seen for the first time: a status can arrive before
    /// the send returned, or be for a message sent elsewhere).
    pub previous: Option<DeliveryState>,
    /// The state after.
    pub current: DeliveryState,
}

impl Applied {
    /// Whether the update moved the state.
    pub fn changed(&self) -> bool {
        self.previous != Some(self.current)
    }
}

/// Delivery states by wamid, in memory. Duplicate, late and out-of-order statuses never move a
/// message backwards.
#[derive(Clone, Debug, Default)]
pub struct DeliveryTracker {
    records: HashMap<String, DeliveryRecord>,
}

impl DeliveryTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an accepted send (`Accepted`, or nothing when a status for it already arrived).
    pub fn accepted(&mut self, wamid: &str, biz_opaque_callback_data: Option<&str>) {
        let record = self
            .records
            .entry(wamid.to_owned())
            .or_insert_with(|| DeliveryRecord {
                state: DeliveryState::Accepted,
                updated_at: Utc::now(),
                failure: None,
                biz_opaque_callback_data: None,
            });
        if record.biz_opaque_callback_data.is_none() {
            record.biz_opaque_callback_data = biz_opaque_callback_data.map(str::to_owned);
        }
    }

    /// Applies a status webhook. Unknown status values are ignored (`None`).
    pub fn apply(&mut self, status: &Status) -> Option<Applied> {
        let incoming = DeliveryState::from_status(&status.status)?;
        let at = status.timestamp().unwrap_or_else(Utc::now);
        let record = self.records.get_mut(&status.id);
        let previous = record.as_ref().map(|r| r.state);
        let record = match record {
            Some(r) => r,
            None => self
                .records
                .entry(status.id.clone())
                .or_insert_with(|| DeliveryRecord {
                    state: DeliveryState::Accepted,
                    updated_at: at,
                    failure: None,
                    biz_opaque_callback_data: None,
                }),
        };
        let next = record.state.advance(incoming);
        if next != record.state || previous.is_none() {
            record.updated_at = at;
        }
        if next == DeliveryState::Failed && record.state != DeliveryState::Failed {
            record.failure = status.error_kind();
        }
        record.state = next;
        if record.biz_opaque_callback_data.is_none() {
            record.biz_opaque_callback_data = status.biz_opaque_callback_data.clone();
        }
        Some(Applied {
            previous,
            current: next,
        })
    }

    /// The record of `wamid`.
    pub fn get(&self, wamid: &str) -> Option<&DeliveryRecord> {
        self.records.get(wamid)
    }

    /// The state of `wamid`.
    pub fn state(&self, wamid: &str) -> Option<DeliveryState> {
        self.records.get(wamid).map(|r| r.state)
    }

    /// Forgets `wamid` (e.g. once final and persisted).
    pub fn remove(&mut self, wamid: &str) -> Option<DeliveryRecord> {
        self.records.remove(wamid)
    }

    /// How many messages are tracked.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no message is tracked.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryState as S;

    #[test]
    fn transitions() {
        assert_eq!(S::Sent.advance(S::Delivered), S::Delivered);
        assert_eq!(S::Delivered.advance(S::Sent), S::Delivered);
        assert_eq!(S::Sent.advance(S::Read), S::Read);
        assert_eq!(S::Read.advance(S::Played), S::Played);
        assert_eq!(S::Played.advance(S::Read), S::Played);
        assert_eq!(S::Sent.advance(S::Failed), S::Failed);
        assert_eq!(S::Accepted.advance(S::Failed), S::Failed);
        assert_eq!(S::Failed.advance(S::Read), S::Failed);
        assert_eq!(S::Delivered.advance(S::Failed), S::Failed);
    }
}
