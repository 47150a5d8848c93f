//! The service configuration: one TOML file, secrets from environment variables.
//!
//! Strings that may hold a secret or an address are [`Setting`]s and [`SecretSetting`]s
//! ([`crate::settings`]): `${VAR}` references resolved from the environment where they are used;
//! a literal secret in the file is refused. Every other string setting has its references
//! expanded when the file is read ([`Config::load`], [`Config::from_toml_str_with`]). [`Config`] collects the sections; each flow family owns its own section
//! types and checks.
//!
//! Unknown keys are errors; the TOML parser reports them with their line and column and the list of
//! expected keys. The full key reference is `docs/configuration.md`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::Error;
use crate::directory::DirectoryEntry;
use crate::settings::{SecretSetting, Setting, Vars};

/// The JSON Schema (draft 2020-12) of the configuration file, [`Config`] and everything under it,
/// with each key's documentation as its `description`. A `Setting` (may hold `${VAR}` references)
/// carries `"x-chatport-reference": true`, a `SecretSetting` (must be a reference)
/// `"x-chatport-secret": true`. Available with the `schema` feature; `chatport config schema`
/// prints it.
#[cfg(feature = "schema")]
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(Config).to_value()
}

/// Formats a TOML error as `line L, column C: message` with a "did you mean" hint for unknown keys.
/// Unlike the parser's own rendering it never quotes the source line, which could hold a secret
/// someone pasted into the file by mistake.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    let position = error.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: ")
    });
    let mut out = format!("{}{message}", position.unwrap_or_default());
    if let Some(hint) = unknown_field_hint(message) {
        out.push_str(&format!(" (did you mean `{hint}`?)"));
    }
    out
}

