//! **O3 status notification**: a checkpointed poller finds CMS items that reached a watched
//! status (approval required, rejected, pending review) and sends the responsible user a WhatsApp
//! **template** with the document type, due date, requester and priority — once per item and
//! status.
//!
//! Effectively once: the poller's rows have the event id `{instance id}:{status}`, so the outbox's
//! `UNIQUE(source, event_id)` keeps one row per item and status however often it is read; the
//! template is sent through [`MessageSink`] under `derive("O3", "notify", event id)`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{IdempotencyKey, Outcome};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::{OutgoingMessage, Recipient};
use serde::Deserialize;
use serde_json::json;

use super::{
    WatchConfig, in_doubt, poller_start, property_text, require, send_once, status_event,
    status_source,
};
use crate::Error;

use crate::directory::{DirectoryEntry, find_person};
use crate::flows::{EventFlow, FlowContext, Registry};
use crate::templates::TemplateConfig;
use chatport_whatsapp::sink::MessageSink;

/// The flow name of O3.
pub const FLOW: &str = "O3";

/// `[flows.o3]`: CMS status → template to the responsible user.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct O3Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// The business phone number id the notifications are sent from (required).
    pub phone_number_id: String,
    /// `[[flows.o3.watch]]`: the types polled. Default: files of `ca_document`.
    pub watch: Vec<WatchConfig>,
    /// The property holding the status. Default `status`.
    pub status_property: String,
    /// Status values that notify. Default `approval_required`, `rejected`, `pending_review`.
    pub statuses: Vec<String>,
    /// The property naming the responsible user (a directory `customer_id`, name or phone
    /// number). Default `responsible_user`.
    pub responsible_property: String,
    /// Logical field → property for the template parameters. Logical fields: `document_type`,
    /// `due_date`, `requester`, `priority`; also `name` (the instance name), `status` and `id`
    /// are always available. Defaults: the same property names.
    pub properties: BTreeMap<String, String>,
    /// The template. Default `document_status_changed` (`en_US`) with parameters
    /// `name, status, document_type, due_date, requester, priority`.
    pub template: TemplateConfig,
    /// Seconds between polls. Default 60.
    pub poll_interval_secs: u64,
    /// Seconds before an in-doubt send is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
}

impl Default for O3Config {
    fn default() -> Self {
        Self {
            enabled: false,
            phone_number_id: String::new(),
            watch: vec![WatchConfig {
                category: "file".into(),
                type_name: "ca_document".into(),
            }],
            status_property: "status".into(),
            statuses: vec![
                "approval_required".into(),
                "rejected".into(),
                "pending_review".into(),
            ],
            responsible_property: "responsible_user".into(),
            properties: ["document_type", "due_date", "requester", "priority"]
                .into_iter()
                .map(|f| (f.to_owned(), f.to_owned()))
                .collect(),
            template: TemplateConfig::new(
                "document_status_changed",
                &[
                    "name",
                    "status",
                    "document_type",
                    "due_date",
                    "requester",
                    "priority",
                ],
            ),
            poll_interval_secs: 60,
            in_doubt_recheck_secs: 60,
        }
    }
}

/// The O3 handler of poller rows.
pub struct StatusNotification {
    config: O3Config,
    directory: Vec<DirectoryEntry>,
    sender: MessageSink,
}

impl std::fmt::Debug for StatusNotification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusNotification").finish_non_exhaustive()
    }
}

/// Registers O3 (its event flow and its poller) when `[flows.o3] enabled`.
///
/// # Errors
/// [`Error::Config`] without `[opentext]` or `phone_number_id`.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let config = &ctx.config.flows.o3;
    if !config.enabled {
        return Ok(());
    }
    let cms = ctx.require_cms(FLOW)?;
    require(&config.phone_number_id, "flows.o3.phone_number_id")?;
    let source = status_source(
        cms,
        "flows.o3",
        &config.watch,
        &config.status_property,
        &config.statuses,
    )?;
    registry.pollers.push(poller_start(
        ctx,
        "O3.status",
        FLOW,
        source,
        config.poll_interval_secs,
    ));
    registry.event_flows.push(Arc::new(StatusNotification {
        config: config.clone(),
        directory: ctx.config.directory.clone(),
        sender: ctx.sender.clone(),
    }));
    Ok(())
}

#[async_trait]
impl EventFlow for StatusNotification {
    fn name(&self) -> &'static str {
        FLOW
    }

    async fn handle(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        let event = status_event(stored)?;
        let cfg = &self.config;
        let instance = &event.instance;
        let responsible = property_text(instance, &cfg.responsible_property).unwrap_or_default();
        let Some(person) = find_person(&self.directory, &responsible) else {
            return Ok(Outcome::Rejected {
                reason: format!(
                    "the responsible user of instance {} is not in the directory (property {})",
                    instance.id, cfg.responsible_property
                ),
            });
        };
        let mut values = BTreeMap::new();
        for (field, property) in &cfg.properties {
            if let Some(v) = property_text(instance, property) {
                values.insert(field.clone(), v);
            }
        }
        values.insert("name".into(), instance.name.clone());
        values.insert("status".into(), event.status.clone());
        values.insert("id".into(), instance.id.clone());
        let message = OutgoingMessage::template(
            Recipient::phone(crate::directory::phone_digits(&person.phone)),
            cfg.template.build(&values),
        );
        let key = IdempotencyKey::derive(FLOW, "notify", &stored.event_id);
        match send_once(&self.sender, &key, &cfg.phone_number_id, message).await? {
            Some(wamid) => Ok(Outcome::delivered_with(json!({
                "instance_id": instance.id,
                "status": event.status,
                "template": cfg.template.name,
                "notified": person.customer_id.clone().or(person.name.clone()),
                "wamid": wamid,
            }))),
            None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
        }
    }
}
