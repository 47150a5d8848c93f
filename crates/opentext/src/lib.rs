//! # chatport-opentext
//!
//! A client of the OpenText Cloud Platform **Content Metadata Service** (CMS), for one tenant:
//! tenant OAuth (`client_credentials` or `password` grant, token cached, refreshed before expiry and
//! once on a 401), instance create / read / list (HAL pages) and lookup by a property, with typed,
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
//! | [`Client`] / [`ClientBuilder`] | Configuration (region host, CMS base, CSS base, tenant id, credentials) and every call |
//! | [`Category`], [`Instance`], [`InstanceDraft`] | The instance model: `/instances/{category}/{type}` |
//! | [`ListQuery`], [`HalPage`] | Collection queries (`filter`, `sortby`, `page`, `items-per-page`, `include-total`) and pages |
//! | [`filter`] | Filter-expression helpers (`eq`, `quote`) |
//! | [`Error`] | One error enum implementing [`chatport_core::Classify`] |
//! | [`RetryPolicy`], [`TokenEncoding`] | In-client retry and token request encoding |
//!
//! The Content Storage Service (upload/download), type/trait definitions, updates, deletes,
//! versions, paging streams and the client-side rate limiter come with the complete client.
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
