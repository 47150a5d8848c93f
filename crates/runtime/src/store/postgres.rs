//! The PostgreSQL backend of the outbox, the key-value store and the idempotency ledger (cargo
//! feature `postgres`): many `chatport serve` replicas share one queue.
//!
//! Same semantics as [`SqliteStore`](super::SqliteStore) (the [module docs](super) describe them),
//! checked by the same conformance suite. Built on `tokio-postgres` with a `deadpool-postgres`
//! connection pool; every statement is a runtime query (no compile-time checked macros, so no
//! database is needed to build).
//!
//! # Durability
//!
//! Every write is one PostgreSQL transaction, durable when its `COMMIT` returns. Each connection
//! starts with `synchronous_commit=on` (sent as a start-up option), whatever the server or role
//! default says: ingress answers 200 only after the commit, so an asynchronous commit could lose
//! acknowledged webhooks. Many concurrent commits share one WAL flush inside the server (its own
//! group commit), so replicas need no batching of their own.
//!
//! Outcome writes are the exception: claims, resolves (`resolve`, and `resolve_many`, which
//! resolves a whole batch in one statement), releases and `set_flow` run on a second, small pool
//! ([`PgOptions::outcome_connections`]) whose connections start with `synchronous_commit=off`.
//! Their commits are visible to every replica at once but do not wait for the WAL flush; a
//! server crash may forget the last of them (at most about three times `wal_writer_delay`), and
//! the row is then delivered again after its lease — an idempotent redelivery, never a lost
//! event. A later synchronous commit flushes the WAL up to itself, earlier asynchronous commits
//! included, so nothing durable ever depends on a forgotten outcome.
//!
//! # Schema
//!
//! Tables `events` (the outbox, `UNIQUE (source, event_id)`), `attempts` (history, cascade-deleted
//! with its row), `kv (ns, key)` (key in the `"C"` collation, so prefix listing is byte order),
//! `ledger (key)`, `rate_buckets (bucket)` (the shared vendor rate budgets of
//! [`RateBudget`], schema version 2) and `schema_migrations (version)`. Times are `timestamptz` (microseconds, UTC).
//! Partial indexes over the open rows only (`status IN ('pending', 'in_flight')`) serve the claim
//! scan (`events (id)`) and the per-key ordering check (`events (ordering_key, id)`), so claims
//! never scan delivered history; `events (flow, status)` and `events (received_at)` serve operators.
//!
//! The tables live in the schema named by [`PgOptions::schema`] (created when missing; sent as the
//! connection's `search_path`), or in the server's default schema. Migrations run at
//! [`PgStore::connect`] inside one transaction that holds an advisory lock, so replicas starting
//! together migrate once; a database whose schema version is newer than [`PG_SCHEMA_VERSION`] is
//! refused.
//!
//! # Time
//!
//! The database clock decides: `received_at`, lease expiry and "due now" all use the server's
//! `now()` (the start of the transaction), so replicas with skewed clocks agree on leases. Times
//! that callers pass in (`Resolution::Retry { at }`, `EventFilter::since`, `occurred_at`) are
//! stored as given.
//!
//! # Claims: `FOR UPDATE SKIP LOCKED` plus one advisory lock per ordering key
//!
//! A claim is one `READ COMMITTED` transaction of three statements:
//!
//! 1. **Candidates**: the first `max` claimable rows by id (pending and due, or in flight with an
//!    expired lease; for keyed rows, no earlier open row of the key and no live lease on another
//!    row of the key), without locking anything.
//! 2. **Key locks**: `pg_try_advisory_xact_lock` on a 64-bit hash of each candidate key (namespaced
//!    by the schema). Keys another claimer holds are skipped this round, never waited for.
//! 3. **Claim**: `WITH picked AS (SELECT … WHERE <claimable> AND (ordering_key IS NULL OR
//!    ordering_key = ANY(<locked keys>)) ORDER BY id LIMIT max FOR UPDATE SKIP LOCKED)
//!    UPDATE events … FROM picked … RETURNING …` sets the rows in flight under a new lease
//!    (owner + a UUID claim id, expiring at `now() + lease`) and counts the attempt.
//!
//! Why the key lock: `SKIP LOCKED` alone only keeps two claimers off the **same row**. The
//! ordering rule is about **other rows** of the key, and each statement judges them on its own
//! snapshot. Without the key lock this interleaving breaks the rule: claimer B's snapshot sees
//! `a` (key k) done and picks the later `b`; an operator replays `a`; claimer A sees `a` pending
//! and first in line, and claims it; B then locks `b`, which nobody touched, and claims it too —
//! two rows of k in flight. With the lock, every claim of a key runs while holding that key's
//! advisory lock, and statement 3 takes its snapshot only **after** the lock is held, so it sees
//! every earlier claim of the key as committed (live lease, row in flight) and the rule holds
//! across any number of claimers and replicas. Transaction-level locks are released by the
//! claim's commit or rollback, so a crashed claimer cannot leave one behind. A hash collision
//! between two keys only makes them take turns. Rows without a key take no advisory lock: row
//! locks and `SKIP LOCKED` are all they need. Resolve, release and replay take no key lock: they
//! only turn rows done, dead or pending, which can make a concurrent claim wait a round but never
//! put two rows of a key in flight.
//!
//! # Leases and the reaper
//!
//! Claims take rows whose lease expired directly (the row's owner died or hung), exactly as the
//! SQLite store does, so no reaper is needed for progress. [`PgStore::reap_expired_leases`] (and
//! [`PgStore::spawn_reaper`] running it periodically) also puts expired rows back to pending,
//! appending a `retry` attempt with the error `lease expired`, so that `stats` and operators see
//! them as waiting instead of in flight. The old owner's `resolve` is then refused with
//! [`StoreError::LeaseLost`], as after a re-claim.
//!
//! # Scaling
//!
//! Any number of processes may share one database: claims never block each other (skipped rows
//! and keys are left for the next round), enqueues only contend on the same `(source, event_id)`.
//! Row ids come from an identity sequence: increasing in arrival order within one enqueue, and
//! across concurrent enqueues in the order their inserts started.
//!
//! # TLS
//!
//! `sslmode` in the URL decides. `sslmode=require` (feature `postgres-tls`) connects with TLS (rustls) and **verifies** the
//! server's certificate chain against the system's roots plus [`PgOptions::root_certificate`], and
//! its host name against the URL's host (what libpq calls `verify-full`; there is no unverified
//! TLS). `prefer` (the default) and `disable` connect in plain text: use them only on a local
//! socket, loopback or a private network.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{
    EventId, IdempotencyKey, IdempotencyLedger, LedgerEntry, RateBudget, StateError,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::{ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use tokio_util::sync::CancellationToken;

use super::{
    AttemptRecord, Claimed, EnqueueReport, EventFilter, EventStatus, KvStore, LeaseToken, NewEvent,
    Outbox, OutboxStats, Resolution, ResolveRequest, StatusCounts, StoreError, StoredEvent,
};

/// The schema version this build creates and understands (table `schema_migrations`).
pub const PG_SCHEMA_VERSION: i64 = 2;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE events (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source           TEXT        NOT NULL,
    event_id         TEXT        NOT NULL,
    kind             TEXT        NOT NULL,
    flow             TEXT        NOT NULL,
    ordering_key     TEXT,
    occurred_at      TIMESTAMPTZ NOT NULL,
    received_at      TIMESTAMPTZ NOT NULL,
    payload          BYTEA       NOT NULL,
    status           TEXT        NOT NULL CHECK (status IN ('pending', 'in_flight', 'done', 'dead')),
    attempts         INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    lease_owner      TEXT,
    lease_id         TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error       TEXT,
    receipt          TEXT,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (source, event_id)
);
CREATE INDEX events_open ON events (id) WHERE status IN ('pending', 'in_flight');
CREATE INDEX events_key_open ON events (ordering_key, id) WHERE status IN ('pending', 'in_flight');
CREATE INDEX events_flow ON events (flow, status);
CREATE INDEX events_received ON events (received_at);
CREATE TABLE attempts (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_row BIGINT      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    attempt   INTEGER     NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    outcome   TEXT        NOT NULL,
    error     TEXT
);
CREATE INDEX attempts_row ON attempts (event_row, id);
CREATE TABLE kv (
    ns         TEXT        NOT NULL,
    key        TEXT        COLLATE "C" NOT NULL,
    value      BYTEA       NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ns, key)
);
CREATE TABLE ledger (
    key        TEXT PRIMARY KEY,
    state      TEXT        NOT NULL CHECK (state IN ('started', 'completed')),
    receipt    TEXT,
    updated_at TIMESTAMPTZ NOT NULL
);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE rate_buckets (
    bucket TEXT PRIMARY KEY,
    tat    TIMESTAMPTZ NOT NULL
);
"#,
    ),
];

