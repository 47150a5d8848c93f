//! The Cloud API client.
//!
//! `POST {base}/{version}/{PHONE_NUMBER_ID}/messages` with `Authorization: Bearer <token>`
//! (Meta: messages/send-messages). Errors are typed and classified by Graph error code
//! (Meta: support/error-codes).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::control::DEFAULT_THREAD_CONTROL_BASE_URL;
use crate::error::{ApiError, Error, mask, snippet};
use crate::outgoing::{OutgoingMessage, SendResponse};
use crate::usage::{BUSINESS_USE_CASE_USAGE_HEADER, BusinessUseCaseUsage};

/// A callback told every `X-Business-Use-Case-Usage` header the client reads (e.g. to feed
/// [`Pacer::observe_usage`](crate::Pacer::observe_usage)).
pub type UsageHook = Arc<dyn Fn(&BusinessUseCaseUsage) + Send + Sync>;

/// The Graph API host.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version used unless overridden: v26.0, the newest stable version (released
/// 29 Jul 2026, retirement date not yet announced; Graph API changelog, versions). See
/// [`crate::versions`] for the retirement dates of older versions.
pub const DEFAULT_API_VERSION: &str = "v26.0";
/// Default total timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body read, in bytes; longer bodies are cut (an error body only feeds a snippet).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// A WhatsApp Cloud API client. Cheap to clone (the connection pool is shared); its `Debug` never
/// shows the token.
///
/// Sends are **never retried inside the client**: `POST /messages` has no idempotency key, so a
/// blind resend after an ambiguous failure can duplicate a message. Callers decide with
/// [`Classify::class`](chatport_core::Classify::class) and [`Error::may_resend`].
///
/// ```no_run
/// use chatport_whatsapp::{Client, OutgoingMessage, Recipient};
/// use secrecy::SecretString;
///
/// # async fn run() -> Result<(), chatport_whatsapp::Error> {
/// let client = Client::builder()
///     .access_token(SecretString::from(std::env::var("WHATSAPP_TOKEN").unwrap_or_default()))
///     .build()?;
/// let answer = client
///     .send("106540352242922", &OutgoingMessage::text(Recipient::phone("+16505551234"), "Hello"))
///     .await?;
/// println!("accepted as {:?}", answer.wamid());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    /// Client for media downloads: redirects are followed only to allow-listed hosts.
    pub(crate) download_http: reqwest::Client,
    pub(crate) base_url: Url,
    pub(crate) api_version: String,
    pub(crate) token: SecretString,
    pub(crate) media_hosts: Arc<Vec<String>>,
    pub(crate) thread_control_base_url: Url,
    /// The last `X-Business-Use-Case-Usage` header read.
    pub(crate) usage: Mutex<Option<BusinessUseCaseUsage>>,
    pub(crate) usage_hook: Option<UsageHook>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url.as_str())
            .field("api_version", &self.inner.api_version)
            .field("media_hosts", &self.inner.media_hosts)
            .field("access_token", &"[redacted]")
            .finish()
    }
}

/// Builds a [`Client`]; see [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    token: Option<SecretString>,
    base_url: String,
    api_version: String,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    media_hosts: Vec<String>,
    thread_control_base_url: String,
    usage_hook: Option<UsageHook>,
}

/// Hosts media downloads may go to unless [`ClientBuilder::media_hosts`] says otherwise: Meta's
/// media URL host (`https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=…`, pywa
/// docstring and Meta's image webhook example).
pub const DEFAULT_MEDIA_HOSTS: &[&str] = &["lookaside.fbsbx.com"];

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("user_agent", &self.user_agent)
            .field("media_hosts", &self.media_hosts)
            .field("access_token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            token: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_agent: concat!("chatport-whatsapp/", env!("CARGO_PKG_VERSION")).to_owned(),
            media_hosts: DEFAULT_MEDIA_HOSTS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            thread_control_base_url: DEFAULT_THREAD_CONTROL_BASE_URL.to_owned(),
            usage_hook: None,
        }
    }
}

