//! Media, templates, read receipts and the window helper against a wiremock Graph API on loopback.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chatport_core::{Classify, ErrorClass};
use chatport_whatsapp::webhook::Notification;
use chatport_whatsapp::{
    Client, DeliveryState, DeliveryTracker, DownloadOptions, Error, ErrorKind, OutgoingMessage,
    Recipient, Template, TemplateStatus, WindowTracker,
};
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest, Sha256};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PNID: &str = "106540352242922";
const TOKEN: &str = "EAAJB-test-token";

fn client(server: &MockServer) -> Client {
    Client::builder()
        .access_token(SecretString::from(TOKEN))
        .base_url(&server.uri())
        .media_hosts(["127.0.0.1"])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn graph_error(status: u16, code: i64) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {
        "message": format!("(#{code}) test"), "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": "test"},
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}))
}

#[tokio::test]
async fn mark_read_and_typing_indicator() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v26.0/{PNID}/messages")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.A"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v26.0/{PNID}/messages")))
        .and(body_json(json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.B", "typing_indicator": {"type": "text"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    c.mark_read(PNID, "wamid.A").await.unwrap();
    c.typing_indicator(PNID, "wamid.B").await.unwrap();
    assert!(matches!(
        c.mark_read(PNID, "").await,
        Err(Error::Invalid {
            field: "message_id",
            ..
        })
    ));
}

#[tokio::test]
async fn mark_read_refused_success_false() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": false})))
        .mount(&server)
        .await;
    let err = client(&server)
        .mark_read(PNID, "wamid.A")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn upload_streams_multipart_and_checks_the_table() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v26.0/{PNID}/media")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_string_contains(
            "name=\"messaging_product\"\r\n\r\nwhatsapp",
        ))
        .and(body_string_contains("name=\"type\"\r\n\r\napplication/pdf"))
        .and(body_string_contains("filename=\"invoice.pdf\""))
        .and(body_string_contains("%PDF-1.7 test body"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1037543291543636"})))
        .expect(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let body: &'static [u8] = b"%PDF-1.7 test body";
    let up = c
        .upload_media(
            PNID,
            body,
            body.len() as u64,
            "application/pdf",
            "invoice.pdf",
        )
        .await
        .unwrap();
    assert_eq!(up.id, "1037543291543636");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invoice.pdf");
    std::fs::write(&file, body).unwrap();
    let up = c
        .upload_media_file(PNID, &file, "application/pdf")
        .await
        .unwrap();
    assert_eq!(up.id, "1037543291543636");

    // refused locally, nothing sent (expect(2) above)
    assert!(matches!(
        c.upload_media(PNID, body, 10, "image/gif", "a.gif").await,
        Err(Error::UnsupportedMediaType { .. })
    ));
    assert!(matches!(
        c.upload_media(PNID, body, 5_000_001, "image/png", "a.png")
            .await,
        Err(Error::MediaTooLarge {
            limit: 5_000_000,
            ..
        })
    ));
    assert!(matches!(
        c.upload_media_file(PNID, dir.path().join("missing.pdf"), "application/pdf")
            .await,
        Err(Error::Io(_))
    ));
}

async fn media_server(content: &'static [u8], sha_hex: &str) -> MockServer {
    let server = MockServer::start().await;
    let url = format!("{}/download/abc?mid=1", server.uri());
    Mock::given(method("GET"))
        .and(path("/v26.0/1037543291543636"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "url": url, "mime_type": "application/pdf",
            "sha256": sha_hex, "file_size": content.len(), "id": "1037543291543636"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/download/abc"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/pdf")
                .set_body_bytes(content),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn download_by_id_verifies_hex_and_base64() {
    use base64::Engine as _;
    let content: &'static [u8] = b"the document bytes";
    let digest = Sha256::digest(content);
    let server = media_server(content, &hex::encode(digest)).await;
    let c = client(&server);
    let info = c.media_url("1037543291543636", Some(PNID)).await.unwrap();
    assert_eq!(info.file_size, Some(content.len() as i64));
    assert!(
        !format!("{info:?}").contains("download"),
        "URL not in Debug"
    );

    let mut out = Vec::new();
    let got = c
        .download_media_by_id("1037543291543636", None, &mut out, &DownloadOptions::new())
        .await
        .unwrap();
    assert_eq!(out, content);
    assert!(got.verified, "the hex digest of GET /{{id}} is checked");
    assert_eq!(got.content_type.as_deref(), Some("application/pdf"));

    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    let mut out = Vec::new();
    let got = c
        .download_media(&info.url, &mut out, &DownloadOptions::new().sha256(b64))
        .await
        .unwrap();
    assert!(got.verified);
    assert_eq!(got.bytes, content.len() as u64);

    let mut out = Vec::new();
    let wrong = hex::encode(Sha256::digest(b"other"));
    assert!(matches!(
        c.download_media(&info.url, &mut out, &DownloadOptions::new().sha256(wrong))
            .await,
        Err(Error::MediaHashMismatch { .. })
    ));
    let mut out = Vec::new();
    assert!(matches!(
        c.download_media(&info.url, &mut out, &DownloadOptions::new().max_bytes(5))
            .await,
        Err(Error::MediaTooLarge { limit: 5, .. })
    ));
}

#[tokio::test]
async fn expired_url_gets_a_fresh_one() {
    let content: &'static [u8] = b"fresh bytes";
    let server = media_server(content, &hex::encode(Sha256::digest(content))).await;
    Mock::given(method("GET"))
        .and(path("/expired"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let mut out = Vec::new();
    let stale = format!("{}/expired?mid=1", server.uri());
    let got = c
        .download_media_by_id(
            "1037543291543636",
            Some(&stale),
            &mut out,
            &DownloadOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(out, content);
    assert!(got.verified);
}

#[tokio::test]
async fn downloads_only_from_allowed_hosts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"x".to_vec()))
        .expect(0)
        .mount(&server)
        .await;
    // the default allow-list has only Meta's media host
    let c = Client::builder()
        .access_token(SecretString::from(TOKEN))
        .base_url(&server.uri())
        .build()
        .unwrap();
    let mut out = Vec::new();
    for url in [
        format!("{}/file", server.uri()),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "file:///etc/passwd".to_owned(),
        "not a url".to_owned(),
    ] {
        let err = c
            .download_media(&url, &mut out, &DownloadOptions::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MediaHostNotAllowed { .. }),
            "{url}: {err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
    }
}

#[tokio::test]
async fn redirect_to_a_foreign_host_is_not_followed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/redirect"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", "http://localhost:9/steal"),
        )
        .mount(&server)
        .await;
    let c = client(&server);
    let mut out = Vec::new();
    let err = c
        .download_media(
            &format!("{}/redirect", server.uri()),
            &mut out,
            &DownloadOptions::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedBody {
                http_status: 302,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(out.is_empty());
}

#[tokio::test]
async fn delete_media() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/v26.0/1037543291543636"))
        .and(query_param("phone_number_id", PNID))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v26.0/999"))
        .respond_with(graph_error(400, 100))
        .mount(&server)
        .await;
    let c = client(&server);
    c.delete_media("1037543291543636", Some(PNID))
        .await
        .unwrap();
    let err = c.delete_media("999", None).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidParameter));
}

