//! The metric names and labels that ingress, workers and stats publish (Prometheus rendering).
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::Envelope;
use chatport_core::{EventId, Outcome};
use chatport_runtime::ingress::{
    Flows, IngressState, ParseFailure, VerifyError, WebhookAdapter, WebhookBatch, WebhookRequest,
    router,
};
use chatport_runtime::worker::{Handler, RetryPolicy, WorkerConfig, WorkerPool, drain};
use chatport_runtime::{Outbox, SqliteStore, StoredEvent};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// Accepts bodies carrying `x-token: ok`; each body line is one event id.
struct TokenAdapter;

impl WebhookAdapter for TokenAdapter {
    fn source(&self) -> &str {
        "metered"
    }
    fn verify(&self, request: &WebhookRequest<'_>, _body: &[u8]) -> Result<(), VerifyError> {
        match request.headers.get("x-token").map(|v| v.as_bytes()) {
            Some(b"ok") => Ok(()),
            Some(_) => Err(VerifyError::Mismatch),
            None => Err(VerifyError::Missing("x-token".into())),
        }
    }
    fn parse(&self, body: &[u8], _at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure> {
        let text = std::str::from_utf8(body).map_err(|e| ParseFailure::new(e.to_string()))?;
        Ok(text
            .lines()
            .map(|id| Envelope::new(EventId::new(id), "metered", "line", id.as_bytes().to_vec()))
            .collect::<Vec<_>>()
            .into())
    }
}

struct RejectBad;

#[async_trait]
impl Handler for RejectBad {
    async fn handle(&self, event: &StoredEvent) -> Outcome {
        if event.event_id.as_str().starts_with("bad") {
            Outcome::Rejected {
                reason: "bad".into(),
            }
        } else {
            Outcome::delivered()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_published_with_their_labels() {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let outbox: Arc<dyn Outbox> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let app = router(IngressState::new(Arc::clone(&outbox)).route(
        "/hook",
        Arc::new(TokenAdapter),
        Flows::one("M1"),
    ));
    let server = tokio::spawn(chatport_runtime::ingress::serve(
        listener,
        app,
        shutdown.clone(),
    ));
    let client = reqwest::Client::new();
    for (token, body) in [("ok", "a1\nbad1"), ("ok", "a1"), ("nope", "a2")] {
        client
            .post(&url)
            .header("x-token", token)
            .body(body)
            .send()
            .await
            .unwrap();
    }
    let pool = WorkerPool::spawn(
        Arc::clone(&outbox),
        Arc::new(RejectBad),
        WorkerConfig::default()
            .poll_interval(Duration::from_millis(10))
            .retry(RetryPolicy::new(vec![Duration::from_millis(10)], 3)),
        shutdown.clone(),
    );
    let stats = drain(outbox.as_ref(), Duration::from_secs(30))
        .await
        .unwrap();
    stats.record_metrics();
    shutdown.cancel();
    pool.join().await;
    server.await.unwrap().unwrap();

    let text = prometheus.render();
    for expected in [
        r#"chatport_webhooks_received_total{source="metered"} 3"#,
        r#"chatport_webhooks_rejected_total{source="metered",reason="signature"} 1"#,
        r#"chatport_events_received_total{source="metered",kind="line"} 3"#,
        r#"chatport_events_duplicate_total{source="metered"} 1"#,
        r#"chatport_delivery_attempts_total{flow="M1"} 2"#,
        r#"chatport_deliveries_total{flow="M1",outcome="delivered"} 1"#,
        r#"chatport_deliveries_total{flow="M1",outcome="rejected"} 1"#,
        r#"chatport_outbox_rows{status="dead"} 1"#,
        r#"chatport_outbox_rows{status="done"} 1"#,
        r#"chatport_outbox_flow_rows{flow="M1",status="done"} 1"#,
        "chatport_outbox_oldest_pending_seconds 0",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
}
