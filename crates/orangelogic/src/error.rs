//! The crate's error type and its [`Classify`] implementation.

use std::time::Duration;

use chatport_core::{Classify, ErrorClass};
use serde_json::Value;

/// Everything that can go wrong when talking to OrangeDAM.
///
/// Failures are split by where the service said so (see `shared/api/opentext-orangelogic.md`
/// §2.3):
///
/// * [`Error::Api`] — the **body** says the call failed although the HTTP status may be 200: the
///   legacy `/API/...` envelope's `APIResponse.Code` is not `SUCCESS`, or a DataTable answer carries
///   `Response.ErrorList.ErrorDetails` or a `Response.RecordsAffected.Result.Code` other than
///   `SUCCESS`;
/// * [`Error::Http`] — a non-2xx status (401 not authenticated, 403 SSL mismatch or URL too long,
///   404 asset not found, 500 server error, 503 server not accepting API calls), with whatever
///   code and message a JSON body carried;
/// * [`Error::UnexpectedBody`] — a status or body the client cannot read as JSON.
///
/// The `Display` text never contains secrets, tokens, or the vendor's free-text message (which may
/// echo submitted values); read [`Error::Api::message`] when you need it.
///
/// Classification ([`Classify`]): 401 → [`ErrorClass::Auth`]; 403, 404 and other 4xx →
/// [`ErrorClass::Permanent`]; 429 and **503** ("server not accepting API calls") →
/// [`ErrorClass::Throttled`] with the `Retry-After` hint if any; 501 → Permanent; other 5xx →
/// [`ErrorClass::Server`]; transport failures and timeouts → [`ErrorClass::Transient`]. An
/// [`Error::Api`] code is classified by its text, because OrangeDAM publishes no list of codes
/// (inferred): a code mentioning authentication, login, session or token → Auth; busy,
/// unavailable, timeout, throttle or limit → Throttled; anything else → Permanent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The response body reported a failure (possibly with HTTP 200).
    #[error("OrangeDAM API error {code} (HTTP {status})")]
    Api {
        /// HTTP status code (often 200).
        status: u16,
        /// The vendor code, e.g. `APIResponse.Code` or an `ErrorDetails` code (`"ERROR"` when the
        /// body gave none).
        code: String,
        /// The vendor's message, if any. Free text: not part of `Display`.
        message: Option<String>,
        /// The whole decoded body, for diagnosis.
        body: Value,
    },
    /// A non-2xx HTTP status.
    #[error("OrangeDAM returned HTTP {status}{}", fmt_code(code.as_deref()))]
    Http {
        /// HTTP status code.
        status: u16,
        /// A code found in the JSON body (`Code`, `code`, `error`), if any.
        code: Option<String>,
        /// A message found in the JSON body, if any. Free text: not part of `Display`.
        message: Option<String>,
        /// The `Retry-After` header, when the response carried one (seconds or HTTP date).
        retry_after: Option<Duration>,
    },
    /// A non-2xx status with a body that is not a JSON object (HTML, text, empty), or a 2xx body
    /// that is not JSON although `format=json` was asked for.
    #[error("OrangeDAM returned HTTP {status} with a non-JSON body")]
    UnexpectedBody {
        /// HTTP status code.
        status: u16,
        /// The first 256 characters of the body (lossy UTF-8). Not part of `Display`.
        snippet: String,
        /// The `Retry-After` header, when the response carried one.
        retry_after: Option<Duration>,
    },
    /// The access token could not be obtained; the inner error says why.
    #[error("OrangeDAM authentication failed: {0}")]
    Token(#[source] Box<Error>),
    /// The request failed below HTTP (DNS, connect, TLS, connection reset, body read).
    #[error("transport error talking to OrangeDAM (request possibly sent: {sent})")]
    Transport {
        /// The underlying client error.
        #[source]
        source: reqwest::Error,
        /// `false` when the request certainly did not reach the server (connect failure).
        sent: bool,
    },
    /// The request did not complete within the configured timeout. It may have been applied.
    #[error("request to OrangeDAM timed out")]
    Timeout,
    /// The client was configured wrongly (see [`crate::ClientBuilder::build`]).
    #[error("invalid OrangeDAM client configuration: {0}")]
    Config(String),
    /// A feature whose endpoint is not public was used without configuring it (for example the
    /// chunked-upload transaction path or the public share link path). The text names the
    /// missing setting.
    #[error("OrangeDAM feature not configured: {0}")]
    NotConfigured(&'static str),
    /// A request argument is unusable (an empty identifier, a keyword containing `|`, a zero
    /// expiry, an upload source shorter than its declared length, ...).
    #[error("invalid OrangeDAM request: {0}")]
    InvalidInput(String),
    /// Reading the upload source failed.
    #[error("could not read the upload source")]
    Io(#[source] std::io::Error),
    /// A success response whose body could not be decoded into the expected shape.
    #[error("could not decode the OrangeDAM {what} response (HTTP {status})")]
    Decode {
        /// HTTP status code of the response.
        status: u16,
        /// What was being decoded, e.g. `"search"`, `"token"`.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
}

fn fmt_code(code: Option<&str>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

impl Error {
    /// The error an error answer stands for, as the client classifies it: `status` (e.g. 400,
    /// 429, 503), the answer's headers (`Retry-After` is read) and its body (the vendor's error
    /// shapes, see [`Error`]; anything else becomes a snippet-only variant). For answers received
    /// outside the client (a proxy, a recorded exchange) and for fuzzing the error-body parser.
    /// Never panics, whatever the body.
    ///
    /// Follows the OrangeDAM error answers (`shared/api/opentext-orangelogic.md` §2).
    pub fn from_response(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Self {
        crate::http::error_from_status(status, headers, body)
    }

    /// The HTTP status of the failed response, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. }
            | Error::Http { status, .. }
            | Error::UnexpectedBody { status, .. }
            | Error::Decode { status, .. } => Some(*status),
            Error::Token(inner) => inner.status(),
            _ => None,
        }
    }

    /// The vendor error code, for [`Error::Api`] and [`Error::Http`] (and a token error wrapping
    /// one).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            Error::Http { code, .. } => code.as_deref(),
            Error::Token(inner) => inner.code(),
            _ => None,
        }
    }

    /// Whether the failed request may have been applied by the server (a timeout or a transport
    /// failure after sending). An upload that fails this way must be looked up before it is
    /// repeated.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Error::Timeout | Error::Transport { sent: true, .. })
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Error::Timeout
        } else if e.is_builder() {
            Error::Config(format!("could not build the request: {e}"))
        } else {
            let sent = !e.is_connect();
            Error::Transport { source: e, sent }
        }
    }
}

