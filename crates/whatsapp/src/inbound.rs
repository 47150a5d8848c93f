//! Inbound messages, and the conversation state that lets a business answer them in context.
//!
//! A service that handles WhatsApp messages with more than one piece of logic (case intake,
//! document capture, answers to its own notifications) needs three things around each message,
//! whatever decides which logic handles it:
//!
//! - [`Inbound`]: the message with its business phone number id and its [`Sender`] — a phone
//!   number (`wa_id`) or, for a user who hides it, a business-scoped user id (`from_user_id`),
//!   with the [`Recipient`] to answer;
//! - **sessions** ([`Session`]): a handler in the middle of a conversation with one sender (it
//!   asked a question and waits for the answer) owns that sender's next messages until the
//!   session ends or expires;
//! - **reply contexts** ([`ReplyContext`]): a message a handler sent, whose answers (a quote, an
//!   interactive button or list reply: `context.id`) belong to that handler, with the data it
//!   needs to act on them.
//!
//! [`Conversations`] keeps sessions and reply contexts in a durable [`KvStore`] (chatport's
//! SQLite and PostgreSQL stores implement it; so can yours), so they survive restarts and are
//! shared by replicas. Keys: [`KV_SESSION`] `{phone_number_id}:{sender}` → [`Session`] JSON,
//! [`KV_CONTEXT`] sent wamid → [`ReplyContext`] JSON. Handlers are named by strings of your
//! choosing (chatport's bridge uses its flow names, `"O2"`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use chatport_testkit::webhook::{Delivery, MessageSpec};
//! use chatport_whatsapp::inbound::{Conversations, Inbound};
//! use chatport_whatsapp::webhook::Notification;
//!
//! let body = serde_json::to_vec(&Delivery::new("102290129340398")
//!     .message("106540352242922", "15550783881",
//!         MessageSpec::text("16505551234", "wamid.IN1", 1_751_247_548, "Invoice INV-7"))
//!     .build())?;
//! let event = Notification::parse(&body)?.events().remove(0);
//! let inbound = Inbound::from_event(event)?.expect("a message");
//! assert_eq!(inbound.text(), Some("Invoice INV-7"));
//!
//! let conversations = Conversations::new(Arc::new(chatport_runtime::SqliteStore::open_in_memory()?));
//! conversations
//!     .start(&inbound.phone_number_id, &inbound.sender, "capture",
//!            serde_json::json!({ "asked": "amount" }), Duration::from_secs(900))
//!     .await?;
//! let session = conversations.session(&inbound.phone_number_id, &inbound.sender).await?;
//! assert_eq!(session.map(|s| s.handler), Some("capture".to_owned()));
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use chatport_core::{KvStore, StateError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::Recipient;
use crate::conversation::ConversationStore;
use crate::webhook::notification::parse_error;
use crate::webhook::{Event, EventKind, Message};

/// [`KvStore`] namespace of active sessions: `{phone_number_id}:{sender}` → [`Session`] JSON.
pub const KV_SESSION: &str = "wa.session";
/// [`KvStore`] namespace of reply contexts: sent wamid → [`ReplyContext`] JSON.
pub const KV_CONTEXT: &str = "wa.context";
/// [`KvStore`] namespace of earlier identifiers: `{phone_number_id}:{new}` → the phone number or
/// business-scoped user id the customer had before ([`Conversations::follow`]).
pub const KV_PREVIOUS: &str = "wa.previous";

/// Who sent a message: a phone number (`wa_id`) or, for users who hide it, a business-scoped
/// user id (Meta: business-scoped-user-ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sender {
    /// The sender's WhatsApp id (a phone number in digits, `messages[].from`).
    Phone(String),
    /// The sender's business-scoped user id (`US.1349…`, `messages[].from_user_id`).
    UserId(String),
}

impl Sender {
    /// The id as a string (for keys; a phone number is personal data: never log it unredacted).
    pub fn as_str(&self) -> &str {
        match self {
            Sender::Phone(s) | Sender::UserId(s) => s,
        }
    }

