//! [`Client`], its [`ClientBuilder`], and the authenticated request path every endpoint uses.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chatport_core::Classify;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use crate::auth::{Grant, TokenSource};
use crate::css::{BlobIdSource, ShareLinkFields};
use crate::http::{error_from_body, join_segments};
use crate::limit::DEFAULT_REQUESTS_PER_SECOND;
use crate::{Error, RateLimit, RetryPolicy, TokenEncoding};
use chatport_http::{Answer, HttpSettings};

/// The limiter a builder will install.
#[derive(Clone, Debug)]
enum LimitSetting {
    /// A new limiter of this many requests per second.
    PerSecond(u32),
    /// A limiter shared with other clients.
    Shared(RateLimit),
    /// No client-side limit.
    Off,
}

/// `Accept` sent on CMS calls: the service speaks HAL.
const ACCEPT_HAL: &str = "application/hal+json, application/json;q=0.9";

/// Configures a [`Client`]. Obtained from [`Client::builder`]; nothing is checked until
/// [`ClientBuilder::build`].
///
/// Required: [`tenant_id`](Self::tenant_id), [`cms_base`](Self::cms_base), credentials
/// ([`client_credentials`](Self::client_credentials) or [`password_grant`](Self::password_grant)),
/// and [`auth_base`](Self::auth_base) unless [`token_url`](Self::token_url) is given.
#[must_use]
pub struct ClientBuilder {
    tenant_id: Option<String>,
    auth_base: Option<String>,
    token_url: Option<String>,
    cms_base: Option<String>,
    css_base: Option<String>,
    grant: Option<Grant>,
    encoding: TokenEncoding,
    settings: HttpSettings,
    min_transfer_rate: u64,
    limit: LimitSetting,
    share_link: ShareLinkFields,
    blob_id_source: BlobIdSource,
    v3_tenant_query: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("tenant_id", &self.tenant_id)
            .field("auth_base", &self.auth_base)
            .field("token_url", &self.token_url)
            .field("cms_base", &self.cms_base)
            .field("css_base", &self.css_base)
            .field("grant", &self.grant)
            .field("encoding", &self.encoding)
            .field("settings", &self.settings)
            .field("min_transfer_rate", &self.min_transfer_rate)
            .field("limit", &self.limit)
            .field("share_link", &self.share_link)
            .field("blob_id_source", &self.blob_id_source)
            .field("v3_tenant_query", &self.v3_tenant_query)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            tenant_id: None,
            auth_base: None,
            token_url: None,
            cms_base: None,
            css_base: None,
            grant: None,
            encoding: TokenEncoding::Json,
            settings: HttpSettings::new(Duration::from_secs(30)),
            min_transfer_rate: DEFAULT_MIN_TRANSFER_RATE,
            limit: LimitSetting::PerSecond(DEFAULT_REQUESTS_PER_SECOND),
            share_link: ShareLinkFields::default(),
            blob_id_source: BlobIdSource::default(),
            v3_tenant_query: false,
        }
    }
}

impl ClientBuilder {
    /// The tenant id (a GUID in the Admin Center). Part of the token URL path and of CSS tenant
    /// paths.
    pub fn tenant_id(mut self, tenant_id: &str) -> Self {
        self.tenant_id = Some(tenant_id.to_owned());
        self
    }

    /// The region host, e.g. `https://na-1-dev.api.opentext.com`. The token URL is
    /// `{auth_base}/tenants/{tenant_id}/oauth2/token`.
    pub fn auth_base(mut self, url: &str) -> Self {
        self.auth_base = Some(url.to_owned());
        self
    }

    /// Overrides the token URL (e.g. the `token_endpoint` from
    /// `{auth_base}/tenants/{tenant_id}/.well-known/openid-configuration`, or a legacy OT2 host).
    pub fn token_url(mut self, url: &str) -> Self {
        self.token_url = Some(url.to_owned());
        self
    }

    /// The CMS base, e.g. `https://na-1-dev.api.opentext.com/cms`. Endpoint paths are appended
    /// to it (`{cms_base}/instances/…`).
    pub fn cms_base(mut self, url: &str) -> Self {
        self.cms_base = Some(url.to_owned());
        self
    }

    /// The CSS base, e.g. `https://css.na-1-dev.api.opentext.com` (a separate host; not derived
    /// from the CMS base). Optional until content upload/download is used.
    pub fn css_base(mut self, url: &str) -> Self {
        self.css_base = Some(url.to_owned());
        self
    }

