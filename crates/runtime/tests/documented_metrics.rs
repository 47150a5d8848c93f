//! The metrics table of `docs/operations.md` is the truth about the series chatport records, and
//! the operator's kit under `deploy/` (Grafana dashboard, Prometheus alert rules) queries only
//! those series:
//!
//! 1. every `chatport_*` series recorded anywhere in `crates/*/src` (the `metrics` macros, with
//!    the name as a literal or a `const`) is in the table, and every row of the table is recorded
//!    somewhere;
//! 2. every `reason` the ingress counts a rejection under is documented, and the other way round;
//! 3. a run of the runtime (ingress, workers, stats) under `metrics-util`'s debugging recorder
//!    records each of its series under a documented name with exactly the documented label keys;
//! 4. every series the dashboard and the alert rules name is documented, with documented labels.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{Envelope, EventId, Outcome};
use chatport_runtime::ingress::{
    Flows, IngressState, ParseFailure, VerifyError, WebhookAdapter, WebhookBatch, WebhookRequest,
    router, serve,
};
use chatport_runtime::worker::{Handler, RetryPolicy, WorkerConfig, WorkerPool, drain};
use chatport_runtime::{Outbox, SqliteStore, StoredEvent};
use chrono::{DateTime, Utc};
use metrics_util::debugging::DebuggingRecorder;
use tokio_util::sync::CancellationToken;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = workspace().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A documented series: its type cell and its label keys.
#[derive(Debug)]
struct Series {
    kind: String,
    labels: BTreeSet<String>,
    /// Documented values per label key (the code spans in parentheses after the key).
    values: BTreeMap<String, BTreeSet<String>>,
}

/// The code spans of `cell` outside parentheses (label keys), and those inside the parentheses
/// following each key (its values).
fn spans(cell: &str) -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
    let mut keys = Vec::new();
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut depth = 0_u32;
    let mut rest = cell;
    while let Some(c) = rest.chars().next() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '`' => {
                let end = rest[1..].find('`').unwrap() + 1;
                let span = rest[1..end].to_owned();
                if depth == 0 {
                    keys.push(span);
                } else if let Some(key) = keys.last() {
                    values.entry(key.clone()).or_default().insert(span);
                }
                rest = &rest[end + 1..];
                continue;
            }
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    (keys, values)
}

