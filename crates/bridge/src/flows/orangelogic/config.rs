//! `[orangelogic]`: the OrangeDAM connection, its webhook, the state/owner/title fields the L flows
//! read, how they write feedback onto assets; the client built from it and the checks across flows.

use std::time::Duration;

use chatport_orangelogic::{
    Client as OlClient, FeedbackTarget, LinkConfig, UploadConfig, WebhookFields,
};
use serde::Deserialize;

use crate::Error;

use crate::config::Config;
use crate::settings::{SecretSetting, Setting, Vars};

// ------------------------------------------------------------------------------------------------
// Configuration

/// How chatport authenticates to OrangeDAM (`shared/api/opentext-orangelogic.md` §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OrangeLogicAuth {
    /// OAuth 2.0 client credentials (`client_id`, `client_secret`); the vendor's recommendation.
    #[default]
    ClientCredentials,
    /// A static, non-expiring bearer token (`bearer_token`).
    Bearer,
    /// The legacy user login (`login`, `password`); the token is bound to the caller's IP.
    Login,
}

/// `[orangelogic.webhook]`: the endpoint OrangeDAM posts asset events to.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct OrangeLogicWebhookConfig {
    /// Path prefix; the endpoint is `{path}/{token}`. Default `/webhooks/orangelogic`.
    pub path: String,
    /// The secret path token (`"${ORANGELOGIC_WEBHOOK_TOKEN}"`, at least 32 random characters).
    /// Without it no endpoint is served, and the webhook-triggered flows (L1 by webhook, L4,
    /// L7) cannot be enabled.
    pub token: Option<SecretSetting>,
    /// Candidate keys (or dotted paths) of the event id; empty = the client's defaults
    /// (`eventId`, `event_id`, `id`, …). The vendor's payload schema is not public: set these
    /// from a captured delivery.
    pub event_id_keys: Vec<String>,
    /// Candidate keys of the event type; empty = defaults (`eventType`, `type`, …).
    pub event_type_keys: Vec<String>,
    /// Candidate keys of the asset's `RecordID`; empty = defaults (`recordId`, `RecordID`, …).
    pub record_id_keys: Vec<String>,
    /// Candidate keys of the asset's identifier; empty = defaults (`identifier`, …).
    pub identifier_keys: Vec<String>,
}

impl Default for OrangeLogicWebhookConfig {
    fn default() -> Self {
        Self {
            path: "/webhooks/orangelogic".into(),
            token: None,
            event_id_keys: Vec::new(),
            event_type_keys: Vec::new(),
            record_id_keys: Vec::new(),
            identifier_keys: Vec::new(),
        }
    }
}

impl OrangeLogicWebhookConfig {
    pub(crate) fn fields(&self) -> WebhookFields {
        let mut f = WebhookFields::default();
        if !self.event_id_keys.is_empty() {
            f = f.event_id(self.event_id_keys.clone());
        }
        if !self.event_type_keys.is_empty() {
            f = f.event_type(self.event_type_keys.clone());
        }
        if !self.record_id_keys.is_empty() {
            f = f.record_id(self.record_id_keys.clone());
        }
        if !self.identifier_keys.is_empty() {
            f = f.identifier(self.identifier_keys.clone());
        }
        f
    }
}

