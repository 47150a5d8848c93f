//! The sink conformance suite (`chatport_core::conformance`) for [`InstanceSink`] and
//! [`DocumentSink`] against the testkit's CMS + CSS emulator, plus the behaviour the suite does not
//! cover: the key property, the rendition, no second upload, the in-doubt create.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use async_trait::async_trait;
use chatport_core::conformance::{SinkHarness, run_all};
use chatport_core::{Classify, EventId, IdempotencyKey, Sink};
use chatport_opentext::{
    Category, Client, Document, DocumentSink, InstanceDraft, InstanceSink, RetryPolicy,
};
use chatport_testkit::Failure;
use chatport_testkit::cms::CmsEmulator;
use secrecy::SecretString;

const CASE_TYPE: &str = "ca_support_case";
const FILE_TYPE: &str = "ca_invoice";
const KEY_PROPERTY: &str = "ext_ref";

fn client_for(cms: &CmsEmulator) -> Client {
    Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .css_base(&cms.css_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .no_rate_limit()
        .build()
        .expect("valid configuration")
}

/// Makes the emulator refuse the **create** of the next write: the sink's lookup (the first
/// `/cms` request of a write) is answered normally (`Delay(0)`), its create (the second) gets a
/// 503 that has no effect. The client does not repeat a create after a 503, so the refusal
/// reaches the caller. CSS uploads are not `/cms` requests and are not affected.
fn refuse_next_create(cms: &CmsEmulator) {
    cms.fail_next(1, Failure::Delay(Duration::ZERO));
    cms.enqueue_failures(1, Failure::Status(503));
}

fn key(n: &str) -> IdempotencyKey {
    IdempotencyKey::derive("test", "sink", &EventId::new(n))
}

struct InstanceHarness {
    cms: CmsEmulator,
    sink: InstanceSink,
}

impl InstanceHarness {
    async fn start() -> Self {
        let cms = CmsEmulator::start().await.expect("emulator");
        let sink = InstanceSink::builder(client_for(&cms))
            .category(Category::Object)
            .type_name(CASE_TYPE)
            .key_property(KEY_PROPERTY)
            .build()
            .expect("sink");
        Self { cms, sink }
    }
}

#[async_trait]
impl SinkHarness for InstanceHarness {
    type Sink = InstanceSink;

    fn sink(&self) -> &InstanceSink {
        &self.sink
    }

    fn item(&self, n: u32) -> InstanceDraft {
        InstanceDraft::new(format!("Case {n}")).property("priority", "high")
    }

    async fn effects(&self) -> usize {
        self.cms.instances_of_type(CASE_TYPE).len()
    }

    async fn fail_next_write(&self) {
        refuse_next_create(&self.cms);
    }
}

struct DocumentHarness {
    cms: CmsEmulator,
    sink: DocumentSink,
}

impl DocumentHarness {
    async fn start() -> Self {
        let cms = CmsEmulator::start().await.expect("emulator");
        let sink = DocumentSink::builder(client_for(&cms))
            .type_name(FILE_TYPE)
            .key_property(KEY_PROPERTY)
            .build()
            .expect("sink");
        Self { cms, sink }
    }
}

#[async_trait]
impl SinkHarness for DocumentHarness {
    type Sink = DocumentSink;

    fn sink(&self) -> &DocumentSink {
        &self.sink
    }

    fn item(&self, n: u32) -> Document {
        Document::from_bytes(
            InstanceDraft::new(format!("Invoice {n}")),
            format!("invoice-{n}.pdf"),
            format!("%PDF-1.7 invoice {n}").into_bytes(),
        )
        .mime_type("application/pdf")
    }

    async fn effects(&self) -> usize {
        self.cms.instances_of_type(FILE_TYPE).len()
    }

    async fn fail_next_write(&self) {
        refuse_next_create(&self.cms);
    }
}

#[tokio::test]
async fn instance_sink_conforms() {
    run_all(&InstanceHarness::start().await).await;
}

#[tokio::test]
async fn document_sink_conforms() {
    let h = DocumentHarness::start().await;
    run_all(&h).await;
    // 1 + 1 + 2 (the refused create's retry uploads again) + 2 uploads in all.
    assert_eq!(h.cms.contents_uploaded().len(), 6);
}

#[tokio::test]
async fn the_key_is_stored_in_the_key_property_and_found_again() {
    let h = InstanceHarness::start().await;
    let k = key("stored");
    let first = h.sink.write(&h.item(1), &k).await.unwrap();
    assert!(first.created);
    let record = h.cms.instance(&first.id).expect("created");
    assert_eq!(record["properties"][KEY_PROPERTY], k.as_str());
    assert_eq!(record["properties"]["priority"], "high");
    assert_eq!(record["category"], "object");
    let again = h.sink.write(&h.item(9), &k).await.unwrap();
    assert!(!again.created, "a repeat finds the first instance");
    assert_eq!(again.id, first.id);
    assert_eq!(h.sink.find(&k).await.unwrap().unwrap().id, first.id);
    assert!(h.sink.find(&key("other")).await.unwrap().is_none());
}

#[tokio::test]
async fn an_instance_made_by_another_writer_is_found_not_duplicated() {
    // What a second replica (or an earlier process) left behind: the lookup, not the lock, finds it.
    let h = InstanceHarness::start().await;
    let k = key("seeded");
    let elsewhere = client_for(&h.cms)
        .create_instance(
            Category::Object,
            CASE_TYPE,
            &InstanceDraft::new("Case 0").property(KEY_PROPERTY, k.as_str()),
        )
        .await
        .unwrap();
    let receipt = h.sink.write(&h.item(1), &k).await.unwrap();
    assert_eq!(receipt.id, elsewhere.id);
    assert!(!receipt.created);
    assert_eq!(h.cms.instances_of_type(CASE_TYPE).len(), 1);
}

#[tokio::test]
async fn the_injected_refusal_hits_the_create_and_has_no_effect() {
    let h = InstanceHarness::start().await;
    let k = key("refused");
    refuse_next_create(&h.cms);
    let err = h.sink.write(&h.item(1), &k).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable());
    assert_eq!(
        h.cms.pending_failures(),
        0,
        "both scripted answers were used"
    );
    assert!(h.cms.instances_of_type(CASE_TYPE).is_empty());
}

