//! Template management, flow / location-request / address / call-permission messages and their
//! answers, and media upload `ttl_minutes`, against wiremock on loopback, shaped as Meta's pages
//! show them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chatport_whatsapp::webhook::{InteractiveType, Notification};
use chatport_whatsapp::{
    Client, Error, ErrorKind, FlowAction, InteractiveMessage, NewTemplate, OutgoingMessage,
    Recipient, TemplateCategory, TemplateStatus,
};
use futures::{StreamExt as _, TryStreamExt as _};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, body_string_contains, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PNID: &str = "106540352242922";
const WABA: &str = "102290129340398";
const TOKEN: &str = "EAAJB-test-token";

fn client(server: &MockServer) -> Client {
    Client::builder()
        .access_token(SecretString::from(TOKEN))
        .base_url(&server.uri())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn template(id: u64, name: &str) -> Value {
    json!({"id": id.to_string(), "name": name, "language": "en_US", "status": "APPROVED",
        "category": "UTILITY", "components": [{"type": "BODY", "text": "Case {{1}}"}]})
}

#[tokio::test]
async fn templates_items_cross_pages_lazily() {
    let server = MockServer::start().await;
    let templates_path = format!("/v26.0/{WABA}/message_templates");
    Mock::given(method("GET"))
        .and(path(templates_path.as_str()))
        .and(query_param("after", "CURSOR1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [template(3, "c")],
            "paging": {"cursors": {"before": "CURSOR1", "after": "CURSOR2"}}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(templates_path.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [template(1, "a"), template(2, "b")],
            "paging": {"cursors": {"before": "X", "after": "CURSOR1"},
                       "next": "https://graph.invalid/next"}})))
        .mount(&server)
        .await;
    let c = client(&server);
    // No pinning: the items stream is `Unpin`.
    let mut stream = c.templates(WABA, None).items();
    // The first item needs one request only.
    let first = stream.try_next().await.unwrap().unwrap();
    assert_eq!(first.name, "a");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let rest: Vec<String> = stream.map(|t| t.unwrap().name).collect().await;
    assert_eq!(rest, ["b", "c"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(first.category_kind(), Some(TemplateCategory::Utility));
}

#[tokio::test]
async fn template_create_edit_and_delete() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v26.0/{WABA}/message_templates")))
        .and(body_json(json!({"name": "case_update", "language": "en_US",
            "category": "UTILITY", "parameter_format": "named",
            "components": [{"type": "BODY", "text": "Case {{case_id}} changed",
                "example": {"body_text_named_params": [{"param_name": "case_id", "example": "C-1"}]}}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "572279198452421", "status": "PENDING", "category": "UTILITY"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v26.0/572279198452421"))
        .and(body_json(json!({"category": "MARKETING"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v26.0/{WABA}/message_templates")))
        .and(query_param("name", "case_update"))
        .and(query_param("hsm_id", "572279198452421"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v26.0/{WABA}/message_templates")))
        .and(query_param("name", "missing"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100,
            "fbtrace_id": "A"}})))
        .mount(&server)
        .await;
    let c = client(&server);
    let new = NewTemplate::new("case_update", "en_US", TemplateCategory::Utility)
        .named_parameters()
        .component(json!({"type": "BODY", "text": "Case {{case_id}} changed",
            "example": {"body_text_named_params": [{"param_name": "case_id", "example": "C-1"}]}}));
    let created = c.create_template(WABA, &new).await.unwrap();
    assert_eq!(created.id, "572279198452421");
    assert_eq!(created.status, TemplateStatus::Pending);
    c.edit_template(&created.id, None, Some(&TemplateCategory::Marketing))
        .await
        .unwrap();
    c.delete_template(WABA, "case_update", Some(&created.id))
        .await
        .unwrap();
    let err = c.delete_template(WABA, "missing", None).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidParameter));
    // Refused locally: a bad name, no component, an edit without change.
    assert!(matches!(
        c.create_template(
            WABA,
            &NewTemplate::new("Case Update", "en_US", TemplateCategory::Utility)
                .component(json!({"type": "BODY", "text": "x"}))
        )
        .await,
        Err(Error::Invalid { field: "name", .. })
    ));
    assert!(matches!(
        c.create_template(
            WABA,
            &NewTemplate::new("x", "en_US", TemplateCategory::Utility)
        )
        .await,
        Err(Error::Invalid {
            field: "components",
            ..
        })
    ));
    assert!(c.edit_template("1", None, None).await.is_err());
}

#[test]
fn flow_and_request_messages_serialise_as_meta_documents() {
    let to = Recipient::phone("+16505551234");
    let mut data = serde_json::Map::new();
    data.insert("case".into(), json!("C-1042"));
    let flow = OutgoingMessage::interactive(
        to.clone(),
        InteractiveMessage::flow(
            "Tell us more about the damage",
            FlowAction::by_id("1197715005513101", "Open form", "DAMAGE")
                .token("case-C-1042")
                .data(data),
        ),
    );
    flow.validate().unwrap();
    assert_eq!(
        flow.to_json()["interactive"],
        json!({"type": "flow", "body": {"text": "Tell us more about the damage"},
            "action": {"name": "flow", "parameters": {
                "flow_message_version": "3", "flow_id": "1197715005513101",
                "flow_cta": "Open form", "flow_token": "case-C-1042", "flow_action": "navigate",
                "flow_action_payload": {"screen": "DAMAGE", "data": {"case": "C-1042"}}}}})
    );
    let exchange = InteractiveMessage::flow(
        "Book",
        FlowAction::by_name("booking", "Book now", "")
            .data_exchange()
            .draft(),
    );
    let json = OutgoingMessage::interactive(to.clone(), exchange).to_json();
    assert_eq!(
        json["interactive"]["action"]["parameters"]["flow_name"],
        "booking"
    );
    assert_eq!(
        json["interactive"]["action"]["parameters"]["flow_action"],
        "data_exchange"
    );
    assert_eq!(json["interactive"]["action"]["parameters"]["mode"], "draft");
    assert!(
        json["interactive"]["action"]["parameters"]
            .get("flow_action_payload")
            .is_none()
    );

    let location = OutgoingMessage::interactive(
        to.clone(),
        InteractiveMessage::location_request("Where should the technician come?"),
    );
    location.validate().unwrap();
    assert_eq!(
        location.to_json()["interactive"],
        json!({"type": "location_request_message",
            "body": {"text": "Where should the technician come?"},
            "action": {"name": "send_location"}})
    );

    let mut values = serde_json::Map::new();
    values.insert("name".into(), json!("Anna"));
    let address = OutgoingMessage::interactive(
        to.clone(),
        InteractiveMessage::address_request("Where should we deliver?", "IN", values),
    );
    address.validate().unwrap();
    assert_eq!(
        address.to_json()["interactive"]["action"],
        json!({"name": "address_message", "parameters": {"country": "IN", "values": {"name": "Anna"}}})
    );

    let call = OutgoingMessage::interactive(
        Recipient::user_id("US.13491208655302741918"),
        InteractiveMessage::call_permission_request("May we call you about your claim?"),
    );
    call.validate().unwrap();
    assert_eq!(
        call.to_json()["interactive"],
        json!({"type": "call_permission_request",
            "body": {"text": "May we call you about your claim?"},
            "action": {"name": "call_permission_request"}})
    );

    // Limits checked before sending.
    let too_long = InteractiveMessage::flow("x", FlowAction::by_id("1", "a".repeat(21), "S"));
    assert!(matches!(
        OutgoingMessage::interactive(to.clone(), too_long).validate(),
        Err(Error::Validation {
            field: "interactive.action.parameters.flow_cta",
            limit: 20,
            ..
        })
    ));
    let no_screen = InteractiveMessage::flow("x", FlowAction::by_id("1", "Go", " "));
    assert!(
        OutgoingMessage::interactive(to.clone(), no_screen)
            .validate()
            .is_err()
    );
    let empty_data = InteractiveMessage::flow(
        "x",
        FlowAction::by_id("1", "Go", "S").data(serde_json::Map::new()),
    );
    assert!(
        OutgoingMessage::interactive(to.clone(), empty_data)
            .validate()
            .is_err()
    );
    let footer = InteractiveMessage::location_request("x").footer("f");
    assert!(
        OutgoingMessage::interactive(to.clone(), footer)
            .validate()
            .is_err()
    );
    let country = InteractiveMessage::address_request("x", "india", serde_json::Map::new());
    assert!(
        OutgoingMessage::interactive(to, country)
            .validate()
            .is_err()
    );
}

fn interactive_event(interactive: Value) -> chatport_whatsapp::webhook::Event {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{"context": {"from": "15550783881", "id": "wamid.FLOW"},
                "from": "16505551234", "id": "wamid.REPLY", "timestamp": "1751248300",
                "type": "interactive", "interactive": interactive}]}}]}]});
    Notification::parse(body.to_string().as_bytes())
        .unwrap()
        .events()
        .remove(0)
}

