//! # chatport-whatsapp
//!
//! WhatsApp Business Cloud API for chatport: a client that sends every message type with typed,
//! code-classified errors, media, templates, window tracking and pacing, and a webhook receiver kit that verifies Meta's signature over the
//! raw bytes and flattens **every** update of a batched POST into self-contained events.
//!
//! | Item | What it is |
//! |---|---|
//! | [`Client`] | `POST /{PHONE_NUMBER_ID}/messages`, mark read / typing, media, templates; bearer token, Graph version pinned (v26.0 by default; [`versions`] knows retirement dates) |
//! | [`OutgoingMessage`], [`Recipient`], [`Template`], [`InteractiveMessage`], [`MediaSource`], [`ContactCard`] | Every outbound message type, limits ([`limits`]) checked before sending |
//! | [`Error`], [`ApiError`], [`ErrorKind`] | One error type; a kind per documented code; [`Classify`](chatport_core::Classify) and [`Error::may_resend`] |
//! | [`WindowTracker`], [`WindowStore`] | The 24-hour customer service window, learnt from webhooks; refusal or template fallback |
//! | [`DeliveryTracker`], [`DeliveryState`] | Monotonic status state machine |
//! | [`Pacer`], [`PacingConfig`] | Per-number throughput bucket and per-recipient pair limit (governor), 4^X back-off |
//! | [`MediaKind`], [`DownloadOptions`] | Media table, streaming upload / download with SHA-256 and host allow-list |
//! | [`webhook::verify_subscription`] | The `hub.mode` / `hub.verify_token` / `hub.challenge` GET |
//! | [`webhook::SignatureVerifier`] | `X-Hub-Signature-256` HMAC-SHA256, constant time, several secrets for rotation |
//! | [`webhook::WhatsAppWebhook`] | The webhook as a [`WebhookAdapter`](chatport_core::webhook::WebhookAdapter) for chatport's ingress (or yours) |
//! | [`sink::MessageSink`] | A [`Sink`](chatport_core::Sink): at most once per idempotency key over a durable ledger, in-doubt sends never resent blindly |
//! | [`webhook::Notification`] | The POST body; [`webhook::Notification::events`] gives one [`webhook::Event`] per message, status, error, standby item and handover |
//! | [`inbound::Inbound`], [`inbound::Conversations`] | An inbound message with its sender and business number; durable sessions and reply contexts, so answers reach the logic that asked |
//! | [`conversation::ConversationStore`] | The durable conversation log; follows a customer whose number or BSUID changed ([`conversation::ConversationStore::follow`]) |
//! | [`control::ControlStore`], [`Client::thread_control`] | Who holds a conversation under Conversation Routing (standby / handover webhooks); take, pass or release it |
//! | [`NewTemplate`], [`Client::templates`] | Template management: list as a stream, create, edit, delete |
//! | [`BusinessUseCaseUsage`] | The `X-Business-Use-Case-Usage` header, read on every answer ([`ClientBuilder::on_usage`], [`Pacer::observe_usage`]) |
//! | [`versions`] | Graph API versions and their retirement dates |
//!
//! Facts and limits follow Meta's Cloud API documentation
//! (`developers.facebook.com/documentation/business-messaging/whatsapp/`): messages/send-messages,
//! messages/text-messages, webhooks/overview, webhooks/create-webhook-endpoint,
//! webhooks/reference/messages, support/error-codes, throughput, about-the-platform.
//!
//! ## Delivery semantics
//!
//! - A successful send means **accepted, not delivered**; delivery arrives as a status webhook.
//! - `POST /messages` has no idempotency key. The client never retries a send; after an error, resend
//!   only when [`Error::may_resend`] is true (Meta refused before acting, or nothing left).
//! - Webhooks arrive at least once, batched (up to 1000 updates, 3 MB) and out of order: store every
//!   event, deduplicated by [`webhook::Event::event_id`].
//!
//! ```
//! use chatport_core::{Classify, ErrorClass};
//! use chatport_whatsapp::{OutgoingMessage, Recipient, Template};
//!
//! let reply = OutgoingMessage::text(Recipient::phone("+16505551234"), "Your case is C-1042")
//!     .reply_to("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTdCNTg5RjY1MzQ4RjM2QzU3MQA=");
//! assert_eq!(reply.to_json()["to"], "+16505551234");
//!
//! let notice = OutgoingMessage::template(
//!     Recipient::user_id("US.13491208655302741918"),
//!     Template::new("case_update", "en_US").body_parameters(vec!["C-1042".into()]),
//! );
//! assert_eq!(notice.to_json()["recipient"], "US.13491208655302741918");
//! ```
//!
//! The webhook side and a reply, runnable against the testkit's Graph emulator and a delivery
//! signed the way Meta signs it (against Meta, the base URL is `https://graph.facebook.com`):
//!
//! ```
//! use chatport_testkit::graph::GraphEmulator;
//! use chatport_testkit::webhook::{Delivery, MessageSpec, sign};
//! use chatport_whatsapp::webhook::{Notification, SignatureVerifier};
//! use chatport_whatsapp::{Client, OutgoingMessage, Recipient};
//! use secrecy::SecretString;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let graph = GraphEmulator::start().await?;
//! let body = serde_json::to_vec(&Delivery::new("102290129340398")
//!     .message("106540352242922", "15550783881",
//!         MessageSpec::text("16505551234", "wamid.IN1", 1_751_247_548, "Where is my parcel?"))
//!     .build())?;
//! let header = sign(b"app-secret", &body); // the X-Hub-Signature-256 header Meta sends
//!
//! // Verify on the raw bytes (constant time; list the old and the new secret during a rotation).
//! let verifier = SignatureVerifier::new([SecretString::from("app-secret")])?;
//! verifier.verify(Some(&header), &body)?;
//! assert!(verifier.verify(Some("sha256=00"), &body).is_err());
//!
//! let client = Client::builder()
//!     .access_token(SecretString::from(graph.access_token().to_owned()))
//!     .base_url(&graph.base_url())
//!     .build()?;
//! for event in Notification::parse(&body)?.events() {
//!     let (Some(message), Some(phone_number_id)) = (event.message(), event.phone_number_id()) else { continue };
//!     let Some(sender) = message.sender() else { continue };
//!     let reply = OutgoingMessage::text(Recipient::phone(sender), "We are on it.")
//!         .reply_to(message.id.clone());
//!     let accepted = client.send(phone_number_id, &reply).await?; // accepted, not yet delivered
//!     assert!(accepted.wamid().is_some());
//! }
//! assert_eq!(graph.sent().len(), 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
pub mod control;
pub mod conversation;
mod delivery;
mod error;
pub mod inbound;
mod interactive;
mod kind;
pub mod limits;
mod media;
mod outgoing;
mod pacing;
pub mod prelude;
pub mod sink;
mod spool;
mod template;
mod templates;
mod usage;
pub mod versions;
pub mod webhook;
mod window;

