use chatport_core::{Classify, ErrorClass};
use chatport_orangelogic::{AssetRef, Client, Error, Query, SearchRequest};
use secrecy::SecretString;
use wiremock::matchers::{body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn one_page() -> SearchRequest {
    SearchRequest::new(Query::term("Keyword", "spring")).page_size(10)
}

#[tokio::test]
async fn client_credentials_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CC_PATH))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(
            "grant_type=client_credentials&client_id=chatport-app&client_secret=client-secret-value",
        ))
        .respond_with(ok("token.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", "Bearer tok-1"))
        .and(query_param("format", "json"))
        .respond_with(ok("search_page3.json"))
        .expect(3)
        .mount(&server)
        .await;

    let client = client(&server);
    for c in [client.clone(), client.clone(), client.clone()] {
        let page = c.search_page(&one_page(), 1).await.unwrap();
        assert_eq!(page.items.len(), 1);
    }
    assert_eq!(client.token_requests().await, 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CC_PATH))
        .respond_with(ok("token.json").set_delay(std::time::Duration::from_millis(50)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ok("search_page3.json"))
        .expect(8)
        .mount(&server)
        .await;
    let client = client(&server);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.search_page(&one_page(), 1).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_replays() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CC_PATH))
        .respond_with(ok("token.json"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(CC_PATH))
        .respond_with(ok("token_refreshed.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(ok("search_page3.json"))
        .expect(1)
        .mount(&server)
        .await;
    let page = client(&server).search_page(&one_page(), 1).await.unwrap();
    assert_eq!(page.items[0].system_identifier().as_deref(), Some("CTL5"));
}

#[tokio::test]
async fn a_second_401_is_an_auth_error() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let err = client(&server)
        .search_page(&one_page(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Auth);
}

#[tokio::test]
async fn an_auth_failure_inside_an_http_200_envelope_also_refreshes() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ok("envelope_not_authenticated.json"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .respond_with(ok("search_page3.json"))
        .expect(1)
        .mount(&server)
        .await;
    let page = client(&server).search_page(&one_page(), 1).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

#[tokio::test]
async fn static_bearer_token_is_never_fetched_nor_refreshed() {
    let server = MockServer::start().await;
    mount_token(&server, 0).await;
    Mock::given(method("GET"))
        .and(path("/API/DataTable/v2.2/Documents.All:Read"))
        .and(header("authorization", "Bearer static-non-expiring"))
        .and(query_param("CoreField.Identifier", "CTL1"))
        .respond_with(ok("datatable_read.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/API/DataTable/v2.2/Documents.All:Read"))
        .and(query_param("CoreField.Identifier", "CTL2"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(&server.uri())
        .bearer_token(SecretString::from("static-non-expiring"))
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    client.authenticate().await.unwrap();
    let record = client
        .read_asset(&AssetRef::Identifier("CTL1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.record_id().as_deref(), Some("2RBKT7U02J51"));
    let err = client
        .read_asset(&AssetRef::Identifier("CTL2".into()))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth);
    assert_eq!(client.token_requests().await, 0);
}

#[tokio::test]
async fn user_login_defaults_to_v2_and_the_token_goes_in_the_token_parameter() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/Authentication/v2.0/Login"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(
            "Login=robot%40example.com&Password=pw%26more&format=json",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "APIRequestInfo": {"Module": "Authentication", "APIVersion": "v2.0",
                               "IsLoggedIn": true, "TimeoutPeriodMinutes": 20},
            "APIResponse": {"Code": "SUCCESS", "Token": "lt-1",
                            "Login": "robot@example.com"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("token", "lt-1"))
        .respond_with(ok("search_page3.json"))
        .expect(2)
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(&server.uri())
        .user_login("robot@example.com", SecretString::from("pw&more"))
        .build()
        .unwrap();
    client.search_page(&one_page(), 1).await.unwrap();
    client.search_page(&one_page(), 1).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let search = requests.iter().find(|r| r.url.path() == SEARCH).unwrap();
    assert!(search.headers.get("authorization").is_none());
    assert!(!requests.iter().any(|r| r.url.path().contains("v1.0/Login")));
}

#[tokio::test]
async fn user_login_v1_stays_selectable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/API/Authentication/v1.0/Login"))
        .and(body_string(
            "Login=robot%40example.com&Password=pw%26more&format=json",
        ))
        .respond_with(ResponseTemplate::new(202).set_body_json(fixture("login.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("token", "lt-1"))
        .respond_with(ok("search_page3.json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(&server.uri())
        .user_login("robot@example.com", SecretString::from("pw&more"))
        .login_path(chatport_orangelogic::LOGIN_PATH_V1)
        .build()
        .unwrap();
    client.search_page(&one_page(), 1).await.unwrap();
}

#[tokio::test]
async fn refused_credentials_are_an_auth_error_without_leaking_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CC_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_client", "error_description": "bad secret"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.authenticate().await.unwrap_err();
    assert!(matches!(err, Error::Token(_)));
    assert_eq!(err.class(), ErrorClass::Auth);
    assert_eq!(err.code(), Some("invalid_client"));
    let shown = format!("{err} {err:?} {client:?}");
    assert!(!shown.contains("client-secret-value"));
}

#[tokio::test]
async fn builder_validates() {
    assert!(matches!(Client::builder().build(), Err(Error::Config(_))));
    assert!(matches!(
        Client::builder()
            .base_url("ftp://x")
            .bearer_token(SecretString::from("t"))
            .build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Client::builder().base_url("https://dam.example").build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Client::builder()
            .base_url("https://dam.example")
            .client_credentials(" ", SecretString::from("s"))
            .build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Client::builder()
            .base_url("https://dam.example")
            .bearer_token(SecretString::from("t"))
            .search_path("API/Search")
            .build(),
        Err(Error::Config(_))
    ));
}
