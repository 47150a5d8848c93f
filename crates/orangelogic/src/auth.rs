//! Authentication: OAuth client credentials, a static (non-expiring) bearer token, and the legacy
//! user login token; the token cache, single-flight refresh and invalidation.
//!
//! Follows `shared/api/opentext-orangelogic.md` §2.2:
//!
//! * client credentials: `POST {base}/webapi/security/clientcredentialsauthentication/authenticate_46H_v1`,
//!   form `grant_type=client_credentials&client_id=…&client_secret=…` → JSON with `access_token`
//!   (and, per a secondary source, `token_type` and `expires_in`); sent as `Authorization: Bearer`;
//! * non-expiring bearer token: configured, never fetched, sent as `Authorization: Bearer`;
//! * user login: `POST {base}/API/Authentication/v1.0/Login`, form `Login`, `Password`,
//!   `format=json` → `{"APIRequestInfo":{"TimeoutPeriodMinutes":n,…},"APIResponse":{"Token":"…"}}`;
//!   sent as the `token` query parameter. The vendor warns the token is bound to the requesting IP.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::http::{Family, decode_success, error_from_status, get_ci, get_ci_text};
use crate::{Error, RetryPolicy};

/// Default path of the client-credentials endpoint.
pub const CLIENT_CREDENTIALS_PATH: &str =
    "/webapi/security/clientcredentialsauthentication/authenticate_46H_v1";
/// Default path of the legacy user login endpoint (v1.0, the one public integrations use; the
/// vendor's current page names `/api/Authentication/v2.0/Login`).
pub const LOGIN_PATH: &str = "/API/Authentication/v1.0/Login";

/// The credentials the client authenticates with.
#[derive(Clone)]
pub(crate) enum Credentials {
    OAuthClient {
        client_id: String,
        client_secret: SecretString,
    },
    Bearer(SecretString),
    UserLogin {
        login: String,
        password: SecretString,
    },
}

impl Credentials {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Credentials::OAuthClient { .. } => "client_credentials",
            Credentials::Bearer(_) => "bearer",
            Credentials::UserLogin { .. } => "user_login",
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Credentials");
        d.field("kind", &self.kind());
        match self {
            Credentials::OAuthClient { client_id, .. } => {
                d.field("client_id", client_id);
            }
            Credentials::UserLogin { login, .. } => {
                d.field("login", login);
            }
            Credentials::Bearer(_) => {}
        }
        d.finish_non_exhaustive()
    }
}

/// Where a token goes on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// `Authorization: Bearer {token}`.
    Bearer,
    /// `token={token}` query parameter (legacy login tokens).
    QueryParam,
}

/// A token as handed to a request, with the generation it belongs to (to invalidate exactly this
/// token after a 401, not a newer one another task fetched meanwhile).
pub(crate) struct Token {
    pub(crate) value: SecretString,
    pub(crate) generation: u64,
    pub(crate) placement: Placement,
}

struct Cached {
    value: SecretString,
    refresh_at: Option<Instant>,
    generation: u64,
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    generation: u64,
    fetches: u64,
}

/// Fetches, caches and refreshes the token; one fetch at a time (a tokio `Mutex` held across the
/// request), so concurrent callers share one refresh.
pub(crate) struct TokenSource {
    pub(crate) credentials: Credentials,
    pub(crate) url: Option<Url>,
    skew: Duration,
    state: Mutex<State>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("credentials", &self.credentials)
            .field("url", &self.url.as_ref().map(Url::as_str))
            .field("skew", &self.skew)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(credentials: Credentials, url: Option<Url>, skew: Duration) -> Self {
        Self {
            credentials,
            url,
            skew,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether a refused token can be replaced by fetching a new one (not for a static bearer).
    pub(crate) fn can_refresh(&self) -> bool {
        !matches!(self.credentials, Credentials::Bearer(_))
    }

    fn placement(&self) -> Placement {
        match self.credentials {
            Credentials::UserLogin { .. } => Placement::QueryParam,
            _ => Placement::Bearer,
        }
    }

    /// How many token requests were made (for tests and metrics).
    pub(crate) async fn fetches(&self) -> u64 {
        self.state.lock().await.fetches
    }

    /// The current token, fetching a new one when there is none or it is due for refresh.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Token, Error> {
        if let Credentials::Bearer(value) = &self.credentials {
            return Ok(Token {
                value: value.clone(),
                generation: 0,
                placement: Placement::Bearer,
            });
        }
        let mut state = self.state.lock().await;
        if let Some(cached) = &state.current {
            let fresh = cached.refresh_at.is_none_or(|at| Instant::now() < at);
            if fresh {
                return Ok(Token {
                    value: cached.value.clone(),
                    generation: cached.generation,
                    placement: self.placement(),
                });
            }
        }
        let (value, lifetime) = retry
            .run(|| self.fetch(http))
            .await
            .map_err(|e| Error::Token(Box::new(e)))?;
        state.fetches += 1;
        state.generation += 1;
        let refresh_at = lifetime.map(|l| Instant::now() + l.saturating_sub(self.skew));
        let generation = state.generation;
        state.current = Some(Cached {
            value: value.clone(),
            refresh_at,
            generation,
        });
        tracing::debug!(
            kind = self.credentials.kind(),
            ?lifetime,
            "OrangeDAM token obtained"
        );
        Ok(Token {
            value,
            generation,
            placement: self.placement(),
        })
    }

    /// Drops the cached token if it is still the one of `generation`.
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

    /// One token (or login) request, recorded as operation `token` / `login` in the connector
    /// request metrics.
    async fn fetch(
        &self,
        http: &reqwest::Client,
    ) -> Result<(SecretString, Option<Duration>), Error> {
        let operation = match &self.credentials {
            Credentials::UserLogin { .. } => "login",
            _ => "token",
        };
        chatport_core::telemetry::observe(
            crate::client::CONNECTOR,
            operation,
            self.fetch_attempt(http),
        )
        .await
    }

    async fn fetch_attempt(
        &self,
        http: &reqwest::Client,
    ) -> Result<(SecretString, Option<Duration>), Error> {
        let url = self
            .url
            .clone()
            .ok_or(Error::NotConfigured("token endpoint URL"))?;
        let form: Vec<(&str, &str)> = match &self.credentials {
            Credentials::OAuthClient {
                client_id,
                client_secret,
            } => vec![
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret.expose_secret()),
            ],
            Credentials::UserLogin { login, password } => vec![
                ("Login", login),
                ("Password", password.expose_secret()),
                ("format", "json"),
            ],
            Credentials::Bearer(_) => return Err(Error::NotConfigured("token endpoint")),
        };
        let body = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>();
        let response = http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(crate::http::encode_pairs(&body))
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(Error::from_reqwest)?;
        if !(200..300).contains(&status) {
            return Err(error_from_status(status, &headers, &bytes));
        }
        match &self.credentials {
            Credentials::UserLogin { .. } => parse_login(status, &bytes),
            _ => parse_oauth(status, &bytes),
        }
    }
}