#[tokio::test]
async fn templates_list_pages_and_check() {
    let server = MockServer::start().await;
    let t = |name: &str, lang: &str, status: &str| {
        json!({"id": "1", "name": name, "language": lang, "status": status, "category": "UTILITY",
               "components": [{"type": "BODY", "text": "Case {{1}}"}], "parameter_format": "POSITIONAL"})
    };
    Mock::given(method("GET"))
        .and(path("/v26.0/102290129340398/message_templates"))
        .and(query_param("after", "CURSOR1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [t("case_closed", "en_US", "PAUSED"), t("case_new", "de", "SOMETHING_NEW")],
            "paging": {"cursors": {"before": "B", "after": "CURSOR2"}}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v26.0/102290129340398/message_templates"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [t("case_update", "en_US", "APPROVED")],
            "paging": {"cursors": {"before": "A", "after": "CURSOR1"},
                       "next": "https://graph.invalid/next"}})))
        .mount(&server)
        .await;
    let c = client(&server);
    let all = c.list_templates("102290129340398", None).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all[0].is_approved());
    assert_eq!(
        all[2].status,
        TemplateStatus::Unknown("SOMETHING_NEW".into())
    );
    assert_eq!(all[0].extra["parameter_format"], "POSITIONAL");
    let one = c
        .get_template("102290129340398", "case_closed", "en_US")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.status, TemplateStatus::Paused);
    let problems = c
        .unapproved_templates(
            "102290129340398",
            &[
                ("case_update", "en_US"),
                ("case_closed", "en_US"),
                ("missing", "en_US"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0].status, Some(TemplateStatus::Paused));
    assert_eq!(problems[1].name, "missing");
    assert_eq!(problems[1].status, None);
}

