//! The runtime's error type.

use chatport_core::{Classify, ErrorClass};

/// An error of an outbox or key-value store backend.
///
/// Messages never hold payloads, phone numbers or secrets: they carry the backend's own error text
/// (SQLite's messages never include bound values) or a row id.
///
/// Classes ([`Classify`]): `Busy`, `Io`, `Closed` and `Unavailable` are
/// [`ErrorClass::Transient`] (a later attempt may succeed; ingress answers 503 so the sender
/// retries); `LeaseLost`, `Invalid`, `Corrupt` and `Database` are [`ErrorClass::Permanent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database is busy or locked by another connection or process (SQLite `SQLITE_BUSY` /
    /// `SQLITE_LOCKED` after the busy timeout).
    #[error("store busy: {0}")]
    Busy(String),
    /// Disk I/O failed, the disk is full, or the database file could not be opened.
    #[error("store i/o error: {0}")]
    Io(String),
    /// The store was shut down (its writer thread is gone) or a reply was dropped.
    #[error("store closed")]
    Closed,
    /// Another backend-specific temporary failure (a PostgreSQL connection loss, a test double).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The caller's lease on the row is no longer held: it expired and another worker claimed the
    /// row, or the row was resolved, released or replayed meanwhile. The caller must drop its
    /// result (the new owner will deliver the event again, idempotently).
    #[error("lease lost on outbox row {row_id}")]
    LeaseLost {
        /// The outbox row id.
        row_id: i64,
    },
    /// The caller passed an argument the store cannot act on (for example `purge` with a status
    /// filter other than dead).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// A stored value could not be decoded (an unknown status, a bad timestamp, bad receipt JSON),
    /// or the database schema is newer than this build.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Any other database error (SQL error, constraint violation).
    #[error("store error: {0}")]
    Database(String),
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Busy(_)
            | StoreError::Io(_)
            | StoreError::Closed
            | StoreError::Unavailable(_) => ErrorClass::Transient,
            StoreError::LeaseLost { .. }
            | StoreError::Invalid(_)
            | StoreError::Corrupt(_)
            | StoreError::Database(_) => ErrorClass::Permanent,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match &error {
            rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    StoreError::Busy(error.to_string())
                }
                ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::OutOfMemory => StoreError::Io(error.to_string()),
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                    StoreError::Corrupt(error.to_string())
                }
                _ => StoreError::Database(error.to_string()),
            },
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..) => StoreError::Corrupt(error.to_string()),
            _ => StoreError::Database(error.to_string()),
        }
    }
}

impl From<StoreError> for chatport_core::StateError {
    fn from(error: StoreError) -> Self {
        chatport_core::StateError::new(error.class(), error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(StoreError::Closed.class(), ErrorClass::Transient);
        assert_eq!(StoreError::Busy("x".into()).class(), ErrorClass::Transient);
        assert_eq!(StoreError::Io("x".into()).class(), ErrorClass::Transient);
        assert_eq!(
            StoreError::LeaseLost { row_id: 3 }.class(),
            ErrorClass::Permanent
        );
        assert_eq!(
            StoreError::LeaseLost { row_id: 3 }.to_string(),
            "lease lost on outbox row 3"
        );
    }

    #[test]
    fn sqlite_codes_map() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(matches!(StoreError::from(busy), StoreError::Busy(_)));
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert!(matches!(StoreError::from(full), StoreError::Io(_)));
        let constraint = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            None,
        );
        assert!(matches!(
            StoreError::from(constraint),
            StoreError::Database(_)
        ));
    }
}
