//! The Graph API emulator over real HTTP.

use std::time::Duration;

use base64::Engine as _;
use chatport_testkit::{Failure, graph::GraphEmulator};
use serde_json::{Value, json};

async fn post(
    graph: &GraphEmulator,
    token: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    post_path(
        graph,
        "/v25.0/106540352242922/messages",
        token,
        body.to_string(),
    )
    .await
}

async fn post_path(
    graph: &GraphEmulator,
    path: &str,
    token: Option<&str>,
    body: String,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", graph.base_url()))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.text().await.expect("response body read"),
    )
}

fn text_message(to: &str, body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "preview_url": false, "body": body },
    })
}

fn assert_graph_error(body: &str, code: i64) -> Value {
    let value: Value = serde_json::from_str(body).expect("Graph error is JSON");
    let error = &value["error"];
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["type"], "OAuthException", "{body}");
    assert!(
        error["message"]
            .as_str()
            .expect("error.message is a string")
            .starts_with(&format!("(#{code}) ")),
        "{body}"
    );
    assert_eq!(
        error["error_data"]["messaging_product"], "whatsapp",
        "{body}"
    );
    assert!(
        !error["error_data"]["details"]
            .as_str()
            .expect("error_data.details is a string")
            .is_empty(),
        "{body}"
    );
    assert!(
        error["fbtrace_id"]
            .as_str()
            .expect("fbtrace_id is a string")
            .len()
            >= 20,
        "{body}"
    );
    value
}

#[tokio::test]
async fn text_send_is_accepted_and_recorded() {
    let graph = GraphEmulator::builder()
        .access_token("tok-123")
        .start()
        .await
        .unwrap();
    assert_eq!(graph.access_token(), "tok-123");
    assert!(graph.base_url().starts_with("http://127.0.0.1:"));

    let (status, _, body) = post(
        &graph,
        Some("tok-123"),
        &text_message("+1 (650) 555-1234", "Grüße 👋"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["messaging_product"], "whatsapp");
    assert_eq!(answer["contacts"][0]["input"], "+1 (650) 555-1234");
    assert_eq!(answer["contacts"][0]["wa_id"], "16505551234");
    let wamid = answer["messages"][0]["id"].as_str().unwrap().to_owned();
    let encoded = wamid.strip_prefix("wamid.").expect("wamid. prefix");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64 like Meta's");
    assert!(
        decoded.windows(11).any(|w| w == b"16505551234"),
        "carries the recipient like Meta's"
    );
    assert!(wamid.len() <= 128);

    let sent = graph.sent();
    assert_eq!(sent.len(), 1);
    let message = &sent[0];
    assert_eq!(message.phone_number_id, "106540352242922");
    assert_eq!(message.to.as_deref(), Some("+1 (650) 555-1234"));
    assert_eq!(message.recipient, None);
    assert_eq!(message.message_type, "text");
    assert_eq!(message.text_body(), Some("Grüße 👋"));
    assert_eq!(message.body["recipient_type"], "individual");
    assert_eq!(message.wamid, wamid);
    assert_eq!(graph.sent_to("16505551234").len(), 1);
    assert_eq!(graph.sent_to("+1 (650) 555-1234").len(), 1);
    assert!(graph.sent_to("+16505550000").is_empty());
    assert_eq!(graph.request_count(), 1);

    // A second send gets a different wamid.
    let (_, _, body) = post(
        &graph,
        Some("tok-123"),
        &text_message("16505551234", "again"),
    )
    .await;
    let second: Value = serde_json::from_str(&body).unwrap();
    assert_ne!(second["messages"][0]["id"], wamid.as_str());
    assert_eq!(graph.sent_to("16505551234").len(), 2);
}

#[tokio::test]
async fn template_and_bsuid_sends() {
    let graph = GraphEmulator::start().await.unwrap();
    assert_eq!(graph.access_token(), "test-token");
    let template = json!({
        "messaging_product": "whatsapp",
        "to": "4915112345678",
        "type": "template",
        "template": {
            "name": "case_update",
            "language": { "code": "de", "policy": "deterministic" },
            "components": [{ "type": "body", "parameters": [{ "type": "text", "text": "C-778" }] }],
        },
    });
    let (status, _, body) = post(&graph, Some("test-token"), &template).await;
    assert_eq!(status, 200, "{body}");

    let bsuid = json!({
        "messaging_product": "whatsapp",
        "recipient": "US.13491208655302741918",
        "text": { "body": "type defaults to text" },
    });
    let (status, _, body) = post(&graph, Some("test-token"), &bsuid).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["contacts"][0]["input"], "US.13491208655302741918");

    let sent = graph.sent();
    assert_eq!(sent[0].template_name(), Some("case_update"));
    assert_eq!(sent[0].message_type, "template");
    assert_eq!(
        sent[1].recipient.as_deref(),
        Some("US.13491208655302741918")
    );
    assert_eq!(sent[1].to, None);
    assert_eq!(sent[1].message_type, "text");
    assert_eq!(graph.sent_to("US.13491208655302741918").len(), 1);
}

