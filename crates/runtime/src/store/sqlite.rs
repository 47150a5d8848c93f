//! The embedded SQLite backend of the outbox, the key-value store and the idempotency ledger.
//!
//! # Durability: `synchronous=FULL`
//!
//! Ingress answers a webhook with 200 only after its events are committed, and the sender (Meta,
//! Orange Logic) never delivers an acknowledged event again. So a commit must survive a power cut,
//! not only a process crash: the database runs in WAL mode with `synchronous=FULL`, which fsyncs
//! the write-ahead log on every commit. (`NORMAL` in WAL mode may lose the last commits on power
//! loss, which would silently lose acknowledged webhooks.)
//!
//! # Outcome writes do not wait for their fsync
//!
//! Claims, resolves (`resolve`, `resolve_many`), releases and `set_flow` only record what a
//! worker did with a row that is already stored. A batch made of such commands only commits with
//! `synchronous=NORMAL`: visible to every reader at once, safe against a process crash, but not
//! fsynced. A power cut may forget it; the row is then still (or again) in flight under an expired
//! lease, or pending, and is delivered once more — an idempotent redelivery, never a lost event.
//! Any batch holding a durable command (an enqueue, a key-value or ledger write) commits with
//! `synchronous=FULL`, and because the WAL is one append-only file its fsync also covers every
//! earlier lazy commit. So an event's 200 still follows its fsync, and a ledger's `started`
//! marker is still on disk before the vendor call it guards.
//!
//! # Throughput: group commit
//!
//! One fsync per webhook caps ingest at the disk's fsync rate (a few thousand per second). Instead,
//! one dedicated writer thread owns the only write connection and is fed by a **bounded** channel.
//! Each time it wakes up it drains every queued command (up to [`SqliteOptions::max_batch`]) and runs
//! them in **one** transaction with one commit — one fsync for the whole batch — then answers every
//! caller. While a commit is syncing, new commands queue up and form the next batch, so the number
//! of commands per fsync grows with the load. Enqueues, claims, resolves, ledger and key-value
//! writes all share this path.
//!
//! Each command runs inside its own `SAVEPOINT`: an SQL error in one command rolls back only that
//! command and fails only its caller. If the commit itself fails, every caller of the batch gets the
//! error and nothing of the batch is visible. A full channel makes callers wait (backpressure).
//! The savepoints' sub-journal is kept in memory (`temp_store = MEMORY`): it only serves to roll
//! one command back inside the open transaction, never durability.
//!
//! # Checkpoints off the writer thread
//!
//! For a file database the writer connection runs with `wal_autocheckpoint = 0`: a commit never
//! copies the WAL back into the database file while the batch's callers wait for their answer.
//! A second thread with its own connection does that instead: woken after commits, at most every
//! 100 ms, it runs a `PASSIVE` checkpoint (copy the committed WAL pages into the database file,
//! fsync it; it never blocks the writer). Under sustained load the writer never pauses, so the log
//! would never restart from its beginning; once the WAL holds
//! [`SqliteOptions::wal_restart_pages`] (default 8,192 pages: 32 MiB with 4 KiB pages) the
//! checkpointer pauses and the writer, after answering a batch, checkpoints the few pages the
//! checkpointer has not seen yet, so that the next transaction restarts the log. The durability
//! of a commit does not depend on checkpoints: it is the WAL's fsync at `COMMIT`.
//!
//! Reads (`stats`, `list`, `get`, `attempts`, key-value `get`/`list`) use a small pool of separate
//! read connections on blocking threads, so they never queue behind writes; WAL lets them read the
//! last committed state while the writer writes. (An in-memory store has no file to share: its
//! reads run on the writer thread between batches, outside any transaction.)
//!
//! # Schema
//!
//! Tables `events` (the outbox, `UNIQUE(source, event_id)`), `attempts` (history, cascade-deleted
//! with its row), `kv (ns, key)`, `ledger (key)` and `schema_migrations (version)`. Times are stored
//! as INTEGER microseconds since the Unix epoch (UTC). Indexes: two partial indexes over the open
//! rows only (`status IN ('pending','in_flight')`), so that claims never scan delivered history:
//! `events(id)` for the claim scan in arrival order and `events(ordering_key, id)` for the per-key
//! ordering check; `events(flow, status)` and `events(received_at)` for operators.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{EventId, IdempotencyKey, IdempotencyLedger, LedgerEntry, StateError};
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{
    AttemptRecord, Claimed, EnqueueReport, EventFilter, EventStatus, KvStore, LeaseToken, NewEvent,
    Outbox, OutboxStats, Resolution, ResolveRequest, StatusCounts, StoreError, StoredEvent,
};

/// The schema version this build creates and understands (table `schema_migrations`).
pub const SCHEMA_VERSION: i64 = 1;

const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    r#"
CREATE TABLE events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    source           TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    flow             TEXT    NOT NULL,
    ordering_key     TEXT,
    occurred_at      INTEGER NOT NULL,
    received_at      INTEGER NOT NULL,
    payload          BLOB    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'in_flight', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_id         TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    receipt          TEXT,
    updated_at       INTEGER NOT NULL,
    UNIQUE (source, event_id)
);
CREATE INDEX events_open ON events (id) WHERE status IN ('pending', 'in_flight');
CREATE INDEX events_key_open ON events (ordering_key, id) WHERE status IN ('pending', 'in_flight');
CREATE INDEX events_flow ON events (flow, status);
CREATE INDEX events_received ON events (received_at);
CREATE TABLE attempts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_row INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    attempt   INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    outcome   TEXT    NOT NULL,
    error     TEXT
);
CREATE INDEX attempts_row ON attempts (event_row, id);
CREATE TABLE kv (
    ns         TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID;
CREATE TABLE ledger (
    key        TEXT PRIMARY KEY,
    state      TEXT    NOT NULL CHECK (state IN ('started', 'completed')),
    receipt    TEXT,
    updated_at INTEGER NOT NULL
);
"#,
)];

