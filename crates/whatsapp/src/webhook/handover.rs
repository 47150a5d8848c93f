//! The `standby` and `messaging_handovers` webhook fields: conversation activity while another app
//! (Meta Business Agent, or an escalation partner) holds a conversation, and changes of who holds
//! it (Conversation Routing).
//!
//! Sources:
//! - Meta: webhooks/reference/standby (updated Aug 4, 2026): when Meta Business Agent is enabled
//!   on a number, one sender is the active handler of a conversation and the other a passive
//!   listener; the passive app receives *standby* webhooks (the customer's messages, the active
//!   handler's message echoes, delivery and read receipts) "without being expected to respond".
//!   Sending a service message while observing takes the conversation over.
//! - Meta: webhooks/reference/messaging-handovers (updated Sep 22, 2026): `control_passed` is
//!   delivered to the **new** owner when the current owner calls *pass* on the Thread control API;
//!   `control_taken` is delivered to the **previous** owner when the escalation partner takes the
//!   thread (explicitly, or implicitly by sending a service message). A *release* names no new
//!   owner and produces no notification. Each notification names the role that held the thread
//!   before and the role that holds it now.
//!
//! The exact JSON of both fields could not be read in full from Meta's pages when this was
//! written. What is **inferred**: that a `standby` value is shaped like a `messages` value
//! (`metadata`, `contacts[]`, `messages[]` / `statuses[]`, plus `message_echoes[]` for the active
//! handler's messages); that a `messaging_handovers` value carries `type` and an object of that
//! name (or Messenger-style `messaging_handovers[]` items with `pass_thread_control` /
//! `take_thread_control`); which keys name the customer and the roles. The parser therefore
//! accepts every shape it knows, keeps each item verbatim (`raw`), and decides who holds the
//! thread from the notification **type** alone (documented: who receives which type), which needs
//! none of the inferred keys.

use std::fmt;

use chatport_core::open_enum;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{Message, Status};

open_enum! {
    /// The kind of a `messaging_handovers` notification.
    pub enum HandoverType {
        /// The owner passed the thread **to this app** (delivered to the new owner).
        ControlPassed => "control_passed",
        /// The escalation partner took the thread **from this app** (delivered to the previous
        /// owner).
        ControlTaken => "control_taken",
        /// Messenger-style name of [`HandoverType::ControlPassed`].
        PassThreadControl => "pass_thread_control",
        /// Messenger-style name of [`HandoverType::ControlTaken`].
        TakeThreadControl => "take_thread_control",
        /// Messenger-style request for control by another app (no change of owner).
        RequestThreadControl => "request_thread_control",
    }
}

/// One change of thread ownership (`messaging_handovers`), as far as it could be read; `raw`
/// keeps the notification item verbatim.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Handover {
    /// What happened.
    pub handover_type: HandoverType,
    /// The customer the thread is with: a phone number / `wa_id` or a BSUID (**inferred** keys:
    /// `from`, `wa_id`, `user_id`, `from_user_id`, `recipient_id`, `recipient_user_id`,
    /// `sender.id`, `contacts[0]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The role or app that held the thread before (`previous_owner`, `previous_role`,
    /// `previous_owner_app_id`; **inferred** keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_owner: Option<String>,
    /// The role or app that holds it now (`new_owner`, `current_owner`, `new_role`, `role`,
    /// `new_owner_app_id`; **inferred** keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_owner: Option<String>,
    /// The free-form `metadata` string the caller of the Thread control API attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// When it happened, as sent (unix seconds or milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// The notification item, verbatim.
    pub raw: Value,
}

