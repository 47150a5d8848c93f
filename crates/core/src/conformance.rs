//! The sink conformance suite (feature `conformance`): the behaviour every [`Sink`] must show
//! against its target (a vendor emulator in tests).
//!
//! | Check | What must hold |
//! |---|---|
//! | [`same_key_twice`] | the same key written twice gives **one** effect and the same receipt |
//! | [`concurrent_same_key`] | concurrent writes with one key give one effect |
//! | [`retry_after_failure`] | a retryable failure, then a successful retry, gives one effect |
//! | [`distinct_keys`] | two keys give two effects |
//!
//! A connector implements [`SinkHarness`] over its sink and an emulator, then calls
//! [`run_all`] in a test:
//!
//! ```text
//! #[tokio::test]
//! async fn instance_sink_conforms() {
//!     chatport_core::conformance::run_all(&MyHarness::start().await).await;
//! }
//! ```
//!
//! Each check uses its own keys (derived from its name and a counter), so the checks can share one
//! harness; effect counts are compared before and after.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{Classify, EventId, IdempotencyKey, Sink};

/// What the suite needs to drive a sink and observe its target.
#[async_trait]
pub trait SinkHarness: Send + Sync {
    /// The sink under test.
    type Sink: Sink;

    /// The sink.
    fn sink(&self) -> &Self::Sink;

    /// A distinct item for `n` (items of different `n` must be distinguishable effects, e.g. a
    /// different name or text).
    fn item(&self, n: u32) -> <Self::Sink as Sink>::Item;

    /// How many effects the target holds now (records created, messages sent, assets uploaded).
    async fn effects(&self) -> usize;

    /// Makes the target refuse the next effect-creating call with a failure the sink classifies
    /// as retryable **and** that provably had no effect (a 429 or a 503 before the write).
    async fn fail_next_write(&self);
}

fn key(check: &str, n: u32) -> IdempotencyKey {
    IdempotencyKey::derive("conformance", check, &EventId::new(format!("{check}-{n}")))
}

/// The same key written twice gives one effect and the same receipt.
///
/// # Panics
/// When the sink does not conform (this is a test helper).
pub async fn same_key_twice<H>(h: &H)
where
    H: SinkHarness,
    <H::Sink as Sink>::Receipt: PartialEq + Debug,
{
    let before = h.effects().await;
    let item = h.item(1);
    let key = key("same_key_twice", 1);
    let first = h.sink().write(&item, &key).await;
    let first = first.unwrap_or_else(|e| panic!("first write failed: {e}"));
    let second = h.sink().write(&item, &key).await;
    let second = second.unwrap_or_else(|e| panic!("second write failed: {e}"));
    assert_eq!(first, second, "the same key must give the same receipt");
    assert_eq!(
        h.effects().await,
        before + 1,
        "the same key must give one effect"
    );
}

/// Eight concurrent writes with one key give one effect (every write that succeeds returns the
/// same receipt).
///
/// # Panics
/// When the sink does not conform.
pub async fn concurrent_same_key<H>(h: &H)
where
    H: SinkHarness,
    <H::Sink as Sink>::Receipt: PartialEq + Debug,
{
    let before = h.effects().await;
    let item = h.item(2);
    let key = key("concurrent_same_key", 2);
    let writes = (0..8).map(|_| h.sink().write(&item, &key));
    let results = futures::future::join_all(writes).await;
    let receipts: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
    assert!(
        !receipts.is_empty(),
        "at least one concurrent write must succeed"
    );
    assert!(
        receipts.windows(2).all(|w| w[0] == w[1]),
        "concurrent writes of one key must return one receipt: {receipts:?}"
    );
    assert_eq!(
        h.effects().await,
        before + 1,
        "concurrent writes of one key must give one effect"
    );
}

