//! Operations on the outbox of a (running or stopped) service: `chatport dlq list|show|retry|purge`
//! and `chatport replay`. Table output for people, `--json` for scripts; a progress bar on
//! standard error for long operations, only when standard error is a terminal.
//!
//! The store is found with `--config FILE` (its `[store]`: the SQLite `path`, or the PostgreSQL
//! `url` and `schema`) or given with `--store PATH` (a SQLite file). SQLite is opened as a second
//! connection: safe while `chatport serve` runs (WAL mode, busy timeout); PostgreSQL is shared
//! by design.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chatport_bridge::config::Config;
use std::sync::Arc;

use chatport_bridge::config::StoreBackend;
use chatport_bridge::service::Stores;
use chatport_bridge::settings::EnvVars;
use chatport_bridge::templates::clip;
use chatport_runtime::{
    AttemptRecord, EventFilter, EventStatus, Outbox, SqliteOptions, SqliteStore, StoredEvent,
};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

/// Rows per store call in chunked operations (retry, purge).
const CHUNK: usize = 500;

/// Where the store is.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct StoreArgs {
    /// The service's configuration file (the store is its `[store] path`).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The SQLite store file itself.
    #[arg(long)]
    store: Option<PathBuf>,
}

impl StoreArgs {
    fn path(&self) -> Result<PathBuf, String> {
        match (&self.config, &self.store) {
            (_, Some(path)) => Ok(path.clone()),
            (Some(config), None) => {
                let config = Config::load(config).map_err(|e| e.to_string())?;
                config
                    .store
                    .sqlite_path(&EnvVars)
                    .map_err(|e| e.to_string())
            }
            (None, None) => Err("give --config FILE or --store PATH".into()),
        }
    }

    /// Opens the existing store (never creates a SQLite file: a wrong path is an error, not an
    /// empty queue). A configuration with `backend = "postgres"` connects to its database.
    async fn open(&self) -> Result<Arc<dyn Outbox>, String> {
        if let (Some(config), None) = (&self.config, &self.store) {
            let config = Config::load(config).map_err(|e| e.to_string())?;
            if config.store.backend == StoreBackend::Postgres {
                let stores = Stores::open(&config.store, &EnvVars)
                    .await
                    .map_err(|e| format!("cannot open the store: {e}"))?;
                return Ok(stores.outbox);
            }
        }
        let path = self.path()?;
        if !Path::new(&path).is_file() {
            return Err(format!("no store at {}", path.display()));
        }
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .map_err(|e| format!("cannot open the store {}: {e}", path.display()))?;
        Ok(Arc::new(store))
    }
}

/// `chatport dlq ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// List dead-letter rows (oldest first).
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only rows of this flow.
        #[arg(long)]
        flow: Option<String>,
        /// Only rows received at or after this time (RFC 3339, YYYY-MM-DD, or an age such as 24h, 7d).
        #[arg(long, value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
        /// Most rows shown.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Show one row: its fields, attempt history and payload.
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// The row id (first column of `dlq list`).
        id: i64,
        /// One JSON object instead of the report.
        #[arg(long)]
        json: bool,
    },
    /// Put dead rows back to pending (attempts reset, due now); the running service delivers them.
    Retry {
        #[command(flatten)]
        store: StoreArgs,
        /// Row ids; ids that are missing or not dead are reported and skipped.
        #[arg(required = true, num_args = 1..)]
        ids: Vec<i64>,
        /// One JSON object instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Delete dead rows and their attempt history.
    Purge {
        #[command(flatten)]
        store: StoreArgs,
        /// Only rows received before this time (RFC 3339, YYYY-MM-DD, or an age such as 30d).
        /// Without it every dead row is purged.
        #[arg(long, value_parser = parse_time)]
        before: Option<DateTime<Utc>>,
        /// Only rows of this flow.
        #[arg(long)]
        flow: Option<String>,
        /// Count what would be purged; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// One JSON object instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

/// `chatport replay ...`.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The flow whose rows are replayed (as shown by `dlq list`, e.g. O1).
    #[arg(long)]
    flow: String,
    /// Rows received at or after this time (RFC 3339, YYYY-MM-DD, or an age such as 24h, 7d).
    #[arg(long, value_parser = parse_time)]
    since: DateTime<Utc>,
    /// Which rows: dead (the default) or done (deliver again; safe, effects are idempotent).
    #[arg(long, default_value = "dead", value_parser = parse_replay_status)]
    status: EventStatus,
    /// Count what would be replayed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// One JSON object instead of the summary.
    #[arg(long)]
    json: bool,
}

/// Parses a point in time: RFC 3339 (`2025-06-30T12:00:00Z`), a UTC date (`2025-06-30`, midnight),
/// or an age before now: a number with `s`, `m`, `h`, `d` or `w` (`90m`, `24h`, `7d`).
pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| format!("invalid date {text:?}"));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| {
        format!("{text:?} is not a time: use RFC 3339, YYYY-MM-DD, or an age such as 24h or 7d")
    })?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ));
        }
    };
    let age = n
        .checked_mul(secs)
        .and_then(chrono::TimeDelta::try_seconds)
        .ok_or_else(|| format!("{text:?} is too far back"))?;
    Utc::now()
        .checked_sub_signed(age)
        .ok_or_else(|| format!("{text:?} is too far back"))
}

