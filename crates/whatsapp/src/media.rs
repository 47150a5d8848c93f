//! Media: the per-type table, media sources for outbound messages, and the media endpoints
//! (upload, URL, download, delete).
//!
//! Meta: business-phone-numbers/media (summarised in the project's API notes, whatsapp.md §1.4):
//!
//! | Operation | Request | Answer |
//! |---|---|---|
//! | upload | `POST /{PHONE_NUMBER_ID}/media`, multipart `messaging_product=whatsapp`, `type=<MIME>`, `ttl_minutes`?, `file` | `{"id"}`; lives 30 days unless `ttl_minutes` says less |
//! | URL | `GET /{MEDIA_ID}?phone_number_id=` | `{"url","mime_type","sha256","file_size","id"}`; the URL lives **5 minutes** |
//! | download | `GET <url>` **with** the bearer token | the bytes; on 404 get a new URL |
//! | delete | `DELETE /{MEDIA_ID}?phone_number_id=` | `{"success":true}` |

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use chatport_core::Classify as _;
use futures::StreamExt as _;
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use url::Url;

use crate::client::{Client, Success, error_from_body, transport_error};
use crate::error::Error;
use crate::webhook::Extra;

/// The largest inbound media Meta delivers (bigger files arrive as a 131052 webhook error), used
/// as the default `max_bytes` of a download: 100 MB.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 100_000_000;

/// The kind of a media message, with Meta's supported MIME types and maximum sizes.
///
/// | kind | MIME types | max size |
/// |---|---|---|
/// | audio | audio/aac, audio/amr, audio/mpeg, audio/mp4, audio/ogg (OPUS) | 16 MB |
/// | document | text/plain, application/pdf, Word, Excel, PowerPoint (old and OOXML) | 100 MB |
/// | image | image/jpeg, image/png | 5 MB |
/// | sticker | image/webp | 500 KB (animated; 100 KB static) |
/// | video | video/3gpp, video/mp4 | 16 MB |
///
/// Sizes are decimal (1 MB = 1,000,000 bytes), the conservative reading of Meta's "16 MB".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// `image`.
    Image,
    /// `video`.
    Video,
    /// `audio` (a voice note is audio/ogg OPUS with `voice: true`).
    Audio,
    /// `document`.
    Document,
    /// `sticker` (WebP only).
    Sticker,
}

const MEDIA_TABLE: &[(MediaKind, &[&str], u64)] = &[
    (MediaKind::Image, &["image/jpeg", "image/png"], 5_000_000),
    (MediaKind::Video, &["video/3gpp", "video/mp4"], 16_000_000),
    (
        MediaKind::Audio,
        &[
            "audio/aac",
            "audio/amr",
            "audio/mpeg",
            "audio/mp4",
            "audio/ogg",
        ],
        16_000_000,
    ),
    (
        MediaKind::Document,
        &[
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ],
        100_000_000,
    ),
    (MediaKind::Sticker, &["image/webp"], 500_000),
];

impl MediaKind {
    /// The `type` of the message (`image`, `video`, `audio`, `document`, `sticker`).
    pub fn as_str(&self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    fn row(&self) -> (&'static [&'static str], u64) {
        MEDIA_TABLE
            .iter()
            .find(|(k, _, _)| k == self)
            .map_or((&[][..], 0), |(_, m, s)| (*m, *s))
    }

    /// The MIME types Meta accepts for this kind.
    pub fn mime_types(&self) -> &'static [&'static str] {
        self.row().0
    }

    /// The largest accepted file, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.row().1
    }

    /// Whether a `caption` is allowed (image, video, document).
    pub fn allows_caption(&self) -> bool {
        matches!(
            self,
            MediaKind::Image | MediaKind::Video | MediaKind::Document
        )
    }

    /// The kind a MIME type belongs to (parameters such as `; codecs=opus` and case ignored);
    /// `image/webp` is a sticker. `None` for an unsupported type.
    pub fn for_mime(mime_type: &str) -> Option<MediaKind> {
        let essence = mime_essence(mime_type);
        MEDIA_TABLE
            .iter()
            .find(|(_, mimes, _)| mimes.contains(&essence.as_str()))
            .map(|(k, _, _)| *k)
    }

    /// Checks a file against the table before uploading.
    ///
    /// # Errors
    /// [`Error::UnsupportedMediaType`] for a MIME type of no kind, [`Error::MediaTooLarge`] for a
    /// file over the kind's maximum.
    pub fn check(mime_type: &str, size: u64) -> Result<MediaKind, Error> {
        let kind = MediaKind::for_mime(mime_type).ok_or_else(|| Error::UnsupportedMediaType {
            mime_type: mime_essence(mime_type),
        })?;
        if size > kind.max_bytes() {
            return Err(Error::MediaTooLarge {
                limit: kind.max_bytes(),
                actual: Some(size),
            });
        }
        Ok(kind)
    }
}