/// Every unknown key and every wrong value of the file in one error, not one per run: after the
/// first error, the lines it points at are blanked (line numbers kept) and the file is parsed
/// again, as long as each error is an unknown key or an invalid type or value with a position
/// (at most 50). An error of another kind (a syntax error, a missing key) ends the search; it is
/// reported only when it is the first.
fn every_key_error(text: &str, first: toml::de::Error) -> Error {
    const MAX: usize = 50;
    let per_key = |e: &toml::de::Error| {
        let m = e.message();
        e.span().is_some()
            && (m.starts_with("unknown field")
                || m.starts_with("invalid type")
                || m.starts_with("invalid value")
                || m.starts_with("unknown variant"))
    };
    let mut messages = vec![describe_toml_error(text, &first)];
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let mut error = first;
    while per_key(&error) && messages.len() < MAX {
        let Some(span) = error.span() else { break };
        let current = lines.join("\n");
        let from = current[..span.start.min(current.len())]
            .matches('\n')
            .count();
        let to = current[..span.end.min(current.len())].matches('\n').count();
        for line in lines.iter_mut().take(to + 1).skip(from) {
            line.clear();
        }
        let blanked = lines.join("\n");
        match toml::from_str::<Config>(&blanked) {
            Ok(_) => break,
            Err(next) if per_key(&next) => {
                messages.push(describe_toml_error(&blanked, &next));
                error = next;
            }
            Err(_) => break,
        }
    }
    if messages.len() == 1 {
        return Error::Config(messages.remove(0));
    }
    Error::Config(format!(
        "{} problems:\n  {}",
        messages.len(),
        messages.join("\n  ")
    ))
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" message, the expected key closest to
/// `x`, if any is close.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    rest.split('`')
        .skip(1)
        .step_by(2)
        .map(|candidate| (strsim::jaro_winkler(unknown, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.to_owned())
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// `[service]`: the HTTP listener.
    #[serde(default)]
    pub service: ServiceConfig,
    /// `[store]`: the durable outbox.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[workers]`: delivery workers and the retry schedule.
    #[serde(default)]
    pub workers: WorkersConfig,
    /// `[whatsapp]`: the Cloud API connection and webhook.
    pub whatsapp: WhatsAppConfig,
    /// `[opentext]`: the CMS connection (needed by the O flows).
    pub opentext: Option<crate::flows::opentext::OpenTextConfig>,
    /// `[creatio]`: the Creatio connection (needed by the C flows).
    pub creatio: Option<crate::flows::creatio::CreatioConfig>,
    /// `[orangelogic]`: the OrangeDAM connection and its webhook (needed by the L flows).
    pub orangelogic: Option<crate::flows::orangelogic::OrangeLogicConfig>,
    /// `[classifier]`: rule-based classification of inbound messages.
    #[serde(default)]
    pub classifier: chatport_assistant::classify::ClassifierConfig,
    /// `[assistant]`: the model (an OpenAI-compatible Chat Completions endpoint) behind the
    /// steps a flow sets to `"model"`; see [`crate::assistant`].
    #[serde(default)]
    pub assistant: Option<crate::assistant::AssistantConfig>,
    /// `[[directory]]`: known people and customers by phone number.
    #[serde(default)]
    pub directory: Vec<DirectoryEntry>,
    /// `[flows.*]`: which flows run and how.
    #[serde(default)]
    pub flows: FlowsConfig,
    /// Every `${VAR}` reference of the file it was read from (for [`Config::check_environment`]).
    #[serde(skip)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    references: Vec<crate::settings::Reference>,
    /// The references of plain string settings left unexpanded because the file was parsed
    /// without variables ([`Config::from_toml_str`]); [`Config::check_expanded`] refuses them.
    #[serde(skip)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    unexpanded: Vec<crate::settings::Reference>,
}

impl Config {
    /// Parses a configuration from TOML text **without** expanding `${VAR}` references:
    /// [`Setting`]s and [`SecretSetting`]s resolve where they are used, as always, but a reference
    /// in a plain string setting (a path, a name, a reply text) stays as written, and
    /// [`crate::service::Service::start`] refuses such a configuration with an error naming the
    /// keys (see [`Config::check_expanded`]). Use [`Config::from_toml_str_with`] or
    /// [`Config::load`] for a file with references in plain strings.
    ///
    /// # Errors
    /// [`Error::Config`] with the line and column for syntax errors, unknown keys (with the expected
    /// keys listed) and wrong types.
    pub fn from_toml_str(text: &str) -> Result<Self, Error> {
        let mut config: Config = toml::from_str(text).map_err(|e| every_key_error(text, e))?;
        config.validate()?;
        let table: toml::Table =
            toml::from_str(text).map_err(|e| Error::Config(describe_toml_error(text, &e)))?;
        config.references = crate::settings::references_in(&table);
        if !config.references.is_empty() {
            config.unexpanded = crate::settings::plain_references(table, &config.references);
        }
        Ok(config)
    }

    /// Parses a configuration from TOML text like [`Config::from_toml_str`] (same errors, with
    /// positions), then expands the `${VAR}` references of **every** plain string setting from
    /// `vars` — addresses, paths, names, templates, reply texts, field names — and checks the
    /// result again. [`Setting`]s and [`SecretSetting`]s keep their raw text and resolve where
    /// they are used (a secret stays a reference until then). `$${` writes a literal `${`.
    ///
    /// A reference to an unset variable is left as written, so that every unset variable is
    /// reported at once by [`Config::check_environment`] (which `chatport check`, `chatport
    /// serve` and [`crate::service::Service::start`] run) rather than the first one here.
    ///
    /// # Errors
    /// As [`Config::from_toml_str`]; [`Error::Config`] when an expanded value breaks a check of
    /// [`Config::validate`] or does not fit its key's type.
    pub fn from_toml_str_with(text: &str, vars: &dyn Vars) -> Result<Self, Error> {
        let raw = Self::from_toml_str(text)?;
        let table: toml::Table =
            toml::from_str(text).map_err(|e| Error::Config(describe_toml_error(text, &e)))?;
        let mut config: Config = crate::settings::expand_document(table, vars).map_err(|e| {
            Error::Config(format!(
                "a value expanded from an environment variable does not fit its key: {e}"
            ))
        })?;
        config.references = raw.references;
        config.validate()?;
        Ok(config)
    }

    /// Checks that no plain string setting still holds a `${VAR}` reference because the file was
    /// parsed by [`Config::from_toml_str`] (which does not expand them). Run by
    /// [`crate::service::Service::start`]: a path named literally `${STATE_DIR}/…` or a reply
    /// reading `${GREETING}` would otherwise go unnoticed.
    ///
    /// # Errors
    /// [`Error::Config`] naming every such key and variable, and what to call instead.
    pub fn check_expanded(&self) -> Result<(), Error> {
        if self.unexpanded.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = self
            .unexpanded
            .iter()
            .map(|r| format!("{} (${{{}}})", r.key, r.variable))
            .collect();
        Err(Error::Config(format!(
            "{} refer(s) to environment variables in plain settings, which Config::from_toml_str \
             does not expand: parse the file with Config::from_toml_str_with(text, vars) or \
             Config::load",
            keys.join(", ")
        )))
    }

    /// Every `${VAR}` reference of the file, with the key that holds it.
    pub fn references(&self) -> &[crate::settings::Reference] {
        &self.references
    }

    /// Checks that every variable the file refers to is set in `vars`, reporting **all** unset
    /// ones in one error (run by `chatport check`, `chatport serve` and [`crate::service`]
    /// before anything resolves a setting).
    ///
    /// # Errors
    /// [`Error::Config`] naming each unset variable and the keys using it, never a value.
    pub fn check_environment(&self, vars: &dyn Vars) -> Result<(), Error> {
        crate::settings::check_references(&self.references, vars)
    }

    /// Reads and parses a configuration file, expanding the `${VAR}` references of every plain
    /// string setting from the process environment ([`Config::from_toml_str_with`] with
    /// [`crate::settings::EnvVars`]).
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read or does not parse (see
    /// [`Config::from_toml_str_with`]).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml_str_with(&text, &crate::settings::EnvVars).map_err(|e| match e {
            Error::Config(msg) => Error::Config(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// Checks what the types alone cannot: non-empty secret lists, sane retry schedule, an
    /// `[opentext]` section when an O flow is enabled.
    ///
    /// # Errors
    /// [`Error::Config`] naming the offending key.
    pub fn validate(&self) -> Result<(), Error> {
        if self.whatsapp.app_secrets.is_empty() {
            return Err(Error::Config(
                "whatsapp.app_secrets: at least one app secret is required".into(),
            ));
        }
        if self.workers.retry_schedule_secs.is_empty() {
            return Err(Error::Config(
                "workers.retry_schedule_secs: must not be empty".into(),
            ));
        }
        if self.workers.max_attempts == 0 {
            return Err(Error::Config(
                "workers.max_attempts: must be at least 1".into(),
            ));
        }
        if self.store.backend == StoreBackend::Postgres && self.store.url.is_none() {
            return Err(Error::Config(
                "store.url: required when store.backend = \"postgres\" (a ${VAR} reference)".into(),
            ));
        }
        if self.store.retention_days != 0
            && self.store.retention_days < crate::retention::MIN_RETENTION_DAYS
        {
            return Err(Error::Config(format!(
                "store.retention_days: must be 0 (keep forever) or at least {} (Meta redelivers \
                 webhooks for up to 7 days; a done row is what recognises a redelivery)",
                crate::retention::MIN_RETENTION_DAYS
            )));
        }
        if self.store.max_connections == 0 {
            return Err(Error::Config(
                "store.max_connections: must be at least 1".into(),
            ));
        }
        if self.workers.concurrency == 0 {
            return Err(Error::Config(
                "workers.concurrency: must be at least 1".into(),
            ));
        }
        if self.flows.o1.enabled && self.opentext.is_none() {
            return Err(Error::Config(
                "flows.o1 is enabled but there is no [opentext] section".into(),
            ));
        }
        crate::flows::orangelogic::validate(self)?;
        for (i, rule) in self.flows.o1.queues.iter().enumerate() {
            if rule.queue.trim().is_empty() {
                return Err(Error::Config(format!(
                    "flows.o1.queues[{i}].queue: must not be empty"
                )));
            }
        }
        Ok(())
    }
}

/// `[service]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// Address the HTTP server listens on. Default `127.0.0.1:8080`.
    pub listen: String,
    /// Largest accepted webhook body in bytes. Default 3 MiB (Meta's documented maximum).
    pub max_body_bytes: usize,
    /// Backpressure: webhook POSTs are answered 503 (with `Retry-After`) while the outbox holds
    /// more than this many pending rows. Default: no limit.
    pub max_pending: Option<u64>,
    /// Backpressure: webhook POSTs are answered 503 while the oldest unresolved outbox row is older
    /// than this many seconds. Default: no limit.
    pub max_pending_age_secs: Option<u64>,
    /// How long the outbox stats snapshot behind the backpressure check is reused, in
    /// milliseconds. Default 250.
    pub backpressure_refresh_ms: u64,
    /// The `Retry-After` of a backpressure 503, in seconds (at least 1). Default 5.
    pub backpressure_retry_after_secs: u64,
    /// Webhook bodies held in memory at once, in bytes: a POST whose body does not fit is
    /// answered 503 with `Retry-After` before it is read. Default 64 MiB.
    pub max_body_memory_bytes: usize,
    /// Seconds a connection may take to send a complete request head (also bounds idle
    /// keep-alive connections); then it is closed. At least 1. Default 10.
    pub header_read_timeout_secs: u64,
    /// Seconds from the end of a webhook POST's head to its last body byte (then 408), and the
    /// longest pause within any other route's request body. At least 1. Default 30.
    pub body_read_timeout_secs: u64,
    /// On SIGTERM, seconds the server waits for requests in progress before it closes their
    /// connections (unanswered, so the sender retries). Default 10.
    pub shutdown_timeout_secs: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 3 * 1024 * 1024,
            max_pending: None,
            max_pending_age_secs: None,
            backpressure_refresh_ms: 250,
            backpressure_retry_after_secs: 5,
            max_body_memory_bytes: chatport_runtime::ingress::DEFAULT_BODY_BUDGET_BYTES,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            shutdown_timeout_secs: 10,
        }
    }
}

impl ServiceConfig {
    /// The ingress backpressure these keys describe (off when neither `max_pending` nor
    /// `max_pending_age_secs` is set).
    pub fn backpressure(&self) -> chatport_runtime::ingress::Backpressure {
        let mut bp = chatport_runtime::ingress::Backpressure::new()
            .refresh(Duration::from_millis(self.backpressure_refresh_ms))
            .retry_after(Duration::from_secs(
                self.backpressure_retry_after_secs.max(1),
            ));
        if let Some(max) = self.max_pending {
            bp = bp.max_pending(max);
        }
        if let Some(secs) = self.max_pending_age_secs {
            bp = bp.max_pending_age(Duration::from_secs(secs));
        }
        bp
    }

    /// The ingress server's header read timeout and shutdown deadline these keys describe.
    pub fn serve_options(&self) -> chatport_runtime::ingress::ServeOptions {
        chatport_runtime::ingress::ServeOptions::new()
            .header_read_timeout(Duration::from_secs(self.header_read_timeout_secs.max(1)))
            .body_read_timeout(Duration::from_secs(self.body_read_timeout_secs.max(1)))
            .shutdown_timeout(Duration::from_secs(self.shutdown_timeout_secs))
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct StoreConfig {
    /// Which store the service runs on. Default [`StoreBackend::Sqlite`].
    pub backend: StoreBackend,
    /// Path of the SQLite outbox file (backend `sqlite`); may hold `${VAR}` references
    /// (`"${STATE_DIR}/chatport.sqlite"`), resolved by [`StoreConfig::sqlite_path`]. Default
    /// `chatport.sqlite`.
    pub path: Setting,
    /// PostgreSQL connection URL (backend `postgres`, required there), as a `${VAR}` reference:
    /// `postgres://user:password@host:port/database`. Never written in the file.
    pub url: Option<SecretSetting>,
    /// PostgreSQL schema holding chatport's tables, created when missing (backend `postgres`);
    /// unset uses the server's default `search_path`. `[a-z_][a-z0-9_]{0,62}`.
    pub schema: Option<String>,
    /// Most pooled PostgreSQL connections per process (backend `postgres`). Default 16.
    pub max_connections: usize,
    /// How often the PostgreSQL lease reaper runs, in seconds (backend `postgres`). Default 5.
    pub reaper_interval_secs: u64,
    /// A PEM file of CA certificates trusted for the PostgreSQL server's certificate besides the
    /// system's roots (backend `postgres`, used when the URL says `sslmode=require`).
    /// May hold `${VAR}` references.
    pub root_certificate: Option<Setting>,
    /// Days done outbox rows and conversation messages are kept (personal data); the service
    /// deletes older ones daily. At least [`crate::retention::MIN_RETENTION_DAYS`]; `0` keeps
    /// them forever. Default 30.
    pub retention_days: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Sqlite,
            path: Setting::new("chatport.sqlite"),
            url: None,
            schema: None,
            max_connections: 16,
            reaper_interval_secs: 5,
            root_certificate: None,
            retention_days: 30,
        }
    }
}

impl StoreConfig {
    /// The SQLite file, its `${VAR}` references resolved.
    ///
    /// # Errors
    /// [`Error::Config`] naming `store.path` and the variable when one is unset.
    pub fn sqlite_path(&self, vars: &dyn Vars) -> Result<std::path::PathBuf, Error> {
        Ok(self.path.resolve("store.path", vars)?.into())
    }

    /// The PEM file of extra CA certificates, its `${VAR}` references resolved.
    ///
    /// # Errors
    /// [`Error::Config`] naming `store.root_certificate` and the variable when one is unset.
    pub fn root_certificate_path(
        &self,
        vars: &dyn Vars,
    ) -> Result<Option<std::path::PathBuf>, Error> {
        self.root_certificate
            .as_ref()
            .map(|s| s.resolve("store.root_certificate", vars).map(Into::into))
            .transpose()
    }
}

/// `[store] backend`: which outbox, key-value store and ledger the service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StoreBackend {
    /// One SQLite file (`[store] path`): the embedded default; serves one process.
    Sqlite,
    /// A PostgreSQL database (`[store] url`, `schema`, `max_connections`): any number of
    /// `chatport serve` replicas may share it.
    Postgres,
}

