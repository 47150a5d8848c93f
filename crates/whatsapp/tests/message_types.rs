//! One fixture per inbound message type and status shape (Meta-documented shapes, see the
//! fixture files), parsed into events; plus the window tracker and the error kinds on them.
#![allow(clippy::unwrap_used)]

use chatport_whatsapp::webhook::{Event, InteractiveType, MessageType, Notification};
use chatport_whatsapp::{DeliveryState, DeliveryTracker, ErrorKind, WindowTracker};

fn events(name: &str) -> Vec<Event> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(&path).unwrap();
    let events = Notification::parse(&body).unwrap().events();
    for e in &events {
        // every event survives a store round trip
        let back: Event = serde_json::from_slice(&serde_json::to_vec(e).unwrap()).unwrap();
        assert_eq!(&back, e, "{name}");
        assert_ne!(e.kind_name(), "invalid", "{name}");
    }
    events
}

fn message(name: &str) -> chatport_whatsapp::webhook::Message {
    let events = events(&format!("messages/{name}.json"));
    assert_eq!(events.len(), 1, "{name}");
    assert_eq!(events[0].phone_number_id(), Some("106540352242922"));
    assert_eq!(events[0].sender_name(), Some("Sheena Nelson"));
    events[0].message().unwrap().clone()
}

#[test]
fn media_types() {
    let video = message("video");
    assert_eq!(video.message_type, MessageType::Video);
    assert_eq!(video.text_body(), Some("Site visit"));
    let media = video.media().unwrap();
    assert_eq!(media.mime_type.as_deref(), Some("video/mp4"));
    assert!(
        media
            .url
            .as_deref()
            .unwrap()
            .starts_with("https://lookaside.fbsbx.com/")
    );
    assert!(chatport_whatsapp::decode_sha256(media.sha256.as_deref().unwrap()).is_ok());

    let audio = message("audio");
    assert_eq!(audio.message_type, MessageType::Audio);
    assert_eq!(audio.audio.as_ref().unwrap().voice, Some(false));
    let voice = message("voice");
    assert_eq!(voice.audio.as_ref().unwrap().voice, Some(true));
    assert_eq!(
        chatport_whatsapp::MediaKind::for_mime(
            voice.media().unwrap().mime_type.as_deref().unwrap()
        ),
        Some(chatport_whatsapp::MediaKind::Audio)
    );
    let sticker = message("sticker");
    assert_eq!(sticker.message_type, MessageType::Sticker);
    assert_eq!(sticker.sticker.as_ref().unwrap().animated, Some(false));
}

#[test]
fn location_contacts_order_system() {
    let loc = message("location");
    let l = loc.location.as_ref().unwrap();
    assert_eq!(
        (l.latitude, l.longitude),
        (Some(37.483307), Some(-122.148981))
    );
    assert_eq!(l.name.as_deref(), Some("Pablo Morales"));

    let contacts = message("contacts");
    assert_eq!(contacts.message_type, MessageType::Contacts);
    let cards = contacts.type_object().unwrap().as_array().unwrap();
    assert_eq!(cards[0]["name"]["formatted_name"], "Anna Muster");
    assert_eq!(cards[0]["phones"][0]["wa_id"], "491701234567");

    let order = message("order");
    assert_eq!(order.message_type, MessageType::Order);
    assert_eq!(
        order.type_object().unwrap()["product_items"][0]["quantity"],
        2
    );

    let system = message("system");
    assert_eq!(system.message_type, MessageType::System);
    assert_eq!(system.type_object().unwrap()["type"], "user_changed_number");
}

#[test]
fn replies_reactions_referral() {
    let button = message("button_reply");
    let i = button.interactive.as_ref().unwrap();
    assert_eq!(i.interactive_type, InteractiveType::ButtonReply);
    assert_eq!(i.reply_id(), Some("case-yes"));
    assert!(button.context.as_ref().unwrap().id.is_some());

    let list = message("list_reply");
    let i = list.interactive.as_ref().unwrap();
    assert_eq!(i.interactive_type, InteractiveType::ListReply);
    assert_eq!(i.reply_id(), Some("queue-billing"));
    assert_eq!(
        i.list_reply.as_ref().unwrap().description.as_deref(),
        Some("Invoices and payments")
    );

    let tb = message("template_button");
    assert_eq!(tb.message_type, MessageType::Button);
    assert_eq!(
        tb.button.as_ref().unwrap().payload.as_deref(),
        Some("STOP_PROMOTIONS")
    );
    assert_eq!(tb.text_body(), Some("Stop promotions"));

    let reaction = message("reaction");
    assert_eq!(
        reaction.reaction.as_ref().unwrap().emoji.as_deref(),
        Some("\u{1F44D}")
    );
    let removed = message("reaction_removed");
    assert_eq!(removed.reaction.as_ref().unwrap().emoji, None);

    let referral = message("referral");
    let r = referral.referral.as_ref().unwrap();
    assert_eq!(r.source_type.as_deref(), Some("ad"));
    assert!(r.ctwa_clid.is_some());
    assert_eq!(r.extra["welcome_message"]["text"], "Hi! How can we help?");

    let fwd = message("forwarded");
    assert_eq!(fwd.text_body(), Some("forwarded text"));
}

#[tokio::test]
async fn window_opens_for_user_messages_not_system() {
    let tracker = WindowTracker::default();
    let system = events("messages/system.json");
    assert!(!tracker.observe(&system[0]).await);
    let reaction = events("messages/reaction.json");
    assert!(tracker.observe(&reaction[0]).await);
    // the fixture timestamp is in 2025: long closed
    assert!(!tracker.is_open("106540352242922", "16505551234").await);
    assert!(
        tracker
            .expires_at("106540352242922", "16505551234")
            .await
            .is_some()
    );
}

#[test]
fn statuses_and_async_errors() {
    let events = events("statuses_errors_pricing.json");
    let mut tracker = DeliveryTracker::new();
    let mut saw_pricing = false;
    for e in &events {
        if let Some(s) = e.status() {
            saw_pricing |= s.pricing.is_some();
            tracker.apply(s);
        }
    }
    assert!(saw_pricing);
    let failed = events
        .iter()
        .filter_map(Event::status)
        .find(|s| s.status.as_str() == "failed")
        .unwrap();
    assert_eq!(failed.error_kind(), Some(ErrorKind::ReEngagementRequired));
    assert_eq!(tracker.state(&failed.id), Some(DeliveryState::Failed));

    let unsupported = message_from("unsupported.json");
    assert_eq!(
        unsupported.errors[0].kind(),
        ErrorKind::UnsupportedMessageType
    );
    let change = events_of("change_error.json");
    assert_eq!(
        change[0].error().unwrap().kind(),
        ErrorKind::MediaDownloadFailed
    );
    let template = events_of("template_status_update.json");
    assert_eq!(template[0].field, "message_template_status_update");
}

fn events_of(name: &str) -> Vec<Event> {
    events(name)
}

fn message_from(name: &str) -> chatport_whatsapp::webhook::Message {
    events(name)[0].message().unwrap().clone()
}
