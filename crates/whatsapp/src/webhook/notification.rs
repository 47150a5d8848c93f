//! The notification POST body and its flattening into events.
//!
//! Envelope (Meta: webhooks/overview; webhooks/reference/messages):
//! `{"object":"whatsapp_business_account","entry":[{"id":WABA_ID,"time":?,"changes":[{"field":F,"value":V}]}]}`.
//! One POST may batch up to 1000 updates and weigh up to 3 MB; this parser imposes no limit of its
//! own (the HTTP layer bounds the body size).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::{Event, EventKind, InvalidItem};
use super::handover::{Handover, StandbyItem};
use super::model::{Contact, Extra, Message, Metadata, Status, WebhookError, lenient};
use crate::error::{Error, mask};

/// The body of a webhook notification POST, parsed.
///
/// `entry[].changes[].value` is kept as raw JSON; [`Notification::events`] turns it into typed
/// [`Event`]s. Unknown top-level, entry and change fields are kept in `extra`.
///
/// An `entry[]` or `changes[]` element that does not have the documented envelope shape (an entry
/// without `id`, a change without `field` or `value`, a change that is not an object) does not fail
/// the POST: it is kept verbatim in [`Notification::unreadable`] and the other entries and changes
/// parse as usual (issue 16: one bad change must not dead-letter the valid updates beside it).
#[derive(Clone, PartialEq, Serialize)]
pub struct Notification {
    /// `object`, normally [`OBJECT`] (`whatsapp_business_account`); see
    /// [`Notification::is_whatsapp`].
    pub object: String,
    /// `entry[]`, one per WhatsApp Business Account.
    pub entry: Vec<Entry>,
    /// The entries and changes that could not be read, in body order (entries' changes included).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadablePart>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `object` of every WhatsApp Business Account notification (Meta: webhooks/overview: "the
/// object is always `whatsapp_business_account`"; other Graph products send `page`, `instagram`,
/// `user`, ...).
pub const OBJECT: &str = "whatsapp_business_account";

/// An `entry[]` or `changes[]` element of a notification that does not have the documented shape,
/// kept verbatim for inspection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnreadablePart {
    /// Where it was: `entry[0]` or `entry[0].changes[2]`.
    pub path: String,
    /// Why it could not be read (string values and long digit runs masked).
    pub reason: String,
    /// The element, verbatim (the whole change, or the whole entry).
    pub raw: Value,
}

