//! Authentication: forms login (cookies + CSRF, single-flight re-login) and OAuth 2.0 client
//! credentials through the Identity Service (token cached, single-flight refresh).
//!
//! Follows `shared/api/creatio.md` §1.1 (forms) and §1.2 (OAuth).

use std::fmt;

use chatport_http::{
    Answer, Fetched, Lease, SessionCookies, TokenAnswer, TokenCache, TokenLifetime,
};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::http::error_from_body;
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
    },
    /// An OAuth access token.
    Bearer {
        /// The token.
        token: SecretString,
    },
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
                .field("cache", &s.cache)
                .finish_non_exhaustive(),
            Auth::OAuth(t) => f
                .debug_struct("OAuth")
                .field("token_url", &t.token_url.as_str())
                .field("client_id", &t.client_id)
                .field("method", &t.method)
                .field("cache", &t.cache)
                .finish_non_exhaustive(),
        }
    }
}

impl Auth {
    pub(crate) fn is_forms(&self) -> bool {
        matches!(self, Auth::Forms(_))
    }

    /// The current session or token, logging in (fetching) when there is none or it is due.
    pub(crate) async fn credentials(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Credentials, Error> {
        match self {
            Auth::Forms(s) => {
                let lease = s.cache.get(|| s.fetch(http)).await?;
                Ok(s.credentials_of(&lease.value))
            }
            Auth::OAuth(t) => {
                let lease = t.cache.get(|| t.fetch_token(http, retry)).await?;
                Ok(Credentials::Bearer { token: lease.value })
            }
        }
    }

    /// Sends the request `request` builds with the session or token; when `expired` says the
    /// response shows an expired session, logs in again (single-flight: one re-login shared by
    /// all concurrent requests) and sends once more. The last response is returned as it is.
    pub(crate) async fn send_with_replay(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
        request: impl Fn(&Credentials) -> reqwest::RequestBuilder,
        expired: impl Fn(&reqwest::Response) -> bool,
    ) -> Result<reqwest::Response, Error> {
        let send = |creds: Credentials| {
            let request = request(&creds);
            async move { request.send().await.map_err(Error::from_reqwest) }
        };
        let refused = |r: &Result<reqwest::Response, Error>| r.as_ref().is_ok_and(&expired);
        match self {
            Auth::Forms(s) => {
                let send = |lease: Lease<SessionCookies>| send(s.credentials_of(&lease.value));
                s.cache
                    .send_with_replay(|| s.fetch(http), send, refused)
                    .await
            }
            Auth::OAuth(t) => {
                let send =
                    |lease: Lease<SecretString>| send(Credentials::Bearer { token: lease.value });
                t.cache
                    .send_with_replay(|| t.fetch_token(http, retry), send, refused)
                    .await
            }
        }
    }

    /// Successful logins (forms) or token fetches (OAuth).
    pub(crate) fn logins(&self) -> u64 {
        match self {
            Auth::Forms(s) => s.cache.fetches(),
            Auth::OAuth(t) => t.cache.fetches(),
        }
    }
}

/// A forms (cookie) session: `POST {site root}/ServiceModel/AuthService.svc/Login`. The session's
/// cookies live in a [`TokenCache`]: concurrent re-logins collapse into one, and a session is
/// renewed proactively per [`TokenLifetime`] (a login answer states no lifetime).
pub(crate) struct FormsSession {
    pub(crate) login_url: Url,
    pub(crate) username: String,
    password: SecretString,
    pub(crate) csrf_echo: CsrfEcho,
    cache: TokenCache<SessionCookies>,
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
        lifetime: TokenLifetime,
    ) -> Self {
        Self {
            login_url,
            username,
            password,
            csrf_echo,
            cache: TokenCache::new(lifetime),
        }
    }

