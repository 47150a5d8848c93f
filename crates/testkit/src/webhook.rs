//! Meta-style signed webhook deliveries: payload builders, Meta's JSON encoding, the
//! `X-Hub-Signature-256` signature and a simulator that POSTs deliveries to a receiver.
//!
//! Follows Meta's *Webhooks* pages as summarised in `../shared/api/whatsapp.md` §2.2–2.3:
//!
//! - the body is compact JSON in which every non-ASCII character is escaped as `\uXXXX` with
//!   **lower-case** hex (astral characters as a UTF-16 surrogate pair) — see [`meta_json`];
//! - `X-Hub-Signature-256: sha256=<lower-case hex HMAC-SHA256 of the raw body keyed with the app
//!   secret>` — see [`sign`];
//! - the envelope `{"object":"whatsapp_business_account","entry":[{"id":<WABA id>,"changes":[
//!   {"field":"messages","value":{"messaging_product":"whatsapp","metadata":{...},"contacts":[...],
//!   "messages":[...] | "statuses":[...] | "errors":[...]}}]}]}` — see [`Delivery`].
//!
//! ```no_run
//! use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
//!
//! # async fn demo() -> Result<(), chatport_testkit::Error> {
//! let payload = Delivery::new("102290129340398")
//!     .message(
//!         "106540352242922",
//!         "15550783881",
//!         MessageSpec::text("16505551234", "wamid.test-1", 1_751_247_548, "Grüße 👋")
//!             .profile_name("Sheena Nelson"),
//!     )
//!     .build();
//! let simulator = WebhookSimulator::new("http://127.0.0.1:8080/webhooks/whatsapp", b"app-secret".to_vec());
//! let result = simulator.deliver(&payload).await?;
//! assert_eq!(result.status, 200);
//! # Ok(()) }
//! ```

use std::fmt;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::Error;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// `User-Agent` Meta's webhook deliveries use.
pub const META_USER_AGENT: &str = "facebookexternalua";

/// Profile name given to senders unless [`MessageSpec::profile_name`] sets one.
pub const DEFAULT_PROFILE_NAME: &str = "Test User";

/// Encodes `value` the way Meta does before signing: compact JSON (no spaces) in which every
/// non-ASCII character is written as `\uXXXX` with lower-case hex digits; characters outside the
/// Basic Multilingual Plane (emoji) become a UTF-16 surrogate pair (`😀` → `\ud83d\ude00`), `ä`
/// becomes `\u00e4`. ASCII is left as `serde_json` writes it (control characters escaped, `/`
/// not escaped). Object keys come out in `serde_json`'s map order (sorted, unless a crate in the
/// build enables `serde_json/preserve_order`).
pub fn meta_json(value: &Value) -> String {
    escape_non_ascii(&value.to_string())
}

/// Escapes every non-ASCII character of already-serialised JSON as `\uXXXX` (lower-case hex,
/// surrogate pairs for astral characters). Non-ASCII characters can only occur inside JSON
/// strings, so the result is equivalent JSON.
pub fn escape_non_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 4);
    let mut units = [0u16; 2];
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The `X-Hub-Signature-256` header value for `body`: `sha256=` followed by the lower-case hex
/// HMAC-SHA256 of the raw bytes keyed with `app_secret`.
///
/// The HMAC construction (RFC 2104) is implemented here on top of the `sha2` crate, independently
/// of chatport-whatsapp's verifier (which uses the `hmac` crate), so the two check each other. It
/// is tested against RFC 4231 and against a real delivery signed by Meta.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(app_secret, body)))
}

/// HMAC-SHA256 (RFC 2104, block size 64 bytes).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(Sha256::digest(key).as_slice());
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner_pad = [0x36u8; BLOCK];
    let mut outer_pad = [0x5cu8; BLOCK];
    for ((i, o), k) in inner_pad
        .iter_mut()
        .zip(outer_pad.iter_mut())
        .zip(block_key)
    {
        *i ^= k;
        *o ^= k;
    }
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner.as_slice())
        .finalize();
    let mut mac = [0u8; 32];
    mac.copy_from_slice(outer.as_slice());
    mac
}

