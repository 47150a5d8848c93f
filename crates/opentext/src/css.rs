//! The Content Storage Service (CSS): streaming upload, streaming download, content metadata and
//! public share links.
//!
//! Paths and shapes: `shared/api/opentext-orangelogic.md` §1.6 (OpenText's samples and the
//! generated CSS Java client's docs). The CSS is a separate host (`https://css.{region}.api.opentext.com`),
//! configured with [`ClientBuilder::css_base`](crate::ClientBuilder::css_base).
//!
//! Uploads read from any [`AsyncRead`] in 64 KiB chunks straight into the request body: the
//! file is never held in memory. Because a consumed body cannot be replayed, an upload is sent
//! exactly once: no in-client retry and no replay after a 401 (the 401 invalidates the cached
//! token, so the caller's next attempt uses a fresh one). Downloads are retried per the
//! [`RetryPolicy`](crate::RetryPolicy) until the response headers arrive, then streamed into an
//! [`AsyncWrite`]. The client-side rate limit applies to the CMS only (none is documented for the
//! CSS).

use chrono::{DateTime, Utc};
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::io::ReaderStream;
use url::Url;

use crate::http::{error_from_body, join_segments, set_query};
use crate::model::href;
use crate::{Client, Error, RenditionDraft};
use tracing::Instrument;

/// Size of the chunks an upload reads from its source.
const CHUNK: usize = 64 * 1024;

/// The `source` a rendition carries when its `blob_id` is a CSS **v3** file id:
/// `"FILE_ID"` (OpenText's contract-approval sample, HEAD `a6d7e977`, `AddContract.jsx`:
/// `{name, rendition_type: "primary", source: "FILE_ID", blob_id: <v3 answer id>}`).
pub const FILE_ID_SOURCE: &str = "FILE_ID";

/// Which id of a CSS upload answer goes into a rendition's `blob_id`.
///
/// OpenText's own samples differ: the contract-approval sample (S1, both its v2 version
/// `1ffe50de`… `44c91893` and its v3 HEAD `a6d7e977`, `src/components/AddContract.jsx`) puts the
/// answer's **`id`** there (`entries[0].id` for v2, `id` for v3); other samples read
/// `entries[0].blobId`. Which one the CMS wants when the two differ is not documented, so this is
/// a setting ([`ClientBuilder::blob_id_source`](crate::ClientBuilder::blob_id_source)), defaulting
/// to the contract-approval sample. Deserialises from `"id"` / `"blob_id"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BlobIdSource {
    /// `entries[0].id` (v2) or `id` (v3): the contract-approval sample. The default.
    #[default]
    Id,
    /// `entries[0].blobId`; the answer's `id` when it has no `blobId` (a v3 answer never has
    /// one).
    BlobId,
}

/// Which CSS upload API a content record came from (not part of the JSON: set by the upload call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CssApi {
    /// `POST {css}/v2/tenant/{tenant}/content` (and records read with `GET /v2/content/{id}`).
    /// The default.
    #[default]
    V2,
    /// `POST {css}/v3/files/fromStream`: its id is a *file id*, and a rendition built from it
    /// carries `"source": "FILE_ID"` ([`FILE_ID_SOURCE`]).
    V3,
}

/// A CSS content record: an upload's answer (`entries[0]` of the v2 answer, or the v3 answer)
/// and `GET /v2/content/{id}`.
///
/// v2: `{"id","blobId","fileName","mimeType","size","_links":{"download":{"href"}}}`;
/// v3: `{"id","originalFileName","mimeType","size"}`. Unknown fields are kept in `extra`.
/// [`api`](Self::api) records which upload API answered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CssContent {
    /// The content id (a v3 answer's file id).
    #[serde(default)]
    pub id: String,
    /// `blobId`, when sent (v2).
    #[serde(rename = "blobId", default, skip_serializing_if = "Option::is_none")]
    pub blob_id: Option<String>,
    /// `fileName` (v2) or `originalFileName` (v3).
    #[serde(
        rename = "fileName",
        alias = "originalFileName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub file_name: Option<String>,
    /// `mimeType`.
    #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// `size` in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// `_links`.
    #[serde(rename = "_links", default, skip_serializing_if = "Map::is_empty")]
    pub links: Map<String, Value>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The upload API that answered ([`CssApi::V2`] for a deserialised record). Not serialised.
    #[serde(skip)]
    pub api: CssApi,
}

