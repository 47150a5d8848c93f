//! The conversation log: every inbound and outbound message of a WhatsApp conversation, kept in a
//! durable [`KvStore`] so that a handoff to an agent carries the whole thread and survives
//! restarts; it also judges the 24-hour customer service window from durable state
//! ([`WindowStore`]).
//!
//! Record each inbound message as a worker takes it ([`LoggedMessage::from_message`],
//! [`ConversationStore::record`]) and each sent one with the wamid Meta returned
//! ([`ConversationStore::record_outbound`]). chatport's service does both without any flow having
//! to remember: its dispatcher records every inbound message before routing it, and its once-only
//! sender records every message a flow sends.
//!
//! A conversation is one business phone number and one user ([`ConversationKey`]). Messages are
//! kept under `conversation.message` with the key `{phone_number_id}:{user}/{unix ms:013}/{id}`,
//! so a prefix listing returns them in time order; recording the same message twice (a retried
//! event, a replay) is a no-op. The store also keeps the time of the last inbound message per
//! conversation and implements [`WindowStore`], so the 24-hour window of
//! [`WindowTracker`](crate::WindowTracker) is judged from durable state shared by every worker.
//!
//! A customer whose phone number or business-scoped user id changes (a `user_changed_number` or
//! `user_changed_user_id` system message, Meta: webhooks/reference/messages/system) keeps their
//! conversation: [`ConversationStore::follow`] (or [`ConversationStore::rekey`]) moves the
//! messages and the last inbound time to the new identifier and leaves an alias, so a late
//! webhook still carrying the old identifier lands in the same conversation.
//!
//! Message text is personal data: it is stored here as it is in the outbox, and never logged.
//! Errors are the store's [`StateError`]s.

use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{KvStore, StateError};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::webhook::{Event, Message};
use crate::{OutgoingMessage, WindowKey, WindowStore};

/// KV namespace of messages: `{conversation}/{unix ms:013}/{message id}` → [`LoggedMessage`] JSON.
pub const KV_MESSAGES: &str = "conversation.message";
/// KV namespace marking recorded messages: `{conversation}/{message id}` → the message's key.
pub const KV_SEEN: &str = "conversation.seen";
/// KV namespace of the last inbound time: `{conversation}` → RFC 3339 time.
pub const KV_LAST_INBOUND: &str = "conversation.last_inbound";
/// KV namespace of identity aliases: `{phone_number_id}:{old user}` → the new user, written by
/// [`ConversationStore::rekey`] when a customer's number or business-scoped user id changed.
pub const KV_ALIAS: &str = "conversation.alias";

/// How many alias hops [`ConversationStore::resolve`] follows (a customer changing number and
/// BSUID several times); a longer (or cyclic) chain stops there.
const MAX_ALIAS_HOPS: usize = 8;

/// One conversation: a business phone number id and a user (a phone number / `wa_id`, or a
/// business-scoped user id). Phone-like users are normalised to digits, as
/// [`WindowKey::new`] does, so `+49 151 …` and `49151…` are one conversation.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConversationKey {
    /// `metadata.phone_number_id` of the business number.
    pub phone_number_id: String,
    /// The user's digits or BSUID.
    pub user: String,
}

impl std::fmt::Debug for ConversationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationKey")
            .field("phone_number_id", &self.phone_number_id)
            .field("user", &chatport_core::redact::phone(&self.user))
            .finish()
    }
}

impl ConversationKey {
    /// The conversation of `user` with `phone_number_id` (the user normalised like [`WindowKey`]).
    pub fn new(phone_number_id: impl Into<String>, user: &str) -> Self {
        let w = WindowKey::new(phone_number_id, user);
        Self {
            phone_number_id: w.phone_number_id,
            user: w.user,
        }
    }

    /// `{phone_number_id}:{user}`: the key in every `conversation.*` namespace. Contains the
    /// phone number: never log it.
    pub fn as_key(&self) -> String {
        format!("{}:{}", self.phone_number_id, self.user)
    }

    /// Parses [`ConversationKey::as_key`] back (`None` without a `:`).
    pub fn from_key(key: &str) -> Option<Self> {
        let (pnid, user) = key.split_once(':')?;
        Some(Self {
            phone_number_id: pnid.to_owned(),
            user: user.to_owned(),
        })
    }