#[test]
fn flow_and_call_permission_answers_are_typed() {
    let event = interactive_event(json!({"type": "nfm_reply", "nfm_reply": {
        "response_json": "{\"flow_token\": \"case-C-1042\", \"damage\": \"window\"}",
        "body": "Sent", "name": "flow"}}));
    let interactive = event.message().unwrap().interactive.as_ref().unwrap();
    assert_eq!(interactive.interactive_type, InteractiveType::NfmReply);
    let reply = interactive.flow_reply().unwrap();
    assert_eq!(reply.name.as_deref(), Some("flow"));
    assert_eq!(reply.flow_token().as_deref(), Some("case-C-1042"));
    assert_eq!(reply.response().unwrap()["damage"], "window");
    assert!(interactive.call_permission_reply().is_none());
    assert!(!format!("{reply:?}").contains("window"));

    let event = interactive_event(json!({"type": "call_permission_reply",
        "call_permission_reply": {"response": "accept", "is_permanent": false,
            "expiration_timestamp": 1751852100, "response_source": "user_action"}}));
    let interactive = event.message().unwrap().interactive.as_ref().unwrap();
    let reply = interactive.call_permission_reply().unwrap();
    assert!(reply.accepted());
    assert_eq!(reply.expiration_timestamp, Some(1_751_852_100));
    assert_eq!(reply.is_permanent, Some(false));
    assert!(interactive.flow_reply().is_none());
}

