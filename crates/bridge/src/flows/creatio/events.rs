//! The polling fallback of flow C2 ([`ReplySource`], run by a `Poller`): it catches what the
//! Creatio business process never sent to the webhook
//! ([`ProcessWebhook`](chatport_creatio::webhook::ProcessWebhook)). Both store
//! [`CreatioEvent`] rows of flow `C2` under the source `creatio` with the same event ids, so an
//! activity both notified and polled is handled once.

use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{Checkpoint, Source, SourceStream};
pub use chatport_creatio::webhook::CreatioEvent;
use chatport_creatio::{Activity, Case, Entity, Order, Query, filter};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Shared;
use crate::Error;

/// The polling fallback: every round, for the conversations with an open case, reads the
/// activities created since the checkpoint (not by chatport) and the cases' statuses, and yields
/// [`CreatioEvent::ActivityAdded`] / [`CreatioEvent::CaseStatus`] events with the webhook's event
/// ids (so the outbox stores each once). The checkpoint is the latest `CreatedOn` seen; the first
/// round looks back `poll_lookback_hours`.
pub struct ReplySource {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReplySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplySource").finish_non_exhaustive()
    }
}

/// Cases per `$filter` (each adds two filter nodes; Creatio allows about 100).
const CASES_PER_QUERY: usize = 40;

impl ReplySource {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn collect(
        &self,
        since: DateTime<Utc>,
    ) -> Result<(Vec<CreatioEvent>, Option<DateTime<Utc>>), Error> {
        let s = &self.shared;
        let open = s.state.open_cases().await?;
        let mut events = Vec::new();
        let mut latest: Option<DateTime<Utc>> = None;
        let ids: Vec<Uuid> = open.iter().map(|(_, l)| l.case_id).collect();
        for chunk in ids.chunks(CASES_PER_QUERY) {
            let Some(cases) = filter::any_of("Case/Id", chunk.iter().copied()) else {
                continue;
            };
            let mut f = cases.and(filter::ge("CreatedOn", since));
            if let Some(me) = s.c2.integration_contact_id {
                f = f.and(filter::ne("CreatedBy/Id", me));
            }
            let query = Query::new()
                .filter(f)
                .select(["Id", "CaseId", "CreatedOn", "CreatedById"])
                .order_by("CreatedOn", Order::Asc);
            let mut stream = s.creatio.stream::<Activity>(Activity::SET, query, 500);
            while let Some(activity) = stream.next().await {
                let activity = activity?;
                let Some(id) = activity.id else { continue };
                if let Some(at) = activity.created_on
                    && latest.is_none_or(|l| at > l)
                {
                    latest = Some(at);
                }
                if s.state.is_own(id).await? {
                    continue;
                }
                events.push(CreatioEvent::ActivityAdded {
                    activity_id: id,
                    case_id: activity.case_id,
                });
            }
            let Some(by_id) = filter::any_of("Id", chunk.iter().copied()) else {
                continue;
            };
            let statuses = s
                .creatio
                .list::<Case>(
                    Case::SET,
                    &Query::new().filter(by_id).select(["Id", "StatusId"]),
                )
                .await?;
            for case in statuses.value {
                if let Some(case_id) = case.id
                    && s.is_closed_status(case.status_id)
                {
                    events.push(CreatioEvent::CaseStatus {
                        case_id,
                        status_id: case.status_id,
                    });
                }
            }
        }
        Ok((events, latest))
    }
}

#[async_trait]
impl Source for ReplySource {
    type Event = CreatioEvent;
    type Error = Error;

    async fn poll(
        &self,
        resume: Option<Checkpoint>,
    ) -> Result<SourceStream<'_, CreatioEvent, Error>, Error> {
        let lookback = chrono::Duration::hours(
            i64::try_from(self.shared.c2.poll_lookback_hours).unwrap_or(24),
        );
        let since = resume
            .as_ref()
            .and_then(|c| c.0.get("since"))
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|| Utc::now() - lookback);
        let (events, latest) = self.collect(since).await?;
        let now = Utc::now();
        let count = events.len();
        let checkpoint = latest.map(|l| Checkpoint::new(json!({ "since": l.to_rfc3339() })));
        let items: Vec<_> = events
            .into_iter()
            .enumerate()
            .map(move |(i, event)| {
                let id = event.event_id(now, b"");
                let envelope = event.envelope(id, now);
                let cp = if i + 1 == count {
                    checkpoint.clone()
                } else {
                    None
                };
                Ok((envelope, cp))
            })
            .collect();
        Ok(futures::stream::iter(items).boxed())
    }
}
