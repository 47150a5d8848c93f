//! SQLite-specific behaviour: restart recovery, group commit under concurrency, atomic enqueue,
//! busy database classification.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{Classify, ErrorClass, EventId, Outcome};
use chatport_runtime::worker::{Handler, RetryPolicy, WorkerConfig, WorkerPool, drain};
use chatport_runtime::{
    EventFilter, EventStatus, NewEvent, Outbox, SqliteOptions, SqliteStore, StoreError, StoredEvent,
};
use tokio_util::sync::CancellationToken;

fn event(id: &str) -> NewEvent {
    NewEvent::new(
        "test",
        EventId::new(id),
        "message",
        "F1",
        id.as_bytes().to_vec(),
    )
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, event: &StoredEvent) -> Outcome {
        self.seen
            .lock()
            .unwrap()
            .push(event.event_id.as_str().to_owned());
        Outcome::delivered_with(serde_json::json!({"handled": event.event_id.as_str()}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_rows_are_delivered_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        let mut events: Vec<_> = (0..20).map(|i| event(&format!("e{i:02}"))).collect();
        for (i, e) in events.iter_mut().enumerate() {
            if i % 3 == 0 {
                e.ordering_key = Some(format!("k{}", i % 2));
            }
        }
        let report = store.enqueue(events).await.unwrap();
        assert_eq!(report.inserted, 20);
        // One row was in flight when the "crash" happened: its lease must expire and it must
        // still be delivered.
        let claimed = store
            .claim("crashed-worker", 1, Duration::from_millis(100))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        drop(store);
    }

    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(store.stats().await.unwrap().total(), 20);
    let outbox: Arc<dyn Outbox> = Arc::new(store);
    let recorder = Arc::new(Recorder::default());
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::spawn(
        Arc::clone(&outbox),
        recorder.clone(),
        WorkerConfig::default()
            .poll_interval(Duration::from_millis(20))
            .retry(RetryPolicy::new(vec![Duration::from_millis(10)], 5)),
        shutdown.clone(),
    );
    let stats = drain(outbox.as_ref(), Duration::from_secs(30))
        .await
        .unwrap();
    shutdown.cancel();
    pool.join().await;
    assert!(stats.is_drained(), "{stats:?}");
    assert_eq!(stats.done, 20);

    let mut seen = recorder.seen.lock().unwrap().clone();
    seen.sort();
    seen.dedup();
    let expected: Vec<_> = (0..20).map(|i| format!("e{i:02}")).collect();
    assert_eq!(seen, expected);
    let done = outbox
        .list(&EventFilter::new().status(EventStatus::Done), 100)
        .await
        .unwrap();
    assert!(done.iter().all(|e| e.receipt.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_enqueues_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("gc.db"), SqliteOptions::default()).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.spawn(async move {
            // Two events per call: each call is one transaction inside some batch.
            store
                .enqueue(vec![event(&format!("c{i}-a")), event(&format!("c{i}-b"))])
                .await
        });
    }
    let mut inserted = 0;
    while let Some(result) = tasks.join_next().await {
        let report = result.unwrap().unwrap();
        assert_eq!(report.duplicates, 0);
        inserted += report.inserted;
    }
    assert_eq!(inserted, 400);
    let rows = store.list(&EventFilter::new(), 1000).await.unwrap();
    assert_eq!(rows.len(), 400);
    // Each call's two rows are adjacent: a call is never interleaved with another.
    let by_id: BTreeMap<i64, String> = rows
        .iter()
        .map(|r| (r.id, r.event_id.as_str().to_owned()))
        .collect();
    for row in &rows {
        if let Some(call) = row.event_id.as_str().strip_suffix("-a") {
            let next = by_id.range(row.id + 1..).next().map(|(_, v)| v.clone());
            assert_eq!(next, Some(format!("{call}-b")));
        }
    }
    // Reopening shows the same rows: they were committed, not only cached.
    let path = store.path().unwrap().to_path_buf();
    drop(store);
    let reopened = SqliteStore::open(path, SqliteOptions::default()).unwrap();
    assert_eq!(reopened.stats().await.unwrap().pending, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_is_all_or_nothing_and_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("atomic.db");
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    // A trigger that makes one event id fail mid-call.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.event_id = 'poison'
         BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;",
    )
    .unwrap();
    drop(conn);

    let bad = store.enqueue(vec![
        event("a1"),
        event("a2"),
        event("poison"),
        event("a4"),
        event("a5"),
    ]);
    let good = store.enqueue(vec![event("g1"), event("g2")]);
    let (bad, good) = tokio::join!(bad, good);
    assert!(matches!(bad, Err(StoreError::Database(_))), "{bad:?}");
    assert_eq!(good.unwrap().inserted, 2);
    let names: Vec<_> = store
        .list(&EventFilter::new(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id.as_str().to_owned())
        .collect();
    assert_eq!(
        names,
        ["g1", "g2"],
        "nothing of the failed call may be stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_a_transient_busy_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let store = SqliteStore::open(
        &path,
        SqliteOptions::default().busy_timeout(Duration::from_millis(100)),
    )
    .unwrap();
    // Another process (here: another connection) holds the write lock.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let error = store.enqueue(vec![event("b1")]).await.unwrap_err();
    assert!(matches!(error, StoreError::Busy(_)), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Transient);
    // Reads still work (WAL readers are not blocked by the writer).
    assert_eq!(store.stats().await.unwrap().total(), 0);
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.enqueue(vec![event("b1")]).await.unwrap().inserted, 1);
}

#[tokio::test]
async fn store_clones_share_one_writer() {
    let store = SqliteStore::open_in_memory().unwrap();
    let clone = store.clone();
    clone.enqueue(vec![event("s1")]).await.unwrap();
    drop(clone);
    assert_eq!(store.get(1).await.unwrap().unwrap().event_id.as_str(), "s1");
    assert!(format!("{store:?}").contains("SqliteStore"));
}
