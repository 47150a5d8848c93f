//! Template messages: name, language (+ policy), header / body / button parameters, positional or
//! named.
//!
//! Shape (Meta's WhatsApp Node SDK docs, `TemplateObject`; Meta: messages/send-messages):
//! `{"name","language":{"code","policy"?},"components":[{"type":"header","parameters":[..]},
//! {"type":"body","parameters":[..]},{"type":"button","sub_type":"quick_reply","index":"0",
//! "parameters":[..]}]}`. Named parameters carry `parameter_name` (whatsapp-api-js
//! `src/messages/template.ts`).

use std::fmt;

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::media::MediaSource;
use crate::templates::TemplateCategory;
use chatport_core::open_enum;

open_enum! {
    /// `template.language.policy`. Meta documents `deterministic` (use exactly the language asked
    /// for); `fallback` is the retired alternative, kept for completeness.
    pub enum LanguagePolicy {
        /// Send in exactly the requested language, fail (132001) when it is not approved.
        Deterministic => "deterministic",
        /// The retired fallback policy.
        Fallback => "fallback",
    }
}

open_enum! {
    /// `sub_type` of a template `button` component (whatsapp-api-js `src/messages/template.ts`).
    pub enum ButtonSubType {
        /// A quick-reply button; its parameter is a `payload` echoed back in the `button` webhook.
        QuickReply => "quick_reply",
        /// A URL button with a dynamic suffix (a `text` parameter).
        Url => "url",
        /// A copy-code button (a `coupon_code` parameter).
        CopyCode => "copy_code",
        /// A flow button (an `action` parameter with `flow_token`).
        Flow => "flow",
        /// A catalog button.
        Catalog => "catalog",
        /// A multi-product message button.
        Mpm => "mpm",
    }
}

/// One template parameter. Text, currency and date-time parameters may be **named**
/// (`parameter_name`, for templates created with named placeholders `{{first_name}}`) or
/// positional (`{{1}}`); one component must not mix both.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum TemplateParameter {
    /// `{"type":"text","text"}` (+ `parameter_name`).
    Text {
        /// The value.
        text: String,
        /// The placeholder name, for a named parameter.
        name: Option<String>,
    },
    /// `{"type":"currency","currency":{"fallback_value","code","amount_1000"}}`.
    Currency {
        /// Shown when the client cannot format the amount.
        fallback_value: String,
        /// ISO 4217 code, e.g. `USD`.
        code: String,
        /// Amount × 1000 (`12.34` USD → `12340`).
        amount_1000: i64,
        /// The placeholder name, for a named parameter.
        name: Option<String>,
    },
    /// `{"type":"date_time","date_time":{"fallback_value"}}`.
    DateTime {
        /// The date shown.
        fallback_value: String,
        /// The placeholder name, for a named parameter.
        name: Option<String>,
    },
    /// A header image, `{"type":"image","image":{"id"|"link"}}`.
    Image(MediaSource),
    /// A header video.
    Video(MediaSource),
    /// A header document, with an optional file name.
    Document {
        /// Where the document is.
        source: MediaSource,
        /// The file name shown.
        filename: Option<String>,
    },
    /// A quick-reply button payload, `{"type":"payload","payload"}`.
    Payload(String),
    /// A copy-code button value, `{"type":"coupon_code","coupon_code"}`.
    CouponCode(String),
    /// Any other parameter object, sent verbatim (e.g. a flow button's `action`).
    Raw(Value),
}

impl fmt::Debug for TemplateParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parameter values can be personal data: show their type and name only.
        let mut d = f.debug_struct("TemplateParameter");
        d.field("type", &self.type_name());
        if let Some(name) = self.name() {
            d.field("name", &name);
        }
        d.finish_non_exhaustive()
    }
}

impl TemplateParameter {
    /// A positional text parameter.
    pub fn text(text: impl Into<String>) -> Self {
        TemplateParameter::Text {
            text: text.into(),
            name: None,
        }
    }

