//! Webhook verification and parsing against fixtures shaped like Meta's documented payloads, and
//! the real Meta-signed delivery.
// Test helpers outside #[test] functions unwrap too (clippy.toml allows it only inside them).
#![allow(clippy::unwrap_used)]

use chatport_core::EventId;
use chatport_whatsapp::Error;
use chatport_whatsapp::webhook::{
    Event, EventKind, HandoverType, InteractiveType, MessageType, Notification, SignatureVerifier,
    StandbyItem, StatusKind, sign,
};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn events(name: &str) -> Vec<Event> {
    Notification::parse(&fixture(name)).unwrap().events()
}

fn at(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

const ALL_FIXTURES: [&str; 16] = [
    "standby.json",
    "handover.json",
    "real-signed.json",
    "text.json",
    "image.json",
    "document.json",
    "batch.json",
    "statuses_errors_pricing.json",
    "change_error.json",
    "unknown_type_poll.json",
    "unknown_field.json",
    "bsuid_only.json",
    "template_status_update.json",
    "non_ascii.json",
    "unsupported.json",
    "partially_invalid.json",
];

// ---------------------------------------------------------------------------------------------
// Signatures

#[test]
fn real_meta_signed_delivery_verifies_byte_for_byte() {
    let body = fixture("real-signed.json");
    assert_eq!(body.len(), 511);
    let secret = String::from_utf8(fixture("real-signed.secret")).unwrap();
    let header = String::from_utf8(fixture("real-signed.sig")).unwrap();
    assert_eq!(sign(secret.as_bytes(), &body), header);

    let verifier = SignatureVerifier::new([SecretString::from(secret.clone())]).unwrap();
    verifier.verify(Some(&header), &body).unwrap();

    // Flipping any single byte is refused: first, last and positions in between (structure, a
    // digit of the phone number, the text).
    for pos in [0, 1, 42, 100, 255, 300, 420, 509, 510] {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut tampered = body.clone();
            tampered[pos] ^= flip;
            assert!(
                matches!(
                    verifier.verify(Some(&header), &tampered),
                    Err(Error::SignatureMismatch)
                ),
                "byte {pos} ^ {flip:#x} accepted"
            );
        }
    }
    // A trailing newline (what an editor or a re-serialisation adds) is refused too.
    let mut with_newline = body.clone();
    with_newline.push(b'\n');
    assert!(verifier.verify(Some(&header), &with_newline).is_err());
    // A wrong secret is refused; the right one among several (rotation) is accepted.
    let rotated =
        SignatureVerifier::new([SecretString::from("new-secret"), SecretString::from(secret)])
            .unwrap();
    rotated.verify(Some(&header), &body).unwrap();
    let wrong = SignatureVerifier::new([SecretString::from("new-secret")]).unwrap();
    assert!(matches!(
        wrong.verify(Some(&header), &body),
        Err(Error::SignatureMismatch)
    ));

    let events = Notification::parse(&body).unwrap().events();
    assert_eq!(events.len(), 1);
    let message = events[0].message().unwrap();
    assert_eq!(message.text_body(), Some("Hey there! I am using PyWa."));
    assert_eq!(events[0].sender_name(), Some("PyWa Tests"));
    assert_eq!(events[0].phone_number_id(), Some("277321005464405"));
}

#[test]
fn non_ascii_body_verifies_as_meta_signs_it_and_parses_to_unicode() {
    let body = fixture("non_ascii.json");
    assert!(body.is_ascii(), "Meta escapes non-ASCII as \\uXXXX");
    let header = sign(b"app-secret", &body);
    let verifier = SignatureVerifier::new([SecretString::from("app-secret")]).unwrap();
    verifier.verify(Some(&header), &body).unwrap();

    // The same JSON re-serialised (UTF-8 instead of escapes) no longer verifies: hash raw bytes.
    let reserialised =
        serde_json::to_vec(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
    assert_ne!(reserialised, body);
    assert!(matches!(
        verifier.verify(Some(&header), &reserialised),
        Err(Error::SignatureMismatch)
    ));

    let events = Notification::parse(&body).unwrap().events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].message().unwrap().text_body(),
        Some("J'ai mangé des pâtes äöå — 日本語 😀 @home")
    );
    assert_eq!(events[0].sender_name(), Some("Zoë Ångström"));
}

