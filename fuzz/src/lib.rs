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
    ("graph_error", graph_error),
    ("orangelogic_envelope", orangelogic_envelope),
    ("config_toml", config_toml),
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

/// Graph API error answers (`chatport_whatsapp::Error::from_answer`): first byte picks the status
/// (400 + byte; a 429 also carries `Retry-After: 7`), the rest is the body. Never a panic; a
/// Graph error document `{"error":{"code":N,…}}` becomes `Error::Api` with that code and status,
/// anything else `Error::UnexpectedBody` whose snippet is short and has no run of 5+ digits (a
/// phone number); the same answer gives the same error, class and `may_resend`.
pub fn graph_error(data: &[u8]) {
    use chatport_core::Classify as _;
    let Some((&code, body)) = data.split_first() else {
        return;
    };
    let status = 400 + u16::from(code);
    let mut headers = http::HeaderMap::new();
    if status == 429 {
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("7"),
        );
    }
    let error = chatport_whatsapp::Error::from_answer(status, &headers, body);
    let again = chatport_whatsapp::Error::from_answer(status, &headers, body);
    assert_eq!(error.to_string(), again.to_string());
    assert_eq!(error.class(), again.class());
    assert_eq!(error.may_resend(), again.may_resend());
    let graph_code = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.get("code")?.as_i64());
    match &error {
        chatport_whatsapp::Error::Api(api) => {
            assert_eq!(api.http_status, status);
            if let Some(code) = graph_code {
                assert_eq!(api.code(), code, "the Graph code is kept");
            }
            let _ = (api.kind(), api.class(), api.details(), api.fbtrace_id());
        }
        chatport_whatsapp::Error::UnexpectedBody {
            http_status,
            snippet,
            ..
        } => {
            assert_eq!(*http_status, status);
            assert!(
                graph_code.is_none(),
                "a Graph error document was not recognised"
            );
            assert!(snippet.chars().count() <= 257, "the snippet is bounded");
            let mut run = 0;
            for c in snippet.chars() {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                assert!(run < 5, "a run of 5+ digits reached the error: {snippet}");
            }
            if status == 429 {
                assert_eq!(
                    error.class(),
                    chatport_core::ErrorClass::Throttled {
                        retry_after: Some(Duration::from_secs(7))
                    }
                );
                assert!(error.may_resend(), "an empty 429 was refused before acting");
            }
        }
        other => panic!("unexpected variant for an error answer: {other:?}"),
    }
}

/// OrangeDAM 2xx bodies through their envelope decoder (`chatport_orangelogic::Envelope::decode`):
/// first byte picks the envelope (legacy, DataTable, webapi, webapi text; modulo 4), the rest is
/// the body. Never a panic; a decoded legacy answer has an `APIResponse` object whose `Code`, if
/// any, is `SUCCESS`; a decoded DataTable answer has no error list entry; webapi text always
/// decodes; a failure keeps the status; the same body gives the same outcome.
pub fn orangelogic_envelope(data: &[u8]) {
    use chatport_orangelogic::Envelope;
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let envelope = match which % 4 {
        0 => Envelope::Legacy,
        1 => Envelope::DataTable,
        2 => Envelope::WebApi,
        _ => Envelope::WebApiText,
    };
    let outcome = envelope.decode(200, body);
    let again = envelope.decode(200, body);
    match (&outcome, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("the same body decoded differently"),
    }
    match outcome {
        Ok(value) => match envelope {
            Envelope::Legacy => {
                let response = value
                    .get("APIResponse")
                    .and_then(serde_json::Value::as_object)
                    .expect("a decoded legacy answer has an APIResponse object");
                for (k, v) in response {
                    if k.eq_ignore_ascii_case("code")
                        && let Some(code) = v.as_str()
                        && !code.is_empty()
                    {
                        assert!(
                            code.eq_ignore_ascii_case("SUCCESS"),
                            "failure {code} decoded"
                        );
                    }
                }
            }
            Envelope::DataTable => {
                let response = value.get("Response").unwrap_or(&value);
                if let Some(obj) = response.as_object() {
                    for (k, v) in obj {
                        if k.eq_ignore_ascii_case("ErrorList") {
                            let details = v
                                .as_object()
                                .and_then(|o| {
                                    o.iter()
                                        .find(|(k, v)| {
                                            k.eq_ignore_ascii_case("ErrorDetails") && !v.is_null()
                                        })
                                        .map(|(_, v)| v)
                                })
                                .unwrap_or(v);
                            assert!(
                                matches!(details, serde_json::Value::Null)
                                    || details.as_array().is_some_and(Vec::is_empty)
                                    || details.as_object().is_some_and(|o| o.is_empty()),
                                "a DataTable error list decoded as success"
                            );
                        }
                    }
                }
            }
            _ => {}
        },
        Err(e) => {
            assert!(
                envelope != Envelope::WebApiText,
                "webapi text always decodes: {e}"
            );
            assert_eq!(e.status(), Some(200), "the failure keeps the status");
            let _ = format!("{e:?}");
        }
    }
}