impl CssContent {
    /// `blobId` when the service sent one, else `id` (the same as
    /// [`rendition_blob_id`](Self::rendition_blob_id) with [`BlobIdSource::BlobId`]).
    pub fn blob_id(&self) -> &str {
        self.blob_id.as_deref().unwrap_or(&self.id)
    }

    /// The id to put in a rendition's `blob_id` under `source`: [`BlobIdSource::Id`] → `id`;
    /// [`BlobIdSource::BlobId`] → `blobId`, else `id`. A v3 answer has only `id`.
    pub fn rendition_blob_id(&self, source: BlobIdSource) -> &str {
        match (source, self.api) {
            (BlobIdSource::BlobId, CssApi::V2) => self.blob_id(),
            _ => &self.id,
        }
    }

    /// A primary rendition of this content, as OpenText's contract-approval sample builds it:
    /// `{name, blob_id, rendition_type: "primary", mime_type?}`, with `blob_id` chosen by
    /// `source` ([`rendition_blob_id`](Self::rendition_blob_id)) and, for a v3 file id,
    /// `"source": "FILE_ID"`. `name` is the answer's file name, else `fallback_name`.
    pub fn primary_rendition(&self, source: BlobIdSource, fallback_name: &str) -> RenditionDraft {
        let name = self.file_name.as_deref().unwrap_or(fallback_name);
        let mut draft = RenditionDraft::primary(name, self.rendition_blob_id(source));
        if let Some(mime) = &self.mime_type {
            draft = draft.mime_type(mime.clone());
        }
        if self.api == CssApi::V3 {
            draft = draft.source(FILE_ID_SOURCE);
        }
        draft
    }

    /// `_links.download.href`, when sent.
    pub fn download_href(&self) -> Option<String> {
        href(self.links.get("download"))
    }
}

#[derive(Deserialize)]
struct Entries {
    #[serde(default)]
    entries: Vec<CssContent>,
}

/// What an upload sends besides the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadOptions {
    /// The file name (multipart `filename`).
    pub file_name: String,
    /// The MIME type (default `application/octet-stream`).
    pub mime_type: Option<String>,
    /// The exact length in bytes, when known: sent as `Content-Length` (raw) or as the part's
    /// length (multipart, so the whole request gets a `Content-Length`); otherwise the body is
    /// sent chunked. A reader that ends early or runs long makes the request fail.
    pub length: Option<u64>,
    /// `avs-scan` (anti-virus scan; "reserved for trusted clients, set false to skip"; the
    /// service default is `true`). Not sent when `None`.
    pub avs_scan: Option<bool>,
}

impl UploadOptions {
    /// Options for a file of this name.
    pub fn new(file_name: impl Into<String>) -> Self {
        Self {
            file_name: file_name.into(),
            ..Self::default()
        }
    }

    /// Sets the MIME type.
    pub fn mime_type(mut self, mime: impl Into<String>) -> Self {
        self.mime_type = Some(mime.into());
        self
    }

    /// Sets the exact length in bytes.
    pub fn length(mut self, length: u64) -> Self {
        self.length = Some(length);
        self
    }

    /// Sets `avs-scan`.
    pub fn avs_scan(mut self, scan: bool) -> Self {
        self.avs_scan = Some(scan);
        self
    }

    fn mime(&self) -> &str {
        self.mime_type
            .as_deref()
            .unwrap_or("application/octet-stream")
    }
}

