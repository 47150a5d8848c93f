//! Run: `cargo run --example dam_upload`
//!
//! Orange Logic OrangeDAM: upload a field photo into a folder (streamed `UploadNewMedia`), tag it
//! with a keyword through the DataTable API, then find it again with Search API v4.0.
//!
//! Self-contained: it starts the testkit's OrangeDAM emulator on 127.0.0.1 and exits 0 when the
//! search finds the uploaded asset with its bytes intact.

use chatport::orangelogic::{AssetRef, Client, Query, SearchRequest, UploadRequest};
use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
use futures::TryStreamExt;
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dam = OrangeLogicEmulator::start().await?;
    let folder = dam.seed_folder("Bridge A4", ROOT_FOLDER);
    let client = Client::builder()
        .base_url(&dam.base_url())
        .client_credentials(
            dam.client_id(),
            SecretString::from(dam.client_secret().to_owned()),
        )
        .build()?;

    let photo = b"\xff\xd8\xff\xe0 crack at the bearing".to_vec();
    let request = UploadRequest::new(&folder, "pier-3.jpg", photo.len() as u64);
    let uploaded = client
        .upload(&request, std::io::Cursor::new(photo.clone()))
        .await?;
    let identifier = uploaded
        .identifier
        .ok_or("the upload answer named no identifier")?;
    println!("uploaded pier-3.jpg as {identifier} ({:?})", uploaded.path);

    client
        .add_keywords(
            &AssetRef::Identifier(identifier.clone()),
            ["inspection-2026"],
            true,
        )
        .await?;

    let query = Query::term("Keyword", "inspection-2026")
        .and(Query::term("ParentFolderIdentifier", &folder));
    let hits: Vec<_> = client
        .search(&SearchRequest::new(query).fields(["SystemIdentifier", "Title"]))
        .items()
        .try_collect()
        .await?;
    println!(
        "search found {} asset(s) tagged inspection-2026",
        hits.len()
    );
    let found = hits
        .iter()
        .any(|hit| hit.system_identifier().as_deref() == Some(identifier.as_str()));
    if !found || dam.asset_bytes(&identifier) != Some(photo) {
        return Err("the uploaded asset was not found intact".into());
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
