//! The CMS status poller: a [`chatport_core::Source`] over instances whose status property took
//! one of a set of values ([`StatusSource`], yielding [`StatusEvent`] envelopes).
//!
//! The CMS sends no notifications (`shared/api/opentext-orangelogic.md` §1 has no webhook), so a
//! status change is found by listing: `GET /cms/instances/{category}/{type}?filter=…&sortby=
//! update_time asc` ([`Client::instances`], every page) for each watched [`Watch`].
//!
//! # Event ids and the checkpoint
//!
//! Every envelope has the id `{instance id}:{status}`, so a runtime outbox that keeps one row per
//! `(source, event id)` stores one row per item **and status**: an item seen again in the same
//! status is dropped as a duplicate, the same item reaching another status is a new event.
//!
//! The checkpoint is `{"update_time": "<the item's update_time>"}`. The next round asks for
//! `update_time ge date('<checkpoint>')`: `ge`, not `gt`, so items updated in the same instant as
//! the checkpoint are read again (and dropped by their ids) instead of being missed. An item whose
//! `update_time` is earlier than the round's checkpoint carries no checkpoint, so the checkpoint
//! never moves back behind the one the round resumed from. Without a checkpoint (first start)
//! every item with a watched status is read.

use async_trait::async_trait;
use chatport_core::{Checkpoint, Envelope, EventId, Source, SourceStream};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::filter::{Filter, Literal, SortBy};
use crate::{Category, Client, Error, Instance, ListQuery};

/// The envelope `source` of the CMS pollers' events (part of the outbox dedup key).
pub const SOURCE: &str = "opentext";

/// The envelope `kind` of a [`StatusEvent`].
pub const KIND: &str = "instance.status";

/// The page size used when none is configured: 100 instances per request.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// One watched set of instances: a category and a type (`/instances/{category}/{type}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Watch {
    /// The category, e.g. [`Category::File`].
    pub category: Category,
    /// The type name, e.g. `ca_invoice`.
    pub type_name: String,
}

impl Watch {
    /// The instances of `type_name` in `category`.
    pub fn new(category: impl Into<Category>, type_name: impl Into<String>) -> Self {
        Self {
            category: category.into(),
            type_name: type_name.into(),
        }
    }
}

/// A status change found by a [`StatusSource`]: the item as read, the status it has, and where it
/// was found. Serialised as JSON (the envelope payload); `category` as its path segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusEvent {
    /// The category it was listed under.
    pub category: Category,
    /// The type it was listed under.
    pub type_name: String,
    /// The watched property's value as text (strings as is, numbers and booleans printed, empty
    /// for anything else).
    pub status: String,
    /// The instance.
    pub instance: Instance,
}

impl StatusEvent {
    /// Decodes an envelope's payload (e.g. a stored outbox row).
    ///
    /// # Errors
    /// [`Error::Decode`] (status 0) for bytes that are not a [`StatusEvent`].
    pub fn from_payload(payload: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(payload).map_err(|source| Error::Decode {
            status: 0,
            what: "status event",
            source,
        })
    }
}

/// A pull [`Source`] over CMS instances whose `status_property` is one of `statuses`, updated at
/// or after the checkpoint (`update_time ge date(…)`, sorted by `update_time` ascending, paged).
/// See the [module docs](self) for the event ids and the checkpoint rule.
///
/// Envelopes: `source` [`SOURCE`], `kind` [`KIND`], id `{instance id}:{status}`, ordering key the
/// instance id, `occurred_at` the instance's `update_time` (now when it has none), payload a
/// [`StatusEvent`]. The watched types are read one after the other; a status list that is empty
/// makes every round yield nothing.
///
/// ```
/// use chatport_core::Source;
/// use chatport_opentext::source::StatusSource;
/// use chatport_opentext::{Category, Client};
/// use chatport_testkit::cms::CmsEmulator;
/// use futures::TryStreamExt;
/// use secrecy::SecretString;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cms = CmsEmulator::start().await?;
/// let props = |s: &str| serde_json::json!({ "status": s }).as_object().cloned().unwrap_or_default();
/// cms.seed_instance("file", "ca_invoice", "INV-1", props("rejected"));
/// cms.seed_instance("file", "ca_invoice", "INV-2", props("approved"));
/// let client = Client::builder()
///     .tenant_id(cms.tenant_id())
///     .auth_base(&cms.auth_base())
///     .cms_base(&cms.cms_base())
///     .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
///     .no_rate_limit()
///     .build()?;
/// let source = StatusSource::builder(client)
///     .watch(Category::File, "ca_invoice")
///     .status_property("status")
///     .statuses(["rejected", "pending_review"])
///     .build()?;
///
/// let found: Vec<_> = source.poll(None).await?.try_collect().await?;
/// assert_eq!(found.len(), 1);
/// let (envelope, checkpoint) = &found[0];
/// assert_eq!(envelope.payload.instance.name, "INV-1");
/// assert_eq!(envelope.id.as_str(), format!("{}:rejected", envelope.payload.instance.id));
/// assert!(checkpoint.is_some()); // the next round resumes from its update_time
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StatusSource {
    client: Client,
    watch: Vec<Watch>,
    status_property: String,
    statuses: Vec<String>,
    page_size: u32,
}

