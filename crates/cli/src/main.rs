//! `chatport`: serve the integration flows, run the local demo, check a configuration (and probe
//! its connectors), operate the dead-letter queue and replays, load-test the ingress, and sign,
//! verify or parse WhatsApp webhook deliveries.
#![forbid(unsafe_code)]

mod bench;
mod bench_e2e;
mod bench_media;
mod check_cmd;
mod demo;
mod demo_creatio;
mod demo_o;
mod demo_orangelogic;
mod demo_shapes;
mod handoff_cmd;
mod metrics_route;
mod ops;
mod templates_cmd;
mod webhook_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_bridge::settings::EnvVars;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// The process allocator: mimalloc. Ingest allocates and frees many small buffers per request
/// on every thread (HTTP heads and bodies, parsed JSON, outbox rows); with glibc's allocator
/// `malloc`/`free`/`malloc_consolidate` took about a tenth of the CPU of `chatport serve` and a
/// fifth of `chatport bench ingest` under load (docs/performance.md, "Ingest through the
/// service").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// chatport joins WhatsApp to OpenText CMS, Orange Logic and Creatio, at least once and without
/// duplicates.
#[derive(Debug, Parser)]
#[command(name = "chatport", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: webhook ingress, durable outbox and flow workers.
    Serve {
        /// The configuration file (TOML; secrets as ${VAR} references to the environment).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file: syntax, unknown keys, references, client settings; with
    /// --probe, also call each connector once (authenticated) and report OK or FAILED.
    Check {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Probe each configured connector (WhatsApp Graph API, OpenText CMS) with one cheap
        /// authenticated request.
        #[arg(long)]
        probe: bool,
        /// The WhatsApp probe reads this phone number id (default: `me`, the token's user).
        #[arg(long, requires = "probe")]
        phone_number_id: Option<String>,
        /// Print one JSON object instead of the report.
        #[arg(long)]
        json: bool,
    },
    /// Inspect, retry and purge the dead-letter queue.
    Dlq {
        #[command(subcommand)]
        command: ops::DlqCommand,
    },
    /// Put the dead (or done) rows of a flow received since a time back to pending.
    Replay(ops::ReplayArgs),
    /// List, create and delete the WhatsApp message templates of a business account.
    Templates {
        #[command(subcommand)]
        command: templates_cmd::TemplatesCommand,
    },
    /// Load harnesses.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Run every flow end to end against local emulators, with a temporary store.
    Demo {
        /// Print one JSON object with the results instead of the report.
        #[arg(long)]
        json: bool,
        /// Put the model behind the assistant steps (O1 and C1 classification, the C1 summary
        /// and AI-filled case fields), served by the testkit's Chat Completions emulator.
        #[arg(long)]
        assistant: bool,
    },
    /// Hand a WhatsApp conversation to a person in Creatio (flow C1).
    Handoff(handoff_cmd::HandoffArgs),
    /// Work with the configuration format.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Work with WhatsApp webhook deliveries.
    Webhook {
        #[command(subcommand)]
        command: webhook_cmd::WebhookCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the JSON Schema of the configuration file (every key, its type and documentation),
    /// e.g. for an editor's TOML language server.
    Schema,
}

/// Logs to standard error, filtered by `CHATPORT_LOG` (else `default`). `CHATPORT_LOG_FORMAT=json`
/// writes one JSON object per line (tracing-subscriber's JSON format: `timestamp`, `level`,
/// `fields`, `target`, `span`, `spans`); `text` or unset writes the human format, with ANSI
/// colours only when standard error is a terminal and `NO_COLOR` is unset.
fn init_tracing(default: &str) {
    use std::io::IsTerminal;
    let filter =
        EnvFilter::try_from_env("CHATPORT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let format = std::env::var("CHATPORT_LOG_FORMAT").unwrap_or_default();
    let _ = match format.trim().to_ascii_lowercase().as_str() {
        "json" => builder.json().with_ansi(false).try_init(),
        "" | "text" => builder.with_ansi(colour).try_init(),
        _ => {
            eprintln!("chatport: CHATPORT_LOG_FORMAT must be `text` or `json`; using `text`");
            builder.with_ansi(colour).try_init()
        }
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config {
            command: ConfigCommand::Schema,
        } => match serde_json::to_string_pretty(&chatport_bridge::config::json_schema()) {
            Ok(schema) => {
                println!("{schema}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("chatport: cannot print the schema: {error}");
                ExitCode::from(2)
            }
        },
        Command::Webhook { command } => {
            init_tracing("warn");
            webhook_cmd::run(command)
        }
        Command::Check {
            config,
            probe,
            phone_number_id,
            json,
        } => {
            init_tracing("warn");
            run_async(check_cmd::run(
                &config,
                probe,
                phone_number_id.as_deref(),
                json,
            ))
        }
        Command::Dlq { command } => {
            init_tracing("warn");
            run_async(ops::run_dlq(command))
        }
        Command::Replay(args) => {
            init_tracing("warn");
            run_async(ops::run_replay(args))
        }
        Command::Bench { command } => {
            init_tracing("warn");
            run_async(bench::run(command))
        }
        Command::Serve { config } => {
            init_tracing("info");
            run_async(serve(config))
        }
        Command::Handoff(args) => {
            init_tracing("warn");
            run_async(handoff_cmd::run(args))
        }
        Command::Templates { command } => {
            init_tracing("warn");
            run_async(templates_cmd::run(command))
        }
        Command::Demo { json, assistant } => {
            init_tracing("warn");
            run_async(demo::run(json, assistant))
        }
    }
}

fn run_async(fut: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(error) => {
            eprintln!("chatport: cannot start the async runtime: {error}");
            ExitCode::from(2)
        }
    }
}

async fn serve(path: PathBuf) -> ExitCode {
    let result = async {
        let config = Config::load(&path)?;
        config.check_environment(&EnvVars)?;
        let stores = chatport_bridge::service::Stores::open(&config.store, &EnvVars).await?;
        let listener = tokio::net::TcpListener::bind(&config.service.listen)
            .await
            .map_err(|e| {
                chatport_bridge::Error::Server(format!(
                    "cannot listen on {}: {e}",
                    config.service.listen
                ))
            })?;
        let prometheus = metrics_route::install().map_err(chatport_bridge::Error::Server)?;
        let metrics = metrics_route::router(prometheus, stores.outbox.clone());
        let service =
            Service::start_with_routes(&config, &EnvVars, stores, listener, vec![metrics]).await?;
        let stop = shutdown_signal();
        tracing::info!(addr = %service.local_addr(), "serving; stop with Ctrl-C or SIGTERM");
        stop.await;
        tracing::info!("shutting down: intake stopped, finishing in-flight deliveries");
        service.stop().await;
        Ok::<_, chatport_bridge::Error>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chatport serve: {error}");
            ExitCode::from(1)
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT). The handlers are installed when this is called, not
/// when it is first polled: a SIGTERM that arrives right after the "serving" line (a supervisor
/// stopping a service that just started) must stop the service gracefully, not kill it with the
/// signal's default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::terminate())
            .and_then(|term| signal(SignalKind::interrupt()).map(|interrupt| (term, interrupt)));
        async move {
            match handlers {
                Ok((mut term, mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = interrupt.recv() => {},
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM; stop with Ctrl-C");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
