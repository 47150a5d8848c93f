use std::time::Duration;

use chatport_core::{Classify, ErrorClass};
use chatport_opentext::{Category, Error, InstanceDraft, RetryPolicy};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

async fn get_case(server: &MockServer) -> Result<chatport_opentext::Instance, Error> {
    client(server)
        .get_instance(Category::Object, "ca_case", CASE_ID)
        .await
}

#[tokio::test]
async fn get_429_with_retry_after_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_string("Too Many Requests"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("instance_case.json")))
        .expect(1)
        .mount(&server)
        .await;
    let i = get_case(&server).await.unwrap();
    assert_eq!(i.id, CASE_ID);
}

#[tokio::test]
async fn get_429_with_a_long_retry_after_is_returned_with_the_hint() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .expect(1) // longer than the in-client cap: handed to the outbox at once
        .mount(&server)
        .await;
    let err = get_case(&server).await.unwrap_err();
    assert_eq!(
        err.class(),
        ErrorClass::Throttled {
            retry_after: Some(Duration::from_secs(120))
        }
    );
}

#[tokio::test]
async fn get_5xx_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("instance_case.json")))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(get_case(&server).await.unwrap().id, CASE_ID);
}

#[tokio::test]
async fn get_5xx_gives_up_after_the_policy_attempts() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    let err = get_case(&server).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Server);
}

#[tokio::test]
async fn post_create_500_is_not_retried() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/cms/instances/object/ca_case"))
        .respond_with(ResponseTemplate::new(500).set_body_string("Internal Server Error"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .create_instance(Category::Object, "ca_case", &InstanceDraft::new("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedBody { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Server);
    assert!(!err.is_ambiguous());
}

#[tokio::test]
async fn post_create_timeout_is_not_retried_and_is_ambiguous() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/cms/instances/object/ca_case"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(fixture("instance_case.json"))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .create_instance(Category::Object, "ca_case", &InstanceDraft::new("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(err.is_ambiguous());
    assert_eq!(err.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn gateway_fault_body_is_typed() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(ResponseTemplate::new(403).set_body_json(fixture("gateway_fault.json")))
        .expect(1)
        .mount(&server)
        .await;
    let err = get_case(&server).await.unwrap_err();
    match &err {
        Error::Gateway {
            status,
            faultstring,
            errorcode,
            ..
        } => {
            assert_eq!(*status, 403);
            assert_eq!(faultstring, "Invalid ApiKey");
            assert_eq!(errorcode.as_deref(), Some("oauth.v2.InvalidApiKey"));
        }
        other => panic!("expected a gateway error, got {other:?}"),
    }
    // The gateway code says the key was refused: an auth problem whatever the status.
    assert_eq!(err.class(), ErrorClass::Auth);
}

#[tokio::test]
async fn service_exception_body_is_typed() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_case"))
        .respond_with(ResponseTemplate::new(400).set_body_json(fixture("service_exception.json")))
        .expect(1) // a 400 is never retried
        .mount(&server)
        .await;
    let err = client(&server)
        .find_by_property(Category::Object, "ca_case", "ext_reff", "k")
        .await
        .unwrap_err();
    match &err {
        Error::Service {
            status,
            exception,
            message,
            details,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(exception.as_deref(), Some("InvalidFilterException"));
            assert!(message.as_deref().unwrap().contains("ext_reff"));
            assert!(details.as_ref().unwrap().is_array());
        }
        other => panic!("expected a service error, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("InvalidFilterException"));
}

#[tokio::test]
async fn non_json_error_body_is_kept_as_a_snippet() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body>Not Found</body></html>"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = get_case(&server).await.unwrap_err();
    match &err {
        Error::UnexpectedBody {
            status, snippet, ..
        } => {
            assert_eq!(*status, 404);
            assert_eq!(snippet, "<html><body>Not Found</body></html>");
        }
        other => panic!("expected an unexpected-body error, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn success_with_a_body_that_is_not_an_instance_is_a_decode_error() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .expect(1)
        .mount(&server)
        .await;
    let err = get_case(&server).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                status: 200,
                what: "instance",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn connection_refused_is_transient_and_not_sent() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let client = chatport_opentext::Client::builder()
        .tenant_id(TENANT)
        .auth_base(&base)
        .cms_base(&format!("{base}/cms"))
        .client_credentials("app", secrecy::SecretString::from("s"))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = client.authenticate().await.unwrap_err();
    let Error::Token(inner) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(inner.as_ref(), Error::Transport { sent: false, .. }),
        "{inner:?}"
    );
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(!err.is_ambiguous());
}
