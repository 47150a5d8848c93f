use chatport_opentext::filter::{Field, Filter, SortBy};
use chatport_opentext::{Category, Error, FtQuery, Instance, ListQuery};
use futures::TryStreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn items(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| json!({"id": format!("id-{n}"), "name": n, "type": "ca_case"}))
            .collect(),
    )
}

#[tokio::test]
async fn instances_items_follow_next_links_across_three_pages() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let filter = Filter::eq("status", "OPEN").and(Filter::like(Field::lower("name"), "%o'b%"));
    let filter_text = "status eq 'OPEN' and LOWER(name) like '%o''b%'";
    // Page 1: asked with the caller's query; `next` is relative to the CMS base.
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_case"))
        .and(query_param("filter", filter_text))
        .and(query_param("sortby", "create_time desc"))
        .and(query_param("items-per-page", "2"))
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": items(&["a", "b"])},
            "_links": {"next": {"href": "/instances/object/ca_case?page=2&items-per-page=2&filter=status%20eq%20%27OPEN%27"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    // Page 2: the `next` link carries the CMS base path; it is taken from the host.
    let page3 = format!(
        "{}/cms/instances/object/ca_case?page=3&items-per-page=2",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_case"))
        .and(query_param("page", "2"))
        .and(query_param("filter", "status eq 'OPEN'"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": items(&["c", "d"])},
            "_links": {"next": {"href": page3}, "previous": {"href": "/cms/instances/object/ca_case?page=1"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    // Page 3: absolute link on the CMS host; last page (no next).
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_case"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": items(&["e"])},
            "_links": {"previous": {"href": "/instances/object/ca_case?page=2"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let query = ListQuery::new()
        .filter(filter)
        .sortby(SortBy::desc("create_time"))
        .items_per_page(2);
    let all: Vec<Instance> = client(&server)
        .instances(Category::Object, "ca_case", &query)
        .items()
        .try_collect()
        .await
        .unwrap();
    let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
}

#[tokio::test]
async fn instances_pages_use_page_numbers_when_only_total_is_known() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    for (page, names) in [
        ("1", vec!["a", "b"]),
        ("2", vec!["c", "d"]),
        ("3", vec!["e"]),
    ] {
        Mock::given(method("GET"))
            .and(path("/cms/instances/file/cms_file"))
            .and(query_param("page", page))
            .and(query_param("items-per-page", "2"))
            .and(query_param("include-total", "true"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "_embedded": {"collection": items(&names)}, "total": 5, "page": page
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let query = ListQuery::new()
        .page(1)
        .items_per_page(2)
        .include_total(true);
    let pages: Vec<_> = client(&server)
        .instances(Category::File, "cms_file", &query)
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[2].items[0].name, "e");
}

#[tokio::test]
async fn instances_listing_stops_on_an_empty_page_and_on_errors() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_a"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_links": {"self": {"href": "/instances/object/ca_a"}, "next": {"href": "/instances/object/ca_a?page=2"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cms/instances/object/ca_b"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": items(&["x"])},
            "_links": {"next": {"href": "https://elsewhere.example/cms/instances/object/ca_b?page=2"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let none: Vec<Instance> = c
        .instances(Category::Object, "ca_a", &ListQuery::new())
        .items()
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());
    let mut s = c
        .instances(Category::Object, "ca_b", &ListQuery::new())
        .items();
    assert_eq!(s.try_next().await.unwrap().unwrap().name, "x");
    let err = s.try_next().await.unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("another host")),
        "{err:?}"
    );
}

#[tokio::test]
async fn full_text_query_posts_the_body_and_pages() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let body = json!({"query": "cms_any.all_values:ACME", "type": "ca_contract"});
    Mock::given(method("POST"))
        .and(path("/cms/ft-query"))
        .and(query_param("include-total", "true"))
        .and(query_param("items-per-page", "2"))
        .and(query_param_is_missing("page"))
        .and(body_json(&body))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": items(&["c1", "c2"])},
            "total": 3,
            "facetCounts": {"facet_fields": {}},
            "_links": {"next": {"href": "/ft-query?include-total=true&items-per-page=2&page=2"}}
        })))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cms/ft-query"))
        .and(query_param("page", "2"))
        .and(body_json(&body))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": items(&["c3"])}, "total": 3
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let q = FtQuery::new("cms_any.all_values:ACME").type_name("ca_contract");
    let page_q = ListQuery::new().items_per_page(2).include_total(true);
    let first = c.list_ft_query(&q, &page_q).await.unwrap();
    assert_eq!(first.total, Some(3));
    assert!(first.extra.contains_key("facetCounts"));
    let all: Vec<Instance> = c.ft_query(&q, &page_q).items().try_collect().await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].name, "c3");
}
