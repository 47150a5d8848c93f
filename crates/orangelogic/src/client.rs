//! [`Client`], its [`ClientBuilder`], and the authenticated request path every endpoint uses.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chatport_core::{Classify, ErrorClass};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::auth::{
    CLIENT_CREDENTIALS_PATH, Credentials, LOGIN_PATH, Placement, Token, TokenSource,
};
use chatport_http::{Answer, HttpSettings};

use crate::http::{Family, decode_success, encode_pairs, error_from_status};
use crate::links::LinkConfig;
use crate::upload::UploadConfig;
use crate::{Error, RetryPolicy};

/// Default search endpoint (Search API v4.0).
pub const SEARCH_PATH: &str = "/API/Search/v4.0/Search";
/// Default DataTable version segment (`v2.2`, the version for documents).
pub const DATATABLE_VERSION: &str = "v2.2";
/// Default longest URL sent as a `GET`; longer requests go as a `POST` form body. The vendor
/// notes GET URLs of DataTable calls are limited to about 260 characters (a 403 can mean "URL too
/// long").
pub const DEFAULT_MAX_GET_URL: usize = 260;
/// Default field a folder named by [`AssetRef::Identifier`](crate::AssetRef::Identifier) is
/// looked up by in a DataTable move: `CoreField.Unique-Identifier`, as the vendor's
/// "Move one asset into another" page writes the sub-call
/// (`…Documents.Folder.Default:Read?CoreField.Unique-Identifier=…`, developer.orangelogic.com
/// /reference/move-one-asset-into-another; notes §2.6).
pub const FOLDER_IDENTIFIER_FIELD: &str = "CoreField.Unique-Identifier";

/// Configures a [`Client`]. Obtained from [`Client::builder`]; nothing is checked until
/// [`ClientBuilder::build`].
///
/// Required: [`base_url`](Self::base_url) and one of [`client_credentials`](Self::client_credentials),
/// [`bearer_token`](Self::bearer_token) or [`user_login`](Self::user_login).
#[must_use]
pub struct ClientBuilder {
    base_url: Option<String>,
    credentials: Option<Credentials>,
    client_credentials_path: String,
    login_path: String,
    search_path: String,
    datatable_version: String,
    max_get_url: usize,
    upload: UploadConfig,
    links: LinkConfig,
    settings: HttpSettings,
    min_transfer_rate: u64,
    folder_identifier_field: String,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .field("search_path", &self.search_path)
            .field("datatable_version", &self.datatable_version)
            .field("max_get_url", &self.max_get_url)
            .field("upload", &self.upload)
            .field("links", &self.links)
            .field("settings", &self.settings)
            .field("folder_identifier_field", &self.folder_identifier_field)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            credentials: None,
            client_credentials_path: CLIENT_CREDENTIALS_PATH.to_owned(),
            login_path: LOGIN_PATH.to_owned(),
            search_path: SEARCH_PATH.to_owned(),
            datatable_version: DATATABLE_VERSION.to_owned(),
            max_get_url: DEFAULT_MAX_GET_URL,
            upload: UploadConfig::default(),
            links: LinkConfig::default(),
            settings: HttpSettings::new(Duration::from_secs(60)),
            min_transfer_rate: chatport_core::transfer::DEFAULT_MIN_RATE,
            folder_identifier_field: FOLDER_IDENTIFIER_FIELD.to_owned(),
        }
    }
}

