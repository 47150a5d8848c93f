//! Authentication: forms login (cookies + CSRF, single-flight re-login) and OAuth 2.0 client
//! credentials through the Identity Service (token cached, single-flight refresh).
//!
//! Follows `shared/api/creatio.md` §1.1 (forms) and §1.2 (OAuth).

use std::fmt;
use std::sync::{Mutex as StdMutex, PoisonError};
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::http::{error_from_body, set_cookies};
use crate::{Error, RetryPolicy};

/// The names under which Creatio issues its CSRF cookie, in order of preference: the modern
/// `CRT_CSRF`, the legacy `BPMCSRF`, and `CsrfToken` seen on some newer builds
/// (`shared/api/creatio.md` §1.1).
pub const CSRF_COOKIE_NAMES: [&str; 3] = ["CRT_CSRF", "BPMCSRF", "CsrfToken"];

/// Under which header name(s) the CSRF token is sent back on every request of a forms session.
///
/// Academy's examples send a `BPMCSRF` header; clio and creatioclient echo the value "under the
/// name the environment issued" (`CRT_CSRF` on newer builds). A missing or wrongly named header
/// gives a bare 403.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfEcho {
    /// One header, named like the cookie the value came from (default; what clio does).
    #[default]
    IssuedName,
    /// The header named like the cookie **and** a `BPMCSRF` header with the same value (for
    /// instances behind proxies that only pass the legacy name; inferred, harmless otherwise).
    IssuedNameAndBpmcsrf,
    /// Always one header named `BPMCSRF` (Academy's examples).
    Bpmcsrf,
}

/// How the client secret is presented to the Identity Service token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenAuthMethod {
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
    /// `Authorization: Basic base64(id:secret)` (`client_secret_basic`).
    Basic,
    /// `client_secret_post`, and when the endpoint answers 400 or 401, once more with
    /// `client_secret_basic` (default; the field tip in `shared/api/creatio.md` §1.2).
    #[default]
    PostThenBasic,
}

/// What a request presents: session cookies + CSRF, or a bearer token. Not `Debug` (secrets).
pub(crate) enum Credentials {
    /// A forms session.
    Session {
        /// The `Cookie` header value.
        cookie: SecretString,
        /// `(header name, value)` pairs for the CSRF token.
        csrf: Vec<(String, SecretString)>,
        /// The login generation these cookies belong to.
        generation: u64,
    },
    /// An OAuth access token.
    Bearer {
        /// The token.
        token: SecretString,
        /// The token generation.
        generation: u64,
    },
}

impl Credentials {
    pub(crate) fn generation(&self) -> u64 {
        match self {
            Credentials::Session { generation, .. } | Credentials::Bearer { generation, .. } => {
                *generation
            }
        }
    }
}

/// The authentication in use.
pub(crate) enum Auth {
    Forms(FormsSession),
    OAuth(TokenSource),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Forms(s) => f
                .debug_struct("Forms")
                .field("login_url", &s.login_url.as_str())
                .field("username", &s.username)
                .field("csrf_echo", &s.csrf_echo)
                .finish_non_exhaustive(),
            Auth::OAuth(t) => f
                .debug_struct("OAuth")
                .field("token_url", &t.token_url.as_str())
                .field("client_id", &t.client_id)
                .field("method", &t.method)
                .finish_non_exhaustive(),
        }
    }
}

impl Auth {
    pub(crate) fn is_forms(&self) -> bool {
        matches!(self, Auth::Forms(_))
    }

