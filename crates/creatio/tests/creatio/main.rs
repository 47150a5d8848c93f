//! wiremock tests of the Creatio client: forms and OAuth authentication, OData CRUD, filters,
//! paging, `$batch`, idempotent creates and chunked uploads. Fixtures in `tests/fixtures/` follow
//! the shapes in `shared/api/creatio.md` §1–§3.
#![allow(clippy::unwrap_used)]

mod auth;
mod batch;
mod common;
mod download;
mod metrics;
mod odata;
mod upload;
