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
//! | [`ListQuery`], [`HalPage`], [`paging`], [`FtQuery`] | Collection queries, pages, streams, full-text search |
//! | [`filter`] | The filter and sort builder |
//! | [`CssContent`], [`UploadOptions`], [`DownloadOptions`], [`ShareLinkRequest`], [`ShareLinkFields`] | The Content Storage Service |
//! | [`Error`] | One error enum implementing [`chatport_core::Classify`] |
//! | [`RetryPolicy`], [`RateLimit`], [`TokenEncoding`] | In-client retry, the limiter, token request encoding |
//!
//! ```no_run
//! use chatport_opentext::{Category, Client, InstanceDraft};
//! use secrecy::SecretString;
//!
//! # async fn run() -> Result<(), chatport_opentext::Error> {
//! let client = Client::builder()
//!     .tenant_id("5d6b1f6e-0000-0000-0000-000000000000")
//!     .auth_base("https://na-1-dev.api.opentext.com")
//!     .cms_base("https://na-1-dev.api.opentext.com/cms")
//!     .client_credentials("my-app", SecretString::from(std::env::var("OT_SECRET").unwrap_or_default()))
//!     .build()?;
//!
//! let key = "O1:create_case:7c3f…";
//! let case = match client.find_by_property(Category::Object, "ca_case", "ext_ref", key).await? {
//!     Some(existing) => existing,
//!     None => {
//!         let draft = InstanceDraft::new("Damaged parcel").property("ext_ref", key);
//!         client.create_instance(Category::Object, "ca_case", &draft).await?
//!     }
//! };
//! println!("case {}", case.id);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

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
mod resources;
mod retry;

pub use auth::TokenEncoding;
pub use client::{Client, ClientBuilder};
pub use css::{
    CssContent, DownloadOptions, ExpiryFormat, ShareLink, ShareLinkFields, ShareLinkRequest,
    UploadOptions,
};
pub use definitions::{
    AttributeDefinition, DataType, TraitDefinition, TypeDefinition, TypeDefinitionQuery,
};
pub use error::Error;
pub use limit::{DEFAULT_REQUESTS_PER_SECOND, RateLimit};
pub use model::{Category, HalPage, Instance, InstanceDraft, ListQuery};
pub use paging::{FtQuery, ItemStream};
pub use resources::{DeleteOptions, HistoryEntry, InstancePatch, Rendition, RenditionDraft};
pub use retry::RetryPolicy;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
