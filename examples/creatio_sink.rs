//! Run: `cargo run --example creatio_sink`
//!
//! Creatio through `EntitySink`, the connector's `chatport_core::Sink`: a contact and a case,
//! each created at most once per idempotency key. The record `Id` is derived from the key
//! (`IdempotencyKey::uuid`), so a replay — here a second write standing for a retry after a
//! timeout — meets Creatio's primary-key rule and returns the same record instead of a second.
//!
//! Self-contained: it starts the testkit's Creatio emulator on 127.0.0.1 and exits 0 when each
//! record exists exactly once.

use chatport::core::{EventId, IdempotencyKey, Sink};
use chatport::creatio::{Case, Client, Contact, EntitySink};
use chatport_testkit::creatio::CreatioEmulator;
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let crm = CreatioEmulator::start().await?;
    let client = Client::builder()
        .base_url(&crm.base_url())
        .identity_url(&crm.identity_url())
        .oauth_client_credentials(
            crm.client_id(),
            SecretString::from(crm.client_secret().to_owned()),
        )
        .build()?;
    let contacts = EntitySink::<Contact>::new(client.clone());
    let cases = EntitySink::<Case>::new(client.clone());
    contacts.check().await?;

    let event = EventId::new("wamid.HBgLNDkxNTEyMzQ1Njc4OQ");
    let contact = Contact {
        name: Some("Anna Schmidt".into()),
        mobile_phone: Some("+4915123456789".into()),
        ..Contact::new()
    };
    let contact_id = contacts
        .write(&contact, &IdempotencyKey::derive("C5", "contact", &event))
        .await?;

    let case_key = IdempotencyKey::derive("C1", "case", &event);
    let case = Case {
        subject: Some("WhatsApp: parcel damaged".into()),
        status_id: Some(client.lookups().case_status_new),
        contact_id: Some(contact_id),
        ..Case::new()
    };
    let first = cases.create(&case, &case_key).await?;
    println!(
        "case {} {:?} (existed: {})",
        first.id, first.record.number, first.existed
    );
    let replay = cases.write(&case, &case_key).await?;
    println!("replay: case {replay}");

    assert_eq!(replay, first.id, "a replay returns the same record");
    assert_eq!(crm.records("Contact").len(), 1);
    assert_eq!(crm.records("Case").len(), 1, "one case per key");
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
