//! The Creatio activity poller: a [`chatport_core::Source`] that finds agents' new activities and
//! closed cases on the cases a caller watches ([`ActivitySource`], over an [`OpenCases`]
//! provider).
//!
//! It is the fallback of the business-process notification
//! ([`ProcessWebhook`](crate::webhook::ProcessWebhook)): it yields the same
//! [`CreatioEvent`]s with the same event ids ([`CreatioEvent::event_id`], `activity:{id}` and
//! `case:{id}:status:{status}`) and the same envelopes ([`CreatioEvent::envelope`]), so an
//! activity both notified and polled is stored once by an outbox that keeps one row per
//! `(source, event id)`.
//!
//! # One round
//!
//! The provider names the cases to watch. For every chunk of [`CASES_PER_QUERY`] cases:
//!
//! 1. `GET /0/odata/Activity?$filter=(Case/Id eq … or …) and CreatedOn ge <since>[ and
//!    CreatedBy/Id ne <integration contact>]&$select=Id,CaseId,CreatedOn,CreatedById&$orderby=
//!    CreatedOn asc` (every page) → an [`CreatioEvent::ActivityAdded`] per activity the provider
//!    does not call its own ([`OpenCases::is_own`]);
//! 2. with [`ActivitySourceBuilder::files`]: `GET /0/odata/CaseFile?$filter=(Case/Id eq … or …)
//!    and CreatedOn ge <since>[ and CreatedBy/Id ne <integration contact>]&$select=Id,CaseId,
//!    CreatedOn&$orderby=CreatedOn asc` (every page) → a [`CreatioEvent::FileAdded`] per file the
//!    provider does not call its own ([`OpenCases::is_own_file`]): an agent attaching a document
//!    or a picture to the case;
//! 3. `GET /0/odata/Case?$filter=Id eq … or …&$select=Id,StatusId` → a
//!    [`CreatioEvent::CaseStatus`] per case whose status is a closed one (by default the
//!    [`Lookups`](crate::Lookups)' Closed and Canceled, plus any configured).
//!
//! # The checkpoint
//!
//! `{"since": "<RFC 3339>"}`: the latest `CreatedOn` of the activities (and files) read (own ones included),
//! carried by the round's **last** event, so it is committed only once every event of the round
//! was stored. Without a checkpoint (first start) the round looks back
//! [`ActivitySourceBuilder::lookback`] (default 24 hours). `ge` re-reads activities created in the
//! checkpoint's instant; their ids make the outbox drop them. A round without events commits
//! nothing, so the next one reads from the same point.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{Checkpoint, Classify, Source, SourceStream};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::webhook::CreatioEvent;
use crate::{Activity, Case, CaseFile, Client, Entity, Error, Order, Query, filter};

/// Cases per `$filter` (each adds two filter nodes; Creatio allows about 100).
pub const CASES_PER_QUERY: usize = 40;

/// The look-back of a first round (no checkpoint yet): 24 hours.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(24 * 3600);

/// Activities per page request: 500.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// What an [`ActivitySource`] needs to know from its caller: the cases to watch and which
/// activities the caller wrote itself (so they are not reported back as replies).
///
/// ```
/// use async_trait::async_trait;
/// use chatport_creatio::source::OpenCases;
/// use uuid::Uuid;
///
/// /// A fixed set of cases; nothing is our own.
/// struct Fixed(Vec<Uuid>);
///
/// #[async_trait]
/// impl OpenCases for Fixed {
///     type Error = chatport_creatio::Error;
///     async fn open_cases(&self) -> Result<Vec<Uuid>, Self::Error> {
///         Ok(self.0.clone())
///     }
///     async fn is_own(&self, _activity_id: Uuid) -> Result<bool, Self::Error> {
///         Ok(false)
///     }
/// }
/// ```
#[async_trait]
pub trait OpenCases: Send + Sync {
    /// The provider's error (e.g. its store's); it reaches the poller as [`Error::Provider`]
    /// with this error's class.
    type Error: std::error::Error + Classify + Send + Sync + 'static;

