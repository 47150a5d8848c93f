use chatport_core::{Classify, ErrorClass};
use chatport_opentext::{
    DownloadOptions, Error, ExpiryFormat, ShareLinkFields, ShareLinkRequest, UploadOptions,
};
use chrono::TimeZone;
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_json, body_string_contains, header, header_regex, method, path, query_param,
    query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn css_client(server: &MockServer) -> chatport_opentext::Client {
    builder(server)
        .css_base(&server.uri())
        .build()
        .expect("valid test configuration")
}

#[tokio::test]
async fn v2_multipart_upload_returns_the_first_entry() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(format!("/v2/tenant/{TENANT}/content")))
        .and(query_param("avs-scan", "false"))
        .and(header("authorization", "Bearer tok-1"))
        .and(header_regex("content-type", "^multipart/form-data; boundary="))
        .and(body_string_contains("name=\"file\"; filename=\"invoice.pdf\""))
        .and(body_string_contains("Content-Type: application/pdf"))
        .and(body_string_contains("%PDF-1.7 fake invoice"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "entries": [{
                "id": "c-1", "blobId": "b-1", "fileName": "invoice.pdf",
                "mimeType": "application/pdf", "size": 21,
                "_links": {"download": {"href": format!("{}/v2/content/c-1/download", server.uri())}}
            }]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let data: &'static [u8] = b"%PDF-1.7 fake invoice";
    let blob = css_client(&server)
        .upload_content(
            data,
            &UploadOptions::new("invoice.pdf")
                .mime_type("application/pdf")
                .length(21)
                .avs_scan(false),
        )
        .await
        .unwrap();
    assert_eq!(blob.blob_id(), "b-1");
    assert_eq!(blob.id, "c-1");
    assert_eq!(blob.size, Some(21));
    assert!(
        blob.download_href()
            .unwrap()
            .ends_with("/v2/content/c-1/download")
    );
}

#[tokio::test]
async fn raw_and_v3_uploads() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(format!("/v2/tenant/{TENANT}/content")))
        .and(header("content-type", "image/jpeg"))
        .and(header("content-length", "5"))
        .and(query_param_is_missing("avs-scan"))
        .and(body_string_contains("JPEG!"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "entries": [{"id": "c-2", "fileName": "p.jpg", "size": 5}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/files/fromStream"))
        .and(query_param_is_missing("tenant"))
        .and(header_regex("content-type", "^multipart/form-data"))
        .and(body_string_contains("name=\"file\"; filename=\"v.mp4\""))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "f-3", "originalFileName": "v.mp4", "mimeType": "video/mp4", "size": 4
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = css_client(&server);
    let raw: &'static [u8] = b"JPEG!";
    let blob = c
        .upload_content_raw(
            raw,
            &UploadOptions::new("p.jpg")
                .mime_type("image/jpeg")
                .length(5),
        )
        .await
        .unwrap();
    assert_eq!(blob.blob_id(), "c-2");
    let v3: &'static [u8] = b"mp4!";
    let blob = c
        .upload_content_v3(v3, &UploadOptions::new("v.mp4").mime_type("video/mp4"))
        .await
        .unwrap();
    assert_eq!(blob.blob_id(), "f-3");
    assert_eq!(blob.file_name.as_deref(), Some("v.mp4"));
    assert_eq!(blob.api, chatport_opentext::CssApi::V3);
}

#[tokio::test]
async fn upload_errors_are_not_retried_and_a_401_drops_the_token() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("POST"))
        .and(path(format!("/v2/tenant/{TENANT}/content")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "fault": {"faultstring": "Access Token expired", "detail": {"errorcode": "keymanagement.service.access_token_expired"}}
        })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v2/tenant/{TENANT}/content")))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"exception": "Unavailable"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = css_client(&server);
    let data: &'static [u8] = b"x";
    let err = c
        .upload_content(data, &UploadOptions::new("a.txt"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth);
    // The next upload fetches a new token (2 token requests in all) and is sent once.
    let err = c
        .upload_content(data, &UploadOptions::new("a.txt"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Server);
}

#[tokio::test]
async fn upload_without_css_base_is_a_config_error() {
    let server = MockServer::start().await;
    let data: &'static [u8] = b"x";
    let err = client(&server)
        .upload_content(data, &UploadOptions::new("a.txt"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(ref m) if m.contains("css_base")));
}

#[tokio::test]
async fn downloads_stream_into_a_writer() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    Mock::given(method("GET"))
        .and(path("/v2/content/c-1/download"))
        .and(query_param("object-id", "inst-1"))
        .and(header("accept", "application/octet-stream"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/content/c-1/download"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(content.clone(), "application/octet-stream"),
        )
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/content/c-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "c-1", "fileName": "a.bin", "size": 200000
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = css_client(&server);
    let mut out = Vec::new();
    let n = c
        .download_content("c-1", &DownloadOptions::new().object_id("inst-1"), &mut out)
        .await
        .unwrap();
    assert_eq!(n, 200_000);
    assert_eq!(out, content);
    let mut again = Vec::new();
    let href = format!("{}/v2/content/c-1/download", server.uri());
    assert_eq!(c.download_href(&href, &mut again).await.unwrap(), 200_000);
    assert_eq!(again, content);
    assert_eq!(c.get_content("c-1").await.unwrap().size, Some(200_000));
    let err = c
        .download_href("https://elsewhere.example/x", &mut Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
}

#[tokio::test]
async fn share_links_use_the_configured_fields() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("POST"))
        .and(path("/v2/content/c-1/publicShareUrl"))
        .and(query_param("objectId", "inst-1"))
        .and(body_json(
            json!({"expiresAt": "2025-01-31T12:00:00Z", "password": "pw-1"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "link-1", "publicUrl": "https://share.example/l/abc"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/content/c-2/publicShareUrl"))
        .and(query_param_is_missing("objectId"))
        .and(body_json(json!({"expiry": 1_738_324_800_000_i64})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "urlId": "link-2", "link": {"href": "https://share.example/l/def"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let at = chrono::Utc.with_ymd_and_hms(2025, 1, 31, 12, 0, 0).unwrap();
    let link = css_client(&server)
        .create_share_link(
            "c-1",
            &ShareLinkRequest::expiring_at(at)
                .password(SecretString::from("pw-1"))
                .object_id("inst-1"),
        )
        .await
        .unwrap();
    assert_eq!(link.url.as_deref(), Some("https://share.example/l/abc"));
    assert_eq!(link.id.as_deref(), Some("link-1"));
    let custom = builder(&server)
        .css_base(&server.uri())
        .share_link_fields(ShareLinkFields::default().expiry("expiry", ExpiryFormat::EpochMillis))
        .build()
        .unwrap();
    let link = custom
        .create_share_link("c-2", &ShareLinkRequest::expiring_at(at))
        .await
        .unwrap();
    assert_eq!(link.url.as_deref(), Some("https://share.example/l/def"));
    assert_eq!(link.id.as_deref(), Some("link-2"));
}

/// A reader that yields `chunks` chunks of `size` bytes with `pause` before each, then ends; or,
/// with `stall`, stops yielding (pending forever) after the first chunk.
fn slow_reader(
    chunks: usize,
    size: usize,
    pause: std::time::Duration,
    stall: bool,
) -> impl tokio::io::AsyncRead + Send + 'static {
    let stream = futures::stream::unfold(0_usize, move |i| async move {
        if i >= chunks {
            return None;
        }
        if stall && i == 1 {
            futures::future::pending::<()>().await;
        }
        tokio::time::sleep(pause).await;
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; size])),
            i + 1,
        ))
    });
    tokio_util::io::StreamReader::new(stream)
}

#[tokio::test]
async fn an_upload_longer_than_the_request_timeout_completes_within_its_transfer_deadline() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(format!("/v2/tenant/{TENANT}/content")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"entries": [{"id": "c-9", "size": 40}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // The body takes about 2.4 s; the request timeout is 1 s. At 10 bytes/s the 40-byte
    // transfer may take 1 s + 5 s.
    let client = builder(&server)
        .css_base(&server.uri())
        .timeout(std::time::Duration::from_secs(1))
        .min_transfer_rate(10)
        .build()
        .unwrap();
    let blob = client
        .upload_content(
            slow_reader(4, 10, std::time::Duration::from_millis(600), false),
            &UploadOptions::new("slow.bin").length(40),
        )
        .await
        .unwrap();
    assert_eq!(blob.id, "c-9");
}

#[tokio::test]
async fn a_stalled_upload_ends_with_a_transient_error_at_its_transfer_deadline() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let client = builder(&server)
        .css_base(&server.uri())
        .timeout(std::time::Duration::from_secs(1))
        .min_transfer_rate(1_000_000)
        .build()
        .unwrap();
    // Deadline: 1 s + 1,000,000 B / 1,000,000 B/s + 1 s; the guard only keeps a broken build
    // from hanging the test run.
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        client.upload_content(
            slow_reader(100, 10_000, std::time::Duration::from_millis(10), true),
            &UploadOptions::new("stalled.bin").length(1_000_000),
        ),
    )
    .await
    .expect("the transfer deadline ends a stalled upload");
    let error = result.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
}

#[test]
fn a_zero_transfer_rate_is_a_config_error() {
    let server_uri = "http://127.0.0.1:9";
    let error = chatport_opentext::Client::builder()
        .tenant_id(TENANT)
        .auth_base(server_uri)
        .cms_base(server_uri)
        .client_credentials("id", SecretString::from("secret"))
        .min_transfer_rate(0)
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error}");
}