    /// A named text parameter (`parameter_name`).
    pub fn named(name: impl Into<String>, text: impl Into<String>) -> Self {
        TemplateParameter::Text {
            text: text.into(),
            name: Some(name.into()),
        }
    }

    /// A positional currency parameter; `amount_1000` is the amount × 1000.
    pub fn currency(
        fallback_value: impl Into<String>,
        code: impl Into<String>,
        amount_1000: i64,
    ) -> Self {
        TemplateParameter::Currency {
            fallback_value: fallback_value.into(),
            code: code.into(),
            amount_1000,
            name: None,
        }
    }

    /// A positional date-time parameter.
    pub fn date_time(fallback_value: impl Into<String>) -> Self {
        TemplateParameter::DateTime {
            fallback_value: fallback_value.into(),
            name: None,
        }
    }

    /// The placeholder name of a named parameter.
    pub fn name(&self) -> Option<&str> {
        match self {
            TemplateParameter::Text { name, .. }
            | TemplateParameter::Currency { name, .. }
            | TemplateParameter::DateTime { name, .. } => name.as_deref(),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            TemplateParameter::Text { .. } => "text",
            TemplateParameter::Currency { .. } => "currency",
            TemplateParameter::DateTime { .. } => "date_time",
            TemplateParameter::Image(_) => "image",
            TemplateParameter::Video(_) => "video",
            TemplateParameter::Document { .. } => "document",
            TemplateParameter::Payload(_) => "payload",
            TemplateParameter::CouponCode(_) => "coupon_code",
            TemplateParameter::Raw(_) => "raw",
        }
    }

    fn is_nameable(&self) -> bool {
        matches!(
            self,
            TemplateParameter::Text { .. }
                | TemplateParameter::Currency { .. }
                | TemplateParameter::DateTime { .. }
        )
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = match self {
            TemplateParameter::Text { text, .. } => json!({"type": "text", "text": text}),
            TemplateParameter::Currency {
                fallback_value,
                code,
                amount_1000,
                ..
            } => json!({"type": "currency", "currency": {
                "fallback_value": fallback_value, "code": code, "amount_1000": amount_1000}}),
            TemplateParameter::DateTime { fallback_value, .. } => {
                json!({"type": "date_time", "date_time": {"fallback_value": fallback_value}})
            }
            TemplateParameter::Image(s) => json!({"type": "image", "image": s.to_json()}),
            TemplateParameter::Video(s) => json!({"type": "video", "video": s.to_json()}),
            TemplateParameter::Document { source, filename } => {
                let mut doc = source.to_json();
                if let Some(f) = filename {
                    doc["filename"] = Value::String(f.clone());
                }
                json!({"type": "document", "document": doc})
            }
            TemplateParameter::Payload(p) => json!({"type": "payload", "payload": p}),
            TemplateParameter::CouponCode(c) => {
                json!({"type": "coupon_code", "coupon_code": c})
            }
            TemplateParameter::Raw(v) => v.clone(),
        };
        if let Some(name) = self.name() {
            v["parameter_name"] = Value::String(name.to_owned());
        }
        v
    }

    fn validate(&self, field: &'static str) -> Result<(), Error> {
        let empty = |s: &str| s.trim().is_empty();
        match self {
            TemplateParameter::Text { text, .. } if empty(text) => Err(Error::Invalid {
                field,
                reason: "a text parameter must not be empty",
            }),
            TemplateParameter::Currency {
                fallback_value,
                code,
                ..
            } if empty(fallback_value) || code.len() != 3 => Err(Error::Invalid {
                field,
                reason: "a currency parameter needs a fallback value and a 3-letter ISO 4217 code",
            }),
            TemplateParameter::DateTime { fallback_value, .. } if empty(fallback_value) => {
                Err(Error::Invalid {
                    field,
                    reason: "a date_time parameter needs a fallback value",
                })
            }
            TemplateParameter::Image(s)
            | TemplateParameter::Video(s)
            | TemplateParameter::Document { source: s, .. } => s.validate(field),
            TemplateParameter::Payload(p) | TemplateParameter::CouponCode(p) if empty(p) => {
                Err(Error::Invalid {
                    field,
                    reason: "must not be empty",
                })
            }
            _ => match self.name() {
                Some(name) if !valid_parameter_name(name) => Err(Error::Invalid {
                    field,
                    reason: "parameter_name must be non-empty lower-case letters, digits and '_'",
                }),
                _ => Ok(()),
            },
        }
    }
}