    /// The ids of the cases to watch now (e.g. every case with an open handoff).
    async fn open_cases(&self) -> Result<Vec<Uuid>, Self::Error>;

    /// Whether the activity was written by the caller itself (an echo, not a reply).
    async fn is_own(&self, activity_id: Uuid) -> Result<bool, Self::Error>;

    /// Whether the caller attached the `CaseFile` `file_id` itself (asked only with
    /// [`ActivitySourceBuilder::files`]). Default: no file is the caller's own.
    async fn is_own_file(&self, _file_id: Uuid) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

fn provider<E: std::error::Error + Classify + Send + Sync + 'static>(e: E) -> Error {
    Error::Provider {
        class: e.class(),
        source: Box::new(e),
    }
}

/// A pull [`Source`] over the activities and statuses of the cases an [`OpenCases`] provider
/// names (see the [module docs](self) for one round and the checkpoint). Yields
/// [`CreatioEvent::ActivityAdded`] and [`CreatioEvent::CaseStatus`] envelopes: `source`
/// [`SOURCE`](crate::webhook::SOURCE), ids and ordering keys as the webhook's.
///
/// ```
/// use async_trait::async_trait;
/// use chatport_core::Source;
/// use chatport_creatio::source::{ActivitySource, OpenCases};
/// use chatport_creatio::webhook::CreatioEvent;
/// use chatport_creatio::{Case, Client, Entity};
/// use chatport_testkit::creatio::CreatioEmulator;
/// use futures::TryStreamExt;
/// use secrecy::SecretString;
/// use uuid::Uuid;
///
/// struct Fixed(Vec<Uuid>);
///
/// #[async_trait]
/// impl OpenCases for Fixed {
///     type Error = chatport_creatio::Error;
///     async fn open_cases(&self) -> Result<Vec<Uuid>, Self::Error> {
///         Ok(self.0.clone())
///     }
///     async fn is_own(&self, _activity_id: Uuid) -> Result<bool, Self::Error> {
///         Ok(false)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let crm = CreatioEmulator::start().await?;
/// let client = Client::builder()
///     .base_url(&crm.base_url())
///     .identity_url(&crm.identity_url())
///     .oauth_client_credentials(crm.client_id(), SecretString::from(crm.client_secret().to_owned()))
///     .build()?;
/// let case: Case = client.create(Case::SET, &Case { subject: Some("Parcel".into()), ..Case::new() }).await?;
/// let case_id = case.id.ok_or("no id")?;
/// let (activity, _) = crm.post_agent_reply(case_id, "We are on it").await?;
///
/// let source = ActivitySource::builder(client, Fixed(vec![case_id])).build()?;
/// let found: Vec<_> = source.poll(None).await?.try_collect().await?;
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].0.id.as_str(), format!("activity:{}", activity["Id"].as_str().ok_or("id")?));
/// assert!(matches!(found[0].0.payload, CreatioEvent::ActivityAdded { .. }));
/// assert!(found[0].1.is_some()); // the round's checkpoint
/// # Ok(()) }
/// ```
pub struct ActivitySource<C> {
    client: Client,
    cases: C,
    integration_contact: Option<Uuid>,
    closed: BTreeSet<Uuid>,
    lookback: Duration,
    page_size: u32,
    files: bool,
}

impl<C> std::fmt::Debug for ActivitySource<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivitySource")
            .field("integration_contact", &self.integration_contact)
            .field("closed", &self.closed)
            .field("lookback", &self.lookback)
            .field("page_size", &self.page_size)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// Configures an [`ActivitySource`]: [`ActivitySource::builder`].
#[must_use]
pub struct ActivitySourceBuilder<C> {
    source: ActivitySource<C>,
}

