//! Run: `cargo run --example cms_case`
//!
//! OpenText CMS without duplicates, through `chatport_opentext::InstanceSink`: the CMS has no
//! idempotency key, so the sink writes the caller's key into a property and looks it up before
//! every create. Written twice with the same key (a retry, a redelivered webhook), the second write
//! finds the first record; eight concurrent writes of a new key create one record (a per-key lock
//! in the process; across replicas the outbox's ordering key serialises one key's events).
//!
//! Self-contained: it starts the testkit's CMS emulator (tenant OAuth, CMS, CSS) on 127.0.0.1
//! and exits 0 when every record exists exactly once.

use chatport::core::{EventId, IdempotencyKey, Sink};
use chatport::opentext::{Category, Client, InstanceDraft, InstanceSink};
use chatport_testkit::cms::CmsEmulator;
use secrecy::SecretString;

const CASE_TYPE: &str = "ca_support_case";
const KEY_PROPERTY: &str = "chatport_key";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cms = CmsEmulator::start().await?;
    let client = Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .no_rate_limit() // the real CMS allows 5 requests/s per tenant: keep the default there
        .build()?;
    let cases = InstanceSink::builder(client)
        .category(Category::Object)
        .type_name(CASE_TYPE)
        .key_property(KEY_PROPERTY)
        .build()?;

    // The same webhook event gives the same key on every retry and replay.
    let key = IdempotencyKey::derive("O1", "create_case", &EventId::new("wamid.HBgLMTY1MDU1"));
    let draft = InstanceDraft::new("Damaged parcel").property("priority", "high");
    let first = cases.write(&draft, &key).await?;
    println!("attempt 1: case {} (created: {})", first.id, first.created);
    let second = cases.write(&draft, &key).await?;
    println!(
        "attempt 2: case {} (created: {})",
        second.id, second.created
    );

    // Eight workers handling one new event at the same moment.
    let key = IdempotencyKey::derive("O1", "create_case", &EventId::new("wamid.HBgLMTY1MDU2"));
    let draft = InstanceDraft::new("Late delivery");
    let racing = futures::future::try_join_all((0..8).map(|_| cases.write(&draft, &key))).await?;
    let created = racing.iter().filter(|r| r.created).count();
    println!("8 concurrent writes of one key: {created} created");

    let records = cms.instances_of_type(CASE_TYPE);
    println!("records of type {CASE_TYPE} in the CMS: {}", records.len());
    if records.len() != 2 || first.id != second.id || !first.created || second.created {
        return Err("a second record was created".into());
    }
    if created != 1 || racing.iter().any(|r| r.id != racing[0].id) {
        return Err("concurrent writes of one key made more than one record".into());
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
