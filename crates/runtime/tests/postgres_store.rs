//! `PgStore` beyond the conformance suite: concurrent claimers, replicas, the key lock, the reaper
//! and migrations. Each test runs in a scratch schema on the server named by
//! `CHATPORT_TEST_POSTGRES_URL`; without it each test prints a `SKIPPED:` line and passes.
#![cfg(feature = "postgres")]

mod pg_support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatport_core::EventId;
use chatport_runtime::{
    EventFilter, EventStatus, NewEvent, Outbox, PG_SCHEMA_VERSION, PgOptions, PgStore, Resolution,
    StoreError,
};
use pg_support::ScratchSchema;

const LONG_LEASE: Duration = Duration::from_secs(600);

fn event(id: &str) -> NewEvent {
    NewEvent::new("test", EventId::new(id), "message", "F1", b"{}".to_vec())
}

/// What the claimers saw, shared between them.
#[derive(Default)]
struct Ledger {
    /// Rows currently held by some claimer.
    in_flight: HashSet<i64>,
    /// Ordering keys currently held by some claimer.
    keys_held: HashSet<String>,
    /// Per key, the row ids in the order they were finished.
    finished_by_key: HashMap<String, Vec<i64>>,
    /// Every finished row id (keyed or not), in finishing order.
    finished: Vec<i64>,
}

/// 4 claimers on one pool, 300 rows: 5 ordering keys of 48 rows each, interleaved, plus 60
/// unkeyed rows. No row is ever held by two claimers, no key by two claimers at once, every row
/// is delivered exactly once, and each key's rows finish in arrival order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_claimers_never_overlap_and_keep_key_order() {
    let Some(url) = pg_support::url("four_claimers_never_overlap_and_keep_key_order") else {
        return;
    };
    let schema = ScratchSchema::new(url);
    let store = Arc::new(schema.store(PgOptions::default().max_connections(8)).await);

    const KEYS: usize = 5;
    const PER_KEY: usize = 48;
    const UNKEYED: usize = 60;
    let mut events = Vec::new();
    for i in 0..PER_KEY {
        for k in 0..KEYS {
            events.push(event(&format!("k{k}-{i}")).ordering_key(format!("key-{k}")));
        }
        if i < UNKEYED {
            events.push(event(&format!("free-{i}")));
        }
    }
    for i in PER_KEY..UNKEYED {
        events.push(event(&format!("free-{i}")));
    }
    let total = events.len();
    // Several enqueue calls, so that claims and enqueues also overlap a little.
    for chunk in events.chunks(50) {
        let report = store.enqueue(chunk.to_vec()).await.expect("enqueue");
        assert_eq!(report.inserted as usize, chunk.len());
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut claimers = Vec::new();
    for worker in 0..4 {
        let store = Arc::clone(&store);
        let ledger = Arc::clone(&ledger);
        claimers.push(tokio::spawn(async move {
            let owner = format!("claimer-{worker}");
            let mut idle_rounds = 0;
            for _round in 0..100_000 {
                let claimed = store.claim(&owner, 7, LONG_LEASE).await.expect("claim");
                if claimed.is_empty() {
                    if store.stats().await.expect("stats").is_drained() {
                        return;
                    }
                    idle_rounds += 1;
                    assert!(idle_rounds < 20_000, "claimer {worker} starved");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                {
                    let mut seen = ledger.lock().unwrap();
                    for c in &claimed {
                        assert!(
                            seen.in_flight.insert(c.event.id),
                            "row {} claimed twice at once",
                            c.event.id
                        );
                        if let Some(key) = &c.event.ordering_key {
                            assert!(
                                seen.keys_held.insert(key.clone()),
                                "two rows of {key} in flight at once (row {})",
                                c.event.id
                            );
                        }
                    }
                }
                // Let the other claimers run while these rows are held.
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(1)).await;
                for c in claimed {
                    {
                        // Give the row and its key up before the resolve commits: another
                        // claimer can take the key's next row only after that commit.
                        let mut seen = ledger.lock().unwrap();
                        seen.in_flight.remove(&c.event.id);
                        if let Some(key) = &c.event.ordering_key {
                            seen.keys_held.remove(key);
                            seen.finished_by_key
                                .entry(key.clone())
                                .or_default()
                                .push(c.event.id);
                        }
                        seen.finished.push(c.event.id);
                    }
                    store
                        .resolve(&c.lease, c.event.id, Resolution::Done { receipt: None })
                        .await
                        .expect("resolve");
                }
            }
            panic!("claimer {worker} did not finish");
        }));
    }
    for claimer in claimers {
        claimer.await.expect("claimer task");
    }

    let seen = std::mem::take(&mut *ledger.lock().unwrap());
    assert_eq!(
        seen.finished.len(),
        total,
        "every row delivered exactly once"
    );
    let unique: HashSet<_> = seen.finished.iter().collect();
    assert_eq!(unique.len(), total, "a row was delivered twice");
    assert_eq!(seen.finished_by_key.len(), KEYS);
    for (key, ids) in &seen.finished_by_key {
        assert_eq!(ids.len(), PER_KEY, "{key}");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{key} finished out of arrival order: {ids:?}"
        );
    }
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.done as usize, stats.pending, stats.in_flight),
        (total, 0, 0)
    );
    let rows = store.list(&EventFilter::new(), 10_000).await.expect("list");
    assert!(
        rows.iter().all(|r| r.attempts == 1),
        "a row was claimed twice"
    );
    drop(store);
    drop(schema);
}

