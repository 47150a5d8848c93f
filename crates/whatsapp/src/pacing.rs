//! Client-side pacing with `governor`: a token bucket per business phone number (throughput) and
//! a per-recipient pair limiter, plus Meta's 4^X back-off after a pair rate limit (131056).
//!
//! Meta: throughput ("80 mps per registered number by default … 1,000 mps by automatic upgrade
//! … coexistence numbers … 20 mps"; over it: 130429) and about-the-platform ("1 message every 6
//! seconds to the same WhatsApp user … bursts of up to 45 messages in 6 seconds … borrow future
//! quota"; over it: 131056; "retry after 4^X seconds (starting with X=0 and increasing X by 1
//! after each failure)").

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference as _};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::Error;
use crate::window::WindowKey;

/// Pacing limits. `#[non_exhaustive]`: build with [`PacingConfig::standard`],
/// [`PacingConfig::high_throughput`], [`PacingConfig::coexistence`] and refine.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PacingConfig {
    /// Messages per second per business phone number (also the bucket's burst).
    pub messages_per_second: u32,
    /// One message per this interval to the same user (6 s).
    pub pair_interval: Duration,
    /// How many messages to one user may go out at once (45), borrowing future quota.
    pub pair_burst: u32,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self::standard()
    }
}

impl PacingConfig {
    /// 80 messages per second (the default tier), pair limit 1 per 6 s with bursts of 45.
    pub fn standard() -> Self {
        Self {
            messages_per_second: 80,
            pair_interval: Duration::from_secs(6),
            pair_burst: 45,
        }
    }

    /// 1,000 messages per second (after Meta's automatic upgrade).
    pub fn high_throughput() -> Self {
        Self::standard().messages_per_second(1000)
    }

    /// 20 messages per second (coexistence numbers, also used in the WhatsApp Business app).
    pub fn coexistence() -> Self {
        Self::standard().messages_per_second(20)
    }

    /// Sets the messages per second (e.g. from `GET /{PHONE_NUMBER_ID}?fields=throughput`).
    #[must_use]
    pub fn messages_per_second(mut self, mps: u32) -> Self {
        self.messages_per_second = mps;
        self
    }

    /// Sets the pair limit: one message per `interval`, bursts of `burst`.
    #[must_use]
    pub fn pair_limit(mut self, interval: Duration, burst: u32) -> Self {
        self.pair_interval = interval;
        self.pair_burst = burst;
        self
    }

    fn quotas(&self) -> Result<(Quota, Quota), Error> {
        let mps = NonZeroU32::new(self.messages_per_second)
            .ok_or_else(|| Error::Config("messages_per_second must be at least 1".into()))?;
        let burst = NonZeroU32::new(self.pair_burst)
            .ok_or_else(|| Error::Config("pair_burst must be at least 1".into()))?;
        let pair = Quota::with_period(self.pair_interval)
            .ok_or_else(|| Error::Config("pair_interval must be greater than zero".into()))?
            .allow_burst(burst);
        Ok((Quota::per_second(mps), pair))
    }
}

type Keyed<K, C> =
    RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Which limit held a send back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaceLimit {
    /// The business number's throughput bucket.
    Throughput,
    /// The per-recipient pair limit.
    Pair,
    /// The app's Business Use Case rate limit: an `X-Business-Use-Case-Usage` header said access
    /// is regained only after `estimated_time_to_regain_access` minutes
    /// ([`Pacer::observe_usage`]).
    UseCaseUsage,
    /// The 4^X back-off after a 131056.
    PairBackoff,
}

/// A send must wait: which limit, and how long at least.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wait {
    /// The limit.
    pub limit: PaceLimit,
    /// The shortest wait after which a new check can pass.
    pub wait: Duration,
}

/// Paces sends: [`Pacer::check`] before each send (or [`Pacer::until_ready`]), then report a
/// 131056 with [`Pacer::pair_rate_limited`] and a success with [`Pacer::pair_succeeded`].
///
/// Generic over `governor`'s clock so that tests can drive it with `FakeRelativeClock`.
pub struct Pacer<C: Clock = DefaultClock> {
    config: PacingConfig,
    clock: C,
    throughput: Keyed<String, C>,
    pair: Keyed<WindowKey, C>,
    backoff: Mutex<HashMap<WindowKey, (u32, C::Instant)>>,
    usage_block: Mutex<Option<C::Instant>>,
}

