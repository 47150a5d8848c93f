//! Run: `cargo run --features bridge --example flow_l2_field_media`
//!
//! The Orange Logic flow family through the service: flow L2 (field media ingest). A technician
//! known to the directory sends a photo tagged `#bridge-a4`; the signed webhook is stored and
//! acknowledged, and a worker downloads the media from the Graph API (checking the SHA-256 the
//! webhook announced), uploads it to the project folder in OrangeDAM with sender, project and
//! review state, and replies with the asset's identifier.
//!
//! Self-contained: the Graph API and OrangeDAM are testkit emulators on 127.0.0.1, the outbox is a
//! temporary file; exits 0 when the asset and the reply exist exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatport::bridge::config::Config;
use chatport::bridge::service::Service;
use chatport::runtime::{Outbox, SqliteStore};
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};

const APP_SECRET: &str = "example-app-secret";
const TECHNICIAN: &str = "4915222222222";

const CONFIG: &str = r##"
[workers]
poll_interval_ms = 20

[whatsapp]
api_base = "${GRAPH_URL}"
access_token = "${WHATSAPP_TOKEN}"
app_secrets = ["${WHATSAPP_APP_SECRET}"]
verify_token = "${WHATSAPP_VERIFY_TOKEN}"

[orangelogic]
base_url = "${ORANGELOGIC_URL}"
client_id = "${ORANGELOGIC_CLIENT_ID}"
client_secret = "${ORANGELOGIC_CLIENT_SECRET}"

[[directory]]
phone = "+49 152 2222 2222"
name = "Tom Field"
role = "technician"

[flows.o1]
enabled = false

[flows.l2]
enabled = true
root_folder = "${ROOT_FOLDER}"

[[flows.l2.projects]]
tag = "#bridge-a4"
folder_title = "Bridge A4"
"##;

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
    let dam = OrangeLogicEmulator::start().await?;
    let vars: BTreeMap<String, String> = [
        ("GRAPH_URL", graph.base_url()),
        ("WHATSAPP_TOKEN", graph.access_token().to_owned()),
        ("WHATSAPP_APP_SECRET", APP_SECRET.to_owned()),
        ("WHATSAPP_VERIFY_TOKEN", "example-verify-token".to_owned()),
        ("ORANGELOGIC_URL", dam.base_url()),
        ("ORANGELOGIC_CLIENT_ID", dam.client_id().to_owned()),
        ("ORANGELOGIC_CLIENT_SECRET", dam.client_secret().to_owned()),
        ("ROOT_FOLDER", ROOT_FOLDER.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let config = Config::from_toml_str_with(CONFIG, &vars)?;
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("chatport.sqlite"), Default::default())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let service = Service::start(&config, &vars, store.clone(), listener).await?;

    // The photo waits at the Graph API; the webhook announces its media id and SHA-256.
    let photo = b"\xff\xd8\xff\xe0 field photo of pier 3".to_vec();
    let media_id = graph.add_media("image/jpeg", photo.clone());
    let sha256 = graph
        .media(&media_id)
        .map(|m| m.sha256_hex())
        .ok_or("the emulator lost the media")?;
    let body = Delivery::new("102290129340398")
        .message(
            "106540352242922",
            "15550783881",
            MessageSpec::image(
                TECHNICIAN,
                "wamid.example-l2",
                now(),
                &media_id,
                "image/jpeg",
            )
            .sha256(&sha256)
            .caption("Crack at the bearing #bridge-a4"),
        )
        .build();
    let meta = WebhookSimulator::new(
        format!("http://{}/webhooks/whatsapp", service.local_addr()),
        APP_SECRET.as_bytes().to_vec(),
    );
    let answer = meta.deliver(&body).await?;
    println!("webhook: HTTP {} {}", answer.status, answer.body);
    drain(&store).await?;

    let uploaded: Vec<_> = dam
        .assets()
        .into_iter()
        .filter(|asset| asset.bytes.as_deref() == Some(&photo[..]))
        .collect();
    for asset in &uploaded {
        println!(
            "OrangeDAM asset {}: sender {}, project {}, state {}",
            asset.identifier,
            asset.fields["Field.Sender"],
            asset.fields["Field.Project"],
            asset.fields["Workflow.State"]
        );
    }
    let replies = graph.sent_to(TECHNICIAN);
    for reply in &replies {
        println!("reply: {}", reply.text_body().unwrap_or("(not text)"));
    }
    service.stop().await;
    if uploaded.len() != 1 || replies.len() != 1 {
        return Err("expected one asset and one reply".into());
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