/// One `entry[]` element: the changes of one WhatsApp Business Account.
#[derive(Clone, PartialEq, Serialize)]
pub struct Entry {
    /// `id`: the WhatsApp Business Account (WABA) id.
    pub id: String,
    /// `time`: unix seconds, present on some fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// `changes[]`.
    pub changes: Vec<Change>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `changes[]` element: the subscribed `field` and its `value`.
#[derive(Clone, PartialEq, Serialize)]
pub struct Change {
    /// The webhook field: `messages`, `message_template_status_update`, `account_update`, ...
    pub field: String,
    /// The value, verbatim. For `messages`: `{messaging_product, metadata, contacts[], messages[] |
    /// statuses[] | errors[]}`; other fields have their own shapes, without `metadata`.
    pub value: Value,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("object", &self.object)
            .field("entry", &self.entry)
            .field(
                "unreadable",
                &self
                    .unreadable
                    .iter()
                    .map(|u| u.path.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("time", &self.time)
            .field("changes", &self.changes)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Change {
    // The value may carry phone numbers and message text: show only its shape.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = match &self.value {
            Value::Object(map) => map.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        f.debug_struct("Change")
            .field("field", &self.field)
            .field("value_keys", &keys)
            .finish_non_exhaustive()
    }
}

impl Notification {
    /// Parses a notification body from its raw bytes.
    ///
    /// Lenient where Meta may evolve (unknown fields kept, ids and `time` accepted as strings or
    /// numbers, any `field` and any `value`), strict on the envelope: `object`, `entry`, `entry[].id`,
    /// `entry[].changes`, `changes[].field` and `changes[].value` must be present.
    ///
    /// # Errors
    /// [`Error::Parse`] with the 1-based line and column serde_json reports, for malformed JSON or a
    /// missing or mistyped envelope field. The message has string values and long digit runs
    /// masked.
    pub fn parse(body: &[u8]) -> Result<Notification, Error> {
        serde_json::from_slice(body).map_err(parse_error)
    }

    /// Whether `object` is [`OBJECT`]. A signed body about another object (`page`, `instagram`)
    /// reached the WhatsApp endpoint by a misconfigured subscription; the webhook adapter refuses
    /// it ([`WhatsAppWebhook`](super::WhatsAppWebhook)).
    pub fn is_whatsapp(&self) -> bool {
        self.object == OBJECT
    }

    /// How many changes the POST holds over all entries.
    pub fn change_count(&self) -> usize {
        self.entry.iter().map(|e| e.changes.len()).sum()
    }

    /// Flattens **every** entry, change, message, status and change-level error of the POST into
    /// events, in order (per change: messages, then statuses, then errors).
    ///
    /// - `messages` changes give one [`EventKind::Message`] per `messages[]` element, one
    ///   [`EventKind::Status`] per `statuses[]` element and one [`EventKind::Error`] per `errors[]`
    ///   element, each with the change's `metadata` and the `contacts[]` that match its sender or
    ///   recipient (when none matches and the change holds a single item and a single contact, that
    ///   contact). A `messages` change with none of the three gives one [`EventKind::Other`] with the
    ///   raw value, so nothing is dropped.
    /// - `standby` changes (activity in a conversation another app holds, Meta:
    ///   webhooks/reference/standby) give one [`EventKind::Standby`] per `messages[]`,
    ///   `message_echoes[]` and `statuses[]` element, never an [`EventKind::Message`]: nothing
    ///   should answer them;
    /// - `messaging_handovers` changes give one [`EventKind::Handover`] per handover they name
    ///   (Meta: webhooks/reference/messaging-handovers);
    /// - every other field gives one [`EventKind::Other`] event with the raw `value` (and the
    ///   `metadata` when the value has one), as do a `standby` or `messaging_handovers` value
    ///   without anything readable.
    /// - an item that does not have the documented shape (a message without `id`, a status whose
    ///   `status` is not a string, `messages` that is not an array, ...) gives one
    ///   [`EventKind::Invalid`] event with the raw JSON and the reason, instead of failing the whole
    ///   POST: the other updates of the batch are processed normally.
    pub fn events(&self) -> Vec<Event> {
        let mut out = Vec::new();
        for entry in &self.entry {
            for change in &entry.changes {
                let base = Base {
                    field: &change.field,
                    waba_id: (!entry.id.is_empty()).then(|| entry.id.clone()),
                    time: entry.time,
                };
                if change.field == "messages" {
                    messages_change(&base, &change.value, Mode::Messages, &mut out);
                } else if change.field == "standby" {
                    messages_change(&base, &change.value, Mode::Standby, &mut out);
                } else if change.field == "messaging_handovers" {
                    handovers_change(&base, &change.value, &mut out);
                } else {
                    let metadata = change
                        .value
                        .get("metadata")
                        .and_then(|m| Metadata::deserialize(m).ok());
                    out.push(base.event(
                        metadata,
                        Vec::new(),
                        EventKind::Other(change.value.clone()),
                    ));
                }
            }
        }
        out
    }
}

/// serde_json appends " at line L column C" to its messages; the variant carries both separately.
/// [`Error::Parse`] of a serde_json error: 1-based position, category, and the message with
/// string values and long digit runs masked.
pub(crate) fn parse_error(e: serde_json::Error) -> Error {
    Error::Parse {
        line: e.line(),
        column: e.column(),
        category: match e.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        },
        message: mask(&strip_position(&e.to_string())),
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

struct Base<'a> {
    field: &'a str,
    waba_id: Option<String>,
    time: Option<i64>,
}

impl Base<'_> {
    fn event(&self, metadata: Option<Metadata>, contacts: Vec<Contact>, kind: EventKind) -> Event {
        Event {
            field: self.field.to_owned(),
            waba_id: self.waba_id.clone(),
            time: self.time,
            metadata,
            contacts,
            kind,
        }
    }

    fn invalid(
        &self,
        metadata: Option<Metadata>,
        contacts: Vec<Contact>,
        item: &str,
        index: Option<usize>,
        reason: String,
        raw: &Value,
    ) -> Event {
        self.event(
            metadata,
            contacts,
            EventKind::Invalid(Box::new(InvalidItem {
                item: item.to_owned(),
                index,
                reason,
                raw: raw.clone(),
            })),
        )
    }
}

fn reason(e: &serde_json::Error) -> String {
    mask(&e.to_string())
}

/// How the items of a messages-shaped change are wrapped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `messages`: messages and statuses as they are.
    Messages,
    /// `standby`: every item wrapped in [`EventKind::Standby`].
    Standby,
}

impl Mode {
    fn message(self, message: Message) -> EventKind {
        match self {
            Mode::Messages => EventKind::Message(Box::new(message)),
            Mode::Standby => EventKind::Standby(Box::new(StandbyItem::Message(Box::new(message)))),
        }
    }