impl std::fmt::Debug for StatusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusSource")
            .field("watch", &self.watch)
            .field("status_property", &self.status_property)
            .field("statuses", &self.statuses)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// Configures a [`StatusSource`]: [`StatusSource::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct StatusSourceBuilder {
    client: Client,
    watch: Vec<Watch>,
    status_property: String,
    statuses: Vec<String>,
    page_size: u32,
}

impl StatusSourceBuilder {
    /// Adds a watched category and type.
    pub fn watch(mut self, category: impl Into<Category>, type_name: impl Into<String>) -> Self {
        self.watch.push(Watch::new(category, type_name));
        self
    }

    /// Adds watched categories and types.
    pub fn watches(mut self, watches: impl IntoIterator<Item = Watch>) -> Self {
        self.watch.extend(watches);
        self
    }

    /// The property holding the status (a type attribute, e.g. `status`). Required.
    pub fn status_property(mut self, property: impl Into<String>) -> Self {
        self.status_property = property.into();
        self
    }

    /// The statuses that make an event (compared with `eq`, so exactly as stored).
    pub fn statuses<S: Into<String>>(mut self, statuses: impl IntoIterator<Item = S>) -> Self {
        self.statuses.extend(statuses.into_iter().map(Into::into));
        self
    }

    /// Instances per page request (`items-per-page`). Default [`DEFAULT_PAGE_SIZE`].
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// The source.
    ///
    /// # Errors
    /// [`Error::Config`] when the status property or a watched type name is empty, or the page
    /// size is 0.
    pub fn build(self) -> Result<StatusSource, Error> {
        if self.status_property.trim().is_empty() {
            return Err(Error::Config("the status property is empty".into()));
        }
        if self.watch.iter().any(|w| w.type_name.trim().is_empty()) {
            return Err(Error::Config("a watched type name is empty".into()));
        }
        if self.page_size == 0 {
            return Err(Error::Config("the page size is 0".into()));
        }
        Ok(StatusSource {
            client: self.client,
            watch: self.watch,
            status_property: self.status_property,
            statuses: self.statuses,
            page_size: self.page_size,
        })
    }
}