fn mime_essence(mime_type: &str) -> String {
    mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// MIME types Meta supports for media (the [`MediaKind`] table) with the usual extension of each.
const EXTENSIONS: &[(&str, &str)] = &[
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/webp", "webp"),
    ("video/mp4", "mp4"),
    ("video/3gpp", "3gp"),
    ("audio/aac", "aac"),
    ("audio/amr", "amr"),
    ("audio/mpeg", "mp3"),
    ("audio/mp4", "m4a"),
    ("audio/ogg", "ogg"),
    ("text/plain", "txt"),
    ("application/pdf", "pdf"),
    ("application/msword", "doc"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    ("application/vnd.ms-excel", "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("application/vnd.ms-powerpoint", "ppt"),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
    ),
];

/// The usual file extension (without the dot) of a media MIME type Meta supports, for naming a
/// file that arrived without a name: `image/jpeg` → `jpg`, `audio/mp4` → `m4a` (audio-only MP4),
/// `audio/ogg` → `ogg` (voice notes), `video/3gpp` → `3gp`. Parameters such as `; codecs=opus`
/// and case are ignored. `None` for a type outside Meta's list (see [`MediaKind`]); callers
/// usually fall back to `bin`.
pub fn file_extension(mime_type: &str) -> Option<&'static str> {
    let essence = mime_essence(mime_type);
    EXTENSIONS
        .iter()
        .find(|(mime, _)| *mime == essence)
        .map(|(_, ext)| *ext)
}

/// Where the media of an outbound message is: an uploaded media id (recommended for throughput,
/// Meta: throughput) or a public `http(s)` link Meta fetches (cached 10 minutes per URL).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaSource {
    /// `{"id": "<MEDIA_ID>"}`.
    Id(String),
    /// `{"link": "https://…"}`.
    Link(String),
}

impl MediaSource {
    /// An uploaded media id.
    pub fn id(id: impl Into<String>) -> Self {
        MediaSource::Id(id.into())
    }

    /// A public link.
    pub fn link(url: impl Into<String>) -> Self {
        MediaSource::Link(url.into())
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            MediaSource::Id(id) => json!({ "id": id }),
            MediaSource::Link(link) => json!({ "link": link }),
        }
    }

    pub(crate) fn validate(&self, field: &'static str) -> Result<(), Error> {
        match self {
            MediaSource::Id(id) => crate::interactive::non_empty(field, id),
            MediaSource::Link(link) => check_http_url(field, link),
        }
    }
}

/// Checks that `value` is an absolute `http(s)` URL with a host.
pub(crate) fn check_http_url(field: &'static str, value: &str) -> Result<(), Error> {
    match Url::parse(value.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(Error::Invalid {
            field,
            reason: "must be an absolute http(s) URL",
        }),
    }
}

/// Whether `url` is `http(s)` and its host is on `hosts` (case-insensitive, exact).
pub(crate) fn host_allowed(hosts: &[String], url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
        && url
            .host_str()
            .is_some_and(|h| hosts.iter().any(|a| a.eq_ignore_ascii_case(h)))
}

