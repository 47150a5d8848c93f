//! The model-backed implementations (feature `llm`, on by default): an OpenAI-compatible Chat
//! Completions client ([`Assistant`]) and [`LlmClassifier`], [`LlmSummariser`],
//! [`LlmFieldFiller`] and [`LlmExtractor`].
//!
//! ## The endpoint
//!
//! [`Assistant`] speaks the OpenAI Chat Completions API: `POST {base_url}/chat/completions` with
//! `Authorization: Bearer <key>` (OpenAI, vLLM, llama.cpp's server, Ollama's `/v1`, most hosted
//! gateways), or Azure-style with an `api-key` header and an `?api-version=` query
//! ([`AssistantBuilder::azure_api_version`]; the base URL is then the deployment's,
//! `https://<resource>.openai.azure.com/openai/deployments/<deployment>`). Every task asks for
//! structured output, `response_format: {type: "json_schema", json_schema: {name, strict: true,
//! schema}}`, and parses the answer strictly (unknown keys, missing keys and values outside the
//! configured lists are off-schema). It is a small client over `reqwest` and `chatport-http`
//! rather than the `async-openai` crate: that crate's errors drop the `Retry-After` header (so
//! chatport-http's [`RetryPolicy`] could not honour it), its deserialisation errors carry the raw
//! answer (message text) into their `Display`, and it brings a builder, middleware and SSE stack
//! for the one request chatport sends.
//!
//! Calls go through chatport-http's [`RetryPolicy`] like every connector: a 429 (its
//! `Retry-After` honoured up to the policy's cap), a 5xx, a timeout or a connection failure is
//! repeated; the builder's `timeout` applies to each attempt.
//!
//! ## Fallback and metrics
//!
//! Every implementation falls back to the rule-based implementation it was given on a timeout,
//! an error, a refusal or an off-schema answer, and marks the result `fallback = true` (the
//! result's `provenance` is then `None`). Metrics (the `metrics` facade; chatport's runtime
//! exports them as Prometheus):
//!
//! | Metric | Labels | Meaning |
//! |---|---|---|
//! | `chatport_assistant_calls_total` | `task` (`classify`, `summary`, `fields`, `extract`), `outcome` | one per call: `ok` (the model's answer was used), `timeout`, `error` (HTTP error, connection failure, malformed answer), `refused`, `off_schema`; every outcome but `ok` means the fallback answered |
//! | `chatport_assistant_fallbacks_total` | `task` | results answered by the fallback |
//! | `chatport_assistant_call_duration_seconds` | `task` | histogram of the call (retries included) |
//! | `chatport_assistant_tokens_total` | `task`, `direction` (`in`, `out`) | `usage.prompt_tokens` and `usage.completion_tokens` |
//!
//! ## Personal data
//!
//! Every string that goes into a prompt passes [`Redaction`] (phone numbers and e-mail addresses
//! by default), the sender's number is never sent (the region of a number stays with the rules),
//! the customer's name is not sent, and `max_prompt_chars` caps the user content (the newest
//! messages are kept). Nothing here logs message text, a number, the key or the model's answer.
//!
//! ## Determinism
//!
//! A model may answer a retried event differently. The bridge writes a case or record once per
//! idempotency key, so the first answer wins; a retry after the write does not change it.

mod classifier;
mod fields;
mod prompts;
mod redact;
mod summariser;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatport_core::Classify;
pub use chatport_http::RetryPolicy;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

pub use classifier::LlmClassifier;
pub use fields::{LlmExtractor, LlmFieldFiller};
pub use prompts::{Prompt, Prompts};
pub use redact::Redaction;
pub use summariser::LlmSummariser;

use crate::Error;
use crate::provenance::Provenance;

/// An OpenAI-compatible Chat Completions client configured for chatport's assistant tasks.
/// Cheap to clone (one shared connection pool).
///
/// ```no_run
/// use std::time::Duration;
/// use chatport_assistant::llm::{Assistant, Redaction};
///
/// # async fn run() -> Result<(), chatport_assistant::Error> {
/// let assistant = Assistant::builder("https://api.openai.com/v1", "gpt-4o-mini")
///     .api_key(std::env::var("OPENAI_API_KEY").unwrap_or_default())
///     .timeout(Duration::from_secs(20))
///     .max_tokens(800)
///     .redaction(Redaction::default())
///     .build()?;
/// assistant.probe().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Assistant {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    url: reqwest::Url,
    model: String,
    headers: HeaderMap,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    redaction: Redaction,
    max_prompt_chars: usize,
    prompts: Prompts,
    retry: RetryPolicy,
    limiter: Option<governor::DefaultDirectRateLimiter>,
}

