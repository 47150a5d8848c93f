//! `chatport bench ingest`: a load harness for the webhook ingress.
//!
//! `--concurrency` tasks each post signed WhatsApp deliveries back to back (one request in flight
//! per task) for `--duration` seconds, or until `--max-requests` were started, then wait for their
//! last answers. The deliveries are shaped like Meta's (built with the testkit's `Delivery`
//! builder, encoded and signed with `X-Hub-Signature-256` as Meta does):
//!
//! * 70 %: one text message from one of 10,000 senders;
//! * 10 % (`--batch-percent`): one POST with 2 to 5 messages (Meta batches under load);
//! * 20 %: one status update (`delivered` or `read`) of an earlier outbound message.
//!
//! Every wamid is unique per run, so nothing is dropped as a duplicate. The bodies are built and
//! signed **before** the clock starts (`--prebuild`, by default enough for about 12,000
//! deliveries/s over the whole `--duration`, at most 240,000 bodies, about 0.2 GB): on a small
//! machine the load generator shares the CPU with the service, and building a delivery through
//! the testkit's JSON model and signing it costs about as much CPU as the service spends storing
//! it. A task that uses up its prebuilt bodies builds the rest on the fly. A request is `ok` when it
//! is answered 2xx; everything else (a 503 from backpressure, a 401, a transport error) counts as
//! an error. Latency is measured per request from send to the end of the answer body, recorded in
//! an HDR histogram (microsecond resolution); throughput is `ok / elapsed seconds`.
//!
//! Bounded: at most 1,024 tasks, one hour, 10 million requests; loopback URLs only unless
//! `--allow-remote` is given.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chatport_testkit::webhook::{Delivery, MessageSpec, StatusSpec, meta_json, sign};
use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use serde::Serialize;

const MAX_CONCURRENCY: usize = 1024;
const MAX_DURATION_SECS: f64 = 3600.0;
const MAX_REQUESTS: u64 = 10_000_000;
/// Most bodies built before the clock starts (about 0.2 GB of bodies and signatures).
const MAX_PREBUILD: u64 = 240_000;
/// Deliveries per second of `--duration` the default `--prebuild` covers.
const PREBUILD_RATE: f64 = 12_000.0;
const SENDERS: u64 = 10_000;
const WABA_ID: &str = "102290129340398";
const PHONE_NUMBER_ID: &str = "106540352242922";
const DISPLAY_NUMBER: &str = "15550783881";
const TEXTS: [&str; 6] = [
    "Where is my invoice 12345?",
    "I need to speak with a person",
    "My delivery arrived damaged, please help",
    "Can you send me the contract C-778?",
    "Thanks, that solved it",
    "Urgent: the payment failed twice",
];

/// `chatport bench ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Post signed WhatsApp deliveries to a running service and report throughput and latency.
    Ingest(IngestArgs),
    /// Relay one WhatsApp document from a Graph emulator into a CSS emulator: MB/s and peak RSS.
    ///
    /// Starts the Graph and CMS/CSS emulators on loopback, registers a deterministic document of
    /// --size-mb MB (1 MB = 1,000,000 bytes), and relays it in a child process through the
    /// OpenText flows' media path (media URL lookup, streaming download with the SHA-256
    /// checked into a temporary file, streaming upload to the CSS). Reports the relay time,
    /// throughput, the child's CPU time and peak RSS (VmHWM; Linux only, "unknown" elsewhere)
    /// and whether the CSS holds exactly the document (length and SHA-256); exits 1 when not.
    Media(crate::bench_media::MediaArgs),
    /// End to end: emulators with added latency, the real service and flows, signed deliveries at
    /// a fixed offered rate; reports delivered/s sustained, backlog over time, receipt-to-done
    /// latency and CPU per delivered event (see docs/performance.md).
    E2e(crate::bench_e2e::E2eArgs),
    /// The measured child of `bench media` (internal).
    #[command(hide = true)]
    MediaRelay(crate::bench_media::MediaRelayArgs),
}

/// `chatport bench ingest`.
#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// The webhook URL (e.g. http://127.0.0.1:8080/webhooks/whatsapp).
    #[arg(long)]
    pub(crate) url: String,
    /// Requests in flight at once (one per task), 1 to 1024.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// Seconds to keep sending (fractions allowed), at most 3600.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Stop after this many requests (at most 10,000,000).
    #[arg(long)]
    pub(crate) max_requests: Option<u64>,
    /// The environment variable holding the app secret that signs the deliveries.
    #[arg(long, default_value = "WHATSAPP_APP_SECRET")]
    pub(crate) secret_env: String,
    /// Share of deliveries (percent) that batch 2 to 5 messages in one POST.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=80))]
    pub(crate) batch_percent: u8,
    /// Deliveries to build and sign before the clock starts (at most 240,000). Default: enough for
    /// 12,000 deliveries/s over `--duration` (bounded by `--max-requests` and the maximum). 0
    /// builds every delivery while the clock runs.
    #[arg(long)]
    pub(crate) prebuild: Option<u64>,
    /// Allow a URL that is not on this machine (load on a shared server is your responsibility).
    #[arg(long)]
    pub(crate) allow_remote: bool,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The `--json` output, in this key order.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) throughput_per_s: f64,
    pub(crate) latency_ms: Latency,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

