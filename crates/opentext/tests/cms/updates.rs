use chatport_core::{Classify, ErrorClass};
use chatport_opentext::{
    Category, DeleteOptions, InstanceDraft, InstancePatch, ListQuery, RenditionDraft,
};
use serde_json::{Map, json};
use wiremock::matchers::{body_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

const FILE_ID: &str = "7d1e0c4b-1111-4222-8333-444455556666";

fn file_path(rest: &str) -> String {
    format!("/cms/instances/file/ca_invoice/{FILE_ID}{rest}")
}

fn instance(version: u32) -> serde_json::Value {
    json!({"id": FILE_ID, "name": "Invoice 12345", "category": "file", "type": "ca_invoice",
           "version_no": version, "properties": {"status": "APPROVED"}})
}

#[tokio::test]
async fn full_update_puts_every_field_and_is_retried() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let body = json!({"name": "Invoice 12345", "properties": {"status": "APPROVED", "amount": 10}});
    Mock::given(method("PUT"))
        .and(path(file_path("")))
        .and(body_json(&body))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(file_path("")))
        .and(body_json(&body))
        .respond_with(ResponseTemplate::new(200).set_body_json(instance(1)))
        .expect(1)
        .mount(&server)
        .await;
    let draft = InstanceDraft::new("Invoice 12345")
        .property("status", "APPROVED")
        .property("amount", 10);
    let i = client(&server)
        .update_instance(Category::File, "ca_invoice", FILE_ID, &draft)
        .await
        .unwrap();
    assert_eq!(i.property("status"), Some(&json!("APPROVED")));
}

