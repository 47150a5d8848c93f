//! The crate's error type and its [`Classify`] implementation.

use std::time::Duration;

use chatport_core::{Classify, ErrorClass};
use serde_json::Value;

/// Everything that can go wrong when talking to the OpenText CMS / CSS or its token endpoint.
///
/// HTTP failures are split by the **body shape** the service returned (see
/// `shared/api/opentext-orangelogic.md` §1.2 and §1.3):
///
/// * [`Error::Gateway`] — the API gateway (Apigee) answered
///   `{"fault":{"faultstring":"Invalid ApiKey","detail":{"errorcode":"oauth.v2.InvalidApiKey"}}}`;
/// * [`Error::Service`] — the CMS itself answered a JSON body with `exception` / `message` /
///   `details` (or, from the token endpoint, OAuth's `error` / `error_description`);
/// * [`Error::UnexpectedBody`] — anything else (HTML from a proxy, plain text, an empty body).
///
/// The `Display` text never contains secrets, and deliberately leaves out the vendor's free text
/// (`message`, `details`, `snippet`), because a validation message may echo a submitted value
/// (which can be a customer's message text). Read those fields when you need them.
///
/// How errors are classified (the [`Classify`] impl): 401 (after the client's one token refresh)
/// → [`ErrorClass::Auth`]; 408, transport failures and timeouts → [`ErrorClass::Transient`]; 429
/// → [`ErrorClass::Throttled`] with the `Retry-After` hint when one was sent (the public material
/// says none is); 503 with `Retry-After` → Throttled; 501 → Permanent; other 5xx →
/// [`ErrorClass::Server`]; every other 4xx (including 403, which the CMS uses for ACL denials) →
/// [`ErrorClass::Permanent`]. Gateway error codes refine this (inferred from Apigee's standard
/// codes, not from OpenText documentation): `…SpikeArrestViolation`, `…QuotaViolation` and other
/// `ratelimit` codes → Throttled; `oauth.v2.InvalidAccessToken`, `…access_token_expired`,
/// `oauth.v2.InvalidApiKey` → Auth. [`Error::Io`] (a local reader or writer failing while content
/// streams) → [`ErrorClass::Transient`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API gateway refused the request (Apigee `fault` body).
    #[error("OpenText API gateway error: HTTP {status}{}", fmt_code(errorcode.as_deref(), faultstring))]
    Gateway {
        /// HTTP status code.
        status: u16,
        /// `fault.faultstring`, e.g. `"Invalid ApiKey"` (empty when absent).
        faultstring: String,
        /// `fault.detail.errorcode`, e.g. `"oauth.v2.InvalidApiKey"`.
        errorcode: Option<String>,
        /// The `Retry-After` header, when the response carried one (seconds or HTTP date).
        retry_after: Option<Duration>,
    },
    /// The CMS service (or the token endpoint) answered a JSON error body.
    ///
    /// The official schema is not public; the fields are the ones the vendor's samples read.
    #[error("OpenText service error: HTTP {status}{}", fmt_exception(exception.as_deref()))]
    Service {
        /// HTTP status code.
        status: u16,
        /// `exception` (service body) or OAuth `error` (token endpoint), e.g. `"invalid_client"`.
        exception: Option<String>,
        /// `message` (service body) or OAuth `error_description`. Vendor free text: may echo
        /// submitted values, so it is not part of `Display`.
        message: Option<String>,
        /// `details` as sent (string, object or array); for a JSON body with none of the known
        /// keys, the whole body.
        details: Option<Value>,
        /// The `Retry-After` header, when the response carried one.
        retry_after: Option<Duration>,
    },
    /// An error status with a body that is not a JSON object (HTML, text, empty).
    #[error("OpenText returned HTTP {status} with a non-JSON body")]
    UnexpectedBody {
        /// HTTP status code.
        status: u16,
        /// The first 256 characters of the body (lossy UTF-8). Not part of `Display`.
        snippet: String,
        /// The `Retry-After` header, when the response carried one.
        retry_after: Option<Duration>,
    },
    /// The access token could not be obtained; the inner error says why (its HTTP shape,
    /// transport failure or decoding problem).
    #[error("OpenText access token request failed: {0}")]
    Token(#[source] Box<Error>),
    /// The request failed below HTTP (DNS, connect, TLS, connection reset, body read).
    #[error("transport error talking to OpenText (request possibly sent: {sent})")]
    Transport {
        /// The underlying client error.
        #[source]
        source: reqwest::Error,
        /// `false` when the request certainly did not reach the server (connect failure), `true`
        /// when it may have been received and applied.
        sent: bool,
    },
    /// The request did not complete within the configured timeout. It may have been applied.
    #[error("request to OpenText timed out")]
    Timeout,
    /// Reading the upload source or writing the download sink failed (local I/O, not HTTP).
    #[error("local I/O error while streaming OpenText content")]
    Io(#[source] std::io::Error),
    /// The client was configured wrongly (see [`crate::ClientBuilder::build`]).
    #[error("invalid OpenText client configuration: {0}")]
    Config(String),
    /// A success response whose body could not be decoded into the expected shape.
    #[error("could not decode the OpenText {what} response (HTTP {status})")]
    Decode {
        /// HTTP status code of the (successful) response.
        status: u16,
        /// What was being decoded, e.g. `"instance"`, `"token"`.
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

fn fmt_code(code: Option<&str>, faultstring: &str) -> String {
    match (code, faultstring.is_empty()) {
        (Some(code), false) => format!(" ({code}): {faultstring}"),
        (Some(code), true) => format!(" ({code})"),
        (None, false) => format!(": {faultstring}"),
        (None, true) => String::new(),
    }
}

fn fmt_exception(exception: Option<&str>) -> String {
    exception.map(|e| format!(" ({e})")).unwrap_or_default()
}

impl Error {
    /// The error an error answer stands for, as the client classifies it: `status` (e.g. 400,
    /// 429, 503), the answer's headers (`Retry-After` is read) and its body (the vendor's error
    /// shapes, see [`Error`]; anything else becomes a snippet-only variant). For answers received
    /// outside the client (a proxy, a recorded exchange) and for fuzzing the error-body parser.
    /// Never panics, whatever the body.
    ///
    /// Follows the error shapes of the CMS and CSS APIs (`shared/api/opentext-orangelogic.md` §1).
    pub fn from_response(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Self {
        crate::http::error_from_body(status, headers, body)
    }

    /// The HTTP status of the failed response, if there was one (for [`Error::Token`], the token
    /// endpoint's status).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Gateway { status, .. }
            | Error::Service { status, .. }
            | Error::UnexpectedBody { status, .. }
            | Error::Decode { status, .. } => Some(*status),
            Error::Token(inner) => inner.status(),
            Error::Transport { .. } | Error::Timeout | Error::Config(_) | Error::Io(_) => None,
        }
    }

    /// Whether the failed request may have been applied by the server (a timeout or a transport
    /// failure after sending). A create that fails this way must be looked up before it is
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

/// The class of an HTTP failure from its status, `Retry-After` and gateway error code.
fn http_class(status: u16, retry_after: Option<Duration>, errorcode: Option<&str>) -> ErrorClass {
    if let Some(code) = errorcode {
        let lower = code.to_ascii_lowercase();
        if lower.contains("spikearrest")
            || lower.contains("quotaviolation")
            || lower.contains("ratelimit")
        {
            return ErrorClass::Throttled { retry_after };
        }
        if lower.contains("invalidaccesstoken")
            || lower.contains("access_token_expired")
            || lower.contains("invalidapikey")
        {
            return ErrorClass::Auth;
        }
    }
    match status {
        401 => ErrorClass::Auth,
        // 403 is an ACL denial in the CMS: no token refresh fixes it.
        403 => ErrorClass::Permanent,
        s => ErrorClass::from_http_status(s, retry_after),
    }
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Gateway {
                status,
                errorcode,
                retry_after,
                ..
            } => http_class(*status, *retry_after, errorcode.as_deref()),
            Error::Service {
                status,
                retry_after,
                ..
            }
            | Error::UnexpectedBody {
                status,
                retry_after,
                ..
            } => http_class(*status, *retry_after, None),
            Error::Token(inner) => match inner.class() {
                // The token endpoint refusing the credentials (OAuth answers 400 invalid_client /
                // invalid_grant, or 401/403) is an authentication problem, not a bad request.
                ErrorClass::Permanent if matches!(inner.status(), Some(400 | 401 | 403)) => {
                    ErrorClass::Auth
                }
                class => class,
            },
            Error::Transport { .. } | Error::Timeout | Error::Io(_) => ErrorClass::Transient,
            Error::Config(_) | Error::Decode { .. } => ErrorClass::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, retry_after: Option<Duration>) -> Error {
        Error::Service {
            status,
            exception: None,
            message: None,
            details: None,
            retry_after,
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(service(401, None).class(), ErrorClass::Auth);
        assert_eq!(service(403, None).class(), ErrorClass::Permanent);
        assert_eq!(service(400, None).class(), ErrorClass::Permanent);
        assert_eq!(service(404, None).class(), ErrorClass::Permanent);
        assert_eq!(service(408, None).class(), ErrorClass::Transient);
        assert_eq!(service(500, None).class(), ErrorClass::Server);
        assert_eq!(service(502, None).class(), ErrorClass::Server);
        assert_eq!(service(501, None).class(), ErrorClass::Permanent);
        let ra = Some(Duration::from_secs(2));
        assert_eq!(
            service(429, ra).class(),
            ErrorClass::Throttled { retry_after: ra }
        );
        assert_eq!(
            service(429, None).class(),
            ErrorClass::Throttled { retry_after: None }
        );
        assert_eq!(service(503, ra).retry_after(), ra);
        assert_eq!(Error::Timeout.class(), ErrorClass::Transient);
        assert_eq!(Error::Config("x".into()).class(), ErrorClass::Permanent);
    }

    #[test]
    fn gateway_codes_refine_status() {
        let gw = |status, code: &str| Error::Gateway {
            status,
            faultstring: "x".into(),
            errorcode: Some(code.into()),
            retry_after: None,
        };
        assert_eq!(
            gw(500, "policies.ratelimit.SpikeArrestViolation").class(),
            ErrorClass::Throttled { retry_after: None }
        );
        assert_eq!(
            gw(403, "policies.ratelimit.QuotaViolation").class(),
            ErrorClass::Throttled { retry_after: None }
        );
        assert_eq!(gw(401, "oauth.v2.InvalidApiKey").class(), ErrorClass::Auth);
        assert_eq!(
            gw(400, "keymanagement.service.access_token_expired").class(),
            ErrorClass::Auth
        );
        assert_eq!(gw(404, "messaging.NotFound").class(), ErrorClass::Permanent);
    }

    #[test]
    fn token_errors_refused_credentials_are_auth() {
        let refused = Error::Token(Box::new(Error::Service {
            status: 400,
            exception: Some("invalid_client".into()),
            message: None,
            details: None,
            retry_after: None,
        }));
        assert_eq!(refused.class(), ErrorClass::Auth);
        assert_eq!(refused.status(), Some(400));
        let down = Error::Token(Box::new(service(503, None)));
        assert_eq!(down.class(), ErrorClass::Server);
        let notfound = Error::Token(Box::new(service(404, None)));
        assert_eq!(notfound.class(), ErrorClass::Permanent);
        assert_eq!(
            Error::Token(Box::new(Error::Timeout)).class(),
            ErrorClass::Transient
        );
    }

    #[test]
    fn display_leaves_out_vendor_free_text() {
        let e = Error::Service {
            status: 400,
            exception: Some("ValidationException".into()),
            message: Some("value 'my secret complaint' is invalid".into()),
            details: Some(Value::String("my secret complaint".into())),
            retry_after: None,
        };
        let text = e.to_string();
        assert!(text.contains("400"));
        assert!(text.contains("ValidationException"));
        assert!(!text.contains("secret complaint"));
        let g = Error::Gateway {
            status: 401,
            faultstring: "Invalid ApiKey".into(),
            errorcode: Some("oauth.v2.InvalidApiKey".into()),
            retry_after: None,
        };
        assert_eq!(
            g.to_string(),
            "OpenText API gateway error: HTTP 401 (oauth.v2.InvalidApiKey): Invalid ApiKey"
        );
        assert!(Error::Timeout.is_ambiguous());
        assert!(!g.is_ambiguous());
    }
}