impl ClientBuilder {
    /// The system-user or business access token (needs `whatsapp_business_messaging` to send).
    /// Required. Anything that becomes a [`SecretString`] will do: a `String` read from the
    /// environment, a `&str`, or a `SecretString` itself.
    ///
    /// ```
    /// let client = chatport_whatsapp::Client::builder()
    ///     .access_token(std::env::var("WHATSAPP_TOKEN").unwrap_or_else(|_| "EAAG-example".into()))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), chatport_whatsapp::Error>(())
    /// ```
    pub fn access_token(mut self, token: impl Into<SecretString>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The Graph API base URL, [`DEFAULT_BASE_URL`] by default. Point it at an emulator in tests
    /// (`http://127.0.0.1:PORT`); a path prefix is kept.
    pub fn base_url(mut self, url: &str) -> Self {
        url.clone_into(&mut self.base_url);
        self
    }

    /// The Graph API version, `v<major>.<minor>` ([`DEFAULT_API_VERSION`] by default). Versions
    /// live about two years; payloads differ between versions (e.g. statuses omit `conversation`
    /// from v24.0).
    pub fn api_version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.api_version);
        self
    }

    /// Total timeout of one request, connect to end of body ([`DEFAULT_TIMEOUT`] by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connect timeout ([`DEFAULT_CONNECT_TIMEOUT`] by default). A connect timeout is reported as
    /// `Timeout { sent: false }`: nothing left.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header (`chatport-whatsapp/<version>` by default).
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        user_agent.clone_into(&mut self.user_agent);
        self
    }

    /// The hosts media may be downloaded from (replaces the list; [`DEFAULT_MEDIA_HOSTS`] by
    /// default). A media URL whose host is not on it is refused with
    /// [`Error::MediaHostNotAllowed`] before any request, so a forged URL in a webhook cannot make
    /// the client (and its bearer token) reach another host (SSRF); redirects are followed only to
    /// hosts on the list. Hosts compare case-insensitively and exactly (no subdomains); a port in
    /// the URL is allowed (`127.0.0.1` allows `http://127.0.0.1:8080/...`, for emulators).
    pub fn media_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.media_hosts = hosts
            .into_iter()
            .map(|h| h.into().trim().to_ascii_lowercase())
            .collect();
        self
    }

    /// The base URL of the Thread control API
    /// ([`DEFAULT_THREAD_CONTROL_BASE_URL`](crate::control::DEFAULT_THREAD_CONTROL_BASE_URL),
    /// not the Graph host; [`Client::thread_control`] appends
    /// `/phone_numbers/{id}/thread_control`). Point it at an emulator in tests.
    pub fn thread_control_base_url(mut self, url: &str) -> Self {
        url.clone_into(&mut self.thread_control_base_url);
        self
    }

    /// Calls `hook` with every `X-Business-Use-Case-Usage` header the client reads (after the
    /// answer, before the call returns); e.g. feed a [`Pacer`](crate::Pacer) with
    /// [`Pacer::observe_usage`](crate::Pacer::observe_usage). The latest header is also kept
    /// ([`Client::business_use_case_usage`]).
    pub fn on_usage(
        mut self,
        hook: impl Fn(&BusinessUseCaseUsage) + Send + Sync + 'static,
    ) -> Self {
        self.usage_hook = Some(Arc::new(hook));
        self
    }

    /// Adds one host to the media allow-list (see [`ClientBuilder::media_hosts`]).
    pub fn allow_media_host(mut self, host: impl Into<String>) -> Self {
        self.media_hosts
            .push(host.into().trim().to_ascii_lowercase());
        self
    }

    /// Validates the configuration and builds the client. Does no I/O.
    ///
    /// # Errors
    /// [`Error::Config`] for a missing or blank token (or one with characters not allowed in an
    /// HTTP header), a base URL that is not `http(s)://host[/path]` (no query, no fragment), an API
    /// version not shaped `v<digits>.<digits>`, a zero timeout, or an HTTP client that cannot be
    /// built.
    pub fn build(self) -> Result<Client, Error> {
        let token = self
            .token
            .ok_or_else(|| Error::Config("the access token is missing".into()))?;
        let exposed = token.expose_secret();
        if exposed.trim().is_empty() {
            return Err(Error::Config("the access token is blank".into()));
        }
        if exposed.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(Error::Config(
                "the access token contains whitespace or non-ASCII characters".into(),
            ));
        }
        let base_url = parse_base_url(&self.base_url, "base URL")?;
        let thread_control_base_url =
            parse_base_url(&self.thread_control_base_url, "thread control base URL")?;
        if !valid_version(&self.api_version) {
            return Err(Error::Config(format!(
                "invalid Graph API version {:?}: expected v<major>.<minor>, e.g. {DEFAULT_API_VERSION}",
                self.api_version
            )));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Config("timeouts must be greater than zero".into()));
        }
        if self.media_hosts.iter().any(|h| h.is_empty()) {
            return Err(Error::Config("a media host is blank".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let media_hosts = Arc::new(self.media_hosts);
        let allowed = media_hosts.clone();
        // Downloads stream large bodies: no total timeout, the connect timeout and a read
        // timeout per chunk instead.
        let download_http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.timeout)
            .user_agent(self.user_agent)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let ok = attempt.previous().len() < 5
                    && crate::media::host_allowed(&allowed, attempt.url());
                if ok { attempt.follow() } else { attempt.stop() }
            }))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                download_http,
                base_url,
                api_version: self.api_version,
                token,
                media_hosts,
                thread_control_base_url,
                usage: Mutex::new(None),
                usage_hook: self.usage_hook,
            }),
        })
    }
}

