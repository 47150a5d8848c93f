use std::time::Duration;

use chatport_core::{Classify, ErrorClass, EventId, IdempotencyKey};
use chatport_creatio::{Case, Contact, Entity, Error, Order, Platform, Query, filter};
use futures::TryStreamExt;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{
    body_partial_json, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

async fn forms_server() -> MockServer {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    server
}

fn case_id() -> Uuid {
    Uuid::parse_str(CASE_ID).unwrap()
}

#[tokio::test]
async fn create_posts_json_and_decodes_the_201_entity() {
    let server = forms_server().await;
    Mock::given(method("POST"))
        .and(path("/0/odata/Case"))
        .and(header(
            "Content-Type",
            "application/json; charset=utf-8; IEEE754Compatible=true",
        ))
        .and(body_partial_json(json!({"Subject": "Parcel damaged"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture("case_created.json")))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let draft = Case {
        subject: Some("Parcel damaged".into()),
        ..Case::new()
    };
    let case: Case = client.create(Case::SET, &draft).await.unwrap();
    assert_eq!(case.number.as_deref(), Some("SR00005250"));
    assert_eq!(case.id, Some(case_id()));
    assert_eq!(case.extra["UsrWhatsAppConversation"], "conv-1");
    let received = &server.received_requests().await.unwrap()[1];
    let sent: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(
        sent,
        json!({"Subject": "Parcel damaged"}),
        "only set columns are sent"
    );
}

#[tokio::test]
async fn read_update_delete_on_the_net_core_path() {
    let server = forms_server().await;
    let entity = format!("/odata/Case({CASE_ID})");
    Mock::given(method("GET"))
        .and(path(entity.as_str()))
        .and(query_param("$select", "Id,Number"))
        .and(query_param("$expand", "Contact"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("case_created.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(entity.as_str()))
        .and(body_partial_json(json!({"Symptoms": ""})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(entity.as_str()))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server)
        .platform(Platform::NetCore)
        .build()
        .unwrap();
    let case: Case = client
        .get(
            Case::SET,
            case_id(),
            &Query::new()
                .select(["Id", "Number"])
                .expand(["Contact"])
                .top(5),
        )
        .await
        .unwrap();
    assert_eq!(case.number.as_deref(), Some("SR00005250"));
    client
        .update(Case::SET, case_id(), &json!({"Symptoms": ""}))
        .await
        .unwrap();
    client.delete(Case::SET, case_id()).await.unwrap();
}

#[tokio::test]
async fn find_maps_404_to_none_and_custom_odata_path_works() {
    let server = forms_server().await;
    Mock::given(method("GET"))
        .and(path(format!("/custom/odata/Case({CASE_ID})")))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server)
        .odata_path("/custom/odata")
        .build()
        .unwrap();
    let found: Option<Case> = client
        .find(Case::SET, case_id(), &Query::new())
        .await
        .unwrap();
    assert!(found.is_none());
}

#[tokio::test]
async fn filter_is_sent_quoted_and_escaped() {
    let server = forms_server().await;
    let status = client_lookup_new();
    let expected = format!(
        "Name eq 'Anna O''Brien' and contains(Email,'it''s') and Status/Id eq {status} and CreatedOn gt 2024-05-23T00:00:00Z"
    );
    Mock::given(method("GET"))
        .and(path("/0/odata/Contact"))
        .and(query_param("$filter", expected.as_str()))
        .and(query_param("$select", "Id,Name,MobilePhone"))
        .and(query_param("$orderby", "ModifiedOn desc"))
        .and(query_param("$top", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("contact_page.json")))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let when = chrono::DateTime::parse_from_rfc3339("2024-05-23T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let f = filter::eq("Name", "Anna O'Brien")
        .and(filter::contains("Email", "it's"))
        .and(filter::lookup_eq("Status", status))
        .and(filter::gt("CreatedOn", when));
    let page = client
        .list::<Contact>(
            Contact::SET,
            &Query::new()
                .filter(f)
                .select(["Id", "Name", "MobilePhone"])
                .order_by("ModifiedOn", Order::Desc)
                .top(1),
        )
        .await
        .unwrap();
    assert_eq!(page.value.len(), 1);
    assert_eq!(page.value[0].name.as_deref(), Some("Anna O'Brien"));
}

fn client_lookup_new() -> Uuid {
    chatport_creatio::Lookups::default().case_status_new
}

fn rows(from: usize, n: usize) -> Value {
    let value: Vec<Value> = (from..from + n)
        .map(|i| json!({"Id": format!("00000000-0000-4000-8000-{i:012}"), "Name": format!("c{i}")}))
        .collect();
    json!({"value": value})
}

#[tokio::test]
async fn entities_items_cross_pages_with_top_and_skip_until_a_short_page() {
    let server = forms_server().await;
    Mock::given(method("GET"))
        .and(path("/0/odata/Contact"))
        .and(query_param("$top", "2"))
        .and(query_param_is_missing("$skip"))
        .and(query_param("$orderby", "Id asc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(0, 2)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/0/odata/Contact"))
        .and(query_param("$top", "2"))
        .and(query_param("$skip", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(2, 2)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/0/odata/Contact"))
        .and(query_param("$top", "2"))
        .and(query_param("$skip", "4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(4, 1)))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    // Drained without pinning: the items stream is `Unpin`.
    let mut rows = client
        .entities::<Contact>(Contact::SET, &Query::new(), 2)
        .items();
    let mut all = Vec::new();
    while let Some(contact) = rows.try_next().await.unwrap() {
        all.push(contact);
    }
    let names: Vec<_> = all.iter().filter_map(|c| c.name.clone()).collect();
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
}

#[tokio::test]
async fn entities_follow_a_next_link_on_the_same_host_and_refuse_another_host() {
    let server = forms_server().await;
    let mut first = rows(0, 2);
    first["@odata.nextLink"] = json!("Contact?$skiptoken=abc");
    Mock::given(method("GET"))
        .and(path("/0/odata/Contact"))
        .and(query_param_is_missing("$skiptoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .expect(2)
        .mount(&server)
        .await;
    let mut second = rows(2, 1);
    second["@odata.nextLink"] = json!("http://elsewhere.invalid/0/odata/Contact?$skiptoken=def");
    Mock::given(method("GET"))
        .and(path("/0/odata/Contact"))
        .and(query_param("$skiptoken", "abc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(second))
        .expect(2)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let mut pages = client
        .entities::<Contact>(Contact::SET, &Query::new(), 2)
        .pages();
    assert_eq!(pages.try_next().await.unwrap().unwrap().len(), 2);
    // The page that carries the foreign link is yielded, then the refusal.
    assert_eq!(pages.try_next().await.unwrap().unwrap().len(), 1);
    let err = pages.try_next().await.unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("another host")),
        "{err:?}"
    );
    // The items stream yields the rows of both pages (across the boundary) before the error.
    let results: Vec<_> = futures::StreamExt::collect::<Vec<_>>(
        client
            .entities::<Contact>(Contact::SET, &Query::new(), 2)
            .items(),
    )
    .await;
    assert_eq!(results.len(), 4);
    assert!(results[..3].iter().all(Result::is_ok));
    assert!(results[3].is_err());
}

#[tokio::test]
async fn entities_pages_are_capped_at_the_row_cap_and_honour_top() {
    let server = forms_server().await;
    Mock::given(method("GET"))
        .and(path("/0/odata/Contact"))
        .and(query_param("$top", "3"))
        .and(query_param_is_missing("$skip"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(0, 3)))
        .expect(1)
        .mount(&server)
        .await;
    // Only 1 more row is wanted (top 4 in all).
    Mock::given(method("GET"))
        .and(path("/0/odata/Contact"))
        .and(query_param("$top", "1"))
        .and(query_param("$skip", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(3, 1)))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).row_cap(3).build().unwrap();
    let pages: Vec<Vec<Contact>> = client
        .entities(Contact::SET, &Query::new().top(4), 20_000)
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
}

#[tokio::test]
async fn entities_yield_the_error_of_a_failing_page() {
    let server = forms_server().await;
    Mock::given(method("GET"))
        .and(path("/0/odata/Contact"))
        .respond_with(ResponseTemplate::new(500).set_body_json(fixture("error_permission.json")))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let err = client
        .entities::<Contact>(Contact::SET, &Query::new(), 10)
        .items()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    match &err {
        Error::OData {
            status,
            message,
            inner_type,
            ..
        } => {
            assert_eq!(*status, 500);
            assert!(
                message
                    .as_deref()
                    .unwrap()
                    .contains("does not have permissions")
            );
            assert_eq!(
                inner_type.as_deref(),
                Some("System.Security.SecurityException")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.class(),
        ErrorClass::Permanent,
        "not retried: a permission error"
    );
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_in_client() {
    let server = forms_server().await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(contact_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_body()))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let id = Uuid::parse_str(CONTACT_ID).unwrap();
    let _: Contact = client.get(Contact::SET, id, &Query::new()).await.unwrap();
}

fn key() -> IdempotencyKey {
    IdempotencyKey::derive("C1", "create_case", &EventId::new("wamid.HBgL-test"))
}

#[tokio::test]
async fn create_with_key_sets_the_id_from_the_key() {
    let server = forms_server().await;
    let id = key().uuid();
    Mock::given(method("POST"))
        .and(path("/0/odata/Case"))
        .and(body_partial_json(
            json!({"Id": id.to_string(), "Subject": "s"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": id, "Subject": "s"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let created = client
        .create_with_key::<Case, _>(Case::SET, &key(), &json!({"Subject": "s", "Id": "ignored"}))
        .await
        .unwrap();
    assert_eq!(created.id, id);
    assert!(!created.existed);
    assert_eq!(created.record.id, Some(id));
}

#[tokio::test]
async fn retried_create_after_duplicate_key_reads_the_existing_record() {
    let server = forms_server().await;
    let id = key().uuid();
    Mock::given(method("POST"))
        .and(path("/0/odata/Case"))
        .respond_with(ResponseTemplate::new(500).set_body_json(fixture("error_duplicate.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/0/odata/Case({id})")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Id": id, "Number": "SR1"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let created = client
        .create_with_key::<Case, _>(Case::SET, &key(), &Case::new())
        .await
        .unwrap();
    assert!(created.existed);
    assert_eq!(created.record.number.as_deref(), Some("SR1"));
}

#[tokio::test]
async fn create_that_times_out_reads_back_instead_of_posting_again() {
    let server = forms_server().await;
    let id = key().uuid();
    Mock::given(method("POST"))
        .and(path("/0/odata/Case"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"Id": id}))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/0/odata/Case({id})")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Id": id})))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let created = client
        .create_with_key::<Case, _>(Case::SET, &key(), &Case::new())
        .await
        .unwrap();
    assert!(created.existed);
    assert_eq!(created.id, id);
}

#[tokio::test]
async fn duplicate_key_without_a_readable_record_returns_the_create_error() {
    let server = forms_server().await;
    Mock::given(method("POST"))
        .and(path("/0/odata/Case"))
        .respond_with(ResponseTemplate::new(500).set_body_json(fixture("error_duplicate.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let err = client
        .create_with_key::<Case, _>(Case::SET, &key(), &Case::new())
        .await
        .unwrap_err();
    assert!(err.is_duplicate_key(), "{err:?}");
    assert!(
        client
            .create_with_key::<Case, _>(Case::SET, &key(), &json!([1]))
            .await
            .is_err_and(|e| matches!(e, Error::Config(_)))
    );
}

#[tokio::test]
async fn invalid_set_names_are_rejected_before_sending() {
    let server = MockServer::start().await;
    let client = forms_builder(&server).build().unwrap();
    let err = client
        .list::<Value>("Case?$x", &Query::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    assert!(server.received_requests().await.unwrap().is_empty());
}
