//! What a user of this crate needs, in one import: `use chatport_opentext::prelude::*;`.
//!
//! The client and its builder, the instance types and queries, the crate's [`Error`], the sinks
//! and the source ([`InstanceSink`], [`DocumentSink`], [`StatusSource`]), the paging
//! [`Listing`], the contracts of `chatport-core` ([`Sink`], [`Source`], [`IdempotencyKey`], [`Classify`],
//! [`EventId`]), the secret type the builder takes ([`SecretString`], [`ExposeSecret`]),
//! [`async_trait`](macro@async_trait) for implementing a sink, and the stream extension traits (`StreamExt`,
//! `TryStreamExt`, imported as `_`: their methods only) that drain a listing.
//!
//! ```no_run
//! use chatport_opentext::prelude::*;
//!
//! # async fn run() -> Result<(), Error> {
//! let cms = Client::builder()
//!     .tenant_id("8f2c")
//!     .auth_base("https://otds.example.com/otdstenant/8f2c")
//!     .cms_base("https://cms.example.com/cms")
//!     .client_credentials("chatport", SecretString::from("client-secret"))
//!     .build()?;
//! let query = ListQuery::new().items_per_page(100);
//! let mut cases = cms.instances(Category::Object, "ca_case", &query).items();
//! while let Some(case) = cases.try_next().await? {
//!     println!("{}", case.id);
//! }
//! # Ok(()) }
//! ```

pub use crate::{
    Category, Client, ClientBuilder, Document, DocumentContent, DocumentReceipt, DocumentSink,
    DocumentSinkBuilder, Error, FtQuery, HalPage, Instance, InstanceDraft, InstanceReceipt,
    InstanceSink, InstanceSinkBuilder, ListQuery, Listing, StatusEvent, StatusSource,
    StatusSourceBuilder, Watch, filter,
};
pub use async_trait::async_trait;
pub use chatport_core::{Classify, ErrorClass, EventId, IdempotencyKey, Sink, Source};
pub use futures::{StreamExt as _, TryStreamExt as _};
pub use secrecy::{ExposeSecret, SecretString};