/// Two stores (two pools, as two replicas would have) on one schema share the queue: dedup
/// across them, a claim on one blocks the other, a resolve on one is seen by the other.
#[tokio::test]
async fn two_replicas_share_one_queue() {
    let Some(url) = pg_support::url("two_replicas_share_one_queue") else {
        return;
    };
    let schema = ScratchSchema::new(url);
    // Started together: the migration runs once, under its advisory lock.
    let (a, b) = tokio::join!(
        schema.store(PgOptions::default().max_connections(2)),
        schema.store(PgOptions::default().max_connections(2))
    );
    assert_eq!(a.schema(), schema.name());
    assert_eq!(a.schema_version().await.unwrap(), PG_SCHEMA_VERSION);
    assert_eq!(b.schema_version().await.unwrap(), PG_SCHEMA_VERSION);

    assert_eq!(a.enqueue(vec![event("e1")]).await.unwrap().inserted, 1);
    assert_eq!(b.enqueue(vec![event("e1")]).await.unwrap().duplicates, 1);
    let claimed = b.claim("replica-b", 10, LONG_LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        a.claim("replica-a", 10, LONG_LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    b.resolve(
        &claimed[0].lease,
        claimed[0].event.id,
        Resolution::Done {
            receipt: Some(serde_json::json!({"case": 7})),
        },
    )
    .await
    .unwrap();
    let row = Outbox::get(&a, claimed[0].event.id).await.unwrap().unwrap();
    assert_eq!(row.status, EventStatus::Done);
    assert_eq!(row.receipt, Some(serde_json::json!({"case": 7})));
}

/// A claim skips the rows of an ordering key whose advisory lock another session holds (a claim
/// in progress elsewhere), and still takes unkeyed rows and other keys.
#[tokio::test]
async fn claims_skip_keys_locked_by_another_claimer() {
    let Some(url) = pg_support::url("claims_skip_keys_locked_by_another_claimer") else {
        return;
    };
    let schema = ScratchSchema::new(url.clone());
    let store = schema.store(PgOptions::default()).await;
    store
        .enqueue(vec![
            event("busy-1").ordering_key("busy"),
            event("other-1").ordering_key("other"),
            event("free"),
        ])
        .await
        .unwrap();

    // Another session in the middle of a claim of key "busy": it holds the key's lock.
    let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let tx = client.transaction().await.unwrap();
    let lock_name = format!("chatport.outbox.key/{}/busy", store.schema());
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&lock_name],
    )
    .await
    .unwrap();

    let claimed = store.claim("w", 10, LONG_LEASE).await.unwrap();
    let names: Vec<_> = claimed
        .iter()
        .map(|c| c.event.event_id.as_str().to_owned())
        .collect();
    assert_eq!(names, ["other-1", "free"]);

    tx.rollback().await.unwrap();
    let claimed = store.claim("w", 10, LONG_LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event.event_id.as_str(), "busy-1");
    drop(client);
    let _ = connection.await;
}

/// The reaper puts rows with an expired lease back to pending with a history entry; the old
/// lease is then refused; rows with a live lease are left alone.
#[tokio::test]
async fn reaper_returns_expired_leases() {
    let Some((store, _schema)) = pg_support::fresh("reaper_returns_expired_leases").await else {
        return;
    };
    store
        .enqueue(vec![event("short"), event("long")])
        .await
        .unwrap();
    let short = store
        .claim("w", 1, Duration::from_millis(100))
        .await
        .unwrap()
        .remove(0);
    let long = store.claim("w", 1, LONG_LEASE).await.unwrap().remove(0);
    assert_eq!(store.reap_expired_leases().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.reap_expired_leases().await.unwrap(), 1);
    assert_eq!(store.reap_expired_leases().await.unwrap(), 0);

    let row = Outbox::get(&*store, short.event.id).await.unwrap().unwrap();
    assert_eq!((row.status, row.attempts), (EventStatus::Pending, 1));
    assert_eq!(row.last_error.as_deref(), Some("lease expired"));
    let history = store.attempts(short.event.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].attempt, history[0].outcome.as_str()),
        (1, "retry")
    );
    assert_eq!(
        store
            .resolve(
                &short.lease,
                short.event.id,
                Resolution::Done { receipt: None }
            )
            .await,
        Err(StoreError::LeaseLost {
            row_id: short.event.id
        })
    );
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.pending, stats.in_flight), (1, 1));

    // Claimed again: the attempt count goes on.
    let again = store.claim("w2", 10, LONG_LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event.attempts, 2);
    store
        .resolve(
            &long.lease,
            long.event.id,
            Resolution::Done { receipt: None },
        )
        .await
        .unwrap();
}

