//! The WhatsApp webhook as a [`chatport_core::webhook::WebhookAdapter`]: what the runtime's ingress
//! (or any server of yours) mounts to receive Cloud API notifications.

use std::collections::HashMap;

use chatport_core::Envelope;
use chatport_core::webhook::{
    HandshakeError, ParseFailure, Unreadable, VerifyError, WebhookAdapter, WebhookBatch,
    WebhookRequest,
};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{EventKind, Notification, OBJECT, SignatureVerifier, StandbyItem, verify_subscription};

/// The name of the header Meta signs every notification `POST` with: `sha256=<hex HMAC-SHA256 of
/// the raw body under the app secret>` (Meta: webhooks/create-webhook-endpoint, "Validating payloads").
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The envelope `source` of WhatsApp events (part of the outbox dedup key).
pub const SOURCE: &str = "whatsapp";

/// The WhatsApp Cloud API webhook endpoint: the subscription handshake (`hub.mode`,
/// `hub.verify_token`, `hub.challenge`), the [`SIGNATURE_HEADER`] check over the raw bytes under
/// any of the configured app secrets, and the fan-out of every entry, change, message, status and
/// error of a `POST` into one [`Envelope`] each.
///
/// Envelopes: `source` [`SOURCE`]; `kind` [`Event::kind_name`](super::Event::kind_name)
/// (`"message"`, `"status"`, `"error"`, `"other"`, `"invalid"`, `"standby"`, `"handover"`); `id` the
/// [`Event::event_id`](super::Event::event_id) (the wamid for a message, wamid + status for a
/// status); `payload` the event's JSON ([`Event`](super::Event)). Ordering keys: a message, a
/// standby message or echo and a handover carry the customer's id (`from`, else the business-scoped
/// `from_user_id`), so one customer's messages and changes of who holds the conversation are
/// handled in order; statuses (standby receipts too), errors and other fields carry none — they must never wait behind
/// a message of the same customer (a send in doubt waits for exactly these), and their handling
/// tolerates any order.
///
/// Refusals and dead parts ([`WebhookAdapter::parse`]; the ingress stores each as a dead row and
/// answers 200, so Meta does not redeliver what can never parse):
/// - a body that is not JSON, or has no `object` / `entry`: [`ParseFailure`];
/// - a body whose `object` is not [`OBJECT`] (`whatsapp_business_account`, e.g. a Page's
///   `"object": "page"` sent to the WhatsApp endpoint by a misconfigured subscription):
///   [`ParseFailure`], nothing is stored as a WhatsApp event;
/// - an `entry[]` or `changes[]` element without the documented envelope shape: one
///   [`Unreadable`] part holding that element's raw JSON, while the valid changes of the same POST
///   become envelopes as usual.
///
/// ```
/// use chatport_core::webhook::{WebhookAdapter, WebhookRequest};
/// use chatport_whatsapp::webhook::{SIGNATURE_HEADER, SignatureVerifier, WhatsAppWebhook, sign};
/// use secrecy::SecretString;
///
/// let verifier = SignatureVerifier::new([SecretString::from("app-secret")])?;
/// let adapter = WhatsAppWebhook::new(verifier, SecretString::from("verify-me"));
/// let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"15550000000","phone_number_id":"42"},"messages":[{"from":"16505551234","id":"wamid.A","timestamp":"1751247548","type":"text","text":{"body":"hi"}}]}}]}]}"#;
/// let mut headers = http::HeaderMap::new();
/// headers.insert(SIGNATURE_HEADER, sign(b"app-secret", body).parse()?);
/// adapter.verify(&WebhookRequest::new("/webhooks/whatsapp", &headers), body)?;
/// let batch = adapter.parse(body, chrono::Utc::now())?;
/// assert_eq!(batch.events[0].id.as_str(), "wamid.A");
/// assert_eq!(batch.events[0].kind, "message");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WhatsAppWebhook {
    verifier: SignatureVerifier,
    verify_token: SecretString,
}

impl std::fmt::Debug for WhatsAppWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppWebhook").finish_non_exhaustive()
    }
}

