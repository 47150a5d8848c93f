//! `[assistant]`: the model behind the assistant steps of the flows (an OpenAI-compatible Chat
//! Completions endpoint: hosted, Azure-style, or a local server such as vLLM, llama.cpp's server
//! or Ollama), and the per-flow choice between it and the rule-based defaults.
//!
//! Each step is chosen per flow (`[flows.o1] classifier = "model"`, `[flows.c1] summariser`,
//! `[flows.c1] classifier`, `[flows.c1] ai_fields`, the `extractor` of O2, O5, O8, L2 and L6); the default is
//! `"rules"`, so a configuration without `[assistant]` behaves as before. A model-backed step
//! falls back to its rule-based default on a timeout, an error, a refusal or an answer that does
//! not match its schema ([`chatport_assistant::llm`]); the fallback is counted in
//! `chatport_assistant_calls_total` and marked in what the flow writes.
//!
//! See `docs/assistant.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chatport_assistant::classify::{Classifier, ClassifierConfig, RuleClassifier};
use chatport_assistant::extract::{Extractor, NoExtraction};
use chatport_assistant::fields::{FieldFiller, NoFields};
use chatport_assistant::llm::{
    Assistant, LlmClassifier, LlmExtractor, LlmFieldFiller, LlmSummariser, Prompts, Redaction,
};
use chatport_assistant::summary::{RuleSummariser, Summariser};
use serde::Deserialize;

use crate::Error;
use crate::settings::{SecretSetting, Setting, Vars};

/// `[assistant]`: the Chat Completions endpoint the model-backed steps call.
///
/// ```toml
/// [assistant]
/// base_url = "https://api.openai.com/v1"   # or a vLLM / llama.cpp / Ollama server's /v1
/// model = "gpt-4o-mini"
/// api_key = "${ASSISTANT_API_KEY}"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AssistantConfig {
    /// The API base the client appends `/chat/completions` to (`…/v1`; for Azure-style
    /// endpoints the deployment's URL).
    pub base_url: Setting,
    /// The model (`model` of each request; for Azure-style endpoints the deployment decides).
    pub model: String,
    /// The API key, e.g. `"${ASSISTANT_API_KEY}"` (sent as a bearer token, or as `api-key` with
    /// `azure_api_version`). Unset: no key is sent (a local server).
    #[serde(default)]
    pub api_key: Option<SecretSetting>,
    /// Azure-style authentication: the key in an `api-key` header and `?api-version=` on every
    /// request (e.g. `"2024-10-21"`).
    #[serde(default)]
    pub azure_api_version: Option<String>,
    /// Timeout of each attempt, seconds. Default 20.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// `max_tokens` of each request. Default: not sent (the server's default).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// `temperature` of each request. Default: not sent (some reasoning models accept only
    /// their default).
    #[serde(default)]
    pub temperature: Option<f32>,
    /// A directory with the prompts (`classify.md`, `summary.md`, `fields.md`, `extract.md`;
    /// a missing file falls back to the shipped one), relative to the working directory; `${VAR}`
    /// references are expanded. Default: the prompts shipped with chatport-assistant.
    #[serde(default)]
    pub prompts: Option<Setting>,
    /// The most characters of conversation or document text sent per request (the newest
    /// messages are kept). Default 12000.
    #[serde(default = "default_max_prompt_chars")]
    pub max_prompt_chars: usize,
    /// Personal data replaced before a prompt leaves the process. Default: phone numbers and
    /// e-mail addresses.
    #[serde(default)]
    pub redaction: Redaction,
    /// At most this many requests per minute (per process); a request waits for its turn.
    /// `0` (the default): no client-side limit (the endpoint's 429s are still retried).
    #[serde(default)]
    pub requests_per_minute: u32,
}

fn default_timeout_secs() -> u64 {
    20
}

fn default_max_prompt_chars() -> usize {
    12_000
}

/// Which implementation an assistant step of a flow uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Engine {
    /// The rule-based default (keywords, the directory, the configured templates).
    #[default]
    Rules,
    /// The `[assistant]` model, falling back to the rules on any failure.
    Model,
}

