//! [`Client`], its [`ClientBuilder`], and the authenticated request path every endpoint uses.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chatport_core::Classify;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use crate::auth::{Auth, Credentials, FormsSession, TokenSource};
use crate::http::{error_from_body, is_html};
use crate::{CsrfEcho, Error, Lookups, RetryPolicy, TokenAuthMethod};
use chatport_http::{Answer, HttpSettings};

/// `Content-Type` of OData JSON bodies (`shared/api/creatio.md` §2.1): 64-bit integers and
/// decimals travel as strings with `IEEE754Compatible=true`.
pub(crate) const ODATA_JSON: &str = "application/json; charset=utf-8; IEEE754Compatible=true";

/// Academy's example chunk size for `FileApiService/UploadFile`: 524 288 bytes.
pub const DEFAULT_CHUNK_SIZE: usize = 524_288;

/// `MaxEntityRowCount`, Creatio's default cap on rows per read: 20 000 (`shared/api/creatio.md` §5).
pub const DEFAULT_ROW_CAP: u32 = 20_000;

/// Which runtime the Creatio instance runs on; decides the path prefixes
/// (`shared/api/creatio.md` §2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Platform {
    /// .NET Framework: OData at `{base}/0/odata`, services at `{base}/0/rest/…` (default).
    #[default]
    NetFramework,
    /// .NET Core / .NET 6/8: OData at `{base}/odata`, services at `{base}/rest/…` (no `/0`; a
    /// wrong prefix answers 404).
    NetCore,
}

impl Platform {
    /// The application prefix: `"/0"` or `""`.
    pub fn app_prefix(self) -> &'static str {
        match self {
            Platform::NetFramework => "/0",
            Platform::NetCore => "",
        }
    }
}

enum AuthConfig {
    Forms {
        username: String,
        password: SecretString,
    },
    OAuth {
        client_id: String,
        client_secret: SecretString,
    },
}

/// Configures a [`Client`]. Obtained from [`Client::builder`]; nothing is checked until
/// [`ClientBuilder::build`].
///
/// Required: [`base_url`](Self::base_url) and credentials ([`forms_auth`](Self::forms_auth) or
/// [`oauth_client_credentials`](Self::oauth_client_credentials)).
#[must_use]
pub struct ClientBuilder {
    base_url: Option<String>,
    platform: Platform,
    odata_path: Option<String>,
    auth: Option<AuthConfig>,
    identity_url: Option<String>,
    token_url: Option<String>,
    token_auth: TokenAuthMethod,
    csrf_echo: CsrfEcho,
    lookups: Lookups,
    chunk_size: usize,
    row_cap: u32,
    settings: HttpSettings,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("platform", &self.platform)
            .field("odata_path", &self.odata_path)
            .field(
                "auth",
                &self.auth.as_ref().map(|a| match a {
                    AuthConfig::Forms { .. } => "forms",
                    AuthConfig::OAuth { .. } => "oauth_client_credentials",
                }),
            )
            .field("identity_url", &self.identity_url)
            .field("token_url", &self.token_url)
            .field("csrf_echo", &self.csrf_echo)
            .field("chunk_size", &self.chunk_size)
            .field("row_cap", &self.row_cap)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            platform: Platform::default(),
            odata_path: None,
            auth: None,
            identity_url: None,
            token_url: None,
            token_auth: TokenAuthMethod::default(),
            csrf_echo: CsrfEcho::default(),
            lookups: Lookups::default(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            row_cap: DEFAULT_ROW_CAP,
            settings: HttpSettings::new(Duration::from_secs(30)),
        }
    }
}