    /// The user's phone digits, when the user is a phone number (not a BSUID).
    pub fn phone(&self) -> Option<&str> {
        (!self.user.is_empty() && self.user.chars().all(|c| c.is_ascii_digit()))
            .then_some(self.user.as_str())
    }
}

/// Whether a message came from the customer or was sent by chatport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// Sent by chatport (a flow's answer, an agent's reply, a template).
    Outbound,
}

impl Direction {
    /// `inbound` or `outbound`, as serialised.
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// A media attachment of a message, as a reference (the bytes stay at WhatsApp).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaRef {
    /// WhatsApp media id (for `GET /{media-id}`; valid about 30 days at Meta).
    pub id: Option<String>,
    /// MIME type, e.g. `image/jpeg`.
    pub mime_type: Option<String>,
    /// SHA-256 as WhatsApp announced it (base64 in webhooks).
    pub sha256: Option<String>,
    /// File name (documents).
    pub filename: Option<String>,
    /// Whether an audio message is a voice note.
    #[serde(default)]
    pub voice: bool,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoggedMessage {
    /// The wamid (inbound: the message id; outbound: the id Meta returned, else the idempotency key).
    pub id: String,
    /// Who wrote it.
    pub direction: Direction,
    /// When: the webhook `timestamp` for inbound messages, the send time for outbound ones (UTC).
    pub at: DateTime<Utc>,
    /// The WhatsApp message type (`text`, `image`, `document`, `audio`, `template`, ...).
    pub kind: String,
    /// Text: body, caption or interactive reply title.
    pub text: Option<String>,
    /// Media reference, for image, video, audio, document and sticker messages.
    pub media: Option<MediaRef>,
    /// The template name of an outbound template.
    pub template: Option<String>,
    /// The customer's profile name (inbound).
    pub author: Option<String>,
}

impl LoggedMessage {
    /// A message (direction, id, time, type); the rest unset.
    pub fn new(
        direction: Direction,
        id: impl Into<String>,
        at: DateTime<Utc>,
        kind: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            direction,
            at,
            kind: kind.into(),
            text: None,
            media: None,
            template: None,
            author: None,
        }
    }

    /// The logged form of an inbound message; `author` is the sender's profile name
    /// (`contacts[].profile.name` of the webhook), if known.
    pub fn from_message(m: &Message, author: Option<&str>) -> Self {
        let at = m.timestamp().unwrap_or_else(Utc::now);
        let mut logged = Self::new(
            Direction::Inbound,
            m.id.clone(),
            at,
            m.message_type.as_str(),
        );
        logged.text = m.text_body().map(str::to_owned);
        logged.author = author.map(str::to_owned);
        logged.media = m.media().map(|media| MediaRef {
            id: media.id.clone(),
            mime_type: media.mime_type.clone(),
            sha256: media.sha256.clone(),
            filename: media.filename.clone(),
            voice: media.voice.unwrap_or(false),
        });
        logged
    }

    /// The logged form of an outbound message sent now with `wamid`.
    pub fn from_outgoing(message: &OutgoingMessage, wamid: &str) -> Self {
        let mut logged = Self::new(
            Direction::Outbound,
            wamid,
            Utc::now(),
            message.message_type(),
        );
        logged.text = message.text_body().map(str::to_owned);
        logged.template = message.as_template().map(|t| t.name().to_owned());
        logged
    }
}

/// The conversation store over a [`KvStore`]. Cheap to clone.
#[derive(Clone)]
pub struct ConversationStore {
    kv: Arc<dyn KvStore>,
}

impl std::fmt::Debug for ConversationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationStore").finish_non_exhaustive()
    }
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis().max(0)
}

