//! The polling fallback of flow C2: the connector's
//! [`ActivitySource`], configured here over C2's state
//! ([`C2Cases`]). It catches what the Creatio business process never sent to the webhook
//! ([`ProcessWebhook`](chatport_creatio::webhook::ProcessWebhook)). Both store
//! [`CreatioEvent`] rows of flow `C2` under the source `creatio` with the same event ids, so an
//! activity both notified and polled is handled once.

use std::time::Duration;

use async_trait::async_trait;
use chatport_creatio::source::{ActivitySource, OpenCases};
pub use chatport_creatio::webhook::CreatioEvent;
use uuid::Uuid;

use super::Shared;
use super::state::CreatioState;
use crate::Error;

/// C2's cases for the poller: the conversations with an open case, and the activities and case
/// files chatport wrote itself (never echoed back).
#[derive(Clone, Debug)]
pub struct C2Cases {
    state: CreatioState,
}

#[async_trait]
impl OpenCases for C2Cases {
    type Error = Error;

    async fn open_cases(&self) -> Result<Vec<Uuid>, Error> {
        Ok(self
            .state
            .open_cases()
            .await?
            .into_iter()
            .map(|(_, link)| link.case_id)
            .collect())
    }

    async fn is_own(&self, activity_id: Uuid) -> Result<bool, Error> {
        self.state.is_own(activity_id).await
    }

    async fn is_own_file(&self, file_id: Uuid) -> Result<bool, Error> {
        self.state.is_own(file_id).await
    }
}

/// The C2 poller: every round, for the conversations with an open case, the activities (and,
/// with `agent_files`, the case files) created since the checkpoint (not by
/// `integration_contact_id`, not chatport's own) and the cases
/// closed by `closed_status_ids` or the lookups' Closed/Canceled; the first round looks back
/// `poll_lookback_hours`.
///
/// # Errors
/// [`Error::Config`] when the connector refuses the configuration.
pub(crate) fn reply_source(shared: &Shared) -> Result<ActivitySource<C2Cases>, Error> {
    let c2 = &shared.c2;
    ActivitySource::builder(
        shared.creatio.clone(),
        C2Cases {
            state: shared.state.clone(),
        },
    )
    .integration_contact(c2.integration_contact_id)
    .files(c2.agent_files)
    .closed_statuses(c2.closed_status_ids.iter().copied())
    .lookback(Duration::from_secs(
        c2.poll_lookback_hours.saturating_mul(3600),
    ))
    .build()
    .map_err(|e| Error::Config(format!("flows.c2: {e}")))
}
