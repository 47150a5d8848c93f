//! `chatport check --config FILE [--probe]`: validates the configuration offline (syntax with line
//! numbers, unknown keys, `${VAR}` references, client settings, flows) and, with `--probe`, makes
//! one cheap authenticated call to each configured connector:
//!
//! | Connector | Probe |
//! |---|---|
//! | WhatsApp (Graph API) | `GET {api_base}/{api_version}/{id}?fields=id` with the access token; `id` is `--phone-number-id` when given, else `me` (the token's own user) |
//! | OpenText CMS | the OAuth token request ([`chatport_opentext::Client::authenticate`]); no CMS data is touched |
//! | Orange Logic | the token request ([`chatport_orangelogic::Client::authenticate`]) |
//! | Creatio | the login ([`chatport_creatio::Client::authenticate`]) |
//! | Store, PostgreSQL | connect, create or migrate the schema (as `serve` does at start; idempotent), then one query |
//! | Store, SQLite | the database file's directory exists (the file is created by `serve` when missing); an existing file is opened and queried |
//! | Assistant | one tiny Chat Completions request ([`chatport_assistant::llm::Assistant::probe`]): URL, key and model |
//!
//! Each probe is reported `OK` or `FAILED` with its error class (`auth`, `throttled`, `server`,
//! `transient`, `permanent`) and a short reason free of secrets.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::config::StoreBackend;
use chatport_bridge::flows::FlowContext;
use chatport_bridge::service;
use chatport_bridge::settings::{EnvVars, Vars};
use chatport_core::{Classify, ErrorClass};
use chatport_runtime::{Outbox, SqliteOptions, SqliteStore};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The result of one probe.
struct Probe {
    connector: &'static str,
    target: String,
    result: Result<(), (ErrorClass, String)>,
    millis: u128,
}

