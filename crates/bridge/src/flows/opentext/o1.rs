//! **O1 case intake**: a WhatsApp complaint or request → classification (customer id, issue type,
//! priority, region, product line) → a CMS case record routed to a support queue → a WhatsApp reply
//! with the case reference.
//!
//! Effectively once, step by step:
//! 1. the case is keyed by `IdempotencyKey::derive("O1", "case", wamid)` and written through
//!    `chatport_opentext::InstanceSink`, which stores the key in the configured idempotency property
//!    and looks it up before every create, so a redelivered webhook or a retried attempt finds the
//!    case instead of creating a second one;
//! 2. the reply is keyed by `derive("O1", "reply", wamid)` and goes through [`MessageSink`]: never a
//!    second reply, and never a blind resend after an ambiguous timeout.
//!
//! The case reference is derived from the key (`CASE-7F3A9C21B0`), so every attempt computes the same
//! reference before the record exists.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{EventId, IdempotencyKey, Outcome, Sink};
use chatport_opentext::{Category, Client as CmsClient, InstanceDraft, InstanceSink};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;
use chatport_whatsapp::webhook::Message;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Error;
use crate::assistant::Engine;
use crate::directory::DirectoryEntry;
use crate::flows::{FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::render;
use chatport_assistant::classify::{Classification, Classifier, MessageFacts};
use chatport_whatsapp::inbound::Inbound;
use chatport_whatsapp::sink::{MessageSink, SendOnce};

/// `[flows.o1]`: WhatsApp complaint or request → CMS case → reply with the case reference.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct O1Config {
    /// Whether the flow runs. Default `true`.
    pub enabled: bool,
    /// CMS instance category of the case record. Default `object`.
    pub case_category: String,
    /// CMS type of the case record. Default `ca_support_case`.
    pub case_type: String,
    /// Property that stores chatport's idempotency key; looked up before every create, so a
    /// redelivered webhook never creates a second record. Default `chatport_key`.
    pub idempotency_property: String,
    /// Logical field → CMS property name. Logical fields: `reference`, `customer_id`, `issue_type`,
    /// `priority`, `region`, `product_line`, `queue`, `description`, `sender_name`, `sender`,
    /// `channel`, `received_at`, `wamid`. A field missing here is not written.
    pub properties: BTreeMap<String, String>,
    /// Queue when no routing rule matches. Default `general-support`.
    pub default_queue: String,
    /// `[[flows.o1.queues]]`: routing rules, first match wins.
    pub queues: Vec<QueueRule>,
    /// Prefix of case references (`CASE-` gives `CASE-7F3A9C21B0`). Default `CASE-`.
    pub reference_prefix: String,
    /// Reply text. Placeholders: `{reference}`, `{queue}`, `{priority}`, `{issue_type}`, `{name}`.
    pub reply: String,
    /// Reply when the message has no text to classify (an unsupported or unknown type).
    pub reply_no_text: String,
    /// Seconds to wait for a status webhook before an in-doubt reply is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
    /// Who classifies the message: `"rules"` (the `[classifier]` keywords and the directory; the
    /// default) or `"model"` (the `[assistant]` model, constrained to the `[classifier]` lists,
    /// falling back to the rules).
    pub classifier: Engine,
}

impl Default for O1Config {
    fn default() -> Self {
        let properties = [
            ("reference", "case_reference"),
            ("customer_id", "customer_id"),
            ("issue_type", "issue_type"),
            ("priority", "priority"),
            ("region", "region"),
            ("product_line", "product_line"),
            ("queue", "support_queue"),
            ("description", "description"),
            ("sender_name", "customer_name"),
            ("channel", "channel"),
            ("received_at", "received_at"),
            ("wamid", "source_message_id"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self {
            enabled: true,
            case_category: "object".into(),
            case_type: "ca_support_case".into(),
            idempotency_property: "chatport_key".into(),
            properties,
            default_queue: "general-support".into(),
            queues: Vec::new(),
            reference_prefix: "CASE-".into(),
            reply: "Thank you{name}. We have opened case {reference} for you; our {queue} team will get back to you (priority: {priority}).".into(),
            reply_no_text: "Thank you for your message. We could not read this type of message: please describe your request in a text message.".into(),
            in_doubt_recheck_secs: 60,
            classifier: Engine::Rules,
        }
    }
}

/// A routing rule of `[[flows.o1.queues]]`: every given condition must match.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QueueRule {
    /// The queue the case is routed to.
    pub queue: String,
    /// Matches this issue type.
    pub issue_type: Option<String>,
    /// Matches this priority.
    pub priority: Option<String>,
    /// Matches this region.
    pub region: Option<String>,
    /// Matches this product line.
    pub product_line: Option<String>,
}

/// The flow name of O1 in the outbox, metrics and docs.
pub const FLOW: &str = "O1";

/// The O1 handler.
pub struct CaseIntake {
    config: O1Config,
    classifier: Arc<dyn Classifier>,
    cases: InstanceSink,
    sender: MessageSink,
}

impl std::fmt::Debug for CaseIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseIntake")
            .field("case_type", &self.config.case_type)
            .finish_non_exhaustive()
    }
}