impl<C> std::fmt::Debug for ActivitySourceBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivitySourceBuilder")
            .field("source", &self.source)
            .finish()
    }
}

impl<C: OpenCases> ActivitySource<C> {
    /// A builder over `client` and the `cases` provider: no integration contact, the closed
    /// statuses of `client`'s [`Lookups`](crate::Lookups) (Closed, Canceled), look-back
    /// [`DEFAULT_LOOKBACK`], page size [`DEFAULT_PAGE_SIZE`], no files.
    pub fn builder(client: Client, cases: C) -> ActivitySourceBuilder<C> {
        let lookups = client.lookups();
        let closed = BTreeSet::from([lookups.case_status_closed, lookups.case_status_canceled]);
        ActivitySourceBuilder {
            source: ActivitySource {
                client,
                cases,
                integration_contact: None,
                closed,
                lookback: DEFAULT_LOOKBACK,
                page_size: DEFAULT_PAGE_SIZE,
                files: false,
            },
        }
    }

    /// Whether `status` is one of the closed statuses.
    pub fn is_closed_status(&self, status: Option<Uuid>) -> bool {
        status.is_some_and(|s| self.closed.contains(&s))
    }

    async fn collect(
        &self,
        since: DateTime<Utc>,
    ) -> Result<(Vec<CreatioEvent>, Option<DateTime<Utc>>), Error> {
        let ids = self.cases.open_cases().await.map_err(provider)?;
        let mut events = Vec::new();
        let mut latest: Option<DateTime<Utc>> = None;
        for chunk in ids.chunks(CASES_PER_QUERY) {
            let Some(cases) = filter::any_of("Case/Id", chunk.iter().copied()) else {
                continue;
            };
            let mut f = cases.and(filter::ge("CreatedOn", since));
            if let Some(me) = self.integration_contact {
                f = f.and(filter::ne("CreatedBy/Id", me));
            }
            let query = Query::new()
                .filter(f)
                .select(["Id", "CaseId", "CreatedOn", "CreatedById"])
                .order_by("CreatedOn", Order::Asc);
            let mut stream = self
                .client
                .entities::<Activity>(Activity::SET, &query, self.page_size)
                .items();
            while let Some(activity) = stream.next().await {
                let activity = activity?;
                let Some(id) = activity.id else { continue };
                if let Some(at) = activity.created_on
                    && latest.is_none_or(|l| at > l)
                {
                    latest = Some(at);
                }
                if self.cases.is_own(id).await.map_err(provider)? {
                    continue;
                }
                events.push(CreatioEvent::ActivityAdded {
                    activity_id: id,
                    case_id: activity.case_id,
                });
            }
            if self.files {
                self.collect_files(chunk, since, &mut events, &mut latest)
                    .await?;
            }
            let Some(by_id) = filter::any_of("Id", chunk.iter().copied()) else {
                continue;
            };
            let statuses = self
                .client
                .list::<Case>(
                    Case::SET,
                    &Query::new().filter(by_id).select(["Id", "StatusId"]),
                )
                .await?;
            for case in statuses.value {
                if let Some(case_id) = case.id
                    && self.is_closed_status(case.status_id)
                {
                    events.push(CreatioEvent::CaseStatus {
                        case_id,
                        status_id: case.status_id,
                    });
                }
            }
        }
        Ok((events, latest))
    }
}

