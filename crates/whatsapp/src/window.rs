//! The 24-hour customer service window: tracked from inbound webhooks per (business phone number
//! id, user), and a send helper that refuses — or replaces with a template — a free-form message
//! outside it.
//!
//! Meta: messages/send-messages: "When a WhatsApp user messages you or calls you, a 24-hour timer
//! called a customer service window starts. If the user messages or calls you again before the
//! timer expires, the timer resets … When the window closes, you can only send pre-approved
//! template messages." Outside it Meta answers **131047**, synchronously or later as a `failed`
//! status; both, and the local refusal [`Error::WindowClosed`], have the kind
//! [`ErrorKind::ReEngagementRequired`](crate::ErrorKind::ReEngagementRequired).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::client::Client;
use crate::error::Error;
use crate::outgoing::{OutgoingMessage, SendResponse};
use crate::template::Template;
use crate::webhook::{Event, EventKind, MessageType};

/// The length of the customer service window: 24 hours.
pub const WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Identifies one window: the business phone number id and the user (a `wa_id` / phone number
/// or a BSUID, as it appears in webhooks and in [`Recipient::as_str`](crate::Recipient::as_str)).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowKey {
    /// `metadata.phone_number_id` of the business number.
    pub phone_number_id: String,
    /// The user's `wa_id` (digits only; a leading `+`, spaces, dashes and parentheses are
    /// removed when the key is made) or BSUID.
    pub user: String,
}

impl fmt::Debug for WindowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowKey")
            .field("phone_number_id", &self.phone_number_id)
            .field("user", &chatport_core::redact::phone(&self.user))
            .finish()
    }
}

impl WindowKey {
    /// A key; a phone-like `user` is normalised to its digits so `+49 170 1234567` and
    /// `491701234567` (the `wa_id` of a webhook) are the same user. BSUIDs (containing a `.` or
    /// letters) are kept as they are.
    pub fn new(phone_number_id: impl Into<String>, user: &str) -> Self {
        let trimmed = user.trim();
        let phone_like = trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'));
        let user = if phone_like {
            trimmed.chars().filter(char::is_ascii_digit).collect()
        } else {
            trimmed.to_owned()
        };
        Self {
            phone_number_id: phone_number_id.into(),
            user,
        }
    }
}

/// Where the last inbound time per [`WindowKey`] is kept. The in-memory [`MemoryWindowStore`] is
/// the default; implement it over a database to share windows between replicas or keep them over
/// restarts.
#[async_trait]
pub trait WindowStore: Send + Sync + fmt::Debug {
    /// The latest inbound time recorded for `key`.
    async fn last_inbound(&self, key: &WindowKey) -> Option<DateTime<Utc>>;

    /// Records an inbound at `at`. Must keep the **latest** time: webhooks arrive out of order,
    /// so an older `at` than the stored one changes nothing.
    async fn record_inbound(&self, key: WindowKey, at: DateTime<Utc>);

    /// Carries the window of `from` over to `to` (a customer whose number or business-scoped
    /// user id changed keeps their open window: Meta's window belongs to the person, not to the
    /// identifier **(inferred)**). The default records `from`'s last inbound time for `to`
    /// (keeping `to`'s own if it is later); `from` is left as it was.
    async fn rekey(&self, from: &WindowKey, to: WindowKey) {
        if let Some(at) = self.last_inbound(from).await {
            self.record_inbound(to, at).await;
        }
    }
}

/// A [`WindowStore`] in a `HashMap` behind a mutex (per process, lost on restart).
#[derive(Debug, Default)]
pub struct MemoryWindowStore {
    map: Mutex<HashMap<WindowKey, DateTime<Utc>>>,
}

impl MemoryWindowStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or_default()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl WindowStore for MemoryWindowStore {
    async fn last_inbound(&self, key: &WindowKey) -> Option<DateTime<Utc>> {
        self.map.lock().ok()?.get(key).copied()
    }

    async fn record_inbound(&self, key: WindowKey, at: DateTime<Utc>) {
        if let Ok(mut map) = self.map.lock() {
            let slot = map.entry(key).or_insert(at);
            if at > *slot {
                *slot = at;
            }
        }
    }
}

/// Tracks customer service windows from inbound webhook events.
///
/// Feed it every event ([`WindowTracker::observe`]); ask [`WindowTracker::is_open`] /
/// [`WindowTracker::expires_at`]; send through [`WindowTracker::send`], which refuses free-form
/// messages outside the window or replaces them with a fallback template.
///
/// A `safety_margin` (1 minute by default) closes the window that much early, because the
/// clocks of Meta and this host differ and a send takes time (fabrahaingo/joel PR #314 saw
/// asynchronous 131047s from judging the window against a stale clock).
#[derive(Clone, Debug)]
pub struct WindowTracker {
    store: Arc<dyn WindowStore>,
    window: Duration,
    safety_margin: Duration,
}

