//! Workers: claim outbox rows under a lease, run the flow's [`Handler`], and record the outcome.
//!
//! | Handler outcome ([`Outcome`]) | Row becomes |
//! |---|---|
//! | `Delivered { receipt }` | done, with the receipt |
//! | `Retry { after, reason }` | pending, due `now + RetryPolicy::next_delay(attempts, after)`; dead with `"exhausted after N attempts: <reason>"` once `attempts >= max_attempts` |
//! | `Rejected { reason }` | dead (the dead-letter queue) |
//! | the handler panicked | like `Retry` with reason `"handler panicked"` |
//! | the handler ran longer than the lease | like `Retry` with reason `"handler timed out after <lease>"` (the attempt is aborted, so that it cannot overlap with the next owner of the row) |
//!
//! The pool never runs more than [`WorkerConfig::concurrency`] attempts at once, and the store
//! never hands out two rows of one ordering key at once, so per-key order holds however many
//! workers (or replicas) share the outbox.
//!
//! # Throughput
//!
//! Store round trips are decoupled from the attempts in flight:
//!
//! * **Batched claims**: one `claim` takes up to [`WorkerConfig::batch`] rows in one store
//!   transaction. The pool claims again when a quarter of its slots (at most `batch`) are free,
//!   or when it is idle, so a busy pool does not spend one claim per finished attempt.
//! * **Batched, asynchronous resolves**: a finished attempt hands its outcome to the pool's
//!   resolver task and frees its slot at once; the resolver writes everything queued (up to
//!   [`WorkerConfig::resolve_batch`]) with one [`Outbox::resolve_many`], then wakes the pool
//!   (the next row of a key becomes claimable once the previous one is resolved). Resolves
//!   commit without waiting for their own fsync (see [`Outbox::resolve_many`]): a lost "done" is
//!   an idempotent redelivery after the lease. The queue to the resolver is bounded
//!   (`max(concurrency, resolve_batch)`): a slow store makes finished attempts wait, holding their
//!   slot, so nothing grows without bound.
//! * **Hundreds in flight**: the default [`WorkerConfig::concurrency`] is 256, so flows waiting
//!   on vendor I/O do not hold back the rest; per-key order stays the store's job.
//!
//! * **Lease renewal**: every third of [`WorkerConfig::lease`], one [`Outbox::renew_many`]
//!   extends the leases of all rows the pool holds (running or waiting for the resolver). A
//!   handler slowed by vendor rate limits or a loaded machine keeps its row, so it is not
//!   aborted or taken over mid-request (which would leave a non-idempotent send in doubt);
//!   a crashed process stops renewing and its leases expire on time. An attempt ends at
//!   [`WorkerConfig::attempt_timeout`], or as soon as its lease is lost or runs out unrenewed.
//!
//! On shutdown the pool stops claiming, waits for running attempts, and the resolver writes
//! every queued outcome before [`WorkerPool::join`] returns.
//!
//! Each attempt runs in a `tracing` span `delivery` with `flow`, `event_id`, `row` and `attempt`.
//! Metrics (`metrics` crate): `chatport_delivery_attempts_total{flow}` per attempt and
//! `chatport_deliveries_total{flow, outcome}` per resolution, with outcome `delivered`, `retry`,
//! `rejected` or `exhausted`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::Outcome;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::store::{
    Claimed, LeaseToken, Outbox, OutboxStats, Resolution, ResolveRequest, StoreError, StoredEvent,
};

/// One flow step run for a stored event. Implemented by the bridge (one handler routing on
/// [`StoredEvent::flow`], or one per flow behind a router).
///
/// The handler must be idempotent per event (use `chatport_core::IdempotencyKey::derive` with the
/// event id): an event can be delivered more than once (retries, expired leases, replays).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Runs the step and says how it ended.
    async fn handle(&self, event: &StoredEvent) -> Outcome;
}