impl ClientBuilder {
    /// The instance host, e.g. `https://mycompany.orangelogic.com` (custom domains are common).
    /// Endpoint paths such as `/API/Search/v4.0/Search` are appended to it.
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = Some(url.to_owned());
        self
    }

    /// Authenticates with OAuth 2.0 client credentials (the vendor's recommendation), at
    /// [`client_credentials_path`](Self::client_credentials_path). The account must be a non-SSO
    /// "OAuth Client Application" account with bearer authentication allowed.
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::OAuthClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        });
        self
    }

    /// Authenticates with a static, non-expiring bearer token (Admin › Contacts › Accounts ›
    /// "Non-expiring Bearer Token"). Never fetched or refreshed: a 401 is returned as
    /// [`ErrorClass::Auth`].
    pub fn bearer_token(mut self, token: impl Into<SecretString>) -> Self {
        self.credentials = Some(Credentials::Bearer(token.into()));
        self
    }

    /// Authenticates with the legacy user login (least secure; the token is bound to the
    /// requesting IP and sent as the `token` parameter), at [`login_path`](Self::login_path).
    pub fn user_login(
        mut self,
        login: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::UserLogin {
            login: login.into(),
            password: password.into(),
        });
        self
    }

    /// Overrides the client-credentials path (default [`CLIENT_CREDENTIALS_PATH`]).
    pub fn client_credentials_path(mut self, path: &str) -> Self {
        self.client_credentials_path = path.to_owned();
        self
    }

    /// Overrides the user login path (default [`LOGIN_PATH`], the documented
    /// `/api/Authentication/v2.0/Login`; [`LOGIN_PATH_V1`] selects the older
    /// `/API/Authentication/v1.0/Login`). Both take the form `Login`, `Password`, `format=json`
    /// and answer the legacy envelope.
    ///
    /// [`LOGIN_PATH_V1`]: crate::LOGIN_PATH_V1
    pub fn login_path(mut self, path: &str) -> Self {
        self.login_path = path.to_owned();
        self
    }

    /// Overrides the search path (default [`SEARCH_PATH`], v4.0; `/API/Search/v3.0/Search` is
    /// still widely used).
    pub fn search_path(mut self, path: &str) -> Self {
        self.search_path = path.to_owned();
        self
    }

    /// Overrides the DataTable version segment used by the convenience calls (default
    /// [`DATATABLE_VERSION`]). A [`crate::DataTableCall`] can set its own.
    pub fn datatable_version(mut self, version: &str) -> Self {
        self.datatable_version = version.to_owned();
        self
    }

    /// The field a folder given as [`AssetRef::Identifier`](crate::AssetRef::Identifier) is
    /// looked up by in [`Client::move_to_folder`]'s sub-call (default
    /// [`FOLDER_IDENTIFIER_FIELD`], `CoreField.Unique-Identifier`, the documented form;
    /// `CoreField.Identifier` is what chatport sent before). A folder given as
    /// [`AssetRef::RecordId`](crate::AssetRef::RecordId) is always looked up by `RecordID`.
    pub fn folder_identifier_field(mut self, field: &str) -> Self {
        self.folder_identifier_field = field.to_owned();
        self
    }

    /// Longest URL (including the query) sent as `GET`; longer search and DataTable requests
    /// go as `POST` with an `application/x-www-form-urlencoded` body. `0` sends every such call
    /// as `POST`. Default [`DEFAULT_MAX_GET_URL`].
    pub fn max_get_url(mut self, len: usize) -> Self {
        self.max_get_url = len;
        self
    }

    /// Upload settings: threshold between `UploadNewMedia` and the chunked upload, chunk size,
    /// and the chunked-upload endpoints (see [`UploadConfig`]).
    pub fn upload_config(mut self, config: UploadConfig) -> Self {
        self.upload = config;
        self
    }

    /// Link settings: presigned-link and public-share-link endpoints (see [`LinkConfig`]).
    pub fn link_config(mut self, config: LinkConfig) -> Self {
        self.links = config;
        self
    }

    /// Whole-request timeout of ordinary calls (default 60 s). Uploads get longer: see
    /// [`min_transfer_rate`](Self::min_transfer_rate). Ignored when
    /// [`http_client`](Self::http_client) is given; the upload deadlines still apply.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// The slowest upload accepted, in bytes per second (default 100 kB/s): a single-request
    /// upload or a chunk of `n` bytes may take `timeout + n / rate` plus a second
    /// ([`chatport_core::transfer::deadline`]), so a large file is not cut off by the ordinary
    /// request timeout and a stalled one still ends. 0 counts as 1.
    pub fn min_transfer_rate(mut self, bytes_per_sec: u64) -> Self {
        self.min_transfer_rate = bytes_per_sec;
        self
    }

    chatport_http::http_settings_setters!(settings);

    /// Uses this `reqwest` client (proxies, custom TLS roots). Its own timeouts then apply.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.settings.http = Some(client);
        self
    }

    /// Validates the configuration and builds the client. No network access.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the base URL is missing, does not parse or is not `http(s)`; no
    /// credentials were given or one is blank; a path does not start with `/`; the timeout is
    /// zero; the upload chunk size is not a positive multiple of 131,072 bytes; or the HTTP
    /// client cannot be built.
    pub fn build(self) -> Result<Client, Error> {
        let raw = self
            .base_url
            .as_deref()
            .ok_or_else(|| Error::Config("base_url is required".into()))?;
        let base_url = Url::parse(raw.trim())
            .map_err(|e| Error::Config(format!("base_url is not a valid URL: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(Error::Config("base_url must be an http(s) URL".into()));
        }
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(
                "credentials are required (client_credentials, bearer_token or user_login)".into(),
            )
        })?;
        validate_credentials(&credentials)?;
        for (what, path) in [
            ("client_credentials_path", &self.client_credentials_path),
            ("login_path", &self.login_path),
            ("search_path", &self.search_path),
        ] {
            check_path(what, path)?;
        }
        if self.folder_identifier_field.trim().is_empty() {
            return Err(Error::Config(
                "folder_identifier_field must not be blank".into(),
            ));
        }
        if self.datatable_version.trim().is_empty() || self.datatable_version.contains('/') {
            return Err(Error::Config(
                "datatable_version must be a non-empty segment like `v2.2`".into(),
            ));
        }
        self.upload.validate()?;
        self.links.validate()?;
        if self.settings.timeout.is_zero() {
            return Err(Error::Config("timeout must be greater than zero".into()));
        }
        let token_url = match &credentials {
            Credentials::OAuthClient { .. } => {
                Some(join(&base_url, &self.client_credentials_path)?)
            }
            Credentials::UserLogin { .. } => Some(join(&base_url, &self.login_path)?),
            Credentials::Bearer(_) => None,
        };
        let http = self
            .settings
            .http_client(
                concat!("chatport-orangelogic/", env!("CARGO_PKG_VERSION")),
                true,
            )
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                search_path: self.search_path,
                datatable_version: self.datatable_version,
                max_get_url: self.max_get_url,
                upload: self.upload,
                links: self.links,
                retry: self.settings.retry,
                timeout: self.settings.timeout,
                min_transfer_rate: self.min_transfer_rate,
                folder_identifier_field: self.folder_identifier_field,
                auth: TokenSource::new(credentials, token_url, self.settings.lifetime),
            }),
        })
    }
}