/// `expires_in` as a number or a numeric string.
fn seconds(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_oauth(status: u16, body: &[u8]) -> Result<(SecretString, Option<Duration>), Error> {
    let value = decode_success(Family::WebApi, status, body, "token")?;
    let obj = value.as_object().ok_or_else(|| Error::Decode {
        status,
        what: "token",
        reason: "not a JSON object".into(),
    })?;
    let token =
        get_ci_text(obj, &["access_token", "accessToken"]).ok_or_else(|| Error::Decode {
            status,
            what: "token",
            reason: "no access_token".into(),
        })?;
    let lifetime = seconds(get_ci(obj, &["expires_in", "expiresIn"])).map(Duration::from_secs);
    Ok((SecretString::from(token), lifetime))
}

fn parse_login(status: u16, body: &[u8]) -> Result<(SecretString, Option<Duration>), Error> {
    let value = decode_success(Family::Legacy, status, body, "login")?;
    let token = value
        .get("APIResponse")
        .and_then(Value::as_object)
        .and_then(|r| get_ci_text(r, &["Token"]))
        .ok_or_else(|| Error::Decode {
            status,
            what: "login",
            reason: "no APIResponse.Token".into(),
        })?;
    let minutes = value
        .get("APIRequestInfo")
        .and_then(Value::as_object)
        .and_then(|i| seconds(get_ci(i, &["TimeoutPeriodMinutes"])));
    Ok((
        SecretString::from(token),
        minutes.map(|m| Duration::from_secs(m.saturating_mul(60))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::UserLogin {
            login: "robot@example.com".into(),
            password: SecretString::from("hunter2-pass"),
        };
        let text = format!("{c:?}");
        assert!(text.contains("user_login"));
        assert!(!text.contains("hunter2"));
        let b = Credentials::Bearer(SecretString::from("static-tok-123"));
        assert!(!format!("{b:?}").contains("static-tok-123"));
        let cc = Credentials::OAuthClient {
            client_id: "app".into(),
            client_secret: SecretString::from("cc-secret-9"),
        };
        assert!(!format!("{cc:?}").contains("cc-secret-9"));
    }

    #[test]
    fn parses_token_answers() {
        let (t, l) = parse_oauth(
            200,
            br#"{"access_token":"a1","token_type":"Bearer","expires_in":"3600"}"#,
        )
        .unwrap();
        assert_eq!(t.expose_secret(), "a1");
        assert_eq!(l, Some(Duration::from_secs(3600)));
        let (_, l) = parse_oauth(200, br#"{"access_token":"a1"}"#).unwrap();
        assert_eq!(l, None);
        assert!(parse_oauth(200, br#"{"token_type":"Bearer"}"#).is_err());
        let (t, l) = parse_login(
            202,
            br#"{"APIRequestInfo":{"TimeoutPeriodMinutes":20},"APIResponse":{"Code":"SUCCESS","Token":"lt-1"}}"#,
        )
        .unwrap();
        assert_eq!(t.expose_secret(), "lt-1");
        assert_eq!(l, Some(Duration::from_secs(1200)));
        assert!(matches!(
            parse_login(200, br#"{"APIResponse":{"Code":"LOGIN_FAILED"}}"#),
            Err(Error::Api { .. })
        ));
    }
}
