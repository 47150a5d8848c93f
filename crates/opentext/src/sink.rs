//! [`chatport_core::Sink`] implementations over the CMS and CSS: [`InstanceSink`] (find-or-create
//! an instance by a key property) and [`DocumentSink`] (CSS upload + file instance with a primary
//! rendition, once per key).
//!
//! # How idempotency holds
//!
//! The CMS has no idempotency key and no uniqueness rule on properties
//! (`shared/api/opentext-orangelogic.md` §1.4–1.5). Both sinks store the caller's
//! [`IdempotencyKey`] in a configured **key property** of the instance they create, and look it up
//! (`GET /cms/instances/{category}/{type}?filter={property} eq '{key}'`, see
//! [`Client::find_by_property`]) before every create. A retried or replayed write therefore finds
//! the instance the first write made and returns its receipt instead of creating another.
//!
//! A find-then-create is **not atomic on the server**: two writers that look up one key at the
//! same moment both find nothing and both create. Each sink holds a per-key lock
//! ([`KeyLocks`]) around its find and create, so concurrent writes of one key **in one process**
//! create one instance. The lock does not reach across processes: with several replicas, the
//! outbox's ordering key must serialise one key's events (the runtime delivers the events of one
//! ordering key one at a time, by one replica) — nothing on the CMS side prevents a duplicate when
//! two replicas write one key at once.
//!
//! # In doubt
//!
//! A create that times out, or whose connection drops after the request left
//! ([`Error::is_ambiguous`]), may or may not have made the instance. The sink returns the error
//! (classified transient, so the outbox retries); the retry's lookup finds the instance when the
//! first create took effect and creates it otherwise. The same holds for a 5xx answer, which on a
//! real service may come after the write was applied: the sink never repeats a create itself, the
//! next write looks first. A 429 is answered before anything is applied, so the client repeats it
//! in-client; every other refusal reaches the caller.
//!
//! The key property must exist on the type (an unknown property is a 400 from the service) and
//! should be indexed for filtering on a real tenant.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chatport_core::sink::KeyLocks;
use chatport_core::{IdempotencyKey, KvStore, Sink};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Category, Client, CssApi, Error, FILE_ID_SOURCE, Instance, InstanceDraft, RenditionDraft,
    UploadOptions,
};

/// The key property used when none is configured: `chatport_key`.
pub const DEFAULT_KEY_PROPERTY: &str = "chatport_key";

/// The [`KvStore`] namespace where a [`DocumentSink`] with [`DocumentSinkBuilder::blobs`] keeps
/// the CSS blob id it uploaded for a key until the file instance is created: idempotency key →
/// blob id (UTF-8).
pub const BLOB_NAMESPACE: &str = "opentext.document.blob";

/// What a sink returned for one key: the instance id, and whether this call created the instance
/// or found the one an earlier write made.
///
/// **Equality compares [`id`](Self::id) only** (and, for documents, nothing else either): two
/// receipts are equal when they name the same instance, so the first write (`created: true`) and a
/// repeat (`created: false`) give equal receipts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceReceipt {
    /// The CMS instance id.
    pub id: String,
    /// `true` when this call created the instance, `false` when it found it by its key.
    pub created: bool,
}

impl PartialEq for InstanceReceipt {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for InstanceReceipt {}

impl InstanceReceipt {
    fn of(instance: &Instance, created: bool) -> Self {
        Self {
            id: instance.id.clone(),
            created,
        }
    }
}

/// Where a sink's instances live and how their key is stored: category, type and key property.
#[derive(Clone, Debug)]
struct Target {
    category: Category,
    type_name: String,
    key_property: String,
}

impl Target {
    fn validate(&self) -> Result<(), Error> {
        if self.type_name.trim().is_empty() {
            return Err(Error::Config("the sink's type_name is required".into()));
        }
        if self.key_property.trim().is_empty() {
            return Err(Error::Config("the sink's key_property is empty".into()));
        }
        Ok(())
    }