/// The answer of `GET /{MEDIA_ID}`: where to download the media (for 5 minutes) and what it is.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// The media id.
    #[serde(
        default,
        deserialize_with = "crate::webhook::model::lenient::string_or_empty"
    )]
    pub id: String,
    /// The download URL (valid 5 minutes, needs the bearer token).
    #[serde(default)]
    pub url: String,
    /// The MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The SHA-256 of the file (hex here; base64 in media-message webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Size in bytes.
    #[serde(
        default,
        deserialize_with = "crate::webhook::model::lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_size: Option<i64>,
    /// Fields not modelled here (`messaging_product`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for MediaInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL is a bearer-protected capability for 5 minutes: not printed.
        f.debug_struct("MediaInfo")
            .field("id", &self.id)
            .field("mime_type", &self.mime_type)
            .field("sha256", &self.sha256)
            .field("file_size", &self.file_size)
            .finish_non_exhaustive()
    }
}

/// The answer of an upload: `{"id": "<MEDIA_ID>"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadedMedia {
    /// The new media id (valid 30 days), for [`MediaSource::Id`].
    #[serde(deserialize_with = "crate::webhook::model::lenient::string_or_empty")]
    pub id: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Options of a media download.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadOptions {
    /// Refuse more than this many bytes ([`DEFAULT_MAX_DOWNLOAD_BYTES`] by default): a
    /// `Content-Length` above it fails before reading, a longer body fails as soon as it passes it.
    pub max_bytes: u64,
    /// The SHA-256 the bytes must have, as **hex** (64 digits, from `GET /{MEDIA_ID}`) or
    /// **base64** (44 characters, from media-message webhooks).
    pub sha256: Option<String>,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
            sha256: None,
        }
    }
}

impl DownloadOptions {
    /// The defaults: 100 MB, no hash check.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`DownloadOptions::max_bytes`].
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets the expected SHA-256 (hex or base64).
    #[must_use]
    pub fn sha256(mut self, digest: impl Into<String>) -> Self {
        self.sha256 = Some(digest.into());
        self
    }
}

/// What a download wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256_hex: String,
    /// The `Content-Type` of the answer.
    pub content_type: Option<String>,
    /// Whether the hash was checked against an expected digest (and matched).
    pub verified: bool,
}

/// Decodes a SHA-256 given as 64 hex digits or as base64 (standard or URL-safe, padded or not).
///
/// # Errors
/// [`Error::Invalid`] when it is neither.
pub fn decode_sha256(digest: &str) -> Result<[u8; 32], Error> {
    let d = digest.trim();
    let bytes = if d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(d).ok()
    } else {
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines.iter().find_map(|e| e.decode(d).ok())
    };
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or(Error::Invalid {
            field: "sha256",
            reason: "must be a SHA-256 digest as 64 hex digits or base64",
        })
}

impl Client {
    /// Uploads media from any async reader, **streamed** as the multipart `file` part (never held
    /// in memory whole): `POST /{phone_number_id}/media` with `messaging_product=whatsapp`,
    /// `type=<mime_type>` and `file` (name `file_name`, `length` bytes).
    ///
    /// Not retried (an upload is not idempotent and the reader is consumed).
    ///
    /// # Errors
    /// Before sending: [`Error::UnsupportedMediaType`] / [`Error::MediaTooLarge`] from
    /// [`MediaKind::check`], [`Error::Invalid`] for a bad phone number id or an empty file name.
    /// Then as [`Client::send`]; the reader failing or giving fewer than `length` bytes shows as
    /// [`Error::Transport`].
    pub async fn upload_media<R>(
        &self,
        phone_number_id: &str,
        reader: R,
        length: u64,
        mime_type: &str,
        file_name: &str,
    ) -> Result<UploadedMedia, Error>
    where
        R: AsyncRead + Send + Sync + 'static,
    {
        self.upload_media_for(phone_number_id, reader, length, mime_type, file_name, None)
            .await
    }