fn parse_base_url(raw: &str, what: &str) -> Result<Url, Error> {
    let url = Url::parse(raw.trim()).map_err(|e| Error::Config(format!("invalid {what}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() || url.host().is_none() {
        return Err(Error::Config(format!(
            "the {what} must be an http(s) URL with a host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "the {what} must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// Checks that `id` is a plain Graph id (ASCII letters, digits, `_`, `-`).
pub(crate) fn check_id(id: &str, field: &'static str) -> Result<(), Error> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::Invalid {
            field,
            reason: "must be a non-empty id of ASCII letters, digits, '_' or '-'",
        });
    }
    Ok(())
}

fn valid_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = rest.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

impl Client {
    /// Starts a [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The configured base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The configured Graph API version.
    pub fn api_version(&self) -> &str {
        &self.inner.api_version
    }

    /// The last `X-Business-Use-Case-Usage` header an answer carried (`None` before the first
    /// one; Meta sends it on Business-Use-Case-limited calls such as template management).
    pub fn business_use_case_usage(&self) -> Option<BusinessUseCaseUsage> {
        self.inner.usage.lock().ok()?.clone()
    }

    /// Sends `message` from the business number `phone_number_id`:
    /// `POST {base}/{version}/{phone_number_id}/messages` with the bearer token and the JSON body of
    /// [`OutgoingMessage::to_json`].
    ///
    /// A success means **accepted, not delivered** (delivery comes as a status webhook). Never
    /// retried inside the client.
    ///
    /// # Errors
    /// - before sending: [`Error::Validation`] / [`Error::Invalid`] from
    ///   [`OutgoingMessage::validate`], [`Error::Invalid`] for a `phone_number_id` that is empty or
    ///   not made of ASCII letters, digits, `_` and `-`;
    /// - [`Error::Api`] for a Graph error document (classified by code: 130429 and 131056 arrive as
    ///   HTTP 400 and are `Throttled`), [`Error::UnexpectedBody`] for any other non-2xx answer,
    ///   [`Error::InvalidResponse`] for a 2xx with an unreadable body;
    /// - [`Error::Transport`] / [`Error::Timeout`] with `sent` telling whether the request may have
    ///   reached Meta.
    pub async fn send(
        &self,
        phone_number_id: &str,
        message: &OutgoingMessage,
    ) -> Result<SendResponse, Error> {
        message.validate()?;
        let url = self.url(&[phone_number_id, "messages"], "phone_number_id")?;
        tracing::debug!(
            phone_number_id,
            message_type = message.message_type(),
            recipient = %chatport_core::redact::phone(message.recipient().as_str()),
            "sending WhatsApp message"
        );
        let request = self
            .inner
            .http
            .post(url)
            .bearer_auth(self.inner.token.expose_secret())
            .json(message);
        let result = self.execute::<SendResponse>("messages", request).await;
        match &result {
            Ok(answer) => {
                tracing::debug!(phone_number_id, wamid = ?answer.wamid(), "message accepted")
            }
            Err(e) => tracing::debug!(phone_number_id, error = %e, "message not accepted"),
        }
        result
    }

    /// Marks the inbound message `wamid` (and the earlier ones of the thread) as read:
    /// `POST /{phone_number_id}/messages` with `{"messaging_product":"whatsapp","status":"read",
    /// "message_id":wamid}`; Meta answers `{"success":true}` (pywa `api.py`, quoting Meta's
    /// mark-message-as-read guide).
    ///
    /// # Errors
    /// As [`Client::send`]; [`Error::Invalid`] for an empty wamid or one longer than
    /// [`limits::WAMID_MAX_CHARS`](crate::limits::WAMID_MAX_CHARS); [`Error::InvalidResponse`]
    /// when the answer is not `{"success":true}`.
    pub async fn mark_read(&self, phone_number_id: &str, wamid: &str) -> Result<(), Error> {
        self.read_receipt(phone_number_id, wamid, false).await
    }

    /// Marks `wamid` as read **and** shows a typing indicator to the user, dismissed when the
    /// business replies or after 25 seconds: the body of [`Client::mark_read`] plus
    /// `"typing_indicator":{"type":"text"}`.
    ///
    /// # Errors
    /// As [`Client::mark_read`].
    pub async fn typing_indicator(&self, phone_number_id: &str, wamid: &str) -> Result<(), Error> {
        self.read_receipt(phone_number_id, wamid, true).await
    }

    async fn read_receipt(
        &self,
        phone_number_id: &str,
        wamid: &str,
        typing: bool,
    ) -> Result<(), Error> {
        if wamid.trim().is_empty() || wamid.chars().count() > crate::limits::WAMID_MAX_CHARS {
            return Err(Error::Invalid {
                field: "message_id",
                reason: "must be a wamid of 1 to 128 characters",
            });
        }
        let url = self.url(&[phone_number_id, "messages"], "phone_number_id")?;
        let mut body = serde_json::json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        });
        if typing {
            body["typing_indicator"] = serde_json::json!({ "type": "text" });
        }
        let request = self
            .inner
            .http
            .post(url)
            .bearer_auth(self.inner.token.expose_secret())
            .json(&body);
        let operation = if typing {
            "typing_indicator"
        } else {
            "mark_read"
        };
        let answer: Success = self.execute(operation, request).await?;
        answer.into_result()
    }

    /// `{base}/{version}/{segments...}`; every segment is checked to be a plain id.
    pub(crate) fn url(&self, segments: &[&str], id_field: &'static str) -> Result<Url, Error> {
        if let Some(id) = segments.first() {
            check_id(id, id_field)?;
        }
        let mut url = self.inner.base_url.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| Error::Config("the base URL cannot be a base".into()))?;
            path.pop_if_empty();
            path.push(&self.inner.api_version);
            for segment in segments {
                path.push(segment);
            }
        }
        Ok(url)
    }

    /// Sends a request, reads the answer and maps it: 2xx → `T`, else a typed error. Recorded as
    /// one attempt of `operation` in the connector request metrics
    /// ([`chatport_core::telemetry`], connector `whatsapp`).
    pub(crate) async fn execute<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Error> {
        chatport_core::telemetry::observe(CONNECTOR, operation, self.exchange(request)).await
    }

    /// Reads an answer's `X-Business-Use-Case-Usage` header, keeps it and tells the hook.
    pub(crate) fn note_usage(&self, headers: &reqwest::header::HeaderMap) {
        let Some(usage) = headers
            .get(BUSINESS_USE_CASE_USAGE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(BusinessUseCaseUsage::parse)
        else {
            return;
        };
        if let Some(hook) = &self.inner.usage_hook {
            hook(&usage);
        }
        if let Ok(mut slot) = self.inner.usage.lock() {
            *slot = Some(usage);
        }
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Error> {
        let mut response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = chatport_http::retry_after(response.headers());
        self.note_usage(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            // The request was answered: whatever failed, the body reached Meta.
            if e.is_timeout() {
                Error::Timeout { sent: true }
            } else {
                Error::Transport {
                    source: e,
                    sent: true,
                }
            }
        })? {
            let room = MAX_RESPONSE_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_RESPONSE_BYTES {
                break;
            }
        }
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse {
                http_status: status,
                reason: mask(&e.to_string()),
            });
        }
        Err(error_from_body(status, retry_after, &body))
    }
}

