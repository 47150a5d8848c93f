use chatport_opentext::{Category, InstanceDraft, ListQuery};
use serde_json::json;
use wiremock::matchers::{
    body_json, header, header_regex, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

#[tokio::test]
async fn create_posts_the_draft_and_returns_the_instance() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/cms/instances/object/ca_case"))
        .and(header("authorization", "Bearer tok-1"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "name": "Damaged parcel",
            "description": "Complaint received on WhatsApp",
            "parent_folder_id": "a1b2c3d4-0000-4000-8000-000000000001",
            "properties": {
                "ext_ref": "O1:create_case:7c3f",
                "priority": "high",
                "issue_type": "delivery",
                "queue": "support-emea"
            }
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture("instance_case.json")))
        .expect(1)
        .mount(&server)
        .await;

    let draft = InstanceDraft::new("Damaged parcel")
        .description("Complaint received on WhatsApp")
        .parent_folder_id("a1b2c3d4-0000-4000-8000-000000000001")
        .property("ext_ref", "O1:create_case:7c3f")
        .property("priority", "high")
        .property("issue_type", "delivery")
        .property("queue", "support-emea");
    let i = client(&server)
        .create_instance(Category::Object, "ca_case", &draft)
        .await
        .unwrap();
    assert_eq!(i.id, CASE_ID);
    assert_eq!(i.type_name.as_deref(), Some("ca_case"));
    assert_eq!(i.category.as_deref(), Some("object"));
    assert_eq!(i.property("queue"), Some(&json!("support-emea")));
    assert_eq!(i.extra["acl_id"], "6c1f0d7e-1111-4111-8111-111111111111");
    assert_eq!(i.extra["version_no"], 1);
    assert!(i.created_at().is_some());
    assert_eq!(
        i.link("self").as_deref(),
        Some("/instances/object/ca_case/2f6a3c1e-8d3b-4b7e-9a57-0d1f4e2b7c90")
    );
}

#[tokio::test]
async fn get_reads_one_instance_with_hal_accept() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .and(header_regex("accept", r"^application/hal\+json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("instance_case.json")))
        .expect(1)
        .mount(&server)
        .await;
    let i = client(&server)
        .get_instance(Category::Object, "ca_case", CASE_ID)
        .await
        .unwrap();
    assert_eq!(
        i.description.as_deref(),
        Some("Complaint received on WhatsApp")
    );
}

#[tokio::test]
async fn list_sends_the_query_and_parses_a_hal_page() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_case"))
        .and(query_param("filter", "priority eq 'high'"))
        .and(query_param("sortby", "create_time desc"))
        .and(query_param("page", "1"))
        .and(query_param("items-per-page", "2"))
        .and(query_param("include-total", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("collection_page.json")))
        .expect(1)
        .mount(&server)
        .await;
    let query = ListQuery::new()
        .filter("priority eq 'high'")
        .sortby("create_time desc")
        .page(1)
        .items_per_page(2)
        .include_total(true);
    let page = client(&server)
        .list_instances(Category::Object, "ca_case", &query)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].id, CASE_ID);
    assert_eq!(page.items[1].name, "Wrong invoice amount");
    assert_eq!(page.total, Some(5));
    assert_eq!(
        page.next.as_deref(),
        Some("/instances/object/ca_case?page=2&items-per-page=2&include-total=true")
    );
    assert_eq!(page.previous, None);
    assert_eq!(page.extra["page"], 1);

    // Spaces are sent as %20, not '+'.
    let requests = server.received_requests().await.unwrap();
    let list = requests
        .iter()
        .find(|r| r.method.as_str() == "GET")
        .unwrap();
    let raw = list.url.query().unwrap();
    assert!(raw.contains("sortby=create_time%20desc"), "{raw}");
}

#[tokio::test]
async fn list_without_embedded_is_an_empty_page() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_case"))
        .and(query_param_is_missing("include-total"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("collection_empty.json")))
        .expect(1)
        .mount(&server)
        .await;
    let page = client(&server)
        .list_instances(Category::Object, "ca_case", &ListQuery::new())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.total, None);
    assert_eq!(page.next, None);
    assert!(page.links.contains_key("self"));
}

#[tokio::test]
async fn find_by_property_sends_an_encoded_eq_filter() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_case"))
        .and(query_param("filter", "ext_ref eq 'O1:create_case:7c3f'"))
        .and(query_param("items-per-page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("collection_page.json")))
        .expect(1)
        .mount(&server)
        .await;
    let found = client(&server)
        .find_by_property(
            Category::Object,
            "ca_case",
            "ext_ref",
            "O1:create_case:7c3f",
        )
        .await
        .unwrap()
        .expect("the first match");
    assert_eq!(found.id, CASE_ID);
    let requests = server.received_requests().await.unwrap();
    let raw = requests
        .iter()
        .find(|r| r.method.as_str() == "GET")
        .unwrap()
        .url
        .query()
        .unwrap()
        .to_owned();
    assert!(
        raw.starts_with("filter=ext_ref%20eq%20%27O1%3Acreate_case%3A7c3f%27"),
        "{raw}"
    );
}

#[tokio::test]
async fn find_by_property_doubles_quotes_and_returns_none_when_nothing_matches() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_customer"))
        .and(query_param("filter", "customer_name eq 'O''Brien & Sons'"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("collection_empty.json")))
        .expect(1)
        .mount(&server)
        .await;
    let found = client(&server)
        .find_by_property(
            Category::Object,
            "ca_customer",
            "customer_name",
            "O'Brien & Sons",
        )
        .await
        .unwrap();
    assert_eq!(found, None);
    let requests = server.received_requests().await.unwrap();
    let raw = requests
        .iter()
        .find(|r| r.method.as_str() == "GET")
        .unwrap()
        .url
        .query()
        .unwrap()
        .to_owned();
    assert!(
        raw.contains("filter=customer_name%20eq%20%27O%27%27Brien%20%26%20Sons%27"),
        "{raw}"
    );
}

#[tokio::test]
async fn path_segments_are_encoded() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/instances/file/cms_file/a%2Fb"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "a/b"})))
        .expect(1)
        .mount(&server)
        .await;
    let i = client(&server)
        .get_instance(Category::File, "cms_file", "a/b")
        .await
        .unwrap();
    assert_eq!(i.id, "a/b");
}
