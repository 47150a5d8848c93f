//! The Orange Logic sources: the asset webhook as a
//! [`WebhookAdapter`] and the search poller as a [`Source`]. Both yield [`AssetNotice`] envelopes, so a flow handles an
//! asset the same way whichever source found it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::webhook::{
    ParseFailure, VerifyError, WebhookAdapter, WebhookBatch, WebhookRequest,
};
use chatport_core::{Checkpoint, Envelope, EventId, Source, SourceStream};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::datatable::AssetRef;
use crate::search::{Query, SearchItem, SearchRequest};
use crate::webhook::{WebhookAuthenticator, WebhookFields, parse_events};
use crate::{Client, Error};

/// The envelope `source` of Orange Logic events (part of the outbox dedup key).
pub const SOURCE: &str = "orangelogic";

/// The payload of an Orange Logic envelope: an asset event from the webhook or a search hit of a
/// poller. Serialised as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssetNotice {
    /// The vendor's event id (webhook) or the poller's event id.
    pub event_id: String,
    /// `created`, `edited`, `deleted`, `poll` or the vendor's text.
    pub kind: String,
    /// The asset's `RecordID`.
    pub record_id: Option<String>,
    /// The asset's identifier.
    pub identifier: Option<String>,
    /// When it happened, as sent.
    pub occurred_at: Option<String>,
    /// Source-specific data (a poller's findings).
    #[serde(default)]
    pub data: Map<String, Value>,
}

impl AssetNotice {
    /// A notice of `kind` with event id `event_id` and nothing else set.
    pub fn new(event_id: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            event_id: event_id.into(),
            kind: kind.into(),
            record_id: None,
            identifier: None,
            occurred_at: None,
            data: Map::new(),
        }
    }

    /// Decodes an envelope's payload.
    ///
    /// # Errors
    /// [`Error::Decode`] for bytes that are not an [`AssetNotice`].
    pub fn from_payload(payload: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(payload).map_err(|e| Error::Decode {
            status: 0,
            what: "asset notice",
            reason: e.to_string(),
        })
    }

    /// The asset reference to read it by (`RecordID`, else identifier).
    pub fn asset(&self) -> Option<AssetRef> {
        self.record_id
            .clone()
            .filter(|r| !r.is_empty())
            .map(AssetRef::RecordId)
            .or_else(|| {
                self.identifier
                    .clone()
                    .filter(|i| !i.is_empty())
                    .map(AssetRef::Identifier)
            })
    }

    /// Whether the asset was deleted.
    pub fn is_deleted(&self) -> bool {
        self.kind == "deleted"
    }

    /// The ordering key of this asset's events (`ol:<record id or identifier>`), so one asset's
    /// events are handled in order.
    pub fn ordering_key(&self) -> Option<String> {
        self.record_id
            .as_deref()
            .or(self.identifier.as_deref())
            .map(|id| format!("ol:{id}"))
    }
}

/// The OrangeDAM asset webhook: authenticates the secret token in the last segment of the request
/// path (constant time) and, once [`AssetWebhook::allow`] was called, the peer address; parses
/// the events leniently ([`parse_events`] with the configured [`WebhookFields`]).
///
/// Envelopes: `source` [`SOURCE`], `id` the event's id (the vendor's, else a content hash),
/// `kind` `asset.<created|edited|deleted|…>`, `payload` an [`AssetNotice`] as JSON, ordering key
/// `ol:<record id>`. The vendor documents no signature scheme (`shared/api/opentext-orangelogic.md`
/// §2.9): serve it over HTTPS and keep the URL secret.
///
/// ```
/// use chatport_core::webhook::{WebhookAdapter, WebhookRequest};
/// use chatport_orangelogic::source::AssetWebhook;
/// use chatport_orangelogic::webhook::WebhookFields;
/// use secrecy::SecretString;
///
/// let hook = AssetWebhook::new(SecretString::from("a-long-secret-path-token"), WebhookFields::default());
/// let headers = http::HeaderMap::new();
/// let ok = WebhookRequest::new("/webhooks/orangelogic/a-long-secret-path-token", &headers);
/// assert!(hook.verify(&ok, b"{}").is_ok());
/// let wrong = WebhookRequest::new("/webhooks/orangelogic/guess", &headers);
/// assert!(hook.verify(&wrong, b"{}").is_err());
/// let batch = hook.parse(br#"{"eventId":"e1","eventType":"Asset.Created","recordId":"R1"}"#, chrono::Utc::now())?;
/// assert_eq!(batch.events[0].kind, "asset.created");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AssetWebhook {
    auth: WebhookAuthenticator,
    fields: WebhookFields,
}

impl AssetWebhook {
    /// An endpoint accepting the path token `token`, reading fields by `fields`.
    pub fn new(token: impl Into<SecretString>, fields: WebhookFields) -> Self {
        Self {
            auth: WebhookAuthenticator::new(token.into()),
            fields,
        }
    }

    /// Accepts deliveries only from `range` (an address or CIDR block) and the other allowed ones.
    ///
    /// # Errors
    /// [`Error::Config`] when `range` does not parse.
    pub fn allow(mut self, range: &str) -> Result<Self, Error> {
        self.auth = self.auth.allow(range).map_err(Error::Config)?;
        Ok(self)
    }