/// When to try a failed delivery again.
///
/// Attempt `n` (1-based; the row's `attempts` after the failing attempt) waits `schedule[n-1]`
/// (the last entry repeats for later attempts), scaled by a random factor in
/// `[1 - jitter, 1 + jitter]`, and never less than the server's Retry-After. After `max_attempts`
/// attempts the row is dead.
///
/// ```
/// use std::time::Duration;
/// use chatport_runtime::worker::RetryPolicy;
///
/// let policy = RetryPolicy::default().jitter(0.0);
/// assert_eq!(policy.next_delay(1, None), Duration::from_secs(5));
/// assert_eq!(policy.next_delay(1, Some(Duration::from_secs(60))), Duration::from_secs(60));
/// assert_eq!(policy.next_delay(40, None), Duration::from_secs(24 * 3600));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Delays after attempt 1, 2, ...; the last one repeats. Default 5 s, 30 s, 2 min, 10 min,
    /// 30 min, 1 h, 3 h, 6 h, 12 h, 24 h. Empty: retry at once (still bounded by `max_attempts`).
    pub schedule: Vec<Duration>,
    /// Attempts after which a row that still fails is dead. Default 12.
    pub max_attempts: u32,
    /// Relative jitter, clamped to `0.0..=1.0`: 0.1 spreads a delay over ±10 %. Default 0.1.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        const MIN: u64 = 60;
        const HOUR: u64 = 3600;
        Self {
            schedule: [
                5,
                30,
                2 * MIN,
                10 * MIN,
                30 * MIN,
                HOUR,
                3 * HOUR,
                6 * HOUR,
                12 * HOUR,
                24 * HOUR,
            ]
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
            max_attempts: 12,
            jitter: 0.1,
        }
    }
}

impl RetryPolicy {
    /// A policy with `schedule` and `max_attempts`, no jitter.
    pub fn new(schedule: Vec<Duration>, max_attempts: u32) -> Self {
        Self {
            schedule,
            max_attempts,
            jitter: 0.0,
        }
    }

    /// Sets [`RetryPolicy::schedule`].
    pub fn schedule(mut self, schedule: Vec<Duration>) -> Self {
        self.schedule = schedule;
        self
    }

    /// Sets [`RetryPolicy::max_attempts`].
    pub fn max_attempts(mut self, max: u32) -> Self {
        self.max_attempts = max;
        self
    }

