//! Crash safety and replicas of `chatport serve` as real processes: signed webhooks arrive from a
//! task while the service is killed with SIGKILL; after a restart (or on the surviving replica)
//! every event answered 200 is delivered — one CMS case and one reply per acknowledged wamid — and
//! no record is duplicated in the emulators.
//!
//! The SQLite variant always runs. The PostgreSQL variants need `CHATPORT_TEST_POSTGRES_URL`
//! (`postgres://user:password@host:port/database`) and print a `SKIPPED` line without it; each
//! test uses a fresh schema.
//!
//! WhatsApp has no idempotency key, so chatport never resends a reply blindly: a send that was
//! started but whose outcome the killed process never recorded stays *in doubt* until a status
//! webhook carrying its key settles it. The test plays Meta's part and posts a `sent` status for
//! every message the Graph emulator accepted. A reply whose request never reached the emulator
//! before the kill stays in doubt (by design: at most once); the tests allow at most one such
//! event per in-flight worker of the killed process and print how many there were.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatport_core::{EventId, IdempotencyKey};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, StatusSpec, WebhookSimulator};

const SECRET: &str = "crash-test-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
const DISPLAY_NUMBER: &str = "15550783881";
const WABA: &str = "102290129340398";
/// `[workers] concurrency` of every process: the most sends one killed process can leave in doubt.
const CONCURRENCY: usize = 4;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The emulators, a temporary directory and how to reach the store.
struct Harness {
    graph: GraphEmulator,
    cms: CmsEmulator,
    dir: tempfile::TempDir,
    /// The `[store]` section.
    store: String,
    pg_url: Option<String>,
    /// The PostgreSQL schema of this test, dropped when the harness is.
    pg_schema: Option<String>,
    http: reqwest::Client,
    logs: Mutex<Vec<PathBuf>>,
}

impl Drop for Harness {
    /// Drops the test's PostgreSQL schema (the service processes are gone by then).
    fn drop(&mut self) {
        let (Some(url), Some(schema)) = (self.pg_url.clone(), self.pg_schema.take()) else {
            return;
        };
        // Drop runs inside the test's runtime: clean up on a thread with a runtime of its own.
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
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                    ))
                    .await
                    .expect("drop the crash test's schema");
                drop(client);
                let _ = task.await;
            });
        });
        if cleanup.join().is_err() && !std::thread::panicking() {
            panic!("dropping the crash test's PostgreSQL schema failed");
        }
    }
}

