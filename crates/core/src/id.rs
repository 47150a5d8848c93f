use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An identifier was empty or too long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {reason}")]
pub struct InvalidId {
    what: &'static str,
    reason: &'static str,
}

/// Upstream identity of an event, stable across redeliveries.
///
/// Examples: a WhatsApp message wamid (up to 128 characters), `wamid:status` for a status update, an
/// Orange Logic webhook event id, a Creatio record id. The runtime's outbox deduplicates on
/// `(source, EventId)`, so two deliveries of the same upstream event become one row.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// Longest accepted id, in bytes. Upstream ids are far shorter (a wamid is at most 128 characters).
    pub const MAX_LEN: usize = 1024;

    /// Wraps an upstream id. Use [`EventId::try_new`] for ids from outside input.
    ///
    /// # Panics
    /// Never: an empty or over-long id is replaced by the SHA-256 of its bytes so that it stays a
    /// stable, valid id. Call [`EventId::try_new`] to get an error instead.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        match Self::try_new(id.clone()) {
            Ok(ok) => ok,
            Err(_) => Self::from_content(id.as_bytes()),
        }
    }

    /// Wraps an upstream id, refusing an empty id or one longer than [`EventId::MAX_LEN`] bytes.
    ///
    /// # Errors
    /// [`InvalidId`] for an empty or over-long id.
    pub fn try_new(id: impl Into<String>) -> Result<Self, InvalidId> {
        let id = id.into();
        if id.is_empty() {
            return Err(InvalidId {
                what: "event id",
                reason: "empty",
            });
        }
        if id.len() > Self::MAX_LEN {
            return Err(InvalidId {
                what: "event id",
                reason: "longer than 1024 bytes",
            });
        }
        Ok(Self(id))
    }

    /// An id derived from content, for events that carry no id of their own (a webhook error
    /// object, an account update, a body that does not parse): `sha256:<hex>` of the bytes.
    pub fn from_content(bytes: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EventId").field(&self.0).finish()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A deterministic write key: the same `(flow, step, event)` gives the same key on every retry and
/// every replay, and different triples give different keys.
///
/// The key is the lower-case hex SHA-256 (64 characters) of the three parts, each length-prefixed so
/// that `("a|b", "c")` and `("a", "b|c")` cannot collide. Sinks use it to make a second write a no-op:
/// Creatio takes [`IdempotencyKey::uuid`] as the record id, the CMS stores the key in a property and
/// looks it up, WhatsApp sends go through an [`IdempotencyLedger`](crate::IdempotencyLedger).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Derives the key of one step of one flow for one event.
    pub fn derive(flow: &str, step: &str, event: &EventId) -> Self {
        let mut hasher = Sha256::new();
        for part in [flow, step, event.as_str()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Self(hex::encode(hasher.finalize()))
    }

    /// Wraps a key that was derived earlier and stored (64 lower-case hex characters, or any
    /// non-empty string of at most 255 characters from another system).
    ///
    /// # Errors
    /// [`InvalidId`] for an empty key or one longer than 255 characters.
    pub fn from_stored(key: impl Into<String>) -> Result<Self, InvalidId> {
        let key = key.into();
        if key.is_empty() {
            return Err(InvalidId {
                what: "idempotency key",
                reason: "empty",
            });
        }
        if key.len() > 255 {
            return Err(InvalidId {
                what: "idempotency key",
                reason: "longer than 255 bytes",
            });
        }
        Ok(Self(key))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A name-based (version 5) UUID of the key, for APIs that take a client-chosen record id
    /// (Creatio's `Id` column): the same key always gives the same UUID.
    pub fn uuid(&self) -> uuid::Uuid {
        // A fixed namespace of chatport's own, so that our UUIDs never collide with other v5 UUIDs
        // derived from the same string under the standard namespaces.
        const NAMESPACE: uuid::Uuid = uuid::Uuid::from_bytes([
            0x6b, 0x1e, 0x0c, 0x3a, 0x52, 0x8f, 0x4d, 0x21, 0x9a, 0x77, 0x0e, 0x45, 0xc2, 0x3b,
            0x91, 0x10,
        ]);
        uuid::Uuid::new_v5(&NAMESPACE, self.0.as_bytes())
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdempotencyKey").field(&self.0).finish()
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn event_id_rejects_empty_and_huge() {
        assert!(EventId::try_new("").is_err());
        assert!(EventId::try_new("x".repeat(EventId::MAX_LEN + 1)).is_err());
        assert_eq!(EventId::try_new("wamid.1").unwrap().as_str(), "wamid.1");
        // new() never panics and stays deterministic for bad input
        assert_eq!(EventId::new(""), EventId::new(""));
        assert!(EventId::new("").as_str().starts_with("sha256:"));
    }

    #[test]
    fn key_is_hex_sha256() {
        let key = IdempotencyKey::derive("O1", "create_case", &EventId::new("wamid.1"));
        assert_eq!(key.as_str().len(), 64);
        assert!(
            key.as_str()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(key.uuid().get_version_num(), 5);
    }

    proptest! {
        #[test]
        fn derive_is_deterministic(flow in ".{0,20}", step in ".{0,20}", id in ".{1,64}") {
            let event = EventId::new(id);
            prop_assert_eq!(IdempotencyKey::derive(&flow, &step, &event), IdempotencyKey::derive(&flow, &step, &event));
            let key = IdempotencyKey::derive(&flow, &step, &event);
            prop_assert_eq!(key.uuid(), IdempotencyKey::derive(&flow, &step, &event).uuid());
        }

        #[test]
        fn derive_separates_parts(a in "[a-z|]{0,8}", b in "[a-z|]{0,8}", c in "[a-z|]{0,8}", d in "[a-z|]{0,8}", id in "[a-z]{1,8}") {
            // Different (flow, step) pairs never give the same key, even when their concatenations match.
            prop_assume!((a.as_str(), b.as_str()) != (c.as_str(), d.as_str()));
            let event = EventId::new(id);
            prop_assert_ne!(IdempotencyKey::derive(&a, &b, &event), IdempotencyKey::derive(&c, &d, &event));
        }

        #[test]
        fn derive_separates_events(x in "[a-zA-Z0-9.=]{1,40}", y in "[a-zA-Z0-9.=]{1,40}") {
            prop_assume!(x != y);
            prop_assert_ne!(
                IdempotencyKey::derive("O1", "s", &EventId::new(x)),
                IdempotencyKey::derive("O1", "s", &EventId::new(y))
            );
        }
    }
}
