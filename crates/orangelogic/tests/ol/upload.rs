use chatport_core::{Classify, ErrorClass};
use chatport_orangelogic::{
    CHUNK_ALIGNMENT, ChunkedEndpoints, Error, UploadConfig, UploadPath, UploadRequest,
};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

const TX: &str = "/webapi/test/createtransaction";
const REGISTER: &str = "/webapi/test/register";
const COMPLETE: &str = "/webapi/test/complete";

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn small_files_use_upload_new_media_streamed_multipart() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/API/UploadMedia/v3.0/UploadNewMedia"))
        .and(query_param("FolderRecordID", "FLD1"))
        .and(query_param("FileName", "shot 1.jpg"))
        .and(query_param("UploadMode", "ProcessFullyInBackground"))
        .and(query_param("format", "json"))
        .respond_with(ok("upload_new_media.json"))
        .expect(1)
        .mount(&server)
        .await;
    let bytes = content(5000);
    let request =
        UploadRequest::new("FLD1", "shot 1.jpg", bytes.len() as u64).content_type("image/jpeg");
    let outcome = client(&server)
        .upload(&request, std::io::Cursor::new(bytes.clone()))
        .await
        .unwrap();
    assert_eq!(outcome.identifier.as_deref(), Some("CTL77"));
    assert_eq!(outcome.record_id.as_deref(), Some("2RBKT7U02J77"));
    assert_eq!(outcome.path, UploadPath::Single);

    let received = server.received_requests().await.unwrap();
    let upload = received
        .iter()
        .find(|r| r.url.path().contains("UploadNewMedia"))
        .unwrap();
    let ct = upload
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="));
    let body = &upload.body;
    assert!(contains(
        body,
        b"name=\"InputStream\"; filename=\"shot 1.jpg\""
    ));
    assert!(contains(body, b"Content-Type: image/jpeg"));
    assert!(contains(body, &bytes));
}

