//! Who holds a conversation under Conversation Routing (Meta Business Agent, an escalation
//! partner): learnt from `messaging_handovers` and `standby` webhooks and kept in a durable
//! [`KvStore`], so every worker knows when another app holds a conversation and chatport must not
//! answer over it; plus the Thread control API to take, pass or release a conversation.
//!
//! Meta: webhooks/reference/messaging-handovers (`control_passed` is delivered to the new owner,
//! `control_taken` to the previous one; a release produces no notification), webhooks/reference/
//! standby (the passive app receives standby webhooks; sending a service message while observing
//! takes the conversation over), meta-business-agent/reference/operate/thread-control-cloud-api
//! (`POST https://api.facebook.com/business/whatsapp/phone_numbers/{phone_number_id}/thread_control`,
//! permission `whatsapp_business_messaging`, header `X-API-Version: 1.0.0`, body
//! `{"messaging_product":"whatsapp","action":"take"|"pass"|"release","to"|"recipient":…,
//! "metadata"?, "control_pass":{"target_role"}?}`; the body fields beyond `action` and
//! `messaging_product` come from a partner's copy of Meta's schema, **inferred**). The base URL
//! of that API differs from the Graph API's and is configurable
//! ([`ClientBuilder::thread_control_base_url`](crate::ClientBuilder::thread_control_base_url)).
//!
//! State per conversation (`conversation.control`, key `{phone_number_id}:{user}`): who holds it
//! and since when. Updates are monotonic in the event time, so a late redelivery of an older
//! handover does not flip the holder back. A conversation never seen in a handover or standby
//! webhook is held by this app (the default without Conversation Routing).

use std::sync::Arc;

use chatport_core::{KvStore, StateError};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::Client;
use crate::conversation::ConversationKey;
use crate::error::Error;
use crate::outgoing::Recipient;
use crate::webhook::{Event, EventKind, Extra, StandbyItem};

/// KV namespace of conversation control: `{phone_number_id}:{user}` → [`ControlState`] JSON.
pub const KV_CONTROL: &str = "conversation.control";

/// Who holds a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Holder {
    /// This app (chatport) answers the customer.
    ThisApp,
    /// Another app (Meta Business Agent, an escalation partner) answers; chatport listens.
    OtherApp,
}

/// The control state of one conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ControlState {
    /// Who holds it.
    pub holder: Holder,
    /// Since when (the time of the event that said so).
    pub since: DateTime<Utc>,
    /// The new owner's role or app id, when the handover named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Conversation control over a [`KvStore`]. Cheap to clone.
#[derive(Clone)]
pub struct ControlStore {
    kv: Arc<dyn KvStore>,
}

impl std::fmt::Debug for ControlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlStore").finish_non_exhaustive()
    }
}