impl ClientBuilder {
    /// The site root, e.g. `https://mycompany.creatio.com` (a trailing `/` is removed; OpenCX's
    /// troubleshooting names a trailing slash as a cause of "Invalid credentials"). Login is always
    /// at `{base_url}/ServiceModel/AuthService.svc/Login`.
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = Some(url.to_owned());
        self
    }

    /// The runtime (default [`Platform::NetFramework`]): decides the `/0` prefix of OData and
    /// services.
    pub fn platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }

    /// Overrides the OData root path relative to the site root, e.g. `"/0/odata"` or `"/odata"`.
    pub fn odata_path(mut self, path: &str) -> Self {
        self.odata_path = Some(path.to_owned());
        self
    }

    /// Forms (cookie) authentication with a Creatio user (`AuthService.svc/Login`). Use when the
    /// instance has no Identity Service.
    pub fn forms_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.auth = Some(AuthConfig::Forms {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// OAuth 2.0 client credentials of an "OAuth 2.0 integrated application" (the preferred
    /// authentication, `shared/api/creatio.md` §1.2). The token URL is
    /// [`token_url`](Self::token_url), else `{identity_url}/connect/token`, else derived by the
    /// cloud convention `https://{tenant}.creatio.com` → `https://{tenant}-is.creatio.com`.
    pub fn oauth_client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        self.auth = Some(AuthConfig::OAuth {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        });
        self
    }

    /// The Identity Service URL (the system setting `OAuth20IdentityServerUrl`); the token
    /// endpoint is `{identity_url}/connect/token`.
    pub fn identity_url(mut self, url: &str) -> Self {
        self.identity_url = Some(url.to_owned());
        self
    }

    /// The full token endpoint URL (overrides [`identity_url`](Self::identity_url)).
    pub fn token_url(mut self, url: &str) -> Self {
        self.token_url = Some(url.to_owned());
        self
    }

    /// How the client secret is presented (default [`TokenAuthMethod::PostThenBasic`]).
    pub fn token_auth_method(mut self, method: TokenAuthMethod) -> Self {
        self.token_auth = method;
        self
    }

    /// Under which header name(s) the CSRF token is echoed (default [`CsrfEcho::IssuedName`]).
    pub fn csrf_echo(mut self, echo: CsrfEcho) -> Self {
        self.csrf_echo = echo;
        self
    }

    /// The lookup GUIDs of this instance (default [`Lookups::default`], the out-of-the-box values;
    /// verify them per instance).
    pub fn lookups(mut self, lookups: Lookups) -> Self {
        self.lookups = lookups;
        self
    }

    /// Bytes per `FileApiService/UploadFile` request (default [`DEFAULT_CHUNK_SIZE`], 512 KiB;
    /// must be at least 1).
    pub fn upload_chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// The instance's `MaxEntityRowCount` (default [`DEFAULT_ROW_CAP`], 20 000): the largest page
    /// [`Client::entities`] asks for, and how it tells a full page from the last one.
    pub fn row_cap(mut self, rows: u32) -> Self {
        self.row_cap = rows;
        self
    }

    /// Whole-request timeout (default 30 s). Ignored when [`http_client`](Self::http_client) is
    /// given.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    chatport_http::http_settings_setters!(settings);

    /// Uses this `reqwest` client (proxies, custom TLS roots). It should **not follow redirects**
    /// (`reqwest::redirect::Policy::none()`): a redirect to the login page is how an expired
    /// session shows (a followed redirect is still caught as an HTML page where JSON was expected).
    /// Its own timeouts then apply.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.settings.http = Some(client);
        self
    }

    /// Validates the configuration and builds the client. No network access.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the base URL is missing, does not parse or is not `http(s)`, no
    /// credentials were given, a username, client id or secret is blank, the token URL cannot be
    /// derived, the chunk size or row cap is zero, the timeout is zero, or the HTTP client cannot
    /// be built.
    pub fn build(self) -> Result<Client, Error> {
        let base_raw = self
            .base_url
            .as_deref()
            .ok_or_else(|| Error::Config("base_url is required".into()))?;
        let base_url = parse_url("base_url", base_raw.trim().trim_end_matches('/'))?;
        let odata_path = self
            .odata_path
            .unwrap_or_else(|| format!("{}/odata", self.platform.app_prefix()));
        let odata_base = with_path(&base_url, &odata_path)?;
        let service_base = with_path(&base_url, self.platform.app_prefix())?;
        if self.chunk_size == 0 {
            return Err(Error::Config("upload_chunk_size must be at least 1".into()));
        }
        if self.row_cap == 0 {
            return Err(Error::Config("row_cap must be at least 1".into()));
        }
        if self.settings.timeout.is_zero() {
            return Err(Error::Config("timeout must be greater than zero".into()));
        }
        let auth = match self.auth.ok_or_else(|| {
            Error::Config(
                "credentials are required (forms_auth or oauth_client_credentials)".into(),
            )
        })? {
            AuthConfig::Forms { username, password } => {
                if username.trim().is_empty() {
                    return Err(Error::Config("username must not be blank".into()));
                }
                if password.expose_secret().is_empty() {
                    return Err(Error::Config("password must not be blank".into()));
                }
                Auth::Forms(FormsSession::new(
                    with_path(&base_url, "/ServiceModel/AuthService.svc/Login")?,
                    username,
                    password,
                    self.csrf_echo,
                    self.settings.lifetime,
                ))
            }
            AuthConfig::OAuth {
                client_id,
                client_secret,
            } => {
                if client_id.trim().is_empty() {
                    return Err(Error::Config("client_id must not be blank".into()));
                }
                if client_secret.expose_secret().trim().is_empty() {
                    return Err(Error::Config("client_secret must not be blank".into()));
                }
                let token_url = match (self.token_url.as_deref(), self.identity_url.as_deref()) {
                    (Some(u), _) => parse_url("token_url", u.trim())?,
                    (None, Some(is)) => with_path(
                        &parse_url("identity_url", is.trim().trim_end_matches('/'))?,
                        "/connect/token",
                    )?,
                    (None, None) => derive_identity_token_url(&base_url)?,
                };
                Auth::OAuth(TokenSource::new(
                    token_url,
                    client_id,
                    client_secret,
                    self.token_auth,
                    self.settings.lifetime,
                ))
            }
        };
        let http = self
            .settings
            .http_client(
                concat!("chatport-creatio/", env!("CARGO_PKG_VERSION")),
                false,
            )
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                odata_base,
                service_base,
                platform: self.platform,
                retry: self.settings.retry,
                auth,
                lookups: self.lookups,
                chunk_size: self.chunk_size,
                row_cap: self.row_cap,
            }),
        })
    }
}