    /// Sets [`RetryPolicy::jitter`].
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// The schedule entry for `attempt` (1-based; 0 counts as 1; beyond the schedule the last
    /// entry), without jitter. Zero for an empty schedule.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let index = usize::try_from(attempt.max(1) - 1).unwrap_or(usize::MAX);
        self.schedule
            .get(index)
            .or(self.schedule.last())
            .copied()
            .unwrap_or_default()
    }

    /// The delay before the next attempt after attempt `attempt` failed:
    /// `max(base_delay(attempt) ± jitter, retry_after)`.
    pub fn next_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        self.next_delay_with(attempt, retry_after, random_unit())
    }

    /// [`RetryPolicy::next_delay`] with the random draw given: `unit` in `-1.0..=1.0` (clamped)
    /// picks the jitter factor `1 + jitter * unit`. Deterministic, for tests.
    pub fn next_delay_with(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Duration {
        let base = self.base_delay(attempt);
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let unit = if unit.is_finite() {
            unit.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let factor = (1.0 + jitter * unit).max(0.0);
        let jittered = Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base);
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// A uniform draw in `[-1, 1)` from the operating system's generator (through a v4 UUID's 122
/// random bits; 53 of them are used).
fn random_unit() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() >> 75; // 53 bits
    (bits as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// Configuration of a [`WorkerPool`].
///
/// ```
/// use std::time::Duration;
/// use chatport_runtime::worker::{RetryPolicy, WorkerConfig};
/// let config = WorkerConfig::default()
///     .owner("replica-a")
///     .concurrency(512)
///     .lease(Duration::from_secs(120))
///     .retry(RetryPolicy::default().max_attempts(8));
/// assert_eq!(config.concurrency, 512);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// Attempts running at once (events in flight). Default 256: flows mostly wait on vendor
    /// I/O, and per-vendor request rates are bounded by the connectors' own limiters.
    pub concurrency: usize,
    /// How long a claim holds a row without renewal. The pool renews the leases of its running
    /// attempts every third of this ([`Outbox::renew_many`]), so it bounds how long a crashed
    /// process keeps its rows, not how long a handler may run. Default 60 s.
    pub lease: Duration,
    /// The longest a handler may run before its attempt is aborted and retried (also aborted
    /// earlier when its lease is lost or could not be renewed in time). Default 300 s.
    pub attempt_timeout: Duration,
    /// How often the pool looks for due rows when nobody wakes it. Default 250 ms.
    pub poll_interval: Duration,
    /// Most rows claimed per store round trip (one transaction). Default 64.
    pub batch: usize,
    /// Most outcomes written per store round trip ([`Outbox::resolve_many`]). Default 512.
    pub resolve_batch: usize,
    /// Retry schedule and attempt limit.
    pub retry: RetryPolicy,
    /// Lease owner name, unique per pool (default `worker-<pid>-<random>`).
    pub owner: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        Self {
            concurrency: 256,
            lease: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_millis(250),
            batch: 64,
            resolve_batch: 512,
            retry: RetryPolicy::default(),
            owner: format!("worker-{}-{}", std::process::id(), &tag[..8]),
        }
    }
}

impl WorkerConfig {
    /// Sets [`WorkerConfig::concurrency`] (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets [`WorkerConfig::lease`].
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets [`WorkerConfig::poll_interval`].
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets [`WorkerConfig::batch`] (at least 1).
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Sets [`WorkerConfig::attempt_timeout`].
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Sets [`WorkerConfig::resolve_batch`] (at least 1).
    pub fn resolve_batch(mut self, n: usize) -> Self {
        self.resolve_batch = n.max(1);
        self
    }

    /// Sets [`WorkerConfig::retry`].
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets [`WorkerConfig::owner`].
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }
}