#[tokio::test]
async fn an_in_doubt_create_is_found_by_the_retry() {
    let cms = CmsEmulator::start().await.unwrap();
    let client = Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .no_rate_limit()
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let sink = InstanceSink::builder(client)
        .type_name(CASE_TYPE)
        .key_property(KEY_PROPERTY)
        .build()
        .unwrap();
    let k = key("in-doubt");
    // The lookup answers at once; the create is made, then answered after the client gave up.
    cms.fail_next(1, Failure::Delay(Duration::ZERO));
    cms.enqueue_failures(1, Failure::Delay(Duration::from_secs(30)));
    let err = sink
        .write(&InstanceDraft::new("Case"), &k)
        .await
        .unwrap_err();
    assert!(err.is_ambiguous() && err.is_retryable(), "{err}");
    assert_eq!(cms.instances_of_type(CASE_TYPE).len(), 1, "it was made");
    let retried = sink.write(&InstanceDraft::new("Case"), &k).await.unwrap();
    assert!(!retried.created, "the retry finds it");
    assert_eq!(cms.instances_of_type(CASE_TYPE).len(), 1);
}

#[tokio::test]
async fn a_document_is_a_file_with_a_primary_rendition_and_is_not_uploaded_twice() {
    let h = DocumentHarness::start().await;
    let k = key("doc");
    let first = h.sink.write(&h.item(1), &k).await.unwrap();
    assert!(first.created);
    let blob_id = first.blob_id.clone().expect("uploaded");
    let record = h.cms.instance(&first.id).expect("created");
    assert_eq!(record["category"], "file");
    assert_eq!(record["properties"][KEY_PROPERTY], k.as_str());
    let renditions = h.cms.renditions(&first.id);
    assert_eq!(renditions.len(), 1, "{renditions:?}");
    assert_eq!(renditions[0]["rendition_type"], "primary");
    assert_eq!(renditions[0]["blob_id"], blob_id.as_str());
    assert_eq!(renditions[0]["mime_type"], "application/pdf");
    let stored = h.cms.content(&blob_id).expect("the blob is in the CSS");
    assert_eq!(stored, b"%PDF-1.7 invoice 1");

    let again = h.sink.write(&h.item(1), &k).await.unwrap();
    assert_eq!(again, first);
    assert!(!again.created && again.blob_id.is_none());
    assert_eq!(h.cms.contents_uploaded().len(), 1, "found before uploading");
}