const EVENT_COLUMNS: &str = "id, source, event_id, kind, flow, ordering_key, occurred_at, \
     received_at, payload, status, attempts, next_attempt_at, last_error, receipt, updated_at";

/// Which rows a claim may take (see the module docs). Uses `now()`: the claim transaction's start.
const CLAIMABLE_WHERE: &str = "
e.status IN ('pending', 'in_flight')
AND ((e.status = 'pending' AND e.next_attempt_at <= now())
     OR (e.status = 'in_flight' AND e.lease_expires_at <= now()))
AND (e.ordering_key IS NULL OR (
      NOT EXISTS (SELECT 1 FROM events AS b
                  WHERE b.ordering_key = e.ordering_key AND b.id < e.id
                    AND b.status IN ('pending', 'in_flight'))
  AND NOT EXISTS (SELECT 1 FROM events AS c
                  WHERE c.ordering_key = e.ordering_key AND c.id <> e.id
                    AND c.status IN ('pending', 'in_flight')
                    AND c.status = 'in_flight' AND c.lease_expires_at > now())))";

/// Tuning of a [`PgStore`].
///
/// ```
/// use std::time::Duration;
/// use chatport_runtime::PgOptions;
/// let options = PgOptions::default().schema("chatport").max_connections(32);
/// assert_eq!(options.schema.as_deref(), Some("chatport"));
/// assert_eq!(options.max_connections, 32);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// Most open connections in the pool (at least 1). Default 16.
    pub max_connections: usize,
    /// Most open connections of the second, smaller pool that claims and resolves use (at least
    /// 1; they commit with `synchronous_commit=off`, see the module docs). Default 4.
    pub outcome_connections: usize,
    /// The schema holding chatport's tables, created when missing; `None` uses the server's
    /// default (`search_path`, usually `public`). 1 to 63 characters of `a-z`, `0-9`, `_`, not
    /// starting with a digit. Default `None`.
    pub schema: Option<String>,
    /// How long opening one connection may take. Default 10 s.
    pub connect_timeout: Duration,
    /// How long a call waits for a free pooled connection before failing with
    /// [`StoreError::Busy`]. Default 10 s.
    pub wait_timeout: Duration,
    /// A PEM file of CA certificates trusted for the server's certificate, in addition to the
    /// system's roots (for a private CA). Used only when the URL says `sslmode=require`.
    /// Default `None`.
    pub root_certificate: Option<PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            outcome_connections: 4,
            schema: None,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(10),
            root_certificate: None,
        }
    }
}

impl PgOptions {
    /// Sets [`PgOptions::max_connections`] (at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets [`PgOptions::outcome_connections`] (at least 1).
    pub fn outcome_connections(mut self, n: usize) -> Self {
        self.outcome_connections = n.max(1);
        self
    }

