//! The crate's error type and its [`Classify`] implementation.

use std::time::Duration;

use chatport_core::{Classify, ErrorClass};

/// Everything that can go wrong when talking to Creatio (OData 4, `AuthService.svc`, the Identity
/// Service token endpoint, `FileApiService`).
///
/// HTTP failures are split by the body Creatio returned (`shared/api/creatio.md` §2.1, §5):
///
/// * [`Error::OData`] — a JSON error body in the Microsoft OData shape
///   `{"error":{"code","message","innererror":{"message","type","internalexception":{…}}}}`
///   (not documented by Creatio; observed in public clients), or OAuth's
///   `{"error","error_description"}` from the token endpoint;
/// * [`Error::UnexpectedBody`] — anything else (HTML, plain text, an empty body).
///
/// `Display` never contains secrets, cookies or tokens, and deliberately leaves out the vendor's
/// free text (`message`), because a validation message may echo a submitted value (which can be a
/// customer's message text). Read the fields when you need them.
///
/// Classification ([`Classify`]): 401 and an expired session that survived one re-login →
/// [`ErrorClass::Auth`]; a login refused with HTTP 200 and `Code != 0` → [`ErrorClass::Auth`];
/// 403 (after the one re-login and replay; a permission denial or a persistent CSRF failure) →
/// [`ErrorClass::Permanent`]; 408, transport failures and timeouts → [`ErrorClass::Transient`];
/// 429 (and 503 with `Retry-After`) → [`ErrorClass::Throttled`]; a 500 whose body names a duplicate
/// key, a `SecurityException` or an `ItemNotFoundException` (Creatio reports validation and
/// permission failures as 500) → [`ErrorClass::Permanent`]; other 5xx except 501 →
/// [`ErrorClass::Server`]; every other 4xx → [`ErrorClass::Permanent`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Creatio (or the Identity Service) answered an error status with a JSON error body.
    #[error("Creatio error: HTTP {status}{}", fmt_code(code.as_deref(), inner_type.as_deref()))]
    OData {
        /// HTTP status code.
        status: u16,
        /// `error.code` (Creatio usually sends `""`, kept as `None` then), or OAuth `error`
        /// (e.g. `"invalid_client"`).
        code: Option<String>,
        /// `error.message`, else `innererror.internalexception.message`, else
        /// `innererror.message`, else OAuth `error_description`. Vendor free text: may echo
        /// submitted values, so it is not part of `Display`.
        message: Option<String>,
        /// `innererror.type` or `innererror.internalexception.type`, e.g.
        /// `"Terrasoft.Common.ItemNotFoundException"`.
        inner_type: Option<String>,
        /// The `Retry-After` header, when the response carried one.
        retry_after: Option<Duration>,
    },
    /// An error status with a body that is not a JSON error object (HTML, text, empty).
    #[error("Creatio returned HTTP {status} with an unexpected body")]
    UnexpectedBody {
        /// HTTP status code.
        status: u16,
        /// The first 256 characters of the body (lossy UTF-8). Not part of `Display`.
        snippet: String,
        /// The `Retry-After` header, when the response carried one.
        retry_after: Option<Duration>,
    },
    /// Forms login answered HTTP 200 but refused the credentials (`{"Code":1,"Message":…}` in the
    /// body; `shared/api/creatio.md` §1.1).
    #[error("Creatio login refused (Code {code})")]
    LoginRefused {
        /// The body's `Code` (0 is success; 1 is the documented failure).
        code: i64,
        /// The body's `Message` (or `Exception.Message`), e.g. "Invalid username or password".
        /// Not part of `Display`.
        message: Option<String>,
    },
    /// The forms login request itself failed (HTTP error, transport, undecodable body); the inner
    /// error says how.
    #[error("Creatio login request failed: {0}")]
    Login(#[source] Box<Error>),
    /// The OAuth 2.0 token request to the Identity Service failed; the inner error says how.
    #[error("Creatio Identity Service token request failed: {0}")]
    Token(#[source] Box<Error>),
    /// The session still looked expired after one re-login and replay (a redirect to the login
    /// page, or an HTML page where JSON was expected).
    #[error("Creatio session expired again after re-login ({signal})")]
    SessionExpired {
        /// What showed the expiry: `"redirect to login page"` or `"HTML page instead of JSON"`.
        signal: &'static str,
    },
    /// The request failed below HTTP (DNS, connect, TLS, connection reset, body read).
    #[error("transport error talking to Creatio (request possibly sent: {sent})")]
    Transport {
        /// The underlying client error.
        #[source]
        source: reqwest::Error,
        /// `false` when the request certainly did not reach the server (connect failure).
        sent: bool,
    },
    /// The request did not complete within the configured timeout. It may have been applied.
    #[error("request to Creatio timed out")]
    Timeout,
    /// Reading an upload source failed, or it ended before (or went past) the announced length.
    #[error("local I/O error while reading upload content")]
    Io(#[source] std::io::Error),
    /// The client was configured wrongly, or a request was built wrongly (an invalid entity set
    /// name, a `$batch` of more than 100 operations).
    #[error("invalid Creatio client configuration or request: {0}")]
    Config(String),
    /// A success response whose body could not be decoded into the expected shape.
    #[error("could not decode the Creatio {what} response (HTTP {status})")]
    Decode {
        /// HTTP status code of the (successful) response.
        status: u16,
        /// What was being decoded, e.g. `"entity"`, `"token"`, `"batch"`.
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The caller's [`OpenCases`](crate::source::OpenCases) provider of an
    /// [`ActivitySource`](crate::source::ActivitySource) failed (e.g. its store); classified as the
    /// provider classified it.
    #[error("the open-case provider failed")]
    Provider {
        /// The provider's classification of its error.
        class: ErrorClass,
        /// The provider's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn fmt_code(code: Option<&str>, inner_type: Option<&str>) -> String {
    match (code, inner_type) {
        (Some(c), Some(t)) => format!(" ({c}; {t})"),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(t)) => format!(" ({t})"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// The error an error answer stands for, as the client classifies it: `status` (e.g. 400,
    /// 429, 503), the answer's headers (`Retry-After` is read) and its body (the vendor's error
    /// shapes, see [`Error`]; anything else becomes a snippet-only variant). For answers received
    /// outside the client (a proxy, a recorded exchange) and for fuzzing the error-body parser.
    /// Never panics, whatever the body.
    ///
    /// Follows the OData 4 error shape of Creatio (`shared/api/creatio.md`).
    pub fn from_response(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Self {
        crate::http::error_from_body(status, headers, body)
    }

    /// The HTTP status of the failed response, if there was one (for [`Error::Login`] and
    /// [`Error::Token`], the status of the authentication request).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::OData { status, .. }
            | Error::UnexpectedBody { status, .. }
            | Error::Decode { status, .. } => Some(*status),
            Error::LoginRefused { .. } => Some(200),
            Error::Login(inner) | Error::Token(inner) => inner.status(),
            Error::SessionExpired { .. }
            | Error::Transport { .. }
            | Error::Timeout
            | Error::Io(_)
            | Error::Config(_)
            | Error::Provider { .. } => None,
        }
    }

    /// Whether the failed request may have been applied by the server (a timeout or a transport
    /// failure after sending). A create that fails this way must be looked up before it is
    /// repeated ([`crate::Client::create_with_key`] does this).
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Error::Timeout | Error::Transport { sent: true, .. })
    }

    /// Whether this is Creatio refusing an insert because a record with that primary key exists:
    /// HTTP 409, or an error whose text names a duplicate key (SQL Server: "Violation of PRIMARY
    /// KEY constraint … Cannot insert duplicate key"; PostgreSQL: "duplicate key value violates
    /// unique constraint"). The exact Creatio answer is not documented (inferred from the
    /// databases Creatio runs on).
    pub fn is_duplicate_key(&self) -> bool {
        match self {
            Error::OData {
                status,
                message,
                inner_type,
                ..
            } => {
                *status == 409
                    || [message.as_deref(), inner_type.as_deref()]
                        .into_iter()
                        .flatten()
                        .any(mentions_duplicate)
            }
            Error::UnexpectedBody {
                status, snippet, ..
            } => *status == 409 || mentions_duplicate(snippet),
            _ => false,
        }
    }

    /// Whether this is an HTTP 404 (a deleted or never-created record).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::OData { status: 404, .. } | Error::UnexpectedBody { status: 404, .. }
        )
    }

    /// The server's `Retry-After` hint, when the response carried one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::OData { retry_after, .. } | Error::UnexpectedBody { retry_after, .. } => {
                *retry_after
            }
            Error::Login(inner) | Error::Token(inner) => inner.retry_after(),
            _ => None,
        }
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