pub(crate) async fn run(
    path: &Path,
    probe: bool,
    phone_number_id: Option<&str>,
    json_output: bool,
) -> ExitCode {
    let config = match Config::load(path).and_then(|c| service::validate(&c, &EnvVars).map(|()| c))
    {
        Ok(config) => config,
        Err(error) => {
            if json_output {
                println!(
                    "{}",
                    json!({"config": "FAILED", "error": error.to_string()})
                );
            } else {
                eprintln!("chatport check: {error}");
            }
            return ExitCode::from(1);
        }
    };
    if !probe {
        if json_output {
            println!("{}", json!({"config": "OK", "probes": []}));
        } else {
            println!("{}: configuration OK", path.display());
        }
        return ExitCode::SUCCESS;
    }
    let probes = probe_all(&config, &EnvVars, phone_number_id).await;
    let ok = probes.iter().all(|p| p.result.is_ok());
    if json_output {
        let list: Vec<Value> = probes
            .iter()
            .map(|p| match &p.result {
                Ok(()) => json!({"connector": p.connector, "target": p.target, "status": "OK",
                    "millis": p.millis}),
                Err((class, reason)) => json!({"connector": p.connector, "target": p.target,
                    "status": "FAILED", "class": class.as_str(), "error": reason,
                    "millis": p.millis}),
            })
            .collect();
        println!("{}", json!({"config": "OK", "probes": list}));
    } else {
        println!("{}: configuration OK", path.display());
        for p in &probes {
            match &p.result {
                Ok(()) => println!("{:<10} OK      {} ({} ms)", p.connector, p.target, p.millis),
                Err((class, reason)) => println!(
                    "{:<10} FAILED  {} ({}): {reason}",
                    p.connector,
                    p.target,
                    class.as_str()
                ),
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn probe_all(config: &Config, vars: &dyn Vars, phone_number_id: Option<&str>) -> Vec<Probe> {
    let mut probes = vec![
        probe_store(config, vars).await,
        probe_whatsapp(config, vars, phone_number_id).await,
    ];
    if config.opentext.is_some() {
        probes.push(probe_opentext(config, vars).await);
    }
    if config.orangelogic.is_some() {
        probes.push(probe_orangelogic(config, vars).await);
    }
    if config.creatio.is_some() {
        probes.push(probe_creatio(config, vars).await);
    }
    if config.assistant.is_some() {
        probes.push(probe_assistant(config, vars).await);
    }
    probes
}

/// Opens the configured store and asks it one question (see the module docs for what each
/// backend's probe does).
async fn probe_store(config: &Config, vars: &dyn Vars) -> Probe {
    let started = Instant::now();
    let store = &config.store;
    let (target, result) = match store.backend {
        StoreBackend::Postgres => {
            let target = match &store.schema {
                Some(schema) => format!("PostgreSQL, schema {schema}"),
                None => "PostgreSQL".to_owned(),
            };
            let result = async {
                let stores = service::Stores::open(store, vars)
                    .await
                    .map_err(|e| (e.class(), e.to_string()))?;
                stores
                    .outbox
                    .ping()
                    .await
                    .map_err(|e| (e.class(), e.to_string()))
            }
            .await;
            (target, result)
        }
        _ => {
            let path = match store.sqlite_path(vars) {
                Ok(path) => path,
                Err(e) => {
                    return Probe {
                        connector: "store",
                        target: "SQLite".into(),
                        result: Err((e.class(), e.to_string())),
                        millis: 0,
                    };
                }
            };
            let path = path.as_path();
            let target = format!("SQLite {}", path.display());
            let result = if path.exists() {
                match SqliteStore::open(path, SqliteOptions::default()) {
                    Ok(sqlite) => sqlite.ping().await.map_err(|e| (e.class(), e.to_string())),
                    Err(e) => Err((e.class(), e.to_string())),
                }
            } else {
                let dir = path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                if dir.is_dir() {
                    Ok(())
                } else {
                    Err((
                        ErrorClass::Permanent,
                        format!("directory {} does not exist", dir.display()),
                    ))
                }
            };
            (target, result)
        }
    };
    Probe {
        connector: "store",
        target,
        result,
        millis: started.elapsed().as_millis(),
    }
}

/// `GET {api_base}/{version}/{id}?fields=id` with the bearer token.
async fn probe_whatsapp(config: &Config, vars: &dyn Vars, phone_number_id: Option<&str>) -> Probe {
    let wa = &config.whatsapp;
    let started = Instant::now();
    let object = phone_number_id.unwrap_or("me");
    let mut target = format!("GET /{}/{object}", wa.api_version);
    let result = async {
        let base = wa
            .api_base
            .resolve("whatsapp.api_base", vars)
            .map_err(|e| (ErrorClass::Permanent, e.to_string()))?;
        let token = wa
            .access_token
            .resolve("whatsapp.access_token", vars)
            .map_err(|e| (ErrorClass::Permanent, e.to_string()))?;
        let url = format!(
            "{}/{}/{object}?fields=id",
            base.trim_end_matches('/'),
            wa.api_version
        );
        target = format!("GET {}", url.split('?').next().unwrap_or(&url));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(wa.timeout_secs))
            .build()
            .map_err(|e| (ErrorClass::Permanent, e.to_string()))?;
        let response = http
            .get(&url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| (ErrorClass::Transient, transport_reason(&e)))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(());
        }
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        let error = chatport_whatsapp::Error::from_answer(status, &headers, &body);
        Err((
            error.class(),
            graph_reason(status, error.api().map(|api| api.code)),
        ))
    }
    .await;
    Probe {
        connector: "whatsapp",
        target,
        result,
        millis: started.elapsed().as_millis(),
    }
}

/// The probe's reason: the status and the Graph error code, never the message (which may
/// quote the request).
fn graph_reason(status: u16, code: Option<i64>) -> String {
    match code {
        Some(code) => format!("HTTP {status}, Graph error code {code}"),
        None => format!("HTTP {status}"),
    }
}

/// A transport error without the URL's query (reqwest's Display can include the URL).
fn transport_reason(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

async fn probe_opentext(config: &Config, vars: &dyn Vars) -> Probe {
    let started = Instant::now();
    let target = config
        .opentext
        .as_ref()
        .and_then(|ot| ot.auth_base.resolve("opentext.auth_base", vars).ok())
        .map(|base| format!("token request at {base}"))
        .unwrap_or_else(|| "token request".into());
    let result = async {
        let ctx = probe_context(config, vars)?;
        let Some(cms) = &ctx.cms else {
            return Err((ErrorClass::Permanent, "no [opentext] section".into()));
        };
        cms.authenticate()
            .await
            .map_err(|e| (e.class(), e.to_string()))
    }
    .await;
    Probe {
        connector: "opentext",
        target,
        result,
        millis: started.elapsed().as_millis(),
    }
}

/// Builds the flow context (clients from the configuration, on an in-memory store) for a probe.
fn probe_context<'a>(
    config: &'a Config,
    vars: &'a dyn Vars,
) -> Result<FlowContext<'a>, (ErrorClass, String)> {
    let store =
        SqliteStore::open_in_memory().map_err(|e| (ErrorClass::Permanent, e.to_string()))?;
    service::context(config, vars, store).map_err(|e| (ErrorClass::Permanent, e.to_string()))
}

/// The Orange Logic token request.
async fn probe_orangelogic(config: &Config, vars: &dyn Vars) -> Probe {
    let started = Instant::now();
    let result = async {
        let ctx = probe_context(config, vars)?;
        let Some(dam) = &ctx.orangelogic else {
            return Err((ErrorClass::Permanent, "no [orangelogic] section".into()));
        };
        dam.authenticate()
            .await
            .map_err(|e| (e.class(), e.to_string()))
    }
    .await;
    Probe {
        connector: "orangelogic",
        target: "token request".into(),
        result,
        millis: started.elapsed().as_millis(),
    }
}

/// The Creatio login.
async fn probe_creatio(config: &Config, vars: &dyn Vars) -> Probe {
    let started = Instant::now();
    let result = async {
        let ctx = probe_context(config, vars)?;
        let Some(crm) = &ctx.creatio else {
            return Err((ErrorClass::Permanent, "no [creatio] section".into()));
        };
        crm.authenticate()
            .await
            .map_err(|e| (e.class(), e.to_string()))
    }
    .await;
    Probe {
        connector: "creatio",
        target: "login".into(),
        result,
        millis: started.elapsed().as_millis(),
    }
}

/// One tiny Chat Completions request to the `[assistant]` endpoint (its key, URL and model).
async fn probe_assistant(config: &Config, vars: &dyn Vars) -> Probe {
    let started = Instant::now();
    let model = config
        .assistant
        .as_ref()
        .map_or_else(String::new, |a| a.model.clone());
    let result = async {
        let assistant = chatport_bridge::assistant::build(config.assistant.as_ref(), vars)
            .map_err(|e| (e.class(), e.to_string()))?
            .ok_or_else(|| (ErrorClass::Permanent, "no [assistant] section".to_owned()))?;
        assistant
            .probe()
            .await
            .map_err(|e| (e.class(), e.to_string()))
    }
    .await;
    Probe {
        connector: "assistant",
        target: format!("POST /chat/completions (model {model})"),
        result,
        millis: started.elapsed().as_millis(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe classifies with chatport-whatsapp's own classification (no table of its own).
    fn graph_class(status: u16, body: &[u8]) -> ErrorClass {
        let headers = reqwest::header::HeaderMap::new();
        chatport_whatsapp::Error::from_answer(status, &headers, body).class()
    }

    #[test]
    fn graph_errors_are_classified_by_the_whatsapp_crate() {
        let doc = |code: i64| format!(r#"{{"error":{{"code":{code},"message":"m"}}}}"#);
        assert_eq!(graph_class(401, doc(190).as_bytes()), ErrorClass::Auth);
        assert_eq!(graph_class(400, doc(190).as_bytes()), ErrorClass::Auth);
        assert!(matches!(
            graph_class(400, doc(130429).as_bytes()),
            ErrorClass::Throttled { .. }
        ));
        assert_eq!(graph_class(500, b"<html>oops</html>"), ErrorClass::Server);
        assert_eq!(
            graph_reason(404, Some(100)),
            "HTTP 404, Graph error code 100"
        );
    }
}
