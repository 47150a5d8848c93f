//! Run: `cargo run --features bridge --example flow_c1_handoff`
//!
//! The Creatio flow family through the service: flow C1 (handoff) with C5 (contact matching). A
//! customer asks for a person; the signed webhook is stored and acknowledged, and a worker finds or
//! creates the Creatio contact for the WhatsApp number, opens a case with a summary, writes the
//! conversation as activities, and tells the customer that an agent takes over.
//!
//! Self-contained: the Graph API and Creatio are testkit emulators on 127.0.0.1, the outbox is a
//! temporary file; exits 0 when the case exists once and the customer got the handoff reply.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatport::bridge::config::Config;
use chatport::bridge::service::Service;
use chatport::runtime::{Outbox, SqliteStore};
use chatport_testkit::creatio::CreatioEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};

const APP_SECRET: &str = "example-app-secret";
const CUSTOMER: &str = "4915123456789";

const CONFIG: &str = r#"
[workers]
poll_interval_ms = 20

[whatsapp]
api_base = "${GRAPH_URL}"
access_token = "${WHATSAPP_TOKEN}"
app_secrets = ["${WHATSAPP_APP_SECRET}"]
verify_token = "${WHATSAPP_VERIFY_TOKEN}"

[creatio]
base_url = "${CREATIO_URL}"
auth = "oauth"
client_id = "${CREATIO_CLIENT_ID}"
client_secret = "${CREATIO_CLIENT_SECRET}"
identity_url = "${CREATIO_IDENTITY_URL}"

[flows.o1]
enabled = false

[flows.c1]
enabled = true
"#;

async fn drain(store: &SqliteStore) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    loop {
        let stats = store.stats().await?;
        if stats.pending == 0 && stats.in_flight == 0 {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("the outbox did not drain: {stats:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let graph = GraphEmulator::start().await?;
    let crm = CreatioEmulator::start().await?;
    let vars: BTreeMap<String, String> = [
        ("GRAPH_URL", graph.base_url()),
        ("WHATSAPP_TOKEN", graph.access_token().to_owned()),
        ("WHATSAPP_APP_SECRET", APP_SECRET.to_owned()),
        ("WHATSAPP_VERIFY_TOKEN", "example-verify-token".to_owned()),
        ("CREATIO_URL", crm.base_url()),
        ("CREATIO_IDENTITY_URL", crm.identity_url()),
        ("CREATIO_CLIENT_ID", crm.client_id().to_owned()),
        ("CREATIO_CLIENT_SECRET", crm.client_secret().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let config = Config::from_toml_str(CONFIG)?;
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("chatport.sqlite"), Default::default())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let service = Service::start(&config, &vars, store.clone(), listener).await?;
    let meta = WebhookSimulator::new(
        format!("http://{}/webhooks/whatsapp", service.local_addr()),
        APP_SECRET.as_bytes().to_vec(),
    );

    let now = now();
    let conversation = [
        ("wamid.example-c1-1", now - 60, "My parcel arrived damaged."),
        (
            "wamid.example-c1-2",
            now,
            "I need to speak with a person, please.",
        ),
    ];
    for (wamid, timestamp, text) in conversation {
        let body = Delivery::new("102290129340398")
            .message(
                "106540352242922",
                "15550783881",
                MessageSpec::text(CUSTOMER, wamid, timestamp, text).profile_name("Anna Schmidt"),
            )
            .build();
        let answer = meta.deliver(&body).await?;
        println!("webhook \"{text}\": HTTP {}", answer.status);
        drain(&store).await?;
    }

    let cases = crm.records("Case");
    for case in &cases {
        let activities = crm
            .records("Activity")
            .into_iter()
            .filter(|a| a["CaseId"] == case["Id"])
            .count();
        println!(
            "Creatio case {} ({}) with {activities} activities",
            case["Number"].as_str().unwrap_or("?"),
            case["Subject"].as_str().unwrap_or("?")
        );
    }
    let replies = graph.sent_to(CUSTOMER);
    for reply in &replies {
        println!("reply: {}", reply.text_body().unwrap_or("(not text)"));
    }
    service.stop().await;
    if cases.len() != 1 || replies.is_empty() {
        return Err("expected one case and the handoff reply".into());
    }
    Ok(())
}

/// Seconds since the Unix epoch (WhatsApp timestamps).
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    /// `cargo test` runs the example (`test = true` in Cargo.toml), so a broken example fails CI.
    #[test]
    fn runs() -> Result<(), Box<dyn std::error::Error>> {
        super::main()
    }
}
