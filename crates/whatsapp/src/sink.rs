//! The once-only message sender: a [`Sink`] over the Cloud API's `POST /{phone-number-id}/messages`
//! that sends each message at most once per [`IdempotencyKey`].
//!
//! The Cloud API documents no idempotency key for sends, so the sink keeps its own record in an
//! [`IdempotencyLedger`] and a [`KvStore`] (chatport's runtime stores implement both; so can yours):
//!
//! 1. `begin(key)` before the request: `Started` → send; `Completed` → return the stored wamid
//!    without sending; `InDoubt` → see below.
//! 2. Each send carries the key as `biz_opaque_callback_data`, so Meta echoes it in the message's
//!    status webhooks.
//! 3. After the request: Meta answered with a wamid → `complete`. Meta provably did not act (the
//!    request never left, or a throttling refusal: [`Error::may_resend`]) or refused for good (a
//!    permanent error such as 131047) → `release`, so a retry may send. Anything else (a timeout
//!    after the body left, a 5xx, 131000 "something went wrong") → nothing: the key stays **in
//!    doubt**.
//! 4. A status webhook that carries the key ([`settle_from_status`], called by whatever handles
//!    status webhooks) records the wamid under the key; the next write of an in-doubt key finds it
//!    and completes the key as sent.
//!
//! **In doubt** means Meta may or may not have accepted the message. The sink never resends such a
//! message blindly: by default it answers [`SendOnce::InDoubt`] until a status webhook settles it
//! (at most once). With [`MessageSinkBuilder::resend_in_doubt_after`] it resends once that period
//! has passed without a status webhook (at least once; a duplicate only when Meta accepted the
//! first request **and** its status webhook took longer than the period).
//!
//! Conversation Routing: with [`MessageSinkBuilder::control`] the sink asks a [`ControlStore`]
//! before each send whether another app (Meta Business Agent, an escalation partner) holds the
//! conversation, and follows a [`WhenHeldElsewhere`] policy: send anyway, hold the message back
//! ([`Error::HeldElsewhere`], retried later), or take the conversation with the Thread control API
//! first. Without it, the sink sends whoever holds the conversation.
//!
//! Conversation log: with [`MessageSinkBuilder::conversations`] every message the sink sent (or
//! found sent) is recorded in its thread of a [`ConversationStore`], beside the inbound messages,
//! so a handoff to an agent carries what the business answered. [`MessageSink::send`] is the
//! shorthand for a write of an [`Outbound`].
//!
//! Pacing: with [`MessageSinkBuilder::pacer`] the sink asks a shared [`Pacer`] before each
//! request ([`Pacer::check`] for the business number and the recipient). A wait of at most
//! [`MessageSinkBuilder::pacer_inline_wait`] (default [`DEFAULT_PACER_INLINE_WAIT`], enough for
//! the throughput bucket's 1/80 s) is slept inside the sink; a longer one (the pair limit of one
//! message per 6 s, the 4^X back-off after a 131056, a Business Use Case block) releases the
//! idempotency key and fails the write with [`Error::Paced`] (`Throttled` with the wait as
//! `retry_after`), so the outbox retries the event after the wait instead of a worker sleeping
//! through it. A 131056 answer feeds [`Pacer::pair_rate_limited`], a success
//! [`Pacer::pair_succeeded`]; feed the client's `X-Business-Use-Case-Usage` headers with
//! [`ClientBuilder::on_usage`](crate::ClientBuilder::on_usage) and [`Pacer::observe_usage`].
//!
//! Concurrency: within one process, writes of one key wait for each other ([`KeyLocks`]), so the
//! second finds the first's wamid. Across replicas sharing one ledger, its atomic `begin` still
//! sends once; a replica that loses that race sees the key in doubt until the winner completes it
//! (the outbox's ordering key normally keeps one conversation's events on one replica at a time).

