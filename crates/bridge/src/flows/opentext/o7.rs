//! **O7 exception loop**: an exception on a CMS record (missing metadata, expired approval, policy
//! violation) → a WhatsApp **template** to the responsible user → the user's reply, matched by
//! `context.id` through the reply context remembered right after the send, is parsed and written
//! back to the record → the user is told it was.
//!
//! Effectively once: poller rows have the event id `{instance id}:{exception}`; the template is sent
//! under `derive("O7", "notify", event id)`; the write-back is a `PATCH` of fixed values (repeating
//! it changes nothing); the acknowledgement is sent under `derive("O7", "ack", reply wamid)`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{IdempotencyKey, Outcome};
use chatport_opentext::{Client as CmsClient, InstancePatch};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::{OutgoingMessage, Recipient};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    WatchConfig, category_of, in_doubt, poller_start, property_text, require, send_once,
    status_event, status_source,
};
use crate::Error;

use crate::directory::{DirectoryEntry, find_person, phone_digits};
use crate::flows::{EventFlow, FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::{TemplateConfig, render};
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::sink::MessageSink;

/// The flow name of O7.
pub const FLOW: &str = "O7";

/// `[flows.o7]`: CMS exception → template → reply written back.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct O7Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// The business phone number id the notifications are sent from (required).
    pub phone_number_id: String,
    /// `[[flows.o7.watch]]`: the types polled. Default: files of `ca_document`.
    pub watch: Vec<WatchConfig>,
    /// The property holding the open exception. Default `exception`.
    pub exception_property: String,
    /// Exception values that notify. Default `missing_metadata`, `expired_approval`,
    /// `policy_violation`.
    pub exceptions: Vec<String>,
    /// Property with a human explanation of the exception. Default `exception_detail`.
    pub detail_property: String,
    /// Property naming the record field the answer belongs in (e.g. `invoice_number` for missing
    /// metadata). Default `exception_field`.
    pub field_property: String,
    /// Fields a reply may write (`field: value` lines, or the whole reply into the exception's
    /// field). Empty = any field the exception names; `key: value` lines then need a listed key.
    pub writable_fields: Vec<String>,
    /// The property naming the responsible user (directory `customer_id`, name or number).
    /// Default `responsible_user`.
    pub responsible_property: String,
    /// Where the reply text is stored. Default `exception_response`.
    pub response_property: String,
    /// Where the responder's name is stored. Default `exception_responder`.
    pub responder_property: String,
    /// The value `exception_property` is set to once answered. Default `answered`.
    pub answered_value: String,
    /// The template. Default `record_exception` (`en_US`) with parameters `name, exception, detail`.
    pub template: TemplateConfig,
    /// The acknowledgement (free text inside the window the reply opened). Placeholders: `{name}`,
    /// `{fields}`.
    pub reply_done: String,
    /// Sent when someone other than the notified user answers.
    pub reply_not_yours: String,
    /// Seconds between polls. Default 60.
    pub poll_interval_secs: u64,
    /// Seconds before an in-doubt send is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
}

impl Default for O7Config {
    fn default() -> Self {
        Self {
            enabled: false,
            phone_number_id: String::new(),
            watch: vec![WatchConfig {
                category: "file".into(),
                type_name: "ca_document".into(),
            }],
            exception_property: "exception".into(),
            exceptions: vec![
                "missing_metadata".into(),
                "expired_approval".into(),
                "policy_violation".into(),
            ],
            detail_property: "exception_detail".into(),
            field_property: "exception_field".into(),
            writable_fields: Vec::new(),
            responsible_property: "responsible_user".into(),
            response_property: "exception_response".into(),
            responder_property: "exception_responder".into(),
            answered_value: "answered".into(),
            template: TemplateConfig::new("record_exception", &["name", "exception", "detail"]),
            reply_done: "Thank you. Your answer was recorded on {name} ({fields}).".into(),
            reply_not_yours:
                "Sorry, this request was sent to someone else; your answer was not recorded.".into(),
            poll_interval_secs: 60,
            in_doubt_recheck_secs: 60,
        }
    }
}

/// What O7 remembers about a notification, for the reply to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExceptionContext {
    /// Category of the record.
    pub category: String,
    /// Type of the record.
    pub type_name: String,
    /// Id of the record.
    pub id: String,
    /// Name of the record.
    pub name: String,
    /// The exception.
    pub exception: String,
    /// The field the answer belongs in, if the record names one.
    pub field: Option<String>,
    /// Digits of the notified number.
    pub notified: String,
}