// ---------------------------------------------------------------------------------------------
// Payload builders

#[derive(Clone, Debug, PartialEq)]
enum Sender {
    /// Known by phone number (`from` / `wa_id`), optionally also by business-scoped user id.
    Phone {
        wa_id: String,
        user_id: Option<String>,
    },
    /// Known only by business-scoped user id (`from_user_id`, no `from`).
    UserIdOnly(String),
}

/// One inbound message of a [`Delivery`], in Meta's `messages[]` shape:
/// `{"from","id","timestamp":"<unix seconds>","type":"<type>","<type>":{...}}` plus optional
/// `from_user_id`, `context` and any extra fields. The sender also yields a `contacts[]` entry
/// (`{"profile":{"name"},"wa_id"}` and/or `user_id`).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageSpec {
    sender: Sender,
    profile_name: String,
    wamid: String,
    timestamp: i64,
    message_type: String,
    object: Value,
    extra: Map<String, Value>,
}

impl MessageSpec {
    /// A message of any type: `type_name` with its `object` (e.g. `"poll"` with `{...}` for a type
    /// chatport does not know). `timestamp` is in unix seconds (sent as a string, like Meta).
    pub fn unknown(
        from: impl Into<String>,
        wamid: impl Into<String>,
        timestamp: i64,
        type_name: impl Into<String>,
        object: Value,
    ) -> Self {
        Self {
            sender: Sender::Phone {
                wa_id: from.into(),
                user_id: None,
            },
            profile_name: DEFAULT_PROFILE_NAME.to_owned(),
            wamid: wamid.into(),
            timestamp,
            message_type: type_name.into(),
            object,
            extra: Map::new(),
        }
    }

    /// A text message: `"type":"text","text":{"body":<body>}`.
    pub fn text(
        from: impl Into<String>,
        wamid: impl Into<String>,
        timestamp: i64,
        body: impl Into<String>,
    ) -> Self {
        Self::unknown(
            from,
            wamid,
            timestamp,
            "text",
            json!({ "body": body.into() }),
        )
    }

    /// An image: `"image":{"id":<media id>,"mime_type":<mime>,"sha256":…}` (a placeholder base64
    /// `sha256`; set another with [`Self::sha256`], a caption with [`Self::caption`]).
    pub fn image(
        from: impl Into<String>,
        wamid: impl Into<String>,
        timestamp: i64,
        media_id: impl Into<String>,
        mime_type: impl Into<String>,
    ) -> Self {
        Self::unknown(
            from,
            wamid,
            timestamp,
            "image",
            json!({
                "id": media_id.into(),
                "mime_type": mime_type.into(),
                "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
            }),
        )
    }

    /// A document: `"document":{"id","mime_type","sha256","filename"}`.
    pub fn document(
        from: impl Into<String>,
        wamid: impl Into<String>,
        timestamp: i64,
        media_id: impl Into<String>,
        mime_type: impl Into<String>,
        filename: impl Into<String>,
    ) -> Self {
        Self::unknown(
            from,
            wamid,
            timestamp,
            "document",
            json!({
                "id": media_id.into(),
                "mime_type": mime_type.into(),
                "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                "filename": filename.into(),
            }),
        )
    }

    /// A reply-button tap: `"type":"interactive","interactive":{"type":"button_reply",
    /// "button_reply":{"id","title"}}`. Set the tapped message with [`Self::context`].
    pub fn button_reply(
        from: impl Into<String>,
        wamid: impl Into<String>,
        timestamp: i64,
        id: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Self::unknown(
            from,
            wamid,
            timestamp,
            "interactive",
            json!({ "type": "button_reply", "button_reply": { "id": id.into(), "title": title.into() } }),
        )
    }

    /// A list selection: `"interactive":{"type":"list_reply","list_reply":{"id","title"}}`.
    pub fn list_reply(
        from: impl Into<String>,
        wamid: impl Into<String>,
        timestamp: i64,
        id: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Self::unknown(
            from,
            wamid,
            timestamp,
            "interactive",
            json!({ "type": "list_reply", "list_reply": { "id": id.into(), "title": title.into() } }),
        )
    }

