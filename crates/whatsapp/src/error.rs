//! The crate's one error type, its Graph API error payload, and how both are classified for retries.
//!
//! Source for codes and retry guidance: Meta, *Error codes*
//! (`developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes`),
//! *Throughput* and *About the platform* (pair rate limit, 4^X back-off).

use std::fmt;
use std::time::Duration;

use chatport_core::{Classify, ErrorClass};

use crate::kind::ErrorKind;

/// Everything that can go wrong in this crate: Graph API refusals, transport failures, local
/// validation, and webhook verification or parsing.
///
/// Every variant is classified through [`Classify`] (retry or not, after how long) and answers
/// [`Error::may_resend`] (is it safe to send the same message again). The `Display` form never contains
/// the access token, the app secret, the verify token, an expected signature, a phone number or
/// message text, so it can go into logs and dead-letter reasons.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Graph API answered with its error document `{"error":{...}}` (boxed to keep `Error`
    /// small; [`Error::api`] borrows it).
    #[error(transparent)]
    Api(Box<ApiError>),

    /// A non-2xx answer whose body is not a Graph error document (an HTML page of a proxy, an empty
    /// 429, a gateway's 502). `snippet` is the start of the body (at most 256 characters, control
    /// characters and long digit runs masked).
    #[error(
        "unexpected HTTP {http_status} answer from the Graph API (not a Graph error document): {snippet:?}"
    )]
    UnexpectedBody {
        /// HTTP status of the answer.
        http_status: u16,
        /// Start of the body, truncated and masked.
        snippet: String,
        /// The `Retry-After` header, when the answer had one (seconds or an HTTP date).
        retry_after: Option<Duration>,
    },

    /// A 2xx answer whose body is not the JSON the endpoint documents. For a send this means Meta very
    /// probably **accepted** the message: never resend it ([`Error::may_resend`] is false).
    #[error("HTTP {http_status} answer from the Graph API with an unreadable body: {reason}")]
    InvalidResponse {
        /// HTTP status of the answer.
        http_status: u16,
        /// What was wrong (a serde message with values masked).
        reason: String,
    },

    /// The HTTP exchange failed. `sent == false` means the request provably never left this process
    /// (connection refused, DNS, TLS handshake); `sent == true` means the body may have reached Meta.
    #[error("transport error; the request {}: {source}", if *sent { "may have reached Meta" } else { "never left" })]
    Transport {
        /// The underlying reqwest error.
        #[source]
        source: reqwest::Error,
        /// Whether the request may have reached Meta.
        sent: bool,
    },

    /// The request timed out. `sent == false` for a connect timeout (nothing left), `true` once the
    /// request was under way: the message may have been accepted.
    #[error("timeout; the request {}", if *sent { "may have reached Meta" } else { "never left" })]
    Timeout {
        /// Whether the request may have reached Meta.
        sent: bool,
    },

    /// Invalid configuration: a blank access token or app secret, a bad base URL or API version.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A value is longer (or a list has more items) than Meta's documented limit. Checked before
    /// sending. `field` names the JSON path (`text.body`), `limit` and `actual` are counts in the
    /// field's unit (characters for text).
    #[error("{field} exceeds its limit of {limit} (got {actual})")]
    Validation {
        /// JSON path of the field, e.g. `text.body`.
        field: &'static str,
        /// Meta's documented limit.
        limit: usize,
        /// What the message has.
        actual: usize,
    },

    /// A value is missing or not acceptable (empty recipient, bad phone number id). Checked before
    /// sending.
    #[error("{field}: {reason}")]
    Invalid {
        /// JSON path or parameter name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A free-form message was refused **locally** because the 24-hour customer service window
    /// with this user is closed (or was never observed open) and no fallback template was
    /// configured: only a template may be sent. [`Error::kind`] maps it to
    /// [`ErrorKind::ReEngagementRequired`], the kind of Meta's 131047, so both are handled alike.
    #[error("the 24-hour customer service window is closed (last inbound: {}); send a template", last_inbound.map_or_else(|| "never seen".to_owned(), |t| t.to_rfc3339()))]
    WindowClosed {
        /// When the user last wrote, if the tracker has seen it.
        last_inbound: Option<chrono::DateTime<chrono::Utc>>,
    },

    /// The message was refused **locally** because it needs the customer's phone number and the
    /// recipient is a business-scoped user id only ([`Recipient::UserId`](crate::Recipient)):
    /// authentication templates (one-time passwords) are not deliverable to BSUIDs, Meta answers
    /// 131062 (Meta: business-scoped-user-ids; support/error-codes). [`Error::kind`] maps it to
    /// [`ErrorKind::BsuidNotSupported`], the kind of Meta's 131062. Send to the phone number
    /// when it is known (the send answer's or a webhook's `wa_id`), or use another channel.
    #[error(
        "{what} needs the customer's phone number, but the recipient is a business-scoped user id only"
    )]
    PhoneNumberRequired {
        /// What needed it, e.g. `an authentication template`.
        what: &'static str,
    },

    /// The message was held back **locally** because another app (Meta Business Agent, an
    /// escalation partner) holds the conversation under Conversation Routing and the
    /// [`MessageSink`](crate::sink::MessageSink)'s policy is
    /// [`WhenHeldElsewhere::Defer`](crate::sink::WhenHeldElsewhere::Defer): sending a service
    /// message would take the conversation over (Meta: webhooks/reference/standby). Classified
    /// `Throttled` with `retry_after`, so the outbox tries again later; nothing was sent and the
    /// idempotency key is free.
    #[error("another app holds the conversation; the message was not sent (retry in {}s)", retry_after.as_secs())]
    HeldElsewhere {
        /// When to try again.
        retry_after: Duration,
    },

    /// The message was held back **locally** by the [`MessageSink`](crate::sink::MessageSink)'s
    /// [`Pacer`](crate::Pacer) ([`MessageSinkBuilder::pacer`](crate::sink::MessageSinkBuilder::pacer)):
    /// sending now would exceed a limit Meta enforces (the number's throughput, the pair rate
    /// limit, the 4^X back-off after a 131056, or a Business Use Case block read from
    /// `X-Business-Use-Case-Usage`). Classified `Throttled` with `retry_after`, so the outbox
    /// tries again after it; nothing was sent and the idempotency key is free.
    #[error("paced: the {limit:?} limit holds the message back (retry in {}ms)", retry_after.as_millis())]
    Paced {
        /// Which limit.
        limit: crate::pacing::PaceLimit,
        /// The shortest wait after which the send may pass.
        retry_after: Duration,
    },

    /// A media file does not fit Meta's per-type table (Meta: business-phone-numbers/media):
    /// its MIME type is not supported for any media kind.
    #[error("unsupported media MIME type {mime_type:?}")]
    UnsupportedMediaType {
        /// The MIME type given or answered.
        mime_type: String,
    },

    /// A media file or download is larger than allowed: the per-type maximum for an upload, or the
    /// caller's `max_bytes` for a download. Sizes in bytes; `actual` is `None` when the download was
    /// cut as soon as it passed the limit.
    #[error("media is larger than {limit} bytes{}", actual.map(|a| format!(" (got {a})")).unwrap_or_default())]
    MediaTooLarge {
        /// The limit, bytes.
        limit: u64,
        /// The size, when known, bytes.
        actual: Option<u64>,
    },

    /// The downloaded bytes do not have the SHA-256 digest Meta announced. The bytes were already
    /// written to the caller's writer: discard them.
    #[error("media SHA-256 mismatch: expected {expected}, got {actual}")]
    MediaHashMismatch {
        /// Expected digest, lower-case hex.
        expected: String,
        /// Digest of what was received, lower-case hex.
        actual: String,
    },

    /// A media URL points at a host that is not on the client's allow-list
    /// ([`ClientBuilder::media_hosts`](crate::ClientBuilder::media_hosts)): the download (and the
    /// bearer token) never went there. Also for URLs that are not `https`/`http`.
    #[error("media URL host {host:?} is not on the allow-list")]
    MediaHostNotAllowed {
        /// The host of the refused URL (empty when it has none).
        host: String,
    },

    /// Reading the upload source or writing the download target failed.
    #[error("media I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The webhook verification GET (`hub.mode`, `hub.verify_token`, `hub.challenge`) was refused.
    #[error("webhook subscription refused: {0}")]
    Subscription(SubscriptionError),

    /// The POST had no `X-Hub-Signature-256` header.
    #[error("X-Hub-Signature-256 header missing")]
    SignatureMissing,

    /// The `X-Hub-Signature-256` header is not `sha256=<64 hex digits>`.
    #[error("X-Hub-Signature-256 header malformed: {0}")]
    SignatureMalformed(MalformedSignature),

    /// The signature is well-formed but matches none of the configured app secrets.
    #[error("X-Hub-Signature-256 does not match the body for any configured app secret")]
    SignatureMismatch,

    /// The webhook body is not the JSON Meta documents (malformed JSON, or the envelope
    /// `object`/`entry[]`/`changes[]` missing or of the wrong type). `line` and `column` are 1-based
    /// positions in the body, as serde_json reports them (column 0 when the error is at the end).
    #[error("malformed webhook body at line {line}, column {column} ({category}): {message}")]
    Parse {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error (0 at the end of input).
        column: usize,
        /// `syntax`, `data`, `eof` or `io`.
        category: &'static str,
        /// serde_json's message with string values and long digit runs masked.
        message: String,
    },

    /// The idempotency ledger or key-value store of a [`MessageSink`](crate::sink::MessageSink)
    /// failed (its own class decides whether to retry).
    #[error(transparent)]
    State(#[from] chatport_core::StateError),
}