/// `[orangelogic]`: the OrangeDAM instance and what the L flows share.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OrangeLogicConfig {
    /// Instance host, e.g. `https://mycompany.orangelogic.com` (custom domains are common).
    pub base_url: Setting,
    /// Authentication method. Default `client_credentials`.
    #[serde(default)]
    pub auth: OrangeLogicAuth,
    /// OAuth client id (`client_credentials`).
    pub client_id: Option<Setting>,
    /// OAuth client secret (`client_credentials`), e.g. `"${ORANGELOGIC_CLIENT_SECRET}"`.
    pub client_secret: Option<SecretSetting>,
    /// Static bearer token (`bearer`).
    pub bearer_token: Option<SecretSetting>,
    /// User login (`login`).
    pub login: Option<Setting>,
    /// User password (`login`).
    pub password: Option<SecretSetting>,
    /// Request timeout in seconds. Default 60.
    #[serde(default = "default_ol_timeout")]
    pub timeout_secs: u64,
    /// Slowest upload accepted, in bytes per second: an upload (or chunk) of `n` bytes may take
    /// `timeout_secs + n / rate` (see [`chatport_orangelogic::ClientBuilder::min_transfer_rate`]).
    /// Default 100,000.
    #[serde(default = "default_ol_min_transfer_rate")]
    pub min_transfer_rate: u64,
    /// Path of the batch presigned-link call (not public; e.g. your instance's
    /// `getpresignedlinks…_v1`). Without it, links fall back to [`asset_link`](Self::asset_link).
    pub presigned_links_path: Option<String>,
    /// Size from which uploads use the chunked multi-part upload, in bytes. Default 1.5 GB.
    pub chunked_threshold_bytes: Option<u64>,
    /// Paths of the chunked upload's transaction / register / complete calls (not public; all
    /// three or none).
    pub chunked_transaction_path: Option<String>,
    /// See [`chunked_transaction_path`](Self::chunked_transaction_path).
    pub chunked_register_path: Option<String>,
    /// See [`chunked_transaction_path`](Self::chunked_transaction_path).
    pub chunked_complete_path: Option<String>,
    /// The link to an asset in the DAM user interface sent to internal people. Placeholders:
    /// `{base_url}`, `{record_id}`, `{identifier}`. Default
    /// `{base_url}/asset-management/{record_id}` (the "Get link" URL form in the vendor docs).
    #[serde(default = "default_asset_link")]
    pub asset_link: String,
    /// The field holding an asset's workflow / approval state (no public workflow API exists;
    /// name the field your instance maintains). Default `Workflow.State`.
    #[serde(default = "default_state_field")]
    pub state_field: String,
    /// The field holding the phone number(s) of an asset's owner (several separated by `|` or
    /// `,`). Default `Asset.Owner-Phone`.
    #[serde(default = "default_owner_field")]
    pub owner_field: String,
    /// The field with an asset's title. Default `CoreField.Title`.
    #[serde(default = "default_title_field")]
    pub title_field: String,
    /// Seconds before a send whose outcome is unknown is checked again. Default 60.
    #[serde(default = "default_in_doubt")]
    pub in_doubt_recheck_secs: u64,
    /// The WhatsApp business phone number id the notifications (L1, L3, L4, L7) are sent from;
    /// required when one of them is enabled.
    pub phone_number_id: Option<Setting>,
    /// `[orangelogic.webhook]`: the asset webhook endpoint.
    #[serde(default)]
    pub webhook: OrangeLogicWebhookConfig,
    /// Path of the user login (`auth = "login"`). Default
    /// [`LOGIN_PATH`](chatport_orangelogic::LOGIN_PATH), the documented
    /// `/api/Authentication/v2.0/Login`; `/API/Authentication/v1.0/Login`
    /// ([`LOGIN_PATH_V1`](chatport_orangelogic::LOGIN_PATH_V1)) for older instances.
    #[serde(default = "default_login_path")]
    pub login_path: String,
    /// The field a folder given by identifier is looked up by when an asset is moved (L2, L6
    /// folder moves). Default `CoreField.Unique-Identifier`, as the vendor's "Move one asset into
    /// another" page writes the sub-call; `CoreField.Identifier` on instances that expect it.
    #[serde(default = "default_folder_identifier_field")]
    pub folder_identifier_field: String,
    /// Form field of the uploader name in the chunked upload's "Register upload assets" call.
    /// Default `uploaderName` — **inferred**: the vendor's page documents the parameter but not
    /// its field name.
    #[serde(default = "default_register_uploader_field")]
    pub register_uploader_field: String,
    /// The uploader name sent in that field. Default `Cortex Uploader` (the documented default).
    #[serde(default = "default_register_uploader")]
    pub register_uploader: String,
    /// Path of "Batch create or update public embed links" (used by L5 with `link = "embed"`).
    /// Default the documented
    /// `/webapi/objectmanagement/share/batchupsertassetlinkswithcustomroute_41FD_v1`.
    #[serde(default = "default_embed_links_path")]
    pub embed_links_path: String,
}

impl OrangeLogicConfig {
    /// Checks the connector keys that must not be blank (`login_path`,
    /// `folder_identifier_field`, `register_uploader_field`, `register_uploader`,
    /// `embed_links_path`) and that the paths start with `/`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn check(&self) -> Result<(), Error> {
        for (key, value) in [
            ("login_path", &self.login_path),
            ("folder_identifier_field", &self.folder_identifier_field),
            ("register_uploader_field", &self.register_uploader_field),
            ("register_uploader", &self.register_uploader),
            ("embed_links_path", &self.embed_links_path),
        ] {
            if value.trim().is_empty() {
                return Err(Error::Config(format!(
                    "orangelogic.{key}: must not be empty"
                )));
            }
        }
        for (key, value) in [
            ("login_path", &self.login_path),
            ("embed_links_path", &self.embed_links_path),
        ] {
            if !value.starts_with('/') {
                return Err(Error::Config(format!(
                    "orangelogic.{key}: must start with `/`"
                )));
            }
        }
        Ok(())
    }
}