fn parse_url(what: &str, s: &str) -> Result<Url, Error> {
    let url =
        Url::parse(s).map_err(|e| Error::Config(format!("{what} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!("{what} must be an http(s) URL")));
    }
    if url.cannot_be_a_base() {
        return Err(Error::Config(format!("{what} cannot be a base URL")));
    }
    Ok(url)
}

/// `base` with `path` appended to its path (`path` starts with `/` or is empty).
fn with_path(base: &Url, path: &str) -> Result<Url, Error> {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_matches('/')
    );
    url.set_path(joined.trim_end_matches('/'));
    if url.path().is_empty() {
        url.set_path("/");
    }
    Ok(url)
}

/// `https://{tenant}.creatio.com` → `https://{tenant}-is.creatio.com/connect/token`.
fn derive_identity_token_url(base: &Url) -> Result<Url, Error> {
    let host = base.host_str().unwrap_or_default();
    let Some((first, rest)) = host.split_once('.') else {
        return Err(Error::Config(
            "cannot derive the Identity Service URL from this host; set identity_url or token_url"
                .into(),
        ));
    };
    if host.parse::<std::net::IpAddr>().is_ok() || rest.is_empty() {
        return Err(Error::Config(
            "cannot derive the Identity Service URL from an IP address; set identity_url or token_url"
                .into(),
        ));
    }
    let mut url = base.clone();
    url.set_host(Some(&format!("{first}-is.{rest}")))
        .map_err(|e| Error::Config(format!("derived Identity Service host is invalid: {e}")))?;
    url.set_path("/connect/token");
    Ok(url)
}

/// A Creatio client for one instance.
///
/// Cheap to clone (an `Arc` inside); clones share the HTTP connection pool, the forms session
/// (cookies, CSRF token) or the OAuth token cache. `Debug` shows URLs, the auth kind, the username
/// or client id, never a secret, cookie or token.
///
/// Every request carries `Accept: application/json`; forms sessions add the cookies,
/// `ForceUseSession: true` and the CSRF header ([`CsrfEcho`]); OAuth adds
/// `Authorization: Bearer …`. An expired session — 401, 403 (forms only), a redirect whose
/// `Location` names the login page, or an HTML page where JSON was expected — triggers **one**
/// re-login (or token refresh) shared by all concurrent requests, then the request is replayed
/// once; a second failure is returned. Reads, updates and deletes are retried in-client per the
/// [`RetryPolicy`]; creates, `$batch` and uploads are not.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: Url,
    pub(crate) odata_base: Url,
    pub(crate) service_base: Url,
    pub(crate) platform: Platform,
    pub(crate) retry: RetryPolicy,
    pub(crate) auth: Auth,
    pub(crate) lookups: Lookups,
    pub(crate) chunk_size: usize,
    pub(crate) row_cap: u32,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url.as_str())
            .field("odata_base", &self.inner.odata_base.as_str())
            .field("platform", &self.inner.platform)
            .field("auth", &self.inner.auth)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// Whether a request may be repeated in-client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Safe to repeat: in-client retry per the policy.
    Safe,
    /// Not safe (creates, batches, upload chunks): one attempt, plus the one replay after an
    /// expired session (which the server rejected before applying anything).
    Once,
}

