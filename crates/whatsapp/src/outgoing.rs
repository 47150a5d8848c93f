//! Outbound messages for `POST /{PHONE_NUMBER_ID}/messages` and the answer to it.
//!
//! Envelope (Meta: messages/send-messages):
//! `{"messaging_product":"whatsapp","recipient_type":"individual","to":…|"recipient":…,"type":T,T:{…},
//! "context":{"message_id":…}?,"biz_opaque_callback_data":…?}`.

use std::fmt;

use chatport_core::redact;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::interactive::{InteractiveMessage, max_chars, non_empty};
use crate::limits;
use crate::media::{MediaKind, MediaSource};
use crate::template::Template;
use crate::webhook::Extra;

pub use crate::limits::TEXT_BODY_MAX_CHARS;

/// Who a message goes to.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Recipient {
    /// A phone number or `wa_id`, sent as `to`. `+`, `-`, `()` and spaces are accepted by Meta; a
    /// number without `+` gets the **business** number's country code prepended (Meta:
    /// messages/send-messages), so prefer the `wa_id` from a webhook or a full `+E.164` number.
    Phone(String),
    /// A business-scoped user id (BSUID, e.g. `US.13491208655302741918`), sent as `recipient`, for
    /// users known without a phone number (Meta: business-scoped-user-ids).
    UserId(String),
}

impl Recipient {
    /// A phone number or `wa_id` (`to`).
    pub fn phone(number: impl Into<String>) -> Self {
        Recipient::Phone(number.into())
    }

    /// A business-scoped user id (`recipient`).
    pub fn user_id(bsuid: impl Into<String>) -> Self {
        Recipient::UserId(bsuid.into())
    }

    /// The number or id.
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::Phone(s) | Recipient::UserId(s) => s,
        }
    }

    /// The envelope field it is sent in: `to` or `recipient`.
    pub fn field(&self) -> &'static str {
        match self {
            Recipient::Phone(_) => "to",
            Recipient::UserId(_) => "recipient",
        }
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Recipient::Phone(_) => "Phone",
            Recipient::UserId(_) => "UserId",
        };
        f.debug_tuple(name)
            .field(&redact::phone(self.as_str()))
            .finish()
    }
}

#[derive(Clone, PartialEq)]
enum Content {
    Text {
        body: String,
        preview_url: Option<bool>,
    },
    Media {
        kind: MediaKind,
        source: MediaSource,
        caption: Option<String>,
        filename: Option<String>,
        voice: Option<bool>,
    },
    Location(OutgoingLocation),
    Contacts(Vec<ContactCard>),
    Reaction {
        message_id: String,
        emoji: String,
    },
    Interactive(InteractiveMessage),
    Template(Template),
}

/// A location to send (`type: location`): latitude and longitude in degrees, optional name and
/// address.
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingLocation {
    /// Latitude, −90 to 90.
    pub latitude: f64,
    /// Longitude, −180 to 180.
    pub longitude: f64,
    /// Name of the place.
    pub name: Option<String>,
    /// Address of the place.
    pub address: Option<String>,
}

impl OutgoingLocation {
    /// A location from coordinates in degrees.
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Self {
            latitude,
            longitude,
            name: None,
            address: None,
        }
    }

    /// Sets the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the address.
    #[must_use]
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
}

/// One contact card of a `contacts` message: `{"name":{"formatted_name" (required), "first_name",
/// "last_name"}, "phones":[{"phone","type","wa_id"}], "emails":[{"email","type"}], "urls":[..],
/// "org":{..}, "birthday", "addresses":[..]}` (whatsapp-api-js `src/messages/contacts.ts`). Its
/// `Debug` shows no personal data.
#[derive(Clone, PartialEq)]
pub struct ContactCard {
    object: serde_json::Map<String, Value>,
}

