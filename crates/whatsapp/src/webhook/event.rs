//! One update of a notification, self-contained: what the runtime stores in its outbox.

use std::fmt;

use chatport_core::{EventId, redact};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::handover::{Handover, StandbyItem};
use super::model::{Contact, Message, Metadata, Status, WebhookError};

/// One update from a webhook POST: a message, a status, an error, or the value of another field,
/// with the context needed to process it alone (field, WABA id, entry time, business number
/// metadata, the contacts describing its sender or recipient).
///
/// Serialises to JSON and back without loss (`serde_json::to_vec(&event)` → `from_slice` gives an
/// equal event), so it can be stored in an outbox and processed later.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The webhook field of the change: `messages`, `message_template_status_update`, ...
    pub field: String,
    /// The WhatsApp Business Account id (`entry[].id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<String>,
    /// `entry[].time` in unix seconds, when Meta sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// `value.metadata`: the business number the update is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// The `value.contacts[]` describing the sender (messages) or recipient (statuses); all contacts
    /// of the change for errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
    /// What happened.
    pub kind: EventKind,
}

/// What an [`Event`] is. Serialised as `{"type": "message" | "status" | "error" | "other" |
/// "invalid" | "standby" | "handover", "data": ...}`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An inbound message (`value.messages[]`).
    Message(Box<Message>),
    /// A delivery status of a sent message (`value.statuses[]`).
    Status(Box<Status>),
    /// A change-level error (`value.errors[]`), e.g. an inbound media download failure.
    Error(WebhookError),
    /// The raw `value` of a field other than `messages` (template status updates, account updates,
    /// ...), or of a `messages` change that carried no messages, statuses or errors.
    Other(Value),
    /// An item that does not have the documented shape; kept raw so that one bad item does not fail
    /// the other updates of its POST.
    Invalid(Box<InvalidItem>),
    /// Activity in a conversation another app holds (field `standby`): a customer message, the
    /// active handler's echo, or a receipt. For context only: answering takes the conversation
    /// over (Meta: webhooks/reference/standby).
    Standby(Box<StandbyItem>),
    /// A change of who holds a conversation (field `messaging_handovers`; Meta:
    /// webhooks/reference/messaging-handovers).
    Handover(Box<Handover>),
}

/// An item of a `messages` change that could not be read as its documented type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvalidItem {
    /// Where it was: `messages`, `statuses`, `errors` (an element or the whole array) or `value`
    /// (the change value itself or its `metadata`).
    pub item: String,
    /// The element index, for an element of an array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Why it could not be read (values masked).
    pub reason: String,
    /// The item, verbatim.
    pub raw: Value,
}