/// The `connector` label of this crate's request metrics.
pub(crate) const CONNECTOR: &str = "whatsapp";

/// Maps a failure of `send()` (no answer received).
pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    // A connect failure (refused, DNS, TLS handshake, connect timeout) or a request that could not
    // even be built never left this process; anything later may have reached Meta.
    let sent = !(e.is_connect() || e.is_builder());
    if e.is_timeout() {
        Error::Timeout { sent }
    } else {
        Error::Transport { source: e, sent }
    }
}

/// `{"success": true}`, the answer of mark-as-read and delete.
#[derive(Deserialize)]
pub(crate) struct Success {
    #[serde(default)]
    success: bool,
}

impl Success {
    pub(crate) fn into_result(self) -> Result<(), Error> {
        if self.success {
            Ok(())
        } else {
            Err(Error::InvalidResponse {
                http_status: 200,
                reason: "the answer is not {\"success\":true}".into(),
            })
        }
    }
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    code: i64,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "type", default)]
    error_type: Option<String>,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    error_data: Option<Value>,
    #[serde(default)]
    fbtrace_id: Option<String>,
    #[serde(default)]
    is_transient: Option<bool>,
    #[serde(default)]
    error_user_title: Option<String>,
    #[serde(default)]
    error_user_msg: Option<String>,
}