impl fmt::Debug for ContactCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContactCard")
            .field("fields", &self.object.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ContactCard {
    /// A card with its required `name.formatted_name`.
    pub fn new(formatted_name: impl Into<String>) -> Self {
        let mut object = serde_json::Map::new();
        object.insert(
            "name".into(),
            serde_json::json!({ "formatted_name": formatted_name.into() }),
        );
        Self { object }
    }

    fn name_field(mut self, key: &str, value: String) -> Self {
        if let Some(Value::Object(name)) = self.object.get_mut("name") {
            name.insert(key.into(), Value::String(value));
        }
        self
    }

    fn push(mut self, key: &str, item: Value) -> Self {
        let list = self
            .object
            .entry(key.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(item);
        }
        self
    }

    /// `name.first_name`.
    #[must_use]
    pub fn first_name(self, value: impl Into<String>) -> Self {
        self.name_field("first_name", value.into())
    }

    /// `name.last_name`.
    #[must_use]
    pub fn last_name(self, value: impl Into<String>) -> Self {
        self.name_field("last_name", value.into())
    }

    /// Adds a phone (`type` e.g. `CELL`, `WORK`; `wa_id` makes the card's "Message" button work).
    #[must_use]
    pub fn phone(self, phone: impl Into<String>, kind: Option<&str>, wa_id: Option<&str>) -> Self {
        let mut item = serde_json::json!({ "phone": phone.into() });
        if let Some(k) = kind {
            item["type"] = Value::String(k.to_owned());
        }
        if let Some(w) = wa_id {
            item["wa_id"] = Value::String(w.to_owned());
        }
        self.push("phones", item)
    }

    /// Adds an e-mail address (`type` e.g. `WORK`).
    #[must_use]
    pub fn email(self, email: impl Into<String>, kind: Option<&str>) -> Self {
        let mut item = serde_json::json!({ "email": email.into() });
        if let Some(k) = kind {
            item["type"] = Value::String(k.to_owned());
        }
        self.push("emails", item)
    }

    /// Adds a URL (`type` e.g. `WORK`).
    #[must_use]
    pub fn url(self, url: impl Into<String>, kind: Option<&str>) -> Self {
        let mut item = serde_json::json!({ "url": url.into() });
        if let Some(k) = kind {
            item["type"] = Value::String(k.to_owned());
        }
        self.push("urls", item)
    }

    /// Sets `org` (`company`, `department`, `title`).
    #[must_use]
    pub fn organization(
        mut self,
        company: impl Into<String>,
        department: Option<&str>,
        title: Option<&str>,
    ) -> Self {
        let mut org = serde_json::json!({ "company": company.into() });
        if let Some(d) = department {
            org["department"] = Value::String(d.to_owned());
        }
        if let Some(t) = title {
            org["title"] = Value::String(t.to_owned());
        }
        self.object.insert("org".into(), org);
        self
    }

    /// Sets `birthday` (`YYYY-MM-DD`).
    #[must_use]
    pub fn birthday(mut self, date: impl Into<String>) -> Self {
        self.object
            .insert("birthday".into(), Value::String(date.into()));
        self
    }

    /// Sets any other field verbatim (e.g. `addresses`).
    #[must_use]
    pub fn field(mut self, key: impl Into<String>, value: Value) -> Self {
        self.object.insert(key.into(), value);
        self
    }

    fn formatted_name(&self) -> &str {
        self.object
            .get("name")
            .and_then(|n| n.get("formatted_name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// A message to send with [`Client::send`](crate::Client::send).
///
/// Build with [`OutgoingMessage::text`], [`OutgoingMessage::template`], [`OutgoingMessage::media`]
/// (and its shortcuts [`image`](OutgoingMessage::image), [`video`](OutgoingMessage::video),
/// [`audio`](OutgoingMessage::audio), [`voice`](OutgoingMessage::voice),
/// [`document`](OutgoingMessage::document), [`sticker`](OutgoingMessage::sticker)),
/// [`OutgoingMessage::location`], [`OutgoingMessage::contacts`], [`OutgoingMessage::reaction`],
/// [`OutgoingMessage::remove_reaction`] or [`OutgoingMessage::interactive`]; refine with
/// [`reply_to`](OutgoingMessage::reply_to) and
/// [`biz_opaque_callback_data`](OutgoingMessage::biz_opaque_callback_data). It serialises to Meta's
/// envelope; [`OutgoingMessage::validate`] checks the documented limits (the client calls it before
/// sending). Its `Debug` masks the recipient and the text.
#[derive(Clone, PartialEq)]
pub struct OutgoingMessage {
    recipient: Recipient,
    content: Content,
    reply_to: Option<String>,
    biz_opaque_callback_data: Option<String>,
}

impl fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OutgoingMessage");
        d.field("recipient", &self.recipient)
            .field("type", &self.message_type());
        match &self.content {
            Content::Text { body, .. } => d.field("text", &redact::text(body)),
            Content::Template(t) => d.field("template", t),
            Content::Media { source, .. } => d.field("media", source),
            Content::Interactive(i) => d.field("interactive", i),
            Content::Reaction { message_id, .. } => d.field("reaction_to", message_id),
            Content::Contacts(c) => d.field("contacts", &c.len()),
            Content::Location(_) => d.field("location", &"[redacted]"),
        };
        d.field("reply_to", &self.reply_to).finish_non_exhaustive()
    }
}

impl OutgoingMessage {
    /// A text message (`type: text`, body up to [`TEXT_BODY_MAX_CHARS`] characters). Free-form: only
    /// inside the 24-hour customer service window, otherwise Meta answers 131047.
    pub fn text(to: Recipient, body: impl Into<String>) -> Self {
        Self::new(
            to,
            Content::Text {
                body: body.into(),
                preview_url: None,
            },
        )
    }

    /// A template message.
    pub fn template(to: Recipient, template: Template) -> Self {
        Self::new(to, Content::Template(template))
    }

    /// A media message of `kind` by uploaded id or link. Add a caption (image, video, document)
    /// with [`OutgoingMessage::caption`], a file name (document) with
    /// [`OutgoingMessage::filename`].
    pub fn media(to: Recipient, kind: MediaKind, source: MediaSource) -> Self {
        Self::new(
            to,
            Content::Media {
                kind,
                source,
                caption: None,
                filename: None,
                voice: None,
            },
        )
    }

    /// An image (JPEG or PNG, ≤ 5 MB).
    pub fn image(to: Recipient, source: MediaSource) -> Self {
        Self::media(to, MediaKind::Image, source)
    }

    /// A video (MP4 or 3GPP, ≤ 16 MB).
    pub fn video(to: Recipient, source: MediaSource) -> Self {
        Self::media(to, MediaKind::Video, source)
    }

    /// An audio file (≤ 16 MB).
    pub fn audio(to: Recipient, source: MediaSource) -> Self {
        Self::media(to, MediaKind::Audio, source)
    }

    /// A voice note: audio with `voice: true` (Meta wants OGG/OPUS).
    pub fn voice(to: Recipient, source: MediaSource) -> Self {
        let mut m = Self::media(to, MediaKind::Audio, source);
        if let Content::Media { voice, .. } = &mut m.content {
            *voice = Some(true);
        }
        m
    }

    /// A document (≤ 100 MB); add [`OutgoingMessage::filename`] so the user sees a name.
    pub fn document(to: Recipient, source: MediaSource) -> Self {
        Self::media(to, MediaKind::Document, source)
    }

    /// A sticker (WebP, ≤ 500 KB animated / 100 KB static).
    pub fn sticker(to: Recipient, source: MediaSource) -> Self {
        Self::media(to, MediaKind::Sticker, source)
    }

    /// A location.
    pub fn location(to: Recipient, location: OutgoingLocation) -> Self {
        Self::new(to, Content::Location(location))
    }

    /// One or more contact cards.
    pub fn contacts(to: Recipient, cards: Vec<ContactCard>) -> Self {
        Self::new(to, Content::Contacts(cards))
    }

    /// A reaction `emoji` on the message `message_id`. Triggers only a `sent` status; reacting to
    /// a message older than 30 days gives 131009 by webhook (Meta: messages/reaction-messages).
    pub fn reaction(
        to: Recipient,
        message_id: impl Into<String>,
        emoji: impl Into<String>,
    ) -> Self {
        Self::new(
            to,
            Content::Reaction {
                message_id: message_id.into(),
                emoji: emoji.into(),
            },
        )
    }

    /// Removes the business's reaction on `message_id` (a reaction with an empty emoji).
    pub fn remove_reaction(to: Recipient, message_id: impl Into<String>) -> Self {
        Self::reaction(to, message_id, "")
    }

    /// An interactive message (reply buttons, list, call-to-action URL).
    pub fn interactive(to: Recipient, interactive: InteractiveMessage) -> Self {
        Self::new(to, Content::Interactive(interactive))
    }

    fn new(recipient: Recipient, content: Content) -> Self {
        Self {
            recipient,
            content,
            reply_to: None,
            biz_opaque_callback_data: None,
        }
    }

    /// For a text message: render a preview of the first `http(s)://` URL in the body. No effect on
    /// other types.
    #[must_use]
    pub fn preview_url(mut self, preview: bool) -> Self {
        if let Content::Text { preview_url, .. } = &mut self.content {
            *preview_url = Some(preview);
        }
        self
    }

    /// For an image, video or document: the caption (≤ [`limits::CAPTION_MAX_CHARS`] characters).
    /// On other kinds it makes [`OutgoingMessage::validate`] fail.
    #[must_use]
    pub fn caption(mut self, text: impl Into<String>) -> Self {
        if let Content::Media { caption, .. } = &mut self.content {
            *caption = Some(text.into());
        }
        self
    }

    /// For a document: the file name shown. On other kinds it makes
    /// [`OutgoingMessage::validate`] fail.
    #[must_use]
    pub fn filename(mut self, name: impl Into<String>) -> Self {
        if let Content::Media { filename, .. } = &mut self.content {
            *filename = Some(name.into());
        }
        self
    }

    /// Whether this is a template, the only kind Meta accepts outside the 24-hour customer
    /// service window.
    pub fn is_template(&self) -> bool {
        matches!(self.content, Content::Template(_))
    }

    /// A copy addressed to the same recipient with different content: `template`, keeping
    /// `biz_opaque_callback_data` but not the reply context (used for the window fallback).
    pub(crate) fn with_template(&self, template: Template) -> Self {
        Self {
            recipient: self.recipient.clone(),
            content: Content::Template(template),
            reply_to: None,
            biz_opaque_callback_data: self.biz_opaque_callback_data.clone(),
        }
    }

    /// Sends the message as a quoted reply to `wamid` (`context.message_id`).
    #[must_use]
    pub fn reply_to(mut self, wamid: impl Into<String>) -> Self {
        self.reply_to = Some(wamid.into());
        self
    }

    /// A string of the business's own that Meta echoes back in the message's status webhooks
    /// (`statuses[].biz_opaque_callback_data`): a correlation id.
    #[must_use]
    pub fn biz_opaque_callback_data(mut self, data: impl Into<String>) -> Self {
        self.biz_opaque_callback_data = Some(data.into());
        self
    }

    /// The recipient.
    pub fn recipient(&self) -> &Recipient {
        &self.recipient
    }

    /// The `type` Meta will see: `text`, `image`, `video`, `audio`, `document`, `sticker`,
    /// `location`, `contacts`, `reaction`, `interactive` or `template`.
    pub fn message_type(&self) -> &'static str {
        match &self.content {
            Content::Text { .. } => "text",
            Content::Media { kind, .. } => kind.as_str(),
            Content::Location(_) => "location",
            Content::Contacts(_) => "contacts",
            Content::Reaction { .. } => "reaction",
            Content::Interactive(_) => "interactive",
            Content::Template(_) => "template",
        }
    }

    /// The text body, for a text message.
    pub fn text_body(&self) -> Option<&str> {
        match &self.content {
            Content::Text { body, .. } => Some(body),
            _ => None,
        }
    }

    /// The template, for a template message.
    pub fn as_template(&self) -> Option<&Template> {
        match &self.content {
            Content::Template(t) => Some(t),
            _ => None,
        }
    }

    /// Checks the message against Meta's documented limits before it is sent (the limits are in
    /// [`limits`]).
    ///
    /// # Errors
    /// - [`Error::Validation`] naming the field and the limit: `text.body` over
    ///   [`TEXT_BODY_MAX_CHARS`], a caption over [`limits::CAPTION_MAX_CHARS`], more than three
    ///   reply buttons, a button title over 20 characters, list rows / sections / titles over
    ///   their limits, ... (see [`InteractiveMessage`]);
    /// - [`Error::Invalid`] for an empty (or blank) recipient, text body, template name or
    ///   language code, media id, reaction `message_id`, contact `formatted_name` or
    ///   `context.message_id`; a caption on audio or a sticker, a file name on anything but a
    ///   document; coordinates out of range; a link that is not an `http(s)` URL; template
    ///   parameters that mix named and positional ones;
    /// - [`Error::PhoneNumberRequired`] for an [authentication](Template::authentication) template
    ///   addressed to a business-scoped user id ([`Recipient::UserId`]): Meta would answer 131062.
    pub fn validate(&self) -> Result<(), Error> {
        if self.recipient.as_str().trim().is_empty() {
            return Err(Error::Invalid {
                field: self.recipient.field(),
                reason: "must not be empty",
            });
        }
        match &self.content {
            Content::Text { body, .. } => {
                non_empty("text.body", body)?;
                max_chars("text.body", body, TEXT_BODY_MAX_CHARS)?;
            }
            Content::Media {
                kind,
                source,
                caption,
                filename,
                voice,
            } => {
                source.validate(media_field(*kind))?;
                if let Some(c) = caption {
                    if !kind.allows_caption() {
                        return Err(Error::Invalid {
                            field: "caption",
                            reason: "only image, video and document messages have a caption",
                        });
                    }
                    max_chars("caption", c, limits::CAPTION_MAX_CHARS)?;
                }
                if filename.is_some() && *kind != MediaKind::Document {
                    return Err(Error::Invalid {
                        field: "filename",
                        reason: "only document messages have a file name",
                    });
                }
                if voice.is_some() && *kind != MediaKind::Audio {
                    return Err(Error::Invalid {
                        field: "voice",
                        reason: "only audio messages can be voice notes",
                    });
                }
            }
            Content::Location(l) => {
                if !(l.latitude.is_finite() && (-90.0..=90.0).contains(&l.latitude)) {
                    return Err(Error::Invalid {
                        field: "location.latitude",
                        reason: "must be between -90 and 90",
                    });
                }
                if !(l.longitude.is_finite() && (-180.0..=180.0).contains(&l.longitude)) {
                    return Err(Error::Invalid {
                        field: "location.longitude",
                        reason: "must be between -180 and 180",
                    });
                }
            }
            Content::Contacts(cards) => {
                if cards.is_empty() {
                    return Err(Error::Invalid {
                        field: "contacts",
                        reason: "needs at least one contact",
                    });
                }
                for card in cards {
                    non_empty("contacts[].name.formatted_name", card.formatted_name())?;
                }
            }
            Content::Reaction { message_id, .. } => {
                non_empty("reaction.message_id", message_id)?;
                max_chars("reaction.message_id", message_id, limits::WAMID_MAX_CHARS)?;
            }
            Content::Interactive(i) => i.validate()?,
            Content::Template(t) => {
                t.validate()?;
                if t.needs_phone_number() && matches!(self.recipient, Recipient::UserId(_)) {
                    return Err(Error::PhoneNumberRequired {
                        what: "an authentication template",
                    });
                }
            }
        }
        if let Some(w) = &self.reply_to {
            non_empty("context.message_id", w)?;
            max_chars("context.message_id", w, limits::WAMID_MAX_CHARS)?;
        }
        Ok(())
    }

    /// The request body as JSON (what [`Client::send`](crate::Client::send) posts).
    pub fn to_json(&self) -> Value {
        // Serialising this type into a Value cannot fail (string keys, no non-finite floats).
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for OutgoingMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("messaging_product", "whatsapp")?;
        map.serialize_entry("recipient_type", "individual")?;
        map.serialize_entry(self.recipient.field(), self.recipient.as_str())?;
        map.serialize_entry("type", self.message_type())?;
        match &self.content {
            Content::Text { body, preview_url } => {
                let mut text = serde_json::json!({ "body": body });
                if let Some(p) = preview_url {
                    text["preview_url"] = Value::Bool(*p);
                }
                map.serialize_entry("text", &text)?;
            }
            Content::Template(t) => map.serialize_entry("template", &t.to_json())?,
            Content::Media {
                kind,
                source,
                caption,
                filename,
                voice,
            } => {
                let mut media = source.to_json();
                if let Some(c) = caption {
                    media["caption"] = Value::String(c.clone());
                }
                if let Some(f) = filename {
                    media["filename"] = Value::String(f.clone());
                }
                if let Some(v) = voice {
                    media["voice"] = Value::Bool(*v);
                }
                map.serialize_entry(kind.as_str(), &media)?;
            }
            Content::Location(l) => {
                let mut location =
                    serde_json::json!({ "latitude": l.latitude, "longitude": l.longitude });
                if let Some(n) = &l.name {
                    location["name"] = Value::String(n.clone());
                }
                if let Some(a) = &l.address {
                    location["address"] = Value::String(a.clone());
                }
                map.serialize_entry("location", &location)?;
            }
            Content::Contacts(cards) => {
                let cards: Vec<&serde_json::Map<String, Value>> =
                    cards.iter().map(|c| &c.object).collect();
                map.serialize_entry("contacts", &cards)?;
            }
            Content::Reaction { message_id, emoji } => map.serialize_entry(
                "reaction",
                &serde_json::json!({ "message_id": message_id, "emoji": emoji }),
            )?,
            Content::Interactive(i) => map.serialize_entry("interactive", &i.to_json())?,
        }
        if let Some(wamid) = &self.reply_to {
            map.serialize_entry("context", &serde_json::json!({ "message_id": wamid }))?;
        }
        if let Some(data) = &self.biz_opaque_callback_data {
            map.serialize_entry("biz_opaque_callback_data", data)?;
        }
        map.end()
    }
}

fn media_field(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Document => "document",
        MediaKind::Sticker => "sticker",
    }
}

/// The answer to a successful send: `{"messaging_product","contacts":[{"input","wa_id"}],
/// "messages":[{"id","message_status"?}]}`. It means **accepted, not delivered**: delivery comes
/// later as a status webhook (Meta: messages/send-messages).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SendResponse {
    /// `whatsapp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_product: Option<String>,
    /// What the recipient resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<SentContact>,
    /// The accepted message(s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<SentMessage>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for SendResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendResponse")
            .field("contacts", &self.contacts)
            .field("messages", &self.messages)
            .finish_non_exhaustive()
    }
}