    /// The phone number, when the sender shared one.
    pub fn phone(&self) -> Option<&str> {
        match self {
            Sender::Phone(s) => Some(s),
            Sender::UserId(_) => None,
        }
    }

    /// The recipient to answer: `to` for a phone number, `recipient` for a user id.
    pub fn recipient(&self) -> Recipient {
        match self {
            Sender::Phone(s) => Recipient::phone(s.clone()),
            Sender::UserId(s) => Recipient::user_id(s.clone()),
        }
    }
}

/// An inbound message with what every handler needs around it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inbound {
    /// The webhook event (metadata, contacts, the message).
    pub event: Event,
    /// The message.
    pub message: Message,
    /// The business phone number id that received it (and answers from).
    pub phone_number_id: String,
    /// Who sent it.
    pub sender: Sender,
}

impl Inbound {
    /// The inbound view of a webhook event; `Ok(None)` when the event is not a message (a
    /// status, an error, a standby item, ...).
    ///
    /// # Errors
    /// [`Error::Invalid`] when a message lacks `metadata.phone_number_id`, or a sender (neither
    /// `from` nor `from_user_id`).
    pub fn from_event(event: Event) -> Result<Option<Self>, Error> {
        let EventKind::Message(message) = &event.kind else {
            return Ok(None);
        };
        let message = (**message).clone();
        let phone_number_id = event
            .phone_number_id()
            .filter(|id| !id.is_empty())
            .ok_or(Error::Invalid {
                field: "metadata.phone_number_id",
                reason: "missing from a message event",
            })?
            .to_owned();
        let sender = match (&message.from, &message.from_user_id) {
            (Some(from), _) if !from.is_empty() => Sender::Phone(from.clone()),
            (_, Some(user)) if !user.is_empty() => Sender::UserId(user.clone()),
            _ => {
                return Err(Error::Invalid {
                    field: "messages[].from",
                    reason: "a message without a sender (no from, no from_user_id)",
                });
            }
        };
        Ok(Some(Self {
            event,
            message,
            phone_number_id,
            sender,
        }))
    }

    /// The inbound view of one event stored as JSON (a [`webhook::Event`](Event) as serialised,
    /// e.g. the payload of an outbox row); `Ok(None)` when it is not a message.
    ///
    /// # Errors
    /// [`Error::Parse`] when the bytes are not an event; as [`Inbound::from_event`].
    pub fn from_json(bytes: &[u8]) -> Result<Option<Self>, Error> {
        Self::from_event(serde_json::from_slice(bytes).map_err(parse_error)?)
    }

    /// The message's text: body, media caption, or interactive reply title.
    pub fn text(&self) -> Option<&str> {
        self.message.text_body()
    }

    /// The id of the message this one quotes or answers (`context.id`), if any.
    pub fn context_id(&self) -> Option<&str> {
        self.message.context.as_ref().and_then(|c| c.id.as_deref())
    }

    /// The sender's profile name from the webhook's contacts.
    pub fn profile_name(&self) -> Option<&str> {
        self.event.sender_name()
    }
}

/// A handler's active conversation with one sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The handler that owns the conversation (stored as `flow`, the bridge's word for it).
    #[serde(rename = "flow")]
    pub handler: String,
    /// The handler's own state (what it asked, what it has collected).
    pub state: Value,
    /// When the session ends by itself.
    pub expires_at: DateTime<Utc>,
}

/// A message a handler sent and wants the answers to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReplyContext {
    /// The handler that sent it (stored as `flow`).
    #[serde(rename = "flow")]
    pub handler: String,
    /// The handler's own data (which record the message was about, ...).
    pub data: Value,
}

/// Durable conversation state over a [`KvStore`]: sessions and reply contexts (see the module
/// docs). Cheap to clone.
#[derive(Clone)]
pub struct Conversations {
    kv: Arc<dyn KvStore>,
}