fn parse_replay_status(text: &str) -> Result<EventStatus, String> {
    match text.parse::<EventStatus>() {
        Ok(status @ (EventStatus::Dead | EventStatus::Done)) => Ok(status),
        _ => Err(format!("{text:?}: replay takes dead or done")),
    }
}

/// A progress bar on standard error when it is a terminal, a hidden one otherwise.
fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        }
        None => {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}: {pos} ({elapsed})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }
    };
    bar.set_message(what.to_owned());
    bar
}

fn fail(command: &str, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("chatport {command}: {error}");
    ExitCode::from(1)
}

pub(crate) async fn run_dlq(command: DlqCommand) -> ExitCode {
    match command {
        DlqCommand::List {
            store,
            flow,
            since,
            limit,
            json,
        } => match dlq_list(&store, flow, since, limit, json).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail("dlq list", e),
        },
        DlqCommand::Show { store, id, json } => match dlq_show(&store, id, json).await {
            Ok(found) if found => ExitCode::SUCCESS,
            Ok(_) => fail("dlq show", format!("no row {id}")),
            Err(e) => fail("dlq show", e),
        },
        DlqCommand::Retry { store, ids, json } => match dlq_retry(&store, &ids, json).await {
            Ok(all) if all => ExitCode::SUCCESS,
            Ok(_) => ExitCode::from(1),
            Err(e) => fail("dlq retry", e),
        },
        DlqCommand::Purge {
            store,
            before,
            flow,
            dry_run,
            json,
        } => match dlq_purge(&store, before, flow, dry_run, json).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail("dlq purge", e),
        },
    }
}

/// The row as JSON, without the payload (its size instead).
fn row_json(event: &StoredEvent) -> Value {
    json!({
        "id": event.id,
        "source": event.source,
        "event_id": event.event_id.as_str(),
        "kind": event.kind,
        "flow": event.flow,
        "status": event.status.as_str(),
        "attempts": event.attempts,
        "occurred_at": event.occurred_at.to_rfc3339(),
        "received_at": event.received_at.to_rfc3339(),
        "updated_at": event.updated_at.to_rfc3339(),
        "next_attempt_at": event.next_attempt_at.to_rfc3339(),
        "last_error": event.last_error,
        "payload_bytes": event.payload.len(),
    })
}

fn attempt_json(attempt: &AttemptRecord) -> Value {
    json!({
        "attempt": attempt.attempt,
        "at": attempt.at.to_rfc3339(),
        "outcome": attempt.outcome,
        "error": attempt.error,
    })
}

/// Cuts `text` to at most `max` characters (one line), marking the cut with `…`.
/// Renders rows as a left-aligned table with a header line.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn short_time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

