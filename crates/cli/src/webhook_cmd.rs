//! `chatport webhook verify|sign|parse`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chatport_whatsapp::webhook::{self, EventKind, Notification, SignatureVerifier};
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

/// The environment variable holding the app secret.
const SECRET_VAR: &str = "WHATSAPP_APP_SECRET";

#[derive(Debug, Subcommand)]
pub(crate) enum WebhookCommand {
    /// Verify an X-Hub-Signature-256 value over a body, byte for byte. The app secret comes from
    /// WHATSAPP_APP_SECRET. Exit 0 valid, 1 invalid, 2 usage or input error.
    Verify {
        /// The body file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// The header value, `sha256=<hex>`.
        #[arg(long)]
        signature: String,
    },
    /// Print the X-Hub-Signature-256 value Meta would send for a body (secret from WHATSAPP_APP_SECRET).
    Sign {
        /// The body file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Print one JSON object per event (message, status, error, other field) per line.
    /// Exit 0 for a well-formed delivery whatever its types, 1 for malformed input.
    Parse {
        /// The body file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
}

fn read_input(file: &str) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    if file == "-" {
        std::io::stdin()
            .read_to_end(&mut body)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
    } else {
        let path = PathBuf::from(file);
        body = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    }
    Ok(body)
}

fn app_secret() -> Result<SecretString, String> {
    match std::env::var(SECRET_VAR) {
        Ok(value) if !value.trim().is_empty() => Ok(SecretString::from(value)),
        Ok(_) => Err(format!("{SECRET_VAR} is blank")),
        Err(_) => Err(format!("{SECRET_VAR} is not set")),
    }
}

pub(crate) fn run(command: WebhookCommand) -> ExitCode {
    match command {
        WebhookCommand::Verify { file, signature } => verify(&file, &signature),
        WebhookCommand::Sign { file } => sign(&file),
        WebhookCommand::Parse { file } => parse(&file),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("chatport webhook: {message}");
    ExitCode::from(2)
}

fn verify(file: &str, signature: &str) -> ExitCode {
    let (body, secret) = match (read_input(file), app_secret()) {
        (Ok(body), Ok(secret)) => (body, secret),
        (Err(e), _) | (_, Err(e)) => return usage_error(&e),
    };
    if !signature.starts_with("sha256=") {
        return usage_error("--signature must look like 'sha256=<64 hex digits>'");
    }
    let verifier = match SignatureVerifier::new([secret]) {
        Ok(v) => v,
        Err(e) => return usage_error(&e.to_string()),
    };
    match verifier.verify(Some(signature), &body) {
        Ok(()) => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Err(error @ chatport_whatsapp::Error::SignatureMalformed(_)) => {
            usage_error(&error.to_string())
        }
        Err(error) => {
            println!("invalid: {error}");
            ExitCode::from(1)
        }
    }
}

fn sign(file: &str) -> ExitCode {
    let (body, secret) = match (read_input(file), app_secret()) {
        (Ok(body), Ok(secret)) => (body, secret),
        (Err(e), _) | (_, Err(e)) => return usage_error(&e),
    };
    println!(
        "{}",
        webhook::sign(secret.expose_secret().as_bytes(), &body)
    );
    ExitCode::SUCCESS
}

/// One NDJSON line for an event: `kind`, `id`, `field`, `phone_number_id`, `from` / `from_user_id`
/// or `recipient_id`, `type`, `status`, `timestamp` (RFC 3339) and `error_codes`.
pub(crate) fn event_line(event: &webhook::Event) -> Value {
    let mut line = Map::new();
    line.insert("kind".into(), json!(event.kind_name()));
    line.insert("id".into(), json!(event.event_id().as_str()));
    line.insert("field".into(), json!(event.field));
    if let Some(id) = event.phone_number_id() {
        line.insert("phone_number_id".into(), json!(id));
    }
    let mut codes: Vec<i64> = Vec::new();
    match &event.kind {
        EventKind::Message(m) => {
            line.insert("wamid".into(), json!(m.id));
            if let Some(from) = &m.from {
                line.insert("from".into(), json!(from));
            }
            if let Some(user) = &m.from_user_id {
                line.insert("from_user_id".into(), json!(user));
            }
            line.insert("type".into(), json!(m.message_type.as_str()));
            codes.extend(m.errors.iter().map(|e| e.code));
        }
        EventKind::Status(s) => {
            line.insert("wamid".into(), json!(s.id));
            if let Some(r) = &s.recipient_id {
                line.insert("recipient_id".into(), json!(r));
            }
            if let Some(r) = &s.recipient_user_id {
                line.insert("recipient_user_id".into(), json!(r));
            }
            line.insert("status".into(), json!(s.status.as_str()));
            codes.extend(s.errors.iter().map(|e| e.code));
        }
        EventKind::Error(e) => codes.push(e.code),
        _ => {}
    }
    if let Some(at) = event.occurred_at() {
        line.insert("timestamp".into(), json!(at.to_rfc3339()));
    }
    if !codes.is_empty() {
        line.insert("error_codes".into(), json!(codes));
    }
    Value::Object(line)
}

fn parse(file: &str) -> ExitCode {
    let body = match read_input(file) {
        Ok(body) => body,
        Err(e) => return usage_error(&e),
    };
    let notification = match Notification::parse(&body) {
        Ok(n) => n,
        Err(error) => {
            eprintln!("chatport webhook parse: {error}");
            return ExitCode::from(1);
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for event in notification.events() {
        if writeln!(out, "{}", event_line(&event)).is_err() {
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