    /// Authenticates with the `client_credentials` grant (the app's confidential client; the
    /// vendor's recommendation for back-end services).
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        self.grant = Some(Grant::ClientCredentials {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        });
        self
    }

    /// Authenticates with the resource-owner `password` grant (a tenant user), as the vendor's
    /// older back-end sample and the qibb connector do.
    pub fn password_grant(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.grant = Some(Grant::Password {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// The token request body encoding (default [`TokenEncoding::Json`], as in the official
    /// samples).
    pub fn token_encoding(mut self, encoding: TokenEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Whole-request timeout of ordinary calls (default 30 s). Content transfers get longer: see
    /// [`min_transfer_rate`](Self::min_transfer_rate). Ignored when
    /// [`http_client`](Self::http_client) is given; the transfer deadlines still apply.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// The slowest CSS transfer accepted, in bytes per second (default
    /// [`DEFAULT_MIN_TRANSFER_RATE`], 100 kB/s). An upload of `n` bytes may take
    /// `timeout + n / rate` (plus a second); an upload of unknown length and a download may take
    /// `timeout` + [`UNKNOWN_LENGTH_TRANSFER`] (1 h). So a 100 MB document is not cut off by the
    /// ordinary request timeout, and a stalled transfer still ends. (A per-read timeout would
    /// not do: while the body goes up, nothing is read.)
    pub fn min_transfer_rate(mut self, bytes_per_sec: u64) -> Self {
        self.min_transfer_rate = bytes_per_sec;
        self
    }

    chatport_http::http_settings_setters!(settings);

    /// Limits CMS requests to `n` per second with a limiter of this client (shared by its clones).
    /// Default: [`DEFAULT_REQUESTS_PER_SECOND`] (5, the documented service limit). `0` is refused
    /// by [`build`](Self::build).
    pub fn requests_per_second(mut self, n: u32) -> Self {
        self.limit = LimitSetting::PerSecond(n);
        self
    }

    /// Uses `limit` (a clone of a [`RateLimit`] shared with other clients of the same tenant).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = LimitSetting::Shared(limit);
        self
    }

    /// No client-side rate limit (the service's 429s are still backed off in-client).
    pub fn no_rate_limit(mut self) -> Self {
        self.limit = LimitSetting::Off;
        self
    }

    /// The JSON field names of public share link requests and responses (see
    /// [`ShareLinkFields`]: the vendor does not publish them, so they are configurable).
    pub fn share_link_fields(mut self, fields: ShareLinkFields) -> Self {
        self.share_link = fields;
        self
    }

    /// Which id of a CSS upload answer goes into a rendition's `blob_id` (used by
    /// [`DocumentSink`](crate::DocumentSink) and available as [`Client::blob_id_source`]).
    /// Default [`BlobIdSource::Id`], as OpenText's contract-approval sample does (see
    /// [`BlobIdSource`]).
    pub fn blob_id_source(mut self, source: BlobIdSource) -> Self {
        self.blob_id_source = source;
        self
    }

    /// Whether a CSS v3 upload (`POST {css}/v3/files/fromStream`) carries `?tenant={tenant_id}`.
    /// Default `false`: OpenText's contract-approval sample (HEAD) sends none; some public
    /// samples send it (notes §1.6 writes it as optional).
    pub fn css_v3_tenant_query(mut self, yes: bool) -> Self {
        self.v3_tenant_query = yes;
        self
    }

    /// Uses this `reqwest` client (proxies, custom TLS roots). Its own timeouts then apply.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.settings.http = Some(client);
        self
    }

    /// Validates the configuration and builds the client. No network access.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the tenant id is empty or contains `/`, a URL does not parse or is
    /// not `http(s)`, no credentials were given, a client id, username or secret is blank, the
    /// timeout is zero, the rate limit is zero, or the HTTP client cannot be built.
    pub fn build(self) -> Result<Client, Error> {
        let tenant_id = self
            .tenant_id
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Config("tenant_id is required and must not be blank".into()))?;
        if tenant_id.contains('/') {
            return Err(Error::Config("tenant_id must not contain `/`".into()));
        }
        let cms_base = parse_url(
            "cms_base",
            self.cms_base
                .as_deref()
                .ok_or_else(|| Error::Config("cms_base is required".into()))?,
        )?;
        let css_base = self
            .css_base
            .as_deref()
            .map(|u| parse_url("css_base", u))
            .transpose()?;
        let token_url = match (self.token_url.as_deref(), self.auth_base.as_deref()) {
            (Some(u), _) => parse_url("token_url", u)?,
            (None, Some(base)) => join_segments(
                &parse_url("auth_base", base)?,
                &["tenants", &tenant_id, "oauth2", "token"],
            )?,
            (None, None) => {
                return Err(Error::Config("auth_base (or token_url) is required".into()));
            }
        };
        let grant = self.grant.ok_or_else(|| {
            Error::Config("credentials are required (client_credentials or password_grant)".into())
        })?;
        validate_grant(&grant)?;
        if self.settings.timeout.is_zero() {
            return Err(Error::Config("timeout must be greater than zero".into()));
        }
        if self.min_transfer_rate == 0 {
            return Err(Error::Config(
                "min_transfer_rate must be greater than zero".into(),
            ));
        }
        let limiter = match self.limit {
            LimitSetting::PerSecond(n) => Some(RateLimit::per_second(n)?),
            LimitSetting::Shared(limit) => Some(limit),
            LimitSetting::Off => None,
        };
        let http = self
            .settings
            .http_client(
                concat!("chatport-opentext/", env!("CARGO_PKG_VERSION")),
                true,
            )
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                tenant_id,
                cms_base,
                css_base,
                retry: self.settings.retry,
                timeout: self.settings.timeout,
                min_transfer_rate: self.min_transfer_rate,
                auth: TokenSource::new(token_url, grant, self.encoding, self.settings.lifetime),
                limiter,
                share_link: self.share_link,
                blob_id_source: self.blob_id_source,
                v3_tenant_query: self.v3_tenant_query,
            }),
        })
    }
}

