//! # chatport-opentext
//!
//! A client of the OpenText Cloud Platform **Content Metadata Service** (CMS) and **Content
//! Storage Service** (CSS), for one tenant: tenant OAuth (`client_credentials` or `password`
//! grant, token cached, refreshed before expiry and once on a 401), type and trait definitions,
//! instances of every category (create, read, list, full and partial update, move, soft and hard
//! delete, versions, renditions, history), a filter builder, HAL pages as streams, full-text
//! search, streaming CSS upload/download and share links, a client-side rate limiter, and typed,
//! classified errors.
//!
//! The API facts it follows, with their public sources, are in the workspace's
//! `shared/api/opentext-orangelogic.md` §1 (OpenText publishes no OpenAPI document publicly; the
//! paths and shapes come from OpenText's own samples: the *Cloud Developer Tutorial* Postman
//! collection and `sample-cms-go-cli`). Where that material is silent the behaviour is
//! configurable and documented as inferred.
//!
//! | Item | What it is |
//! |---|---|
//! | [`Client`] / [`ClientBuilder`] | Configuration (region host, CMS base, CSS base, tenant id, credentials, limits) and every call |
//! | [`Category`], [`Instance`], [`InstanceDraft`], [`InstancePatch`], [`DeleteOptions`] | The instance model: `/instances/{category}/{type}` |
//! | [`TypeDefinition`], [`TraitDefinition`], [`AttributeDefinition`] | Type and trait definitions |
//! | [`Rendition`], [`RenditionDraft`], [`HistoryEntry`] | Instance sub-resources |
//! | [`Acl`], [`Permit`], [`IdentityType`], [`Permission`], [`AclOptions`] | ACLs (`/permissions`, `…/{id}/acl`); the recycle bin is [`Client::list_deleted`], [`Client::restore_deleted`] |
//! | [`ListQuery`], [`HalPage`], [`paging`], [`FtQuery`] | Collection queries, pages, streams, full-text search |
//! | [`filter`] | The filter and sort builder |
//! | [`CssContent`], [`BlobIdSource`], [`CssApi`], [`UploadOptions`], [`DownloadOptions`], [`ShareLinkRequest`], [`ShareLinkFields`] | The Content Storage Service |
//! | [`Error`] | One error enum implementing [`chatport_core::Classify`] |
//! | [`RetryPolicy`], [`RateLimit`], [`TokenEncoding`] | In-client retry, the limiter, token request encoding |
//! | [`InstanceSink`], [`DocumentSink`], [`sink`] | [`chatport_core::Sink`]s: find-or-create an instance, store a document, once per idempotency key |
//! | [`StatusSource`], [`StatusEvent`], [`source`] | A [`chatport_core::Source`]: the checkpointed poller of instances whose status changed |
//!
//! Find-or-create by an idempotency key, runnable against the testkit's CMS emulator (against a
//! tenant, use `auth_base`/`cms_base` such as `https://na-1-dev.api.opentext.com` and
//! `…/cms`, and keep the 5 requests/s limiter):
//!
//! ```
//! use chatport_opentext::{Category, Client, InstanceDraft};
//! use chatport_testkit::cms::CmsEmulator;
//! use secrecy::SecretString;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cms = CmsEmulator::start().await?;
//! let client = Client::builder()
//!     .tenant_id(cms.tenant_id())
//!     .auth_base(&cms.auth_base())
//!     .cms_base(&cms.cms_base())
//!     .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
//!     .no_rate_limit()
//!     .build()?;
//!
//! let key = "O1:create_case:7c3f";
//! for _attempt in 0..2 {
//!     // the CMS has no idempotency key: look the caller's key up before every create
//!     if client.find_by_property(Category::Object, "ca_case", "ext_ref", key).await?.is_none() {
//!         let draft = InstanceDraft::new("Damaged parcel").property("ext_ref", key);
//!         client.create_instance(Category::Object, "ca_case", &draft).await?;
//!     }
//! }
//! assert_eq!(cms.instances_of_type("ca_case").len(), 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod acl;
mod auth;
mod client;
mod css;
mod definitions;
mod error;
pub mod filter;
mod http;
mod instances;
mod limit;
mod model;
pub mod paging;
pub mod prelude;
mod resources;
mod retry;
pub mod sink;
pub mod source;

pub use acl::{Acl, AclOptions, IdentityType, Permission, Permit};
pub use auth::TokenEncoding;
pub use client::{Client, ClientBuilder, DEFAULT_MIN_TRANSFER_RATE, UNKNOWN_LENGTH_TRANSFER};
pub use css::{
    BlobIdSource, CssApi, CssContent, DownloadOptions, ExpiryFormat, FILE_ID_SOURCE, ShareLink,
    ShareLinkFields, ShareLinkRequest, UploadOptions,
};
pub use definitions::{
    AttributeDefinition, DataType, TraitDefinition, TypeDefinition, TypeDefinitionQuery,
};
pub use error::Error;
pub use limit::{DEFAULT_REQUESTS_PER_SECOND, RateLimit};
pub use model::{Category, HalPage, Instance, InstanceDraft, ListQuery};
pub use paging::{FtQuery, Listing};
pub use resources::{DeleteOptions, HistoryEntry, InstancePatch, Rendition, RenditionDraft};
pub use retry::RetryPolicy;
pub use sink::{
    BLOB_NAMESPACE, Document, DocumentContent, DocumentReceipt, DocumentSink, DocumentSinkBuilder,
    InstanceReceipt, InstanceSink, InstanceSinkBuilder,
};
pub use source::{StatusEvent, StatusSource, StatusSourceBuilder, Watch};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
