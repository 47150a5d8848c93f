//! Run: `cargo run --example cms_case`
//!
//! OpenText CMS without duplicates: the CMS has no idempotency key, so the caller writes its own
//! key into a property and looks it up before every create. Run twice with the same key, the
//! second attempt finds the first record instead of creating another.
//!
//! Self-contained: it starts the testkit's CMS emulator (tenant OAuth, CMS, CSS) on 127.0.0.1
//! and exits 0 when the record exists exactly once.

use chatport::core::{EventId, IdempotencyKey};
use chatport::opentext::{Category, Client, Instance, InstanceDraft};
use chatport_testkit::cms::CmsEmulator;
use secrecy::SecretString;

const CASE_TYPE: &str = "ca_support_case";
const KEY_PROPERTY: &str = "chatport_key";

/// Finds the record carrying `key`, or creates it.
async fn create_once(
    client: &Client,
    key: &str,
) -> Result<(Instance, bool), chatport::opentext::Error> {
    if let Some(existing) = client
        .find_by_property(Category::Object, CASE_TYPE, KEY_PROPERTY, key)
        .await?
    {
        return Ok((existing, true));
    }
    let draft = InstanceDraft::new("Damaged parcel")
        .property(KEY_PROPERTY, key)
        .property("priority", "high");
    let created = client
        .create_instance(Category::Object, CASE_TYPE, &draft)
        .await?;
    Ok((created, false))
}

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

    // The same webhook event gives the same key on every retry and replay.
    let key = IdempotencyKey::derive("O1", "create_case", &EventId::new("wamid.HBgLMTY1MDU1"));
    let (first, existed) = create_once(&client, key.as_str()).await?;
    println!("attempt 1: case {} (already there: {existed})", first.id);
    let (second, existed) = create_once(&client, key.as_str()).await?;
    println!("attempt 2: case {} (already there: {existed})", second.id);

    let records = cms.instances_of_type(CASE_TYPE);
    println!("records of type {CASE_TYPE} in the CMS: {}", records.len());
    if records.len() != 1 || first.id != second.id {
        return Err("a second record was created".into());
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
