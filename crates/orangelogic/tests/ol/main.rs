//! wiremock tests of the OrangeDAM client, one module per endpoint family. Fixtures in
//! `tests/fixtures/` follow the shapes in `shared/api/opentext-orangelogic.md` §2.

mod auth;
mod common;
mod datatable;

mod envelopes;
mod links;
mod search;
mod upload;