/// The TOML configuration (`chatport_bridge::config::Config::from_toml_str`: parse, then
/// validate; and `from_toml_str_with`, which also expands the references of every plain string),
/// lossy UTF-8. Never a panic; an error is a configuration error that names where: a
/// `line L, column C` position, a dotted key (`whatsapp.app_secrets: …`), or a list of such
/// problems; a parsed configuration validates again and reports every unset `${VAR}` it refers
/// to in one error, naming each variable. With references expanded (some variables set, one to
/// a value holding `${`), the raw parse's error is the same, and a `Setting` keeps its raw text.
pub fn config_toml(data: &[u8]) {
    use chatport_bridge::config::Config;
    let text = String::from_utf8_lossy(data);
    let vars: std::collections::HashMap<String, String> = [
        ("WHATSAPP_TOKEN", "t0k"),
        ("STATE_DIR", "/var/lib/chatport"),
        ("NESTED", "${WHATSAPP_TOKEN}"),
        ("EMPTY", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let raw = Config::from_toml_str(&text);
    let expanded = Config::from_toml_str_with(&text, &vars);
    match (&raw, &expanded) {
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (Err(a), Ok(_)) => panic!("expansion hid an error: {a}"),
        (Ok(_), Err(chatport_bridge::Error::Config(message))) => assert!(
            names_a_place(message) || message.contains("expanded from an environment variable"),
            "the error names no key: {message}"
        ),
        (Ok(_), Err(other)) => panic!("not a configuration error: {other}"),
        (Ok(raw), Ok(expanded)) => {
            assert_eq!(
                raw.store.path.raw(),
                expanded.store.path.raw(),
                "a Setting stays raw"
            );
            assert_eq!(raw.references(), expanded.references());
        }
    }
    match raw {
        Ok(config) => {
            config.validate().expect("a parsed configuration validates");
            let none = std::collections::HashMap::<String, String>::new();
            match config.check_environment(&none) {
                Ok(()) => assert!(config.references().is_empty()),
                Err(e) => {
                    let message = e.to_string();
                    for r in config.references() {
                        assert!(
                            message.contains(&r.variable),
                            "unset {} not reported: {message}",
                            r.variable
                        );
                    }
                }
            }
        }
        Err(chatport_bridge::Error::Config(message)) => {
            assert!(names_a_place(&message), "the error names no key: {message}");
        }
        Err(other) => panic!("not a configuration error: {other}"),
    }
}

/// Whether a configuration error names where the problem is: a `line L, column C` position, a
/// leading dotted key (`store.url: …`, `flows.o1 is enabled …`), or an `N problems:` list.
fn names_a_place(message: &str) -> bool {
    let message = message.trim_start();
    if message.starts_with("line ") || message.contains(" problems:") {
        return true;
    }
    let key: String = message
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-'))
        .collect();
    !key.is_empty() && message[key.len()..].starts_with([':', ' '])
}
