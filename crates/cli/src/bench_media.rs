//! `chatport bench media`: relays one WhatsApp document from the Graph emulator into the CSS
//! emulator and reports throughput and the relay's peak resident memory.
//!
//! The parent process starts the Graph and CMS/CSS emulators on loopback, registers a
//! deterministic document of `--size-mb` MB (1 MB = 1,000,000 bytes, the unit of Meta's
//! "100 MB" document limit) in the Graph emulator, then runs the relay in a **child process** (the
//! same binary, hidden subcommand `bench media-relay`), so that the child's peak RSS measures the
//! relay alone and not the emulators, which hold the document in memory.
//!
//! The child runs the library path of the OpenText flows, [`store_media`]: `GET /{media_id}` for a
//! fresh URL, a streaming download into a temporary file with the SHA-256 of the webhook checked
//! and at most `--size-mb` MB accepted, then a streaming multipart upload of that file to
//! `POST /v2/tenant/{tenant}/content`. It times that call, reads its own `VmHWM` from
//! `/proc/self/status` (Linux; elsewhere peak RSS is reported as unknown) and prints one JSON
//! object. The parent then checks that the CSS emulator holds exactly `--size-mb` MB with the
//! document's SHA-256, so the benchmark cannot pass by moving nothing.

use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatport_bridge::flows::opentext::{MediaLimits, store_media};
use chatport_core::{EventId, IdempotencyKey};
use chatport_runtime::{KvStore, SqliteStore};
use chatport_testkit::cms::{CmsEmulator, MAX_UPLOAD_BYTES};
use chatport_testkit::graph::GraphEmulator;
use clap::Args;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes in one MB (decimal, as Meta's media limits).
const MB: u64 = 1_000_000;
/// Room left in the CSS emulator's request limit for the multipart framing.
const MULTIPART_SLACK: u64 = 64 * 1024;
/// The document's MIME type and file name.
const MIME_TYPE: &str = "application/pdf";
const FILE_NAME: &str = "bench-media.pdf";
/// Environment variables through which the parent hands the child the emulators' credentials
/// (kept off the command line, where `ps` shows them).
const ENV_GRAPH_TOKEN: &str = "CHATPORT_BENCH_GRAPH_TOKEN";
const ENV_CMS_CLIENT_ID: &str = "CHATPORT_BENCH_CMS_CLIENT_ID";
const ENV_CMS_CLIENT_SECRET: &str = "CHATPORT_BENCH_CMS_CLIENT_SECRET";
/// Client timeouts as `chatport serve` sets them by default (`timeout_secs = 20`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// `chatport bench media`.
#[derive(Debug, Args)]
pub(crate) struct MediaArgs {
    /// Size of the document in MB (1 MB = 1,000,000 bytes; 100 is the largest document WhatsApp
    /// delivers). At most what the CSS emulator accepts in one request (536).
    #[arg(long, default_value_t = 100)]
    size_mb: u64,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
}

/// `chatport bench media-relay` (hidden): the measured child process.
#[derive(Debug, Args)]
pub(crate) struct MediaRelayArgs {
    /// Graph API base URL (the emulator's).
    #[arg(long)]
    graph_url: String,
    /// OpenText auth base URL.
    #[arg(long)]
    auth_url: String,
    /// OpenText CMS base URL.
    #[arg(long)]
    cms_url: String,
    /// OpenText CSS base URL.
    #[arg(long)]
    css_url: String,
    /// OpenText tenant id.
    #[arg(long)]
    tenant: String,
    /// The WhatsApp media id of the document.
    #[arg(long)]
    media_id: String,
    /// The document's SHA-256 as the webhook announces it (hex or base64).
    #[arg(long)]
    sha256: String,
    /// Largest download accepted, in bytes.
    #[arg(long)]
    max_bytes: u64,
}

/// What the child prints (one JSON line).
#[derive(Debug, Serialize, Deserialize)]
struct RelayResult {
    bytes: u64,
    seconds: f64,
    sha256_hex: String,
    verified: bool,
    blob_id: String,
    /// `VmRSS` just before the relay, KiB (`None` off Linux).
    rss_before_kib: Option<u64>,
    /// `VmHWM` after the relay, KiB (`None` off Linux).
    peak_rss_kib: Option<u64>,
    /// CPU time (user + system, all threads) the process spent in the relay, seconds (`None` off
    /// Linux).
    cpu_seconds: Option<f64>,
}

/// The `--json` output of `chatport bench media`, in this key order.
#[derive(Debug, Serialize)]
struct Summary {
    bytes: u64,
    seconds: f64,
    throughput_mb_per_s: f64,
    /// Peak RSS of the relay process in MB (10^6 bytes); `null` where it cannot be read.
    peak_rss_mb: Option<f64>,
    sha256_ok: bool,
    /// RSS of the relay process just before the relay started, MB.
    rss_before_mb: Option<f64>,
    /// CPU time (user + system, every thread) of the relay process during the relay, seconds;
    /// unlike `seconds`, hardly affected by other load on the machine.
    cpu_seconds: Option<f64>,
    /// SHA-256 of the document, hex.
    sha256: String,
}

/// Runs `chatport bench media`.
pub(crate) async fn run_media(args: &MediaArgs) -> ExitCode {
    match media(args).await {
        Ok(summary) => {
            if args.json {
                match serde_json::to_string(&summary) {
                    Ok(line) => println!("{line}"),
                    Err(error) => {
                        eprintln!("chatport bench media: {error}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print_report(&summary);
            }
            if summary.sha256_ok {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "chatport bench media: the CSS emulator does not hold the document that was sent"
                );
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("chatport bench media: {error}");
            ExitCode::from(1)
        }
    }
}

/// Runs the hidden `chatport bench media-relay`.
pub(crate) async fn run_relay(args: &MediaRelayArgs) -> ExitCode {
    match relay(args).await {
        Ok(result) => match serde_json::to_string(&result) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("chatport bench media-relay: {error}");
                ExitCode::from(1)
            }
        },
        Err(error) => {
            eprintln!("chatport bench media-relay: {error}");
            ExitCode::from(1)
        }
    }
}

fn max_size_mb() -> u64 {
    (MAX_UPLOAD_BYTES as u64).saturating_sub(MULTIPART_SLACK) / MB
}

/// `len` deterministic pseudo-random bytes (SplitMix64 from a fixed seed): the same document on
/// every run, incompressible like a real PDF.
fn document(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x6368_6174_706f_7274; // "chatport"
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let word = z.to_le_bytes();
        let take = word.len().min(len - out.len());
        out.extend_from_slice(&word[..take]);
    }
    out
}

fn round(value: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (value * factor).round() / factor
}

fn kib_to_mb(kib: u64) -> f64 {
    round(kib as f64 * 1024.0 / MB as f64, 1)
}

async fn media(args: &MediaArgs) -> Result<Summary, String> {
    let max_mb = max_size_mb();
    if !(1..=max_mb).contains(&args.size_mb) {
        return Err(format!(
            "--size-mb must be 1 to {max_mb} (the CSS emulator takes at most {MAX_UPLOAD_BYTES} bytes per request)"
        ));
    }
    let size = args.size_mb * MB;
    let len = usize::try_from(size).map_err(|_| "--size-mb is too large here".to_owned())?;
    let bytes = document(len);
    let expected = hex::encode(Sha256::digest(&bytes));

    let graph = GraphEmulator::start()
        .await
        .map_err(|e| format!("Graph emulator: {e}"))?;
    let cms = CmsEmulator::start()
        .await
        .map_err(|e| format!("CMS emulator: {e}"))?;
    let media_id = graph.add_media(MIME_TYPE, bytes);

    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut command = std::process::Command::new(exe);
    command
        .args(["bench", "media-relay", "--graph-url"])
        .arg(graph.base_url())
        .arg("--auth-url")
        .arg(cms.auth_base())
        .arg("--cms-url")
        .arg(cms.cms_base())
        .arg("--css-url")
        .arg(cms.css_base())
        .arg("--tenant")
        .arg(cms.tenant_id())
        .arg("--media-id")
        .arg(&media_id)
        .arg("--sha256")
        .arg(&expected)
        .arg("--max-bytes")
        .arg(size.to_string())
        .env(ENV_GRAPH_TOKEN, graph.access_token())
        .env(ENV_CMS_CLIENT_ID, cms.client_id())
        .env(ENV_CMS_CLIENT_SECRET, cms.client_secret())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // The emulators keep serving on the runtime's workers while this thread waits.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| format!("the relay process could not be awaited: {e}"))?
        .map_err(|e| format!("cannot start the relay process: {e}"))?;
    if !output.status.success() {
        return Err(format!("the relay process failed ({})", output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: RelayResult = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| "the relay process printed no result".to_owned())
        .and_then(|l| {
            serde_json::from_str(l).map_err(|e| format!("the relay result does not parse: {e}"))
        })?;

    // What the CSS emulator actually received, independent of what the child says.
    let stored = cms.content(&result.blob_id);
    let (stored_len, stored_sha) = match &stored {
        Some(data) => (data.len() as u64, hex::encode(Sha256::digest(data))),
        None => (0, String::new()),
    };
    drop(stored);
    let sha256_ok = stored_len == size
        && stored_sha == expected
        && result.bytes == size
        && result.sha256_hex == expected
        && result.verified;
    graph.shutdown().await;
    cms.shutdown().await;

    let seconds = result.seconds.max(1e-9);
    Ok(Summary {
        bytes: stored_len,
        seconds: round(seconds, 3),
        throughput_mb_per_s: round(size as f64 / MB as f64 / seconds, 1),
        peak_rss_mb: result.peak_rss_kib.map(kib_to_mb),
        sha256_ok,
        rss_before_mb: result.rss_before_kib.map(kib_to_mb),
        cpu_seconds: result.cpu_seconds.map(|c| round(c, 2)),
        sha256: expected,
    })
}

fn print_report(s: &Summary) {
    let mb = s.bytes as f64 / MB as f64;
    println!(
        "chatport bench media: one {mb} MB document, Graph emulator -> relay process -> CSS emulator (loopback)"
    );
    println!("  bytes in the CSS         {}", s.bytes);
    println!("  relay time               {:.3} s", s.seconds);
    println!(
        "  throughput               {:.1} MB/s",
        s.throughput_mb_per_s
    );
    match (s.peak_rss_mb, s.rss_before_mb) {
        (Some(peak), Some(before)) => {
            println!("  relay peak RSS           {peak:.1} MB (before the relay: {before:.1} MB)");
        }
        (Some(peak), None) => println!("  relay peak RSS           {peak:.1} MB"),
        _ => println!("  relay peak RSS           unknown (read from /proc on Linux only)"),
    }
    match s.cpu_seconds {
        Some(cpu) => println!(
            "  relay CPU time           {cpu:.2} s (user + system, all threads; {:.0} MB per CPU-second)",
            mb / cpu.max(0.01)
        ),
        None => println!("  relay CPU time           unknown (read from /proc on Linux only)"),
    }
    println!(
        "  SHA-256 in the CSS       {} ({})",
        if s.sha256_ok { "ok" } else { "MISMATCH" },
        s.sha256
    );
    println!("  (MB = 1,000,000 bytes)");
}

/// A field of `/proc/self/status` in KiB (`VmHWM`, `VmRSS`); `None` off Linux or when absent.
fn proc_status_kib(field: &str) -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_field_kib(&status, field)
}

fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim() != field {
            return None;
        }
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// User + system CPU time of this process (all threads) in seconds, from `/proc/self/stat`
/// (`utime`, `stime` in USER_HZ ticks, 100 per second in the /proc ABI); `None` off Linux.
fn proc_cpu_seconds() -> Option<f64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat_cpu_ticks(&stat).map(|ticks| ticks as f64 / 100.0)
}

fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split after the last
    // `)`; utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("${name} is not set (run `chatport bench media`)"))
}