/// The case reference of an event: the configured prefix and the first 10 hex digits of the case
/// key, upper-case.
pub fn case_reference(prefix: &str, key: &IdempotencyKey) -> String {
    let digits: String = key.as_str().chars().take(10).collect();
    format!("{prefix}{}", digits.to_uppercase())
}

/// The queue of the first rule whose every condition matches, else the default queue.
pub fn route_queue<'a>(rules: &'a [QueueRule], default: &'a str, c: &Classification) -> &'a str {
    let ok = |want: &Option<String>, have: &str| {
        want.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(have))
    };
    rules
        .iter()
        .find(|r| {
            ok(&r.issue_type, &c.issue_type)
                && ok(&r.priority, &c.priority)
                && ok(&r.region, &c.region)
                && ok(&r.product_line, &c.product_line)
        })
        .map_or(default, |r| r.queue.as_str())
}

fn category_of(name: &str) -> Category {
    match name {
        "file" => Category::File,
        "folder" => Category::Folder,
        "case" => Category::Case,
        "any" => Category::Any,
        _ => Category::Object,
    }
}

impl CaseIntake {
    /// Builds the handler: cases are written through an [`InstanceSink`] of the configured
    /// category and type, keyed by the configured idempotency property.
    ///
    /// # Errors
    /// [`Error::Config`] when the case type or the idempotency property is empty.
    pub fn new(
        config: O1Config,
        classifier: Arc<dyn Classifier>,
        cms: CmsClient,
        sender: MessageSink,
    ) -> Result<Self, Error> {
        let cases = InstanceSink::builder(cms)
            .category(category_of(&config.case_category))
            .type_name(config.case_type.clone())
            .key_property(config.idempotency_property.clone())
            .build()
            .map_err(|e| Error::Config(format!("flows.o1: {e}")))?;
        Ok(Self {
            config,
            classifier,
            cases,
            sender,
        })
    }

    async fn run(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let message = &inbound.message;
        let phone_number_id = inbound.phone_number_id.clone();
        let recipient = inbound.sender.recipient();
        let reply_key = IdempotencyKey::derive(FLOW, "reply", &stored.event_id);

        let Some(text) = message.text_body().map(str::to_owned) else {
            // Nothing to classify (an unsupported or unknown type): no case; ask for text once.
            let reply = OutgoingMessage::text(recipient, self.config.reply_no_text.clone())
                .reply_to(message.id.clone());
            return self
                .finish_reply(&reply_key, &phone_number_id, reply, json!({ "case": null, "skipped": "no text", "message_type": message.message_type.as_str() }))
                .await;
        };

        let classification = self
            .classifier
            .classify(&MessageFacts::new(message.from.as_deref(), &text))
            .await;
        let queue = route_queue(
            &self.config.queues,
            &self.config.default_queue,
            &classification,
        )
        .to_owned();
        let case_key = IdempotencyKey::derive(FLOW, "case", &stored.event_id);
        let reference = case_reference(&self.config.reference_prefix, &case_key);
        let sender_name = inbound
            .profile_name()
            .map(str::to_owned)
            .or_else(|| classification.customer_name.clone());

        let draft = self.case_draft(
            &reference,
            &queue,
            &classification,
            message,
            sender_name.as_deref(),
            &stored.event_id,
            &text,
        );
        let case = self.cases.write(&draft, &case_key).await?;

        let mut values = BTreeMap::new();
        values.insert("reference", reference.clone());
        values.insert("queue", queue.clone());
        values.insert("priority", classification.priority.clone());
        values.insert("issue_type", classification.issue_type.clone());
        values.insert(
            "name",
            sender_name
                .as_deref()
                .map(|n| format!(", {n}"))
                .unwrap_or_default(),
        );
        let reply = OutgoingMessage::text(recipient, render(&self.config.reply, &values))
            .reply_to(message.id.clone());
        self.finish_reply(
            &reply_key,
            &phone_number_id,
            reply,
            json!({ "case_id": case.id, "reference": reference, "queue": queue, "classification": classification }),
        )
        .await
    }

