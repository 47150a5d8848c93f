use chatport_core::{Classify, ErrorClass};
use chatport_orangelogic::{AssetRef, Error, Query, SearchRequest};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn request() -> SearchRequest {
    SearchRequest::new(Query::term("Keyword", "spring"))
}

#[tokio::test]
async fn legacy_envelope_error_with_http_200_is_an_error_and_not_retried() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ok("envelope_error.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .search_page(&request(), 1)
        .await
        .unwrap_err();
    match &err {
        Error::Api {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(*status, 200);
            assert_eq!(code, "INVALID_QUERY");
            assert!(message.as_deref().unwrap().contains("Unexpected token"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!err.to_string().contains("Unexpected token"));
}

#[tokio::test]
async fn datatable_error_list_with_http_200_is_an_error() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/API/DataTable/v2.2/Documents.All:Read"))
        .respond_with(ok("datatable_error.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .read_asset(&AssetRef::Identifier("NOPE".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("RECORD_NOT_FOUND"));
    assert_eq!(err.status(), Some(200));
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn not_accepting_api_calls_503_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(503).set_body_string("Server not accepting API calls"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ok("search_page3.json"))
        .expect(1)
        .mount(&server)
        .await;
    let page = client(&server).search_page(&request(), 1).await.unwrap();
    assert_eq!(page.total_count, Some(5));
}

#[tokio::test]
async fn a_persistent_503_is_throttled_with_retry_after() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "0"))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server)
        .search_page(&request(), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedBody { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.class(),
        ErrorClass::Throttled {
            retry_after: Some(std::time::Duration::ZERO)
        }
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn status_errors_are_typed() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(403).set_body_string("<html>URL too long</html>"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/API/DataTable/v2.2/Documents.All:Read"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "APIResponse": {"Code": "NOT_FOUND", "Message": "asset not found"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.search_page(&request(), 1).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.class(), ErrorClass::Permanent);
    let err = client
        .read_asset(&AssetRef::RecordId("X".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 404, code: Some(ref c), .. } if c == "NOT_FOUND"));
}

#[tokio::test]
async fn a_non_json_success_body_is_reported() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(200).set_body_string("<APIResponse/>"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .search_page(&request(), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnexpectedBody { status: 200, .. }));
}
