use chatport_orangelogic::{AssetRef, DataTableCall, FeedbackTarget};
use wiremock::matchers::{body_string, method, path, query_param};
use wiremock::{Mock, MockServer};

use crate::common::*;

const UPDATE: &str = "/API/DataTable/v2.2/Documents.All:Update";

#[tokio::test]
async fn read_asset_is_a_short_get() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/API/DataTable/v2.2/Documents.All:Read"))
        .and(query_param("RecordID", "2RBKT7U02J51"))
        .and(query_param("format", "json"))
        .respond_with(ok("datatable_read.json"))
        .expect(1)
        .mount(&server)
        .await;
    let record = client(&server)
        .read_asset(&AssetRef::RecordId("2RBKT7U02J51".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.identifier().as_deref(), Some("CTL1"));
    assert_eq!(
        record.text("may.review-state").as_deref(),
        Some("In review")
    );
}

#[tokio::test]
async fn set_fields_posts_the_set_operator() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(UPDATE))
        .and(query_param("format", "json"))
        .and(body_string(
            "CoreField.Identifier=CTL1&CoreField.Title%3A=Spring%20%26%20summer&MAY.Project%3A=P-1&format=json",
        ))
        .respond_with(ok("datatable_updated.json"))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .set_fields(
            &AssetRef::Identifier("CTL1".into()),
            [
                ("CoreField.Title", "Spring & summer"),
                ("MAY.Project", "P-1"),
            ],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn add_keywords_uses_plus_and_plus_plus_with_pipes() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(UPDATE))
        .and(body_string(
            "CoreField.Identifier=CTL1&CoreField.Keywords%2B=spring%7Claunch&format=json",
        ))
        .respond_with(ok("datatable_updated.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(UPDATE))
        .and(body_string(
            "RecordID=R1&CoreField.Keywords%2B%2B=brand%20new&format=json",
        ))
        .respond_with(ok("datatable_updated.json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    client
        .add_keywords(
            &AssetRef::Identifier("CTL1".into()),
            ["spring", "launch"],
            false,
        )
        .await
        .unwrap();
    client
        .add_keywords(&AssetRef::RecordId("R1".into()), ["brand new"], true)
        .await
        .unwrap();
    assert!(
        client
            .add_keywords(&AssetRef::RecordId("R1".into()), ["a|b"], true)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn move_to_folder_reads_the_folder_by_unique_identifier() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    // the documented form: …Documents.Folder.Default:Read?CoreField.Unique-Identifier=…
    Mock::given(method("POST"))
        .and(path(UPDATE))
        .and(body_string(
            "CoreField.Identifier=CTL1&CoreField.Parent-folder%3A=%5B%2FAPI%2FDataTable%2Fv2.2%2FDocuments.Folder.Default%3ARead%3FCoreField.Unique-Identifier%3D2QDTWAW79R4%5D&format=json",
        ))
        .respond_with(ok("datatable_updated.json"))
        .expect(1)
        .mount(&server)
        .await;
    // a folder named by its RecordID keeps the RecordID lookup
    Mock::given(method("POST"))
        .and(path(UPDATE))
        .and(body_string(
            "RecordID=R1&CoreField.Parent-folder%3A=%5B%2FAPI%2FDataTable%2Fv2.2%2FDocuments.Folder.Default%3ARead%3FRecordID%3DFREC1%5D&format=json",
        ))
        .respond_with(ok("datatable_updated.json"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    c.move_to_folder(
        &AssetRef::Identifier("CTL1".into()),
        &AssetRef::Identifier("2QDTWAW79R4".into()),
    )
    .await
    .unwrap();
    c.move_to_folder(
        &AssetRef::RecordId("R1".into()),
        &AssetRef::RecordId("FREC1".into()),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_folder_identifier_field_is_configurable() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(UPDATE))
        .and(body_string(
            "CoreField.Identifier=CTL1&CoreField.Parent-folder%3A=%5B%2FAPI%2FDataTable%2Fv2.2%2FDocuments.Folder.Default%3ARead%3FCoreField.Identifier%3DFLD1%5D&format=json",
        ))
        .respond_with(ok("datatable_updated.json"))
        .expect(1)
        .mount(&server)
        .await;
    builder(&server)
        .folder_identifier_field("CoreField.Identifier")
        .build()
        .unwrap()
        .move_to_folder(
            &AssetRef::Identifier("CTL1".into()),
            &AssetRef::Identifier("FLD1".into()),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn create_folder_returns_the_record_id() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/API/DataTable/v2.2/Documents.Folder.Default:Create"))
        .and(body_string(
            "CoreField.Title%3A=Project%20X&CoreField.Parent-folder%3A=ROOT1&format=json",
        ))
        .respond_with(ok("datatable_created.json"))
        .expect(1)
        .mount(&server)
        .await;
    let id = client(&server)
        .create_folder("Default", "Project X", "ROOT1")
        .await
        .unwrap();
    assert_eq!(id, "FLD9");
}

#[tokio::test]
async fn a_failed_update_code_is_an_error_and_writes_are_not_retried() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(UPDATE))
        .respond_with(wiremock::ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .set_fields(
            &AssetRef::Identifier("CTL1".into()),
            [("CoreField.Title", "x")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
}

#[tokio::test]
async fn feedback_targets() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/API/DataTable/v2.2/Documents.All:Read"))
        .respond_with(ok("datatable_read.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(UPDATE))
        .and(body_string(
            "CoreField.Identifier=CTL1&MAY.Review-State%3A=In%20review%0Areceived&format=json",
        ))
        .respond_with(ok("datatable_updated.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(UPDATE))
        .and(body_string(
            "CoreField.Identifier=CTL1&MAY.Feedback%2B%2B=need%20format&format=json",
        ))
        .respond_with(ok("datatable_updated.json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let asset = AssetRef::Identifier("CTL1".into());
    client
        .record_feedback(
            &asset,
            &FeedbackTarget::AppendToField {
                field: "MAY.Review-State".into(),
                separator: "\n".into(),
            },
            "received",
        )
        .await
        .unwrap();
    client
        .record_feedback(
            &asset,
            &FeedbackTarget::Tag {
                field: "MAY.Feedback".into(),
            },
            "need format",
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn custom_calls_go_through_datatable() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/API/DataTable/V2.1/Tags.Keyword:Create"))
        .and(body_string("Name%3A=x&format=json"))
        .respond_with(ok("datatable_created.json"))
        .expect(1)
        .mount(&server)
        .await;
    let call = DataTableCall::create("Tags.Keyword")
        .version("V2.1")
        .set("Name", "x");
    let response = client(&server).datatable(&call).await.unwrap();
    assert_eq!(response.record_id().as_deref(), Some("FLD9"));
}