/// The periodic reaper runs until cancelled.
#[tokio::test]
async fn spawned_reaper_runs_and_stops() {
    let Some((store, _schema)) = pg_support::fresh("spawned_reaper_runs_and_stops").await else {
        return;
    };
    store.enqueue(vec![event("r")]).await.unwrap();
    let claimed = store
        .claim("w", 1, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let reaper = store.spawn_reaper(Duration::from_millis(50), shutdown.clone());
    let mut reaped = false;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if store.stats().await.unwrap().pending == 1 {
            reaped = true;
            break;
        }
    }
    assert!(reaped, "the reaper never returned the expired row");
    shutdown.cancel();
    reaper.await.unwrap();
}

/// Reconnecting keeps the data and the version; a newer schema version is refused.
#[tokio::test]
async fn migrations_are_idempotent_and_newer_schemas_refused() {
    let Some(url) = pg_support::url("migrations_are_idempotent_and_newer_schemas_refused") else {
        return;
    };
    let schema = ScratchSchema::new(url.clone());
    let store = schema.store(PgOptions::default()).await;
    store.enqueue(vec![event("kept")]).await.unwrap();
    drop(store);
    let store = schema.store(PgOptions::default()).await;
    assert_eq!(store.schema_version().await.unwrap(), PG_SCHEMA_VERSION);
    assert_eq!(
        store
            .list(&EventFilter::new(), 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.event_id.as_str().to_owned())
            .collect::<Vec<_>>(),
        ["kept"]
    );
    drop(store);

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "INSERT INTO {}.schema_migrations (version, applied_at) VALUES (99, now())",
            schema.name()
        ))
        .await
        .unwrap();
    drop(client);
    let _ = connection.await;
    let err = PgStore::connect(
        &schema.secret_url(),
        PgOptions::default().schema(schema.name()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
}

/// Stats count per flow from one snapshot and age the oldest open row by the server clock.
#[tokio::test]
async fn stats_per_flow() {
    let Some((store, _schema)) = pg_support::fresh("stats_per_flow").await else {
        return;
    };
    let mut events: Vec<NewEvent> = (0..6).map(|i| event(&format!("a{i}"))).collect();
    for (i, e) in events.iter_mut().enumerate() {
        e.flow = if i % 2 == 0 { "O1" } else { "O2" }.into();
    }
    store.enqueue(events).await.unwrap();
    let stats = store.stats().await.unwrap();
    let flows: BTreeMap<_, _> = stats
        .by_flow
        .iter()
        .map(|(flow, counts)| (flow.as_str(), counts.pending))
        .collect();
    assert_eq!(flows, BTreeMap::from([("O1", 3), ("O2", 3)]));
    assert_eq!(stats.total(), 6);
    assert!(stats.oldest_pending_age.is_some());
}

/// A vendor limit per tenant holds across replicas: two stores on one database take permits from
/// one bucket. The interval is an hour, so nothing refills while the test runs (no timing).
#[tokio::test]
async fn two_replicas_share_one_rate_budget() {
    use chatport_core::RateBudget;
    let Some(url) = pg_support::url("two_replicas_share_one_rate_budget") else {
        return;
    };
    let schema = ScratchSchema::new(url);
    let (a, b) = tokio::join!(
        schema.store(PgOptions::default().max_connections(2)),
        schema.store(PgOptions::default().max_connections(2))
    );
    let hour = Duration::from_secs(3600);
    // Burst 3: three takes pass, whichever replica asks.
    assert_eq!(a.try_take("cms:tenant-1", hour, 3).await.unwrap(), None);
    assert_eq!(b.try_take("cms:tenant-1", hour, 3).await.unwrap(), None);
    assert_eq!(a.try_take("cms:tenant-1", hour, 3).await.unwrap(), None);
    // The fourth, on either replica, must wait about one interval.
    for store in [&a, &b] {
        let wait = store
            .try_take("cms:tenant-1", hour, 3)
            .await
            .unwrap()
            .expect("the shared burst is spent");
        assert!(wait > Duration::from_secs(3500) && wait <= hour, "{wait:?}");
    }
    // Another bucket (another tenant) has its own budget.
    assert_eq!(b.try_take("cms:tenant-2", hour, 1).await.unwrap(), None);
    assert!(b.try_take("cms:tenant-2", hour, 1).await.unwrap().is_some());
}