    /// What a request presents for a session with `cookies`: the `Cookie` header and the CSRF
    /// header(s) per [`CsrfEcho`].
    fn credentials_of(&self, cookies: &SessionCookies) -> Credentials {
        let issued = CSRF_COOKIE_NAMES.iter().find_map(|name| {
            cookies
                .get(name)
                .filter(|v| !v.is_empty())
                .map(|v| ((*name).to_owned(), v.to_owned()))
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
        Credentials::Session {
            cookie: SecretString::from(cookies.header_value()),
            csrf,
        }
    }

    /// One forms login as a cache entry, recorded as operation `login` in the connector request
    /// metrics.
    async fn fetch(&self, http: &reqwest::Client) -> Result<Fetched<SessionCookies>, Error> {
        let cookies = chatport_core::telemetry::observe(
            crate::client::CONNECTOR,
            "login",
            self.login_attempt(http),
        )
        .await?;
        tracing::debug!("logged in to Creatio");
        Ok(Fetched::new(cookies, None))
    }

    async fn login_attempt(&self, http: &reqwest::Client) -> Result<SessionCookies, Error> {
        let body = serde_json::json!({
            "UserName": self.username,
            "UserPassword": self.password.expose_secret(),
        });
        let login_error = |e: reqwest::Error| Error::Login(Box::new(Error::from_reqwest(e)));
        let response = http
            .post(self.login_url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header("ForceUseSession", "true")
            .body(body.to_string())
            .send()
            .await
            .map_err(login_error)?;
        let answer = Answer::read(response).await.map_err(login_error)?;
        let status = answer.status;
        if !answer.is_success() {
            return Err(Error::Login(Box::new(error_from_body(
                status,
                &answer.headers,
                &answer.body,
            ))));
        }
        let parsed: LoginBody = serde_json::from_slice(&answer.body).map_err(|source| {
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
        Ok(SessionCookies::from_headers(&answer.headers))
    }
}

/// OAuth 2.0 client credentials against `{IdentityServiceURL}/connect/token`, the token in a
/// [`TokenCache`].
pub(crate) struct TokenSource {
    pub(crate) token_url: Url,
    pub(crate) client_id: String,
    client_secret: SecretString,
    pub(crate) method: TokenAuthMethod,
    cache: TokenCache<SecretString>,
}

impl TokenSource {
    pub(crate) fn new(
        token_url: Url,
        client_id: String,
        client_secret: SecretString,
        method: TokenAuthMethod,
        lifetime: TokenLifetime,
    ) -> Self {
        Self {
            token_url,
            client_id,
            client_secret,
            method,
            cache: TokenCache::new(lifetime),
        }
    }

    /// One token fetch under the retry policy, as a cache entry; a failure is [`Error::Token`].
    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Fetched<SecretString>, Error> {
        let answer = retry
            .run(|| self.fetch(http))
            .await
            .map_err(|e| Error::Token(Box::new(e)))?;
        tracing::debug!(
            expires_in = answer.expires_in,
            "fetched Creatio access token"
        );
        Ok(answer.into_fetched())
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<TokenAnswer, Error> {
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
    async fn fetch_with(&self, http: &reqwest::Client, basic: bool) -> Result<TokenAnswer, Error> {
        let answer = TokenAnswer::request(
            self.token_request(http, basic),
            Error::from_reqwest,
            |a| error_from_body(a.status, &a.headers, &a.body),
            |status, source| Error::Decode {
                status,
                what: "token",
                source,
            },
        );
        chatport_core::telemetry::observe(crate::client::CONNECTOR, "token", answer).await
    }

    /// The token request: `client_secret_basic` when `basic`, else `client_secret_post`.
    fn token_request(&self, http: &reqwest::Client, basic: bool) -> reqwest::RequestBuilder {
        let request = http
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json");
        if basic {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_echo_variants() {
        let mut cookies = SessionCookies::new();
        cookies.set(".ASPXAUTH", "a");
        cookies.set("BPMCSRF", "legacy");
        cookies.set("CRT_CSRF", "modern");
        let names = |echo| {
            let s = FormsSession::new(
                Url::parse("http://h/ServiceModel/AuthService.svc/Login").unwrap(),
                "u".into(),
                SecretString::from("p"),
                echo,
                TokenLifetime::default(),
            );
            match s.credentials_of(&cookies) {
                Credentials::Session { csrf, cookie } => {
                    assert_eq!(
                        cookie.expose_secret(),
                        ".ASPXAUTH=a; BPMCSRF=legacy; CRT_CSRF=modern"
                    );
                    csrf.into_iter()
                        .map(|(n, v)| format!("{n}={}", v.expose_secret()))
                        .collect::<Vec<_>>()
                }
                Credentials::Bearer { .. } => unreachable!(),
            }
        };
        assert_eq!(names(CsrfEcho::IssuedName), ["CRT_CSRF=modern"]);
        assert_eq!(
            names(CsrfEcho::IssuedNameAndBpmcsrf),
            ["BPMCSRF=modern", "CRT_CSRF=modern"]
        );
        assert_eq!(names(CsrfEcho::Bpmcsrf), ["BPMCSRF=modern"]);
    }
}
