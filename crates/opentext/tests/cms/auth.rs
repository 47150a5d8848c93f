use std::time::Duration;

use chatport_core::{Classify, ErrorClass};
use chatport_opentext::{Category, Client, Error, TokenEncoding};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn instance_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(fixture("instance_case.json"))
}

#[tokio::test]
async fn token_is_fetched_once_and_cached_for_two_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "client_id": "chatport-app",
            "client_secret": "client-secret-value",
            "grant_type": "client_credentials"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(instance_ok())
        .expect(2)
        .mount(&server)
        .await;

    let client = client(&server);
    let a = client
        .get_instance(Category::Object, "ca_case", CASE_ID)
        .await
        .unwrap();
    // A clone shares the cache.
    let b = client
        .clone()
        .get_instance(Category::Object, "ca_case", CASE_ID)
        .await
        .unwrap();
    assert_eq!(a.id, CASE_ID);
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_401_invalidates_refreshes_once_and_replays() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token_refreshed.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "fault": {"faultstring": "Access Token expired",
                      "detail": {"errorcode": "keymanagement.service.access_token_expired"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(instance_ok())
        .expect(1)
        .mount(&server)
        .await;

    let client = client(&server);
    let i = client
        .get_instance(Category::Object, "ca_case", CASE_ID)
        .await
        .unwrap();
    assert_eq!(i.name, "Damaged parcel");
}

#[tokio::test]
async fn a_401_on_create_is_replayed_once_too() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("POST"))
        .and(path("/cms/instances/object/ca_case"))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cms/instances/object/ca_case"))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture("instance_case.json")))
        .expect(1)
        .mount(&server)
        .await;
    let draft = chatport_opentext::InstanceDraft::new("Damaged parcel");
    let i = client(&server)
        .create_instance(Category::Object, "ca_case", &draft)
        .await
        .unwrap();
    assert_eq!(i.id, CASE_ID);
}

#[tokio::test]
async fn a_second_401_after_the_refresh_is_an_auth_error() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(ResponseTemplate::new(401).set_body_string("Unauthorized"))
        .expect(2)
        .mount(&server)
        .await;
    let err = client(&server)
        .get_instance(Category::Object, "ca_case", CASE_ID)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedBody { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Auth);
}

#[tokio::test]
async fn a_short_lived_token_is_refreshed_proactively() {
    let server = MockServer::start().await;
    // expires_in 30 s is inside the default 60 s skew: every request needs a fresh token.
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token_short.json")))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .and(header("authorization", "Bearer tok-short"))
        .respond_with(instance_ok())
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    for _ in 0..2 {
        client
            .get_instance(Category::Object, "ca_case", CASE_ID)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_same_short_token_is_kept_when_the_skew_allows() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token_short.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(instance_ok())
        .expect(2)
        .mount(&server)
        .await;
    let client = builder(&server)
        .token_refresh_skew(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..2 {
        client
            .get_instance(Category::Object, "ca_case", CASE_ID)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn concurrent_first_calls_share_one_token_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("token.json"))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(instance_ok())
        .expect(8)
        .mount(&server)
        .await;
    let client = client(&server);
    let calls = (0..8).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.get_instance(Category::Object, "ca_case", CASE_ID).await })
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().unwrap().id, CASE_ID);
    }
}

#[tokio::test]
async fn password_grant_sends_user_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_json(json!({
            "client_id": "chatport-app",
            "client_secret": "client-secret-value",
            "grant_type": "password",
            "username": "svc-chatport@example.com",
            "password": "user-password-value"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .password_grant(
            "chatport-app",
            SecretString::from("client-secret-value"),
            "svc-chatport@example.com",
            SecretString::from("user-password-value"),
        )
        .build()
        .unwrap();
    client.authenticate().await.unwrap();
    // Cached: a second probe does not fetch again (expect(1) above).
    client.authenticate().await.unwrap();
}

#[tokio::test]
async fn form_encoding_is_selectable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=chatport-app"))
        .and(body_string_contains("client_secret=client-secret-value"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .expect(1)
        .mount(&server)
        .await;
    builder(&server)
        .token_encoding(TokenEncoding::Form)
        .build()
        .unwrap()
        .authenticate()
        .await
        .unwrap();
}

#[tokio::test]
async fn token_endpoint_refusal_is_a_token_auth_error_and_no_cms_call_is_made() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(fixture("oauth_error.json")))
        .expect(1) // 400 is not retried
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let err = client(&server)
        .get_instance(Category::Object, "ca_case", CASE_ID)
        .await
        .unwrap_err();
    let Error::Token(inner) = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(
        inner.as_ref(),
        Error::Service { status: 400, exception: Some(e), message: Some(m), .. }
            if e == "invalid_client" && m == "Client authentication failed"
    ));
    assert_eq!(err.class(), ErrorClass::Auth);
    assert_eq!(err.status(), Some(400));
    assert!(!err.to_string().contains("client-secret-value"));
}