    /// The envelopes of a delivery body.
    ///
    /// # Errors
    /// [`ParseFailure`] for a body that is not an event object or an array of them.
    pub fn envelopes(
        &self,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<Envelope<Vec<u8>>>, ParseFailure> {
        let events =
            parse_events(body, &self.fields).map_err(|e| ParseFailure::new(e.to_string()))?;
        let mut envelopes = Vec::with_capacity(events.len());
        for event in events {
            let mut notice = AssetNotice::new(event.event_id().as_str(), event.kind.as_str());
            notice.record_id.clone_from(&event.record_id);
            notice.identifier.clone_from(&event.identifier);
            notice.occurred_at.clone_from(&event.occurred_at);
            let occurred = event
                .occurred_at
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or(received_at, |t| t.with_timezone(&Utc));
            let ordering = notice.ordering_key();
            let payload =
                serde_json::to_vec(&notice).map_err(|e| ParseFailure::new(e.to_string()))?;
            let mut envelope = Envelope::new(
                event.event_id().clone(),
                SOURCE,
                format!("asset.{}", notice.kind),
                payload,
            )
            .received_at(received_at)
            .occurred_at(occurred);
            if let Some(key) = ordering {
                envelope = envelope.ordering_key(key);
            }
            envelopes.push(envelope);
        }
        Ok(envelopes)
    }
}

impl WebhookAdapter for AssetWebhook {
    fn source(&self) -> &str {
        SOURCE
    }

    fn verify(&self, request: &WebhookRequest<'_>, _body: &[u8]) -> Result<(), VerifyError> {
        let token = request.path.rsplit('/').next().unwrap_or_default();
        // Without a known peer (a caller that did not pass it) only an empty allow-list passes.
        let peer = request
            .peer
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
        self.auth
            .authenticate(token, peer)
            .map_err(|e| VerifyError::new(e.to_string()))
    }

    fn parse(&self, body: &[u8], received_at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure> {
        self.envelopes(body, received_at).map(WebhookBatch::new)
    }
}

/// Turns a search hit into its event id and source-specific data, or `None` to skip it.
pub type ToEvent = Arc<dyn Fn(&SearchItem) -> Option<(String, Map<String, Value>)> + Send + Sync>;

/// A pull [`Source`] over the Search API: each round runs the query `query` builds (re-evaluated
/// every round, e.g. for a date window relative to today) across all pages, and yields one
/// [`AssetNotice`] envelope (kind `asset.poll`, ordering key `ol:<record id>`) per hit that
/// `to_event` keeps, with the hit's `RecordID` and `SystemIdentifier`.
///
/// No checkpoint: every round is a full search, and the outbox drops envelopes whose id it has
/// seen, which is what makes "once per asset and threshold" hold across restarts — choose event
/// ids accordingly (e.g. `expiry:<record id>:<date>`).
pub struct AssetSearchSource {
    client: Client,
    query: Arc<dyn Fn() -> Query + Send + Sync>,
    fields: Vec<String>,
    to_event: ToEvent,
}

impl std::fmt::Debug for AssetSearchSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetSearchSource")
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl AssetSearchSource {
    /// A poller of `client`'s Search API: `query` builds each round's query, `fields` are the
    /// fields every hit carries (`RecordID` and `SystemIdentifier` are always added), `to_event`
    /// maps a hit to its event id and data.
    pub fn new(
        client: Client,
        query: impl Fn() -> Query + Send + Sync + 'static,
        fields: Vec<String>,
        to_event: impl Fn(&SearchItem) -> Option<(String, Map<String, Value>)> + Send + Sync + 'static,
    ) -> Self {
        let mut all = vec!["RecordID".to_owned(), "SystemIdentifier".to_owned()];
        for f in fields {
            if !all.contains(&f) {
                all.push(f);
            }
        }
        Self {
            client,
            query: Arc::new(query),
            fields: all,
            to_event: Arc::new(to_event),
        }
    }
}

#[async_trait]
impl Source for AssetSearchSource {
    type Event = AssetNotice;
    type Error = Error;

    async fn check(&self) -> Result<(), Error> {
        self.client.authenticate().await
    }

    async fn poll(
        &self,
        _resume: Option<Checkpoint>,
    ) -> Result<SourceStream<'_, AssetNotice, Error>, Error> {
        let request = SearchRequest::new((self.query)()).fields(self.fields.clone());
        let to_event = Arc::clone(&self.to_event);
        let stream = self
            .client
            .search(&request)
            .items()
            .try_filter_map(move |item| {
                let found = to_event(&item).map(|(id, data)| {
                    let mut notice = AssetNotice::new(id.clone(), "poll");
                    notice.record_id = item.record_id();
                    notice.identifier = item.system_identifier();
                    notice.data = data;
                    let ordering = notice.ordering_key();
                    let now = Utc::now();
                    let mut envelope =
                        Envelope::new(EventId::new(id), SOURCE, "asset.poll", notice)
                            .occurred_at(now)
                            .received_at(now);
                    if let Some(key) = ordering {
                        envelope = envelope.ordering_key(key);
                    }
                    (envelope, None)
                });
                futures::future::ready(Ok(found))
            });
        Ok(stream.boxed())
    }
}