fn mentions_duplicate(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("duplicate key")
        || lower.contains("violation of primary key")
        || lower.contains("unique constraint")
        || lower.contains("duplicateexception")
}

fn permanent_500(message: Option<&str>, inner_type: Option<&str>) -> bool {
    [message, inner_type].into_iter().flatten().any(|t| {
        let lower = t.to_ascii_lowercase();
        mentions_duplicate(t)
            || lower.contains("securityexception")
            || lower.contains("itemnotfoundexception")
            || lower.contains("does not have permissions")
    })
}

fn http_class(status: u16, retry_after: Option<Duration>) -> ErrorClass {
    match status {
        401 => ErrorClass::Auth,
        // A 403 that survived one re-login: a real permission denial or a CSRF setup problem.
        403 => ErrorClass::Permanent,
        s => ErrorClass::from_http_status(s, retry_after),
    }
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::OData {
                status,
                message,
                inner_type,
                retry_after,
                ..
            } => {
                if *status == 500 && permanent_500(message.as_deref(), inner_type.as_deref()) {
                    ErrorClass::Permanent
                } else {
                    http_class(*status, *retry_after)
                }
            }
            Error::UnexpectedBody {
                status,
                retry_after,
                ..
            } => http_class(*status, *retry_after),
            Error::LoginRefused { .. } | Error::SessionExpired { .. } => ErrorClass::Auth,
            Error::Login(inner) | Error::Token(inner) => match inner.class() {
                // The authentication endpoint refusing the credentials (OAuth answers 400
                // invalid_client, or 401/403) is an authentication problem, not a bad request.
                ErrorClass::Permanent if matches!(inner.status(), Some(400 | 401 | 403)) => {
                    ErrorClass::Auth
                }
                class => class,
            },
            Error::Transport { .. } | Error::Timeout | Error::Io(_) => ErrorClass::Transient,
            Error::Config(_) | Error::Decode { .. } => ErrorClass::Permanent,
            Error::Provider { class, .. } => *class,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn odata(status: u16, message: Option<&str>, inner_type: Option<&str>) -> Error {
        Error::OData {
            status,
            code: None,
            message: message.map(str::to_owned),
            inner_type: inner_type.map(str::to_owned),
            retry_after: None,
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(odata(401, None, None).class(), ErrorClass::Auth);
        assert_eq!(odata(403, None, None).class(), ErrorClass::Permanent);
        assert_eq!(odata(400, None, None).class(), ErrorClass::Permanent);
        assert_eq!(odata(404, None, None).class(), ErrorClass::Permanent);
        assert_eq!(odata(408, None, None).class(), ErrorClass::Transient);
        assert_eq!(odata(500, None, None).class(), ErrorClass::Server);
        assert_eq!(odata(502, None, None).class(), ErrorClass::Server);
        assert_eq!(odata(501, None, None).class(), ErrorClass::Permanent);
        assert_eq!(
            odata(429, None, None).class(),
            ErrorClass::Throttled { retry_after: None }
        );
        assert_eq!(Error::Timeout.class(), ErrorClass::Transient);
        assert_eq!(
            Error::LoginRefused {
                code: 1,
                message: None
            }
            .class(),
            ErrorClass::Auth
        );
        assert_eq!(
            Error::SessionExpired { signal: "x" }.class(),
            ErrorClass::Auth
        );
    }

    #[test]
    fn creatio_500_validation_failures_are_permanent() {
        let dup = odata(
            500,
            Some(
                "Violation of PRIMARY KEY constraint 'PKCase'. Cannot insert duplicate key in object 'dbo.Case'.",
            ),
            None,
        );
        assert!(dup.is_duplicate_key());
        assert_eq!(dup.class(), ErrorClass::Permanent);
        let sec = odata(500, Some("x"), Some("System.Security.SecurityException"));
        assert_eq!(sec.class(), ErrorClass::Permanent);
        assert!(!sec.is_duplicate_key());
        assert!(odata(409, None, None).is_duplicate_key());
    }

    #[test]
    fn token_and_login_wrapping() {
        let refused = Error::Token(Box::new(Error::OData {
            status: 400,
            code: Some("invalid_client".into()),
            message: None,
            inner_type: None,
            retry_after: None,
        }));
        assert_eq!(refused.class(), ErrorClass::Auth);
        assert_eq!(refused.status(), Some(400));
        assert_eq!(
            Error::Login(Box::new(odata(503, None, None))).class(),
            ErrorClass::Server
        );
        assert_eq!(
            Error::Login(Box::new(Error::Timeout)).class(),
            ErrorClass::Transient
        );
    }

    #[test]
    fn display_leaves_out_vendor_free_text() {
        let e = odata(
            500,
            Some("value 'my secret complaint' is invalid"),
            Some("Terrasoft.Common.ItemNotFoundException"),
        );
        let text = e.to_string();
        assert!(text.contains("500"));
        assert!(text.contains("ItemNotFoundException"));
        assert!(!text.contains("secret complaint"));
        let l = Error::LoginRefused {
            code: 1,
            message: Some("Invalid username or password for user bob".into()),
        };
        assert!(!l.to_string().contains("bob"));
        assert!(Error::Timeout.is_ambiguous());
        assert!(!e.is_ambiguous());
    }
}