/// Why a webhook verification GET was refused. The verify token itself is never part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// `hub.mode` is absent.
    ModeMissing,
    /// `hub.mode` is not `subscribe`.
    WrongMode,
    /// `hub.verify_token` is absent.
    TokenMissing,
    /// `hub.verify_token` does not match the configured token.
    TokenMismatch,
    /// `hub.challenge` is absent or empty.
    ChallengeMissing,
    /// `hub.challenge` is longer than 1024 bytes or contains control characters (it is echoed back).
    ChallengeInvalid,
}

impl fmt::Display for SubscriptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubscriptionError::ModeMissing => "hub.mode missing",
            SubscriptionError::WrongMode => "hub.mode is not \"subscribe\"",
            SubscriptionError::TokenMissing => "hub.verify_token missing",
            SubscriptionError::TokenMismatch => "hub.verify_token does not match",
            SubscriptionError::ChallengeMissing => "hub.challenge missing or empty",
            SubscriptionError::ChallengeInvalid => {
                "hub.challenge too long or contains control characters"
            }
        })
    }
}

/// How an `X-Hub-Signature-256` header was malformed. Never carries the header's or the expected value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedSignature {
    /// The value does not start with `sha256=`.
    NotSha256,
    /// The part after `sha256=` is not hexadecimal.
    BadHex,
    /// The digest is not 32 bytes (64 hex digits).
    WrongLength,
}

