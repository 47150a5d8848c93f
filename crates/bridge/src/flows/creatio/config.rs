//! Configuration of the Creatio connection (`[creatio]`) and of the C flows (`[flows.c1]`,
//! `[flows.c2]`). Every key is listed in `docs/configuration.md`.

use std::collections::BTreeMap;

use chatport_assistant::fields::{FieldKind, FieldSpec};
use chatport_creatio::Lookups;
use serde::Deserialize;
use uuid::Uuid;

use crate::assistant::Engine;
use crate::settings::{SecretSetting, Setting};
use crate::templates::TemplateConfig;

/// How chatport signs in to Creatio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CreatioAuth {
    /// OAuth 2.0 client credentials through the Identity Service (default; `client_id`,
    /// `client_secret`).
    #[default]
    Oauth,
    /// Forms login with a user (`username`, `password`); cookies and CSRF header.
    Forms,
}

/// Which OData path style the instance uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CreatioPlatform {
    /// .NET Framework: `/0/odata` (default).
    #[default]
    NetFramework,
    /// .NET Core / .NET 6/8: `/odata`.
    NetCore,
}

/// `[creatio]`: one Creatio instance.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CreatioConfig {
    /// Site root, e.g. `https://acme.creatio.com` (no `/0`; a trailing `/` is trimmed).
    pub base_url: Setting,
    /// OData path style. Default `net_framework` (`/0/odata`).
    #[serde(default)]
    pub platform: CreatioPlatform,
    /// Authentication. Default `oauth`.
    #[serde(default)]
    pub auth: CreatioAuth,
    /// OAuth client id (`auth = "oauth"`).
    pub client_id: Option<Setting>,
    /// OAuth client secret, e.g. `"${CREATIO_CLIENT_SECRET}"` (`auth = "oauth"`).
    pub client_secret: Option<SecretSetting>,
    /// Identity Service URL; default derived from the site (`https://{tenant}-is.creatio.com`).
    pub identity_url: Option<Setting>,
    /// Full token URL, overriding `identity_url`.
    pub token_url: Option<Setting>,
    /// User name (`auth = "forms"`).
    pub username: Option<Setting>,
    /// Password, e.g. `"${CREATIO_PASSWORD}"` (`auth = "forms"`).
    pub password: Option<SecretSetting>,
    /// Request timeout in seconds. Default 20.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// `[creatio.lookups]`: lookup GUIDs (case status, activity type, communication type, ...).
    /// Defaults are Creatio's out-of-the-box values; **verify them per instance**.
    #[serde(default)]
    pub lookups: Lookups,
}

fn default_timeout() -> u64 {
    20
}

