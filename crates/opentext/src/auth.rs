//! Tenant OAuth: the token request, the token cache, single-flight refresh and invalidation.
//!
//! Follows `shared/api/opentext-orangelogic.md` §1.2: `POST {auth_base}/tenants/{tenant_id}/oauth2/token`
//! with a JSON body (the official samples' encoding), response
//! `{"access_token","token_type":"bearer","expires_in"}`.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
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

/// A token as handed to a request: the value and the generation it belongs to (to invalidate
/// exactly this token after a 401, not a newer one another task fetched meanwhile).
pub(crate) struct Token {
    pub(crate) value: SecretString,
    pub(crate) generation: u64,
}

struct Cached {
    value: SecretString,
    /// When to fetch a new token (expiry minus skew); `None` when the server gave no `expires_in`.
    refresh_at: Option<Instant>,
    generation: u64,
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    generation: u64,
}

/// The token endpoint's answer. Not `Debug`: it holds the token in the clear.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    expires_in: Option<u64>,
}

/// `expires_in` as a number or a numeric string (some OAuth servers send `"3600"`).
fn lenient_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Fetches, caches and refreshes the access token. One fetch at a time (a tokio `Mutex` held
/// across the request), so concurrent callers share one refresh.
pub(crate) struct TokenSource {
    pub(crate) token_url: Url,
    pub(crate) grant: Grant,
    pub(crate) encoding: TokenEncoding,
    pub(crate) skew: Duration,
    state: Mutex<State>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url.as_str())
            .field("grant", &self.grant)
            .field("encoding", &self.encoding)
            .field("skew", &self.skew)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(
        token_url: Url,
        grant: Grant,
        encoding: TokenEncoding,
        skew: Duration,
    ) -> Self {
        Self {
            token_url,
            grant,
            encoding,
            skew,
            state: Mutex::new(State::default()),
        }
    }

    /// A valid token: the cached one while more than `skew` of its lifetime remains, otherwise a
    /// freshly fetched one.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Token, Error> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.current
            && c.refresh_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(Token {
                value: c.value.clone(),
                generation: c.generation,
            });
        }
        let started = Instant::now();
        let response = retry
            .run(|| self.fetch(http))
            .await
            .map_err(|e| Error::Token(Box::new(e)))?;
        if let Some(t) = response.token_type.as_deref()
            && !t.eq_ignore_ascii_case("bearer")
        {
            tracing::warn!(
                token_type = t,
                "OpenText token endpoint returned a non-bearer token type; using it as a bearer token"
            );
        }
        state.generation += 1;
        let generation = state.generation;
        let refresh_at = response.expires_in.map(|secs| {
            let lifetime = Duration::from_secs(secs).saturating_sub(self.skew);
            started + lifetime
        });
        tracing::debug!(
            generation,
            expires_in = response.expires_in,
            "fetched OpenText access token"
        );
        state.current = Some(Cached {
            value: response.access_token.clone(),
            refresh_at,
            generation,
        });
        Ok(Token {
            value: response.access_token,
            generation,
        })
    }

    /// Forgets the cached token if it is still the one of `generation` (after a 401).
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            state.current = None;
        }
    }

    /// One token request, recorded as operation `token` in the connector request metrics.
    async fn fetch(&self, http: &reqwest::Client) -> Result<TokenResponse, Error> {
        chatport_core::telemetry::observe(
            crate::client::CONNECTOR,
            "token",
            self.fetch_attempt(http),
        )
        .await
    }

    async fn fetch_attempt(&self, http: &reqwest::Client) -> Result<TokenResponse, Error> {
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
        let response = request.send().await.map_err(Error::from_reqwest)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Error::from_reqwest)?;
        if !(200..300).contains(&status) {
            return Err(error_from_body(status, &headers, &body));
        }
        serde_json::from_slice::<TokenResponse>(&body).map_err(|source| Error::Decode {
            status,
            what: "token",
            source,
        })
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

    #[test]
    fn token_response_is_lenient() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":"900"}"#).unwrap();
        assert_eq!(t.expires_in, Some(900));
        assert_eq!(t.access_token.expose_secret(), "abc");
        let t: TokenResponse = serde_json::from_str(
            r#"{"access_token":"abc","token_type":"bearer","expires_in":899.5,"scope":"x"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in, Some(899));
        assert_eq!(t.token_type.as_deref(), Some("bearer"));
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"abc"}"#).unwrap();
        assert_eq!(t.expires_in, None);
        assert!(serde_json::from_str::<TokenResponse>(r#"{"token_type":"bearer"}"#).is_err());
    }
}
