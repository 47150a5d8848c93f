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
use crate::webhook::Extra;

/// Longest text message body, in characters (Meta: messages/text-messages).
pub const TEXT_BODY_MAX_CHARS: usize = 4096;

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

/// A template message (`type: template`): the only kind that may be sent outside the 24-hour
/// customer service window (Meta: messages/send-messages). Serialises as `{"name", "language":
/// {"code"}, "components": [{"type": "body", "parameters": [{"type": "text", "text"}]}]}`.
#[derive(Clone, PartialEq)]
pub struct Template {
    name: String,
    language_code: String,
    body_parameters: Vec<String>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("language_code", &self.language_code)
            .field("body_parameters", &self.body_parameters.len())
            .finish()
    }
}

impl Template {
    /// A template by its approved `name` and `language_code` (e.g. `en_US`, `de`).
    pub fn new(name: impl Into<String>, language_code: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            language_code: language_code.into(),
            body_parameters: Vec::new(),
        }
    }

    /// Positional text parameters of the body, `{{1}}`, `{{2}}`, ... in order.
    #[must_use]
    pub fn body_parameters(mut self, parameters: Vec<String>) -> Self {
        self.body_parameters = parameters;
        self
    }

    /// The template name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The language code.
    pub fn language_code(&self) -> &str {
        &self.language_code
    }

    fn to_json(&self) -> Value {
        let mut template = serde_json::json!({
            "name": self.name,
            "language": { "code": self.language_code },
        });
        if !self.body_parameters.is_empty() {
            let parameters: Vec<Value> = self
                .body_parameters
                .iter()
                .map(|text| serde_json::json!({ "type": "text", "text": text }))
                .collect();
            template["components"] =
                serde_json::json!([{ "type": "body", "parameters": parameters }]);
        }
        template
    }
}

#[derive(Clone, PartialEq)]
enum Content {
    Text {
        body: String,
        preview_url: Option<bool>,
    },
    Template(Template),
}

/// A message to send with [`Client::send`](crate::Client::send).
///
/// Build with [`OutgoingMessage::text`] or [`OutgoingMessage::template`], refine with
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

    /// The `type` Meta will see: `text` or `template`.
    pub fn message_type(&self) -> &'static str {
        match &self.content {
            Content::Text { .. } => "text",
            Content::Template(_) => "template",
        }
    }

    /// The text body, for a text message.
    pub fn text_body(&self) -> Option<&str> {
        match &self.content {
            Content::Text { body, .. } => Some(body),
            Content::Template(_) => None,
        }
    }

    /// The template, for a template message.
    pub fn as_template(&self) -> Option<&Template> {
        match &self.content {
            Content::Template(t) => Some(t),
            Content::Text { .. } => None,
        }
    }

    /// Checks the message against Meta's documented limits before it is sent.
    ///
    /// # Errors
    /// - [`Error::Validation`] `text.body` longer than [`TEXT_BODY_MAX_CHARS`] characters;
    /// - [`Error::Invalid`] for an empty (or blank) recipient, text body, template name, template
    ///   language code or `context.message_id`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.recipient.as_str().trim().is_empty() {
            return Err(Error::Invalid {
                field: self.recipient.field(),
                reason: "must not be empty",
            });
        }
        match &self.content {
            Content::Text { body, .. } => {
                if body.trim().is_empty() {
                    return Err(Error::Invalid {
                        field: "text.body",
                        reason: "must not be empty",
                    });
                }
                let chars = body.chars().count();
                if chars > TEXT_BODY_MAX_CHARS {
                    return Err(Error::Validation {
                        field: "text.body",
                        limit: TEXT_BODY_MAX_CHARS,
                        actual: chars,
                    });
                }
            }
            Content::Template(t) => {
                if t.name.trim().is_empty() {
                    return Err(Error::Invalid {
                        field: "template.name",
                        reason: "must not be empty",
                    });
                }
                if t.language_code.trim().is_empty() {
                    return Err(Error::Invalid {
                        field: "template.language.code",
                        reason: "must not be empty",
                    });
                }
            }
        }
        if self
            .reply_to
            .as_deref()
            .is_some_and(|w| w.trim().is_empty())
        {
            return Err(Error::Invalid {
                field: "context.message_id",
                reason: "must not be empty",
            });
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
    /// The wamid of the (first) accepted message.
    pub fn wamid(&self) -> Option<&str> {
        self.messages
            .first()
            .map(|m| m.id.as_str())
            .filter(|id| !id.is_empty())
    }
}

/// `contacts[]` of a send answer. `input` and `wa_id` may differ.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SentContact {
    /// The number as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The user's WhatsApp id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// Fields not modelled here (e.g. `user_id`).
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for SentContact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentContact")
            .field("input", &self.input.as_deref().map(redact::phone))
            .field("wa_id", &self.wa_id.as_deref().map(redact::phone))
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
}