async fn relay(args: &MediaRelayArgs) -> Result<RelayResult, String> {
    // The clients as `chatport serve` builds them (bridge::service): the Graph host is allowed
    // for media downloads, the default 20 s timeouts.
    let graph_host = reqwest::Url::parse(&args.graph_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .ok_or_else(|| "--graph-url has no host".to_owned())?;
    let whatsapp = chatport_whatsapp::Client::builder()
        .access_token(env(ENV_GRAPH_TOKEN)?)
        .base_url(&args.graph_url)
        .timeout(CLIENT_TIMEOUT)
        .allow_media_host(graph_host)
        .build()
        .map_err(|e| format!("WhatsApp client: {e}"))?;
    let cms = chatport_opentext::Client::builder()
        .tenant_id(&args.tenant)
        .auth_base(&args.auth_url)
        .cms_base(&args.cms_url)
        .css_base(&args.css_url)
        .timeout(CLIENT_TIMEOUT)
        .client_credentials(&env(ENV_CMS_CLIENT_ID)?, env(ENV_CMS_CLIENT_SECRET)?)
        .build()
        .map_err(|e| format!("OpenText client: {e}"))?;
    let store = SqliteStore::open_in_memory().map_err(|e| format!("store: {e}"))?;
    let kv: Arc<dyn KvStore> = Arc::new(store);
    let wamid = format!("wamid.bench-media.{}", args.media_id);
    let key = IdempotencyKey::derive("O2", "blob", &EventId::new(wamid));
    // The document as a media webhook announces it (no `url`: the client fetches a fresh one).
    let media = chatport_whatsapp::webhook::Media {
        id: Some(args.media_id.clone()),
        mime_type: Some(MIME_TYPE.to_owned()),
        sha256: Some(args.sha256.clone()),
        filename: Some(FILE_NAME.to_owned()),
        ..Default::default()
    };

    let rss_before_kib = proc_status_kib("VmRSS");
    let cpu_before = proc_cpu_seconds();
    let began = Instant::now();
    let stored = store_media(
        &whatsapp,
        &cms,
        &kv,
        &key,
        &media,
        MediaLimits {
            default_name: FILE_NAME,
            max_bytes: args.max_bytes,
            text_chars: 0,
        },
    )
    .await
    .map_err(|e| format!("relay: {e}"))?;
    let seconds = began.elapsed().as_secs_f64();
    let cpu_seconds = proc_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| (after - before).max(0.0));
    Ok(RelayResult {
        bytes: stored.bytes,
        seconds,
        sha256_hex: stored.sha256_hex,
        verified: stored.verified,
        blob_id: stored.blob_id,
        rss_before_kib,
        peak_rss_kib: proc_status_kib("VmHWM"),
        cpu_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_deterministic_and_sized() {
        let a = document(1_000_003);
        assert_eq!(a.len(), 1_000_003);
        assert_eq!(a, document(1_000_003));
        assert_eq!(&a[..16], &document(16)[..]);
        // Not a constant pattern.
        assert_ne!(&a[..8], &a[8..16]);
    }

    #[test]
    fn reads_status_fields() {
        let status =
            "Name:\tchatport\nVmPeak:\t  123456 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_field_kib(status, "VmHWM"), Some(20_480));
        assert_eq!(status_field_kib(status, "VmRSS"), Some(10_240));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
        assert_eq!(kib_to_mb(20_480), 21.0);
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 37 0 0 20 0 3 0";
        assert_eq!(stat_cpu_ticks(stat), Some(287));
        assert_eq!(stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn size_bound_follows_the_emulator() {
        assert_eq!(max_size_mb(), 536);
    }

    #[test]
    fn json_keys_in_the_documented_order() {
        let s = Summary {
            bytes: 8_000_000,
            seconds: 0.5,
            throughput_mb_per_s: 16.0,
            peak_rss_mb: Some(20.0),
            sha256_ok: true,
            rss_before_mb: Some(9.5),
            cpu_seconds: Some(0.25),
            sha256: "ab".into(),
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"bytes":8000000,"seconds":0.5,"throughput_mb_per_s":16.0,"peak_rss_mb":20.0,"sha256_ok":true,"rss_before_mb":9.5,"cpu_seconds":0.25,"sha256":"ab"}"#
        );
    }
}
