//! In-client retry (tier 1 of the design's two retry tiers).

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chatport_core::{Classify, ErrorClass};

use crate::Error;

/// How the client repeats requests that are safe to repeat (reads: search, DataTable reads, link requests; and the token request).
///
/// A few quick attempts with exponential backoff and jitter, on [`ErrorClass::Throttled`],
/// [`ErrorClass::Server`] and [`ErrorClass::Transient`] failures only (a failed token request is
/// retried by its own run, not again by the request that needed the token). A `Retry-After` hint is
/// honoured: the client waits that long instead of its own delay, and gives up early (returning the
/// error to the caller, whose outbox retries later) when the hint is longer than
/// [`RetryPolicy::max_retry_after`]. Writes and uploads are never repeated in-client: after an
/// ambiguous failure only a lookup can tell whether they were applied.
///
/// Defaults: 3 attempts in all, delays from 200 ms doubling up to 2 s (with jitter), `Retry-After`
/// honoured up to 10 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, including the first (1 = no retry).
    pub attempts: u32,
    /// The first backoff delay.
    pub min_delay: Duration,
    /// The longest backoff delay.
    pub max_delay: Duration,
    /// The longest server `Retry-After` the client waits for in-client.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never repeats a request.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts in all (at least 1).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Sets the first and the longest backoff delay.
    pub fn with_delays(mut self, min_delay: Duration, max_delay: Duration) -> Self {
        self.min_delay = min_delay;
        self.max_delay = max_delay.max(min_delay);
        self
    }

    /// Sets the longest `Retry-After` waited for in-client.
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Runs `op` under this policy.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let retries = self.attempts.saturating_sub(1);
        if retries == 0 {
            let mut op = op;
            return op().await;
        }
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(usize::try_from(retries).unwrap_or(usize::MAX))
            .with_jitter();
        let cap = self.max_retry_after;
        op.retry(backoff)
            .when(|e: &Error| {
                // A token failure was already retried by the token request's own run.
                !matches!(e, Error::Token(_))
                    && matches!(
                        e.class(),
                        ErrorClass::Throttled { .. } | ErrorClass::Server | ErrorClass::Transient
                    )
            })
            .adjust(move |e: &Error, next| {
                let next = next?;
                match e.retry_after() {
                    Some(ra) if ra > cap => None,
                    Some(ra) => Some(ra),
                    None => Some(next),
                }
            })
            .notify(|e: &Error, after| {
                tracing::debug!(error = %e, class = e.class().as_str(), ?after, "retrying OrangeDAM request");
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy::default().with_delays(Duration::from_millis(1), Duration::from_millis(2))
    }

    fn err(status: u16, retry_after: Option<Duration>) -> Error {
        Error::UnexpectedBody {
            status,
            snippet: String::new(),
            retry_after,
        }
    }

    #[tokio::test]
    async fn retries_server_errors_up_to_attempts() {
        let calls = AtomicU32::new(0);
        let r: Result<(), Error> = fast()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(err(500, None))
            })
            .await;
        assert!(matches!(r, Err(Error::UnexpectedBody { status: 500, .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_permanent_or_auth() {
        for status in [400, 401, 404] {
            let calls = AtomicU32::new(0);
            let _ = fast()
                .run(|| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(err(status, None))
                })
                .await;
            assert_eq!(calls.load(Ordering::SeqCst), 1, "status {status}");
        }
    }

    #[tokio::test]
    async fn gives_up_when_retry_after_exceeds_cap() {
        let calls = AtomicU32::new(0);
        let _ = fast()
            .with_max_retry_after(Duration::from_secs(1))
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(err(429, Some(Duration::from_secs(60))))
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn none_runs_once_and_succeeds_after_transient() {
        let calls = AtomicU32::new(0);
        let _ = RetryPolicy::none()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::Timeout)
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let r = fast()
            .run(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(Error::Timeout)
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