    fn status(self, status: Status) -> EventKind {
        match self {
            Mode::Messages => EventKind::Status(Box::new(status)),
            Mode::Standby => EventKind::Standby(Box::new(StandbyItem::Status(Box::new(status)))),
        }
    }
}

fn handovers_change(base: &Base<'_>, value: &Value, out: &mut Vec<Event>) {
    let metadata = value
        .get("metadata")
        .and_then(|m| Metadata::deserialize(m).ok());
    let handovers = Handover::from_value(value);
    if handovers.is_empty() {
        out.push(base.event(metadata, Vec::new(), EventKind::Other(value.clone())));
        return;
    }
    for handover in handovers {
        out.push(base.event(
            metadata.clone(),
            Vec::new(),
            EventKind::Handover(Box::new(handover)),
        ));
    }
}

fn messages_change(base: &Base<'_>, value: &Value, mode: Mode, out: &mut Vec<Event>) {
    let Value::Object(obj) = value else {
        out.push(base.invalid(
            None,
            Vec::new(),
            "value",
            None,
            "the value of a messages change is not an object".into(),
            value,
        ));
        return;
    };
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(m) => match Metadata::deserialize(m) {
            Ok(m) => Some(m),
            Err(e) => {
                out.push(base.invalid(
                    None,
                    Vec::new(),
                    "value",
                    None,
                    format!("metadata: {}", reason(&e)),
                    value,
                ));
                return;
            }
        },
    };
    // Contacts only describe senders and carry no event of their own: one that does not parse is
    // skipped.
    let contacts: Vec<Contact> = match obj.get("contacts") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|c| Contact::deserialize(c).ok())
            .collect(),
        _ => Vec::new(),
    };
    let before = out.len();

    let items = |key: &str, out: &mut Vec<Event>| -> Option<&[Value]> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(items.as_slice()),
            Some(other) => {
                out.push(base.invalid(
                    metadata.clone(),
                    contacts.clone(),
                    key,
                    None,
                    format!("{key} is not an array"),
                    other,
                ));
                None
            }
        }
    };

    if let Some(messages) = items("messages", out) {
        let single = messages.len() == 1;
        for (i, raw) in messages.iter().enumerate() {
            match Message::deserialize(raw) {
                Ok(message) => {
                    let matched = matching_contacts(
                        &contacts,
                        message.from.as_deref(),
                        message.from_user_id.as_deref(),
                        single,
                    );
                    out.push(base.event(metadata.clone(), matched, mode.message(message)));
                }
                Err(e) => out.push(base.invalid(
                    metadata.clone(),
                    contacts.clone(),
                    "messages",
                    Some(i),
                    reason(&e),
                    raw,
                )),
            }
        }
    }
    if let Some(statuses) = items("statuses", out) {
        let single = statuses.len() == 1;
        for (i, raw) in statuses.iter().enumerate() {
            match Status::deserialize(raw) {
                Ok(status) => {
                    let matched = matching_contacts(
                        &contacts,
                        status.recipient_id.as_deref(),
                        status.recipient_user_id.as_deref(),
                        single,
                    );
                    out.push(base.event(metadata.clone(), matched, mode.status(status)));
                }
                Err(e) => out.push(base.invalid(
                    metadata.clone(),
                    contacts.clone(),
                    "statuses",
                    Some(i),
                    reason(&e),
                    raw,
                )),
            }
        }
    }
    if mode == Mode::Standby
        && let Some(echoes) = items("message_echoes", out)
    {
        for (i, raw) in echoes.iter().enumerate() {
            match Message::deserialize(raw) {
                Ok(echo) => out.push(base.event(
                    metadata.clone(),
                    Vec::new(),
                    EventKind::Standby(Box::new(StandbyItem::Echo(Box::new(echo)))),
                )),
                Err(e) => out.push(base.invalid(
                    metadata.clone(),
                    contacts.clone(),
                    "message_echoes",
                    Some(i),
                    reason(&e),
                    raw,
                )),
            }
        }
    }
    if let Some(errors) = items("errors", out) {
        for (i, raw) in errors.iter().enumerate() {
            match WebhookError::deserialize(raw) {
                Ok(error) => out.push(base.event(
                    metadata.clone(),
                    contacts.clone(),
                    EventKind::Error(error),
                )),
                Err(e) => out.push(base.invalid(
                    metadata.clone(),
                    contacts.clone(),
                    "errors",
                    Some(i),
                    reason(&e),
                    raw,
                )),
            }
        }
    }
    if out.len() == before {
        out.push(base.event(metadata, contacts, EventKind::Other(value.clone())));
    }
}

