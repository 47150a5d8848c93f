//! # chatport-creatio
//!
//! A client of the **Creatio** CRM (formerly bpm'online) for one instance: forms (cookie + CSRF)
//! and OAuth 2.0 client-credentials authentication, OData 4 CRUD with a quoting `$filter` builder,
//! `$top`/`$skip` paging as a `Stream`, `$batch`, typed models of the entities a WhatsApp handoff
//! writes, chunked file upload through `FileApiService`, and idempotent creates whose record `Id`
//! comes from a [`chatport_core::IdempotencyKey`].
//!
//! The API facts it follows, with their public sources, are in the workspace's
//! `shared/api/creatio.md` (Creatio Academy for the documented parts; public clients such as clio,
//! creatioclient and creatio-api-py for the rest). Where that material says "inferred" or "not
//! found", the behaviour is configurable and documented as inferred here.
//!
//! | Item | What it is |
//! |---|---|
//! | [`Client`] / [`ClientBuilder`] | Configuration (site root, [`Platform`], credentials, [`Lookups`]) and every call |
//! | [`Query`], [`Page`], [`Order`], [`filter`] | OData query options, pages, the `$filter` builder |
//! | [`Batch`], [`BatchResult`], [`BatchOutcome`] | `$batch` (≤ 100 operations, continue-on-error) |
//! | [`Case`], [`Contact`], [`ContactCommunication`], [`Activity`], [`CaseFile`] | Typed models ([`Entity`]) |
//! | [`Upload`] | `FileApiService/UploadFile` in chunks with `Content-Range` |
//! | [`Created`] | The result of [`Client::create_with_key`] |
//! | [`EntitySink`] | A [`chatport_core::Sink`] creating one record per idempotency key (`Id` from the key) |
//! | [`ActivitySource`], [`OpenCases`], [`source`] | A [`chatport_core::Source`]: the activity poller (agents' replies, closed cases) over the cases a caller watches |
//! | [`webhook::ProcessWebhook`], [`webhook::CreatioEvent`] | The business-process webhook adapter and the events both sources yield |
//! | [`Error`] | One error enum implementing [`chatport_core::Classify`] |
//! | [`RetryPolicy`], [`CsrfEcho`], [`TokenAuthMethod`] | In-client retry, CSRF header naming, token client authentication |
//!
//! A case created once per idempotency key, runnable against the testkit's Creatio emulator
//! (against a site, the base URL is e.g. `https://acme.creatio.com` and the token comes from its
//! Identity Service):
//!
//! ```
//! use chatport_core::{EventId, IdempotencyKey};
//! use chatport_creatio::{Case, Client, Entity, Query, filter};
//! use chatport_testkit::creatio::CreatioEmulator;
//! use secrecy::SecretString;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let crm = CreatioEmulator::start().await?;
//! let client = Client::builder()
//!     .base_url(&crm.base_url())
//!     .identity_url(&crm.identity_url())
//!     .oauth_client_credentials(crm.client_id(), SecretString::from(crm.client_secret().to_owned()))
//!     .build()?;
//!
//! let key = IdempotencyKey::derive("C1", "create_case", &EventId::new("wamid.X"));
//! let case = Case {
//!     subject: Some("Parcel damaged".into()),
//!     status_id: Some(client.lookups().case_status_new),
//!     ..Case::new()
//! };
//! let created = client.create_with_key::<Case, _>(Case::SET, &key, &case).await?;
//! let retried = client.create_with_key::<Case, _>(Case::SET, &key, &case).await?;
//! assert_eq!((created.id, created.existed, retried.existed), (retried.id, false, true));
//!
//! let open = client
//!     .list::<Case>(Case::SET, &Query::new().filter(filter::lookup_eq("Status", client.lookups().case_status_new)).top(10))
//!     .await?;
//! assert_eq!(open.value.len(), 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth;
mod batch;
mod client;
mod download;
mod error;
pub mod filter;
mod http;
mod model;
mod odata;
pub mod prelude;
mod retry;
pub mod sink;
pub mod source;
mod upload;
pub mod webhook;

pub use auth::{CSRF_COOKIE_NAMES, CsrfEcho, TokenAuthMethod};
pub use batch::{
    BATCH_CONTENT_TYPE, Batch, BatchOp, BatchOutcome, BatchResult, MAX_BATCH_OPERATIONS,
};
pub use client::{Client, ClientBuilder, DEFAULT_CHUNK_SIZE, DEFAULT_ROW_CAP, Platform};
pub use download::{DATA_COLUMN, FileDownload, SpooledFile};
pub use error::Error;
pub use filter::Filter;
pub use model::{
    Activity, Case, CaseFile, Contact, ContactCommunication, Entity, Lookups, is_empty_lookup,
    odata_datetime, search_number,
};
pub use odata::{Created, Listing, Order, Page, Query};
pub use retry::RetryPolicy;
pub use sink::{EntitySink, EntitySinkBuilder};
pub use source::{ActivitySource, ActivitySourceBuilder, OpenCases};
pub use upload::Upload;

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
