//! Typed items of the `messages` webhook field: metadata, contacts, messages, statuses and errors.
//!
//! Shapes follow Meta: webhooks/reference/messages (and its per-type pages: image, interactive,
//! status) plus the BSUID additions (Meta: business-scoped-user-ids). Every struct keeps fields it
//! does not model in `extra`, and every vendor value is an open enum, so new fields and new values
//! parse and survive a serialisation round trip.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use chatport_core::open_enum;

/// Unknown JSON fields of an object, kept verbatim.
pub type Extra = Map<String, Value>;

/// Lenient deserialisers for values Meta documents as strings but that a producer might send as
/// numbers (ids, unix timestamps).
pub(crate) mod lenient {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;

    struct StringOrNumber;

    impl<'de> Visitor<'de> for StringOrNumber {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(StringOrNumber)
        }
    }

    /// `Option<String>` from a string, a number or null.
    pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(StringOrNumber)
    }

    /// `String` from a string or a number (null is refused).
    pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        d.deserialize_any(StringOrNumber)?
            .ok_or_else(|| de::Error::invalid_type(de::Unexpected::Unit, &"a string or a number"))
    }

    /// `String` from a string, a number or null (null gives an empty string).
    pub(crate) fn string_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(d.deserialize_any(StringOrNumber)?.unwrap_or_default())
    }

    /// `Option<i64>` from an integer, an integer string or null.
    pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match d.deserialize_any(StringOrNumber)? {
            None => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| de::Error::custom("expected an integer (unix seconds)")),
        }
    }
}

/// Parses a unix-seconds string (Meta sends `"timestamp": "1751247548"`).
pub(crate) fn unix_seconds(value: Option<&str>) -> Option<DateTime<Utc>> {
    let secs: i64 = value?.trim().parse().ok()?;
    DateTime::from_timestamp(secs, 0)
}

/// `value.metadata` of a `messages` change: which business number the update is about.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The business number as displayed, digits only, e.g. `15550783881`.
    #[serde(default, deserialize_with = "lenient::string")]
    pub display_phone_number: String,
    /// The business phone number id, the `{PHONE_NUMBER_ID}` of `POST /{PHONE_NUMBER_ID}/messages`.
    #[serde(default, deserialize_with = "lenient::string")]
    pub phone_number_id: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One element of `value.contacts`: who a message came from (or a status is about).
///
/// With business-scoped user ids (2026), `wa_id` may be absent and `user_id` present
/// (Meta: business-scoped-user-ids). `identity_key_hash` (identity check) stays in `extra`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The user's WhatsApp id (normally the phone number, digits only).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub wa_id: Option<String>,
    /// The user's business-scoped user id (BSUID), e.g. `US.13491208655302741918`.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_id: Option<String>,
    /// The user's parent BSUID (e.g. `US.ENT.11815799212886844830`), shared across the business
    /// portfolios of a managed business, only when parent BSUIDs are enabled (Meta:
    /// business-scoped-user-ids).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_user_id: Option<String>,
    /// The user's profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contact")
            .field(
                "wa_id",
                &self.wa_id.as_deref().map(chatport_core::redact::phone),
            )
            .field(
                "user_id",
                &self.user_id.as_deref().map(chatport_core::redact::phone),
            )
            .field(
                "parent_user_id",
                &self
                    .parent_user_id
                    .as_deref()
                    .map(chatport_core::redact::phone),
            )
            .field("has_profile", &self.profile.is_some())
            .finish_non_exhaustive()
    }
}

/// `contacts[].profile`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The user's profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's WhatsApp username (e.g. `maria.lopez`), only when the user adopted one (Meta:
    /// business-scoped-user-ids, "User usernames"). Users may change it: never key on it, key on
    /// [`Contact::user_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