// ---------------------------------------------------------------------------------------------
// Message types

#[test]
fn text_message() {
    let events = events("text.json");
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.kind_name(), "message");
    assert_eq!(e.field, "messages");
    assert_eq!(e.waba_id.as_deref(), Some("102290129340398"));
    assert_eq!(e.phone_number_id(), Some("106540352242922"));
    assert_eq!(
        e.metadata.as_ref().unwrap().display_phone_number,
        "15550783881"
    );
    assert_eq!(
        e.event_id(),
        EventId::new("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTdCNTg5RjY1MzQ4RjM2QzU3MQA=")
    );
    assert_eq!(e.ordering_key().as_deref(), Some("16505551234"));
    assert_eq!(e.occurred_at(), at(1_751_247_548));
    assert_eq!(e.sender_name(), Some("Sheena Nelson"));
    let m = e.message().unwrap();
    assert_eq!(m.message_type, MessageType::Text);
    assert_eq!(m.timestamp.as_deref(), Some("1751247548"));
    assert_eq!(m.timestamp(), at(1_751_247_548));
    assert_eq!(m.text_body(), Some("Does it come in another color?"));
    assert_eq!(e.contacts.len(), 1);
    assert_eq!(e.contacts[0].wa_id.as_deref(), Some("16505551234"));
}