#[tokio::test]
async fn a_short_reader_fails_the_single_upload() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/API/UploadMedia/v3.0/UploadNewMedia"))
        .respond_with(ok("upload_new_media.json"))
        .mount(&server)
        .await;
    let request = UploadRequest::new("FLD1", "a.bin", 100);
    let err = client(&server)
        .upload(&request, std::io::Cursor::new(vec![1u8; 40]))
        .await
        .unwrap_err();
    assert!(
        err.is_ambiguous() || matches!(err, Error::Transport { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_register_uploader_field_is_configurable() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    mount_chunked(&server).await;
    let bytes = content(300_000);
    let client = builder(&server)
        .upload_config(chunked_config(200_000).register_uploader("uploader", "chatport"))
        .build()
        .unwrap();
    client
        .upload(
            &UploadRequest::new("FLD1", "big.mov", bytes.len() as u64),
            std::io::Cursor::new(bytes),
        )
        .await
        .unwrap();
    let received = server.received_requests().await.unwrap();
    let body = &received
        .iter()
        .find(|r| r.url.path() == REGISTER)
        .unwrap()
        .body;
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body).into_owned().collect();
    assert_eq!(form["uploader"], "chatport");
    assert!(!form.contains_key("uploaderName"));
}

fn chunked_config(threshold: u64) -> UploadConfig {
    UploadConfig::default()
        .chunked_threshold(threshold)
        .chunk_size(CHUNK_ALIGNMENT)
        .chunked_endpoints(ChunkedEndpoints::new(TX, REGISTER, COMPLETE))
}

async fn mount_chunked(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(TX))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"transactionID": "TX-1"})))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(REGISTER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uploadItems": [{"status": "Registered", "startposition": 0, "uploadItemID": "UI-1",
                "identifier": "CTL500", "dO_recordID": "REC500",
                "requestedFileName": "big.mov", "requestedFileSize": 300000}]
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/webapi/mediafile/import/upload/item/26_v1/UI-1$",
        ))
        .respond_with(ResponseTemplate::new(200))
        .expect(3)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(COMPLETE))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"identifier": "CTL500"})))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn large_files_use_the_chunked_upload_with_aligned_ordered_chunks() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    mount_chunked(&server).await;
    let bytes = content(300_000);
    let client = builder(&server)
        .upload_config(chunked_config(200_000))
        .build()
        .unwrap();
    let request = UploadRequest::new("FLD1", "big.mov", bytes.len() as u64);
    let outcome = client
        .upload(&request, std::io::Cursor::new(bytes.clone()))
        .await
        .unwrap();
    assert_eq!(outcome.path, UploadPath::Chunked { chunks: 3 });
    assert_eq!(outcome.identifier.as_deref(), Some("CTL500"));
    assert_eq!(outcome.record_id.as_deref(), Some("REC500"));

    let received = server.received_requests().await.unwrap();
    let order: Vec<&str> = received
        .iter()
        .map(|r| r.url.path())
        .filter(|p| !p.contains("authenticate"))
        .collect();
    assert_eq!(order[0], TX);
    assert_eq!(order[1], REGISTER);
    assert!(order[2..5].iter().all(|p| p.ends_with("/26_v1/UI-1")));
    assert_eq!(order[5], COMPLETE);

    let tx_body = String::from_utf8(
        received
            .iter()
            .find(|r| r.url.path() == TX)
            .unwrap()
            .body
            .clone(),
    )
    .unwrap();
    assert!(tx_body.contains("folderRecordID=FLD1"));
    // Register: a form whose `files` field is a JSON-serialised array, plus the uploader name.
    let register_request = received.iter().find(|r| r.url.path() == REGISTER).unwrap();
    assert_eq!(
        register_request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-www-form-urlencoded")
    );
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&register_request.body)
            .into_owned()
            .collect();
    assert_eq!(form["transactionID"], "TX-1");
    assert_eq!(form["uploaderName"], "Cortex Uploader");
    let files: serde_json::Value = serde_json::from_str(&form["files"]).unwrap();
    assert_eq!(files, json!([{"fileName": "big.mov", "fileSize": 300_000}]));
    let complete = String::from_utf8(
        received
            .iter()
            .find(|r| r.url.path() == COMPLETE)
            .unwrap()
            .body
            .clone(),
    )
    .unwrap();
    assert!(complete.contains("transactionID=TX-1") && complete.contains("uploadItemID=UI-1"));

    let chunks: Vec<_> = received
        .iter()
        .filter(|r| r.url.path().contains("26_v1"))
        .collect();
    let expected = [(0u64, 131_071u64), (131_072, 262_143), (262_144, 299_999)];
    for (chunk, (start, end)) in chunks.iter().zip(expected) {
        let q: std::collections::HashMap<_, _> = chunk.url.query_pairs().into_owned().collect();
        assert_eq!(q["start"], start.to_string());
        assert_eq!(q["end"], end.to_string());
        assert_eq!(q["totalLength"], "300000");
        assert_eq!(start % CHUNK_ALIGNMENT, 0);
        assert!((end + 1) % CHUNK_ALIGNMENT == 0 || end == 299_999);
        let slice = &bytes[start as usize..=end as usize];
        assert!(
            contains(&chunk.body, slice),
            "chunk {start}-{end} carries its bytes"
        );
        assert!(contains(&chunk.body, b"name=\"data\""));
        // Exactly this slice: the body is the slice plus multipart framing only.
        assert!(chunk.body.len() < slice.len() + 400);
    }
}

#[tokio::test]
async fn chunked_upload_needs_its_endpoints_configured() {
    let server = MockServer::start().await;
    let client = builder(&server)
        .upload_config(UploadConfig::default().chunked_threshold(10))
        .build()
        .unwrap();
    let err = client
        .upload(
            &UploadRequest::new("FLD1", "a.bin", 20),
            std::io::Cursor::new(vec![0u8; 20]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConfigured(_)));
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_short_reader_fails_the_chunked_upload_before_complete() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(TX))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"transactionID": "TX-1"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(REGISTER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"uploadItemID": "UI-1"}])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("26_v1"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(COMPLETE))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let client = builder(&server)
        .upload_config(chunked_config(10))
        .build()
        .unwrap();
    let err = client
        .upload(
            &UploadRequest::new("FLD1", "a.bin", 200_000),
            std::io::Cursor::new(content(150_000)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput(ref m) if m.contains("150000 of 200000")),
        "{err:?}"
    );
}

