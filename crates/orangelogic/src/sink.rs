//! Sinks ([`chatport_core::Sink`]) into OrangeDAM: [`AssetSink`] uploads a file once per
//! idempotency key, then sets its metadata; [`MetadataSink`] sets fields on an existing asset.

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use chatport_core::sink::KeyLocks;
use chatport_core::{IdempotencyKey, Sink};
use serde::Serialize;
use tokio::io::AsyncRead;

use crate::{AssetRef, Client, DataTableCall, Error, Record, UploadMode, UploadRequest};

/// The lookup field of an asset's original file name (`Documents.All` accepts it as a filter).
pub const ORIGINAL_FILE_NAME_FIELD: &str = "CoreField.OriginalFileName";

/// Where the bytes of an [`AssetDraft`] come from. Opened once per actual upload (never when the
/// asset is found already).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssetContent {
    /// In memory.
    Bytes(Bytes),
    /// A local file, read when uploading (its length is taken from the file system then).
    File(PathBuf),
}

impl AssetContent {
    /// Content held in memory.
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        Self::Bytes(bytes.into())
    }

    /// Content read from a local file at upload time.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File(path.into())
    }

    async fn open(&self) -> Result<(Box<dyn AsyncRead + Send + Unpin>, u64), Error> {
        match self {
            Self::Bytes(b) => Ok((Box::new(std::io::Cursor::new(b.clone())), b.len() as u64)),
            Self::File(path) => {
                let file = tokio::fs::File::open(path).await.map_err(Error::Io)?;
                let len = file.metadata().await.map_err(Error::Io)?.len();
                Ok((Box::new(file), len))
            }
        }
    }
}

/// What an [`AssetSink`] writes: a file into a folder, and the fields to set on it afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssetDraft {
    /// The target folder's record id (`FolderRecordID`).
    pub folder: String,
    /// The file name with its extension (the sink may prefix it, see
    /// [`AssetSinkBuilder::file_name_prefix`]).
    pub file_name: String,
    /// The bytes.
    pub content: AssetContent,
    /// The MIME type (default `application/octet-stream`).
    pub content_type: Option<String>,
    /// The `UploadMode` (default `ProcessFullyInBackground`).
    pub mode: Option<UploadMode>,
    /// DataTable fields set (`:=`) after the upload, e.g. `("CoreField.Title", "Site visit")`.
    pub fields: Vec<(String, String)>,
}

impl AssetDraft {
    /// A file named `file_name` into the folder `folder`.
    pub fn new(
        folder: impl Into<String>,
        file_name: impl Into<String>,
        content: AssetContent,
    ) -> Self {
        Self {
            folder: folder.into(),
            file_name: file_name.into(),
            content,
            content_type: None,
            mode: None,
            fields: Vec::new(),
        }
    }

    /// Sets the MIME type.
    #[must_use]
    pub fn content_type(mut self, mime: impl Into<String>) -> Self {
        self.content_type = Some(mime.into());
        self
    }

    /// Sets the upload mode.
    #[must_use]
    pub fn mode(mut self, mode: UploadMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Adds a field to set after the upload.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }
}

/// The asset an [`AssetSink`] wrote (or found written by an earlier attempt).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct AssetReceipt {
    /// `RecordID`.
    pub record_id: String,
    /// `CoreField.Identifier`, when OrangeDAM gave one.
    pub identifier: Option<String>,
}

impl AssetReceipt {
    /// How to address the asset in later calls.
    pub fn asset(&self) -> AssetRef {
        AssetRef::RecordId(self.record_id.clone())
    }

    fn from_record(record: &Record) -> Option<Self> {
        Some(Self {
            record_id: record.record_id().filter(|r| !r.is_empty())?,
            identifier: record.identifier().filter(|i| !i.is_empty()),
        })
    }
}

/// What [`AssetSink::store`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stored {
    /// The asset.
    pub receipt: AssetReceipt,
    /// The file name it was uploaded (or found) under.
    pub file_name: String,
    /// Bytes uploaded now (0 when it was found).
    pub bytes: u64,
    /// Whether an earlier attempt had uploaded it (nothing was uploaded now).
    pub reused: bool,
}

/// Configures an [`AssetSink`]; from [`AssetSink::builder`].
#[must_use]
#[derive(Debug)]
pub struct AssetSinkBuilder {
    client: Client,
    key_field: Option<String>,
    file_name_marker: bool,
    file_name_prefix: String,
    locks: Option<KeyLocks>,
}

