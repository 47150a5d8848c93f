//! The fuzz harnesses: one function per parser of outside input, each feeding arbitrary bytes to
//! the parser and checking what must hold whatever the input (no panic, round trips, no secret in
//! an error). `fuzz_targets/*.rs` run them under libFuzzer (nightly, `cargo fuzz run NAME`);
//! `tests/stable.rs` runs each one on the stable toolchain for a bounded number of generated
//! inputs (random bytes and mutations of the seed corpus in `seeds/NAME/`), which CI does on
//! every run.
#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime};

use chatport_whatsapp::webhook::{Event, Notification, SignatureVerifier, sign};
use secrecy::SecretString;

/// Every harness by name (the target and corpus directory names).
pub const HARNESSES: &[(&str, fn(&[u8]))] = &[
    ("webhook_parse", webhook_parse),
    ("signature_header", signature_header),
    ("retry_after", retry_after),
    ("set_cookie", set_cookie),
    ("orangelogic_webhook", orangelogic_webhook),
    ("creatio_webhook", creatio_webhook),
    ("cms_hal_page", cms_hal_page),
    ("error_body", error_body),
];

/// WhatsApp webhook bodies: parse, flatten into events, compute every accessor, and check that
/// each event survives the JSON round trip the runtime's outbox does.
pub fn webhook_parse(data: &[u8]) {
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
}

const SECRET: &str = "fuzz-app-secret";
const OLDER_SECRET: &str = "an-older-secret";

/// `X-Hub-Signature-256` values: first byte = header length, then the header bytes (lossy
/// UTF-8), then the body. The verifier never panics, accepts only the HMAC of the body under a
/// configured secret, always accepts the right one, and never reveals the MAC in its error.
pub fn signature_header(data: &[u8]) {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let (header, body) = rest.split_at(usize::from(len).min(rest.len()));
    let header = String::from_utf8_lossy(header);
    let verifier =
        SignatureVerifier::new([SecretString::from(OLDER_SECRET), SecretString::from(SECRET)])
            .expect("two non-blank secrets");
    let expected = sign(SECRET.as_bytes(), body);
    let _ = SignatureVerifier::check_header(Some(&header));
    match verifier.verify(Some(&header), body) {
        Ok(()) => assert!(
            header.trim().eq_ignore_ascii_case(&expected)
                || header
                    .trim()
                    .eq_ignore_ascii_case(&sign(OLDER_SECRET.as_bytes(), body)),
            "accepted a header that is not the HMAC of the body"
        ),
        Err(e) => assert!(
            !e.to_string().contains(&expected[7..]),
            "error reveals the MAC"
        ),
    }
    verifier
        .verify(Some(&expected), body)
        .expect("the correct signature is accepted");
}

/// `Retry-After` values (lossy UTF-8): never a panic, and a hint is never longer than the
/// distance to the furthest date the header could name from the fixed "now" (no overflow into a
/// huge wait from a malformed value is accepted silently beyond that bound).
pub fn retry_after(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_000_000);
    if let Some(wait) = chatport_http::parse_retry_after(&value, now) {
        let trimmed = value.trim();
        if let Ok(secs) = trimmed.parse::<u64>() {
            assert_eq!(wait, Duration::from_secs(secs), "delta-seconds taken as is");
        }
    }
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(data) {
        headers.insert(http::header::RETRY_AFTER, v);
        let _ = chatport_http::retry_after(&headers);
    }
}

/// `Set-Cookie` headers: the input split on newlines into header values. Never a panic; every
/// cookie kept has a non-empty name, and the `Cookie` header built from them parses back into the
/// same names.
pub fn set_cookie(data: &[u8]) {
    let mut headers = http::HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(v) = http::HeaderValue::from_bytes(line) {
            headers.append(http::header::SET_COOKIE, v);
        }
    }
    let jar = chatport_http::SessionCookies::from_headers(&headers);
    for (name, _) in jar.iter() {
        assert!(!name.is_empty(), "a cookie without a name was kept");
        assert!(jar.get(name).is_some());
    }
    let header = jar.header_value();
    if !jar.is_empty() {
        assert!(!header.is_empty());
    }
}

/// Orange Logic asset webhook deliveries with the default field names: never a panic; events of
/// one delivery have distinct ids and every id is non-empty.
pub fn orangelogic_webhook(data: &[u8]) {
    let fields = chatport_orangelogic::webhook::WebhookFields::default();
    let Ok(events) = chatport_orangelogic::webhook::parse_events(data, &fields) else {
        return;
    };
    let mut seen = std::collections::HashSet::new();
    for event in &events {
        assert!(!event.event_id().as_str().is_empty());
        assert!(
            seen.insert(event.event_id().as_str().to_owned()),
            "a repeated event id was kept twice"
        );
        let _ = format!("{event:?}");
    }
}

/// Creatio business-process notifications: never a panic; a parsed event has a kind and a
/// stable, non-empty event id for a fixed receipt time.
pub fn creatio_webhook(data: &[u8]) {
    let Ok(event) = chatport_creatio::webhook::parse_notification(data) else {
        return;
    };
    let at = chrono::DateTime::from_timestamp(1_765_000_000, 0).expect("valid timestamp");
    let id = event.event_id(at, data);
    assert!(!id.as_str().is_empty());
    assert_eq!(id, event.event_id(at, data), "the event id is stable");
    assert!(!event.kind().is_empty());
}

/// CMS HAL collection pages of instances: never a panic; a parsed page re-serialises its items.
pub fn cms_hal_page(data: &[u8]) {
    let Ok(page) =
        serde_json::from_slice::<chatport_opentext::HalPage<chatport_opentext::Instance>>(data)
    else {
        return;
    };
    for item in &page.items {
        let _ = format!("{item:?}");
    }
    let _ = (page.total, page.next.as_deref(), page.previous.as_deref());
}

/// Error answers of the three REST services: first byte picks the status (400 + byte), the rest
/// is the body. Each connector's `Error::from_response` never panics, classifies the answer, and
/// gives the same error for the same answer.
pub fn error_body(data: &[u8]) {
    use chatport_core::Classify as _;
    let Some((&code, body)) = data.split_first() else {
        return;
    };
    let status = 400 + u16::from(code);
    let headers = http::HeaderMap::new();
    let opentext = chatport_opentext::Error::from_response(status, &headers, body);
    let creatio = chatport_creatio::Error::from_response(status, &headers, body);
    let orangelogic = chatport_orangelogic::Error::from_response(status, &headers, body);
    let _ = (opentext.class(), creatio.class(), orangelogic.class());
    assert_eq!(
        opentext.to_string(),
        chatport_opentext::Error::from_response(status, &headers, body).to_string()
    );
    assert_eq!(
        creatio.to_string(),
        chatport_creatio::Error::from_response(status, &headers, body).to_string()
    );
    assert_eq!(
        orangelogic.to_string(),
        chatport_orangelogic::Error::from_response(status, &headers, body).to_string()
    );
}