#[tokio::test]
async fn patch_sends_properties_traits_and_removals() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("PATCH"))
        .and(path(file_path("")))
        .and(body_json(json!({
            "properties": {"status": "REJECTED"},
            "traits": {"ca_approval": {"Manager": {"approver": "ann", "has_been_granted": false}},
                       "ca_legal_hold": {}}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(instance(1)))
        .expect(1)
        .mount(&server)
        .await;
    let mut attrs = Map::new();
    attrs.insert("approver".into(), json!("ann"));
    attrs.insert("has_been_granted".into(), json!(false));
    let patch = InstancePatch::new()
        .property("status", "REJECTED")
        .trait_instance("ca_approval", "Manager", attrs)
        .remove_trait("ca_legal_hold");
    let i = client(&server)
        .patch_instance(Category::File, "ca_invoice", FILE_ID, &patch)
        .await
        .unwrap();
    assert_eq!(i.id, FILE_ID);
}

#[tokio::test]
async fn patch_is_repeated_after_429_but_not_after_500() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("PATCH"))
        .and(path(file_path("")))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "fault": {"faultstring": "Spike arrest violation", "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"}}
        })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(file_path("")))
        .respond_with(ResponseTemplate::new(200).set_body_json(instance(1)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(file_path("")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"exception": "Boom"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let patch = InstancePatch::new().property("status", "X");
    c.patch_instance(Category::File, "ca_invoice", FILE_ID, &patch)
        .await
        .unwrap();
    let err = c
        .patch_instance(Category::File, "ca_invoice", FILE_ID, &patch)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Server);
}

#[tokio::test]
async fn move_parent_and_deletes() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("PUT"))
        .and(path(file_path("/parent")))
        .and(body_json(json!({"id": "folder-2"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(instance(1)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(file_path("/parent")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "folder-2", "name": "Invoices", "category": "folder", "type": "cms_folder"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(file_path("/delete")))
        .and(query_param("all-version", "true"))
        .and(query_param_is_missing("recursive"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(file_path("/all")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(file_path("")))
        .and(query_param_is_missing("recursive"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/cms/instances/folder/cms_folder/folder-9"))
        .and(query_param("recursive", "true"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cms/instances/folder/cms_folder/folder-9/delete"))
        .and(query_param("recursive", "true"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    c.move_instance(Category::File, "ca_invoice", FILE_ID, "folder-2")
        .await
        .unwrap();
    let parent = c
        .get_parent(Category::File, "ca_invoice", FILE_ID)
        .await
        .unwrap();
    assert_eq!(parent.name, "Invoices");
    c.soft_delete_instance(
        Category::File,
        "ca_invoice",
        FILE_ID,
        DeleteOptions::new().all_versions(true),
    )
    .await
    .unwrap();
    c.delete_instance(
        Category::File,
        "ca_invoice",
        FILE_ID,
        DeleteOptions::new().all_versions(true),
    )
    .await
    .unwrap();
    c.delete_instance(Category::File, "ca_invoice", FILE_ID, DeleteOptions::new())
        .await
        .unwrap();
    let folder = DeleteOptions::new().recursive(true);
    c.delete_instance(Category::Folder, "cms_folder", "folder-9", folder)
        .await
        .unwrap();
    c.soft_delete_instance(Category::Folder, "cms_folder", "folder-9", folder)
        .await
        .unwrap();
}

#[tokio::test]
async fn versions_and_next_version() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(file_path("/versions")))
        .and(query_param("sortby", "version_no asc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [instance(1), instance(2)]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(file_path("/nextVersion")))
        .and(body_json(json!({
            "name": "Invoice 12345",
            "version_label": ["second"],
            "renditions": [{"name": "inv.pdf", "blob_id": "blob-2", "rendition_type": "primary"}]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(instance(3)))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let versions = c
        .list_versions(
            "ca_invoice",
            FILE_ID,
            &ListQuery::new().sortby("version_no asc"),
        )
        .await
        .unwrap();
    assert_eq!(versions.items.len(), 2);
    assert_eq!(versions.items[1].extra["version_no"], 2);
    let draft = InstanceDraft::new("Invoice 12345")
        .extra("version_label", json!(["second"]))
        .extra(
            "renditions",
            json!([RenditionDraft::primary("inv.pdf", "blob-2").to_value()]),
        );
    let v = c.next_version("ca_invoice", FILE_ID, &draft).await.unwrap();
    assert_eq!(v.extra["version_no"], 3);
}

#[tokio::test]
async fn renditions_and_history() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(file_path("/contents")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [{
                "id": "r-1", "name": "inv.pdf", "blob_id": "blob-1", "mime_type": "application/pdf",
                "rendition_type": "primary", "content_size": 1234,
                "_links": {"urn:eim:linkrel:download-media": {"href": "https://css.example/v2/content/blob-1/download"}}
            }]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(file_path("/contents")))
        .and(body_json(json!({
            "name": "inv.txt", "blob_id": "blob-9", "rendition_type": "secondary", "mime_type": "text/plain"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "r-2", "name": "inv.txt", "blob_id": "blob-9", "rendition_type": "secondary"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(file_path("/contents/r-2")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(file_path("/history")))
        .and(query_param("include-total", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [
                {"id": "h1", "event_type": "create", "user_name": "svc", "event_time": "2025-01-01T00:00:00Z"},
                {"id": "h2", "event_type": "update", "user_name": "ann"}
            ]},
            "total": 2
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let contents = c
        .list_contents("ca_invoice", FILE_ID, &ListQuery::new())
        .await
        .unwrap();
    assert_eq!(contents.items[0].content_size, Some(1234));
    assert_eq!(
        contents.items[0].download_href().as_deref(),
        Some("https://css.example/v2/content/blob-1/download")
    );
    let r = c
        .add_content(
            "ca_invoice",
            FILE_ID,
            &RenditionDraft::secondary("inv.txt", "blob-9").mime_type("text/plain"),
        )
        .await
        .unwrap();
    assert_eq!(r.id, "r-2");
    c.delete_content("ca_invoice", FILE_ID, "r-2")
        .await
        .unwrap();
    let h = c
        .list_history(
            Category::File,
            "ca_invoice",
            FILE_ID,
            &ListQuery::new().include_total(true),
        )
        .await
        .unwrap();
    assert_eq!(h.total, Some(2));
    assert_eq!(h.items[0].event(), Some("create"));
    assert_eq!(h.items[1].user(), Some("ann"));
}

#[tokio::test]
async fn delete_of_a_missing_instance_is_permanent() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("DELETE"))
        .and(path(file_path("")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"exception": "NotFound"})))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .delete_instance(Category::File, "ca_invoice", FILE_ID, DeleteOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
}