fn parse_url(what: &str, s: &str) -> Result<Url, Error> {
    let url = Url::parse(s.trim())
        .map_err(|e| Error::Config(format!("{what} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!("{what} must be an http(s) URL")));
    }
    if url.cannot_be_a_base() {
        return Err(Error::Config(format!("{what} cannot be a base URL")));
    }
    Ok(url)
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn validate_grant(grant: &Grant) -> Result<(), Error> {
    let (client_id, client_secret) = match grant {
        Grant::ClientCredentials {
            client_id,
            client_secret,
        } => (client_id, client_secret),
        Grant::Password {
            client_id,
            client_secret,
            username,
            password,
        } => {
            if blank(username) {
                return Err(Error::Config("username must not be blank".into()));
            }
            if blank(password.expose_secret()) {
                return Err(Error::Config("password must not be blank".into()));
            }
            (client_id, client_secret)
        }
    };
    if blank(client_id) {
        return Err(Error::Config("client_id must not be blank".into()));
    }
    if blank(client_secret.expose_secret()) {
        return Err(Error::Config("client_secret must not be blank".into()));
    }
    Ok(())
}

/// A client of the OpenText Content Metadata Service and the Content Storage Service for one tenant.
///
/// Cheap to clone (an `Arc` inside); clones share the HTTP connection pool and the token cache.
/// `Debug` shows the URLs, tenant, grant type and client id, never a secret or token.
///
/// Every call authenticates with `Authorization: Bearer {token}` from the tenant's OAuth token
/// endpoint. The token is cached and fetched again when less than the refresh skew of its lifetime
/// remains (an answer without `expires_in` counts as [`ClientBuilder::token_default_lifetime`]);
/// concurrent callers share one fetch (`chatport_http::TokenCache`). A CMS `401` invalidates the token, fetches a new
/// one and replays the request once; a second `401` is returned ([`ErrorClass::Auth`]).
/// GETs, full updates (`PUT`) and the token request are retried in-client per the [`RetryPolicy`];
/// creates, patches and deletes only after a 429. CMS requests pass a client-side [`RateLimit`]
/// (5 per second by default, shared by clones).
///
/// [`ErrorClass::Auth`]: chatport_core::ErrorClass::Auth
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) tenant_id: String,
    pub(crate) cms_base: Url,
    pub(crate) css_base: Option<Url>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) min_transfer_rate: u64,
    pub(crate) auth: TokenSource,
    pub(crate) limiter: Option<RateLimit>,
    pub(crate) share_link: ShareLinkFields,
    pub(crate) blob_id_source: BlobIdSource,
    pub(crate) v3_tenant_query: bool,
}

/// Default of [`ClientBuilder::min_transfer_rate`]: 100,000 bytes per second.
pub const DEFAULT_MIN_TRANSFER_RATE: u64 = chatport_core::transfer::DEFAULT_MIN_RATE;

