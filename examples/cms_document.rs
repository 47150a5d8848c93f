//! Run: `cargo run --example cms_document`
//!
//! A document stored in OpenText once per idempotency key, through
//! `chatport_opentext::DocumentSink`: the bytes go to the Content Storage Service, then a file
//! instance with that blob as its primary rendition is created in the CMS, with the key in a
//! property. A repeat of the same key finds the file instance **before** uploading again.
//!
//! Self-contained: it starts the testkit's CMS + CSS emulator on 127.0.0.1 and exits 0 when the
//! document was uploaded and filed exactly once.

use chatport::core::{EventId, IdempotencyKey, Sink};
use chatport::opentext::{Client, Document, DocumentSink, InstanceDraft};
use chatport_testkit::cms::CmsEmulator;
use secrecy::SecretString;

const INVOICE_TYPE: &str = "ca_invoice";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cms = CmsEmulator::start().await?;
    let client = Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .css_base(&cms.css_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .no_rate_limit() // the real CMS allows 5 requests/s per tenant: keep the default there
        .build()?;
    let invoices = DocumentSink::builder(client)
        .type_name(INVOICE_TYPE)
        .key_property("chatport_key")
        .build()?;

    let key = IdempotencyKey::derive("O2", "document", &EventId::new("wamid.HBgLMTY1MDU3"));
    let document = Document::from_bytes(
        InstanceDraft::new("Invoice 12345").property("invoice_no", "12345"),
        "invoice-12345.pdf",
        b"%PDF-1.7 ...".to_vec(),
    )
    .mime_type("application/pdf");
    let first = invoices.write(&document, &key).await?;
    println!(
        "attempt 1: file {} with blob {:?} (created: {})",
        first.id, first.blob_id, first.created
    );
    let second = invoices.write(&document, &key).await?;
    println!(
        "attempt 2: file {} (created: {})",
        second.id, second.created
    );

    let files = cms.instances_of_type(INVOICE_TYPE).len();
    let uploads = cms.contents_uploaded().len();
    let renditions = cms.renditions(&first.id).len();
    println!("file instances: {files}, uploads: {uploads}, renditions: {renditions}");
    if files != 1 || uploads != 1 || renditions != 1 || first.id != second.id {
        return Err("the document was stored more than once".into());
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