/// The contacts describing `phone` / `user_id`. When none matches and the change holds a single item
/// and a single contact, that contact (Meta pairs them; the ids may be formatted differently).
fn matching_contacts(
    all: &[Contact],
    phone: Option<&str>,
    user_id: Option<&str>,
    single_item: bool,
) -> Vec<Contact> {
    let matched: Vec<Contact> = all
        .iter()
        .filter(|c| {
            (phone.is_some() && c.wa_id.as_deref() == phone)
                || (user_id.is_some() && c.user_id.as_deref() == user_id)
        })
        .cloned()
        .collect();
    if matched.is_empty() && single_item && all.len() == 1 {
        return all.to_vec();
    }
    matched
}

// ---------------------------------------------------------------------------------------------
// Deserialisation of the envelope without `#[serde(flatten)]`: flatten would buffer the whole body
// and report errors at the end of the object instead of where they are.

struct LenientString(String);
impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::string(d).map(LenientString)
    }
}

struct LenientI64(Option<i64>);
impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::opt_i64(d).map(LenientI64)
    }
}

fn set<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

fn keep<'de, A: MapAccess<'de>>(
    extra: &mut Extra,
    key: String,
    map: &mut A,
) -> Result<(), A::Error> {
    let value: Value = map.next_value()?;
    if extra.insert(key.clone(), value).is_some() {
        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
    }
    Ok(())
}

impl<'de> Deserialize<'de> for Notification {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Notification;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a webhook notification object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Notification, A::Error> {
                let (mut object, mut entry, mut extra) = (None, None, Extra::new());
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "object" => set(&mut object, map.next_value::<String>()?, "object")?,
                        "entry" => set(&mut entry, map.next_value::<Vec<Value>>()?, "entry")?,
                        _ => keep(&mut extra, key, &mut map)?,
                    }
                }
                let raw_entries = entry.ok_or_else(|| de::Error::missing_field("entry"))?;
                let mut entries = Vec::with_capacity(raw_entries.len());
                let mut unreadable = Vec::new();
                for (i, raw) in raw_entries.into_iter().enumerate() {
                    match RawEntry::deserialize(&raw) {
                        Ok(RawEntry {
                            id,
                            time,
                            changes,
                            extra,
                        }) => {
                            let mut parsed = Vec::with_capacity(changes.len());
                            for (j, change) in changes.into_iter().enumerate() {
                                match Change::deserialize(&change) {
                                    Ok(c) => parsed.push(c),
                                    Err(e) => unreadable.push(UnreadablePart {
                                        path: format!("entry[{i}].changes[{j}]"),
                                        reason: mask(&e.to_string()),
                                        raw: change,
                                    }),
                                }
                            }
                            entries.push(Entry {
                                id,
                                time,
                                changes: parsed,
                                extra,
                            });
                        }
                        Err(e) => unreadable.push(UnreadablePart {
                            path: format!("entry[{i}]"),
                            reason: mask(&e.to_string()),
                            raw,
                        }),
                    }
                }
                Ok(Notification {
                    object: object.ok_or_else(|| de::Error::missing_field("object"))?,
                    entry: entries,
                    unreadable,
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// An entry whose changes are not read yet (each change is read on its own, so that one bad change
/// does not fail its entry).
struct RawEntry {
    id: String,
    time: Option<i64>,
    changes: Vec<Value>,
    extra: Extra,
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entry object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEntry, A::Error> {
                let (mut id, mut time, mut changes, mut extra) = (None, None, None, Extra::new());
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "id" => set(&mut id, map.next_value::<LenientString>()?.0, "id")?,
                        "time" => set(&mut time, map.next_value::<LenientI64>()?.0, "time")?,
                        "changes" => set(&mut changes, map.next_value::<Vec<Value>>()?, "changes")?,
                        _ => keep(&mut extra, key, &mut map)?,
                    }
                }
                Ok(RawEntry {
                    id: id.ok_or_else(|| de::Error::missing_field("id"))?,
                    time: time.flatten(),
                    changes: changes.ok_or_else(|| de::Error::missing_field("changes"))?,
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Change;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a change object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Change, A::Error> {
                let (mut field, mut value, mut extra) = (None, None, Extra::new());
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "field" => set(&mut field, map.next_value::<String>()?, "field")?,
                        "value" => set(&mut value, map.next_value::<Value>()?, "value")?,
                        _ => keep(&mut extra, key, &mut map)?,
                    }
                }
                Ok(Change {
                    field: field.ok_or_else(|| de::Error::missing_field("field"))?,
                    value: value.ok_or_else(|| de::Error::missing_field("value"))?,
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}
