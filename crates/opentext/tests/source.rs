//! The CMS status poller ([`StatusSource`]) against the testkit's CMS emulator (events, ids,
//! checkpoints, resuming) and against wiremock (the exact request, and a checkpoint that never
//! moves back behind the one a round resumed from).
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use chatport_core::{Checkpoint, Source};
use chatport_opentext::source::{KIND, SOURCE, StatusEvent, StatusSource};
use chatport_opentext::{Category, Client, Watch};
use chatport_testkit::cms::CmsEmulator;
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn emulator_client(cms: &CmsEmulator) -> Client {
    Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .no_rate_limit()
        .build()
        .unwrap()
}

fn status(s: &str) -> Map<String, Value> {
    json!({ "status": s }).as_object().cloned().unwrap()
}

fn seed(cms: &CmsEmulator, category: &str, type_name: &str, name: &str, s: &str) -> String {
    let created = cms.seed_instance(category, type_name, name, status(s));
    created["id"].as_str().unwrap().to_owned()
}

fn update_time(checkpoint: &Checkpoint) -> String {
    checkpoint.0["update_time"].as_str().unwrap().to_owned()
}

type Found = Vec<(chatport_core::Envelope<StatusEvent>, Option<Checkpoint>)>;

async fn poll(source: &StatusSource, resume: Option<Checkpoint>) -> Found {
    source
        .poll(resume)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn polls_watched_types_then_resumes_from_the_checkpoint_without_going_back() {
    let cms = CmsEmulator::start().await.unwrap();
    let rejected = seed(&cms, "file", "ca_invoice", "INV-1", "rejected");
    seed(&cms, "file", "ca_invoice", "INV-2", "approved");
    let pending = seed(&cms, "file", "ca_invoice", "INV-3", "pending_review");
    let po = seed(&cms, "object", "ca_po", "PO-1", "rejected");
    seed(&cms, "file", "ca_other", "X-1", "rejected"); // not watched
    let source = StatusSource::builder(emulator_client(&cms))
        .watch(Category::File, "ca_invoice")
        .watches([Watch::new("object", "ca_po")])
        .status_property("status")
        .statuses(["rejected", "pending_review"])
        .page_size(2)
        .build()
        .unwrap();
    source.check().await.unwrap();

    let first = poll(&source, None).await;
    let ids: Vec<&str> = first.iter().map(|(e, _)| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            format!("{rejected}:rejected"),
            format!("{pending}:pending_review"),
            format!("{po}:rejected")
        ]
    );
    for (envelope, checkpoint) in &first {
        assert_eq!(envelope.source, SOURCE);
        assert_eq!(envelope.kind, KIND);
        let event = &envelope.payload;
        assert_eq!(
            envelope.ordering_key.as_deref(),
            Some(event.instance.id.as_str())
        );
        assert_eq!(
            event.instance.update_time.as_deref(),
            Some(update_time(checkpoint.as_ref().unwrap()).as_str()),
            "every item carries its own update_time as the checkpoint"
        );
    }
    let po_event = &first[2].0.payload;
    assert_eq!(
        (&po_event.category, po_event.type_name.as_str()),
        (&Category::Object, "ca_po")
    );
    // The checkpoint a runtime commits is the last one of the round.
    let resume = first.iter().rev().find_map(|(_, c)| c.clone()).unwrap();
    let since = update_time(&resume);

    let later = seed(&cms, "file", "ca_invoice", "INV-4", "rejected");
    let second = poll(&source, Some(resume)).await;
    assert!(
        second
            .iter()
            .any(|(e, _)| e.id.as_str() == format!("{later}:rejected")),
        "the item changed after the checkpoint is found"
    );
    for (envelope, checkpoint) in &second {
        let at = envelope.payload.instance.update_time.clone().unwrap();
        assert!(at >= since, "{at} was read again although before {since}");
        if let Some(cp) = checkpoint {
            assert!(update_time(cp) >= since, "the checkpoint moved back");
        }
    }

    let future = Checkpoint::new(json!({ "update_time": "2999-01-01T00:00:00.000Z" }));
    assert!(poll(&source, Some(future)).await.is_empty());
}

#[tokio::test]
async fn no_statuses_means_no_request_and_no_events() {
    let cms = CmsEmulator::start().await.unwrap();
    seed(&cms, "file", "ca_invoice", "INV-1", "rejected");
    let source = StatusSource::builder(emulator_client(&cms))
        .watch(Category::File, "ca_invoice")
        .status_property("status")
        .build()
        .unwrap();
    assert!(poll(&source, None).await.is_empty());
    assert_eq!(cms.cms_requests(), 0);
}

#[tokio::test]
async fn the_request_is_filtered_and_sorted_and_an_older_item_never_moves_the_checkpoint_back() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenants/t1/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "tok", "token_type": "Bearer", "expires_in": 899}),
        ))
        .mount(&server)
        .await;
    let since = "2025-03-01T10:00:00.000Z";
    Mock::given(method("GET"))
        .and(path("/cms/instances/file/ca_invoice"))
        .and(query_param(
            "filter",
            format!("status eq 'rejected' and update_time ge date('{since}')"),
        ))
        .and(query_param("sortby", "update_time asc"))
        .and(query_param("items-per-page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_embedded": {"collection": [
                {"id": "a", "name": "A", "update_time": "2025-02-01T00:00:00.000Z",
                 "properties": {"status": "rejected"}},
                {"id": "b", "name": "B", "update_time": "2025-03-02T00:00:00.000Z",
                 "properties": {"status": "rejected"}},
                {"id": "c", "name": "C", "properties": {"status": 7}}
            ]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .tenant_id("t1")
        .auth_base(&server.uri())
        .cms_base(&format!("{}/cms", server.uri()))
        .client_credentials("app", SecretString::from("secret"))
        .no_rate_limit()
        .build()
        .unwrap();
    let source = StatusSource::builder(client)
        .watch(Category::File, "ca_invoice")
        .status_property("status")
        .statuses(["rejected"])
        .build()
        .unwrap();
    let found = poll(
        &source,
        Some(Checkpoint::new(json!({ "update_time": since }))),
    )
    .await;
    let ids: Vec<&str> = found.iter().map(|(e, _)| e.id.as_str()).collect();
    assert_eq!(ids, ["a:rejected", "b:rejected", "c:7"]);
    assert!(found[0].1.is_none(), "an older item carries no checkpoint");
    assert_eq!(
        found[1].1.as_ref().map(update_time).as_deref(),
        Some("2025-03-02T00:00:00.000Z")
    );
    assert!(found[2].1.is_none(), "an item without update_time neither");
}