/// One request as the authenticated path sends it (rebuilt for the replay).
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: Option<Bytes>,
    pub(crate) content_type: Option<String>,
    pub(crate) headers: Vec<(&'static str, String)>,
    /// An HTML answer means "expired session" (true for every OData/JSON call).
    pub(crate) expect_json: bool,
    /// `Accept` (default `application/json`).
    pub(crate) accept: Option<&'static str>,
}

impl Req {
    pub(crate) fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            body: None,
            content_type: None,
            headers: Vec::new(),
            expect_json: true,
            accept: None,
        }
    }

    pub(crate) fn json_body(mut self, body: Bytes) -> Self {
        self.body = Some(body);
        self.content_type = Some(ODATA_JSON.to_owned());
        self
    }
}

/// What made a response look like an expired session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    Status,
    Redirect,
    Html,
}

impl Client {
    /// A new [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The site root.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The OData root, e.g. `https://host/0/odata`.
    pub fn odata_base(&self) -> &Url {
        &self.inner.odata_base
    }

    /// The platform the paths were built for.
    pub fn platform(&self) -> Platform {
        self.inner.platform
    }

    /// The lookup GUIDs configured for this instance.
    pub fn lookups(&self) -> &Lookups {
        &self.inner.lookups
    }

    /// How many logins (forms) or token fetches (OAuth) succeeded so far: a probe for tests and
    /// metrics (a storm of re-logins shows up here).
    pub fn authentications(&self) -> u64 {
        self.inner.auth.logins()
    }

    /// Makes sure a session (forms) or a token (OAuth) is in place, logging in if needed: a
    /// credentials probe for `chatport check` that reads no data.
    ///
    /// # Errors
    ///
    /// [`Error::LoginRefused`] (HTTP 200 with `Code != 0`), [`Error::Login`] or
    /// [`Error::Token`] with the failed request inside.
    pub async fn authenticate(&self) -> Result<(), Error> {
        self.inner
            .auth
            .credentials(&self.inner.http, &self.inner.retry)
            .await
            .map(drop)
    }