const EVENT_COLUMNS: &str = "id, source, event_id, kind, flow, ordering_key, occurred_at, \
     received_at, payload, status, attempts, next_attempt_at, last_error, receipt, updated_at";

/// Tuning of a [`SqliteStore`].
///
/// ```
/// use std::time::Duration;
/// use chatport_runtime::SqliteOptions;
/// let options = SqliteOptions::default().busy_timeout(Duration::from_secs(2)).max_batch(256);
/// assert_eq!(options.max_batch, 256);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// How long a connection waits for a lock held by another connection or process before
    /// failing with [`StoreError::Busy`]. Default 5 s.
    pub busy_timeout: Duration,
    /// Most write commands committed in one transaction (one fsync). Default 512.
    pub max_batch: usize,
    /// Capacity of the bounded channel to the writer thread; callers wait when it is full.
    /// Default 4096.
    pub channel_capacity: usize,
    /// Read connections in the pool (at least 1). Default 2.
    pub read_connections: usize,
    /// WAL size in pages (4 KiB each by default) past which the writer completes the background
    /// checkpoint itself so that the log restarts from its beginning (see the module docs,
    /// "Checkpoints off the writer thread"). Default 8,192 (32 MiB).
    pub wal_restart_pages: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            max_batch: 512,
            channel_capacity: 4096,
            read_connections: 2,
            wal_restart_pages: 8192,
        }
    }
}

impl SqliteOptions {
    /// Sets [`SqliteOptions::busy_timeout`].
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets [`SqliteOptions::max_batch`] (at least 1).
    pub fn max_batch(mut self, max: usize) -> Self {
        self.max_batch = max.max(1);
        self
    }

    /// Sets [`SqliteOptions::channel_capacity`] (at least 1).
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity.max(1);
        self
    }

    /// Sets [`SqliteOptions::read_connections`] (at least 1).
    pub fn read_connections(mut self, n: usize) -> Self {
        self.read_connections = n.max(1);
        self
    }

    /// Sets [`SqliteOptions::wal_restart_pages`] (at least 1).
    pub fn wal_restart_pages(mut self, pages: u32) -> Self {
        self.wal_restart_pages = pages.max(1);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The writer thread

/// One command for the writer thread. `run` executes it (inside a savepoint for writes) and keeps
/// its result; `finish` answers the caller once the batch's commit is known.
trait Work: Send {
    /// Runs the command; returns whether it succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Whether the caller needs the command on disk when it is answered (`synchronous=FULL`
    /// commit). Outcome writes (claim, resolve, release) do not: see the module docs.
    fn durable(&self) -> bool;
    /// Sends the result, or the commit error to every caller of a failed batch.
    fn finish(self: Box<Self>, commit: Result<(), &StoreError>);
}

struct Task<T, F> {
    work: Option<F>,
    durable: bool,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Work for Task<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panic inside a command must not take the writer thread (and every later caller)
        // down: it fails that command only.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(StoreError::Database("store command panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn finish(self: Box<Self>, commit: Result<(), &StoreError>) {
        let result = match commit {
            Err(error) => Err(error.clone()),
            Ok(()) => self.result.unwrap_or(Err(StoreError::Closed)),
        };
        // The caller may have gone away (a cancelled request): nothing to tell then.
        let _ = self.reply.send(result);
    }
}

enum Job {
    Write(Box<dyn Work>),
    Read(Box<dyn Work>),
}

/// Shortest pause between two background checkpoints.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// What the writer thread shares with the checkpointer thread (file databases only).
struct WalLink {
    /// Wakes the checkpointer after a commit (capacity 1: one pending wake-up is enough).
    poke: std::sync::mpsc::SyncSender<()>,
    /// Pages in the WAL at the end of the last background checkpoint; the writer sets it back to
    /// 0 once its own checkpoint has caught up with the whole log.
    pages: Arc<AtomicI64>,
    /// [`SqliteOptions::wal_restart_pages`].
    restart_pages: i64,
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: copies what it can of the WAL into the database file
/// without waiting for any lock. Returns (busy, pages in the WAL, pages checkpointed).
fn passive_checkpoint(conn: &Connection) -> Result<(i64, i64, i64), StoreError> {
    Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })?)
}