impl Default for WindowTracker {
    fn default() -> Self {
        Self::new(Arc::new(MemoryWindowStore::new()))
    }
}

impl WindowTracker {
    /// A tracker over `store` with the 24-hour window and a 1-minute safety margin.
    pub fn new(store: Arc<dyn WindowStore>) -> Self {
        Self {
            store,
            window: WINDOW,
            safety_margin: Duration::from_secs(60),
        }
    }

    /// Changes the safety margin.
    #[must_use]
    pub fn safety_margin(mut self, margin: Duration) -> Self {
        self.safety_margin = margin;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn WindowStore> {
        &self.store
    }

    /// Records an inbound message from `event`, if it is one: a user message of any type except
    /// `system` (number or identity changes are not the user writing), on a change with a
    /// `phone_number_id`. The time is the message's `timestamp` (else the entry time, else now,
    /// never in the future). Both the `from` (wa_id) and the `from_user_id` (BSUID) of the
    /// sender open the window, so either can be used to send. Returns whether it recorded.
    ///
    /// Reactions and `request_welcome` count as the user writing **(inferred**: Meta's text says
    /// "messages or calls"). A `system` message announcing a number or BSUID change records
    /// nothing but carries the window over to the new identifier ([`WindowTracker::follow`]).
    pub async fn observe(&self, event: &Event) -> bool {
        let EventKind::Message(m) = &event.kind else {
            return false;
        };
        if m.message_type == MessageType::System {
            self.follow(event).await;
            return false;
        }
        let Some(phone_number_id) = event.phone_number_id() else {
            return false;
        };
        let now = Utc::now();
        let at = event.occurred_at().unwrap_or(now).min(now);
        let mut recorded = false;
        for user in [m.from.as_deref(), m.from_user_id.as_deref()]
            .into_iter()
            .flatten()
            .filter(|u| !u.trim().is_empty())
        {
            self.store
                .record_inbound(WindowKey::new(phone_number_id, user), at)
                .await;
            recorded = true;
        }
        recorded
    }

    /// Follows a customer whose number or business-scoped user id changed: for a `system`
    /// message with an [`IdentityChange`](crate::webhook::IdentityChange) (`user_changed_number`,
    /// `user_changed_user_id`), carries the window of each old identifier over to the new one
    /// ([`WindowStore::rekey`]). Returns how many identifiers it carried over (0 for any other
    /// event). [`WindowTracker::observe`] calls it, so feeding every event is enough.
    pub async fn follow(&self, event: &Event) -> usize {
        let (Some(m), Some(phone_number_id)) = (event.message(), event.phone_number_id()) else {
            return 0;
        };
        let Some(change) = m.identity_change() else {
            return 0;
        };
        let mut moved = 0;
        for (old, new) in change.moves() {
            self.store
                .rekey(
                    &WindowKey::new(phone_number_id, old),
                    WindowKey::new(phone_number_id, new),
                )
                .await;
            moved += 1;
        }
        moved
    }

    /// Records an inbound from `user` at `at` directly (e.g. a call, or a restored state).
    pub async fn record(&self, phone_number_id: &str, user: &str, at: DateTime<Utc>) {
        self.store
            .record_inbound(WindowKey::new(phone_number_id, user), at)
            .await;
    }

    /// When the user last wrote to this business number, if seen.
    pub async fn last_inbound(&self, phone_number_id: &str, user: &str) -> Option<DateTime<Utc>> {
        self.store
            .last_inbound(&WindowKey::new(phone_number_id, user))
            .await
    }

    /// When the window closes: the last inbound + 24 h − safety margin. `None` when no inbound
    /// was seen.
    pub async fn expires_at(&self, phone_number_id: &str, user: &str) -> Option<DateTime<Utc>> {
        let last = self.last_inbound(phone_number_id, user).await?;
        let open_for = self.window.saturating_sub(self.safety_margin);
        chrono::Duration::from_std(open_for)
            .ok()
            .and_then(|d| last.checked_add_signed(d))
    }

    /// Whether the window is open at `now`.
    pub async fn is_open_at(&self, phone_number_id: &str, user: &str, now: DateTime<Utc>) -> bool {
        self.expires_at(phone_number_id, user)
            .await
            .is_some_and(|end| now < end)
    }

    /// Whether the window is open now.
    pub async fn is_open(&self, phone_number_id: &str, user: &str) -> bool {
        self.is_open_at(phone_number_id, user, Utc::now()).await
    }

    /// Sends `message` if the window allows it:
    ///
    /// - a template is always sent;
    /// - a free-form message is sent when the window with its recipient is open;
    /// - otherwise, with `fallback: Some(template)`, that template is sent instead to the same
    ///   recipient (keeping `biz_opaque_callback_data`, dropping the reply context): a template
    ///   reopens the conversation ([`WindowedSend::fallback_used`] is true);
    /// - otherwise nothing is sent and the result is [`Error::WindowClosed`].
    ///
    /// A free-form message can still fail with 131047 (Meta's "known issue", or a clock skew
    /// larger than the margin): [`Error::kind`] is then the same
    /// [`ErrorKind::ReEngagementRequired`](crate::ErrorKind::ReEngagementRequired).
    ///
    /// # Errors
    /// [`Error::WindowClosed`], or anything [`Client::send`] returns.
    pub async fn send(
        &self,
        client: &Client,
        phone_number_id: &str,
        message: &OutgoingMessage,
        fallback: Option<&Template>,
    ) -> Result<WindowedSend, Error> {
        let user = message.recipient().as_str();
        if message.is_template() || self.is_open(phone_number_id, user).await {
            let response = client.send(phone_number_id, message).await?;
            return Ok(WindowedSend {
                response,
                fallback_used: false,
            });
        }
        match fallback {
            Some(template) => {
                let replacement = message.with_template(template.clone());
                let response = client.send(phone_number_id, &replacement).await?;
                Ok(WindowedSend {
                    response,
                    fallback_used: true,
                })
            }
            None => Err(Error::WindowClosed {
                last_inbound: self.last_inbound(phone_number_id, user).await,
            }),
        }
    }
}

/// The result of [`WindowTracker::send`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WindowedSend {
    /// Meta's answer.
    pub response: SendResponse,
    /// Whether the fallback template was sent instead of the free-form message.
    pub fallback_used: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::Notification;