impl Harness {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = format!(
            "[store]\npath = \"{}\"\n",
            dir.path().join("chatport.sqlite").display()
        );
        Self::new(dir, store, None).await
    }

    /// `None` (after printing `SKIPPED`) when no PostgreSQL URL is given.
    async fn postgres(test: &str) -> Option<Self> {
        let url = chatport_testkit::postgres::test_url(test)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let schema = format!("crash_{}_{}", std::process::id(), nanos % 1_000_000_000);
        let store = format!(
            "[store]\nbackend = \"postgres\"\nurl = \"${{CHATPORT_PG_URL}}\"\nschema = \"{schema}\"\nmax_connections = 8\nreaper_interval_secs = 1\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let mut harness = Self::new(dir, store, Some(url)).await;
        harness.pg_schema = Some(schema);
        Some(harness)
    }

    async fn new(dir: tempfile::TempDir, store: String, pg_url: Option<String>) -> Self {
        Self {
            graph: GraphEmulator::start().await.unwrap(),
            cms: CmsEmulator::start().await.unwrap(),
            dir,
            store,
            pg_url,
            pg_schema: None,
            http: reqwest::Client::new(),
            logs: Mutex::new(Vec::new()),
        }
    }

    /// Writes a configuration listening on `port` and returns its path.
    fn config(&self, port: u16) -> PathBuf {
        let path = self.dir.path().join(format!("chatport-{port}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"
[service]
listen = "127.0.0.1:{port}"

{store}
[workers]
concurrency = {CONCURRENCY}
lease_secs = 5
retry_schedule_secs = [1]
max_attempts = 1000
poll_interval_ms = 50

[whatsapp]
api_base = "{graph}"
access_token = "${{WA_TOKEN}}"
app_secrets = ["${{WA_SECRET}}"]
verify_token = "${{WA_VERIFY}}"

[opentext]
auth_base = "{cms}"
cms_base = "{cms}/cms"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret = "${{CMS_CLIENT_SECRET}}"
requests_per_second = 0

[flows.o1]
in_doubt_recheck_secs = 1
"#,
                store = self.store,
                graph = self.graph.base_url(),
                cms = self.cms.base_url(),
                tenant = self.cms.tenant_id(),
                client = self.cms.client_id(),
            ),
        )
        .unwrap();
        path
    }

    /// Starts `chatport serve` on `port` (stderr to a log file in the temporary directory) and
    /// waits until it is healthy.
    async fn spawn(&self, port: u16) -> Child {
        let config = self.config(port);
        let log = {
            let mut logs = self.logs.lock().unwrap();
            let log = self
                .dir
                .path()
                .join(format!("serve-{port}-{}.log", logs.len()));
            logs.push(log.clone());
            log
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatport"));
        command
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("WA_TOKEN", self.graph.access_token())
            .env("WA_SECRET", SECRET)
            .env("WA_VERIFY", "verify")
            .env("CMS_CLIENT_SECRET", self.cms.client_secret())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
        if let Some(url) = &self.pg_url {
            command.env("CHATPORT_PG_URL", url);
        }
        let mut child = command.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        loop {
            if let Ok(r) = self.http.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                return child;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "chatport serve exited with {status:?}:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "chatport serve did not become healthy:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of every process log, for failure messages.
    fn log_tail(&self) -> String {
        let mut out = String::new();
        for log in self.logs.lock().unwrap().iter() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {}\n", log.display()));
            for line in &lines[lines.len().saturating_sub(20)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// CMS cases by idempotency key (`chatport_key`), with their count.
    fn cases(&self) -> BTreeMap<String, usize> {
        let mut cases = BTreeMap::new();
        for case in self.cms.instances_of_type("ca_support_case") {
            let key = case["properties"]["chatport_key"]
                .as_str()
                .unwrap_or("<no key>")
                .to_owned();
            *cases.entry(key).or_insert(0) += 1;
        }
        cases
    }

    /// Replies by the inbound wamid they answer (`context.message_id`), with their count.
    fn replies(&self) -> BTreeMap<String, usize> {
        let mut replies = BTreeMap::new();
        for sent in self.graph.sent() {
            let to = sent.body["context"]["message_id"]
                .as_str()
                .unwrap_or("<no context>")
                .to_owned();
            *replies.entry(to).or_insert(0) += 1;
        }
        replies
    }

    /// Plays Meta: posts a `sent` status (with the sender's `biz_opaque_callback_data`) for every
    /// accepted message not announced yet, to `base`. Settles sends a killed process left in doubt.
    async fn announce_statuses(&self, base: &str, announced: &mut BTreeSet<String>) {
        let simulator = simulator(base);
        for sent in self.graph.sent() {
            if announced.contains(&sent.wamid) {
                continue;
            }
            let mut status = StatusSpec::new(
                sent.wamid.clone(),
                "sent",
                sent.to.clone().unwrap_or_default(),
                1_751_247_600,
            );
            if let Some(data) = sent.body["biz_opaque_callback_data"].as_str() {
                status = status.biz_opaque_callback_data(data);
            }
            let delivery = Delivery::new(WABA)
                .status(PHONE_NUMBER_ID, DISPLAY_NUMBER, status)
                .build();
            if let Ok(result) = simulator.deliver(&delivery).await
                && result.status == 200
            {
                announced.insert(sent.wamid.clone());
            }
        }
    }
}

fn simulator(base: &str) -> WebhookSimulator {
    WebhookSimulator::new(
        format!("{base}/webhooks/whatsapp"),
        SECRET.as_bytes().to_vec(),
    )
}

fn wamid(i: usize) -> String {
    format!("wamid.crash.{i:06}")
}

/// One inbound text message from its own customer number (so events run in parallel).
fn message(i: usize) -> serde_json::Value {
    Delivery::new(WABA)
        .message(
            PHONE_NUMBER_ID,
            DISPLAY_NUMBER,
            MessageSpec::text(
                format!("1650{i:07}"),
                wamid(i),
                1_751_247_548,
                "Where is my invoice?",
            ),
        )
        .build()
}

fn kill(child: &mut Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    child.wait().unwrap();
}

fn terminate(mut child: Child) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends events `0..n` from `parallel` tasks to the first base of `targets` that answers (a load
/// balancer's view: a dead replica's requests go to the next one); returns the acknowledged
/// wamids. Each event is tried once per target round; an event no target acknowledged in
/// `rounds` rounds is left unacknowledged (Meta would retry it; this test does not need to).
async fn send_all(
    targets: Arc<Mutex<Vec<String>>>,
    n: usize,
    parallel: usize,
    rounds: usize,
    acked: Arc<Mutex<BTreeSet<String>>>,
) {
    let next = Arc::new(Mutex::new(0usize));
    let mut tasks = Vec::new();
    for task in 0..parallel {
        let (targets, acked, next) = (targets.clone(), acked.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = {
                    let mut next = next.lock().unwrap();
                    let i = *next;
                    *next += 1;
                    i
                };
                if i >= n {
                    return;
                }
                let body = message(i);
                'rounds: for round in 0..rounds {
                    let bases = targets.lock().unwrap().clone();
                    for k in 0..bases.len() {
                        // Spread events over the targets, starting from a different one per event.
                        let base = &bases[(i + task + k) % bases.len()];
                        if let Ok(result) = simulator(base).deliver(&body).await
                            && result.status == 200
                        {
                            acked.lock().unwrap().insert(wamid(i));
                            break 'rounds;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20 * (round as u64 + 1))).await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Waits until every acknowledged wamid has its case and its reply (announcing statuses to
/// `base` on the way), at most `limit`; then checks: no duplicate case or reply anywhere, a case
/// for every acknowledged wamid, a reply for all but at most `in_doubt_allowed` of them.
async fn settle_and_check(
    h: &Harness,
    base: &str,
    acked: &BTreeSet<String>,
    in_doubt_allowed: usize,
    limit: Duration,
) {
    let keys: BTreeMap<String, String> = acked
        .iter()
        .map(|w| {
            (
                IdempotencyKey::derive("O1", "case", &EventId::new(w.as_str()))
                    .as_str()
                    .to_owned(),
                w.clone(),
            )
        })
        .collect();
    let mut announced = BTreeSet::new();
    let start = Instant::now();
    // When the only thing missing is a few replies in doubt, nothing changes any more: stop
    // waiting once the emulators' records were stable this long.
    let mut last_change = (Instant::now(), 0usize, 0usize);
    loop {
        h.announce_statuses(base, &mut announced).await;
        let cases = h.cases();
        let replies = h.replies();
        let cases_missing = keys.keys().filter(|k| !cases.contains_key(*k)).count();
        let replies_missing = acked.iter().filter(|w| !replies.contains_key(*w)).count();
        if cases_missing == 0 && replies_missing == 0 {
            break;
        }
        if (cases.len(), replies.len()) != (last_change.1, last_change.2) {
            last_change = (Instant::now(), cases.len(), replies.len());
        }
        let stable = cases_missing == 0
            && replies_missing <= in_doubt_allowed
            && last_change.0.elapsed() > Duration::from_secs(10);
        if stable || start.elapsed() > limit {
            assert_eq!(
                cases_missing,
                0,
                "acknowledged events without a CMS case after {limit:?}\n{}",
                h.log_tail()
            );
            assert!(
                replies_missing <= in_doubt_allowed,
                "{replies_missing} acknowledged events without a reply after {limit:?} \
                 (at most {in_doubt_allowed} may stay in doubt)\n{}",
                h.log_tail()
            );
            eprintln!(
                "{replies_missing} reply(ies) stayed in doubt: started before the kill, never \
                 reached the Graph emulator, not resent blindly"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A moment more for anything still running to show up as a duplicate.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let duplicate_cases: Vec<_> = h.cases().into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(
        duplicate_cases.is_empty(),
        "duplicate CMS cases: {duplicate_cases:?}"
    );
    let duplicate_replies: Vec<_> = h.replies().into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(
        duplicate_replies.is_empty(),
        "duplicate replies: {duplicate_replies:?}"
    );
    let cases = h.cases();
    for key in keys.keys() {
        assert_eq!(cases.get(key), Some(&1), "one case per acknowledged event");
    }
}

/// SIGKILL while webhooks arrive, restart on the same store, check.
async fn crash_and_restart(h: Harness, n: usize) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = h.spawn(port).await;
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let targets = Arc::new(Mutex::new(vec![base.clone()]));
    let sender = tokio::spawn(send_all(targets, n, 4, 1, acked.clone()));

    // Kill mid-stream: once a third of the events were acknowledged and deliveries are under way.
    let start = Instant::now();
    while acked.lock().unwrap().len() < n / 3 || h.graph.sent().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "webhooks were not acknowledged\n{}",
            h.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kill(&mut child);
    let acked_before_kill = acked.lock().unwrap().len();
    let delivered_before_kill = h.cases().len();
    // Requests keep arriving (and failing) while the service is down; then it comes back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let child = h.spawn(port).await;
    sender.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "acknowledged {} of {n} events ({acked_before_kill} before the kill, {delivered_before_kill} cases by then)",
        acked.len()
    );
    assert!(
        acked.len() > acked_before_kill,
        "events were acknowledged after the restart"
    );
    settle_and_check(&h, &base, &acked, CONCURRENCY, Duration::from_secs(120)).await;
    // The operations commands find the same store through the configuration (both backends).
    let mut dlq = Command::new(env!("CARGO_BIN_EXE_chatport"));
    dlq.args(["dlq", "list", "--json", "--config"])
        .arg(h.config(port));
    if let Some(url) = &h.pg_url {
        dlq.env("CHATPORT_PG_URL", url);
    }
    let out = dlq.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listed.is_array() || listed.is_object(), "{listed}");
    terminate(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_webhooks_loses_and_duplicates_nothing_on_sqlite() {
    crash_and_restart(Harness::sqlite().await, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_webhooks_loses_and_duplicates_nothing_on_postgres() {
    let Some(h) =
        Harness::postgres("sigkill_during_webhooks_loses_and_duplicates_nothing_on_postgres").await
    else {
        return;
    };
    crash_and_restart(h, 200).await;
}

/// Two replicas on one PostgreSQL schema; SIGKILL one mid-run; the other finishes after the
/// leases expire. `CHATPORT_TEST_REPLICA_EVENTS` overrides the count (default 2,000 to keep CI
/// fast; the issue's 10,000 run is recorded in docs/performance.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_survive_a_sigkill() {
    let Some(h) = Harness::postgres("two_replicas_on_postgres_survive_a_sigkill").await else {
        return;
    };
    let n: usize = std::env::var("CHATPORT_TEST_REPLICA_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let (port_a, port_b) = (free_port(), free_port());
    let (base_a, base_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let mut a = h.spawn(port_a).await;
    let b = h.spawn(port_b).await;
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let targets = Arc::new(Mutex::new(vec![base_a.clone(), base_b.clone()]));
    let started = Instant::now();
    let sender = tokio::spawn(send_all(targets.clone(), n, 8, 20, acked.clone()));

    let start = Instant::now();
    while h.cases().len() < n / 4 {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "replicas made no progress\n{}",
            h.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(&mut a);
    // The load balancer notices: new requests go to the survivor only.
    targets.lock().unwrap().retain(|t| *t != base_a);
    let delivered_at_kill = h.cases().len();
    sender.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), n, "every event acknowledged by some replica");
    assert!(delivered_at_kill < n, "the kill happened mid-run");
    settle_and_check(&h, &base_b, &acked, CONCURRENCY, Duration::from_secs(600)).await;
    eprintln!(
        "replicas: {n} events, replica A killed after {delivered_at_kill} cases, all settled in {:?}",
        started.elapsed()
    );
    terminate(b);
}
