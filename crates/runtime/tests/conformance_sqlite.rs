//! The store conformance suite against `SqliteStore`, on a file in a temporary directory (the real
//! configuration) and in memory.

mod file {
    use std::sync::Arc;

    use chatport_runtime::{SqliteOptions, SqliteStore};
    use tempfile::TempDir;

    async fn fresh() -> (Arc<SqliteStore>, TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(dir.path().join("outbox.db"), SqliteOptions::default())
            .expect("open the store");
        (Arc::new(store), dir)
    }

    chatport_runtime::outbox_conformance_tests!(fresh);
}

mod memory {
    use std::sync::Arc;

    use chatport_runtime::SqliteStore;

    async fn fresh() -> (Arc<SqliteStore>, ()) {
        let store = SqliteStore::open_in_memory().expect("open the store");
        (Arc::new(store), ())
    }

    chatport_runtime::outbox_conformance_tests!(fresh);
}
