//! The Orange Logic (OrangeDAM) flows **L1–L7**, their connector section `[orangelogic]`, the
//! OrangeDAM webhook endpoint and the search pollers they share.
//!
//! | Flow | Trigger | Effect | Module |
//! |---|---|---|---|
//! | L1 review request | asset webhook (or poller) → asset in a review state | template to the approvers with link, deadline, campaign, usage rights | [`l1`] |
//! | L2 field media ingest | WhatsApp media from field staff | hash-verified download → upload into the project folder → metadata → review state; reply | [`l2`] |
//! | L3 rights expiry watch | scheduled search of a configured expiry date field | template to owners and legal, once per asset, expiry date and threshold | [`l3`] |
//! | L4 campaign rollout | asset webhook → approved campaign package | template with a link and quick-reply buttons to regional contacts; answers written back to the asset | [`l4`] |
//! | L5 approved content sharing | WhatsApp command of a directory agent | approved, unexpired asset sent to a customer as media by link; share recorded on the asset | [`l5`] |
//! | L6 user-generated content | WhatsApp media with a campaign tag | consent asked with buttons and recorded **before** anything is stored → upload, tags, moderation | [`l6`] |
//! | L7 policy alert | asset webhook → rejected, blocked or missing required metadata | template to the owner with the reason and a link | [`l7`] |
//!
//! **What OrangeDAM does not document publicly**, and how these flows cope
//! (`shared/api/opentext-orangelogic.md` §2.4, §2.9, §2.11): there is no public workflow /
//! approval API, no comments API, no standard usage-rights field, no public webhook payload
//! schema and no webhook signature. So the state of an asset is read from a field you name
//! (`[orangelogic] state_field`), answers and share records are written to fields you name
//! ([`FeedbackConfig`]), dates come from fields you name, the webhook payload field names are
//! configurable (`[orangelogic.webhook]`), and the webhook is authenticated by a secret token in
//! its URL path, compared in constant time ([`chatport_orangelogic::WebhookAuthenticator`]).
//!
//! **Delivery**: every webhook event becomes one outbox row per subscribed flow (L1, L4, L7),
//! event id `{vendor event id}:{flow}`, so a redelivered event is dropped by the outbox's
//! `UNIQUE(source, event_id)`; rows of one asset share the ordering key `ol:{RecordID}`. Every
//! WhatsApp send goes through the [`OnceSender`] with a key per (flow, step, event, recipient);
//! state-based notifications also keep a marker per asset in the key-value store, so the same
//! state reached through several events is announced once.

pub mod l1;
pub mod l2;
pub mod l3;
pub mod l4;
pub mod l5;
pub mod l6;
pub mod l7;

use std::sync::Arc;
use std::time::Duration;

use chatport_core::{EventId, IdempotencyKey, Outcome};
use chatport_orangelogic::source::AssetWebhook;
pub use chatport_orangelogic::source::{AssetNotice, AssetSearchSource};
use chatport_orangelogic::{
    AssetRef, Client as OlClient, FeedbackTarget, LinkConfig, LinkExpiry, PresignedLinkRequest,
    Record, UploadConfig, WebhookFields,
};
use chatport_runtime::KvStore;
use chatport_runtime::ingress::Flows;
use chatport_runtime::poller::{Poller, PollerConfig};
use chatport_whatsapp::{OutgoingMessage, Recipient};
use chrono::{DateTime, NaiveDate};
use serde::Deserialize;
use serde_json::Value;

use crate::Error;

use crate::config::Config;
use crate::directory::phone_digits;
use crate::flows::{FlowContext, Registry};
use crate::settings::{SecretSetting, Setting, Vars};
use crate::whatsapp::{OnceSender, SendOnce};