impl SendResponse {
    /// The business-scoped user id of the (first) recipient, when Meta answered one.
    pub fn user_id(&self) -> Option<&str> {
        self.contacts
            .first()
            .and_then(|c| c.user_id.as_deref())
            .filter(|id| !id.is_empty())
    }

    /// The wamid of the (first) accepted message.
    pub fn wamid(&self) -> Option<&str> {
        self.messages
            .first()
            .map(|m| m.id.as_str())
            .filter(|id| !id.is_empty())
    }
}

/// `contacts[]` of a send answer: `{"input", "wa_id"?, "user_id"?}`. `input` and `wa_id` may differ;
/// a send to a BSUID (`recipient`) answers the `user_id` and, when Meta may share it, the `wa_id`
/// (Meta: business-scoped-user-ids, "API responses").
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SentContact {
    /// The number or BSUID as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The user's WhatsApp id (phone number); absent when Meta withholds it (username users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// The user's business-scoped user id (BSUID), e.g. `US.13491208655302741918`: the stable key
    /// to store for the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for SentContact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentContact")
            .field("input", &self.input.as_deref().map(redact::phone))
            .field("wa_id", &self.wa_id.as_deref().map(redact::phone))
            .field("user_id", &self.user_id.as_deref().map(redact::phone))
            .finish_non_exhaustive()
    }
}