    /// [`Client::upload_media`] with a lifetime for the media id: `ttl_minutes` is sent as the
    /// multipart field `ttl_minutes`, so the uploaded media expires after that many minutes
    /// instead of the default 30 days (pywa `upload_media(ttl_minutes=…)`; the accepted range is
    /// not stated in the pages read: **inferred**, only `0` is refused locally).
    ///
    /// # Errors
    /// As [`Client::upload_media`]; [`Error::Invalid`] for `Some(0)`.
    pub async fn upload_media_for<R>(
        &self,
        phone_number_id: &str,
        reader: R,
        length: u64,
        mime_type: &str,
        file_name: &str,
        ttl_minutes: Option<u32>,
    ) -> Result<UploadedMedia, Error>
    where
        R: AsyncRead + Send + Sync + 'static,
    {
        if ttl_minutes == Some(0) {
            return Err(Error::Invalid {
                field: "ttl_minutes",
                reason: "must be at least 1 minute",
            });
        }
        MediaKind::check(mime_type, length)?;
        crate::interactive::non_empty("file_name", file_name)?;
        let url = self.url(&[phone_number_id, "media"], "phone_number_id")?;
        let mime = mime_essence(mime_type);
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(reader));
        let part = reqwest::multipart::Part::stream_with_length(body, length)
            .file_name(file_name.to_owned())
            .mime_str(&mime)
            .map_err(|_| Error::UnsupportedMediaType {
                mime_type: mime.clone(),
            })?;
        let mut form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.clone());
        if let Some(ttl) = ttl_minutes {
            form = form.text("ttl_minutes", ttl.to_string());
        }
        let form = form.part("file", part);
        tracing::debug!(phone_number_id, mime_type = %mime, length, "uploading media");
        let request = self
            .inner
            .http
            .post(url)
            .bearer_auth(self.inner.token.expose_secret())
            .multipart(form);
        self.execute("media_upload", request).await
    }

    /// Uploads a file (streamed, see [`Client::upload_media`]); its size comes from the file
    /// system, its name from the path.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened; otherwise as [`Client::upload_media`].
    pub async fn upload_media_file(
        &self,
        phone_number_id: &str,
        path: impl AsRef<Path>,
        mime_type: &str,
    ) -> Result<UploadedMedia, Error> {
        let path = path.as_ref();
        let file = tokio::fs::File::open(path).await?;
        let length = file.metadata().await?.len();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .to_owned();
        self.upload_media(phone_number_id, file, length, mime_type, &name)
            .await
    }

    /// Gets a fresh download URL and the metadata of a media id: `GET /{media_id}` (with
    /// `?phone_number_id=` when given: then it succeeds only for media uploaded on that number).
    /// The URL is valid for 5 minutes.
    ///
    /// # Errors
    /// As [`Client::send`] (e.g. an [`Error::Api`] with code 100 for an unknown or expired id).
    pub async fn media_url(
        &self,
        media_id: &str,
        phone_number_id: Option<&str>,
    ) -> Result<MediaInfo, Error> {
        let mut url = self.url(&[media_id], "media_id")?;
        if let Some(p) = phone_number_id {
            url.query_pairs_mut().append_pair("phone_number_id", p);
        }
        let request = self
            .inner
            .http
            .get(url)
            .bearer_auth(self.inner.token.expose_secret());
        self.execute("media_url", request).await
    }

    /// Deletes a media id: `DELETE /{media_id}` (`?phone_number_id=` when given).
    ///
    /// # Errors
    /// As [`Client::media_url`]; [`Error::InvalidResponse`] when the answer is not
    /// `{"success":true}`.
    pub async fn delete_media(
        &self,
        media_id: &str,
        phone_number_id: Option<&str>,
    ) -> Result<(), Error> {
        let mut url = self.url(&[media_id], "media_id")?;
        if let Some(p) = phone_number_id {
            url.query_pairs_mut().append_pair("phone_number_id", p);
        }
        let request = self
            .inner
            .http
            .delete(url)
            .bearer_auth(self.inner.token.expose_secret());
        let answer: Success = self.execute("media_delete", request).await?;
        answer.into_result()
    }

    /// Downloads a media URL (from [`Client::media_url`] or a webhook's `url`) **streaming** into
    /// `writer`, with the bearer token, at most `options.max_bytes`, and — when
    /// `options.sha256` is set — checking the SHA-256 (hex or base64).
    ///
    /// The URL's host must be on the allow-list ([`ClientBuilder::media_hosts`](crate::ClientBuilder::media_hosts)),
    /// checked **before** any request. Bytes are written as they arrive: on
    /// [`Error::MediaTooLarge`] or [`Error::MediaHashMismatch`] the writer already holds some or
    /// all of them; write to a temporary file and keep it only on success.
    ///
    /// # Errors
    /// [`Error::MediaHostNotAllowed`], [`Error::Invalid`] (bad expected digest),
    /// [`Error::MediaTooLarge`], [`Error::MediaHashMismatch`], [`Error::Io`] (writer), the
    /// transport errors, and for a non-2xx answer [`Error::Api`] / [`Error::UnexpectedBody`]
    /// (404: the URL expired, get a new one — [`Client::download_media_by_id`] does that).
    pub async fn download_media<W>(
        &self,
        url: &str,
        writer: &mut W,
        options: &DownloadOptions,
    ) -> Result<Downloaded, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let parsed = Url::parse(url.trim()).map_err(|_| Error::MediaHostNotAllowed {
            host: String::new(),
        })?;
        if !host_allowed(&self.inner.media_hosts, &parsed) {
            return Err(Error::MediaHostNotAllowed {
                host: parsed.host_str().unwrap_or_default().to_owned(),
            });
        }
        let expected = options.sha256.as_deref().map(decode_sha256).transpose()?;
        let attempt = async {
            let response = self
                .inner
                .download_http
                .get(parsed)
                .bearer_auth(self.inner.token.expose_secret())
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status().as_u16();
            if !(200..300).contains(&status) {
                let retry_after = chatport_http::retry_after(response.headers());
                let body = response.bytes().await.unwrap_or_default();
                let body = &body[..body.len().min(64 * 1024)];
                return Err(error_from_body(status, retry_after, body));
            }
            if let Some(length) = response.content_length()
                && length > options.max_bytes
            {
                return Err(Error::MediaTooLarge {
                    limit: options.max_bytes,
                    actual: Some(length),
                });
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut hasher = Sha256::new();
            let mut total: u64 = 0;
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| {
                    if e.is_timeout() {
                        Error::Timeout { sent: true }
                    } else {
                        Error::Transport {
                            source: e,
                            sent: true,
                        }
                    }
                })?;
                total = total.saturating_add(chunk.len() as u64);
                if total > options.max_bytes {
                    return Err(Error::MediaTooLarge {
                        limit: options.max_bytes,
                        actual: None,
                    });
                }
                hasher.update(&chunk);
                writer.write_all(&chunk).await?;
            }
            writer.flush().await?;
            let digest: [u8; 32] = hasher.finalize().into();
            let sha256_hex = hex::encode(digest);
            if let Some(expected) = expected
                && expected != digest
            {
                return Err(Error::MediaHashMismatch {
                    expected: hex::encode(expected),
                    actual: sha256_hex,
                });
            }
            Ok(Downloaded {
                bytes: total,
                sha256_hex,
                content_type,
                verified: expected.is_some(),
            })
        };
        chatport_core::telemetry::observe(crate::client::CONNECTOR, "media_download", attempt).await
    }

    /// Downloads a media id: tries `known_url` first when given (the `url` of a media webhook),
    /// else (or when that answers 404 / 401 / 403, i.e. it expired) fetches a fresh URL with
    /// [`Client::media_url`] and downloads from it. When `options.sha256` is unset, the digest
    /// announced by `GET /{media_id}` is checked.
    ///
    /// # Errors
    /// As [`Client::media_url`] and [`Client::download_media`].
    pub async fn download_media_by_id<W>(
        &self,
        media_id: &str,
        known_url: Option<&str>,
        writer: &mut W,
        options: &DownloadOptions,
    ) -> Result<Downloaded, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        if let Some(url) = known_url {
            match self.download_media(url, writer, options).await {
                Err(e) if url_expired(&e) => {
                    tracing::debug!(media_id, "media URL expired; fetching a fresh one");
                }
                other => return other,
            }
        }
        let info = self.media_url(media_id, None).await?;
        let mut options = options.clone();
        if options.sha256.is_none() {
            options.sha256 = info.sha256.clone().filter(|s| !s.is_empty());
        }
        self.download_media(&info.url, writer, &options).await
    }

    /// Downloads the media of an inbound message (its `url` when present, else a fresh one from
    /// its `id`), checking the webhook's base64 `sha256` and `options.max_bytes`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the webhook media has no id; otherwise as
    /// [`Client::download_media_by_id`].
    pub async fn download_inbound_media<W>(
        &self,
        media: &crate::webhook::Media,
        writer: &mut W,
        options: &DownloadOptions,
    ) -> Result<Downloaded, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let id = media.id.as_deref().unwrap_or_default();
        if id.is_empty() {
            return Err(Error::Invalid {
                field: "media.id",
                reason: "the webhook media has no id",
            });
        }
        let mut options = options.clone();
        if options.sha256.is_none() {
            options.sha256 = media.sha256.clone().filter(|s| !s.is_empty());
        }
        self.download_media_by_id(id, media.url.as_deref(), writer, &options)
            .await
    }
}

