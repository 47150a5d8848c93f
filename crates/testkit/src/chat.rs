//! An emulator of the OpenAI **Chat Completions** API (`POST {base}/chat/completions`), for the
//! assistant's model-backed classifier, summariser, field filler and extractor.
//!
//! Answers are deterministic and driven by the request: given a structured-output request
//! (`response_format: {type: "json_schema", json_schema: {name, strict, schema}}`) the emulator
//! builds an object that satisfies the schema:
//!
//! - an `enum` gets the first allowed value all of whose words occur in the last user message
//!   (case-insensitive, whole words), else the first allowed value;
//! - a string gets `Customer says: <first 12 words of the last user message>`; a string with
//!   `"format": "date"` the first `YYYY-MM-DD` date in that message, else `2025-01-01`;
//! - a number or integer the first number in that message, else `1`; a boolean `false`;
//! - an array one item; an object every property; `anyOf` and a type list
//!   (`["string", "null"]`) their first non-null choice.
//!
//! Without `response_format` the content is the plain `Customer says: …` text. The answer has the
//! Chat Completions shape: `id`, `object: "chat.completion"`, `created`, `model`,
//! `choices[0].message` (`role`, `content` as a string, `refusal`), `finish_reason: "stop"` and
//! `usage` (`prompt_tokens`, `completion_tokens`, `total_tokens`: characters / 4, at least 1).
//!
//! The key is checked: `Authorization: Bearer <key>` (OpenAI and compatible servers) or
//! `api-key: <key>` (Azure style); anything else is a 401 in OpenAI's error shape. Any path that
//! ends in `/chat/completions` is served, so an Azure-style base URL
//! (`{base}/openai/deployments/<name>`) with `?api-version=…` works too.
//!
//! Failure modes ([`ChatFailure`], queued by [`ChatEmulator::fail_next`]): 429 with `Retry-After`,
//! 500, an answer slower than any client timeout, a body that is not JSON, valid JSON content
//! that does not match the schema, and a refusal (`message.refusal` set, `content` null).
//!
//! ```
//! use chatport_testkit::chat::{ChatEmulator, ChatFailure};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let chat = ChatEmulator::builder().api_key("k").start().await?;
//! let body = serde_json::json!({
//!     "model": "gpt-4o-mini",
//!     "messages": [{"role": "user", "content": "My invoice is wrong"}],
//!     "response_format": {"type": "json_schema", "json_schema": {"name": "t", "strict": true,
//!         "schema": {"type": "object", "additionalProperties": false, "required": ["issue_type"],
//!             "properties": {"issue_type": {"type": "string", "enum": ["delivery", "invoice"]}}}}}
//! });
//! let answer: serde_json::Value = reqwest::Client::new()
//!     .post(format!("{}/chat/completions", chat.base_url()))
//!     .bearer_auth("k")
//!     .json(&body)
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! let content = answer["choices"][0]["message"]["content"].as_str().unwrap_or_default();
//! assert_eq!(content, r#"{"issue_type":"invoice"}"#);
//! assert_eq!(chat.requests().len(), 1);
//! chat.fail_next(1, ChatFailure::Refusal);
//! chat.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use crate::Error;
use crate::server::Server;
use crate::util::lock;

/// A failure the next requests to the chat endpoint answer with ([`ChatEmulator::fail_next`]).
///
/// A queued failure is taken by the next request that reaches `…/chat/completions`, before the
/// key is checked. The request is still recorded in [`ChatEmulator::requests`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChatFailure {
    /// HTTP 429 with `Retry-After: <builder's retry_after_secs>` and OpenAI's
    /// `rate_limit_exceeded` error body.
    RateLimited,
    /// HTTP 500 with OpenAI's `server_error` body.
    ServerError,
    /// HTTP 503 with OpenAI's `server_error` body ("overloaded") and no `Retry-After`.
    Unavailable,
    /// Waits the builder's `slow_answer` (default 60 s, longer than any sensible client timeout),
    /// then answers normally.
    Timeout,
    /// HTTP 200 with a body that is not JSON.
    Malformed,
    /// HTTP 200, a well-formed completion whose content is JSON that does not match the requested
    /// schema (`{"unexpected": true}`).
    OffSchema,
    /// HTTP 200, a completion whose `message.refusal` is set and `content` is null.
    Refusal,
}