open_enum! {
    #[default_unknown]
    /// `messages[].type`, as WhatsApp names it (Meta: webhooks/reference/messages; pywa `MessageType`).
    pub enum MessageType {
        /// `text`
        Text => "text",
        /// `image`
        Image => "image",
        /// `video`
        Video => "video",
        /// `audio` (voice notes have `audio.voice == true`)
        Audio => "audio",
        /// `document`
        Document => "document",
        /// `sticker`
        Sticker => "sticker",
        /// `location`
        Location => "location",
        /// `contacts`
        Contacts => "contacts",
        /// `interactive` (button and list replies, flow completions)
        Interactive => "interactive",
        /// `button` (a template quick-reply tap)
        Button => "button",
        /// `reaction`
        Reaction => "reaction",
        /// `order`
        Order => "order",
        /// `system` (number or identity changes)
        System => "system",
        /// `unsupported` (with `errors[]` code 131051)
        Unsupported => "unsupported",
        /// `request_welcome`
        RequestWelcome => "request_welcome",
        /// `edit`
        Edit => "edit",
        /// `revoke`
        Revoke => "revoke",
    }
}

/// An inbound message, one element of `value.messages[]`.
///
/// Typed fields cover what the bridge needs now; everything else (the object of `contacts`, `order`,
/// `system`, unknown types such as `poll`, new fields) stays in `extra`, so nothing is lost.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The wamid, Meta's message id (up to 128 characters).
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    /// The sender's WhatsApp id (phone number). Absent for users known only by BSUID.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<String>,
    /// The sender's business-scoped user id (BSUID).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_user_id: Option<String>,
    /// The sender's parent BSUID (for businesses in a portfolio).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_parent_user_id: Option<String>,
    /// The group id, for group messages.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_id: Option<String>,
    /// Unix seconds **as a string**, as sent on the wire. See [`Message::timestamp`].
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<String>,
    /// `type`.
    #[serde(rename = "type", default)]
    pub message_type: MessageType,
    /// `text` for text messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// `context`: the quoted message, or forwarding flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
    /// `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Media>,
    /// `video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Media>,
    /// `audio` (`voice: true` for voice notes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Media>,
    /// `document`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Media>,
    /// `sticker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticker: Option<Media>,
    /// `location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// `interactive`: a reply-button or list-row tap, a flow completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<Interactive>,
    /// `button`: a template quick-reply tap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<Button>,
    /// `reaction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<Reaction>,
    /// `referral`: the Click-to-WhatsApp ad the user came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<Referral>,
    /// `errors[]` (e.g. 131051 for `unsupported` messages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<WebhookError>,
    /// Everything else, verbatim (the `contacts`, `order`, `system`, `unsupported` objects, an
    /// unknown type's object such as `poll`, new fields).
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field(
                "from",
                &self.from.as_deref().map(chatport_core::redact::phone),
            )
            .field(
                "from_user_id",
                &self
                    .from_user_id
                    .as_deref()
                    .map(chatport_core::redact::phone),
            )
            .field("timestamp", &self.timestamp)
            .field("type", &self.message_type.as_str())
            .field("text", &self.text_body().map(chatport_core::redact::text))
            .field(
                "errors",
                &self.errors.iter().map(|e| e.code).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Message {
    /// When the user sent the message ([`Message::timestamp`] field parsed as unix seconds).
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        unix_seconds(self.timestamp.as_deref())
    }

    /// The sender: `from` (phone number / wa_id) or, when absent, `from_user_id` (BSUID).
    pub fn sender(&self) -> Option<&str> {
        self.from.as_deref().or(self.from_user_id.as_deref())
    }

    /// The text a human would read: the text body, else a media caption, else the title of a tapped
    /// reply button or list row, else a template button's text.
    pub fn text_body(&self) -> Option<&str> {
        if let Some(body) = self.text.as_ref().and_then(|t| t.body.as_deref()) {
            return Some(body);
        }
        let media = [
            &self.image,
            &self.video,
            &self.document,
            &self.audio,
            &self.sticker,
        ];
        if let Some(caption) = media
            .into_iter()
            .flatten()
            .find_map(|m| m.caption.as_deref())
        {
            return Some(caption);
        }
        if let Some(title) = self.interactive.as_ref().and_then(Interactive::reply_title) {
            return Some(title);
        }
        self.button.as_ref().and_then(|b| b.text.as_deref())
    }

    /// The media object of an image, video, audio, document or sticker message.
    pub fn media(&self) -> Option<&Media> {
        self.image
            .as_ref()
            .or(self.video.as_ref())
            .or(self.audio.as_ref())
            .or(self.document.as_ref())
            .or(self.sticker.as_ref())
    }

    /// The object named after an unknown (or untyped) `type`, e.g. the `poll` object of a `poll`
    /// message, or the `contacts` array of a contacts message.
    pub fn type_object(&self) -> Option<&Value> {
        self.extra.get(self.message_type.as_str())
    }

    /// The `system` object of a `type: system` message, typed (`None` for other messages or a
    /// `system` value that is not an object).
    pub fn system(&self) -> Option<SystemUpdate> {
        if self.message_type != MessageType::System {
            return None;
        }
        SystemUpdate::deserialize(self.extra.get("system")?).ok()
    }

    /// The identity change a `system` message announces: the customer's old and new phone
    /// number and/or business-scoped user id, so that conversations, windows and directory
    /// entries can follow them ([`IdentityChange`]). `None` for other messages, and for system
    /// messages that name no old-to-new pair.
    ///
    /// - `user_changed_number`: the old number is the message's `from`, the new one
    ///   `system.wa_id`; a new number also brings a new BSUID (`system.previous_user_id` →
    ///   `system.user_id`, or the message's `from_user_id` as the old one).
    /// - `user_changed_user_id`: `system.previous_user_id` → `system.user_id`; no phone number.
    ///
    /// Where the BSUID pair sits (inside `system`, next to `wa_id`) follows Meta's system
    /// reference (Aug 2026) as far as it was readable; the exact field placement is **inferred**
    /// and the message-level `from_user_id` is accepted as the old id.
    pub fn identity_change(&self) -> Option<IdentityChange> {
        let system = self.system()?;
        let nonempty = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let new_user_id = nonempty(system.user_id.as_deref());
        let previous_user_id = nonempty(system.previous_user_id.as_deref()).or_else(|| {
            nonempty(self.from_user_id.as_deref()).filter(|old| Some(old) != new_user_id.as_ref())
        });
        let (previous_phone, new_phone) = match system.update_type {
            SystemType::UserChangedNumber | SystemType::CustomerChangedNumber => (
                nonempty(self.from.as_deref()),
                nonempty(system.wa_id.as_deref()),
            ),
            _ => (None, None),
        };
        let change = IdentityChange {
            update_type: system.update_type,
            previous_phone,
            new_phone,
            previous_user_id,
            new_user_id,
        };
        (!change.moves().is_empty()).then_some(change)
    }
}