    fn expiry(&self, response: &reqwest::Response, expect_json: bool) -> Option<Expiry> {
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Some(Expiry::Status);
        }
        if status == StatusCode::FORBIDDEN && self.inner.auth.is_forms() {
            return Some(Expiry::Status);
        }
        if status.is_redirection() {
            let to_login = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.to_ascii_lowercase().contains("login"));
            return to_login.then_some(Expiry::Redirect);
        }
        if status.is_success() && expect_json && is_html(response.headers()) {
            return Some(Expiry::Html);
        }
        None
    }

    /// Sends `req` with the session or token; on an expired session renews it (single-flight)
    /// and replays once. Returns the response when its status is 2xx, the matching [`Error`]
    /// otherwise.
    pub(crate) async fn send(&self, req: &Req) -> Result<reqwest::Response, Error> {
        let inner = &self.inner;
        let response = inner
            .auth
            .send_with_replay(
                &inner.http,
                &inner.retry,
                |creds| self.request(req, creds),
                |response| {
                    let signal = self.expiry(response, req.expect_json);
                    if let Some(signal) = signal {
                        tracing::debug!(
                            status = response.status().as_u16(),
                            ?signal,
                            "Creatio session looks expired; renewing once and replaying"
                        );
                    }
                    signal.is_some()
                },
            )
            .await?;
        match self.expiry(&response, req.expect_json) {
            Some(Expiry::Redirect) => {
                return Err(Error::SessionExpired {
                    signal: "redirect to login page",
                });
            }
            Some(Expiry::Html) => {
                return Err(Error::SessionExpired {
                    signal: "HTML page instead of JSON",
                });
            }
            Some(Expiry::Status) | None => {}
        }
        if response.status().is_success() {
            return Ok(response);
        }
        let answer = Answer::read(response).await.map_err(Error::from_reqwest)?;
        Err(error_from_body(
            answer.status,
            &answer.headers,
            &answer.body,
        ))
    }

    /// `req` as a request with the session's cookies and CSRF header or the bearer token.
    fn request(&self, req: &Req, creds: &Credentials) -> reqwest::RequestBuilder {
        let mut rb = self
            .inner
            .http
            .request(req.method.clone(), req.url.clone())
            .header(ACCEPT, req.accept.unwrap_or("application/json"));
        match creds {
            Credentials::Session { cookie, csrf } => {
                rb = rb
                    .header(COOKIE, cookie.expose_secret())
                    .header("ForceUseSession", "true");
                for (name, value) in csrf {
                    rb = rb.header(name.as_str(), value.expose_secret());
                }
            }
            Credentials::Bearer { token } => {
                rb = rb.bearer_auth(token.expose_secret());
            }
        }
        for (name, value) in &req.headers {
            rb = rb.header(*name, value.as_str());
        }
        if let Some(ct) = &req.content_type {
            rb = rb.header(CONTENT_TYPE, ct.as_str());
        }
        if let Some(body) = &req.body {
            rb = rb.body(body.clone());
        }
        rb
    }

    /// Sends `req` (retried per the policy when `repeat` is [`Repeat::Safe`]) and returns the
    /// status and body bytes of the 2xx answer.
    pub(crate) async fn call(&self, req: Req, repeat: Repeat) -> Result<(u16, Bytes), Error> {
        let req_ref = &req;
        let operation = operation(&req.method, &req.url);
        let once = move || {
            chatport_core::telemetry::observe(CONNECTOR, operation, async move {
                let response = self.send(req_ref).await?;
                let status = response.status().as_u16();
                let bytes = response.bytes().await.map_err(Error::from_reqwest)?;
                Ok((status, bytes))
            })
        };
        let span = tracing::debug_span!("creatio", method = %req.method, path = req.url.path());
        let result: Result<_, Error> = match repeat {
            Repeat::Safe => self.inner.retry.run(once).instrument(span.clone()).await,
            Repeat::Once => once().instrument(span.clone()).await,
        };
        if let Err(e) = &result {
            let _entered = span.enter();
            tracing::debug!(error = %e, class = e.class().as_str(), "Creatio request failed");
        }
        result
    }

    /// [`call`](Self::call) and decode the body as `T`.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        req: Req,
        repeat: Repeat,
        what: &'static str,
    ) -> Result<T, Error> {
        let (status, bytes) = self.call(req, repeat).await?;
        serde_json::from_slice::<T>(&bytes).map_err(|source| Error::Decode {
            status,
            what,
            source,
        })
    }
}

