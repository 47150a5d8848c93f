//! wiremock tests of the CMS client: token flow, retries, error bodies, instance endpoints.
//! Fixtures in `tests/fixtures/` are modelled on the shapes in `shared/api/opentext-orangelogic.md` §1.

mod auth;
mod common;
mod errors;
mod instances;
