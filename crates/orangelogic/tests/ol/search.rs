use chatport_orangelogic::{Query, SearchRequest, Sort};
use futures::TryStreamExt;
use wiremock::matchers::{body_string_contains, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

#[tokio::test]
async fn stream_walks_every_page_in_order() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    for (page, name) in [
        ("1", "search_page1.json"),
        ("2", "search_page2.json"),
        ("3", "search_page3.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(SEARCH))
            .and(query_param(
                "query",
                "Keyword:\"spring launch\" AND MediaType:Image",
            ))
            // One `fields` parameter per field, as the Search reference documents.
            .and(query_param("fields", "SystemIdentifier"))
            .and(query_param("fields", "Title"))
            .and(query_param("fields", "Path_TR1"))
            .and(query_param("sort", "Newest"))
            .and(query_param("countperpage", "2"))
            .and(query_param("pagenumber", page))
            .and(query_param("format", "json"))
            .respond_with(ok(name))
            .expect(1)
            .mount(&server)
            .await;
    }
    let request = SearchRequest::new(
        Query::term("Keyword", "spring launch").and(Query::term("MediaType", "Image")),
    )
    .fields(["SystemIdentifier", "Title", "Path_TR1"])
    .sort(Sort::Newest)
    .page_size(2);
    let client = builder(&server).max_get_url(2000).build().unwrap();
    let items: Vec<_> = client.search(&request).items().try_collect().await.unwrap();
    let ids: Vec<_> = items.iter().filter_map(|i| i.system_identifier()).collect();
    assert_eq!(ids, ["CTL1", "CTL2", "CTL3", "CTL4", "CTL5"]);
    assert_eq!(items[0].record_id().as_deref(), Some("2RBKT7U02J51"));
    assert_eq!(items[0].get("path_tr1").unwrap()["Width"], 1200);
}

#[tokio::test]
async fn search_pages_stop_at_total_count_without_an_extra_request() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let full = |total: u64, ids: [&str; 2]| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "APIResponse": {"Code": "SUCCESS", "GlobalInfo": {"TotalCount": total},
                "Items": [{"SystemIdentifier": ids[0]}, {"SystemIdentifier": ids[1]}]}
        }))
    };
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("pagenumber", "1"))
        .respond_with(full(4, ["A", "B"]))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("pagenumber", "2"))
        .respond_with(full(4, ["C", "D"]))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("pagenumber", "3"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let client = builder(&server).max_get_url(2000).build().unwrap();
    let pages: Vec<_> = client
        .search(&SearchRequest::new(Query::text("x")).page_size(2))
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[1].page, 2);
}

#[tokio::test]
async fn long_queries_are_sent_as_post_form_bodies() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(SEARCH))
        .and(query_param("format", "json"))
        .and(body_string_contains("query=Keyword%3A%28"))
        .and(body_string_contains("countperpage=100&pagenumber=1"))
        .respond_with(ok("search_page3.json"))
        .expect(1)
        .mount(&server)
        .await;
    let many: Vec<String> = (0..80).map(|i| format!("keyword-{i}")).collect();
    let request = SearchRequest::new(Query::any_of("Keyword", &many));
    let items: Vec<_> = client(&server)
        .search(&request)
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    let received = server.received_requests().await.unwrap();
    let post = received.iter().find(|r| r.url.path() == SEARCH).unwrap();
    let body = String::from_utf8(post.body.clone()).unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert!(
        form.iter()
            .any(|(k, v)| k == "query" && v.starts_with("Keyword:(keyword-0 OR keyword-1"))
    );
}

#[tokio::test]
async fn an_error_mid_listing_is_yielded_and_ends_the_items() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("pagenumber", "1"))
        .respond_with(ok("search_page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(query_param("pagenumber", "2"))
        .respond_with(ok("envelope_error.json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server).max_get_url(2000).build().unwrap();
    let results: Vec<_> = futures::StreamExt::collect::<Vec<_>>(
        client
            .search(&SearchRequest::new(Query::text("x")).page_size(2))
            .items(),
    )
    .await;
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[1].is_ok());
    assert_eq!(
        results[2].as_ref().unwrap_err().code(),
        Some("INVALID_QUERY")
    );
}