    async fn find(&self, client: &Client, key: &IdempotencyKey) -> Result<Option<Instance>, Error> {
        client
            .find_by_property(
                self.category.clone(),
                &self.type_name,
                &self.key_property,
                key.as_str(),
            )
            .await
    }

    async fn create(
        &self,
        client: &Client,
        key: &IdempotencyKey,
        mut draft: InstanceDraft,
    ) -> Result<Instance, Error> {
        draft
            .properties
            .insert(self.key_property.clone(), Value::from(key.as_str()));
        client
            .create_instance(self.category.clone(), &self.type_name, &draft)
            .await
    }
}

/// Find-or-create of one CMS instance per [`IdempotencyKey`], in a configured category and type,
/// by a configured key property (module docs: [how idempotency holds](self#how-idempotency-holds),
/// [what "in doubt" means](self#in-doubt)).
///
/// `write(&draft, &key)`: `GET /cms/instances/{category}/{type}?filter={key_property} eq '{key}'`;
/// when an instance is found, its id is the receipt (`created: false`); otherwise
/// `POST /cms/instances/{category}/{type}` with `draft` and `properties[key_property] = key`
/// (`created: true`). Concurrent writes of one key in one process wait for each other (a
/// per-key lock), so they create one instance.
///
/// ```
/// use chatport_core::{EventId, IdempotencyKey, Sink};
/// use chatport_opentext::{Category, Client, InstanceDraft, InstanceSink};
/// use chatport_testkit::cms::CmsEmulator;
/// use secrecy::SecretString;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cms = CmsEmulator::start().await?;
/// let client = Client::builder()
///     .tenant_id(cms.tenant_id())
///     .auth_base(&cms.auth_base())
///     .cms_base(&cms.cms_base())
///     .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
///     .no_rate_limit()
///     .build()?;
/// let cases = InstanceSink::builder(client)
///     .category(Category::Object)
///     .type_name("ca_case")
///     .key_property("ext_ref")
///     .build()?;
///
/// let key = IdempotencyKey::derive("O1", "case", &EventId::new("wamid.1"));
/// let draft = InstanceDraft::new("Damaged parcel").property("priority", "high");
/// let first = cases.write(&draft, &key).await?;
/// let again = cases.write(&draft, &key).await?; // a retry: found, not created
/// assert!(first.created && !again.created);
/// assert_eq!(first.id, again.id);
/// assert_eq!(cms.instances_of_type("ca_case").len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct InstanceSink {
    client: Client,
    target: Target,
    locks: KeyLocks,
}

/// Configures an [`InstanceSink`]: [`InstanceSink::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct InstanceSinkBuilder {
    client: Client,
    target: Target,
    locks: Option<KeyLocks>,
}

impl InstanceSink {
    /// A builder over `client`: category [`Category::Object`], key property
    /// [`DEFAULT_KEY_PROPERTY`], no type yet (required).
    pub fn builder(client: Client) -> InstanceSinkBuilder {
        InstanceSinkBuilder {
            client,
            target: Target {
                category: Category::Object,
                type_name: String::new(),
                key_property: DEFAULT_KEY_PROPERTY.to_owned(),
            },
            locks: None,
        }
    }

    /// The category instances are created in.
    pub fn category(&self) -> &Category {
        &self.target.category
    }

    /// The type instances are created as.
    pub fn type_name(&self) -> &str {
        &self.target.type_name
    }

    /// The property that stores the idempotency key.
    pub fn key_property(&self) -> &str {
        &self.target.key_property
    }

    /// The instance an earlier write with `key` created, if any (one lookup, no lock).
    ///
    /// # Errors
    /// As [`Client::find_by_property`].
    pub async fn find(&self, key: &IdempotencyKey) -> Result<Option<Instance>, Error> {
        self.target.find(&self.client, key).await
    }
}

impl InstanceSinkBuilder {
    /// The category of the instances (path segment `file`, `folder`, `object`, `case`). Default
    /// [`Category::Object`].
    pub fn category(mut self, category: impl Into<Category>) -> Self {
        self.target.category = category.into();
        self
    }