/// The checkpointer thread: after commits (at most every [`CHECKPOINT_INTERVAL`]) it copies the
/// committed WAL pages into the database file and syncs it, on its own connection, so that the
/// writer never stops for a checkpoint while callers wait for their commit. It pauses once the
/// WAL holds `restart_pages` until the writer has completed a checkpoint (see [`writer_loop`]).
/// Ends when the writer thread ends.
fn checkpointer_loop(
    conn: Connection,
    pokes: std::sync::mpsc::Receiver<()>,
    pages: Arc<AtomicI64>,
    restart_pages: i64,
) {
    use std::sync::mpsc::RecvTimeoutError;
    while pokes.recv().is_ok() {
        if pages.load(Ordering::Acquire) < restart_pages {
            match passive_checkpoint(&conn) {
                Ok((_, log, _)) => pages.store(log, Ordering::Release),
                Err(error) => tracing::warn!(%error, "background WAL checkpoint failed"),
            }
        }
        let until = std::time::Instant::now() + CHECKPOINT_INTERVAL;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match pokes.recv_timeout(left) {
                Ok(()) if !left.is_zero() => {}
                Ok(()) | Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    wal: Option<WalLink>,
) {
    let mut writes: Vec<Box<dyn Work>> = Vec::new();
    let mut reads: Vec<Box<dyn Work>> = Vec::new();
    // The connection starts with `synchronous=FULL` (see `SqliteStore::start`).
    let mut full_sync = true;
    while let Some(first) = rx.blocking_recv() {
        let mut queued = Some(first);
        while let Some(job) = queued.take() {
            match job {
                Job::Write(work) => writes.push(work),
                Job::Read(work) => reads.push(work),
            }
            if writes.len() + reads.len() < max_batch {
                queued = rx.try_recv().ok();
            }
        }
        if !writes.is_empty() {
            metrics::histogram!("chatport_store_batch_size").record(writes.len() as f64);
            // A batch of outcome writes only (claims, resolves, releases) commits without
            // waiting for its fsync; any durable command makes the whole batch (and, the WAL
            // being one append-only file, every earlier lazy commit) durable.
            let durable = writes.iter().any(|work| work.durable());
            if durable != full_sync {
                let level = if durable { "FULL" } else { "NORMAL" };
                match conn.pragma_update(None, "synchronous", level) {
                    Ok(()) => full_sync = durable,
                    Err(error) => tracing::warn!(%error, level, "setting synchronous failed"),
                }
            }
            match run_batch(&conn, &mut writes) {
                Ok(()) => writes.drain(..).for_each(|work| work.finish(Ok(()))),
                Err(error) => {
                    tracing::warn!(%error, commands = writes.len(), "outbox batch failed");
                    writes.drain(..).for_each(|work| work.finish(Err(&error)));
                }
            }
            if let Some(wal) = &wal {
                // The callers have their answers; now, if the background checkpointer has
                // paused on a large WAL, copy the last pages it has not seen (few: it ran up to
                // its last pass) so that the next transaction restarts the log from its start.
                if wal.pages.load(Ordering::Acquire) >= wal.restart_pages {
                    match passive_checkpoint(&conn) {
                        Ok((0, log, done)) if done >= log => wal.pages.store(0, Ordering::Release),
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
                    }
                }
                let _ = wal.poke.try_send(());
            }
        }
        for mut work in reads.drain(..) {
            work.run(&conn);
            work.finish(Ok(()));
        }
    }
    // All senders are gone: the store was dropped. The connection closes here.
}

/// Runs `writes` in one transaction, each in a savepoint, and commits once.
fn run_batch(conn: &Connection, writes: &mut [Box<dyn Work>]) -> Result<(), StoreError> {
    // The transaction-control statements are prepared once and kept in the statement cache:
    // `execute_batch` would parse them again for every command of every batch.
    let control = |sql: &str| -> Result<(), StoreError> {
        conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    let result = (|| {
        control("BEGIN IMMEDIATE")?;
        for work in writes.iter_mut() {
            control("SAVEPOINT command")?;
            if work.run(conn) {
                control("RELEASE command")?;
            } else {
                control("ROLLBACK TO command")?;
                control("RELEASE command")?;
            }
        }
        if conn.is_autocommit() {
            return Err(StoreError::Database(
                "SQLite rolled the batch transaction back".into(),
            ));
        }
        control("COMMIT")?;
        Ok(())
    })();
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Read connections

struct ReadPool {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                conn.busy_timeout(self.busy_timeout)?;
                conn.pragma_update(None, "query_only", true)?;
                Ok(conn)
            }
        }
    }

    fn put(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(conn);
    }
}

enum Reads {
    Pool(Arc<ReadPool>),
    /// In-memory store: reads run on the writer thread.
    Writer,
}

struct Inner {
    tx: Option<mpsc::Sender<Job>>,
    reads: Reads,
    path: Option<PathBuf>,
    writer: Option<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer loop once it has answered what is queued; waiting for
        // it means the file is closed when the last clone is gone (a reopen sees everything).
        self.tx.take();
        if let Some(handle) = self.writer.take()
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
        // The writer's end closed the checkpointer's wake-up channel: it ends too.
        if let Some(handle) = self.checkpointer.take()
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
    }
}