/// Query parameters of a v2 download (`object-id`, `file-name`, `mime-type`,
/// `disposition-type`, `avs-scan`); unset ones are not sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadOptions {
    /// `object-id`: the CMS instance the content belongs to.
    pub object_id: Option<String>,
    /// `file-name`.
    pub file_name: Option<String>,
    /// `mime-type`.
    pub mime_type: Option<String>,
    /// `disposition-type` (`attachment` / `inline`).
    pub disposition_type: Option<String>,
    /// `avs-scan`.
    pub avs_scan: Option<bool>,
}

impl DownloadOptions {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `object-id`.
    pub fn object_id(mut self, id: impl Into<String>) -> Self {
        self.object_id = Some(id.into());
        self
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (k, v) in [
            ("object-id", &self.object_id),
            ("file-name", &self.file_name),
            ("mime-type", &self.mime_type),
            ("disposition-type", &self.disposition_type),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        }
        if let Some(scan) = self.avs_scan {
            pairs.push(("avs-scan", scan.to_string()));
        }
        pairs
    }
}

/// How a share link's expiry is written in the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpiryFormat {
    /// RFC 3339 text, e.g. `"2025-01-31T12:00:00Z"` (default).
    #[default]
    Rfc3339,
    /// Milliseconds since the Unix epoch (a JSON number).
    EpochMillis,
    /// Seconds since the Unix epoch (a JSON number).
    EpochSeconds,
}

/// The JSON field names of public share links.
///
/// **Not documented:** the CSS API names its request `NewLinkRequest` ("Password and expiry") and
/// its answer `NewLinkResponse`, but their fields are not in the public material. The defaults
/// below are guesses (inferred); set the real names with
/// [`ClientBuilder::share_link_fields`](crate::ClientBuilder::share_link_fields) once known.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShareLinkFields {
    /// The request field of the expiry (default `expiresAt`).
    pub expiry_field: String,
    /// How the expiry is written (default [`ExpiryFormat::Rfc3339`]).
    pub expiry_format: ExpiryFormat,
    /// The request field of the password (default `password`).
    pub password_field: String,
    /// The query parameter naming the CMS instance (default `objectId`, documented).
    pub object_id_param: String,
    /// Response fields tried, in order, for the link URL (default `url`, `publicUrl`,
    /// `publicShareUrl`, `shareUrl`, `link`, `href`).
    pub url_fields: Vec<String>,
    /// Response fields tried, in order, for the link id (default `id`, `urlId`, `linkId`).
    pub id_fields: Vec<String>,
}

impl Default for ShareLinkFields {
    fn default() -> Self {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            expiry_field: "expiresAt".to_owned(),
            expiry_format: ExpiryFormat::Rfc3339,
            password_field: "password".to_owned(),
            object_id_param: "objectId".to_owned(),
            url_fields: owned(&[
                "url",
                "publicUrl",
                "publicShareUrl",
                "shareUrl",
                "link",
                "href",
            ]),
            id_fields: owned(&["id", "urlId", "linkId"]),
        }
    }
}

impl ShareLinkFields {
    /// Sets the expiry field name and format.
    pub fn expiry(mut self, field: impl Into<String>, format: ExpiryFormat) -> Self {
        self.expiry_field = field.into();
        self.expiry_format = format;
        self
    }

    /// Sets the password field name.
    pub fn password(mut self, field: impl Into<String>) -> Self {
        self.password_field = field.into();
        self
    }

    /// Sets the response fields tried for the URL.
    pub fn url_fields<I: IntoIterator<Item = S>, S: Into<String>>(mut self, fields: I) -> Self {
        self.url_fields = fields.into_iter().map(Into::into).collect();
        self
    }
}

/// A request for a public share link to CSS content.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ShareLinkRequest {
    /// When the link stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// A password the link asks for.
    pub password: Option<SecretString>,
    /// The CMS instance the content belongs to (`?objectId=`).
    pub object_id: Option<String>,
    /// Any other body field, sent as is.
    pub extra: Map<String, Value>,
}

