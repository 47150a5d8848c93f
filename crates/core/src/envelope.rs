use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::EventId;

/// One event on its way through chatport.
///
/// `ordering_key` groups events that must be processed one after another (for WhatsApp the
/// customer's `wa_id` or business-scoped user id, for Orange Logic the asset id). Events with the same
/// key are processed in arrival order, one at a time; events with different keys (or none) run in
/// parallel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Envelope<T> {
    /// Upstream identity, the deduplication key together with `source`.
    pub id: EventId,
    /// The system the event came from: `"whatsapp"`, `"opentext"`, `"orangelogic"`, `"creatio"`.
    pub source: Cow<'static, str>,
    /// What happened, `<noun>.<verb>` style: `"message.received"`, `"status.updated"`.
    pub kind: Cow<'static, str>,
    /// When the event happened upstream (e.g. a WhatsApp message `timestamp`).
    pub occurred_at: DateTime<Utc>,
    /// When chatport received it.
    pub received_at: DateTime<Utc>,
    /// Events with the same key are processed in order, one at a time.
    pub ordering_key: Option<String>,
    /// The event itself.
    pub payload: T,
}

impl<T> Envelope<T> {
    /// Builds an envelope received now. `occurred_at` defaults to the receive time; set it with
    /// [`Envelope::occurred_at`].
    pub fn new(
        id: EventId,
        source: impl Into<Cow<'static, str>>,
        kind: impl Into<Cow<'static, str>>,
        payload: T,
    ) -> Self {
        let now = Utc::now();
        Self {
            id,
            source: source.into(),
            kind: kind.into(),
            occurred_at: now,
            received_at: now,
            ordering_key: None,
            payload,
        }
    }

    /// Sets when the event happened upstream.
    #[must_use]
    pub fn occurred_at(mut self, at: DateTime<Utc>) -> Self {
        self.occurred_at = at;
        self
    }

    /// Sets when chatport received the event.
    #[must_use]
    pub fn received_at(mut self, at: DateTime<Utc>) -> Self {
        self.received_at = at;
        self
    }

    /// Sets the ordering key.
    #[must_use]
    pub fn ordering_key(mut self, key: impl Into<String>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }

    /// Maps the payload, keeping the rest.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Envelope<U> {
        Envelope {
            id: self.id,
            source: self.source,
            kind: self.kind,
            occurred_at: self.occurred_at,
            received_at: self.received_at,
            ordering_key: self.ordering_key,
            payload: f(self.payload),
        }
    }

    /// Replaces the payload with `f(payload)` when it succeeds (serialising an event for storage,
    /// decoding a stored one), keeping everything else.
    ///
    /// # Errors
    /// The error `f` returns.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Envelope<U>, E> {
        let payload = f(self.payload)?;
        Ok(Envelope {
            id: self.id,
            source: self.source,
            kind: self.kind,
            occurred_at: self.occurred_at,
            received_at: self.received_at,
            ordering_key: self.ordering_key,
            payload,
        })
    }
}

/// Opaque resume position of a pull [`Source`](crate::Source): an update time, a page token, a
/// cursor. The runtime persists a checkpoint only after every event before it was acknowledged, so a
/// restart never skips an event (it may repeat some, which idempotent sinks absorb).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint(pub serde_json::Value);

impl Checkpoint {
    /// Wraps a JSON value as a checkpoint.
    pub fn new(value: serde_json::Value) -> Self {
        Self(value)
    }

    /// The text under `key` of an object checkpoint (`{"update_time": "2026-12-01T10:00:00Z"}` →
    /// `get_str("update_time")`); `None` when the checkpoint is not an object, the key is missing
    /// or its value is not a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(serde_json::Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_text_by_key() {
        let c = Checkpoint::new(serde_json::json!({"since": "2026-12-01T10:00:00Z", "n": 3}));
        assert_eq!(c.get_str("since"), Some("2026-12-01T10:00:00Z"));
        assert_eq!(c.get_str("n"), None);
        assert_eq!(c.get_str("missing"), None);
        assert_eq!(
            Checkpoint::new(serde_json::json!("text")).get_str("since"),
            None
        );
    }

    #[test]
    fn builder_and_map_keep_fields() {
        let at = DateTime::from_timestamp(1_751_247_548, 0).unwrap();
        let env = Envelope::new(EventId::new("e1"), "whatsapp", "message.received", 7)
            .occurred_at(at)
            .ordering_key("16505551234");
        let mapped = env.clone().map(|n| n.to_string());
        assert_eq!(mapped.payload, "7");
        assert_eq!(mapped.occurred_at, at);
        assert_eq!(mapped.ordering_key.as_deref(), Some("16505551234"));
        assert_eq!(mapped.source, "whatsapp");
        let json = serde_json::to_string(&env).unwrap();
        let back: Envelope<i32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, env);
    }
}