/// A pool of workers on one outbox: claims due rows, runs the handler, resolves the rows.
///
/// ```no_run
/// # async fn demo(outbox: std::sync::Arc<dyn chatport_runtime::Outbox>,
/// #               handler: std::sync::Arc<dyn chatport_runtime::worker::Handler>) {
/// use chatport_runtime::worker::{WorkerConfig, WorkerPool};
/// use tokio_util::sync::CancellationToken;
///
/// let shutdown = CancellationToken::new();
/// let pool = WorkerPool::spawn(outbox, handler, WorkerConfig::default(), shutdown.clone());
/// let wake = pool.notifier(); // hand to ingress: new rows wake the pool at once
/// // ... on SIGTERM:
/// shutdown.cancel();
/// pool.join().await; // in-flight attempts finish, claimed-but-unstarted rows are released
/// # drop(wake); }
/// ```
#[derive(Debug)]
pub struct WorkerPool {
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerPool {
    /// Starts the pool on the current Tokio runtime. It runs until `shutdown` is cancelled.
    ///
    /// # Panics
    /// When called outside a Tokio runtime.
    pub fn spawn(
        outbox: Arc<dyn Outbox>,
        handler: Arc<dyn Handler>,
        config: WorkerConfig,
        shutdown: CancellationToken,
    ) -> WorkerPool {
        let notify = Arc::new(Notify::new());
        let task = tokio::spawn(run_pool(
            outbox,
            handler,
            config,
            shutdown,
            Arc::clone(&notify),
        ));
        WorkerPool { notify, task }
    }

    /// Wakes the pool to look for rows now (instead of at the next poll).
    pub fn notify(&self) {
        self.notify.notify_one();
    }

    /// The pool's wake-up handle, for ingress (`IngressState::notify`).
    pub fn notifier(&self) -> Arc<Notify> {
        Arc::clone(&self.notify)
    }

    /// Waits until the pool has stopped: after the shutdown token is cancelled, running attempts
    /// finish and are resolved, and rows claimed but not started are released.
    pub async fn join(self) {
        if let Err(error) = self.task.await {
            tracing::error!(%error, "worker pool task failed");
        }
    }
}

async fn run_pool(
    outbox: Arc<dyn Outbox>,
    handler: Arc<dyn Handler>,
    config: WorkerConfig,
    shutdown: CancellationToken,
    notify: Arc<Notify>,
) {
    let retry = Arc::new(config.retry.clone());
    let concurrency = config.concurrency.max(1);
    let batch = config.batch.max(1);
    let resolve_batch = config.resolve_batch.max(1);
    // Claim when this many slots are free (or when nothing runs): a busy pool claims in batches
    // instead of once per finished attempt.
    let low_water = (concurrency / 4).clamp(1, batch);
    let (outcomes, queued) = mpsc::channel(concurrency.max(resolve_batch));
    let leases = Arc::new(Leases::default());
    let resolver = tokio::spawn(resolver(
        Arc::clone(&outbox),
        queued,
        resolve_batch,
        Arc::clone(&notify),
        Arc::clone(&leases),
    ));
    let stop_renewing = CancellationToken::new();
    let renewer = tokio::spawn(renewer(
        Arc::clone(&outbox),
        Arc::clone(&leases),
        config.lease,
        stop_renewing.clone(),
    ));
    let mut tasks: JoinSet<()> = JoinSet::new();
    while !shutdown.is_cancelled() {
        while tasks.try_join_next().is_some() {}
        let free = concurrency.saturating_sub(tasks.len());
        let mut more = false;
        if free >= low_water || (free > 0 && tasks.is_empty()) {
            let want = free.min(batch);
            // The lease runs from (at the latest) now, as far as this process can tell.
            let claimed_at = Instant::now();
            match outbox.claim(&config.owner, want, config.lease).await {
                Ok(rows) => {
                    more = rows.len() == want && tasks.len() + rows.len() < concurrency;
                    metrics::histogram!("chatport_claim_batch_size").record(rows.len() as f64);
                    for claimed in rows {
                        let expires = leases.hold(&claimed, claimed_at + config.lease);
                        tasks.spawn(attempt(
                            Arc::clone(&outbox),
                            Arc::clone(&handler),
                            Arc::clone(&retry),
                            config.attempt_timeout,
                            claimed,
                            expires,
                            Arc::clone(&leases),
                            shutdown.clone(),
                            outcomes.clone(),
                        ));
                    }
                }
                Err(error) => tracing::warn!(%error, "outbox claim failed"),
            }
        }
        if more {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = notify.notified() => {}
            () = tokio::time::sleep(config.poll_interval) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    while tasks.join_next().await.is_some() {}
    // Every attempt has queued its outcome: closing the channel lets the resolver write the
    // rest and end.
    drop(outcomes);
    if let Err(error) = resolver.await {
        tracing::error!(%error, "outbox resolver task failed");
    }
    stop_renewing.cancel();
    if let Err(error) = renewer.await {
        tracing::error!(%error, "outbox lease renewer task failed");
    }
    tracing::debug!(owner = %config.owner, "worker pool stopped");
}

/// Writes queued outcomes in batches of up to `max` with [`Outbox::resolve_many`] until the
/// channel is closed and empty; wakes the pool after each batch (the next row of a key may be
/// claimable now).
async fn resolver(
    outbox: Arc<dyn Outbox>,
    mut queued: mpsc::Receiver<ResolveRequest>,
    max: usize,
    notify: Arc<Notify>,
    leases: Arc<Leases>,
) {
    let mut batch = Vec::with_capacity(max);
    while queued.recv_many(&mut batch, max).await > 0 {
        let requests = std::mem::take(&mut batch);
        metrics::histogram!("chatport_resolve_batch_size").record(requests.len() as f64);
        let rows: Vec<i64> = requests.iter().map(|r| r.row_id).collect();
        let held: Vec<(LeaseToken, i64)> = requests
            .iter()
            .map(|r| (r.lease.clone(), r.row_id))
            .collect();
        let results = outbox.resolve_many(requests).await;
        // Written (or lost): stop renewing these leases.
        for (lease, row) in &held {
            leases.forget(lease, *row);
        }
        for (row, result) in rows.into_iter().zip(results) {
            match result {
                Ok(()) => {}
                Err(StoreError::LeaseLost { .. }) => tracing::warn!(
                    row,
                    "lease lost before the outcome was recorded; another worker owns the row"
                ),
                Err(error) => tracing::warn!(
                    row,
                    %error,
                    "recording the outcome failed; the row is retried after its lease"
                ),
            }
        }
        notify.notify_one();
    }
}

// The pool's shared parts and the one claimed row; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    outbox: Arc<dyn Outbox>,
    handler: Arc<dyn Handler>,
    retry: Arc<RetryPolicy>,
    attempt_timeout: Duration,
    claimed: Claimed,
    mut expires: watch::Receiver<Instant>,
    leases: Arc<Leases>,
    shutdown: CancellationToken,
    outcomes: mpsc::Sender<ResolveRequest>,
) {
    let Claimed { event, lease } = claimed;
    if shutdown.is_cancelled() {
        // Claimed but not started: give it back without counting an attempt.
        leases.forget(&lease, event.id);
        if let Err(error) = outbox.release(&lease, event.id).await {
            tracing::warn!(%error, row = event.id, "releasing an outbox row failed");
        }
        return;
    }
    let span = tracing::info_span!(
        "delivery",
        flow = %event.flow,
        event_id = %event.event_id,
        row = event.id,
        attempt = event.attempts,
    );
    async move {
        let flow = event.flow.clone();
        metrics::counter!("chatport_delivery_attempts_total", "flow" => flow.clone()).increment(1);
        let event = Arc::new(event);
        let running = {
            let event = Arc::clone(&event);
            tokio::spawn(async move { handler.handle(&event).await })
        };
        let mut running = running;
        let deadline = Instant::now() + attempt_timeout;
        let mut renewals = true;
        // Runs until the handler ends, the attempt's own deadline passes, or the lease ends
        // (lost, or not renewed in time): then another worker may own the row, so stop.
        let outcome = loop {
            let lease_end = *expires.borrow_and_update();
            tokio::select! {
                joined = &mut running => break match joined {
                    Ok(outcome) => outcome,
                    Err(error) if error.is_panic() => Outcome::Retry {
                        after: None,
                        reason: "handler panicked".into(),
                    },
                    Err(_) => Outcome::Retry {
                        after: None,
                        reason: "handler task was cancelled".into(),
                    },
                },
                changed = expires.changed(), if renewals => {
                    renewals = changed.is_ok();
                }
                () = tokio::time::sleep_until(lease_end.min(deadline)) => {
                    running.abort();
                    let reason = if Instant::now() >= deadline {
                        format!("handler timed out after {attempt_timeout:?}")
                    } else {
                        "lease lost or not renewed in time; attempt stopped".to_owned()
                    };
                    break Outcome::Retry { after: None, reason };
                }
            }
        };
        let (resolution, label) = resolution_for(outcome, event.attempts, &retry, Utc::now());
        metrics::counter!("chatport_deliveries_total", "flow" => flow, "outcome" => label)
            .increment(1);
        match &resolution {
            Resolution::Done { .. } => tracing::debug!("delivered"),
            Resolution::Retry { at, error } => tracing::info!(%at, %error, "retry scheduled"),
            Resolution::Dead { error } => tracing::warn!(%error, "dead-lettered"),
        }
        // Hand the outcome to the resolver and free the slot; the resolver writes it with others.
        let request = ResolveRequest::new(lease, event.id, resolution);
        if let Err(mpsc::error::SendError(request)) = outcomes.send(request).await {
            leases.forget(&request.lease, request.row_id);
            tracing::warn!("the outbox resolver has stopped; the row is retried after its lease");
        }
    }
    .instrument(span)
    .await;
}

/// The leases a pool holds (claimed and not yet resolved), with each one's local expiry, which
/// the renewer moves forward and the attempt watches.
#[derive(Default)]
struct Leases {
    held: std::sync::Mutex<std::collections::HashMap<i64, (LeaseToken, watch::Sender<Instant>)>>,
}

impl Leases {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<i64, (LeaseToken, watch::Sender<Instant>)>,
    > {
        // A panic while holding this lock leaves the map consistent (single inserts/removes).
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts tracking a claimed row whose lease ends at `expires`.
    fn hold(&self, claimed: &Claimed, expires: Instant) -> watch::Receiver<Instant> {
        let (sender, receiver) = watch::channel(expires);
        self.lock()
            .insert(claimed.event.id, (claimed.lease.clone(), sender));
        receiver
    }

    /// Stops tracking `row` if it is still held under `lease` (a later claim of the same row
    /// by this pool is left alone).
    fn forget(&self, lease: &LeaseToken, row: i64) {
        let mut held = self.lock();
        if held.get(&row).is_some_and(|(l, _)| l == lease) {
            held.remove(&row);
        }
    }

    fn snapshot(&self) -> Vec<(LeaseToken, i64)> {
        self.lock()
            .iter()
            .map(|(row, (lease, _))| (lease.clone(), *row))
            .collect()
    }
}

/// Every third of the lease, renews the leases of all rows the pool holds in one
/// [`Outbox::renew_many`]; rows the store no longer holds for this pool are marked expired, so
/// their attempts stop. On a store error the leases keep their previous expiry.
async fn renewer(
    outbox: Arc<dyn Outbox>,
    leases: Arc<Leases>,
    lease: Duration,
    stop: CancellationToken,
) {
    let every = (lease / 3).max(Duration::from_millis(50));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let held = leases.snapshot();
        if held.is_empty() {
            continue;
        }
        let started = Instant::now();
        match outbox.renew_many(held.clone(), lease).await {
            Ok(renewed) => {
                let renewed: std::collections::HashSet<i64> = renewed.into_iter().collect();
                let map = leases.lock();
                for (token, row) in held {
                    if let Some((current, expires)) = map.get(&row)
                        && *current == token
                    {
                        if renewed.contains(&row) {
                            expires.send_replace(started + lease);
                        } else {
                            expires.send_replace(Instant::now());
                        }
                    }
                }
            }
            Err(StoreError::Invalid(_)) => {
                // The backend cannot renew: attempts end when their first lease does.
                return;
            }
            Err(error) => tracing::warn!(%error, "renewing outbox leases failed"),
        }
    }
}

/// Maps a handler outcome to the row's resolution and the metrics label.
fn resolution_for(
    outcome: Outcome,
    attempts: u32,
    retry: &RetryPolicy,
    now: DateTime<Utc>,
) -> (Resolution, &'static str) {
    let (after, reason) = match outcome {
        Outcome::Delivered { receipt } => return (Resolution::Done { receipt }, "delivered"),
        Outcome::Rejected { reason } => return (Resolution::Dead { error: reason }, "rejected"),
        Outcome::Retry { after, reason } => (after, reason),
        other => (None, format!("unknown outcome {}", other.as_str())),
    };
    if attempts >= retry.max_attempts {
        return (
            Resolution::Dead {
                error: format!("exhausted after {attempts} attempts: {reason}"),
            },
            "exhausted",
        );
    }
    let delay = retry.next_delay(attempts, after);
    let at = chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    (Resolution::Retry { at, error: reason }, "retry")
}

/// Waits until the outbox has nothing pending or in flight, or `timeout` passes, polling every
/// 20 ms. Returns the last snapshot: check [`OutboxStats::is_drained`] (rows scheduled for a
/// later retry count as pending, so a drain can time out while a retry waits).
///
/// # Errors
/// The first [`StoreError`] of `stats`.
pub async fn drain(outbox: &dyn Outbox, timeout: Duration) -> Result<OutboxStats, StoreError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let stats = outbox.stats().await?;
        if stats.is_drained() || tokio::time::Instant::now() >= deadline {
            return Ok(stats);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_schedule() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.schedule.len(), 10);
        assert_eq!(policy.max_attempts, 12);
        assert_eq!(policy.base_delay(0), Duration::from_secs(5));
        assert_eq!(policy.base_delay(3), Duration::from_secs(120));
        assert_eq!(policy.base_delay(10), Duration::from_secs(86_400));
        assert_eq!(policy.base_delay(11), Duration::from_secs(86_400));
        assert_eq!(
            RetryPolicy::new(vec![], 3).next_delay(2, None),
            Duration::ZERO
        );
    }

