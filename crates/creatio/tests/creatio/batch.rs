use chatport_creatio::{Activity, Batch, BatchOutcome, Entity, Error, MAX_BATCH_OPERATIONS};
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn three_ops() -> Batch {
    let mut b = Batch::new();
    let a = Activity {
        title: Some("[WhatsApp] Customer: hello".into()),
        ..Activity::new()
    };
    b.create(Activity::SET, &a).unwrap();
    b.update(Activity::SET, Uuid::nil(), &json!({"UsrNope": 1}))
        .unwrap();
    b.delete(Activity::SET, Uuid::nil()).unwrap();
    b
}

#[tokio::test]
async fn batch_with_continue_on_error_gives_per_operation_results() {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    Mock::given(method("POST"))
        .and(path("/0/odata/$batch"))
        .and(header("Prefer", "continue-on-error"))
        .and(header(
            "Content-Type",
            "application/json; odata=verbose; IEEE754Compatible=true",
        ))
        .and(header("BPMCSRF", "csrf-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("batch_response.json")))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let results = client
        .batch(&three_ops().continue_on_error(true))
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    let sent = server.received_requests().await.unwrap();
    let batch = sent
        .iter()
        .find(|r| r.url.path() == "/0/odata/$batch")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&batch.body).unwrap();
    for op in body["requests"].as_array().unwrap() {
        assert_eq!(
            op["headers"]["Content-Type"],
            chatport_creatio::BATCH_CONTENT_TYPE,
            "each operation says how Int64 and decimals travel"
        );
    }
    match &results[0].outcome {
        BatchOutcome::Ok { status, body } => {
            assert_eq!(*status, 201);
            assert_eq!(
                body.as_ref().unwrap()["Title"],
                "[WhatsApp] Customer: hello"
            );
        }
        other => panic!("{other:?}"),
    }
    match &results[1].outcome {
        BatchOutcome::Failed(Error::OData {
            status, inner_type, ..
        }) => {
            assert_eq!(*status, 500);
            assert_eq!(
                inner_type.as_deref(),
                Some("Terrasoft.Common.ItemNotFoundException")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        results[2].outcome,
        BatchOutcome::Ok {
            status: 204,
            body: None
        }
    ));

    let requests = server.received_requests().await.unwrap();
    let sent: Value = serde_json::from_slice(&requests[1].body).unwrap();
    let ops = sent["requests"].as_array().unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0]["method"], "POST");
    assert_eq!(ops[0]["url"], "Activity");
    assert_eq!(ops[0]["id"], "1");
    assert_eq!(ops[0]["body"]["Title"], "[WhatsApp] Customer: hello");
    assert_eq!(ops[1]["method"], "PATCH");
    assert_eq!(
        ops[1]["url"],
        "Activity(00000000-0000-0000-0000-000000000000)"
    );
    assert_eq!(ops[2]["method"], "DELETE");
}

#[tokio::test]
async fn batch_without_continue_marks_the_rest_not_executed() {
    let server = MockServer::start().await;
    mount_login(&server, "sess-1", 1).await;
    Mock::given(method("POST"))
        .and(path("/0/odata/$batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "responses": [
                {"id": "1", "status": 400, "body": {"error": {"code": "", "message": "bad"}}}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = forms_builder(&server).build().unwrap();
    let results = client.batch(&three_ops()).await.unwrap();
    assert!(matches!(results[0].outcome, BatchOutcome::Failed(_)));
    assert!(matches!(results[1].outcome, BatchOutcome::NotExecuted));
    assert!(matches!(results[2].outcome, BatchOutcome::NotExecuted));
    assert!(!results[0].is_ok());
    let requests = server.received_requests().await.unwrap();
    assert!(requests[1].headers.get("Prefer").is_none());
}

#[tokio::test]
async fn batch_over_100_operations_is_refused_locally() {
    let server = MockServer::start().await;
    let client = forms_builder(&server).build().unwrap();
    let mut b = Batch::new();
    for _ in 0..=MAX_BATCH_OPERATIONS {
        b.delete(Activity::SET, Uuid::nil()).unwrap();
    }
    assert_eq!(b.len(), 101);
    assert!(matches!(client.batch(&b).await, Err(Error::Config(_))));
    assert!(client.batch(&Batch::new()).await.unwrap().is_empty());
    assert!(server.received_requests().await.unwrap().is_empty());
}
