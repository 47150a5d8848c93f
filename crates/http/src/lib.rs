//! # chatport-http
//!
//! The connector-support layer shared by chatport's REST clients (`chatport-opentext`,
//! `chatport-orangelogic`, `chatport-creatio`): the parts every vendor client needs and that must
//! behave the same in all of them.
//!
//! | Item | What it is |
//! |---|---|
//! | [`RetryPolicy`], [`RetryableError`] | In-client retry over [`backon`]: exponential backoff with jitter, `Retry-After` honoured up to a cap, only for the error classes worth repeating |
//! | [`retry_after`], [`parse_retry_after`] | `Retry-After` as delay-seconds or an HTTP date (via [`httpdate`]) |
//! | [`TokenCache`], [`TokenLifetime`], [`Fetched`], [`Lease`] | One single-flight credential cache with one lifetime rule, and the 401 replay ([`TokenCache::send_with_replay`]) |
//! | [`TokenAnswer`], [`lenient_seconds`] | The OAuth 2.0 token answer, lenient about `expires_in` |
//! | [`encode_component`], [`encode_pairs`] | RFC 3986 percent-encoding of query and form components (via [`percent_encoding`]) |
//! | [`SessionCookies`] | The cookies of a forms-login session (via the [`cookie`] crate) |
//! | [`Answer`] | An HTTP answer read to the end (status, headers, body) |
//! | [`HttpSettings`], [`http_settings_setters!`] | The builder settings every connector shares (timeouts, lifetime rule, retry policy, caller's client) and their setters |
//!
//! The lifetime rule, once for every connector: a credential is fetched again
//! [`TokenLifetime::refresh_margin`] before it expires; an answer that states no lifetime is
//! cached for [`TokenLifetime::default_lifetime`]; a refused credential is dropped and the request
//! replayed once.
//!
//! A token cached once for many requests, and a request replayed once after a 401:
//!
//! ```
//! use chatport_http::{Fetched, RetryPolicy, TokenCache, TokenLifetime};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let cache = TokenCache::new(TokenLifetime::default().with_refresh_margin(Duration::from_secs(30)));
//! let fetch = || async { Ok::<_, String>(Fetched::new("token-1".to_owned(), Some(Duration::from_secs(900)))) };
//! for _ in 0..3 {
//!     let lease = cache.get(fetch).await.unwrap();
//!     assert_eq!(lease.value, "token-1");
//! }
//! assert_eq!(cache.fetches(), 1);
//!
//! // The server answers 401 to the first token: it is dropped and the request sent once more.
//! let mut statuses = vec![200, 401];
//! let statuses = std::sync::Mutex::new(statuses);
//! let status = cache
//!     .send_with_replay(
//!         fetch,
//!         |_lease| {
//!             let status = statuses.lock().unwrap().pop().unwrap();
//!             async move { Ok::<u16, String>(status) }
//!         },
//!         |result| matches!(result, Ok(401)),
//!     )
//!     .await;
//! assert_eq!(status, Ok(200));
//! assert_eq!(cache.fetches(), 2);
//! # let _ = RetryPolicy::default();
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod answer;
mod cookies;
mod encode;
mod retry;
mod settings;
mod token;

pub use answer::{Answer, parse_retry_after, retry_after};
pub use cookies::SessionCookies;
pub use encode::{encode_component, encode_pairs};
pub use retry::{RetryPolicy, RetryableError, is_retryable_class};
pub use settings::HttpSettings;
pub use token::{Fetched, Lease, TokenAnswer, TokenCache, TokenLifetime, lenient_seconds};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