async fn dlq_list(
    store: &StoreArgs,
    flow: Option<String>,
    since: Option<DateTime<Utc>>,
    limit: usize,
    json: bool,
) -> Result<(), String> {
    let store = store.open().await?;
    let mut filter = EventFilter::new().status(EventStatus::Dead);
    filter.flow = flow;
    filter.since = since;
    let rows = store
        .list(&filter, limit)
        .await
        .map_err(|e| e.to_string())?;
    let total = store.stats().await.map_err(|e| e.to_string())?.dead;
    if json {
        let rows: Vec<Value> = rows.iter().map(row_json).collect();
        println!("{}", Value::Array(rows));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no dead rows match ({total} dead in the store)");
        return Ok(());
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.flow.clone(),
                e.kind.clone(),
                e.source.clone(),
                e.attempts.to_string(),
                short_time(&e.received_at),
                clip(e.last_error.as_deref().unwrap_or(""), 70),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "ID",
                "FLOW",
                "KIND",
                "SOURCE",
                "ATTEMPTS",
                "RECEIVED (UTC)",
                "LAST ERROR"
            ],
            &cells
        )
    );
    println!(
        "{} shown, {total} dead in the store{}",
        rows.len(),
        if rows.len() == limit {
            " (raise --limit to see more)"
        } else {
            ""
        }
    );
    Ok(())
}

/// The payload as JSON when it is JSON, else as text (lossy UTF-8).
fn payload_value(payload: &[u8]) -> Value {
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()))
}