    /// The type name of the instances, e.g. `ca_support_case` (required).
    pub fn type_name(mut self, type_name: impl Into<String>) -> Self {
        self.target.type_name = type_name.into();
        self
    }

    /// The property that stores the idempotency key (a text attribute of the type). Default
    /// [`DEFAULT_KEY_PROPERTY`]. A trait attribute is written `traits.{trait}.{attr}` for the
    /// lookup; the create sets `properties[{key_property}]`, so use a type attribute.
    pub fn key_property(mut self, property: impl Into<String>) -> Self {
        self.target.key_property = property.into();
        self
    }

    /// Shares per-key locks with other sinks (by default each sink has its own). Share them when
    /// two sinks write the same type with the same keys.
    pub fn locks(mut self, locks: KeyLocks) -> Self {
        self.locks = Some(locks);
        self
    }

    /// The sink.
    ///
    /// # Errors
    /// [`Error::Config`] when the type name or the key property is empty.
    pub fn build(self) -> Result<InstanceSink, Error> {
        self.target.validate()?;
        Ok(InstanceSink {
            client: self.client,
            target: self.target,
            locks: self.locks.unwrap_or_default(),
        })
    }
}

#[async_trait]
impl Sink for InstanceSink {
    type Item = InstanceDraft;
    type Receipt = InstanceReceipt;
    type Error = Error;

    /// Fetches an access token (the credentials and the tenant are right).
    async fn check(&self) -> Result<(), Error> {
        self.client.authenticate().await
    }

    /// Finds the instance whose key property holds `key`, or creates it from `item` with the key
    /// added.
    ///
    /// # Errors
    /// As [`Client::find_by_property`] and [`Client::create_instance`]; an ambiguous create
    /// ([`Error::is_ambiguous`]) is returned as is — the next write finds the instance if it was
    /// made.
    async fn write(
        &self,
        item: &InstanceDraft,
        key: &IdempotencyKey,
    ) -> Result<InstanceReceipt, Error> {
        let _guard = self.locks.lock(key.as_str()).await;
        if let Some(found) = self.target.find(&self.client, key).await? {
            return Ok(InstanceReceipt::of(&found, false));
        }
        let created = self.target.create(&self.client, key, item.clone()).await?;
        Ok(InstanceReceipt::of(&created, true))
    }
}

/// Where a [`Document`]'s bytes come from. The sink may read them more than once (a write whose
/// create failed uploads again on its retry), so the source is re-openable.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DocumentContent {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A local file, opened and streamed (never held whole in memory) on each upload.
    Path(PathBuf),
}

/// One document for a [`DocumentSink`]: the file instance's draft and its content.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Document {
    /// The file instance (name, properties, folder …). The sink adds the key property and the
    /// `renditions` entry.
    pub draft: InstanceDraft,
    /// The content.
    pub content: DocumentContent,
    /// The file name of the upload and the rendition.
    pub file_name: String,
    /// The MIME type of the upload and the rendition, when known.
    pub mime_type: Option<String>,
}

impl Document {
    /// A document named `file_name` with `content`, filed as `draft`.
    pub fn new(
        draft: InstanceDraft,
        file_name: impl Into<String>,
        content: DocumentContent,
    ) -> Self {
        Self {
            draft,
            content,
            file_name: file_name.into(),
            mime_type: None,
        }
    }

    /// A document from bytes in memory.
    pub fn from_bytes(
        draft: InstanceDraft,
        file_name: impl Into<String>,
        bytes: impl Into<Bytes>,
    ) -> Self {
        Self::new(draft, file_name, DocumentContent::Bytes(bytes.into()))
    }