impl AssetSinkBuilder {
    /// Also records the key in this DataTable field (e.g. a custom text field
    /// `CustomField.ChatportKey` that exists on the instance), set together with the draft's
    /// fields right after the upload, and searched first. Default: none.
    pub fn key_field(mut self, field: impl Into<String>) -> Self {
        self.key_field = Some(field.into());
        self
    }

    /// Whether the uploaded file name carries a reference of the key (default `true`):
    /// `{prefix}{first 12 hex of the key}-{file name}`, searched by
    /// [`ORIGINAL_FILE_NAME_FIELD`]. The name travels with the upload itself, so the mark cannot
    /// be missing from an uploaded asset.
    pub fn file_name_marker(mut self, on: bool) -> Self {
        self.file_name_marker = on;
        self
    }

    /// The prefix of marked file names (default `""`), e.g. `"wa-"`.
    pub fn file_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.file_name_prefix = prefix.into();
        self
    }

    /// Shares these per-key locks with other sinks (default: the sink's own).
    pub fn locks(mut self, locks: KeyLocks) -> Self {
        self.locks = Some(locks);
        self
    }

    /// Builds the sink. No network access.
    ///
    /// # Errors
    /// [`Error::Config`] when neither the file-name marker nor a key field is on (the sink
    /// would have no way to find an earlier upload), or the key field is blank.
    pub fn build(self) -> Result<AssetSink, Error> {
        if self
            .key_field
            .as_deref()
            .is_some_and(|f| f.trim().is_empty())
        {
            return Err(Error::Config(
                "asset sink key_field must not be blank".into(),
            ));
        }
        if !self.file_name_marker && self.key_field.is_none() {
            return Err(Error::Config(
                "asset sink needs the file-name marker or a key_field to find earlier uploads"
                    .into(),
            ));
        }
        Ok(AssetSink {
            client: self.client,
            key_field: self.key_field,
            file_name_marker: self.file_name_marker,
            file_name_prefix: self.file_name_prefix,
            locks: self.locks.unwrap_or_default(),
        })
    }
}

/// Uploads an [`AssetDraft`] **once per [`IdempotencyKey`]**, then sets its fields; the receipt
/// is the asset's record id (and identifier).
///
/// # How idempotency holds
///
/// OrangeDAM takes no client-chosen id and no idempotency header on uploads, so the key is
/// recorded **on the asset** and searched before uploading (`Documents.All:Read`):
///
/// - by default in the **file name**: the draft is uploaded as
///   `{prefix}{first 12 hex of the key}-{file name}` and found by [`ORIGINAL_FILE_NAME_FIELD`].
///   The mark travels with the upload request itself, so no uploaded asset lacks it;
/// - optionally in a **key field** ([`AssetSinkBuilder::key_field`]), set with the draft's fields
///   right after the upload and searched first. On its own it leaves a window: an upload whose
///   field update then fails (or a crash in between) is not found by a retry, which uploads a
///   second copy — keep the file-name marker on unless file names must stay untouched.
///
/// When the asset is found, nothing is uploaded; the draft's fields (and the key field) are set
/// again — setting values is idempotent, and it completes an attempt that uploaded but failed
/// before its update. Within one process, writes of one key are serialised with [`KeyLocks`],
/// so a find-then-upload cannot run twice at once.
///
/// # In doubt
///
/// Uploads are sent once (never retried in-client). An upload that timed out or lost its
/// connection after the request left ([`Error::is_ambiguous`]) may have stored the asset; the
/// error is returned (retryable) and the retry searches first, finding it if it was stored. An
/// upload still being processed in the background may not be searchable yet: a retry that soon
/// can upload a second copy (choose `UploadMode::ProcessInLine` if that matters).
///
/// # Where it cannot hold
///
/// The search-then-upload is not atomic in OrangeDAM. Across processes (replicas) the per-process
/// lock does not reach: there the outbox's ordering key must serialise one key's events (one key
/// is delivered by one replica at a time), or two replicas can both find nothing and both upload.
///
/// ```
/// use chatport_core::{EventId, IdempotencyKey, Sink};
/// use chatport_orangelogic::{Client, sink::{AssetContent, AssetDraft, AssetSink}};
/// use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
/// use secrecy::SecretString;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dam = OrangeLogicEmulator::start().await?;
/// let client = Client::builder()
///     .base_url(&dam.base_url())
///     .client_credentials(dam.client_id(), SecretString::from(dam.client_secret().to_owned()))
///     .build()?;
/// let assets = AssetSink::builder(client).file_name_prefix("wa-").build()?;
///
/// let key = IdempotencyKey::derive("L2", "upload", &EventId::new("wamid.X"));
/// let draft = AssetDraft::new(ROOT_FOLDER, "site.jpg", AssetContent::bytes(&b"jpeg bytes"[..]))
///     .content_type("image/jpeg")
///     .field("CoreField.Title", "Site visit");
/// let first = assets.write(&draft, &key).await?;
/// assert_eq!(assets.write(&draft, &key).await?, first); // found: nothing uploaded again
/// assert_eq!(dam.assets().iter().filter(|a| !a.folder).count(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AssetSink {
    client: Client,
    key_field: Option<String>,
    file_name_marker: bool,
    file_name_prefix: String,
    locks: KeyLocks,
}