open_enum! {
    #[default_unknown]
    /// `system.type` of a system message (Meta: webhooks/reference/messages/system).
    pub enum SystemType {
        /// The user changed their phone number; the new number (`wa_id`) can be shared.
        UserChangedNumber => "user_changed_number",
        /// The user's business-scoped user id changed; no phone number is included.
        UserChangedUserId => "user_changed_user_id",
        /// The user's identity (security code) changed (identity check enabled).
        CustomerIdentityChanged => "customer_identity_changed",
        /// The older name of `user_changed_number` (On-Premises API era), still seen in SDKs.
        CustomerChangedNumber => "customer_changed_number",
    }
}

/// The `system` object of a system message: `{"body", "type", "wa_id"?, "user_id"?,
/// "previous_user_id"?, ...}` (Meta: webhooks/reference/messages/system; BSUID fields per
/// business-scoped-user-ids, placement **inferred**).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemUpdate {
    /// The human-readable notice, e.g. "User A changed from … to …" (contains phone numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// What changed.
    #[serde(rename = "type", default)]
    pub update_type: SystemType,
    /// The new WhatsApp id (phone number) for a number change.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub wa_id: Option<String>,
    /// The user's (new) business-scoped user id.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_id: Option<String>,
    /// The business-scoped user id the user had before.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_user_id: Option<String>,
    /// Fields not modelled here (`parent_user_id`, `customer`, `identity`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for SystemUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |v: &Option<String>| v.as_deref().map(chatport_core::redact::phone);
        f.debug_struct("SystemUpdate")
            .field("type", &self.update_type.as_str())
            .field("wa_id", &redact(&self.wa_id))
            .field("user_id", &redact(&self.user_id))
            .field("previous_user_id", &redact(&self.previous_user_id))
            .finish_non_exhaustive()
    }
}