pub use chatport_orangelogic::source::SOURCE;

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
    fn fields(&self) -> WebhookFields {
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

    fn target(&self) -> FeedbackTarget {
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
    let need = |what: &str| {
        Error::Config(format!(
            "orangelogic.{what} is required for auth = {:?}",
            ol.auth
        ))
    };
    let mut builder = OlClient::builder()
        .base_url(&ol.base_url.resolve("orangelogic.base_url", vars)?)
        .timeout(Duration::from_secs(ol.timeout_secs.max(1)))
        .min_transfer_rate(ol.min_transfer_rate);
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
    if let Some(path) = &ol.presigned_links_path {
        builder = builder.link_config(LinkConfig::default().presigned_path(path));
    }
    let mut upload = UploadConfig::default();
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

/// Adds a poller of `source` writing rows of `flow` every `interval` to the registry.
fn add_poller(
    ctx: &FlowContext<'_>,
    registry: &mut Registry,
    name: &str,
    flow: &'static str,
    interval: Duration,
    source: AssetSearchSource,
) {
    let poller = Poller::new(
        Arc::new(source),
        ctx.outbox.clone(),
        ctx.kv.clone(),
        PollerConfig::new(name, flow).interval(interval),
    );
    registry.pollers.push(Box::new(move |shutdown, notify| {
        poller.notify(notify).spawn(shutdown)
    }));
}

// ------------------------------------------------------------------------------------------------
// What the flows share

/// The values of one asset the flows put into messages.
#[derive(Debug, Clone)]
pub(crate) struct Asset {
    pub(crate) record: Record,
    pub(crate) record_id: String,
    pub(crate) identifier: String,
}

impl Asset {
    /// The first value of a field as text.
    pub(crate) fn text(&self, field: &str) -> Option<String> {
        field_values(&self.record, field).into_iter().next()
    }

    /// Every value of a field.
    pub(crate) fn values(&self, field: &str) -> Vec<String> {
        field_values(&self.record, field)
    }
}

/// Every value of a field: an array's items, or a text split at `|`; empty values dropped.
pub(crate) fn field_values(record: &Record, field: &str) -> Vec<String> {
    let raw: Vec<String> = match record.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect(),
        Some(Value::String(s)) => s.split('|').map(str::to_owned).collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.to_string()],
    };
    raw.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Phone numbers in a list of texts (each may hold several separated by `,`, `;` or `|`), as
/// digits, without duplicates; texts with fewer than 6 digits are ignored.
pub(crate) fn phones<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for text in texts {
        for part in text.split([',', ';', '|']) {
            let digits = phone_digits(part);
            if digits.len() >= 6 && !out.contains(&digits) {
                out.push(digits);
            }
        }
    }
    out
}

/// Parses a date field: `yyyy-mm-dd`, RFC 3339, or `yyyy-mm-ddThh:mm:ss` (date part used).
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.date_naive());
    }
    t.get(..10)
        .and_then(|p| NaiveDate::parse_from_str(p, "%Y-%m-%d").ok())
}

/// Whether `value` equals one of `wanted`, case-insensitively.
pub(crate) fn one_of(value: Option<&str>, wanted: &[String]) -> bool {
    value.is_some_and(|v| {
        wanted
            .iter()
            .any(|w| w.trim().eq_ignore_ascii_case(v.trim()))
    })
}

/// Result of sending one message to each of several recipients.
#[derive(Debug)]
pub(crate) enum SentAll {
    /// Every recipient has its message: `(phone digits, wamid)`.
    Sent(Vec<(String, String)>),
    /// At least one send is in doubt; the others are recorded and will not be resent.
    InDoubt,
}

