use chatport_core::{Classify, ErrorClass};
use chatport_creatio::{Contact, Entity, Error, Query, TokenAuthMethod};
use futures::future::join_all;
use uuid::Uuid;
use wiremock::matchers::{body_json, body_string_contains, header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn contact_id() -> Uuid {
    Uuid::parse_str(CONTACT_ID).unwrap()
}

#[tokio::test]
async fn forms_login_posts_credentials_at_site_root_and_sends_session() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(LOGIN_PATH))
        .and(header("ForceUseSession", "true"))
        .and(body_json(
            serde_json::json!({"UserName": "Supervisor", "UserPassword": "pass-word-1"}),
        ))
        .respond_with(login_response("sess-1", &[("BPMCSRF", "csrf-1")]))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .and(header("BPMCSRF", "csrf-1"))
        .and(header("ForceUseSession", "true"))
        .and(header("Accept", "application/json"))
        .and(CookieHas(".ASPXAUTH=sess-1"))
        .and(CookieHas("BPMLOADER=loader-1"))
        .and(CookieHas("BPMCSRF=csrf-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
        .expect(2)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    for _ in 0..2 {
        let c: Contact = client
            .get(Contact::SET, contact_id(), &Query::new())
            .await
            .unwrap();
        assert_eq!(c.name.as_deref(), Some("Anna"));
    }
    assert_eq!(client.authentications(), 1);
}

#[tokio::test]
async fn csrf_token_is_echoed_under_each_issued_name() {
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
    );
    let cases: [Case; 4] = [
        (&[("BPMCSRF", "legacy-tok")], "BPMCSRF", "legacy-tok"),
        (&[("CRT_CSRF", "modern-tok")], "CRT_CSRF", "modern-tok"),
        (
            &[("BPMCSRF", "legacy-tok"), ("CRT_CSRF", "modern-tok")],
            "CRT_CSRF",
            "modern-tok",
        ),
        (&[("CsrfToken", "other-tok")], "CsrfToken", "other-tok"),
    ];
    for (cookies, header_name, value) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(LOGIN_PATH))
            .respond_with(login_response("sess-1", cookies))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(contact_path()))
            .and(header(header_name, value))
            .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
            .expect(1)
            .named(format!("OData with {header_name}"))
            .mount(&server)
            .await;
        let client = forms_builder(&server).build().unwrap();
        let r: Result<Contact, _> = client.get(Contact::SET, contact_id(), &Query::new()).await;
        assert!(r.is_ok(), "{header_name}: {r:?}");
    }
}