/// What one task measured.
struct Tally {
    latency_us: Histogram<u64>,
    ok: u64,
    events: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Result<Self, String> {
        Ok(Self {
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3)
                .map_err(|e| format!("histogram: {e}"))?,
            ok: 0,
            events: 0,
            errors: BTreeMap::new(),
        })
    }
}

/// SplitMix64: a small deterministic generator for the delivery mix (no cryptographic use).
pub(crate) struct Mix(pub(crate) u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One delivery ready to send: body, `X-Hub-Signature-256` value, events it holds.
pub(crate) struct Prepared {
    pub(crate) body: bytes::Bytes,
    pub(crate) signature: reqwest::header::HeaderValue,
    pub(crate) events: u64,
}

impl Prepared {
    pub(crate) fn build(
        secret: &[u8],
        run: u64,
        task: usize,
        seq: u64,
        mix: &mut Mix,
        batch_percent: u64,
    ) -> Result<Self, String> {
        let (body, events) = delivery(run, task, seq, mix, batch_percent);
        let signature = reqwest::header::HeaderValue::from_str(&sign(secret, &body))
            .map_err(|e| format!("signature header: {e}"))?;
        Ok(Self {
            body: body.into(),
            signature,
            events,
        })
    }
}

/// How many bodies to build before the clock starts: `--prebuild`, else enough for
/// [`PREBUILD_RATE`] over the duration; never more than `max_requests` or [`MAX_PREBUILD`].
fn prebuild_count(prebuild: Option<u64>, duration_secs: f64, max_requests: u64) -> u64 {
    let wanted = prebuild.unwrap_or_else(|| (duration_secs * PREBUILD_RATE).ceil() as u64);
    wanted.min(max_requests).min(MAX_PREBUILD)
}

/// Builds delivery number `seq` of task `task`: its body and how many events it holds.
fn delivery(run: u64, task: usize, seq: u64, mix: &mut Mix, batch_percent: u64) -> (Vec<u8>, u64) {
    let now = chrono::Utc::now().timestamp();
    let wamid = |i: u64| format!("wamid.bench{run:x}.{task}.{seq}.{i}");
    let sender = |mix: &mut Mix| format!("1555{:07}", mix.below(SENDERS));
    let roll = mix.below(100);
    let (payload, events) = if roll < 20 {
        let status = if mix.below(2) == 0 {
            "delivered"
        } else {
            "read"
        };
        let spec = StatusSpec::new(wamid(0), status, sender(mix), now);
        (
            Delivery::new(WABA_ID)
                .status(PHONE_NUMBER_ID, DISPLAY_NUMBER, spec)
                .build(),
            1,
        )
    } else if roll < 20 + batch_percent {
        let n = 2 + mix.below(4);
        let messages: Vec<MessageSpec> = (0..n)
            .map(|i| {
                let text = TEXTS[mix.below(TEXTS.len() as u64) as usize];
                MessageSpec::text(sender(mix), wamid(i), now, text)
            })
            .collect();
        (
            Delivery::new(WABA_ID)
                .messages(PHONE_NUMBER_ID, DISPLAY_NUMBER, messages)
                .build(),
            n,
        )
    } else {
        let text = TEXTS[mix.below(TEXTS.len() as u64) as usize];
        let spec = MessageSpec::text(sender(mix), wamid(0), now, text);
        (
            Delivery::new(WABA_ID)
                .message(PHONE_NUMBER_ID, DISPLAY_NUMBER, spec)
                .build(),
            1,
        )
    };
    (meta_json(&payload).into_bytes(), events)
}

pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(crate) async fn run(command: BenchCommand) -> ExitCode {
    match command {
        BenchCommand::Ingest(args) => match ingest(&args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("chatport bench ingest: {error}");
                ExitCode::from(1)
            }
        },
        BenchCommand::Media(args) => crate::bench_media::run_media(&args).await,
        BenchCommand::E2e(args) => crate::bench_e2e::run(&args).await,
        BenchCommand::MediaRelay(args) => crate::bench_media::run_relay(&args).await,
    }
}