/// Services and settings every L flow uses.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) client: OlClient,
    /// Uploads of WhatsApp media, once per key: the file name carries `wa-{reference}-`.
    pub(crate) assets: chatport_orangelogic::AssetSink,
    pub(crate) sender: OnceSender,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) whatsapp: chatport_whatsapp::Client,
    pub(crate) config: OrangeLogicConfig,
    pub(crate) base_url: String,
    pub(crate) phone_number_id: String,
    /// One note write at a time per asset: an append is a read-modify-write of one field, and
    /// two answers about one asset (from different people, so different ordering keys) must not
    /// overwrite each other. Per process only; across replicas two appends can still race.
    pub(crate) note_locks: chatport_core::sink::KeyLocks,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// Reads an asset; `None` when it no longer exists.
    pub(crate) async fn read(&self, asset: &AssetRef) -> Result<Option<Asset>, Error> {
        let Some(record) = self.client.read_asset(asset).await? else {
            return Ok(None);
        };
        let (field, value) = asset.pair();
        let record_id = record.record_id().unwrap_or_else(|| {
            if field == "RecordID" {
                value.to_owned()
            } else {
                String::new()
            }
        });
        let identifier = record.identifier().unwrap_or_default();
        Ok(Some(Asset {
            record,
            record_id,
            identifier,
        }))
    }

    /// The asset's title.
    pub(crate) fn title(&self, asset: &Asset) -> String {
        asset
            .text(&self.config.title_field)
            .unwrap_or_else(|| asset.identifier.clone())
    }

    /// The asset's state.
    pub(crate) fn state(&self, asset: &Asset) -> Option<String> {
        asset.text(&self.config.state_field)
    }

    /// The owner's phone numbers.
    pub(crate) fn owners(&self, asset: &Asset) -> Vec<String> {
        let values = asset.values(&self.config.owner_field);
        phones(values.iter().map(String::as_str))
    }

    /// The DAM user-interface link of an asset (`asset_link`).
    pub(crate) fn ui_link(&self, asset: &Asset) -> String {
        self.config
            .asset_link
            .replace("{base_url}", self.base_url.trim_end_matches('/'))
            .replace("{record_id}", &asset.record_id)
            .replace("{identifier}", &asset.identifier)
    }

    /// A presigned link to `format` of the asset valid for `expiry`; `None` when no presigned
    /// path is configured or the server gave no URL for it.
    pub(crate) async fn presigned(
        &self,
        asset: &Asset,
        format: &str,
        expiry: LinkExpiry,
    ) -> Result<Option<String>, Error> {
        if self.config.presigned_links_path.is_none() {
            return Ok(None);
        }
        let links = self
            .client
            .presigned_links(
                &[PresignedLinkRequest::new(&asset.record_id, format)],
                expiry,
            )
            .await?;
        Ok(links.into_iter().find_map(|l| l.url))
    }

    /// How long to wait before rechecking an in-doubt send.
    pub(crate) fn in_doubt(&self, what: &str) -> Outcome {
        Outcome::Retry {
            after: Some(Duration::from_secs(self.config.in_doubt_recheck_secs)),
            reason: format!(
                "{what}: outcome unknown after an earlier attempt; not resent blindly, waiting for its status webhook"
            ),
        }
    }

    /// Sends one message to each recipient, at most once per (flow, step, event, recipient).
    pub(crate) async fn send_each(
        &self,
        flow: &str,
        step: &str,
        event: &EventId,
        recipients: &[String],
        build: impl Fn(Recipient) -> OutgoingMessage,
    ) -> Result<SentAll, Error> {
        let mut sent = Vec::new();
        let mut in_doubt = false;
        for phone in recipients {
            let key = IdempotencyKey::derive(flow, &format!("{step}:{phone}"), event);
            match self
                .sender
                .send(
                    &key,
                    &self.phone_number_id,
                    build(Recipient::phone(format!("+{phone}"))),
                )
                .await?
            {
                SendOnce::Sent(wamid) => sent.push((phone.clone(), wamid)),
                _ => in_doubt = true,
            }
        }
        Ok(if in_doubt {
            SentAll::InDoubt
        } else {
            SentAll::Sent(sent)
        })
    }

    /// Sends one message once per key, from the configured number.
    pub(crate) async fn send_one(
        &self,
        key: &IdempotencyKey,
        phone_number_id: &str,
        message: OutgoingMessage,
    ) -> Result<SendOnce, Error> {
        self.sender.send(key, phone_number_id, message).await
    }

    /// A marker of flow state per asset (namespace `ol.{flow}`).
    pub(crate) async fn marker(&self, flow: &str, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .kv
            .get(&format!("ol.{flow}"), key)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Sets a marker.
    pub(crate) async fn set_marker(&self, flow: &str, key: &str, value: &str) -> Result<(), Error> {
        self.kv
            .put(&format!("ol.{flow}"), key, value.as_bytes())
            .await?;
        Ok(())
    }

    /// Removes a marker.
    pub(crate) async fn clear_marker(&self, flow: &str, key: &str) -> Result<(), Error> {
        self.kv.delete(&format!("ol.{flow}"), key).await?;
        Ok(())
    }

    /// Writes a note onto an asset per `feedback`. In `append` mode the entry ends with
    /// `[ref:{reference}]` and is skipped when the field already holds that reference, so a retry
    /// after a successful write adds nothing.
    pub(crate) async fn write_note(
        &self,
        asset: &AssetRef,
        feedback: &FeedbackConfig,
        entry: &str,
        reference: &str,
    ) -> Result<(), Error> {
        let (field_name, value) = asset.pair();
        let _one_note_at_a_time = self.note_locks.lock(&format!("{field_name}={value}")).await;
        let target = feedback.target();
        let text = match &target {
            FeedbackTarget::AppendToField { field, .. } => {
                let marker = format!("[ref:{reference}]");
                let current = self.client.asset_field(asset, field).await?;
                if current.is_some_and(|c| c.contains(&marker)) {
                    return Ok(());
                }
                format!("{entry} {marker}")
            }
            FeedbackTarget::Tag { .. } => entry.replace('|', "/"),
            _ => entry.to_owned(),
        };
        self.client.record_feedback(asset, &target, &text).await?;
        Ok(())
    }
}