impl ShareLinkRequest {
    /// A link that expires at `expires_at`.
    pub fn expiring_at(expires_at: DateTime<Utc>) -> Self {
        Self {
            expires_at: Some(expires_at),
            ..Self::default()
        }
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<SecretString>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sets the CMS instance id.
    pub fn object_id(mut self, id: impl Into<String>) -> Self {
        self.object_id = Some(id.into());
        self
    }

    /// Sets another body field.
    pub fn extra(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }

    fn body(&self, fields: &ShareLinkFields) -> Map<String, Value> {
        let mut body = self.extra.clone();
        if let Some(at) = self.expires_at {
            let value = match fields.expiry_format {
                ExpiryFormat::Rfc3339 => {
                    Value::from(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                }
                ExpiryFormat::EpochMillis => Value::from(at.timestamp_millis()),
                ExpiryFormat::EpochSeconds => Value::from(at.timestamp()),
            };
            body.insert(fields.expiry_field.clone(), value);
        }
        if let Some(pw) = &self.password {
            body.insert(
                fields.password_field.clone(),
                Value::from(pw.expose_secret()),
            );
        }
        body
    }
}

/// A created public share link. The answer's shape is not documented: `url` and `id` are
/// taken from the first of the configured [`ShareLinkFields`] names present; the whole answer is
/// in `raw`.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ShareLink {
    /// The link URL, when found.
    pub url: Option<String>,
    /// The link id (for `GET/PUT/DELETE /v2/content/{id}/publicShareUrl/{urlId}`), when found.
    pub id: Option<String>,
    /// The answer as sent.
    pub raw: Map<String, Value>,
}

impl ShareLink {
    fn from_answer(raw: Map<String, Value>, fields: &ShareLinkFields) -> Self {
        let pick = |names: &[String]| {
            names.iter().find_map(|n| match raw.get(n) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(v @ Value::Object(_)) => href(Some(v)),
                _ => None,
            })
        };
        Self {
            url: pick(&fields.url_fields),
            id: pick(&fields.id_fields),
            raw,
        }
    }
}

/// Which upload endpoint.
#[derive(Clone, Copy)]
enum Endpoint {
    V2Multipart,
    V2Raw,
    V3FromStream,
}

impl Client {
    fn css_url(&self, segments: &[&str]) -> Result<Url, Error> {
        let base = self.inner.css_base.as_ref().ok_or_else(|| {
            Error::Config("css_base is required for Content Storage Service calls".into())
        })?;
        join_segments(base, segments)
    }

    /// Uploads a file to the CSS: `POST {css}/v2/tenant/{tenant}/content[?avs-scan=]` as
    /// `multipart/form-data` with the bytes in the field `file`; returns `entries[0]` of the
    /// `201` answer. The reader is streamed, never buffered whole.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] without a CSS base or with an invalid MIME type; an error status as
    /// [`Error::Service`] / [`Error::Gateway`] / [`Error::UnexpectedBody`]; [`Error::Transport`]
    /// when the reader fails or the connection drops; [`Error::Decode`] when the answer has no
    /// entry.
    pub async fn upload_content<R>(
        &self,
        reader: R,
        options: &UploadOptions,
    ) -> Result<CssContent, Error>
    where
        R: AsyncRead + Send + 'static,
    {
        self.upload(Endpoint::V2Multipart, reader, options).await
    }

    /// Uploads with a raw body: `POST {css}/v2/tenant/{tenant}/content` with
    /// `Content-Type: {mime}` (and `Content-Length` when the length is known).
    ///
    /// # Errors
    ///
    /// As [`Client::upload_content`].
    pub async fn upload_content_raw<R>(
        &self,
        reader: R,
        options: &UploadOptions,
    ) -> Result<CssContent, Error>
    where
        R: AsyncRead + Send + 'static,
    {
        self.upload(Endpoint::V2Raw, reader, options).await
    }