    /// Sets [`PgOptions::schema`].
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Sets [`PgOptions::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`PgOptions::wait_timeout`].
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Sets [`PgOptions::root_certificate`].
    pub fn root_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_certificate = Some(path.into());
        self
    }
}

#[cfg(feature = "postgres-tls")]
/// The TLS connector for `sslmode=require`: rustls (aws-lc-rs provider) trusting the system's
/// root certificates plus those of `root_certificate`; the server's certificate chain and host
/// name are always verified (libpq's `verify-full`).
fn tls_connector(
    root_certificate: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use std::sync::Arc;

    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped (as every rustls user does); a root store that
    // ends up empty is refused below.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = root_certificate {
        let invalid = |e: &dyn std::fmt::Display| {
            StoreError::Invalid(format!("store root certificate {}: {e}", path.display()))
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| invalid(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&e))?;
        if certs.is_empty() {
            return Err(invalid(&"no PEM certificate in the file"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| invalid(&e))?;
        }
    }
    if roots.is_empty() {
        return Err(StoreError::Invalid(
            "sslmode=require but no trusted root certificate: install the system's CA \
             certificates or set the store's root certificate"
                .into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Invalid(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Whether `name` is a schema name this store accepts (`[a-z_][a-z0-9_]{0,62}`).
fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The PostgreSQL store: [`Outbox`], [`KvStore`] and [`IdempotencyLedger`] in one database
/// (cargo feature `postgres`).
///
/// Cheap to clone (the connection pool is shared). See the [module docs](self) for claims,
/// leases, the schema and scaling. As with [`SqliteStore`](super::SqliteStore), the three traits
/// share method names: call through the trait or a `dyn` handle when more than one is in scope.
///
/// ```no_run
/// # async fn demo() -> Result<(), chatport_runtime::StoreError> {
/// use std::sync::Arc;
/// use chatport_core::EventId;
/// use chatport_runtime::{NewEvent, Outbox, PgOptions, PgStore};
/// use secrecy::SecretString;
///
/// let url = SecretString::from("postgres://chatport:secret@127.0.0.1:5432/chatport");
/// let store = PgStore::connect(&url, PgOptions::default().schema("chatport")).await?;
/// let outbox: Arc<dyn Outbox> = Arc::new(store.clone());
/// let report = outbox
///     .enqueue(vec![NewEvent::new("whatsapp", EventId::new("wamid.1"), "message", "O1", b"{}".to_vec())])
///     .await?;
/// assert_eq!(report.inserted + report.duplicates, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Connections with `synchronous_commit=off`, for outcome writes (claims, resolves,
    /// releases, `set_flow`): see the module docs, "Durability".
    outcomes: Pool,
    /// The schema the tables live in (`current_schema()` after migration).
    schema: String,
    /// Prefix of the advisory-lock names of ordering keys (includes the schema).
    key_lock_prefix: String,
}

impl fmt::Debug for PgStore {
    /// Shows the schema and pool size; never the URL (it may hold a password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("max_connections", &self.pool.status().max_size)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the server at `url` (`postgres://user:password@host:port/database`, or the
    /// key-value form `host=… user=…`), creates or migrates the schema, and returns the store
    /// with its pool. Connections are opened lazily up to [`PgOptions::max_connections`]; each
    /// starts with `synchronous_commit=on` and, when [`PgOptions::schema`] is set, that
    /// `search_path`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a URL that does not parse or a bad schema name (the message
    /// never repeats the URL); [`StoreError::Unavailable`] when the server cannot be reached or
    /// refuses the login; [`StoreError::Corrupt`] when the database's schema version is newer than
    /// [`PG_SCHEMA_VERSION`]; other [`StoreError`]s from the server.
    pub async fn connect(url: &SecretString, options: PgOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .expose_secret()
            .parse()
            .map_err(|e| StoreError::Invalid(format!("invalid PostgreSQL URL: {e}")))?;
        if let Some(schema) = &options.schema
            && !valid_schema_name(schema)
        {
            return Err(StoreError::Invalid(format!(
                "invalid PostgreSQL schema name {schema:?} (expected 1 to 63 of a-z, 0-9, _)"
            )));
        }
        let base_options = config.get_options().unwrap_or_default().to_owned();
        if config.get_application_name().is_none() {
            config.application_name("chatport");
        }
        config.connect_timeout(options.connect_timeout);
        let with_commit = |config: &tokio_postgres::Config, level: &str| {
            let mut config = config.clone();
            let mut startup = base_options.clone();
            startup.push_str(" -c synchronous_commit=");
            startup.push_str(level);
            if let Some(schema) = &options.schema {
                startup.push_str(" -c search_path=");
                startup.push_str(schema);
            }
            config.options(startup.trim_start());
            config
        };
        let pool = build_pool(
            with_commit(&config, "on"),
            &options,
            options.max_connections,
        )?;
        let outcomes = build_pool(
            with_commit(&config, "off"),
            &options,
            options.outcome_connections,
        )?;
        let mut client = pool.get().await.map_err(pool_error)?;
        let schema = migrate(&mut client, options.schema.as_deref()).await?;
        drop(client);
        Ok(Self {
            key_lock_prefix: format!("chatport.outbox.key/{schema}/"),
            schema,
            pool,
            outcomes,
        })
    }
    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

/// A connection pool of at most `max` connections to `config`.
fn build_pool(
    config: tokio_postgres::Config,
    options: &PgOptions,
    max: usize,
) -> Result<Pool, StoreError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    // TLS only when asked for, and then always verified; `prefer` (the default) and `disable`
    // connect in plain text, like a server on the same host or a private network expects.
    let manager = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        #[cfg(feature = "postgres-tls")]
        {
            let tls = tls_connector(options.root_certificate.as_deref())?;
            deadpool_postgres::Manager::from_config(config, tls, manager_config)
        }
        #[cfg(not(feature = "postgres-tls"))]
        return Err(StoreError::Invalid(
            "sslmode=require but this build has no TLS for PostgreSQL (enable \
                 chatport-runtime's `postgres-tls` feature, on by default in chatport-bridge)"
                .into(),
        ));
    } else {
        deadpool_postgres::Manager::from_config(config, NoTls, manager_config)
    };
    Pool::builder(manager)
        .max_size(max.max(1))
        .wait_timeout(Some(options.wait_timeout))
        .create_timeout(Some(options.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Invalid(format!("cannot build the connection pool: {e}")))
}

impl PgStore {
    /// The schema version stored in the database.
    ///
    /// # Errors
    /// Any [`StoreError`].
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                &[],
            )
            .await
            .map_err(pg_error)?;
        column(&row, 0)
    }

    /// Puts every in-flight row whose lease expired back to pending, due now, with `last_error`
    /// `lease expired` and a `retry` entry in its attempt history; returns how many. Rows being
    /// claimed at the same moment are left to that claim. Not needed for progress (claims take
    /// expired rows directly); it keeps `stats` honest about what is really in flight.
    ///
    /// # Errors
    /// Any [`StoreError`].
    pub async fn reap_expired_leases(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "WITH reaped AS (
                     UPDATE events SET status = 'pending', next_attempt_at = now(),
                         last_error = 'lease expired',
                         lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL,
                         updated_at = now()
                     WHERE status = 'in_flight' AND lease_expires_at <= now()
                     RETURNING id, attempts)
                 INSERT INTO attempts (event_row, attempt, at, outcome, error)
                 SELECT id, attempts, now(), 'retry', 'lease expired' FROM reaped",
            )
            .await
            .map_err(pg_error)?;
        let reaped = client.execute(&statement, &[]).await.map_err(pg_error)?;
        if reaped > 0 {
            tracing::info!(rows = reaped, "expired outbox leases reaped");
        }
        Ok(reaped)
    }

    /// Runs [`PgStore::reap_expired_leases`] every `every` until `shutdown` is cancelled. Errors
    /// are logged and the next round tries again. Needs a Tokio runtime.
    pub fn spawn_reaper(
        &self,
        every: Duration,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        if let Err(error) = store.reap_expired_leases().await {
                            tracing::warn!(%error, "reaping expired outbox leases failed");
                        }
                    }
                }
            }
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Resolves every request in one statement (one transaction) and returns the ids of the rows
    /// it resolved; the others' leases were lost. A row repeated in `requests` is resolved once,
    /// by its first entry.
    async fn resolve_batch(
        &self,
        requests: &[ResolveRequest],
    ) -> Result<std::collections::HashSet<i64>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        let mut ids = Vec::with_capacity(requests.len());
        let mut owners = Vec::with_capacity(requests.len());
        let mut claims = Vec::with_capacity(requests.len());
        let mut statuses = Vec::with_capacity(requests.len());
        let mut next_ats: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(requests.len());
        let mut errors: Vec<Option<String>> = Vec::with_capacity(requests.len());
        let mut receipts: Vec<Option<String>> = Vec::with_capacity(requests.len());
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            if !seen.insert(request.row_id) {
                continue;
            }
            let (status, next_at, error, receipt) = match &request.resolution {
                Resolution::Done { receipt } => (
                    EventStatus::Done,
                    None,
                    None,
                    receipt.as_ref().map(|r| r.to_string()),
                ),
                Resolution::Retry { at, error } => {
                    (EventStatus::Pending, Some(*at), Some(error.clone()), None)
                }
                Resolution::Dead { error } => (EventStatus::Dead, None, Some(error.clone()), None),
            };
            ids.push(request.row_id);
            owners.push(request.lease.owner.clone());
            claims.push(request.lease.claim_id.clone());
            statuses.push(status.as_str());
            next_ats.push(next_at);
            errors.push(error);
            receipts.push(receipt);
            outcomes.push(request.resolution.as_str());
        }
        let client = self.outcome_client().await?;
        // One statement: every row update and its history entry commit together.
        let statement = client
            .prepare_cached(
                "WITH input AS (
                     SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[],
                                          $5::TIMESTAMPTZ[], $6::TEXT[], $7::TEXT[], $8::TEXT[])
                         AS i(id, owner, claim_id, status, next_at, error, receipt, outcome)),
                 resolved AS (
                     UPDATE events AS e SET status = i.status,
                         next_attempt_at = COALESCE(i.next_at, e.next_attempt_at),
                         last_error = COALESCE(i.error, e.last_error),
                         receipt = COALESCE(i.receipt, e.receipt),
                         lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL,
                         updated_at = now()
                     FROM input AS i
                     WHERE e.id = i.id AND e.status = 'in_flight'
                       AND e.lease_owner = i.owner AND e.lease_id = i.claim_id
                     RETURNING e.id, e.attempts, i.outcome, i.error),
                 history AS (
                     INSERT INTO attempts (event_row, attempt, at, outcome, error)
                     SELECT id, attempts, now(), outcome, error FROM resolved)
                 SELECT id FROM resolved",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(
                &statement,
                &[
                    &ids, &owners, &claims, &statuses, &next_ats, &errors, &receipts, &outcomes,
                ],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(|row| column::<i64>(row, 0)).collect()
    }

    /// A connection whose commits do not wait for the WAL flush (outcome writes only).
    async fn outcome_client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.outcomes.get().await.map_err(pool_error)
    }
}