    /// The sender's profile name in `contacts[].profile.name` (default [`DEFAULT_PROFILE_NAME`]).
    pub fn profile_name(mut self, name: impl Into<String>) -> Self {
        self.profile_name = name.into();
        self
    }

    /// Also identifies the sender by business-scoped user id: `from_user_id` on the message and
    /// `user_id` in `contacts[]`, next to the phone number. When the spec was built with an
    /// empty `from`, the sender becomes known **only** by this id (as [`Self::user_id_only`]).
    pub fn from_user_id(mut self, user_id: impl Into<String>) -> Self {
        let user_id = user_id.into();
        self.sender = match self.sender {
            Sender::Phone { wa_id, .. } if wa_id.is_empty() => Sender::UserIdOnly(user_id),
            Sender::Phone { wa_id, .. } => Sender::Phone {
                wa_id,
                user_id: Some(user_id),
            },
            Sender::UserIdOnly(_) => Sender::UserIdOnly(user_id),
        };
        self
    }

    /// Makes the sender known **only** by business-scoped user id (e.g.
    /// `US.13491208655302741918`): the message has `from_user_id` and no `from`, the contact has
    /// `user_id` and no `wa_id` (Meta: business-scoped-user-ids).
    pub fn user_id_only(mut self, user_id: impl Into<String>) -> Self {
        self.sender = Sender::UserIdOnly(user_id.into());
        self
    }

    /// Marks the message as a reply to (or a tap on) `message_id`:
    /// `"context":{"from":<business display number>,"id":<message_id>}` (the display number is
    /// filled in by [`Delivery`]).
    pub fn context(mut self, message_id: impl Into<String>) -> Self {
        self.extra
            .insert("context".to_owned(), json!({ "id": message_id.into() }));
        self
    }

    /// Sets `caption` in the type object (images, videos, documents).
    pub fn caption(self, caption: impl Into<String>) -> Self {
        self.object_field("caption", Value::String(caption.into()))
    }

    /// Sets `sha256` in the type object (media).
    pub fn sha256(self, sha256: impl Into<String>) -> Self {
        self.object_field("sha256", Value::String(sha256.into()))
    }

    /// Sets a field of the type object (`"<type>":{...}`); ignored when that object is not a JSON
    /// object.
    pub fn object_field(mut self, key: impl Into<String>, value: Value) -> Self {
        if let Value::Object(object) = &mut self.object {
            object.insert(key.into(), value);
        }
        self
    }

    /// Sets any other field of the message (e.g. `referral`, `errors`), overriding a generated one.
    pub fn field(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// The message id (`id`).
    pub fn wamid(&self) -> &str {
        &self.wamid
    }

    fn contact(&self) -> Value {
        let mut contact = Map::new();
        contact.insert("profile".to_owned(), json!({ "name": self.profile_name }));
        match &self.sender {
            Sender::Phone { wa_id, user_id } => {
                contact.insert("wa_id".to_owned(), json!(wa_id));
                if let Some(user_id) = user_id {
                    contact.insert("user_id".to_owned(), json!(user_id));
                }
            }
            Sender::UserIdOnly(user_id) => {
                contact.insert("user_id".to_owned(), json!(user_id));
            }
        }
        Value::Object(contact)
    }

    fn to_json(&self, display_number: &str) -> Value {
        let mut message = Map::new();
        match &self.sender {
            Sender::Phone { wa_id, user_id } => {
                message.insert("from".to_owned(), json!(wa_id));
                if let Some(user_id) = user_id {
                    message.insert("from_user_id".to_owned(), json!(user_id));
                }
            }
            Sender::UserIdOnly(user_id) => {
                message.insert("from_user_id".to_owned(), json!(user_id));
            }
        }
        message.insert("id".to_owned(), json!(self.wamid));
        message.insert("timestamp".to_owned(), json!(self.timestamp.to_string()));
        message.insert("type".to_owned(), json!(self.message_type));
        message.insert(self.message_type.clone(), self.object.clone());
        for (key, value) in &self.extra {
            let mut value = value.clone();
            if let ("context", Value::Object(context)) = (key.as_str(), &mut value) {
                context
                    .entry("from")
                    .or_insert_with(|| json!(display_number));
            }
            message.insert(key.clone(), value);
        }
        Value::Object(message)
    }
}

/// An error in Meta's webhook shape: `{"code","title","message","error_data":{"details"},"href"}`
/// (Meta: webhooks/reference/messages/status). Used in `statuses[].errors` and change-level
/// `errors`.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorSpec {
    code: i64,
    title: String,
    message: Option<String>,
    details: Option<String>,
    href: String,
}

