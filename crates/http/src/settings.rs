//! The HTTP settings every connector builder shares, and the setters for them.

use std::time::Duration;

use crate::{RetryPolicy, TokenLifetime};

/// The settings every connector's `ClientBuilder` shares: timeouts, the credential lifetime rule,
/// the retry policy and an optional caller-built `reqwest` client.
///
/// A builder holds one and exposes its setters with [`http_settings_setters!`](crate::http_settings_setters)
/// (`connect_timeout`, `token_refresh_skew`, `token_default_lifetime`, `retry_policy`); `timeout`
/// and `http_client` stay with the builder, whose documentation says what they mean there.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Whole-request timeout of ordinary calls.
    pub timeout: Duration,
    /// Connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// The lifetime rule of the cached credential.
    pub lifetime: TokenLifetime,
    /// The in-client retry policy.
    pub retry: RetryPolicy,
    /// A caller-built client (proxies, custom TLS roots) used instead of building one; its own
    /// timeouts and redirect policy apply.
    pub http: Option<reqwest::Client>,
}

impl HttpSettings {
    /// Defaults with this request timeout: connect timeout 10 s, [`TokenLifetime::default`],
    /// [`RetryPolicy::default`], no caller-built client.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            connect_timeout: Duration::from_secs(10),
            lifetime: TokenLifetime::default(),
            retry: RetryPolicy::default(),
            http: None,
        }
    }

    /// The caller's client, or a new one with these timeouts, `user_agent`, and (unless
    /// `follow_redirects`) no redirect following.
    ///
    /// # Errors
    ///
    /// The [`reqwest::Error`] of building the client (a TLS backend that cannot start).
    pub fn http_client(
        &self,
        user_agent: &str,
        follow_redirects: bool,
    ) -> Result<reqwest::Client, reqwest::Error> {
        if let Some(http) = &self.http {
            return Ok(http.clone());
        }
        let builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(user_agent);
        let builder = if follow_redirects {
            builder
        } else {
            builder.redirect(reqwest::redirect::Policy::none())
        };
        builder.build()
    }
}

/// Generates the `ClientBuilder` setters of the [`HttpSettings`] in field `$field`:
/// `connect_timeout`, `token_refresh_skew`, `token_default_lifetime` and `retry_policy`, with
/// their documentation. Use inside `impl ClientBuilder { … }`; the builder must also have an
/// `http_client` method (the setters' documentation links to it).
#[macro_export]
macro_rules! http_settings_setters {
    ($field:ident) => {
        /// Connect timeout (default 10 s). Ignored when [`http_client`](Self::http_client) is
        /// given.
        pub fn connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.$field.connect_timeout = timeout;
            self
        }

        /// Fetch a new token (log in again) when less than this much of its lifetime remains
        /// (default 60 s). A lifetime not longer than this means a fetch for every request.
        pub fn token_refresh_skew(mut self, skew: ::std::time::Duration) -> Self {
            self.$field.lifetime = self.$field.lifetime.with_refresh_margin(skew);
            self
        }

        /// How long a token whose answer states no lifetime (no `expires_in`), or a session, is
        /// used before it is renewed (default 3600 s; see `chatport_http::TokenLifetime`). A
        /// refusal by the server (a 401) renews it sooner.
        pub fn token_default_lifetime(mut self, lifetime: ::std::time::Duration) -> Self {
            self.$field.lifetime = self.$field.lifetime.with_default_lifetime(lifetime);
            self
        }

        /// The in-client retry policy for the requests that are safe to repeat and the token
        /// request (default `RetryPolicy::default()`: 3 attempts, 200 ms doubling to 2 s,
        /// `Retry-After` honoured up to 10 s).
        pub fn retry_policy(mut self, policy: $crate::RetryPolicy) -> Self {
            self.$field.retry = policy;
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Builder {
        settings: HttpSettings,
    }

    // The generated setters are `pub`, as in a connector's public builder.
    #[allow(unreachable_pub)]
    impl Builder {
        crate::http_settings_setters!(settings);

        fn http_client(self) -> Self {
            self
        }
    }

    #[test]
    fn setters_reach_the_settings() {
        let b = Builder {
            settings: HttpSettings::new(Duration::from_secs(30)),
        }
        .connect_timeout(Duration::from_secs(3))
        .token_refresh_skew(Duration::from_secs(5))
        .token_default_lifetime(Duration::from_secs(120))
        .retry_policy(RetryPolicy::none())
        .http_client();
        let s = &b.settings;
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.connect_timeout, Duration::from_secs(3));
        assert_eq!(s.lifetime.refresh_margin, Duration::from_secs(5));
        assert_eq!(s.lifetime.default_lifetime, Duration::from_secs(120));
        assert_eq!(s.retry, RetryPolicy::none());
        assert!(s.http_client("ua/1", false).is_ok());
    }
}