impl ControlStore {
    /// A store over `kv`.
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Self { kv }
    }

    /// Learns from one webhook event (feed it every event; anything else is ignored):
    ///
    /// - a handover ([`EventKind::Handover`]) sets the holder its type implies
    ///   ([`Handover::this_app_holds`](crate::webhook::Handover::this_app_holds));
    /// - a standby message or echo ([`EventKind::Standby`]) means another app is the active
    ///   handler: [`Holder::OtherApp`];
    /// - a customer message on the `messages` field of a conversation marked
    ///   [`Holder::OtherApp`] means the routing sends it to this app again: [`Holder::ThisApp`]
    ///   (**inferred** from the standby page: messages of a conversation the other app handles
    ///   arrive on `standby` instead of `messages`).
    ///
    /// Only newer information wins (event time, else `now`). Returns the state when it changed.
    ///
    /// # Errors
    /// Store errors.
    pub async fn observe(&self, event: &Event) -> Result<Option<ControlState>, StateError> {
        let Some(phone_number_id) = event.phone_number_id() else {
            return Ok(None);
        };
        let at = event.occurred_at().unwrap_or_else(Utc::now);
        let (customer, holder, owner) = match &event.kind {
            EventKind::Handover(h) => {
                let (Some(customer), Some(ours)) = (h.customer.as_deref(), h.this_app_holds())
                else {
                    return Ok(None);
                };
                let holder = if ours {
                    Holder::ThisApp
                } else {
                    Holder::OtherApp
                };
                (customer.to_owned(), holder, h.new_owner.clone())
            }
            EventKind::Standby(item) => match item.as_ref() {
                StandbyItem::Message(_) | StandbyItem::Echo(_) => {
                    let Some(customer) = item.customer() else {
                        return Ok(None);
                    };
                    (customer.to_owned(), Holder::OtherApp, None)
                }
                StandbyItem::Status(_) => return Ok(None),
            },
            EventKind::Message(m) => {
                let Some(customer) = m.sender() else {
                    return Ok(None);
                };
                let key = ConversationKey::new(phone_number_id, customer);
                // One read per inbound message; a write only when another app held it.
                match self.state(&key).await? {
                    Some(state) if state.holder == Holder::OtherApp => {}
                    _ => return Ok(None),
                }
                (customer.to_owned(), Holder::ThisApp, None)
            }
            _ => return Ok(None),
        };
        let key = ConversationKey::new(phone_number_id, &customer);
        self.set_if_newer(&key, holder, at, owner).await
    }

    /// The recorded state of `conversation` (`None`: never seen in a handover or standby event).
    ///
    /// # Errors
    /// Store errors; a stored state that no longer decodes reads as `None`.
    pub async fn state(
        &self,
        conversation: &ConversationKey,
    ) -> Result<Option<ControlState>, StateError> {
        Ok(self
            .kv
            .get(KV_CONTROL, &conversation.as_key())
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Who holds the conversation of `user` (phone number or BSUID) with `phone_number_id`:
    /// [`Holder::ThisApp`] unless another app was seen holding it.
    ///
    /// # Errors
    /// Store errors.
    pub async fn holder(&self, phone_number_id: &str, user: &str) -> Result<Holder, StateError> {
        Ok(self
            .state(&ConversationKey::new(phone_number_id, user))
            .await?
            .map_or(Holder::ThisApp, |s| s.holder))
    }

    /// Whether another app holds the conversation: chatport should not answer over it (unless
    /// it takes control, [`Client::thread_control`]).
    ///
    /// # Errors
    /// Store errors.
    pub async fn held_elsewhere(
        &self,
        phone_number_id: &str,
        user: &str,
    ) -> Result<bool, StateError> {
        Ok(self.holder(phone_number_id, user).await? == Holder::OtherApp)
    }

    /// Records that this app took the conversation at `at` (after a successful
    /// [`ThreadAction::Take`], or after sending a service message, which takes it implicitly).
    ///
    /// # Errors
    /// Store errors.
    pub async fn record_taken(
        &self,
        conversation: &ConversationKey,
        at: DateTime<Utc>,
    ) -> Result<Option<ControlState>, StateError> {
        self.set_if_newer(conversation, Holder::ThisApp, at, None)
            .await
    }

    /// Records that this app gave the conversation away at `at` (after a successful
    /// [`ThreadAction::Pass`] or [`ThreadAction::Release`]; a release produces no webhook).
    ///
    /// # Errors
    /// Store errors.
    pub async fn record_released(
        &self,
        conversation: &ConversationKey,
        at: DateTime<Utc>,
    ) -> Result<Option<ControlState>, StateError> {
        self.set_if_newer(conversation, Holder::OtherApp, at, None)
            .await
    }

    async fn set_if_newer(
        &self,
        conversation: &ConversationKey,
        holder: Holder,
        at: DateTime<Utc>,
        owner: Option<String>,
    ) -> Result<Option<ControlState>, StateError> {
        let current = self.state(conversation).await?;
        if let Some(current) = &current
            && (current.since > at || (current.holder == holder && current.owner == owner))
        {
            return Ok(None);
        }
        let state = ControlState {
            holder,
            since: at,
            owner,
        };
        let bytes = serde_json::to_vec(&state).map_err(|e| {
            StateError::permanent(format!("a control state does not serialise: {e}"))
        })?;
        self.kv
            .put(KV_CONTROL, &conversation.as_key(), &bytes)
            .await?;
        Ok(Some(state))
    }
}

/// A Thread control action (Meta: meta-business-agent/reference/operate/thread-control-cloud-api).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadAction {
    /// Take the conversation from its current owner (restricted to the configured escalation
    /// partner).
    Take,
    /// Pass it on: to Meta Business Agent with `Some("ai_agent")`, or to the escalation partner
    /// with `None` (`control_pass.target_role`). You must hold it.
    Pass(Option<String>),
    /// Hand it back to Meta Business Agent as the automatic responder. You must hold it.
    Release,
}