/// `[a-z0-9_]+`, not starting with a digit **(inferred** from Meta's named-placeholder examples
/// and whatsapp-api-js, which enforces `[a-z_]`).
fn valid_parameter_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A `button` component of a template: which button (`index`, 0-based), its `sub_type` and its
/// parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateButton {
    /// The button's sub type.
    pub sub_type: ButtonSubType,
    /// 0-based position of the button in the template (Meta allows up to 10 buttons).
    pub index: u8,
    /// Its parameters (one, usually).
    pub parameters: Vec<TemplateParameter>,
}

/// A template message (`type: template`): the only kind that may be sent outside the 24-hour
/// customer service window (Meta: messages/send-messages). Serialises as `{"name", "language":
/// {"code", "policy"?}, "components": [header, body, buttons..., extra...]}`; components without
/// parameters are left out.
#[derive(Clone, PartialEq)]
pub struct Template {
    name: String,
    language_code: String,
    policy: Option<LanguagePolicy>,
    header: Vec<TemplateParameter>,
    body: Vec<TemplateParameter>,
    buttons: Vec<TemplateButton>,
    components: Vec<Value>,
    category: Option<TemplateCategory>,
    bsuid_allowed: bool,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("language_code", &self.language_code)
            .field("policy", &self.policy)
            .field("header_parameters", &self.header.len())
            .field("body_parameters", &self.body.len())
            .field("buttons", &self.buttons.len())
            .finish_non_exhaustive()
    }
}