#[tokio::test]
async fn media_upload_sends_ttl_minutes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v26.0/{PNID}/media")))
        .and(body_string_contains("name=\"ttl_minutes\"\r\n\r\n60"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1037543291543636"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let body: &'static [u8] = b"%PDF-1.7 test body";
    let up = c
        .upload_media_for(
            PNID,
            body,
            body.len() as u64,
            "application/pdf",
            "a.pdf",
            Some(60),
        )
        .await
        .unwrap();
    assert_eq!(up.id, "1037543291543636");
    assert!(matches!(
        c.upload_media_for(
            PNID,
            body,
            body.len() as u64,
            "application/pdf",
            "a.pdf",
            Some(0)
        )
        .await,
        Err(Error::Invalid {
            field: "ttl_minutes",
            ..
        })
    ));
}

#[tokio::test]
async fn against_the_graph_emulator_templates_thread_control_and_bsuid_sends() {
    use chatport_testkit::graph::GraphEmulator;
    use chatport_whatsapp::control::ThreadAction;

    let graph = GraphEmulator::start().await.unwrap();
    let c = Client::builder()
        .access_token(SecretString::from(graph.access_token().to_owned()))
        .base_url(&graph.base_url())
        .thread_control_base_url(&graph.thread_control_base_url())
        .build()
        .unwrap();
    // Templates: create (pending), approve, list as a stream, edit, delete.
    let created = c
        .create_template(
            WABA,
            &NewTemplate::new("case_update", "en_US", TemplateCategory::Utility)
                .component(json!({"type": "BODY", "text": "Case {{1}} changed"})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, TemplateStatus::Pending);
    let usage = c.business_use_case_usage().unwrap();
    assert_eq!(usage.entries[0].business_id, WABA);
    assert_eq!(usage.entries[0].usage_type, "whatsapp_business_management");
    graph.set_template_status("case_update", "APPROVED");
    let listed: Vec<_> = c
        .templates(WABA, Some("case_update"))
        .items()
        .collect()
        .await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].as_ref().unwrap().is_approved());
    c.edit_template(
        &created.id,
        Some(&[json!({"type": "BODY", "text": "Case {{1}} was updated"})]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(graph.templates()[0]["status"], "PENDING");
    c.delete_template(WABA, "case_update", None).await.unwrap();
    assert!(graph.templates().is_empty());
    assert!(c.delete_template(WABA, "case_update", None).await.is_err());

    // Thread control.
    c.thread_control(
        PNID,
        &Recipient::user_id("US.13491208655302741918"),
        &ThreadAction::Take,
        Some("escalation"),
    )
    .await
    .unwrap();
    let requests = graph.thread_control_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["action"], "take");
    assert_eq!(requests[0]["recipient"], "US.13491208655302741918");
    assert_eq!(requests[0]["phone_number_id"], PNID);

    // A username-only customer: the send to the BSUID answers its user id.
    let answer = c
        .send(
            PNID,
            &OutgoingMessage::text(Recipient::user_id("US.13491208655302741918"), "Hi Kai"),
        )
        .await
        .unwrap();
    assert_eq!(answer.user_id(), Some("US.13491208655302741918"));
    assert_eq!(graph.sent().len(), 1);
}