/// How one assistant-filled field is written to a case column.
#[derive(Debug, Clone, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FieldMapping {
    /// The Case column, e.g. `PriorityId` or `UsrCategory`.
    pub column: String,
    /// For lookup (dropdown) columns: field value → lookup GUID (e.g. `high = "8b70…"`). A value
    /// without an entry is not written. Empty: the value is written as text.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// `[flows.c1]`: the WhatsApp → Creatio handoff (C1), with media (C4) and contact matching (C5).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct C1Config {
    /// Whether the flow runs. Default `false` (needs `[creatio]`).
    pub enabled: bool,
    /// Phrases that hand the conversation to a person, matched case-insensitively inside the
    /// text. Defaults cover English, German, French, Spanish, Portuguese, Italian and Dutch.
    pub escalation_phrases: Vec<String>,
    /// Issue types of the classifier that hand off (e.g. `["complaint"]`). Default none.
    pub escalate_issue_types: Vec<String>,
    /// Priorities of the classifier that hand off (e.g. `["critical"]`). Default none.
    pub escalate_priorities: Vec<String>,
    /// Text sent to the customer after a handoff (`{case_number}` is replaced). Empty: nothing
    /// is sent. Sent only inside the 24-hour window.
    pub handoff_reply: String,
    /// Prefix of the case subject. Default `WhatsApp: `.
    pub subject_prefix: String,
    /// Prefix of every activity title chatport writes (also how agents tell them apart). Default
    /// `[WhatsApp]`.
    pub activity_prefix: String,
    /// Case owner (a Contact GUID). Default none.
    pub owner_id: Option<Uuid>,
    /// Case group (a SysAdminUnit GUID). Default none.
    pub group_id: Option<Uuid>,
    /// Assistant-filled fields → case columns. Fields: `issue_type`, `priority`, `region`,
    /// `product_line`, `customer_id`, `customer_name`, `handoff_reason`.
    pub fields: BTreeMap<String, FieldMapping>,
    /// Public base URL of this chatport (for the transcript link), e.g.
    /// `https://chatport.example.com`. Empty: no link.
    pub public_url: Setting,
    /// Secret that signs transcript links (HMAC-SHA256), e.g. `"${TRANSCRIPT_SECRET}"`. Unset:
    /// no link and no transcript page.
    pub transcript_secret: Option<SecretSetting>,
    /// How long a transcript link stays valid, in hours. Default 168 (7 days).
    pub transcript_link_ttl_hours: u64,
    /// Path of the transcript page. Default `/creatio/transcript`.
    pub transcript_path: String,
    /// Path of the manual handoff endpoint. Default `/creatio/handoff`.
    pub handoff_path: String,
    /// Bearer token of the manual handoff endpoint, e.g. `"${HANDOFF_TOKEN}"`. Unset: no endpoint
    /// (the `chatport handoff` command still works).
    pub handoff_token: Option<SecretSetting>,
    /// How long a handed-off conversation stays with the agent without a closure, in hours: its
    /// messages go to the case (not to the other flows) meanwhile. Default 168.
    pub session_ttl_hours: u64,
    /// Also upload media as case attachments (downloaded from WhatsApp, SHA-256 checked, uploaded
    /// in chunks). Default `false`: media appear as references in the activities.
    pub attach_media: bool,
    /// Largest attachment uploaded, in bytes (Creatio's `MaxFileSize`, default 10 MB). Larger
    /// media stay references.
    pub max_attachment_bytes: u64,
    /// Digits compared when matching a phone number to a contact (the end of the number).
    /// Default 9.
    pub match_digits: usize,
    /// Seconds before a send whose outcome is unknown is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
    /// Who classifies the handed-off conversation: `"rules"` (the default) or `"model"` (the
    /// `[assistant]` model, constrained to the `[classifier]` lists, falling back to the rules).
    pub classifier: Engine,
    /// Who writes the handoff summary (`Subject`, `Symptoms`): `"rules"` (the default: the
    /// latest customer messages) or `"model"` (intent, summary, action items, language,
    /// sentiment and the handoff reason, falling back to the rules).
    pub summariser: Engine,
    /// `[[flows.c1.ai_fields]]`: case columns the `[assistant]` model fills when the case is
    /// created (needs `[assistant]`). Default none.
    pub ai_fields: Vec<AiField>,
}

/// One `[[flows.c1.ai_fields]]`: a case column the model fills, as OpenCX's AI fields (a name,
/// a kind and an instruction). A lookup is answered only with one of the lookup's real values,
/// read from Creatio (`Id`, `Name` of the `lookup` entity set) at each new case.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AiField {
    /// The case column written (`PriorityId`, `UsrProductModel`).
    pub column: String,
    /// The field's name as the model sees it (`priority`). Default: the column.
    #[serde(default)]
    pub name: Option<String>,
    /// A human title (`Priority`).
    #[serde(default)]
    pub title: String,
    /// `text`, `number`, `date` (written as midnight UTC) or `lookup` (its `Id` is written).
    pub kind: FieldKind,
    /// What the model should put there.
    #[serde(default)]
    pub instruction: String,
    /// For `kind = "lookup"`: the lookup's entity set (`CasePriority`).
    #[serde(default)]
    pub lookup: Option<String>,
}

impl AiField {
    /// The name the model answers under.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.column)
    }

    /// The field as the assistant crate describes it.
    pub fn spec(&self) -> FieldSpec {
        FieldSpec::new(
            self.name(),
            self.title.clone(),
            self.kind,
            self.instruction.clone(),
        )
    }
}