#[test]
fn image_message_with_referral() {
    let events = events("image.json");
    assert_eq!(events.len(), 1);
    let m = events[0].message().unwrap();
    assert_eq!(m.message_type, MessageType::Image);
    let image = m.image.as_ref().unwrap();
    assert_eq!(image.id.as_deref(), Some("1003383421387256"));
    assert_eq!(image.mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!(
        image.sha256.as_deref(),
        Some("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=")
    );
    assert!(
        image
            .url
            .as_deref()
            .unwrap()
            .starts_with("https://lookaside.fbsbx.com/")
    );
    assert_eq!(m.media(), Some(image));
    // text_body falls back to the caption
    assert_eq!(m.text_body(), Some("Damaged parcel, order 4711"));
    let referral = m.referral.as_ref().unwrap();
    assert_eq!(referral.source_type.as_deref(), Some("ad"));
    assert_eq!(referral.source_id.as_deref(), Some("120226305854810726"));
    assert!(referral.ctwa_clid.is_some());
    assert!(referral.extra.contains_key("image_url"));
}

#[test]
fn document_message() {
    let events = events("document.json");
    let m = events[0].message().unwrap();
    assert_eq!(m.message_type, MessageType::Document);
    let doc = m.document.as_ref().unwrap();
    assert_eq!(doc.filename.as_deref(), Some("invoice-12345.pdf"));
    assert_eq!(doc.mime_type.as_deref(), Some("application/pdf"));
    assert_eq!(doc.id.as_deref(), Some("1158201444"));
    assert_eq!(m.text_body(), Some("Invoice 12345"));
    assert_eq!(events[0].sender_name(), Some("Pablo Morales"));
}

#[test]
fn unknown_message_type_keeps_its_object() {
    let events = events("unknown_type_poll.json");
    assert_eq!(events.len(), 1);
    let m = events[0].message().unwrap();
    assert_eq!(m.message_type, MessageType::Unknown("poll".into()));
    assert_eq!(m.message_type.as_str(), "poll");
    assert!(m.message_type.is_unknown());
    let poll = m.type_object().unwrap();
    assert_eq!(poll["options"][1]["name"], "Afternoon");
    assert_eq!(m.extra["brand_new_field"], json!({"nested": [1, 2, 3]}));
    assert_eq!(m.text_body(), None);
    assert_eq!(events[0].event_id().as_str(), "wamid.POLL1");
    // Serialising the message gives the unknown parts back.
    let back = serde_json::to_value(m).unwrap();
    assert_eq!(back["type"], "poll");
    assert_eq!(back["poll"]["selectable_count"], 1);
}

#[test]
fn unsupported_message_carries_its_error() {
    let events = events("unsupported.json");
    let m = events[0].message().unwrap();
    assert_eq!(m.message_type, MessageType::Unsupported);
    assert_eq!(m.errors.len(), 1);
    assert_eq!(m.errors[0].code, 131051);
    assert_eq!(
        m.errors[0].details(),
        Some("Message type is currently not supported.")
    );
    assert_eq!(m.type_object().unwrap()["type"], "poll");
}

#[test]
fn sender_known_only_by_business_scoped_user_id() {
    let events = events("bsuid_only.json");
    assert_eq!(events.len(), 1);
    let e = &events[0];
    let m = e.message().unwrap();
    assert_eq!(m.from, None);
    assert_eq!(m.from_user_id.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(m.sender(), Some("US.13491208655302741918"));
    assert_eq!(e.ordering_key().as_deref(), Some("US.13491208655302741918"));
    assert_eq!(e.sender_name(), Some("Kai"));
    assert_eq!(e.contacts[0].wa_id, None);
    let profile = e.contacts[0].profile.as_ref().unwrap();
    assert_eq!(profile.username.as_deref(), Some("kai.dev"));
    assert!(
        profile.extra.is_empty(),
        "username is typed, not left in extra"
    );
    assert_eq!(e.sender_username(), Some("kai.dev"));
    assert_eq!(e.sender_user_id(), Some("US.13491208655302741918"));
    assert_eq!(
        e.contacts[0].parent_user_id.as_deref(),
        Some("US.ENT.11815799212886844830")
    );
    assert!(e.contacts[0].extra.is_empty());
    assert_eq!(
        m.from_parent_user_id.as_deref(),
        Some("US.ENT.11815799212886844830")
    );
    assert_eq!(m.message_type, MessageType::Button);
    assert_eq!(
        m.button.as_ref().unwrap().payload.as_deref(),
        Some("confirm-appointment")
    );
    assert_eq!(m.text_body(), Some("Confirm"));
    assert_eq!(
        m.context.as_ref().unwrap().id.as_deref(),
        Some("wamid.OUTGOING7")
    );
}

// ---------------------------------------------------------------------------------------------
// Batches, statuses, errors, other fields

#[test]
fn batched_post_gives_every_event() {
    let events = events("batch.json");
    assert_eq!(events.len(), 5, "3 messages + 2 statuses");
    let kinds: Vec<&str> = events.iter().map(Event::kind_name).collect();
    assert_eq!(kinds, ["message", "message", "status", "status", "message"]);
    let ids: Vec<String> = events.iter().map(|e| e.event_id().to_string()).collect();
    assert_eq!(
        ids,
        [
            "wamid.BATCH1",
            "wamid.BATCH2",
            "wamid.OUTGOING7:delivered",
            "wamid.OUTGOING7:read",
            "wamid.BATCH3"
        ]
    );
    // Each message carries the contact of its own sender.
    assert_eq!(events[0].sender_name(), Some("Sheena Nelson"));
    assert_eq!(events[0].contacts.len(), 1);
    assert_eq!(events[1].sender_name(), Some("Pablo Morales"));
    assert_eq!(events[4].sender_name(), Some("Anna Svensson"));
    // The second entry is another WABA and number.
    assert_eq!(events[4].waba_id.as_deref(), Some("102290129340399"));
    assert_eq!(events[4].phone_number_id(), Some("106540352242923"));
    // Interactive reply and reaction.
    let reply = events[1].message().unwrap();
    let interactive = reply.interactive.as_ref().unwrap();
    assert_eq!(interactive.interactive_type, InteractiveType::ButtonReply);
    assert_eq!(interactive.reply_id(), Some("talk-to-agent"));
    assert_eq!(reply.text_body(), Some("Talk to an agent"));
    assert_eq!(
        reply.context.as_ref().unwrap().id.as_deref(),
        Some("wamid.OUTGOING7")
    );
    let reaction = events[4].message().unwrap().reaction.as_ref().unwrap();
    assert_eq!(reaction.emoji.as_deref(), Some("👍"));
    // Statuses are ordered by their recipient.
    assert_eq!(events[2].ordering_key().as_deref(), Some("16505551235"));
    assert_eq!(events[3].status().unwrap().status, StatusKind::Read);
    assert_eq!(events[3].occurred_at(), at(1_751_247_551));
}

#[test]
fn statuses_with_pricing_and_errors() {
    let events = events("statuses_errors_pricing.json");
    assert_eq!(events.len(), 2);
    let sent = events[0].status().unwrap();
    assert_eq!(sent.status, StatusKind::Sent);
    assert_eq!(
        sent.biz_opaque_callback_data.as_deref(),
        Some("case-C-1042")
    );
    let pricing = sent.pricing.as_ref().unwrap();
    assert_eq!(pricing.billable, Some(true));
    assert_eq!(pricing.pricing_model.as_deref(), Some("PMP"));
    assert_eq!(pricing.category.as_deref(), Some("utility"));
    assert_eq!(pricing.pricing_type.as_deref(), Some("regular"));
    let conversation = sent.conversation.as_ref().unwrap();
    assert_eq!(
        conversation.expiration_timestamp.as_deref(),
        Some("1751334000")
    );
    assert_eq!(conversation.origin.as_ref().unwrap()["type"], "utility");
    assert_eq!(events[0].event_id().as_str(), "wamid.OUTGOING8:sent");

    let failed = events[1].status().unwrap();
    assert_eq!(failed.status, StatusKind::Failed);
    assert_eq!(failed.errors.len(), 1);
    assert_eq!(failed.errors[0].code, 131047);
    assert_eq!(
        failed.errors[0].title.as_deref(),
        Some("Re-engagement message")
    );
    assert!(failed.errors[0].details().unwrap().contains("24 hours"));
    assert!(failed.errors[0].href.is_some());
    assert_eq!(events[1].event_id().as_str(), "wamid.OUTGOING9:failed");
    assert_eq!(events[1].ordering_key().as_deref(), Some("16505551234"));
    assert_eq!(events[1].sender_name(), None);
}

#[test]
fn change_level_error() {
    let body = fixture("change_error.json");
    let events = Notification::parse(&body).unwrap().events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.kind_name(), "error");
    let error = e.error().unwrap();
    assert_eq!(error.code, 131052);
    assert!(error.details().unwrap().contains("100MB"));
    assert_eq!(e.ordering_key(), None);
    assert_eq!(e.occurred_at(), at(1_751_247_700));
    assert_eq!(e.phone_number_id(), Some("106540352242922"));
    // A content id, stable across redeliveries (re-parsing gives the same id) ...
    let id = e.event_id();
    assert!(id.as_str().starts_with("sha256:"));
    assert_eq!(
        Notification::parse(&body).unwrap().events()[0].event_id(),
        id
    );
    // ... and different for the same error on another number.
    let other_number = String::from_utf8(body)
        .unwrap()
        .replace("106540352242922", "106540352242999");
    assert_ne!(
        Notification::parse(other_number.as_bytes())
            .unwrap()
            .events()[0]
            .event_id(),
        id
    );
}

#[test]
fn unknown_webhook_field_is_kept_raw() {
    let body = fixture("unknown_field.json");
    let events = Notification::parse(&body).unwrap().events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.field, "some_future_field");
    assert_eq!(e.kind_name(), "other");
    let EventKind::Other(value) = &e.kind else {
        panic!("expected Other, got {:?}", e.kind);
    };
    let raw: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value, &raw["entry"][0]["changes"][0]["value"]);
    assert_eq!(e.metadata, None);
    assert_eq!(e.ordering_key(), None);
    assert_eq!(e.occurred_at(), at(1_751_247_900));
    assert!(e.event_id().as_str().starts_with("sha256:"));
}

