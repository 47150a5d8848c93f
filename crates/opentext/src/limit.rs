//! The client-side request limiter (the CMS allows 5 requests per second per tenant).

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chatport_core::RateBudget;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as Governor};

use crate::Error;

/// The documented CMS limit: "a maximum of 5 requests per second" (OpenText `sample-cms-go-cli`
/// README; `shared/api/opentext-orangelogic.md` §1.3).
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 5;

/// A client-side rate limiter: at most `n` CMS requests per second, with bursts of up to `n`
/// (a GCRA limiter from the `governor` crate; callers beyond the quota wait, they never fail).
///
/// A [`Client`](crate::Client) gets its own limiter of [`DEFAULT_REQUESTS_PER_SECOND`] unless the
/// builder says otherwise; every clone of that client shares it. To make several clients of **one
/// tenant** share one budget (the limit is per tenant on the service side), build one `RateLimit`
/// and hand a clone of it to each builder with
/// [`ClientBuilder::rate_limit`](crate::ClientBuilder::rate_limit).
///
/// The CMS limit is per tenant, so several **processes** (replicas) of one tenant must share a
/// budget too: [`RateLimit::shared`] takes each permit from a [`RateBudget`] every replica sees
/// (chatport's PostgreSQL store is one), and falls back to this process's own limiter only while
/// that store fails.
///
/// Applied to every CMS request, including in-client retries and the replay after a 401; not to
/// the token endpoint or the Content Storage Service, for which no limit is documented.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultDirectRateLimiter>,
    per_second: u32,
    shared: Option<(Arc<dyn RateBudget>, String)>,
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("per_second", &self.per_second)
            .field("shared", &self.shared.as_ref().map(|(_, bucket)| bucket))
            .finish_non_exhaustive()
    }
}

impl RateLimit {
    /// A limiter of `n` requests per second (burst `n`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `n` is zero.
    pub fn per_second(n: u32) -> Result<Self, Error> {
        let n = NonZeroU32::new(n)
            .ok_or_else(|| Error::Config("the rate limit must be at least 1 per second".into()))?;
        Ok(Self {
            limiter: Arc::new(Governor::direct(Quota::per_second(n))),
            per_second: n.get(),
            shared: None,
        })
    }

    /// The same limit, taken from `budget`'s bucket `bucket` (e.g. `opentext:{tenant id}`), which
    /// every replica using that budget shares: at most `n` requests per second **in total**,
    /// bursts of `n`. While the budget's store fails, each process falls back to its own limiter
    /// (the limit then holds per process) and logs a warning.
    #[must_use]
    pub fn shared(mut self, budget: Arc<dyn RateBudget>, bucket: impl Into<String>) -> Self {
        self.shared = Some((budget, bucket.into()));
        self
    }

    /// The shared bucket's name, when the limit is shared.
    pub fn shared_bucket(&self) -> Option<&str> {
        self.shared.as_ref().map(|(_, bucket)| bucket.as_str())
    }

    /// The configured requests per second.
    pub fn requests_per_second(&self) -> u32 {
        self.per_second
    }

    /// Whether `self` and `other` are the same limiter (share one budget).
    pub fn same_as(&self, other: &RateLimit) -> bool {
        Arc::ptr_eq(&self.limiter, &other.limiter)
    }

    /// Waits until one more request is allowed.
    pub(crate) async fn acquire(&self) {
        let Some((budget, bucket)) = &self.shared else {
            self.limiter.until_ready().await;
            return;
        };
        let interval = Duration::from_secs(1) / self.per_second.max(1);
        loop {
            match budget.try_take(bucket, interval, self.per_second).await {
                Ok(None) => return,
                // Never sleep long on one answer: other replicas' takes move the bucket too.
                Ok(Some(wait)) => tokio::time::sleep(wait.min(Duration::from_secs(1))).await,
                Err(error) => {
                    tracing::warn!(%error, "shared CMS rate budget unavailable; limiting per process");
                    self.limiter.until_ready().await;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_refused_and_clones_share() {
        assert!(matches!(RateLimit::per_second(0), Err(Error::Config(_))));
        let a = RateLimit::per_second(3).unwrap();
        let b = a.clone();
        assert!(a.same_as(&b));
        assert!(!a.same_as(&RateLimit::per_second(3).unwrap()));
        assert_eq!(a.requests_per_second(), 3);
    }

    #[tokio::test]
    async fn burst_is_immediate_then_limited() {
        let limit = RateLimit::per_second(2).unwrap();
        limit.acquire().await;
        limit.acquire().await;
        // The third request in the same second must wait: the limiter says no right now.
        assert!(limit.limiter.check().is_err());
    }

    /// A budget that refuses a number of times (asking to wait 1 ms), then grants; or fails.
    struct Budget {
        refusals: std::sync::Mutex<u32>,
        fail: bool,
        takes: std::sync::atomic::AtomicU32,
        asked: std::sync::Mutex<Vec<(String, Duration, u32)>>,
    }

    #[async_trait::async_trait]
    impl RateBudget for Budget {
        async fn try_take(
            &self,
            bucket: &str,
            interval: Duration,
            burst: u32,
        ) -> Result<Option<Duration>, chatport_core::StateError> {
            self.takes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.asked
                .lock()
                .unwrap()
                .push((bucket.to_owned(), interval, burst));
            if self.fail {
                return Err(chatport_core::StateError::transient("store down"));
            }
            let mut left = self.refusals.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Ok(Some(Duration::from_millis(1)));
            }
            Ok(None)
        }
    }

    fn budget(refusals: u32, fail: bool) -> Arc<Budget> {
        Arc::new(Budget {
            refusals: std::sync::Mutex::new(refusals),
            fail,
            takes: std::sync::atomic::AtomicU32::new(0),
            asked: std::sync::Mutex::new(Vec::new()),
        })
    }

    #[tokio::test]
    async fn a_shared_limit_asks_the_budget_until_it_grants() {
        let b = budget(2, false);
        let limit = RateLimit::per_second(5)
            .unwrap()
            .shared(b.clone(), "opentext:t1");
        assert_eq!(limit.shared_bucket(), Some("opentext:t1"));
        limit.acquire().await;
        assert_eq!(b.takes.load(std::sync::atomic::Ordering::SeqCst), 3);
        let asked = b.asked.lock().unwrap();
        assert_eq!(
            asked[0],
            ("opentext:t1".to_owned(), Duration::from_millis(200), 5),
            "one permit per 1/n s, bursts of n"
        );
        // The local limiter was not used.
        assert!(limit.limiter.check().is_ok());
    }

    #[tokio::test]
    async fn a_failing_budget_falls_back_to_the_local_limiter() {
        let b = budget(0, true);
        let limit = RateLimit::per_second(1).unwrap().shared(b.clone(), "x");
        limit.acquire().await;
        assert_eq!(b.takes.load(std::sync::atomic::Ordering::SeqCst), 1);
        // The local limiter took the permit instead: the next one must wait.
        assert!(limit.limiter.check().is_err());
    }
}
