//! The Graph emulator's 24-hour window, pair rate limit, media, templates and chaos, over HTTP.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chatport_testkit::graph::{Chaos, GraphEmulator};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PNID: &str = "106540352242922";

async fn send(graph: &GraphEmulator, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v25.0/{PNID}/messages", graph.base_url()))
        .bearer_auth(graph.access_token())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn text(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hi"}})
}

fn template(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
           "template": {"name": "hello", "language": {"code": "en_US"}}})
}

#[tokio::test]
async fn window_gives_131047_unless_template_or_recent_inbound() {
    let graph = GraphEmulator::builder()
        .enforce_window(true)
        .start()
        .await
        .unwrap();
    let (status, body) = send(&graph, text("+1 650 555 1234")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 131047);
    assert!(
        body["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("24 hours")
    );
    assert_eq!(send(&graph, template("+16505551234")).await.0, 200);

    graph.record_inbound_at(
        PNID,
        "16505551234",
        chrono::Utc::now() - chrono::Duration::hours(25),
    );
    assert_eq!(send(&graph, text("+16505551234")).await.0, 400);
    graph.record_inbound(PNID, "16505551234");
    assert_eq!(send(&graph, text("+1 (650) 555-1234")).await.0, 200);
    // other business numbers have their own windows
    graph.record_inbound("999", "4915112345678");
    assert_eq!(send(&graph, text("+4915112345678")).await.0, 400);
    assert_eq!(graph.sent().len(), 2);
}

#[tokio::test]
async fn pair_rate_limit_gives_131056() {
    let graph = GraphEmulator::builder()
        .pair_rate_limit(3, Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(send(&graph, text("+16505551234")).await.0, 200);
    }
    let (status, body) = send(&graph, text("16505551234")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 131056);
    assert_eq!(
        send(&graph, text("+4915112345678")).await.0,
        200,
        "other users are fine"
    );
}

#[tokio::test]
async fn media_upload_url_download_expiry_delete() {
    let graph = GraphEmulator::builder()
        .media_url_ttl(Duration::from_secs(300))
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = graph.base_url();
    let content = b"%PDF-1.7 emulator".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "application/pdf")
        .part(
            "file",
            reqwest::multipart::Part::bytes(content.clone())
                .file_name("a.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let r = http
        .post(format!("{base}/v25.0/{PNID}/media"))
        .bearer_auth(graph.access_token())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        graph.media(&id).unwrap().file_name.as_deref(),
        Some("a.pdf")
    );

    // unsupported type → 131053
    let bad = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/gif")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"GIF89a".to_vec()).file_name("a.gif"),
        );
    let r = http
        .post(format!("{base}/v25.0/{PNID}/media"))
        .bearer_auth(graph.access_token())
        .multipart(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 131053);

    let info: Value = http
        .get(format!("{base}/v25.0/{id}?phone_number_id={PNID}"))
        .bearer_auth(graph.access_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sha256"], hex::encode(Sha256::digest(&content)));
    assert_eq!(info["file_size"], content.len());
    let url = info["url"].as_str().unwrap().to_owned();

    // the URL needs the bearer token
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let r = http
        .get(&url)
        .bearer_auth(graph.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.bytes().await.unwrap().as_ref(), content.as_slice());
    // expired → 404
    graph.expire_media_urls();
    let r = http
        .get(&url)
        .bearer_auth(graph.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // another number cannot see it; delete removes it
    let r = http
        .get(format!("{base}/v25.0/{id}?phone_number_id=1"))
        .bearer_auth(graph.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .delete(format!("{base}/v25.0/{id}"))
        .bearer_auth(graph.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"success": true}));
    assert!(graph.media(&id).is_none());
    // inbound media added by a test
    let inbound = graph.add_media("image/jpeg", b"\xff\xd8\xff".to_vec());
    assert_eq!(graph.media(&inbound).unwrap().mime_type, "image/jpeg");
}

#[tokio::test]
async fn templates_are_listed_in_pages() {
    let graph = GraphEmulator::start().await.unwrap();
    for i in 0..5 {
        graph.add_template(
            &format!("t{i}"),
            "en_US",
            if i == 3 { "PAUSED" } else { "APPROVED" },
        );
    }
    let http = reqwest::Client::new();
    let page: Value = http
        .get(format!(
            "{}/v25.0/102290129340398/message_templates?limit=2",
            graph.base_url()
        ))
        .bearer_auth(graph.access_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(page["paging"]["next"].is_string());
    let after = page["paging"]["cursors"]["after"].as_str().unwrap();
    let last: Value = http
        .get(format!(
            "{}/v25.0/102290129340398/message_templates?limit=10&after={after}",
            graph.base_url()
        ))
        .bearer_auth(graph.access_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(last["data"].as_array().unwrap().len(), 3);
    assert!(last["paging"].get("next").is_none());
    assert_eq!(last["data"][1]["status"], "PAUSED");
}

async fn chaos_run(seed: u64) -> Vec<String> {
    let graph = GraphEmulator::builder()
        .chaos(
            Chaos::seeded(seed)
                .throttled(0.2)
                .server_error(0.2)
                .dropped(0.1)
                .slow(0.1, Duration::from_millis(1)),
        )
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let mut outcomes = Vec::new();
    for _ in 0..60 {
        let r = http
            .post(format!("{}/v25.0/{PNID}/messages", graph.base_url()))
            .bearer_auth(graph.access_token())
            .json(&template("+16505551234"))
            .send()
            .await;
        let outcome = match r {
            Err(_) => "dropped".to_owned(),
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r.headers().get("retry-after").is_some();
                match r.bytes().await {
                    Err(_) => "dropped".to_owned(),
                    Ok(_) if status == 429 => {
                        assert!(retry_after, "429 carries Retry-After");
                        "429".to_owned()
                    }
                    Ok(_) => status.to_string(),
                }
            }
        };
        outcomes.push(outcome);
    }
    let count = |s: &str| outcomes.iter().filter(|o| *o == s).count();
    assert!(
        count("429") > 0 && count("503") > 0 && count("dropped") > 0,
        "{outcomes:?}"
    );
    assert!(count("200") > 0);
    // only the answered 200s are recorded
    assert_eq!(graph.sent().len(), count("200"));
    outcomes
}

#[tokio::test]
async fn chaos_is_seeded_and_reproducible() {
    let a = chaos_run(42).await;
    let b = chaos_run(42).await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn full_chaos_share_fails_every_send_and_records_nothing() {
    let graph = GraphEmulator::builder()
        .chaos(Chaos::seeded(3).throttled(1.0))
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for _ in 0..10 {
        let r = http
            .post(format!("{}/v25.0/{PNID}/messages", graph.base_url()))
            .bearer_auth(graph.access_token())
            .json(&template("+16505551234"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], 4);
    }
    assert!(graph.sent().is_empty());
    assert_eq!(graph.chaos_count(), 10);
    assert_eq!(graph.chaos_counts().throttled, 10);
}
