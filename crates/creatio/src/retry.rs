//! In-client retry (tier 1 of the design's two retry tiers): the shared [`RetryPolicy`] of
//! `chatport-http`, and how it reads this crate's [`Error`].
//!
//! Reads (`GET`), `DELETE`, `PATCH` and the token request are retried per the policy; creates
//! (`POST`), `$batch` and upload chunks are sent once: after an ambiguous failure only a lookup
//! can tell whether the record exists (see [`crate::Client::create_with_key`]). A failed token
//! request or login is retried by its own run, not again by the request that needed it.

pub use chatport_http::RetryPolicy;

use crate::Error;

impl chatport_http::RetryableError for Error {
    fn status(&self) -> Option<u16> {
        Error::status(self)
    }

    fn is_credentials_failure(&self) -> bool {
        matches!(self, Error::Token(_) | Error::Login(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn err(status: u16) -> Error {
        Error::UnexpectedBody {
            status,
            snippet: String::new(),
            retry_after: None,
        }
    }

    /// How many times the default policy (fast delays) sends a request failing with `error`.
    async fn sends(error: impl Fn() -> Error) -> u32 {
        let calls = AtomicU32::new(0);
        let _ = RetryPolicy::default()
            .with_delays(Duration::from_millis(1), Duration::from_millis(2))
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(error())
            })
            .await;
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn reads_this_crates_errors() {
        assert_eq!(sends(|| err(500)).await, 3);
        assert_eq!(sends(|| Error::Timeout).await, 3);
        for status in [400, 401, 404] {
            assert_eq!(sends(|| err(status)).await, 1, "{status}");
        }
        assert_eq!(sends(|| Error::Token(Box::new(err(503)))).await, 1);
        assert_eq!(sends(|| Error::Login(Box::new(err(503)))).await, 1);
    }
}
