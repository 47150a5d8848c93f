//! In-client retry (tier 1 of the design's two retry tiers): the shared [`RetryPolicy`] of
//! `chatport-http`, and how it reads this crate's [`Error`].
//!
//! GETs, full updates (`PUT`) and the token request are retried per the policy; creates, patches
//! and deletes only after an HTTP 429, which the service (or its gateway) answers before applying
//! anything; a failed token request is retried by its own run, not again by the request that
//! needed the token.

pub use chatport_http::RetryPolicy;

use crate::Error;

impl chatport_http::RetryableError for Error {
    fn status(&self) -> Option<u16> {
        Error::status(self)
    }

    fn is_credentials_failure(&self) -> bool {
        matches!(self, Error::Token(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn fast() -> RetryPolicy {
        RetryPolicy::default().with_delays(Duration::from_millis(1), Duration::from_millis(2))
    }

    fn err(status: u16) -> Error {
        Error::UnexpectedBody {
            status,
            snippet: String::new(),
            retry_after: None,
        }
    }

    /// How many times `policy` sends a request failing with `error` (429-only when `on_429`).
    async fn sends(on_429: bool, error: fn() -> Error) -> u32 {
        let calls = AtomicU32::new(0);
        let op = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(error())
        };
        let _ = if on_429 {
            fast().run_on_429(op).await
        } else {
            fast().run(op).await
        };
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn reads_this_crates_errors() {
        assert_eq!(sends(false, || err(500)).await, 3);
        assert_eq!(sends(false, || Error::Timeout).await, 3);
        assert_eq!(sends(false, || err(404)).await, 1);
        assert_eq!(sends(false, || err(401)).await, 1);
        assert_eq!(sends(false, || Error::Token(Box::new(err(503)))).await, 1);
        assert_eq!(sends(true, || err(429)).await, 3);
        assert_eq!(sends(true, || err(503)).await, 1);
        assert_eq!(sends(true, || Error::Token(Box::new(err(429)))).await, 1);
    }
}