/// `[workers]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct WorkersConfig {
    /// Events in flight at once (flows mostly wait on vendor I/O; per-vendor rates are bounded
    /// by the connectors' own limiters). Default 256.
    pub concurrency: usize,
    /// Lease on a claimed event, in seconds. Running attempts renew it every third of this, so
    /// it bounds how long a crashed process keeps its events, not how long a flow step may take.
    /// Default 60.
    pub lease_secs: u64,
    /// The longest one attempt (one flow step) may run before it is aborted and retried, in
    /// seconds. Default 300.
    pub attempt_timeout_secs: u64,
    /// Most events claimed per store round trip (one transaction). Default 64.
    pub claim_batch: usize,
    /// Most outcomes recorded per store round trip (one transaction). Default 512.
    pub resolve_batch: usize,
    /// Outbox retry schedule in seconds; the last entry repeats. Default
    /// `[5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200, 86400]`.
    pub retry_schedule_secs: Vec<u64>,
    /// Attempts before an event goes to the dead-letter queue. Default 12.
    pub max_attempts: u32,
    /// How often idle workers look for due events, in milliseconds (they are also woken by
    /// ingress). Default 250.
    pub poll_interval_ms: u64,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            lease_secs: 60,
            attempt_timeout_secs: 300,
            claim_batch: 64,
            resolve_batch: 512,
            retry_schedule_secs: vec![5, 30, 120, 600, 1800, 3600, 10_800, 21_600, 43_200, 86_400],
            max_attempts: 12,
            poll_interval_ms: 250,
        }
    }
}