use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{
    Classify, ErrorClass, IdempotencyKey, IdempotencyLedger, KvStore, LedgerEntry, Sink,
    StateError, sink::KeyLocks,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::control::{ControlStore, ThreadAction};
use crate::conversation::{ConversationKey, ConversationStore};
use crate::pacing::Pacer;
use crate::webhook::Status;
use crate::{Client, Error, OutgoingMessage};

/// What a [`MessageSink`] with a [`ControlStore`] does when another app holds the conversation
/// it sends to ([`MessageSinkBuilder::control`]).
///
/// Meta: webhooks/reference/standby ("sending a service message while observing takes the
/// conversation over"), meta-business-agent/reference/operate/thread-control-cloud-api.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhenHeldElsewhere {
    /// Send anyway; Meta passes the conversation to this app with the message, and the store
    /// records this app as the holder.
    Send,
    /// Do not send: [`Error::HeldElsewhere`] with `retry_after` (classified `Throttled`, so an
    /// outbox tries again after it). The idempotency key is released, nothing is sent.
    Defer {
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// Take the conversation first (Thread control `take`; only the configured escalation
    /// partner may), record it, then send. A refused take fails the write with its error.
    Take,
}

/// The longest [`Pacer`] wait a [`MessageSink`] sleeps through before a send (250 ms): longer
/// waits become [`Error::Paced`] ([`MessageSinkBuilder::pacer_inline_wait`]).
pub const DEFAULT_PACER_INLINE_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Meta's pair rate limit error ("too many messages sent from this phone number to the same
/// phone number in a short period of time").
const PAIR_RATE_LIMIT_CODE: i64 = 131_056;

/// [`KvStore`] namespace: idempotency key (`biz_opaque_callback_data`) → wamid, written by
/// [`settle_from_status`].
pub const KV_CALLBACK: &str = "whatsapp.callback";

/// [`KvStore`] namespace: idempotency key → when its send was first found in doubt (RFC 3339),
/// for [`MessageSinkBuilder::resend_in_doubt_after`].
pub const KV_IN_DOUBT_SINCE: &str = "whatsapp.in_doubt_since";

/// What a [`MessageSink`] writes: a message and the business phone number id that sends it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Outbound {
    /// The business phone number id (`metadata.phone_number_id`) to send from.
    pub phone_number_id: String,
    /// The message.
    pub message: OutgoingMessage,
}

impl Outbound {
    /// `message` sent from `phone_number_id`.
    pub fn new(phone_number_id: impl Into<String>, message: OutgoingMessage) -> Self {
        Self {
            phone_number_id: phone_number_id.into(),
            message,
        }
    }
}

/// How a once-only send ended (the [`MessageSink`]'s receipt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "wamid")]
#[non_exhaustive]
pub enum SendOnce {
    /// Meta accepted the message (now or in an earlier attempt); here is its wamid (empty when
    /// Meta answered without one).
    Sent(String),
    /// An earlier attempt may have sent it (a timeout after the request left, a 5xx, a crash) and
    /// no status webhook has settled it yet. It is not resent blindly (see the module docs).
    InDoubt,
}

impl SendOnce {
    /// The wamid, when sent.
    pub fn wamid(&self) -> Option<&str> {
        match self {
            SendOnce::Sent(wamid) => Some(wamid),
            SendOnce::InDoubt => None,
        }
    }
}

/// Sends WhatsApp messages at most once per idempotency key (see the module docs for the
/// protocol and what "in doubt" means).
///
/// ```no_run
/// # async fn demo(client: chatport_whatsapp::Client,
/// #   ledger: std::sync::Arc<dyn chatport_core::IdempotencyLedger>,
/// #   kv: std::sync::Arc<dyn chatport_core::KvStore>) -> Result<(), chatport_whatsapp::Error> {
/// use chatport_core::{EventId, IdempotencyKey, Sink};
/// use chatport_whatsapp::{OutgoingMessage, Recipient};
/// use chatport_whatsapp::sink::{MessageSink, Outbound};
///
/// let sink = MessageSink::builder(client, ledger, kv).build();
/// let key = IdempotencyKey::derive("O1", "reply", &EventId::new("wamid.IN"));
/// let to = Recipient::phone("16505551234");
/// let reply = Outbound::new("106540352242922", OutgoingMessage::text(to, "Case opened"));
/// let first = sink.write(&reply, &key).await?;
/// let again = sink.write(&reply, &key).await?; // a redelivery: nothing is sent
/// assert_eq!(first, again);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MessageSink {
    client: Client,
    ledger: Arc<dyn IdempotencyLedger>,
    kv: Arc<dyn KvStore>,
    resend_in_doubt_after: Option<chrono::Duration>,
    control: Option<(ControlStore, WhenHeldElsewhere)>,
    conversations: Option<ConversationStore>,
    pacer: Option<Arc<Pacer>>,
    pacer_inline_wait: std::time::Duration,
    locks: KeyLocks,
}