    #[test]
    fn outcomes_map_to_resolutions() {
        let policy = RetryPolicy::new(vec![Duration::from_secs(10)], 3);
        let now = Utc::now();
        let (r, label) = resolution_for(Outcome::delivered(), 1, &policy, now);
        assert_eq!(r, Resolution::Done { receipt: None });
        assert_eq!(label, "delivered");
        let (r, label) = resolution_for(
            Outcome::Rejected {
                reason: "bad".into(),
            },
            1,
            &policy,
            now,
        );
        assert_eq!(
            r,
            Resolution::Dead {
                error: "bad".into()
            }
        );
        assert_eq!(label, "rejected");
        let retry = Outcome::Retry {
            after: Some(Duration::from_secs(30)),
            reason: "429".into(),
        };
        let (r, label) = resolution_for(retry.clone(), 2, &policy, now);
        assert_eq!(
            r,
            Resolution::Retry {
                at: now + chrono::Duration::seconds(30),
                error: "429".into()
            }
        );
        assert_eq!(label, "retry");
        let (r, label) = resolution_for(retry, 3, &policy, now);
        assert_eq!(
            r,
            Resolution::Dead {
                error: "exhausted after 3 attempts: 429".into()
            }
        );
        assert_eq!(label, "exhausted");
    }

