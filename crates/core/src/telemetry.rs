//! Connector request metrics, shared by the four client crates so that they publish the same
//! series with the same labels (through the [`metrics`] facade: without an installed recorder
//! nothing is recorded and the cost is a few atomic loads).
//!
//! | Series | Type | Labels |
//! |---|---|---|
//! | [`REQUESTS_TOTAL`] `chatport_connector_requests_total` | counter | `connector`, `operation`, `class` |
//! | [`REQUEST_DURATION_SECONDS`] `chatport_connector_request_duration_seconds` | histogram (seconds) | `connector`, `operation` |
//!
//! - `connector`: `whatsapp`, `opentext`, `orangelogic`, `creatio`;
//! - `operation`: a small fixed set per connector naming the endpoint family (e.g. `messages`,
//!   `instances_post`, `search`, `odata_get`, `token`), never an id, a phone number or any
//!   other request data: labels are `&'static str` chosen by the client code, so the cardinality is
//!   bounded at compile time;
//! - `class`: `ok`, or the [`ErrorClass::as_str`] of the failure (`transient`, `throttled`,
//!   `server`, `auth`, `permanent`).
//!
//! One count per **attempt**: every in-client retry counts again. The duration runs from the
//! start of the attempt until its answer was read and classified.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::{Classify, ErrorClass};

/// Counter of connector HTTP requests (attempts): labels `connector`, `operation`, `class`.
pub const REQUESTS_TOTAL: &str = "chatport_connector_requests_total";
/// Histogram of connector request durations in seconds: labels `connector`, `operation`.
pub const REQUEST_DURATION_SECONDS: &str = "chatport_connector_request_duration_seconds";

/// The `class` label of an attempt: `ok` for a success, else the class name.
pub fn class_label(class: Option<ErrorClass>) -> &'static str {
    class.map_or("ok", ErrorClass::as_str)
}

/// Records one request attempt of `connector` / `operation` that ended with `class` (`None`:
/// success) after `elapsed`.
pub fn record_request(
    connector: &'static str,
    operation: &'static str,
    class: Option<ErrorClass>,
    elapsed: Duration,
) {
    metrics::counter!(
        REQUESTS_TOTAL,
        "connector" => connector,
        "operation" => operation,
        "class" => class_label(class),
    )
    .increment(1);
    metrics::histogram!(
        REQUEST_DURATION_SECONDS,
        "connector" => connector,
        "operation" => operation,
    )
    .record(elapsed.as_secs_f64());
}

/// Runs one request attempt and records it: the class of its error (or `ok`) and its duration.
///
/// ```
/// # async fn demo() {
/// use chatport_core::{ErrorClass, telemetry};
/// let answer: Result<u32, ErrorClass> =
///     telemetry::observe("opentext", "instances_get", async { Ok(7) }).await;
/// assert_eq!(answer, Ok(7));
/// # }
/// ```
pub async fn observe<T, E, F>(
    connector: &'static str,
    operation: &'static str,
    attempt: F,
) -> Result<T, E>
where
    E: Classify,
    F: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let result = attempt.await;
    record_request(
        connector,
        operation,
        result.as_ref().err().map(Classify::class),
        started.elapsed(),
    );
    result
}

/// Describes both series for the installed recorder (help text and unit). Call once after
/// installing a recorder; harmless without one.
pub fn describe() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "Vendor HTTP requests made by the connectors, one per attempt, by connector, operation and outcome class."
    );
    metrics::describe_histogram!(
        REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Duration of vendor HTTP request attempts by connector and operation."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(class_label(None), "ok");
        assert_eq!(class_label(Some(ErrorClass::Permanent)), "permanent");
        assert_eq!(
            class_label(Some(ErrorClass::Throttled { retry_after: None })),
            "throttled"
        );
    }
}