/// An asset stored from WhatsApp media.
#[derive(Debug, Clone)]
pub(crate) struct StoredMedia {
    /// How to address it.
    pub(crate) asset: AssetRef,
    /// Its identifier, when known.
    pub(crate) identifier: String,
    /// Bytes uploaded (0 when an earlier attempt had uploaded it).
    pub(crate) bytes: u64,
    /// Whether an earlier attempt had uploaded it already.
    pub(crate) reused: bool,
    /// The SHA-256 of the bytes (hex), when downloaded now.
    pub(crate) sha256: Option<String>,
}

/// The DAM file name of an ingested media: `wa-{reference}-{name}`, where the name is the
/// document's own file name or `{type}.{ext}`. The reference makes the name unique per
/// submission, and lets a retry find the asset an earlier attempt uploaded.
pub(crate) fn ingest_file_name(
    key: &IdempotencyKey,
    media: &chatport_whatsapp::webhook::Media,
    kind: &str,
) -> String {
    format!("wa-{}-{}", short_ref(key), ingest_name(media, kind))
}

/// The name part of [`ingest_file_name`]: the document's own file name or `{type}.{ext}`. The
/// asset sink ([`Shared::assets`]) prefixes it with `wa-{reference}-`.
pub(crate) fn ingest_name(media: &chatport_whatsapp::webhook::Media, kind: &str) -> String {
    let mime = media.mime_type.as_deref().unwrap_or_default();
    let own: String = media
        .filename
        .as_deref()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if own.trim_matches('_').is_empty() {
        format!("{kind}.{}", crate::templates::extension(mime))
    } else {
        own
    }
}

impl Shared {
    /// The record id of a folder: `folder` when given, else the folder titled `title` under
    /// `root` (found or created, then cached in KV `ol.folder`). Creating is not atomic in
    /// OrangeDAM: two first submissions at once may create two folders of one title.
    pub(crate) async fn folder(
        &self,
        folder: Option<&str>,
        title: &str,
        root: &str,
        subtype: &str,
    ) -> Result<String, Error> {
        if let Some(id) = folder.filter(|f| !f.trim().is_empty()) {
            return Ok(id.to_owned());
        }
        let cache_key = format!("{root}/{title}");
        if let Some(id) = self.marker("folder", &cache_key).await? {
            return Ok(id);
        }
        let id = self.client.ensure_folder(subtype, title, root).await?;
        self.set_marker("folder", &cache_key, &id).await?;
        Ok(id)
    }

