//! Retention of personal data: done outbox rows and conversation messages older than
//! `[store] retention_days` are deleted once a day while the service runs.
//!
//! What goes, per run (cut-off = now − retention):
//!
//! - **done** outbox rows received before the cut-off, with their attempt history
//!   ([`Outbox::purge`] with [`EventStatus::Done`]), in chunks of [`CHUNK`] rows so that a large
//!   backlog never holds the store's writer for long. Dead rows stay until an operator handles
//!   them (`chatport dlq purge`); pending and in-flight rows are never deleted.
//! - conversation messages recorded before the cut-off ([`ConversationStore::prune`]), and
//!   conversations left empty.
//!
//! A done row is also what recognises a redelivered webhook as a duplicate. Meta redelivers for up
//! to 7 days (`shared/api/whatsapp.md` §1), so the retention period must be longer:
//! [`MIN_RETENTION_DAYS`] is enforced by configuration validation.

use std::time::Duration;

use chatport_runtime::{EventFilter, EventStatus, Outbox};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use crate::Error;
use chatport_whatsapp::conversation::ConversationStore;

/// The shortest retention period accepted, in days: longer than Meta's 7 days of webhook
/// redelivery, so a redelivered webhook still meets its done row and is recognised.
pub const MIN_RETENTION_DAYS: u32 = 8;

/// Rows deleted per statement.
pub const CHUNK: usize = 1_000;

/// How often the service prunes.
pub const INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// What one run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// Done outbox rows deleted (with their attempt history).
    pub events: u64,
    /// Conversation messages deleted.
    pub messages: u64,
}

/// Deletes done rows received before `before` and conversation messages recorded before it.
///
/// # Errors
/// [`Error::Store`] and other store errors; what was deleted before the error stays deleted.
pub async fn prune(
    outbox: &dyn Outbox,
    conversations: &ConversationStore,
    before: DateTime<Utc>,
) -> Result<RetentionReport, Error> {
    let filter = EventFilter::new().status(EventStatus::Done).until(before);
    let mut report = RetentionReport::default();
    loop {
        let ids: Vec<i64> = outbox
            .list(&filter, CHUNK)
            .await?
            .into_iter()
            .map(|row| row.id)
            .collect();
        if ids.is_empty() {
            break;
        }
        let full = ids.len() == CHUNK;
        let n = outbox.purge(&filter.clone().ids(ids)).await?;
        report.events += n;
        if !full || n == 0 {
            break;
        }
    }
    report.messages = conversations.prune(before).await?;
    Ok(report)
}

/// Runs [`prune`] with a cut-off of now − `retention` shortly after start and then every
/// [`INTERVAL`], until `shutdown`. Errors are logged and retried at the next run.
pub fn spawn(
    outbox: Arc<dyn Outbox>,
    conversations: ConversationStore,
    retention: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Let start-up traffic go first.
        let mut wait = Duration::from_secs(60);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = INTERVAL;
            let Ok(retention) = chrono::Duration::from_std(retention) else {
                return;
            };
            let before = Utc::now() - retention;
            match prune(outbox.as_ref(), &conversations, before).await {
                Ok(report) => {
                    metrics::counter!("chatport_retention_deleted_total", "what" => "events")
                        .increment(report.events);
                    metrics::counter!("chatport_retention_deleted_total", "what" => "messages")
                        .increment(report.messages);
                    tracing::info!(
                        events = report.events,
                        messages = report.messages,
                        %before,
                        "retention: deleted done rows and conversation messages"
                    );
                }
                Err(error) => {
                    tracing::warn!(%error, "retention run failed; retrying at the next run")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatport_core::EventId;
    use chatport_runtime::{NewEvent, Resolution, SqliteStore};
    use chatport_whatsapp::conversation::{ConversationKey, Direction, LoggedMessage};

    #[tokio::test]
    async fn prune_deletes_old_done_rows_and_messages_only() {
        let store = SqliteStore::open_in_memory().unwrap();
        let outbox: Arc<dyn Outbox> = Arc::new(store.clone());
        let conversations = ConversationStore::new(Arc::new(store));
        let event = |id: &str| {
            NewEvent::new(
                "whatsapp",
                EventId::new(id),
                "message",
                "O1",
                b"{}".to_vec(),
            )
        };
        outbox
            .enqueue(vec![
                event("done"),
                event("pending"),
                event("dead").dead("bad"),
            ])
            .await
            .unwrap();
        let claimed = outbox.claim("w", 1, Duration::from_secs(60)).await.unwrap();
        outbox
            .resolve(
                &claimed[0].lease,
                claimed[0].event.id,
                Resolution::Done { receipt: None },
            )
            .await
            .unwrap();
        let conv = ConversationKey::new("42", "+49 151 1111");
        let old = Utc::now() - chrono::Duration::days(40);
        conversations
            .record(
                &conv,
                &LoggedMessage::new(Direction::Inbound, "wamid.old", old, "text"),
            )
            .await
            .unwrap();

        // A cut-off before everything deletes nothing.
        let report = prune(
            outbox.as_ref(),
            &conversations,
            old - chrono::Duration::days(1),
        )
        .await
        .unwrap();
        assert_eq!(report, RetentionReport::default());

        let report = prune(
            outbox.as_ref(),
            &conversations,
            Utc::now() + chrono::Duration::seconds(1),
        )
        .await
        .unwrap();
        assert_eq!(
            report,
            RetentionReport {
                events: 1,
                messages: 1
            }
        );
        let left: Vec<String> = outbox
            .list(&EventFilter::new(), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_id.as_str().to_owned())
            .collect();
        assert_eq!(left, ["pending", "dead"]);
        assert!(conversations.messages(&conv).await.unwrap().is_empty());
    }
}