impl fmt::Debug for AssetSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssetSink")
            .field("key_field", &self.key_field)
            .field("file_name_marker", &self.file_name_marker)
            .field("file_name_prefix", &self.file_name_prefix)
            .finish_non_exhaustive()
    }
}

/// The key's reference in file names: its first 12 characters when it is a derived (hex) key,
/// else the first 12 hex digits of its UUID.
fn key_ref(key: &IdempotencyKey) -> String {
    let raw = key.as_str();
    if raw.len() >= 12 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        raw[..12].to_owned()
    } else {
        key.uuid().simple().to_string()[..12].to_owned()
    }
}

impl AssetSink {
    /// A builder over `client` (file-name marker on, no prefix, no key field).
    pub fn builder(client: Client) -> AssetSinkBuilder {
        AssetSinkBuilder {
            client,
            key_field: None,
            file_name_marker: true,
            file_name_prefix: String::new(),
            locks: None,
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The file name a draft named `file_name` is uploaded under for `key`.
    pub fn file_name(&self, file_name: &str, key: &IdempotencyKey) -> String {
        if self.file_name_marker {
            format!("{}{}-{file_name}", self.file_name_prefix, key_ref(key))
        } else {
            file_name.to_owned()
        }
    }

    async fn find_by(&self, field: &str, value: &str) -> Result<Option<AssetReceipt>, Error> {
        let call = DataTableCall::read("Documents.All").filter(field, value);
        let records = self.client.datatable(&call).await?.records();
        Ok(records.iter().find_map(AssetReceipt::from_record))
    }

    /// The asset an earlier write of `key` (of a draft named `file_name`) uploaded, if any: by
    /// the key field first (when configured), then by the marked file name. Does not lock.
    ///
    /// # Errors
    /// As [`Client::datatable`].
    pub async fn find(
        &self,
        file_name: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<AssetReceipt>, Error> {
        if let Some(field) = &self.key_field
            && let Some(found) = self.find_by(field, key.as_str()).await?
        {
            return Ok(Some(found));
        }
        if self.file_name_marker {
            return self
                .find_by(ORIGINAL_FILE_NAME_FIELD, &self.file_name(file_name, key))
                .await;
        }
        Ok(None)
    }

    /// Like [`Sink::write`], also telling whether the asset was uploaded now or found.
    ///
    /// # Errors
    /// [`Error::Io`] when the content cannot be read; the search, upload and update errors of
    /// the client; [`Error::Decode`] when the upload answer named no asset that can be read back.
    pub async fn store(&self, draft: &AssetDraft, key: &IdempotencyKey) -> Result<Stored, Error> {
        let _guard = self.locks.lock(key.as_str()).await;
        let file_name = self.file_name(&draft.file_name, key);
        let (receipt, bytes, reused) = match self.find(&draft.file_name, key).await? {
            Some(found) => (found, 0, true),
            None => {
                let (reader, len) = draft.content.open().await?;
                let mut request = UploadRequest::new(&draft.folder, &file_name, len);
                if let Some(mime) = &draft.content_type {
                    request = request.content_type(mime);
                }
                if let Some(mode) = &draft.mode {
                    request = request.mode(mode.clone());
                }
                let outcome = self.client.upload(&request, reader).await?;
                let receipt = match (outcome.record_id, outcome.identifier) {
                    (Some(record_id), identifier) => AssetReceipt {
                        record_id,
                        identifier,
                    },
                    (None, Some(identifier)) => self
                        .client
                        .read_asset(&AssetRef::Identifier(identifier))
                        .await?
                        .as_ref()
                        .and_then(AssetReceipt::from_record)
                        .ok_or_else(|| no_asset("the uploaded asset could not be read back"))?,
                    (None, None) => return Err(no_asset("the upload answer named no asset")),
                };
                (receipt, len, false)
            }
        };
        let mut fields: Vec<(&str, &str)> = draft
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(field) = &self.key_field {
            fields.push((field.as_str(), key.as_str()));
        }
        if !fields.is_empty() {
            self.client.set_fields(&receipt.asset(), fields).await?;
        }
        Ok(Stored {
            receipt,
            file_name,
            bytes,
            reused,
        })
    }
}

fn no_asset(reason: &str) -> Error {
    Error::Decode {
        status: 200,
        what: "upload",
        reason: reason.to_owned(),
    }
}

#[async_trait]
impl Sink for AssetSink {
    type Item = AssetDraft;
    type Receipt = AssetReceipt;
    type Error = Error;

    /// Obtains a token; reads no data.
    async fn check(&self) -> Result<(), Error> {
        self.client.authenticate().await
    }

    async fn write(&self, item: &AssetDraft, key: &IdempotencyKey) -> Result<AssetReceipt, Error> {
        self.store(item, key).await.map(|stored| stored.receipt)
    }
}

/// Fields to set on one asset: what a [`MetadataSink`] writes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssetFields {
    /// The asset.
    pub asset: AssetRef,
    /// `(DataTable field, value)` pairs, each set with `:=`.
    pub fields: Vec<(String, String)>,
}

impl AssetFields {
    /// No fields yet, for `asset`.
    pub fn new(asset: AssetRef) -> Self {
        Self {
            asset,
            fields: Vec::new(),
        }
    }

    /// Adds a field.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }
}

/// Sets fields on an existing asset (`Documents.All:Update` with `Field:=value`); the receipt is
/// the asset's record id.
///
/// # How idempotency holds
///
/// Setting a field to a value is idempotent by nature: a repeat of the key writes the same
/// values again and leaves the asset as the first write did, so no lookup is needed and the key
/// is not stored. Concurrent writes of one key write the same values.
///
/// # In doubt
///
/// An update that timed out may or may not have been applied; repeating it is safe, so the error
/// is returned as retryable and the retry simply sets the values again.
///
/// # Where it cannot hold
///
/// Idempotent is not ordered: when two **different** keys set the same field (two events), the
/// later write wins, whichever event is newer. Across replicas, the outbox's ordering key must
/// serialise one asset's events when their order matters. An asset whose id cannot be found
/// gives [`Error::Api`] (`RECORD_NOT_FOUND` in the emulator), which is permanent.
///
/// ```
/// use chatport_core::{EventId, IdempotencyKey, Sink};
/// use chatport_orangelogic::{AssetRef, Client, sink::{AssetFields, MetadataSink}};
/// use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
/// use secrecy::SecretString;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dam = OrangeLogicEmulator::start().await?;
/// let asset = dam.seed_asset("Hero", ROOT_FOLDER, serde_json::Map::new(), None).record_id;
/// let client = Client::builder()
///     .base_url(&dam.base_url())
///     .client_credentials(dam.client_id(), SecretString::from(dam.client_secret().to_owned()))
///     .build()?;
/// let metadata = MetadataSink::new(client);
/// let key = IdempotencyKey::derive("L3", "approve", &EventId::new("wamid.Y"));
/// let fields = AssetFields::new(AssetRef::RecordId(asset.clone())).field("CoreField.Status", "Approved");
/// assert_eq!(metadata.write(&fields, &key).await?, asset);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MetadataSink {
    client: Client,
}

impl fmt::Debug for MetadataSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataSink").finish_non_exhaustive()
    }
}

impl MetadataSink {
    /// A sink over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl Sink for MetadataSink {
    type Item = AssetFields;
    type Receipt = String;
    type Error = Error;

    /// Obtains a token; reads no data.
    async fn check(&self) -> Result<(), Error> {
        self.client.authenticate().await
    }

    /// Sets the fields (one update call; none when there are no fields) and returns the record
    /// id (read back when the asset was named by its identifier).
    async fn write(&self, item: &AssetFields, _key: &IdempotencyKey) -> Result<String, Error> {
        if !item.fields.is_empty() {
            self.client
                .set_fields(
                    &item.asset,
                    item.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )
                .await?;
        }
        match &item.asset {
            AssetRef::RecordId(id) => Ok(id.clone()),
            other => self
                .client
                .read_asset(other)
                .await?
                .and_then(|r| r.record_id())
                .ok_or_else(|| Error::Api {
                    status: 200,
                    code: "RECORD_NOT_FOUND".into(),
                    message: None,
                    body: serde_json::Value::Null,
                }),
        }
    }
}
