//! Durable state that connectors keep between calls: the [`KvStore`] contract and its error,
//! [`StateError`], which the [`IdempotencyLedger`](crate::IdempotencyLedger) shares.
//!
//! The runtime's SQLite and PostgreSQL stores implement both traits; a library user can implement
//! them over any database that commits a write before it answers.

use async_trait::async_trait;

use crate::{Classify, ErrorClass};

/// A failure of a state store ([`KvStore`] or [`IdempotencyLedger`](crate::IdempotencyLedger)).
///
/// It carries the store's own error class (a busy or unreachable database is
/// [`ErrorClass::Transient`], a corrupt value or an SQL error is [`ErrorClass::Permanent`]) and a
/// message free of stored values. The runtime's `StoreError` converts into it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("state store: {message}")]
pub struct StateError {
    class: ErrorClass,
    message: String,
}

impl StateError {
    /// An error of class `class` with `message` (which must not quote stored values).
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    /// A temporary failure ([`ErrorClass::Transient`]): try again later.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, message)
    }

    /// A failure that a retry does not cure ([`ErrorClass::Permanent`]).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, message)
    }

    /// What the store said.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Classify for StateError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

/// A small durable key-value store: conversation state, poller checkpoints, "already notified"
/// markers, the in-doubt timestamps of a message sink. Keys live in namespaces (`ns`); values are
/// opaque bytes. Every write is durable when its future resolves.
///
/// Implemented by `chatport_runtime::SqliteStore` and `chatport_runtime::PgStore`.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value of `key` in `ns`.
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StateError>;

    /// Sets `key` in `ns` to `value` (durable when this returns).
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    async fn put(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StateError>;

    /// Sets `key` only when it is absent; returns whether it was written (an atomic "first one
    /// wins" marker).
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    async fn put_if_absent(&self, ns: &str, key: &str, value: &[u8]) -> Result<bool, StateError>;

    /// Removes `key` (no error when absent).
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    async fn delete(&self, ns: &str, key: &str) -> Result<(), StateError>;

    /// Every `(key, value)` of `ns` whose key starts with `prefix`, by ascending key.
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    async fn list(&self, ns: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StateError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_and_message_are_kept() {
        let e = StateError::transient("database is locked");
        assert_eq!(e.class(), ErrorClass::Transient);
        assert!(e.is_retryable());
        assert_eq!(e.message(), "database is locked");
        assert_eq!(e.to_string(), "state store: database is locked");
        assert!(!StateError::permanent("corrupt").is_retryable());
    }
}