/// How long a CSS transfer of unknown length may take beyond the request timeout: one hour.
pub const UNKNOWN_LENGTH_TRANSFER: Duration = chatport_core::transfer::UNKNOWN_LENGTH;

impl Inner {
    /// The deadline of a content transfer of `length` bytes (see
    /// [`ClientBuilder::min_transfer_rate`]).
    pub(crate) fn transfer_timeout(&self, length: Option<u64>) -> Duration {
        chatport_core::transfer::deadline(self.timeout, length, self.min_transfer_rate)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("tenant_id", &self.inner.tenant_id)
            .field("cms_base", &self.inner.cms_base.as_str())
            .field("css_base", &self.inner.css_base.as_ref().map(Url::as_str))
            .field("auth", &self.inner.auth)
            .field("retry", &self.inner.retry)
            .field("limiter", &self.inner.limiter)
            .finish_non_exhaustive()
    }
}

/// Whether a request may be repeated in-client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Safe to repeat (reads): in-client retry per the policy.
    Safe,
    /// Not safe (creates, patches, deletes): repeated only after a 429 (plus the one replay after
    /// a 401); the server rejected those before applying anything.
    Once,
}

impl Client {
    /// A new [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Which upload answer id goes into a rendition's `blob_id`
    /// ([`ClientBuilder::blob_id_source`]).
    pub fn blob_id_source(&self) -> BlobIdSource {
        self.inner.blob_id_source
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    /// The CMS base URL.
    pub fn cms_base(&self) -> &Url {
        &self.inner.cms_base
    }

    /// The CSS base URL, when configured.
    pub fn css_base(&self) -> Option<&Url> {
        self.inner.css_base.as_ref()
    }

    /// The client-side rate limiter, when one is installed.
    pub fn rate_limit(&self) -> Option<&RateLimit> {
        self.inner.limiter.as_ref()
    }

    /// The token endpoint URL in use.
    pub fn token_url(&self) -> &Url {
        &self.inner.auth.token_url
    }

    /// Makes sure a valid access token is cached, fetching one if needed: a credentials probe
    /// (for `chatport check`) that touches no CMS data.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] with the token endpoint's error inside.
    pub async fn authenticate(&self) -> Result<(), Error> {
        self.inner
            .auth
            .token(&self.inner.http, &self.inner.retry)
            .await
            .map(drop)
    }

    /// `{cms_base}/{segments…}`, each segment percent-encoded.
    pub(crate) fn cms_url(&self, segments: &[&str]) -> Result<Url, Error> {
        join_segments(&self.inner.cms_base, segments)
    }

    /// Sends a request with the bearer token; on `401` invalidates the token, fetches a new one
    /// and sends once more. Returns the response when its status is 2xx, the matching [`Error`]
    /// otherwise. `build` is called once per send.
    pub(crate) async fn send_authed<F>(&self, build: F) -> Result<reqwest::Response, Error>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_authed_with(true, build).await
    }

    /// [`Self::send_authed`], through the rate limiter only when `limited` (CMS calls).
    pub(crate) async fn send_authed_with<F>(
        &self,
        limited: bool,
        build: F,
    ) -> Result<reqwest::Response, Error>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let inner = &self.inner;
        let auth = &inner.auth;
        let build = &build;
        let response = auth
            .cache
            .send_with_replay(
                || auth.fetch_token(&inner.http, &inner.retry),
                |token| async move {
                    if let (true, Some(limiter)) = (limited, &inner.limiter) {
                        limiter.acquire().await;
                    }
                    build(&inner.http)
                        .bearer_auth(token.value.expose_secret())
                        .send()
                        .await
                        .map_err(Error::from_reqwest)
                },
                |r| matches!(r, Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED),
            )
            .await?;
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

