//! The media relay (`Client::spool_inbound_media`, `Client::spool_media_by_id`) against a wiremock
//! Graph API on loopback: the temporary file holds the bytes, the hash is checked, the MIME type and
//! file name follow the message, and the file is gone once the value is dropped.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chatport_whatsapp::webhook::Media;
use chatport_whatsapp::{Client, DownloadOptions, Error};
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MEDIA_ID: &str = "1037543291543636";
const CONTENT: &[u8] = b"%PDF-1.7 the invoice";

async fn server(sha_hex: &str, content_type: &str) -> (MockServer, Client) {
    let server = MockServer::start().await;
    let url = format!("{}/download/abc?mid=1", server.uri());
    Mock::given(method("GET"))
        .and(path_regex(format!(r"^/v\d+\.\d+/{MEDIA_ID}$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "url": url, "mime_type": "application/pdf",
            "sha256": sha_hex, "file_size": CONTENT.len(), "id": MEDIA_ID})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/download/abc"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", content_type)
                .set_body_bytes(CONTENT),
        )
        .mount(&server)
        .await;
    let client = Client::builder()
        .access_token(SecretString::from("EAAJB-test-token"))
        .base_url(&server.uri())
        .media_hosts(["127.0.0.1"])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    (server, client)
}

fn inbound(value: serde_json::Value) -> Media {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn an_inbound_document_is_spooled_verified_and_removed_when_dropped() {
    let (_server, client) = server(&hex::encode(Sha256::digest(CONTENT)), "text/plain").await;
    let media = inbound(
        json!({"id": MEDIA_ID, "mime_type": "application/pdf; charset=binary",
        "filename": "invoice 12345.pdf"}),
    );
    let spooled = client
        .spool_inbound_media(&media, &DownloadOptions::new())
        .await
        .unwrap();
    assert_eq!(std::fs::read(spooled.path()).unwrap(), CONTENT);
    assert_eq!(spooled.bytes, CONTENT.len() as u64);
    assert_eq!(spooled.sha256_hex, hex::encode(Sha256::digest(CONTENT)));
    assert!(spooled.verified, "GET /{{media id}}'s digest is checked");
    assert_eq!(
        spooled.mime_type, "application/pdf",
        "the message's type wins over the download's Content-Type, without parameters"
    );
    assert_eq!(spooled.file_name_or("whatsapp"), "invoice 12345.pdf");
    let mut reader = spooled.open().await.unwrap();
    let mut read = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut read)
        .await
        .unwrap();
    assert_eq!(read, CONTENT);
    let path = spooled.path().to_owned();
    drop(reader);
    drop(spooled);
    assert!(!path.exists(), "the temporary file goes with the value");
}

#[tokio::test]
async fn a_kept_media_id_falls_back_to_the_download_type_and_a_named_stem() {
    let (_server, client) = server(&hex::encode(Sha256::digest(CONTENT)), "image/jpeg; q=1").await;
    let spooled = client
        .spool_media_by_id(MEDIA_ID, None, &DownloadOptions::new(), None, Some("  "))
        .await
        .unwrap();
    assert_eq!(spooled.mime_type, "image/jpeg");
    assert_eq!(spooled.file_name, None, "a blank file name is no file name");
    assert_eq!(spooled.file_name_or("whatsapp-1"), "whatsapp-1.jpg");
}

#[tokio::test]
async fn a_hash_mismatch_or_an_oversized_file_is_refused() {
    let (_server, client) = server(&hex::encode(Sha256::digest(b"other")), "image/png").await;
    let err = client
        .spool_media_by_id(MEDIA_ID, None, &DownloadOptions::new(), None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MediaHashMismatch { .. }), "{err:?}");
    let err = client
        .spool_media_by_id(
            MEDIA_ID,
            None,
            &DownloadOptions::new().max_bytes(4),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MediaTooLarge { limit: 4, .. }),
        "{err:?}"
    );
}
