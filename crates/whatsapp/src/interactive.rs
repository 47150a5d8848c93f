//! Interactive messages: reply buttons, lists, call-to-action URL buttons, flows, location
//! requests, address requests and call-permission requests, with the documented limits checked
//! before sending.
//!
//! Meta: messages/interactive-reply-buttons-messages, messages/interactive-list-messages,
//! messages/interactive-cta-url-messages, messages/location-request-messages,
//! flows/guides/sendingaflow, the address messages guide (India and Singapore only), and the call
//! permission request pages (limits in [`crate::limits`]). The flow action's parameters follow
//! whatsapp-api-js `ActionFlow` (`flow_message_version` `"3"`, `flow_cta` at most 20 characters).

use std::fmt;

use chatport_core::redact;
use serde_json::{Value, json};

use crate::error::Error;
use crate::limits;
use crate::media::MediaSource;

/// The header of an interactive message. Lists accept only [`InteractiveHeader::Text`].
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum InteractiveHeader {
    /// A text header (at most [`limits::HEADER_TEXT_MAX_CHARS`] characters).
    Text(String),
    /// An image header.
    Image(MediaSource),
    /// A video header.
    Video(MediaSource),
    /// A document header.
    Document(MediaSource),
}

impl fmt::Debug for InteractiveHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InteractiveHeader::Text(t) => f.debug_tuple("Text").field(&redact::text(t)).finish(),
            InteractiveHeader::Image(s) => f.debug_tuple("Image").field(s).finish(),
            InteractiveHeader::Video(s) => f.debug_tuple("Video").field(s).finish(),
            InteractiveHeader::Document(s) => f.debug_tuple("Document").field(s).finish(),
        }
    }
}

impl InteractiveHeader {
    fn to_json(&self) -> Value {
        match self {
            InteractiveHeader::Text(t) => json!({"type": "text", "text": t}),
            InteractiveHeader::Image(s) => json!({"type": "image", "image": s.to_json()}),
            InteractiveHeader::Video(s) => json!({"type": "video", "video": s.to_json()}),
            InteractiveHeader::Document(s) => {
                json!({"type": "document", "document": s.to_json()})
            }
        }
    }
}

/// A reply button: `{"type":"reply","reply":{"id","title"}}`. `id` at most
/// [`limits::BUTTON_ID_MAX_CHARS`], `title` at most [`limits::BUTTON_TITLE_MAX_CHARS`] characters and
/// unique within the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyButton {
    /// Returned in the `button_reply` webhook when tapped.
    pub id: String,
    /// The label.
    pub title: String,
}

impl ReplyButton {
    /// A reply button.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
        }
    }
}

/// A row of a list section: `id` (≤ [`limits::LIST_ROW_ID_MAX_CHARS`]), `title`
/// (≤ [`limits::LIST_ROW_TITLE_MAX_CHARS`]), optional `description`
/// (≤ [`limits::LIST_ROW_DESCRIPTION_MAX_CHARS`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRow {
    /// Returned in the `list_reply` webhook when chosen.
    pub id: String,
    /// The row title.
    pub title: String,
    /// An optional description.
    pub description: Option<String>,
}

impl ListRow {
    /// A row without description.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            description: None,
        }
    }

    /// Adds a description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// A section of a list: an optional title (≤ [`limits::LIST_SECTION_TITLE_MAX_CHARS`], required
/// when the list has more than one section) and its rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListSection {
    /// The section title.
    pub title: Option<String>,
    /// The rows.
    pub rows: Vec<ListRow>,
}

impl ListSection {
    /// A section with a title.
    pub fn new(title: impl Into<String>, rows: Vec<ListRow>) -> Self {
        Self {
            title: Some(title.into()),
            rows,
        }
    }

    /// A section without a title (allowed only when it is the only one).
    pub fn untitled(rows: Vec<ListRow>) -> Self {
        Self { title: None, rows }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Action {
    Buttons(Vec<ReplyButton>),
    List {
        button: String,
        sections: Vec<ListSection>,
    },
    CtaUrl {
        display_text: String,
        url: String,
    },
    Flow(FlowAction),
    LocationRequest,
    Address {
        country: String,
        values: serde_json::Map<String, Value>,
    },
    CallPermission,
}

/// The most characters of a flow's call-to-action button (`flow_cta`; no emoji).
pub const FLOW_CTA_MAX_CHARS: usize = 20;

/// How a flow opens: at a screen (`navigate`) or by asking the business's flow endpoint
/// (`data_exchange`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FlowStart {
    /// `flow_action: navigate` to `screen`, with optional initial `data` (a non-empty object).
    Navigate {
        /// The id of the first screen.
        screen: String,
        /// Input data of the first screen.
        data: Option<serde_json::Map<String, Value>>,
    },
    /// `flow_action: data_exchange`: the flow endpoint provides the first screen.
    DataExchange,
}

/// The `action` of a flow message: which flow (by id or name), the button text, the token that
/// comes back in the `nfm_reply` answer, and how it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowAction {
    flow: FlowRef,
    cta: String,
    token: Option<String>,
    draft: bool,
    start: FlowStart,
}

