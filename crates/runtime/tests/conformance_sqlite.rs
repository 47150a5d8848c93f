//! The store conformance suite against `SqliteStore`, on a file (the real configuration) and in
//! memory.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod file {
    use std::sync::Arc;

    use chatport_runtime::{SqliteOptions, SqliteStore};

    async fn fresh() -> Arc<SqliteStore> {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("conformance-{}.db", uuid::Uuid::new_v4().simple()));
        Arc::new(SqliteStore::open(path, SqliteOptions::default()).unwrap())
    }

    chatport_runtime::outbox_conformance_tests!(fresh);
}

mod memory {
    use std::sync::Arc;

    use chatport_runtime::SqliteStore;

    async fn fresh() -> Arc<SqliteStore> {
        Arc::new(SqliteStore::open_in_memory().unwrap())
    }

    chatport_runtime::outbox_conformance_tests!(fresh);
}