impl WhatsAppWebhook {
    /// An endpoint checking signatures with `verifier` and answering handshakes that present
    /// `verify_token`.
    pub fn new(verifier: SignatureVerifier, verify_token: impl Into<SecretString>) -> Self {
        Self {
            verifier,
            verify_token: verify_token.into(),
        }
    }

    /// The envelopes of a parsed notification (see the type's docs for their shape).
    ///
    /// # Errors
    /// [`ParseFailure`] if an event cannot be serialised (not expected for parsed input).
    pub fn envelopes(
        &self,
        notification: &Notification,
        received_at: DateTime<Utc>,
    ) -> Result<Vec<Envelope<Vec<u8>>>, ParseFailure> {
        notification
            .events()
            .into_iter()
            .map(|event| {
                let ordering_key = match &event.kind {
                    EventKind::Message(_) | EventKind::Handover(_) => event.ordering_key(),
                    EventKind::Standby(item) if !matches!(**item, StandbyItem::Status(_)) => {
                        event.ordering_key()
                    }
                    _ => None,
                };
                let payload =
                    serde_json::to_vec(&event).map_err(|e| ParseFailure::new(e.to_string()))?;
                let mut envelope =
                    Envelope::new(event.event_id(), SOURCE, event.kind_name(), payload)
                        .received_at(received_at)
                        .occurred_at(event.occurred_at().unwrap_or(received_at));
                if let Some(key) = ordering_key {
                    envelope = envelope.ordering_key(key);
                }
                Ok(envelope)
            })
            .collect()
    }
}

impl WebhookAdapter for WhatsAppWebhook {
    fn source(&self) -> &str {
        SOURCE
    }

    fn handshake(&self, query: &HashMap<String, String>) -> Result<String, HandshakeError> {
        verify_subscription(
            query.get("hub.mode").map(String::as_str),
            query.get("hub.verify_token").map(String::as_str),
            query.get("hub.challenge").map(String::as_str),
            &self.verify_token,
        )
        .map_err(|e| HandshakeError::new(e.to_string()))
    }

    fn verify(&self, request: &WebhookRequest<'_>, body: &[u8]) -> Result<(), VerifyError> {
        self.verifier
            .verify(request.header(SIGNATURE_HEADER), body)
            .map_err(|e| VerifyError::new(e.to_string()))
    }