/// A customer's change of phone number and/or business-scoped user id, from a system message
/// ([`Message::identity_change`]). Carries phone numbers: never log it (its `Debug` masks them).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityChange {
    /// The system message's type.
    pub update_type: SystemType,
    /// The number the customer had (the message's `from`), for a number change.
    pub previous_phone: Option<String>,
    /// The customer's new number (`system.wa_id`), for a number change.
    pub new_phone: Option<String>,
    /// The BSUID the customer had.
    pub previous_user_id: Option<String>,
    /// The customer's new BSUID.
    pub new_user_id: Option<String>,
}

impl fmt::Debug for IdentityChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |v: &Option<String>| v.as_deref().map(chatport_core::redact::phone);
        f.debug_struct("IdentityChange")
            .field("type", &self.update_type.as_str())
            .field("previous_phone", &redact(&self.previous_phone))
            .field("new_phone", &redact(&self.new_phone))
            .field("previous_user_id", &redact(&self.previous_user_id))
            .field("new_user_id", &redact(&self.new_user_id))
            .finish()
    }
}

impl IdentityChange {
    /// The `(old, new)` identifier pairs to follow: the phone pair and the BSUID pair, each when
    /// both sides are known and differ (phone numbers compared by their digits).
    pub fn moves(&self) -> Vec<(&str, &str)> {
        let digits = |s: &str| -> String { s.chars().filter(char::is_ascii_digit).collect() };
        let mut out = Vec::new();
        if let (Some(old), Some(new)) = (&self.previous_phone, &self.new_phone)
            && digits(old) != digits(new)
        {
            out.push((old.as_str(), new.as_str()));
        }
        if let (Some(old), Some(new)) = (&self.previous_user_id, &self.new_user_id)
            && old != new
        {
            out.push((old.as_str(), new.as_str()));
        }
        out
    }
}

/// `text` of a text message.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    /// The text (up to 4096 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Text")
            .field(
                "body",
                &self.body.as_deref().map(chatport_core::redact::text),
            )
            .finish_non_exhaustive()
    }
}

/// `context` of an inbound message: the message it replies to (or whose button was tapped), and
/// forwarding flags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The business number that sent the quoted message.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<String>,
    /// The wamid of the quoted message (used to match a reply to what the business sent).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Forwarded up to 5 times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<bool>,
    /// Forwarded more than 5 times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequently_forwarded: Option<bool>,
    /// Fields not modelled here (e.g. `referred_product`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The object of an image, video, audio, document or sticker message.
///
/// `sha256` is **base64** in media webhooks (hex elsewhere); `url` is being rolled out since
/// Nov 2025 and, like a URL from `GET /{MEDIA_ID}`, needs the bearer token (Meta:
/// webhooks/reference/messages/image; business-phone-numbers/media). Media ids from webhooks expire
/// after 7 days.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Media {
    /// The media id, for `GET /{MEDIA_ID}`.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// MIME type, e.g. `image/jpeg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// SHA-256 of the file (base64 in media webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Download URL (needs the bearer token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Caption (image, video, document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// File name (document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// A voice note (audio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<bool>,
    /// An animated sticker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animated: Option<bool>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `location` of a location message. Coordinates are WGS 84 degrees.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// Place name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// URL of the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

open_enum! {
    #[default_unknown]
    /// `interactive.type` of an inbound interactive message (Meta:
    /// webhooks/reference/messages/interactive).
    pub enum InteractiveType {
        /// A reply button was tapped.
        ButtonReply => "button_reply",
        /// A list row was chosen.
        ListReply => "list_reply",
        /// A flow was completed (`nfm_reply`).
        NfmReply => "nfm_reply",
        /// A call-permission request was answered.
        CallPermissionReply => "call_permission_reply",
    }
}