impl ErrorSpec {
    /// An error with `code` and `title`; `message` defaults to the title, `details` to the title.
    pub fn new(code: i64, title: impl Into<String>) -> Self {
        Self {
            code,
            title: title.into(),
            message: None,
            details: None,
            href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
                .to_owned(),
        }
    }

    /// Sets `message`.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets `error_data.details`.
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Sets `href`.
    pub fn href(mut self, href: impl Into<String>) -> Self {
        self.href = href.into();
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "code": self.code,
            "title": self.title,
            "message": self.message.as_deref().unwrap_or(&self.title),
            "error_data": { "details": self.details.as_deref().unwrap_or(&self.title) },
            "href": self.href,
        })
    }
}

/// One status update of a [`Delivery`], in Meta's `statuses[]` shape:
/// `{"id","status","timestamp":"<unix seconds>","recipient_id"}` plus optional `errors`,
/// `pricing`, `conversation`, `biz_opaque_callback_data`.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusSpec {
    wamid: String,
    status: String,
    recipient_id: String,
    timestamp: i64,
    extra: Map<String, Value>,
    errors: Vec<ErrorSpec>,
}

impl StatusSpec {
    /// A status (`sent`, `delivered`, `read`, `failed`, `played`, or any newer value) of message
    /// `wamid` sent to `recipient_id`, at `timestamp` (unix seconds).
    pub fn new(
        wamid: impl Into<String>,
        status: impl Into<String>,
        recipient_id: impl Into<String>,
        timestamp: i64,
    ) -> Self {
        Self {
            wamid: wamid.into(),
            status: status.into(),
            recipient_id: recipient_id.into(),
            timestamp,
            extra: Map::new(),
            errors: Vec::new(),
        }
    }

    /// Adds an entry to `errors` (for `failed` statuses, e.g. `ErrorSpec::new(131047,
    /// "Re-engagement message")`).
    pub fn error(mut self, error: ErrorSpec) -> Self {
        self.errors.push(error);
        self
    }

    /// Sets `pricing` to `{"billable":true,"pricing_model":"PMP","type":"regular","category":<category>}`.
    pub fn pricing(self, category: impl Into<String>) -> Self {
        self.field(
            "pricing",
            json!({
                "billable": true,
                "pricing_model": "PMP",
                "type": "regular",
                "category": category.into(),
            }),
        )
    }

    /// Sets `biz_opaque_callback_data`, the string the sender attached to the message.
    pub fn biz_opaque_callback_data(self, data: impl Into<String>) -> Self {
        self.field("biz_opaque_callback_data", Value::String(data.into()))
    }

    /// Sets any other field (e.g. `conversation`, `recipient_type`).
    pub fn field(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    fn to_json(&self) -> Value {
        let mut status = Map::new();
        status.insert("id".to_owned(), json!(self.wamid));
        status.insert("status".to_owned(), json!(self.status));
        status.insert("timestamp".to_owned(), json!(self.timestamp.to_string()));
        status.insert("recipient_id".to_owned(), json!(self.recipient_id));
        if !self.errors.is_empty() {
            status.insert(
                "errors".to_owned(),
                Value::Array(self.errors.iter().map(ErrorSpec::to_json).collect()),
            );
        }
        for (key, value) in &self.extra {
            status.insert(key.clone(), value.clone());
        }
        Value::Object(status)
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    id: String,
    changes: Vec<Value>,
}

/// Builder of one webhook POST body (`object: whatsapp_business_account`), batching any number of
/// entries and changes, as Meta does (up to 1000 updates per POST).
///
/// Each call adds one change to the current entry; [`Delivery::entry`] starts a new entry for
/// another WABA. [`Delivery::messages`] / [`Delivery::statuses`] put several updates in one change.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    entries: Vec<Entry>,
}

fn metadata(phone_number_id: &str, display_number: &str) -> Value {
    json!({ "display_phone_number": display_number, "phone_number_id": phone_number_id })
}

impl Delivery {
    /// A delivery whose first entry is for the WhatsApp Business Account `waba_id`.
    pub fn new(waba_id: impl Into<String>) -> Self {
        Self {
            entries: vec![Entry {
                id: waba_id.into(),
                changes: Vec::new(),
            }],
        }
    }

