//! Rate budgets shared between processes: a vendor limit that holds **per tenant** (the OpenText
//! CMS allows 5 requests per second per tenant) must hold across every replica of a service, not
//! per process.
//!
//! A [`RateBudget`] is a set of named buckets kept where every replica sees them (chatport's
//! PostgreSQL store implements it). Each bucket follows GCRA, the generic cell rate algorithm:
//! one permit per `interval`, bursts of up to `burst` permits; the state is one "theoretical
//! arrival time" per bucket, so a take is one atomic read-modify-write.

use std::time::Duration;

use async_trait::async_trait;

use crate::StateError;

/// Named rate buckets shared by every process that uses the same store.
#[async_trait]
pub trait RateBudget: Send + Sync {
    /// Takes one permit from `bucket`, which grants one permit per `interval` with bursts of up
    /// to `burst` (at least 1) permits. `Ok(None)`: taken, go ahead; `Ok(Some(wait))`: not taken,
    /// ask again after `wait`. A bucket is created on its first take.
    ///
    /// # Errors
    /// [`StateError`] when the store fails; the caller decides whether to fall back to a local
    /// limit.
    async fn try_take(
        &self,
        bucket: &str,
        interval: Duration,
        burst: u32,
    ) -> Result<Option<Duration>, StateError>;
}