async fn dlq_show(store: &StoreArgs, id: i64, json: bool) -> Result<bool, String> {
    let store = store.open().await?;
    let Some(event) = store.get(id).await.map_err(|e| e.to_string())? else {
        return Ok(false);
    };
    let attempts = store.attempts(id).await.map_err(|e| e.to_string())?;
    let payload = payload_value(&event.payload);
    if json {
        let mut row = row_json(&event);
        if let Value::Object(map) = &mut row {
            map.insert("ordering_key".into(), json!(event.ordering_key));
            map.insert("receipt".into(), json!(event.receipt));
            map.insert("payload".into(), payload);
            map.insert(
                "attempt_history".into(),
                Value::Array(attempts.iter().map(attempt_json).collect()),
            );
        }
        println!("{row}");
        return Ok(true);
    }
    let fields = [
        ("id", event.id.to_string()),
        ("status", event.status.to_string()),
        ("flow", event.flow.clone()),
        ("kind", event.kind.clone()),
        ("source", event.source.clone()),
        ("event id", event.event_id.as_str().to_owned()),
        (
            "ordering key",
            event.ordering_key.clone().unwrap_or_default(),
        ),
        ("attempts", event.attempts.to_string()),
        ("occurred", event.occurred_at.to_rfc3339()),
        ("received", event.received_at.to_rfc3339()),
        ("updated", event.updated_at.to_rfc3339()),
        ("last error", event.last_error.clone().unwrap_or_default()),
        (
            "receipt",
            event
                .receipt
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default(),
        ),
    ];
    for (name, value) in fields {
        println!("{name:<13} {value}");
    }
    println!("\nattempt history:");
    if attempts.is_empty() {
        println!("  (none)");
    } else {
        let cells: Vec<Vec<String>> = attempts
            .iter()
            .map(|a| {
                vec![
                    a.attempt.to_string(),
                    short_time(&a.at),
                    a.outcome.clone(),
                    a.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        for line in table(&["#", "AT (UTC)", "OUTCOME", "ERROR"], &cells).lines() {
            println!("  {line}");
        }
    }
    println!("\npayload ({} bytes):", event.payload.len());
    match &payload {
        Value::String(text) => println!("{text}"),
        other => println!(
            "{}",
            serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string())
        ),
    }
    Ok(true)
}

/// Retries `ids`; returns whether every id was a dead row and was retried.
async fn dlq_retry(store: &StoreArgs, ids: &[i64], json: bool) -> Result<bool, String> {
    let store = store.open().await?;
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let bar = progress(Some(ids.len() as u64), "retrying");
    let mut retried = Vec::new();
    let mut skipped = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let filter = EventFilter::new()
            .status(EventStatus::Dead)
            .ids(chunk.iter().copied());
        let dead: Vec<i64> = store
            .list(&filter, chunk.len())
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|e| e.id)
            .collect();
        if !dead.is_empty() {
            let filter = EventFilter::new()
                .status(EventStatus::Dead)
                .ids(dead.iter().copied());
            store.replay(&filter).await.map_err(|e| e.to_string())?;
        }
        skipped.extend(chunk.iter().filter(|id| !dead.contains(id)));
        retried.extend(dead);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if json {
        println!(
            "{}",
            json!({"retried": retried.len(), "retried_ids": retried, "skipped_ids": skipped})
        );
    } else {
        println!("retried {} dead row(s)", retried.len());
        if !skipped.is_empty() {
            let list: Vec<String> = skipped.iter().map(i64::to_string).collect();
            println!("skipped (missing or not dead): {}", list.join(", "));
        }
    }
    Ok(skipped.is_empty())
}

async fn dlq_purge(
    store: &StoreArgs,
    before: Option<DateTime<Utc>>,
    flow: Option<String>,
    dry_run: bool,
    json: bool,
) -> Result<(), String> {
    let store = store.open().await?;
    let mut filter = EventFilter::new().status(EventStatus::Dead);
    filter.flow = flow;
    filter.until = before;
    let (count, verb) = if dry_run {
        (
            store.count(&filter).await.map_err(|e| e.to_string())?,
            "would purge",
        )
    } else {
        let bar = progress(None, "purging");
        let n = store.purge(&filter).await.map_err(|e| e.to_string())?;
        bar.finish_and_clear();
        (n, "purged")
    };
    if json {
        let key = if dry_run { "would_purge" } else { "purged" };
        println!("{}", json!({ key: count }));
    } else {
        match before {
            Some(t) => println!(
                "{verb} {count} dead row(s) received before {}",
                t.to_rfc3339()
            ),
            None => println!("{verb} {count} dead row(s)"),
        }
    }
    Ok(())
}

pub(crate) async fn run_replay(args: ReplayArgs) -> ExitCode {
    match replay(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("replay", e),
    }
}

async fn replay(args: &ReplayArgs) -> Result<(), String> {
    let store = args.store.open().await?;
    let filter = EventFilter::new()
        .status(args.status)
        .flow(args.flow.clone())
        .since(args.since);
    let (count, key, verb) = if args.dry_run {
        let n = store
            .list(&filter, usize::MAX)
            .await
            .map_err(|e| e.to_string())?
            .len() as u64;
        (n, "would_replay", "would replay")
    } else {
        // One statement: rows replayed by it cannot match again while it runs.
        let bar = progress(None, "replaying");
        let n = store.replay(&filter).await.map_err(|e| e.to_string())?;
        bar.finish_and_clear();
        (n, "replayed", "replayed")
    };
    if args.json {
        println!("{}", json!({ key: count }));
    } else {
        println!(
            "{verb} {count} {} row(s) of flow {} received since {}",
            args.status,
            args.flow,
            args.since.to_rfc3339()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_form() {
        let at = parse_time("2025-06-30T12:00:00Z").unwrap();
        assert_eq!(at.to_rfc3339(), "2025-06-30T12:00:00+00:00");
        let day = parse_time("2025-06-30").unwrap();
        assert_eq!(day.to_rfc3339(), "2025-06-30T00:00:00+00:00");
        let ago = parse_time("2h").unwrap();
        let delta = Utc::now() - ago;
        assert!(
            delta.num_minutes() >= 119 && delta.num_minutes() <= 121,
            "{delta}"
        );
        assert!(parse_time("7d").unwrap() < parse_time("6d").unwrap());
        assert!(parse_time("3y").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn replay_takes_dead_or_done_only() {
        assert_eq!(parse_replay_status("dead"), Ok(EventStatus::Dead));
        assert_eq!(parse_replay_status("done"), Ok(EventStatus::Done));
        assert!(parse_replay_status("pending").is_err());
    }

    #[test]
    fn tables_align_and_clip() {
        let out = table(
            &["ID", "FLOW"],
            &[
                vec!["1".into(), "O1".into()],
                vec!["100".into(), "x".into()],
            ],
        );
        assert_eq!(out, "ID   FLOW\n1    O1\n100  x\n");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("a\nb", 10), "a b");
    }
}
