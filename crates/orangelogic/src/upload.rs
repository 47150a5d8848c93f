//! Uploads: `UploadNewMedia` (one multipart request, streamed) below the threshold, the
//! multi-step chunked upload above it.
//!
//! Follows `shared/api/opentext-orangelogic.md` §2.7:
//!
//! * `POST /API/UploadMedia/v3.0/UploadNewMedia` with `FolderRecordID`, `FileName`,
//!   `UploadMode`, optional `Metadata`, `format=json`, the file as a multipart part (field name
//!   `InputStream` in public integrations, configurable) → `APIResponse.SystemIdentifier`;
//! * the multi-part upload for files over 1.5 GB: (1) create an upload transaction →
//!   `transactionID`; (2) register the assets → per asset `uploadItemID`, `startposition`,
//!   `identifier`, `dO_recordID`; (3–4) `POST /webapi/mediafile/import/upload/item/26_v1/{uploadItemId}?start=&end=&totalLength=`
//!   with multipart field `data`, `start` a multiple of **131,072**, `end` one less than a
//!   multiple except for the last chunk (`totalLength - 1`); (5) complete the asset upload.
//!
//! # Assumptions (not public)
//!
//! The paths of steps 1, 2 and 5 and their parameter spellings were **not found** in public
//! material. They are [`ChunkedEndpoints`] settings with no default: a chunked upload without them
//! fails with [`Error::NotConfigured`]. The client sends step 1 as a form
//! (`folderRecordID`, `keepFolderStructure=true`, `clientUploader` (default `CortexTools`, the
//! documented defaults of "Create upload transaction"), optional `metadata`), step 2 as a form
//! with `transactionID`, `files` = a **JSON-serialised array** `[{"fileName","fileSize"}]` in one
//! form field (as developer.orangelogic.com/reference/register-upload-assets documents it) and
//! the uploader name (value default `Cortex Uploader`, documented; field name
//! [`REGISTER_UPLOADER_FIELD`], inferred and configurable), step 5 as a form
//! (`transactionID`, `uploadItemID`), and finds `transactionID` / `uploadItemID` / `identifier`
//! in the answers by case-insensitive key wherever they are nested. Check these against your
//! tenant's API reference before relying on the chunked path.
//!
//! Step 5 answers `uploadStatus` (developer.orangelogic.com, "Complete the asset upload", as
//! cited in issue 14; not in the project's API notes): `Success`; `Incomplete`, which is **not** a
//! success ([`Error::Api`] with code `Incomplete`, transient: a retry uploads again in a new
//! transaction); or `AlreadyExists` with `duplicateRecordID`: the DAM already holds the file, and
//! the outcome names the existing asset ([`UploadOutcome::already_existed`]). `assetVersion` is
//! kept when given. A missing `uploadStatus` is read as success, as before.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::ACCEPT;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::ReaderStream;

use crate::Error;
use crate::client::{Call, Client, Repeat, Transport};
use crate::http::{Family, encode_component, find_object_with, get_ci_text};

/// Chunk boundaries must be multiples of this many bytes.
pub const CHUNK_ALIGNMENT: u64 = 131_072;
/// Files of this many bytes or more go through the chunked upload by default (1.5 GB, the
/// vendor's limit for the single-request calls).
pub const DEFAULT_CHUNKED_THRESHOLD: u64 = 1_610_612_736;
/// Default chunk size: 64 × 131,072 bytes = 8 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 64 * CHUNK_ALIGNMENT;
/// Default `UploadNewMedia` path.
pub const UPLOAD_NEW_MEDIA_PATH: &str = "/API/UploadMedia/v3.0/UploadNewMedia";
/// Default chunk path template; `{uploadItemId}` is replaced.
pub const CHUNK_PATH: &str = "/webapi/mediafile/import/upload/item/26_v1/{uploadItemId}";
/// Default form field of the uploader name in "Register upload assets": `uploaderName`.
/// **Inferred**: the vendor's page documents the parameter ("Name of the upload method you're
/// using", default `Cortex Uploader`) but its field name is not in the public material; set the
/// real one with [`UploadConfig::register_uploader_field`].
pub const REGISTER_UPLOADER_FIELD: &str = "uploaderName";
/// Default uploader name sent to "Register upload assets": `Cortex Uploader` (the documented
/// default value).
pub const REGISTER_UPLOADER: &str = "Cortex Uploader";