    /// A document streamed from a local file.
    pub fn from_path(
        draft: InstanceDraft,
        file_name: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Self {
        Self::new(draft, file_name, DocumentContent::Path(path.into()))
    }

    /// Sets the MIME type, e.g. `application/pdf`.
    pub fn mime_type(mut self, mime: impl Into<String>) -> Self {
        self.mime_type = Some(mime.into());
        self
    }
}

/// What a [`DocumentSink`] returned: the file instance, and the CSS blob this call uploaded.
///
/// **Equality compares [`id`](Self::id) only**, as for [`InstanceReceipt`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DocumentReceipt {
    /// The CMS file instance id.
    pub id: String,
    /// `true` when this call uploaded the content and created the instance, `false` when it
    /// found the instance by its key (nothing uploaded).
    pub created: bool,
    /// The CSS blob id of the primary rendition, when this call created the instance: uploaded by
    /// this call, or by an earlier attempt whose create failed (remembered with
    /// [`DocumentSinkBuilder::blobs`]).
    pub blob_id: Option<String>,
}

impl PartialEq for DocumentReceipt {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for DocumentReceipt {}

/// A document stored once per [`IdempotencyKey`]: the content is uploaded to the CSS and a file
/// instance with that blob as its primary rendition is created in the CMS, with the key in its key
/// property (module docs: [how idempotency holds](self#how-idempotency-holds), [what "in doubt"
/// means](self#in-doubt)).
///
/// `write(&document, &key)`: look the key up among the file instances of the type; when found,
/// nothing is uploaded and its id is the receipt. Otherwise `POST {css}/v2/tenant/{tenant}/content`
/// (streamed, [`Client::upload_content`]; or `POST {css}/v3/files/fromStream` with
/// [`DocumentSinkBuilder::upload_api`]`(`[`CssApi::V3`]`)`), then
/// `POST /cms/instances/{category}/{type}` with the draft, the key property and
/// `renditions: [{name, blob_id, rendition_type: primary, mime_type, source?}]`: `blob_id` is the
/// answer's id chosen by the client's [`BlobIdSource`](crate::BlobIdSource)
/// ([`ClientBuilder::blob_id_source`](crate::ClientBuilder::blob_id_source)), and a v3 file id
/// carries `"source": "FILE_ID"`. A per-key lock makes concurrent writes of one key in one process upload and
/// create once.
///
/// **Where an upload can repeat:** the key lives on the file instance, so without more state,
/// content uploaded by a write whose create then failed (refused, or in doubt and not made) would
/// be uploaded again by the retry, leaving the first blob in the CSS referenced by nothing. Give
/// the sink a [`KvStore`] ([`DocumentSinkBuilder::blobs`]) and it remembers the blob id under the
/// key ([`BLOB_NAMESPACE`]) between the upload and the create: the retry creates the instance with
/// the blob already uploaded, and the entry is deleted once the instance exists. A store that
/// fails to answer only costs that saving (the sink uploads again, as without a store). The CMS
/// record is created once either way.
///
/// Needs a client with a `css_base`.
#[derive(Clone, Debug)]
pub struct DocumentSink {
    client: Client,
    target: Target,
    locks: KeyLocks,
    blobs: Option<Blobs>,
    api: CssApi,
}

/// The uploaded-but-not-yet-referenced blobs of a [`DocumentSink`], in a [`KvStore`].
#[derive(Clone)]
struct Blobs(Arc<dyn KvStore>);

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Blobs(KvStore)")
    }
}

impl Blobs {
    /// The blob an earlier attempt uploaded for `key`; a store error counts as none (logged).
    async fn get(&self, key: &IdempotencyKey) -> Option<String> {
        match self.0.get(BLOB_NAMESPACE, key.as_str()).await {
            Ok(found) => found.and_then(|bytes| String::from_utf8(bytes).ok()),
            Err(e) => {
                tracing::warn!(error = %e, "document sink: blob memo not readable; uploading");
                None
            }
        }
    }

    async fn put(&self, key: &IdempotencyKey, blob_id: &str) {
        if let Err(e) = self
            .0
            .put(BLOB_NAMESPACE, key.as_str(), blob_id.as_bytes())
            .await
        {
            tracing::warn!(error = %e, "document sink: blob memo not written; a retry uploads again");
        }
    }

