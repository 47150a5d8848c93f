//! wiremock tests of the CMS and CSS client: token flow, retries, error bodies, every endpoint
//! family, paging streams, the limiter, and a 200 MB streaming upload to a local server.
//! Fixtures in `tests/fixtures/` are modelled on the shapes in `shared/api/opentext-orangelogic.md` §1.

mod acl;
mod auth;
mod blob_ids;
mod common;
mod css;
mod definitions;
mod emulator;
mod errors;
mod instances;
mod limit;
mod metrics;
mod paging;
mod stream_upload;
mod updates;
