//! Conversation control (standby / handovers / Thread control API) and the
//! `X-Business-Use-Case-Usage` header, against wiremock on loopback and an in-memory store.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatport_runtime::SqliteStore;
use chatport_whatsapp::control::{ControlStore, Holder, ThreadAction};
use chatport_whatsapp::conversation::ConversationKey;
use chatport_whatsapp::webhook::{Event, Notification};
use chatport_whatsapp::{
    BusinessUseCaseUsage, Client, ErrorKind, OutgoingMessage, PaceLimit, Pacer, PacingConfig,
    Recipient,
};
use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PNID: &str = "106540352242922";
const TOKEN: &str = "EAAJB-test-token";

fn events(body: &Value) -> Vec<Event> {
    Notification::parse(body.to_string().as_bytes())
        .unwrap()
        .events()
}

fn metadata() -> Value {
    json!({"display_phone_number": "15550783881", "phone_number_id": PNID})
}

fn handover(kind: &str, customer: &str, ts: i64) -> Event {
    events(
        &json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messaging_handovers", "value": {"messaging_product": "whatsapp",
            "metadata": metadata(), "type": kind, kind: {"previous_owner": "x", "new_owner": "y"},
            "from": customer, "timestamp": ts.to_string()}}]}]}),
    )
    .remove(0)
}

fn change(field: &str, from: &str, ts: i64) -> Event {
    events(
        &json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": field, "value": {"messaging_product": "whatsapp", "metadata": metadata(),
            "messages": [{"from": from, "id": format!("wamid.{field}.{ts}"),
                "timestamp": ts.to_string(), "type": "text", "text": {"body": "hi"}}]}}]}]}),
    )
    .remove(0)
}

#[tokio::test]
async fn control_follows_handovers_and_standby_monotonically() {
    let store = ControlStore::new(Arc::new(SqliteStore::open_in_memory().unwrap()));
    let user = "16505551234";
    // Never seen: this app holds it.
    assert_eq!(store.holder(PNID, user).await.unwrap(), Holder::ThisApp);
    assert!(
        store
            .observe(&change("messages", user, 1000))
            .await
            .unwrap()
            .is_none()
    );

    // A standby message: another app is the active handler.
    let s = store
        .observe(&change("standby", user, 1010))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.holder, Holder::OtherApp);
    assert!(store.held_elsewhere(PNID, "+1 650 555 1234").await.unwrap());

    // The other app passes it to us ...
    let s = store
        .observe(&handover("control_passed", user, 1020))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.holder, Holder::ThisApp);
    assert_eq!(s.since, Utc.timestamp_opt(1020, 0).unwrap());
    // ... a late redelivery of an older take does not flip it back ...
    assert!(
        store
            .observe(&handover("control_taken", user, 1015))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.held_elsewhere(PNID, user).await.unwrap());
    // ... a newer take does.
    store
        .observe(&handover("control_taken", user, 1030))
        .await
        .unwrap()
        .unwrap();
    assert!(store.held_elsewhere(PNID, user).await.unwrap());
    // A customer message on the messages field again: routing sends it to us.
    let s = store
        .observe(&change("messages", user, 1040))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.holder, Holder::ThisApp);
    // Our own take / release are recorded too.
    let key = ConversationKey::new(PNID, user);
    store
        .record_released(&key, Utc.timestamp_opt(1050, 0).unwrap())
        .await
        .unwrap();
    assert_eq!(store.holder(PNID, user).await.unwrap(), Holder::OtherApp);
    store
        .record_taken(&key, Utc.timestamp_opt(1060, 0).unwrap())
        .await
        .unwrap();
    assert_eq!(store.holder(PNID, user).await.unwrap(), Holder::ThisApp);
    // Another customer is unaffected.
    assert_eq!(
        store.holder(PNID, "16505550000").await.unwrap(),
        Holder::ThisApp
    );
}