impl<C: OpenCases> ActivitySource<C> {
    /// The files attached to `cases` since `since` (step 2 of a round).
    async fn collect_files(
        &self,
        cases: &[Uuid],
        since: DateTime<Utc>,
        events: &mut Vec<CreatioEvent>,
        latest: &mut Option<DateTime<Utc>>,
    ) -> Result<(), Error> {
        let Some(of_cases) = filter::any_of("Case/Id", cases.iter().copied()) else {
            return Ok(());
        };
        let mut f = of_cases.and(filter::ge("CreatedOn", since));
        if let Some(me) = self.integration_contact {
            f = f.and(filter::ne("CreatedBy/Id", me));
        }
        let query = Query::new()
            .filter(f)
            .select(["Id", "CaseId", "CreatedOn"])
            .order_by("CreatedOn", Order::Asc);
        let mut stream = self
            .client
            .entities::<CaseFile>(CaseFile::SET, &query, self.page_size)
            .items();
        while let Some(file) = stream.next().await {
            let file = file?;
            let Some(id) = file.id else { continue };
            if let Some(at) = file.created_on
                && latest.is_none_or(|l| at > l)
            {
                *latest = Some(at);
            }
            if self.cases.is_own_file(id).await.map_err(provider)? {
                continue;
            }
            events.push(CreatioEvent::FileAdded {
                file_id: id,
                case_id: file.case_id,
            });
        }
        Ok(())
    }
}

impl<C: OpenCases> ActivitySourceBuilder<C> {
    /// Also reports the files attached to the watched cases ([`CreatioEvent::FileAdded`], step 2
    /// of a round): one more query per chunk of cases. Off by default.
    pub fn files(mut self, files: bool) -> Self {
        self.source.files = files;
        self
    }

    /// The integration's own Creatio contact: activities it created are left out by the query
    /// (`CreatedBy/Id ne <id>`). `None` (the default) leaves them to [`OpenCases::is_own`].
    pub fn integration_contact(mut self, contact: Option<Uuid>) -> Self {
        self.source.integration_contact = contact;
        self
    }

    /// Adds case statuses (`CaseStatus` ids) that count as closed, besides the default Closed and
    /// Canceled.
    pub fn closed_statuses(mut self, statuses: impl IntoIterator<Item = Uuid>) -> Self {
        self.source.closed.extend(statuses);
        self
    }

    /// How far back a first round (no checkpoint) reads. Default [`DEFAULT_LOOKBACK`].
    pub fn lookback(mut self, lookback: Duration) -> Self {
        self.source.lookback = lookback;
        self
    }

    /// Activities per page request (clamped to the client's row cap). Default
    /// [`DEFAULT_PAGE_SIZE`].
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.source.page_size = page_size;
        self
    }

    /// The source.
    ///
    /// # Errors
    /// [`Error::Config`] for a page size of 0.
    pub fn build(self) -> Result<ActivitySource<C>, Error> {
        if self.source.page_size == 0 {
            return Err(Error::Config("the activity page size is 0".into()));
        }
        Ok(self.source)
    }
}

#[async_trait]
impl<C: OpenCases> Source for ActivitySource<C> {
    type Event = CreatioEvent;
    type Error = Error;

    /// Authenticates (a forms login or a token), so wrong credentials show before the first round.
    async fn check(&self) -> Result<(), Error> {
        self.client.authenticate().await
    }

    async fn poll(
        &self,
        resume: Option<Checkpoint>,
    ) -> Result<SourceStream<'_, CreatioEvent, Error>, Error> {
        let since = resume
            .as_ref()
            .and_then(|c| c.get_str("since"))
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|| {
                let lookback = chrono::Duration::from_std(self.lookback)
                    .unwrap_or_else(|_| chrono::Duration::hours(24));
                Utc::now()
                    .checked_sub_signed(lookback)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC)
            });
        let (events, latest) = self.collect(since).await?;
        let now = Utc::now();
        let count = events.len();
        let checkpoint = latest.map(|l| Checkpoint::new(json!({ "since": l.to_rfc3339() })));
        let items: Vec<_> = events
            .into_iter()
            .enumerate()
            .map(move |(i, event)| {
                let id = event.event_id(now, b"");
                let envelope = event.envelope(id, now);
                let cp = if i + 1 == count {
                    checkpoint.clone()
                } else {
                    None
                };
                Ok((envelope, cp))
            })
            .collect();
        Ok(futures::stream::iter(items).boxed())
    }
}
