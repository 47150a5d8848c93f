use std::time::Duration;

/// How an error should be handled by the retry machinery.
///
/// Every connector error implements [`Classify`]. The class is decided from the HTTP status **and**
/// the API's own error codes: WhatsApp throttling arrives as HTTP 400 with code 130429 or 131056,
/// Orange Logic and Creatio can fail with HTTP 200 and an error in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Connection failure or timeout. The request **may** have been applied: only repeat requests
    /// that are safe to repeat (reads, idempotent writes).
    Transient,
    /// The service asked us to slow down (HTTP 429, 503 with Retry-After, API throttling codes).
    /// `retry_after` is the server's hint, when it gave one.
    Throttled {
        /// How long the server asked us to wait.
        retry_after: Option<Duration>,
    },
    /// A server-side failure (5xx other than 501) that is likely to pass.
    Server,
    /// Credentials were refused or expired: refresh them, then retry.
    Auth,
    /// Validation, not found, conflict, policy (e.g. WhatsApp's 24-hour window): retrying the same
    /// request cannot succeed. Goes to the dead-letter queue.
    Permanent,
}

impl ErrorClass {
    /// Whether a later attempt may succeed.
    pub fn is_retryable(self) -> bool {
        !matches!(self, ErrorClass::Permanent)
    }

    /// The server's Retry-After hint, for [`ErrorClass::Throttled`].
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            ErrorClass::Throttled { retry_after } => retry_after,
            _ => None,
        }
    }

    /// A short stable name: `transient`, `throttled`, `server`, `auth`, `permanent` (used as a
    /// metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Throttled { .. } => "throttled",
            ErrorClass::Server => "server",
            ErrorClass::Auth => "auth",
            ErrorClass::Permanent => "permanent",
        }
    }

    /// The class of a plain HTTP status when the body says nothing more specific: 401/403 → Auth,
    /// 408 → Transient, 429 → Throttled, 500–599 except 501 → Server (503 → Throttled when a
    /// Retry-After was given), everything else → Permanent.
    pub fn from_http_status(status: u16, retry_after: Option<Duration>) -> Self {
        match status {
            401 | 403 => ErrorClass::Auth,
            408 => ErrorClass::Transient,
            429 => ErrorClass::Throttled { retry_after },
            503 if retry_after.is_some() => ErrorClass::Throttled { retry_after },
            501 => ErrorClass::Permanent,
            500..=599 => ErrorClass::Server,
            _ => ErrorClass::Permanent,
        }
    }
}

/// Implemented by every connector error: says which [`ErrorClass`] the error belongs to.
pub trait Classify {
    /// The class of this error.
    fn class(&self) -> ErrorClass;

    /// Whether a later attempt may succeed (everything but [`ErrorClass::Permanent`]).
    fn is_retryable(&self) -> bool {
        self.class().is_retryable()
    }

    /// The server's Retry-After hint, if any.
    fn retry_after(&self) -> Option<Duration> {
        self.class().retry_after()
    }
}

impl Classify for ErrorClass {
    fn class(&self) -> ErrorClass {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_classes() {
        assert_eq!(ErrorClass::from_http_status(401, None), ErrorClass::Auth);
        assert_eq!(
            ErrorClass::from_http_status(404, None),
            ErrorClass::Permanent
        );
        assert_eq!(ErrorClass::from_http_status(500, None), ErrorClass::Server);
        assert_eq!(
            ErrorClass::from_http_status(501, None),
            ErrorClass::Permanent
        );
        assert_eq!(ErrorClass::from_http_status(503, None), ErrorClass::Server);
        let ra = Some(Duration::from_secs(3));
        assert_eq!(
            ErrorClass::from_http_status(503, ra),
            ErrorClass::Throttled { retry_after: ra }
        );
        assert_eq!(ErrorClass::from_http_status(429, ra).retry_after(), ra);
        assert!(!ErrorClass::Permanent.is_retryable());
        assert!(ErrorClass::Auth.is_retryable());
        assert_eq!(
            ErrorClass::Throttled { retry_after: None }.as_str(),
            "throttled"
        );
    }
}