    /// Uploads with the v3 API: `POST {css}/v3/files/fromStream` as multipart field `file`,
    /// **without** a tenant query (the token names the tenant; OpenText's contract-approval sample
    /// HEAD sends none; [`ClientBuilder::css_v3_tenant_query`](crate::ClientBuilder::css_v3_tenant_query)
    /// adds `?tenant={tenant_id}` as other samples do). The answer `{"id","originalFileName","mimeType","size"}` is returned with
    /// [`CssContent::api`] = [`CssApi::V3`]: build its rendition with
    /// [`CssContent::primary_rendition`] (`"source": "FILE_ID"`).
    ///
    /// # Errors
    ///
    /// As [`Client::upload_content`].
    pub async fn upload_content_v3<R>(
        &self,
        reader: R,
        options: &UploadOptions,
    ) -> Result<CssContent, Error>
    where
        R: AsyncRead + Send + 'static,
    {
        self.upload(Endpoint::V3FromStream, reader, options).await
    }

    /// One streamed upload attempt, recorded as operation `css_upload` in the connector request
    /// metrics.
    async fn upload<R>(
        &self,
        endpoint: Endpoint,
        reader: R,
        options: &UploadOptions,
    ) -> Result<CssContent, Error>
    where
        R: AsyncRead + Send + 'static,
    {
        chatport_core::telemetry::observe(
            crate::client::CONNECTOR,
            "css_upload",
            self.upload_attempt(endpoint, reader, options),
        )
        .await
    }

