//! The WhatsApp side of the bridge: the flows of the webhook's envelopes, the once-only sender, and the status recorder.

use std::sync::Arc;

use chatport_core::{
    Classify, ErrorClass, IdempotencyKey, IdempotencyLedger, LedgerEntry, Outcome,
};
use chatport_runtime::ingress::Flows;
use chatport_runtime::{KvStore, StoredEvent};
use chatport_whatsapp::webhook::{self, EventKind};
use chatport_whatsapp::{Client, OutgoingMessage};
use chrono::{DateTime, Utc};

use crate::Error;
use crate::conversation_store::ConversationStore;
use crate::routing::FLOW_INBOUND;

pub use chatport_whatsapp::webhook::{SOURCE, WhatsAppWebhook};
/// Flow name of status updates (recorded; they settle in-doubt sends).
pub const FLOW_STATUS: &str = "whatsapp.status";
/// Flow name of webhook-level errors (recorded).
pub const FLOW_ERROR: &str = "whatsapp.error";
/// Flow name of non-`messages` webhook fields (recorded) and of updates the parser could not read.
pub const FLOW_OTHER: &str = "whatsapp.other";
/// KV namespace: `biz_opaque_callback_data` (our idempotency key) → wamid, written by status webhooks.
pub const KV_CALLBACK: &str = "whatsapp.callback";

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

/// How a once-only send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendOnce {
    /// The message was accepted by Meta (now or by an earlier attempt); here is its wamid.
    Sent(String),
    /// An earlier attempt may have sent it (a timeout after the request left, a 5xx, a crash), and
    /// no status webhook has settled it yet. It is **not** resent blindly: only once
    /// [`OnceSender::resend_in_doubt_after`] is set and that period has passed.
    InDoubt,
}

/// Sends WhatsApp messages at most once per idempotency key (by default; see
/// [`OnceSender::resend_in_doubt_after`] for the at-least-once alternative).
///
/// The Cloud API has no idempotency key, so chatport keeps a durable ledger: `begin(key)` before the
/// request, `complete` with the wamid after it, `release` when Meta provably refused the request (a
/// throttling code or a connection that never carried the body: `ErrorKind::may_resend`) or refused
/// it for good (a permanent error). Anything else (a timeout, a 5xx, 131000) leaves the key in doubt.
/// Each send carries the key as `biz_opaque_callback_data`; when a status webhook for it arrives,
/// [`StatusRecorder`] records the wamid and the send is settled as sent.
///
/// Every message sent (or found sent) is recorded in the
/// [`ConversationStore`] of its conversation, so a handoff carries what the flows answered.
#[derive(Clone)]
pub struct OnceSender {
    client: Client,
    ledger: Arc<dyn IdempotencyLedger>,
    kv: Arc<dyn KvStore>,
    resend_in_doubt_after: Option<chrono::Duration>,
}

/// KV namespace: idempotency key → when its send was first found in doubt (RFC 3339), for
/// [`OnceSender::resend_in_doubt_after`].
pub const KV_IN_DOUBT_SINCE: &str = "whatsapp.in_doubt_since";

