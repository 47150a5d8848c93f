//! Pull sources: run a [`Source`] on a schedule, write what it yields to the outbox, and commit its
//! [`Checkpoint`] only after the events before it are durably stored.
//!
//! Webhooks push events into the ingress; systems without webhooks (OpenText CMS status changes,
//! Orange Logic rights expiry dates, Creatio activities as a fallback) are polled. A [`Poller`]
//! turns one such source into outbox rows:
//!
//! 1. it reads the source's last committed checkpoint from the key-value store (namespace
//!    [`KV_CHECKPOINT`], key = the poller's name), and asks the source for everything after it;
//! 2. it enqueues what the source yields in batches (one transaction each); after each batch is
//!    committed, it commits the last checkpoint seen in that batch;
//! 3. a failure of the source mid-stream keeps everything already stored and its checkpoint; the next
//!    round resumes from there.
//!
//! A crash between a batch's commit and its checkpoint's commit makes the next round yield those
//! events again; the outbox's `UNIQUE(source, event_id)` drops them. Nothing is skipped, nothing is
//! processed twice.
//!
//! **Backpressure:** with [`PollerConfig::pause_above_pending`] set, a round is skipped while the
//! outbox has that many pending rows, so a slow downstream does not make the queue grow without bound.

use std::sync::Arc;
use std::time::Duration;

use chatport_core::{Checkpoint, Classify, Envelope, ErrorClass, Source};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::StoreError;
use crate::store::{KvStore, NewEvent, Outbox};

/// KV namespace of committed poller checkpoints (key: the poller's name, value: the checkpoint JSON).
pub const KV_CHECKPOINT: &str = "poller.checkpoint";

/// How a poller runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PollerConfig {
    /// The poller's name: the key of its checkpoint. Keep it stable across releases.
    pub name: String,
    /// The flow the events are written for (the outbox row's `flow`).
    pub flow: String,
    /// Time between rounds. Default 60 s.
    pub interval: Duration,
    /// Events per enqueue transaction (and per checkpoint commit). Default 100.
    pub batch: usize,
    /// Skip a round while the outbox has at least this many pending rows. Default: never skip.
    pub pause_above_pending: Option<u64>,
    /// Wait after a failed round when the error gives no Retry-After. Default 30 s.
    pub error_backoff: Duration,
}

