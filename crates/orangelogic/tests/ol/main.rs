//! wiremock tests of the OrangeDAM client, one module per endpoint family, and end-to-end tests
//! against the testkit emulator. Fixtures in `tests/fixtures/` follow the shapes in
//! `shared/api/opentext-orangelogic.md` §2.

mod auth;
mod common;
mod datatable;
mod emulator;
mod envelopes;
mod links;
mod metrics;
mod search;
mod upload;