/// The `connector` label of this crate's request metrics ([`chatport_core::telemetry`]).
pub(crate) const CONNECTOR: &str = "creatio";

/// The `operation` label of a call: `batch` (`$batch`), `upload` (`FileApiService`), else
/// `odata_<method>` (`odata_get`, `odata_post`, `odata_patch`, `odata_delete`, `odata_other`).
/// Never an entity set name, a key or a filter.
pub(crate) fn operation(method: &Method, url: &Url) -> &'static str {
    let path = url.path();
    if path.ends_with("/$batch") {
        return "batch";
    }
    if path.contains("/FileApiService/") {
        return "upload";
    }
    match method.as_str() {
        "GET" => "odata_get",
        "POST" => "odata_post",
        "PATCH" => "odata_patch",
        "PUT" => "odata_put",
        "DELETE" => "odata_delete",
        _ => "odata_other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_families_never_ids() {
        let url = |p: &str| Url::parse(&format!("https://acme.creatio.com{p}")).unwrap();
        assert_eq!(operation(&Method::POST, &url("/0/odata/$batch")), "batch");
        assert_eq!(
            operation(&Method::POST, &url("/0/rest/FileApiService/UploadFile")),
            "upload"
        );
        assert_eq!(
            operation(
                &Method::GET,
                &url("/0/odata/Contact(5b8e3c3a-1f0e-4f7c-9a55-3f1f3f7b2a10)")
            ),
            "odata_get"
        );
        assert_eq!(
            operation(&Method::PATCH, &url("/0/odata/Case(1)")),
            "odata_patch"
        );
    }

    #[test]
    fn paths_per_platform() {
        let c = Client::builder()
            .base_url("https://acme.creatio.com/")
            .forms_auth("Supervisor", SecretString::from("pw"))
            .build()
            .unwrap();
        assert_eq!(c.odata_base().as_str(), "https://acme.creatio.com/0/odata");
        let c = Client::builder()
            .base_url("https://acme.creatio.com")
            .platform(Platform::NetCore)
            .oauth_client_credentials("id", SecretString::from("s"))
            .build()
            .unwrap();
        assert_eq!(c.odata_base().as_str(), "https://acme.creatio.com/odata");
        match &c.inner.auth {
            Auth::OAuth(t) => assert_eq!(
                t.token_url.as_str(),
                "https://acme-is.creatio.com/connect/token"
            ),
            Auth::Forms(_) => panic!("oauth expected"),
        }
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("\"s\""));
    }

    #[test]
    fn build_rejects_bad_config() {
        assert!(Client::builder().build().is_err());
        assert!(
            Client::builder()
                .base_url("ftp://x")
                .forms_auth("u", SecretString::from("p"))
                .build()
                .is_err()
        );
        assert!(
            Client::builder()
                .base_url("http://127.0.0.1:1")
                .oauth_client_credentials("id", SecretString::from("s"))
                .build()
                .is_err(),
            "the -is host cannot be derived from an IP"
        );
        assert!(
            Client::builder()
                .base_url("http://x.example")
                .forms_auth(" ", SecretString::from("p"))
                .build()
                .is_err()
        );
        assert!(
            Client::builder()
                .base_url("http://x.example")
                .forms_auth("u", SecretString::from("p"))
                .upload_chunk_size(0)
                .build()
                .is_err()
        );
    }
}
