//! The PostgreSQL test server: tests that need one read its URL from
//! [`URL_VAR`] (`.ci/run` installs and starts a server and sets it).
//!
//! Without the variable a test skips itself with a `SKIPPED:` line on stderr — on a developer's
//! machine. Under CI (`CI` set to anything but `false` or `0`) a missing server is a failure, so a
//! CI run can never pass while silently skipping the PostgreSQL half of the suite.

use std::io::Write;

/// The variable naming the test server, e.g. `postgres://chatport:chatport@127.0.0.1:5432/chatport_test`.
pub const URL_VAR: &str = "CHATPORT_TEST_POSTGRES_URL";

/// Whether the process runs under CI: `CI` is set and is not `false` or `0`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
    })
}

/// The test server's URL for `test`; `None` (after a `SKIPPED:` line written straight to stderr,
/// which libtest does not capture) when [`URL_VAR`] is unset or blank.
///
/// # Panics
/// Under CI ([`under_ci`]) when [`URL_VAR`] is unset: CI must run the PostgreSQL tests.
pub fn test_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if under_ci() => panic!(
            "{test}: CI is set but {URL_VAR} is not: the PostgreSQL tests must run in CI \
             (.ci/run installs and starts a server and sets it)"
        ),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: PostgreSQL test {test}: set {URL_VAR} to run it"
            );
            None
        }
    }
}