impl<C: Clock> fmt::Debug for Pacer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Pacer<DefaultClock> {
    /// A pacer on the real clock.
    ///
    /// # Errors
    /// [`Error::Config`] for zero rates or intervals.
    pub fn new(config: PacingConfig) -> Result<Self, Error> {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Pacer<C> {
    /// A pacer on `clock` (e.g. `governor::clock::FakeRelativeClock` in tests).
    ///
    /// # Errors
    /// [`Error::Config`] for zero rates or intervals.
    pub fn with_clock(config: PacingConfig, clock: C) -> Result<Self, Error> {
        let (throughput, pair) = config.quotas()?;
        Ok(Self {
            throughput: RateLimiter::new(
                throughput,
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            pair: RateLimiter::new(pair, DefaultKeyedStateStore::default(), clock.clone()),
            clock,
            config,
            backoff: Mutex::new(HashMap::new()),
            usage_block: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PacingConfig {
        &self.config
    }

    /// Takes one send slot for `user` (wa_id, phone or BSUID) on `phone_number_id`, or says how
    /// long to wait. Checked in this order: a Business Use Case block
    /// ([`Pacer::observe_usage`]), the 4^X back-off after a 131056, the throughput bucket, the
    /// pair limiter. A refusal by the pair limiter has already used a throughput slot
    /// (1/80 s of capacity): the price of two independent buckets.
    ///
    /// # Errors
    /// [`Wait`] when the send must wait.
    pub fn check(&self, phone_number_id: &str, user: &str) -> Result<(), Wait> {
        let key = WindowKey::new(phone_number_id, user);
        let now = self.clock.now();
        if let Ok(block) = self.usage_block.lock()
            && let Some(until) = *block
            && until > now
        {
            return Err(Wait {
                limit: PaceLimit::UseCaseUsage,
                wait: until.duration_since(now).into(),
            });
        }
        if let Ok(backoff) = self.backoff.lock()
            && let Some((_, until)) = backoff.get(&key)
            && *until > now
        {
            return Err(Wait {
                limit: PaceLimit::PairBackoff,
                wait: (*until).duration_since(now).into(),
            });
        }
        self.throughput
            .check_key(&key.phone_number_id)
            .map_err(|n| Wait {
                limit: PaceLimit::Throughput,
                wait: n.wait_time_from(now),
            })?;
        self.pair.check_key(&key).map_err(|n| Wait {
            limit: PaceLimit::Pair,
            wait: n.wait_time_from(now),
        })
    }

    /// Waits (with `tokio::time::sleep`) until [`Pacer::check`] passes. Only meaningful on a real
    /// clock.
    pub async fn until_ready(&self, phone_number_id: &str, user: &str) {
        while let Err(w) = self.check(phone_number_id, user) {
            tokio::time::sleep(w.wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Reports a 131056 for `user`: returns Meta's back-off 4^X s (X = the number of 131056s
    /// since the last success, starting at 0, capped at 4^8 s) and holds back this pair until it
    /// has passed.
    pub fn pair_rate_limited(&self, phone_number_id: &str, user: &str) -> Duration {
        let key = WindowKey::new(phone_number_id, user);
        let now = self.clock.now();
        let Ok(mut backoff) = self.backoff.lock() else {
            return crate::ApiError::pair_rate_backoff(0);
        };
        let failures = backoff.get(&key).map_or(0, |(x, _)| *x);
        let wait = crate::ApiError::pair_rate_backoff(failures);
        backoff.insert(key, (failures.saturating_add(1), now + wait.into()));
        wait
    }

    /// Feeds an `X-Business-Use-Case-Usage` header (see
    /// [`ClientBuilder::on_usage`](crate::ClientBuilder::on_usage)): when an entry says access
    /// is regained only after `estimated_time_to_regain_access` minutes, every send is held back
    /// that long ([`PaceLimit::UseCaseUsage`]); a later header without a wait lifts the block.
    /// Returns the wait it set, if any.
    pub fn observe_usage(&self, usage: &crate::BusinessUseCaseUsage) -> Option<Duration> {
        let wait = usage.regain_access_in();
        if let Ok(mut block) = self.usage_block.lock() {
            *block = wait.map(|w| self.clock.now() + w.into());
        }
        wait
    }

    /// Reports a successful send to `user`: resets its 4^X back-off.
    pub fn pair_succeeded(&self, phone_number_id: &str, user: &str) {
        if let Ok(mut backoff) = self.backoff.lock() {
            backoff.remove(&WindowKey::new(phone_number_id, user));
        }
    }

    /// Drops limiter state of keys that are back at full capacity (call now and then when many
    /// different users are paced).
    pub fn retain_recent(&self) {
        self.throughput.retain_recent();
        self.pair.retain_recent();
        let now = self.clock.now();
        if let Ok(mut backoff) = self.backoff.lock() {
            backoff.retain(|_, (_, until)| *until > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn refuses_zero() {
        assert!(Pacer::new(PacingConfig::standard().messages_per_second(0)).is_err());
        assert!(Pacer::new(PacingConfig::standard().pair_limit(Duration::ZERO, 1)).is_err());
        assert!(
            Pacer::new(PacingConfig::standard().pair_limit(Duration::from_secs(1), 0)).is_err()
        );
        assert_eq!(PacingConfig::high_throughput().messages_per_second, 1000);
        assert_eq!(PacingConfig::coexistence().messages_per_second, 20);
    }

    #[test]
    fn backoff_is_4_pow_x_and_resets() {
        let clock = FakeRelativeClock::default();
        let p = Pacer::with_clock(PacingConfig::standard(), clock.clone()).unwrap();
        assert_eq!(p.pair_rate_limited("1", "u"), Duration::from_secs(1));
        assert_eq!(p.pair_rate_limited("1", "u"), Duration::from_secs(4));
        assert_eq!(p.pair_rate_limited("1", "u"), Duration::from_secs(16));
        let w = p.check("1", "u").unwrap_err();
        assert_eq!(w.limit, PaceLimit::PairBackoff);
        assert_eq!(w.wait, Duration::from_secs(16));
        assert!(p.check("1", "other").is_ok(), "other users are not held");
        clock.advance(Duration::from_secs(16));
        assert!(p.check("1", "u").is_ok());
        p.pair_succeeded("1", "u");
        assert_eq!(p.pair_rate_limited("1", "u"), Duration::from_secs(1));
    }
}