fn check_path(what: &str, path: &str) -> Result<(), Error> {
    if !path.starts_with('/') {
        return Err(Error::Config(format!("{what} must start with `/`")));
    }
    Ok(())
}

fn validate_credentials(c: &Credentials) -> Result<(), Error> {
    let blank = |s: &str| s.trim().is_empty();
    match c {
        Credentials::OAuthClient {
            client_id,
            client_secret,
        } => {
            if blank(client_id) || blank(client_secret.expose_secret()) {
                return Err(Error::Config(
                    "client_id and client_secret must not be blank".into(),
                ));
            }
        }
        Credentials::Bearer(token) => {
            if blank(token.expose_secret()) {
                return Err(Error::Config("the bearer token must not be blank".into()));
            }
        }
        Credentials::UserLogin { login, password } => {
            if blank(login) || blank(password.expose_secret()) {
                return Err(Error::Config("login and password must not be blank".into()));
            }
        }
    }
    Ok(())
}

/// `base` + an absolute `path` (which may carry its own query), keeping any path prefix of the
/// base (a trailing `/` on the base is ignored).
pub(crate) fn join(base: &Url, path: &str) -> Result<Url, Error> {
    let prefix = base.as_str().trim_end_matches('/');
    Url::parse(&format!("{prefix}{path}"))
        .map_err(|e| Error::Config(format!("could not build the URL for `{path}`: {e}")))
}

