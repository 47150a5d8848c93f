//! `GET /metrics` for `chatport serve`: the process-wide Prometheus recorder rendered as text
//! (exposition format 0.0.4), with the outbox gauges refreshed from the store on every scrape.

use axum::Router;
use axum::http::header;
use axum::routing::get;
use std::sync::Arc;

use chatport_runtime::Outbox;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the Prometheus recorder for this process.
///
/// # Errors
/// When a recorder is already installed (the text of the exporter's error).
pub(crate) fn install() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the Prometheus recorder: {e}"))
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