impl fmt::Display for MalformedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MalformedSignature::NotSha256 => "does not start with \"sha256=\"",
            MalformedSignature::BadHex => "digest is not hexadecimal",
            MalformedSignature::WrongLength => "digest is not 64 hex digits",
        })
    }
}

/// A Graph API error document, `{"error":{"message","type","code","error_data":{"details"},
/// "fbtrace_id","is_transient",...}}`, with the HTTP status it came with.
///
/// Branch on [`ApiError::code`] (plus `details`), never on the HTTP status or on `error_subcode`,
/// which Graph v16.0+ no longer returns (Meta: support/error-codes).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status of the answer (WhatsApp throttling arrives as 400).
    pub http_status: u16,
    /// `error.code`, e.g. 130429, 131047, 190.
    pub code: i64,
    /// `error.message`, `"(#code) Title"`. Do not branch on it.
    pub message: String,
    /// `error.type`, e.g. `OAuthException`.
    pub error_type: Option<String>,
    /// `error.error_data.details`: Meta's explanation.
    pub details: Option<String>,
    /// `error.error_subcode` (deprecated, absent in v16.0+).
    pub error_subcode: Option<i64>,
    /// `error.fbtrace_id`, for Meta support.
    pub fbtrace_id: Option<String>,
    /// `error.is_transient`, when Graph sent it.
    pub is_transient: Option<bool>,
    /// `error.error_user_title`, when Graph sent it.
    pub error_user_title: Option<String>,
    /// `error.error_user_msg`, when Graph sent it.
    pub error_user_msg: Option<String>,
    /// The `Retry-After` header of the answer, when it had one.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Graph API error {} (HTTP {}",
            self.code, self.http_status
        )?;
        if let Some(t) = &self.error_type {
            write!(f, ", {t}")?;
        }
        write!(f, "): {}", self.message)?;
        if let Some(d) = &self.details {
            write!(f, "; details: {d}")?;
        }
        if let Some(t) = &self.fbtrace_id {
            write!(f, "; fbtrace_id {t}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// `error.code`.
    pub fn code(&self) -> i64 {
        self.code
    }

    /// `error.error_data.details`, Meta's explanation.
    pub fn details(&self) -> Option<&str> {
        self.details.as_deref()
    }

    /// `error.fbtrace_id`.
    pub fn fbtrace_id(&self) -> Option<&str> {
        self.fbtrace_id.as_deref()
    }

    /// The typed kind of [`ApiError::code`] (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_code(self.code)
    }

    /// The retry class of this error, decided by [`ApiError::kind`] first (see
    /// [`ErrorKind::class`]; the answer's `Retry-After` header overrides the per-kind wait), and
    /// for codes this crate does not know by Graph's `is_transient: true` (→ `Server`), else by
    /// the HTTP status ([`ErrorClass::from_http_status`]).
    pub fn class(&self) -> ErrorClass {
        match self.kind().class(self.retry_after) {
            Some(class) => class,
            None if self.is_transient == Some(true) => ErrorClass::Server,
            None => ErrorClass::from_http_status(self.http_status, self.retry_after),
        }
    }

    /// The wait to suggest before the next attempt: the answer's `Retry-After` header when it had
    /// one, else [`ErrorKind::default_retry_after`] (131056: 6 s; 131057: 60 s; 2494100: 180 s
    /// **(inferred)**; 134101: 600 s; 132069: 360 s **(inferred)**).
    pub fn suggested_retry_after(&self) -> Option<Duration> {
        self.retry_after.or(self.kind().default_retry_after())
    }

    /// Meta's back-off for a pair rate limit (131056): "retry after 4^X seconds (starting with X=0 and
    /// increasing X by 1 after each failure)" (Meta: about-the-platform, "Pair rate limits").
    /// `failures` is X; the result is capped at 4^8 s (about 18 hours).
    pub fn pair_rate_backoff(failures: u32) -> Duration {
        Duration::from_secs(4u64.pow(failures.min(8)))
    }

    /// Whether Meta refused this request before acting on it, so that sending the same message again
    /// cannot create a duplicate: [`ErrorKind::may_resend`] (130429, 131056, 131057, 4, 80007, and the
    /// authentication failures 0 and 190).
    pub fn may_resend(&self) -> bool {
        self.kind().may_resend()
    }
}