/// The SQLite store: [`Outbox`], [`KvStore`] and [`IdempotencyLedger`] in one database file.
///
/// Cheap to clone (an `Arc` inside); the writer thread stops when the last clone is dropped.
/// See the [module docs](self) for durability, group commit and the schema.
///
/// The three traits share method names (`get`, `list`, `release`): with more than one of them in
/// scope, call through the trait (`Outbox::get(&store, id)`, `KvStore::get(&store, ns, key)`) or
/// through an `Arc<dyn Outbox>` / `Arc<dyn KvStore>` / `Arc<dyn IdempotencyLedger>`.
///
/// ```no_run
/// # async fn demo() -> Result<(), chatport_runtime::StoreError> {
/// use std::sync::Arc;
/// use chatport_core::EventId;
/// use chatport_runtime::{NewEvent, Outbox, SqliteOptions, SqliteStore};
///
/// let store = SqliteStore::open("/var/lib/chatport/outbox.db", SqliteOptions::default())?;
/// let outbox: Arc<dyn Outbox> = Arc::new(store.clone());
/// let report = outbox
///     .enqueue(vec![NewEvent::new("whatsapp", EventId::new("wamid.1"), "message", "O1", b"{}".to_vec())])
///     .await?;
/// assert_eq!(report.inserted + report.duplicates, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`: WAL, `synchronous=FULL`, foreign keys, busy
    /// timeout; creates or migrates the schema; starts the writer thread.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be opened, [`StoreError::Corrupt`] when it is not a
    /// database or its schema is newer than [`SCHEMA_VERSION`], other [`StoreError`]s from SQLite.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Io(format!(
                "could not switch the database to WAL mode (journal mode is {mode})"
            )));
        }
        let reads = Reads::Pool(Arc::new(ReadPool {
            path: path.clone(),
            busy_timeout: options.busy_timeout,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(options.read_connections.max(1))),
        }));
        let checkpoint = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        checkpoint.busy_timeout(options.busy_timeout)?;
        // A checkpoint syncs the WAL before and the database file after copying (FULL and
        // NORMAL both do; only OFF would skip it).
        checkpoint.pragma_update(None, "synchronous", "FULL")?;
        Self::start(conn, options, reads, Some(path), Some(checkpoint))
    }

    /// An in-memory store for tests: same schema and semantics, nothing durable, reads served by
    /// the writer thread.
    ///
    /// # Errors
    /// [`StoreError`] from SQLite (practically never).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        Self::start(conn, SqliteOptions::default(), Reads::Writer, None, None)
    }

    /// Configures the write connection, migrates, and starts the writer thread (and, with a
    /// `checkpoint` connection, the checkpointer thread: the writer then never checkpoints on
    /// commit).
    fn start(
        conn: Connection,
        options: SqliteOptions,
        reads: Reads,
        path: Option<PathBuf>,
        checkpoint: Option<Connection>,
    ) -> Result<Self, StoreError> {
        conn.busy_timeout(options.busy_timeout)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Each command of a batch runs in a savepoint, and a savepoint keeps the original of every
        // page it changes in a sub-journal. With the default temp store that sub-journal spills to
        // a temporary file once it passes 64 KiB, and every later savepoint of the batch then
        // `pwrite`s its pages there: about half of the writer's kernel time under load. The
        // sub-journal is only needed to roll one command back inside the open transaction (never
        // for durability), so it lives in memory.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&conn)?;
        let (wal, checkpointer) = match checkpoint {
            Some(checkpoint) => {
                // Commits no longer checkpoint on the writer thread (SQLite's default is a
                // checkpoint by the committing connection every 1,000 WAL pages, with the
                // database file's fsync, while every caller of the batch waits).
                conn.pragma_update(None, "wal_autocheckpoint", 0)?;
                let (poke, pokes) = std::sync::mpsc::sync_channel(1);
                let pages = Arc::new(AtomicI64::new(0));
                let shared = Arc::clone(&pages);
                let restart_pages = i64::from(options.wal_restart_pages.max(1));
                let handle = std::thread::Builder::new()
                    .name("chatport-sqlite-checkpoint".into())
                    .spawn(move || checkpointer_loop(checkpoint, pokes, shared, restart_pages))
                    .map_err(|e| {
                        StoreError::Io(format!("cannot start the checkpointer thread: {e}"))
                    })?;
                let link = WalLink {
                    poke,
                    pages,
                    restart_pages,
                };
                (Some(link), Some(handle))
            }
            None => (None, None),
        };
        let (tx, rx) = mpsc::channel(options.channel_capacity.max(1));
        let max_batch = options.max_batch.max(1);
        let writer = std::thread::Builder::new()
            .name("chatport-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch, wal))
            .map_err(|e| StoreError::Io(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                tx: Some(tx),
                reads,
                path,
                writer: Some(writer),
                checkpointer,
            }),
        })
    }

    /// The database file, `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The schema version stored in the database.
    ///
    /// # Errors
    /// Any [`StoreError`].
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |row| row.get(0),
            )?)
        })
        .await
    }

    async fn submit<T, F>(
        &self,
        make: fn(Box<dyn Work>) -> Job,
        durable: bool,
        work: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task = Task {
            work: Some(work),
            durable,
            result: None,
            reply,
        };
        let tx = self.inner.tx.as_ref().ok_or(StoreError::Closed)?;
        tx.send(make(Box::new(task)))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `work` in the next group-commit batch; answers after the batch's fsync.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Job::Write, true, work).await
    }

    /// Runs `work` in the next group-commit batch; answers after the commit, which waits for an
    /// fsync only when another command of the batch needs one (outcome writes: claims,
    /// resolves, releases; see the module docs).
    async fn write_lazy<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Job::Write, false, work).await
    }

    /// Runs `work` on a read connection.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.inner.reads {
            Reads::Writer => self.submit(Job::Read, false, work).await,
            Reads::Pool(pool) => {
                let pool = Arc::clone(pool);
                let permit = Arc::clone(&pool.permits)
                    .acquire_owned()
                    .await
                    .map_err(|_| StoreError::Closed)?;
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let conn = pool.take()?;
                    let result = work(&conn);
                    if conn.is_autocommit() {
                        pool.put(conn);
                    }
                    result
                })
                .await
                .map_err(|_| StoreError::Closed)?
            }
        }
    }
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let applied = conn.execute_batch(sql).and_then(|()| {
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, micros(Utc::now())],
            )
            .map(|_| ())
        });
        match applied {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(error) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(error.into());
            }
        }
        tracing::info!(version, "outbox schema migrated");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Row helpers

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(value: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(value)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {value} out of range")))
}

fn duration_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn read_event(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    let status: String = row.get(9)?;
    let attempts: i64 = row.get(10)?;
    let receipt: Option<String> = row.get(13)?;
    Ok(StoredEvent {
        id: row.get(0)?,
        source: row.get(1)?,
        event_id: EventId::try_new(row.get::<_, String>(2)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        kind: row.get(3)?,
        flow: row.get(4)?,
        ordering_key: row.get(5)?,
        occurred_at: from_micros(row.get(6)?)?,
        received_at: from_micros(row.get(7)?)?,
        payload: row.get(8)?,
        status: status
            .parse()
            .map_err(|e: super::UnknownStatus| StoreError::Corrupt(e.to_string()))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt(format!("attempts {attempts} out of range")))?,
        next_attempt_at: from_micros(row.get(11)?)?,
        last_error: row.get(12)?,
        receipt: receipt
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("receipt is not JSON: {e}")))?,
        updated_at: from_micros(row.get(14)?)?,
    })
}

