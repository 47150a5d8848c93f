//! Deadlines of content transfers (uploads and downloads of documents and media).
//!
//! A client's ordinary whole-request timeout (20–60 s) is right for API calls but would cut off a
//! 100 MB document on any link slower than a few MB/s. A per-read timeout does not help either:
//! while a body goes up, nothing is read. So a transfer's deadline grows with its size:
//! `timeout + length / min_rate` (plus a second), or `timeout` + [`UNKNOWN_LENGTH`] when the
//! length is not known in advance (downloads, uploads of unknown length). A stalled transfer still
//! ends; a slow but moving one is not cut off.
//!
//! ```
//! use std::time::Duration;
//! use chatport_core::transfer;
//!
//! let d = transfer::deadline(Duration::from_secs(20), Some(100_000_000), 100_000);
//! assert_eq!(d, Duration::from_secs(20 + 1_000 + 1));
//! let d = transfer::deadline(Duration::from_secs(20), None, 100_000);
//! assert_eq!(d, Duration::from_secs(20) + transfer::UNKNOWN_LENGTH);
//! ```

use std::time::Duration;

/// The default slowest transfer accepted: 100,000 bytes per second.
pub const DEFAULT_MIN_RATE: u64 = 100_000;

/// How long a transfer of unknown length may take beyond the request timeout: one hour.
pub const UNKNOWN_LENGTH: Duration = Duration::from_secs(60 * 60);

/// The deadline of a transfer of `length` bytes (when known) at no less than `min_rate` bytes
/// per second, on top of the ordinary request `timeout`. A `min_rate` of 0 counts as 1.
pub fn deadline(timeout: Duration, length: Option<u64>, min_rate: u64) -> Duration {
    let extra = match length {
        Some(n) => Duration::from_secs(n / min_rate.max(1) + 1),
        None => UNKNOWN_LENGTH,
    };
    timeout.saturating_add(extra)
}