/// The O7 handler: exception rows (notify) and replies (write back).
pub struct ExceptionLoop {
    config: O7Config,
    directory: Vec<DirectoryEntry>,
    sender: MessageSink,
    conversations: Conversations,
    cms: CmsClient,
}

impl std::fmt::Debug for ExceptionLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExceptionLoop").finish_non_exhaustive()
    }
}

/// Registers O7 (poller, event flow, reply flow) when `[flows.o7] enabled`.
///
/// # Errors
/// [`Error::Config`] without `[opentext]` or `phone_number_id`.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let config = &ctx.config.flows.o7;
    if !config.enabled {
        return Ok(());
    }
    let cms = ctx.require_cms(FLOW)?;
    require(&config.phone_number_id, "flows.o7.phone_number_id")?;
    let source = status_source(
        cms.clone(),
        "flows.o7",
        &config.watch,
        &config.exception_property,
        &config.exceptions,
    )?;
    registry.pollers.push(poller_start(
        ctx,
        "O7.exceptions",
        FLOW,
        source,
        config.poll_interval_secs,
    ));
    let flow = Arc::new(ExceptionLoop {
        config: config.clone(),
        directory: ctx.config.directory.clone(),
        sender: ctx.sender.clone(),
        conversations: ctx.conversations.clone(),
        cms,
    });
    registry.event_flows.push(flow.clone());
    registry.message_flows.push(flow);
    Ok(())
}

/// Parses a reply into field values: `key: value` lines whose key is allowed; otherwise the whole
/// text for `field` (when allowed). `allowed` empty allows only `field`.
pub fn parse_reply(
    text: &str,
    field: Option<&str>,
    allowed: &[String],
) -> BTreeMap<String, String> {
    let may = |k: &str| {
        allowed.iter().any(|a| a.eq_ignore_ascii_case(k))
            || (allowed.is_empty() && field.is_some_and(|f| f.eq_ignore_ascii_case(k)))
    };
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if !v.is_empty() && may(k) {
                let key = allowed
                    .iter()
                    .find(|a| a.eq_ignore_ascii_case(k))
                    .cloned()
                    .or_else(|| field.map(str::to_owned))
                    .unwrap_or_else(|| k.to_owned());
                out.insert(key, v.to_owned());
            }
        }
    }
    if out.is_empty()
        && let Some(f) = field
        && may(f)
        && !text.trim().is_empty()
    {
        out.insert(f.to_owned(), text.trim().to_owned());
    }
    out
}

impl ExceptionLoop {
    async fn notify(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        let event = status_event(stored)?;
        let cfg = &self.config;
        let instance = &event.instance;
        let responsible = property_text(instance, &cfg.responsible_property).unwrap_or_default();
        let Some(person) = find_person(&self.directory, &responsible) else {
            return Ok(Outcome::Rejected {
                reason: format!(
                    "the responsible user of instance {} is not in the directory",
                    instance.id
                ),
            });
        };
        let mut values = BTreeMap::new();
        values.insert("name".to_owned(), instance.name.clone());
        values.insert("exception".to_owned(), event.status.replace('_', " "));
        values.insert(
            "detail".to_owned(),
            property_text(instance, &cfg.detail_property).unwrap_or_default(),
        );
        values.insert("id".to_owned(), instance.id.clone());
        let notified = phone_digits(&person.phone);
        let message = OutgoingMessage::template(
            Recipient::phone(notified.clone()),
            cfg.template.build(&values),
        );
        let key = IdempotencyKey::derive(FLOW, "notify", &stored.event_id);
        let Some(wamid) = send_once(&self.sender, &key, &cfg.phone_number_id, message).await?
        else {
            return Ok(in_doubt(cfg.in_doubt_recheck_secs));
        };
        let context = ExceptionContext {
            category: event.category.to_string(),
            type_name: event.type_name.clone(),
            id: instance.id.clone(),
            name: instance.name.clone(),
            exception: event.status.clone(),
            field: property_text(instance, &cfg.field_property).filter(|f| !f.is_empty()),
            notified,
        };
        // Remembered after every successful attempt (a put; repeating it is harmless), so the
        // reply routes here even if an earlier attempt crashed right after the send.
        if !wamid.is_empty() {
            self.conversations
                .remember_context(
                    &wamid,
                    FLOW,
                    serde_json::to_value(&context).map_err(|e| Error::Payload(e.to_string()))?,
                )
                .await?;
        }
        Ok(Outcome::delivered_with(json!({
            "instance_id": instance.id,
            "exception": event.status,
            "wamid": wamid,
        })))
    }