/// `interactive` of an inbound interactive message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interactive {
    /// Which kind of reply (`Unknown("")` when absent).
    #[serde(rename = "type", default)]
    pub interactive_type: InteractiveType,
    /// For `button_reply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_reply: Option<ReplyChoice>,
    /// For `list_reply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_reply: Option<ReplyChoice>,
    /// Everything else (`nfm_reply`, `call_permission_reply`, ...), verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Interactive {
    /// The chosen button's or row's id.
    pub fn reply_id(&self) -> Option<&str> {
        self.button_reply
            .as_ref()
            .or(self.list_reply.as_ref())
            .and_then(|c| c.id.as_deref())
    }

    /// The chosen button's or row's title.
    pub fn reply_title(&self) -> Option<&str> {
        self.button_reply
            .as_ref()
            .or(self.list_reply.as_ref())
            .and_then(|c| c.title.as_deref())
    }

    /// The `nfm_reply` of a completed flow (`name: "flow"`) or an answered address request
    /// (`name: "address_message"`), typed; `None` for other replies (Meta:
    /// webhooks/reference/messages/interactive; pywa `FlowCompletion`).
    pub fn flow_reply(&self) -> Option<FlowReply> {
        FlowReply::deserialize(self.extra.get("nfm_reply")?).ok()
    }

    /// The `call_permission_reply` of an answered call-permission request, typed.
    pub fn call_permission_reply(&self) -> Option<CallPermissionReply> {
        CallPermissionReply::deserialize(self.extra.get("call_permission_reply")?).ok()
    }
}

/// `interactive.nfm_reply`: `{"name": "flow" | "address_message", "body": "Sent",
/// "response_json": "<JSON as a string>"}`. For a flow, `response_json` holds the submitted
/// fields and the `flow_token` the message was sent with.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowReply {
    /// `flow` for a flow, `address_message` for an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The text WhatsApp shows for the reply (e.g. `Sent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The answer, JSON **as a string** as Meta sends it; see [`FlowReply::response`].
    #[serde(default)]
    pub response_json: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for FlowReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowReply")
            .field("name", &self.name)
            .field("response_bytes", &self.response_json.len())
            .finish_non_exhaustive()
    }
}

