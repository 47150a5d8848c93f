//! Property tests of the webhook parser: for payloads with arbitrary values in every position, no
//! update is dropped (one event per item) and every event survives the outbox's JSON round trip.
//! The fuzz targets in `fuzz/` explore the same properties on raw bytes.
// Test helpers outside #[test] functions unwrap too (clippy.toml allows it only inside them).
#![allow(clippy::unwrap_used)]

use chatport_whatsapp::webhook::{Event, Notification};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1.0e12f64..1.0e12).prop_map(Value::from),
        "[a-z0-9 .:äöå😀]{0,12}".prop_map(Value::from),
        Just(Value::from("1751247548")),
        Just(Value::from("text")),
        Just(Value::from("wamid.X")),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object using the keys the typed model knows, with arbitrary values (and some unknown keys).
fn arb_item(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(keys), arb_json()), 0..8).prop_map(|pairs| {
        let mut map = Map::new();
        for (k, v) in pairs {
            map.insert(k.to_owned(), v);
        }
        Value::Object(map)
    })
}

const MESSAGE_KEYS: &[&str] = &[
    "id",
    "id",
    "from",
    "from_user_id",
    "timestamp",
    "type",
    "text",
    "image",
    "document",
    "audio",
    "location",
    "interactive",
    "button",
    "reaction",
    "context",
    "referral",
    "errors",
    "poll",
    "brand_new",
];
const STATUS_KEYS: &[&str] = &[
    "id",
    "id",
    "status",
    "status",
    "timestamp",
    "recipient_id",
    "recipient_user_id",
    "conversation",
    "pricing",
    "errors",
    "biz_opaque_callback_data",
    "brand_new",
];
const ERROR_KEYS: &[&str] = &[
    "code",
    "code",
    "title",
    "message",
    "error_data",
    "href",
    "x",
];

fn round_trips(event: &Event) {
    let bytes = serde_json::to_vec(event).unwrap();
    let back: Event = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(&back, event);
    assert_eq!(back.event_id(), event.event_id());
    assert!(!event.event_id().as_str().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn one_event_per_item_and_lossless_round_trip(
        messages in prop::collection::vec(arb_item(MESSAGE_KEYS), 0..4),
        statuses in prop::collection::vec(arb_item(STATUS_KEYS), 0..4),
        errors in prop::collection::vec(arb_item(ERROR_KEYS), 0..3),
        contacts in prop::collection::vec(arb_json(), 0..3),
        other_value in arb_json(),
    ) {
        let expected = messages.len() + statuses.len() + errors.len();
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "time": 1751247548, "changes": [
                {"field": "messages", "value": {
                    "metadata": {"display_phone_number": "1", "phone_number_id": "2"},
                    "contacts": contacts,
                    "messages": messages,
                    "statuses": statuses,
                    "errors": errors
                }},
                {"field": "some_field", "value": other_value}
            ]}]
        });
        let events = Notification::parse(body.to_string().as_bytes()).unwrap().events();
        // Items of the messages change (or one Other when it had none) + one Other.
        prop_assert_eq!(events.len(), expected.max(1) + 1);
        for event in &events {
            round_trips(event);
            let _ = (event.ordering_key(), event.occurred_at(), event.sender_name(), format!("{event:?}"));
        }
    }

    #[test]
    fn mutated_real_bodies_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        for name in ["real-signed.json", "batch.json", "statuses_errors_pricing.json"] {
            let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
            let mut body = std::fs::read(path).unwrap();
            let i = pos.index(body.len());
            body[i] = byte;
            if let Ok(notification) = Notification::parse(&body) {
                for event in notification.events() {
                    round_trips(&event);
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(notification) = Notification::parse(&body) {
            for event in notification.events() {
                round_trips(&event);
            }
        }
    }
}
