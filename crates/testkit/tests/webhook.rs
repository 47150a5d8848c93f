//! Meta-style encoding, signing, payload builders and the delivery simulator.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use chatport_testkit::webhook::{
    Delivery, ErrorSpec, MessageSpec, StatusSpec, WebhookSimulator, escape_non_ascii, meta_json,
    sign,
};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const FIXTURE_BODY: &[u8] = include_bytes!("fixtures/real-signed.json");
const FIXTURE_SECRET: &str = include_str!("fixtures/real-signed.secret");
const FIXTURE_SIGNATURE: &str = include_str!("fixtures/real-signed.sig");

#[test]
fn meta_json_escapes_non_ascii_with_lower_case_hex() {
    let value = json!({ "text": { "body": "J'ai mangé des pâtes äöå 😀 @ https://x.y/z" } });
    let encoded = meta_json(&value);
    assert!(encoded.is_ascii(), "{encoded}");
    assert!(encoded.contains("\\u00e4\\u00f6\\u00e5"), "{encoded}");
    assert!(encoded.contains("mang\\u00e9"), "{encoded}");
    assert!(
        encoded.contains("\\ud83d\\ude00"),
        "emoji as a surrogate pair: {encoded}"
    );
    assert!(
        !encoded.contains("\\u00E4") && !encoded.contains("\\uD83D"),
        "lower-case hex only"
    );
    assert!(
        !encoded.contains(": ") && !encoded.contains(", "),
        "compact: {encoded}"
    );
    assert!(
        encoded.contains("@ https://x.y/z"),
        "ASCII untouched: {encoded}"
    );
    let back: Value = serde_json::from_str(&encoded).unwrap();
    assert_eq!(back, value, "equivalent JSON");

    assert_eq!(escape_non_ascii("ä"), "\\u00e4");
    assert_eq!(escape_non_ascii("€"), "\\u20ac");
    assert_eq!(escape_non_ascii("𝄞"), "\\ud834\\udd1e");
    assert_eq!(meta_json(&json!("line\nbreak")), "\"line\\nbreak\"");
}