impl std::fmt::Debug for Conversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversations").finish_non_exhaustive()
    }
}

fn session_key(phone_number_id: &str, sender: &Sender) -> String {
    format!("{phone_number_id}:{}", sender.as_str())
}

fn encode(value: &impl Serialize, what: &str) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|_| {
        Error::State(StateError::permanent(format!(
            "{what} could not be encoded"
        )))
    })
}

impl Conversations {
    /// Conversation state kept in `kv`.
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Self { kv }
    }

    /// The key-value store the state lives in.
    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.kv
    }

    /// The sender's active session, if one exists and has not expired.
    ///
    /// # Errors
    /// [`Error::State`] when the store fails; a stored session that no longer decodes is treated
    /// as absent.
    pub async fn session(
        &self,
        phone_number_id: &str,
        sender: &Sender,
    ) -> Result<Option<Session>, Error> {
        let Some(bytes) = self
            .kv
            .get(KV_SESSION, &session_key(phone_number_id, sender))
            .await?
        else {
            return Ok(None);
        };
        Ok(serde_json::from_slice::<Session>(&bytes)
            .ok()
            .filter(|s| s.expires_at > Utc::now()))
    }

    /// Starts (or replaces) the sender's session with `handler`, lasting `ttl` (a `ttl` beyond
    /// what a date can hold counts as 24 hours).
    ///
    /// # Errors
    /// [`Error::State`] when the store fails.
    pub async fn start(
        &self,
        phone_number_id: &str,
        sender: &Sender,
        handler: &str,
        state: Value,
        ttl: Duration,
    ) -> Result<(), Error> {
        let expires_at =
            Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(24));
        let session = Session {
            handler: handler.to_owned(),
            state,
            expires_at,
        };
        self.kv
            .put(
                KV_SESSION,
                &session_key(phone_number_id, sender),
                &encode(&session, "a session")?,
            )
            .await?;
        Ok(())
    }

    /// Ends the sender's session (nothing happens when there is none).
    ///
    /// # Errors
    /// [`Error::State`] when the store fails.
    pub async fn end(&self, phone_number_id: &str, sender: &Sender) -> Result<(), Error> {
        self.kv
            .delete(KV_SESSION, &session_key(phone_number_id, sender))
            .await?;
        Ok(())
    }

    /// Records that answers to the message `wamid` belong to `handler`, with the handler's `data`.
    ///
    /// # Errors
    /// [`Error::State`] when the store fails.
    pub async fn remember_context(
        &self,
        wamid: &str,
        handler: &str,
        data: Value,
    ) -> Result<(), Error> {
        let context = ReplyContext {
            handler: handler.to_owned(),
            data,
        };
        self.kv
            .put(KV_CONTEXT, wamid, &encode(&context, "a reply context")?)
            .await?;
        Ok(())
    }

    /// The handler and data recorded for answers to `wamid`.
    ///
    /// # Errors
    /// [`Error::State`] when the store fails; an undecodable record is treated as absent.
    pub async fn context(&self, wamid: &str) -> Result<Option<ReplyContext>, Error> {
        let Some(bytes) = self.kv.get(KV_CONTEXT, wamid).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// Follows a customer whose number or business-scoped user id changed (a `system` message
    /// with an [`IdentityChange`](crate::webhook::IdentityChange)): moves the session of each old
    /// identifier to the new one, remembers the old identifier ([`Conversations::previous`]), and
    /// moves the conversation log and its 24-hour window ([`ConversationStore::follow`]). Returns
    /// the identifier moves (old, new) that were followed; none for any other event.
    ///
    /// # Errors
    /// [`Error::State`] when the store fails.
    pub async fn follow(&self, event: &Event) -> Result<Vec<(String, String)>, Error> {
        let (Some(message), Some(phone_number_id)) = (event.message(), event.phone_number_id())
        else {
            return Ok(Vec::new());
        };
        let Some(change) = message.identity_change() else {
            return Ok(Vec::new());
        };
        let mut moves = Vec::new();
        for (old, new) in change.moves() {
            let from = format!("{phone_number_id}:{old}");
            if let Some(session) = self.kv.get(KV_SESSION, &from).await? {
                let to = format!("{phone_number_id}:{new}");
                self.kv.put(KV_SESSION, &to, &session).await?;
                self.kv.delete(KV_SESSION, &from).await?;
            }
            self.kv
                .put(
                    KV_PREVIOUS,
                    &format!("{phone_number_id}:{new}"),
                    old.as_bytes(),
                )
                .await?;
            moves.push((old.to_owned(), new.to_owned()));
        }
        self.log().follow(event).await?;
        Ok(moves)
    }

    /// The identifier (phone number or business-scoped user id) a customer had on
    /// `phone_number_id` before changing to `id`, when [`Conversations::follow`] saw the change.
    ///
    /// # Errors
    /// [`Error::State`] when the store fails.
    pub async fn previous(&self, phone_number_id: &str, id: &str) -> Result<Option<String>, Error> {
        Ok(self
            .kv
            .get(KV_PREVIOUS, &format!("{phone_number_id}:{id}"))
            .await?
            .and_then(|b| String::from_utf8(b).ok()))
    }

    /// The conversation log over the same store (every message of every conversation; see
    /// [`crate::conversation`]).
    pub fn log(&self) -> ConversationStore {
        ConversationStore::new(self.kv.clone())
    }
}

