//! Issue 14: which upload answer id becomes a rendition's `blob_id` (`BlobIdSource`), the v3
//! upload and its `"source": "FILE_ID"` rendition, and the v3 download.

use chatport_core::{EventId, IdempotencyKey, Sink};
use chatport_opentext::{BlobIdSource, CssApi, Document, DocumentSink, InstanceDraft};
use serde_json::json;
use wiremock::matchers::{
    body_partial_json, body_string_contains, header, method, path, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

const FILE_TYPE: &str = "ca_invoice";

/// The lookup finds nothing, the v2 upload answers `entries[0]` with different `id` and
/// `blobId` (as the v2 answer documents both), and the create is expected with `blob_id`.
async fn mount_document_flow(server: &MockServer, expected_blob_id: &str) {
    mount_token(server, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/cms/instances/file/{FILE_TYPE}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total": 0})))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v2/tenant/{TENANT}/content")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "entries": [{"id": "css-id-1", "blobId": "css-blob-1", "fileName": "inv.pdf",
                         "mimeType": "application/pdf", "size": 4}]
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/cms/instances/file/{FILE_TYPE}")))
        .and(body_partial_json(json!({
            "renditions": [{"name": "inv.pdf", "rendition_type": "primary",
                            "blob_id": expected_blob_id}]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "file-1", "name": "Invoice", "category": "file", "type": FILE_TYPE
        })))
        .expect(1)
        .mount(server)
        .await;
}

async fn write_document(sink: &DocumentSink) -> chatport_opentext::DocumentReceipt {
    let key = IdempotencyKey::derive("test", "doc", &EventId::new("wamid.1"));
    let doc = Document::from_bytes(InstanceDraft::new("Invoice"), "inv.pdf", b"%PDF".to_vec())
        .mime_type("application/pdf");
    sink.write(&doc, &key).await.expect("document stored")
}

#[tokio::test]
async fn the_default_puts_the_answer_id_in_blob_id() {
    let server = MockServer::start().await;
    mount_document_flow(&server, "css-id-1").await;
    let client = builder(&server)
        .css_base(&server.uri())
        .build()
        .expect("client");
    assert_eq!(client.blob_id_source(), BlobIdSource::Id);
    let sink = DocumentSink::builder(client)
        .type_name(FILE_TYPE)
        .build()
        .expect("sink");
    let receipt = write_document(&sink).await;
    assert_eq!(receipt.blob_id.as_deref(), Some("css-id-1"));
}

#[tokio::test]
async fn blob_id_source_blob_id_puts_blob_id_in_blob_id() {
    let server = MockServer::start().await;
    mount_document_flow(&server, "css-blob-1").await;
    let client = builder(&server)
        .css_base(&server.uri())
        .blob_id_source(BlobIdSource::BlobId)
        .build()
        .expect("client");
    let sink = DocumentSink::builder(client)
        .type_name(FILE_TYPE)
        .build()
        .expect("sink");
    let receipt = write_document(&sink).await;
    assert_eq!(receipt.blob_id.as_deref(), Some("css-blob-1"));
}

#[tokio::test]
async fn a_v3_document_has_no_tenant_query_and_a_file_id_rendition() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/cms/instances/file/{FILE_TYPE}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total": 0})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/files/fromStream"))
        .and(query_param_is_missing("tenant"))
        .and(body_string_contains("name=\"file\"; filename=\"inv.pdf\""))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "v3-file-9", "originalFileName": "inv.pdf", "mimeType": "application/pdf",
            "size": 4
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/cms/instances/file/{FILE_TYPE}")))
        .and(body_partial_json(json!({
            "renditions": [{"name": "inv.pdf", "rendition_type": "primary",
                            "source": "FILE_ID", "blob_id": "v3-file-9"}]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "file-2", "name": "Invoice", "category": "file", "type": FILE_TYPE
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .css_base(&server.uri())
        // a v3 answer has only `id`: the BlobId choice falls back to it
        .blob_id_source(BlobIdSource::BlobId)
        .build()
        .expect("client");
    let sink = DocumentSink::builder(client)
        .type_name(FILE_TYPE)
        .upload_api(CssApi::V3)
        .build()
        .expect("sink");
    let receipt = write_document(&sink).await;
    assert_eq!(receipt.blob_id.as_deref(), Some("v3-file-9"));
}

#[tokio::test]
async fn v3_download_streams_the_file() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let content: Vec<u8> = (0..150_000u32).map(|i| (i % 253) as u8).collect();
    Mock::given(method("GET"))
        .and(path("/v3/files/v3-file-9/stream"))
        .and(header("authorization", "Bearer tok-1"))
        .and(header("accept", "application/octet-stream"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(content.clone(), "application/octet-stream"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/files/missing/stream"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"exception": "NotFoundException"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .css_base(&server.uri())
        .build()
        .expect("client");
    let mut out = Vec::new();
    let n = client
        .download_file_v3("v3-file-9", &mut out)
        .await
        .expect("downloaded");
    assert_eq!(n, 150_000);
    assert_eq!(out, content);
    let err = client
        .download_file_v3("missing", &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err:?}");
}

#[tokio::test]
async fn the_v3_tenant_query_can_be_turned_on() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/v3/files/fromStream"))
        .and(wiremock::matchers::query_param("tenant", TENANT))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "v3-file-1", "originalFileName": "a.txt", "mimeType": "text/plain", "size": 1
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .css_base(&server.uri())
        .css_v3_tenant_query(true)
        .build()
        .expect("client");
    let data: &'static [u8] = b"x";
    let content = client
        .upload_content_v3(data, &chatport_opentext::UploadOptions::new("a.txt"))
        .await
        .unwrap();
    assert_eq!(content.api, CssApi::V3);
}
