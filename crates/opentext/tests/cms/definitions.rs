use chatport_opentext::{Category, DataType, ListQuery, TypeDefinitionQuery};
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

#[tokio::test]
async fn lists_and_reads_type_definitions() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/type-definitions"))
        .and(query_param("category", "file"))
        .and(query_param("namespace", "ca"))
        .and(query_param("include-total", "true"))
        .and(query_param("items-per-page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [
                {"name": "ca_contract", "display_name": "Contract", "category": "file", "namespace": "ca",
                 "attributes": [{"name": "value", "data_type": "integer"}]},
                {"name": "ca_invoice", "category": "file", "namespace": "ca"}
            ]},
            "total": 2,
            "_links": {"self": {"href": "/type-definitions?category=file"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cms/type-definitions/ca_contract"))
        .and(query_param("expandAll", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "ca_contract", "category": "file", "namespace": "ca",
            "attributes": [
                {"name": "value", "data_type": "integer", "required": true, "searchable": true},
                {"name": "extracted_terms", "data_type": "string", "repeating": true, "size": 200}
            ],
            "required_traits": [{"instance_name": "Automatic Approval", "trait_name": "ca_approval"}],
            "indexes": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let page = c
        .list_type_definitions(
            &TypeDefinitionQuery::new()
                .category(Category::File)
                .namespace("ca")
                .list(ListQuery::new().items_per_page(100).include_total(true)),
        )
        .await
        .unwrap();
    assert_eq!(page.total, Some(2));
    assert_eq!(page.items[0].name, "ca_contract");
    assert_eq!(page.items[0].category, Some(Category::File));
    assert_eq!(page.items[1].attributes.len(), 0);

    let t = c.get_type_definition("ca_contract", true).await.unwrap();
    assert_eq!(t.attributes.len(), 2);
    assert_eq!(t.attributes[1].repeating, Some(true));
    assert_eq!(t.attributes[1].size, Some(200));
    assert_eq!(t.required_traits[0]["trait_name"], "ca_approval");
    assert_eq!(t.extra["indexes"], json!([]));
}

#[tokio::test]
async fn reads_attributes_and_attributes_all() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/type-definitions/ca_contract/attributes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [{"name": "value", "data_type": "double"}]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cms/type-definitions/ca_contract/attributes-all"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"name": "value", "data_type": "double", "system": false, "search_name": "ca_contract.value_d"},
            {"name": "create_time", "data_type": "date", "system": true, "internal": false,
             "search_name": "cms_any.create_time_dt"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let own = c.type_attributes("ca_contract").await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].data_type, Some(DataType::Double));
    let all = c.type_attributes_all("ca_contract").await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].system, Some(true));
    assert_eq!(
        all[1].search_name.as_deref(),
        Some("cms_any.create_time_dt")
    );
    assert_eq!(all[1].extra["internal"], false);
}

#[tokio::test]
async fn trait_definitions() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/trait-definitions"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [{"name": "ca_approval", "display_name": "Approval"}]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cms/trait-definitions/ca_approval"))
        .and(query_param_is_missing("expandAll"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "ca_approval", "namespace": "ca",
            "attributes": [{"name": "is_required", "data_type": "boolean"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cms/trait-definitions/ca_approval/attributes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "attributes": [{"name": "approver", "data_type": "string"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let page = c
        .list_trait_definitions(&ListQuery::new().page(1))
        .await
        .unwrap();
    assert_eq!(page.items[0].display_name.as_deref(), Some("Approval"));
    let t = c.get_trait_definition("ca_approval", false).await.unwrap();
    assert_eq!(t.attributes[0].data_type, Some(DataType::Boolean));
    let attrs = c.trait_attributes("ca_approval").await.unwrap();
    assert_eq!(attrs[0].name, "approver");
}

#[tokio::test]
async fn unknown_type_is_a_classified_404() {
    use chatport_core::{Classify, ErrorClass};
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/type-definitions/nope"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "exception": "ResourceNotFoundException", "message": "Type nope not found"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .get_type_definition("nope", false)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.class(), ErrorClass::Permanent);
}
