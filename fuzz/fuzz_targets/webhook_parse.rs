//! Webhook bodies are outside input (anyone can POST; the signature is checked first, but the parser
//! must never panic, loop or lose an event). For arbitrary bytes: parse, flatten into events, compute
//! every accessor, and check that each event survives the JSON round trip the runtime's outbox does.
#![no_main]

use chatport_whatsapp::webhook::{Event, Notification};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(notification) = Notification::parse(data) else {
        return;
    };
    let _ = format!("{notification:?}");
    for event in notification.events() {
        let id = event.event_id();
        assert!(!id.as_str().is_empty());
        let _ = (
            event.kind_name(),
            event.phone_number_id(),
            event.ordering_key(),
            event.occurred_at(),
            event.sender_name(),
            format!("{event:?}"),
        );
        if let Some(message) = event.message() {
            let _ = (
                message.text_body(),
                message.timestamp(),
                message.media(),
                message.type_object(),
            );
        }
        let bytes = serde_json::to_vec(&event).expect("an event always serialises");
        let back: Event = serde_json::from_slice(&bytes).expect("a serialised event parses back");
        assert_eq!(back, event, "round trip changed the event");
        assert_eq!(back.event_id(), id, "round trip changed the event id");
    }
});
