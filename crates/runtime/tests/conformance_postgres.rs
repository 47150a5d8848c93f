//! The store conformance suite against `PgStore` (feature `postgres`), each case in a scratch
//! schema of its own on the server named by `CHATPORT_TEST_POSTGRES_URL`. Without that variable
//! every case prints a `SKIPPED:` line and passes; CI always sets it.
#![cfg(feature = "postgres")]

mod pg_support;

use std::sync::Arc;

use chatport_runtime::PgStore;
use pg_support::ScratchSchema;

async fn fresh() -> Option<(Arc<PgStore>, ScratchSchema)> {
    pg_support::fresh("conformance").await
}

chatport_runtime::outbox_conformance_tests!(optional: fresh);