impl Error {
    /// The typed kind of a Graph error ([`ApiError::kind`]); [`ErrorKind::ReEngagementRequired`]
    /// for the local [`Error::WindowClosed`] (the same kind as Meta's 131047);
    /// [`ErrorKind::BsuidNotSupported`] for the local [`Error::PhoneNumberRequired`] (Meta's
    /// 131062); `None` otherwise.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Api(api) => Some(api.kind()),
            Error::WindowClosed { .. } => Some(ErrorKind::ReEngagementRequired),
            Error::PhoneNumberRequired { .. } => Some(ErrorKind::BsuidNotSupported),
            _ => None,
        }
    }

    /// The Graph API error document, for [`Error::Api`].
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// Whether sending the **same** message again cannot create a duplicate, because the request
    /// provably had no effect at Meta:
    ///
    /// - [`Error::Api`] with a code for which [`ApiError::may_resend`] is true (130429, 131056, 131057,
    ///   4, 80007: refused before acting; 0, 190: token refused);
    /// - HTTP 429 without a Graph error document ([`Error::UnexpectedBody`] with status 429);
    /// - [`Error::Transport`] and [`Error::Timeout`] with `sent == false` (the request never left);
    /// - local refusals that never sent anything: [`Error::Config`], [`Error::Validation`],
    ///   [`Error::Invalid`], [`Error::WindowClosed`], [`Error::PhoneNumberRequired`],
    ///   [`Error::UnsupportedMediaType`], [`Error::MediaHostNotAllowed`], [`Error::Paced`].
    ///
    /// It is **false** after a timeout or a connection reset once the body may have left, after a
    /// 2xx with an unreadable body, and for every other API error: the outcome is unknown or the
    /// message may be on its way, and a duplicate (an OTP, an order confirmation) is worse than a
    /// surfaced error. No idempotency key is documented for `POST /messages`.
    pub fn may_resend(&self) -> bool {
        match self {
            Error::Api(api) => api.may_resend(),
            Error::UnexpectedBody { http_status, .. } => *http_status == 429,
            Error::Transport { sent, .. } | Error::Timeout { sent } => !*sent,
            Error::Config(_)
            | Error::Validation { .. }
            | Error::Invalid { .. }
            | Error::WindowClosed { .. }
            | Error::PhoneNumberRequired { .. }
            | Error::UnsupportedMediaType { .. }
            | Error::MediaHostNotAllowed { .. }
            | Error::Paced { .. } => true,
            _ => false,
        }
    }
}