/// Microseconds as milliseconds.
pub(crate) fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

async fn ingest(args: &IngestArgs) -> Result<(), String> {
    let (summary, events, errors_by_kind, elapsed) = ingest_summary(args).await?;
    let url = &args.url;
    let (requests, errors) = (summary.requests, summary.errors);
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&summary).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "chatport bench ingest: {url}, concurrency {}, {elapsed:.2} s",
            args.concurrency
        );
        println!(
            "requests {requests}, ok {}, errors {errors}; {events} events acknowledged",
            summary.ok
        );
        println!("throughput {:.1} deliveries/s", summary.throughput_per_s);
        let l = &summary.latency_ms;
        println!(
            "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            l.p50, l.p90, l.p99, l.max
        );
        if !errors_by_kind.is_empty() {
            let kinds: Vec<String> = errors_by_kind
                .iter()
                .map(|(kind, n)| format!("{kind}: {n}"))
                .collect();
            println!("errors by kind: {}", kinds.join(", "));
        }
    }
    Ok(())
}

/// Runs the closed-loop ingest load of `args` and returns its summary, the events acknowledged,
/// the errors by kind and the elapsed seconds (`args.json` is ignored).
pub(crate) async fn ingest_summary(
    args: &IngestArgs,
) -> Result<(Summary, u64, BTreeMap<String, u64>, f64), String> {
    let url = reqwest::Url::parse(&args.url).map_err(|e| format!("--url: {e}"))?;
    if !args.allow_remote && !is_loopback(&url) {
        return Err(format!(
            "--url {url} is not a loopback address; pass --allow-remote to load another machine"
        ));
    }
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(format!("--concurrency must be 1 to {MAX_CONCURRENCY}"));
    }
    if !(args.duration > 0.0 && args.duration <= MAX_DURATION_SECS) {
        return Err(format!(
            "--duration must be more than 0 and at most {MAX_DURATION_SECS} seconds"
        ));
    }
    let secret = std::env::var(&args.secret_env)
        .map_err(|_| format!("set the app secret in ${}", args.secret_env))?;
    if secret.is_empty() {
        return Err(format!("${} is empty", args.secret_env));
    }
    ingest_summary_with_secret(args, &secret).await
}

