//! Run: `cargo run --example send_template`
//!
//! Check at start-up that a template exists and is approved, then send it.
//!
//! Runs against the testkit's Graph emulator and exits: `cargo run --example send_template`.
//! Against Meta, set `GRAPH_URL` (unset: emulator), `WHATSAPP_TOKEN`, `PHONE_NUMBER_ID`,
//! `WABA_ID` and `TO`.

use chatport::whatsapp::{Client, OutgoingMessage, Recipient, Template, TemplateParameter};
use chatport_testkit::graph::GraphEmulator;
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_owned());
    // The emulator stands in for graph.facebook.com unless GRAPH_URL is set.
    let emulator = match std::env::var("GRAPH_URL") {
        Ok(_) => None,
        Err(_) => {
            let graph = GraphEmulator::start().await?;
            graph.add_template("case_update", "en_US", "APPROVED");
            Some(graph)
        }
    };
    let (base_url, token) = match &emulator {
        Some(g) => (g.base_url(), g.access_token().to_owned()),
        None => (env("GRAPH_URL", ""), env("WHATSAPP_TOKEN", "")),
    };
    let phone_number_id = env("PHONE_NUMBER_ID", "106540352242922");
    let waba_id = env("WABA_ID", "102290129340398");
    let to = env("TO", "+16505551234");

    let client = Client::builder()
        .access_token(SecretString::from(token))
        .base_url(&base_url)
        .build()?;

    let problems = client
        .unapproved_templates(&waba_id, &[("case_update", "en_US")])
        .await?;
    if !problems.is_empty() {
        return Err(format!("templates not ready: {problems:?}").into());
    }

    let template = Template::new("case_update", "en_US").body(vec![
        TemplateParameter::text("C-1042"),
        TemplateParameter::date_time("1 July 2026"),
    ]);
    let message = OutgoingMessage::template(Recipient::phone(to), template)
        .biz_opaque_callback_data("case:C-1042");
    let answer = client.send(&phone_number_id, &message).await?;
    println!("template accepted as {}", answer.wamid().unwrap_or("?"));

    if let Some(graph) = emulator {
        assert_eq!(graph.sent().len(), 1);
        graph.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// `cargo test` runs the example (`test = true` in Cargo.toml), so a broken example fails CI.
    #[test]
    fn runs() -> Result<(), Box<dyn std::error::Error>> {
        super::main()
    }
}
