//! `chatport bench e2e`: sustained throughput of the whole service, measured end to end.
//!
//! In one process it starts the Graph API and CMS emulators (every vendor call answered after
//! `--latency-ms` more, through the testkit's `Chaos::slow`), the real service (`Service`: ingress,
//! store, workers and flows, configured like `chatport serve`) on loopback with the SQLite store in a
//! temporary directory or (`--store postgres`) a fresh schema on the server named by
//! `--postgres-url-env`, and then:
//!
//! 1. optionally (`--baseline-secs`) the closed-loop ingest load of `chatport bench ingest`
//!    (concurrency 64) against the same service: the **ingest-only** figure of the same run, and
//!    waits until its backlog is delivered;
//! 2. posts signed WhatsApp deliveries (the `bench ingest` mix: 70 % one message, 10 % 2–5
//!    messages, 20 % a status update) at a **fixed offered rate** `--rate` per second for
//!    `--duration` seconds (open loop: a slow answer does not slow the sender; at most 1,024
//!    requests in flight, a delivery beyond that counts as the error `client saturated`);
//! 3. samples the outbox every `--sample-ms` (backlog = pending + in flight), waits up to
//!    `--drain-secs` for the backlog to be delivered, and reports: offered and acknowledged
//!    events, **delivered/s sustained** (rows done during the offered window / its length), the
//!    backlog samples, receipt-to-done latency of every done row (p50, p90, p99, max; the row's
//!    resolve time minus its `received_at`), errors, and CPU per delivered event (the whole
//!    process — service, emulators and load generator — from `/proc/self/stat`, Linux only).
//!
//! `--flows none` routes messages to no flow (statuses are still recorded): the store and
//! workers alone. `--flows o1` runs O1 (case intake in the CMS, reply on WhatsApp) and the status
//! recorder, with the CMS client's limiter off (`requests_per_second = 0`, as the emulator allows).
//! `--knee` steps the offered rate up by `--step` from `--rate` to `--max-rate` (each step
//! `--duration` seconds, drained before the next) and stops at the first step whose backlog grew
//! (more than half a second of offered events left at the end of the window).
//!
//! `--replicas N` (PostgreSQL only) starts N services on one schema, each with its own listener,
//! connection pool, workers and flows, as N `chatport serve` processes sharing a database would
//! be (they share this process's CPUs, as replicas on one machine share its cores). Deliveries are
//! offered round-robin to the replicas; the report counts what each acknowledged. The ingest-only
//! baseline goes to the first replica.
//!
//! Bounded: at most 20,000 deliveries/s offered, one hour per step, 8 replicas.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::{Service, Stores};
use chatport_runtime::{EventFilter, EventStatus, Outbox};
use chatport_testkit::chaos::Chaos;
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::bench::{IngestArgs, Latency, Mix, Prepared, ms};

const MAX_RATE: f64 = 20_000.0;
const MAX_DURATION_SECS: f64 = 3600.0;
const MAX_IN_FLIGHT: usize = 1024;
const MAX_REPLICAS: usize = 8;
const MAX_PREBUILT: u64 = 240_000;
const APP_SECRET: &str = "bench-app-secret-7d41";
const PG_URL_VAR: &str = "BENCH_POSTGRES_URL";

/// Which store the service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StoreKind {
    /// SQLite in a temporary directory.
    Sqlite,
    /// A fresh schema on the PostgreSQL server of `--postgres-url-env`.
    Postgres,
}

/// Which flows handle the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Flows {
    /// No flow: messages are routed to none, statuses recorded (no vendor HTTP at all).
    None,
    /// O1 case intake (CMS + WhatsApp reply) and the status recorder.
    O1,
}