    async fn forget(&self, key: &IdempotencyKey) {
        if let Err(e) = self.0.delete(BLOB_NAMESPACE, key.as_str()).await {
            tracing::warn!(error = %e, "document sink: blob memo entry not deleted");
        }
    }
}

/// Configures a [`DocumentSink`]: [`DocumentSink::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct DocumentSinkBuilder {
    inner: InstanceSinkBuilder,
    blobs: Option<Blobs>,
    api: CssApi,
}

impl DocumentSink {
    /// A builder over `client`: category [`Category::File`], key property
    /// [`DEFAULT_KEY_PROPERTY`], no type yet (required).
    pub fn builder(client: Client) -> DocumentSinkBuilder {
        DocumentSinkBuilder {
            inner: InstanceSink::builder(client).category(Category::File),
            blobs: None,
            api: CssApi::V2,
        }
    }

    /// The type the file instances are created as.
    pub fn type_name(&self) -> &str {
        &self.target.type_name
    }

    /// The property that stores the idempotency key.
    pub fn key_property(&self) -> &str {
        &self.target.key_property
    }

    /// The file instance an earlier write with `key` created, if any.
    ///
    /// # Errors
    /// As [`Client::find_by_property`].
    pub async fn find(&self, key: &IdempotencyKey) -> Result<Option<Instance>, Error> {
        self.target.find(&self.client, key).await
    }

    async fn upload(&self, document: &Document) -> Result<String, Error> {
        let mut options = UploadOptions::new(document.file_name.clone());
        if let Some(mime) = &document.mime_type {
            options = options.mime_type(mime.clone());
        }
        let content = match &document.content {
            DocumentContent::Bytes(bytes) => {
                let length = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                let reader = std::io::Cursor::new(bytes.clone());
                self.client
                    .upload_content_with(self.api, reader, &options.length(length))
                    .await?
            }
            DocumentContent::Path(path) => {
                let file = tokio::fs::File::open(path).await.map_err(Error::Io)?;
                let length = file.metadata().await.map_err(Error::Io)?.len();
                self.client
                    .upload_content_with(self.api, file, &options.length(length))
                    .await?
            }
        };
        Ok(content
            .rendition_blob_id(self.client.blob_id_source())
            .to_owned())
    }
}

impl DocumentSinkBuilder {
    /// The category of the instances. Default [`Category::File`] (renditions belong to files).
    pub fn category(mut self, category: impl Into<Category>) -> Self {
        self.inner = self.inner.category(category);
        self
    }

    /// The file type name, e.g. `ca_invoice` (required).
    pub fn type_name(mut self, type_name: impl Into<String>) -> Self {
        self.inner = self.inner.type_name(type_name);
        self
    }

    /// The property that stores the idempotency key. Default [`DEFAULT_KEY_PROPERTY`].
    pub fn key_property(mut self, property: impl Into<String>) -> Self {
        self.inner = self.inner.key_property(property);
        self
    }

    /// Shares per-key locks with other sinks.
    pub fn locks(mut self, locks: KeyLocks) -> Self {
        self.inner = self.inner.locks(locks);
        self
    }

    /// Remembers each uploaded blob in `store` (namespace [`BLOB_NAMESPACE`]) until its file
    /// instance is created, so a write whose create failed does not upload its content again.
    /// Without a store (the default) a retry after a failed create uploads again.
    pub fn blobs(mut self, store: Arc<dyn KvStore>) -> Self {
        self.blobs = Some(Blobs(store));
        self
    }

    /// The CSS upload API: [`CssApi::V2`] (`POST {css}/v2/tenant/{tenant}/content`, the
    /// default) or [`CssApi::V3`] (`POST {css}/v3/files/fromStream`, renditions with
    /// `"source": "FILE_ID"`).
    pub fn upload_api(mut self, api: CssApi) -> Self {
        self.api = api;
        self
    }

