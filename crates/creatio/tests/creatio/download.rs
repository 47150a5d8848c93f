//! `GET {odata}/CaseFile({id})/Data`: the OData stream of a file record, streamed.

use uuid::Uuid;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

const FILE_ID: &str = "11111111-2222-4333-8444-555555555555";

#[tokio::test]
async fn case_file_data_streams_with_type_length_and_name() {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    Mock::given(method("GET"))
        .and(path(format!("/0/odata/CaseFile({FILE_ID})/Data")))
        .and(header("BPMCSRF", "csrf-1"))
        .and(header("accept", "*/*"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(data.clone(), "application/pdf")
                .append_header(
                    "Content-Disposition",
                    "attachment; filename=\"contract.pdf\"",
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let download = client
        .download_case_file(Uuid::parse_str(FILE_ID).unwrap())
        .await
        .unwrap();
    assert_eq!(download.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(download.length, Some(70_000));
    assert_eq!(download.file_name.as_deref(), Some("contract.pdf"));
    let mut out = Vec::new();
    assert_eq!(download.write_to(&mut out).await.unwrap(), 70_000);
    assert_eq!(out, data);
}

#[tokio::test]
async fn a_failed_download_is_retried_until_the_headers_arrive_and_a_404_is_not_found() {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    let other = "22222222-2222-4333-8444-555555555555";
    Mock::given(method("GET"))
        .and(path(format!("/odata/CaseFile({FILE_ID})/Data")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/odata/CaseFile({FILE_ID})/Data")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"abc".to_vec(), "text/plain"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/odata/CaseFile({other})/Data")))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "error": {"code": "", "message": "The key value was not found"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server)
        .platform(chatport_creatio::Platform::NetCore)
        .build()
        .unwrap();
    let spooled = client
        .download_file("CaseFile", Uuid::parse_str(FILE_ID).unwrap())
        .await
        .unwrap()
        .spool()
        .await
        .unwrap();
    assert_eq!(spooled.length, 3);
    assert_eq!(spooled.content_type.as_deref(), Some("text/plain"));
    assert_eq!(std::fs::read(spooled.path()).unwrap(), b"abc");
    let err = client
        .download_case_file(Uuid::parse_str(other).unwrap())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(
        client
            .download_file("Case File", Uuid::parse_str(FILE_ID).unwrap())
            .await
            .is_err()
    );
}