impl Default for C1Config {
    fn default() -> Self {
        let phrases = [
            // English
            "speak with a person",
            "speak to a person",
            "talk to a person",
            "talk to a human",
            "speak to a human",
            "real person",
            "human agent",
            "speak to an agent",
            "talk to an agent",
            "customer service representative",
            // German
            "mit einem menschen",
            "mit einem mitarbeiter",
            "echten menschen",
            // French
            "parler à une personne",
            "parler à un conseiller",
            "parler à un humain",
            // Spanish
            "hablar con una persona",
            "hablar con un agente",
            "hablar con un humano",
            // Portuguese
            "falar com uma pessoa",
            "falar com um atendente",
            // Italian
            "parlare con una persona",
            "parlare con un operatore",
            // Dutch
            "met een medewerker",
            "met een mens",
        ];
        Self {
            enabled: false,
            escalation_phrases: phrases.iter().map(|p| (*p).to_owned()).collect(),
            escalate_issue_types: Vec::new(),
            escalate_priorities: Vec::new(),
            handoff_reply: "Thank you. A member of our team will take over this conversation shortly (case {case_number}).".into(),
            subject_prefix: "WhatsApp: ".into(),
            activity_prefix: "[WhatsApp]".into(),
            owner_id: None,
            group_id: None,
            fields: BTreeMap::new(),
            public_url: Setting::new(""),
            transcript_secret: None,
            transcript_link_ttl_hours: 168,
            transcript_path: "/creatio/transcript".into(),
            handoff_path: "/creatio/handoff".into(),
            handoff_token: None,
            session_ttl_hours: 168,
            attach_media: false,
            max_attachment_bytes: 10 * 1024 * 1024,
            match_digits: 9,
            in_doubt_recheck_secs: 60,
            classifier: Engine::Rules,
            summariser: Engine::Rules,
            ai_fields: Vec::new(),
        }
    }
}

/// `[flows.c2]`: agent replies from Creatio to WhatsApp (C2), the 24-hour window (C3) and case
/// closure.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct C2Config {
    /// Whether the flow runs. Default `false` (needs `[creatio]` and `[flows.c1]`).
    pub enabled: bool,
    /// Path of the endpoint the Creatio business process calls. Default `/creatio/events`.
    pub webhook_path: String,
    /// Shared secret the business process sends (`X-Connector-Secret`, `Authorization: Bearer`,
    /// or as the password of HTTP Basic), e.g. `"${CREATIO_WEBHOOK_SECRET}"`. Required.
    pub webhook_secret: Option<SecretSetting>,
    /// The Contact GUID of chatport's Creatio user: activities it created are never sent back.
    /// Default none (chatport still skips every activity it wrote itself, by id).
    pub integration_contact_id: Option<Uuid>,
    /// Activity types that are replies (`TypeId`). Default: Task and Email.
    pub reply_activity_types: Vec<Uuid>,
    /// Case statuses that close the conversation. Default: Resolved and Closed.
    pub closed_status_ids: Vec<Uuid>,
    /// Seconds between polls for replies and closures whose notification never arrived. Default
    /// 60; `0` disables the poller.
    pub poll_interval_secs: u64,
    /// How far back the first poll looks, in hours. Default 24.
    pub poll_lookback_hours: u64,
    /// `[flows.c2.window_template]`: sent instead of free text when the 24-hour window is closed.
    /// Unset: the reply is not sent and the agent is told why.
    pub window_template: Option<TemplateConfig>,
    /// Deliver replies held back by a closed window as soon as the customer writes again.
    /// Default `true`.
    pub deliver_held_replies: bool,
    /// Text sent to the customer when the case is closed (`{case_number}` is replaced), inside
    /// the window. Empty: none.
    pub close_message: String,
    /// `[flows.c2.close_template]`: sent on closure when the window is closed. Unset: none.
    pub close_template: Option<TemplateConfig>,
    /// Seconds before a send whose outcome is unknown is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
    /// Send the files agents attach to a handed-off case (`CaseFile`, the `new_file`
    /// notification or the poller) to the customer as WhatsApp media: images, videos and audio
    /// as such, anything else as a document with its name; at most
    /// `flows.c1.max_attachment_bytes`. A closed window holds them like replies. Default `true`.
    pub agent_files: bool,
}

impl Default for C2Config {
    fn default() -> Self {
        let lookups = Lookups::default();
        Self {
            enabled: false,
            webhook_path: "/creatio/events".into(),
            webhook_secret: None,
            integration_contact_id: None,
            reply_activity_types: vec![lookups.activity_type_task, lookups.activity_type_email],
            closed_status_ids: vec![lookups.case_status_resolved, lookups.case_status_closed],
            poll_interval_secs: 60,
            poll_lookback_hours: 24,
            window_template: None,
            deliver_held_replies: true,
            close_message: String::new(),
            close_template: None,
            in_doubt_recheck_secs: 60,
            agent_files: true,
        }
    }
}