impl ThreadAction {
    /// `take`, `pass` or `release`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ThreadAction::Take => "take",
            ThreadAction::Pass(_) => "pass",
            ThreadAction::Release => "release",
        }
    }
}

/// The answer of the Thread control API: `{"messaging_product":"whatsapp", ...}` (request
/// identifiers kept in `extra`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadControlAnswer {
    /// `whatsapp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_product: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The default base URL of the Thread control API (not the Graph API host).
pub const DEFAULT_THREAD_CONTROL_BASE_URL: &str = "https://api.facebook.com/business/whatsapp";

/// The `X-API-Version` the Thread control API is called with.
pub const THREAD_CONTROL_API_VERSION: &str = "1.0.0";

impl Client {
    /// Takes, passes or releases the conversation with `customer` on `phone_number_id`:
    /// `POST {thread_control_base_url}/phone_numbers/{phone_number_id}/thread_control` with the
    /// bearer token, `X-API-Version: 1.0.0` and
    /// `{"messaging_product":"whatsapp","action":…,"to"|"recipient":…,"metadata"?,"control_pass"?}`.
    /// `metadata` is forwarded verbatim to the receiving app in its `messaging_handovers`
    /// webhook. Not retried inside the client.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad `phone_number_id` or an empty customer; otherwise as
    /// [`Client::send`] (a Graph error document → [`Error::Api`]).
    pub async fn thread_control(
        &self,
        phone_number_id: &str,
        customer: &Recipient,
        action: &ThreadAction,
        metadata: Option<&str>,
    ) -> Result<ThreadControlAnswer, Error> {
        crate::client::check_id(phone_number_id, "phone_number_id")?;
        if customer.as_str().trim().is_empty() {
            return Err(Error::Invalid {
                field: customer.field(),
                reason: "must not be empty",
            });
        }
        let mut url = self.inner.thread_control_base_url.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Config("the thread control base URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(["phone_numbers", phone_number_id, "thread_control"]);
        let mut body = serde_json::json!({
            "messaging_product": "whatsapp",
            "action": action.as_str(),
        });
        body[customer.field()] = Value::String(customer.as_str().to_owned());
        if let Some(m) = metadata {
            body["metadata"] = Value::String(m.to_owned());
        }
        if let ThreadAction::Pass(Some(role)) = action {
            body["control_pass"] = serde_json::json!({ "target_role": role });
        }
        let request = self
            .inner
            .http
            .post(url)
            .bearer_auth(self.inner.token.expose_secret())
            .header("X-API-Version", THREAD_CONTROL_API_VERSION)
            .json(&body);
        self.execute("thread_control", request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_as_meta_names_them() {
        assert_eq!(ThreadAction::Take.as_str(), "take");
        assert_eq!(ThreadAction::Pass(None).as_str(), "pass");
        assert_eq!(ThreadAction::Release.as_str(), "release");
    }
}