impl Template {
    /// A template by its approved `name` and `language_code` (e.g. `en_US`, `de`).
    pub fn new(name: impl Into<String>, language_code: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            language_code: language_code.into(),
            policy: None,
            header: Vec::new(),
            body: Vec::new(),
            buttons: Vec::new(),
            components: Vec::new(),
            category: None,
            bsuid_allowed: false,
        }
    }

    /// Positional text parameters of the body, `{{1}}`, `{{2}}`, ... in order (replaces the body
    /// parameters set so far).
    #[must_use]
    pub fn body_parameters(mut self, parameters: Vec<String>) -> Self {
        self.body = parameters
            .into_iter()
            .map(TemplateParameter::text)
            .collect();
        self
    }

    /// Named text parameters of the body, `{{first_name}}` → `("first_name", "Anna")` (replaces
    /// the body parameters set so far).
    #[must_use]
    pub fn named_body_parameters<K, V>(
        mut self,
        parameters: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.body = parameters
            .into_iter()
            .map(|(k, v)| TemplateParameter::named(k, v))
            .collect();
        self
    }

    /// Body parameters of any type (currency, date-time, named or positional text).
    #[must_use]
    pub fn body(mut self, parameters: Vec<TemplateParameter>) -> Self {
        self.body = parameters;
        self
    }

    /// The header parameter(s): a text, or an image / video / document for a media header.
    #[must_use]
    pub fn header(mut self, parameters: Vec<TemplateParameter>) -> Self {
        self.header = parameters;
        self
    }

    /// Adds a `button` component.
    #[must_use]
    pub fn button(
        mut self,
        sub_type: ButtonSubType,
        index: u8,
        parameters: Vec<TemplateParameter>,
    ) -> Self {
        self.buttons.push(TemplateButton {
            sub_type,
            index,
            parameters,
        });
        self
    }

    /// Adds a quick-reply button's payload (echoed back in the `button` webhook when tapped).
    #[must_use]
    pub fn quick_reply(self, index: u8, payload: impl Into<String>) -> Self {
        self.button(
            ButtonSubType::QuickReply,
            index,
            vec![TemplateParameter::Payload(payload.into())],
        )
    }

    /// Adds a URL button's dynamic suffix.
    #[must_use]
    pub fn url_button(self, index: u8, suffix: impl Into<String>) -> Self {
        self.button(
            ButtonSubType::Url,
            index,
            vec![TemplateParameter::text(suffix)],
        )
    }

    /// Adds a component verbatim (carousel, limited-time offer, ...).
    #[must_use]
    pub fn component(mut self, component: Value) -> Self {
        self.components.push(component);
        self
    }

    /// Declares the template's category (not sent: Meta knows it from the approved template). It
    /// matters locally for [`TemplateCategory::Authentication`]: such a template needs the
    /// customer's phone number, so [`OutgoingMessage::validate`](crate::OutgoingMessage::validate)
    /// refuses it for a [`Recipient::UserId`](crate::Recipient::UserId) with
    /// [`Error::PhoneNumberRequired`] instead of letting Meta answer 131062 (Meta:
    /// business-scoped-user-ids).
    #[must_use]
    pub fn category(mut self, category: TemplateCategory) -> Self {
        self.category = Some(category);
        self
    }

    /// Shorthand for [`Template::category`]`(`[`TemplateCategory::Authentication`]`)`.
    #[must_use]
    pub fn authentication(self) -> Self {
        self.category(TemplateCategory::Authentication)
    }

    /// Lets an [authentication](Template::authentication) template go to a business-scoped user
    /// id anyway (default `false`): for when Meta opens authentication templates to BSUIDs for a
    /// WABA. Whether and when it does is not documented **(inferred: keep configurable)**.
    #[must_use]
    pub fn allow_user_id_recipient(mut self, allowed: bool) -> Self {
        self.bsuid_allowed = allowed;
        self
    }

    /// The declared category, if any.
    pub fn category_kind(&self) -> Option<&TemplateCategory> {
        self.category.as_ref()
    }

    /// Whether this template must be sent to a phone number (an authentication template not
    /// [allowed](Template::allow_user_id_recipient) for BSUIDs).
    pub fn needs_phone_number(&self) -> bool {
        self.category == Some(TemplateCategory::Authentication) && !self.bsuid_allowed
    }

    /// Sets `language.policy` (Meta documents `deterministic`).
    #[must_use]
    pub fn language_policy(mut self, policy: LanguagePolicy) -> Self {
        self.policy = Some(policy);
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

    /// The body parameters.
    pub fn body_parameter_list(&self) -> &[TemplateParameter] {
        &self.body
    }

    /// Checks the template before sending.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty name or language code, an empty parameter value, a bad
    /// `parameter_name`, a component that mixes named and positional parameters, a duplicate
    /// button index, or a media parameter without a usable id or link.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.name.trim().is_empty() {
            return Err(Error::Invalid {
                field: "template.name",
                reason: "must not be empty",
            });
        }
        if self.language_code.trim().is_empty() {
            return Err(Error::Invalid {
                field: "template.language.code",
                reason: "must not be empty",
            });
        }
        check_component("template.components[header].parameters", &self.header)?;
        check_component("template.components[body].parameters", &self.body)?;
        let mut indexes = Vec::new();
        for b in &self.buttons {
            check_component("template.components[button].parameters", &b.parameters)?;
            if indexes.contains(&b.index) {
                return Err(Error::Invalid {
                    field: "template.components[button].index",
                    reason: "two button components have the same index",
                });
            }
            indexes.push(b.index);
        }
        Ok(())
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut language = Map::new();
        language.insert("code".into(), Value::String(self.language_code.clone()));
        if let Some(p) = &self.policy {
            language.insert("policy".into(), Value::String(p.as_str().to_owned()));
        }
        let mut template = json!({ "name": self.name, "language": language });
        let params = |ps: &[TemplateParameter]| -> Vec<Value> {
            ps.iter().map(TemplateParameter::to_json).collect()
        };
        let mut components = Vec::new();
        if !self.header.is_empty() {
            components.push(json!({"type": "header", "parameters": params(&self.header)}));
        }
        if !self.body.is_empty() {
            components.push(json!({"type": "body", "parameters": params(&self.body)}));
        }
        for b in &self.buttons {
            components.push(json!({
                "type": "button",
                "sub_type": b.sub_type.as_str(),
                "index": b.index.to_string(),
                "parameters": params(&b.parameters),
            }));
        }
        components.extend(self.components.iter().cloned());
        if !components.is_empty() {
            template["components"] = Value::Array(components);
        }
        template
    }
}

