//! What a user of this crate needs, in one import: `use chatport_orangelogic::prelude::*;`.
//!
//! The client and its builder, the search and upload types, the crate's [`Error`], the sinks
//! and the sources ([`AssetSink`], [`MetadataSink`], [`AssetSearchSource`], [`AssetWebhook`]),
//! the paging [`Listing`], the contracts of `chatport-core` ([`Sink`], [`Source`],
//! [`IdempotencyKey`], [`Classify`], [`EventId`]), the secret type the builder takes ([`SecretString`],
//! [`ExposeSecret`]), [`async_trait`](macro@async_trait) for implementing a sink, and the stream extension traits
//! (`StreamExt`, `TryStreamExt`, imported as `_`: their methods only) that drain a listing.
//!
//! ```no_run
//! use chatport_orangelogic::prelude::*;
//!
//! # async fn run() -> Result<(), Error> {
//! let dam = Client::builder()
//!     .base_url("https://dam.example.com")
//!     .client_credentials("chatport", SecretString::from("client-secret"))
//!     .build()?;
//! let request = SearchRequest::new(Query::term("MediaType", "Image")).page_size(50);
//! let mut items = dam.search(&request).items();
//! while let Some(item) = items.try_next().await? {
//!     println!("{:?}", item.system_identifier());
//! }
//! # Ok(()) }
//! ```

pub use crate::{
    AssetContent, AssetDraft, AssetFields, AssetNotice, AssetReceipt, AssetRef, AssetSearchSource,
    AssetSink, AssetSinkBuilder, AssetWebhook, Client, ClientBuilder, Error, Listing, MetadataSink,
    Query, SearchItem, SearchPage, SearchRequest, Sort, UploadRequest,
};
pub use async_trait::async_trait;
pub use chatport_core::{Classify, ErrorClass, EventId, IdempotencyKey, Sink, Source};
pub use futures::{StreamExt as _, TryStreamExt as _};
pub use secrecy::{ExposeSecret, SecretString};