impl WorkersConfig {
    /// The retry schedule as durations.
    pub fn schedule(&self) -> Vec<Duration> {
        self.retry_schedule_secs
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect()
    }
}

/// `[whatsapp]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WhatsAppConfig {
    /// Graph API base URL. Default `https://graph.facebook.com`.
    #[serde(default = "default_graph_base")]
    pub api_base: Setting,
    /// Graph API version. Default [`chatport_whatsapp::DEFAULT_API_VERSION`] (`v26.0`, July 2026).
    /// `chatport check` refuses a version Meta has retired ([`chatport_whatsapp::versions`]).
    #[serde(default = "default_graph_version")]
    pub api_version: String,
    /// System-user access token, e.g. `"${WHATSAPP_TOKEN}"`.
    pub access_token: SecretSetting,
    /// App secrets that sign webhooks; several are accepted during a rotation.
    pub app_secrets: Vec<SecretSetting>,
    /// The verify token of the webhook subscription handshake.
    pub verify_token: SecretSetting,
    /// Path of the webhook endpoint. Default `/webhooks/whatsapp`.
    #[serde(default = "default_webhook_path")]
    pub webhook_path: String,
    /// Request timeout in seconds. Default 20.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Hosts media may be downloaded from: every inbound media download goes through it, in O2
    /// (document capture), O5 (field evidence), O8 (supplier documents), L2 (field media), L6
    /// (user-generated content) and C4 (case attachments). Exact host names. Default: Meta's
    /// `lookaside.fbsbx.com` only.
    #[serde(default)]
    pub media_hosts: Option<Vec<String>>,
    /// Seconds after which a send whose outcome is unknown (a timeout, a 5xx, a dropped
    /// connection) and that no status webhook settled is sent again. Unset (the default): never;
    /// such an event ends in the dead-letter queue for an operator (at most once). Set: every
    /// reply is eventually delivered (at least once); see
    /// [`MessageSink::resend_in_doubt_after`](chatport_whatsapp::sink::MessageSinkBuilder::resend_in_doubt_after).
    #[serde(default)]
    pub resend_in_doubt_after_secs: Option<u64>,
    /// Flows (by name, e.g. `["O1", "C1", "O4"]`) before whose work the customer's message is
    /// marked read with a typing indicator (`POST /{phone_number_id}/messages` with
    /// `status: read` and `typing_indicator: {type: text}`; WhatsApp dismisses it with the reply
    /// or after 25 s). Best effort: a failed indicator is logged and never fails the delivery.
    /// Default: none.
    #[serde(default)]
    pub typing_indicator: Vec<String>,
    /// What a send does while another app holds the conversation (Conversation Routing: Meta
    /// Business Agent or an escalation partner, learnt from `standby` and `messaging_handovers`
    /// webhooks): `defer` (the default) holds the message back and retries after
    /// `held_elsewhere_retry_secs`; `take` takes the conversation first (Thread control `take`,
    /// allowed to the configured escalation partner only); `send` sends anyway (Meta passes the
    /// conversation to chatport with the message). Without Conversation Routing nothing changes:
    /// chatport holds every conversation.
    #[serde(default)]
    pub when_held_elsewhere: HeldElsewherePolicy,
    /// Seconds before a message held back by `when_held_elsewhere = "defer"` is tried again.
    /// Default 300.
    #[serde(default = "default_held_elsewhere_retry_secs")]
    pub held_elsewhere_retry_secs: u64,
    /// Base URL of Meta's Thread control API, which is not the Graph host. Default
    /// `https://api.facebook.com/business/whatsapp`.
    #[serde(default)]
    pub thread_control_base_url: Option<Setting>,
    /// Client-side pacing of every send ([`chatport_whatsapp::Pacer`], one per service):
    /// `standard` (80 messages per second per business number), `high_throughput` (1,000, after
    /// Meta's automatic upgrade) or `coexistence` (20, numbers also used in the WhatsApp Business
    /// app); each with Meta's pair limit (one message per 6 s to a user, bursts of 45) and the
    /// 4^X back-off after a 131056, and held back while an `X-Business-Use-Case-Usage` header
    /// says access is regained only later. Unset (the default): no client-side pacing; Meta's
    /// refusals (130429, 131056) are retried as before.
    #[serde(default)]
    pub pacing: Option<PacingTier>,
    /// Messages per second per business number, overriding the tier's (e.g. the number's
    /// `throughput` field). Needs `pacing`.
    #[serde(default)]
    pub messages_per_second: Option<u32>,
    /// Seconds of the pair limit's interval (one message per interval to the same user).
    /// Default 6 (Meta's figure). Needs `pacing`.
    #[serde(default)]
    pub pair_interval_secs: Option<u64>,
    /// How many messages to one user may go out at once, borrowing future quota. Default 45
    /// (Meta's figure). Needs `pacing`.
    #[serde(default)]
    pub pair_burst: Option<u32>,
}