impl FlowReply {
    /// [`FlowReply::response_json`] parsed (`None` when it is not a JSON object).
    pub fn response(&self) -> Option<serde_json::Map<String, Value>> {
        match serde_json::from_str(&self.response_json) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    /// The `flow_token` in the response (the token the flow message was sent with).
    pub fn flow_token(&self) -> Option<String> {
        self.response()?
            .get("flow_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// `interactive.call_permission_reply`: `{"response": "accept" | "reject", "is_permanent",
/// "expiration_timestamp"?, "response_source": "user_action" | "automatic"}` (whatsapp-api-js
/// `ServerInteractiveCallPermissionMessage`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallPermissionReply {
    /// `accept` or `reject`.
    #[serde(default)]
    pub response: String,
    /// Whether the permission does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_permanent: Option<bool>,
    /// When a temporary permission expires, unix seconds.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_timestamp: Option<i64>,
    /// `user_action` or `automatic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_source: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl CallPermissionReply {
    /// Whether the user allowed calls.
    pub fn accepted(&self) -> bool {
        self.response == "accept"
    }
}

/// `button_reply` / `list_reply`: what the user chose.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyChoice {
    /// The id the business gave the button or row.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The row description (`list_reply`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `button` of a template quick-reply tap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Button {
    /// The payload the business set on the button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The button's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `reaction`: an emoji on an earlier message; `emoji` empty or absent means the reaction was removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// The wamid reacted to.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    /// The emoji.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `referral`: the Click-to-WhatsApp ad or post the conversation started from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Referral {
    /// URL of the ad or post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// Id of the ad or post.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_id: Option<String>,
    /// `ad` or `post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Ad body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Ad headline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    /// `image` or `video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Click-to-WhatsApp click id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctwa_clid: Option<String>,
    /// Everything else (`image_url`, `video_url`, `thumbnail_url`, `welcome_message`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

open_enum! {
    /// `statuses[].status` (Meta: webhooks/reference/messages/status).
    pub enum StatusKind {
        /// Accepted and sent by WhatsApp.
        Sent => "sent",
        /// Delivered to the device (not always sent: a message can go straight to `read`).
        Delivered => "delivered",
        /// Read.
        Read => "read",
        /// Failed (see `errors`); final.
        Failed => "failed",
        /// A voice message was first played.
        Played => "played",
    }
}

/// A delivery status of a message the business sent, one element of `value.statuses[]`.
///
/// Statuses arrive at least once and out of order (`sent` after `delivered`, `delivered` missing)
/// (Meta: webhooks/reference/messages/status).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The wamid of the message.
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    /// What happened.
    pub status: StatusKind,
    /// Unix seconds as a string. See [`Status::timestamp`].
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<String>,
    /// The recipient's WhatsApp id (or the group id for group messages).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipient_id: Option<String>,
    /// The recipient's business-scoped user id.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipient_user_id: Option<String>,
    /// The recipient's parent BSUID, when parent BSUIDs are enabled (Meta:
    /// business-scoped-user-ids).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipient_parent_user_id: Option<String>,
    /// The participant of a group message this status is about.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipient_participant_id: Option<String>,
    /// The string the business attached to the send, echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    /// The conversation (omitted in v24.0+ except in free entry point windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Conversation>,
    /// Pricing, on `sent` and on one of `delivered`/`read`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    /// Why the message failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<WebhookError>,
    /// Fields not modelled here (`recipient_type`, `recipient_identity_key_hash`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Status")
            .field("id", &self.id)
            .field("status", &self.status.as_str())
            .field("timestamp", &self.timestamp)
            .field(
                "recipient_id",
                &self
                    .recipient_id
                    .as_deref()
                    .map(chatport_core::redact::phone),
            )
            .field(
                "recipient_user_id",
                &self
                    .recipient_user_id
                    .as_deref()
                    .map(chatport_core::redact::phone),
            )
            .field(
                "errors",
                &self.errors.iter().map(|e| e.code).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Status {
    /// When the status happened ([`Status::timestamp`] field parsed as unix seconds).
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        unix_seconds(self.timestamp.as_deref())
    }

    /// The kind of the first of [`Status::errors`] (a `failed` status carries one), e.g.
    /// [`ErrorKind::ReEngagementRequired`](crate::ErrorKind::ReEngagementRequired) for a 131047
    /// that arrived asynchronously after a synchronous 200.
    pub fn error_kind(&self) -> Option<crate::ErrorKind> {
        self.errors.first().map(WebhookError::kind)
    }

    /// The recipient: `recipient_id` or, when absent, `recipient_user_id`.
    pub fn recipient(&self) -> Option<&str> {
        self.recipient_id
            .as_deref()
            .or(self.recipient_user_id.as_deref())
    }
}

/// `statuses[].conversation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Conversation id.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// When the conversation expires, unix seconds (only on `sent`).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_timestamp: Option<String>,
    /// `origin` (`{"type": "service" | "marketing" | ...}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Value>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `statuses[].pricing` (Meta: pricing; webhooks/reference/messages/status).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    /// Whether the message is billable (to be deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<bool>,
    /// `CBP` or `PMP` (per-message pricing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_model: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub pricing_type: Option<String>,
    /// `marketing`, `utility`, `authentication`, `service`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An error delivered by webhook: `value.errors[]`, `messages[].errors[]` or `statuses[].errors[]`,
/// shaped `{code, title, message, error_data: {details}, href}` (Meta:
/// webhooks/reference/messages/status; support/error-codes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookError {
    /// The error code, e.g. 131047 (24-hour window), 131051 (unsupported type).
    pub code: i64,
    /// Short title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `error_data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<ErrorData>,
    /// Link to Meta's error code page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl WebhookError {
    /// The typed kind of [`WebhookError::code`]: the same [`ErrorKind`](crate::ErrorKind) as a
    /// synchronous Graph error with that code, so an asynchronous 131047 in a `failed` status is
    /// [`ErrorKind::ReEngagementRequired`](crate::ErrorKind::ReEngagementRequired).
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::from_code(self.code)
    }

    /// `error_data.details`.
    pub fn details(&self) -> Option<&str> {
        self.error_data.as_ref().and_then(|d| d.details.as_deref())
    }
}

/// `error_data` of a webhook error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorData {
    /// Meta's explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}