#[tokio::test]
async fn wrong_or_missing_token_is_401_with_meta_shape() {
    let graph = GraphEmulator::start().await.unwrap();
    for token in [Some("wrong"), None] {
        let (status, _, body) = post(&graph, token, &text_message("16505551234", "hi")).await;
        assert_eq!(status, 401, "{body}");
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["error"]["code"], 190);
        assert_eq!(value["error"]["type"], "OAuthException");
        assert!(value["error"]["fbtrace_id"].is_string());
    }
    assert!(graph.sent().is_empty());
    assert_eq!(graph.request_count(), 2);
}

#[tokio::test]
async fn invalid_payloads_are_400_with_documented_shape() {
    let graph = GraphEmulator::start().await.unwrap();
    let long = "a".repeat(4097);
    let cases = vec![
        json!({ "to": "1650", "type": "text", "text": { "body": "x" } }),
        json!({ "messaging_product": "sms", "to": "1650", "type": "text", "text": { "body": "x" } }),
        json!({ "messaging_product": "whatsapp", "type": "text", "text": { "body": "x" } }),
        json!({ "messaging_product": "whatsapp", "to": "no digits", "text": { "body": "x" } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "hologram", "hologram": {} }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "text" }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "text", "text": { "body": "" } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "text", "text": { "body": long } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "template", "template": { "name": "t" } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "template", "template": { "language": { "code": "en" } } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "image", "image": { "caption": "no id or link" } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "interactive", "interactive": { "body": {} } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "reaction", "reaction": { "emoji": "👍" } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "location", "location": { "latitude": 1.0 } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "contacts", "contacts": [] }),
    ];
    for case in &cases {
        let (status, _, body) = post(&graph, Some("test-token"), case).await;
        assert_eq!(status, 400, "{case} -> {body}");
        assert_graph_error(&body, 100);
    }
    let (status, _, body) = post_path(
        &graph,
        "/v25.0/106540352242922/messages",
        Some("test-token"),
        "{not json".to_owned(),
    )
    .await;
    assert_eq!(status, 400);
    assert_graph_error(&body, 100);
    assert!(graph.sent().is_empty());

    // The limit is in characters, not bytes: 4096 multi-byte characters are fine.
    let (status, _, body) = post(
        &graph,
        Some("test-token"),
        &text_message("1650", &"ä".repeat(4096)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn version_path_phone_number_and_mark_read() {
    let graph = GraphEmulator::builder()
        .phone_number_id("106540352242922")
        .start()
        .await
        .unwrap();
    let message = text_message("16505551234", "hi").to_string();
    let (status, _, _) = post_path(
        &graph,
        "/v26.0/106540352242922/messages",
        Some("test-token"),
        message.clone(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) = post_path(
        &graph,
        "/latest/106540352242922/messages",
        Some("test-token"),
        message.clone(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = post_path(
        &graph,
        "/v25.0/999/messages",
        Some("test-token"),
        message.clone(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_graph_error(&body, 100);
    let (status, _, _) = post_path(
        &graph,
        "/v25.0/106540352242922/unknown",
        Some("test-token"),
        message,
    )
    .await;
    assert_eq!(status, 404);

    let read =
        json!({ "messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in-1" });
    let (status, _, body) = post(&graph, Some("test-token"), &read).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "success": true })
    );
    assert_eq!(graph.marked_read(), vec!["wamid.in-1".to_owned()]);
    assert_eq!(graph.sent().len(), 1);
}

#[tokio::test]
async fn injected_failures_are_answered_in_order_then_success() {
    let graph = GraphEmulator::start().await.unwrap();
    graph.fail_next(1, Failure::graph_error(400, 130429, "Rate limit hit"));
    graph.enqueue_failures(
        1,
        Failure::Http429 {
            retry_after_secs: 7,
        },
    );
    graph.enqueue_failures(1, Failure::NonJson(502));
    graph.enqueue_failures(2, Failure::Status(503));
    assert_eq!(graph.pending_failures(), 5);
    let message = text_message("16505551234", "hello");

    let (status, _, body) = post(&graph, Some("test-token"), &message).await;
    assert_eq!(status, 400);
    let value = assert_graph_error(&body, 130429);
    assert_eq!(value["error"]["message"], "(#130429) Rate limit hit");

    let (status, headers, body) = post(&graph, Some("test-token"), &message).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    assert!(body.is_empty());

    let (status, headers, body) = post(&graph, Some("test-token"), &message).await;
    assert_eq!(status, 502);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(serde_json::from_str::<Value>(&body).is_err());

    for _ in 0..2 {
        let (status, _, body) = post(&graph, Some("test-token"), &message).await;
        assert_eq!(status, 503);
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["error"]["code"], 2);
    }
    assert!(graph.sent().is_empty(), "failed requests have no effect");
    assert_eq!(graph.pending_failures(), 0);

    let (status, _, _) = post(&graph, Some("test-token"), &message).await;
    assert_eq!(status, 200);
    assert_eq!(graph.sent().len(), 1);
    assert_eq!(graph.request_count(), 6);
}

#[tokio::test]
async fn fail_next_replaces_the_queue_and_zero_cancels() {
    let graph = GraphEmulator::start().await.unwrap();
    graph.fail_next(100, Failure::Status(503));
    graph.fail_next(1, Failure::Status(500));
    assert_eq!(graph.pending_failures(), 1);
    let (status, _, _) = post(&graph, Some("test-token"), &text_message("1650", "x")).await;
    assert_eq!(status, 500);
    graph.fail_next(100, Failure::Status(503));
    graph.fail_next(0, Failure::Status(503));
    assert_eq!(graph.pending_failures(), 0);
    let (status, _, _) = post(&graph, Some("test-token"), &text_message("1650", "x")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn delay_applies_the_effect_then_answers_late() {
    let graph = GraphEmulator::start().await.unwrap();
    graph.fail_next(1, Failure::Delay(Duration::from_millis(50)));
    let (status, _, _) = post(
        &graph,
        Some("test-token"),
        &text_message("16505551234", "late"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(graph.sent().len(), 1);

    // A client that gives up still leaves the message sent: the ambiguous-timeout case.
    graph.fail_next(1, Failure::Delay(Duration::from_secs(600)));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let result = client
        .post(format!("{}/v25.0/1/messages", graph.base_url()))
        .bearer_auth("test-token")
        .json(&text_message("16505551234", "timed out"))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    for _ in 0..200 {
        if graph.sent().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(graph.sent().len(), 2);
    assert_eq!(graph.sent()[1].text_body(), Some("timed out"));
}

#[tokio::test]
async fn shutdown_closes_the_port_and_reset_forgets() {
    let graph = GraphEmulator::start().await.unwrap();
    let (status, _, _) = post(&graph, Some("test-token"), &text_message("1650", "x")).await;
    assert_eq!(status, 200);
    graph.fail_next(3, Failure::Status(500));
    graph.reset();
    assert!(graph.sent().is_empty());
    assert_eq!(graph.request_count(), 0);
    let (status, _, _) = post(&graph, Some("test-token"), &text_message("1650", "x")).await;
    assert_eq!(status, 200, "reset also dropped the queued failures");

    let url = format!("{}/v25.0/1/messages", graph.base_url());
    graph.shutdown().await;
    let result = reqwest::Client::new()
        .post(url)
        .bearer_auth("test-token")
        .body("{}")
        .send()
        .await;
    assert!(result.is_err(), "nothing listens after shutdown");
}

#[tokio::test]
async fn empty_token_is_a_configuration_error() {
    let error = GraphEmulator::builder()
        .access_token(" ")
        .start()
        .await
        .unwrap_err();
    assert!(matches!(error, chatport_testkit::Error::Config(_)));
}