#[derive(Clone, Debug, PartialEq)]
enum FlowRef {
    Id(String),
    Name(String),
}

impl FlowAction {
    /// The published flow `flow_id`, opened with a button labelled `cta` (≤
    /// [`FLOW_CTA_MAX_CHARS`]), navigating to `screen`.
    pub fn by_id(
        flow_id: impl Into<String>,
        cta: impl Into<String>,
        screen: impl Into<String>,
    ) -> Self {
        Self {
            flow: FlowRef::Id(flow_id.into()),
            cta: cta.into(),
            token: None,
            draft: false,
            start: FlowStart::Navigate {
                screen: screen.into(),
                data: None,
            },
        }
    }

    /// The published flow named `flow_name` (instead of its id).
    pub fn by_name(
        flow_name: impl Into<String>,
        cta: impl Into<String>,
        screen: impl Into<String>,
    ) -> Self {
        Self {
            flow: FlowRef::Name(flow_name.into()),
            ..Self::by_id("", cta, screen)
        }
    }

    /// The `flow_token` echoed back in the `nfm_reply` answer (identifies the conversation
    /// step; Meta's default is `unused`).
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Initial data for the first screen (navigate only; must be a non-empty object).
    #[must_use]
    pub fn data(mut self, data: serde_json::Map<String, Value>) -> Self {
        if let FlowStart::Navigate { data: slot, .. } = &mut self.start {
            *slot = Some(data);
        }
        self
    }

    /// Starts with the flow endpoint (`data_exchange`) instead of a screen.
    #[must_use]
    pub fn data_exchange(mut self) -> Self {
        self.start = FlowStart::DataExchange;
        self
    }

    /// Sends the draft version (`mode: draft`; for testing).
    #[must_use]
    pub fn draft(mut self) -> Self {
        self.draft = true;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        match &self.flow {
            FlowRef::Id(id) => non_empty("interactive.action.parameters.flow_id", id)?,
            FlowRef::Name(n) => non_empty("interactive.action.parameters.flow_name", n)?,
        }
        let f = "interactive.action.parameters.flow_cta";
        non_empty(f, &self.cta)?;
        max_chars(f, &self.cta, FLOW_CTA_MAX_CHARS)?;
        if let Some(t) = &self.token {
            non_empty("interactive.action.parameters.flow_token", t)?;
        }
        if let FlowStart::Navigate { screen, data } = &self.start {
            non_empty(
                "interactive.action.parameters.flow_action_payload.screen",
                screen,
            )?;
            if data.as_ref().is_some_and(serde_json::Map::is_empty) {
                return Err(Error::Invalid {
                    field: "interactive.action.parameters.flow_action_payload.data",
                    reason: "must be a non-empty object when given",
                });
            }
        }
        Ok(())
    }

    fn to_json(&self) -> Value {
        let mut p = json!({"flow_message_version": "3", "flow_cta": self.cta});
        match &self.flow {
            FlowRef::Id(id) => p["flow_id"] = Value::String(id.clone()),
            FlowRef::Name(n) => p["flow_name"] = Value::String(n.clone()),
        }
        if let Some(t) = &self.token {
            p["flow_token"] = Value::String(t.clone());
        }
        if self.draft {
            p["mode"] = Value::String("draft".into());
        }
        match &self.start {
            FlowStart::Navigate { screen, data } => {
                p["flow_action"] = Value::String("navigate".into());
                let mut payload = json!({ "screen": screen });
                if let Some(d) = data {
                    payload["data"] = Value::Object(d.clone());
                }
                p["flow_action_payload"] = payload;
            }
            FlowStart::DataExchange => p["flow_action"] = Value::String("data_exchange".into()),
        }
        json!({"name": "flow", "parameters": p})
    }
}