/// A client of one OrangeDAM instance.
///
/// Cheap to clone (an `Arc` inside); clones share the HTTP connection pool and the token cache.
/// `Debug` shows the base URL and the credential kind, never a secret or token.
///
/// Every call adds `format=json`. Tokens are reused, not fetched per call (the vendor's
/// guidance): a client-credentials token until shortly before its `expires_in` (or for
/// [`ClientBuilder::token_default_lifetime`] when none is given), a login token for its `TimeoutPeriodMinutes`. Concurrent callers share
/// one fetch. A `401` — or an HTTP 200 envelope whose code is an authentication failure — makes
/// the client fetch a new token and replay the request once (not for a static bearer token,
/// which cannot be refreshed). Reads are retried in-client per the [`RetryPolicy`]; writes and
/// uploads are not.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: Url,
    pub(crate) search_path: String,
    pub(crate) datatable_version: String,
    pub(crate) max_get_url: usize,
    pub(crate) upload: UploadConfig,
    pub(crate) links: LinkConfig,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) min_transfer_rate: u64,
    pub(crate) folder_identifier_field: String,
    pub(crate) auth: TokenSource,
}

impl Inner {
    /// The deadline of an upload of `length` bytes (see [`ClientBuilder::min_transfer_rate`]).
    pub(crate) fn transfer_timeout(&self, length: u64) -> Duration {
        chatport_core::transfer::deadline(self.timeout, Some(length), self.min_transfer_rate)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url.as_str())
            .field("auth", &self.inner.auth)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// Whether a request may be repeated in-client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads: in-client retry per the policy.
    Safe,
    /// Writes: one attempt (plus the one replay after an authentication refusal, which the server
    /// rejected before applying anything).
    Once,
}

/// How the parameters of a call travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `GET` with a query string when the URL is short enough, else `POST` form.
    Auto,
    /// Always `POST` with a form body.
    PostForm,
}

/// The `connector` label of this crate's request metrics ([`chatport_core::telemetry`]); the
/// `operation` label is the call's `what` (`search`, `DataTable`, `upload`, `upload transaction`,
/// `token`, …: fixed strings of this crate).
pub(crate) const CONNECTOR: &str = "orangelogic";

/// One parameterised call: path, parameters, envelope family.
pub(crate) struct Call<'a> {
    pub(crate) path: &'a str,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) family: Family,
    pub(crate) repeat: Repeat,
    pub(crate) transport: Transport,
    pub(crate) what: &'static str,
}

impl Client {
    /// A new [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The instance base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// Makes sure a token is available, fetching one if needed: a credentials probe (for
    /// `chatport check`) that touches no asset. With a static bearer token this does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] with the token endpoint's error inside.
    pub async fn authenticate(&self) -> Result<(), Error> {
        self.token().await.map(drop)
    }

    /// How many token requests this client (and its clones) made so far.
    pub async fn token_requests(&self) -> u64 {
        self.inner.auth.fetches().await
    }

    pub(crate) async fn token(&self) -> Result<Token, Error> {
        self.inner
            .auth
            .token(&self.inner.http, &self.inner.retry)
            .await
    }

    /// `{base}{path}`.
    pub(crate) fn url(&self, path: &str) -> Result<Url, Error> {
        join(&self.inner.base_url, path)
    }

    /// Adds the token to a request per its placement.
    pub(crate) fn authorize(
        request: reqwest::RequestBuilder,
        token: &Token,
    ) -> reqwest::RequestBuilder {
        match token.placement {
            Placement::Bearer => request.bearer_auth(token.value.expose_secret()),
            Placement::QueryParam => request.query(&[("token", token.value.expose_secret())]),
        }
    }

