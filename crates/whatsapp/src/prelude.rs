//! What a user of this crate needs, in one import: `use chatport_whatsapp::prelude::*;`.
//!
//! The client and its builder, the messages, the crate's [`Error`], the message sink and the
//! webhook source ([`MessageSink`], [`WhatsAppWebhook`], [`SignatureVerifier`]), the header
//! names ([`SIGNATURE_HEADER`], [`BUSINESS_USE_CASE_USAGE_HEADER`]), the paging [`Listing`], the
//! contracts of `chatport-core` ([`Sink`], [`Source`], [`IdempotencyKey`], [`EventId`],
//! [`Classify`], and the message sink's [`IdempotencyLedger`] and [`KvStore`]), the
//! secret type the builder takes ([`SecretString`], [`ExposeSecret`]),
//! [`async_trait`](macro@async_trait) for implementing a sink, and the stream extension traits
//! (`StreamExt`, `TryStreamExt`, imported as `_`: their methods only) that drain a listing.
//!
//! ```
//! use chatport_whatsapp::prelude::*;
//!
//! let client = Client::builder()
//!     .access_token(SecretString::from("EAAJB-token"))
//!     .build()?;
//! let verifier = SignatureVerifier::new([SecretString::from("app-secret")])?;
//! assert_eq!(SIGNATURE_HEADER, "x-hub-signature-256");
//! let key = IdempotencyKey::derive("O1", "reply", &EventId::new("wamid.HBgL"));
//! let reply = OutgoingMessage::text(Recipient::phone("+16505551234"), "Hello")
//!     .biz_opaque_callback_data(key.as_str());
//! # let _ = (client, verifier, reply);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

pub use crate::sink::{MessageSink, MessageSinkBuilder, Outbound, SendOnce};
pub use crate::webhook::{Notification, SIGNATURE_HEADER, SignatureVerifier, WhatsAppWebhook};
pub use crate::{
    BUSINESS_USE_CASE_USAGE_HEADER, Client, ClientBuilder, Error, Listing, OutgoingMessage,
    Recipient, SendResponse, Template, TemplateParameter,
};
pub use async_trait::async_trait;
pub use chatport_core::{
    Classify, ErrorClass, EventId, IdempotencyKey, IdempotencyLedger, KvStore, Sink, Source,
};
pub use futures::{StreamExt as _, TryStreamExt as _};
pub use secrecy::{ExposeSecret, SecretString};
