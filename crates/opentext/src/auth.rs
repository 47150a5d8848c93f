//! Tenant OAuth: the token request, the token cache, single-flight refresh and invalidation.
//!
//! Follows `shared/api/opentext-orangelogic.md` §1.2: `POST {auth_base}/tenants/{tenant_id}/oauth2/token`
//! with a JSON body (the official samples' encoding), response
//! `{"access_token","token_type":"bearer","expires_in"}`.

use std::fmt;

use chatport_http::{Fetched, Lease, TokenAnswer, TokenCache, TokenLifetime};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::http::error_from_body;
use crate::{Error, RetryPolicy};

/// How the token request body is encoded.
///
/// The vendor's Postman collection and samples send JSON; third-party code sends
/// `application/x-www-form-urlencoded` and it works too (inferred from public code, not documented).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenEncoding {
    /// `Content-Type: application/json`, `{"client_id","client_secret","grant_type",…}` (default).
    #[default]
    Json,
    /// `Content-Type: application/x-www-form-urlencoded`, same fields.
    Form,
}

/// The OAuth grant the client uses.
#[derive(Clone)]
pub(crate) enum Grant {
    /// `grant_type=client_credentials` with the app's confidential client.
    ClientCredentials {
        client_id: String,
        client_secret: SecretString,
    },
    /// `grant_type=password` (resource owner) with a tenant user.
    Password {
        client_id: String,
        client_secret: SecretString,
        username: String,
        password: SecretString,
    },
}

impl Grant {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::Password { .. } => "password",
        }
    }

    pub(crate) fn client_id(&self) -> &str {
        match self {
            Grant::ClientCredentials { client_id, .. } | Grant::Password { client_id, .. } => {
                client_id
            }
        }
    }

    /// The body fields, secrets exposed only for the duration of the request building.
    fn fields(&self) -> Vec<(&'static str, &str)> {
        match self {
            Grant::ClientCredentials {
                client_id,
                client_secret,
            } => vec![
                ("client_id", client_id),
                ("client_secret", client_secret.expose_secret()),
                ("grant_type", "client_credentials"),
            ],
            Grant::Password {
                client_id,
                client_secret,
                username,
                password,
            } => vec![
                ("client_id", client_id),
                ("client_secret", client_secret.expose_secret()),
                ("grant_type", "password"),
                ("username", username),
                ("password", password.expose_secret()),
            ],
        }
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("grant_type", &self.kind())
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

/// Fetches, caches and refreshes the access token through a [`TokenCache`]: one fetch at a time,
/// so concurrent callers share one refresh, under the lifetime rule of [`TokenLifetime`].
pub(crate) struct TokenSource {
    pub(crate) token_url: Url,
    pub(crate) grant: Grant,
    pub(crate) encoding: TokenEncoding,
    pub(crate) cache: TokenCache<SecretString>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url.as_str())
            .field("grant", &self.grant)
            .field("encoding", &self.encoding)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(
        token_url: Url,
        grant: Grant,
        encoding: TokenEncoding,
        lifetime: TokenLifetime,
    ) -> Self {
        Self {
            token_url,
            grant,
            encoding,
            cache: TokenCache::new(lifetime),
        }
    }

    /// A valid token: the cached one while it is fresh, otherwise a freshly fetched one.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Lease<SecretString>, Error> {
        self.cache.get(|| self.fetch_token(http, retry)).await
    }

    /// One token fetch under the retry policy, as a cache entry; a failure is [`Error::Token`].
    pub(crate) async fn fetch_token(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Fetched<SecretString>, Error> {
        let answer = retry
            .run(|| self.fetch(http))
            .await
            .map_err(|e| Error::Token(Box::new(e)))?;
        if let Some(t) = answer.token_type.as_deref()
            && !t.eq_ignore_ascii_case("bearer")
        {
            tracing::warn!(
                token_type = t,
                "OpenText token endpoint returned a non-bearer token type; using it as a bearer token"
            );
        }
        Ok(answer.into_fetched())
    }

    /// Forgets the cached token if it is still the one of `generation` (after a 401).
    pub(crate) async fn invalidate(&self, generation: u64) {
        self.cache.invalidate(generation).await;
    }

    /// One token request, recorded as operation `token` in the connector request metrics.
    async fn fetch(&self, http: &reqwest::Client) -> Result<TokenAnswer, Error> {
        chatport_core::telemetry::observe(
            crate::client::CONNECTOR,
            "token",
            self.fetch_attempt(http),
        )
        .await
    }

    async fn fetch_attempt(&self, http: &reqwest::Client) -> Result<TokenAnswer, Error> {
        let fields = self.grant.fields();
        let request = http
            .post(self.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        let request = match self.encoding {
            TokenEncoding::Json => {
                let body: serde_json::Map<String, serde_json::Value> = fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                    .collect();
                request.json(&body)
            }
            TokenEncoding::Form => request.form(&fields),
        };
        TokenAnswer::request(
            request,
            Error::from_reqwest,
            |a| error_from_body(a.status, &a.headers, &a.body),
            |status, source| Error::Decode {
                status,
                what: "token",
                source,
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_debug_hides_secrets() {
        let g = Grant::Password {
            client_id: "app".into(),
            client_secret: SecretString::from("s3cr3t-client"),
            username: "user@example.com".into(),
            password: SecretString::from("hunter2-pass"),
        };
        let text = format!("{g:?}");
        assert!(text.contains("password"));
        assert!(text.contains("app"));
        assert!(!text.contains("s3cr3t-client"));
        assert!(!text.contains("hunter2-pass"));
    }
}
