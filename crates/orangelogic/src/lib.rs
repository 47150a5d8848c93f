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
//! | [`EmbedLinksRequest`], [`EmbedLinkRecord`], [`EmbedLinksAnswer`] | Batch public embed links (`…/share/batchupsertassetlinkswithcustomroute_41FD_v1`) |
//! | [`parse_events`], [`AssetEvent`], [`WebhookAuthenticator`] | Asset webhooks |
//! | [`AssetSink`], [`MetadataSink`] | [`chatport_core::Sink`]s: upload once per idempotency key, set fields |
//! | [`Error`] | One error enum implementing [`chatport_core::Classify`] |
//!
//! Search and tag, runnable against the testkit's OrangeDAM emulator (against an instance, the
//! base URL is e.g. `https://mycompany.orangelogic.com`):
//!
//! ```
//! use chatport_orangelogic::{AssetRef, Client, Query, SearchRequest};
//! use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
//! use futures::TryStreamExt;
//! use secrecy::SecretString;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dam = OrangeLogicEmulator::start().await?;
//! let folder = dam.seed_folder("Campaigns", ROOT_FOLDER);
//! let mut fields = serde_json::Map::new();
//! fields.insert("CoreField.Keywords".into(), serde_json::json!(["spring launch"]));
//! dam.seed_asset("Spring hero", &folder, fields, None);
//!
//! let client = Client::builder()
//!     .base_url(&dam.base_url())
//!     .client_credentials(dam.client_id(), SecretString::from(dam.client_secret().to_owned()))
//!     .build()?;
//! let request = SearchRequest::new(Query::term("Keyword", "spring launch")).fields(["SystemIdentifier"]);
//! let items: Vec<_> = client.search(&request).items().try_collect().await?;
//! assert_eq!(items.len(), 1);
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
pub mod embed;
mod error;
mod http;
pub mod links;
pub mod prelude;
mod retry;
pub mod search;
pub mod sink;
pub mod source;
pub mod upload;
pub mod webhook;
pub mod workflow;

pub use auth::{CLIENT_CREDENTIALS_PATH, LOGIN_PATH, LOGIN_PATH_V1};
pub use client::{
    Client, ClientBuilder, DATATABLE_VERSION, DEFAULT_MAX_GET_URL, FOLDER_IDENTIFIER_FIELD,
    SEARCH_PATH,
};
pub use datatable::{
    Action, AssetRef, DataTableCall, DataTableResponse, FieldValue, Operator, Record,
};
pub use embed::{
    EMBED_LINKS_PATH, EmbedLinkRecord, EmbedLinkResult, EmbedLinksAnswer, EmbedLinksRequest,
    ExecutionOptions, JSON_PATCH_CONTENT_TYPE, MAX_EMBED_LINKS,
};
pub use error::Error;
pub use http::Family as Envelope;
pub use links::{
    LinkConfig, LinkExpiry, PresignedLink, PresignedLinkRequest, PublicShareLink,
    PublicShareRequest,
};
pub use retry::RetryPolicy;
pub use search::{Listing, Query, SearchItem, SearchPage, SearchRequest, Sort, quote};
pub use sink::{
    AssetContent, AssetDraft, AssetFields, AssetReceipt, AssetSink, AssetSinkBuilder, MetadataSink,
};
pub use source::{AssetNotice, AssetSearchSource, AssetWebhook};
pub use upload::{
    CHUNK_ALIGNMENT, CHUNK_PATH, ChunkedEndpoints, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNKED_THRESHOLD,
    REGISTER_UPLOADER, REGISTER_UPLOADER_FIELD, UPLOAD_NEW_MEDIA_PATH, UploadConfig, UploadMode,
    UploadOutcome, UploadPath, UploadRequest, chunk_ranges,
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