impl std::fmt::Debug for MessageSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageSink")
            .field("client", &self.client)
            .field("resend_in_doubt_after", &self.resend_in_doubt_after)
            .field(
                "when_held_elsewhere",
                &self.control.as_ref().map(|(_, w)| w),
            )
            .field("records_conversations", &self.conversations.is_some())
            .field("pacer", &self.pacer)
            .finish_non_exhaustive()
    }
}

/// Builds a [`MessageSink`].
#[derive(Clone)]
#[must_use]
pub struct MessageSinkBuilder {
    sink: MessageSink,
}

impl std::fmt::Debug for MessageSinkBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MessageSinkBuilder")
            .field(&self.sink)
            .finish()
    }
}

impl MessageSinkBuilder {
    /// Resends a send that is in doubt once `after` has passed since it was first found in doubt
    /// without a status webhook settling it. Off by default (at most once). Meta posts the `sent`
    /// status within seconds normally, but its webhook redelivery can lag for hours in an incident:
    /// choose minutes, not seconds.
    pub fn resend_in_doubt_after(mut self, after: std::time::Duration) -> Self {
        self.sink.resend_in_doubt_after = chrono::Duration::from_std(after).ok();
        self
    }

    /// Asks `control` before each send who holds the conversation, and follows `when` when it is
    /// another app (see [`WhenHeldElsewhere`]). Off by default: the sink sends regardless.
    pub fn control(mut self, control: ControlStore, when: WhenHeldElsewhere) -> Self {
        self.sink.control = Some((control, when));
        self
    }

    /// Records every message the sink sent (or found sent under its key) in its conversation
    /// of `store`, so the thread a handoff carries holds what the business answered, not only
    /// what the customer wrote ([`ConversationStore::record_outbound`]: idempotent by wamid;
    /// the idempotency key stands in when Meta returned no wamid). Off by default.
    pub fn conversations(mut self, store: ConversationStore) -> Self {
        self.sink.conversations = Some(store);
        self
    }

    /// Paces every send with `pacer` (share one per service: its buckets are per business number
    /// and per recipient). Off by default. See the module docs for what a wait does.
    pub fn pacer(mut self, pacer: Arc<Pacer>) -> Self {
        self.sink.pacer = Some(pacer);
        self
    }

    /// The longest pacing wait slept inside the sink (default [`DEFAULT_PACER_INLINE_WAIT`]);
    /// a longer one fails the write with [`Error::Paced`]. `Duration::ZERO` never sleeps.
    pub fn pacer_inline_wait(mut self, wait: std::time::Duration) -> Self {
        self.sink.pacer_inline_wait = wait;
        self
    }

    /// The sink.
    pub fn build(self) -> MessageSink {
        self.sink
    }
}

impl MessageSink {
    /// A builder over `client`, the idempotency `ledger` and the key-value store `kv` (both
    /// durable, shared by every replica that sends for the same keys).
    pub fn builder(
        client: Client,
        ledger: Arc<dyn IdempotencyLedger>,
        kv: Arc<dyn KvStore>,
    ) -> MessageSinkBuilder {
        MessageSinkBuilder {
            sink: Self {
                client,
                ledger,
                kv,
                resend_in_doubt_after: None,
                control: None,
                conversations: None,
                pacer: None,
                pacer_inline_wait: DEFAULT_PACER_INLINE_WAIT,
                locks: KeyLocks::new(),
            },
        }
    }

    /// The client the sink sends with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The same sink with [`MessageSinkBuilder::resend_in_doubt_after`] set.
    #[must_use]
    pub fn with_resend_in_doubt_after(mut self, after: std::time::Duration) -> Self {
        self.resend_in_doubt_after = chrono::Duration::from_std(after).ok();
        self
    }

    /// The same sink with [`MessageSinkBuilder::control`] set.
    #[must_use]
    pub fn with_control(mut self, control: ControlStore, when: WhenHeldElsewhere) -> Self {
        self.control = Some((control, when));
        self
    }

