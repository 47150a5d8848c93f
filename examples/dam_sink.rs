//! Run: `cargo run --example dam_sink`
//!
//! OrangeDAM through the connector's sinks: `AssetSink` uploads a photo at most once per
//! idempotency key (the key's reference travels in the uploaded file name and is searched before
//! uploading), then sets its metadata; `MetadataSink` later sets a review state on it.
//!
//! Self-contained: it starts the testkit's OrangeDAM emulator on 127.0.0.1 and exits 0 when the
//! photo was uploaded once, with its fields set.

use chatport::core::{EventId, IdempotencyKey, Sink};
use chatport::orangelogic::{
    AssetContent, AssetDraft, AssetFields, AssetSink, Client, MetadataSink,
};
use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dam = OrangeLogicEmulator::start().await?;
    let client = Client::builder()
        .base_url(&dam.base_url())
        .client_credentials(
            dam.client_id(),
            SecretString::from(dam.client_secret().to_owned()),
        )
        .build()?;
    let assets = AssetSink::builder(client.clone())
        .file_name_prefix("wa-")
        .build()?;
    let metadata = MetadataSink::new(client);

    let event = EventId::new("wamid.HBgLNDkxNTEyMzQ1Njc4OQ");
    let photo = b"\xFF\xD8\xFF\xE0 a site photo".to_vec();
    let draft = AssetDraft::new(ROOT_FOLDER, "site.jpg", AssetContent::bytes(photo.clone()))
        .content_type("image/jpeg")
        .field("CoreField.Title", "Site visit, gate 3");
    let key = IdempotencyKey::derive("L2", "upload", &event);
    let first = assets.store(&draft, &key).await?;
    println!(
        "uploaded {} as {} ({} bytes)",
        first.receipt.record_id, first.file_name, first.bytes
    );
    // A replay (a retry after a timeout, a redelivered webhook): found, nothing uploaded.
    let again = assets.store(&draft, &key).await?;
    println!(
        "replay: reused {} (uploaded {} bytes)",
        again.reused, again.bytes
    );

    let review = AssetFields::new(first.receipt.asset()).field("CustomField.Review", "Approved");
    let record_id = metadata
        .write(&review, &IdempotencyKey::derive("L3", "review", &event))
        .await?;

    let uploaded: Vec<_> = dam.assets().into_iter().filter(|a| !a.folder).collect();
    assert_eq!(uploaded.len(), 1, "one upload per key");
    assert!(again.reused && again.receipt == first.receipt);
    let asset = dam.asset(&record_id).ok_or("the asset is missing")?;
    assert_eq!(asset.fields["CoreField.Title"], "Site visit, gate 3");
    assert_eq!(asset.fields["CustomField.Review"], "Approved");
    assert_eq!(dam.asset_bytes(&record_id), Some(photo));
    Ok(())
}

#[cfg(test)]
mod tests {
    /// `cargo test` runs the example (`test = true` in Cargo.toml), so a broken example fails CI.
    #[test]
    fn runs() -> Result<(), Box<dyn std::error::Error>> {
        super::main()
    }
}