#[tokio::test]
async fn token_gateway_fault_is_classified_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("gateway_fault.json")))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).authenticate().await.unwrap_err();
    let Error::Token(inner) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(inner.as_ref(), Error::Gateway { status: 401, errorcode: Some(c), .. } if c == "oauth.v2.InvalidApiKey")
    );
    assert_eq!(err.class(), ErrorClass::Auth);
}

#[tokio::test]
async fn token_5xx_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    mount_token(&server, 1).await;
    client(&server).authenticate().await.unwrap();
}

#[tokio::test]
async fn token_success_body_that_is_not_a_token_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token_type": "bearer"})))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).authenticate().await.unwrap_err();
    let Error::Token(inner) = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(
        inner.as_ref(),
        Error::Decode {
            status: 200,
            what: "token",
            ..
        }
    ));
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn token_url_override_is_used() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .token_url(&format!("{}/oauth2/token", server.uri()))
        .build()
        .unwrap();
    client.authenticate().await.unwrap();
}

#[test]
fn builder_composes_the_token_url_and_validates() {
    let ok = || {
        Client::builder()
            .tenant_id("t-1")
            .auth_base("https://na-1-dev.api.opentext.com/")
            .cms_base("https://na-1-dev.api.opentext.com/cms")
            .client_credentials("app", SecretString::from("s"))
    };
    let c = ok().build().unwrap();
    assert_eq!(
        c.token_url().as_str(),
        "https://na-1-dev.api.opentext.com/tenants/t-1/oauth2/token"
    );
    assert_eq!(c.tenant_id(), "t-1");
    assert_eq!(c.css_base(), None);

    let config_err = |b: chatport_opentext::ClientBuilder| match b.build() {
        Err(Error::Config(msg)) => msg,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert!(config_err(ok().tenant_id("  ")).contains("tenant_id"));
    assert!(config_err(ok().cms_base("not a url")).contains("cms_base"));
    assert!(config_err(ok().css_base("ftp://css.example")).contains("css_base"));
    assert!(
        config_err(ok().client_credentials("app", SecretString::from("  ")))
            .contains("client_secret")
    );
    assert!(
        config_err(ok().client_credentials(" ", SecretString::from("s"))).contains("client_id")
    );
    assert!(
        config_err(ok().password_grant(
            "app",
            SecretString::from("s"),
            "u",
            SecretString::from("")
        ))
        .contains("password")
    );
    assert!(
        config_err(ok().password_grant(
            "app",
            SecretString::from("s"),
            "",
            SecretString::from("p")
        ))
        .contains("username")
    );
    assert!(config_err(ok().timeout(Duration::ZERO)).contains("timeout"));
    assert!(
        config_err(
            Client::builder()
                .tenant_id("t")
                .cms_base("https://h/cms")
                .client_credentials("app", SecretString::from("s"))
        )
        .contains("auth_base")
    );
    assert!(
        config_err(
            Client::builder()
                .tenant_id("t")
                .auth_base("https://h")
                .cms_base("https://h/cms")
        )
        .contains("credentials")
    );
}

#[test]
fn debug_output_has_no_secrets() {
    let c = Client::builder()
        .tenant_id("t-1")
        .auth_base("https://na-1-dev.api.opentext.com")
        .cms_base("https://na-1-dev.api.opentext.com/cms")
        .password_grant(
            "app",
            SecretString::from("very-secret-client"),
            "user",
            SecretString::from("very-secret-password"),
        );
    let builder_text = format!("{c:?}");
    let client_text = format!("{:?}", c.build().unwrap());
    for text in [builder_text, client_text] {
        assert!(text.contains("t-1"), "{text}");
        assert!(!text.contains("very-secret"), "{text}");
    }
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_by_the_policy_only_once_over() {
    let server = MockServer::start().await;
    // 3 attempts of the token request, not 3 × 3 through the GET's own retry.
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let err = client(&server)
        .get_instance(Category::Object, "ca_case", CASE_ID)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Token(inner) if inner.status() == Some(500)),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Server);
}
