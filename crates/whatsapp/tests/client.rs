//! The client against a wiremock Graph API on loopback.
// Test helpers outside #[test] functions unwrap too (clippy.toml allows it only inside them).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chatport_core::{Classify, ErrorClass};
use chatport_testkit::prometheus::value as series;
use chatport_whatsapp::{
    Client, Error, ErrorKind, OutgoingMessage, Recipient, Template, TemplateCategory,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PHONE_NUMBER_ID: &str = "106540352242922";
const MESSAGES_PATH: &str = "/v26.0/106540352242922/messages";
const TOKEN: &str = "EAAJB-test-token";

fn client(server: &MockServer) -> Client {
    Client::builder()
        .access_token(SecretString::from(TOKEN))
        .base_url(&server.uri())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn graph_error(code: i64, message: &str, details: &str) -> Value {
    json!({"error": {
        "message": format!("(#{code}) {message}"),
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"
    }})
}

fn accepted(wamid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": wamid}]
    }))
}

fn hello() -> OutgoingMessage {
    OutgoingMessage::text(Recipient::phone("+16505551234"), "Hello from chatport")
}

/// Answers every request on `path` with `response`.
async fn answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

async fn send_error(response: ResponseTemplate) -> Error {
    let server = answering(response).await;
    client(&server)
        .send(PHONE_NUMBER_ID, &hello())
        .await
        .unwrap_err()
}

async fn only_request_body(server: &MockServer) -> Value {
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    serde_json::from_slice(&requests[0].body).unwrap()
}

#[tokio::test]
async fn text_send_posts_the_exact_envelope_with_the_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(accepted("wamid.OUT1"))
        .expect(1)
        .mount(&server)
        .await;

    let message = hello()
        .preview_url(false)
        .reply_to("wamid.IN1")
        .biz_opaque_callback_data("case-C-1042");
    let answer = client(&server)
        .send(PHONE_NUMBER_ID, &message)
        .await
        .unwrap();
    assert_eq!(answer.wamid(), Some("wamid.OUT1"));
    assert_eq!(answer.messaging_product.as_deref(), Some("whatsapp"));
    assert_eq!(answer.contacts[0].wa_id.as_deref(), Some("16505551234"));

    assert_eq!(
        only_request_body(&server).await,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "+16505551234",
            "type": "text",
            "text": {"body": "Hello from chatport", "preview_url": false},
            "context": {"message_id": "wamid.IN1"},
            "biz_opaque_callback_data": "case-C-1042"
        })
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests[0].headers.get("authorization").unwrap(),
        &format!("Bearer {TOKEN}")
    );
}

#[tokio::test]
async fn template_send() {
    let server = answering(accepted("wamid.TPL")).await;
    let message = OutgoingMessage::template(
        Recipient::phone("16505551234"),
        Template::new("case_update", "en_US").body_parameters(vec!["C-1042".into(), "Anna".into()]),
    );
    let answer = client(&server)
        .send(PHONE_NUMBER_ID, &message)
        .await
        .unwrap();
    assert_eq!(answer.wamid(), Some("wamid.TPL"));
    assert_eq!(
        only_request_body(&server).await,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "template",
            "template": {
                "name": "case_update",
                "language": {"code": "en_US"},
                "components": [{"type": "body", "parameters": [
                    {"type": "text", "text": "C-1042"},
                    {"type": "text", "text": "Anna"}
                ]}]
            }
        })
    );
}

#[tokio::test]
async fn business_scoped_user_id_goes_in_recipient() {
    let server = answering(accepted("wamid.BSUID")).await;
    let message = OutgoingMessage::text(Recipient::user_id("US.13491208655302741918"), "Hi");
    client(&server)
        .send(PHONE_NUMBER_ID, &message)
        .await
        .unwrap();
    let body = only_request_body(&server).await;
    assert_eq!(body["recipient"], "US.13491208655302741918");
    assert!(body.get("to").is_none());
}

#[tokio::test]
async fn base_url_path_prefix_and_api_version_are_used() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graph/v26.0/106540352242922/messages"))
        .respond_with(accepted("wamid.V26"))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .access_token(SecretString::from(TOKEN))
        .base_url(&format!("{}/graph", server.uri()))
        .api_version("v26.0")
        .build()
        .unwrap();
    let answer = client.send(PHONE_NUMBER_ID, &hello()).await.unwrap();
    assert_eq!(answer.wamid(), Some("wamid.V26"));
}