/// [`ingest_summary`] with the app secret given (`args.secret_env` is not read).
pub(crate) async fn ingest_summary_with_secret(
    args: &IngestArgs,
    secret: &str,
) -> Result<(Summary, u64, BTreeMap<String, u64>, f64), String> {
    let url = reqwest::Url::parse(&args.url).map_err(|e| format!("--url: {e}"))?;
    let max_requests = args.max_requests.unwrap_or(MAX_REQUESTS).min(MAX_REQUESTS);
    let secret: Arc<[u8]> = secret.as_bytes().into();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let run = chrono::Utc::now().timestamp_micros().unsigned_abs();
    let started = Arc::new(AtomicU64::new(0));
    let batch_percent = u64::from(args.batch_percent);

    // Build and sign the first bodies of every task before the clock starts.
    let per_task = prebuild_count(args.prebuild, args.duration, max_requests)
        .div_ceil(args.concurrency as u64);
    let mut prepared = Vec::with_capacity(args.concurrency);
    for task in 0..args.concurrency {
        let mut mix = Mix(run ^ ((task as u64 + 1) << 32));
        let bodies = (0..per_task)
            .map(|seq| Prepared::build(&secret, run, task, seq, &mut mix, batch_percent))
            .collect::<Result<Vec<_>, _>>()?;
        prepared.push((mix, bodies));
    }

    let begin = Instant::now();
    let deadline = begin + Duration::from_secs_f64(args.duration);
    let content_type = reqwest::header::HeaderValue::from_static("application/json");
    let mut tasks = tokio::task::JoinSet::new();
    for (task, (mut mix, bodies)) in prepared.into_iter().enumerate() {
        let http = http.clone();
        let url = url.clone();
        let secret = Arc::clone(&secret);
        let started = Arc::clone(&started);
        let content_type = content_type.clone();
        tasks.spawn(async move {
            let mut tally = Tally::new()?;
            let mut seq = bodies.len() as u64;
            let mut bodies = bodies.into_iter();
            while Instant::now() < deadline
                && started.fetch_add(1, Ordering::Relaxed) < max_requests
            {
                let next = match bodies.next() {
                    Some(next) => next,
                    None => {
                        seq += 1;
                        Prepared::build(&secret, run, task, seq - 1, &mut mix, batch_percent)?
                    }
                };
                let events = next.events;
                let sent = Instant::now();
                let answer = http
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, content_type.clone())
                    .header(chatport_whatsapp::webhook::SIGNATURE_HEADER, next.signature)
                    .body(next.body)
                    .send()
                    .await;
                let outcome = match answer {
                    Ok(response) => {
                        let status = response.status();
                        // Read the whole answer: the latency covers it.
                        let _ = response.bytes().await;
                        if status.is_success() {
                            Ok(())
                        } else {
                            Err(format!("HTTP {}", status.as_u16()))
                        }
                    }
                    Err(error) if error.is_timeout() => Err("timeout".to_owned()),
                    Err(error) if error.is_connect() => Err("connect".to_owned()),
                    Err(_) => Err("transport".to_owned()),
                };
                let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                let _ = tally.latency_us.record(us.max(1));
                match outcome {
                    Ok(()) => {
                        tally.ok += 1;
                        tally.events += events;
                    }
                    Err(kind) => *tally.errors.entry(kind).or_insert(0) += 1,
                }
            }
            Ok::<Tally, String>(tally)
        });
    }
    let mut total = Tally::new()?;
    while let Some(joined) = tasks.join_next().await {
        let tally = joined.map_err(|e| format!("a load task failed: {e}"))??;
        total
            .latency_us
            .add(&tally.latency_us)
            .map_err(|e| format!("histogram: {e}"))?;
        total.ok += tally.ok;
        total.events += tally.events;
        for (kind, n) in tally.errors {
            *total.errors.entry(kind).or_insert(0) += n;
        }
    }
    let elapsed = begin.elapsed().as_secs_f64();
    let errors: u64 = total.errors.values().sum();
    let requests = total.ok + errors;
    let h = &total.latency_us;
    let summary = Summary {
        requests,
        ok: total.ok,
        errors,
        throughput_per_s: ((total.ok as f64 / elapsed.max(1e-9)) * 10.0).round() / 10.0,
        latency_ms: Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        },
    };
    Ok((summary, total.events, total.errors, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_vary_and_parse() {
        let mut mix = Mix(7);
        let mut batched = 0;
        let mut statuses = 0;
        let mut ids = std::collections::HashSet::new();
        for seq in 0..200 {
            let (body, events) = delivery(1, 0, seq, &mut mix, 10);
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let change = &value["entry"][0]["changes"][0]["value"];
            if let Some(messages) = change["messages"].as_array() {
                assert_eq!(messages.len() as u64, events);
                if events > 1 {
                    batched += 1;
                }
                for m in messages {
                    assert!(ids.insert(m["id"].as_str().unwrap().to_owned()));
                }
            } else {
                assert!(change["statuses"].is_array());
                statuses += 1;
            }
        }
        assert!(batched > 0 && statuses > 0, "{batched} {statuses}");
    }

    #[test]
    fn prebuild_is_bounded() {
        assert_eq!(prebuild_count(None, 10.0, MAX_REQUESTS), 120_000);
        assert_eq!(prebuild_count(None, 3600.0, MAX_REQUESTS), MAX_PREBUILD);
        assert_eq!(prebuild_count(None, 10.0, 500), 500);
        assert_eq!(prebuild_count(Some(0), 10.0, MAX_REQUESTS), 0);
        assert_eq!(prebuild_count(Some(7), 10.0, MAX_REQUESTS), 7);
    }

    #[test]
    fn prepared_bodies_carry_a_valid_signature() {
        let mut mix = Mix(3);
        let p = Prepared::build(b"secret", 1, 2, 3, &mut mix, 10).unwrap();
        let expected = sign(b"secret", &p.body);
        assert_eq!(p.signature.to_str().unwrap(), expected);
        let value: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(value["object"], "whatsapp_business_account");
        assert!(p.events >= 1);
    }

    #[test]
    fn only_loopback_by_default() {
        let ok = |u: &str| is_loopback(&reqwest::Url::parse(u).unwrap());
        assert!(ok("http://127.0.0.1:8080/webhooks/whatsapp"));
        assert!(ok("http://localhost:1/x"));
        assert!(ok("http://[::1]:8080/x"));
        assert!(!ok("https://example.com/x"));
        assert!(!ok("http://10.0.0.1/x"));
    }

    #[test]
    fn json_keys_in_the_documented_order() {
        let s = Summary {
            requests: 3,
            ok: 2,
            errors: 1,
            throughput_per_s: 2.0,
            latency_ms: Latency {
                p50: 1.0,
                p90: 2.0,
                p99: 3.0,
                max: 4.0,
            },
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"requests":3,"ok":2,"errors":1,"throughput_per_s":2.0,"latency_ms":{"p50":1.0,"p90":2.0,"p99":3.0,"max":4.0}}"#
        );
    }
}