impl Error {
    /// The error of a non-2xx Graph API answer, as this crate's client maps it: a Graph error
    /// document `{"error":{...}}` → [`Error::Api`] (classified by code, see [`ApiError::class`]),
    /// anything else → [`Error::UnexpectedBody`] (classified by status), with the `Retry-After`
    /// header (seconds or an HTTP date). For callers that make a Graph request of their own (the
    /// CLI's credentials probe) and want the crate's classification.
    pub fn from_answer(
        http_status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Self {
        crate::client::error_from_body(http_status, chatport_http::retry_after(headers), body)
    }
}

impl Classify for Error {
    /// - [`Error::Api`]: by code, see [`ApiError::class`].
    /// - [`Error::UnexpectedBody`]: by HTTP status ([`ErrorClass::from_http_status`]): 429 →
    ///   `Throttled` with its `Retry-After`, 5xx → `Server`, 401/403 → `Auth`.
    /// - [`Error::Transport`], [`Error::Timeout`], [`Error::InvalidResponse`] → `Transient` (ask
    ///   [`Error::may_resend`] before repeating a send).
    /// - [`Error::Io`] (reading the upload source, writing the download target) → `Transient`.
    /// - [`Error::HeldElsewhere`] and [`Error::Paced`] → `Throttled` with their `retry_after`.
    /// - configuration, validation, window, media, signature, subscription and parse errors →
    ///   `Permanent`.
    fn class(&self) -> ErrorClass {
        match self {
            Error::Api(api) => api.class(),
            Error::UnexpectedBody {
                http_status,
                retry_after,
                ..
            } => ErrorClass::from_http_status(*http_status, *retry_after),
            Error::Transport { .. }
            | Error::Timeout { .. }
            | Error::InvalidResponse { .. }
            | Error::Io(_) => ErrorClass::Transient,
            Error::HeldElsewhere { retry_after } | Error::Paced { retry_after, .. } => {
                ErrorClass::Throttled {
                    retry_after: Some(*retry_after),
                }
            }
            Error::Config(_)
            | Error::Validation { .. }
            | Error::Invalid { .. }
            | Error::WindowClosed { .. }
            | Error::PhoneNumberRequired { .. }
            | Error::UnsupportedMediaType { .. }
            | Error::MediaTooLarge { .. }
            | Error::MediaHashMismatch { .. }
            | Error::MediaHostNotAllowed { .. }
            | Error::Subscription(_)
            | Error::SignatureMissing
            | Error::SignatureMalformed(_)
            | Error::SignatureMismatch
            | Error::Parse { .. } => ErrorClass::Permanent,
            Error::State(e) => e.class(),
        }
    }
}

/// Masks what could be personal data in a message built from outside input: the content of every
/// double-quoted string becomes `…`, every run of 5 or more digits becomes `#####`.
pub(crate) fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_quotes = false;
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 5 {
            out.push_str("#####");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if in_quotes {
            if c == '"' {
                out.push_str("…\"");
                in_quotes = false;
            }
            continue;
        }
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out);
        if c == '"' {
            in_quotes = true;
            out.push('"');
        } else if c.is_control() {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    if in_quotes {
        out.push('…');
    }
    out
}

/// The start of an unexpected body for [`Error::UnexpectedBody`]: at most 256 characters, lossy
/// UTF-8, control characters and long digit runs masked (quoted strings are kept: they are the useful
/// part of an HTML or text error page).
pub(crate) fn snippet(body: &[u8]) -> String {
    const MAX: usize = 256;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX * 4)]);
    let mut out = String::new();
    let mut digits = 0usize;
    for (count, c) in text.chars().enumerate() {
        if count >= MAX {
            out.push('…');
            break;
        }
        if c.is_ascii_digit() {
            digits += 1;
            out.push(c);
            if digits == 5 {
                // Mask the run so far and every further digit of it.
                out.truncate(out.len() - 5);
                out.push_str("#####");
            } else if digits > 5 {
                out.pop();
            }
            continue;
        }
        digits = 0;
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(http_status: u16, code: i64) -> ApiError {
        ApiError {
            http_status,
            code,
            message: format!("(#{code}) test"),
            error_type: Some("OAuthException".into()),
            details: None,
            error_subcode: None,
            fbtrace_id: None,
            is_transient: None,
            error_user_title: None,
            error_user_msg: None,
            retry_after: None,
        }
    }

    #[test]
    fn classes_by_code() {
        assert!(matches!(
            api(400, 130429).class(),
            ErrorClass::Throttled { retry_after: None }
        ));
        assert_eq!(
            api(400, 131056).class(),
            ErrorClass::Throttled {
                retry_after: Some(Duration::from_secs(6))
            }
        );
        assert_eq!(
            api(400, 131057).class().retry_after(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(api(400, 131047).class(), ErrorClass::Permanent);
        assert_eq!(api(400, 132001).class(), ErrorClass::Permanent);
        assert_eq!(api(401, 190).class(), ErrorClass::Auth);
        assert_eq!(api(400, 0).class(), ErrorClass::Auth);
        assert_eq!(api(500, 131000).class(), ErrorClass::Server);
        assert_eq!(api(400, 2).class(), ErrorClass::Server);
        // 403 with a permission code is Permanent, not Auth.
        assert_eq!(api(403, 10).class(), ErrorClass::Permanent);
        // Unknown codes fall back to the HTTP status.
        assert_eq!(api(503, 999_999).class(), ErrorClass::Server);
        assert_eq!(api(400, 999_999).class(), ErrorClass::Permanent);
        let mut transient = api(400, 999_999);
        transient.is_transient = Some(true);
        assert_eq!(transient.class(), ErrorClass::Server);
        // The header wins over the per-code default.
        let mut with_header = api(400, 131056);
        with_header.retry_after = Some(Duration::from_secs(30));
        assert_eq!(
            with_header.class().retry_after(),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn may_resend_only_for_refusals() {
        for code in [130429, 131056, 131057, 4, 80007, 190, 0] {
            assert!(Error::Api(Box::new(api(400, code))).may_resend(), "{code}");
        }
        for code in [131000, 1, 2, 131047, 100, 131026] {
            assert!(!Error::Api(Box::new(api(400, code))).may_resend(), "{code}");
        }
        assert!(Error::Timeout { sent: false }.may_resend());
        assert!(!Error::Timeout { sent: true }.may_resend());
        assert!(
            Error::UnexpectedBody {
                http_status: 429,
                snippet: String::new(),
                retry_after: None
            }
            .may_resend()
        );
        assert!(
            !Error::UnexpectedBody {
                http_status: 502,
                snippet: String::new(),
                retry_after: None
            }
            .may_resend()
        );
        assert!(
            !Error::InvalidResponse {
                http_status: 200,
                reason: String::new()
            }
            .may_resend()
        );
    }

    #[test]
    fn pair_rate_backoff_is_4_pow_x() {
        assert_eq!(ApiError::pair_rate_backoff(0), Duration::from_secs(1));
        assert_eq!(ApiError::pair_rate_backoff(1), Duration::from_secs(4));
        assert_eq!(ApiError::pair_rate_backoff(3), Duration::from_secs(64));
        assert_eq!(
            ApiError::pair_rate_backoff(100),
            Duration::from_secs(65_536)
        );
    }

    #[test]
    fn masks_values_and_digits() {
        assert_eq!(
            mask("invalid type: string \"Hello Anna\", expected u64 at 16505551234"),
            "invalid type: string \"…\", expected u64 at #####"
        );
        assert_eq!(mask("missing field `id`"), "missing field `id`");
        assert_eq!(mask("integer `1234`"), "integer `1234`");
        assert_eq!(mask("open \"quote"), "open \"…");
        assert_eq!(
            snippet(b"<html>Bad gateway 16505551234\n</html>"),
            "<html>Bad gateway ##### </html>"
        );
        assert_eq!(snippet("x".repeat(300).as_bytes()).chars().count(), 257);
    }
}