    /// Sends `message` from the business number `phone_number_id` unless it was already sent
    /// under `key`: [`Sink::write`] of an [`Outbound`].
    ///
    /// # Errors
    /// As [`Sink::write`].
    pub async fn send(
        &self,
        key: &IdempotencyKey,
        phone_number_id: &str,
        message: OutgoingMessage,
    ) -> Result<SendOnce, Error> {
        self.write(&Outbound::new(phone_number_id, message), key)
            .await
    }

    /// Records a sent message in its conversation ([`MessageSinkBuilder::conversations`]).
    async fn record(
        &self,
        item: &Outbound,
        key: &IdempotencyKey,
        receipt: &SendOnce,
    ) -> Result<(), Error> {
        if let (Some(store), SendOnce::Sent(wamid)) = (&self.conversations, receipt) {
            let id = if wamid.is_empty() {
                key.as_str()
            } else {
                wamid
            };
            store
                .record_outbound(&item.phone_number_id, &item.message, id)
                .await?;
        }
        Ok(())
    }

    /// Whether `key` has been in doubt for longer than the resend period (never when resending
    /// is off). The first call for a key records when it was first found in doubt.
    async fn quiet_long_enough(&self, key: &IdempotencyKey) -> Result<bool, StateError> {
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

    /// Applies the [`WhenHeldElsewhere`] policy before a send under a begun ledger key: `Ok`
    /// when the send may go ahead (after a take, when the policy says so), with the conversation
    /// the send itself takes over ([`WhenHeldElsewhere::Send`]).
    async fn may_send(
        &self,
        item: &Outbound,
        key: &IdempotencyKey,
    ) -> Result<Option<ConversationKey>, Error> {
        let Some((control, when)) = &self.control else {
            return Ok(None);
        };
        let to = item.message.recipient();
        let conversation = ConversationKey::new(&item.phone_number_id, to.as_str());
        if control
            .holder(&item.phone_number_id, &conversation.user)
            .await?
            != crate::control::Holder::OtherApp
        {
            return Ok(None);
        }
        match when {
            WhenHeldElsewhere::Defer { retry_after } => {
                self.ledger.release(key).await?;
                Err(Error::HeldElsewhere {
                    retry_after: *retry_after,
                })
            }
            WhenHeldElsewhere::Take => {
                if let Err(error) = self
                    .client
                    .thread_control(&item.phone_number_id, to, &ThreadAction::Take, None)
                    .await
                {
                    self.ledger.release(key).await?;
                    return Err(error);
                }
                control.record_taken(&conversation, Utc::now()).await?;
                Ok(None)
            }
            // Sending takes the conversation over (recorded after the send).
            _ => Ok(Some(conversation)),
        }
    }

    /// Takes a send slot from the [`Pacer`] (when there is one) under a begun ledger key: sleeps
    /// through a wait of at most `pacer_inline_wait`, else releases the key and answers
    /// [`Error::Paced`].
    async fn paced(&self, item: &Outbound, key: &IdempotencyKey) -> Result<(), Error> {
        let Some(pacer) = &self.pacer else {
            return Ok(());
        };
        let user = item.message.recipient().as_str();
        let mut slept = std::time::Duration::ZERO;
        loop {
            match pacer.check(&item.phone_number_id, user) {
                Ok(()) => return Ok(()),
                Err(wait) if slept + wait.wait <= self.pacer_inline_wait => {
                    let nap = wait.wait.max(std::time::Duration::from_millis(1));
                    tokio::time::sleep(nap).await;
                    slept += nap;
                }
                Err(wait) => {
                    self.ledger.release(key).await?;
                    tracing::debug!(limit = ?wait.limit, wait_ms = wait.wait.as_millis(), "WhatsApp send paced");
                    return Err(Error::Paced {
                        limit: wait.limit,
                        retry_after: wait.wait.max(std::time::Duration::from_millis(1)),
                    });
                }
            }
        }
    }

    /// One request to Meta under a begun ledger key.
    async fn attempt(&self, item: &Outbound, key: &IdempotencyKey) -> Result<SendOnce, Error> {
        self.paced(item, key).await?;
        let takes_over = self.may_send(item, key).await?;
        let message = item.message.clone().biz_opaque_callback_data(key.as_str());
        let result = self.client.send(&item.phone_number_id, &message).await;
        if let Some(pacer) = &self.pacer {
            let user = item.message.recipient().as_str();
            match &result {
                Ok(_) => pacer.pair_succeeded(&item.phone_number_id, user),
                Err(error) if error.api().is_some_and(|a| a.code == PAIR_RATE_LIMIT_CODE) => {
                    pacer.pair_rate_limited(&item.phone_number_id, user);
                }
                Err(_) => {}
            }
        }
        match result {
            Ok(response) => {
                let wamid = response.wamid().unwrap_or_default().to_owned();
                self.ledger
                    .complete(key, &serde_json::json!({ "wamid": wamid }))
                    .await?;
                // The store learns it now, not at the next handover webhook.
                if let (Some(conversation), Some((control, _))) = (takes_over, &self.control) {
                    control.record_taken(&conversation, Utc::now()).await?;
                }
                Ok(SendOnce::Sent(wamid))
            }
            Err(error) => {
                if error.may_resend() || error.class() == ErrorClass::Permanent {
                    self.ledger.release(key).await?;
                }
                Err(error)
            }
        }
    }
}

#[async_trait]
impl Sink for MessageSink {
    type Item = Outbound;
    type Receipt = SendOnce;
    type Error = Error;

