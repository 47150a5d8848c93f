//! ACLs (`/permissions`, `…/{id}/acl`) and the recycle bin (`/deleted`), shaped as OpenText's
//! contract-approval sample and the `OT_alpaca` explorer send them.

use chatport_opentext::{AclOptions, Category, DeleteOptions, IdentityType, ListQuery, Permission};
use futures::TryStreamExt;
use serde_json::json;
use wiremock::matchers::{body_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

#[tokio::test]
async fn find_acl_sends_the_name_filter_and_reads_permits() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/permissions"))
        .and(query_param("filter", "name eq 'created'"))
        .and(query_param("items-per-page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [{
                "id": "acl-7", "name": "created", "named": true,
                "permits": [{"identity": "owner", "identity_type": "user_alias",
                             "permissions": ["browse", "read_content", "write", "approve"]}]
            }]},
            "_links": {"self": {"href": "/cms/permissions"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cms/permissions"))
        .and(query_param("filter", "name eq 'nobody'"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_links": {}})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let acl = c.find_acl("created").await.unwrap().expect("found");
    assert_eq!(acl.id, "acl-7");
    assert_eq!(acl.named, Some(true));
    let permit = &acl.permits[0];
    assert_eq!(permit.identity_type, IdentityType::UserAlias);
    assert_eq!(
        permit.permissions,
        vec![
            Permission::Browse,
            Permission::ReadContent,
            Permission::Write,
            Permission::Other("approve".into())
        ]
    );
    assert!(c.find_acl("nobody").await.unwrap().is_none());
}

#[tokio::test]
async fn set_instance_acl_puts_the_id_with_folder_options() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("PUT"))
        .and(path(format!("{}/acl", case_path())))
        .and(query_param_is_missing("recursive"))
        .and(body_json(json!({"id": "acl-7"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": CASE_ID})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cms/instances/folder/cms_folder/f-1/acl"))
        .and(query_param("recursive", "true"))
        .and(query_param("force", "true"))
        .and(body_json(json!({"id": "acl-8"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{}/acl", case_path())))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "acl-7", "name": "created", "permits": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    c.set_instance_acl(
        Category::Object,
        "ca_case",
        CASE_ID,
        "acl-7",
        AclOptions::new(),
    )
    .await
    .unwrap();
    c.set_instance_acl(
        Category::Folder,
        "cms_folder",
        "f-1",
        "acl-8",
        AclOptions::new().recursive(true).force(true),
    )
    .await
    .unwrap();
    let acl = c
        .get_instance_acl(Category::Object, "ca_case", CASE_ID)
        .await
        .unwrap();
    assert_eq!(acl.name, "created");
}

#[tokio::test]
async fn the_recycle_bin_streams_pages_and_restores() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/deleted"))
        .and(query_param("page", "1"))
        .and(query_param("include-total", "true"))
        .and(query_param("sortby", "name asc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [
                {"id": "d-1", "name": "a.pdf", "category": "file", "type": "ca_invoice", "version_no": 2},
                {"id": "d-2", "name": "b", "category": "folder", "type": "cms_folder"}
            ]},
            "total": 3,
            "_links": {"next": {"href": "/cms/deleted?include-total=true&items-per-page=2&sortby=name%20asc&page=2"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cms/deleted"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [{"id": "d-3", "name": "c", "category": "case"}]},
            "total": 3, "_links": {}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cms/deleted/d-1/restore"))
        .and(query_param("all-version", "true"))
        .and(query_param_is_missing("recursive"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cms/deleted/d-2/restore"))
        .and(query_param("recursive", "true"))
        .and(query_param_is_missing("all-version"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cms/deleted/d-9"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"exception": "NotFound"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let query = ListQuery::new()
        .include_total(true)
        .items_per_page(2)
        .sortby("name asc")
        .page(1);
    let items: Vec<_> = c.deleted(&query).items().try_collect().await.unwrap();
    let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["d-1", "d-2", "d-3"]);
    assert_eq!(items[0].extra["version_no"], 2);
    c.restore_deleted("d-1", DeleteOptions::new().all_versions(true))
        .await
        .unwrap();
    c.restore_deleted("d-2", DeleteOptions::new().recursive(true))
        .await
        .unwrap();
    let err = c.get_deleted("d-9").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
}