/// An interactive message (`type: interactive`): reply buttons, a list, or a call-to-action URL
/// button. Build with [`InteractiveMessage::buttons`], [`InteractiveMessage::list`] or
/// [`InteractiveMessage::cta_url`], then send with
/// [`OutgoingMessage::interactive`](crate::OutgoingMessage::interactive).
#[derive(Clone, PartialEq)]
pub struct InteractiveMessage {
    header: Option<InteractiveHeader>,
    body: String,
    footer: Option<String>,
    action: Action,
}

impl fmt::Debug for InteractiveMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InteractiveMessage")
            .field("type", &self.interactive_type())
            .field("header", &self.header)
            .field("body", &redact::text(&self.body))
            .finish_non_exhaustive()
    }
}

impl InteractiveMessage {
    /// Up to [`limits::MAX_REPLY_BUTTONS`] reply buttons under `body`
    /// (≤ [`limits::BUTTONS_BODY_MAX_CHARS`] characters).
    pub fn buttons(body: impl Into<String>, buttons: Vec<ReplyButton>) -> Self {
        Self::new(body, Action::Buttons(buttons))
    }

    /// A list: `button` opens it (≤ [`limits::LIST_BUTTON_MAX_CHARS`]), up to
    /// [`limits::MAX_LIST_SECTIONS`] sections and [`limits::MAX_LIST_ROWS`] rows in total; `body`
    /// ≤ [`limits::LIST_BODY_MAX_CHARS`].
    pub fn list(
        body: impl Into<String>,
        button: impl Into<String>,
        sections: Vec<ListSection>,
    ) -> Self {
        Self::new(
            body,
            Action::List {
                button: button.into(),
                sections,
            },
        )
    }

    /// A call-to-action URL button (`display_text` ≤ [`limits::CTA_DISPLAY_TEXT_MAX_CHARS`],
    /// an `http(s)` URL); `body` ≤ [`limits::BUTTONS_BODY_MAX_CHARS`].
    pub fn cta_url(
        body: impl Into<String>,
        display_text: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        Self::new(
            body,
            Action::CtaUrl {
                display_text: display_text.into(),
                url: url.into(),
            },
        )
    }

    /// A flow message (`type: flow`): `body` and a button that opens the flow
    /// ([`FlowAction`]). The user's submission comes back as an `nfm_reply`
    /// ([`Interactive::flow_reply`](crate::webhook::Interactive::flow_reply)).
    pub fn flow(body: impl Into<String>, action: FlowAction) -> Self {
        Self::new(body, Action::Flow(action))
    }

    /// A location request (`type: location_request_message`): `body` and WhatsApp's "Send
    /// location" button; the user's answer is an ordinary `location` message (Meta:
    /// messages/location-request-messages). No header or footer.
    ///
    /// (An address message, unlike these, may have a header and a footer.)
    pub fn location_request(body: impl Into<String>) -> Self {
        Self::new(body, Action::LocationRequest)
    }

    /// An address request (`type: address_message`) for `country` (ISO 3166 alpha-2; Meta
    /// documents `IN` and `SG` only), with optional prefilled `values` (`name`, `phone_number`,
    /// `in_pin_code`, `house_number`, ...). The answer is an `nfm_reply` named
    /// `address_message`.
    pub fn address_request(
        body: impl Into<String>,
        country: impl Into<String>,
        values: serde_json::Map<String, Value>,
    ) -> Self {
        Self::new(
            body,
            Action::Address {
                country: country.into(),
                values,
            },
        )
    }

    /// A call-permission request (`type: call_permission_request`): `body` and WhatsApp's
    /// button to allow calls; the answer is a `call_permission_reply`
    /// ([`Interactive::call_permission_reply`](crate::webhook::Interactive::call_permission_reply)).
    pub fn call_permission_request(body: impl Into<String>) -> Self {
        Self::new(body, Action::CallPermission)
    }

    fn new(body: impl Into<String>, action: Action) -> Self {
        Self {
            header: None,
            body: body.into(),
            footer: None,
            action,
        }
    }

    /// Sets the header.
    #[must_use]
    pub fn header(mut self, header: InteractiveHeader) -> Self {
        self.header = Some(header);
        self
    }

    /// Sets the footer (≤ [`limits::FOOTER_MAX_CHARS`] characters).
    #[must_use]
    pub fn footer(mut self, footer: impl Into<String>) -> Self {
        self.footer = Some(footer.into());
        self
    }