impl fmt::Debug for Handover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handover")
            .field("type", &self.handover_type.as_str())
            .field(
                "customer",
                &self.customer.as_deref().map(chatport_core::redact::phone),
            )
            .field("previous_owner", &self.previous_owner)
            .field("new_owner", &self.new_owner)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Handover {
    /// Whether this app holds the thread after the notification, decided by the documented
    /// delivery rule: `control_passed` (`pass_thread_control`) goes to the new owner → `true`;
    /// `control_taken` (`take_thread_control`) goes to the previous owner → `false`; `None` for
    /// anything else (a request, an unknown type).
    pub fn this_app_holds(&self) -> Option<bool> {
        match self.handover_type {
            HandoverType::ControlPassed | HandoverType::PassThreadControl => Some(true),
            HandoverType::ControlTaken | HandoverType::TakeThreadControl => Some(false),
            _ => None,
        }
    }

    /// When it happened (unix seconds; a millisecond value is recognised by its size).
    pub fn occurred_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let t = self.timestamp?;
        if t > 100_000_000_000 {
            chrono::DateTime::from_timestamp_millis(t)
        } else {
            chrono::DateTime::from_timestamp(t, 0)
        }
    }

    /// Reads the handovers of a `messaging_handovers` change value: a Meta-style value with
    /// `type` and an object of that name, or Messenger-style `messaging_handovers[]` /
    /// `handovers[]` items. Empty when nothing in it names a handover.
    pub(crate) fn from_value(value: &Value) -> Vec<Handover> {
        let items: Vec<&Value> = match ["messaging_handovers", "handovers"]
            .iter()
            .find_map(|k| value.get(*k).and_then(Value::as_array))
        {
            Some(items) => items.iter().collect(),
            None => vec![value],
        };
        items
            .into_iter()
            .filter_map(|item| Handover::from_item(item, value))
            .collect()
    }

    fn from_item(item: &Value, outer: &Value) -> Option<Handover> {
        let obj = item.as_object()?;
        let (handover_type, control) = match obj.get("type").and_then(Value::as_str) {
            Some(t) => (HandoverType::from(t), obj.get(t)),
            None => {
                let key = [
                    "control_passed",
                    "control_taken",
                    "pass_thread_control",
                    "take_thread_control",
                    "request_thread_control",
                ]
                .into_iter()
                .find(|k| obj.contains_key(*k))?;
                (HandoverType::from(key), obj.get(key))
            }
        };
        let control = control.unwrap_or(&Value::Null);
        let text = |v: &Value, keys: &[&str]| -> Option<String> {
            keys.iter().find_map(|k| match v.get(*k)? {
                Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Object(o) => o
                    .get("role")
                    .or_else(|| o.get("id"))
                    .or_else(|| o.get("app_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                _ => None,
            })
        };
        let customer_keys = [
            "from",
            "wa_id",
            "user_id",
            "from_user_id",
            "recipient_id",
            "recipient_user_id",
            "recipient",
            "to",
        ];
        let plain = |v: &Value, keys: &[&str]| -> Option<String> {
            keys.iter().find_map(|k| string_or_number(v.get(*k)?))
        };
        let customer = plain(item, &customer_keys)
            .or_else(|| plain(control, &customer_keys))
            .or_else(|| item.pointer("/sender/id").and_then(string_or_number))
            .or_else(|| {
                let contact = outer.pointer("/contacts/0")?;
                plain(contact, &["wa_id", "user_id"])
            });
        let previous_owner = text(
            control,
            &[
                "previous_owner",
                "previous_role",
                "previous_owner_role",
                "from_role",
                "previous_owner_app_id",
            ],
        );
        let new_owner = text(
            control,
            &[
                "new_owner",
                "current_owner",
                "new_role",
                "current_role",
                "role",
                "owner",
                "to_role",
                "new_owner_app_id",
            ],
        );
        let metadata = control
            .get("metadata")
            .or_else(|| item.get("metadata").filter(|m| m.is_string()))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let timestamp = ["timestamp", "time"]
            .iter()
            .find_map(|k| item.get(*k).or_else(|| outer.get(*k)))
            .and_then(string_or_number)
            .and_then(|s| s.trim().parse::<i64>().ok());
        Some(Handover {
            handover_type,
            customer,
            previous_owner,
            new_owner,
            metadata,
            timestamp,
            raw: item.clone(),
        })
    }
}

fn string_or_number(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One item of a `standby` change: what happened in a conversation another app holds. Meant
/// for passive listening (keep the context, measure the other app's delivery); answering it
/// would take the conversation over (Meta: webhooks/reference/standby).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "item", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StandbyItem {
    /// A customer's message (`messages[]`).
    Message(Box<Message>),
    /// A message the active handler sent to the customer (`message_echoes[]`, **inferred** key).
    Echo(Box<Message>),
    /// A delivery or read receipt of the active handler's message (`statuses[]`).
    Status(Box<Status>),
}

impl fmt::Debug for StandbyItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StandbyItem::Message(m) => f.debug_tuple("Message").field(m).finish(),
            StandbyItem::Echo(m) => f.debug_tuple("Echo").field(m).finish(),
            StandbyItem::Status(s) => f.debug_tuple("Status").field(s).finish(),
        }
    }
}

impl StandbyItem {
    /// The customer it is about: a message's sender, an echo's or a status's recipient.
    pub fn customer(&self) -> Option<&str> {
        match self {
            StandbyItem::Message(m) => m.sender(),
            StandbyItem::Echo(m) => m
                .extra
                .get("to")
                .and_then(Value::as_str)
                .or(m.extra.get("recipient_user_id").and_then(Value::as_str))
                .or(m.extra.get("to_user_id").and_then(Value::as_str)),
            StandbyItem::Status(s) => s.recipient(),
        }
    }

    /// The wamid of the message (or of the message a status is about).
    pub fn wamid(&self) -> &str {
        match self {
            StandbyItem::Message(m) | StandbyItem::Echo(m) => &m.id,
            StandbyItem::Status(s) => &s.id,
        }
    }

    /// `message`, `echo` or `status`.
    pub fn item_name(&self) -> &'static str {
        match self {
            StandbyItem::Message(_) => "message",
            StandbyItem::Echo(_) => "echo",
            StandbyItem::Status(_) => "status",
        }
    }
}