    fn schedule() -> impl Strategy<Value = Vec<Duration>> {
        proptest::collection::vec(0u64..100_000, 1..12)
            .prop_map(|ms| ms.into_iter().map(Duration::from_millis).collect())
    }

    proptest! {
        #[test]
        fn delay_is_bounded(s in schedule(), jitter in 0.0f64..1.0, attempt in 0u32..100,
                            unit in -1.0f64..1.0, ra in proptest::option::of(0u64..1_000_000)) {
            let policy = RetryPolicy::new(s.clone(), 10).jitter(jitter);
            let ra = ra.map(Duration::from_millis);
            let max = s.iter().max().copied().unwrap_or_default();
            let upper = Duration::from_secs_f64(max.as_secs_f64() * (1.0 + jitter) + 1e-6)
                .max(ra.unwrap_or_default());
            let delay = policy.next_delay_with(attempt, ra, unit);
            prop_assert!(delay <= upper, "{delay:?} > {upper:?}");
            let random = policy.next_delay(attempt, ra);
            prop_assert!(random <= upper, "{random:?} > {upper:?}");
            let base = policy.base_delay(attempt);
            let lower = Duration::from_secs_f64((base.as_secs_f64() * (1.0 - jitter) - 1e-6).max(0.0));
            prop_assert!(random >= lower, "{random:?} < {lower:?}");
        }

        #[test]
        fn monotone_without_jitter(mut s in schedule(), attempt in 0u32..50) {
            s.sort();
            let policy = RetryPolicy::new(s, 10);
            prop_assert!(policy.next_delay(attempt, None) <= policy.next_delay(attempt + 1, None));
        }

        #[test]
        fn honours_retry_after(s in schedule(), jitter in 0.0f64..1.0, attempt in 0u32..50, ra in 0u64..10_000_000) {
            let policy = RetryPolicy::new(s, 10).jitter(jitter);
            let ra = Duration::from_millis(ra);
            prop_assert!(policy.next_delay(attempt, Some(ra)) >= ra);
        }

        #[test]
        fn beyond_schedule_uses_last(s in schedule(), extra in 0u32..1000) {
            let policy = RetryPolicy::new(s.clone(), 10);
            let last = *s.last().unwrap();
            let beyond = u32::try_from(s.len()).unwrap() + extra;
            prop_assert_eq!(policy.next_delay(beyond, None), last);
        }
    }
}