fn client(server: &MockServer) -> Client {
    Client::builder()
        .access_token(SecretString::from(TOKEN))
        .base_url(&server.uri())
        .thread_control_base_url(&format!("{}/business/whatsapp", server.uri()))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn thread_control_posts_the_documented_request() {
    let server = MockServer::start().await;
    let route = format!("/business/whatsapp/phone_numbers/{PNID}/thread_control");
    Mock::given(method("POST"))
        .and(path(route.as_str()))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("x-api-version", "1.0.0"))
        .and(body_json(
            json!({"messaging_product": "whatsapp", "action": "take",
            "to": "+16505551234", "metadata": "escalated"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "request_id": "r1"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(route.as_str()))
        .and(body_json(
            json!({"messaging_product": "whatsapp", "action": "pass",
            "recipient": "US.13491208655302741918", "control_pass": {"target_role": "ai_agent"}}),
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "(#100) You do not hold thread control", "type": "OAuthException",
            "code": 100, "fbtrace_id": "A"}})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let answer = c
        .thread_control(
            PNID,
            &Recipient::phone("+16505551234"),
            &ThreadAction::Take,
            Some("escalated"),
        )
        .await
        .unwrap();
    assert_eq!(answer.messaging_product.as_deref(), Some("whatsapp"));
    assert_eq!(answer.extra["request_id"], "r1");
    let err = c
        .thread_control(
            PNID,
            &Recipient::user_id("US.13491208655302741918"),
            &ThreadAction::Pass(Some("ai_agent".into())),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidParameter));
    assert!(
        c.thread_control("../x", &Recipient::phone("1"), &ThreadAction::Release, None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_business_use_case_usage_header_is_kept_and_fed_to_the_pacer() {
    let server = MockServer::start().await;
    let header_value = r#"{"102290129340398":[{"type":"whatsapp_business_messaging","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":5}]}"#;
    Mock::given(method("POST"))
        .and(path(format!("/v26.0/{PNID}/messages")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Business-Use-Case-Usage", header_value)
                .set_body_json(json!({"messaging_product": "whatsapp",
                    "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
                    "messages": [{"id": "wamid.OUT"}]})),
        )
        .mount(&server)
        .await;
    let pacer = Arc::new(Pacer::new(PacingConfig::standard()).unwrap());
    let seen = Arc::new(Mutex::new(Vec::<BusinessUseCaseUsage>::new()));
    let (p, s) = (pacer.clone(), seen.clone());
    let c = Client::builder()
        .access_token(SecretString::from(TOKEN))
        .base_url(&server.uri())
        .on_usage(move |usage| {
            p.observe_usage(usage);
            s.lock().unwrap().push(usage.clone());
        })
        .build()
        .unwrap();
    assert_eq!(c.business_use_case_usage(), None);
    assert!(pacer.check(PNID, "16505551234").is_ok());
    c.send(
        PNID,
        &OutgoingMessage::text(Recipient::phone("+16505551234"), "hello"),
    )
    .await
    .unwrap();
    let usage = c.business_use_case_usage().unwrap();
    assert_eq!(usage.max_percent(), 100);
    assert_eq!(usage.entries[0].usage_type, "whatsapp_business_messaging");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let wait = pacer.check(PNID, "16505550000").unwrap_err();
    assert_eq!(wait.limit, PaceLimit::UseCaseUsage);
    assert!(wait.wait > Duration::from_secs(240), "{wait:?}");
    // A header without a wait lifts the block.
    pacer.observe_usage(
        &BusinessUseCaseUsage::parse(r#"{"1":[{"type":"x","call_count":10}]}"#).unwrap(),
    );
    assert!(pacer.check(PNID, "16505550000").is_ok());
}

#[tokio::test]
async fn the_testkit_shapes_parse_into_the_typed_events_and_drive_the_stores() {
    use chatport_testkit::graph::shapes::{self, Business};
    use chatport_whatsapp::WindowTracker;
    use chatport_whatsapp::conversation::{ConversationStore, Direction, LoggedMessage};
    use chatport_whatsapp::webhook::{EventKind, StandbyItem};

    let business = Business::new("102290129340398", PNID, "15550783881");
    let now = Utc::now().timestamp();
    let kv = Arc::new(SqliteStore::open_in_memory().unwrap());
    let conversations = ConversationStore::new(kv.clone());
    let control = ControlStore::new(kv);
    let tracker = WindowTracker::new(Arc::new(conversations.clone()));

    // A username-only customer writes.
    let e = events(&shapes::username_only_text(
        &business,
        "US.111",
        "kai.dev",
        "wamid.U1",
        now - 30,
        "hi",
    ))
    .remove(0);
    assert_eq!(e.sender_username(), Some("kai.dev"));
    assert_eq!(e.sender_user_id(), Some("US.111"));
    assert!(e.message().unwrap().from.is_none());
    assert!(tracker.observe(&e).await);
    let m = e.message().unwrap();
    conversations
        .record(
            &ConversationKey::new(PNID, "US.111"),
            &LoggedMessage::from_message(m, None),
        )
        .await
        .unwrap();

    // Their BSUID changes mid-conversation: conversation and window follow.
    let e = events(&shapes::user_changed_user_id(
        &business,
        "US.111",
        "US.222",
        "wamid.S1",
        now - 20,
    ))
    .remove(0);
    assert_eq!(conversations.follow(&e).await.unwrap(), 1);
    assert!(tracker.is_open(PNID, "US.222").await);
    assert_eq!(
        conversations
            .messages(&ConversationKey::new(PNID, "US.222"))
            .await
            .unwrap()[0]
            .direction,
        Direction::Inbound
    );

    // A phone customer changes number (and BSUID).
    let e = events(&shapes::user_changed_number(
        &business,
        "16505551234",
        "16505554321",
        Some(("US.333", "US.444")),
        "wamid.S2",
        now - 10,
    ))
    .remove(0);
    let change = e.message().unwrap().identity_change().unwrap();
    assert_eq!(
        change.moves(),
        vec![("16505551234", "16505554321"), ("US.333", "US.444")]
    );

    // A standby period, then a handover back to us.
    let standby = events(&shapes::standby_text(
        &business,
        "16505554321",
        "wamid.SB1",
        now - 5,
        "where is my parcel?",
        Some(("wamid.EC1", "Let me check.")),
    ));
    assert!(
        matches!(&standby[0].kind, EventKind::Standby(i) if matches!(**i, StandbyItem::Message(_)))
    );
    assert!(
        matches!(&standby[1].kind, EventKind::Standby(i) if matches!(**i, StandbyItem::Echo(_)))
    );
    for e in &standby {
        control.observe(e).await.unwrap();
    }
    assert!(control.held_elsewhere(PNID, "16505554321").await.unwrap());
    let back = events(&shapes::handover(
        &business,
        "control_passed",
        "16505554321",
        "ai_agent",
        "app",
        now,
    ))
    .remove(0);
    control.observe(&back).await.unwrap();
    assert_eq!(
        control.holder(PNID, "16505554321").await.unwrap(),
        Holder::ThisApp
    );
}

/// A sink over `server` and an in-memory store, following `when` when another app holds the
/// conversation; the conversation starts held by another app.
async fn held_sink(
    server: &MockServer,
    when: chatport_whatsapp::sink::WhenHeldElsewhere,
) -> (
    chatport_whatsapp::sink::MessageSink,
    ControlStore,
    ConversationKey,
) {
    use chatport_core::{IdempotencyLedger, KvStore};
    let store = SqliteStore::open_in_memory().unwrap();
    let (ledger, kv): (Arc<dyn IdempotencyLedger>, Arc<dyn KvStore>) =
        (Arc::new(store.clone()), Arc::new(store));
    let control = ControlStore::new(kv.clone());
    let conversation = ConversationKey::new(PNID, "16505551234");
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    control.record_released(&conversation, at).await.unwrap();
    let sink = chatport_whatsapp::sink::MessageSink::builder(client(server), ledger, kv)
        .control(control.clone(), when)
        .build();
    (sink, control, conversation)
}

async fn mount_messages(server: &MockServer, expect: u64) {
    Mock::given(method("POST"))
        .and(path(format!(
            "/{}/{PNID}/messages",
            chatport_whatsapp::DEFAULT_API_VERSION
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": "wamid.SENT"}]})))
        .expect(expect)
        .mount(server)
        .await;
}

fn agent_reply() -> chatport_whatsapp::sink::Outbound {
    chatport_whatsapp::sink::Outbound::new(
        PNID,
        OutgoingMessage::text(Recipient::phone("16505551234"), "An agent writes"),
    )
}

#[tokio::test]
async fn a_sink_holds_a_message_back_while_another_app_holds_the_conversation() {
    use chatport_core::{Classify, ErrorClass, EventId, IdempotencyKey, Sink};
    use chatport_whatsapp::sink::{SendOnce, WhenHeldElsewhere};
    let server = MockServer::start().await;
    mount_messages(&server, 1).await;
    let retry_after = Duration::from_secs(90);
    let (sink, control, conversation) =
        held_sink(&server, WhenHeldElsewhere::Defer { retry_after }).await;
    let key = IdempotencyKey::derive("C2", "reply", &EventId::new("agent-1"));
    let err = sink.write(&agent_reply(), &key).await.unwrap_err();
    assert!(
        matches!(err, chatport_whatsapp::Error::HeldElsewhere { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.class(),
        ErrorClass::Throttled {
            retry_after: Some(retry_after)
        }
    );
    assert!(!err.to_string().contains("16505551234"), "{err}");
    // Nothing reached Meta; once this app holds the conversation again the same key sends (the
    // key was released, not left in doubt).
    assert!(server.received_requests().await.unwrap().is_empty());
    let later = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    control.record_taken(&conversation, later).await.unwrap();
    assert_eq!(
        sink.write(&agent_reply(), &key).await.unwrap(),
        SendOnce::Sent("wamid.SENT".into())
    );
}

#[tokio::test]
async fn a_sink_takes_the_conversation_before_it_sends_when_told_to() {
    use chatport_core::{EventId, IdempotencyKey, Sink};
    use chatport_whatsapp::sink::WhenHeldElsewhere;
    let server = MockServer::start().await;
    mount_messages(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/business/whatsapp/phone_numbers/{PNID}/thread_control"
        )))
        .and(body_json(
            json!({"messaging_product": "whatsapp", "action": "take",
            "to": "16505551234"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp"})))
        .expect(1)
        .mount(&server)
        .await;
    let (sink, control, _) = held_sink(&server, WhenHeldElsewhere::Take).await;
    let key = IdempotencyKey::derive("C2", "reply", &EventId::new("agent-2"));
    sink.write(&agent_reply(), &key).await.unwrap();
    assert_eq!(
        control.holder(PNID, "16505551234").await.unwrap(),
        Holder::ThisApp
    );
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert!(
        paths[0].ends_with("/thread_control"),
        "take first: {paths:?}"
    );
    assert!(paths[1].ends_with("/messages"), "{paths:?}");
}

#[tokio::test]
async fn a_sink_that_sends_anyway_records_the_implicit_takeover() {
    use chatport_core::{EventId, IdempotencyKey, Sink};
    use chatport_whatsapp::sink::WhenHeldElsewhere;
    let server = MockServer::start().await;
    mount_messages(&server, 1).await;
    let (sink, control, _) = held_sink(&server, WhenHeldElsewhere::Send).await;
    let key = IdempotencyKey::derive("C2", "reply", &EventId::new("agent-3"));
    sink.write(&agent_reply(), &key).await.unwrap();
    assert_eq!(
        control.holder(PNID, "16505551234").await.unwrap(),
        Holder::ThisApp
    );
}