impl StatusSource {
    /// A builder over `client`: nothing watched, no status property (required), no statuses, page
    /// size [`DEFAULT_PAGE_SIZE`].
    pub fn builder(client: Client) -> StatusSourceBuilder {
        StatusSourceBuilder {
            client,
            watch: Vec::new(),
            status_property: String::new(),
            statuses: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// The watched categories and types.
    pub fn watched(&self) -> &[Watch] {
        &self.watch
    }

    /// The `$filter`-style CMS filter of one round resuming from the update time `since`:
    /// `(p eq 's1' or p eq 's2' …)[ and update_time ge date('since')]`; `None` without statuses.
    pub fn filter(&self, since: Option<&str>) -> Option<String> {
        let status = Filter::any(
            self.statuses
                .iter()
                .map(|s| Filter::eq(self.status_property.as_str(), s.as_str())),
        )?;
        let filter = match since {
            Some(t) => status.and(Filter::ge("update_time", Literal::date(t))),
            None => status,
        };
        Some(filter.to_string())
    }
}

/// A property value as text: strings as is, numbers and booleans printed, anything else `None`.
fn property_text(instance: &Instance, property: &str) -> Option<String> {
    match instance.property(property)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[async_trait]
impl Source for StatusSource {
    type Event = StatusEvent;
    type Error = Error;

    /// Fetches an access token (the credentials and the tenant are right).
    async fn check(&self) -> Result<(), Error> {
        self.client.authenticate().await
    }

    async fn poll(
        &self,
        resume: Option<Checkpoint>,
    ) -> Result<SourceStream<'_, StatusEvent, Error>, Error> {
        let since = resume
            .as_ref()
            .and_then(|c| c.get_str("update_time"))
            .map(str::to_owned);
        let Some(filter) = self.filter(since.as_deref()) else {
            return Ok(futures::stream::empty().boxed());
        };
        let mut streams = Vec::new();
        for watch in &self.watch {
            let query = ListQuery::new()
                .filter(filter.clone())
                .sortby(SortBy::asc("update_time").to_string())
                .items_per_page(self.page_size);
            let watch = watch.clone();
            let property = self.status_property.clone();
            let since = since.clone();
            let stream = self
                .client
                .instances(watch.category.clone(), &watch.type_name, &query)
                .items()
                .map(move |item| {
                    item.map(|instance| {
                        let status = property_text(&instance, &property).unwrap_or_default();
                        let update_time = instance.update_time.clone();
                        let occurred = instance.updated_at().unwrap_or_else(chrono::Utc::now);
                        let id = format!("{}:{status}", instance.id);
                        let ordering = instance.id.clone();
                        let envelope = Envelope::new(
                            EventId::new(id),
                            SOURCE,
                            KIND,
                            StatusEvent {
                                category: watch.category.clone(),
                                type_name: watch.type_name.clone(),
                                status,
                                instance,
                            },
                        )
                        .occurred_at(occurred)
                        .ordering_key(ordering);
                        // Several watched types share one checkpoint: it never moves back behind
                        // the one this round resumed from.
                        let checkpoint = update_time
                            .filter(|t| since.as_deref().is_none_or(|s| t.as_str() >= s))
                            .map(|t| Checkpoint::new(json!({ "update_time": t })));
                        (envelope, checkpoint)
                    })
                });
            streams.push(stream);
        }
        Ok(futures::stream::iter(streams).flatten().boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::builder()
            .tenant_id("t")
            .auth_base("http://127.0.0.1:9")
            .cms_base("http://127.0.0.1:9/cms")
            .client_credentials("c", secrecy::SecretString::from("s"))
            .build()
            .unwrap()
    }

    #[test]
    fn status_filter_combines_statuses_and_the_checkpoint() {
        let s = StatusSource::builder(client())
            .status_property("status")
            .statuses(["rejected", "pending_review"])
            .build()
            .unwrap();
        let f = s.filter(None).unwrap();
        assert!(
            f.contains("status eq 'rejected'") && f.contains(" or "),
            "{f}"
        );
        let f = s.filter(Some("2025-01-01T00:00:00.000Z")).unwrap();
        assert!(
            f.contains("update_time ge date('2025-01-01T00:00:00.000Z')"),
            "{f}"
        );
        let none = StatusSource::builder(client())
            .status_property("status")
            .build()
            .unwrap();
        assert!(none.filter(None).is_none());
    }

    #[test]
    fn the_builder_refuses_what_cannot_be_polled() {
        let no_property = StatusSource::builder(client()).statuses(["x"]).build();
        assert!(matches!(no_property, Err(Error::Config(_))));
        let no_type = StatusSource::builder(client())
            .status_property("status")
            .watch(Category::File, " ")
            .build();
        assert!(matches!(no_type, Err(Error::Config(_))));
        let no_page = StatusSource::builder(client())
            .status_property("status")
            .page_size(0)
            .build();
        assert!(matches!(no_page, Err(Error::Config(_))));
    }

    #[test]
    fn events_round_trip_through_their_payload() {
        let event = StatusEvent {
            category: Category::File,
            type_name: "ca_invoice".into(),
            status: "rejected".into(),
            instance: Instance::default(),
        };
        let bytes = serde_json::to_vec(&event).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""category":"file""#), "{text}");
        assert_eq!(StatusEvent::from_payload(&bytes).unwrap(), event);
        assert!(matches!(
            StatusEvent::from_payload(b"[]"),
            Err(Error::Decode { .. })
        ));
    }
}
