//! In-client retry (tier 1 of the design's two retry tiers) over [`backon`].

use std::fmt;
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chatport_core::{Classify, ErrorClass};

/// What the retry policy needs to know about a connector's error.
///
/// Implemented by each connector's error enum (next to its `RetryPolicy` re-export).
///
/// The `Retry-After` hint the policy honours is the one of [`ErrorClass::Throttled`]
/// ([`Classify::retry_after`]): a 429, or a 503 that carried one.
pub trait RetryableError: Classify + fmt::Display {
    /// The HTTP status of the answer the error came from, if any.
    fn status(&self) -> Option<u16>;

    /// Whether this is the failure of an authentication request (token or login) that was
    /// already retried by that request's own run: such an error is never repeated again by the
    /// request that needed the token. Default: `false`.
    fn is_credentials_failure(&self) -> bool {
        false
    }
}

/// How a client repeats requests that are safe to repeat.
///
/// A few quick attempts with exponential backoff and jitter ([`backon`]'s
/// `ExponentialBuilder`), on [`ErrorClass::Throttled`], [`ErrorClass::Server`] and
/// [`ErrorClass::Transient`] failures only ([`RetryPolicy::run`]). A `Retry-After` hint
/// ([`Classify::retry_after`] of a throttled error) is honoured: the client waits that long instead of its own
/// delay, and gives up early (returning the error to the caller, whose outbox retries later) when
/// the hint is longer than [`RetryPolicy::max_retry_after`]. A failed token or login request is
/// retried by its own run, never again by the request that needed the credentials.
///
/// Which requests are safe to repeat is the connector's decision: reads go through
/// [`RetryPolicy::run`], requests the server refuses before applying anything on a 429 through
/// [`RetryPolicy::run_on_429`], creates are sent once.
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