fn default_login_path() -> String {
    chatport_orangelogic::LOGIN_PATH.into()
}
fn default_folder_identifier_field() -> String {
    chatport_orangelogic::FOLDER_IDENTIFIER_FIELD.into()
}
fn default_register_uploader_field() -> String {
    chatport_orangelogic::REGISTER_UPLOADER_FIELD.into()
}
fn default_register_uploader() -> String {
    chatport_orangelogic::REGISTER_UPLOADER.into()
}
fn default_embed_links_path() -> String {
    chatport_orangelogic::EMBED_LINKS_PATH.into()
}

fn default_ol_min_transfer_rate() -> u64 {
    chatport_core::transfer::DEFAULT_MIN_RATE
}

fn default_ol_timeout() -> u64 {
    60
}
fn default_asset_link() -> String {
    "{base_url}/asset-management/{record_id}".into()
}
fn default_state_field() -> String {
    "Workflow.State".into()
}
fn default_owner_field() -> String {
    "Asset.Owner-Phone".into()
}
fn default_title_field() -> String {
    "CoreField.Title".into()
}
fn default_in_doubt() -> u64 {
    60
}

/// How a flow writes a note (an answer, a share record) onto an asset; OrangeDAM has no public
/// comments API, so a field of your choice is used.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FeedbackConfig {
    /// `append` (to a text field; each entry carries a reference so a retry never appends it
    /// twice), `replace` (keeps only the latest) or `tag` (adds the entry as a keyword of an
    /// authority-list field).
    #[serde(default = "default_feedback_mode")]
    pub mode: String,
    /// The field's API name.
    pub field: String,
    /// Between appended entries. Default a newline.
    #[serde(default = "default_separator")]
    pub separator: String,
}

fn default_feedback_mode() -> String {
    "append".into()
}
fn default_separator() -> String {
    "\n".into()
}

impl FeedbackConfig {
    /// A config appending to `field`.
    pub fn append(field: &str) -> Self {
        Self {
            mode: default_feedback_mode(),
            field: field.to_owned(),
            separator: default_separator(),
        }
    }

    /// Checks the mode and field.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown mode or an empty field.
    pub fn check(&self, key: &str) -> Result<(), Error> {
        if self.field.trim().is_empty() {
            return Err(Error::Config(format!("{key}.field: must not be empty")));
        }
        if !matches!(self.mode.as_str(), "append" | "replace" | "tag") {
            return Err(Error::Config(format!(
                "{key}.mode: `{}` is not one of append, replace, tag",
                self.mode
            )));
        }
        Ok(())
    }

    pub(crate) fn target(&self) -> FeedbackTarget {
        match self.mode.as_str() {
            "replace" => FeedbackTarget::ReplaceField {
                field: self.field.clone(),
            },
            "tag" => FeedbackTarget::Tag {
                field: self.field.clone(),
            },
            _ => FeedbackTarget::AppendToField {
                field: self.field.clone(),
                separator: self.separator.clone(),
            },
        }
    }
}