/// Creates the schema (when named) and applies missing migrations, under an advisory lock so that
/// replicas starting together migrate once. Returns `current_schema()`.
async fn migrate(
    client: &mut deadpool_postgres::Object,
    schema: Option<&str>,
) -> Result<String, StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    match migrate_in(&tx, schema).await {
        Ok(current_schema) => {
            tx.commit().await.map_err(pg_error)?;
            Ok(current_schema)
        }
        Err(error) => {
            // Roll back now (not lazily on drop), so no lock outlives the failed attempt.
            let _ = tx.rollback().await;
            Err(error)
        }
    }
}

async fn migrate_in(
    tx: &deadpool_postgres::Transaction<'_>,
    schema: Option<&str>,
) -> Result<String, StoreError> {
    let lock_name = format!("chatport.migrate/{}", schema.unwrap_or(""));
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&lock_name],
    )
    .await
    .map_err(pg_error)?;
    if let Some(schema) = schema {
        // The name was validated ([a-z_][a-z0-9_]*): safe to splice, no quoting needed.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(pg_error)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL
         )",
    )
    .await
    .map_err(pg_error)?;
    let current: i64 = column(
        &tx.query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )
        .await
        .map_err(pg_error)?,
        0,
    )?;
    if current > PG_SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this build's {PG_SCHEMA_VERSION}"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(pg_error)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
            &[version],
        )
        .await
        .map_err(pg_error)?;
        tracing::info!(version, "outbox schema migrated (PostgreSQL)");
    }
    let current_schema: Option<String> = column(
        &tx.query_one("SELECT current_schema()::TEXT", &[])
            .await
            .map_err(pg_error)?,
        0,
    )?;
    current_schema.ok_or_else(|| StoreError::Database("no current schema".into()))
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Maps a driver error. Messages carry the SQLSTATE and the server's primary message, never the
/// `DETAIL` (which can repeat row values) or bound parameters.
fn pg_error(error: tokio_postgres::Error) -> StoreError {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let text = format!("SQLSTATE {code}: {}", db.message());
        return match code.get(..2).unwrap_or("") {
            // connection exception, insufficient resources, operator intervention (shutdown,
            // cancel, cannot connect now), system error
            "08" | "53" | "57" | "58" => StoreError::Unavailable(text),
            // serialization failure, deadlock; lock not available, object in use
            "40" | "55" => StoreError::Busy(text),
            "XX" if code == "XX001" || code == "XX002" => StoreError::Corrupt(text),
            _ => StoreError::Database(text),
        };
    }
    // tokio-postgres exposes no error kind; its Display names it (see its `error::Kind`).
    let text = error.to_string();
    let connection = error.is_closed()
        || [
            "error connecting",
            "error communicating",
            "timeout",
            "connection closed",
        ]
        .iter()
        .any(|prefix| text.starts_with(prefix))
        || ["error performing TLS", "authentication error"]
            .iter()
            .any(|prefix| text.starts_with(prefix));
    if connection {
        // The cause says what went wrong (refused, certificate not trusted, name mismatch);
        // tokio-postgres keeps it as the source. No part of it holds the URL or the password.
        let text = match std::error::Error::source(&error) {
            Some(cause) => format!("{text}: {cause}"),
            None => text,
        };
        StoreError::Unavailable(text)
    } else if text.starts_with("error deserializing") {
        StoreError::Corrupt(text)
    } else {
        StoreError::Database(text)
    }
}