#[cfg(test)]
mod tests {
    use chatport_runtime::SqliteStore;
    use chatport_testkit::webhook::{Delivery, MessageSpec, StatusSpec};
    use serde_json::json;

    use super::*;
    use crate::webhook::Notification;

    fn events(body: &serde_json::Value) -> Vec<Event> {
        let bytes = serde_json::to_vec(body).unwrap();
        Notification::parse(&bytes).unwrap().events()
    }

    fn conversations() -> Conversations {
        Conversations::new(Arc::new(SqliteStore::open_in_memory().unwrap()))
    }

    #[test]
    fn a_message_gives_its_sender_and_number_and_other_events_give_none() {
        let body = Delivery::new("1")
            .message(
                "106540352242922",
                "15550783881",
                MessageSpec::text("16505551234", "wamid.1", 1_751_247_548, "hello")
                    .context("wamid.0"),
            )
            .status(
                "106540352242922",
                "15550783881",
                StatusSpec::new("wamid.9", "delivered", "16505551234", 1_751_247_549),
            )
            .build();
        let mut events = events(&body).into_iter();
        let message = Inbound::from_event(events.next().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(message.phone_number_id, "106540352242922");
        assert_eq!(message.sender, Sender::Phone("16505551234".into()));
        assert_eq!(message.sender.recipient(), Recipient::phone("16505551234"));
        assert_eq!(message.text(), Some("hello"));
        assert_eq!(message.context_id(), Some("wamid.0"));
        assert!(
            Inbound::from_event(events.next().unwrap())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_stored_json_of_an_event_reads_back_and_garbage_is_a_parse_error() {
        let body = Delivery::new("1")
            .message(
                "106540352242922",
                "15550783881",
                MessageSpec::text("16505551234", "wamid.2", 1_751_247_548, "hi"),
            )
            .build();
        let event = events(&body).remove(0);
        let stored = serde_json::to_vec(&event).unwrap();
        let inbound = Inbound::from_json(&stored).unwrap().unwrap();
        assert_eq!(inbound.message.id, "wamid.2");
        assert!(matches!(
            Inbound::from_json(b"{\"not\": \"an event\"").unwrap_err(),
            Error::Parse { .. }
        ));
    }

    #[test]
    fn a_user_id_sender_is_answered_by_recipient_and_a_senderless_message_is_refused() {
        let mut event = events(
            &Delivery::new("1")
                .message(
                    "106540352242922",
                    "15550783881",
                    MessageSpec::text("16505551234", "wamid.3", 1_751_247_548, "hi"),
                )
                .build(),
        )
        .remove(0);
        let EventKind::Message(message) = &mut event.kind else {
            panic!("a message");
        };
        message.from = None;
        message.from_user_id = Some("US.13491208655302741918".into());
        let inbound = Inbound::from_event(event.clone()).unwrap().unwrap();
        assert_eq!(inbound.sender.phone(), None);
        assert_eq!(
            inbound.sender.recipient(),
            Recipient::user_id("US.13491208655302741918")
        );
        let EventKind::Message(message) = &mut event.kind else {
            panic!("a message");
        };
        message.from_user_id = None;
        assert!(matches!(
            Inbound::from_event(event).unwrap_err(),
            Error::Invalid {
                field: "messages[].from",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn sessions_last_until_ended_or_expired_and_contexts_name_their_handler() {
        let c = conversations();
        let alice = Sender::Phone("16505551234".into());
        let bob = Sender::UserId("US.1".into());
        c.start(
            "42",
            &alice,
            "capture",
            json!({"step": 1}),
            Duration::from_secs(600),
        )
        .await
        .unwrap();
        c.start("42", &bob, "capture", json!({}), Duration::ZERO)
            .await
            .unwrap();
        let session = c.session("42", &alice).await.unwrap().unwrap();
        assert_eq!(
            (session.handler.as_str(), &session.state),
            ("capture", &json!({"step": 1}))
        );
        assert!(c.session("42", &bob).await.unwrap().is_none(), "expired");
        assert!(
            c.session("43", &alice).await.unwrap().is_none(),
            "another number"
        );
        c.end("42", &alice).await.unwrap();
        assert!(c.session("42", &alice).await.unwrap().is_none());

        c.remember_context("wamid.sent", "notify", json!({"record": "r1"}))
            .await
            .unwrap();
        let context = c.context("wamid.sent").await.unwrap().unwrap();
        assert_eq!(context.handler, "notify");
        assert_eq!(context.data, json!({"record": "r1"}));
        assert!(c.context("wamid.other").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_number_change_moves_the_session_and_remembers_the_old_number() {
        use chatport_testkit::graph::shapes::{self, Business};
        let c = conversations();
        let old = Sender::Phone("16505551234".into());
        c.start(
            "106540352242922",
            &old,
            "C1",
            json!({"case": 1}),
            Duration::from_secs(600),
        )
        .await
        .unwrap();
        let business = Business::new("1", "106540352242922", "15550783881");
        let body = shapes::user_changed_number(
            &business,
            "16505551234",
            "16505559999",
            None,
            "wamid.sys",
            1_751_247_600,
        );
        let event = events(&body).remove(0);
        let moves = c.follow(&event).await.unwrap();
        assert_eq!(
            moves,
            [("16505551234".to_owned(), "16505559999".to_owned())]
        );
        let new = Sender::Phone("16505559999".into());
        let session = c.session("106540352242922", &new).await.unwrap().unwrap();
        assert_eq!(session.handler, "C1");
        assert!(c.session("106540352242922", &old).await.unwrap().is_none());
        assert_eq!(
            c.previous("106540352242922", "16505559999")
                .await
                .unwrap()
                .as_deref(),
            Some("16505551234")
        );
        // Any other event follows nothing.
        let text = Delivery::new("1")
            .message(
                "106540352242922",
                "15550783881",
                MessageSpec::text("16505559999", "wamid.t", 1_751_247_700, "hi"),
            )
            .build();
        assert!(c.follow(&events(&text).remove(0)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn state_written_by_earlier_releases_still_reads() {
        // The stored shape names the handler `flow`, as the bridge wrote it before the move.
        let c = conversations();
        c.store()
            .put(
                KV_CONTEXT,
                "wamid.old",
                br#"{"flow":"O7","data":{"id":"x"}}"#,
            )
            .await
            .unwrap();
        assert_eq!(c.context("wamid.old").await.unwrap().unwrap().handler, "O7");
    }
}
