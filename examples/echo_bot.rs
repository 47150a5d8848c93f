//! Run: `cargo run --example echo_bot`
//!
//! An echo bot: a webhook endpoint that verifies Meta's signature, parses every update of the
//! POST, and replies to each text message inside the 24-hour window.
//!
//! Runs against the testkit (Graph emulator + signed webhook simulator) and exits:
//! `cargo run --example echo_bot`.

use std::sync::Arc;
use std::time::Duration;

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use chatport::whatsapp::webhook::{Notification, SIGNATURE_HEADER, SignatureVerifier};
use chatport::whatsapp::{Client, OutgoingMessage, Recipient, WindowTracker};
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use secrecy::SecretString;

const APP_SECRET: &str = "example-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";

struct Bot {
    verifier: SignatureVerifier,
    client: Client,
    window: WindowTracker,
}

async fn webhook(State(bot): State<Arc<Bot>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if bot.verifier.verify(header, &body).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(notification) = Notification::parse(&body) else {
        // verified but unreadable: acknowledge, so Meta does not redeliver it for 7 days
        return StatusCode::OK;
    };
    // A real service stores the events durably first and answers 200 at once; the echo bot
    // replies inline to stay short.
    for event in notification.events() {
        bot.window.observe(&event).await;
        let (Some(message), Some(pnid)) = (event.message(), event.phone_number_id()) else {
            continue;
        };
        let (Some(sender), Some(text)) = (message.sender(), message.text_body()) else {
            continue;
        };
        let reply = OutgoingMessage::text(Recipient::phone(sender), format!("You said: {text}"))
            .reply_to(message.id.clone());
        if let Err(e) = bot.window.send(&bot.client, pnid, &reply, None).await {
            eprintln!("reply not sent: {e}");
        }
    }
    StatusCode::OK
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let graph = GraphEmulator::builder()
        .enforce_window(true)
        .start()
        .await?;
    let bot = Arc::new(Bot {
        verifier: SignatureVerifier::new([SecretString::from(APP_SECRET)])?,
        client: Client::builder()
            .access_token(SecretString::from(graph.access_token().to_owned()))
            .base_url(&graph.base_url())
            .build()?,
        window: WindowTracker::default(),
    });
    let app = Router::new()
        .route("/webhooks/whatsapp", post(webhook))
        .with_state(bot);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/whatsapp", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The emulator opens the window when the user writes (as Meta does).
    graph.record_inbound(PHONE_NUMBER_ID, "16505551234");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let payload = Delivery::new("102290129340398")
        .message(
            PHONE_NUMBER_ID,
            "15550783881",
            MessageSpec::text("16505551234", "wamid.echo-1", now, "Grüße 👋"),
        )
        .build();
    let result = WebhookSimulator::new(url, APP_SECRET.as_bytes().to_vec())
        .deliver(&payload)
        .await?;
    println!("webhook answered {}", result.status);

    for _ in 0..50 {
        if let Some(reply) = graph.sent().first() {
            println!("bot replied: {}", reply.text_body().unwrap_or_default());
            server.abort();
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("no reply".into())
}

#[cfg(test)]
mod tests {
    /// `cargo test` runs the example (`test = true` in Cargo.toml), so a broken example fails CI.
    #[test]
    fn runs() -> Result<(), Box<dyn std::error::Error>> {
        super::main()
    }
}