/// Whether a download error means the URL expired (404) or its capability lapsed (401/403).
fn url_expired(e: &Error) -> bool {
    let status = match e {
        Error::Api(api) => api.http_status,
        Error::UnexpectedBody { http_status, .. } => *http_status,
        _ => return false,
    };
    matches!(status, 401 | 403 | 404) && e.class() != chatport_core::ErrorClass::Transient
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(MediaKind::for_mime("image/JPEG"), Some(MediaKind::Image));
        assert_eq!(
            MediaKind::for_mime("audio/ogg; codecs=opus"),
            Some(MediaKind::Audio)
        );
        assert_eq!(MediaKind::for_mime("image/webp"), Some(MediaKind::Sticker));
        assert_eq!(MediaKind::for_mime("image/gif"), None);
        assert!(MediaKind::check("application/pdf", 100_000_000).is_ok());
        assert!(matches!(
            MediaKind::check("image/png", 5_000_001),
            Err(Error::MediaTooLarge {
                limit: 5_000_000,
                actual: Some(5_000_001)
            })
        ));
        assert!(matches!(
            MediaKind::check("image/gif", 1),
            Err(Error::UnsupportedMediaType { .. })
        ));
        assert!(MediaKind::Document.allows_caption() && !MediaKind::Sticker.allows_caption());
        assert_eq!(MediaKind::Video.mime_types(), &["video/3gpp", "video/mp4"]);
    }

    #[test]
    fn sha256_hex_and_base64() {
        let digest: [u8; 32] = Sha256::digest(b"hello").into();
        let hex = hex::encode(digest);
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert_eq!(decode_sha256(&hex).unwrap(), digest);
        assert_eq!(decode_sha256(&hex.to_uppercase()).unwrap(), digest);
        assert_eq!(decode_sha256(&b64).unwrap(), digest);
        assert_eq!(decode_sha256(b64.trim_end_matches('=')).unwrap(), digest);
        assert!(decode_sha256("abc").is_err());
        // Meta's base64 example from the image webhook reference decodes to 32 bytes.
        assert!(decode_sha256("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=").is_ok());
    }

    #[test]
    fn hosts() {
        let hosts = vec!["lookaside.fbsbx.com".to_owned()];
        let ok =
            Url::parse("https://LOOKASIDE.fbsbx.com/whatsapp_business/attachments/?mid=1").unwrap();
        assert!(host_allowed(&hosts, &ok));
        for bad in [
            "https://lookaside.fbsbx.com.evil.test/x",
            "https://evil.test/lookaside.fbsbx.com",
            "file:///etc/passwd",
            "https://sub.lookaside.fbsbx.com/x",
        ] {
            assert!(!host_allowed(&hosts, &Url::parse(bad).unwrap()), "{bad}");
        }
    }

    #[test]
    fn every_supported_mime_type_has_one_extension() {
        for (_, mimes, _) in MEDIA_TABLE {
            for mime in *mimes {
                assert!(file_extension(mime).is_some(), "{mime}");
            }
        }
        assert_eq!(file_extension("Audio/OGG; codecs=opus"), Some("ogg"));
        assert_eq!(file_extension("audio/mp4"), Some("m4a"));
        assert_eq!(file_extension("application/zip"), None);
    }
}
