//! The worker pool: per-key ordering under concurrency, retries with Retry-After, dead-lettering,
//! panics, graceful shutdown.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chatport_core::{EventId, Outcome};
use chatport_runtime::worker::{Handler, RetryPolicy, WorkerConfig, WorkerPool, drain};
use chatport_runtime::{
    AttemptRecord, Claimed, EnqueueReport, EventFilter, EventStatus, LeaseToken, NewEvent, Outbox,
    OutboxStats, Resolution, SqliteStore, StoreError, StoredEvent,
};
use tokio::sync::Notify;
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

fn config() -> WorkerConfig {
    WorkerConfig::default()
        .concurrency(8)
        .poll_interval(Duration::from_millis(10))
        .lease(Duration::from_secs(30))
        .retry(RetryPolicy::new(vec![Duration::from_millis(10)], 5))
}

async fn run_until_drained(
    outbox: Arc<dyn Outbox>,
    handler: Arc<dyn Handler>,
    config: WorkerConfig,
) -> OutboxStats {
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::spawn(Arc::clone(&outbox), handler, config, shutdown.clone());
    pool.notify();
    let stats = drain(outbox.as_ref(), Duration::from_secs(30))
        .await
        .unwrap();
    shutdown.cancel();
    pool.join().await;
    assert!(stats.is_drained(), "not drained: {stats:?}");
    stats
}