/// `[whatsapp] pacing`: see [`WhatsAppConfig::pacing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PacingTier {
    /// 80 messages per second ([`chatport_whatsapp::PacingConfig::standard`]).
    Standard,
    /// 1,000 messages per second ([`chatport_whatsapp::PacingConfig::high_throughput`]).
    HighThroughput,
    /// 20 messages per second ([`chatport_whatsapp::PacingConfig::coexistence`]).
    Coexistence,
}

impl WhatsAppConfig {
    /// The pacing limits of `pacing` and its overrides; `None` without `pacing`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key for an override without `pacing` or a zero value.
    pub fn pacing_config(&self) -> Result<Option<chatport_whatsapp::PacingConfig>, Error> {
        use chatport_whatsapp::PacingConfig;
        let Some(tier) = self.pacing else {
            for (key, set) in [
                ("messages_per_second", self.messages_per_second.is_some()),
                ("pair_interval_secs", self.pair_interval_secs.is_some()),
                ("pair_burst", self.pair_burst.is_some()),
            ] {
                if set {
                    return Err(Error::Config(format!(
                        "whatsapp.{key} needs whatsapp.pacing (standard, high_throughput or coexistence)"
                    )));
                }
            }
            return Ok(None);
        };
        let mut config = match tier {
            PacingTier::HighThroughput => PacingConfig::high_throughput(),
            PacingTier::Coexistence => PacingConfig::coexistence(),
            PacingTier::Standard => PacingConfig::standard(),
        };
        if let Some(mps) = self.messages_per_second {
            if mps == 0 {
                return Err(Error::Config(
                    "whatsapp.messages_per_second: must be at least 1".into(),
                ));
            }
            config = config.messages_per_second(mps);
        }
        let interval = match self.pair_interval_secs {
            Some(0) => {
                return Err(Error::Config(
                    "whatsapp.pair_interval_secs: must be at least 1".into(),
                ));
            }
            Some(secs) => Duration::from_secs(secs),
            None => config.pair_interval,
        };
        let burst = match self.pair_burst {
            Some(0) => {
                return Err(Error::Config(
                    "whatsapp.pair_burst: must be at least 1".into(),
                ));
            }
            Some(burst) => burst,
            None => config.pair_burst,
        };
        Ok(Some(config.pair_limit(interval, burst)))
    }
}

/// `[whatsapp] when_held_elsewhere`: see [`WhatsAppConfig::when_held_elsewhere`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HeldElsewherePolicy {
    /// Hold the message back and retry later.
    #[default]
    Defer,
    /// Take the conversation, then send.
    Take,
    /// Send anyway.
    Send,
}

fn default_held_elsewhere_retry_secs() -> u64 {
    300
}

fn default_graph_base() -> Setting {
    Setting::new("https://graph.facebook.com")
}
fn default_graph_version() -> String {
    chatport_whatsapp::DEFAULT_API_VERSION.into()
}
fn default_webhook_path() -> String {
    "/webhooks/whatsapp".into()
}
fn default_timeout_secs() -> u64 {
    20
}