#[tokio::test]
async fn no_csrf_cookie_sends_no_csrf_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(LOGIN_PATH))
        .respond_with(login_response("sess-1", &[]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .and(NoHeader("BPMCSRF"))
        .and(NoHeader("CRT_CSRF"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let _: Contact = client
        .get(Contact::SET, contact_id(), &Query::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn login_refused_with_http_200_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(LOGIN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("login_failed.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
        .expect(0)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let err = client
        .get::<Contact>(Contact::SET, contact_id(), &Query::new())
        .await
        .unwrap_err();
    match &err {
        Error::LoginRefused { code, message } => {
            assert_eq!(*code, 1);
            assert_eq!(
                message.as_deref(),
                Some("Invalid username or password specified")
            );
        }
        other => panic!("expected LoginRefused, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Auth);
    assert!(!err.to_string().contains("pass-word-1"));
    assert_eq!(client.authentications(), 0);
    assert!(client.authenticate().await.is_err());
}

#[tokio::test]
async fn login_http_error_is_wrapped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(LOGIN_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_string("down"))
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let err = client.authenticate().await.unwrap_err();
    assert!(matches!(err, Error::Login(_)), "{err:?}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.class(), ErrorClass::Server);
}

/// The four expiry signals of `shared/api/creatio.md` §1.1 / §5.
fn expiry_responses() -> Vec<(&'static str, ResponseTemplate)> {
    vec![
        ("401", ResponseTemplate::new(401)),
        ("403", ResponseTemplate::new(403)),
        (
            "302 to login",
            ResponseTemplate::new(302)
                .insert_header("Location", "/Login/NuiLogin.aspx?ReturnUrl=%2f0%2fodata"),
        ),
        (
            "HTML page",
            ResponseTemplate::new(200).set_body_raw(
                "<html><body><form id=\"login\"></form></body></html>",
                "text/html; charset=utf-8",
            ),
        ),
    ]
}

/// Login #1 gives `sess-1`, every later login `sess-2`.
async fn mount_two_sessions(server: &MockServer, later_logins: u64) {
    Mock::given(method("POST"))
        .and(path(LOGIN_PATH))
        .respond_with(login_response("sess-1", &[("BPMCSRF", "csrf-1")]))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(LOGIN_PATH))
        .respond_with(login_response("sess-2", &[("BPMCSRF", "csrf-2")]))
        .with_priority(2)
        .expect(later_logins)
        .mount(server)
        .await;
}

#[tokio::test]
async fn each_expiry_signal_triggers_one_relogin_and_a_replay() {
    for (name, expired) in expiry_responses() {
        let server = MockServer::start().await;
        mount_two_sessions(&server, 1).await;
        Mock::given(method("GET"))
            .and(path(contact_path()))
            .and(CookieHas(".ASPXAUTH=sess-1"))
            .respond_with(expired)
            .expect(1)
            .named(format!("expired ({name})"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(contact_path()))
            .and(CookieHas(".ASPXAUTH=sess-2"))
            .and(header("BPMCSRF", "csrf-2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
            .expect(1)
            .named(format!("replay after {name}"))
            .mount(&server)
            .await;
        let client = forms_builder(&server).build().unwrap();
        let r = client
            .get::<Contact>(Contact::SET, contact_id(), &Query::new())
            .await;
        assert!(r.is_ok(), "{name}: {r:?}");
        assert_eq!(client.authentications(), 2, "{name}");
        server.verify().await;
    }
}

#[tokio::test]
async fn expiry_after_the_replay_is_returned() {
    for (name, expired) in expiry_responses() {
        let server = MockServer::start().await;
        mount_two_sessions(&server, 1).await;
        Mock::given(method("GET"))
            .and(path(contact_path()))
            .respond_with(expired)
            .expect(2)
            .mount(&server)
            .await;
        let client = forms_builder(&server).build().unwrap();
        let err = client
            .get::<Contact>(Contact::SET, contact_id(), &Query::new())
            .await
            .unwrap_err();
        match name {
            "401" => assert_eq!(err.class(), ErrorClass::Auth, "{err:?}"),
            "403" => assert_eq!(err.class(), ErrorClass::Permanent, "{err:?}"),
            _ => {
                assert!(
                    matches!(err, Error::SessionExpired { .. }),
                    "{name}: {err:?}"
                );
                assert_eq!(err.class(), ErrorClass::Auth);
            }
        }
        server.verify().await;
    }
}

#[tokio::test]
async fn ten_concurrent_expired_requests_share_one_relogin() {
    let server = MockServer::start().await;
    mount_two_sessions(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .and(CookieHas(".ASPXAUTH=sess-1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .and(CookieHas(".ASPXAUTH=sess-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
        .expect(10)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    client.authenticate().await.unwrap();
    assert_eq!(client.authentications(), 1);
    let results = join_all((0..10).map(|_| {
        let client = client.clone();
        async move {
            client
                .get::<Contact>(Contact::SET, contact_id(), &Query::new())
                .await
        }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(client.authentications(), 2, "exactly one re-login");
}

#[tokio::test]
async fn ten_concurrent_cold_requests_share_one_login() {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
        .expect(10)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let results = join_all((0..10).map(|_| {
        let client = client.clone();
        async move {
            client
                .get::<Contact>(Contact::SET, contact_id(), &Query::new())
                .await
        }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(client.authentications(), 1);
}

#[tokio::test]
async fn oauth_token_is_cached_and_sent_as_bearer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/is/connect/token"))
        .and(header("Content-Type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=chatport-app"))
        .and(body_string_contains("client_secret=client-secret-value"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .and(header("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.tok-1"))
        .and(NoHeader("BPMCSRF"))
        .and(NoHeader("ForceUseSession"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
        .expect(3)
        .mount(&server)
        .await;
    let client = oauth_builder(&server).build().unwrap();
    for _ in 0..3 {
        let _: Contact = client
            .get(Contact::SET, contact_id(), &Query::new())
            .await
            .unwrap();
    }
    assert_eq!(client.authentications(), 1);
}

#[tokio::test]
async fn oauth_401_refreshes_the_token_once_and_replays() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/is/connect/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/is/connect/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "tok-2", "expires_in": 3600})),
        )
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .and(header("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.tok-1"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .and(header("Authorization", "Bearer tok-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
        .expect(1)
        .mount(&server)
        .await;
    let client = oauth_builder(&server).build().unwrap();
    let _: Contact = client
        .get(Contact::SET, contact_id(), &Query::new())
        .await
        .unwrap();
    assert_eq!(client.authentications(), 2);
}

#[tokio::test]
async fn oauth_token_near_expiry_is_refreshed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/is/connect/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "short", "expires_in": 30})),
        )
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
        .expect(2)
        .mount(&server)
        .await;
    // 30 s lifetime with the default 60 s skew: every request needs a fresh token.
    let client = oauth_builder(&server).build().unwrap();
    for _ in 0..2 {
        let _: Contact = client
            .get(Contact::SET, contact_id(), &Query::new())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn oauth_falls_back_to_client_secret_basic() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/is/connect/token"))
        .and(header_exists("Authorization"))
        .and(header(
            "Authorization",
            "Basic Y2hhdHBvcnQtYXBwOmNsaWVudC1zZWNyZXQtdmFsdWU=",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/is/connect/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({"error": "invalid_client"})),
        )
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let client = oauth_builder(&server).build().unwrap();
    client.authenticate().await.unwrap();

    // With the method pinned to client_secret_post, the refusal is an auth error.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/is/connect/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({"error": "invalid_client"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = oauth_builder(&server)
        .token_auth_method(TokenAuthMethod::Post)
        .build()
        .unwrap();
    let err = client.authenticate().await.unwrap_err();
    assert!(matches!(err, Error::Token(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Auth);
}