impl PollerConfig {
    /// A configuration with the defaults, for poller `name` writing rows of `flow`.
    pub fn new(name: impl Into<String>, flow: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            flow: flow.into(),
            interval: Duration::from_secs(60),
            batch: 100,
            pause_above_pending: None,
            error_backoff: Duration::from_secs(30),
        }
    }

    /// Sets the time between rounds.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the events per transaction (at least 1).
    #[must_use]
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Skips rounds while the outbox has at least `pending` pending rows.
    #[must_use]
    pub fn pause_above_pending(mut self, pending: u64) -> Self {
        self.pause_above_pending = Some(pending);
        self
    }

    /// Sets the wait after a failed round.
    #[must_use]
    pub fn error_backoff(mut self, backoff: Duration) -> Self {
        self.error_backoff = backoff;
        self
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollReport {
    /// Events the source yielded.
    pub events: u64,
    /// New rows stored.
    pub inserted: u64,
    /// Events already in the outbox (a repeat after a crash, or an overlapping window).
    pub duplicates: u64,
    /// Whether a checkpoint was committed.
    pub checkpoint_committed: bool,
    /// Whether the round was skipped for backpressure.
    pub paused: bool,
}

/// Why a round failed. What was stored before the failure stays stored, with its checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// The source failed (its class decides the backoff).
    #[error("source: {message}")]
    Source {
        /// The source error's message.
        message: String,
        /// The source error's class.
        class: ErrorClass,
    },
    /// The outbox failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The checkpoint store ([`KvStore`]) failed.
    #[error(transparent)]
    State(#[from] chatport_core::StateError),
    /// An event or checkpoint could not be serialised, or a stored checkpoint not read.
    #[error("payload: {0}")]
    Payload(String),
}

impl Classify for PollError {
    fn class(&self) -> ErrorClass {
        match self {
            PollError::Source { class, .. } => *class,
            PollError::Store(e) => e.class(),
            PollError::State(e) => e.class(),
            PollError::Payload(_) => ErrorClass::Permanent,
        }
    }
}

fn source_error<E: std::error::Error + Classify>(error: &E) -> PollError {
    PollError::Source {
        message: error.to_string(),
        class: error.class(),
    }
}

/// Runs one pull [`Source`] into the outbox. See the [module docs](self).
pub struct Poller<S: Source> {
    source: Arc<S>,
    outbox: Arc<dyn Outbox>,
    kv: Arc<dyn KvStore>,
    config: PollerConfig,
    notify: Option<Arc<Notify>>,
}

impl<S: Source> std::fmt::Debug for Poller<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S> Poller<S>
where
    S: Source + 'static,
    S::Event: Serialize,
{
    /// A poller of `source` writing to `outbox`, with checkpoints in `kv`.
    pub fn new(
        source: Arc<S>,
        outbox: Arc<dyn Outbox>,
        kv: Arc<dyn KvStore>,
        config: PollerConfig,
    ) -> Self {
        Self {
            source,
            outbox,
            kv,
            config,
            notify: None,
        }
    }

    /// Wakes the workers (e.g. [`WorkerPool::notifier`](crate::worker::WorkerPool::notifier)) after
    /// new rows are stored.
    #[must_use]
    pub fn notify(mut self, notify: Arc<Notify>) -> Self {
        self.notify = Some(notify);
        self
    }

    /// The last committed checkpoint.
    ///
    /// # Errors
    /// Store errors, or [`PollError::Payload`] for a stored checkpoint that is not JSON.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, PollError> {
        match self.kv.get(KV_CHECKPOINT, &self.config.name).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                PollError::Payload(format!("stored checkpoint of {}: {e}", self.config.name))
            }),
        }
    }

    fn row(&self, envelope: Envelope<S::Event>) -> Result<NewEvent, PollError> {
        let payload =
            serde_json::to_vec(&envelope.payload).map_err(|e| PollError::Payload(e.to_string()))?;
        let mut row = NewEvent::new(
            envelope.source.into_owned(),
            envelope.id,
            envelope.kind.into_owned(),
            self.config.flow.clone(),
            payload,
        )
        .occurred_at(envelope.occurred_at);
        if let Some(key) = envelope.ordering_key {
            row = row.ordering_key(key);
        }
        Ok(row)
    }

    async fn flush(
        &self,
        batch: &mut Vec<NewEvent>,
        checkpoint: &mut Option<Checkpoint>,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        if !batch.is_empty() {
            let stored = self.outbox.enqueue(std::mem::take(batch)).await?;
            report.inserted += stored.inserted;
            report.duplicates += stored.duplicates;
            if stored.inserted > 0
                && let Some(notify) = &self.notify
            {
                notify.notify_one();
            }
        }
        if let Some(cp) = checkpoint.take() {
            let bytes = serde_json::to_vec(&cp).map_err(|e| PollError::Payload(e.to_string()))?;
            self.kv
                .put(KV_CHECKPOINT, &self.config.name, &bytes)
                .await?;
            report.checkpoint_committed = true;
        }
        Ok(())
    }

    /// Runs one round: resume from the committed checkpoint, store what the source yields, commit
    /// checkpoints batch by batch.
    ///
    /// # Errors
    /// The source's error (after storing and checkpointing what came before it), store errors.
    pub async fn poll_once(&self) -> Result<PollReport, PollError> {
        let mut report = PollReport::default();
        if let Some(limit) = self.config.pause_above_pending {
            let stats = self.outbox.stats().await?;
            if stats.pending >= limit {
                report.paused = true;
                tracing::info!(poller = %self.config.name, pending = stats.pending, limit, "poller paused: outbox above its high-water mark");
                return Ok(report);
            }
        }
        let resume = self.checkpoint().await?;
        let mut stream = self
            .source
            .poll(resume)
            .await
            .map_err(|e| source_error(&e))?;
        let mut batch = Vec::new();
        let mut checkpoint = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok((envelope, cp)) => {
                    report.events += 1;
                    batch.push(self.row(envelope)?);
                    if cp.is_some() {
                        checkpoint = cp;
                    }
                    if batch.len() >= self.config.batch {
                        self.flush(&mut batch, &mut checkpoint, &mut report).await?;
                    }
                }
                Err(error) => {
                    self.flush(&mut batch, &mut checkpoint, &mut report).await?;
                    return Err(source_error(&error));
                }
            }
        }
        self.flush(&mut batch, &mut checkpoint, &mut report).await?;
        Ok(report)
    }

    /// Runs rounds every [`PollerConfig::interval`] until `shutdown` is cancelled. A failed round
    /// waits for the error's Retry-After, else [`PollerConfig::error_backoff`].
    pub fn spawn(self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let wait = match self.poll_once().await {
                    Ok(report) => {
                        tracing::debug!(poller = %self.config.name, events = report.events, inserted = report.inserted, "poll round");
                        metrics::counter!("chatport_poller_events_total", "poller" => self.config.name.clone())
                            .increment(report.inserted);
                        self.config.interval
                    }
                    Err(error) => {
                        tracing::warn!(poller = %self.config.name, class = error.class().as_str(), %error, "poll round failed");
                        metrics::counter!("chatport_poller_errors_total", "poller" => self.config.name.clone())
                            .increment(1);
                        error.retry_after().unwrap_or(self.config.error_backoff)
                    }
                };
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        })
    }
}