#[tokio::test]
async fn template_error_families() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(graph_error(403, 200))
        .mount(&server)
        .await;
    let err = client(&server).list_templates("1", None).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::PermissionDenied));
    assert_eq!(err.class(), ErrorClass::Permanent);
}

fn inbound_event(from: &str, ts: i64) -> chatport_whatsapp::webhook::Event {
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"display_phone_number":"1555","phone_number_id":"{PNID}"}},"messages":[{{"from":"{from}","id":"wamid.IN","timestamp":"{ts}","type":"text","text":{{"body":"hi"}}}}]}}}}]}}]}}"#
    );
    Notification::parse(body.as_bytes())
        .unwrap()
        .events()
        .remove(0)
}

#[tokio::test]
async fn window_refuses_or_falls_back_to_a_template() {
    let server = MockServer::start().await;
    let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let sink = captured.clone();
    Mock::given(method("POST"))
        .and(path(format!("/v26.0/{PNID}/messages")))
        .respond_with(move |req: &Request| {
            sink.lock()
                .unwrap()
                .push(serde_json::from_slice(&req.body).unwrap());
            ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp",
                "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
                "messages": [{"id": "wamid.OUT"}]}))
        })
        .mount(&server)
        .await;
    let c = client(&server);
    let tracker = WindowTracker::default();
    let reply = OutgoingMessage::text(Recipient::phone("+1 650-555-1234"), "free form")
        .reply_to("wamid.IN")
        .biz_opaque_callback_data("case-7");

    // never wrote: refused locally, same kind as Meta's 131047
    let err = tracker.send(&c, PNID, &reply, None).await.unwrap_err();
    assert!(matches!(err, Error::WindowClosed { last_inbound: None }));
    assert_eq!(err.kind(), Some(ErrorKind::ReEngagementRequired));
    assert!(captured.lock().unwrap().is_empty());

    // fallback template instead
    let fallback = Template::new("reopen_conversation", "en_US");
    let sent = tracker
        .send(&c, PNID, &reply, Some(&fallback))
        .await
        .unwrap();
    assert!(sent.fallback_used);
    {
        let bodies = captured.lock().unwrap();
        assert_eq!(bodies[0]["type"], "template");
        assert_eq!(bodies[0]["template"]["name"], "reopen_conversation");
        assert_eq!(bodies[0]["biz_opaque_callback_data"], "case-7");
        assert!(bodies[0].get("context").is_none());
    }

    // an old inbound (25 h ago) does not open it; a recent one does
    let now = chrono::Utc::now().timestamp();
    assert!(
        tracker
            .observe(&inbound_event("16505551234", now - 25 * 3600))
            .await
    );
    assert!(tracker.send(&c, PNID, &reply, None).await.is_err());
    assert!(
        tracker
            .observe(&inbound_event("16505551234", now - 60))
            .await
    );
    let sent = tracker
        .send(&c, PNID, &reply, Some(&fallback))
        .await
        .unwrap();
    assert!(!sent.fallback_used);
    assert_eq!(captured.lock().unwrap()[1]["type"], "text");
    // templates always pass
    let other = OutgoingMessage::template(Recipient::phone("+4917000000"), fallback.clone());
    tracker.send(&c, PNID, &other, None).await.unwrap();
}

#[test]
fn asynchronous_131047_in_a_status_is_the_same_kind() {
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"1555","phone_number_id":"42"},"statuses":[{"id":"wamid.OUT","status":"failed","timestamp":"1751247600","recipient_id":"16505551234","errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"href":"https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]},{"id":"wamid.OUT","status":"sent","timestamp":"1751247500","recipient_id":"16505551234"}]}}]}]}"#;
    let events = Notification::parse(body).unwrap().events();
    let failed = events[0].status().unwrap();
    assert_eq!(failed.error_kind(), Some(ErrorKind::ReEngagementRequired));
    assert_eq!(
        failed.errors[0].kind(),
        Error::WindowClosed { last_inbound: None }.kind().unwrap()
    );
    let mut tracker = DeliveryTracker::new();
    tracker.accepted("wamid.OUT", Some("case-7"));
    let applied = tracker.apply(failed).unwrap();
    assert!(applied.changed());
    // the late `sent` does not resurrect it
    tracker.apply(events[1].status().unwrap());
    let record = tracker.get("wamid.OUT").unwrap();
    assert_eq!(record.state, DeliveryState::Failed);
    assert_eq!(record.failure, Some(ErrorKind::ReEngagementRequired));
    assert_eq!(record.biz_opaque_callback_data.as_deref(), Some("case-7"));
}