/// ` AND ...` conditions of a filter, with their parameters.
fn filter_sql(filter: &EventFilter, sql: &mut String, values: &mut Vec<Value>) {
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        values.push(Value::Text(status.as_str().to_owned()));
    }
    if let Some(flow) = &filter.flow {
        sql.push_str(" AND flow = ?");
        values.push(Value::Text(flow.clone()));
    }
    if let Some(source) = &filter.source {
        sql.push_str(" AND source = ?");
        values.push(Value::Text(source.clone()));
    }
    if let Some(since) = filter.since {
        sql.push_str(" AND received_at >= ?");
        values.push(Value::Integer(micros(since)));
    }
    if let Some(until) = filter.until {
        sql.push_str(" AND received_at < ?");
        values.push(Value::Integer(micros(until)));
    }
    if !filter.ids.is_empty() {
        sql.push_str(" AND id IN (");
        for (i, id) in filter.ids.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            values.push(Value::Integer(*id));
        }
        sql.push(')');
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn limit_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// Outbox

const CLAIMABLE_SQL: &str = "
SELECT e.id FROM events AS e
WHERE e.status IN ('pending', 'in_flight')
  AND ((e.status = 'pending' AND e.next_attempt_at <= ?1)
       OR (e.status = 'in_flight' AND e.lease_expires_at <= ?1))
  AND (e.ordering_key IS NULL OR (
        NOT EXISTS (SELECT 1 FROM events AS b
                    WHERE b.ordering_key = e.ordering_key AND b.id < e.id
                      AND b.status IN ('pending', 'in_flight'))
    AND NOT EXISTS (SELECT 1 FROM events AS c
                    WHERE c.ordering_key = e.ordering_key AND c.id <> e.id
                      AND c.status IN ('pending', 'in_flight')
                      AND c.status = 'in_flight' AND c.lease_expires_at > ?1)))
ORDER BY e.id
LIMIT ?2";

