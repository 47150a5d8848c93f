//! The sink conformance suite (`chatport_core::conformance`) for [`AssetSink`] and
//! [`MetadataSink`] against the testkit's OrangeDAM emulator.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use async_trait::async_trait;
use chatport_core::conformance::{self, SinkHarness};
use chatport_core::{EventId, IdempotencyKey, Sink};
use chatport_orangelogic::{
    AssetContent, AssetDraft, AssetFields, AssetRef, AssetSink, Client, MetadataSink, RetryPolicy,
};
use chatport_testkit::Failure;
use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
use secrecy::SecretString;

fn client(dam: &OrangeLogicEmulator) -> Client {
    Client::builder()
        .base_url(&dam.base_url())
        .client_credentials(
            dam.client_id(),
            SecretString::from(dam.client_secret().to_owned()),
        )
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

fn uploaded(dam: &OrangeLogicEmulator) -> usize {
    dam.assets().iter().filter(|a| !a.folder).count()
}

struct AssetHarness {
    dam: OrangeLogicEmulator,
    sink: AssetSink,
}

#[async_trait]
impl SinkHarness for AssetHarness {
    type Sink = AssetSink;

    fn sink(&self) -> &AssetSink {
        &self.sink
    }

    fn item(&self, n: u32) -> AssetDraft {
        AssetDraft::new(
            ROOT_FOLDER,
            format!("photo-{n}.jpg"),
            AssetContent::bytes(format!("jpeg {n}").into_bytes()),
        )
        .content_type("image/jpeg")
        .field("CoreField.Title", format!("Photo {n}"))
    }

    async fn effects(&self) -> usize {
        uploaded(&self.dam)
    }

    async fn fail_next_write(&self) {
        // A fresh key costs one search, then the upload: let the search through (a delay of
        // zero processes it normally), refuse the upload with a 503 that stores nothing.
        self.dam.fail_next(1, Failure::Delay(Duration::ZERO));
        self.dam.enqueue_failures(1, Failure::Status(503));
    }
}

#[tokio::test]
async fn asset_sink_with_the_file_name_marker_conforms() {
    let dam = OrangeLogicEmulator::start().await.unwrap();
    let sink = AssetSink::builder(client(&dam))
        .file_name_prefix("wa-")
        .build()
        .unwrap();
    let h = AssetHarness { dam, sink };
    conformance::run_all(&h).await;
    // Every upload carries its key's reference, and its metadata was set.
    for asset in h.dam.assets().iter().filter(|a| !a.folder) {
        let name = asset.fields["CoreField.OriginalFileName"].as_str().unwrap();
        assert!(name.starts_with("wa-") && name.len() > "wa-123456789012-".len());
        assert!(asset.fields["CoreField.Title"].is_string());
    }
}

#[tokio::test]
async fn asset_sink_with_a_key_field_only_conforms() {
    let dam = OrangeLogicEmulator::start().await.unwrap();
    let sink = AssetSink::builder(client(&dam))
        .file_name_marker(false)
        .key_field("CustomField.ChatportKey")
        .build()
        .unwrap();
    let h = AssetHarness { dam, sink };
    conformance::run_all(&h).await;
    for asset in h.dam.assets().iter().filter(|a| !a.folder) {
        let key = asset.fields["CustomField.ChatportKey"].as_str().unwrap();
        assert_eq!(key.len(), 64);
        assert!(
            asset.fields["CoreField.OriginalFileName"]
                .as_str()
                .unwrap()
                .starts_with("photo-")
        );
    }
}

fn key(n: &str) -> IdempotencyKey {
    IdempotencyKey::derive("test", "asset", &EventId::new(n))
}

#[tokio::test]
async fn an_upload_whose_update_failed_is_found_and_completed() {
    let dam = OrangeLogicEmulator::start().await.unwrap();
    let sink = AssetSink::builder(client(&dam))
        .key_field("CustomField.ChatportKey")
        .build()
        .unwrap();
    let draft = AssetDraft::new(ROOT_FOLDER, "a.pdf", AssetContent::bytes(&b"%PDF"[..]))
        .field("CoreField.Title", "Contract");
    // Two searches and the upload pass; the field update is refused.
    dam.fail_next(3, Failure::Delay(Duration::ZERO));
    dam.enqueue_failures(1, Failure::Status(503));
    let err = sink.write(&draft, &key("a")).await.unwrap_err();
    assert!(chatport_core::Classify::is_retryable(&err));
    assert_eq!(uploaded(&dam), 1);
    let stored = sink.store(&draft, &key("a")).await.unwrap();
    assert!(stored.reused, "found by its marked file name");
    assert_eq!(stored.bytes, 0);
    assert_eq!(uploaded(&dam), 1);
    let asset = dam.asset(&stored.receipt.record_id).unwrap();
    assert_eq!(asset.fields["CoreField.Title"], "Contract");
    assert_eq!(asset.fields["CustomField.ChatportKey"], key("a").as_str());
    assert_eq!(dam.asset_bytes(&stored.receipt.record_id).unwrap(), b"%PDF");
}

#[tokio::test]
async fn file_content_is_read_only_when_uploading() {
    let dam = OrangeLogicEmulator::start().await.unwrap();
    let sink = AssetSink::builder(client(&dam)).build().unwrap();
    let dir = std::env::temp_dir().join(format!("chatport-ol-sink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("clip.mp4");
    std::fs::write(&path, b"mp4 bytes").unwrap();
    let draft = AssetDraft::new(ROOT_FOLDER, "clip.mp4", AssetContent::file(&path));
    let first = sink.store(&draft, &key("f")).await.unwrap();
    assert_eq!((first.bytes, first.reused), (9, false));
    std::fs::remove_file(&path).unwrap();
    // The file is gone: a replay must not need it.
    let again = sink.store(&draft, &key("f")).await.unwrap();
    assert!(again.reused);
    assert_eq!(again.receipt, first.receipt);
    assert_eq!(again.file_name, sink.file_name("clip.mp4", &key("f")));
    let missing = sink.write(&draft, &key("g")).await.unwrap_err();
    assert!(matches!(missing, chatport_orangelogic::Error::Io(_)));
    assert!(
        AssetSink::builder(client(&dam))
            .file_name_marker(false)
            .build()
            .is_err(),
        "a sink that cannot find earlier uploads is refused"
    );
}

struct MetadataHarness {
    dam: OrangeLogicEmulator,
    sink: MetadataSink,
    assets: Vec<String>,
}

const NOTE: &str = "CustomField.Note";

#[async_trait]
impl SinkHarness for MetadataHarness {
    type Sink = MetadataSink;

    fn sink(&self) -> &MetadataSink {
        &self.sink
    }

    /// Item `n` sets the note of asset `n` (an effect = an asset whose note is set).
    fn item(&self, n: u32) -> AssetFields {
        AssetFields::new(AssetRef::RecordId(self.assets[n as usize].clone()))
            .field(NOTE, format!("reviewed {n}"))
    }

    async fn effects(&self) -> usize {
        self.dam
            .assets()
            .iter()
            .filter(|a| a.fields.contains_key(NOTE))
            .count()
    }

    async fn fail_next_write(&self) {
        self.dam.fail_next(1, Failure::Status(503));
    }
}

#[tokio::test]
async fn metadata_sink_conforms() {
    let dam = OrangeLogicEmulator::start().await.unwrap();
    let assets = (0..6)
        .map(|n| {
            dam.seed_asset(&format!("Asset {n}"), ROOT_FOLDER, Default::default(), None)
                .record_id
        })
        .collect();
    let h = MetadataHarness {
        sink: MetadataSink::new(client(&dam)),
        dam,
        assets,
    };
    conformance::run_all(&h).await;
}

#[tokio::test]
async fn metadata_sink_returns_the_record_id_of_an_identifier() {
    let dam = OrangeLogicEmulator::start().await.unwrap();
    let asset = dam.seed_asset("Hero", ROOT_FOLDER, Default::default(), None);
    let sink = MetadataSink::new(client(&dam));
    let fields = AssetFields::new(AssetRef::Identifier(asset.identifier.clone()))
        .field("CoreField.Title", "Hero v2");
    let id = sink.write(&fields, &key("m")).await.unwrap();
    assert_eq!(id, asset.record_id);
    assert_eq!(
        dam.asset(&asset.record_id).unwrap().fields["CoreField.Title"],
        "Hero v2"
    );
    let gone = AssetFields::new(AssetRef::RecordId("NOPE".into())).field(NOTE, "x");
    let err = sink.write(&gone, &key("n")).await.unwrap_err();
    assert!(!chatport_core::Classify::is_retryable(&err));
}
