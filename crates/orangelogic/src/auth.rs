//! Authentication: OAuth client credentials, a static (non-expiring) bearer token, and the legacy
//! user login token; the token cache, single-flight refresh and invalidation.
//!
//! Follows `shared/api/opentext-orangelogic.md` §2.2:
//!
//! * client credentials: `POST {base}/webapi/security/clientcredentialsauthentication/authenticate_46H_v1`,
//!   form `grant_type=client_credentials&client_id=…&client_secret=…` → JSON with `access_token`
//!   (and, per a secondary source, `token_type` and `expires_in`); sent as `Authorization: Bearer`;
//! * non-expiring bearer token: configured, never fetched, sent as `Authorization: Bearer`;
//! * user login: `POST {base}/api/Authentication/v2.0/Login` (the documented path,
//!   developer.orangelogic.com/reference/user-login; `/API/Authentication/v1.0/Login`, which
//!   public integrations use, through [`LOGIN_PATH_V1`]), form `Login`, `Password`,
//!   `format=json` → `{"APIRequestInfo":{"TimeoutPeriodMinutes":n,…},"APIResponse":{"Token":"…"}}`;
//!   sent as the `token` query parameter. The vendor warns the token is bound to the requesting IP.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use chatport_http::{
    Answer, Fetched, Lease, TokenCache, TokenLifetime, encode_pairs, lenient_seconds,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use crate::http::{Family, decode_success, error_from_status, get_ci, get_ci_text};
use crate::{Error, RetryPolicy};

/// Default path of the client-credentials endpoint.
pub const CLIENT_CREDENTIALS_PATH: &str =
    "/webapi/security/clientcredentialsauthentication/authenticate_46H_v1";
/// Default path of the user login endpoint: `POST /api/Authentication/v2.0/Login` with the
/// body parameters `Login`, `Password`, `format` (developer.orangelogic.com/reference/user-login).
/// The answer is the legacy envelope (`APIRequestInfo`, `APIResponse.Token`).
pub const LOGIN_PATH: &str = "/api/Authentication/v2.0/Login";
/// Path of the older v1.0 user login (`/API/Authentication/v1.0/Login`), the one public
/// integrations call (notes §2.2, O8–O10); select it with
/// [`ClientBuilder::login_path`](crate::ClientBuilder::login_path).
pub const LOGIN_PATH_V1: &str = "/API/Authentication/v1.0/Login";

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

/// Fetches, caches and refreshes the token through a [`TokenCache`] (one fetch at a time, so
/// concurrent callers share one refresh; the lifetime rule of [`TokenLifetime`]). A static
/// bearer token bypasses the cache.
pub(crate) struct TokenSource {
    pub(crate) credentials: Credentials,
    pub(crate) url: Option<Url>,
    cache: TokenCache<SecretString>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("credentials", &self.credentials)
            .field("url", &self.url.as_ref().map(Url::as_str))
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(credentials: Credentials, url: Option<Url>, lifetime: TokenLifetime) -> Self {
        Self {
            credentials,
            url,
            cache: TokenCache::new(lifetime),
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
        self.cache.fetches()
    }

    fn token_of(&self, lease: Lease<SecretString>) -> Token {
        Token {
            value: lease.value,
            generation: lease.generation,
            placement: self.placement(),
        }
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
        let lease = self.cache.get(|| self.fetch_token(http, retry)).await?;
        Ok(self.token_of(lease))
    }

    /// Runs `send` with a token; when `refused` says the answer refused it, fetches a new token
    /// and runs `send` once more (the 401 replay; a static bearer token is sent once).
    pub(crate) async fn with_replay<R, S, Fut, P>(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
        send: S,
        refused: P,
    ) -> Result<R, Error>
    where
        S: Fn(Token) -> Fut,
        Fut: Future<Output = Result<R, Error>>,
        P: Fn(&Result<R, Error>) -> bool,
    {
        if !self.can_refresh() {
            return send(self.token(http, retry).await?).await;
        }
        self.cache
            .send_with_replay(
                || self.fetch_token(http, retry),
                |lease| send(self.token_of(lease)),
                refused,
            )
            .await
    }

    /// Drops the cached token if it is still the one of `generation`.
    pub(crate) async fn invalidate(&self, generation: u64) {
        self.cache.invalidate(generation).await;
    }

    /// One token fetch under the retry policy, as a cache entry; a failure is [`Error::Token`].
    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Fetched<SecretString>, Error> {
        let (value, lifetime) = retry
            .run(|| self.fetch(http))
            .await
            .map_err(|e| Error::Token(Box::new(e)))?;
        tracing::debug!(
            kind = self.credentials.kind(),
            ?lifetime,
            "OrangeDAM token obtained"
        );
        Ok(Fetched::new(value, lifetime))
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
        let response = http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encode_pairs(form))
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        let answer = Answer::read(response).await.map_err(Error::from_reqwest)?;
        if !answer.is_success() {
            return Err(error_from_status(
                answer.status,
                &answer.headers,
                &answer.body,
            ));
        }
        match &self.credentials {
            Credentials::UserLogin { .. } => parse_login(answer.status, &answer.body),
            _ => parse_oauth(answer.status, &answer.body),
        }
    }
}

/// `expires_in` as a number or a numeric string.
fn seconds(v: Option<&Value>) -> Option<u64> {
    v.and_then(lenient_seconds)
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