/// Ends the attempt on `row_id` held by `lease` and appends its history entry (both statements in
/// the caller's transaction).
fn resolve_row(
    conn: &Connection,
    lease: &LeaseToken,
    row_id: i64,
    resolution: Resolution,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = micros(now);
    let outcome = resolution.as_str();
    let (status, next_at, error, receipt) = match resolution {
        Resolution::Done { receipt } => (
            EventStatus::Done,
            None,
            None,
            receipt.map(|r| r.to_string()),
        ),
        Resolution::Retry { at, error } => {
            (EventStatus::Pending, Some(micros(at)), Some(error), None)
        }
        Resolution::Dead { error } => (EventStatus::Dead, None, Some(error), None),
    };
    let attempt: Option<i64> = conn
        .prepare_cached(
            "UPDATE events SET status = ?1,
                 next_attempt_at = COALESCE(?2, next_attempt_at),
                 last_error = COALESCE(?3, last_error),
                 receipt = COALESCE(?4, receipt),
                 lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL,
                 updated_at = ?5
             WHERE id = ?6 AND status = 'in_flight' AND lease_owner = ?7 AND lease_id = ?8
             RETURNING attempts",
        )?
        .query_row(
            params![
                status.as_str(),
                next_at,
                error,
                receipt,
                now,
                row_id,
                lease.owner,
                lease.claim_id
            ],
            |row| row.get(0),
        )
        .optional()?;
    let Some(attempt) = attempt else {
        return Err(StoreError::LeaseLost { row_id });
    };
    conn.prepare_cached(
        "INSERT INTO attempts (event_row, attempt, at, outcome, error)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![row_id, attempt, now, outcome, error])?;
    Ok(())
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn enqueue(&self, events: Vec<NewEvent>) -> Result<EnqueueReport, StoreError> {
        if events.is_empty() {
            return Ok(EnqueueReport::default());
        }
        self.write(move |conn| {
            let now = micros(Utc::now());
            let mut insert = conn.prepare_cached(
                "INSERT INTO events (source, event_id, kind, flow, ordering_key, occurred_at,
                     received_at, payload, status, attempts, next_attempt_at, last_error, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?7, ?10, ?7)
                 ON CONFLICT (source, event_id) DO NOTHING",
            )?;
            let mut report = EnqueueReport::default();
            for event in &events {
                let status = if event.dead_reason.is_some() {
                    EventStatus::Dead
                } else {
                    EventStatus::Pending
                };
                let changed = insert.execute(params![
                    event.source,
                    event.event_id.as_str(),
                    event.kind,
                    event.flow,
                    event.ordering_key,
                    micros(event.occurred_at),
                    now,
                    event.payload,
                    status.as_str(),
                    event.dead_reason,
                ])?;
                if changed == 1 {
                    report.inserted += 1;
                    if event.dead_reason.is_some() {
                        report.dead += 1;
                    }
                } else {
                    report.duplicates += 1;
                }
            }
            Ok(report)
        })
        .await
    }

    async fn claim(
        &self,
        owner: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let token = LeaseToken::new(owner);
        self.write_lazy(move |conn| {
            let now = Utc::now();
            let now_us = micros(now);
            let expires = now_us.saturating_add(duration_micros(lease));
            let ids: Vec<i64> = conn
                .prepare_cached(CLAIMABLE_SQL)?
                .query_map(params![now_us, limit_value(max)], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let mut update = conn.prepare_cached(&format!(
                "UPDATE events SET status = 'in_flight', attempts = attempts + 1,
                     lease_owner = ?1, lease_id = ?2, lease_expires_at = ?3, updated_at = ?4
                 WHERE id = ?5
                 RETURNING {EVENT_COLUMNS}"
            ))?;
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                let mut rows =
                    update.query(params![token.owner, token.claim_id, expires, now_us, id])?;
                if let Some(row) = rows.next()? {
                    claimed.push(Claimed {
                        event: read_event(row)?,
                        lease: token.clone(),
                    });
                }
            }
            Ok(claimed)
        })
        .await
    }

    async fn resolve(
        &self,
        lease: &LeaseToken,
        row_id: i64,
        resolution: Resolution,
    ) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.write_lazy(move |conn| resolve_row(conn, &lease, row_id, resolution, Utc::now()))
            .await
    }

    async fn resolve_many(&self, requests: Vec<ResolveRequest>) -> Vec<Result<(), StoreError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let n = requests.len();
        let answer = self
            .write_lazy(move |conn| {
                let now = Utc::now();
                let control = |sql: &str| -> Result<(), StoreError> {
                    conn.prepare_cached(sql)?.execute([])?;
                    Ok(())
                };
                let mut results = Vec::with_capacity(requests.len());
                for request in requests {
                    // Each row in its own savepoint: a failure leaves the others of the batch.
                    control("SAVEPOINT resolve_row")?;
                    let result = resolve_row(
                        conn,
                        &request.lease,
                        request.row_id,
                        request.resolution,
                        now,
                    );
                    if result.is_err() {
                        control("ROLLBACK TO resolve_row")?;
                    }
                    control("RELEASE resolve_row")?;
                    results.push(result);
                }
                Ok(results)
            })
            .await;
        match answer {
            Ok(results) => results,
            Err(error) => vec![Err(error); n],
        }
    }

    async fn renew_many(
        &self,
        held: Vec<(LeaseToken, i64)>,
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        self.write_lazy(move |conn| {
            let now_us = micros(Utc::now());
            let expires = now_us.saturating_add(duration_micros(lease));
            let mut update = conn.prepare_cached(
                "UPDATE events SET lease_expires_at = ?1
                 WHERE id = ?2 AND status = 'in_flight' AND lease_owner = ?3 AND lease_id = ?4",
            )?;
            let mut renewed = Vec::with_capacity(held.len());
            for (token, id) in held {
                if update.execute(params![expires, id, token.owner, token.claim_id])? > 0 {
                    renewed.push(id);
                }
            }
            Ok(renewed)
        })
        .await
    }

    async fn release(&self, lease: &LeaseToken, row_id: i64) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.write_lazy(move |conn| {
            let now = micros(Utc::now());
            let changed = conn
                .prepare_cached(
                    "UPDATE events SET status = 'pending', attempts = MAX(attempts - 1, 0),
                         next_attempt_at = MIN(next_attempt_at, ?1),
                         lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL,
                         updated_at = ?1
                     WHERE id = ?2 AND status = 'in_flight' AND lease_owner = ?3 AND lease_id = ?4",
                )?
                .execute(params![now, row_id, lease.owner, lease.claim_id])?;
            if changed == 0 {
                return Err(StoreError::LeaseLost { row_id });
            }
            Ok(())
        })
        .await
    }

    async fn set_flow(&self, row_id: i64, flow: &str) -> Result<(), StoreError> {
        let flow = flow.to_owned();
        self.write_lazy(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE events SET flow = ?1, updated_at = ?2 WHERE id = ?3 AND status = 'in_flight'",
                )?
                .execute(params![flow, micros(Utc::now()), row_id])?;
            if changed == 0 {
                return Err(StoreError::LeaseLost { row_id });
            }
            Ok(())
        })
        .await
    }

    async fn stats(&self) -> Result<OutboxStats, StoreError> {
        self.read(|conn| {
            conn.execute_batch("BEGIN")?;
            let result = (|| {
                let mut stats = OutboxStats::default();
                let mut stmt = conn.prepare_cached(
                    "SELECT flow, status, COUNT(*) FROM events GROUP BY flow, status",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    let flow: String = row.get(0)?;
                    let status: String = row.get(1)?;
                    let n: i64 = row.get(2)?;
                    let status: EventStatus = status
                        .parse()
                        .map_err(|e: super::UnknownStatus| StoreError::Corrupt(e.to_string()))?;
                    let n = u64::try_from(n).unwrap_or(0);
                    match status {
                        EventStatus::Pending => stats.pending += n,
                        EventStatus::InFlight => stats.in_flight += n,
                        EventStatus::Done => stats.done += n,
                        EventStatus::Dead => stats.dead += n,
                    }
                    stats
                        .by_flow
                        .entry(flow)
                        .or_insert_with(StatusCounts::default)
                        .add(status, n);
                }
                // The first-arrived unresolved row (ids follow arrival order).
                let oldest: Option<i64> = conn
                    .query_row(
                        "SELECT received_at FROM events WHERE status IN ('pending', 'in_flight')
                         ORDER BY id LIMIT 1",
                        [],
                        |row| row.get(0),
                    )
                    .optional()?;
                if let Some(oldest) = oldest {
                    let at = from_micros(oldest)?;
                    stats.oldest_pending_at = Some(at);
                    stats.oldest_pending_age = Some((Utc::now() - at).to_std().unwrap_or_default());
                }
                Ok(stats)
            })();
            let _ = conn.execute_batch("COMMIT");
            result
        })
        .await
    }

    async fn list(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
            let mut values = Vec::new();
            filter_sql(&filter, &mut sql, &mut values);
            sql.push_str(" ORDER BY id LIMIT ?");
            values.push(Value::Integer(limit_value(limit)));
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query(params_from_iter(values))?;
            let mut events = Vec::new();
            while let Some(row) = rows.next()? {
                events.push(read_event(row)?);
            }
            Ok(events)
        })
        .await
    }

    async fn count(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            let mut sql = String::from("SELECT COUNT(*) FROM events WHERE 1 = 1");
            let mut values = Vec::new();
            filter_sql(&filter, &mut sql, &mut values);
            let n: i64 = conn.query_row(&sql, params_from_iter(values), |row| row.get(0))?;
            Ok(u64::try_from(n).unwrap_or_default())
        })
        .await
    }

    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"))?;
            let mut rows = stmt.query(params![id])?;
            match rows.next()? {
                Some(row) => Ok(Some(read_event(row)?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn attempts(&self, id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT event_row, attempt, at, outcome, error FROM attempts
                 WHERE event_row = ?1 ORDER BY id",
            )?;
            let mut rows = stmt.query(params![id])?;
            let mut records = Vec::new();
            while let Some(row) = rows.next()? {
                let attempt: i64 = row.get(1)?;
                records.push(AttemptRecord {
                    row_id: row.get(0)?,
                    attempt: u32::try_from(attempt).map_err(|_| {
                        StoreError::Corrupt(format!("attempt {attempt} out of range"))
                    })?,
                    at: from_micros(row.get(2)?)?,
                    outcome: row.get(3)?,
                    error: row.get(4)?,
                });
            }
            Ok(records)
        })
        .await
    }

    async fn replay(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.write(move |conn| {
            let now = micros(Utc::now());
            let mut sql = String::from(
                "UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = ?,
                     lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL, updated_at = ?
                 WHERE status <> 'in_flight'",
            );
            let mut values = vec![Value::Integer(now), Value::Integer(now)];
            filter_sql(&filter, &mut sql, &mut values);
            let changed = conn.execute(&sql, params_from_iter(values))?;
            Ok(count(changed))
        })
        .await
    }

    async fn purge(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        let filter = super::purge_filter(filter)?;
        self.write(move |conn| {
            let mut sql = String::from("DELETE FROM events WHERE 1 = 1");
            let mut values = Vec::new();
            filter_sql(&filter, &mut sql, &mut values);
            let changed = conn.execute(&sql, params_from_iter(values))?;
            Ok(count(changed))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
}

// ---------------------------------------------------------------------------------------------
// Key-value store

/// The key-value queries in the store's own error; the [`KvStore`] impl below maps them.
impl SqliteStore {
    async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (ns, key) = (ns.to_owned(), key.to_owned());
        self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM kv WHERE ns = ?1 AND key = ?2")?
                .query_row(params![ns, key], |row| row.get(0))
                .optional()?)
        })
        .await
    }

    async fn kv_put(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let (ns, key, value) = (ns.to_owned(), key.to_owned(), value.to_vec());
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,
                     updated_at = excluded.updated_at",
            )?
            .execute(params![ns, key, value, micros(Utc::now())])?;
            Ok(())
        })
        .await
    }

    async fn kv_put_if_absent(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let (ns, key, value) = (ns.to_owned(), key.to_owned(), value.to_vec());
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "INSERT INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (ns, key) DO NOTHING",
                )?
                .execute(params![ns, key, value, micros(Utc::now())])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn kv_delete(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        let (ns, key) = (ns.to_owned(), key.to_owned());
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM kv WHERE ns = ?1 AND key = ?2")?
                .execute(params![ns, key])?;
            Ok(())
        })
        .await
    }

    async fn kv_list(&self, ns: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let (ns, prefix) = (ns.to_owned(), prefix.to_owned());
        self.read(move |conn| {
            // Keys with a given prefix form one contiguous run in byte order, starting at the
            // prefix itself: scan from there and stop at the first key without it.
            let mut stmt = conn.prepare_cached(
                "SELECT key, value FROM kv WHERE ns = ?1 AND key >= ?2 ORDER BY key",
            )?;
            let mut rows = stmt.query(params![ns, prefix])?;
            let mut entries = Vec::new();
            while let Some(row) = rows.next()? {
                let key: String = row.get(0)?;
                if !key.starts_with(&prefix) {
                    break;
                }
                entries.push((key, row.get(1)?));
            }
            Ok(entries)
        })
        .await
    }
}