/// `UploadMode` / `importMode`, slowest to fastest return.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UploadMode {
    /// `ProcessInLine`.
    ProcessInLine,
    /// `ProcessProxiesInBackground`.
    ProcessProxiesInBackground,
    /// `ProcessProxiesAndParentAndIndexInBackground`.
    ProcessProxiesAndParentAndIndexInBackground,
    /// `ProcessFullyInBackground` (what public integrations use).
    ProcessFullyInBackground,
    /// `ProcessFullyInBackgroundLite`.
    ProcessFullyInBackgroundLite,
    /// Another value.
    Other(String),
}

impl UploadMode {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            UploadMode::ProcessInLine => "ProcessInLine",
            UploadMode::ProcessProxiesInBackground => "ProcessProxiesInBackground",
            UploadMode::ProcessProxiesAndParentAndIndexInBackground => {
                "ProcessProxiesAndParentAndIndexInBackground"
            }
            UploadMode::ProcessFullyInBackground => "ProcessFullyInBackground",
            UploadMode::ProcessFullyInBackgroundLite => "ProcessFullyInBackgroundLite",
            UploadMode::Other(s) => s,
        }
    }
}

/// The not-public endpoints of the chunked upload (see the [module docs](self)). Paths are
/// absolute (`/webapi/...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkedEndpoints {
    /// Step 1, "Create upload transaction".
    pub create_transaction: Option<String>,
    /// Step 2, "Register upload assets".
    pub register: Option<String>,
    /// Step 5, "Complete the asset upload".
    pub complete: Option<String>,
}

impl ChunkedEndpoints {
    /// All three paths.
    pub fn new(create_transaction: &str, register: &str, complete: &str) -> Self {
        Self {
            create_transaction: Some(create_transaction.to_owned()),
            register: Some(register.to_owned()),
            complete: Some(complete.to_owned()),
        }
    }
}

/// Upload settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadConfig {
    /// Files of at least this many bytes use the chunked upload (default
    /// [`DEFAULT_CHUNKED_THRESHOLD`]).
    pub chunked_threshold: u64,
    /// Chunk size, a positive multiple of [`CHUNK_ALIGNMENT`] (default [`DEFAULT_CHUNK_SIZE`]).
    pub chunk_size: u64,
    /// `UploadNewMedia` path (default [`UPLOAD_NEW_MEDIA_PATH`]).
    pub upload_new_media_path: String,
    /// Multipart field name of the file in `UploadNewMedia` (default `InputStream`; `UploadStream`
    /// is also seen).
    pub file_field: String,
    /// Chunk path template with `{uploadItemId}` (default [`CHUNK_PATH`]).
    pub chunk_path: String,
    /// The `clientUploader` sent when creating a transaction (default `CortexTools`, the documented
    /// default; documented values
    /// `CortexTools`, `Web`, `Agent`, `DropBox`, `Ftp`, `Getty`).
    pub client_uploader: String,
    /// Steps 1, 2 and 5 of the chunked upload.
    pub chunked: ChunkedEndpoints,
    /// The form field of the uploader name in step 2, "Register upload assets" (default
    /// [`REGISTER_UPLOADER_FIELD`], inferred: the page does not show the field's name).
    pub register_uploader_field: String,
    /// The uploader name sent in step 2 (default [`REGISTER_UPLOADER`], the documented default).
    pub register_uploader: String,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            chunked_threshold: DEFAULT_CHUNKED_THRESHOLD,
            chunk_size: DEFAULT_CHUNK_SIZE,
            upload_new_media_path: UPLOAD_NEW_MEDIA_PATH.to_owned(),
            file_field: "InputStream".to_owned(),
            chunk_path: CHUNK_PATH.to_owned(),
            client_uploader: "CortexTools".to_owned(),
            chunked: ChunkedEndpoints::default(),
            register_uploader_field: REGISTER_UPLOADER_FIELD.to_owned(),
            register_uploader: REGISTER_UPLOADER.to_owned(),
        }
    }
}

impl UploadConfig {
    /// Sets the chunked threshold in bytes.
    pub fn chunked_threshold(mut self, bytes: u64) -> Self {
        self.chunked_threshold = bytes;
        self
    }