impl std::fmt::Debug for Assistant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assistant")
            .field("url", &self.inner.url.as_str())
            .field("model", &self.inner.model)
            .field("max_tokens", &self.inner.max_tokens)
            .field("temperature", &self.inner.temperature)
            .field("redaction", &self.inner.redaction)
            .field("max_prompt_chars", &self.inner.max_prompt_chars)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Assistant`] ([`Assistant::builder`]).
pub struct AssistantBuilder {
    base_url: String,
    model: String,
    api_key: Option<SecretString>,
    azure_api_version: Option<String>,
    timeout: Duration,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    redaction: Redaction,
    max_prompt_chars: usize,
    prompts: Prompts,
    retry: RetryPolicy,
    http: Option<reqwest::Client>,
    requests_per_minute: u32,
}

impl std::fmt::Debug for AssistantBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssistantBuilder")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl AssistantBuilder {
    /// The API key (sent as `Authorization: Bearer`, or as `api-key` Azure-style). Without one
    /// no key is sent (a local server).
    #[must_use]
    pub fn api_key(mut self, key: impl Into<SecretString>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Azure-style authentication: the key goes in an `api-key` header and every request gets
    /// `?api-version=<version>` (e.g. `2024-10-21`). The base URL is the deployment's.
    #[must_use]
    pub fn azure_api_version(mut self, version: impl Into<String>) -> Self {
        self.azure_api_version = Some(version.into());
        self
    }

    /// The timeout of each attempt (default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `max_tokens` of each request (default: not sent, the server's default).
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// `temperature` of each request (default: not sent; some reasoning models accept only
    /// their default).
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// The personal data replaced before a prompt leaves the process (default: phone numbers
    /// and e-mail addresses).
    #[must_use]
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// The most characters of user content per request (default 12 000); the newest messages
    /// are kept, a document's text is cut at the end.
    #[must_use]
    pub fn max_prompt_chars(mut self, max: usize) -> Self {
        self.max_prompt_chars = max.max(200);
        self
    }

    /// The system prompts (default [`Prompts::shipped`]).
    #[must_use]
    pub fn prompts(mut self, prompts: Prompts) -> Self {
        self.prompts = prompts;
        self
    }

    /// At most `n` requests per minute from this assistant and its clones (a token bucket that
    /// refills evenly, burst `n`); a request waits for its turn. `0` (the default): no limit.
    /// Hosted endpoints limit requests per minute per key; a limit here keeps chatport under
    /// it instead of collecting 429s.
    #[must_use]
    pub fn requests_per_minute(mut self, n: u32) -> Self {
        self.requests_per_minute = n;
        self
    }

    /// The in-client retry policy (default [`RetryPolicy::default`]).
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// A caller-built `reqwest` client (proxies, custom roots); its own timeouts apply instead
    /// of [`AssistantBuilder::timeout`].
    #[must_use]
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The assistant.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a base URL that is not an absolute http(s) URL, an empty model, a
    /// key that is not a valid header value, or an HTTP client that cannot be built.
    pub fn build(self) -> Result<Assistant, Error> {
        let base = self.base_url.trim().trim_end_matches('/');
        let mut url = reqwest::Url::parse(&format!("{base}/chat/completions"))
            .map_err(|e| Error::Config(format!("base URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config("base URL: not http or https".into()));
        }
        if self.model.trim().is_empty() {
            return Err(Error::Config("model: empty".into()));
        }
        if let Some(version) = &self.azure_api_version {
            url.query_pairs_mut().append_pair("api-version", version);
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = &self.api_key {
            let key = key.expose_secret();
            let (name, value) = if self.azure_api_version.is_some() {
                ("api-key", key.to_owned())
            } else {
                (AUTHORIZATION.as_str(), format!("Bearer {key}"))
            };
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| Error::Config("api key: not a valid header value".into()))?;
            value.set_sensitive(true);
            headers.insert(
                reqwest::header::HeaderName::from_static(if name == "api-key" {
                    "api-key"
                } else {
                    "authorization"
                }),
                value,
            );
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(Duration::from_secs(10).min(self.timeout))
                .user_agent(concat!("chatport-assistant/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))?,
        };
        Ok(Assistant {
            inner: Arc::new(Inner {
                http,
                url,
                model: self.model,
                headers,
                max_tokens: self.max_tokens,
                temperature: self.temperature,
                redaction: self.redaction,
                max_prompt_chars: self.max_prompt_chars,
                prompts: self.prompts,
                retry: self.retry,
                limiter: std::num::NonZeroU32::new(self.requests_per_minute)
                    .map(|n| governor::RateLimiter::direct(governor::Quota::per_minute(n))),
            }),
        })
    }
}

/// The parts of a Chat Completions answer chatport reads (other fields are ignored).
#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// One structured request: the task, its prompt, the user content and the answer's schema.
pub(crate) struct Request<'a> {
    pub(crate) task: &'static str,
    pub(crate) prompt: &'a Prompt,
    /// Task instructions appended to the prompt in the system message (the field list).
    pub(crate) instructions: String,
    pub(crate) user: String,
    pub(crate) schema: Value,
}

impl Assistant {
    /// A builder for the endpoint at `base_url` (the URL `/chat/completions` is appended to,
    /// e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1` for Ollama,
    /// `http://localhost:8000/v1` for vLLM, `http://localhost:8080/v1` for llama.cpp's server)
    /// and `model`.
    ///
    /// Defaults: no key, 30 s timeout, `max_tokens` and `temperature` not sent, both
    /// redactions on, 12 000 characters of user content, the shipped prompts,
    /// [`RetryPolicy::default`].
    pub fn builder(base_url: impl Into<String>, model: impl Into<String>) -> AssistantBuilder {
        AssistantBuilder {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            azure_api_version: None,
            timeout: Duration::from_secs(30),
            max_tokens: None,
            temperature: None,
            redaction: Redaction::default(),
            max_prompt_chars: 12_000,
            prompts: Prompts::shipped(),
            retry: RetryPolicy::default(),
            http: None,
            requests_per_minute: 0,
        }
    }

    /// The model as configured.
    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// The prompts in use.
    pub fn prompts(&self) -> &Prompts {
        &self.inner.prompts
    }

    /// The redaction in use.
    pub fn redaction(&self) -> Redaction {
        self.inner.redaction
    }

    /// The cap on user content, in characters.
    pub fn max_prompt_chars(&self) -> usize {
        self.inner.max_prompt_chars
    }

    /// `text` with the configured personal data replaced.
    pub fn redact(&self, text: &str) -> String {
        self.inner.redaction.apply(text).into_owned()
    }

    /// The provenance of an answer to `prompt`.
    pub(crate) fn provenance(&self, prompt: &Prompt) -> Provenance {
        Provenance::new(&self.inner.model, prompt.name, &prompt.version)
    }

    /// One tiny call (`"ping"`, `max_tokens: 1`, no schema) to check the URL, the key and the
    /// model (`chatport check --probe`). Not retried; not counted in the metrics.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] (a 401 for a wrong key, a 404 for a wrong URL or model),
    /// [`Error::Timeout`], [`Error::Transport`], [`Error::Malformed`] when the answer is not a
    /// chat completion.
    pub async fn probe(&self) -> Result<(), Error> {
        let body = json!({
            "model": self.inner.model,
            "messages": [{"role": "user", "content": "ping"}],
            "max_tokens": 1,
        });
        self.send(&body).await.map(|_| ())
    }

    async fn send(&self, body: &Value) -> Result<Completion, Error> {
        let inner = &self.inner;
        if let Some(limiter) = &inner.limiter {
            limiter.until_ready().await;
        }
        let response = inner
            .http
            .post(inner.url.clone())
            .headers(inner.headers.clone())
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = chatport_http::retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            let code = serde_json::from_slice::<ErrorBody>(&bytes)
                .ok()
                .and_then(|b| {
                    b.error
                        .code
                        .and_then(|c| c.as_str().map(str::to_owned))
                        .or(b.error.kind)
                })
                .filter(|c| {
                    c.len() <= 64
                        && c.chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
                });
            return Err(Error::Status {
                status,
                code,
                retry_after,
            });
        }
        serde_json::from_slice::<Completion>(&bytes).map_err(|e| {
            Error::Malformed(format!(
                "{} at line {} column {}",
                category(&e),
                e.line(),
                e.column()
            ))
        })
    }

    /// Sends `request` (retried per the policy) and returns the parsed JSON content and usage.
    async fn call(&self, request: &Request<'_>) -> Result<(Value, Usage), Error> {
        let inner = &self.inner;
        let system = if request.instructions.is_empty() {
            request.prompt.text.clone()
        } else {
            format!("{}\n{}", request.prompt.text, request.instructions)
        };
        let mut body = json!({
            "model": inner.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": request.user},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": request.task, "strict": true, "schema": request.schema},
            },
        });
        if let Some(max) = inner.max_tokens {
            body["max_tokens"] = json!(max);
        }
        if let Some(t) = inner.temperature {
            body["temperature"] = json!(t);
        }
        let completion = inner.retry.run(|| self.send(&body)).await?;
        let usage = completion.usage.unwrap_or_default();
        let message = completion
            .choices
            .into_iter()
            .next()
            .map(|c| c.message)
            .ok_or_else(|| Error::Malformed("no choices".into()))?;
        if message.refusal.is_some_and(|r| !r.trim().is_empty()) {
            return Err(Error::Refusal { task: request.task });
        }
        let content = message
            .content
            .ok_or_else(|| Error::Malformed("no content".into()))?;
        let value: Value = serde_json::from_str(content.trim()).map_err(|e| Error::OffSchema {
            task: request.task,
            detail: format!("not JSON ({} at column {})", category(&e), e.column()),
        })?;
        Ok((value, usage))
    }

    /// Sends `request`, parses the content with `parse`, and records the metrics. `Err` means
    /// the caller answers with its fallback (the outcome is already counted).
    pub(crate) async fn run<T>(
        &self,
        request: Request<'_>,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Result<T, Error> {
        let task = request.task;
        let started = Instant::now();
        let result = self.call(&request).await;
        metrics::histogram!("chatport_assistant_call_duration_seconds", "task" => task)
            .record(started.elapsed().as_secs_f64());
        let result = result.and_then(|(value, usage)| {
            metrics::counter!("chatport_assistant_tokens_total", "task" => task, "direction" => "in")
                .increment(usage.prompt_tokens);
            metrics::counter!("chatport_assistant_tokens_total", "task" => task, "direction" => "out")
                .increment(usage.completion_tokens);
            parse(value).map_err(|detail| Error::OffSchema { task, detail })
        });
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        metrics::counter!("chatport_assistant_calls_total", "task" => task, "outcome" => outcome)
            .increment(1);
        if let Err(e) = &result {
            metrics::counter!("chatport_assistant_fallbacks_total", "task" => task).increment(1);
            tracing::warn!(task, outcome, class = e.class().as_str(), error = %e, "assistant call failed; the rules answer");
        }
        result
    }
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "unexpected end",
    }
}

fn transport(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::Timeout
    } else if e.is_connect() {
        Error::Transport("connection failed".into())
    } else if e.is_body() || e.is_decode() {
        Error::Transport("reading the answer failed".into())
    } else {
        Error::Transport("request failed".into())
    }
}

/// A JSON schema for an object with exactly these properties, all required, no others (the shape
/// strict structured outputs need).
pub(crate) fn object_schema(properties: serde_json::Map<String, Value>) -> Value {
    let required: Vec<&String> = properties.keys().collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// Checks that `value` is an object with no key outside `known`; the keys themselves are
/// reported, never values.
pub(crate) fn only_keys<'v>(
    value: &'v Value,
    known: &[&str],
) -> Result<&'v serde_json::Map<String, Value>, String> {
    let object = value.as_object().ok_or("not a JSON object")?;
    if let Some(unknown) = object.keys().find(|k| !known.contains(&k.as_str())) {
        // A key is the model's text: named only when it looks like an identifier.
        let identifier = unknown.len() <= 40
            && unknown
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        return Err(if identifier {
            format!("unknown field `{unknown}`")
        } else {
            "an unknown field".to_owned()
        });
    }
    Ok(object)
}