    /// `button`, `list`, `cta_url`, `flow`, `location_request_message`, `address_message` or
    /// `call_permission_request`.
    pub fn interactive_type(&self) -> &'static str {
        match self.action {
            Action::Buttons(_) => "button",
            Action::List { .. } => "list",
            Action::CtaUrl { .. } => "cta_url",
            Action::Flow(_) => "flow",
            Action::LocationRequest => "location_request_message",
            Action::Address { .. } => "address_message",
            Action::CallPermission => "call_permission_request",
        }
    }

    /// Checks the documented limits.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the field and the limit for over-long values or too many
    /// buttons / sections / rows; [`Error::Invalid`] for empty values, duplicate button titles or
    /// ids, a media header on a list, an untitled section among several, a bad URL.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let is_list = matches!(self.action, Action::List { .. });
        // Location and call-permission requests show only a body and WhatsApp's own button.
        if matches!(
            self.action,
            Action::LocationRequest | Action::CallPermission
        ) && (self.header.is_some() || self.footer.is_some())
        {
            return Err(Error::Invalid {
                field: "interactive",
                reason: "a location or call-permission request has only a body",
            });
        }
        match &self.header {
            Some(InteractiveHeader::Text(t)) => {
                non_empty("interactive.header.text", t)?;
                max_chars("interactive.header.text", t, limits::HEADER_TEXT_MAX_CHARS)?;
            }
            Some(_) if is_list => {
                return Err(Error::Invalid {
                    field: "interactive.header",
                    reason: "a list message accepts only a text header",
                });
            }
            Some(
                InteractiveHeader::Image(s)
                | InteractiveHeader::Video(s)
                | InteractiveHeader::Document(s),
            ) => s.validate("interactive.header")?,
            None => {}
        }
        non_empty("interactive.body.text", &self.body)?;
        let body_max = if is_list {
            limits::LIST_BODY_MAX_CHARS
        } else {
            limits::BUTTONS_BODY_MAX_CHARS
        };
        max_chars("interactive.body.text", &self.body, body_max)?;
        if let Some(footer) = &self.footer {
            non_empty("interactive.footer.text", footer)?;
            max_chars("interactive.footer.text", footer, limits::FOOTER_MAX_CHARS)?;
        }
        match &self.action {
            Action::Buttons(buttons) => {
                if buttons.is_empty() {
                    return Err(Error::Invalid {
                        field: "interactive.action.buttons",
                        reason: "needs at least one button",
                    });
                }
                max_count(
                    "interactive.action.buttons",
                    buttons.len(),
                    limits::MAX_REPLY_BUTTONS,
                )?;
                for (i, b) in buttons.iter().enumerate() {
                    non_empty("interactive.action.buttons[].reply.id", &b.id)?;
                    max_chars(
                        "interactive.action.buttons[].reply.id",
                        &b.id,
                        limits::BUTTON_ID_MAX_CHARS,
                    )?;
                    non_empty("interactive.action.buttons[].reply.title", &b.title)?;
                    max_chars(
                        "interactive.action.buttons[].reply.title",
                        &b.title,
                        limits::BUTTON_TITLE_MAX_CHARS,
                    )?;
                    if buttons[..i].iter().any(|o| o.title == b.title) {
                        return Err(Error::Invalid {
                            field: "interactive.action.buttons[].reply.title",
                            reason: "button titles must be unique",
                        });
                    }
                    if buttons[..i].iter().any(|o| o.id == b.id) {
                        return Err(Error::Invalid {
                            field: "interactive.action.buttons[].reply.id",
                            reason: "button ids must be unique",
                        });
                    }
                }
            }
            Action::List { button, sections } => {
                non_empty("interactive.action.button", button)?;
                max_chars(
                    "interactive.action.button",
                    button,
                    limits::LIST_BUTTON_MAX_CHARS,
                )?;
                if sections.is_empty() {
                    return Err(Error::Invalid {
                        field: "interactive.action.sections",
                        reason: "needs at least one section",
                    });
                }
                max_count(
                    "interactive.action.sections",
                    sections.len(),
                    limits::MAX_LIST_SECTIONS,
                )?;
                let rows: usize = sections.iter().map(|s| s.rows.len()).sum();
                max_count(
                    "interactive.action.sections[].rows",
                    rows,
                    limits::MAX_LIST_ROWS,
                )?;
                let mut ids: Vec<&str> = Vec::new();
                for s in sections {
                    match &s.title {
                        Some(t) => max_chars(
                            "interactive.action.sections[].title",
                            t,
                            limits::LIST_SECTION_TITLE_MAX_CHARS,
                        )?,
                        None if sections.len() > 1 => {
                            return Err(Error::Invalid {
                                field: "interactive.action.sections[].title",
                                reason: "required when the list has more than one section",
                            });
                        }
                        None => {}
                    }
                    if s.rows.is_empty() {
                        return Err(Error::Invalid {
                            field: "interactive.action.sections[].rows",
                            reason: "a section needs at least one row",
                        });
                    }
                    for r in &s.rows {
                        let f = "interactive.action.sections[].rows[].id";
                        non_empty(f, &r.id)?;
                        max_chars(f, &r.id, limits::LIST_ROW_ID_MAX_CHARS)?;
                        if ids.contains(&r.id.as_str()) {
                            return Err(Error::Invalid {
                                field: f,
                                reason: "row ids must be unique",
                            });
                        }
                        ids.push(&r.id);
                        let f = "interactive.action.sections[].rows[].title";
                        non_empty(f, &r.title)?;
                        max_chars(f, &r.title, limits::LIST_ROW_TITLE_MAX_CHARS)?;
                        if let Some(d) = &r.description {
                            max_chars(
                                "interactive.action.sections[].rows[].description",
                                d,
                                limits::LIST_ROW_DESCRIPTION_MAX_CHARS,
                            )?;
                        }
                    }
                }
            }
            Action::CtaUrl { display_text, url } => {
                let f = "interactive.action.parameters.display_text";
                non_empty(f, display_text)?;
                max_chars(f, display_text, limits::CTA_DISPLAY_TEXT_MAX_CHARS)?;
                crate::media::check_http_url("interactive.action.parameters.url", url)?;
            }
            Action::Flow(flow) => flow.validate()?,
            Action::LocationRequest | Action::CallPermission => {}
            Action::Address { country, .. } => {
                if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(Error::Invalid {
                        field: "interactive.action.parameters.country",
                        reason: "must be an ISO 3166 alpha-2 code in capitals, e.g. IN or SG",
                    });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn to_json(&self) -> Value {
        let action = match &self.action {
            Action::Buttons(buttons) => json!({
                "buttons": buttons.iter().map(|b| json!({
                    "type": "reply", "reply": {"id": b.id, "title": b.title}
                })).collect::<Vec<_>>()
            }),
            Action::List { button, sections } => json!({
                "button": button,
                "sections": sections.iter().map(|s| {
                    let mut section = json!({
                        "rows": s.rows.iter().map(|r| {
                            let mut row = json!({"id": r.id, "title": r.title});
                            if let Some(d) = &r.description {
                                row["description"] = Value::String(d.clone());
                            }
                            row
                        }).collect::<Vec<_>>()
                    });
                    if let Some(t) = &s.title {
                        section["title"] = Value::String(t.clone());
                    }
                    section
                }).collect::<Vec<_>>()
            }),
            Action::CtaUrl { display_text, url } => json!({
                "name": "cta_url",
                "parameters": {"display_text": display_text, "url": url}
            }),
            Action::Flow(flow) => flow.to_json(),
            Action::LocationRequest => json!({"name": "send_location"}),
            Action::Address { country, values } => {
                let mut parameters = json!({ "country": country });
                if !values.is_empty() {
                    parameters["values"] = Value::Object(values.clone());
                }
                json!({"name": "address_message", "parameters": parameters})
            }
            Action::CallPermission => json!({"name": "call_permission_request"}),
        };
        let mut v = json!({
            "type": self.interactive_type(),
            "body": {"text": self.body},
            "action": action,
        });
        if let Some(h) = &self.header {
            v["header"] = h.to_json();
        }
        if let Some(f) = &self.footer {
            v["footer"] = json!({ "text": f });
        }
        v
    }
}

pub(crate) fn non_empty(field: &'static str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::Invalid {
            field,
            reason: "must not be empty",
        });
    }
    Ok(())
}

pub(crate) fn max_chars(field: &'static str, value: &str, limit: usize) -> Result<(), Error> {
    let actual = value.chars().count();
    if actual > limit {
        return Err(Error::Validation {
            field,
            limit,
            actual,
        });
    }
    Ok(())
}

fn max_count(field: &'static str, actual: usize, limit: usize) -> Result<(), Error> {
    if actual > limit {
        return Err(Error::Validation {
            field,
            limit,
            actual,
        });
    }
    Ok(())
}