#[async_trait]
impl KvStore for SqliteStore {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.kv_get(ns, key).await?)
    }

    async fn put(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StateError> {
        Ok(self.kv_put(ns, key, value).await?)
    }

    async fn put_if_absent(&self, ns: &str, key: &str, value: &[u8]) -> Result<bool, StateError> {
        Ok(self.kv_put_if_absent(ns, key, value).await?)
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<(), StateError> {
        Ok(self.kv_delete(ns, key).await?)
    }

    async fn list(&self, ns: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        Ok(self.kv_list(ns, prefix).await?)
    }
}

// ---------------------------------------------------------------------------------------------
// Idempotency ledger

#[async_trait]
impl IdempotencyLedger for SqliteStore {
    /// Inserts `started` and returns [`LedgerEntry::Started`]; an existing `started` row gives
    /// [`LedgerEntry::InDoubt`], a `completed` row [`LedgerEntry::Completed`] with its receipt.
    async fn begin(&self, key: &IdempotencyKey) -> Result<LedgerEntry, StateError> {
        let key = key.as_str().to_owned();
        Ok(self
            .write(move |conn| {
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO ledger (key, state, receipt, updated_at)
                         VALUES (?1, 'started', NULL, ?2) ON CONFLICT (key) DO NOTHING",
                    )?
                    .execute(params![key, micros(Utc::now())])?;
                if inserted == 1 {
                    return Ok(LedgerEntry::Started);
                }
                let (state, receipt): (String, Option<String>) = conn
                    .prepare_cached("SELECT state, receipt FROM ledger WHERE key = ?1")?
                    .query_row(params![key], |row| Ok((row.get(0)?, row.get(1)?)))?;
                match state.as_str() {
                    "completed" => {
                        let receipt = match receipt {
                            Some(text) => serde_json::from_str(&text).map_err(|e| {
                                StoreError::Corrupt(format!("ledger receipt is not JSON: {e}"))
                            })?,
                            None => serde_json::Value::Null,
                        };
                        Ok(LedgerEntry::Completed(receipt))
                    }
                    _ => Ok(LedgerEntry::InDoubt),
                }
            })
            .await?)
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        receipt: &serde_json::Value,
    ) -> Result<(), StateError> {
        let (key, receipt) = (key.as_str().to_owned(), receipt.to_string());
        Ok(self
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO ledger (key, state, receipt, updated_at)
                     VALUES (?1, 'completed', ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET state = 'completed',
                         receipt = excluded.receipt, updated_at = excluded.updated_at",
                )?
                .execute(params![key, receipt, micros(Utc::now())])?;
                Ok(())
            })
            .await?)
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<(), StateError> {
        let key = key.as_str().to_owned();
        Ok(self
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM ledger WHERE key = ?1 AND state = 'started'")?
                    .execute(params![key])?;
                Ok(())
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_failing_command_does_not_fail_its_batch() {
        let store = SqliteStore::open_in_memory().unwrap();
        // Queue a good and a bad command; whichever batch they land in, only the bad one fails.
        let good = store.write(|conn| {
            conn.execute(
                "INSERT INTO kv (ns, key, value, updated_at) VALUES ('t', 'a', x'01', 0)",
                [],
            )?;
            Ok(())
        });
        let bad = store.write(|conn| {
            conn.execute(
                "INSERT INTO kv (ns, key, value, updated_at) VALUES ('t', 'b', x'02', 0)",
                [],
            )?;
            conn.execute("INSERT INTO no_such_table VALUES (1)", [])?;
            Ok(())
        });
        let (good, bad) = tokio::join!(good, bad);
        good.unwrap();
        assert!(matches!(bad, Err(StoreError::Database(_))));
        assert_eq!(KvStore::get(&store, "t", "a").await.unwrap(), Some(vec![1]));
        // The failed command's first statement was rolled back with its savepoint.
        assert_eq!(KvStore::get(&store, "t", "b").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_panicking_command_fails_alone_and_the_writer_lives_on() {
        let store = SqliteStore::open_in_memory().unwrap();
        let boom = store
            .write(|_conn| -> Result<(), StoreError> { panic!("bug in a command") })
            .await;
        assert!(matches!(boom, Err(StoreError::Database(_))));
        KvStore::put(&store, "t", "after", b"1").await.unwrap();
        assert_eq!(
            KvStore::get(&store, "t", "after").await.unwrap(),
            Some(b"1".to_vec())
        );
    }

    #[tokio::test]
    async fn schema_version_is_recorded_and_reopen_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        drop(store);
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        let mode: String = store
            .read(|conn| Ok(conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .write(|conn| Ok(conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
    }

    #[tokio::test]
    async fn claims_scan_only_open_rows() {
        let store = SqliteStore::open_in_memory().unwrap();
        let plan: Vec<String> = store
            .read(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {CLAIMABLE_SQL}"))?;
                let rows = stmt.query_map(params![0, 1], |row| row.get::<_, String>(3))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX events_open"), "{plan}");
        assert!(plan.contains("USING INDEX events_key_open"), "{plan}");
    }

    /// The WAL header's checkpoint sequence number (bytes 12..16, big-endian): SQLite increments
    /// it each time the log restarts from its beginning.
    fn wal_restarts(db: &Path) -> u32 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let bytes = std::fs::read(std::path::PathBuf::from(wal)).unwrap_or_default();
        bytes
            .get(12..16)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn checkpoints_run_off_the_writer_and_the_wal_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store =
            SqliteStore::open(&path, SqliteOptions::default().wal_restart_pages(16)).unwrap();
        let autocheckpoint: i64 = store
            .write(|conn| Ok(conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(autocheckpoint, 0, "commits do not checkpoint on the writer");
        let temp_store: i64 = store
            .write(|conn| Ok(conn.query_row("PRAGMA temp_store", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(temp_store, 2, "savepoint journals in memory");
        let restarts = wal_restarts(&path);
        let payload = vec![b'x'; 2048];
        let mut written = 0u64;
        // Keep writing until the log has restarted at least once (the checkpointer wakes after
        // commits; the bound only keeps a broken build from looping for ever).
        for round in 0..5_000u32 {
            let events = (0..8)
                .map(|i| {
                    NewEvent::new(
                        "test",
                        EventId::new(format!("e{round}.{i}")),
                        "message",
                        "O1",
                        payload.clone(),
                    )
                })
                .collect();
            written += Outbox::enqueue(&store, events).await.unwrap().inserted;
            if round % 20 == 19 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if wal_restarts(&path) > restarts {
                    break;
                }
            }
        }
        assert!(
            wal_restarts(&path) > restarts,
            "the WAL never restarted after {written} rows"
        );
        // Nothing was lost on the way, and a reopen sees every row.
        drop(store);
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        assert_eq!(Outbox::stats(&store).await.unwrap().pending, written);
    }

    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)",
            [],
        )
        .unwrap();
        drop(conn);
        let err = SqliteStore::open(&path, SqliteOptions::default()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    }

    #[tokio::test]
    async fn ledger_protocol() {
        let store = SqliteStore::open_in_memory().unwrap();
        let key = IdempotencyKey::derive("O1", "reply", &EventId::new("wamid.1"));
        assert_eq!(store.begin(&key).await.unwrap(), LedgerEntry::Started);
        assert_eq!(store.begin(&key).await.unwrap(), LedgerEntry::InDoubt);
        IdempotencyLedger::release(&store, &key).await.unwrap();
        assert_eq!(store.begin(&key).await.unwrap(), LedgerEntry::Started);
        let receipt = serde_json::json!({"wamid": "wamid.out"});
        store.complete(&key, &receipt).await.unwrap();
        assert_eq!(
            store.begin(&key).await.unwrap(),
            LedgerEntry::Completed(receipt.clone())
        );
        // release never forgets a completed effect
        IdempotencyLedger::release(&store, &key).await.unwrap();
        assert_eq!(
            store.begin(&key).await.unwrap(),
            LedgerEntry::Completed(receipt)
        );
    }
}