    /// Sets the chunk size in bytes (checked by [`crate::ClientBuilder::build`]).
    pub fn chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// Sets the chunked-upload endpoints.
    pub fn chunked_endpoints(mut self, endpoints: ChunkedEndpoints) -> Self {
        self.chunked = endpoints;
        self
    }

    /// Sets the multipart field name of `UploadNewMedia`.
    pub fn file_field(mut self, name: &str) -> Self {
        self.file_field = name.to_owned();
        self
    }

    /// Sets the form field name and the value of the uploader name sent to "Register upload
    /// assets" (defaults [`REGISTER_UPLOADER_FIELD`] and [`REGISTER_UPLOADER`]).
    pub fn register_uploader(mut self, field: &str, name: &str) -> Self {
        self.register_uploader_field = field.to_owned();
        self.register_uploader = name.to_owned();
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.chunk_size == 0 || !self.chunk_size.is_multiple_of(CHUNK_ALIGNMENT) {
            return Err(Error::Config(format!(
                "upload chunk size must be a positive multiple of {CHUNK_ALIGNMENT} bytes"
            )));
        }
        if !self.chunk_path.contains("{uploadItemId}") {
            return Err(Error::Config(
                "upload chunk path must contain `{uploadItemId}`".into(),
            ));
        }
        let paths = [
            Some(&self.upload_new_media_path),
            Some(&self.chunk_path),
            self.chunked.create_transaction.as_ref(),
            self.chunked.register.as_ref(),
            self.chunked.complete.as_ref(),
        ];
        if paths.into_iter().flatten().any(|p| !p.starts_with('/')) {
            return Err(Error::Config("upload paths must start with `/`".into()));
        }
        if self.file_field.trim().is_empty() {
            return Err(Error::Config("upload file field must not be empty".into()));
        }
        if self.register_uploader_field.trim().is_empty() {
            return Err(Error::Config(
                "the register uploader field must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// What to upload where.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadRequest {
    /// The target folder (`FolderRecordID`: a Record ID, or a Unique ID in v3).
    pub folder: String,
    /// File name with extension (`FileName`).
    pub file_name: String,
    /// Exact length of the content in bytes (the chunked upload needs `totalLength` up front).
    pub length: u64,
    /// `UploadMode` (default `ProcessFullyInBackground`).
    pub mode: UploadMode,
    /// `Metadata` parameter, passed through as given (its format is instance-specific); set
    /// metadata afterwards with [`Client::set_fields`] when in doubt, as public integrations do.
    pub metadata: Option<String>,
    /// MIME type of the file part (default `application/octet-stream`).
    pub content_type: Option<String>,
}

impl UploadRequest {
    /// A request for `length` bytes named `file_name` into `folder`.
    pub fn new(folder: &str, file_name: &str, length: u64) -> Self {
        Self {
            folder: folder.to_owned(),
            file_name: file_name.to_owned(),
            length,
            mode: UploadMode::ProcessFullyInBackground,
            metadata: None,
            content_type: None,
        }
    }

    /// Sets the upload mode.
    pub fn mode(mut self, mode: UploadMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the `Metadata` parameter.
    pub fn metadata(mut self, metadata: &str) -> Self {
        self.metadata = Some(metadata.to_owned());
        self
    }

    /// Sets the MIME type of the file part.
    pub fn content_type(mut self, mime: &str) -> Self {
        self.content_type = Some(mime.to_owned());
        self
    }
}

/// Which path an upload took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadPath {
    /// One `UploadNewMedia` request.
    Single,
    /// The chunked upload, with this many chunks.
    Chunked {
        /// Chunks sent.
        chunks: u64,
    },
}

/// The result of an upload.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct UploadOutcome {
    /// The new asset's identifier (`SystemIdentifier` / `identifier`), when the answer gave one.
    pub identifier: Option<String>,
    /// The new asset's record id (`dO_recordID` / `RecordID`), when the answer gave one.
    pub record_id: Option<String>,
    /// Which path was used.
    pub path: UploadPath,
    /// `true` when the chunked upload's "Complete" answered `uploadStatus: AlreadyExists`: the
    /// DAM already holds this file, and [`record_id`](Self::record_id) is the existing asset's
    /// (`duplicateRecordID`). No second asset was made, so a retried upload is idempotent.
    pub already_existed: bool,
    /// The `assetVersion` the chunked upload's "Complete" answered, when it gave one.
    pub asset_version: Option<String>,
    /// The last answer's body.
    pub raw: Value,
}

impl fmt::Debug for UploadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadOutcome")
            .field("identifier", &self.identifier)
            .field("record_id", &self.record_id)
            .field("path", &self.path)
            .field("already_existed", &self.already_existed)
            .field("asset_version", &self.asset_version)
            .finish_non_exhaustive()
    }
}

fn check_request(r: &UploadRequest) -> Result<(), Error> {
    if r.folder.trim().is_empty() || r.file_name.trim().is_empty() {
        return Err(Error::InvalidInput(
            "upload folder and file name must not be empty".into(),
        ));
    }
    Ok(())
}

/// The chunk ranges `(start, end inclusive)` of a `total`-byte file in `chunk_size` chunks,
/// starting at `from` (a multiple of [`CHUNK_ALIGNMENT`]).
pub fn chunk_ranges(total: u64, chunk_size: u64, from: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if chunk_size == 0 {
        return out;
    }
    let mut start = from;
    while start < total {
        let end = (start + chunk_size).min(total) - 1;
        out.push((start, end));
        start = end + 1;
    }
    out
}

impl Client {
    /// Uploads `reader` (exactly `request.length` bytes): `UploadNewMedia` below the configured
    /// threshold, the chunked upload at or above it. Uploads are not retried in-client; after an
    /// ambiguous failure ([`Error::is_ambiguous`]) search for the asset before uploading again.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty folder or name, or a reader that ends early;
    /// [`Error::Io`] when reading fails; [`Error::NotConfigured`] for a chunked upload without
    /// [`ChunkedEndpoints`]; [`Error::Api`] / HTTP / transport errors of the calls.
    pub async fn upload<R>(
        &self,
        request: &UploadRequest,
        reader: R,
    ) -> Result<UploadOutcome, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        check_request(request)?;
        if request.length >= self.inner.upload.chunked_threshold {
            self.upload_chunked(request, reader).await
        } else {
            self.upload_new_media(request, reader).await
        }
    }

