//! Run: `cargo run --example creatio_case`
//!
//! Creatio over OData 4: a contact and a case created with client-chosen ids derived from an
//! idempotency key (`Client::create_with_key`), so a retried POST finds its record instead of
//! creating a second one; then a `$filter` query for the new cases.
//!
//! Self-contained: it starts the testkit's Creatio emulator (OAuth 2.0 client credentials at its
//! Identity Service, OData 4) on 127.0.0.1 and exits 0 when each record exists exactly once.

use chatport::core::{EventId, IdempotencyKey};
use chatport::creatio::{Case, Client, Contact, Entity, Query, filter};
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

    let contacts_before = crm.records("Contact").len();
    let event = EventId::new("wamid.HBgLNDkxNTEyMzQ1Njc4OQ");
    let contact = Contact {
        name: Some("Anna Schmidt".into()),
        mobile_phone: Some("+49 151 2345 6789".into()),
        ..Contact::new()
    };
    let contact_key = IdempotencyKey::derive("C5", "create_contact", &event);
    let contact = client
        .create_with_key::<Contact, _>(Contact::SET, &contact_key, &contact)
        .await?;
    println!("contact {} (existed: {})", contact.id, contact.existed);

    let case_key = IdempotencyKey::derive("C1", "create_case", &event);
    let case = Case {
        subject: Some("WhatsApp: parcel damaged".into()),
        status_id: Some(client.lookups().case_status_new),
        contact_id: Some(contact.id),
        ..Case::new()
    };
    for attempt in 1..=2 {
        // The second attempt stands for a retry after a timeout: same key, same record.
        let created = client
            .create_with_key::<Case, _>(Case::SET, &case_key, &case)
            .await?;
        println!(
            "attempt {attempt}: case {} (existed: {})",
            created.id, created.existed
        );
    }

    let new_cases = client
        .list::<Case>(
            Case::SET,
            &Query::new()
                .filter(filter::lookup_eq(
                    "Status",
                    client.lookups().case_status_new,
                ))
                .top(10),
        )
        .await?;
    println!("{} new case(s) in Creatio", new_cases.value.len());
    if crm.records("Case").len() != 1 || crm.records("Contact").len() != contacts_before + 1 {
        return Err("a record was created twice".into());
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