    /// Runs a parameterised call: `format=json` added, `GET` or `POST` form per the transport,
    /// decoded per the family.
    pub(crate) async fn call(&self, call: Call<'_>) -> Result<Value, Error> {
        let url = self.url(call.path)?;
        let mut params = call.params;
        if !params.iter().any(|(k, _)| k.eq_ignore_ascii_case("format")) {
            params.push(("format".into(), "json".into()));
        }
        let encoded = encode_pairs(&params);
        let get_len = url.as_str().len() + 1 + encoded.len();
        let use_get = call.transport == Transport::Auto && get_len <= self.inner.max_get_url;
        let what = call.what;
        self.send(call.family, what, call.repeat, move |http, token| {
            let request = if use_get {
                let mut u = url.clone();
                u.set_query(Some(&encoded));
                http.get(u)
            } else {
                let mut u = url.clone();
                u.set_query(Some("format=json"));
                http.post(u)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(encoded.clone())
            };
            Ok(Self::authorize(
                request.header(ACCEPT, "application/json"),
                token,
            ))
        })
        .await
    }

    /// Sends the request `build` makes (called once per attempt) with the token; replays once
    /// after an authentication refusal; decodes the body per `family`.
    pub(crate) async fn send<F>(
        &self,
        family: Family,
        what: &'static str,
        repeat: Repeat,
        build: F,
    ) -> Result<Value, Error>
    where
        F: Fn(&reqwest::Client, &Token) -> Result<reqwest::RequestBuilder, Error>,
    {
        let inner = &self.inner;
        let build = &build;
        let once = || {
            chatport_core::telemetry::observe(
                CONNECTOR,
                what,
                inner.auth.with_replay(
                    &inner.http,
                    &inner.retry,
                    |token| async move {
                        let response = build(&inner.http, &token)?
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
                        decode_success(family, answer.status, &answer.body, what)
                    },
                    // A 401, or an HTTP 200 envelope whose code is an authentication failure.
                    |r| match r {
                        Err(
                            Error::Http { status: 401, .. }
                            | Error::UnexpectedBody { status: 401, .. },
                        ) => true,
                        Err(e @ Error::Api { .. }) => e.class() == ErrorClass::Auth,
                        _ => false,
                    },
                ),
            )
        };
        let span = tracing::debug_span!("orangelogic.request", what);
        let result = match repeat {
            Repeat::Safe => self.inner.retry.run(once).instrument(span.clone()).await,
            Repeat::Once => once().instrument(span.clone()).await,
        };
        if let Err(e) = &result {
            let _entered = span.enter();
            tracing::debug!(error = %e, class = e.class().as_str(), "OrangeDAM request failed");
        }
        result
    }

    /// Sends a request whose body cannot be rebuilt (a streamed upload): one attempt, no
    /// replay. A 401 invalidates the token so that the caller's next attempt fetches a new one.
    pub(crate) async fn send_once(
        &self,
        family: Family,
        what: &'static str,
        request: reqwest::RequestBuilder,
        token: Token,
    ) -> Result<Value, Error> {
        chatport_core::telemetry::observe(
            CONNECTOR,
            what,
            self.send_once_attempt(family, what, request, token),
        )
        .await
    }

    async fn send_once_attempt(
        &self,
        family: Family,
        what: &'static str,
        request: reqwest::RequestBuilder,
        token: Token,
    ) -> Result<Value, Error> {
        let response = Self::authorize(request, &token)
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        let status = response.status().as_u16();
        if status == 401 {
            self.inner.auth.invalidate(token.generation).await;
        }
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Error::from_reqwest)?;
        if !(200..300).contains(&status) {
            return Err(error_from_status(status, &headers, &body));
        }
        let result = decode_success(family, status, &body, what);
        if let Err(e) = &result
            && e.class() == ErrorClass::Auth
        {
            self.inner.auth.invalidate(token.generation).await;
        }
        result
    }
}