/// Builds the OrangeDAM client from `[orangelogic]`, or `None` without that section.
///
/// # Errors
/// [`Error::Config`] for a missing credential of the chosen method or an unset variable;
/// client-builder errors (bad URL, bad paths).
pub fn client(config: &Config, vars: &dyn Vars) -> Result<Option<OlClient>, Error> {
    let Some(ol) = &config.orangelogic else {
        return Ok(None);
    };
    ol.check()?;
    let need = |what: &str| {
        Error::Config(format!(
            "orangelogic.{what} is required for auth = {:?}",
            ol.auth
        ))
    };
    let mut builder = OlClient::builder()
        .base_url(&ol.base_url.resolve("orangelogic.base_url", vars)?)
        .timeout(Duration::from_secs(ol.timeout_secs.max(1)))
        .min_transfer_rate(ol.min_transfer_rate)
        .login_path(&ol.login_path)
        .folder_identifier_field(&ol.folder_identifier_field);
    builder = match ol.auth {
        OrangeLogicAuth::Bearer => builder.bearer_token(
            ol.bearer_token
                .as_ref()
                .ok_or_else(|| need("bearer_token"))?
                .resolve("orangelogic.bearer_token", vars)?,
        ),
        OrangeLogicAuth::Login => builder.user_login(
            &ol.login
                .as_ref()
                .ok_or_else(|| need("login"))?
                .resolve("orangelogic.login", vars)?,
            ol.password
                .as_ref()
                .ok_or_else(|| need("password"))?
                .resolve("orangelogic.password", vars)?,
        ),
        _ => builder.client_credentials(
            &ol.client_id
                .as_ref()
                .ok_or_else(|| need("client_id"))?
                .resolve("orangelogic.client_id", vars)?,
            ol.client_secret
                .as_ref()
                .ok_or_else(|| need("client_secret"))?
                .resolve("orangelogic.client_secret", vars)?,
        ),
    };
    let mut links = LinkConfig::default().embed_links_path(&ol.embed_links_path);
    if let Some(path) = &ol.presigned_links_path {
        links = links.presigned_path(path);
    }
    builder = builder.link_config(links);
    let mut upload = UploadConfig::default()
        .register_uploader(&ol.register_uploader_field, &ol.register_uploader);
    if let Some(threshold) = ol.chunked_threshold_bytes {
        upload = upload.chunked_threshold(threshold);
    }
    match (
        &ol.chunked_transaction_path,
        &ol.chunked_register_path,
        &ol.chunked_complete_path,
    ) {
        (Some(t), Some(r), Some(c)) => {
            upload = upload.chunked_endpoints(chatport_orangelogic::ChunkedEndpoints::new(t, r, c));
        }
        (None, None, None) => {}
        _ => {
            return Err(Error::Config(
                "orangelogic.chunked_*_path: set all three chunked upload paths or none".into(),
            ));
        }
    }
    builder = builder.upload_config(upload);
    Ok(Some(builder.build()?))
}

/// Checks the L flows' configuration: an `[orangelogic]` section (and a webhook token for the
/// webhook-triggered flows) when one is enabled, and each enabled flow's own settings.
///
/// # Errors
/// [`Error::Config`] naming the offending key.
pub fn validate(config: &Config) -> Result<(), Error> {
    if let Some(ol) = &config.orangelogic {
        ol.check()?;
    }
    let f = &config.flows;
    let enabled = [
        ("l1", f.l1.enabled),
        ("l2", f.l2.enabled),
        ("l3", f.l3.enabled),
        ("l4", f.l4.enabled),
        ("l5", f.l5.enabled),
        ("l6", f.l6.enabled),
        ("l7", f.l7.enabled),
    ];
    for (name, on) in enabled {
        if on && config.orangelogic.is_none() {
            return Err(Error::Config(format!(
                "flows.{name} is enabled but there is no [orangelogic] section"
            )));
        }
    }
    let has_token = config
        .orangelogic
        .as_ref()
        .is_some_and(|o| o.webhook.token.is_some());
    let needs_webhook = [
        ("l1", f.l1.enabled && f.l1.webhook),
        ("l4", f.l4.enabled),
        ("l7", f.l7.enabled),
    ];
    for (name, on) in needs_webhook {
        if on && !has_token {
            return Err(Error::Config(format!(
                "flows.{name} is triggered by the OrangeDAM webhook: set orangelogic.webhook.token"
            )));
        }
    }
    let has_number = config
        .orangelogic
        .as_ref()
        .is_some_and(|o| o.phone_number_id.is_some());
    for (name, on) in [
        ("l1", f.l1.enabled),
        ("l3", f.l3.enabled),
        ("l4", f.l4.enabled),
        ("l7", f.l7.enabled),
    ] {
        if on && !has_number {
            return Err(Error::Config(format!(
                "flows.{name} sends notifications: set orangelogic.phone_number_id (the business number they are sent from)"
            )));
        }
    }
    if f.l1.enabled {
        f.l1.check()?;
    }
    if f.l2.enabled {
        f.l2.check()?;
    }
    if f.l3.enabled {
        f.l3.check()?;
    }
    if f.l4.enabled {
        f.l4.check()?;
    }
    if f.l5.enabled {
        f.l5.check()?;
    }
    if f.l6.enabled {
        f.l6.check()?;
    }
    if f.l7.enabled {
        f.l7.check()?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Events

// ------------------------------------------------------------------------------------------------
// Pollers

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_config_checks() {
        assert!(FeedbackConfig::append("A.B").check("k").is_ok());
        let mut bad = FeedbackConfig::append("A.B");
        bad.mode = "comment".into();
        assert!(bad.check("k").is_err());
        assert!(FeedbackConfig::append(" ").check("k").is_err());
    }
}
