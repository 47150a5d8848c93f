//! The WhatsApp side of the bridge: the flows of the webhook's envelopes and the status recorder.

use std::sync::Arc;

use chatport_core::Outcome;
use chatport_runtime::ingress::Flows;
use chatport_runtime::{KvStore, StoredEvent};
use chatport_whatsapp::sink::settle_from_status;
use chatport_whatsapp::webhook::{self, EventKind};

use crate::Error;
use crate::routing::FLOW_INBOUND;

pub use chatport_whatsapp::webhook::{SOURCE, WhatsAppWebhook};
/// Flow name of status updates (recorded; they settle in-doubt sends).
pub const FLOW_STATUS: &str = "whatsapp.status";
/// Flow name of webhook-level errors (recorded).
pub const FLOW_ERROR: &str = "whatsapp.error";
/// Flow name of non-`messages` webhook fields (recorded) and of updates the parser could not read.
pub const FLOW_OTHER: &str = "whatsapp.other";

/// Which flow each WhatsApp envelope goes to: messages to [`FLOW_INBOUND`] (the
/// [`Dispatcher`](crate::routing::Dispatcher) routes each to its flow when a worker picks it up),
/// statuses to [`FLOW_STATUS`], webhook errors to [`FLOW_ERROR`], everything else to
/// [`FLOW_OTHER`].
pub fn flows() -> Flows {
    Flows::by_kind(
        [
            ("message", FLOW_INBOUND),
            ("status", FLOW_STATUS),
            ("error", FLOW_ERROR),
        ],
        FLOW_OTHER,
    )
}

pub use chatport_whatsapp::sink::{KV_CALLBACK, KV_IN_DOUBT_SINCE, SendOnce};

/// Records status updates: the last status per wamid, and the wamid of each send that carried
/// chatport's idempotency key as `biz_opaque_callback_data` (this settles sends in doubt).
#[derive(Clone)]
pub struct StatusRecorder {
    kv: Arc<dyn KvStore>,
}

impl std::fmt::Debug for StatusRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusRecorder").finish_non_exhaustive()
    }
}

/// KV namespace: wamid → last status name recorded.
pub const KV_STATUS: &str = "whatsapp.status";

impl StatusRecorder {
    /// Builds the recorder over the key-value store.
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Self { kv }
    }

    /// Handles one stored status event.
    ///
    /// # Errors
    /// [`Error::Payload`] for a payload that is not a WhatsApp event; store errors as is.
    pub async fn record(&self, event: &StoredEvent) -> Result<Outcome, Error> {
        let parsed: webhook::Event =
            serde_json::from_slice(&event.payload).map_err(|e| Error::Payload(e.to_string()))?;
        let EventKind::Status(status) = &parsed.kind else {
            return Ok(Outcome::delivered());
        };
        settle_from_status(self.kv.as_ref(), status).await?;
        let name = status.status.as_str().to_owned();
        self.kv.put(KV_STATUS, &status.id, name.as_bytes()).await?;
        let codes: Vec<i64> = status.errors.iter().map(|e| e.code).collect();
        Ok(Outcome::delivered_with(
            serde_json::json!({ "status": name, "error_codes": codes }),
        ))
    }
}