/// The class of an API code (body-level error), by its text. Inferred: no code list is public.
pub(crate) fn code_class(code: &str) -> ErrorClass {
    let lower = code.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["auth", "login", "session", "token"]) {
        ErrorClass::Auth
    } else if lower == "incomplete" {
        // A chunked upload's "Complete" answered `uploadStatus: Incomplete`: uploading again works.
        ErrorClass::Transient
    } else if has(&[
        "busy",
        "unavailable",
        "timeout",
        "throttl",
        "limit",
        "notaccepting",
    ]) {
        ErrorClass::Throttled { retry_after: None }
    } else {
        ErrorClass::Permanent
    }
}

fn http_class(status: u16, retry_after: Option<Duration>) -> ErrorClass {
    match status {
        401 => ErrorClass::Auth,
        // 403: SSL mismatch or URL too long, per the vendor's status list; no refresh fixes it.
        403 => ErrorClass::Permanent,
        // 503: "server not accepting API calls" — come back later.
        503 => ErrorClass::Throttled { retry_after },
        s => ErrorClass::from_http_status(s, retry_after),
    }
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Api { code, .. } => code_class(code),
            Error::Http {
                status,
                retry_after,
                ..
            }
            | Error::UnexpectedBody {
                status,
                retry_after,
                ..
            } => http_class(*status, *retry_after),
            Error::Token(inner) => match inner.class() {
                ErrorClass::Permanent if matches!(inner.status(), Some(400 | 401 | 403)) => {
                    ErrorClass::Auth
                }
                ErrorClass::Permanent if matches!(**inner, Error::Api { .. }) => ErrorClass::Auth,
                class => class,
            },
            Error::Transport { .. } | Error::Timeout => ErrorClass::Transient,
            Error::Io(_) => ErrorClass::Transient,
            Error::Config(_)
            | Error::NotConfigured(_)
            | Error::InvalidInput(_)
            | Error::Decode { .. } => ErrorClass::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, retry_after: Option<Duration>) -> Error {
        Error::Http {
            status,
            code: None,
            message: None,
            retry_after,
        }
    }

    fn api(code: &str) -> Error {
        Error::Api {
            status: 200,
            code: code.into(),
            message: Some("secret echo".into()),
            body: Value::Null,
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(http(401, None).class(), ErrorClass::Auth);
        assert_eq!(http(403, None).class(), ErrorClass::Permanent);
        assert_eq!(http(404, None).class(), ErrorClass::Permanent);
        assert_eq!(http(500, None).class(), ErrorClass::Server);
        assert_eq!(http(501, None).class(), ErrorClass::Permanent);
        assert_eq!(
            http(503, None).class(),
            ErrorClass::Throttled { retry_after: None }
        );
        let ra = Some(Duration::from_secs(4));
        assert_eq!(http(503, ra).retry_after(), ra);
        assert_eq!(http(429, ra).retry_after(), ra);
        assert!(http(503, None).is_retryable());
        assert_eq!(Error::Timeout.class(), ErrorClass::Transient);
        assert!(Error::Timeout.is_ambiguous());
        assert_eq!(Error::NotConfigured("x").class(), ErrorClass::Permanent);
    }

    #[test]
    fn api_codes_by_text() {
        assert_eq!(api("NOT_AUTHENTICATED").class(), ErrorClass::Auth);
        assert_eq!(api("InvalidToken").class(), ErrorClass::Auth);
        assert_eq!(
            api("SERVER_BUSY").class(),
            ErrorClass::Throttled { retry_after: None }
        );
        assert_eq!(api("ERROR").class(), ErrorClass::Permanent);
        assert_eq!(api("NOT_FOUND").class(), ErrorClass::Permanent);
        assert_eq!(api("ERROR").status(), Some(200));
        assert_eq!(api("ERROR").code(), Some("ERROR"));
    }

    #[test]
    fn display_leaves_out_free_text() {
        let text = api("ERROR").to_string();
        assert_eq!(text, "OrangeDAM API error ERROR (HTTP 200)");
        assert!(!text.contains("secret"));
        let e = Error::Http {
            status: 503,
            code: Some("NotAccepting".into()),
            message: Some("secret".into()),
            retry_after: None,
        };
        assert_eq!(e.to_string(), "OrangeDAM returned HTTP 503 (NotAccepting)");
    }

    #[test]
    fn token_refusals_are_auth() {
        let refused = Error::Token(Box::new(http(400, None)));
        assert_eq!(refused.class(), ErrorClass::Auth);
        let body = Error::Token(Box::new(api("ERROR")));
        assert_eq!(body.class(), ErrorClass::Auth);
        let down = Error::Token(Box::new(http(500, None)));
        assert_eq!(down.class(), ErrorClass::Server);
    }
}
