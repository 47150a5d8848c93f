//! `GET /metrics` for `chatport serve`: the process-wide Prometheus recorder rendered as text
//! (exposition format 0.0.4), with the outbox gauges refreshed from the store on every scrape.

use axum::Router;
use axum::http::header;
use axum::routing::get;
use std::sync::Arc;

use chatport_core::telemetry;
use chatport_runtime::Outbox;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Bucket bounds (seconds) of `chatport_connector_request_duration_seconds`: from a fast
/// loopback answer to a vendor call close to the clients' 30 s default timeout.
const CONNECTOR_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the Prometheus recorder for this process: the connector request durations as a
/// histogram with [`CONNECTOR_DURATION_BUCKETS`] (other histograms stay summaries), and the
/// connector series described.
///
/// # Errors
/// When a recorder is already installed (the text of the exporter's error).
pub(crate) fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(telemetry::REQUEST_DURATION_SECONDS.to_owned()),
            CONNECTOR_DURATION_BUCKETS,
        )
        .map_err(|e| format!("cannot configure the Prometheus recorder: {e}"))?
        .install_recorder()
        .map_err(|e| format!("cannot install the Prometheus recorder: {e}"))?;
    telemetry::describe();
    Ok(handle)
}

/// The `/metrics` route. Each scrape reads the outbox stats (row counts per status and flow, the
/// oldest pending age) into gauges, runs the recorder's upkeep, and renders everything.
pub(crate) fn router(handle: PrometheusHandle, store: Arc<dyn Outbox>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            let store = store.clone();
            async move {
                match store.stats().await {
                    Ok(stats) => stats.record_metrics(),
                    Err(error) => tracing::warn!(%error, "metrics: outbox stats unavailable"),
                }
                handle.run_upkeep();
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    )
}