/// The rows of the `## Metrics` table of docs/operations.md.
fn documented() -> BTreeMap<String, Series> {
    let doc = read("docs/operations.md");
    let section = doc
        .split("\n## Metrics\n")
        .nth(1)
        .expect("docs/operations.md has a `## Metrics` section");
    let section = section.split("\n## ").next().unwrap();
    let mut series = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `chatport_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_owned();
        let (labels, values) = spans(cells[3]);
        let previous = series.insert(
            name.clone(),
            Series {
                kind: cells[2].to_owned(),
                labels: labels.into_iter().collect(),
                values,
            },
        );
        assert!(previous.is_none(), "{name} documented twice");
    }
    assert!(series.len() >= 10, "table not found: {series:?}");
    series
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string value of `const NAME: &str = "...";` in `source`, if any.
fn const_value(source: &str, name: &str) -> Option<String> {
    let decl = format!("const {name}: &str = \"");
    let start = source.find(&decl)? + decl.len();
    let end = source[start..].find('"')? + start;
    Some(source[start..end].to_owned())
}

/// Every `chatport_*` series name the library and binary sources record, with the file.
fn recorded_in_sources() -> BTreeMap<String, PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let src = entry.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 20, "sources not found");
    let mut names = BTreeMap::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for macro_call in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in source.match_indices(macro_call) {
                let arg = source[at + macro_call.len()..].trim_start();
                let name = if let Some(literal) = arg.strip_prefix('"') {
                    literal[..literal.find('"').unwrap()].to_owned()
                } else {
                    let ident: String = arg
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    let ident = ident.rsplit("::").next().unwrap().to_owned();
                    match const_value(&source, &ident) {
                        Some(value) => value,
                        None => panic!("{}: metric name `{ident}` not resolved", file.display()),
                    }
                };
                if name.starts_with("chatport_") {
                    names.insert(name, file.clone());
                }
            }
        }
    }
    names
}

#[test]
fn the_documented_series_are_the_recorded_series() {
    let documented = documented();
    let recorded = recorded_in_sources();
    let undocumented: Vec<_> = recorded
        .iter()
        .filter(|(name, _)| !documented.contains_key(*name))
        .collect();
    assert!(
        undocumented.is_empty(),
        "recorded but not in docs/operations.md: {undocumented:?}"
    );
    let unrecorded: Vec<_> = documented
        .keys()
        .filter(|name| !recorded.contains_key(*name))
        .collect();
    assert!(
        unrecorded.is_empty(),
        "documented but recorded nowhere: {unrecorded:?}"
    );
}

#[test]
fn every_ingress_rejection_reason_is_documented() {
    let ingress = read("crates/runtime/src/ingress.rs");
    let mut counted = BTreeSet::new();
    for (at, _) in ingress.match_indices("rejected(&source, \"") {
        let rest = &ingress[at + "rejected(&source, \"".len()..];
        counted.insert(rest[..rest.find('"').unwrap()].to_owned());
    }
    // `too_large` is counted through its helper.
    for (at, _) in ingress.match_indices("rejected(source, \"") {
        let rest = &ingress[at + "rejected(source, \"".len()..];
        counted.insert(rest[..rest.find('"').unwrap()].to_owned());
    }
    assert!(counted.contains("memory") && counted.contains("signature"));
    let documented = documented();
    let reasons = &documented["chatport_webhooks_rejected_total"].values["reason"];
    assert_eq!(&counted, reasons);
}

/// Accepts bodies carrying `x-token: ok`; each body line is one event id.
struct TokenAdapter;

impl WebhookAdapter for TokenAdapter {
    fn source(&self) -> &str {
        "documented"
    }
    fn verify(&self, request: &WebhookRequest<'_>, _body: &[u8]) -> Result<(), VerifyError> {
        match request.headers.get("x-token").map(|v| v.as_bytes()) {
            Some(b"ok") => Ok(()),
            _ => Err(VerifyError::Mismatch),
        }
    }
    fn parse(&self, body: &[u8], _at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure> {
        let text = std::str::from_utf8(body).map_err(|e| ParseFailure::new(e.to_string()))?;
        Ok(text
            .lines()
            .map(|id| {
                Envelope::new(
                    EventId::new(id),
                    "documented",
                    "line",
                    id.as_bytes().to_vec(),
                )
            })
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
async fn a_run_records_documented_series_with_the_documented_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let outbox: Arc<dyn Outbox> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let app = router(IngressState::new(Arc::clone(&outbox)).route(
        "/hook",
        Arc::new(TokenAdapter),
        Flows::one("D1"),
    ));
    let server = tokio::spawn(serve(listener, app, shutdown.clone()));
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

    let documented = documented();
    let mut seen = BTreeSet::new();
    for (key, _, _, _) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let name = key.name().to_owned();
        let series = documented
            .get(&name)
            .unwrap_or_else(|| panic!("{name} recorded but not documented"));
        let labels: BTreeSet<String> = key.labels().map(|l| l.key().to_owned()).collect();
        assert_eq!(labels, series.labels, "labels of {name}");
        for label in key.labels() {
            if let Some(values) = series.values.get(label.key()) {
                assert!(
                    values.contains(label.value()),
                    "{name}{{{}=\"{}\"}} is not a documented value",
                    label.key(),
                    label.value()
                );
            }
        }
        seen.insert(name);
    }
    // The run did record the ingress, worker and stats series (so the loop above checked them).
    for name in [
        "chatport_webhooks_received_total",
        "chatport_webhooks_rejected_total",
        "chatport_events_received_total",
        "chatport_events_duplicate_total",
        "chatport_ingress_body_bytes_in_use",
        "chatport_delivery_attempts_total",
        "chatport_deliveries_total",
        "chatport_outbox_rows",
        "chatport_outbox_flow_rows",
        "chatport_outbox_oldest_pending_seconds",
        "chatport_claim_batch_size",
        "chatport_store_batch_size",
    ] {
        assert!(
            seen.contains(name),
            "{name} not recorded by the run: {seen:?}"
        );
    }
}

/// Every `chatport_*` series a PromQL text names, with the label keys of its `{...}` matcher.
/// Histogram and summary suffixes (`_bucket`, `_sum`, `_count`) are mapped to their series.
fn queried(text: &str, documented: &BTreeMap<String, Series>) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("chatport_") {
        if at > 0 {
            let before = text[..at].chars().next_back().unwrap();
            if before.is_alphanumeric() || before == '_' {
                continue;
            }
        }
        let rest = &text[at..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let mut series = name.clone();
        if !documented.contains_key(&series) {
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix)
                    && documented.get(base).is_some_and(|s| {
                        s.kind.starts_with("histogram")
                            || (s.kind.starts_with("summary") && suffix != "_bucket")
                    })
                {
                    series = base.to_owned();
                }
            }
        }
        let mut labels = Vec::new();
        let after = &rest[name.len()..];
        if let Some(matcher) = after.strip_prefix('{') {
            let matcher = &matcher[..matcher.find('}').unwrap()];
            for part in matcher.split(',') {
                let key: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !key.is_empty() {
                    labels.push(key);
                }
            }
        }
        out.push((series, labels));
    }
    out
}

#[test]
fn the_dashboard_and_the_alert_rules_query_only_documented_series() {
    let documented = documented();
    let dashboard = read("deploy/grafana/chatport-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut expressions = Vec::new();
    collect_exprs(&dashboard, &mut expressions);
    assert!(
        expressions.len() >= 8,
        "dashboard expressions: {expressions:?}"
    );
    let rules = read("deploy/prometheus/chatport-alerts.yml");
    assert!(rules.matches("alert: ").count() >= 5, "alert rules");
    let mut names = BTreeSet::new();
    for text in expressions
        .iter()
        .map(String::as_str)
        .chain([rules.as_str()])
    {
        for (series, labels) in queried(text, &documented) {
            let doc = documented
                .get(&series)
                .unwrap_or_else(|| panic!("`{series}` is queried but not documented"));
            for label in labels {
                // `le` and `quantile` are the exporter's own labels of histograms and summaries.
                assert!(
                    doc.labels.contains(&label) || label == "le" || label == "quantile",
                    "`{series}` has no documented label `{label}`"
                );
            }
            names.insert(series);
        }
    }
    for required in [
        "chatport_outbox_oldest_pending_seconds",
        "chatport_outbox_rows",
        "chatport_webhooks_rejected_total",
        "chatport_connector_requests_total",
    ] {
        assert!(names.contains(required), "the kit does not use {required}");
    }
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