    /// The sink.
    ///
    /// # Errors
    /// [`Error::Config`] when the type name or the key property is empty, or the client has no
    /// `css_base`.
    pub fn build(self) -> Result<DocumentSink, Error> {
        let inner = self.inner.build()?;
        if inner.client.css_base().is_none() {
            return Err(Error::Config(
                "the document sink needs a client with a css_base".into(),
            ));
        }
        Ok(DocumentSink {
            client: inner.client,
            target: inner.target,
            locks: inner.locks,
            blobs: self.blobs,
            api: self.api,
        })
    }
}

#[async_trait]
impl Sink for DocumentSink {
    type Item = Document;
    type Receipt = DocumentReceipt;
    type Error = Error;

    /// Fetches an access token (the credentials and the tenant are right).
    async fn check(&self) -> Result<(), Error> {
        self.client.authenticate().await
    }

    /// Finds the file instance whose key property holds `key`, or uploads the content (unless an
    /// earlier attempt's blob is remembered, [`DocumentSinkBuilder::blobs`]) and creates it with
    /// the content as its primary rendition.
    ///
    /// # Errors
    /// As [`Client::find_by_property`], [`Client::upload_content`] (a file that cannot be read is
    /// [`Error::Io`]) and [`Client::create_instance`].
    async fn write(&self, item: &Document, key: &IdempotencyKey) -> Result<DocumentReceipt, Error> {
        let _guard = self.locks.lock(key.as_str()).await;
        if let Some(found) = self.target.find(&self.client, key).await? {
            return Ok(DocumentReceipt {
                id: found.id,
                created: false,
                blob_id: None,
            });
        }
        let remembered = match &self.blobs {
            Some(blobs) => blobs.get(key).await,
            None => None,
        };
        let blob_id = match remembered {
            Some(blob_id) => blob_id,
            None => {
                let blob_id = self.upload(item).await?;
                if let Some(blobs) = &self.blobs {
                    blobs.put(key, &blob_id).await;
                }
                blob_id
            }
        };
        let mut rendition = RenditionDraft::primary(item.file_name.clone(), blob_id.clone());
        if let Some(mime) = &item.mime_type {
            rendition = rendition.mime_type(mime.clone());
        }
        if self.api == CssApi::V3 {
            rendition = rendition.source(FILE_ID_SOURCE);
        }
        let draft = item
            .draft
            .clone()
            .extra("renditions", Value::Array(vec![rendition.to_value()]));
        let created = self.target.create(&self.client, key, draft).await?;
        if let Some(blobs) = &self.blobs {
            blobs.forget(key).await;
        }
        Ok(DocumentReceipt {
            id: created.id,
            created: true,
            blob_id: Some(blob_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::builder()
            .tenant_id("t")
            .auth_base("http://127.0.0.1:9")
            .cms_base("http://127.0.0.1:9/cms")
            .client_credentials("c", secrecy::SecretString::from("s"))
            .build()
            .unwrap()
    }

    #[test]
    fn receipts_are_equal_when_they_name_one_instance() {
        let first = InstanceReceipt {
            id: "a".into(),
            created: true,
        };
        let again = InstanceReceipt {
            id: "a".into(),
            created: false,
        };
        let other = InstanceReceipt {
            id: "b".into(),
            created: true,
        };
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn builders_refuse_a_missing_type_or_css() {
        let err = InstanceSink::builder(client()).build().unwrap_err();
        assert!(matches!(err, Error::Config(ref m) if m.contains("type_name")));
        let err = InstanceSink::builder(client())
            .type_name("ca_case")
            .key_property(" ")
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config(ref m) if m.contains("key_property")));
        let sink = InstanceSink::builder(client())
            .type_name("ca_case")
            .build()
            .unwrap();
        assert_eq!(sink.key_property(), DEFAULT_KEY_PROPERTY);
        assert_eq!(sink.category(), &Category::Object);
        let err = DocumentSink::builder(client())
            .type_name("ca_invoice")
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config(ref m) if m.contains("css_base")));
    }
}