/// Builds the [`Assistant`] of `[assistant]`, or `None` without the section.
///
/// # Errors
/// [`Error::Config`] for an unset variable, a prompt directory that cannot be read, or a base
/// URL, model or key the client refuses.
pub fn build(
    config: Option<&AssistantConfig>,
    vars: &dyn Vars,
) -> Result<Option<Assistant>, Error> {
    let Some(c) = config else {
        return Ok(None);
    };
    let base_url = c.base_url.resolve("assistant.base_url", vars)?;
    let mut builder = Assistant::builder(base_url, c.model.clone())
        .timeout(Duration::from_secs(c.timeout_secs.max(1)))
        .redaction(c.redaction)
        .max_prompt_chars(c.max_prompt_chars)
        .requests_per_minute(c.requests_per_minute);
    if let Some(key) = &c.api_key {
        builder = builder.api_key(key.resolve("assistant.api_key", vars)?);
    }
    if let Some(version) = &c.azure_api_version {
        builder = builder.azure_api_version(version.clone());
    }
    if let Some(n) = c.max_tokens {
        builder = builder.max_tokens(n);
    }
    if let Some(t) = c.temperature {
        builder = builder.temperature(t);
    }
    if let Some(dir) = &c.prompts {
        let dir = PathBuf::from(dir.resolve("assistant.prompts", vars)?);
        let prompts = Prompts::load(&dir)
            .map_err(|e| Error::Config(format!("assistant.prompts ({}): {e}", dir.display())))?;
        builder = builder.prompts(prompts);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| Error::Config(format!("[assistant]: {e}")))
}

/// The model of `[assistant]`, or a configuration error naming the step that asked for it.
fn require<'a>(assistant: Option<&'a Assistant>, key: &str) -> Result<&'a Assistant, Error> {
    assistant.ok_or_else(|| {
        Error::Config(format!(
            "{key} = \"model\" needs an [assistant] section (the model's endpoint)"
        ))
    })
}

/// The classifier of a flow: the rules, or the model constrained to the rules' lists with the
/// rules as its fallback. `key` names the setting in errors (`flows.o1.classifier`).
///
/// # Errors
/// [`Error::Config`] when `engine` is `model` without `[assistant]`.
pub fn classifier(
    engine: Engine,
    key: &str,
    assistant: Option<&Assistant>,
    config: &ClassifierConfig,
    rules: &Arc<RuleClassifier>,
) -> Result<Arc<dyn Classifier>, Error> {
    let rules: Arc<dyn Classifier> = rules.clone();
    Ok(match engine {
        Engine::Model => Arc::new(LlmClassifier::new(
            require(assistant, key)?.clone(),
            config,
            rules,
        )),
        _ => rules,
    })
}

/// The handoff summariser of a flow.
///
/// # Errors
/// [`Error::Config`] when `engine` is `model` without `[assistant]`.
pub fn summariser(
    engine: Engine,
    key: &str,
    assistant: Option<&Assistant>,
) -> Result<Arc<dyn Summariser>, Error> {
    Ok(match engine {
        Engine::Model => Arc::new(LlmSummariser::new(
            require(assistant, key)?.clone(),
            Arc::new(RuleSummariser),
        )),
        _ => Arc::new(RuleSummariser),
    })
}

/// The field filler of a flow: the model when fields are configured, else nothing.
///
/// # Errors
/// [`Error::Config`] when fields are configured without `[assistant]`.
pub fn field_filler(
    configured: bool,
    key: &str,
    assistant: Option<&Assistant>,
) -> Result<Arc<dyn FieldFiller>, Error> {
    Ok(if configured {
        Arc::new(LlmFieldFiller::new(
            assistant
                .ok_or_else(|| {
                    Error::Config(format!(
                        "{key} needs an [assistant] section (the model fills the fields)"
                    ))
                })?
                .clone(),
            Arc::new(NoFields),
        ))
    } else {
        Arc::new(NoFields)
    })
}

/// The metadata extractor of a flow.
///
/// # Errors
/// [`Error::Config`] when `engine` is `model` without `[assistant]`.
pub fn extractor(
    engine: Engine,
    key: &str,
    assistant: Option<&Assistant>,
) -> Result<Arc<dyn Extractor>, Error> {
    Ok(match engine {
        Engine::Model => Arc::new(LlmExtractor::new(
            require(assistant, key)?.clone(),
            Arc::new(NoExtraction),
        )),
        _ => Arc::new(NoExtraction),
    })
}

/// The logged conversation of an inbound message's sender, oldest first, for an extractor's
/// [`DocumentFacts`](chatport_assistant::extract::DocumentFacts): the router logs every inbound
/// message (and the flows' replies) whichever flow handles it, so every flow can read it.
///
/// # Errors
/// Store errors.
pub async fn conversation_of(
    conversations: &chatport_whatsapp::inbound::Conversations,
    inbound: &chatport_whatsapp::inbound::Inbound,
) -> Result<Vec<chatport_whatsapp::conversation::LoggedMessage>, Error> {
    Ok(conversations
        .log()
        .messages(&chatport_whatsapp::conversation::ConversationKey::new(
            &inbound.phone_number_id,
            inbound.sender.as_str(),
        ))
        .await?)
}