    async fn upload_attempt<R>(
        &self,
        endpoint: Endpoint,
        reader: R,
        options: &UploadOptions,
    ) -> Result<CssContent, Error>
    where
        R: AsyncRead + Send + 'static,
    {
        let tenant = self.tenant_id().to_owned();
        let mut url = match endpoint {
            Endpoint::V2Multipart | Endpoint::V2Raw => {
                self.css_url(&["v2", "tenant", &tenant, "content"])?
            }
            Endpoint::V3FromStream => self.css_url(&["v3", "files", "fromStream"])?,
        };
        let mut pairs = Vec::new();
        if matches!(endpoint, Endpoint::V3FromStream) && self.inner.v3_tenant_query {
            pairs.push(("tenant", tenant.clone()));
        }
        if let Some(scan) = options.avs_scan {
            pairs.push(("avs-scan", scan.to_string()));
        }
        set_query(&mut url, &pairs);

        let body = reqwest::Body::wrap_stream(ReaderStream::with_capacity(reader, CHUNK));
        let inner = &self.inner;
        let token = inner.auth.token(&inner.http, &inner.retry).await?;
        let request = inner
            .http
            .post(url)
            .header(ACCEPT, "application/json")
            .bearer_auth(token.value.expose_secret())
            .timeout(inner.transfer_timeout(options.length));
        let request = match endpoint {
            Endpoint::V2Raw => {
                let request = request.header(CONTENT_TYPE, options.mime()).body(body);
                match options.length {
                    Some(n) => request.header(CONTENT_LENGTH, n),
                    None => request,
                }
            }
            Endpoint::V2Multipart | Endpoint::V3FromStream => {
                let part = match options.length {
                    Some(n) => reqwest::multipart::Part::stream_with_length(body, n),
                    None => reqwest::multipart::Part::stream(body),
                };
                let part = part
                    .file_name(options.file_name.clone())
                    .mime_str(options.mime())
                    .map_err(|e| Error::Config(format!("invalid MIME type: {e}")))?;
                request.multipart(reqwest::multipart::Form::new().part("file", part))
            }
        };
        let span = tracing::debug_span!("opentext.css.upload", path = request_path(endpoint));
        let response = request
            .send()
            .instrument(span)
            .await
            .map_err(Error::from_reqwest)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(Error::from_reqwest)?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            inner.auth.invalidate(token.generation).await;
        }
        if !status.is_success() {
            return Err(error_from_body(status.as_u16(), &headers, &bytes));
        }
        let status = status.as_u16();
        let decode = |source| Error::Decode {
            status,
            what: "CSS upload",
            source,
        };
        match endpoint {
            Endpoint::V2Multipart | Endpoint::V2Raw => {
                let entries: Entries = serde_json::from_slice(&bytes).map_err(decode)?;
                entries.entries.into_iter().next().ok_or_else(|| {
                    decode(serde::de::Error::custom("the upload answer has no entries"))
                })
            }
            Endpoint::V3FromStream => {
                let mut content: CssContent = serde_json::from_slice(&bytes).map_err(decode)?;
                content.api = CssApi::V3;
                Ok(content)
            }
        }
    }

    /// Uploads through the API `api` selects: [`Client::upload_content`] (v2 multipart) or
    /// [`Client::upload_content_v3`].
    ///
    /// # Errors
    ///
    /// As [`Client::upload_content`].
    pub async fn upload_content_with<R>(
        &self,
        api: CssApi,
        reader: R,
        options: &UploadOptions,
    ) -> Result<CssContent, Error>
    where
        R: AsyncRead + Send + 'static,
    {
        match api {
            CssApi::V2 => self.upload_content(reader, options).await,
            CssApi::V3 => self.upload_content_v3(reader, options).await,
        }
    }

    /// Reads a content record: `GET {css}/v2/content/{id}`.
    ///
    /// # Errors
    ///
    /// As [`Client::get_instance`](crate::Client::get_instance); [`Error::Config`] without a CSS
    /// base.
    pub async fn get_content(&self, id: &str) -> Result<CssContent, Error> {
        let url = self.css_url(&["v2", "content", id])?;
        let response = self.css_get(url, "application/json").await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(Error::from_reqwest)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            status,
            what: "CSS content",
            source,
        })
    }

    /// Downloads content into `writer`: `GET {css}/v2/content/{id}/download?…` with
    /// `Accept: application/octet-stream`, streamed chunk by chunk. Returns the number of bytes
    /// written. `writer` is flushed, not shut down.
    ///
    /// # Errors
    ///
    /// As [`Client::get_content`]; [`Error::Io`] when the writer fails; [`Error::Transport`] when
    /// the connection drops mid-body (part of the content may have been written).
    pub async fn download_content<W>(
        &self,
        id: &str,
        options: &DownloadOptions,
        writer: &mut W,
    ) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let mut url = self.css_url(&["v2", "content", id, "download"])?;
        set_query(&mut url, &options.pairs());
        let response = self.css_get(url, "application/octet-stream").await?;
        write_body(response, writer).await
    }

    /// Downloads a v3 file into `writer`: `GET {css}/v3/files/{id}/stream` (`id` = the v3 upload
    /// answer's id; S6 in the notes §1.6), streamed chunk by chunk as
    /// [`Client::download_content`] does. Returns the number of bytes written. `writer` is
    /// flushed, not shut down.
    ///
    /// # Errors
    ///
    /// As [`Client::download_content`].
    pub async fn download_file_v3<W>(&self, id: &str, writer: &mut W) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let url = self.css_url(&["v3", "files", id, "stream"])?;
        let response = self.css_get(url, "application/octet-stream").await?;
        write_body(response, writer).await
    }

    /// Downloads from a HAL download link (`urn:eim:linkrel:download-media` of an instance or a
    /// rendition, or `_links.download` of a CSS record) into `writer`. The link must point at the
    /// CMS or the CSS host (the token is not sent elsewhere); a relative link is resolved against
    /// the CMS base.
    ///
    /// # Errors
    ///
    /// As [`Client::download_content`]; [`Error::Config`] for a link to another host.
    pub async fn download_href<W>(&self, href: &str, writer: &mut W) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let url = match (Url::parse(href), &self.inner.css_base) {
            (Ok(url), Some(css)) if url.origin() == css.origin() => url,
            _ => self.resolve_cms_link(href)?,
        };
        let response = self.css_get(url, "application/octet-stream").await?;
        write_body(response, writer).await
    }

    /// Creates a public share link: `POST {css}/v2/content/{id}/publicShareUrl[?objectId=]` with
    /// the expiry and password under the configured [`ShareLinkFields`] names (the real names are
    /// not documented). Repeated in-client only after a 429.
    ///
    /// # Errors
    ///
    /// As [`Client::get_content`]; [`Error::Decode`] when the answer is not a JSON object.
    pub async fn create_share_link(
        &self,
        content_id: &str,
        request: &ShareLinkRequest,
    ) -> Result<ShareLink, Error> {
        let fields = &self.inner.share_link;
        let mut url = self.css_url(&["v2", "content", content_id, "publicShareUrl"])?;
        if let Some(object_id) = &request.object_id {
            set_query(
                &mut url,
                &[(fields.object_id_param.as_str(), object_id.clone())],
            );
        }
        let body =
            bytes::Bytes::from(serde_json::to_vec(&request.body(fields)).map_err(|e| {
                Error::Config(format!("could not serialise the link request: {e}"))
            })?);
        let (url_ref, body_ref) = (&url, &body);
        let (status, bytes) = self
            .inner
            .retry
            .run_on_429(move || {
                chatport_core::telemetry::observe(
                    crate::client::CONNECTOR,
                    "css_share_link",
                    async move {
                        let response = self
                            .send_authed_with(false, |http| {
                                http.request(Method::POST, url_ref.clone())
                                    .header(ACCEPT, "application/json")
                                    .header(CONTENT_TYPE, "application/json")
                                    .body(body_ref.clone())
                            })
                            .await?;
                        let status = response.status().as_u16();
                        let bytes = response.bytes().await.map_err(Error::from_reqwest)?;
                        Ok((status, bytes))
                    },
                )
            })
            .await?;
        let raw: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
                status,
                what: "share link",
                source,
            })?;
        Ok(ShareLink::from_answer(raw, fields))
    }

    /// A GET on the CSS (or a download link): token, 401 replay, in-client retry until the
    /// headers of a 2xx answer arrive. Each attempt is recorded as operation `css_get` (its
    /// duration runs until the headers arrived; a streamed body is not included).
    async fn css_get(&self, url: Url, accept: &'static str) -> Result<reqwest::Response, Error> {
        let url_ref = &url;
        self.inner
            .retry
            .run(move || {
                chatport_core::telemetry::observe(
                    crate::client::CONNECTOR,
                    "css_get",
                    self.send_authed_with(false, move |http| {
                        http.get(url_ref.clone())
                            .header(ACCEPT, accept)
                            .timeout(self.inner.transfer_timeout(None))
                    }),
                )
            })
            .await
    }
}

