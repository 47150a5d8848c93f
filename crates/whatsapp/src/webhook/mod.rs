//! The webhook receiver side: the verification GET, the `X-Hub-Signature-256` check over the raw
//! body, and parsing of notification POSTs into self-contained [`Event`]s.
//!
//! Meta: webhooks/overview, webhooks/create-webhook-endpoint, webhooks/reference/messages.
//!
//! A receiver should: check the header ([`SignatureVerifier::check_header`]), read the body (Meta
//! sends up to 3 MB), [`SignatureVerifier::verify`] the raw bytes, [`Notification::parse`] them,
//! store **every** [`Notification::events`] durably (deduplicated by [`Event::event_id`]: Meta
//! delivers at least once, for up to 7 days, and to every subscribed app), then answer 200.
//!
//! ```
//! use chatport_whatsapp::webhook::{sign, Notification, SignatureVerifier};
//! use secrecy::SecretString;
//!
//! let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"15550000000","phone_number_id":"42"},"messages":[{"from":"16505551234","id":"wamid.A","timestamp":"1751247548","type":"text","text":{"body":"hi"}}]}}]}]}"#;
//! let header = sign(b"app-secret", body);
//!
//! let verifier = SignatureVerifier::new([SecretString::from("app-secret")])?;
//! verifier.verify(Some(&header), body)?;
//! let events = Notification::parse(body)?.events();
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].event_id().as_str(), "wamid.A");
//! assert_eq!(events[0].message().and_then(|m| m.text_body()), Some("hi"));
//! # Ok::<(), chatport_whatsapp::Error>(())
//! ```

mod adapter;
mod event;
mod handover;
pub(crate) mod model;
pub(crate) mod notification;
mod signature;

pub use adapter::{SIGNATURE_HEADER, SOURCE, WhatsAppWebhook};
pub use event::{Event, EventKind, InvalidItem};
pub use handover::{Handover, HandoverType, StandbyItem};
pub use model::{
    Button, CallPermissionReply, Contact, Context, Conversation, ErrorData, Extra, FlowReply,
    IdentityChange, Interactive, InteractiveType, Location, Media, Message, MessageType, Metadata,
    Pricing, Profile, Reaction, Referral, ReplyChoice, Status, StatusKind, SystemType,
    SystemUpdate, Text, WebhookError,
};
pub use notification::{Change, Entry, Notification, OBJECT, UnreadablePart};
pub use signature::{MAX_CHALLENGE_LEN, SignatureVerifier, sign, verify_subscription};