#[tokio::test]
async fn chunk_size_must_be_aligned() {
    let server = MockServer::start().await;
    let err = builder(&server)
        .upload_config(UploadConfig::default().chunk_size(100_000))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
}

#[tokio::test]
async fn an_upload_longer_than_the_request_timeout_completes_within_its_transfer_deadline() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/API/UploadMedia/v3.0/UploadNewMedia"))
        .respond_with(ok("upload_new_media.json"))
        .expect(1)
        .mount(&server)
        .await;
    // About 2.4 s of body against a 1 s request timeout; at 10 bytes/s the 40 bytes may take
    // 1 s + 5 s.
    let stream = futures::stream::unfold(0_usize, |i| async move {
        if i == 4 {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"0123456789")),
            i + 1,
        ))
    });
    let reader = tokio_util::io::StreamReader::new(Box::pin(stream));
    let outcome = builder(&server)
        .timeout(std::time::Duration::from_secs(1))
        .min_transfer_rate(10)
        .build()
        .unwrap()
        .upload(&UploadRequest::new("FLD1", "slow.jpg", 40), reader)
        .await
        .unwrap();
    assert_eq!(outcome.path, UploadPath::Single);
}

async fn mount_chunked_completing_with(server: &MockServer, complete: serde_json::Value) {
    Mock::given(method("POST"))
        .and(path(TX))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"transactionID": "TX-2"})))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(REGISTER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uploadItems": [{"status": "Registered", "startposition": 0, "uploadItemID": "UI-2",
                "identifier": "CTL600", "dO_recordID": "REC600"}]
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/webapi/mediafile/import/upload/item/26_v1/UI-2$",
        ))
        .respond_with(ResponseTemplate::new(200))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(COMPLETE))
        .respond_with(ResponseTemplate::new(200).set_body_json(complete))
        .mount(server)
        .await;
}

#[tokio::test]
async fn complete_answering_already_exists_names_the_existing_asset() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    mount_chunked_completing_with(
        &server,
        json!({"uploadStatus": "AlreadyExists", "duplicateRecordID": "REC42", "assetVersion": "3"}),
    )
    .await;
    let bytes = content(150_000);
    let client = builder(&server)
        .upload_config(chunked_config(100_000))
        .build()
        .unwrap();
    let request = UploadRequest::new("FLD1", "big.mov", bytes.len() as u64);
    let outcome = client
        .upload(&request, std::io::Cursor::new(bytes))
        .await
        .unwrap();
    assert!(outcome.already_existed);
    assert_eq!(
        outcome.record_id.as_deref(),
        Some("REC42"),
        "the existing asset, not the registered one"
    );
    assert_eq!(outcome.asset_version.as_deref(), Some("3"));
    let tx = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == TX)
        .unwrap();
    let tx = String::from_utf8(tx.body).unwrap();
    assert!(
        tx.contains("keepFolderStructure=true") && tx.contains("clientUploader=CortexTools"),
        "the documented defaults of Create upload transaction: {tx}"
    );
}

#[tokio::test]
async fn complete_answering_incomplete_is_a_transient_error_not_a_success() {
    use chatport_core::{Classify, ErrorClass};
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    mount_chunked_completing_with(&server, json!({"uploadStatus": "Incomplete"})).await;
    let bytes = content(150_000);
    let client = builder(&server)
        .upload_config(chunked_config(100_000))
        .build()
        .unwrap();
    let request = UploadRequest::new("FLD1", "big.mov", bytes.len() as u64);
    let err = client
        .upload(&request, std::io::Cursor::new(bytes))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("Incomplete"), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
}
