//! Scratch schemas on the PostgreSQL server named by `CHATPORT_TEST_POSTGRES_URL`: one per test,
//! dropped (with everything in it) when its guard goes away, even when the test panics. Shared by
//! several test crates, each using a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::sync::Arc;

use chatport_runtime::{PgOptions, PgStore};
use secrecy::SecretString;

/// The variable naming the test server, e.g. `postgres://chatport:chatport@127.0.0.1:5432/chatport_test`.
pub(crate) const URL_VAR: &str = "CHATPORT_TEST_POSTGRES_URL";

/// The server URL, or `None` after printing a skip line for `test` to the real stderr (libtest
/// does not capture direct writes, so the skip shows even for a passing test). Under CI (`CI` set
/// and not `false`/`0`) a missing URL fails the test instead: CI must run the PostgreSQL tests.
/// (The same rule as `chatport_testkit::postgres::test_url`; the runtime's tests do not depend on
/// the testkit.)
pub(crate) fn url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| {
            let v = v.trim();
            !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
        }) =>
        {
            panic!("{test}: CI is set but {URL_VAR} is not: the PostgreSQL tests must run in CI")
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: PostgreSQL test {test}: set {URL_VAR} to run it"
            );
            None
        }
    }
}

/// A schema of its own for one test; dropped with `DROP SCHEMA … CASCADE` on drop.
#[derive(Debug)]
pub(crate) struct ScratchSchema {
    url: String,
    name: String,
}

impl ScratchSchema {
    /// A fresh, unique schema name on the server at `url` (created by the store's migration).
    pub(crate) fn new(url: String) -> Self {
        let name = format!("chatport_t_{}", uuid::Uuid::new_v4().simple());
        Self { url, name }
    }

    /// The schema name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The server URL as a secret.
    pub(crate) fn secret_url(&self) -> SecretString {
        SecretString::from(self.url.clone())
    }

    /// Connects a store (one pool) to this schema.
    pub(crate) async fn store(&self, options: PgOptions) -> PgStore {
        PgStore::connect(&self.secret_url(), options.schema(self.name.clone()))
            .await
            .unwrap_or_else(|e| panic!("connect to {URL_VAR}: {e}"))
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: do the async clean-up on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("clean-up runtime");
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("connect for clean-up");
                let task = tokio::spawn(connection);
                // Never hang a test run on a lock some leaked session still holds.
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                    ))
                    .await
                    .expect("drop the scratch schema");
                drop(client);
                let _ = task.await;
            });
        });
        if cleanup.join().is_err() && !std::thread::panicking() {
            panic!("dropping scratch schema {} failed", self.name);
        }
    }
}

/// A fresh store in a fresh schema, or `None` (after a visible skip line) without a server.
pub(crate) async fn fresh(test: &str) -> Option<(Arc<PgStore>, ScratchSchema)> {
    let schema = ScratchSchema::new(url(test)?);
    let store = schema.store(PgOptions::default().max_connections(4)).await;
    Some((Arc::new(store), schema))
}