    pub(crate) async fn credentials(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Credentials, Error> {
        match self {
            Auth::Forms(s) => s.credentials(http).await,
            Auth::OAuth(t) => t.credentials(http, retry).await,
        }
    }

    /// Forgets the session / token of `generation` and gets a new one, unless another task has
    /// already done so (single-flight).
    pub(crate) async fn renew(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
        generation: u64,
    ) -> Result<(), Error> {
        match self {
            Auth::Forms(s) => s.relogin(http, generation).await,
            Auth::OAuth(t) => {
                t.invalidate(generation).await;
                t.credentials(http, retry).await.map(drop)
            }
        }
    }

    pub(crate) fn logins(&self) -> u64 {
        match self {
            Auth::Forms(s) => s.lock().logins,
            Auth::OAuth(t) => t.fetches.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

#[derive(Default)]
struct SessionState {
    /// Cookies in the order first set: `(name, value)`.
    cookies: Vec<(String, String)>,
    valid: bool,
    generation: u64,
    logins: u64,
}

/// A forms (cookie) session: `POST {site root}/ServiceModel/AuthService.svc/Login`.
pub(crate) struct FormsSession {
    pub(crate) login_url: Url,
    pub(crate) username: String,
    password: SecretString,
    pub(crate) csrf_echo: CsrfEcho,
    state: StdMutex<SessionState>,
    /// Held while logging in: concurrent re-logins collapse into one.
    login_lock: Mutex<()>,
}

/// The login answer: `{"Code":0,"Message":"","Exception":null,…}`.
#[derive(Deserialize)]
struct LoginBody {
    #[serde(rename = "Code", default)]
    code: Option<Value>,
    #[serde(rename = "Message", default)]
    message: Option<String>,
    #[serde(rename = "Exception", default)]
    exception: Option<Value>,
}

impl FormsSession {
    pub(crate) fn new(
        login_url: Url,
        username: String,
        password: SecretString,
        csrf_echo: CsrfEcho,
    ) -> Self {
        Self {
            login_url,
            username,
            password,
            csrf_echo,
            state: StdMutex::new(SessionState::default()),
            login_lock: Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn snapshot(&self) -> Option<Credentials> {
        let state = self.lock();
        if !state.valid {
            return None;
        }
        let cookie = state
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let issued = CSRF_COOKIE_NAMES.iter().find_map(|name| {
            state
                .cookies
                .iter()
                .find(|(n, v)| n == name && !v.is_empty())
                .map(|(n, v)| (n.clone(), v.clone()))
        });
        let mut csrf = Vec::new();
        if let Some((name, value)) = issued {
            match self.csrf_echo {
                CsrfEcho::IssuedName => csrf.push((name, SecretString::from(value))),
                CsrfEcho::IssuedNameAndBpmcsrf => {
                    if name != "BPMCSRF" {
                        csrf.push(("BPMCSRF".to_owned(), SecretString::from(value.clone())));
                    }
                    csrf.push((name, SecretString::from(value)));
                }
                CsrfEcho::Bpmcsrf => csrf.push(("BPMCSRF".to_owned(), SecretString::from(value))),
            }
        }
        Some(Credentials::Session {
            cookie: SecretString::from(cookie),
            csrf,
            generation: state.generation,
        })
    }

    async fn credentials(&self, http: &reqwest::Client) -> Result<Credentials, Error> {
        loop {
            if let Some(c) = self.snapshot() {
                return Ok(c);
            }
            let generation = self.lock().generation;
            self.relogin(http, generation).await?;
        }
    }

    /// Logs in again unless the session has moved past `generation` meanwhile.
    async fn relogin(&self, http: &reqwest::Client, generation: u64) -> Result<(), Error> {
        let _guard = self.login_lock.lock().await;
        {
            let state = self.lock();
            if state.valid && state.generation != generation {
                return Ok(());
            }
        }
        {
            // Expire the old session's cookies (creatioclient expires .ASPXAUTH and the CSRF
            // cookies before logging in again).
            let mut state = self.lock();
            state.valid = false;
            state.cookies.clear();
        }
        let cookies = self.login(http).await?;
        let mut state = self.lock();
        state.cookies = cookies;
        state.generation += 1;
        state.logins += 1;
        state.valid = true;
        tracing::debug!(generation = state.generation, "logged in to Creatio");
        Ok(())
    }

    /// One forms login, recorded as operation `login` in the connector request metrics.
    async fn login(&self, http: &reqwest::Client) -> Result<Vec<(String, String)>, Error> {
        chatport_core::telemetry::observe(
            crate::client::CONNECTOR,
            "login",
            self.login_attempt(http),
        )
        .await
    }

    async fn login_attempt(&self, http: &reqwest::Client) -> Result<Vec<(String, String)>, Error> {
        let body = serde_json::json!({
            "UserName": self.username,
            "UserPassword": self.password.expose_secret(),
        });
        let response = http
            .post(self.login_url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header("ForceUseSession", "true")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Error::Login(Box::new(Error::from_reqwest(e))))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::Login(Box::new(Error::from_reqwest(e))))?;
        if !(200..300).contains(&status) {
            return Err(Error::Login(Box::new(error_from_body(
                status, &headers, &bytes,
            ))));
        }
        let parsed: LoginBody = serde_json::from_slice(&bytes).map_err(|source| {
            Error::Login(Box::new(Error::Decode {
                status,
                what: "login",
                source,
            }))
        })?;
        let code = match &parsed.code {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(-1),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(-1),
            None | Some(Value::Null) => 0,
            Some(_) => -1,
        };
        if code != 0 {
            let message = parsed.message.filter(|m| !m.is_empty()).or_else(|| {
                parsed
                    .exception
                    .as_ref()
                    .and_then(|e| e.get("Message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            return Err(Error::LoginRefused { code, message });
        }
        let mut cookies: Vec<(String, String)> = Vec::new();
        for (name, value, removed) in set_cookies(&headers) {
            cookies.retain(|(n, _)| *n != name);
            if !removed {
                cookies.push((name, value));
            }
        }
        Ok(cookies)
    }
}

/// A cached token.
struct Cached {
    value: SecretString,
    refresh_at: Option<Instant>,
    generation: u64,
}

#[derive(Default)]
struct TokenState {
    current: Option<Cached>,
    generation: u64,
}

/// The token endpoint's answer. Not `Debug`: it holds the token in the clear.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default, deserialize_with = "lenient_seconds")]
    expires_in: Option<u64>,
}

fn lenient_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// OAuth 2.0 client credentials against `{IdentityServiceURL}/connect/token`.
pub(crate) struct TokenSource {
    pub(crate) token_url: Url,
    pub(crate) client_id: String,
    client_secret: SecretString,
    pub(crate) method: TokenAuthMethod,
    skew: Duration,
    /// Used when the answer has no `expires_in` (3600 s, the common default).
    default_lifetime: Duration,
    state: Mutex<TokenState>,
    pub(crate) fetches: std::sync::atomic::AtomicU64,
}

impl TokenSource {
    pub(crate) fn new(
        token_url: Url,
        client_id: String,
        client_secret: SecretString,
        method: TokenAuthMethod,
        skew: Duration,
    ) -> Self {
        Self {
            token_url,
            client_id,
            client_secret,
            method,
            skew,
            default_lifetime: Duration::from_secs(3600),
            state: Mutex::new(TokenState::default()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    async fn credentials(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Credentials, Error> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.current
            && c.refresh_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(Credentials::Bearer {
                token: c.value.clone(),
                generation: c.generation,
            });
        }
        let started = Instant::now();
        let response = retry
            .run(|| self.fetch(http))
            .await
            .map_err(|e| Error::Token(Box::new(e)))?;
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state.generation += 1;
        let generation = state.generation;
        let lifetime = response
            .expires_in
            .map_or(self.default_lifetime, Duration::from_secs);
        let refresh_at = Some(started + lifetime.saturating_sub(self.skew));
        state.current = Some(Cached {
            value: response.access_token.clone(),
            refresh_at,
            generation,
        });
        tracing::debug!(
            generation,
            expires_in = response.expires_in,
            "fetched Creatio access token"
        );
        Ok(Credentials::Bearer {
            token: response.access_token,
            generation,
        })
    }

    async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            state.current = None;
        }
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<TokenResponse, Error> {
        match self.method {
            TokenAuthMethod::Post => self.fetch_with(http, false).await,
            TokenAuthMethod::Basic => self.fetch_with(http, true).await,
            TokenAuthMethod::PostThenBasic => match self.fetch_with(http, false).await {
                Err(e) if matches!(e.status(), Some(400 | 401)) => {
                    tracing::debug!("client_secret_post refused; trying client_secret_basic once");
                    self.fetch_with(http, true).await
                }
                other => other,
            },
        }
    }

    /// One token request, recorded as operation `token` in the connector request metrics.
    async fn fetch_with(
        &self,
        http: &reqwest::Client,
        basic: bool,
    ) -> Result<TokenResponse, Error> {
        chatport_core::telemetry::observe(
            crate::client::CONNECTOR,
            "token",
            self.fetch_attempt(http, basic),
        )
        .await
    }

    async fn fetch_attempt(
        &self,
        http: &reqwest::Client,
        basic: bool,
    ) -> Result<TokenResponse, Error> {
        let request = http
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json");
        let request = if basic {
            use base64::Engine as _;
            let pair = format!("{}:{}", self.client_id, self.client_secret.expose_secret());
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            request
                .header(AUTHORIZATION, format!("Basic {encoded}"))
                .form(&[("grant_type", "client_credentials")])
        } else {
            request.form(&[
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
                ("grant_type", "client_credentials"),
            ])
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
    fn token_response_is_lenient() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":"900"}"#).unwrap();
        assert_eq!(t.expires_in, Some(900));
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"abc"}"#).unwrap();
        assert_eq!(t.expires_in, None);
    }

    #[test]
    fn csrf_echo_variants() {
        let session = |echo| {
            let s = FormsSession::new(
                Url::parse("http://h/ServiceModel/AuthService.svc/Login").unwrap(),
                "u".into(),
                SecretString::from("p"),
                echo,
            );
            {
                let mut st = s.lock();
                st.cookies = vec![
                    (".ASPXAUTH".into(), "a".into()),
                    ("BPMCSRF".into(), "legacy".into()),
                    ("CRT_CSRF".into(), "modern".into()),
                ];
                st.valid = true;
            }
            s
        };
        let names = |echo| match session(echo).snapshot().unwrap() {
            Credentials::Session { csrf, .. } => csrf
                .into_iter()
                .map(|(n, v)| format!("{n}={}", v.expose_secret()))
                .collect::<Vec<_>>(),
            Credentials::Bearer { .. } => unreachable!(),
        };
        assert_eq!(names(CsrfEcho::IssuedName), ["CRT_CSRF=modern"]);
        assert_eq!(
            names(CsrfEcho::IssuedNameAndBpmcsrf),
            ["BPMCSRF=modern", "CRT_CSRF=modern"]
        );
        assert_eq!(names(CsrfEcho::Bpmcsrf), ["BPMCSRF=modern"]);
    }
}