/// `chatport bench e2e`.
#[derive(Debug, Args)]
pub(crate) struct E2eArgs {
    /// Deliveries offered per second (the first step with --knee), at most 20,000.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds of offered load (per step with --knee), at most 3600.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Milliseconds added to every vendor call of the emulators.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The store: sqlite (temporary directory) or postgres.
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    store: StoreKind,
    /// The environment variable holding the PostgreSQL URL for --store postgres (a fresh schema
    /// `bench_<random>` is created in it and left for inspection).
    #[arg(long, default_value = PG_URL_VAR)]
    postgres_url_env: String,
    /// The flows that handle the events.
    #[arg(long, value_enum, default_value_t = Flows::None)]
    flows: Flows,
    /// Services started on the one store (PostgreSQL only, at most 8); deliveries are offered to
    /// them round-robin.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// `[workers] concurrency` of the service (default: the service's default).
    #[arg(long)]
    concurrency: Option<usize>,
    /// `[workers] claim_batch` of the service: most events claimed per store transaction
    /// (default: the service's default). `--concurrency 8 --claim-batch 1 --resolve-batch 1`
    /// is the configuration before issue 13.
    #[arg(long)]
    claim_batch: Option<usize>,
    /// `[workers] resolve_batch` of the service: most outcomes recorded per store transaction
    /// (default: the service's default).
    #[arg(long)]
    resolve_batch: Option<usize>,
    /// Seconds of closed-loop ingest (concurrency 64) before the run: the ingest-only baseline
    /// of the same run. 0 skips it.
    #[arg(long, default_value_t = 0.0)]
    baseline_secs: f64,
    /// Milliseconds between two backlog samples.
    #[arg(long, default_value_t = 500)]
    sample_ms: u64,
    /// Seconds to wait after the offered window for the backlog to be delivered.
    #[arg(long, default_value_t = 120)]
    drain_secs: u64,
    /// Step the offered rate up until the backlog grows.
    #[arg(long)]
    knee: bool,
    /// Factor between two steps of --knee.
    #[arg(long, default_value_t = 1.25)]
    step: f64,
    /// Highest offered rate of --knee.
    #[arg(long, default_value_t = 20_000.0)]
    max_rate: f64,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
}

/// One backlog sample.
#[derive(Debug, Clone, Copy, Serialize)]
struct Sample {
    /// Seconds since the offered window started.
    t: f64,
    /// Pending plus in-flight rows.
    backlog: u64,
    /// Done rows.
    done: u64,
}

/// The result of one offered rate.
#[derive(Debug, Serialize)]
struct StepReport {
    offered_rate: f64,
    duration_s: f64,
    offered_deliveries: u64,
    offered_events: u64,
    acknowledged_events: u64,
    delivered_per_s: f64,
    backlog_end: u64,
    backlog_grew: bool,
    drained: bool,
    drain_s: f64,
    latency_ms: Option<Latency>,
    ack_latency_ms: Latency,
    errors: BTreeMap<String, u64>,
    /// Events acknowledged by each replica, in start order.
    acknowledged_by_replica: Vec<u64>,
    dead: u64,
    cpu_ms_per_delivered: Option<f64>,
    /// The machine's 1-minute load average (`/proc/loadavg`) when the window started and ended.
    load_average: Option<[f64; 2]>,
    samples: Vec<Sample>,
}

/// The `[workers]` settings the service ran with.
#[derive(Debug, Serialize)]
struct WorkersReport {
    concurrency: usize,
    claim_batch: usize,
    resolve_batch: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    store: StoreKind,
    flows: Flows,
    replicas: usize,
    latency_ms_per_vendor_call: u64,
    cpus: usize,
    workers: WorkersReport,
    ingest_only_per_s: Option<f64>,
    steps: Vec<StepReport>,
    knee_rate: Option<f64>,
}