#[test]
fn sign_matches_rfc_4231_and_the_real_meta_delivery() {
    assert_eq!(
        sign(b"Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(FIXTURE_BODY.len(), 511, "fixture copied byte for byte");
    assert_eq!(
        sign(FIXTURE_SECRET.trim().as_bytes(), FIXTURE_BODY),
        FIXTURE_SIGNATURE.trim()
    );

    let mut tampered = FIXTURE_BODY.to_vec();
    tampered[200] ^= 0x01;
    assert_ne!(
        sign(FIXTURE_SECRET.trim().as_bytes(), &tampered),
        FIXTURE_SIGNATURE.trim()
    );
    assert_ne!(
        sign(b"another secret", FIXTURE_BODY),
        FIXTURE_SIGNATURE.trim()
    );
}

#[test]
fn own_hmac_agrees_with_the_rustcrypto_hmac() {
    let keys: Vec<Vec<u8>> = vec![
        vec![],
        b"k".to_vec(),
        vec![7; 63],
        vec![7; 64],
        vec![7; 65],
        vec![0xaa; 200],
    ];
    let messages: Vec<Vec<u8>> = vec![
        vec![],
        b"abc".to_vec(),
        vec![1; 55],
        vec![1; 64],
        vec![2; 1000],
    ];
    for key in &keys {
        for message in &messages {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
            mac.update(message);
            let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            assert_eq!(
                sign(key, message),
                expected,
                "key {} bytes, message {} bytes",
                key.len(),
                message.len()
            );
        }
    }
}

#[test]
fn delivery_builder_batches_in_metas_shape() {
    let delivery = Delivery::new("102290129340398")
        .messages(
            "106540352242922",
            "15550783881",
            [
                MessageSpec::text("16505551234", "wamid.a", 1_751_247_548, "Hallo äöå")
                    .profile_name("Sheena"),
                MessageSpec::unknown(
                    "16505551234",
                    "wamid.b",
                    1_751_247_549,
                    "poll",
                    json!({ "question": "?" }),
                ),
                MessageSpec::document(
                    "4915112345678",
                    "wamid.c",
                    1_751_247_550,
                    "media-1",
                    "application/pdf",
                    "invoice.pdf",
                )
                .caption("Invoice 12345"),
            ],
        )
        .message(
            "106540352242922",
            "15550783881",
            MessageSpec::button_reply("x", "wamid.d", 1_751_247_551, "yes", "Yes")
                .user_id_only("US.13491208655302741918")
                .context("wamid.out-1"),
        )
        .statuses(
            "106540352242922",
            "15550783881",
            [
                StatusSpec::new("wamid.out-1", "delivered", "16505551234", 1_751_247_552)
                    .pricing("utility"),
                StatusSpec::new("wamid.out-2", "failed", "16505551234", 1_751_247_553).error(
                    ErrorSpec::new(131047, "Re-engagement message")
                        .details("More than 24 hours have passed"),
                ),
            ],
        )
        .change_error(
            "106540352242922",
            "15550783881",
            ErrorSpec::new(131052, "Media download error"),
        )
        .entry("999")
        .field(
            "message_template_status_update",
            json!({ "event": "APPROVED", "message_template_id": 1 }),
        );
    assert_eq!(delivery.update_count(), 3 + 1 + 2 + 1 + 1);
    let body = delivery.build();

    assert_eq!(body["object"], "whatsapp_business_account");
    assert_eq!(body["entry"].as_array().unwrap().len(), 2);
    let changes = body["entry"][0]["changes"].as_array().unwrap();
    assert_eq!(body["entry"][0]["id"], "102290129340398");
    assert_eq!(changes.len(), 4);

    let batch = &changes[0]["value"];
    assert_eq!(changes[0]["field"], "messages");
    assert_eq!(batch["messaging_product"], "whatsapp");
    assert_eq!(
        batch["metadata"],
        json!({ "display_phone_number": "15550783881", "phone_number_id": "106540352242922" })
    );
    assert_eq!(
        batch["contacts"].as_array().unwrap().len(),
        2,
        "one contact per distinct sender"
    );
    assert_eq!(
        batch["contacts"][0],
        json!({ "profile": { "name": "Sheena" }, "wa_id": "16505551234" })
    );
    assert_eq!(batch["contacts"][1]["wa_id"], "4915112345678");
    let text = &batch["messages"][0];
    assert_eq!(text["from"], "16505551234");
    assert_eq!(text["id"], "wamid.a");
    assert_eq!(text["timestamp"], "1751247548", "timestamps are strings");
    assert_eq!(text["type"], "text");
    assert_eq!(text["text"]["body"], "Hallo äöå");
    assert_eq!(batch["messages"][1]["type"], "poll");
    assert_eq!(batch["messages"][1]["poll"]["question"], "?");
    assert_eq!(batch["messages"][2]["document"]["filename"], "invoice.pdf");
    assert_eq!(batch["messages"][2]["document"]["caption"], "Invoice 12345");

    let bsuid = &changes[1]["value"];
    let tap = &bsuid["messages"][0];
    assert!(tap.get("from").is_none(), "BSUID-only sender has no from");
    assert_eq!(tap["from_user_id"], "US.13491208655302741918");
    assert_eq!(
        tap["context"],
        json!({ "from": "15550783881", "id": "wamid.out-1" })
    );
    assert_eq!(tap["interactive"]["button_reply"]["id"], "yes");
    assert_eq!(bsuid["contacts"][0]["user_id"], "US.13491208655302741918");
    assert!(bsuid["contacts"][0].get("wa_id").is_none());

    let statuses = changes[2]["value"]["statuses"].as_array().unwrap();
    assert_eq!(statuses[0]["status"], "delivered");
    assert_eq!(statuses[0]["recipient_id"], "16505551234");
    assert_eq!(statuses[0]["pricing"]["category"], "utility");
    assert_eq!(statuses[1]["errors"][0]["code"], 131047);
    assert_eq!(
        statuses[1]["errors"][0]["error_data"]["details"],
        "More than 24 hours have passed"
    );
    assert_eq!(changes[3]["value"]["errors"][0]["code"], 131052);
    assert_eq!(
        body["entry"][1]["changes"][0]["field"],
        "message_template_status_update"
    );
    assert!(
        body["entry"][1]["changes"][0]["value"]
            .get("metadata")
            .is_none()
    );

    // An empty `from` plus `from_user_id` is a BSUID-only sender too.
    let only = Delivery::new("1")
        .message(
            "2",
            "3",
            MessageSpec::text("", "wamid.e", 1, "hi")
                .from_user_id("US.1")
                .profile_name("Jo"),
        )
        .build();
    let value = &only["entry"][0]["changes"][0]["value"];
    assert!(value["messages"][0].get("from").is_none());
    assert_eq!(value["messages"][0]["from_user_id"], "US.1");
    assert_eq!(
        value["contacts"][0],
        json!({ "profile": { "name": "Jo" }, "user_id": "US.1" })
    );
    // With a phone, from_user_id is added next to it.
    let both = Delivery::new("1")
        .message(
            "2",
            "3",
            MessageSpec::text("16505551234", "wamid.f", 1, "hi").from_user_id("US.1"),
        )
        .build();
    let value = &both["entry"][0]["changes"][0]["value"];
    assert_eq!(value["messages"][0]["from"], "16505551234");
    assert_eq!(value["messages"][0]["from_user_id"], "US.1");
    assert_eq!(value["contacts"][0]["wa_id"], "16505551234");
    assert_eq!(value["contacts"][0]["user_id"], "US.1");
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

async fn receiver(
    State(received): State<Received>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let signed = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sig| sig == sign(b"app-secret", &body));
    received
        .0
        .lock()
        .expect("receiver lock")
        .push((headers, body));
    if signed {
        (StatusCode::OK, "EVENT_RECEIVED")
    } else {
        (StatusCode::UNAUTHORIZED, "bad signature")
    }
}

#[tokio::test]
async fn simulator_posts_signed_meta_json() {
    let received = Received::default();
    let app = Router::new()
        .route("/webhook", post(receiver))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let simulator = WebhookSimulator::new(url.clone(), b"app-secret".to_vec());
    assert!(
        !format!("{simulator:?}").contains("app-secret"),
        "secret stays out of Debug"
    );
    assert_eq!(simulator.url(), url);
    let payload = Delivery::new("1")
        .message(
            "2",
            "15550783881",
            MessageSpec::text("16505551234", "wamid.x", 1, "Grüße 👋"),
        )
        .build();
    let result = simulator.deliver(&payload).await.unwrap();
    assert_eq!(result.status, 200);
    assert!(result.acknowledged());
    assert_eq!(result.body, "EVENT_RECEIVED");
    {
        let seen = received.0.lock().unwrap();
        let (headers, body) = &seen[0];
        assert_eq!(body.as_ref(), meta_json(&payload).as_bytes());
        assert!(
            std::str::from_utf8(body)
                .unwrap()
                .contains("Gr\\u00fc\\u00dfe \\ud83d\\udc4b")
        );
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["user-agent"], "facebookexternalua");
        assert_eq!(
            headers["x-hub-signature-256"].to_str().unwrap(),
            sign(b"app-secret", body)
        );
    }

    // Negative deliveries: no header, wrong signature.
    let result = simulator.deliver_raw(b"{}".to_vec(), None).await.unwrap();
    assert_eq!(result.status, 401);
    assert!(!result.acknowledged());
    assert!(
        received.0.lock().unwrap()[1]
            .0
            .get("x-hub-signature-256")
            .is_none()
    );
    let result = simulator
        .deliver_raw(b"{}".to_vec(), Some(sign(b"wrong", b"{}")))
        .await
        .unwrap();
    assert_eq!(result.status, 401);

    // The real delivery, re-sent byte for byte with its real secret, carries Meta's signature.
    let real = WebhookSimulator::new(url, FIXTURE_SECRET.trim());
    assert_eq!(real.signature(FIXTURE_BODY), FIXTURE_SIGNATURE.trim());
    let result = real.deliver_bytes(FIXTURE_BODY.to_vec()).await.unwrap();
    assert_eq!(result.status, 401, "the receiver only knows app-secret");
    let seen = received.0.lock().unwrap();
    let (headers, body) = seen.last().unwrap();
    assert_eq!(body.as_ref(), FIXTURE_BODY);
    assert_eq!(
        headers["x-hub-signature-256"].to_str().unwrap(),
        FIXTURE_SIGNATURE.trim()
    );
}

#[tokio::test]
async fn unreachable_receiver_is_an_http_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    drop(listener);
    let error = WebhookSimulator::new(url, b"s".to_vec())
        .deliver(&json!({}))
        .await
        .unwrap_err();
    assert!(matches!(error, chatport_testkit::Error::Http(_)));
}