    /// Sends `item` unless it was already sent under `key`.
    ///
    /// # Errors
    /// The send error when Meta refused the message (the key is released, so a retry may send
    /// it) or when the outcome is unknown (the key stays in doubt: the next write answers
    /// [`SendOnce::InDoubt`] until a status webhook settles it); [`Error::State`] when the ledger
    /// or store fails.
    async fn write(&self, item: &Outbound, key: &IdempotencyKey) -> Result<SendOnce, Error> {
        let _one_at_a_time = self.locks.lock(key.as_str()).await;
        let receipt = self.write_locked(item, key).await?;
        self.record(item, key, &receipt).await?;
        Ok(receipt)
    }
}

impl MessageSink {
    /// [`Sink::write`] under the key's lock: the ledger protocol of the module docs.
    async fn write_locked(&self, item: &Outbound, key: &IdempotencyKey) -> Result<SendOnce, Error> {
        match self.ledger.begin(key).await? {
            LedgerEntry::Completed(receipt) => Ok(SendOnce::Sent(
                receipt
                    .get("wamid")
                    .and_then(|w| w.as_str())
                    .unwrap_or_default()
                    .to_owned(),
            )),
            LedgerEntry::InDoubt => {
                if let Some(wamid) = self.kv.get(KV_CALLBACK, key.as_str()).await? {
                    let wamid = String::from_utf8_lossy(&wamid).into_owned();
                    self.ledger
                        .complete(
                            key,
                            &serde_json::json!({ "wamid": wamid, "settled_by": "status webhook" }),
                        )
                        .await?;
                    return Ok(SendOnce::Sent(wamid));
                }
                if !self.quiet_long_enough(key).await? {
                    return Ok(SendOnce::InDoubt);
                }
                tracing::warn!(
                    "a WhatsApp send in doubt had no status webhook within the resend period; \
                     sending it again"
                );
                self.ledger.release(key).await?;
                self.kv.delete(KV_IN_DOUBT_SINCE, key.as_str()).await?;
                match self.ledger.begin(key).await? {
                    LedgerEntry::Completed(_) | LedgerEntry::InDoubt => Ok(SendOnce::InDoubt),
                    _ => self.attempt(item, key).await,
                }
            }
            // `Started` and any state a newer ledger may add: go ahead.
            _ => self.attempt(item, key).await,
        }
    }
}

/// Records what a status webhook says about a send of a [`MessageSink`]: when the status carries
/// `biz_opaque_callback_data` (the sink's idempotency key), its wamid is stored under the key, so
/// a send in doubt is settled as sent on its next write. Returns whether a key was recorded.
///
/// # Errors
/// [`StateError`] when the store fails.
pub async fn settle_from_status(kv: &dyn KvStore, status: &Status) -> Result<bool, StateError> {
    let Some(key) = status
        .biz_opaque_callback_data
        .as_deref()
        .filter(|d| !d.is_empty())
    else {
        return Ok(false);
    };
    kv.put_if_absent(KV_CALLBACK, key, status.id.as_bytes())
        .await?;
    Ok(true)
}