/// The answer override of a test: given the request body, `Some(content)` to answer with (a JSON
/// string value is sent as the raw content text, anything else serialised), `None` for the
/// default answer.
type AnswerFn = dyn Fn(&Value) -> Option<Value> + Send + Sync;

struct ChatState {
    api_key: String,
    retry_after_secs: u64,
    slow_answer: Duration,
    requests: Mutex<Vec<Value>>,
    paths: Mutex<Vec<String>>,
    failures: Mutex<VecDeque<ChatFailure>>,
    answer_with: Mutex<Option<Arc<AnswerFn>>>,
    served: AtomicU64,
}

/// Builds a [`ChatEmulator`].
#[derive(Debug, Clone)]
pub struct ChatEmulatorBuilder {
    api_key: String,
    retry_after_secs: u64,
    slow_answer: Duration,
}

impl ChatEmulatorBuilder {
    /// The API key clients must send (default `test-key`).
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// The `Retry-After` seconds of [`ChatFailure::RateLimited`] (default 1).
    #[must_use]
    pub fn retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// How long [`ChatFailure::Timeout`] waits before answering (default 60 s).
    #[must_use]
    pub fn slow_answer(mut self, wait: Duration) -> Self {
        self.slow_answer = wait;
        self
    }

    /// Starts the emulator on `127.0.0.1:<free port>`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty key, [`Error::Bind`] when no port can be bound.
    pub async fn start(self) -> Result<ChatEmulator, Error> {
        if self.api_key.is_empty() {
            return Err(Error::Config("the chat emulator needs an API key".into()));
        }
        let state = Arc::new(ChatState {
            api_key: self.api_key,
            retry_after_secs: self.retry_after_secs,
            slow_answer: self.slow_answer,
            requests: Mutex::new(Vec::new()),
            paths: Mutex::new(Vec::new()),
            failures: Mutex::new(VecDeque::new()),
            answer_with: Mutex::new(None),
            served: AtomicU64::new(0),
        });
        let router = Router::new().fallback(handle).with_state(state.clone());
        let server = Server::start("chat", router).await?;
        Ok(ChatEmulator { state, server })
    }
}

/// A running Chat Completions emulator. Serves until dropped or [`ChatEmulator::shutdown`].
pub struct ChatEmulator {
    state: Arc<ChatState>,
    server: Server,
}

impl std::fmt::Debug for ChatEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatEmulator")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl ChatEmulator {
    /// A builder with key `test-key`, `Retry-After: 1`, slow answers after 60 s.
    pub fn builder() -> ChatEmulatorBuilder {
        ChatEmulatorBuilder {
            api_key: "test-key".into(),
            retry_after_secs: 1,
            slow_answer: Duration::from_secs(60),
        }
    }

    /// The base URL a client appends `/chat/completions` to: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.base_url())
    }

    /// The server's root (`http://127.0.0.1:<port>`), for Azure-style base URLs such as
    /// `{root}/openai/deployments/gpt-4o-mini`.
    pub fn root_url(&self) -> String {
        self.server.base_url()
    }

    /// The key clients must send.
    pub fn api_key(&self) -> &str {
        &self.state.api_key
    }

    /// Every request body received on `…/chat/completions`, oldest first (failed and refused ones
    /// included; a body that is not JSON is recorded as a JSON string).
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.state.requests).clone()
    }

    /// The path and query of every request received, oldest first.
    pub fn paths(&self) -> Vec<String> {
        lock(&self.state.paths).clone()
    }

    /// How many completions were answered with HTTP 200 (failures excluded).
    pub fn served(&self) -> u64 {
        self.state.served.load(Ordering::SeqCst)
    }

    /// The next `n` requests answer with `failure`.
    pub fn fail_next(&self, n: usize, failure: ChatFailure) {
        let mut queue = lock(&self.state.failures);
        queue.extend(std::iter::repeat_n(failure, n));
    }

    /// Answers with `content(request)` when it is `Some` (a JSON string value is the raw content
    /// text; any other value is serialised), else with the default answer.
    pub fn answer_with(&self, content: impl Fn(&Value) -> Option<Value> + Send + Sync + 'static) {
        *lock(&self.state.answer_with) = Some(Arc::new(content));
    }

    /// Stops the server and waits for its accept loop to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn openai_error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    (
        status,
        axum::Json(json!({
            "error": { "message": message, "type": kind, "param": null, "code": code }
        })),
    )
        .into_response()
}