/// `[flows]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct FlowsConfig {
    /// `[flows.o1]`: case intake.
    pub o1: crate::flows::opentext::o1::O1Config,
    /// `[flows.c1]`: WhatsApp → Creatio handoff (C1, with C4 media and C5 contact matching).
    pub c1: crate::flows::creatio::C1Config,
    /// `[flows.c2]`: Creatio agent replies → WhatsApp (C2, with the C3 window and case closure).
    pub c2: crate::flows::creatio::C2Config,
    /// `[flows.l1]`: Orange Logic review request.
    pub l1: crate::flows::orangelogic::l1::L1Config,
    /// `[flows.l2]`: Orange Logic field media ingest.
    pub l2: crate::flows::orangelogic::l2::L2Config,
    /// `[flows.l3]`: Orange Logic rights expiry watch.
    pub l3: crate::flows::orangelogic::l3::L3Config,
    /// `[flows.l4]`: Orange Logic campaign rollout.
    pub l4: crate::flows::orangelogic::l4::L4Config,
    /// `[flows.l5]`: Orange Logic approved content sharing.
    pub l5: crate::flows::orangelogic::l5::L5Config,
    /// `[flows.l6]`: Orange Logic user-generated content.
    pub l6: crate::flows::orangelogic::l6::L6Config,
    /// `[flows.l7]`: Orange Logic policy alert.
    pub l7: crate::flows::orangelogic::l7::L7Config,
    /// `[flows.o2]`: document capture.
    pub o2: crate::flows::opentext::o2::O2Config,
    /// `[flows.o3]`: status notification.
    pub o3: crate::flows::opentext::o3::O3Config,
    /// `[flows.o4]`: document request.
    pub o4: crate::flows::opentext::o4::O4Config,
    /// `[flows.o5]`: field evidence.
    pub o5: crate::flows::opentext::o5::O5Config,
    /// `[flows.o6]`: compliance archive.
    pub o6: crate::flows::opentext::o6::O6Config,
    /// `[flows.o7]`: exception loop.
    pub o7: crate::flows::opentext::o7::O7Config,
    /// `[flows.o8]`: supplier exchange.
    pub o8: crate::flows::opentext::o8::O8Config,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars() -> HashMap<String, String> {
        [
            ("TOKEN", "t0k"),
            ("SECRET", "s3cret"),
            ("HOST", "http://127.0.0.1:9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    const MINIMAL: &str = r#"
[whatsapp]
access_token = "${TOKEN}"
app_secrets = ["${SECRET}"]
verify_token = "${TOKEN}"

[opentext]
auth_base = "${HOST}"
cms_base = "${HOST}/cms"
tenant_id = "t1"
client_id = "c1"
client_secret = "${SECRET}"
"#;

    /// A budget that is never asked here (building a client takes no permit).
    struct Unused;

    #[async_trait::async_trait]
    impl chatport_core::RateBudget for Unused {
        async fn try_take(
            &self,
            _: &str,
            _: Duration,
            _: u32,
        ) -> Result<Option<Duration>, chatport_core::StateError> {
            Ok(None)
        }
    }

    #[test]
    fn a_config_parsed_without_variables_is_refused_only_for_references_in_plain_strings() {
        // Only settings and secrets refer to variables: nothing is lost, the service may start.
        Config::from_toml_str(MINIMAL)
            .unwrap()
            .check_expanded()
            .unwrap();
        let text = format!(
            "{MINIMAL}\n[service]\nlisten = \"${{LISTEN_HOST}}:8080\"\n\n[store]\npath = \"${{STATE_DIR}}/chatport.sqlite\"\n\n[flows.c1]\nhandoff_reply = \"Call ${{SUPPORT_LINE}}\"\n"
        );
        let err = Config::from_toml_str(&text)
            .unwrap()
            .check_expanded()
            .unwrap_err()
            .to_string();
        for expected in [
            "service.listen (${LISTEN_HOST})",
            "flows.c1.handoff_reply (${SUPPORT_LINE})",
            "Config::from_toml_str_with",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from {err}");
        }
        // Settings (store.path) and secrets resolve where they are used: not refused.
        for setting in ["TOKEN", "SECRET", "STATE_DIR"] {
            assert!(!err.contains(setting), "{setting} in {err}");
        }
        let mut env = vars();
        env.insert("LISTEN_HOST".into(), "127.0.0.1".into());
        env.insert("SUPPORT_LINE".into(), "0800 100".into());
        let expanded = Config::from_toml_str_with(&text, &env).unwrap();
        expanded.check_expanded().unwrap();
        assert_eq!(expanded.flows.c1.handoff_reply, "Call 0800 100");
    }

    #[test]
    fn references_expand_in_every_plain_string_and_settings_stay_raw() {
        let text = format!(
            r#"{MINIMAL}
[service]
listen = "${{LISTEN_HOST}}:${{LISTEN_PORT}}"

[flows.c1]
handoff_reply = "Case {{case_number}}: call ${{SUPPORT_LINE}}; $${{literal}}"
escalation_phrases = ["speak to ${{BRAND}}", "agent"]

[[flows.o1.queues]]
issue_type = "billing"
queue = "${{QUEUE_PREFIX}}-billing"
"#
        );
        let mut env = vars();
        for (k, v) in [
            ("LISTEN_HOST", "0.0.0.0"),
            ("LISTEN_PORT", "8443"),
            ("SUPPORT_LINE", "+1 555 0100"),
            ("BRAND", "Acme"),
            ("QUEUE_PREFIX", "emea"),
        ] {
            env.insert(k.into(), v.into());
        }
        let config = Config::from_toml_str_with(&text, &env).unwrap();
        assert_eq!(config.service.listen, "0.0.0.0:8443");
        assert_eq!(
            config.flows.c1.handoff_reply,
            "Case {case_number}: call +1 555 0100; ${literal}"
        );
        assert_eq!(
            config.flows.c1.escalation_phrases,
            ["speak to Acme", "agent"]
        );
        assert_eq!(config.flows.o1.queues[0].queue, "emea-billing");
        // Settings and secrets keep their references; they resolve where they are used.
        assert_eq!(
            config.opentext.as_ref().unwrap().cms_base.raw(),
            "${HOST}/cms"
        );
        assert_eq!(
            format!("{:?}", config.whatsapp.access_token),
            r#"SecretSetting("${TOKEN}")"#
        );
        config.check_environment(&env).unwrap();

        // Unset variables: the strings stay as written and every one is reported at once.
        let partial = vars();
        let config = Config::from_toml_str_with(&text, &partial).unwrap();
        assert_eq!(config.service.listen, "${LISTEN_HOST}:${LISTEN_PORT}");
        let err = config.check_environment(&partial).unwrap_err().to_string();
        for expected in [
            "5 environment variables are not set",
            "LISTEN_HOST (used by service.listen)",
            "LISTEN_PORT (used by service.listen)",
            "SUPPORT_LINE (used by flows.c1.handoff_reply)",
            "BRAND (used by flows.c1.escalation_phrases[0])",
            "QUEUE_PREFIX (used by flows.o1.queues[0].queue)",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from {err}");
        }

        // An expanded value is validated like a written one.
        let mut blank = env.clone();
        blank.insert("QUEUE_PREFIX".into(), String::new());
        let text = text.replace("${QUEUE_PREFIX}-billing", "${QUEUE_PREFIX}");
        let err = Config::from_toml_str_with(&text, &blank)
            .unwrap_err()
            .to_string();
        assert!(err.contains("flows.o1.queues[0].queue"), "{err}");
    }

    #[test]
    fn every_unset_variable_is_reported_in_one_error_and_paths_expand() {
        let text = format!(
            "{MINIMAL}\n[store]\npath = \"${{STATE_DIR}}/chatport.sqlite\"\nroot_certificate = \"${{CA_DIR}}/ca.pem\"\n"
        );
        let config = Config::from_toml_str(&text).unwrap();
        let err = config
            .check_environment(&HashMap::<String, String>::new())
            .unwrap_err()
            .to_string();
        for expected in [
            "5 environment variables are not set",
            "TOKEN (used by whatsapp.access_token, whatsapp.verify_token)",
            "SECRET (used by opentext.client_secret, whatsapp.app_secrets[0])",
            "HOST (used by opentext.auth_base, opentext.cms_base)",
            "STATE_DIR (used by store.path)",
            "CA_DIR (used by store.root_certificate)",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from {err}");
        }
        assert!(
            crate::service::validate(&config, &vars()).is_err(),
            "validation checks the environment first"
        );
        let mut all = vars();
        all.insert("STATE_DIR".into(), "/var/lib/chatport".into());
        all.insert("CA_DIR".into(), "/etc/chatport".into());
        config.check_environment(&all).unwrap();
        assert_eq!(
            config.store.sqlite_path(&all).unwrap(),
            std::path::PathBuf::from("/var/lib/chatport/chatport.sqlite")
        );
        assert_eq!(
            config.store.root_certificate_path(&all).unwrap(),
            Some(std::path::PathBuf::from("/etc/chatport/ca.pem"))
        );
        let err = config.store.sqlite_path(&vars()).unwrap_err().to_string();
        assert!(
            err.contains("store.path") && err.contains("STATE_DIR"),
            "{err}"
        );
    }

    #[test]
    fn with_a_shared_budget_the_cms_limit_is_per_tenant() {
        let config = Config::from_toml_str(MINIMAL).unwrap();
        let budget: std::sync::Arc<dyn chatport_core::RateBudget> = std::sync::Arc::new(Unused);
        let shared = crate::flows::opentext::client(&config, &vars(), Some(budget))
            .unwrap()
            .unwrap();
        let limit = shared.rate_limit().unwrap();
        assert_eq!(limit.shared_bucket(), Some("opentext:t1"));
        assert_eq!(limit.requests_per_second(), 5);
        let local = crate::flows::opentext::client(&config, &vars(), None)
            .unwrap()
            .unwrap();
        assert_eq!(local.rate_limit().unwrap().shared_bucket(), None);
    }

    #[test]
    fn minimal_config_parses_with_defaults() {
        let cfg = Config::from_toml_str(MINIMAL).unwrap();
        assert_eq!(cfg.whatsapp.api_version, "v26.0");
        assert_eq!(cfg.whatsapp.webhook_path, "/webhooks/whatsapp");
        assert!(cfg.flows.o1.enabled);
        assert_eq!(cfg.workers.max_attempts, 12);
        let ot = cfg.opentext.unwrap();
        assert_eq!(
            ot.cms_base.resolve("opentext.cms_base", &vars()).unwrap(),
            "http://127.0.0.1:9/cms"
        );
    }

    #[test]
    fn retention_defaults_to_30_days_and_refuses_less_than_the_redelivery_window() {
        let cfg = Config::from_toml_str(MINIMAL).unwrap();
        assert_eq!(cfg.store.retention_days, 30);
        for (days, ok) in [(0, true), (7, false), (1, false), (8, true), (365, true)] {
            let result =
                Config::from_toml_str(&format!("{MINIMAL}\n[store]\nretention_days = {days}\n"))
                    .and_then(|cfg| cfg.validate());
            assert_eq!(result.is_ok(), ok, "retention_days = {days}: {result:?}");
            if let Err(error) = result {
                assert!(
                    error.to_string().contains("store.retention_days"),
                    "{error}"
                );
            }
        }
    }

    #[test]
    fn store_backend_defaults_to_sqlite_and_postgres_needs_a_secret_url() {
        let cfg = Config::from_toml_str(MINIMAL).unwrap();
        assert_eq!(cfg.store.backend, StoreBackend::Sqlite);
        assert_eq!(cfg.store.max_connections, 16);
        assert_eq!(cfg.opentext.unwrap().requests_per_second, 5);

        let pg = format!(
            "{MINIMAL}\n[store]\nbackend = \"postgres\"\nurl = \"${{DB}}\"\nschema = \"chatport\"\nmax_connections = 4\n"
        );
        let cfg = Config::from_toml_str(&pg).unwrap();
        assert_eq!(cfg.store.backend, StoreBackend::Postgres);
        assert_eq!(cfg.store.schema.as_deref(), Some("chatport"));
        assert_eq!(cfg.store.max_connections, 4);
        cfg.validate().unwrap();

        let without_url = format!("{MINIMAL}\n[store]\nbackend = \"postgres\"\n");
        let err = Config::from_toml_str(&without_url).unwrap_err().to_string();
        assert!(err.contains("store.url"), "{err}");

        let literal =
            format!("{MINIMAL}\n[store]\nbackend = \"postgres\"\nurl = \"postgres://u:pw@h/db\"\n");
        let err = Config::from_toml_str(&literal).unwrap_err().to_string();
        assert!(!err.contains("pw@"), "the URL is never repeated: {err}");

        let unknown = format!("{MINIMAL}\n[store]\nbackend = \"mysql\"\n");
        assert!(Config::from_toml_str(&unknown).is_err());
    }

    #[test]
    fn unknown_key_is_an_error_with_line() {
        let text = MINIMAL.replace(
            "tenant_id = \"t1\"",
            "tenant_id = \"t1\"\ntenant_idd = \"x\"",
        );
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("tenant_idd"), "{err}");
        assert!(err.contains("line 11, column 1"), "{err}");
        assert!(err.contains("did you mean `tenant_id`?"), "{err}");
    }

    #[test]
    fn check_refuses_a_retired_graph_version_with_its_date() {
        let text = MINIMAL.replace(
            "access_token = \"${TOKEN}\"",
            "access_token = \"${TOKEN}\"\napi_version = \"v20.0\"",
        );
        let config = Config::from_toml_str(&text).unwrap();
        let err = crate::service::validate(&config, &vars())
            .unwrap_err()
            .to_string();
        assert!(err.contains("whatsapp.api_version"), "{err}");
        assert!(err.contains("v20.0") && err.contains("2026-09-24"), "{err}");
        let current = Config::from_toml_str(MINIMAL).unwrap();
        assert_eq!(
            current.whatsapp.api_version,
            chatport_whatsapp::DEFAULT_API_VERSION
        );
        assert!(crate::service::validate(&current, &vars()).is_ok());
    }

    #[test]
    fn every_unknown_key_and_wrong_value_is_reported_in_one_run() {
        let text = MINIMAL
            .replace(
                "tenant_id = \"t1\"",
                "tenant_idd = \"t1\"\ntenant_id = \"t1\"",
            )
            .replace(
                "[opentext]",
                "[service]\nlisten = 8080\nmax_body_byte = 5\n\n[opentext]",
            );
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("3 problems"), "{err}");
        assert!(
            err.contains("max_body_byte") && err.contains("did you mean `max_body_bytes`?"),
            "{err}"
        );
        assert!(
            err.contains("tenant_idd") && err.contains("did you mean `tenant_id`?"),
            "{err}"
        );
        assert!(err.contains("invalid type"), "{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 4, "{err}");
        assert!(
            lines
                .iter()
                .skip(1)
                .all(|l| l.trim_start().starts_with("line ")),
            "every problem has its line: {err}"
        );
    }

    #[test]
    fn literal_secret_is_refused() {
        let text = MINIMAL.replace(
            "access_token = \"${TOKEN}\"",
            "access_token = \"EAAJB-literal\"",
        );
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("environment reference"), "{err}");
        assert!(
            !err.contains("EAAJB-literal"),
            "secret leaked into the error: {err}"
        );
    }

    #[test]
    fn o1_without_opentext_is_refused() {
        let text = MINIMAL.split("[opentext]").next().unwrap();
        let err = Config::from_toml_str(text).unwrap_err().to_string();
        assert!(err.contains("opentext"), "{err}");
    }

    #[test]
    fn pacing_keys_build_the_pacer_limits() {
        let with = |extra: &str| {
            Config::from_toml_str(
                &MINIMAL.replace("[whatsapp]\n", &format!("[whatsapp]\n{extra}\n")),
            )
            .unwrap()
        };
        assert_eq!(with("").whatsapp.pacing_config().unwrap(), None);
        let standard = with("pacing = \"standard\"")
            .whatsapp
            .pacing_config()
            .unwrap()
            .unwrap();
        assert_eq!(standard, chatport_whatsapp::PacingConfig::standard());
        let tuned = with(
            "pacing = \"coexistence\"\nmessages_per_second = 5\npair_interval_secs = 2\npair_burst = 1",
        )
        .whatsapp
        .pacing_config()
        .unwrap()
        .unwrap();
        assert_eq!(tuned.messages_per_second, 5);
        assert_eq!(tuned.pair_interval, Duration::from_secs(2));
        assert_eq!(tuned.pair_burst, 1);
        assert_eq!(
            with("pacing = \"high_throughput\"")
                .whatsapp
                .pacing_config()
                .unwrap()
                .unwrap()
                .messages_per_second,
            1000
        );
        let err = with("pair_burst = 3").whatsapp.pacing_config().unwrap_err();
        assert!(err.to_string().contains("whatsapp.pair_burst"), "{err}");
        let err = with("pacing = \"standard\"\nmessages_per_second = 0")
            .whatsapp
            .pacing_config()
            .unwrap_err();
        assert!(err.to_string().contains("messages_per_second"), "{err}");
        assert!(
            Config::from_toml_str(
                &MINIMAL.replace("[whatsapp]\n", "[whatsapp]\npacing = \"fast\"\n")
            )
            .is_err()
        );
    }
}