    /// One CMS call: `method url` with an optional JSON body; the success status and body.
    /// Retried per the policy when `repeat` is [`Repeat::Safe`], after a 429 only otherwise.
    pub(crate) async fn cms_bytes(
        &self,
        method: Method,
        url: Url,
        body: Option<Bytes>,
        repeat: Repeat,
    ) -> Result<(u16, Bytes), Error> {
        let (method_ref, url_ref, body_ref) = (&method, &url, &body);
        let operation = cms_operation(&method, &self.inner.cms_base, &url);
        let once = move || {
            chatport_core::telemetry::observe(CONNECTOR, operation, async move {
                let (method, url, body) = (method_ref, url_ref, body_ref);
                let response = self
                    .send_authed(|http| {
                        let req = http
                            .request(method.clone(), url.clone())
                            .header(ACCEPT, ACCEPT_HAL);
                        match &body {
                            Some(b) => req.header(CONTENT_TYPE, "application/json").body(b.clone()),
                            None => req,
                        }
                    })
                    .await?;
                let status = response.status().as_u16();
                let bytes = response.bytes().await.map_err(Error::from_reqwest)?;
                Ok((status, bytes))
            })
        };
        let span = tracing::debug_span!("opentext.cms", method = %method, path = url.path());
        let result: Result<_, Error> = match repeat {
            Repeat::Safe => self.inner.retry.run(once).instrument(span.clone()).await,
            Repeat::Once => {
                self.inner
                    .retry
                    .run_on_429(once)
                    .instrument(span.clone())
                    .await
            }
        };
        if let Err(e) = &result {
            let _entered = span.enter();
            tracing::debug!(error = %e, class = e.class().as_str(), "OpenText CMS request failed");
        }
        result
    }

    /// One CMS JSON call decoded as `T` (see [`Self::cms_bytes`]).
    pub(crate) async fn cms_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Bytes>,
        repeat: Repeat,
        what: &'static str,
    ) -> Result<T, Error> {
        let (status, bytes) = self.cms_bytes(method, url, body, repeat).await?;
        serde_json::from_slice::<T>(&bytes).map_err(|source| Error::Decode {
            status,
            what,
            source,
        })
    }

    /// One CMS call whose success body is ignored (204 or any 2xx).
    pub(crate) async fn cms_no_content(
        &self,
        method: Method,
        url: Url,
        body: Option<Bytes>,
        repeat: Repeat,
    ) -> Result<(), Error> {
        self.cms_bytes(method, url, body, repeat).await.map(drop)
    }
}

/// The `connector` label of this crate's request metrics ([`chatport_core::telemetry`]).
pub(crate) const CONNECTOR: &str = "opentext";

/// The `operation` label of a CMS call: the endpoint family after the CMS base (`instances`,
/// `type-definitions`, `trait-definitions`) and the method, e.g. `instances_post`,
/// `definitions_get`; `other_<method>` for anything else. Never an id or a type name.
pub(crate) fn cms_operation(method: &Method, cms_base: &Url, url: &Url) -> &'static str {
    let base = cms_base.path().trim_end_matches('/');
    let family = url
        .path()
        .strip_prefix(base)
        .map(|rest| rest.trim_start_matches('/'))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let definitions = matches!(family, "type-definitions" | "trait-definitions");
    match (family, method.as_str()) {
        ("instances", "GET") => "instances_get",
        ("instances", "POST") => "instances_post",
        ("instances", "PUT") => "instances_put",
        ("instances", "PATCH") => "instances_patch",
        ("instances", "DELETE") => "instances_delete",
        (_, "GET") if definitions => "definitions_get",
        ("permissions", "GET") => "permissions_get",
        ("deleted", "GET") => "deleted_get",
        ("deleted", "PUT") => "deleted_put",
        (_, "GET") => "other_get",
        (_, "POST") => "other_post",
        (_, "PUT") => "other_put",
        (_, "PATCH") => "other_patch",
        (_, "DELETE") => "other_delete",
        _ => "other",
    }
}

/// `value` as a JSON request body.
pub(crate) fn json_body<T: serde::Serialize>(value: &T, what: &str) -> Result<Bytes, Error> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::Config(format!("could not serialise the {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cms_operations_are_families_never_ids() {
        let base = Url::parse("https://h.example/cms/").unwrap();
        let url = |p: &str| Url::parse(&format!("https://h.example/cms/{p}")).unwrap();
        let id = "2f6a3c1e-8d3b-4b7e-9a57-0d1f4e2b7c90";
        assert_eq!(
            cms_operation(&Method::POST, &base, &url("instances/object/ca_case")),
            "instances_post"
        );
        assert_eq!(
            cms_operation(
                &Method::GET,
                &base,
                &url(&format!("instances/object/ca_case/{id}/history"))
            ),
            "instances_get"
        );
        assert_eq!(
            cms_operation(&Method::GET, &base, &url("type-definitions/ca_case")),
            "definitions_get"
        );
        assert_eq!(
            cms_operation(&Method::PUT, &base, &url("something/else")),
            "other_put"
        );
    }
}