#[test]
fn template_status_update_is_an_other_event() {
    let events = events("template_status_update.json");
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.field, "message_template_status_update");
    assert_eq!(e.kind_name(), "other");
    let EventKind::Other(value) = &e.kind else {
        panic!("expected Other");
    };
    assert_eq!(value["event"], "APPROVED");
    assert_eq!(value["message_template_name"], "case_update");
    assert_eq!(value["message_template_id"], 806_312_974_732_579_u64);
    assert_eq!(e.occurred_at(), at(1_751_248_100));
    assert_eq!(e.phone_number_id(), None);
}

#[test]
fn one_malformed_item_does_not_fail_the_batch() {
    let events = events("partially_invalid.json");
    let kinds: Vec<&str> = events.iter().map(Event::kind_name).collect();
    assert_eq!(kinds, ["message", "invalid", "message", "invalid"]);
    assert_eq!(events[0].event_id().as_str(), "wamid.GOOD1");
    assert_eq!(events[2].event_id().as_str(), "wamid.GOOD3");
    let EventKind::Invalid(bad) = &events[1].kind else {
        panic!("expected Invalid");
    };
    assert_eq!(bad.item, "messages");
    assert_eq!(bad.index, Some(1));
    assert!(bad.reason.contains("missing field `id`"), "{}", bad.reason);
    assert_eq!(bad.raw["text"]["body"], "this one has no id");
    let EventKind::Invalid(bad_status) = &events[3].kind else {
        panic!("expected Invalid");
    };
    assert_eq!(bad_status.item, "statuses");
    assert_eq!(bad_status.index, Some(0));
    // Invalid items get distinct, stable content ids.
    assert!(events[1].event_id().as_str().starts_with("sha256:"));
    assert_ne!(events[1].event_id(), events[3].event_id());
}

