//! Run: `cargo run --example relay_document`
//!
//! Relay a received document to a file: take the document of a (signed, parsed) webhook,
//! download it streaming with the bearer token, verify the SHA-256 the webhook announced
//! (base64), and keep the file only when it matches.
//!
//! Runs against the testkit's Graph emulator and exits: `cargo run --example relay_document`.

use chatport::whatsapp::webhook::Notification;
use chatport::whatsapp::{Client, DownloadOptions};
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec};
use secrecy::SecretString;

/// The root package has no base64 dependency: a tiny encoder for the example's webhook.
fn encode_base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let graph = GraphEmulator::start().await?;
    let pdf = b"%PDF-1.7\n% an invoice received on WhatsApp\n".to_vec();
    let media_id = graph.add_media("application/pdf", pdf.clone());
    let sha256_hex = graph
        .media(&media_id)
        .map(|m| m.sha256_hex())
        .unwrap_or_default();
    let digest: Vec<u8> = (0..sha256_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&sha256_hex[i..i + 2], 16))
        .collect::<Result<_, _>>()?;

    // What Meta would POST: a document message whose sha256 is base64.
    let payload = Delivery::new("102290129340398")
        .message(
            "106540352242922",
            "15550783881",
            MessageSpec::document(
                "16505551234",
                "wamid.doc-1",
                1_751_247_548,
                media_id.clone(),
                "application/pdf",
                "invoice-4711.pdf",
            )
            .sha256(encode_base64(&digest)),
        )
        .build();
    let body = serde_json::to_vec(&payload)?;
    let events = Notification::parse(&body)?.events();
    let message = events[0].message().ok_or("not a message")?;
    let document = message.document.as_ref().ok_or("not a document")?;

    let client = Client::builder()
        .access_token(SecretString::from(graph.access_token().to_owned()))
        .base_url(&graph.base_url())
        .media_hosts(["127.0.0.1"]) // the emulator's media host; Meta's is the default
        .build()?;

    let dir = std::env::temp_dir().join(format!("chatport-relay-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await?;
    let name = document.filename.as_deref().unwrap_or("document.bin");
    let partial = dir.join(format!("{name}.part"));
    let mut file = tokio::fs::File::create(&partial).await?;
    let options = DownloadOptions::new().max_bytes(10_000_000);
    match client
        .download_inbound_media(document, &mut file, &options)
        .await
    {
        Ok(done) => {
            let target = dir.join(name);
            tokio::fs::rename(&partial, &target).await?;
            println!(
                "saved {} ({} bytes, sha256 {} verified: {})",
                target.display(),
                done.bytes,
                done.sha256_hex,
                done.verified
            );
            assert!(done.verified);
            assert_eq!(tokio::fs::read(&target).await?, pdf);
            tokio::fs::remove_dir_all(&dir).await?;
            Ok(())
        }
        Err(e) => {
            tokio::fs::remove_file(&partial).await.ok();
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    /// `cargo test` runs the example (`test = true` in Cargo.toml), so a broken example fails CI.
    #[test]
    fn runs() -> Result<(), Box<dyn std::error::Error>> {
        super::main()
    }
}