    /// `UploadNewMedia` in one multipart request, the file part streamed from `reader` (its
    /// length declared as `request.length`).
    ///
    /// # Errors
    ///
    /// As [`Client::upload`].
    pub async fn upload_new_media<R>(
        &self,
        request: &UploadRequest,
        reader: R,
    ) -> Result<UploadOutcome, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        check_request(request)?;
        let config = &self.inner.upload;
        let mut url = self.url(&config.upload_new_media_path)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("FolderRecordID", &request.folder)
                .append_pair("FileName", &request.file_name)
                .append_pair("UploadMode", request.mode.as_str())
                .append_pair("format", "json");
            if let Some(m) = &request.metadata {
                q.append_pair("Metadata", m);
            }
        }
        // A reader that ends before `length` bytes fails the request instead of sending a short
        // body under a longer declared length.
        let length = request.length;
        let seen = Arc::new(AtomicU64::new(0));
        let counter = seen.clone();
        let stream = ReaderStream::new(reader.take(length))
            .inspect_ok(move |chunk| {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            })
            .chain(stream::once(async move {
                let got = seen.load(Ordering::Relaxed);
                if got < length {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("upload source ended after {got} of {length} bytes"),
                    ))
                } else {
                    Ok(Bytes::new())
                }
            }));
        let body = reqwest::Body::wrap_stream(stream);
        let part = Part::stream_with_length(body, request.length)
            .file_name(request.file_name.clone())
            .mime_str(
                request
                    .content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
            )
            .map_err(|_| Error::InvalidInput("invalid content type".into()))?;
        let form = Form::new().part(config.file_field.clone(), part);
        let token = self.token().await?;
        let http = self
            .inner
            .http
            .post(url)
            .header(ACCEPT, "application/json")
            .timeout(self.inner.transfer_timeout(request.length))
            .multipart(form);
        let raw = self
            .send_once(Family::Legacy, "upload", http, token)
            .await?;
        let response = raw.get("APIResponse").cloned().unwrap_or(Value::Null);
        let obj = response.as_object();
        Ok(UploadOutcome {
            identifier: obj.and_then(|o| get_ci_text(o, &["SystemIdentifier", "Identifier"])),
            record_id: obj.and_then(|o| get_ci_text(o, &["RecordID"])),
            path: UploadPath::Single,
            already_existed: false,
            asset_version: None,
            raw,
        })
    }

    /// The multi-step chunked upload (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// As [`Client::upload`].
    pub async fn upload_chunked<R>(
        &self,
        request: &UploadRequest,
        mut reader: R,
    ) -> Result<UploadOutcome, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        check_request(request)?;
        let config = self.inner.upload.clone();
        let create = config
            .chunked
            .create_transaction
            .as_deref()
            .ok_or(Error::NotConfigured(
                "upload.chunked.create_transaction path",
            ))?;
        let register = config
            .chunked
            .register
            .as_deref()
            .ok_or(Error::NotConfigured("upload.chunked.register path"))?;
        let complete = config
            .chunked
            .complete
            .as_deref()
            .ok_or(Error::NotConfigured("upload.chunked.complete path"))?;

        // 1. Transaction.
        let mut params = vec![
            ("folderRecordID".to_owned(), request.folder.clone()),
            ("keepFolderStructure".to_owned(), "true".to_owned()),
            ("clientUploader".to_owned(), config.client_uploader.clone()),
        ];
        if let Some(m) = &request.metadata {
            params.push(("metadata".into(), m.clone()));
        }
        let tx = self
            .call(Call {
                path: create,
                params,
                family: Family::WebApi,
                repeat: Repeat::Once,
                transport: Transport::PostForm,
                what: "upload transaction",
            })
            .await?;
        let transaction_id = find_object_with(&tx, &["transactionID"])
            .and_then(|o| get_ci_text(o, &["transactionID"]))
            .ok_or_else(|| Error::Decode {
                status: 200,
                what: "upload transaction",
                reason: "no transactionID".into(),
            })?;

        // 2. Register: a form with `files` as a JSON-serialised array (the documented shape)
        // and the uploader name.
        let files = serde_json::to_string(&json!([
            { "fileName": request.file_name, "fileSize": request.length }
        ]))
        .map_err(|e| Error::InvalidInput(format!("could not serialise the file list: {e}")))?;
        let registered = self
            .call(Call {
                path: register,
                params: vec![
                    ("transactionID".into(), transaction_id.clone()),
                    ("files".into(), files),
                    (
                        config.register_uploader_field.clone(),
                        config.register_uploader.clone(),
                    ),
                ],
                family: Family::WebApi,
                repeat: Repeat::Once,
                transport: Transport::PostForm,
                what: "upload register",
            })
            .await?;
        let item =
            find_object_with(&registered, &["uploadItemID"]).ok_or_else(|| Error::Decode {
                status: 200,
                what: "upload register",
                reason: "no uploadItemID".into(),
            })?;
        let upload_item_id = get_ci_text(item, &["uploadItemID"]).unwrap_or_default();
        let mut identifier = get_ci_text(item, &["identifier"]);
        let mut record_id = get_ci_text(item, &["dO_recordID", "recordID"]);
        let start_at = get_ci_text(item, &["startposition", "startPosition"])
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        if !start_at.is_multiple_of(CHUNK_ALIGNMENT) || start_at > request.length {
            return Err(Error::Decode {
                status: 200,
                what: "upload register",
                reason: "startposition is not a 131072-aligned offset within the file".into(),
            });
        }
        if start_at > 0 {
            // Resume: skip what the server already has.
            let skipped =
                tokio::io::copy(&mut (&mut reader).take(start_at), &mut tokio::io::sink())
                    .await
                    .map_err(Error::Io)?;
            if skipped < start_at {
                return Err(Error::InvalidInput(format!(
                    "upload source ended after {skipped} of {} bytes",
                    request.length
                )));
            }
        }

        // 3–4. Chunks, in order.
        let chunk_path = config
            .chunk_path
            .replace("{uploadItemId}", &encode_component(&upload_item_id));
        let chunk_url = self.url(&chunk_path)?;
        let ranges = chunk_ranges(request.length, config.chunk_size, start_at);
        let mut buffer = BytesMut::new();
        for (start, end) in &ranges {
            let want = usize::try_from(end - start + 1)
                .map_err(|_| Error::InvalidInput("chunk too large for this platform".into()))?;
            buffer.clear();
            buffer.reserve(want);
            while buffer.len() < want {
                let n = (&mut reader)
                    .take((want - buffer.len()) as u64)
                    .read_buf(&mut buffer)
                    .await
                    .map_err(Error::Io)?;
                if n == 0 {
                    return Err(Error::InvalidInput(format!(
                        "upload source ended after {} of {} bytes",
                        start + buffer.len() as u64,
                        request.length
                    )));
                }
            }
            let chunk: Bytes = buffer.split().freeze();
            let (start, end, total) = (*start, *end, request.length);
            let file_name = request.file_name.clone();
            let chunk_deadline = self.inner.transfer_timeout(chunk.len() as u64);
            self.send(
                Family::WebApi,
                "upload chunk",
                Repeat::Safe,
                |http, token| {
                    let mut u = chunk_url.clone();
                    u.query_pairs_mut()
                        .append_pair("start", &start.to_string())
                        .append_pair("end", &end.to_string())
                        .append_pair("totalLength", &total.to_string());
                    let part = Part::stream_with_length(chunk.clone(), chunk.len() as u64)
                        .file_name(file_name.clone());
                    Ok(Client::authorize(
                        http.post(u)
                            .timeout(chunk_deadline)
                            .multipart(Form::new().part("data", part)),
                        token,
                    ))
                },
            )
            .await?;
        }

        // 5. Complete.
        let done = self
            .call(Call {
                path: complete,
                params: vec![
                    ("transactionID".into(), transaction_id),
                    ("uploadItemID".into(), upload_item_id),
                ],
                family: Family::WebApi,
                repeat: Repeat::Once,
                transport: Transport::PostForm,
                what: "upload complete",
            })
            .await?;
        let status = find_object_with(&done, &["uploadStatus"])
            .and_then(|o| get_ci_text(o, &["uploadStatus"]));
        let asset_version = find_object_with(&done, &["assetVersion"])
            .and_then(|o| get_ci_text(o, &["assetVersion"]));
        let mut already_existed = false;
        match status.as_deref() {
            Some(s) if s.eq_ignore_ascii_case("Incomplete") => {
                return Err(Error::Api {
                    status: 200,
                    code: "Incomplete".into(),
                    message: Some(
                        "the chunked upload is incomplete: not every chunk reached the server"
                            .into(),
                    ),
                    body: done,
                });
            }
            Some(s) if s.eq_ignore_ascii_case("AlreadyExists") => {
                already_existed = true;
                if let Some(o) = find_object_with(&done, &["duplicateRecordID"]) {
                    record_id = get_ci_text(o, &["duplicateRecordID"]).or(record_id);
                }
            }
            _ => {}
        }
        if let Some(o) = find_object_with(&done, &["identifier"]) {
            identifier = get_ci_text(o, &["identifier"]).or(identifier);
        }
        if !already_existed && let Some(o) = find_object_with(&done, &["dO_recordID", "recordID"]) {
            record_id = get_ci_text(o, &["dO_recordID", "recordID"]).or(record_id);
        }
        Ok(UploadOutcome {
            identifier,
            record_id,
            path: UploadPath::Chunked {
                chunks: ranges.len() as u64,
            },
            already_existed,
            asset_version,
            raw: done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_aligned() {
        let a = CHUNK_ALIGNMENT;
        assert_eq!(chunk_ranges(0, a, 0), vec![]);
        assert_eq!(chunk_ranges(10, a, 0), vec![(0, 9)]);
        assert_eq!(chunk_ranges(a, a, 0), vec![(0, a - 1)]);
        assert_eq!(
            chunk_ranges(2 * a + 5, a, 0),
            vec![(0, a - 1), (a, 2 * a - 1), (2 * a, 2 * a + 4)]
        );
        assert_eq!(chunk_ranges(3 * a, 2 * a, a), vec![(a, 3 * a - 1)]);
        for (start, end) in chunk_ranges(10 * a + 17, 3 * a, 0) {
            assert_eq!(start % a, 0);
            assert!((end + 1) % a == 0 || end == 10 * a + 16);
        }
    }

    #[test]
    fn config_validation() {
        assert!(UploadConfig::default().validate().is_ok());
        assert!(UploadConfig::default().chunk_size(1000).validate().is_err());
        assert!(UploadConfig::default().chunk_size(0).validate().is_err());
        assert!(
            UploadConfig::default()
                .chunked_endpoints(ChunkedEndpoints::new("x", "/b", "/c"))
                .validate()
                .is_err()
        );
        assert_eq!(
            UploadMode::ProcessFullyInBackground.as_str(),
            "ProcessFullyInBackground"
        );
    }
}