    fn inbound(from: &str, ts: i64) -> Vec<Event> {
        let body = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"display_phone_number":"1555","phone_number_id":"42"}},"messages":[{{"from":"{from}","from_user_id":"US.1","id":"wamid.{ts}","timestamp":"{ts}","type":"text","text":{{"body":"hi"}}}}]}}}}]}}]}}"#
        );
        Notification::parse(body.as_bytes()).unwrap().events()
    }

    #[tokio::test]
    async fn a_number_change_carries_the_window_over_in_memory() {
        let tracker = WindowTracker::default();
        let now = Utc::now().timestamp();
        for e in inbound("16505551234", now - 60) {
            assert!(tracker.observe(&e).await);
        }
        assert!(!tracker.is_open("42", "16505554321").await);
        let body = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"display_phone_number":"1555","phone_number_id":"42"}},"messages":[{{"from":"16505551234","id":"wamid.sys","timestamp":"{now}","type":"system","system":{{"body":"changed","wa_id":"16505554321","type":"user_changed_number","user_id":"US.2","previous_user_id":"US.1"}}}}]}}}}]}}]}}"#
        );
        let event = Notification::parse(body.as_bytes())
            .unwrap()
            .events()
            .remove(0);
        assert_eq!(tracker.follow(&event).await, 2);
        assert!(
            !tracker.observe(&event).await,
            "a system message opens nothing itself"
        );
        assert!(tracker.is_open("42", "16505554321").await);
        assert!(tracker.is_open("42", "US.2").await);
        // Nothing to follow for an ordinary message.
        assert_eq!(tracker.follow(&inbound("1", now)[0]).await, 0);
    }

    #[tokio::test]
    async fn opens_and_expires() {
        let tracker = WindowTracker::default().safety_margin(Duration::ZERO);
        let now = Utc::now();
        let ts = now.timestamp() - 3600;
        assert!(!tracker.is_open("42", "+49 170 1234567").await);
        for e in inbound("491701234567", ts) {
            assert!(tracker.observe(&e).await);
        }
        assert!(tracker.is_open("42", "+49 170 1234567").await);
        assert!(tracker.is_open("42", "US.1").await, "BSUID opens it too");
        assert!(!tracker.is_open("43", "491701234567").await, "per number");
        let end = tracker.expires_at("42", "491701234567").await.unwrap();
        assert_eq!(end.timestamp(), ts + 24 * 3600);
        assert!(
            !tracker
                .is_open_at("42", "491701234567", end + chrono::Duration::seconds(1))
                .await
        );
        // an older, out-of-order message does not move the window back
        for e in inbound("491701234567", ts - 7200) {
            tracker.observe(&e).await;
        }
        assert_eq!(tracker.expires_at("42", "491701234567").await.unwrap(), end);
    }

    #[tokio::test]
    async fn margin_closes_early() {
        let tracker = WindowTracker::default();
        let at = Utc::now() - chrono::Duration::hours(24) + chrono::Duration::seconds(30);
        tracker.record("42", "1", at).await;
        assert!(!tracker.is_open("42", "1").await, "inside the 60 s margin");
        let tracker = tracker.safety_margin(Duration::ZERO);
        assert!(tracker.is_open("42", "1").await);
    }
}
