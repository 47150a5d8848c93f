//! Helpers for [`Sink`](crate::Sink) implementations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use futures::lock::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Per-key async locks: makes a find-then-create atomic **within one process**, so two tasks
/// writing the same idempotency key at the same moment cannot both find nothing and both create.
///
/// Across processes (replicas) this lock does not reach: there the outbox's ordering key (one key's
/// events are delivered one at a time, by one replica) or a server-side uniqueness rule (a
/// client-chosen record id) must hold. Each sink's docs say which applies.
///
/// Entries are dropped when the last guard for a key is released.
///
/// ```
/// # futures::executor::block_on(async {
/// use chatport_core::sink::KeyLocks;
///
/// let locks = KeyLocks::new();
/// let guard = locks.lock("case-42").await;
/// assert!(locks.try_lock("case-42").is_none()); // held
/// assert!(locks.try_lock("case-43").is_some()); // another key is free
/// drop(guard);
/// assert!(locks.try_lock("case-42").is_some());
/// # });
/// ```
#[derive(Debug, Default, Clone)]
pub struct KeyLocks {
    locks: Arc<Mutex<HashMap<String, Weak<AsyncMutex<()>>>>>,
}

/// Holds one key's lock until dropped.
#[derive(Debug)]
pub struct KeyGuard {
    _guard: OwnedMutexGuard<()>,
}

impl KeyLocks {
    /// No keys locked.
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&self, key: &str) -> Arc<AsyncMutex<()>> {
        let mut map = match self.locks.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(lock) = map.get(key).and_then(Weak::upgrade) {
            return lock;
        }
        // Forget the keys nobody holds any more before adding one.
        map.retain(|_, lock| lock.strong_count() > 0);
        let lock = Arc::new(AsyncMutex::new(()));
        map.insert(key.to_owned(), Arc::downgrade(&lock));
        lock
    }

    /// Waits for `key`'s lock.
    pub async fn lock(&self, key: &str) -> KeyGuard {
        KeyGuard {
            _guard: self.entry(key).lock_owned().await,
        }
    }

    /// `key`'s lock if it is free now.
    pub fn try_lock(&self, key: &str) -> Option<KeyGuard> {
        self.entry(key)
            .try_lock_owned()
            .map(|guard| KeyGuard { _guard: guard })
    }
}