    fn parse(&self, body: &[u8], received_at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure> {
        let notification =
            Notification::parse(body).map_err(|e| ParseFailure::new(e.to_string()))?;
        if !notification.is_whatsapp() {
            // Object names are short identifiers (`page`, `instagram`); anything else is not quoted.
            let object = &notification.object;
            let shown = if !object.is_empty()
                && object.len() <= 40
                && object.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                format!("`{object}`")
            } else {
                "an unexpected value".to_owned()
            };
            return Err(ParseFailure::new(format!(
                "the notification's object is {shown}, not `{OBJECT}`: not a WhatsApp Business Account webhook"
            )));
        }
        let mut batch = WebhookBatch::new(self.envelopes(&notification, received_at)?);
        for part in &notification.unreadable {
            // Serialising a Value cannot fail.
            let raw = serde_json::to_vec(&part.raw).unwrap_or_default();
            batch = batch.with_unreadable(Unreadable::new(
                raw,
                format!("{}: {}", part.path, part.reason),
            ));
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::sign;

    fn adapter() -> WhatsAppWebhook {
        let verifier = SignatureVerifier::new([SecretString::from("s3cret")]).unwrap();
        WhatsAppWebhook::new(verifier, SecretString::from("tok"))
    }

    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"15550000000","phone_number_id":"42"},"messages":[{"from":"16505551234","id":"wamid.A","timestamp":"1751247548","type":"text","text":{"body":"hi"}}],"statuses":[{"id":"wamid.B","status":"delivered","timestamp":"1751247549","recipient_id":"16505551234"}]}}]}]}"#;

    #[test]
    fn a_signed_body_verifies_and_a_wrong_one_is_refused() {
        let a = adapter();
        let mut headers = http::HeaderMap::new();
        assert!(a.verify(&WebhookRequest::new("/", &headers), BODY).is_err());
        headers.insert(SIGNATURE_HEADER, sign(b"s3cret", BODY).parse().unwrap());
        assert!(a.verify(&WebhookRequest::new("/", &headers), BODY).is_ok());
        assert!(
            a.verify(&WebhookRequest::new("/", &headers), b"{}")
                .is_err()
        );
    }

    #[test]
    fn messages_carry_the_customer_as_ordering_key_and_statuses_none() {
        let batch = adapter().parse(BODY, Utc::now()).unwrap();
        assert_eq!(batch.events.len(), 2);
        let message = &batch.events[0];
        assert_eq!(message.kind, "message");
        assert_eq!(message.source, SOURCE);
        assert_eq!(message.ordering_key.as_deref(), Some("16505551234"));
        let status = &batch.events[1];
        assert_eq!(status.kind, "status");
        assert_eq!(status.ordering_key, None);
        assert!(batch.unreadable.is_empty());
    }

    #[test]
    fn handshake_answers_the_challenge_for_the_right_token_only() {
        let a = adapter();
        let q = |token: &str| {
            HashMap::from([
                ("hub.mode".to_owned(), "subscribe".to_owned()),
                ("hub.verify_token".to_owned(), token.to_owned()),
                ("hub.challenge".to_owned(), "1158201444".to_owned()),
            ])
        };
        assert_eq!(a.handshake(&q("tok")).unwrap(), "1158201444");
        assert!(a.handshake(&q("nope")).is_err());
    }

    #[test]
    fn a_body_about_another_object_is_refused() {
        let page = br#"{"object":"page","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"15550000000","phone_number_id":"42"},"messages":[{"from":"16505551234","id":"wamid.A","timestamp":"1751247548","type":"text","text":{"body":"hi"}}]}}]}]}"#;
        let err = adapter().parse(page, Utc::now()).unwrap_err();
        assert!(err.reason.contains("`page`"), "{}", err.reason);
        assert!(err.reason.contains(OBJECT), "{}", err.reason);
        let odd = br#"{"object":"+16505551234","entry":[]}"#;
        let err = adapter().parse(odd, Utc::now()).unwrap_err();
        assert!(!err.reason.contains("16505551234"), "{}", err.reason);
    }

    #[test]
    fn one_unreadable_change_is_kept_dead_and_the_valid_ones_become_events() {
        let body = br#"{"object":"whatsapp_business_account","entry":[
            {"id":"1","changes":[
                {"field":"messages","value":{"metadata":{"display_phone_number":"15550000000","phone_number_id":"42"},"messages":[{"from":"16505551234","id":"wamid.A","timestamp":"1751247548","type":"text","text":{"body":"hi"}}]}},
                {"field":"messages"},
                {"field":"messages","value":{"metadata":{"display_phone_number":"15550000000","phone_number_id":"42"},"statuses":[{"id":"wamid.B","status":"read","timestamp":"1751247549","recipient_id":"16505551234"}]}}
            ]},
            {"changes":[]},
            {"id":"2","changes":[7]}
        ]}"#;
        let batch = adapter().parse(body, Utc::now()).unwrap();
        let ids: Vec<&str> = batch.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["wamid.A", "wamid.B:read"]);
        assert_eq!(batch.unreadable.len(), 3);
        let first: serde_json::Value = serde_json::from_slice(&batch.unreadable[0].raw).unwrap();
        assert_eq!(first, serde_json::json!({"field": "messages"}));
        assert!(
            batch.unreadable[0]
                .reason
                .starts_with("entry[0].changes[1]: missing field `value`"),
            "{}",
            batch.unreadable[0].reason
        );
        assert!(batch.unreadable[1].reason.starts_with("entry[1]: "));
        assert_eq!(batch.unreadable[2].raw, b"7");
        assert!(
            batch.unreadable[2]
                .reason
                .starts_with("entry[2].changes[0]: ")
        );
    }

    #[test]
    fn garbage_is_a_parse_failure() {
        assert!(adapter().parse(b"{not json", Utc::now()).is_err());
    }
}