impl ConversationStore {
    /// A store over `kv`.
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Self { kv }
    }

    /// The conversation `conversation` is now known as: itself, or where
    /// [`ConversationStore::rekey`] moved it (aliases followed up to 8 hops).
    ///
    /// # Errors
    /// Store errors.
    pub async fn resolve(
        &self,
        conversation: &ConversationKey,
    ) -> Result<ConversationKey, StateError> {
        let mut current = conversation.clone();
        for _ in 0..MAX_ALIAS_HOPS {
            let Some(next) = self.kv.get(KV_ALIAS, &current.as_key()).await? else {
                break;
            };
            let Ok(user) = String::from_utf8(next) else {
                break;
            };
            let next = ConversationKey::new(&current.phone_number_id, &user);
            if next == current || next == *conversation {
                break;
            }
            current = next;
        }
        Ok(current)
    }

    /// Moves the conversation `from` to the user `to_user` (same business number): every
    /// message (one already recorded under the new identifier is kept once), the last inbound
    /// time (the later one wins) and an alias `from` → `to_user`, so [`ConversationStore::record`],
    /// [`ConversationStore::messages`], [`ConversationStore::last_inbound`] and the 24-hour window
    /// given the old identifier find the new conversation. Idempotent: repeating it (a
    /// redelivered system message, a crash half-way) finishes the move. Returns how many
    /// messages moved.
    ///
    /// # Errors
    /// Store errors (a move interrupted by one is finished by the next call).
    pub async fn rekey(&self, from: &ConversationKey, to_user: &str) -> Result<u64, StateError> {
        let to = self
            .resolve(&ConversationKey::new(&from.phone_number_id, to_user))
            .await?;
        if to == *from || to.user.is_empty() {
            return Ok(0);
        }
        let (old, new) = (from.as_key(), to.as_key());
        // The alias first: from now on new records for the old identifier go to the new one.
        self.kv.put(KV_ALIAS, &old, to.user.as_bytes()).await?;
        let prefix = format!("{old}/");
        let mut moved = 0_u64;
        for (key, bytes) in self.kv.list(KV_MESSAGES, &prefix).await? {
            let rest = &key[prefix.len()..];
            // `{unix ms:013}/{message id}`
            let Some((_, id)) = rest.split_once('/') else {
                continue;
            };
            let new_key = format!("{new}/{rest}");
            if self
                .kv
                .put_if_absent(KV_SEEN, &format!("{new}/{id}"), new_key.as_bytes())
                .await?
            {
                self.kv.put(KV_MESSAGES, &new_key, &bytes).await?;
                moved += 1;
            }
            self.kv.delete(KV_SEEN, &format!("{old}/{id}")).await?;
            self.kv.delete(KV_MESSAGES, &key).await?;
        }
        if let Some(at) = self.read_last_inbound(&old).await? {
            self.advance_last_inbound(&new, at).await?;
            self.kv.delete(KV_LAST_INBOUND, &old).await?;
        }
        Ok(moved)
    }

    /// Follows a customer whose number or business-scoped user id changed: for a `system`
    /// message with an [`IdentityChange`](crate::webhook::IdentityChange), moves the
    /// conversation of each old identifier to the new one ([`ConversationStore::rekey`]).
    /// Returns how many messages moved (0 for any other event).
    ///
    /// # Errors
    /// Store errors.
    pub async fn follow(&self, event: &Event) -> Result<u64, StateError> {
        let (Some(m), Some(phone_number_id)) = (event.message(), event.phone_number_id()) else {
            return Ok(0);
        };
        let Some(change) = m.identity_change() else {
            return Ok(0);
        };
        let mut moved = 0;
        for (old, new) in change.moves() {
            moved += self
                .rekey(&ConversationKey::new(phone_number_id, old), new)
                .await?;
        }
        Ok(moved)
    }

    async fn read_last_inbound(&self, conv: &str) -> Result<Option<DateTime<Utc>>, StateError> {
        Ok(self
            .kv
            .get(KV_LAST_INBOUND, conv)
            .await?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
    }

    /// Records `message` in `conversation` (or where it moved, [`ConversationStore::resolve`])
    /// unless a message with its id is already there. Returns whether it was new. An inbound
    /// message also advances the last inbound time.
    ///
    /// # Errors
    /// Store errors.
    pub async fn record(
        &self,
        conversation: &ConversationKey,
        message: &LoggedMessage,
    ) -> Result<bool, StateError> {
        let conversation = self.resolve(conversation).await?;
        let conv = conversation.as_key();
        let seen = format!("{conv}/{}", message.id);
        if message.direction == Direction::Inbound {
            self.advance_last_inbound(&conv, message.at).await?;
        }
        if self.kv.get(KV_SEEN, &seen).await?.is_some() {
            return Ok(false);
        }
        let key = format!("{conv}/{:013}/{}", millis(message.at), message.id);
        let bytes = serde_json::to_vec(message).map_err(|e| {
            StateError::permanent(format!("a conversation message does not serialise: {e}"))
        })?;
        self.kv.put(KV_MESSAGES, &key, &bytes).await?;
        self.kv.put(KV_SEEN, &seen, key.as_bytes()).await?;
        Ok(true)
    }

    /// Records a message sent from `phone_number_id` with `wamid` (idempotent by wamid).
    ///
    /// # Errors
    /// Store errors.
    pub async fn record_outbound(
        &self,
        phone_number_id: &str,
        message: &OutgoingMessage,
        wamid: &str,
    ) -> Result<bool, StateError> {
        let conversation = ConversationKey::new(phone_number_id, message.recipient().as_str());
        self.record(&conversation, &LoggedMessage::from_outgoing(message, wamid))
            .await
    }

    /// Every message of `conversation` (or where it moved), oldest first.
    ///
    /// # Errors
    /// Store errors; a stored message that no longer decodes is skipped.
    pub async fn messages(
        &self,
        conversation: &ConversationKey,
    ) -> Result<Vec<LoggedMessage>, StateError> {
        let conversation = self.resolve(conversation).await?;
        let prefix = format!("{}/", conversation.as_key());
        Ok(self
            .kv
            .list(KV_MESSAGES, &prefix)
            .await?
            .into_iter()
            .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
            .collect())
    }

    /// When the customer last wrote in `conversation` (or where it moved).
    ///
    /// # Errors
    /// Store errors.
    pub async fn last_inbound(
        &self,
        conversation: &ConversationKey,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        let conversation = self.resolve(conversation).await?;
        self.read_last_inbound(&conversation.as_key()).await
    }

    /// Every conversation of `user` (any business number), most recent inbound first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn conversations_of(&self, user: &str) -> Result<Vec<ConversationKey>, StateError> {
        let wanted = ConversationKey::new("", user).user;
        let mut found: Vec<(i64, ConversationKey)> = self
            .kv
            .list(KV_LAST_INBOUND, "")
            .await?
            .into_iter()
            .filter_map(|(key, bytes)| {
                let conv = ConversationKey::from_key(&key)?;
                let ms = String::from_utf8(bytes).ok()?.parse::<i64>().ok()?;
                (conv.user == wanted).then_some((ms, conv))
            })
            .collect();
        found.sort_by_key(|b| std::cmp::Reverse(b.0));
        Ok(found.into_iter().map(|(_, c)| c).collect())
    }

    /// Deletes every message recorded before `before`, and forgets conversations whose last
    /// inbound message is older than `before` and that have no message left (retention of
    /// personal data; `[store] retention_days` runs it daily). Returns how many messages were
    /// deleted. A message's "already recorded" marker goes with it, so a replay of an event
    /// older than the retention period records its message again.
    ///
    /// Walks one conversation at a time; other conversation state (open cases, transcripts'
    /// links) lives in other namespaces and is not touched.
    ///
    /// # Errors
    /// Store errors (what was deleted before the error stays deleted; the next run continues).
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StateError> {
        let cutoff = millis(before);
        let mut deleted = 0_u64;
        for (conv, last) in self.kv.list(KV_LAST_INBOUND, "").await? {
            let prefix = format!("{conv}/");
            let mut left = 0_usize;
            for (key, _) in self.kv.list(KV_MESSAGES, &prefix).await? {
                // `{conv}/{unix ms:013}/{message id}`
                let mut parts = key[prefix.len()..].splitn(2, '/');
                let at = parts.next().and_then(|ms| ms.parse::<i64>().ok());
                let id = parts.next();
                match (at, id) {
                    (Some(at), Some(id)) if at < cutoff => {
                        self.kv.delete(KV_MESSAGES, &key).await?;
                        self.kv.delete(KV_SEEN, &format!("{conv}/{id}")).await?;
                        deleted += 1;
                    }
                    _ => left += 1,
                }
            }
            let last = String::from_utf8(last)
                .ok()
                .and_then(|s| s.parse::<i64>().ok());
            if left == 0 && last.is_none_or(|ms| ms < cutoff) {
                self.kv.delete(KV_LAST_INBOUND, &conv).await?;
            }
        }
        // An alias (an old number → the new identifier) is personal data too: it goes when the
        // conversation it points to is gone.
        for (old, user) in self.kv.list(KV_ALIAS, "").await? {
            let Some(from) = ConversationKey::from_key(&old) else {
                continue;
            };
            let to = ConversationKey::new(&from.phone_number_id, &String::from_utf8_lossy(&user));
            let target = to.as_key();
            let alive = self.kv.get(KV_LAST_INBOUND, &target).await?.is_some()
                || !self
                    .kv
                    .list(KV_MESSAGES, &format!("{target}/"))
                    .await?
                    .is_empty();
            if !alive {
                self.kv.delete(KV_ALIAS, &old).await?;
            }
        }
        Ok(deleted)
    }

    async fn advance_last_inbound(&self, conv: &str, at: DateTime<Utc>) -> Result<(), StateError> {
        let at = millis(at);
        let current = self
            .kv
            .get(KV_LAST_INBOUND, conv)
            .await?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<i64>().ok());
        if current.is_none_or(|c| at > c) {
            self.kv
                .put(KV_LAST_INBOUND, conv, at.to_string().as_bytes())
                .await?;
        }
        Ok(())
    }
}