/// A retryable failure, then a successful retry of the same key, gives one effect.
///
/// # Panics
/// When the sink does not conform.
pub async fn retry_after_failure<H: SinkHarness>(h: &H) {
    let before = h.effects().await;
    let item = h.item(3);
    let key = key("retry_after_failure", 3);
    h.fail_next_write().await;
    match h.sink().write(&item, &key).await {
        Ok(_) => panic!("the injected failure must reach the caller"),
        Err(e) => assert!(
            e.is_retryable(),
            "the injected failure must be retryable: {e}"
        ),
    }
    let retried = h.sink().write(&item, &key).await;
    retried.unwrap_or_else(|e| panic!("the retry failed: {e}"));
    assert_eq!(
        h.effects().await,
        before + 1,
        "a retry must give one effect"
    );
    let again = h.sink().write(&item, &key).await;
    again.unwrap_or_else(|e| panic!("a write after the retry failed: {e}"));
    assert_eq!(
        h.effects().await,
        before + 1,
        "a write after the retry must not add one"
    );
}

/// Two keys give two effects.
///
/// # Panics
/// When the sink does not conform.
pub async fn distinct_keys<H: SinkHarness>(h: &H) {
    let before = h.effects().await;
    for n in [4, 5] {
        let written = h.sink().write(&h.item(n), &key("distinct_keys", n)).await;
        written.unwrap_or_else(|e| panic!("write {n} failed: {e}"));
    }
    assert_eq!(
        h.effects().await,
        before + 2,
        "two keys must give two effects"
    );
}

/// Runs every check in turn.
///
/// # Panics
/// When the sink does not conform.
pub async fn run_all<H>(h: &H)
where
    H: SinkHarness,
    <H::Sink as Sink>::Receipt: PartialEq + Debug,
{
    same_key_twice(h).await;
    concurrent_same_key(h).await;
    retry_after_failure(h).await;
    distinct_keys(h).await;
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::{ErrorClass, sink::KeyLocks};

    #[derive(Debug, thiserror::Error)]
    #[error("target busy")]
    struct Busy;

    impl Classify for Busy {
        fn class(&self) -> ErrorClass {
            ErrorClass::Transient
        }
    }

    /// A target that counts effects; `idempotent: false` makes a sink that ignores the key.
    struct MemorySink {
        idempotent: bool,
        locks: KeyLocks,
        records: Mutex<HashMap<String, u32>>,
        effects: Mutex<Vec<u32>>,
        fail: AtomicBool,
    }

    #[async_trait]
    impl Sink for MemorySink {
        type Item = u32;
        type Receipt = u32;
        type Error = Busy;

        async fn write(&self, item: &u32, key: &IdempotencyKey) -> Result<u32, Busy> {
            let _guard = self.locks.lock(key.as_str()).await;
            if self.idempotent
                && let Some(found) = self.records.lock().unwrap().get(key.as_str())
            {
                return Ok(*found);
            }
            futures::future::ready(()).await;
            if self.fail.swap(false, Ordering::SeqCst) {
                return Err(Busy);
            }
            let mut effects = self.effects.lock().unwrap();
            effects.push(*item);
            let receipt = u32::try_from(effects.len()).unwrap();
            self.records
                .lock()
                .unwrap()
                .insert(key.as_str().to_owned(), receipt);
            Ok(receipt)
        }
    }

    struct Harness(MemorySink);

    #[async_trait]
    impl SinkHarness for Harness {
        type Sink = MemorySink;
        fn sink(&self) -> &MemorySink {
            &self.0
        }
        fn item(&self, n: u32) -> u32 {
            n
        }
        async fn effects(&self) -> usize {
            self.0.effects.lock().unwrap().len()
        }
        async fn fail_next_write(&self) {
            self.0.fail.store(true, Ordering::SeqCst);
        }
    }

    fn harness(idempotent: bool) -> Harness {
        Harness(MemorySink {
            idempotent,
            locks: KeyLocks::new(),
            records: Mutex::new(HashMap::new()),
            effects: Mutex::new(Vec::new()),
            fail: AtomicBool::new(false),
        })
    }

    #[tokio::test]
    async fn an_idempotent_sink_passes() {
        run_all(&harness(true)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "the same key must give")]
    async fn a_sink_that_ignores_the_key_fails() {
        same_key_twice(&harness(false)).await;
    }
}