impl fmt::Debug for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Message(m) => f.debug_tuple("Message").field(m).finish(),
            EventKind::Status(s) => f.debug_tuple("Status").field(s).finish(),
            EventKind::Error(e) => f.debug_tuple("Error").field(e).finish(),
            EventKind::Other(v) => f
                .debug_tuple("Other")
                .field(&format_args!("<{} JSON>", json_type(v)))
                .finish(),
            EventKind::Invalid(i) => f
                .debug_struct("Invalid")
                .field("item", &i.item)
                .field("index", &i.index)
                .field("reason", &i.reason)
                .finish_non_exhaustive(),
            EventKind::Standby(s) => f.debug_tuple("Standby").field(s).finish(),
            EventKind::Handover(h) => f.debug_tuple("Handover").field(h).finish(),
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("field", &self.field)
            .field("waba_id", &self.waba_id)
            .field("phone_number_id", &self.phone_number_id())
            .field(
                "ordering_key",
                &self.ordering_key().as_deref().map(redact::phone),
            )
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Event {
    /// The upstream identity of the event, stable across redeliveries (the runtime deduplicates on
    /// it):
    ///
    /// - message: its wamid;
    /// - status: `"{wamid}:{status}"`, plus `":{recipient_participant_id}"` for a group participant's
    ///   status (each participant reports its own `read`);
    /// - standby: `"standby:{wamid}"` for a customer message, `"standby:{wamid}:{status}"` for a
    ///   receipt, `"echo:{wamid}"` for the active handler's message (distinct from the ids of the
    ///   same wamid on the `messages` field);
    /// - handover, error, other, invalid (and a message or status without a usable id):
    ///   [`EventId::from_content`] of a canonical serialisation (object keys sorted, compact) of the
    ///   field, WABA id, phone number id, entry time, kind and payload.
    pub fn event_id(&self) -> EventId {
        let natural = match &self.kind {
            EventKind::Message(m) => Some(m.id.clone()),
            EventKind::Status(s) => Some(match &s.recipient_participant_id {
                Some(p) => format!("{}:{}:{}", s.id, s.status, p),
                None => format!("{}:{}", s.id, s.status),
            }),
            EventKind::Standby(item) => Some(match item.as_ref() {
                StandbyItem::Message(m) => format!("standby:{}", m.id),
                StandbyItem::Echo(m) => format!("echo:{}", m.id),
                StandbyItem::Status(s) => format!("standby:{}:{}", s.id, s.status),
            })
            .filter(|id| !id.ends_with(':') && !id.contains("::")),
            _ => None,
        };
        match natural {
            Some(id) if !id.is_empty() && !id.starts_with(':') => {
                EventId::try_new(id).unwrap_or_else(|_| self.content_id())
            }
            _ => self.content_id(),
        }
    }

    fn content_id(&self) -> EventId {
        let payload = match &self.kind {
            EventKind::Message(m) => serde_json::to_value(m),
            EventKind::Status(s) => serde_json::to_value(s),
            EventKind::Error(e) => serde_json::to_value(e),
            EventKind::Other(v) => Ok(v.clone()),
            EventKind::Invalid(i) => serde_json::to_value(i),
            EventKind::Standby(i) => serde_json::to_value(i),
            EventKind::Handover(h) => serde_json::to_value(h),
        }
        .unwrap_or(Value::Null);
        let identity = serde_json::json!({
            "field": self.field,
            "waba_id": self.waba_id,
            "phone_number_id": self.phone_number_id(),
            "time": self.time,
            "kind": self.kind_name(),
            "payload": payload,
        });
        let mut bytes = Vec::new();
        canonical_json(&identity, &mut bytes);
        EventId::from_content(&bytes)
    }

    /// `"message"`, `"status"`, `"error"`, `"other"`, `"invalid"`, `"standby"` or `"handover"`.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            EventKind::Message(_) => "message",
            EventKind::Status(_) => "status",
            EventKind::Error(_) => "error",
            EventKind::Other(_) => "other",
            EventKind::Invalid(_) => "invalid",
            EventKind::Standby(_) => "standby",
            EventKind::Handover(_) => "handover",
        }
    }

    /// The business phone number id (`metadata.phone_number_id`), when the change had one.
    pub fn phone_number_id(&self) -> Option<&str> {
        self.metadata
            .as_ref()
            .map(|m| m.phone_number_id.as_str())
            .filter(|id| !id.is_empty())
    }

    /// The customer the event is about, so that one customer's events are processed in order: a
    /// message's `from` (else `from_user_id`), a status's `recipient_id` (else `recipient_user_id`),
    /// a standby item's customer, a handover's customer. `None` for errors and other fields.
    pub fn ordering_key(&self) -> Option<String> {
        match &self.kind {
            EventKind::Message(m) => m.sender().map(str::to_owned),
            EventKind::Status(s) => s.recipient().map(str::to_owned),
            EventKind::Standby(i) => i.customer().map(str::to_owned),
            EventKind::Handover(h) => h.customer.clone(),
            _ => None,
        }
    }

    /// When the event happened: the message's or status's `timestamp`, else the entry `time`.
    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        let own = match &self.kind {
            EventKind::Message(m) => m.timestamp(),
            EventKind::Status(s) => s.timestamp(),
            EventKind::Standby(i) => match i.as_ref() {
                StandbyItem::Message(m) | StandbyItem::Echo(m) => m.timestamp(),
                StandbyItem::Status(s) => s.timestamp(),
            },
            EventKind::Handover(h) => h.occurred_at(),
            _ => None,
        };
        own.or_else(|| self.time.and_then(|t| DateTime::from_timestamp(t, 0)))
    }

    /// The contact describing the message's sender (by `wa_id` = `from` or `user_id` =
    /// `from_user_id`; the only contact when none matches). `None` for other kinds.
    pub fn sender_contact(&self) -> Option<&Contact> {
        let EventKind::Message(m) = &self.kind else {
            return None;
        };
        let matches = |c: &&Contact| {
            (m.from.is_some() && c.wa_id == m.from)
                || (m.from_user_id.is_some() && c.user_id == m.from_user_id)
        };
        self.contacts
            .iter()
            .find(matches)
            .or(match self.contacts.as_slice() {
                [only] => Some(only),
                _ => None,
            })
    }

    /// The profile name of the contact matching the message's sender (see
    /// [`Event::sender_contact`]). `None` for other kinds.
    pub fn sender_name(&self) -> Option<&str> {
        self.sender_contact()?.profile.as_ref()?.name.as_deref()
    }

    /// The WhatsApp username of the message's sender (`contacts[].profile.username`), when the
    /// user adopted one (Meta: business-scoped-user-ids). Display only: usernames change.
    pub fn sender_username(&self) -> Option<&str> {
        self.sender_contact()?.profile.as_ref()?.username.as_deref()
    }

    /// The business-scoped user id of the message's sender: `from_user_id`, else the matching
    /// contact's `user_id`. `None` for other kinds.
    pub fn sender_user_id(&self) -> Option<&str> {
        let m = self.message()?;
        m.from_user_id
            .as_deref()
            .or_else(|| self.sender_contact()?.user_id.as_deref())
    }

    /// The message, for [`EventKind::Message`].
    pub fn message(&self) -> Option<&Message> {
        match &self.kind {
            EventKind::Message(m) => Some(m),
            _ => None,
        }
    }

    /// The status, for [`EventKind::Status`].
    pub fn status(&self) -> Option<&Status> {
        match &self.kind {
            EventKind::Status(s) => Some(s),
            _ => None,
        }
    }

    /// The standby item, for [`EventKind::Standby`].
    pub fn standby(&self) -> Option<&StandbyItem> {
        match &self.kind {
            EventKind::Standby(i) => Some(i),
            _ => None,
        }
    }

    /// The handover, for [`EventKind::Handover`].
    pub fn handover(&self) -> Option<&Handover> {
        match &self.kind {
            EventKind::Handover(h) => Some(h),
            _ => None,
        }
    }

    /// The change-level error, for [`EventKind::Error`].
    pub fn error(&self) -> Option<&WebhookError> {
        match &self.kind {
            EventKind::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// Writes `value` as compact JSON with object keys sorted by their UTF-8 bytes, independent of how
/// serde_json's `Map` orders keys in this build (it keeps insertion order when another crate enables
/// `preserve_order`).
pub(crate) fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(key, out);
                out.push(b':');
                if let Some(v) = map.get(key) {
                    canonical_json(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_str(s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // Serialising a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_keys_recursively() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":0,"y":"ä"}],"c":null}}"#).unwrap();
        let mut out = Vec::new();
        canonical_json(&a, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":null,"d":[1,{"y":"ä","z":0}]},"b":1}"#
        );
    }
}
