//! # chatport-orangelogic
//!
//! A client of the **Orange Logic OrangeDAM** (formerly Cortex) APIs for one instance:
//! authentication (OAuth client credentials, a static non-expiring bearer token, or the legacy
//! user login token; tokens reused and refreshed once on a 401), both response envelopes (the
//! legacy `/API/...` `APIResponse` envelope and the DataTable `Response`, with `Code` other than
//! `SUCCESS` an error even on HTTP 200; `/webapi/...` JSON as-is), Search v4.0 as a paging
//! `Stream`, DataTable reads and updates (`:=`, `+=`, `++=`, nested sub-calls), uploads
//! (`UploadNewMedia` streamed, or the chunked multi-part upload above a threshold), presigned and
//! public share links, and asset webhook receiving.
//!
//! The API facts it follows, with their public sources, are in the workspace's
//! `shared/api/opentext-orangelogic.md` §2. Orange Logic publishes the developer reference but no
//! machine-readable spec; several things are **not public** and are therefore configurable and
//! documented as assumptions where they are used: the chunked-upload transaction / register /
//! complete paths ([`ChunkedEndpoints`]), the presigned and share link paths ([`LinkConfig`]),
//! the webhook payload ([`WebhookFields`]) and the absence of a webhook signature
//! ([`WebhookAuthenticator`]), comments / workflow / rights-expiry fields ([`FeedbackTarget`],
//! [`date_range_query`]).
//!
//! | Item | What it is |
//! |---|---|
//! | [`Client`] / [`ClientBuilder`] | Configuration and every call |
//! | [`Query`], [`SearchRequest`], [`SearchItem`], [`SearchPage`] | Search API v4.0 |
//! | [`DataTableCall`], [`Operator`], [`AssetRef`], [`Record`] | DataTable API |
//! | [`UploadRequest`], [`UploadConfig`], [`UploadOutcome`] | Uploads |
//! | [`LinkExpiry`], [`PresignedLinkRequest`], [`PublicShareRequest`] | Links |
//! | [`parse_events`], [`AssetEvent`], [`WebhookAuthenticator`] | Asset webhooks |
//! | [`Error`] | One error enum implementing [`chatport_core::Classify`] |
//!
//! ```no_run
//! use chatport_orangelogic::{AssetRef, Client, Query, SearchRequest};
//! use futures::TryStreamExt;
//! use secrecy::SecretString;
//!
//! # async fn run() -> Result<(), chatport_orangelogic::Error> {
//! let client = Client::builder()
//!     .base_url("https://mycompany.orangelogic.com")
//!     .client_credentials("chatport", SecretString::from(std::env::var("OL_SECRET").unwrap_or_default()))
//!     .build()?;
//! let request = SearchRequest::new(Query::term("Keyword", "spring launch")).fields(["SystemIdentifier"]);
//! let items: Vec<_> = client.search(request).try_collect().await?;
//! for item in items {
//!     if let Some(id) = item.system_identifier() {
//!         client.add_keywords(&AssetRef::Identifier(id), ["reviewed"], true).await?;
//!     }
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth;
mod client;
pub mod datatable;
mod error;
mod http;
pub mod links;
mod retry;
pub mod search;
pub mod upload;
pub mod webhook;
pub mod workflow;

pub use auth::{CLIENT_CREDENTIALS_PATH, LOGIN_PATH};
pub use client::{Client, ClientBuilder, DATATABLE_VERSION, DEFAULT_MAX_GET_URL, SEARCH_PATH};
pub use datatable::{
    Action, AssetRef, DataTableCall, DataTableResponse, FieldValue, Operator, Record,
};
pub use error::Error;
pub use links::{
    LinkConfig, LinkExpiry, PresignedLink, PresignedLinkRequest, PublicShareLink,
    PublicShareRequest,
};
pub use retry::RetryPolicy;
pub use search::{Query, SearchItem, SearchPage, SearchRequest, Sort, quote};
pub use upload::{
    CHUNK_ALIGNMENT, CHUNK_PATH, ChunkedEndpoints, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNKED_THRESHOLD,
    UPLOAD_NEW_MEDIA_PATH, UploadConfig, UploadMode, UploadOutcome, UploadPath, UploadRequest,
    chunk_ranges,
};
pub use webhook::{
    AssetEvent, AssetEventKind, RecentEvents, WebhookAuthError, WebhookAuthenticator,
    WebhookFields, parse_events,
};
pub use workflow::{FeedbackTarget, date_range_query};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
