//! The webhook adapter contract: how a push source answers its handshake, checks a delivery's
//! signature and turns a verified body into [`Envelope`]s.
//!
//! Connector crates implement [`WebhookAdapter`] (WhatsApp checks `X-Hub-Signature-256` and
//! answers `hub.challenge`; Orange Logic and Creatio check a secret in the path or a header); the
//! runtime's ingress calls it and stores what it returns before it acknowledges the delivery. An
//! adapter knows its vendor, not chatport's flows: the caller that mounts it decides which flow
//! each envelope goes to.

use std::collections::HashMap;
use std::net::SocketAddr;

use chrono::{DateTime, Utc};

use crate::{Envelope, EventId};

/// The parts of a webhook `POST` an adapter may check besides the body.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct WebhookRequest<'a> {
    /// The request path as received (`/webhooks/orangelogic/3f2c…`), without the query.
    pub path: &'a str,
    /// The peer's address, when the server knows it (`None` in tests that call the adapter directly).
    pub peer: Option<SocketAddr>,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
}

impl<'a> WebhookRequest<'a> {
    /// A request at `path` with `headers` and no known peer.
    pub fn new(path: &'a str, headers: &'a http::HeaderMap) -> Self {
        Self {
            path,
            peer: None,
            headers,
        }
    }

    /// Sets the peer address.
    #[must_use]
    pub fn peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// The value of header `name` as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a `GET` handshake was not answered with the challenge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// This source has no GET handshake (answered 405).
    #[error("this webhook has no GET handshake")]
    NotSupported,
    /// The handshake was refused: wrong mode or verify token, missing challenge (answered 403).
    /// The text is logged: it must not contain the expected token.
    #[error("webhook handshake refused: {0}")]
    Refused(String),
}

impl HandshakeError {
    /// A refusal with `reason` ([`HandshakeError::Refused`]).
    pub fn new(reason: impl Into<String>) -> Self {
        HandshakeError::Refused(reason.into())
    }
}

/// Why a `POST` failed verification (answered 401, nothing stored).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature (or token) header is absent.
    #[error("signature header {0} is missing")]
    Missing(String),
    /// The header is not in the expected form (`sha256=<hex>`, ...).
    #[error("signature header is malformed: {0}")]
    Malformed(String),
    /// The signature does not match the body under any configured secret.
    #[error("signature does not match the body")]
    Mismatch,
    /// Refused for another reason (the adapter's verifier error, free of secrets).
    #[error("signature refused: {0}")]
    Invalid(String),
}

impl VerifyError {
    /// A refusal with `reason` ([`VerifyError::Invalid`]).
    pub fn new(reason: impl Into<String>) -> Self {
        VerifyError::Invalid(reason.into())
    }
}

/// A verified body that could not be parsed at all. `reason` is stored as the dead row's last
/// error; it is never logged (parser messages can quote input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unparseable webhook body: {reason}")]
pub struct ParseFailure {
    /// What the parser said.
    pub reason: String,
}

impl ParseFailure {
    /// A failure with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// One part of a verified body that did not parse while the rest did (one bad change among good
/// ones): kept as a dead row for inspection, next to the stored events of the same delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unreadable {
    /// A stable id for the part (e.g. [`EventId::from_content`] of its bytes), so a redelivery
    /// does not store it twice.
    pub id: EventId,
    /// The part's raw bytes (JSON as received).
    pub raw: Vec<u8>,
    /// What the parser said (stored, never logged).
    pub reason: String,
}

impl Unreadable {
    /// An unreadable part `raw`, identified by its content.
    pub fn new(raw: Vec<u8>, reason: impl Into<String>) -> Self {
        Self {
            id: EventId::from_content(&raw),
            raw,
            reason: reason.into(),
        }
    }
}

/// What a verified body turned into: the events to store and the parts that could not be read.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct WebhookBatch {
    /// One envelope per event; `payload` is the event's own JSON, `kind` names what happened
    /// (`"message"`, `"status"`, `"asset.created"`), `ordering_key` serialises one customer's or
    /// one record's events.
    pub events: Vec<Envelope<Vec<u8>>>,
    /// Parts that did not parse, each stored as a dead row.
    pub unreadable: Vec<Unreadable>,
}

impl WebhookBatch {
    /// A batch of `events` with nothing unreadable.
    pub fn new(events: Vec<Envelope<Vec<u8>>>) -> Self {
        Self {
            events,
            unreadable: Vec::new(),
        }
    }

    /// Adds an unreadable part.
    #[must_use]
    pub fn with_unreadable(mut self, part: Unreadable) -> Self {
        self.unreadable.push(part);
        self
    }
}

impl From<Vec<Envelope<Vec<u8>>>> for WebhookBatch {
    fn from(events: Vec<Envelope<Vec<u8>>>) -> Self {
        Self::new(events)
    }
}

/// One webhook source: how to answer its handshake, verify a delivery and turn its body into
/// envelopes. Implemented by the connector crates; served by `chatport_runtime::ingress`, which
/// answers 401 on a [`VerifyError`], stores every envelope (and every unreadable part, dead) in one
/// transaction, and answers 200 only after the commit.
///
/// All methods are synchronous and must not block: they run on the request task.
pub trait WebhookAdapter: Send + Sync + 'static {
    /// The outbox `source` of this webhook's events (`"whatsapp"`), part of the dedup key
    /// `(source, event id)` and a metrics label.
    fn source(&self) -> &str;

    /// Answers a `GET` verification request (query parameters decoded) with the text to send back.
    /// The default refuses with [`HandshakeError::NotSupported`] (405).
    ///
    /// # Errors
    /// [`HandshakeError`].
    fn handshake(&self, query: &HashMap<String, String>) -> Result<String, HandshakeError> {
        let _ = query;
        Err(HandshakeError::NotSupported)
    }

    /// Verifies the request (a signature over the **raw** body bytes in constant time, a secret
    /// in the path, an allowed peer).
    ///
    /// # Errors
    /// [`VerifyError`]: the request is answered 401 and nothing is stored.
    fn verify(&self, request: &WebhookRequest<'_>, body: &[u8]) -> Result<(), VerifyError>;

    /// Turns a verified body into envelopes. `received_at` is when the ingress read the body.
    ///
    /// # Errors
    /// [`ParseFailure`] when nothing in the body can be read: the body is stored as one dead row
    /// and acknowledged.
    fn parse(&self, body: &[u8], received_at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_reads_headers_and_peer() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-token", http::HeaderValue::from_static("abc"));
        let peer: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let request = WebhookRequest::new("/hooks/a", &headers).peer(peer);
        assert_eq!(request.header("x-token"), Some("abc"));
        assert_eq!(request.header("x-other"), None);
        assert_eq!(request.peer, Some(peer));
        assert_eq!(request.path, "/hooks/a");
    }

    #[test]
    fn unreadable_parts_are_identified_by_content() {
        let a = Unreadable::new(b"{\"x\":1}".to_vec(), "bad");
        let b = Unreadable::new(b"{\"x\":1}".to_vec(), "other reason");
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, Unreadable::new(b"{}".to_vec(), "bad").id);
    }
}
