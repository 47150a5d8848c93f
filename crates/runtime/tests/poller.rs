//! The poller: checkpoints committed only after the events before them are stored.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{Checkpoint, Classify, Envelope, ErrorClass, EventId, Source, SourceStream};
use chatport_runtime::poller::{KV_CHECKPOINT, PollError, Poller, PollerConfig};
use chatport_runtime::{EventFilter, KvStore, Outbox, SqliteStore, StoreError};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
#[error("upstream unavailable")]
struct Upstream;

impl Classify for Upstream {
    fn class(&self) -> ErrorClass {
        ErrorClass::Throttled {
            retry_after: Some(Duration::from_millis(5)),
        }
    }
}

/// Items 0..len, each with a checkpoint `{"after": i}`; can fail after `fail_after` items once.
struct Numbers {
    len: usize,
    fail_after: Option<usize>,
    failed: AtomicBool,
    polls: AtomicUsize,
}

impl Numbers {
    fn new(len: usize) -> Self {
        Self {
            len,
            fail_after: None,
            failed: AtomicBool::new(false),
            polls: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Source for Numbers {
    type Event = serde_json::Value;
    type Error = Upstream;

    async fn poll(
        &self,
        resume: Option<Checkpoint>,
    ) -> Result<SourceStream<'_, Self::Event, Self::Error>, Self::Error> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        let start = resume
            .and_then(|c| c.0["after"].as_u64())
            .map_or(0, |after| after as usize + 1);
        let fail_at = self
            .fail_after
            .filter(|_| !self.failed.swap(true, Ordering::SeqCst));
        let items: Vec<Result<(Envelope<serde_json::Value>, Option<Checkpoint>), Upstream>> =
            (start..self.len)
                .map_while(|i| {
                    if fail_at.is_some_and(|f| i >= f) {
                        return None;
                    }
                    let envelope = Envelope::new(
                        EventId::new(format!("item-{i}")),
                        "cms",
                        "status.changed",
                        json!({ "n": i }),
                    )
                    .ordering_key(format!("record-{}", i % 3));
                    Some(Ok((envelope, Some(Checkpoint::new(json!({ "after": i }))))))
                })
                .chain(fail_at.map(|_| Err(Upstream)))
                .collect();
        Ok(Box::pin(futures::stream::iter(items)))
    }
}

fn store() -> SqliteStore {
    SqliteStore::open_in_memory().unwrap()
}

fn poller(source: Arc<Numbers>, store: &SqliteStore, batch: usize) -> Poller<Numbers> {
    Poller::new(
        source,
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        PollerConfig::new("cms-status", "O3")
            .batch(batch)
            .interval(Duration::from_millis(10)),
    )
}

async fn rows(store: &SqliteStore) -> Vec<chatport_runtime::StoredEvent> {
    Outbox::list(store, &EventFilter::default(), 1000)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_round_stores_everything_and_the_next_resumes_after_the_checkpoint() {
    let store = store();
    let source = Arc::new(Numbers::new(7));
    let p = poller(source.clone(), &store, 3);
    let report = p.poll_once().await.unwrap();
    assert_eq!(
        (report.events, report.inserted, report.duplicates),
        (7, 7, 0)
    );
    assert!(report.checkpoint_committed);
    assert_eq!(
        p.checkpoint().await.unwrap().unwrap().0,
        json!({ "after": 6 })
    );
    let stored = rows(&store).await;
    assert_eq!(stored.len(), 7);
    assert!(
        stored
            .iter()
            .all(|r| r.flow == "O3" && r.source == "cms" && r.kind == "status.changed")
    );
    assert_eq!(stored[4].ordering_key.as_deref(), Some("record-1"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&stored[4].payload).unwrap(),
        json!({ "n": 4 })
    );

    let again = p.poll_once().await.unwrap();
    assert_eq!(again.events, 0, "resumed after the last checkpoint");
    assert_eq!(rows(&store).await.len(), 7);
}

#[tokio::test]
async fn a_failing_source_keeps_what_came_before_and_resumes_there() {
    let store = store();
    let source = Arc::new(Numbers {
        fail_after: Some(4),
        ..Numbers::new(6)
    });
    let p = poller(source.clone(), &store, 10);
    let error = p.poll_once().await.unwrap_err();
    assert!(matches!(error, PollError::Source { .. }));
    assert_eq!(error.retry_after(), Some(Duration::from_millis(5)));
    assert_eq!(
        rows(&store).await.len(),
        4,
        "items before the failure are stored"
    );
    assert_eq!(
        p.checkpoint().await.unwrap().unwrap().0,
        json!({ "after": 3 })
    );

    let report = p.poll_once().await.unwrap();
    assert_eq!((report.events, report.inserted), (2, 2));
    assert_eq!(rows(&store).await.len(), 6);
}

/// A key-value store whose writes fail: the "crash" between a batch commit and its checkpoint.
struct NoCheckpoints(SqliteStore);

#[async_trait]
impl KvStore for NoCheckpoints {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, chatport_core::StateError> {
        KvStore::get(&self.0, ns, key).await
    }
    async fn put(&self, _: &str, _: &str, _: &[u8]) -> Result<(), chatport_core::StateError> {
        Err(StoreError::Closed.into())
    }
    async fn put_if_absent(
        &self,
        _: &str,
        _: &str,
        _: &[u8],
    ) -> Result<bool, chatport_core::StateError> {
        Err(StoreError::Closed.into())
    }
    async fn delete(&self, ns: &str, key: &str) -> Result<(), chatport_core::StateError> {
        KvStore::delete(&self.0, ns, key).await
    }
    async fn list(
        &self,
        ns: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, chatport_core::StateError> {
        KvStore::list(&self.0, ns, prefix).await
    }
}

#[tokio::test]
async fn events_stored_before_a_lost_checkpoint_are_not_duplicated() {
    let store = store();
    let source = Arc::new(Numbers::new(3));
    let broken = Poller::new(
        source.clone(),
        Arc::new(store.clone()),
        Arc::new(NoCheckpoints(store.clone())),
        PollerConfig::new("cms-status", "O3"),
    );
    assert!(
        broken.poll_once().await.is_err(),
        "the checkpoint commit failed"
    );
    assert_eq!(rows(&store).await.len(), 3);
    assert!(
        KvStore::get(&store, KV_CHECKPOINT, "cms-status")
            .await
            .unwrap()
            .is_none()
    );

    // After the "restart" the source yields the same events again; the outbox drops them.
    let report = poller(source, &store, 100).poll_once().await.unwrap();
    assert_eq!(
        (report.events, report.inserted, report.duplicates),
        (3, 0, 3)
    );
    assert_eq!(rows(&store).await.len(), 3);
}

#[tokio::test]
async fn a_round_is_skipped_while_the_outbox_is_above_its_high_water_mark() {
    let store = store();
    let source = Arc::new(Numbers::new(5));
    let p = Poller::new(
        source.clone(),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        PollerConfig::new("cms-status", "O3").pause_above_pending(5),
    );
    assert_eq!(p.poll_once().await.unwrap().inserted, 5);
    let new_source = Arc::new(Numbers::new(10));
    let p = Poller::new(
        new_source.clone(),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        PollerConfig::new("cms-status", "O3").pause_above_pending(5),
    );
    let report = p.poll_once().await.unwrap();
    assert!(report.paused);
    assert_eq!(
        new_source.polls.load(Ordering::SeqCst),
        0,
        "the source is not asked while paused"
    );
}

#[tokio::test]
async fn the_spawned_loop_polls_until_shutdown() {
    let store = store();
    let source = Arc::new(Numbers::new(4));
    let shutdown = CancellationToken::new();
    let handle = poller(source.clone(), &store, 2).spawn(shutdown.clone());
    let start = std::time::Instant::now();
    while source.polls.load(Ordering::SeqCst) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the loop did not keep polling"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows(&store).await.len(), 4);
}