    /// Stores a WhatsApp media in `folder` under `file_name`, effectively once: an asset already
    /// uploaded under that name (an earlier attempt) is reused; otherwise the media is downloaded
    /// streaming into a temporary file with its SHA-256 checked (the webhook's digest, else the
    /// one `GET /{media id}` announces) and uploaded from that file.
    ///
    /// # Errors
    /// WhatsApp download errors (size, hash mismatch, expired media), OrangeDAM upload errors,
    /// local I/O errors; [`Error::Payload`] when the media has no verifiable digest.
    pub(crate) async fn store_media(
        &self,
        media: &chatport_whatsapp::webhook::Media,
        folder: &str,
        key: &IdempotencyKey,
        kind: &str,
        max_bytes: u64,
    ) -> Result<StoredMedia, Error> {
        let name = ingest_name(media, kind);
        // Looked up before downloading, so a replay downloads nothing.
        if let Some(existing) = self.assets.find(&name, key).await? {
            return Ok(StoredMedia {
                asset: existing.asset(),
                identifier: existing.identifier.unwrap_or_default(),
                bytes: 0,
                reused: true,
                sha256: None,
            });
        }
        let temp = tempfile::NamedTempFile::new()?;
        let mut file = tokio::fs::File::create(temp.path()).await?;
        let downloaded = self
            .whatsapp
            .download_inbound_media(
                media,
                &mut file,
                &chatport_whatsapp::DownloadOptions::new().max_bytes(max_bytes),
            )
            .await?;
        drop(file);
        if !downloaded.verified {
            return Err(Error::Payload(
                "the media has no SHA-256 to verify it against; not stored".into(),
            ));
        }
        let mime = media
            .mime_type
            .clone()
            .or(downloaded.content_type.clone())
            .unwrap_or_else(|| "application/octet-stream".into());
        let draft = chatport_orangelogic::AssetDraft::new(
            folder,
            name,
            chatport_orangelogic::AssetContent::file(temp.path()),
        )
        .content_type(mime);
        let stored = self.assets.store(&draft, key).await?;
        Ok(StoredMedia {
            asset: stored.receipt.asset(),
            identifier: stored.receipt.identifier.unwrap_or_default(),
            bytes: if stored.reused { 0 } else { downloaded.bytes },
            reused: stored.reused,
            sha256: Some(downloaded.sha256_hex),
        })
    }
}