/// Maps a non-2xx answer: a Graph error document → [`Error::Api`], anything else →
/// [`Error::UnexpectedBody`].
pub(crate) fn error_from_body(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Error {
    match serde_json::from_slice::<GraphErrorBody>(body) {
        Ok(GraphErrorBody { error }) => {
            let details = match error.error_data {
                Some(Value::Object(data)) => data
                    .get("details")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                // Some Graph errors carry error_data as a string.
                Some(Value::String(s)) if !s.is_empty() => Some(s),
                _ => None,
            };
            Error::Api(Box::new(ApiError {
                http_status: status,
                code: error.code,
                message: error.message.unwrap_or_default(),
                error_type: error.error_type,
                details,
                error_subcode: error.error_subcode,
                fbtrace_id: error.fbtrace_id,
                is_transient: error.is_transient,
                error_user_title: error.error_user_title,
                error_user_msg: error.error_user_msg,
                retry_after,
            }))
        }
        Err(_) => Error::UnexpectedBody {
            http_status: status,
            snippet: snippet(body),
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatport_core::{Classify, ErrorClass};
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    fn token() -> SecretString {
        SecretString::from("EAAJB-test")
    }

    #[test]
    fn builder_validates() {
        let ok = Client::builder().access_token(token()).build().unwrap();
        assert_eq!(ok.api_version(), "v26.0");
        assert_eq!(ok.base_url().as_str(), "https://graph.facebook.com/");
        assert!(!format!("{ok:?}").contains("EAAJB"));
        let refused = |b: ClientBuilder| matches!(b.build(), Err(Error::Config(_)));
        assert!(refused(Client::builder()));
        assert!(refused(
            Client::builder().access_token(SecretString::from("  "))
        ));
        assert!(refused(
            Client::builder().access_token(SecretString::from("a b"))
        ));
        assert!(refused(
            Client::builder()
                .access_token(token())
                .base_url("not a url")
        ));
        assert!(refused(
            Client::builder().access_token(token()).base_url("ftp://x")
        ));
        assert!(refused(
            Client::builder()
                .access_token(token())
                .base_url("http://x/?a=1")
        ));
        assert!(refused(
            Client::builder()
                .access_token(token())
                .thread_control_base_url("ftp://x")
        ));
        for bad in ["25.0", "v25", "v25.", "vx.0", "v25.0/", ""] {
            assert!(
                refused(Client::builder().access_token(token()).api_version(bad)),
                "{bad}"
            );
        }
        assert!(refused(
            Client::builder()
                .access_token(token())
                .timeout(Duration::ZERO)
        ));
        let custom = Client::builder()
            .access_token(token())
            .api_version("v26.0")
            .base_url("http://127.0.0.1:9/graph/")
            .build()
            .unwrap();
        assert_eq!(
            custom
                .url(&["123", "messages"], "phone_number_id")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/graph/v26.0/123/messages"
        );
        assert!(matches!(
            custom.url(&["../x", "messages"], "phone_number_id"),
            Err(Error::Invalid {
                field: "phone_number_id",
                ..
            })
        ));
        assert!(matches!(
            custom.url(&["", "messages"], "phone_number_id"),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn graph_error_documents() {
        let body = br#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},"error_subcode":2494055,"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#;
        let err = error_from_body(400, None, body);
        let api = err.api().unwrap();
        assert_eq!(api.code(), 130429);
        assert_eq!(
            api.details(),
            Some("Cloud API message throughput has been reached.")
        );
        assert_eq!(api.fbtrace_id(), Some("Az8or2yhqkZfEZ-_4Qn_Bam"));
        assert_eq!(api.error_subcode, Some(2494055));
        assert_eq!(api.error_type.as_deref(), Some("OAuthException"));
        assert!(matches!(err.class(), ErrorClass::Throttled { .. }));
        assert!(err.may_resend());

        let string_data = error_from_body(
            400,
            None,
            br#"{"error":{"code":100,"error_data":"bad param"}}"#,
        );
        assert_eq!(string_data.api().unwrap().details(), Some("bad param"));

        // JSON that is not a Graph error document
        let other = error_from_body(500, None, br#"{"message":"oops"}"#);
        assert!(matches!(
            other,
            Error::UnexpectedBody {
                http_status: 500,
                ..
            }
        ));
        assert_eq!(other.class(), ErrorClass::Server);
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(chatport_http::retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("17"));
        assert_eq!(
            chatport_http::retry_after(&h),
            Some(Duration::from_secs(17))
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(chatport_http::retry_after(&h), Some(Duration::ZERO));
        let future = (chrono::Utc::now() + chrono::Duration::hours(2))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&future).unwrap());
        let got = chatport_http::retry_after(&h).unwrap();
        assert!(got > Duration::from_secs(3600) && got <= Duration::from_secs(7200));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(chatport_http::retry_after(&h), None);
    }
}