/// `messages[]` of a send answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    /// The wamid.
    #[serde(default)]
    pub id: String,
    /// Only for paced templates (e.g. `accepted`, `held_for_quality_assessment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_status: Option<String>,
    /// Fields not modelled here (e.g. `group_id`).
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_envelope() {
        let msg = OutgoingMessage::text(Recipient::phone("+16505551234"), "Hello")
            .preview_url(true)
            .reply_to("wamid.IN")
            .biz_opaque_callback_data("case-7");
        assert_eq!(
            msg.to_json(),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "+16505551234",
                "type": "text",
                "text": {"body": "Hello", "preview_url": true},
                "context": {"message_id": "wamid.IN"},
                "biz_opaque_callback_data": "case-7"
            })
        );
        let debug = format!("{msg:?}");
        assert!(
            !debug.contains("5551234") && !debug.contains("Hello"),
            "{debug}"
        );
    }

    #[test]
    fn template_and_bsuid() {
        let msg = OutgoingMessage::template(
            Recipient::user_id("US.13491208655302741918"),
            Template::new("case_opened", "en_US").body_parameters(vec!["C-1".into(), "2".into()]),
        );
        assert_eq!(
            msg.to_json(),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "recipient": "US.13491208655302741918",
                "type": "template",
                "template": {
                    "name": "case_opened",
                    "language": {"code": "en_US"},
                    "components": [{"type": "body", "parameters": [
                        {"type": "text", "text": "C-1"}, {"type": "text", "text": "2"}]}]
                }
            })
        );
        let bare = OutgoingMessage::template(Recipient::phone("1"), Template::new("hello", "de"));
        assert!(bare.to_json()["template"].get("components").is_none());
        // preview_url has no effect on templates
        assert_eq!(bare.clone().preview_url(true), bare);
    }

    #[test]
    fn limits() {
        let ok = OutgoingMessage::text(Recipient::phone("1"), "ä".repeat(TEXT_BODY_MAX_CHARS));
        assert!(ok.validate().is_ok());
        let long =
            OutgoingMessage::text(Recipient::phone("1"), "ä".repeat(TEXT_BODY_MAX_CHARS + 1));
        match long.validate() {
            Err(Error::Validation {
                field,
                limit,
                actual,
            }) => {
                assert_eq!((field, limit, actual), ("text.body", 4096, 4097));
            }
            other => panic!("{other:?}"),
        }
        let err = long.validate().unwrap_err().to_string();
        assert!(err.contains("text.body") && err.contains("4096"), "{err}");
        assert!(matches!(
            OutgoingMessage::text(Recipient::phone(" "), "x").validate(),
            Err(Error::Invalid { field: "to", .. })
        ));
        assert!(matches!(
            OutgoingMessage::text(Recipient::user_id(""), "x").validate(),
            Err(Error::Invalid {
                field: "recipient",
                ..
            })
        ));
        assert!(matches!(
            OutgoingMessage::text(Recipient::phone("1"), "").validate(),
            Err(Error::Invalid {
                field: "text.body",
                ..
            })
        ));
        assert!(matches!(
            OutgoingMessage::template(Recipient::phone("1"), Template::new("", "en")).validate(),
            Err(Error::Invalid {
                field: "template.name",
                ..
            })
        ));
        assert!(matches!(
            OutgoingMessage::template(Recipient::phone("1"), Template::new("t", "")).validate(),
            Err(Error::Invalid {
                field: "template.language.code",
                ..
            })
        ));
    }

    #[test]
    fn send_response() {
        let r: SendResponse = serde_json::from_value(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": "wamid.OUT", "message_status": "accepted"}],
            "new_field": 1
        }))
        .unwrap();
        assert_eq!(r.wamid(), Some("wamid.OUT"));
        assert_eq!(r.messages[0].message_status.as_deref(), Some("accepted"));
        assert_eq!(r.extra["new_field"], 1);
        assert!(!format!("{r:?}").contains("5551234"));
        let empty: SendResponse = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty.wamid(), None);
    }

    fn to() -> Recipient {
        Recipient::phone("+16505551234")
    }

    fn body_of(msg: &OutgoingMessage) -> Value {
        msg.validate().unwrap();
        let v = msg.to_json();
        v[msg.message_type()].clone()
    }

    #[test]
    fn media_messages() {
        let img = OutgoingMessage::image(to(), MediaSource::id("1234")).caption("look");
        assert_eq!(body_of(&img), json!({"id": "1234", "caption": "look"}));
        let doc = OutgoingMessage::document(to(), MediaSource::link("https://x.test/a.pdf"))
            .caption("invoice")
            .filename("a.pdf");
        assert_eq!(
            body_of(&doc),
            json!({"link": "https://x.test/a.pdf", "caption": "invoice", "filename": "a.pdf"})
        );
        let voice = OutgoingMessage::voice(to(), MediaSource::id("9"));
        assert_eq!(voice.message_type(), "audio");
        assert_eq!(body_of(&voice), json!({"id": "9", "voice": true}));
        assert_eq!(
            body_of(&OutgoingMessage::sticker(to(), MediaSource::id("s"))),
            json!({"id": "s"})
        );
        assert_eq!(
            body_of(&OutgoingMessage::video(to(), MediaSource::id("v"))),
            json!({"id": "v"})
        );
        // caption on audio / sticker, filename on image, bad link, over-long caption
        assert!(matches!(
            OutgoingMessage::audio(to(), MediaSource::id("a"))
                .caption("x")
                .validate(),
            Err(Error::Invalid {
                field: "caption",
                ..
            })
        ));
        assert!(matches!(
            OutgoingMessage::sticker(to(), MediaSource::id("a"))
                .caption("x")
                .validate(),
            Err(Error::Invalid {
                field: "caption",
                ..
            })
        ));
        assert!(matches!(
            OutgoingMessage::image(to(), MediaSource::id("a"))
                .filename("x")
                .validate(),
            Err(Error::Invalid {
                field: "filename",
                ..
            })
        ));
        assert!(matches!(
            OutgoingMessage::image(to(), MediaSource::link("ftp://x/a.png")).validate(),
            Err(Error::Invalid { field: "image", .. })
        ));
        assert!(matches!(
            OutgoingMessage::image(to(), MediaSource::id("")).validate(),
            Err(Error::Invalid { field: "image", .. })
        ));
        match OutgoingMessage::video(to(), MediaSource::id("v"))
            .caption("c".repeat(1025))
            .validate()
        {
            Err(Error::Validation {
                field,
                limit,
                actual,
            }) => {
                assert_eq!((field, limit, actual), ("caption", 1024, 1025));
            }
            other => panic!("{other:?}"),
        }
        let dbg = format!("{img:?}");
        assert!(!dbg.contains("look") && !dbg.contains("5551234"), "{dbg}");
    }

    #[test]
    fn location_contacts_reaction() {
        let loc = OutgoingMessage::location(
            to(),
            OutgoingLocation::new(52.52, 13.405)
                .name("HQ")
                .address("Berlin"),
        );
        assert_eq!(
            body_of(&loc),
            json!({"latitude": 52.52, "longitude": 13.405, "name": "HQ", "address": "Berlin"})
        );
        assert!(
            OutgoingMessage::location(to(), OutgoingLocation::new(91.0, 0.0))
                .validate()
                .is_err()
        );
        assert!(
            OutgoingMessage::location(to(), OutgoingLocation::new(0.0, f64::NAN))
                .validate()
                .is_err()
        );
        let card = ContactCard::new("Anna Muster")
            .first_name("Anna")
            .last_name("Muster")
            .phone("+49 170 1234567", Some("CELL"), Some("491701234567"))
            .email("anna@example.com", Some("WORK"))
            .url("https://example.com", None)
            .organization("ACME", Some("Ops"), None)
            .birthday("1990-01-31");
        let contacts = OutgoingMessage::contacts(to(), vec![card.clone()]);
        let v = contacts.to_json();
        assert_eq!(v["type"], "contacts");
        assert_eq!(v["contacts"][0]["name"]["formatted_name"], "Anna Muster");
        assert_eq!(v["contacts"][0]["name"]["first_name"], "Anna");
        assert_eq!(v["contacts"][0]["phones"][0]["wa_id"], "491701234567");
        assert_eq!(v["contacts"][0]["emails"][0]["type"], "WORK");
        assert_eq!(v["contacts"][0]["org"]["company"], "ACME");
        assert!(contacts.validate().is_ok());
        assert!(!format!("{card:?}").contains("Anna"));
        assert!(OutgoingMessage::contacts(to(), vec![]).validate().is_err());
        assert!(
            OutgoingMessage::contacts(to(), vec![ContactCard::new(" ")])
                .validate()
                .is_err()
        );
        let r = OutgoingMessage::reaction(to(), "wamid.X", "\u{1F600}");
        assert_eq!(
            body_of(&r),
            json!({"message_id": "wamid.X", "emoji": "\u{1F600}"})
        );
        let removal = OutgoingMessage::remove_reaction(to(), "wamid.X");
        assert_eq!(
            body_of(&removal),
            json!({"message_id": "wamid.X", "emoji": ""})
        );
        assert!(OutgoingMessage::reaction(to(), "", "x").validate().is_err());
        assert!(
            OutgoingMessage::text(to(), "x")
                .reply_to("w".repeat(129))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn interactive_buttons_list_cta() {
        use crate::interactive::{InteractiveHeader, ListRow, ListSection, ReplyButton};
        let buttons = InteractiveMessage::buttons(
            "Choose",
            vec![ReplyButton::new("yes", "Yes"), ReplyButton::new("no", "No")],
        )
        .header(InteractiveHeader::Text("Case C-1".into()))
        .footer("chatport");
        let msg = OutgoingMessage::interactive(to(), buttons);
        assert_eq!(
            body_of(&msg),
            json!({
                "type": "button",
                "header": {"type": "text", "text": "Case C-1"},
                "body": {"text": "Choose"},
                "footer": {"text": "chatport"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "no", "title": "No"}}
                ]}
            })
        );
        let list = InteractiveMessage::list(
            "Pick a queue",
            "Queues",
            vec![
                ListSection::new(
                    "Support",
                    vec![ListRow::new("s1", "Billing").description("Invoices")],
                ),
                ListSection::new("Sales", vec![ListRow::new("s2", "New order")]),
            ],
        );
        let v = body_of(&OutgoingMessage::interactive(to(), list));
        assert_eq!(v["type"], "list");
        assert_eq!(v["action"]["button"], "Queues");
        assert_eq!(
            v["action"]["sections"][0]["rows"][0]["description"],
            "Invoices"
        );
        assert_eq!(v["action"]["sections"][1]["title"], "Sales");
        let cta = InteractiveMessage::cta_url("See your case", "Open", "https://example.com/c/1")
            .header(InteractiveHeader::Image(MediaSource::link(
                "https://example.com/i.png",
            )));
        let v = body_of(&OutgoingMessage::interactive(to(), cta));
        assert_eq!(
            v["action"],
            json!({"name": "cta_url", "parameters": {"display_text": "Open", "url": "https://example.com/c/1"}})
        );
        assert_eq!(v["header"]["image"]["link"], "https://example.com/i.png");
    }

    fn limit_of(i: InteractiveMessage) -> (&'static str, usize, usize) {
        match OutgoingMessage::interactive(to(), i).validate() {
            Err(Error::Validation {
                field,
                limit,
                actual,
            }) => (field, limit, actual),
            other => panic!("{other:?}"),
        }
    }

    fn invalid_of(i: InteractiveMessage) -> &'static str {
        match OutgoingMessage::interactive(to(), i).validate() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn interactive_limits() {
        use crate::interactive::{InteractiveHeader, ListRow, ListSection, ReplyButton};
        let b = |n: usize| {
            (0..n)
                .map(|i| ReplyButton::new(format!("id{i}"), format!("B{i}")))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            limit_of(InteractiveMessage::buttons("x", b(4))),
            ("interactive.action.buttons", 3, 4)
        );
        assert_eq!(
            limit_of(InteractiveMessage::buttons(
                "x",
                vec![ReplyButton::new("a", "t".repeat(21))]
            )),
            ("interactive.action.buttons[].reply.title", 20, 21)
        );
        assert_eq!(
            limit_of(InteractiveMessage::buttons(
                "x",
                vec![ReplyButton::new("i".repeat(257), "t")]
            )),
            ("interactive.action.buttons[].reply.id", 256, 257)
        );
        assert_eq!(
            limit_of(InteractiveMessage::buttons("b".repeat(1025), b(1))),
            ("interactive.body.text", 1024, 1025)
        );
        assert_eq!(
            limit_of(InteractiveMessage::buttons("x", b(1)).footer("f".repeat(61))),
            ("interactive.footer.text", 60, 61)
        );
        assert_eq!(
            limit_of(
                InteractiveMessage::buttons("x", b(1))
                    .header(InteractiveHeader::Text("h".repeat(61)))
            ),
            ("interactive.header.text", 60, 61)
        );
        assert_eq!(
            invalid_of(InteractiveMessage::buttons(
                "x",
                vec![ReplyButton::new("a", "Same"), ReplyButton::new("b", "Same")]
            )),
            "interactive.action.buttons[].reply.title"
        );
        assert_eq!(
            invalid_of(InteractiveMessage::buttons("x", vec![])),
            "interactive.action.buttons"
        );
        let rows = |n: usize| {
            (0..n)
                .map(|i| ListRow::new(format!("r{i}"), "Row"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            limit_of(InteractiveMessage::list(
                "x",
                "Open",
                vec![
                    ListSection::new("A", rows(6)),
                    ListSection::new("B", rows(5))
                ]
            )),
            ("interactive.action.sections[].rows", 10, 11)
        );
        let sections = (0..11)
            .map(|i| ListSection::new(format!("S{i}"), vec![ListRow::new(format!("r{i}"), "R")]))
            .collect();
        assert_eq!(
            limit_of(InteractiveMessage::list("x", "Open", sections)),
            ("interactive.action.sections", 10, 11)
        );
        assert_eq!(
            limit_of(InteractiveMessage::list(
                "x",
                "Open",
                vec![ListSection::new("s".repeat(25), rows(1))]
            )),
            ("interactive.action.sections[].title", 24, 25)
        );
        assert_eq!(
            limit_of(InteractiveMessage::list(
                "x",
                "Open",
                vec![ListSection::untitled(vec![ListRow::new(
                    "r",
                    "t".repeat(25)
                )])]
            )),
            ("interactive.action.sections[].rows[].title", 24, 25)
        );
        assert_eq!(
            limit_of(InteractiveMessage::list(
                "x",
                "Open",
                vec![ListSection::untitled(vec![ListRow::new(
                    "r".repeat(201),
                    "t"
                )])]
            )),
            ("interactive.action.sections[].rows[].id", 200, 201)
        );
        assert_eq!(
            limit_of(InteractiveMessage::list(
                "x",
                "Open",
                vec![ListSection::untitled(vec![
                    ListRow::new("r", "t").description("d".repeat(73))
                ])]
            )),
            ("interactive.action.sections[].rows[].description", 72, 73)
        );
        assert_eq!(
            limit_of(InteractiveMessage::list(
                "x",
                "b".repeat(21),
                vec![ListSection::untitled(rows(1))]
            )),
            ("interactive.action.button", 20, 21)
        );
        assert_eq!(
            limit_of(InteractiveMessage::list(
                "b".repeat(4097),
                "Open",
                vec![ListSection::untitled(rows(1))]
            )),
            ("interactive.body.text", 4096, 4097)
        );
        assert!(
            OutgoingMessage::interactive(
                to(),
                InteractiveMessage::list(
                    "b".repeat(4096),
                    "Open",
                    vec![ListSection::untitled(rows(1))]
                )
            )
            .validate()
            .is_ok()
        );
        assert_eq!(
            invalid_of(InteractiveMessage::list(
                "x",
                "Open",
                vec![
                    ListSection::untitled(rows(1)),
                    ListSection::new("B", vec![ListRow::new("z", "Z")])
                ]
            )),
            "interactive.action.sections[].title"
        );
        assert_eq!(
            invalid_of(
                InteractiveMessage::list("x", "Open", vec![ListSection::untitled(rows(1))])
                    .header(InteractiveHeader::Image(MediaSource::id("1")))
            ),
            "interactive.header"
        );
        assert_eq!(
            invalid_of(InteractiveMessage::list(
                "x",
                "Open",
                vec![ListSection::new(
                    "A",
                    vec![ListRow::new("r", "a"), ListRow::new("r", "b")]
                )]
            )),
            "interactive.action.sections[].rows[].id"
        );
        assert_eq!(
            limit_of(InteractiveMessage::cta_url(
                "x",
                "d".repeat(21),
                "https://a.test"
            )),
            ("interactive.action.parameters.display_text", 20, 21)
        );
        assert_eq!(
            invalid_of(InteractiveMessage::cta_url(
                "x",
                "Open",
                "javascript:alert(1)"
            )),
            "interactive.action.parameters.url"
        );
    }
}