async fn only_row(outbox: &Arc<dyn Outbox>) -> StoredEvent {
    let rows = outbox.list(&EventFilter::new(), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    rows.into_iter().next().unwrap()
}

/// Records per-key order and checks that no two events of one key ever run at once.
#[derive(Default)]
struct OrderChecker {
    order: Mutex<HashMap<String, Vec<u32>>>,
    active: Mutex<HashMap<String, u32>>,
    overlap: AtomicBool,
    max_parallel: AtomicU32,
    running: AtomicU32,
}

#[async_trait]
impl Handler for OrderChecker {
    async fn handle(&self, event: &StoredEvent) -> Outcome {
        let key = event.ordering_key.clone().unwrap_or_default();
        {
            let mut active = self.active.lock().unwrap();
            let n = active.entry(key.clone()).or_default();
            *n += 1;
            if *n > 1 {
                self.overlap.store(true, Ordering::SeqCst);
            }
        }
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_parallel.fetch_max(running, Ordering::SeqCst);
        let seq: u32 = std::str::from_utf8(&event.payload)
            .unwrap()
            .rsplit('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        // Vary the work so that events finish out of order across keys.
        tokio::time::sleep(Duration::from_millis(u64::from(seq % 3) * 3 + 1)).await;
        self.order
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .push(seq);
        self.running.fetch_sub(1, Ordering::SeqCst);
        *self.active.lock().unwrap().get_mut(&key).unwrap() -= 1;
        Outcome::delivered()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_order_holds_under_concurrency() {
    let store = SqliteStore::open_in_memory().unwrap();
    let outbox: Arc<dyn Outbox> = Arc::new(store);
    let mut events = Vec::new();
    for seq in 0..15u32 {
        for key in ["alice", "bob", "carol", "dave"] {
            events.push(event(&format!("{key}-{seq}")).ordering_key(key));
        }
    }
    outbox.enqueue(events).await.unwrap();
    let checker = Arc::new(OrderChecker::default());
    let stats = run_until_drained(Arc::clone(&outbox), checker.clone(), config()).await;
    assert_eq!(stats.done, 60);
    assert!(
        !checker.overlap.load(Ordering::SeqCst),
        "two events of one key ran at once"
    );
    let order = checker.order.lock().unwrap();
    for key in ["alice", "bob", "carol", "dave"] {
        assert_eq!(order[key], (0..15).collect::<Vec<_>>(), "order of {key}");
    }
    assert!(checker.max_parallel.load(Ordering::SeqCst) <= 8);
}

/// Fails with a Retry-After on the first attempt, then delivers.
struct ThrottledOnce {
    calls: Mutex<Vec<Instant>>,
    retry_after: Duration,
}

#[async_trait]
impl Handler for ThrottledOnce {
    async fn handle(&self, _event: &StoredEvent) -> Outcome {
        let mut calls = self.calls.lock().unwrap();
        calls.push(Instant::now());
        if calls.len() == 1 {
            Outcome::Retry {
                after: Some(self.retry_after),
                reason: "throttled (130429)".into(),
            }
        } else {
            Outcome::delivered()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_honours_retry_after() {
    let outbox: Arc<dyn Outbox> = Arc::new(SqliteStore::open_in_memory().unwrap());
    outbox.enqueue(vec![event("t1")]).await.unwrap();
    let handler = Arc::new(ThrottledOnce {
        calls: Mutex::new(Vec::new()),
        retry_after: Duration::from_millis(300),
    });
    run_until_drained(Arc::clone(&outbox), handler.clone(), config()).await;
    let calls = handler.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    // The schedule says 10 ms; the server said 300 ms: the second attempt waited at least that.
    assert!(calls[1] - calls[0] >= Duration::from_millis(300));
    let row = only_row(&outbox).await;
    assert_eq!((row.status, row.attempts), (EventStatus::Done, 2));
    let history: Vec<_> = outbox
        .attempts(row.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a: AttemptRecord| (a.attempt, a.outcome, a.error))
        .collect();
    assert_eq!(
        history,
        [
            (1, "retry".to_owned(), Some("throttled (130429)".to_owned())),
            (2, "done".to_owned(), None)
        ]
    );
}

struct Always(Outcome, AtomicU32);

#[async_trait]
impl Handler for Always {
    async fn handle(&self, _event: &StoredEvent) -> Outcome {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_goes_to_the_dead_letter_queue_at_once() {
    let outbox: Arc<dyn Outbox> = Arc::new(SqliteStore::open_in_memory().unwrap());
    outbox.enqueue(vec![event("r1")]).await.unwrap();
    let handler = Arc::new(Always(
        Outcome::Rejected {
            reason: "CMS 400: unknown type".into(),
        },
        AtomicU32::new(0),
    ));
    let stats = run_until_drained(Arc::clone(&outbox), handler.clone(), config()).await;
    assert_eq!(stats.dead, 1);
    assert_eq!(handler.1.load(Ordering::SeqCst), 1);
    let row = only_row(&outbox).await;
    assert_eq!(row.status, EventStatus::Dead);
    assert_eq!(row.last_error.as_deref(), Some("CMS 400: unknown type"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_go_dead() {
    let outbox: Arc<dyn Outbox> = Arc::new(SqliteStore::open_in_memory().unwrap());
    outbox.enqueue(vec![event("x1")]).await.unwrap();
    let handler = Arc::new(Always(
        Outcome::Retry {
            after: None,
            reason: "502 from gateway".into(),
        },
        AtomicU32::new(0),
    ));
    let config = config().retry(RetryPolicy::new(vec![Duration::from_millis(5)], 3));
    run_until_drained(Arc::clone(&outbox), handler.clone(), config).await;
    assert_eq!(handler.1.load(Ordering::SeqCst), 3);
    let row = only_row(&outbox).await;
    assert_eq!(row.status, EventStatus::Dead);
    assert_eq!(row.attempts, 3);
    assert_eq!(
        row.last_error.as_deref(),
        Some("exhausted after 3 attempts: 502 from gateway")
    );
    let outcomes: Vec<_> = outbox
        .attempts(row.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, ["retry", "retry", "dead"]);
}

struct PanicsOnce(AtomicU32);

#[async_trait]
impl Handler for PanicsOnce {
    async fn handle(&self, _event: &StoredEvent) -> Outcome {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("handler bug");
        }
        Outcome::delivered()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_panic_counts_as_a_retry() {
    let outbox: Arc<dyn Outbox> = Arc::new(SqliteStore::open_in_memory().unwrap());
    outbox.enqueue(vec![event("p1")]).await.unwrap();
    run_until_drained(
        Arc::clone(&outbox),
        Arc::new(PanicsOnce(AtomicU32::new(0))),
        config(),
    )
    .await;
    let row = only_row(&outbox).await;
    assert_eq!((row.status, row.attempts), (EventStatus::Done, 2));
    let first = &outbox.attempts(row.id).await.unwrap()[0];
    assert_eq!(first.outcome, "retry");
    assert_eq!(first.error.as_deref(), Some("handler panicked"));
}

/// Blocks until the gate opens, then delivers.
struct Gated {
    started: Notify,
    gate: Notify,
    calls: AtomicU32,
}

#[async_trait]
impl Handler for Gated {
    async fn handle(&self, _event: &StoredEvent) -> Outcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.started.notify_one();
        self.gate.notified().await;
        Outcome::delivered()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_work_and_claims_nothing_new() {
    let outbox: Arc<dyn Outbox> = Arc::new(SqliteStore::open_in_memory().unwrap());
    outbox
        .enqueue(vec![event("g1"), event("g2"), event("g3")])
        .await
        .unwrap();
    let handler = Arc::new(Gated {
        started: Notify::new(),
        gate: Notify::new(),
        calls: AtomicU32::new(0),
    });
    let shutdown = CancellationToken::new();
    let pool = WorkerPool::spawn(
        Arc::clone(&outbox),
        handler.clone(),
        config().concurrency(1),
        shutdown.clone(),
    );
    handler.started.notified().await;
    shutdown.cancel();
    let join = tokio::spawn(pool.join());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !join.is_finished(),
        "join returned while work was in flight"
    );
    handler.gate.notify_one();
    join.await.unwrap();
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
    let stats = outbox.stats().await.unwrap();
    assert_eq!((stats.done, stats.pending, stats.in_flight), (1, 2, 0));
    let pending = outbox
        .list(&EventFilter::new().status(EventStatus::Pending), 10)
        .await
        .unwrap();
    assert!(pending.iter().all(|e| e.attempts == 0));
}

/// An outbox that cancels the shutdown token inside `claim`, so that the claimed rows are
/// "claimed but not started" when the pool sees them.
struct CancelOnClaim {
    inner: SqliteStore,
    shutdown: CancellationToken,
}

#[async_trait]
impl Outbox for CancelOnClaim {
    async fn enqueue(&self, events: Vec<NewEvent>) -> Result<EnqueueReport, StoreError> {
        self.inner.enqueue(events).await
    }
    async fn claim(
        &self,
        owner: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let claimed = self.inner.claim(owner, max, lease).await?;
        if !claimed.is_empty() {
            self.shutdown.cancel();
        }
        Ok(claimed)
    }
    async fn resolve(
        &self,
        lease: &LeaseToken,
        row_id: i64,
        resolution: Resolution,
    ) -> Result<(), StoreError> {
        self.inner.resolve(lease, row_id, resolution).await
    }
    async fn release(&self, lease: &LeaseToken, row_id: i64) -> Result<(), StoreError> {
        self.inner.release(lease, row_id).await
    }
    async fn set_flow(&self, row_id: i64, flow: &str) -> Result<(), StoreError> {
        self.inner.set_flow(row_id, flow).await
    }
    async fn stats(&self) -> Result<OutboxStats, StoreError> {
        self.inner.stats().await
    }
    async fn list(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.list(filter, limit).await
    }
    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        Outbox::get(&self.inner, id).await
    }
    async fn attempts(&self, id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        self.inner.attempts(id).await
    }
    async fn replay(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        self.inner.replay(filter).await
    }
    async fn purge(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        self.inner.purge(filter).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_claimed_but_unstarted_rows() {
    let shutdown = CancellationToken::new();
    let outbox: Arc<dyn Outbox> = Arc::new(CancelOnClaim {
        inner: SqliteStore::open_in_memory().unwrap(),
        shutdown: shutdown.clone(),
    });
    outbox
        .enqueue(vec![event("u1"), event("u2")])
        .await
        .unwrap();
    let handler = Arc::new(Always(Outcome::delivered(), AtomicU32::new(0)));
    let pool = WorkerPool::spawn(
        Arc::clone(&outbox),
        handler.clone(),
        config(),
        shutdown.clone(),
    );
    pool.join().await;
    assert_eq!(handler.1.load(Ordering::SeqCst), 0, "no attempt may start");
    let rows = outbox.list(&EventFilter::new(), 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row.status, EventStatus::Pending, "{row:?}");
        assert_eq!(row.attempts, 0, "a release does not count an attempt");
        assert!(outbox.attempts(row.id).await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_wakes_the_pool_before_its_poll() {
    let outbox: Arc<dyn Outbox> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let handler = Arc::new(Always(Outcome::delivered(), AtomicU32::new(0)));
    let shutdown = CancellationToken::new();
    // A poll interval far longer than the test: only the notification can wake the pool.
    let pool = WorkerPool::spawn(
        Arc::clone(&outbox),
        handler.clone(),
        config().poll_interval(Duration::from_secs(3600)),
        shutdown.clone(),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    outbox.enqueue(vec![event("n1")]).await.unwrap();
    pool.notifier().notify_one();
    let stats = drain(outbox.as_ref(), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(stats.is_drained());
    assert_eq!(handler.1.load(Ordering::SeqCst), 1);
    shutdown.cancel();
    pool.join().await;
}

/// An outbox that records how the pool talks to the store: every claim's `max` and row count,
/// every `resolve_many` batch, and single `resolve` calls.
struct Recording {
    inner: SqliteStore,
    claims: Mutex<Vec<(usize, usize)>>,
    batches: Mutex<Vec<Vec<i64>>>,
    single_resolves: AtomicU32,
    renewals: AtomicU32,
    renewed: Notify,
}

impl Recording {
    fn new() -> Self {
        Self {
            inner: SqliteStore::open_in_memory().unwrap(),
            claims: Mutex::new(Vec::new()),
            batches: Mutex::new(Vec::new()),
            single_resolves: AtomicU32::new(0),
            renewals: AtomicU32::new(0),
            renewed: Notify::new(),
        }
    }
}

#[async_trait]
impl Outbox for Recording {
    async fn enqueue(&self, events: Vec<NewEvent>) -> Result<EnqueueReport, StoreError> {
        self.inner.enqueue(events).await
    }
    async fn claim(
        &self,
        owner: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let claimed = self.inner.claim(owner, max, lease).await?;
        self.claims.lock().unwrap().push((max, claimed.len()));
        Ok(claimed)
    }
    async fn resolve(
        &self,
        lease: &LeaseToken,
        row_id: i64,
        resolution: Resolution,
    ) -> Result<(), StoreError> {
        self.single_resolves.fetch_add(1, Ordering::SeqCst);
        self.inner.resolve(lease, row_id, resolution).await
    }
    async fn resolve_many(
        &self,
        requests: Vec<chatport_runtime::ResolveRequest>,
    ) -> Vec<Result<(), StoreError>> {
        self.batches
            .lock()
            .unwrap()
            .push(requests.iter().map(|r| r.row_id).collect());
        self.inner.resolve_many(requests).await
    }
    async fn renew_many(
        &self,
        held: Vec<(LeaseToken, i64)>,
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let renewed = self.inner.renew_many(held, lease).await?;
        if !renewed.is_empty() {
            self.renewals.fetch_add(1, Ordering::SeqCst);
            self.renewed.notify_waiters();
        }
        Ok(renewed)
    }
    async fn release(&self, lease: &LeaseToken, row_id: i64) -> Result<(), StoreError> {
        self.inner.release(lease, row_id).await
    }
    async fn set_flow(&self, row_id: i64, flow: &str) -> Result<(), StoreError> {
        self.inner.set_flow(row_id, flow).await
    }
    async fn stats(&self) -> Result<OutboxStats, StoreError> {
        self.inner.stats().await
    }
    async fn list(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.list(filter, limit).await
    }
    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        Outbox::get(&self.inner, id).await
    }
    async fn attempts(&self, id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        self.inner.attempts(id).await
    }
    async fn replay(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        self.inner.replay(filter).await
    }
    async fn purge(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        self.inner.purge(filter).await
    }
}

/// Waits until the outbox renewed leases `times` times (so the attempt outlived several leases),
/// then delivers; counts its calls.
struct OutlivesItsLease {
    outbox: Arc<Recording>,
    times: u32,
    calls: AtomicU32,
}

#[async_trait]
impl Handler for OutlivesItsLease {
    async fn handle(&self, _event: &StoredEvent) -> Outcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        loop {
            let renewed = self.outbox.renewed.notified();
            if self.outbox.renewals.load(Ordering::SeqCst) >= self.times {
                return Outcome::delivered();
            }
            renewed.await;
        }
    }
}

/// A handler that runs for several leases keeps its row: the pool renews the lease, so neither
/// the attempt is aborted nor a second pool on the same outbox takes the row over; one attempt,
/// one handler call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_attempt_keeps_its_row_by_renewing_the_lease() {
    let recording = Arc::new(Recording::new());
    let outbox: Arc<dyn Outbox> = recording.clone();
    outbox.enqueue(vec![event("slow")]).await.unwrap();
    let handler = Arc::new(OutlivesItsLease {
        outbox: Arc::clone(&recording),
        times: 4,
        calls: AtomicU32::new(0),
    });
    let lease = Duration::from_millis(150);
    let shutdown = CancellationToken::new();
    let other = WorkerPool::spawn(
        Arc::clone(&outbox),
        handler.clone(),
        config().owner("other").lease(lease),
        shutdown.clone(),
    );
    let stats = run_until_drained(
        Arc::clone(&outbox),
        handler.clone(),
        config().owner("first").lease(lease),
    )
    .await;
    shutdown.cancel();
    other.join().await;
    assert_eq!(stats.done, 1);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1, "one handler call");
    let row = only_row(&outbox).await;
    assert_eq!(row.status, EventStatus::Done);
    assert_eq!(row.attempts, 1, "never aborted nor taken over");
}

/// Every handler waits until `expected` of them run at the same time, then all deliver.
struct Barrier {
    expected: u32,
    running: AtomicU32,
    all_in: Notify,
    done: AtomicBool,
}

#[async_trait]
impl Handler for Barrier {
    async fn handle(&self, _event: &StoredEvent) -> Outcome {
        let all_in = self.all_in.notified();
        if self.running.fetch_add(1, Ordering::SeqCst) + 1 >= self.expected {
            self.done.store(true, Ordering::SeqCst);
            self.all_in.notify_waiters();
        } else if !self.done.load(Ordering::SeqCst) {
            all_in.await;
        }
        Outcome::delivered()
    }
}

/// With the default configuration, hundreds of events are in flight at once (handlers waiting on
/// I/O do not hold back the rest), claims take many rows per store call, and every outcome is
/// written through `resolve_many`, each row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_pool_keeps_hundreds_in_flight_with_batched_claims_and_resolves() {
    const N: u32 = 200;
    let recording = Arc::new(Recording::new());
    let outbox: Arc<dyn Outbox> = recording.clone();
    let events = (0..N).map(|i| event(&format!("h{i}"))).collect();
    assert_eq!(outbox.enqueue(events).await.unwrap().inserted, u64::from(N));
    let handler = Arc::new(Barrier {
        expected: N,
        running: AtomicU32::new(0),
        all_in: Notify::new(),
        done: AtomicBool::new(false),
    });
    let defaults = WorkerConfig::default();
    assert!(defaults.concurrency >= 256, "{defaults:?}");
    // The barrier only opens once all N handlers run at once: a pool that kept fewer in flight
    // would never drain (the drain below would time out and fail).
    let stats = run_until_drained(Arc::clone(&outbox), handler.clone(), defaults.clone()).await;
    assert_eq!(stats.done, u64::from(N));
    assert_eq!(
        handler.running.load(Ordering::SeqCst),
        N,
        "one attempt each"
    );

    let claims = recording.claims.lock().unwrap().clone();
    assert!(
        claims.iter().all(|(max, _)| *max <= defaults.batch),
        "{claims:?}"
    );
    let with_rows: Vec<usize> = claims.iter().map(|(_, n)| *n).filter(|n| *n > 0).collect();
    assert_eq!(with_rows.iter().sum::<usize>(), N as usize);
    assert!(
        with_rows.len() <= (N as usize).div_ceil(defaults.batch) + 1,
        "claims are batched: {with_rows:?}"
    );
    assert_eq!(recording.single_resolves.load(Ordering::SeqCst), 0);
    let mut resolved: Vec<i64> = recording.batches.lock().unwrap().concat();
    assert_eq!(resolved.len(), N as usize);
    resolved.sort_unstable();
    resolved.dedup();
    assert_eq!(resolved.len(), N as usize, "each row resolved once");
}

/// Outcomes of a failing attempt go through the batch path too: retries and dead rows keep
/// their history and attempt counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_resolves_keep_retries_and_the_dead_letter_queue() {
    let recording = Arc::new(Recording::new());
    let outbox: Arc<dyn Outbox> = recording.clone();
    outbox
        .enqueue((0..20).map(|i| event(&format!("r{i}"))).collect())
        .await
        .unwrap();
    let handler = Arc::new(Always(
        Outcome::Retry {
            after: None,
            reason: "down".into(),
        },
        AtomicU32::new(0),
    ));
    let stats = run_until_drained(
        Arc::clone(&outbox),
        handler.clone(),
        config().retry(RetryPolicy::new(vec![Duration::ZERO], 3)),
    )
    .await;
    assert_eq!((stats.dead, stats.done), (20, 0));
    assert_eq!(handler.1.load(Ordering::SeqCst), 60, "three attempts each");
    for row in outbox.list(&EventFilter::new(), 100).await.unwrap() {
        assert_eq!(row.attempts, 3);
        let history = outbox.attempts(row.id).await.unwrap();
        let outcomes: Vec<_> = history.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["retry", "retry", "dead"], "{row:?}");
    }
    assert_eq!(recording.single_resolves.load(Ordering::SeqCst), 0);
}