#[tokio::test]
async fn a_document_streams_from_a_file() {
    let h = DocumentHarness::start().await;
    let dir = std::env::temp_dir().join(format!("chatport-sink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("scan.pdf");
    std::fs::write(&path, b"scanned bytes").unwrap();
    let doc = Document::from_path(InstanceDraft::new("Scan"), "scan.pdf", &path);
    let receipt = h.sink.write(&doc, &key("file")).await.unwrap();
    let blob = receipt.blob_id.unwrap();
    assert_eq!(h.cms.content(&blob).unwrap(), b"scanned bytes");

    let missing = Document::from_path(InstanceDraft::new("Gone"), "gone.pdf", dir.join("gone"));
    let err = h.sink.write(&missing, &key("missing")).await.unwrap_err();
    assert!(matches!(err, chatport_opentext::Error::Io(_)), "{err}");
    assert_eq!(h.cms.instances_of_type(FILE_TYPE).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A key-value store in memory that can be told to fail, for the blob memo.
#[derive(Default)]
struct MemoryKv {
    entries: std::sync::Mutex<std::collections::HashMap<(String, String), Vec<u8>>>,
    broken: std::sync::atomic::AtomicBool,
}

impl MemoryKv {
    fn check(&self) -> Result<(), chatport_core::StateError> {
        if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(chatport_core::StateError::transient("store down"));
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[async_trait]
impl chatport_core::KvStore for MemoryKv {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, chatport_core::StateError> {
        self.check()?;
        Ok(self
            .entries
            .lock()
            .unwrap()
            .get(&(ns.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn put(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), chatport_core::StateError> {
        self.check()?;
        self.entries
            .lock()
            .unwrap()
            .insert((ns.to_owned(), key.to_owned()), value.to_vec());
        Ok(())
    }

    async fn put_if_absent(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
    ) -> Result<bool, chatport_core::StateError> {
        self.check()?;
        let mut entries = self.entries.lock().unwrap();
        let k = (ns.to_owned(), key.to_owned());
        if entries.contains_key(&k) {
            return Ok(false);
        }
        entries.insert(k, value.to_vec());
        Ok(true)
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<(), chatport_core::StateError> {
        self.check()?;
        self.entries
            .lock()
            .unwrap()
            .remove(&(ns.to_owned(), key.to_owned()));
        Ok(())
    }

    async fn list(
        &self,
        ns: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, chatport_core::StateError> {
        self.check()?;
        Ok(self
            .entries
            .lock()
            .unwrap()
            .iter()
            .filter(|((n, k), _)| n == ns && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }
}

fn remembering_sink(cms: &CmsEmulator, kv: &std::sync::Arc<MemoryKv>) -> DocumentSink {
    DocumentSink::builder(client_for(cms))
        .type_name(FILE_TYPE)
        .key_property(KEY_PROPERTY)
        .blobs(kv.clone())
        .build()
        .expect("sink")
}

#[tokio::test]
async fn with_a_blob_memo_a_refused_create_is_retried_without_a_second_upload() {
    let h = DocumentHarness::start().await;
    let kv = std::sync::Arc::new(MemoryKv::default());
    let sink = remembering_sink(&h.cms, &kv);
    let k = key("memo");
    refuse_next_create(&h.cms);
    let err = sink.write(&h.item(1), &k).await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(
        h.cms.contents_uploaded().len(),
        1,
        "uploaded before the create"
    );
    assert_eq!(
        kv.len(),
        1,
        "the blob is remembered until the instance exists"
    );

    let receipt = sink.write(&h.item(1), &k).await.unwrap();
    assert!(receipt.created);
    assert_eq!(
        h.cms.contents_uploaded().len(),
        1,
        "the retry used the remembered blob"
    );
    let blob_id = receipt.blob_id.expect("the instance's blob");
    assert_eq!(
        h.cms.renditions(&receipt.id)[0]["blob_id"],
        blob_id.as_str()
    );
    assert_eq!(kv.len(), 0, "forgotten once the instance exists");
    assert_eq!(h.cms.instances_of_type(FILE_TYPE).len(), 1);
}

#[tokio::test]
async fn a_failing_blob_memo_only_costs_the_saving() {
    let h = DocumentHarness::start().await;
    let kv = std::sync::Arc::new(MemoryKv::default());
    kv.broken.store(true, std::sync::atomic::Ordering::SeqCst);
    let sink = remembering_sink(&h.cms, &kv);
    let k = key("broken-memo");
    refuse_next_create(&h.cms);
    assert!(sink.write(&h.item(2), &k).await.is_err());
    let receipt = sink.write(&h.item(2), &k).await.unwrap();
    assert!(receipt.created);
    assert_eq!(
        h.cms.contents_uploaded().len(),
        2,
        "without a working memo the retry uploads again, as without a store"
    );
    assert_eq!(h.cms.instances_of_type(FILE_TYPE).len(), 1);
}