fn check_component(field: &'static str, parameters: &[TemplateParameter]) -> Result<(), Error> {
    let named = parameters.iter().filter(|p| p.name().is_some()).count();
    let positional = parameters
        .iter()
        .filter(|p| p.is_nameable() && p.name().is_none())
        .count();
    if named > 0 && positional > 0 {
        return Err(Error::Invalid {
            field,
            reason: "must not mix named and positional parameters",
        });
    }
    let mut names = Vec::new();
    for p in parameters {
        p.validate(field)?;
        if let Some(name) = p.name() {
            if names.contains(&name) {
                return Err(Error::Invalid {
                    field,
                    reason: "parameter names must be unique",
                });
            }
            names.push(name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_template_json() {
        let t = Template::new("order_update", "en_US")
            .language_policy(LanguagePolicy::Deterministic)
            .header(vec![TemplateParameter::Image(MediaSource::link(
                "https://example.com/a.jpg",
            ))])
            .body(vec![
                TemplateParameter::named("first_name", "Anna"),
                TemplateParameter::Currency {
                    fallback_value: "$12.34".into(),
                    code: "USD".into(),
                    amount_1000: 12_340,
                    name: Some("total".into()),
                },
            ])
            .quick_reply(0, "STOP")
            .url_button(1, "order/42");
        assert!(t.validate().is_ok());
        assert_eq!(
            t.to_json(),
            json!({
                "name": "order_update",
                "language": {"code": "en_US", "policy": "deterministic"},
                "components": [
                    {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/a.jpg"}}]},
                    {"type": "body", "parameters": [
                        {"type": "text", "text": "Anna", "parameter_name": "first_name"},
                        {"type": "currency", "currency": {"fallback_value": "$12.34", "code": "USD", "amount_1000": 12340}, "parameter_name": "total"}
                    ]},
                    {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "STOP"}]},
                    {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "order/42"}]}
                ]
            })
        );
        assert!(!format!("{:?}", t.body_parameter_list()).contains("Anna"));
    }

    #[test]
    fn refuses_bad_parameters() {
        let mixed = Template::new("t", "en").body(vec![
            TemplateParameter::named("a", "x"),
            TemplateParameter::text("y"),
        ]);
        assert!(matches!(
            mixed.validate(),
            Err(Error::Invalid { reason, .. }) if reason.contains("mix")
        ));
        let bad_name = Template::new("t", "en").named_body_parameters([("First Name", "x")]);
        assert!(bad_name.validate().is_err());
        let dup = Template::new("t", "en").named_body_parameters([("a", "x"), ("a", "y")]);
        assert!(dup.validate().is_err());
        let empty = Template::new("t", "en").body_parameters(vec![" ".into()]);
        assert!(empty.validate().is_err());
        let same_index = Template::new("t", "en")
            .quick_reply(0, "a")
            .quick_reply(0, "b");
        assert!(same_index.validate().is_err());
        let bad_currency =
            Template::new("t", "en").body(vec![TemplateParameter::currency("x", "EURO", 1)]);
        assert!(bad_currency.validate().is_err());
        let ok = Template::new("t", "en").body(vec![
            TemplateParameter::currency("€1", "EUR", 1000),
            TemplateParameter::date_time("May 1"),
        ]);
        assert!(ok.validate().is_ok());
    }
}
