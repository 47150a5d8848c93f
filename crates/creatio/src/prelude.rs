//! What a user of this crate needs, in one import: `use chatport_creatio::prelude::*;`.
//!
//! The client and its builder, the entity types ([`Entity`], [`Contact`], [`Case`],
//! [`Activity`], [`CaseFile`]), queries and filters, the crate's [`Error`], the sink and the
//! source ([`EntitySink`], [`ActivitySource`]), the paging [`Listing`], the contracts of
//! `chatport-core` ([`Sink`], [`Source`], [`IdempotencyKey`], [`Classify`], [`EventId`]), the secret type the
//! builder takes ([`SecretString`], [`ExposeSecret`]), [`Uuid`] (record ids),
//! [`async_trait`](macro@async_trait) for implementing a sink, and the stream extension traits (`StreamExt`,
//! `TryStreamExt`, imported as `_`: their methods only) that drain a listing.
//!
//! ```no_run
//! use chatport_creatio::prelude::*;
//!
//! # async fn run() -> Result<(), Error> {
//! let creatio = Client::builder()
//!     .base_url("https://acme.creatio.com")
//!     .forms_auth("Supervisor", SecretString::from("password"))
//!     .build()?;
//! let case: Uuid = Uuid::nil();
//! let query = Query::new().filter(filter::lookup_eq("Case", case));
//! let mut activities = creatio.entities::<Activity>(Activity::SET, &query, 500).items();
//! while let Some(activity) = activities.try_next().await? {
//!     println!("{:?}", activity.title);
//! }
//! # Ok(()) }
//! ```

pub use crate::{
    Activity, ActivitySource, ActivitySourceBuilder, Case, CaseFile, Client, ClientBuilder,
    Contact, Created, Entity, EntitySink, EntitySinkBuilder, Error, Filter, Listing, OpenCases,
    Order, Page, Query, Upload, filter,
};
pub use async_trait::async_trait;
pub use chatport_core::{Classify, ErrorClass, EventId, IdempotencyKey, Sink, Source};
pub use futures::{StreamExt as _, TryStreamExt as _};
pub use secrecy::{ExposeSecret, SecretString};
pub use uuid::Uuid;