#[test]
fn messages_change_without_items_is_not_dropped() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "1", "phone_number_id": "2"},
            "calls": [{"id": "c1"}]}},
        {"field": "messages", "value": "not an object"},
        {"field": "messages", "value": {"messages": {"id": "not an array"}}}
    ]}]});
    let events = Notification::parse(body.to_string().as_bytes())
        .unwrap()
        .events();
    let kinds: Vec<&str> = events.iter().map(Event::kind_name).collect();
    assert_eq!(kinds, ["other", "invalid", "invalid"]);
    assert_eq!(events[0].phone_number_id(), Some("2"));
}

#[test]
fn thousand_updates_in_one_post() {
    let messages: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"from": format!("1650555{i:04}"), "id": format!("wamid.{i}"),
                   "timestamp": "1751247548", "type": "text", "text": {"body": format!("m{i}")}})
        })
        .collect();
    let contacts: Vec<Value> = (0..1000)
        .map(|i| json!({"wa_id": format!("1650555{i:04}"), "profile": {"name": format!("n{i}")}}))
        .collect();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"metadata": {"display_phone_number": "1", "phone_number_id": "2"},
            "contacts": contacts, "messages": messages}}]}]});
    let events = Notification::parse(body.to_string().as_bytes())
        .unwrap()
        .events();
    assert_eq!(events.len(), 1000);
    assert_eq!(events[999].event_id().as_str(), "wamid.999");
    assert_eq!(events[999].sender_name(), Some("n999"));
    assert_eq!(events[999].contacts.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Malformed bodies

#[test]
fn malformed_json_reports_line_and_column() {
    let body =
        b"{\n  \"object\": \"whatsapp_business_account\",\n  \"entry\": [ {\"id\": \"1\",, } ]\n}";
    match Notification::parse(body) {
        Err(Error::Parse {
            line,
            column,
            category,
            ..
        }) => {
            assert_eq!(line, 3);
            assert_eq!(column, 25, "the second comma");
            assert_eq!(category, "syntax");
        }
        other => panic!("{other:?}"),
    }
    match Notification::parse(b"{\"object\": \"x\", \"entry\": [") {
        Err(Error::Parse { category, line, .. }) => {
            assert_eq!((category, line), ("eof", 1));
        }
        other => panic!("{other:?}"),
    }
    // Well-formed JSON with a mistyped envelope: still a position.
    match Notification::parse(b"{\"object\": \"x\",\n \"entry\": \"16505551234\"}") {
        Err(Error::Parse {
            line,
            category,
            message,
            ..
        }) => {
            assert_eq!((line, category), (2, "data"));
            assert!(!message.contains("16505551234"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Notification::parse(b"{\"entry\": []}"),
        Err(Error::Parse { .. })
    ));
    assert!(matches!(Notification::parse(b""), Err(Error::Parse { .. })));
    assert!(matches!(
        Notification::parse(b"[1, 2]"),
        Err(Error::Parse { .. })
    ));
    let err = Notification::parse(b"{\"object\": 1, \"entry\": []}").unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn envelope_is_lenient_about_ids_and_extra_fields() {
    let body = br#"{"object":"whatsapp_business_account","new_top":1,"entry":[{"id":102290129340398,"time":"1751247548","new_entry":true,"changes":[{"field":"x","value":null,"new_change":"y"}]}]}"#;
    let n = Notification::parse(body).unwrap();
    assert_eq!(n.entry[0].id, "102290129340398");
    assert_eq!(n.entry[0].time, Some(1_751_247_548));
    assert_eq!(n.extra["new_top"], 1);
    assert_eq!(n.entry[0].extra["new_entry"], true);
    assert_eq!(n.entry[0].changes[0].extra["new_change"], "y");
    assert_eq!(n.change_count(), 1);
    // Duplicate envelope keys are refused rather than silently merged.
    assert!(Notification::parse(br#"{"object":"a","object":"b","entry":[]}"#).is_err());
}

// ---------------------------------------------------------------------------------------------
// Serialisation

#[test]
fn every_event_round_trips_through_json() {
    let mut count = 0;
    for name in ALL_FIXTURES {
        for event in events(name) {
            let bytes = serde_json::to_vec(&event).unwrap();
            let back: Event = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back, event, "{name}");
            assert_eq!(back.event_id(), event.event_id(), "{name}");
            assert_eq!(back.ordering_key(), event.ordering_key(), "{name}");
            assert_eq!(back.occurred_at(), event.occurred_at(), "{name}");
            assert_eq!(back.sender_name(), event.sender_name(), "{name}");
            // A second round trip is byte-identical.
            assert_eq!(serde_json::to_vec(&back).unwrap(), bytes, "{name}");
            count += 1;
        }
    }
    assert_eq!(count, 28);
}

#[test]
fn serialised_event_shape() {
    let event = events("text.json").remove(0);
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(value["field"], "messages");
    assert_eq!(value["kind"]["type"], "message");
    assert_eq!(value["kind"]["data"]["type"], "text");
    assert_eq!(value["kind"]["data"]["timestamp"], "1751247548");
    assert_eq!(value["metadata"]["phone_number_id"], "106540352242922");
}

#[test]
fn debug_output_hides_phone_numbers_and_text() {
    for name in ["text.json", "batch.json", "statuses_errors_pricing.json"] {
        for event in events(name) {
            let debug = format!("{event:?}");
            assert!(!debug.contains("6505551234"), "{debug}");
            assert!(!debug.contains("6505551235"), "{debug}");
            assert!(!debug.contains("another color"), "{debug}");
            assert!(!debug.contains("never arrived"), "{debug}");
        }
    }
    let debug = format!("{:?}", Notification::parse(&fixture("text.json")).unwrap());
    assert!(
        !debug.contains("6505551234") && !debug.contains("another color"),
        "{debug}"
    );
}

#[test]
fn a_status_to_a_user_id_carries_the_typed_parent_user_id() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [{"id": "wamid.OUT9", "status": "delivered", "timestamp": "1751248001",
                "recipient_user_id": "US.13491208655302741918",
                "recipient_parent_user_id": "US.ENT.11815799212886844830"}]}}]}]});
    let events = Notification::parse(body.to_string().as_bytes())
        .unwrap()
        .events();
    let s = events[0].status().unwrap();
    assert_eq!(s.recipient(), Some("US.13491208655302741918"));
    assert_eq!(
        s.recipient_parent_user_id.as_deref(),
        Some("US.ENT.11815799212886844830")
    );
    assert!(s.extra.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Standby and handovers (Meta: webhooks/reference/standby, webhooks/reference/messaging-handovers)

#[test]
fn standby_items_are_never_plain_messages() {
    let events = events("standby.json");
    let kinds: Vec<&str> = events.iter().map(Event::kind_name).collect();
    assert_eq!(kinds, ["standby", "standby", "standby"]);
    assert!(events.iter().all(|e| e.message().is_none()));
    let items: Vec<&str> = events
        .iter()
        .map(|e| e.standby().unwrap().item_name())
        .collect();
    assert_eq!(items, ["message", "status", "echo"]);
    assert_eq!(events[0].event_id().as_str(), "standby:wamid.STANDBY1");
    assert_eq!(
        events[1].event_id().as_str(),
        "standby:wamid.ECHO1:delivered"
    );
    assert_eq!(events[2].event_id().as_str(), "echo:wamid.ECHO1");
    for e in &events {
        assert_eq!(e.ordering_key().as_deref(), Some("16505551234"));
        assert_eq!(e.phone_number_id(), Some("106540352242922"));
        let back: Event = serde_json::from_slice(&serde_json::to_vec(e).unwrap()).unwrap();
        assert_eq!(&back, e);
    }
    assert_eq!(events[0].occurred_at(), at(1_751_248_000));
    let StandbyItem::Message(m) = events[0].standby().unwrap() else {
        panic!("expected a standby message");
    };
    assert_eq!(m.text_body(), Some("Can I change my delivery address?"));
}

#[test]
fn handovers_are_typed_in_both_known_shapes_and_unknown_values_kept() {
    let events = events("handover.json");
    let kinds: Vec<&str> = events.iter().map(Event::kind_name).collect();
    assert_eq!(kinds, ["handover", "handover", "other"]);

    let passed = events[0].handover().unwrap();
    assert_eq!(passed.handover_type, HandoverType::ControlPassed);
    assert_eq!(passed.this_app_holds(), Some(true));
    assert_eq!(passed.customer.as_deref(), Some("16505551234"));
    assert_eq!(passed.previous_owner.as_deref(), Some("ai_agent"));
    assert_eq!(passed.new_owner.as_deref(), Some("app"));
    assert_eq!(
        passed.metadata.as_deref(),
        Some("escalate: billing question")
    );
    assert_eq!(events[0].occurred_at(), at(1_751_248_100));
    assert_eq!(events[0].ordering_key().as_deref(), Some("16505551234"));
    assert!(!format!("{passed:?}").contains("16505551234"));

    let taken = events[1].handover().unwrap();
    assert_eq!(taken.handover_type, HandoverType::TakeThreadControl);
    assert_eq!(taken.this_app_holds(), Some(false));
    assert_eq!(taken.customer.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(taken.new_owner.as_deref(), Some("987654321"));
    assert_eq!(events[1].occurred_at(), at(1_751_248_200));
    assert_ne!(events[0].event_id(), events[1].event_id());
    for e in &events {
        let back: Event = serde_json::from_slice(&serde_json::to_vec(e).unwrap()).unwrap();
        assert_eq!(&back, e);
        assert_eq!(back.event_id(), e.event_id());
    }
}
