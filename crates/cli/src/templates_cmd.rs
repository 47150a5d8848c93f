//! `chatport templates list|create|delete`: the message templates of a WhatsApp Business Account,
//! through the configuration's `[whatsapp]` section (API base, version, access token). The access
//! token needs the `whatsapp_business_management` permission.
//!
//! | Command | Request |
//! |---|---|
//! | `list` | `GET /{waba_id}/message_templates` (every page; `--name` filters) |
//! | `create --file template.json` | `POST /{waba_id}/message_templates` with `{"name","language","category","components"[,"parameter_format"]}` |
//! | `delete --name N [--id ID]` | `DELETE /{waba_id}/message_templates?name=N[&hsm_id=ID]` |
//!
//! Exit codes: 0 done, 1 the Graph API refused or failed, 2 a usage, configuration or file error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chatport_bridge::config::Config;
use chatport_bridge::settings::EnvVars;
use chatport_whatsapp::{NewTemplate, TemplateCategory};
use clap::Subcommand;
use serde_json::{Value, json};

/// `chatport templates …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TemplatesCommand {
    /// List the templates of a WhatsApp Business Account.
    List {
        /// The configuration file (its `[whatsapp]` section is used).
        #[arg(long, short)]
        config: PathBuf,
        /// The WhatsApp Business Account id.
        #[arg(long)]
        waba_id: String,
        /// Only templates of this name.
        #[arg(long)]
        name: Option<String>,
        /// Print one JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Create a template from a JSON file: `{"name","language","category","components"}` in
    /// Meta's shape (components verbatim), optionally `"parameter_format": "named"`.
    Create {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The WhatsApp Business Account id.
        #[arg(long)]
        waba_id: String,
        /// The template, as JSON.
        #[arg(long)]
        file: PathBuf,
    },
    /// Delete a template: every language of `--name`, or only the template `--id`.
    Delete {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The WhatsApp Business Account id.
        #[arg(long)]
        waba_id: String,
        /// The template's name.
        #[arg(long)]
        name: String,
        /// Only this template id (`hsm_id`) of that name.
        #[arg(long)]
        id: Option<String>,
    },
}

fn client(config: &Path) -> Result<chatport_whatsapp::Client, String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    chatport_bridge::service::whatsapp_client(&config, &EnvVars).map_err(|e| e.to_string())
}

/// A template file as [`NewTemplate`].
fn template_from(path: &Path) -> Result<NewTemplate, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let field = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: `{key}` (a string) is required", path.display()))
    };
    let mut template = NewTemplate::new(
        field("name")?,
        field("language")?,
        TemplateCategory::from(field("category")?.as_str()),
    );
    let components = value
        .get("components")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{}: `components` (an array) is required", path.display()))?;
    for component in components {
        template = template.component(component.clone());
    }
    if value.get("parameter_format").and_then(Value::as_str) == Some("named") {
        template = template.named_parameters();
    }
    Ok(template)
}

/// Runs one `templates` command.
pub(crate) async fn run(command: TemplatesCommand) -> ExitCode {
    let usage = |message: String| {
        eprintln!("chatport templates: {message}");
        ExitCode::from(2)
    };
    let failed = |error: chatport_whatsapp::Error| {
        eprintln!("chatport templates: {error}");
        ExitCode::from(1)
    };
    match command {
        TemplatesCommand::List {
            config,
            waba_id,
            name,
            json,
        } => {
            let client = match client(&config) {
                Ok(client) => client,
                Err(e) => return usage(e),
            };
            let templates = match client.list_templates(&waba_id, name.as_deref()).await {
                Ok(templates) => templates,
                Err(e) => return failed(e),
            };
            if json {
                println!("{}", json!(templates));
            } else {
                for t in &templates {
                    println!(
                        "{:<40} {:<8} {:<10} {:<14} {}",
                        t.name,
                        t.language,
                        t.status.as_str(),
                        t.category.as_deref().unwrap_or("-"),
                        t.id
                    );
                }
                eprintln!("{} template(s)", templates.len());
            }
            ExitCode::SUCCESS
        }
        TemplatesCommand::Create {
            config,
            waba_id,
            file,
        } => {
            let template = match template_from(&file) {
                Ok(template) => template,
                Err(e) => return usage(e),
            };
            let client = match client(&config) {
                Ok(client) => client,
                Err(e) => return usage(e),
            };
            match client.create_template(&waba_id, &template).await {
                Ok(created) => {
                    println!("{}", json!(created));
                    ExitCode::SUCCESS
                }
                Err(e) => failed(e),
            }
        }
        TemplatesCommand::Delete {
            config,
            waba_id,
            name,
            id,
        } => {
            let client = match client(&config) {
                Ok(client) => client,
                Err(e) => return usage(e),
            };
            match client.delete_template(&waba_id, &name, id.as_deref()).await {
                Ok(()) => {
                    println!("deleted {name}");
                    ExitCode::SUCCESS
                }
                Err(e) => failed(e),
            }
        }
    }
}