    async fn write_back(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let cfg = &self.config;
        let context_id = inbound.context_id().unwrap_or_default();
        let Some(context) = self.conversations.context(context_id).await? else {
            return Ok(Outcome::Rejected {
                reason: "reply without a known O7 context".into(),
            });
        };
        let context: ExceptionContext =
            serde_json::from_value(context.data).map_err(|e| Error::Payload(e.to_string()))?;
        let recipient = inbound.sender.recipient();
        let ack_key = IdempotencyKey::derive(FLOW, "ack", &stored.event_id);
        let from = inbound.sender.phone().map(phone_digits).unwrap_or_default();
        if from != context.notified {
            let reply = OutgoingMessage::text(recipient, cfg.reply_not_yours.clone())
                .reply_to(inbound.message.id.clone());
            return match send_once(&self.sender, &ack_key, &inbound.phone_number_id, reply).await? {
                Some(_) => Ok(Outcome::delivered_with(
                    json!({ "instance_id": context.id, "skipped": "answer from another number" }),
                )),
                None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
            };
        }
        let text = inbound.text().unwrap_or_default().to_owned();
        let fields = parse_reply(&text, context.field.as_deref(), &cfg.writable_fields);
        let responder = self
            .directory
            .iter()
            .find(|e| phone_digits(&e.phone) == from)
            .and_then(|e| e.name.clone())
            .or_else(|| inbound.profile_name().map(str::to_owned))
            .unwrap_or_default();
        let mut patch = InstancePatch::new()
            .property(cfg.response_property.clone(), text.clone())
            .property(cfg.responder_property.clone(), responder)
            .property(cfg.exception_property.clone(), cfg.answered_value.clone());
        for (k, v) in &fields {
            patch = patch.property(k.clone(), Value::String(v.clone()));
        }
        self.cms
            .patch_instance(
                category_of(&context.category),
                &context.type_name,
                &context.id,
                &patch,
            )
            .await?;
        let mut values = BTreeMap::new();
        values.insert("name".to_owned(), context.name.clone());
        values.insert(
            "fields".to_owned(),
            if fields.is_empty() {
                cfg.response_property.clone()
            } else {
                fields.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        );
        let reply = OutgoingMessage::text(recipient, render(&cfg.reply_done, &values))
            .reply_to(inbound.message.id.clone());
        match send_once(&self.sender, &ack_key, &inbound.phone_number_id, reply).await? {
            Some(wamid) => Ok(Outcome::delivered_with(json!({
                "instance_id": context.id,
                "exception": context.exception,
                "written": fields.keys().collect::<Vec<_>>(),
                "reply_wamid": wamid,
            }))),
            None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
        }
    }
}

#[async_trait]
impl EventFlow for ExceptionLoop {
    fn name(&self) -> &'static str {
        FLOW
    }

    async fn handle(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        self.notify(stored).await
    }
}

#[async_trait]
impl MessageFlow for ExceptionLoop {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// O7 claims nothing by itself: replies reach it through their reply context.
    fn claim(&self, _inbound: &Inbound, _person: Option<&DirectoryEntry>) -> Option<u8> {
        None
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        self.write_back(stored, inbound).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_into_allowed_fields() {
        let f = parse_reply("4711", Some("invoice_number"), &[]);
        assert_eq!(f.get("invoice_number").map(String::as_str), Some("4711"));
        let allowed = vec!["due_date".to_owned(), "invoice_number".to_owned()];
        let f = parse_reply(
            "Invoice_Number: 4711\ndue_date: 2025-08-01\nowner: me",
            None,
            &allowed,
        );
        assert_eq!(f.len(), 2);
        assert_eq!(f["invoice_number"], "4711");
        assert_eq!(f["due_date"], "2025-08-01");
        assert!(parse_reply("owner: me", None, &allowed).is_empty());
        assert!(
            parse_reply("anything", Some("acl_id"), &allowed).is_empty(),
            "a field outside the allow-list is never written"
        );
    }
}
