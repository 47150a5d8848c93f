//! In-client retry (tier 1 of the design's two retry tiers): the shared [`RetryPolicy`] of
//! `chatport-http`, and how it reads this crate's [`Error`].
//!
//! Reads (search, DataTable reads, link requests) and the token request are retried per the
//! policy; writes and uploads are never repeated in-client: after an ambiguous failure only a
//! lookup can tell whether they were applied. A failed token request is retried by its own run,
//! not again by the request that needed the token.

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

    fn err(status: u16, retry_after: Option<Duration>) -> Error {
        Error::UnexpectedBody {
            status,
            snippet: String::new(),
            retry_after,
        }
    }

    /// How many times the default policy (fast delays) sends a request failing with `error`.
    async fn sends(policy: RetryPolicy, error: impl Fn() -> Error) -> u32 {
        let calls = AtomicU32::new(0);
        let policy = policy.with_delays(Duration::from_millis(1), Duration::from_millis(2));
        let _ = policy
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(error())
            })
            .await;
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn reads_this_crates_errors() {
        let default = RetryPolicy::default();
        assert_eq!(sends(default, || err(500, None)).await, 3);
        assert_eq!(sends(default, || Error::Timeout).await, 3);
        for status in [400, 401, 404] {
            assert_eq!(
                sends(default, move || err(status, None)).await,
                1,
                "{status}"
            );
        }
        assert_eq!(
            sends(default, || Error::Token(Box::new(err(503, None)))).await,
            1
        );
        let capped = default.with_max_retry_after(Duration::from_secs(1));
        assert_eq!(
            sends(capped, || err(429, Some(Duration::from_secs(60)))).await,
            1
        );
        assert_eq!(sends(RetryPolicy::none(), || Error::Timeout).await, 1);
    }
}