pub(crate) async fn run(args: &E2eArgs) -> ExitCode {
    match bench(args).await {
        Ok(report) => {
            if args.json {
                match serde_json::to_string(&report) {
                    Ok(json) => println!("{json}"),
                    Err(error) => {
                        eprintln!("chatport bench e2e: {error}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", text(&report));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("chatport bench e2e: {error}");
            ExitCode::from(1)
        }
    }
}

fn validate(args: &E2eArgs) -> Result<(), String> {
    if !(args.rate > 0.0 && args.rate <= MAX_RATE) {
        return Err(format!("--rate must be more than 0 and at most {MAX_RATE}"));
    }
    if !(args.duration > 0.0 && args.duration <= MAX_DURATION_SECS) {
        return Err(format!(
            "--duration must be more than 0 and at most {MAX_DURATION_SECS} seconds"
        ));
    }
    if args.knee && !(args.step > 1.0 && args.max_rate <= MAX_RATE) {
        return Err(format!(
            "--step must be more than 1 and --max-rate at most {MAX_RATE}"
        ));
    }
    if args.sample_ms == 0 {
        return Err("--sample-ms must be at least 1".into());
    }
    if !(1..=MAX_REPLICAS).contains(&args.replicas) {
        return Err(format!("--replicas must be 1 to {MAX_REPLICAS}"));
    }
    if args.replicas > 1 && args.store != StoreKind::Postgres {
        return Err(
            "--replicas above 1 needs --store postgres (replicas share a PostgreSQL schema)".into(),
        );
    }
    Ok(())
}

/// The service configuration of the bench (`${...}` filled from the emulators).
fn config_toml(args: &E2eArgs, schema: &str, dir: &std::path::Path) -> String {
    let store = match args.store {
        StoreKind::Sqlite => format!(
            "backend = \"sqlite\"\npath = {:?}\n",
            dir.join("bench.sqlite").display().to_string()
        ),
        StoreKind::Postgres => {
            format!("backend = \"postgres\"\nurl = \"${{{PG_URL_VAR}}}\"\nschema = \"{schema}\"\n")
        }
    };
    let workers: String = [
        ("concurrency", args.concurrency),
        ("claim_batch", args.claim_batch),
        ("resolve_batch", args.resolve_batch),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.map(|n| format!("{key} = {n}\n")))
    .collect();
    let o1 = match args.flows {
        Flows::None => "\n[flows.o1]\nenabled = false\n".to_owned(),
        Flows::O1 => r#"
[opentext]
auth_base = "${OPENTEXT_URL}"
cms_base = "${OPENTEXT_URL}/cms"
css_base = "${OPENTEXT_URL}"
tenant_id = "${OPENTEXT_TENANT}"
client_id = "${OPENTEXT_CLIENT_ID}"
client_secret = "${OPENTEXT_CLIENT_SECRET}"
requests_per_second = 0

[classifier]
default_issue_type = "general"
default_priority = "normal"
default_product_line = "unspecified"
default_region = "unknown"

[[classifier.issue_types]]
name = "billing"
keywords = ["invoice", "payment"]

[flows.o1]
enabled = true
case_category = "object"
case_type = "ca_support_case"
idempotency_property = "chatport_key"
default_queue = "general-support"
reference_prefix = "CASE-"
"#
        .to_owned(),
    };
    format!(
        r#"[service]
listen = "127.0.0.1:0"

[store]
{store}
[workers]
{workers}lease_secs = 60

[whatsapp]
api_base = "${{GRAPH_URL}}"
api_version = "v26.0"
access_token = "${{WHATSAPP_TOKEN}}"
app_secrets = ["${{WHATSAPP_APP_SECRET}}"]
verify_token = "${{WHATSAPP_VERIFY_TOKEN}}"
webhook_path = "/webhooks/whatsapp"
timeout_secs = 10
{o1}"#
    )
}

/// The 1-minute load average from `/proc/loadavg`; `None` elsewhere.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time of this process (user + system) from `/proc/self/stat`; `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture Rust supports.
    Some(Duration::from_millis((utime + stime) * 10))
}

async fn bench(args: &E2eArgs) -> Result<Report, String> {
    validate(args)?;
    let latency = Duration::from_millis(args.latency_ms);
    let slow = |seed| Chaos::seeded(seed).slow(1.0, latency);
    let mut graph = GraphEmulator::builder().enforce_window(false);
    let mut cms = CmsEmulator::builder().rate_limit_per_sec(None);
    if args.latency_ms > 0 {
        graph = graph.chaos(slow(1));
        cms = cms.chaos(slow(2));
    }
    let graph = graph
        .start()
        .await
        .map_err(|e| format!("Graph emulator: {e}"))?;
    let cms = cms
        .start()
        .await
        .map_err(|e| format!("CMS emulator: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let schema = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut vars = crate::demo::emulator_vars(&graph, &cms, APP_SECRET, "bench-verify-token");
    if args.store == StoreKind::Postgres {
        let url = std::env::var(&args.postgres_url_env)
            .map_err(|_| format!("set the PostgreSQL URL in ${}", args.postgres_url_env))?;
        vars.insert(PG_URL_VAR.to_owned(), url);
    }
    let config = Config::from_toml_str(&config_toml(args, &schema, dir.path()))
        .map_err(|e| format!("bench configuration: {e}"))?;
    // One service per replica, started one after the other (the first creates the schema).
    let mut services = Vec::with_capacity(args.replicas);
    let mut urls = Vec::with_capacity(args.replicas);
    let mut outbox = None;
    for replica in 0..args.replicas {
        let stores = Stores::open(&config.store, &vars)
            .await
            .map_err(|e| format!("store (replica {replica}): {e}"))?;
        outbox.get_or_insert_with(|| Arc::clone(&stores.outbox));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let service = Service::start(&config, &vars, stores, listener)
            .await
            .map_err(|e| format!("service (replica {replica}): {e}"))?;
        let url = format!(
            "http://{}{}",
            service.local_addr(),
            config.whatsapp.webhook_path
        );
        urls.push(reqwest::Url::parse(&url).map_err(|e| e.to_string())?);
        services.push(service);
    }
    let outbox = outbox.ok_or("no replica started")?;
    let url = urls.first().ok_or("no replica started")?.to_string();

    let ingest_only_per_s = if args.baseline_secs > 0.0 {
        let baseline = IngestArgs {
            url: url.clone(),
            concurrency: 64,
            duration: args.baseline_secs,
            max_requests: None,
            secret_env: String::new(),
            batch_percent: 10,
            prebuild: None,
            allow_remote: false,
            json: true,
        };
        let (summary, ..) = crate::bench::ingest_summary_with_secret(&baseline, APP_SECRET).await?;
        wait_drained(outbox.as_ref(), Duration::from_secs(args.drain_secs)).await?;
        Some(summary.throughput_per_s)
    } else {
        None
    };

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut steps = Vec::new();
    let mut knee_rate = None;
    let mut rate = args.rate;
    let mut run_id = chrono::Utc::now().timestamp_micros().unsigned_abs();
    loop {
        let step = offer(args, rate, run_id, &http, &urls, outbox.as_ref()).await?;
        let grew = step.backlog_grew;
        if !args.json {
            eprintln!(
                "offered {:.0}/s: delivered {:.1}/s, backlog at end {}",
                rate, step.delivered_per_s, step.backlog_end
            );
        }
        steps.push(step);
        if !args.knee {
            break;
        }
        if grew {
            break;
        }
        knee_rate = Some(rate);
        let next = (rate * args.step).round();
        if next > args.max_rate {
            break;
        }
        rate = next;
        run_id += 1;
    }
    for service in services {
        service.stop().await;
    }
    Ok(Report {
        store: args.store,
        flows: args.flows,
        replicas: args.replicas,
        latency_ms_per_vendor_call: args.latency_ms,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        workers: WorkersReport {
            concurrency: config.workers.concurrency,
            claim_batch: config.workers.claim_batch,
            resolve_batch: config.workers.resolve_batch,
        },
        ingest_only_per_s,
        steps,
        knee_rate,
    })
}

/// Waits until nothing is pending or in flight, or `timeout`; returns whether it drained.
async fn wait_drained(outbox: &dyn Outbox, timeout: Duration) -> Result<bool, String> {
    let stats = chatport_runtime::worker::drain(outbox, timeout)
        .await
        .map_err(|e| format!("outbox stats: {e}"))?;
    Ok(stats.is_drained())
}

/// What the sender tasks count.
#[derive(Default)]
struct Counters {
    acknowledged_events: AtomicU64,
    by_replica: Vec<AtomicU64>,
    errors: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn error(&self, kind: &str) {
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *errors.entry(kind.to_owned()).or_insert(0) += 1;
    }
}

/// Offers `rate` deliveries/s for `args.duration`, samples the backlog, drains, measures.
async fn offer(
    args: &E2eArgs,
    rate: f64,
    run_id: u64,
    http: &reqwest::Client,
    urls: &[reqwest::Url],
    outbox: &dyn Outbox,
) -> Result<StepReport, String> {
    let total = (rate * args.duration).round().max(1.0) as u64;
    let secret = APP_SECRET.as_bytes();
    let mut mix = Mix(run_id);
    let prebuilt = total.min(MAX_PREBUILT);
    let mut bodies = Vec::with_capacity(prebuilt as usize);
    for seq in 0..prebuilt {
        bodies.push(Prepared::build(secret, run_id, 0, seq, &mut mix, 10)?);
    }
    let mut bodies = bodies.into_iter();
    let before = outbox.stats().await.map_err(|e| e.to_string())?;
    let done_before = before.done;
    let dead_before = before.dead;
    let counters = Arc::new(Counters {
        by_replica: urls.iter().map(|_| AtomicU64::new(0)).collect(),
        ..Counters::default()
    });
    let ack_latency = Arc::new(std::sync::Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?,
    ));
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut senders = tokio::task::JoinSet::new();
    let mut samples = Vec::new();
    let mut offered_events = 0u64;
    let cpu_start = cpu_time();
    let load_start = load_average();
    // Every row of this step is received after this instant (the service stamps `received_at`
    // from the same clock); rows of the baseline or of earlier steps are received before it.
    let begin_utc = chrono::Utc::now();
    let begin = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let sample_every = Duration::from_millis(args.sample_ms);
    let mut next_sample = begin + sample_every;
    let sample = |samples: &mut Vec<Sample>, stats: chatport_runtime::OutboxStats| {
        samples.push(Sample {
            t: (begin.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            backlog: stats.pending + stats.in_flight,
            done: stats.done.saturating_sub(done_before),
        });
    };
    for seq in 0..total {
        let due = begin + interval.mul_f64(seq as f64);
        let now = Instant::now();
        if now >= next_sample {
            next_sample += sample_every;
            if let Ok(stats) = outbox.stats().await {
                sample(&mut samples, stats);
            }
        }
        if due > now {
            tokio::time::sleep_until(due.into()).await;
        }
        while senders.try_join_next().is_some() {}
        let next = match bodies.next() {
            Some(next) => next,
            None => Prepared::build(secret, run_id, 0, seq, &mut mix, 10)?,
        };
        offered_events += next.events;
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            counters.error("client saturated");
            continue;
        };
        let http = http.clone();
        let replica = usize::try_from(seq).unwrap_or(0) % urls.len().max(1);
        let Some(url) = urls.get(replica).cloned() else {
            return Err("no replica to offer to".into());
        };
        let counters = Arc::clone(&counters);
        let ack_latency = Arc::clone(&ack_latency);
        senders.spawn(async move {
            let _permit = permit;
            let sent = Instant::now();
            let answer = http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(chatport_whatsapp::webhook::SIGNATURE_HEADER, next.signature)
                .body(next.body)
                .send()
                .await;
            match answer {
                Ok(response) => {
                    let status = response.status();
                    let _ = response.bytes().await;
                    if status.is_success() {
                        counters
                            .acknowledged_events
                            .fetch_add(next.events, Ordering::Relaxed);
                        if let Some(count) = counters.by_replica.get(replica) {
                            count.fetch_add(next.events, Ordering::Relaxed);
                        }
                    } else {
                        counters.error(&format!("HTTP {}", status.as_u16()));
                    }
                }
                Err(error) if error.is_timeout() => counters.error("timeout"),
                Err(_) => counters.error("transport"),
            }
            let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            let _ = ack_latency
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .record(us.max(1));
        });
    }
    // The window ends when the last delivery is due; answers still on their way are awaited.
    let window_end = begin + Duration::from_secs_f64(args.duration);
    if let Some(left) = window_end.checked_duration_since(Instant::now()) {
        tokio::time::sleep(left).await;
    }
    let window = begin.elapsed().as_secs_f64();
    let load_end = load_average();
    let at_end = outbox.stats().await.map_err(|e| e.to_string())?;
    sample(&mut samples, at_end.clone());
    let delivered_in_window = at_end.done.saturating_sub(done_before);
    while senders.join_next().await.is_some() {}
    let backlog_end = at_end.pending + at_end.in_flight;
    let backlog_grew = backlog_end as f64 > (rate * 0.5).max(100.0);

    // Drain, sampling on the way.
    let drain_start = Instant::now();
    let drain_deadline = drain_start + Duration::from_secs(args.drain_secs);
    let drained = loop {
        let stats = outbox.stats().await.map_err(|e| e.to_string())?;
        let drained = stats.is_drained();
        sample(&mut samples, stats);
        if drained || Instant::now() >= drain_deadline {
            break drained;
        }
        tokio::time::sleep(sample_every).await;
    };
    let drain_s = drain_start.elapsed().as_secs_f64();
    let cpu = match (cpu_start, cpu_time()) {
        (Some(start), Some(end)) => Some(end.saturating_sub(start)),
        _ => None,
    };
    let after = outbox.stats().await.map_err(|e| e.to_string())?;
    let delivered_total = after.done.saturating_sub(done_before);

    // Receipt-to-done latency of the rows this step delivered.
    let done_rows = outbox
        .list(
            &EventFilter::new()
                .status(EventStatus::Done)
                .since(begin_utc),
            usize::try_from(after.done).unwrap_or(usize::MAX),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut e2e =
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| e.to_string())?;
    for row in &done_rows {
        let us = (row.updated_at - row.received_at)
            .num_microseconds()
            .unwrap_or(0)
            .max(1);
        let _ = e2e.record(u64::try_from(us).unwrap_or(1));
    }
    let latency_of = |h: &Histogram<u64>| Latency {
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
    };
    let ack = ack_latency
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let errors = counters
        .errors
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    Ok(StepReport {
        offered_rate: rate,
        duration_s: (window * 1000.0).round() / 1000.0,
        offered_deliveries: total,
        offered_events,
        acknowledged_events: counters.acknowledged_events.load(Ordering::Relaxed),
        delivered_per_s: ((delivered_in_window as f64 / window.max(1e-9)) * 10.0).round() / 10.0,
        backlog_end,
        backlog_grew,
        drained,
        drain_s: (drain_s * 1000.0).round() / 1000.0,
        latency_ms: (!e2e.is_empty()).then(|| latency_of(&e2e)),
        ack_latency_ms: latency_of(&ack),
        errors,
        acknowledged_by_replica: counters
            .by_replica
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect(),
        dead: after.dead.saturating_sub(dead_before),
        cpu_ms_per_delivered: cpu.filter(|_| delivered_total > 0).map(|cpu| {
            (cpu.as_secs_f64() * 1000.0 / delivered_total as f64 * 1000.0).round() / 1000.0
        }),
        load_average: load_start.zip(load_end).map(|(a, b)| [a, b]),
        samples,
    })
}

/// The human-readable report.
fn text(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "chatport bench e2e: store {:?} ({} replica(s)), flows {:?}, +{} ms per vendor call, {} CPUs",
        report.store, report.replicas, report.flows, report.latency_ms_per_vendor_call, report.cpus
    );
    let _ = writeln!(
        out,
        "[workers] concurrency {}, claim_batch {}, resolve_batch {}",
        report.workers.concurrency, report.workers.claim_batch, report.workers.resolve_batch
    );
    if let Some(ingest) = report.ingest_only_per_s {
        let _ = writeln!(
            out,
            "ingest only (same run, closed loop, concurrency 64): {ingest:.1} deliveries/s"
        );
    }
    for step in &report.steps {
        let _ = writeln!(
            out,
            "\noffered {:.0} deliveries/s for {:.1} s: {} deliveries, {} events; {} events acknowledged",
            step.offered_rate,
            step.duration_s,
            step.offered_deliveries,
            step.offered_events,
            step.acknowledged_events
        );
        let _ = writeln!(
            out,
            "delivered {:.1} events/s sustained; backlog at end of window {}{}; drained {} after {:.1} s",
            step.delivered_per_s,
            step.backlog_end,
            if step.backlog_grew { " (grew)" } else { "" },
            step.drained,
            step.drain_s
        );
        if let Some(l) = &step.latency_ms {
            let _ = writeln!(
                out,
                "receipt to done ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
                l.p50, l.p90, l.p99, l.max
            );
        }
        let l = &step.ack_latency_ms;
        let _ = writeln!(
            out,
            "webhook answer ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
            l.p50, l.p90, l.p99, l.max
        );
        if step.acknowledged_by_replica.len() > 1 {
            let _ = writeln!(
                out,
                "acknowledged per replica: {:?}",
                step.acknowledged_by_replica
            );
        }
        if let Some([start, end]) = step.load_average {
            let _ = writeln!(
                out,
                "load average (1 min): {start:.2} at start, {end:.2} at end"
            );
        }
        if let Some(cpu) = step.cpu_ms_per_delivered {
            let _ = writeln!(out, "CPU per delivered event: {cpu:.3} ms (whole process)");
        }
        if !step.errors.is_empty() || step.dead > 0 {
            let _ = writeln!(out, "errors: {:?}; dead rows: {}", step.errors, step.dead);
        }
        let backlog: Vec<String> = step
            .samples
            .iter()
            .map(|s| format!("{:.1}s:{}", s.t, s.backlog))
            .collect();
        let _ = writeln!(out, "backlog samples: {}", backlog.join(" "));
    }
    if let Some(knee) = report.knee_rate {
        let _ = writeln!(
            out,
            "\nknee: the backlog stayed flat up to {knee:.0} deliveries/s offered"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: E2eArgs,
    }

    fn args(extra: &[&str]) -> E2eArgs {
        let mut argv = vec!["bench"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).args
    }

    #[test]
    fn configuration_parses_for_every_store_and_flow_set() {
        let dir = tempfile::tempdir().unwrap();
        for extra in [
            vec![],
            vec!["--store", "postgres"],
            vec!["--flows", "o1", "--concurrency", "64"],
            vec![
                "--concurrency",
                "8",
                "--claim-batch",
                "1",
                "--resolve-batch",
                "1",
            ],
        ] {
            let args = args(&extra);
            let toml = config_toml(&args, "bench_x", dir.path());
            let config = Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
            let defaults = chatport_bridge::config::WorkersConfig::default();
            assert_eq!(
                config.workers.concurrency,
                args.concurrency.unwrap_or(defaults.concurrency)
            );
            assert_eq!(
                config.workers.claim_batch,
                args.claim_batch.unwrap_or(defaults.claim_batch)
            );
            assert_eq!(
                config.workers.resolve_batch,
                args.resolve_batch.unwrap_or(defaults.resolve_batch)
            );
        }
    }

    #[test]
    fn bounds_are_checked() {
        assert!(validate(&args(&[])).is_ok());
        assert!(validate(&args(&["--rate", "0"])).is_err());
        assert!(validate(&args(&["--rate", "50000"])).is_err());
        assert!(validate(&args(&["--duration", "0"])).is_err());
        assert!(validate(&args(&["--knee", "--step", "1"])).is_err());
        assert!(validate(&args(&["--store", "postgres", "--replicas", "2"])).is_ok());
        assert!(
            validate(&args(&["--replicas", "2"])).is_err(),
            "SQLite has one"
        );
        assert!(validate(&args(&["--store", "postgres", "--replicas", "0"])).is_err());
        assert!(validate(&args(&["--store", "postgres", "--replicas", "9"])).is_err());
    }

    #[test]
    fn cpu_time_reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(cpu_time().is_some());
        }
    }
}