/// The 24-hour window judged from the conversation store's last inbound times (durable, shared by
/// every worker). Store errors read as "no inbound seen" (the window is then treated as closed,
/// the safe side) and are logged without the number.
#[async_trait]
impl WindowStore for ConversationStore {
    async fn last_inbound(&self, key: &WindowKey) -> Option<DateTime<Utc>> {
        let conversation = ConversationKey::new(&key.phone_number_id, &key.user);
        match ConversationStore::last_inbound(self, &conversation).await {
            Ok(at) => at,
            Err(error) => {
                tracing::warn!(%error, "conversation store: cannot read the last inbound time");
                None
            }
        }
    }

    async fn record_inbound(&self, key: WindowKey, at: DateTime<Utc>) {
        let conversation = ConversationKey::new(&key.phone_number_id, &key.user);
        let result = match self.resolve(&conversation).await {
            Ok(conversation) => self.advance_last_inbound(&conversation.as_key(), at).await,
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::warn!(%error, "conversation store: cannot record an inbound time");
        }
    }

    /// Moves the whole conversation ([`ConversationStore::rekey`]), not only the window.
    async fn rekey(&self, from: &WindowKey, to: WindowKey) {
        let conversation = ConversationKey::new(&from.phone_number_id, &from.user);
        if let Err(error) = ConversationStore::rekey(self, &conversation, &to.user).await {
            tracing::warn!(%error, "conversation store: cannot follow an identity change");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Recipient, WindowTracker};
    use chatport_runtime::SqliteStore;

    fn store() -> ConversationStore {
        ConversationStore::new(Arc::new(SqliteStore::open_in_memory().unwrap()))
    }

    #[tokio::test]
    async fn prune_deletes_old_messages_and_forgets_quiet_conversations() {
        let s = store();
        let now = Utc::now();
        let old = now - chrono::Duration::days(40);
        let quiet = ConversationKey::new("42", "+49 151 1111");
        let busy = ConversationKey::new("42", "+49 151 2222");
        s.record(
            &quiet,
            &LoggedMessage::new(Direction::Inbound, "wamid.q1", old, "text"),
        )
        .await
        .unwrap();
        s.record(
            &busy,
            &LoggedMessage::new(Direction::Inbound, "wamid.b1", old, "text"),
        )
        .await
        .unwrap();
        s.record(
            &busy,
            &LoggedMessage::new(Direction::Inbound, "wamid.b2", now, "text"),
        )
        .await
        .unwrap();

        let deleted = s.prune(now - chrono::Duration::days(30)).await.unwrap();
        assert_eq!(deleted, 2);
        assert!(s.messages(&quiet).await.unwrap().is_empty());
        assert_eq!(s.last_inbound(&quiet).await.unwrap(), None);
        let left: Vec<_> = s
            .messages(&busy)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(left, ["wamid.b2"]);
        assert!(s.last_inbound(&busy).await.unwrap().is_some());
        // The marker went with the message: recording it again (a replay) stores it again.
        assert!(
            s.record(
                &busy,
                &LoggedMessage::new(Direction::Inbound, "wamid.b1", old, "text"),
            )
            .await
            .unwrap()
        );
        assert_eq!(s.prune(now - chrono::Duration::days(30)).await.unwrap(), 1);
        assert_eq!(s.prune(now - chrono::Duration::days(30)).await.unwrap(), 0);
    }

    fn system_event(system: serde_json::Value, from: &str) -> Event {
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
            "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "42"},
                "messages": [{"from": from, "id": "wamid.SYS", "timestamp": "1751247548",
                    "type": "system", "system": system}]}}]}]});
        crate::webhook::Notification::parse(body.to_string().as_bytes())
            .unwrap()
            .events()
            .remove(0)
    }

    #[tokio::test]
    async fn a_number_change_moves_the_conversation_and_the_window_and_leaves_an_alias() {
        let s = store();
        let now = Utc::now();
        let old = ConversationKey::new("42", "16505551234");
        s.record(
            &old,
            &LoggedMessage::new(
                Direction::Inbound,
                "wamid.1",
                now - chrono::Duration::minutes(3),
                "text",
            ),
        )
        .await
        .unwrap();
        s.record(
            &old,
            &LoggedMessage::new(
                Direction::Outbound,
                "wamid.2",
                now - chrono::Duration::minutes(2),
                "text",
            ),
        )
        .await
        .unwrap();
        let tracker = WindowTracker::new(Arc::new(s.clone()));
        assert!(tracker.is_open("42", "16505551234").await);
        assert!(!tracker.is_open("42", "16505554321").await);

        let event = system_event(
            serde_json::json!({"body": "User A changed from +1 650 555 1234 to +1 650 555 4321",
                "wa_id": "16505554321", "type": "user_changed_number"}),
            "16505551234",
        );
        // The window tracker fed the event moves it (through the store's rekey) ...
        assert!(
            !tracker.observe(&event).await,
            "a system message is not an inbound"
        );
        let new = ConversationKey::new("42", "16505554321");
        let ids: Vec<String> = s
            .messages(&new)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["wamid.1", "wamid.2"]);
        assert!(tracker.is_open("42", "+1 650 555 4321").await);
        // ... the old identifier resolves to the new conversation ...
        assert_eq!(s.resolve(&old).await.unwrap(), new);
        assert_eq!(s.messages(&old).await.unwrap().len(), 2);
        assert_eq!(
            s.conversations_of("16505551234").await.unwrap(),
            Vec::<ConversationKey>::new()
        );
        assert_eq!(
            s.conversations_of("16505554321").await.unwrap(),
            vec![new.clone()]
        );
        // ... a late message under the old number lands there, and following again moves nothing.
        assert!(
            s.record(
                &old,
                &LoggedMessage::new(Direction::Inbound, "wamid.3", now, "text")
            )
            .await
            .unwrap()
        );
        assert_eq!(s.messages(&new).await.unwrap().len(), 3);
        assert_eq!(s.follow(&event).await.unwrap(), 0);
        assert!(
            !s.record(
                &new,
                &LoggedMessage::new(Direction::Inbound, "wamid.1", now, "text")
            )
            .await
            .unwrap()
        );
    }

    #[tokio::test]
    async fn a_user_id_change_is_followed_and_unrelated_events_are_not() {
        let s = store();
        let now = Utc::now();
        let old = ConversationKey::new("42", "US.111");
        s.record(
            &old,
            &LoggedMessage::new(Direction::Inbound, "wamid.1", now, "text"),
        )
        .await
        .unwrap();
        let event = system_event(
            serde_json::json!({"body": "User changed", "type": "user_changed_user_id",
                "previous_user_id": "US.111", "user_id": "US.222"}),
            "",
        );
        let change = event.message().unwrap().identity_change().unwrap();
        assert_eq!(change.moves(), vec![("US.111", "US.222")]);
        assert!(!format!("{change:?}").contains("US.111"));
        assert_eq!(s.follow(&event).await.unwrap(), 1);
        let new = ConversationKey::new("42", "US.222");
        assert_eq!(s.messages(&new).await.unwrap().len(), 1);
        assert_eq!(
            s.last_inbound(&new)
                .await
                .unwrap()
                .map(|t| t.timestamp_millis()),
            Some(now.timestamp_millis())
        );

        let identity = system_event(
            serde_json::json!({"body": "security code changed", "type": "customer_identity_changed"}),
            "16505551234",
        );
        assert!(identity.message().unwrap().identity_change().is_none());
        assert_eq!(s.follow(&identity).await.unwrap(), 0);
        // Retention: once the new conversation is pruned away, the alias goes too.
        assert_eq!(s.prune(now + chrono::Duration::days(1)).await.unwrap(), 1);
        assert_eq!(s.resolve(&old).await.unwrap(), old);
    }

    #[tokio::test]
    async fn messages_come_back_in_time_order_once() {
        let s = store();
        let conv = ConversationKey::new("42", "+49 151 2345");
        let t0 = Utc::now() - chrono::Duration::minutes(5);
        let mut a = LoggedMessage::new(Direction::Inbound, "wamid.b", t0, "text");
        a.text = Some("second? no, first".into());
        let b = LoggedMessage::new(
            Direction::Outbound,
            "wamid.a",
            t0 + chrono::Duration::seconds(3),
            "text",
        );
        assert!(s.record(&conv, &b).await.unwrap());
        assert!(s.record(&conv, &a).await.unwrap());
        assert!(!s.record(&conv, &a).await.unwrap(), "recorded once");
        let got = s.messages(&conv).await.unwrap();
        assert_eq!(
            got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["wamid.b", "wamid.a"]
        );
        // Another user with a longer number sharing the prefix is another conversation.
        let other = ConversationKey::new("42", "4915123450");
        assert!(s.messages(&other).await.unwrap().is_empty());
        assert_eq!(
            s.last_inbound(&conv)
                .await
                .unwrap()
                .map(|t| t.timestamp_millis()),
            Some(t0.timestamp_millis())
        );
        assert_eq!(s.conversations_of("4915 12345").await.unwrap(), vec![conv]);
    }

    #[tokio::test]
    async fn outbound_messages_are_recorded_with_their_text() {
        let s = store();
        let msg = OutgoingMessage::text(Recipient::phone("4915123"), "hello");
        s.record_outbound("42", &msg, "wamid.out").await.unwrap();
        let got = s
            .messages(&ConversationKey::new("42", "4915123"))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].direction, Direction::Outbound);
        assert_eq!(got[0].text.as_deref(), Some("hello"));
        assert_eq!(got[0].kind, "text");
    }

    #[tokio::test]
    async fn the_window_follows_the_last_inbound_message() {
        let s = store();
        let tracker = WindowTracker::new(Arc::new(s.clone()));
        let conv = ConversationKey::new("42", "4915123");
        assert!(!tracker.is_open("42", "4915123").await, "no inbound yet");
        let old = Utc::now() - chrono::Duration::hours(25);
        s.record(
            &conv,
            &LoggedMessage::new(Direction::Inbound, "w1", old, "text"),
        )
        .await
        .unwrap();
        assert!(
            !tracker.is_open("42", "+49 15123").await,
            "25 h ago: closed"
        );
        s.record(
            &conv,
            &LoggedMessage::new(Direction::Inbound, "w2", Utc::now(), "text"),
        )
        .await
        .unwrap();
        assert!(tracker.is_open("42", "4915123").await, "just now: open");
        // An older message arriving late does not move the time back.
        s.record(
            &conv,
            &LoggedMessage::new(Direction::Inbound, "w0", old, "text"),
        )
        .await
        .unwrap();
        assert!(tracker.is_open("42", "4915123").await);
    }
}