fn pool_error(error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => pg_error(error),
        PoolError::Timeout(kind) => StoreError::Busy(format!(
            "no database connection available in time ({kind:?})"
        )),
        PoolError::Closed => StoreError::Closed,
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    index: usize,
) -> Result<T, StoreError> {
    row.try_get(index)
        .map_err(|e| StoreError::Corrupt(format!("column {index}: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Row helpers

fn read_event(row: &Row) -> Result<StoredEvent, StoreError> {
    let status: String = column(row, 9)?;
    let attempts: i32 = column(row, 10)?;
    let receipt: Option<String> = column(row, 13)?;
    Ok(StoredEvent {
        id: column(row, 0)?,
        source: column(row, 1)?,
        event_id: EventId::try_new(column::<String>(row, 2)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        kind: column(row, 3)?,
        flow: column(row, 4)?,
        ordering_key: column(row, 5)?,
        occurred_at: column(row, 6)?,
        received_at: column(row, 7)?,
        payload: column(row, 8)?,
        status: status
            .parse()
            .map_err(|e: super::UnknownStatus| StoreError::Corrupt(e.to_string()))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt(format!("attempts {attempts} out of range")))?,
        next_attempt_at: column(row, 11)?,
        last_error: column(row, 12)?,
        receipt: receipt
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("receipt is not JSON: {e}")))?,
        updated_at: column(row, 14)?,
    })
}

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// ` AND ...` conditions of a filter, with their parameters (numbered after those in `values`).
fn filter_sql(filter: &EventFilter, sql: &mut String, values: &mut Params) {
    let mut push = |sql: &mut String, condition: &str, value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        sql.push_str(&condition.replace('#', &format!("${}", values.len())));
    };
    if let Some(status) = filter.status {
        push(sql, " AND status = #", Box::new(status.as_str().to_owned()));
    }
    if let Some(flow) = &filter.flow {
        push(sql, " AND flow = #", Box::new(flow.clone()));
    }
    if let Some(source) = &filter.source {
        push(sql, " AND source = #", Box::new(source.clone()));
    }
    if let Some(since) = filter.since {
        push(sql, " AND received_at >= #", Box::new(since));
    }
    if let Some(until) = filter.until {
        push(sql, " AND received_at < #", Box::new(until));
    }
    if !filter.ids.is_empty() {
        push(sql, " AND id = ANY(#)", Box::new(filter.ids.clone()));
    }
}

fn params(values: &Params) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn limit_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A lease in microseconds, capped at ten years (PostgreSQL intervals and timestamps are finite).
fn duration_micros(duration: Duration) -> i64 {
    const TEN_YEARS_US: i64 = 10 * 366 * 24 * 3600 * 1_000_000;
    i64::try_from(duration.as_micros())
        .unwrap_or(i64::MAX)
        .min(TEN_YEARS_US)
}

// ---------------------------------------------------------------------------------------------
// Outbox

#[async_trait]
impl Outbox for PgStore {
    async fn enqueue(&self, events: Vec<NewEvent>) -> Result<EnqueueReport, StoreError> {
        if events.is_empty() {
            return Ok(EnqueueReport::default());
        }
        let total = events.len() as u64;
        let mut sources = Vec::with_capacity(events.len());
        let mut event_ids = Vec::with_capacity(events.len());
        let mut kinds = Vec::with_capacity(events.len());
        let mut flows = Vec::with_capacity(events.len());
        let mut keys = Vec::with_capacity(events.len());
        let mut occurred = Vec::with_capacity(events.len());
        let mut payloads = Vec::with_capacity(events.len());
        let mut dead = Vec::with_capacity(events.len());
        for event in events {
            sources.push(event.source);
            event_ids.push(event.event_id.as_str().to_owned());
            kinds.push(event.kind);
            flows.push(event.flow);
            keys.push(event.ordering_key);
            occurred.push(event.occurred_at);
            payloads.push(event.payload);
            dead.push(event.dead_reason);
        }
        let client = self.client().await?;
        // One statement: atomic, one round trip. Rows are inserted in call order (ORDER BY the
        // ordinality), so ids follow it; a repeat inside the call meets the first copy's row.
        let statement = client
            .prepare_cached(
                "INSERT INTO events (source, event_id, kind, flow, ordering_key, occurred_at,
                     received_at, payload, status, attempts, next_attempt_at, last_error,
                     updated_at)
                 SELECT s, e, k, f, o, oc, now(), p,
                        CASE WHEN d IS NULL THEN 'pending' ELSE 'dead' END,
                        0, now(), d, now()
                 FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                             $6::TIMESTAMPTZ[], $7::BYTEA[], $8::TEXT[])
                      WITH ORDINALITY AS t (s, e, k, f, o, oc, p, d, ord)
                 ORDER BY ord
                 ON CONFLICT (source, event_id) DO NOTHING
                 RETURNING status",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(
                &statement,
                &[
                    &sources, &event_ids, &kinds, &flows, &keys, &occurred, &payloads, &dead,
                ],
            )
            .await
            .map_err(pg_error)?;
        let mut report = EnqueueReport {
            inserted: rows.len() as u64,
            duplicates: total.saturating_sub(rows.len() as u64),
            dead: 0,
        };
        for row in &rows {
            if column::<String>(row, 0)? == EventStatus::Dead.as_str() {
                report.dead += 1;
            }
        }
        Ok(report)
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
        let limit = limit_value(max);
        let mut client = self.outcome_client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;

        // 1. Candidates, without locks.
        let candidates = tx
            .prepare_cached(&format!(
                "SELECT e.id, e.ordering_key FROM events AS e WHERE {CLAIMABLE_WHERE}
                 ORDER BY e.id LIMIT $1"
            ))
            .await
            .map_err(pg_error)?;
        let rows = tx.query(&candidates, &[&limit]).await.map_err(pg_error)?;
        if rows.is_empty() {
            tx.rollback().await.map_err(pg_error)?;
            return Ok(Vec::new());
        }
        let mut keys: Vec<String> = Vec::new();
        for row in &rows {
            if let Some(key) = column::<Option<String>>(row, 1)?
                && !keys.contains(&key)
            {
                keys.push(key);
            }
        }

        // 2. One transaction-level advisory lock per key; keys held elsewhere are skipped.
        let locked: Vec<String> = if keys.is_empty() {
            Vec::new()
        } else {
            let lock = tx
                .prepare_cached(
                    "SELECT k FROM unnest($1::TEXT[]) AS k
                     WHERE pg_try_advisory_xact_lock(hashtextextended($2 || k, 0))",
                )
                .await
                .map_err(pg_error)?;
            tx.query(&lock, &[&keys, &self.key_lock_prefix])
                .await
                .map_err(pg_error)?
                .iter()
                .map(|row| column(row, 0))
                .collect::<Result<_, _>>()?
        };

        // 3. Claim, on a snapshot taken after the key locks are held.
        let claim = tx
            .prepare_cached(&format!(
                "WITH picked AS (
                     SELECT e.id FROM events AS e
                     WHERE {CLAIMABLE_WHERE}
                       AND (e.ordering_key IS NULL OR e.ordering_key = ANY($1::TEXT[]))
                     ORDER BY e.id LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE events AS u SET status = 'in_flight', attempts = u.attempts + 1,
                     lease_owner = $3, lease_id = $4,
                     lease_expires_at = now() + $5::BIGINT * INTERVAL '1 microsecond',
                     updated_at = now()
                 FROM picked WHERE u.id = picked.id
                 RETURNING {}",
                EVENT_COLUMNS
                    .split(", ")
                    .map(|c| format!("u.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .await
            .map_err(pg_error)?;
        let rows = tx
            .query(
                &claim,
                &[
                    &locked,
                    &limit,
                    &token.owner,
                    &token.claim_id,
                    &duration_micros(lease),
                ],
            )
            .await
            .map_err(pg_error)?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                Ok(Claimed {
                    event: read_event(row)?,
                    lease: token.clone(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await.map_err(pg_error)?;
        claimed.sort_by_key(|c| c.event.id);
        Ok(claimed)
    }

    async fn resolve(
        &self,
        lease: &LeaseToken,
        row_id: i64,
        resolution: Resolution,
    ) -> Result<(), StoreError> {
        let outcome = resolution.as_str();
        let (status, next_at, error, receipt) = match resolution {
            Resolution::Done { receipt } => (
                EventStatus::Done,
                None,
                None,
                receipt.map(|r| r.to_string()),
            ),
            Resolution::Retry { at, error } => (EventStatus::Pending, Some(at), Some(error), None),
            Resolution::Dead { error } => (EventStatus::Dead, None, Some(error), None),
        };
        let client = self.outcome_client().await?;
        // One statement: the row update and its history entry commit together.
        let statement = client
            .prepare_cached(
                "WITH resolved AS (
                     UPDATE events SET status = $1,
                         next_attempt_at = COALESCE($2::TIMESTAMPTZ, next_attempt_at),
                         last_error = COALESCE($3::TEXT, last_error),
                         receipt = COALESCE($4::TEXT, receipt),
                         lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL,
                         updated_at = now()
                     WHERE id = $5 AND status = 'in_flight' AND lease_owner = $6 AND lease_id = $7
                     RETURNING id, attempts)
                 INSERT INTO attempts (event_row, attempt, at, outcome, error)
                 SELECT id, attempts, now(), $8, $3::TEXT FROM resolved",
            )
            .await
            .map_err(pg_error)?;
        let changed = client
            .execute(
                &statement,
                &[
                    &status.as_str(),
                    &next_at,
                    &error,
                    &receipt,
                    &row_id,
                    &lease.owner,
                    &lease.claim_id,
                    &outcome,
                ],
            )
            .await
            .map_err(pg_error)?;
        if changed == 0 {
            return Err(StoreError::LeaseLost { row_id });
        }
        Ok(())
    }

    async fn resolve_many(&self, requests: Vec<ResolveRequest>) -> Vec<Result<(), StoreError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let n = requests.len();
        match self.resolve_batch(&requests).await {
            Ok(mut resolved) => requests
                .iter()
                .map(|r| {
                    // `remove`: a repeated row is answered once, like a second `resolve`.
                    if resolved.remove(&r.row_id) {
                        Ok(())
                    } else {
                        Err(StoreError::LeaseLost { row_id: r.row_id })
                    }
                })
                .collect(),
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
        let mut ids = Vec::with_capacity(held.len());
        let mut owners = Vec::with_capacity(held.len());
        let mut claims = Vec::with_capacity(held.len());
        for (token, id) in held {
            ids.push(id);
            owners.push(token.owner);
            claims.push(token.claim_id);
        }
        let client = self.outcome_client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE events AS e
                 SET lease_expires_at = now() + $4::BIGINT * INTERVAL '1 microsecond'
                 FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[]) AS i(id, owner, claim_id)
                 WHERE e.id = i.id AND e.status = 'in_flight'
                   AND e.lease_owner = i.owner AND e.lease_id = i.claim_id
                 RETURNING e.id",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(
                &statement,
                &[&ids, &owners, &claims, &duration_micros(lease)],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(|row| column::<i64>(row, 0)).collect()
    }

    async fn release(&self, lease: &LeaseToken, row_id: i64) -> Result<(), StoreError> {
        let client = self.outcome_client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE events SET status = 'pending', attempts = GREATEST(attempts - 1, 0),
                     next_attempt_at = LEAST(next_attempt_at, now()),
                     lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL,
                     updated_at = now()
                 WHERE id = $1 AND status = 'in_flight' AND lease_owner = $2 AND lease_id = $3",
            )
            .await
            .map_err(pg_error)?;
        let changed = client
            .execute(&statement, &[&row_id, &lease.owner, &lease.claim_id])
            .await
            .map_err(pg_error)?;
        if changed == 0 {
            return Err(StoreError::LeaseLost { row_id });
        }
        Ok(())
    }

    async fn set_flow(&self, row_id: i64, flow: &str) -> Result<(), StoreError> {
        let client = self.outcome_client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE events SET flow = $1, updated_at = now() WHERE id = $2 AND status = 'in_flight'",
            )
            .await
            .map_err(pg_error)?;
        let changed = client
            .execute(&statement, &[&flow, &row_id])
            .await
            .map_err(pg_error)?;
        if changed == 0 {
            return Err(StoreError::LeaseLost { row_id });
        }
        Ok(())
    }

    async fn stats(&self) -> Result<OutboxStats, StoreError> {
        let mut client = self.client().await?;
        // One snapshot for both queries.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg_error)?;
        let counts = tx
            .query(
                "SELECT flow, status, COUNT(*)::BIGINT FROM events GROUP BY flow, status",
                &[],
            )
            .await
            .map_err(pg_error)?;
        let mut stats = OutboxStats::default();
        let mut by_flow: BTreeMap<String, StatusCounts> = BTreeMap::new();
        for row in &counts {
            let flow: String = column(row, 0)?;
            let status: String = column(row, 1)?;
            let n: i64 = column(row, 2)?;
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
            by_flow.entry(flow).or_default().add(status, n);
        }
        stats.by_flow = by_flow;
        // The first-arrived unresolved row (ids follow arrival order), aged by the server clock.
        let oldest = tx
            .query_opt(
                "SELECT received_at, now() FROM events WHERE status IN ('pending', 'in_flight')
                 ORDER BY id LIMIT 1",
                &[],
            )
            .await
            .map_err(pg_error)?;
        if let Some(row) = oldest {
            let at: DateTime<Utc> = column(&row, 0)?;
            let now: DateTime<Utc> = column(&row, 1)?;
            stats.oldest_pending_at = Some(at);
            stats.oldest_pending_age = Some((now - at).to_std().unwrap_or_default());
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(stats)
    }

    async fn list(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE TRUE");
        let mut values: Params = Vec::new();
        filter_sql(filter, &mut sql, &mut values);
        values.push(Box::new(limit_value(limit)));
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", values.len()));
        let client = self.client().await?;
        let rows = client
            .query(&sql, &params(&values))
            .await
            .map_err(pg_error)?;
        rows.iter().map(read_event).collect()
    }

    async fn count(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        let mut sql = String::from("SELECT COUNT(*) FROM events WHERE TRUE");
        let mut values: Params = Vec::new();
        filter_sql(filter, &mut sql, &mut values);
        let client = self.client().await?;
        let row = client
            .query_one(&sql, &params(&values))
            .await
            .map_err(pg_error)?;
        let n: i64 = row.try_get(0).map_err(pg_error)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
            .await
            .map_err(pg_error)?;
        let row = client
            .query_opt(&statement, &[&id])
            .await
            .map_err(pg_error)?;
        row.as_ref().map(read_event).transpose()
    }

    async fn attempts(&self, id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT event_row, attempt, at, outcome, error FROM attempts
                 WHERE event_row = $1 ORDER BY id",
            )
            .await
            .map_err(pg_error)?;
        let rows = client.query(&statement, &[&id]).await.map_err(pg_error)?;
        rows.iter()
            .map(|row| {
                let attempt: i32 = column(row, 1)?;
                Ok(AttemptRecord {
                    row_id: column(row, 0)?,
                    attempt: u32::try_from(attempt).map_err(|_| {
                        StoreError::Corrupt(format!("attempt {attempt} out of range"))
                    })?,
                    at: column(row, 2)?,
                    outcome: column(row, 3)?,
                    error: column(row, 4)?,
                })
            })
            .collect()
    }

    async fn replay(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        let mut sql = String::from(
            "UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = now(),
                 lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL, updated_at = now()
             WHERE status <> 'in_flight'",
        );
        let mut values: Params = Vec::new();
        filter_sql(filter, &mut sql, &mut values);
        let client = self.client().await?;
        client
            .execute(&sql, &params(&values))
            .await
            .map_err(pg_error)
    }

    async fn purge(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        let filter = super::purge_filter(filter)?;
        let mut sql = String::from("DELETE FROM events WHERE TRUE");
        let mut values: Params = Vec::new();
        filter_sql(&filter, &mut sql, &mut values);
        let client = self.client().await?;
        client
            .execute(&sql, &params(&values))
            .await
            .map_err(pg_error)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.execute("SELECT 1", &[]).await.map_err(pg_error)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Key-value store

/// The key-value queries in the store's own error; the [`KvStore`] impl below maps them.
impl PgStore {
    async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT value FROM kv WHERE ns = $1 AND key = $2")
            .await
            .map_err(pg_error)?;
        let row = client
            .query_opt(&statement, &[&ns, &key])
            .await
            .map_err(pg_error)?;
        row.map(|row| column(&row, 0)).transpose()
    }

    async fn kv_put(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO kv (ns, key, value, updated_at) VALUES ($1, $2, $3, now())
                 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,
                     updated_at = excluded.updated_at",
            )
            .await
            .map_err(pg_error)?;
        client
            .execute(&statement, &[&ns, &key, &value])
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn kv_put_if_absent(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO kv (ns, key, value, updated_at) VALUES ($1, $2, $3, now())
                 ON CONFLICT (ns, key) DO NOTHING",
            )
            .await
            .map_err(pg_error)?;
        let changed = client
            .execute(&statement, &[&ns, &key, &value])
            .await
            .map_err(pg_error)?;
        Ok(changed == 1)
    }

    async fn kv_delete(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("DELETE FROM kv WHERE ns = $1 AND key = $2")
            .await
            .map_err(pg_error)?;
        client
            .execute(&statement, &[&ns, &key])
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn kv_list(&self, ns: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let client = self.client().await?;
        // `key` is in the "C" collation: byte order, and the prefix run starts at the prefix.
        let statement = client
            .prepare_cached(
                "SELECT key, value FROM kv
                 WHERE ns = $1 AND key >= $2 AND starts_with(key, $2) ORDER BY key",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(&statement, &[&ns, &prefix])
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|row| Ok((column(row, 0)?, column(row, 1)?)))
            .collect()
    }
}

/// Rate buckets shared by every replica on this database (table `rate_buckets`, one row per
/// bucket holding its GCRA "theoretical arrival time"). A take is one statement: the row lock of
/// the upsert serialises concurrent takes of one bucket across replicas, and the time is the
/// server's (`clock_timestamp()`), so replicas' clocks do not matter.
#[async_trait]
impl RateBudget for PgStore {
    async fn try_take(
        &self,
        bucket: &str,
        interval: Duration,
        burst: u32,
    ) -> Result<Option<Duration>, StateError> {
        let interval_us = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
        // GCRA: a take is allowed while the arrival time is at most `burst - 1` intervals ahead.
        let tolerance_us = interval_us.saturating_mul(i64::from(burst.max(1) - 1));
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO rate_buckets AS b (bucket, tat)
                 VALUES ($1, clock_timestamp() + $2::BIGINT * INTERVAL '1 microsecond')
                 ON CONFLICT (bucket) DO UPDATE
                   SET tat = GREATEST(b.tat, clock_timestamp()) + $2::BIGINT * INTERVAL '1 microsecond'
                   WHERE GREATEST(b.tat, clock_timestamp()) - clock_timestamp()
                         <= $3::BIGINT * INTERVAL '1 microsecond'
                 RETURNING 0::BIGINT",
            )
            .await
            .map_err(pg_error)?;
        let taken = client
            .query_opt(&statement, &[&bucket, &interval_us, &tolerance_us])
            .await
            .map_err(pg_error)?;
        if taken.is_some() {
            return Ok(None);
        }
        let statement = client
            .prepare_cached(
                "SELECT (EXTRACT(EPOCH FROM (GREATEST(tat, clock_timestamp()) - clock_timestamp()))
                         * 1000000)::BIGINT - $2::BIGINT
                 FROM rate_buckets WHERE bucket = $1",
            )
            .await
            .map_err(pg_error)?;
        let row = client
            .query_opt(&statement, &[&bucket, &tolerance_us])
            .await
            .map_err(pg_error)?;
        let wait_us: i64 = match row {
            Some(row) => column(&row, 0)?,
            None => 0,
        };
        Ok(Some(Duration::from_micros(
            u64::try_from(wait_us.max(1)).unwrap_or(1),
        )))
    }
}

#[async_trait]
impl KvStore for PgStore {
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
impl IdempotencyLedger for PgStore {
    /// Inserts `started` and returns [`LedgerEntry::Started`]; an existing `started` row gives
    /// [`LedgerEntry::InDoubt`], a `completed` row [`LedgerEntry::Completed`] with its receipt.
    async fn begin(&self, key: &IdempotencyKey) -> Result<LedgerEntry, StateError> {
        let key = key.as_str();
        let client = self.client().await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO ledger (key, state, receipt, updated_at)
                 VALUES ($1, 'started', NULL, now()) ON CONFLICT (key) DO NOTHING",
            )
            .await
            .map_err(pg_error)?;
        let select = client
            .prepare_cached("SELECT state, receipt FROM ledger WHERE key = $1")
            .await
            .map_err(pg_error)?;
        // A concurrent `release` may delete the row between the two statements: try again.
        for _ in 0..5 {
            if client.execute(&insert, &[&key]).await.map_err(pg_error)? == 1 {
                return Ok(LedgerEntry::Started);
            }
            let Some(row) = client.query_opt(&select, &[&key]).await.map_err(pg_error)? else {
                continue;
            };
            let state: String = column(&row, 0)?;
            let receipt: Option<String> = column(&row, 1)?;
            return Ok(match state.as_str() {
                "completed" => LedgerEntry::Completed(match receipt {
                    Some(text) => serde_json::from_str(&text).map_err(|e| {
                        StoreError::Corrupt(format!("ledger receipt is not JSON: {e}"))
                    })?,
                    None => serde_json::Value::Null,
                }),
                _ => LedgerEntry::InDoubt,
            });
        }
        Err(StoreError::Busy("ledger entry kept changing under begin".into()).into())
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        receipt: &serde_json::Value,
    ) -> Result<(), StateError> {
        let (key, receipt) = (key.as_str(), receipt.to_string());
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO ledger (key, state, receipt, updated_at)
                 VALUES ($1, 'completed', $2, now())
                 ON CONFLICT (key) DO UPDATE SET state = 'completed',
                     receipt = excluded.receipt, updated_at = excluded.updated_at",
            )
            .await
            .map_err(pg_error)?;
        client
            .execute(&statement, &[&key, &receipt])
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<(), StateError> {
        let key = key.as_str();
        let client = self.client().await?;
        let statement = client
            .prepare_cached("DELETE FROM ledger WHERE key = $1 AND state = 'started'")
            .await
            .map_err(pg_error)?;
        client
            .execute(&statement, &[&key])
            .await
            .map_err(pg_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        for good in ["chatport", "_x", "a1_b2", &"s".repeat(63)] {
            assert!(valid_schema_name(good), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "Chatport",
            "a-b",
            "a;drop",
            "a b",
            &"s".repeat(64),
        ] {
            assert!(!valid_schema_name(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn bad_url_and_schema_are_invalid_and_do_not_echo_secrets() {
        let url = SecretString::from("postgres://u:hunter2@127.0.0.1:notaport/db");
        let err = PgStore::connect(&url, PgOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let url = SecretString::from("postgres://u:hunter2@127.0.0.1:1/db");
        let err = PgStore::connect(&url, PgOptions::default().schema("Bad-Name"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    }

    #[tokio::test]
    async fn unreachable_server_is_unavailable() {
        // Port 1 on loopback: nothing listens there; the connection is refused at once.
        let url = SecretString::from("postgres://u:hunter2@127.0.0.1:1/db");
        let err = PgStore::connect(
            &url,
            PgOptions::default().connect_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(
            chatport_core::Classify::class(&err),
            chatport_core::ErrorClass::Transient
        );
    }
}