/// Whether an error class is worth repeating in-client: throttling, server failures and
/// transient (connection, timeout) failures.
pub fn is_retryable_class(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::Throttled { .. } | ErrorClass::Server | ErrorClass::Transient
    )
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

    /// Sets the first and the longest backoff delay (the longest is at least the first).
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

    /// Runs `op`, repeating it on throttling, 5xx and transient failures (see
    /// [`is_retryable_class`]), never on a credentials failure
    /// ([`RetryableError::is_credentials_failure`]).
    ///
    /// # Errors
    ///
    /// The last error of `op` when it is not retryable, the attempts are used up, or the server's
    /// `Retry-After` exceeds [`RetryPolicy::max_retry_after`].
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        E: RetryableError,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_if(op, |e: &E| {
            !e.is_credentials_failure() && is_retryable_class(e.class())
        })
        .await
    }

    /// Runs a request that is not safe to repeat in general: repeated only after an HTTP 429,
    /// which a service (or its gateway) answers before applying anything.
    ///
    /// # Errors
    ///
    /// As [`RetryPolicy::run`].
    pub async fn run_on_429<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        E: RetryableError,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_if(op, |e: &E| {
            !e.is_credentials_failure() && e.status() == Some(429)
        })
        .await
    }

    /// Runs `op`, repeating it while `retryable` says so, with this policy's backoff and
    /// `Retry-After` rules.
    ///
    /// # Errors
    ///
    /// As [`RetryPolicy::run`].
    pub async fn run_if<T, E, F, Fut, P>(&self, op: F, retryable: P) -> Result<T, E>
    where
        E: RetryableError,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        P: FnMut(&E) -> bool,
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
            .when(retryable)
            .adjust(move |e: &E, next| {
                let next = next?;
                match Classify::retry_after(e) {
                    Some(ra) if ra > cap => None,
                    Some(ra) => Some(ra),
                    None => Some(next),
                }
            })
            .notify(|e: &E, after| {
                tracing::debug!(error = %e, class = e.class().as_str(), ?after, "retrying request");
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    enum TestError {
        Status(u16, Option<Duration>),
        Timeout,
        Token(u16),
    }

    impl fmt::Display for TestError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl Classify for TestError {
        fn class(&self) -> ErrorClass {
            match self {
                TestError::Status(s, ra) => ErrorClass::from_http_status(*s, *ra),
                TestError::Token(s) => ErrorClass::from_http_status(*s, None),
                TestError::Timeout => ErrorClass::Transient,
            }
        }
    }

    impl RetryableError for TestError {
        fn status(&self) -> Option<u16> {
            match self {
                TestError::Status(s, _) | TestError::Token(s) => Some(*s),
                TestError::Timeout => None,
            }
        }
        fn is_credentials_failure(&self) -> bool {
            matches!(self, TestError::Token(_))
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy::default().with_delays(Duration::from_millis(1), Duration::from_millis(2))
    }

    async fn count<T>(
        policy: RetryPolicy,
        on_429_only: bool,
        mut answer: impl FnMut(u32) -> Result<T, TestError>,
    ) -> (Result<T, TestError>, u32) {
        let calls = AtomicU32::new(0);
        let op = || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let r = answer(n);
            async move { r }
        };
        let r = if on_429_only {
            policy.run_on_429(op).await
        } else {
            policy.run(op).await
        };
        (r, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn retries_server_errors_up_to_attempts() {
        let (r, calls) = count(fast(), false, |_| {
            Err::<(), _>(TestError::Status(500, None))
        })
        .await;
        assert!(matches!(r, Err(TestError::Status(500, None))));
        assert_eq!(calls, 3);
        let (_, calls) = count(fast().with_attempts(5), false, |_| {
            Err::<(), _>(TestError::Status(503, None))
        })
        .await;
        assert_eq!(calls, 5);
    }

    #[tokio::test]
    async fn does_not_retry_permanent_auth_or_credentials_failures() {
        for status in [400, 401, 404] {
            let (_, calls) = count(fast(), false, |_| {
                Err::<(), _>(TestError::Status(status, None))
            })
            .await;
            assert_eq!(calls, 1, "status {status}");
        }
        let (_, calls) = count(fast(), false, |_| Err::<(), _>(TestError::Token(503))).await;
        assert_eq!(calls, 1, "a token failure was retried by its own run");
    }

    #[tokio::test]
    async fn run_on_429_repeats_only_429() {
        let (r, calls) = count(fast(), true, |n| {
            if n == 0 {
                Err(TestError::Status(429, None))
            } else {
                Ok(1)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(calls, 2);
        for status in [500, 503, 408] {
            let (_, calls) = count(fast(), true, |_| {
                Err::<(), _>(TestError::Status(status, None))
            })
            .await;
            assert_eq!(calls, 1, "status {status}");
        }
        let (_, calls) = count(fast(), true, |_| Err::<(), _>(TestError::Timeout)).await;
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn gives_up_when_retry_after_exceeds_cap() {
        let policy = fast().with_max_retry_after(Duration::from_secs(1));
        let (_, calls) = count(policy, false, |_| {
            Err::<(), _>(TestError::Status(429, Some(Duration::from_secs(60))))
        })
        .await;
        assert_eq!(calls, 1);
        let (r, calls) = count(policy, false, |n| {
            if n == 0 {
                Err(TestError::Status(429, Some(Duration::ZERO)))
            } else {
                Ok(2)
            }
        })
        .await;
        assert_eq!((r.unwrap(), calls), (2, 2));
    }

    #[tokio::test]
    async fn none_runs_once_and_default_succeeds_after_transient() {
        let (_, calls) = count(RetryPolicy::none(), false, |_| {
            Err::<(), _>(TestError::Timeout)
        })
        .await;
        assert_eq!(calls, 1);
        let (r, calls) = count(fast(), false, |n| {
            if n == 0 {
                Err(TestError::Timeout)
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!((r.unwrap(), calls), (7, 2));
    }

    #[test]
    fn builders_clamp() {
        let p = RetryPolicy::default()
            .with_attempts(0)
            .with_delays(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(p.attempts, 1);
        assert_eq!(p.max_delay, Duration::from_secs(2));
        assert_eq!(RetryPolicy::none().attempts, 1);
    }
}