pub use client::{
    Client, ClientBuilder, DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MEDIA_HOSTS, DEFAULT_TIMEOUT, UsageHook,
};
pub use delivery::{Applied, DeliveryRecord, DeliveryState, DeliveryTracker};
pub use error::{ApiError, Error, MalformedSignature, SubscriptionError};
pub use interactive::{
    FLOW_CTA_MAX_CHARS, FlowAction, FlowStart, InteractiveHeader, InteractiveMessage, ListRow,
    ListSection, ReplyButton,
};
pub use kind::ErrorKind;
pub use media::{
    DEFAULT_MAX_DOWNLOAD_BYTES, DownloadOptions, Downloaded, MediaInfo, MediaKind, MediaSource,
    UploadedMedia, decode_sha256, file_extension,
};
pub use pacing::{PaceLimit, Pacer, PacingConfig, Wait};
pub use spool::SpooledMedia;
pub use template::{ButtonSubType, LanguagePolicy, Template, TemplateButton, TemplateParameter};
pub use templates::{
    CreatedTemplate, Listing, NewTemplate, TemplateCategory, TemplateInfo, TemplateProblem,
    TemplateStatus,
};
pub use usage::{BUSINESS_USE_CASE_USAGE_HEADER, BusinessUseCaseUsage, UseCaseUsage};
pub use window::{MemoryWindowStore, WINDOW, WindowKey, WindowStore, WindowTracker, WindowedSend};
/// Compiles the README's example.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use outgoing::{
    ContactCard, OutgoingLocation, OutgoingMessage, Recipient, SendResponse, SentContact,
    SentMessage, TEXT_BODY_MAX_CHARS,
};