#[tokio::test]
async fn throughput_limit_130429_is_throttled_and_may_be_resent() {
    let err = send_error(ResponseTemplate::new(400).set_body_json(graph_error(
        130429,
        "Rate limit hit",
        "Cloud API message throughput has been reached.",
    )))
    .await;
    let api = err.api().expect("a Graph error");
    assert_eq!(api.code(), 130429);
    assert_eq!(api.http_status, 400);
    assert_eq!(api.fbtrace_id(), Some("Az8or2yhqkZfEZ-_4Qn_Bam"));
    assert_eq!(
        api.details(),
        Some("Cloud API message throughput has been reached.")
    );
    assert!(matches!(err.class(), ErrorClass::Throttled { .. }));
    assert!(err.is_retryable());
    assert!(err.may_resend());
    let text = err.to_string();
    assert!(text.contains("130429") && !text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn pair_rate_limit_131056_is_throttled_with_a_wait() {
    let err = send_error(ResponseTemplate::new(400).set_body_json(graph_error(
        131056,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
    )))
    .await;
    assert_eq!(err.api().unwrap().code(), 131056);
    assert_eq!(
        err.class(),
        ErrorClass::Throttled {
            retry_after: Some(Duration::from_secs(6))
        }
    );
    assert!(err.may_resend());
}

#[tokio::test]
async fn outside_the_window_131047_is_permanent() {
    let err = send_error(ResponseTemplate::new(400).set_body_json(graph_error(
        131047,
        "Re-engagement message",
        "More than 24 hours have passed since the recipient last replied to the sender number.",
    )))
    .await;
    assert_eq!(err.api().unwrap().code(), 131047);
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!err.is_retryable());
    assert!(!err.may_resend());
}

#[tokio::test]
async fn expired_token_190_is_auth() {
    let err = send_error(ResponseTemplate::new(401).set_body_json(graph_error(
        190,
        "Error validating access token: Session has expired",
        "",
    )))
    .await;
    assert_eq!(err.api().unwrap().http_status, 401);
    assert_eq!(err.class(), ErrorClass::Auth);
}

#[tokio::test]
async fn http_429_without_a_body_is_throttled_with_retry_after() {
    let err = send_error(ResponseTemplate::new(429).insert_header("Retry-After", "7")).await;
    assert!(
        matches!(&err, Error::UnexpectedBody { http_status: 429, retry_after: Some(d), .. } if *d == Duration::from_secs(7)),
        "{err:?}"
    );
    assert_eq!(
        err.class(),
        ErrorClass::Throttled {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(err.may_resend());
}

#[tokio::test]
async fn http_500_is_server() {
    // A Graph error document with a server code ...
    let err = send_error(ResponseTemplate::new(500).set_body_json(graph_error(
        2,
        "Service temporarily unavailable",
        "",
    )))
    .await;
    assert_eq!(err.api().unwrap().code(), 2);
    assert_eq!(err.class(), ErrorClass::Server);
    assert!(!err.may_resend());
    // ... and a bare 500.
    let bare = send_error(ResponseTemplate::new(500)).await;
    assert!(matches!(
        bare,
        Error::UnexpectedBody {
            http_status: 500,
            ..
        }
    ));
    assert_eq!(bare.class(), ErrorClass::Server);
    assert!(!bare.may_resend());
}

#[tokio::test]
async fn non_json_502_is_unexpected_body_and_server() {
    let err = send_error(
        ResponseTemplate::new(502)
            .insert_header("content-type", "text/html")
            .set_body_string(
                "<html><body><h1>502 Bad Gateway</h1> upstream 16505551234</body></html>",
            ),
    )
    .await;
    match &err {
        Error::UnexpectedBody {
            http_status,
            snippet,
            ..
        } => {
            assert_eq!(*http_status, 502);
            assert!(snippet.contains("Bad Gateway"), "{snippet}");
            assert!(!snippet.contains("16505551234"), "{snippet}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Server);
    assert!(!err.may_resend());
}

#[tokio::test]
async fn success_with_an_unreadable_body_is_never_resent() {
    let err = send_error(ResponseTemplate::new(200).set_body_string("OK")).await;
    assert!(
        matches!(
            err,
            Error::InvalidResponse {
                http_status: 200,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.may_resend());
}

#[tokio::test]
async fn timeout_after_sending_is_not_resendable() {
    let server = answering(accepted("wamid.LATE").set_delay(Duration::from_secs(5))).await;
    let client = Client::builder()
        .access_token(SecretString::from(TOKEN))
        .base_url(&server.uri())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client.send(PHONE_NUMBER_ID, &hello()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { sent: true }), "{err:?}");
    assert!(!err.may_resend());
    assert_eq!(err.class(), ErrorClass::Transient);
    // The request did reach the server: exactly why it must not be resent blindly.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn connection_refused_may_be_resent() {
    // A port that was just free: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = Client::builder()
        .access_token(SecretString::from(TOKEN))
        .base_url(&format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let err = client.send(PHONE_NUMBER_ID, &hello()).await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: false, .. }),
        "{err:?}"
    );
    assert!(err.may_resend());
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[tokio::test]
async fn invalid_messages_are_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted("wamid.NEVER"))
        .expect(0)
        .mount(&server)
        .await;
    let client = client(&server);

    let too_long = OutgoingMessage::text(Recipient::phone("+16505551234"), "x".repeat(4097));
    let err = client.send(PHONE_NUMBER_ID, &too_long).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation {
                field: "text.body",
                limit: 4096,
                actual: 4097
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);

    let err = client.send("../admin", &hello()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "phone_number_id",
                ..
            }
        ),
        "{err:?}"
    );

    let empty = OutgoingMessage::template(Recipient::phone("1"), Template::new(" ", "en_US"));
    assert!(matches!(
        client.send(PHONE_NUMBER_ID, &empty).await,
        Err(Error::Invalid {
            field: "template.name",
            ..
        })
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn sends_are_counted_per_attempt_with_their_class() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(accepted("wamid.OK1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(graph_error(
            131047,
            "Re-engagement message",
            "More than 24 hours have passed",
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(graph_error(
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached",
        )))
        .mount(&server)
        .await;
    let c = client(&server);
    c.send(PHONE_NUMBER_ID, &hello()).await.unwrap();
    c.send(PHONE_NUMBER_ID, &hello()).await.unwrap_err();
    c.send(PHONE_NUMBER_ID, &hello()).await.unwrap_err();

    let text = handle.render();
    let count = |class: &str| {
        series(
            &text,
            "chatport_connector_requests_total",
            &[
                ("connector", "whatsapp"),
                ("operation", "messages"),
                ("class", class),
            ],
        )
    };
    assert_eq!(count("ok"), Some(1.0), "{text}");
    assert_eq!(count("permanent"), Some(1.0), "{text}");
    assert_eq!(count("throttled"), Some(1.0), "{text}");
    assert_eq!(
        series(
            &text,
            "chatport_connector_request_duration_seconds_count",
            &[("connector", "whatsapp"), ("operation", "messages")],
        ),
        Some(3.0),
        "{text}"
    );
    assert!(
        !text.contains("16505551234"),
        "no phone number in a label: {text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Business-scoped user ids (Meta: business-scoped-user-ids)

#[tokio::test]
async fn a_send_to_a_user_id_answers_the_typed_user_id() {
    let server = answering(ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": "US.13491208655302741918", "user_id": "US.13491208655302741918"}],
        "messages": [{"id": "wamid.BSUID"}]
    })))
    .await;
    let message = OutgoingMessage::text(Recipient::user_id("US.13491208655302741918"), "Hi Kai");
    let answer = client(&server)
        .send(PHONE_NUMBER_ID, &message)
        .await
        .unwrap();
    assert_eq!(answer.user_id(), Some("US.13491208655302741918"));
    assert_eq!(
        answer.contacts[0].user_id.as_deref(),
        Some("US.13491208655302741918")
    );
    assert_eq!(answer.contacts[0].wa_id, None);
    assert!(answer.contacts[0].extra.is_empty(), "user_id is typed");
    assert_eq!(
        only_request_body(&server).await["recipient"],
        "US.13491208655302741918"
    );
}

#[tokio::test]
async fn error_131062_is_typed_permanent_and_never_resent() {
    let err = send_error(ResponseTemplate::new(400).set_body_json(graph_error(
        131_062,
        "Business-scoped user ID recipients not supported",
        "This message type cannot be sent to a business-scoped user ID.",
    )))
    .await;
    assert_eq!(err.kind(), Some(ErrorKind::BsuidNotSupported));
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!err.may_resend());
    assert!(err.to_string().contains("131062"), "{err}");
}

#[tokio::test]
async fn an_authentication_template_to_a_user_id_is_refused_locally() {
    let server = answering(accepted("wamid.NEVER")).await;
    let otp = Template::new("login_code", "en_US")
        .authentication()
        .body_parameters(vec!["482913".into()]);
    let to_user_id =
        OutgoingMessage::template(Recipient::user_id("US.13491208655302741918"), otp.clone());
    let err = client(&server)
        .send(PHONE_NUMBER_ID, &to_user_id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PhoneNumberRequired { .. }), "{err:?}");
    assert_eq!(err.kind(), Some(ErrorKind::BsuidNotSupported));
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.to_string().contains("phone number"), "{err}");
    assert!(!err.to_string().contains("US.1349"), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());

    // The same template to a phone number goes out; a utility template to a user id too; and an
    // authentication template explicitly allowed for BSUIDs.
    let c = client(&server);
    c.send(
        PHONE_NUMBER_ID,
        &OutgoingMessage::template(Recipient::phone("+16505551234"), otp.clone()),
    )
    .await
    .unwrap();
    c.send(
        PHONE_NUMBER_ID,
        &OutgoingMessage::template(
            Recipient::user_id("US.13491208655302741918"),
            Template::new("case_update", "en_US").category(TemplateCategory::Utility),
        ),
    )
    .await
    .unwrap();
    c.send(
        PHONE_NUMBER_ID,
        &OutgoingMessage::template(
            Recipient::user_id("US.13491208655302741918"),
            otp.allow_user_id_recipient(true),
        ),
    )
    .await
    .unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}
