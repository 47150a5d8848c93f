//! The client-side request limiter (the CMS allows 5 requests per second per tenant).

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

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
/// Applied to every CMS request, including in-client retries and the replay after a 401; not to
/// the token endpoint or the Content Storage Service, for which no limit is documented.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultDirectRateLimiter>,
    per_second: u32,
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("per_second", &self.per_second)
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
        })
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
        self.limiter.until_ready().await;
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
}