fn request_path(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::V2Multipart | Endpoint::V2Raw => "/v2/tenant/{tenant}/content",
        Endpoint::V3FromStream => "/v3/files/fromStream",
    }
}

async fn write_body<W>(response: reqwest::Response, writer: &mut W) -> Result<u64, Error>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    use futures::StreamExt;
    let mut total = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Error::from_reqwest)?;
        writer.write_all(&chunk).await.map_err(Error::Io)?;
        total = total.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
    }
    writer.flush().await.map_err(Error::Io)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn content_shapes() {
        let v2: CssContent = serde_json::from_value(json!({
            "id": "c1", "blobId": "b1", "fileName": "a.pdf", "mimeType": "application/pdf",
            "size": 3, "_links": {"download": {"href": "https://css/x"}}, "tenant": "t"
        }))
        .unwrap();
        assert_eq!(v2.blob_id(), "b1");
        assert_eq!(v2.file_name.as_deref(), Some("a.pdf"));
        assert_eq!(v2.download_href().as_deref(), Some("https://css/x"));
        assert_eq!(v2.extra["tenant"], "t");
        let v3: CssContent = serde_json::from_value(json!({
            "id": "c2", "originalFileName": "b.jpg", "mimeType": "image/jpeg", "size": 9
        }))
        .unwrap();
        assert_eq!(v3.blob_id(), "c2");
        assert_eq!(v3.file_name.as_deref(), Some("b.jpg"));
    }

    #[test]
    fn blob_id_source_picks_the_id() {
        let v2: CssContent = serde_json::from_value(json!({
            "id": "c1", "blobId": "b1", "fileName": "a.pdf", "mimeType": "application/pdf"
        }))
        .unwrap();
        assert_eq!(BlobIdSource::default(), BlobIdSource::Id);
        assert_eq!(v2.rendition_blob_id(BlobIdSource::Id), "c1");
        assert_eq!(v2.rendition_blob_id(BlobIdSource::BlobId), "b1");
        let only_id = CssContent {
            id: "c3".into(),
            ..CssContent::default()
        };
        assert_eq!(only_id.rendition_blob_id(BlobIdSource::BlobId), "c3");
        assert_eq!(
            v2.primary_rendition(BlobIdSource::Id, "x").to_value(),
            json!({"name": "a.pdf", "blob_id": "c1", "rendition_type": "primary",
                   "mime_type": "application/pdf"})
        );
        let mut v3 = v2.clone();
        v3.api = CssApi::V3;
        assert_eq!(
            v3.primary_rendition(BlobIdSource::BlobId, "x").to_value(),
            json!({"name": "a.pdf", "blob_id": "c1", "rendition_type": "primary",
                   "mime_type": "application/pdf", "source": "FILE_ID"})
        );
        let parsed: BlobIdSource = serde_json::from_value(json!("blob_id")).unwrap();
        assert_eq!(parsed, BlobIdSource::BlobId);
        let parsed: CssApi = serde_json::from_value(json!("v3")).unwrap();
        assert_eq!(parsed, CssApi::V3);
    }

    #[test]
    fn share_link_fields_are_configurable() {
        let at = Utc.with_ymd_and_hms(2025, 1, 31, 12, 0, 0).unwrap();
        let req = ShareLinkRequest::expiring_at(at)
            .password(SecretString::from("pw"))
            .extra("note", "x");
        let body = req.body(&ShareLinkFields::default());
        assert_eq!(
            Value::Object(body),
            json!({"expiresAt": "2025-01-31T12:00:00Z", "password": "pw", "note": "x"})
        );
        let fields = ShareLinkFields::default()
            .expiry("expiry", ExpiryFormat::EpochMillis)
            .password("pass");
        assert_eq!(
            Value::Object(req.body(&fields)),
            json!({"expiry": 1_738_324_800_000_i64, "pass": "pw", "note": "x"})
        );
        let fields = fields.expiry("exp", ExpiryFormat::EpochSeconds);
        assert_eq!(req.body(&fields)["exp"], 1_738_324_800_i64);
        let debug = format!("{req:?}");
        assert!(!debug.contains("\"pw\""), "{debug}");

        let answer = json!({"urlId": 7, "publicUrl": "https://share/x", "other": true});
        let Value::Object(answer) = answer else {
            unreachable!()
        };
        let link = ShareLink::from_answer(answer, &ShareLinkFields::default());
        assert_eq!(link.url.as_deref(), Some("https://share/x"));
        assert_eq!(link.id.as_deref(), Some("7"));
        assert_eq!(link.raw["other"], true);
    }

    #[test]
    fn download_pairs() {
        let o = DownloadOptions {
            object_id: Some("i1".into()),
            avs_scan: Some(false),
            ..DownloadOptions::default()
        };
        assert_eq!(
            o.pairs(),
            vec![
                ("object-id", "i1".to_owned()),
                ("avs-scan", "false".to_owned())
            ]
        );
    }
}