async fn handle(
    State(state): State<Arc<ChatState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !uri.path().ends_with("/chat/completions") {
        return openai_error(
            StatusCode::NOT_FOUND,
            "Unknown request URL",
            "invalid_request_error",
            Some("unknown_url"),
        );
    }
    let request: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    lock(&state.requests).push(request.clone());
    lock(&state.paths).push(
        uri.path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
    );
    let failure = lock(&state.failures).pop_front();
    let mut slow = false;
    match failure {
        Some(ChatFailure::RateLimited) => {
            let mut response = openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests. Please try again later.",
                "requests",
                Some("rate_limit_exceeded"),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(state.retry_after_secs),
            );
            return response;
        }
        Some(ChatFailure::ServerError) => {
            return openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            );
        }
        Some(ChatFailure::Unavailable) => {
            return openai_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
            );
        }
        Some(ChatFailure::Malformed) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "<html><body>upstream error</body></html>",
            )
                .into_response();
        }
        Some(ChatFailure::Timeout) => slow = true,
        _ => {}
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let azure = headers.get("api-key").and_then(|v| v.to_str().ok());
    if bearer.or(azure) != Some(state.api_key.as_str()) {
        return openai_error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    if slow {
        tokio::time::sleep(state.slow_answer).await;
    }
    let user = last_user_text(&request);
    let (content, refusal) = match failure {
        Some(ChatFailure::OffSchema) => (Some(r#"{"unexpected":true}"#.to_owned()), None),
        Some(ChatFailure::Refusal) => (
            None,
            Some("I'm sorry, I can't help with that request.".to_owned()),
        ),
        _ => {
            let custom = lock(&state.answer_with).clone();
            let answer = custom
                .and_then(|f| f(&request))
                .map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .unwrap_or_else(|| default_content(&request, &user));
            (Some(answer), None)
        }
    };
    let prompt_chars: usize = request["messages"]
        .as_array()
        .map(|ms| ms.iter().map(|m| text_of(&m["content"]).len()).sum())
        .unwrap_or(0);
    let prompt_tokens = (prompt_chars / 4).max(1);
    let completion_tokens = (content
        .as_deref()
        .or(refusal.as_deref())
        .map_or(0, str::len)
        / 4)
    .max(1);
    let n = state.served.fetch_add(1, Ordering::SeqCst) + 1;
    let answer = json!({
        "id": format!("chatcmpl-emu{n:06}"),
        "object": "chat.completion",
        "created": chrono::Utc::now().timestamp(),
        "model": request["model"].as_str().unwrap_or("emulated-model"),
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": refusal },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    });
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// The text of a message's `content`: a string, or the `text` of its parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn last_user_text(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|ms| ms.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default()
}

fn default_content(request: &Value, user: &str) -> String {
    let format = &request["response_format"];
    if format["type"] == "json_schema" {
        let schema = &format["json_schema"]["schema"];
        fill(schema, user).to_string()
    } else if format["type"] == "json_object" {
        json!({ "answer": says(user) }).to_string()
    } else {
        says(user)
    }
}

/// Lower-cased alphanumeric words of `text`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn says(user: &str) -> String {
    let first: Vec<&str> = user.split_whitespace().take(12).collect();
    format!("Customer says: {}", first.join(" "))
}

fn first_date(user: &str) -> Option<String> {
    user.split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .find(|t| {
            let b = t.as_bytes();
            b.len() == 10
                && b[4] == b'-'
                && b[7] == b'-'
                && t.chars().filter(char::is_ascii_digit).count() == 8
        })
        .map(str::to_owned)
}

fn first_number(user: &str) -> Option<f64> {
    user.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
        .find_map(|t| t.trim_matches('.').parse().ok())
}

/// A value satisfying `schema` (the subset structured outputs use), derived from `user`.
fn fill(schema: &Value, user: &str) -> Value {
    if let Some(allowed) = schema["enum"].as_array() {
        let text: std::collections::HashSet<String> = words(user).into_iter().collect();
        let matches = |v: &Value| {
            let label = match v {
                Value::String(s) => s.clone(),
                Value::Null => return false,
                other => other.to_string(),
            };
            let w = words(&label);
            !w.is_empty() && w.iter().all(|w| text.contains(w))
        };
        return allowed
            .iter()
            .find(|v| matches(v))
            .or_else(|| allowed.iter().find(|v| !v.is_null()))
            .or_else(|| allowed.first())
            .cloned()
            .unwrap_or(Value::Null);
    }
    if let Some(choices) = schema["anyOf"].as_array() {
        let choice = choices
            .iter()
            .find(|c| c["type"] != "null")
            .or_else(|| choices.first());
        return choice.map_or(Value::Null, |c| fill(c, user));
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_owned(),
        _ if schema["properties"].is_object() => "object".to_owned(),
        _ => "string".to_owned(),
    };
    match kind.as_str() {
        "object" => {
            let mut out = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    out.insert(name.clone(), fill(property, user));
                }
            }
            Value::Object(out)
        }
        "array" => Value::Array(vec![fill(&schema["items"], user)]),
        "integer" => json!(first_number(user).map_or(1, |n| n.trunc() as i64)),
        "number" => json!(first_number(user).unwrap_or(1.0)),
        "boolean" => Value::Bool(false),
        "null" => Value::Null,
        _ if schema["format"] == "date" => {
            Value::String(first_date(user).unwrap_or_else(|| "2025-01-01".into()))
        }
        _ => Value::String(says(user)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_fill_is_driven_by_the_user_text() {
        let schema = json!({
            "type": "object",
            "properties": {
                "issue": {"type": "string", "enum": ["general", "charged twice", "delivery"]},
                "nothing": {"type": ["string", "null"], "enum": [null, "zebra"]},
                "note": {"type": "string"},
                "due": {"type": "string", "format": "date"},
                "amount": {"type": ["number", "null"]},
                "items": {"type": "array", "items": {"type": "string"}},
                "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            }
        });
        let v = fill(
            &schema,
            "I was CHARGED twice, 12.50 EUR on 2026-03-04 for the delivery",
        );
        assert_eq!(v["issue"], "charged twice");
        assert_eq!(v["nothing"], "zebra", "no match: the first non-null value");
        assert_eq!(
            v["note"],
            "Customer says: I was CHARGED twice, 12.50 EUR on 2026-03-04 for the delivery"
        );
        assert_eq!(v["due"], "2026-03-04");
        assert_eq!(v["amount"], 12.5);
        assert_eq!(
            v["items"],
            json!(["Customer says: I was CHARGED twice, 12.50 EUR on 2026-03-04 for the delivery"])
        );
        assert_eq!(v["maybe"], 12);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 7);
    }
}
