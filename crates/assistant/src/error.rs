//! The crate's one error enum ([`Error`]).

use std::time::Duration;

use chatport_core::{Classify, ErrorClass};

/// Errors of the assistant: building the client, loading prompts, and calling the model.
///
/// The model-backed implementations never return it: they fall back to the rules and count the
/// outcome (see the `llm` module). It is returned by [`Assistant::builder`]'s `build`,
/// [`Assistant::probe`] and [`Prompts::load`](crate::llm::Prompts::load).
///
/// No variant carries the API key, a phone number, message text or the model's answer.
///
/// [`Assistant::builder`]: crate::llm::Assistant::builder
/// [`Assistant::probe`]: crate::llm::Assistant::probe
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting cannot be used (a base URL that is not an absolute http(s) URL, a key that is not
    /// a valid header value, an HTTP client that cannot be built).
    #[error("invalid assistant configuration: {0}")]
    Config(String),
    /// A prompt file exists but cannot be read.
    #[error("cannot read prompt file {path}: {source}")]
    Prompt {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The endpoint answered with an HTTP error status. `code` is the OpenAI error `code` or
    /// `type` when the body carried one (`rate_limit_exceeded`, `invalid_api_key`, ...).
    #[error("the assistant endpoint answered HTTP {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        /// The HTTP status.
        status: u16,
        /// The OpenAI error code or type, if any.
        code: Option<String>,
        /// The `Retry-After` of a 429 or 503.
        retry_after: Option<Duration>,
    },
    /// The request timed out (the builder's `timeout`, per attempt).
    #[error("the assistant endpoint did not answer in time")]
    Timeout,
    /// The endpoint could not be reached (connection refused, reset, TLS failure).
    #[error("cannot reach the assistant endpoint: {0}")]
    Transport(String),
    /// The answer is not a Chat Completions answer (not JSON, no `choices`, no content).
    #[error("the assistant endpoint's answer is not a chat completion: {0}")]
    Malformed(String),
    /// The model refused to answer (`message.refusal` set).
    #[error("the model refused to answer the {task} request")]
    Refusal {
        /// The task: `classify`, `summary`, `fields`, `extract` or `probe`.
        task: &'static str,
    },
    /// The model's content does not match the requested JSON schema.
    #[error("the model's {task} answer does not match the schema: {detail}")]
    OffSchema {
        /// The task.
        task: &'static str,
        /// What did not match (a field name or a position, never a value).
        detail: String,
    },
}

impl Error {
    /// The outcome label of this error in `chatport_assistant_calls_total`: `timeout`,
    /// `refused`, `off_schema` or `error`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Error::Timeout => "timeout",
            Error::Refusal { .. } => "refused",
            Error::OffSchema { .. } => "off_schema",
            _ => "error",
        }
    }
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Status {
                status: 429,
                retry_after,
                ..
            } => ErrorClass::Throttled {
                retry_after: *retry_after,
            },
            Error::Status {
                status: 503,
                retry_after: Some(retry_after),
                ..
            } => ErrorClass::Throttled {
                retry_after: Some(*retry_after),
            },
            Error::Status { status: 408, .. } => ErrorClass::Transient,
            Error::Status {
                status: 401 | 403, ..
            } => ErrorClass::Auth,
            Error::Status { status, .. } if *status >= 500 && *status != 501 => ErrorClass::Server,
            Error::Timeout | Error::Transport(_) => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }
}

#[cfg(feature = "llm")]
impl chatport_http::RetryableError for Error {
    fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_outcomes() {
        let throttled = Error::Status {
            status: 429,
            code: Some("rate_limit_exceeded".into()),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(
            throttled.to_string(),
            "the assistant endpoint answered HTTP 429 (rate_limit_exceeded)"
        );
        assert_eq!(throttled.outcome(), "error");
        let server = Error::Status {
            status: 500,
            code: None,
            retry_after: None,
        };
        assert_eq!(server.class(), ErrorClass::Server);
        assert_eq!(Error::Timeout.class(), ErrorClass::Transient);
        assert_eq!(Error::Timeout.outcome(), "timeout");
        assert_eq!(Error::Refusal { task: "summary" }.outcome(), "refused");
        assert_eq!(
            Error::Refusal { task: "summary" }.class(),
            ErrorClass::Permanent
        );
    }
}
