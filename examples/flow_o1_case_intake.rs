//! Run: `cargo run --features bridge --example flow_o1_case_intake`
//!
//! The OpenText flow family through the service, as `chatport serve` runs it: flow O1 (case
//! intake). A customer's complaint arrives as a webhook signed like Meta's (`X-Hub-Signature-256`);
//! the service verifies it, stores it in the SQLite outbox, answers 200, and a worker classifies
//! the message, creates the CMS case in a support queue and replies with the case reference. The
//! same delivery sent again is dropped as a duplicate: still one case, one reply.
//!
//! Self-contained: the Graph API and the CMS are testkit emulators on 127.0.0.1, the outbox is a
//! temporary file; exits 0 when the case and the reply exist exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatport::bridge::config::Config;
use chatport::bridge::service::Service;
use chatport::runtime::{Outbox, SqliteStore};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};

const APP_SECRET: &str = "example-app-secret";

/// The configuration file a deployment would have; `${...}` are filled from `vars` below (in
/// production, from the environment).
const CONFIG: &str = r#"
[workers]
poll_interval_ms = 20

[whatsapp]
api_base = "${GRAPH_URL}"
access_token = "${WHATSAPP_TOKEN}"
app_secrets = ["${WHATSAPP_APP_SECRET}"]
verify_token = "${WHATSAPP_VERIFY_TOKEN}"

[opentext]
auth_base = "${OPENTEXT_URL}"
cms_base = "${OPENTEXT_URL}/cms"
tenant_id = "${OPENTEXT_TENANT_ID}"
client_id = "${OPENTEXT_CLIENT_ID}"
client_secret = "${OPENTEXT_CLIENT_SECRET}"
requests_per_second = 0

[[classifier.issue_types]]
name = "billing"
keywords = ["invoice", "charged twice"]

[[classifier.priorities]]
name = "high"
keywords = ["urgent"]

[[directory]]
phone = "+49 151 2345 6789"
name = "Anna Schmidt"
customer_id = "CUST-1001"

[[flows.o1.queues]]
queue = "billing-escalations"
issue_type = "billing"
priority = "high"
"#;

/// Waits until the outbox has nothing pending or in flight.
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
    let cms = CmsEmulator::start().await?;
    let vars: BTreeMap<String, String> = [
        ("GRAPH_URL", graph.base_url()),
        ("WHATSAPP_TOKEN", graph.access_token().to_owned()),
        ("WHATSAPP_APP_SECRET", APP_SECRET.to_owned()),
        ("WHATSAPP_VERIFY_TOKEN", "example-verify-token".to_owned()),
        ("OPENTEXT_URL", cms.base_url()),
        ("OPENTEXT_TENANT_ID", cms.tenant_id().to_owned()),
        ("OPENTEXT_CLIENT_ID", cms.client_id().to_owned()),
        ("OPENTEXT_CLIENT_SECRET", cms.client_secret().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let config = Config::from_toml_str(CONFIG)?;
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("chatport.sqlite"), Default::default())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let service = Service::start(&config, &vars, store.clone(), listener).await?;
    println!("service listening on {}", service.local_addr());

    // What Meta POSTs for one inbound text message, signed with the app secret.
    let meta = WebhookSimulator::new(
        format!("http://{}/webhooks/whatsapp", service.local_addr()),
        APP_SECRET.as_bytes().to_vec(),
    );
    let timestamp = now();
    let body = Delivery::new("102290129340398")
        .message(
            "106540352242922",
            "15550783881",
            MessageSpec::text(
                "4915123456789",
                "wamid.example-o1",
                timestamp,
                "URGENT: I was charged twice on invoice 4711",
            )
            .profile_name("Anna"),
        )
        .build();
    for delivery in 1..=2 {
        let answer = meta.deliver(&body).await?;
        println!(
            "delivery {delivery}: HTTP {} {}",
            answer.status, answer.body
        );
        drain(&store).await?;
    }

    let cases = cms.instances_of_type("ca_support_case");
    for case in &cases {
        let properties = &case["properties"];
        println!(
            "CMS case {} in queue {} (issue type {}, priority {})",
            properties["case_reference"],
            properties["support_queue"],
            properties["issue_type"],
            properties["priority"]
        );
    }
    let replies = graph.sent_to("+49 151 2345 6789");
    for reply in &replies {
        println!("reply: {}", reply.text_body().unwrap_or("(not text)"));
    }
    service.stop().await;
    if cases.len() != 1 || replies.len() != 1 {
        return Err(format!(
            "expected one case and one reply, got {} and {}",
            cases.len(),
            replies.len()
        )
        .into());
    }
    Ok(())
}

/// Seconds since the Unix epoch (WhatsApp timestamps), without a date-time dependency.
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