/// Registers every enabled L flow, the OrangeDAM webhook endpoint and the pollers.
///
/// # Errors
/// [`Error::Config`] when a flow is enabled without `[orangelogic]`, or a setting is invalid.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let Some(ol) = &ctx.config.orangelogic else {
        validate(ctx.config)?;
        return Ok(());
    };
    let flows = &ctx.config.flows;
    let any = [
        flows.l1.enabled,
        flows.l2.enabled,
        flows.l3.enabled,
        flows.l4.enabled,
        flows.l5.enabled,
        flows.l6.enabled,
        flows.l7.enabled,
    ]
    .contains(&true);
    if !any {
        return Ok(());
    }
    let client = ctx.require_orangelogic("L")?;
    let shared = Shared {
        client: client.clone(),
        assets: chatport_orangelogic::AssetSink::builder(client.clone())
            .file_name_prefix("wa-")
            .build()?,
        sender: ctx.sender.clone(),
        kv: ctx.kv.clone(),
        whatsapp: ctx.whatsapp.clone(),
        config: ol.clone(),
        note_locks: chatport_core::sink::KeyLocks::new(),
        base_url: ol.base_url.resolve("orangelogic.base_url", ctx.vars)?,
        phone_number_id: match &ol.phone_number_id {
            Some(id) => id.resolve("orangelogic.phone_number_id", ctx.vars)?,
            None => String::new(),
        },
    };
    let mut webhook_flows = Vec::new();
    if flows.l1.enabled {
        l1::register(ctx, registry, &shared)?;
        if flows.l1.webhook {
            webhook_flows.push(l1::FLOW);
        }
    }
    if flows.l2.enabled {
        l2::register(ctx, registry, &shared)?;
    }
    if flows.l3.enabled {
        l3::register(ctx, registry, &shared)?;
    }
    if flows.l4.enabled {
        l4::register(ctx, registry, &shared)?;
        webhook_flows.push(l4::FLOW);
    }
    if flows.l5.enabled {
        l5::register(ctx, registry, &shared)?;
    }
    if flows.l6.enabled {
        l6::register(ctx, registry, &shared)?;
    }
    if flows.l7.enabled {
        l7::register(ctx, registry, &shared)?;
        webhook_flows.push(l7::FLOW);
    }
    if let Some(token) = &ol.webhook.token
        && !webhook_flows.is_empty()
    {
        let token = token.resolve("orangelogic.webhook.token", ctx.vars)?;
        let path = format!("{}/{{token}}", ol.webhook.path.trim_end_matches('/'));
        if !path.starts_with('/') {
            return Err(Error::Config(
                "orangelogic.webhook.path: must start with `/`".into(),
            ));
        }
        registry.ingress_routes.push((
            path,
            Arc::new(AssetWebhook::new(token, ol.webhook.fields())),
            Flows::fan_out(webhook_flows),
        ));
    }
    Ok(())
}

/// A short, stable reference of a key (its first 12 hex digits), for notes written onto assets.
pub(crate) fn short_ref(key: &IdempotencyKey) -> String {
    key.as_str().chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatport_core::webhook::WebhookAdapter;
    use chrono::Utc;

    #[test]
    fn phones_and_dates() {
        assert_eq!(
            phones([
                "+49 151 2345 6789| +1 (650) 555-1234",
                "12",
                "4915123456789"
            ]),
            vec!["4915123456789".to_owned(), "16505551234".to_owned()]
        );
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(parse_date("2026-03-01"), Some(d));
        assert_eq!(parse_date("2026-03-01T10:00:00Z"), Some(d));
        assert_eq!(parse_date("2026-03-01T10:00:00"), Some(d));
        assert_eq!(parse_date("March"), None);
    }

    #[test]
    fn webhook_rows_fan_out_per_flow_with_stable_ids() {
        let hook = AssetWebhook::new(secrecy::SecretString::from("tok"), WebhookFields::default());
        let body =
            br#"{"eventId":"e-1","eventType":"Asset.Edited","recordId":"R1","identifier":"CTL1"}"#;
        let batch = hook.parse(body, Utc::now()).unwrap();
        let rows = Flows::fan_out(["L1", "L7"]).rows(SOURCE, Utc::now(), batch);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].event_id.as_str(), "e-1:L1");
        assert_eq!(rows[1].event_id.as_str(), "e-1:L7");
        assert_eq!(rows[0].flow, "L1");
        assert_eq!(rows[0].ordering_key.as_deref(), Some("ol:R1"));
        let notice = AssetNotice::from_payload(&rows[0].payload).unwrap();
        assert_eq!(notice.kind, "edited");
        assert_eq!(notice.asset(), Some(AssetRef::RecordId("R1".into())));
        assert!(hook.parse(b"not json", Utc::now()).is_err());
    }

    #[test]
    fn feedback_config_checks() {
        assert!(FeedbackConfig::append("A.B").check("k").is_ok());
        let mut bad = FeedbackConfig::append("A.B");
        bad.mode = "comment".into();
        assert!(bad.check("k").is_err());
        assert!(FeedbackConfig::append(" ").check("k").is_err());
    }
}