    async fn finish_reply(
        &self,
        key: &IdempotencyKey,
        phone_number_id: &str,
        reply: OutgoingMessage,
        mut receipt: Value,
    ) -> Result<Outcome, Error> {
        match self.sender.send(key, phone_number_id, reply).await? {
            SendOnce::Sent(wamid) => {
                if let Value::Object(map) = &mut receipt {
                    map.insert("reply_wamid".into(), Value::String(wamid));
                }
                Ok(Outcome::delivered_with(receipt))
            }
            // In doubt (and any state a newer sink may report): wait, never resend blindly.
            _ => Ok(Outcome::Retry {
                after: Some(Duration::from_secs(self.config.in_doubt_recheck_secs)),
                reason: "reply outcome unknown after an earlier attempt; not resent blindly, waiting for its status webhook".into(),
            }),
        }
    }

    /// The case record's draft: the configured properties of the classification and the
    /// message (the sink adds the idempotency key).
    #[allow(clippy::too_many_arguments)]
    fn case_draft(
        &self,
        reference: &str,
        queue: &str,
        c: &Classification,
        message: &Message,
        sender_name: Option<&str>,
        event_id: &EventId,
        text: &str,
    ) -> InstanceDraft {
        let cfg = &self.config;
        let mut logical: Vec<(&str, Value)> = vec![
            ("reference", json!(reference)),
            ("issue_type", json!(c.issue_type)),
            ("priority", json!(c.priority)),
            ("region", json!(c.region)),
            ("product_line", json!(c.product_line)),
            ("queue", json!(queue)),
            ("description", json!(text)),
            ("channel", json!("whatsapp")),
            ("wamid", json!(event_id.as_str())),
        ];
        if let Some(id) = &c.customer_id {
            logical.push(("customer_id", json!(id)));
        }
        if let Some(name) = sender_name {
            logical.push(("sender_name", json!(name)));
        }
        if let Some(from) = message.from.as_deref().or(message.from_user_id.as_deref()) {
            logical.push(("sender", json!(from)));
        }
        if let Some(at) = message.timestamp() {
            logical.push(("received_at", json!(at.to_rfc3339())));
        }
        let mut properties = Map::new();
        for (field, value) in logical {
            if let Some(property) = cfg.properties.get(field) {
                properties.insert(property.clone(), value);
            }
        }
        let mut draft = InstanceDraft::new(format!("{reference} {}", c.issue_type));
        draft.properties = properties;
        draft
    }
}

/// Registers O1 when `[flows.o1] enabled` (the default).
///
/// # Errors
/// [`Error::Config`] when there is no `[opentext]` section.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    if !ctx.config.flows.o1.enabled {
        return Ok(());
    }
    let cms = ctx.require_cms(FLOW)?;
    let classifier = crate::assistant::classifier(
        ctx.config.flows.o1.classifier,
        "flows.o1.classifier",
        ctx.assistant.as_ref(),
        &ctx.config.classifier,
        &ctx.classifier,
    )?;
    registry.message_flows.push(Arc::new(CaseIntake::new(
        ctx.config.flows.o1.clone(),
        classifier,
        cms,
        ctx.sender.clone(),
    )?));
    Ok(())
}

#[async_trait]
impl MessageFlow for CaseIntake {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// O1 takes every message no other flow claims (priority 0).
    fn claim(&self, _inbound: &Inbound, _person: Option<&DirectoryEntry>) -> Option<u8> {
        Some(0)
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        self.run(stored, inbound).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classification(issue: &str, priority: &str, region: &str) -> Classification {
        Classification::new(issue, priority, region, "unspecified")
    }

    fn rule(queue: &str, issue: Option<&str>, priority: Option<&str>) -> QueueRule {
        toml::from_str(&format!(
            "queue = {queue:?}\n{}{}",
            issue
                .map(|i| format!("issue_type = {i:?}\n"))
                .unwrap_or_default(),
            priority
                .map(|p| format!("priority = {p:?}\n"))
                .unwrap_or_default()
        ))
        .unwrap()
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = vec![
            rule("billing-escalations", Some("billing"), Some("high")),
            rule("billing", Some("billing"), None),
        ];
        assert_eq!(
            route_queue(&rules, "general", &classification("billing", "high", "NA")),
            "billing-escalations"
        );
        assert_eq!(
            route_queue(
                &rules,
                "general",
                &classification("billing", "normal", "NA")
            ),
            "billing"
        );
        assert_eq!(
            route_queue(&rules, "general", &classification("delivery", "high", "NA")),
            "general"
        );
    }

    #[test]
    fn reference_is_stable_and_prefixed() {
        let key = IdempotencyKey::derive(FLOW, "case", &EventId::new("wamid.1"));
        let a = case_reference("CASE-", &key);
        assert_eq!(a, case_reference("CASE-", &key));
        assert!(a.starts_with("CASE-") && a.len() == 15);
        assert_eq!(a[5..], a[5..].to_uppercase());
    }
}
