use chatport_creatio::{Error, Upload};
use uuid::Uuid;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn upload_sends_chunks_with_content_range() {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    let case_id = Uuid::parse_str(CASE_ID).unwrap();
    let file_id = Uuid::parse_str("11111111-2222-4333-8444-555555555555").unwrap();
    Mock::given(method("POST"))
        .and(path("/0/rest/FileApiService/UploadFile"))
        .and(query_param("fileId", file_id.to_string()))
        .and(query_param("totalFileLength", "1300"))
        .and(query_param("mimeType", "image/jpeg"))
        .and(query_param("fileName", "photo 1.jpg"))
        .and(query_param("columnName", "Data"))
        .and(query_param("entitySchemaName", "CaseFile"))
        .and(query_param("parentColumnName", "Case"))
        .and(query_param("parentColumnValue", CASE_ID))
        .and(header("Content-Type", "image/jpeg"))
        .and(header("BPMCSRF", "csrf-1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"success": true})),
        )
        .expect(3)
        .mount(&server)
        .await;
    let client = forms_builder(&server)
        .upload_chunk_size(512)
        .build()
        .unwrap();
    let data = payload(1300);
    let upload = Upload::case_file(case_id, "photo 1.jpg", "image/jpeg", 1300).file_id(file_id);
    let id = client.upload_file(&upload, &data[..]).await.unwrap();
    assert_eq!(id, file_id);

    let requests = server.received_requests().await.unwrap();
    let chunks: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path().ends_with("UploadFile"))
        .collect();
    let ranges: Vec<_> = chunks
        .iter()
        .map(|r| {
            r.headers
                .get("Content-Range")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        ranges,
        [
            "bytes 0-511/1300",
            "bytes 512-1023/1300",
            "bytes 1024-1299/1300"
        ]
    );
    let joined: Vec<u8> = chunks.iter().flat_map(|r| r.body.clone()).collect();
    assert_eq!(joined, data);
    assert!(
        chunks[0]
            .headers
            .get("Content-Disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=")
    );
}

#[tokio::test]
async fn upload_on_net_core_has_no_app_prefix_and_single_chunk() {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    Mock::given(method("POST"))
        .and(path("/rest/FileApiService/UploadFile"))
        .and(header("Content-Range", "bytes 0-9/10"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server)
        .platform(chatport_creatio::Platform::NetCore)
        .build()
        .unwrap();
    let upload = Upload::case_file(Uuid::nil(), "a.txt", "text/plain", 10);
    client.upload_file(&upload, &payload(10)[..]).await.unwrap();
}

#[tokio::test]
async fn upload_source_of_the_wrong_length_is_an_io_error() {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    Mock::given(method("POST"))
        .and(path("/0/rest/FileApiService/UploadFile"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let client = forms_builder(&server).upload_chunk_size(4).build().unwrap();
    let short = Upload::case_file(Uuid::nil(), "a", "text/plain", 10);
    let err = client
        .upload_file(&short, &payload(6)[..])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Io(ref e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
        "{err:?}"
    );
    let long = Upload::case_file(Uuid::nil(), "a", "text/plain", 4);
    let err = client
        .upload_file(&long, &payload(6)[..])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let empty = Upload::case_file(Uuid::nil(), "a", "text/plain", 0);
    assert!(matches!(
        client.upload_file(&empty, &b""[..]).await,
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn upload_answer_with_success_false_is_an_error() {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    Mock::given(method("POST"))
        .and(path("/0/rest/FileApiService/UploadFile"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": false,
            "errorInfo": {"errorCode": "FileSizeLimitExceeded", "message": "too big"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let upload = Upload::case_file(Uuid::nil(), "a", "text/plain", 3);
    let err = client.upload_file(&upload, &b"abc"[..]).await.unwrap_err();
    assert!(
        matches!(err, Error::OData { status: 200, code: Some(ref c), .. } if c == "FileSizeLimitExceeded"),
        "{err:?}"
    );
}