impl std::fmt::Debug for OnceSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnceSender")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl OnceSender {
    /// Builds a sender over a client, the ledger and the key-value store.
    pub fn new(client: Client, ledger: Arc<dyn IdempotencyLedger>, kv: Arc<dyn KvStore>) -> Self {
        Self {
            client,
            ledger,
            kv,
            resend_in_doubt_after: None,
        }
    }

    /// Resends a send that is in doubt once `after` has passed since it was first found in doubt
    /// without a status webhook settling it (`[whatsapp] resend_in_doubt_after_secs`).
    ///
    /// Off by default: a send in doubt then stays in doubt (at most once; the event ends in the
    /// dead-letter queue for an operator). On, every reply is eventually delivered (at least once)
    /// and a duplicate happens only when Meta accepted the first request **and** its `sent`
    /// status webhook took longer than `after` to arrive. Meta posts that status within seconds
    /// normally; its webhook redelivery can lag for hours in an incident, so choose `after` with
    /// that trade-off in mind (minutes, not seconds).
    pub fn resend_in_doubt_after(mut self, after: std::time::Duration) -> Self {
        self.resend_in_doubt_after = chrono::Duration::from_std(after).ok();
        self
    }

    /// Sends `message` from `phone_number_id` unless it was already sent under `key`.
    ///
    /// # Errors
    /// The send error when Meta refused the message (the key is released, so a retry may send it),
    /// or when the outcome is unknown (the key stays in doubt, so the next call returns
    /// [`SendOnce::InDoubt`] until a status webhook settles it). Ledger and store errors as is.
    pub async fn send(
        &self,
        key: &IdempotencyKey,
        phone_number_id: &str,
        message: OutgoingMessage,
    ) -> Result<SendOnce, Error> {
        match self.ledger.begin(key).await? {
            LedgerEntry::Completed(receipt) => {
                let wamid = receipt
                    .get("wamid")
                    .and_then(|w| w.as_str())
                    .unwrap_or_default()
                    .to_owned();
                // Recorded by the attempt that sent it, unless that attempt stopped in between.
                self.log(key, phone_number_id, &message, &wamid).await?;
                Ok(SendOnce::Sent(wamid))
            }
            LedgerEntry::InDoubt => {
                if let Some(wamid) = self.kv.get(KV_CALLBACK, key.as_str()).await? {
                    let wamid = String::from_utf8_lossy(&wamid).into_owned();
                    self.ledger
                        .complete(
                            key,
                            &serde_json::json!({ "wamid": wamid, "settled_by": "status webhook" }),
                        )
                        .await?;
                    self.log(key, phone_number_id, &message, &wamid).await?;
                    return Ok(SendOnce::Sent(wamid));
                }
                if !self.quiet_long_enough(key).await? {
                    return Ok(SendOnce::InDoubt);
                }
                // No status webhook for that long: taken as not sent. Start again.
                tracing::warn!(
                    "a WhatsApp send in doubt had no status webhook within the resend period; \
                     sending it again"
                );
                self.ledger.release(key).await?;
                self.kv.delete(KV_IN_DOUBT_SINCE, key.as_str()).await?;
                match self.ledger.begin(key).await? {
                    LedgerEntry::Completed(_) | LedgerEntry::InDoubt => Ok(SendOnce::InDoubt),
                    _ => self.attempt(key, phone_number_id, message).await,
                }
            }
            // `Started` and any state a newer ledger may add: go ahead.
            _ => self.attempt(key, phone_number_id, message).await,
        }
    }

    /// Whether `key` has been in doubt for longer than the resend period (never when resending
    /// is off). The first call for a key records when it was first found in doubt.
    async fn quiet_long_enough(&self, key: &IdempotencyKey) -> Result<bool, Error> {
        let Some(after) = self.resend_in_doubt_after else {
            return Ok(false);
        };
        let now = Utc::now();
        self.kv
            .put_if_absent(KV_IN_DOUBT_SINCE, key.as_str(), now.to_rfc3339().as_bytes())
            .await?;
        let since = self
            .kv
            .get(KV_IN_DOUBT_SINCE, key.as_str())
            .await?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map_or(now, |t| t.with_timezone(&Utc));
        Ok(now - since >= after)
    }

    /// One request to Meta under a begun ledger key.
    async fn attempt(
        &self,
        key: &IdempotencyKey,
        phone_number_id: &str,
        message: OutgoingMessage,
    ) -> Result<SendOnce, Error> {
        let message = message.biz_opaque_callback_data(key.as_str());
        match self.client.send(phone_number_id, &message).await {
            Ok(response) => {
                let wamid = response.wamid().unwrap_or_default().to_owned();
                self.ledger
                    .complete(key, &serde_json::json!({ "wamid": wamid }))
                    .await?;
                self.log(key, phone_number_id, &message, &wamid).await?;
                Ok(SendOnce::Sent(wamid))
            }
            Err(error) => {
                // Not sent: the request never left, Meta refused it before acting (throttling),
                // or refused it for good (a permanent Graph error such as 131047). Anything
                // else (a timeout, 131000 "unknown error", a 5xx) may have sent it: in doubt.
                if error.may_resend() || error.class() == ErrorClass::Permanent {
                    self.ledger.release(key).await?;
                }
                Err(Error::WhatsApp(error))
            }
        }
    }
}

impl OnceSender {
    /// Records a sent message in the conversation store (idempotent by wamid; the key stands in
    /// when Meta returned no wamid).
    async fn log(
        &self,
        key: &IdempotencyKey,
        phone_number_id: &str,
        message: &OutgoingMessage,
        wamid: &str,
    ) -> Result<(), Error> {
        let id = if wamid.is_empty() {
            key.as_str()
        } else {
            wamid
        };
        ConversationStore::new(self.kv.clone())
            .record_outbound(phone_number_id, message, id)
            .await?;
        Ok(())
    }
}

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
        if let Some(data) = status
            .biz_opaque_callback_data
            .as_deref()
            .filter(|d| !d.is_empty())
        {
            self.kv
                .put_if_absent(KV_CALLBACK, data, status.id.as_bytes())
                .await?;
        }
        let name = status.status.as_str().to_owned();
        self.kv.put(KV_STATUS, &status.id, name.as_bytes()).await?;
        let codes: Vec<i64> = status.errors.iter().map(|e| e.code).collect();
        Ok(Outcome::delivered_with(
            serde_json::json!({ "status": name, "error_codes": codes }),
        ))
    }
}