    /// Starts another entry (another WABA); later changes go there.
    pub fn entry(mut self, waba_id: impl Into<String>) -> Self {
        self.entries.push(Entry {
            id: waba_id.into(),
            changes: Vec::new(),
        });
        self
    }

    fn push_change(mut self, change: Value) -> Self {
        if let Some(entry) = self.entries.last_mut() {
            entry.changes.push(change);
        }
        self
    }

    /// Adds a `messages` change with one message received on `phone_number_id`
    /// (`display_number` is the business number as displayed, e.g. `15550783881`).
    pub fn message(
        self,
        phone_number_id: &str,
        display_number: &str,
        message: MessageSpec,
    ) -> Self {
        self.messages(phone_number_id, display_number, [message])
    }

    /// Adds one `messages` change holding several messages (and one contact per distinct
    /// sender).
    pub fn messages(
        self,
        phone_number_id: &str,
        display_number: &str,
        messages: impl IntoIterator<Item = MessageSpec>,
    ) -> Self {
        let messages: Vec<MessageSpec> = messages.into_iter().collect();
        // One contact per distinct sender; the first message's profile name wins.
        let mut senders: Vec<&Sender> = Vec::new();
        let mut contacts: Vec<Value> = Vec::new();
        for message in &messages {
            if !senders.contains(&&message.sender) {
                senders.push(&message.sender);
                contacts.push(message.contact());
            }
        }
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(phone_number_id, display_number),
            "contacts": contacts,
            "messages": messages.iter().map(|m| m.to_json(display_number)).collect::<Vec<_>>(),
        });
        self.push_change(json!({ "field": "messages", "value": value }))
    }

    /// Adds a `messages` change with one status update.
    pub fn status(self, phone_number_id: &str, display_number: &str, status: StatusSpec) -> Self {
        self.statuses(phone_number_id, display_number, [status])
    }

    /// Adds one `messages` change holding several status updates.
    pub fn statuses(
        self,
        phone_number_id: &str,
        display_number: &str,
        statuses: impl IntoIterator<Item = StatusSpec>,
    ) -> Self {
        let statuses: Vec<Value> = statuses.into_iter().map(|s| s.to_json()).collect();
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(phone_number_id, display_number),
            "statuses": statuses,
        });
        self.push_change(json!({ "field": "messages", "value": value }))
    }

    /// Adds a `messages` change carrying a change-level `errors` array (an error not tied to one
    /// message, e.g. 131052 media download failure).
    pub fn change_error(
        self,
        phone_number_id: &str,
        display_number: &str,
        error: ErrorSpec,
    ) -> Self {
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(phone_number_id, display_number),
            "errors": [error.to_json()],
        });
        self.push_change(json!({ "field": "messages", "value": value }))
    }

    /// Adds a change of any webhook field with a raw `value` (e.g.
    /// `message_template_status_update`, or a field chatport does not know yet).
    pub fn field(self, name: impl Into<String>, value: Value) -> Self {
        self.push_change(json!({ "field": name.into(), "value": value }))
    }

    /// The number of updates (messages + statuses + errors + other changes) in the delivery.
    pub fn update_count(&self) -> usize {
        self.entries
            .iter()
            .flat_map(|e| &e.changes)
            .map(|change| {
                let value = &change["value"];
                let counted: usize = ["messages", "statuses", "errors"]
                    .iter()
                    .filter_map(|k| value.get(*k).and_then(Value::as_array))
                    .map(Vec::len)
                    .sum();
                counted.max(1)
            })
            .sum()
    }

    /// The POST body as JSON. Encode it with [`meta_json`] (as [`WebhookSimulator::deliver`]
    /// does) to get the bytes Meta would sign.
    pub fn build(&self) -> Value {
        json!({
            "object": "whatsapp_business_account",
            "entry": self
                .entries
                .iter()
                .map(|e| json!({ "id": e.id, "changes": e.changes }))
                .collect::<Vec<_>>(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Simulator

/// The receiver's answer to one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryResult {
    /// HTTP status the receiver answered (Meta retries anything but 200).
    pub status: u16,
    /// Response body as text.
    pub body: String,
}

impl DeliveryResult {
    /// Whether Meta would consider the delivery acknowledged (HTTP 200 exactly).
    pub fn acknowledged(&self) -> bool {
        self.status == 200
    }
}

/// Posts signed webhook deliveries to a receiver URL, the way Meta does: `POST <url>` with
/// `Content-Type: application/json`, `User-Agent: facebookexternalua` and
/// `X-Hub-Signature-256: sha256=<hex>` over the exact bytes sent.
#[derive(Clone)]
pub struct WebhookSimulator {
    url: String,
    app_secret: Vec<u8>,
    client: reqwest::Client,
}

impl fmt::Debug for WebhookSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSimulator")
            .field("url", &self.url)
            .field("app_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl WebhookSimulator {
    /// A simulator posting to `url` and signing with `app_secret`.
    pub fn new(url: impl Into<String>, app_secret: impl Into<Vec<u8>>) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(META_USER_AGENT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            url: url.into(),
            app_secret: app_secret.into(),
            client,
        }
    }

    /// Uses this HTTP client (e.g. with a timeout) instead of the default one.
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// The receiver URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The signature header value for `body` with this simulator's secret (see [`sign`]).
    pub fn signature(&self, body: &[u8]) -> String {
        sign(&self.app_secret, body)
    }

    /// Encodes `payload` with [`meta_json`], signs it and POSTs it.
    ///
    /// # Errors
    /// [`Error::Http`] when the request cannot be sent or the answer read; an HTTP error status is
    /// returned in [`DeliveryResult::status`], not as an error.
    pub async fn deliver(&self, payload: &Value) -> Result<DeliveryResult, Error> {
        self.deliver_bytes(meta_json(payload).into_bytes()).await
    }

    /// Signs exactly these bytes and POSTs them (e.g. a recorded real delivery).
    ///
    /// # Errors
    /// As [`Self::deliver`].
    pub async fn deliver_bytes(&self, body: Vec<u8>) -> Result<DeliveryResult, Error> {
        let signature = self.signature(&body);
        self.deliver_raw(body, Some(signature)).await
    }

    /// POSTs `body` with the given `X-Hub-Signature-256` value, or without the header when
    /// `signature` is `None`: for negative tests (wrong secret, tampered body, malformed header).
    ///
    /// # Errors
    /// As [`Self::deliver`].
    pub async fn deliver_raw(
        &self,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> Result<DeliveryResult, Error> {
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let response = request.send().await.map_err(Error::Http)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(Error::Http)?;
        Ok(DeliveryResult { status, body })
    }
}

// ---------------------------------------------------------------------------------------------
// Batched, duplicated and out-of-order deliveries

impl Delivery {
    /// Merges several deliveries into **one** POST: every entry of every delivery, in order, as
    /// Meta does when it batches updates ("aggregated and sent in a batch with a maximum of 1000
    /// updates", Meta: webhooks/create-webhook-endpoint).
    pub fn batch(deliveries: impl IntoIterator<Item = Delivery>) -> Delivery {
        let entries = deliveries
            .into_iter()
            .flat_map(|d| d.entries)
            .filter(|e| !e.changes.is_empty())
            .collect();
        Delivery { entries }
    }
}

/// How [`WebhookSimulator::deliver_plan`] sends a sequence of payloads: shuffled (webhooks are
/// delivered concurrently, ordering is not guaranteed) and with duplicates (Meta retries and
/// delivers to every subscribed app), both drawn from a seeded RNG so a run is reproducible.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DeliveryPlan {
    /// RNG seed.
    pub seed: u64,
    /// Whether to send the payloads in a random order.
    pub shuffle: bool,
    /// Share (0.0–1.0) of payloads sent a second time (byte-identical, re-signed identically).
    pub duplicate_share: f64,
}

impl DeliveryPlan {
    /// In order, no duplicates.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            shuffle: false,
            duplicate_share: 0.0,
        }
    }

    /// Sends the payloads in a random order.
    #[must_use]
    pub fn shuffled(mut self) -> Self {
        self.shuffle = true;
        self
    }

    /// Sends this share of payloads twice.
    #[must_use]
    pub fn duplicates(mut self, share: f64) -> Self {
        self.duplicate_share = share;
        self
    }

    /// The order in which payload indexes are sent for `n` payloads (duplicates included).
    pub fn schedule(&self, n: usize) -> Vec<usize> {
        let mut state = self.seed;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut order: Vec<usize> = Vec::with_capacity(n * 2);
        for i in 0..n {
            order.push(i);
            if ((next() >> 11) as f64 / (1u64 << 53) as f64) < self.duplicate_share {
                order.push(i);
            }
        }
        if self.shuffle {
            for i in (1..order.len()).rev() {
                let j = (next() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
        }
        order
    }
}

impl WebhookSimulator {
    /// Delivers `payloads` as [`DeliveryPlan::schedule`] says (shuffled, with duplicates), one
    /// POST at a time; returns `(payload index, result)` in sending order.
    ///
    /// # Errors
    /// [`Error::Http`] when a POST fails.
    pub async fn deliver_plan(
        &self,
        payloads: &[Value],
        plan: &DeliveryPlan,
    ) -> Result<Vec<(usize, DeliveryResult)>, Error> {
        let bodies: Vec<Vec<u8>> = payloads.iter().map(|p| meta_json(p).into_bytes()).collect();
        let mut results = Vec::new();
        for i in plan.schedule(payloads.len()) {
            let result = self.deliver_bytes(bodies[i].clone()).await?;
            results.push((i, result));
        }
        Ok(results)
    }

    /// Delivers `deliveries` merged into one batched POST ([`Delivery::batch`]).
    ///
    /// # Errors
    /// [`Error::Http`] when the POST fails.
    pub async fn deliver_batched(
        &self,
        deliveries: impl IntoIterator<Item = Delivery>,
    ) -> Result<DeliveryResult, Error> {
        self.deliver(&Delivery::batch(deliveries).build()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_rfc4231_cases() {
        // Case 2: short key.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Case 6: a 131-byte key, longer than the block, is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // Case 1: 20-byte key of 0x0b.
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn plans_are_reproducible() {
        let plan = DeliveryPlan::seeded(9).shuffled().duplicates(0.5);
        let a = plan.schedule(20);
        assert_eq!(a, plan.schedule(20));
        assert!(a.len() > 20, "some duplicates");
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>(), "every payload sent");
        assert_ne!(a[..20], (0..20).collect::<Vec<_>>()[..], "shuffled");
        assert_eq!(DeliveryPlan::seeded(1).schedule(3), vec![0, 1, 2]);
        let batch = Delivery::batch([
            Delivery::new("1").field("account_update", json!({"x": 1})),
            Delivery::new("2").field("account_update", json!({"x": 2})),
            Delivery::new("3"),
        ]);
        assert_eq!(batch.build()["entry"].as_array().map(Vec::len), Some(2));
        assert_eq!(batch.update_count(), 2);
    }

    #[test]
    fn escapes_like_meta() {
        assert_eq!(escape_non_ascii("\"äöå\""), "\"\\u00e4\\u00f6\\u00e5\"");
        assert_eq!(escape_non_ascii("😀"), "\\ud83d\\ude00");
        assert_eq!(escape_non_ascii("plain/ascii"), "plain/ascii");
    }
}
