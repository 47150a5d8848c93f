//! **O4 document request**: a directory number with an authorised role writes "invoice 12345",
//! "contract C-778" or "customer ACME" → CMS search → an expiring CSS share link (files with
//! content) or a document reference; an interactive list when several match (the choice comes
//! back through its reply context); numbers without an authorised role get a polite refusal; every
//! request is audited.
//!
//! **Audit:** one record per request in the key-value store (namespace [`KV_AUDIT`], key
//! `{received RFC 3339}:{wamid}`, JSON `{requester, role, kind, reference, outcome, matches,
//! instance_id}`) plus the outbox row's receipt; with `audit_type` set, also a CMS object of that
//! type (created once per request by its idempotency key).
//!
//! **Not stealing O1's customers:** the whole message must be a request — an optional prefix
//! (`send`, `get`, …), a configured keyword, and a short reference — so a complaint that mentions
//! an invoice number still goes to O1.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::sink::KeyLocks;
use chatport_core::{IdempotencyKey, Outcome, Sink};
use chatport_opentext::filter::{Field, Filter};
use chatport_opentext::{
    Category, Client as CmsClient, Instance, InstanceDraft, InstanceSink, ListQuery,
    ShareLinkRequest,
};
use chatport_runtime::{KvStore, StoredEvent};
use chatport_whatsapp::{InteractiveMessage, ListRow, ListSection, OutgoingMessage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{category_of, in_doubt, instance_sink, property_text, send_once};
use crate::Error;

use crate::directory::DirectoryEntry;
use crate::flows::{FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::{clip, render};
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::sink::MessageSink;

/// The flow name of O4.
pub const FLOW: &str = "O4";
/// KV namespace of the request audit.
pub const KV_AUDIT: &str = "opentext.o4.audit";
/// KV namespace of share links created per request (so a retry does not create a second link).
pub const KV_LINK: &str = "opentext.o4.link";

/// How a request keyword maps to a CMS search.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestKind {
    /// The keyword (`invoice`).
    pub keyword: String,
    /// Instance category. Default `file`.
    #[serde(default = "super::default_file")]
    pub category: String,
    /// Instance type (`ca_invoice`).
    pub type_name: String,
    /// The property compared with the reference (`invoice_number`).
    pub property: String,
    /// `eq` (exact, the default) or `contains` (case-insensitive substring:
    /// `LOWER(property) like '%ref%'`).
    #[serde(default = "default_eq")]
    pub match_mode: String,
}

fn default_eq() -> String {
    "eq".into()
}

impl RequestKind {
    fn new(keyword: &str, type_name: &str, property: &str, mode: &str) -> Self {
        Self {
            keyword: keyword.into(),
            category: "file".into(),
            type_name: type_name.into(),
            property: property.into(),
            match_mode: mode.into(),
        }
    }

    /// The filter for `reference`.
    pub fn filter(&self, reference: &str) -> String {
        if self.match_mode.eq_ignore_ascii_case("contains") {
            let escaped: String = reference
                .to_lowercase()
                .chars()
                .filter(|c| *c != '%' && *c != '_')
                .collect();
            Filter::like(
                Field::lower(self.property.as_str()),
                &format!("%{escaped}%"),
            )
            .to_string()
        } else {
            Filter::eq(self.property.as_str(), reference).to_string()
        }
    }
}

/// `[flows.o4]`: document requests from authorised directory numbers.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct O4Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// Directory roles allowed to request documents. Default `agent`, `manager`, `staff`.
    pub roles: Vec<String>,
    /// `[[flows.o4.kinds]]`. Default: `invoice` → `ca_invoice.invoice_number`, `contract` →
    /// `ca_contract.contract_number`, `customer` → `ca_document.customer_name` (contains).
    pub kinds: Vec<RequestKind>,
    /// Words a request may start with (`send invoice 1`). Default `send`, `get`, `show`, `find`,
    /// `please send`, `/doc`.
    pub prefixes: Vec<String>,
    /// At most this many matches are offered in a list (WhatsApp allows 10 rows). Default 10.
    pub max_results: u32,
    /// Lifetime of share links in hours. Default 24.
    pub link_ttl_hours: u64,
    /// Create a CMS audit object of this type per request (category `object`). Default: none.
    pub audit_type: Option<String>,
    /// Reply with a link. Placeholders `{name}`, `{url}`, `{expires}`, `{id}`.
    pub reply_link: String,
    /// Reply with a reference (no content or no CSS). Placeholders `{name}`, `{id}`, `{type}`.
    pub reply_reference: String,
    /// Reply when nothing matches. Placeholders `{kind}`, `{reference}`.
    pub reply_none: String,
    /// Reply to numbers without an authorised role.
    pub reply_refused: String,
    /// Body of the list when several match. Placeholders `{count}`, `{kind}`, `{reference}`.
    pub reply_choose: String,
    /// The list's button text (≤ 20 characters). Default `Documents`.
    pub list_button: String,
    /// Seconds before an in-doubt send is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
}

impl Default for O4Config {
    fn default() -> Self {
        Self {
            enabled: false,
            roles: vec!["agent".into(), "manager".into(), "staff".into()],
            kinds: vec![
                RequestKind::new("invoice", "ca_invoice", "invoice_number", "eq"),
                RequestKind::new("contract", "ca_contract", "contract_number", "eq"),
                RequestKind::new("customer", "ca_document", "customer_name", "contains"),
            ],
            prefixes: ["send", "get", "show", "find", "please send", "/doc"]
                .into_iter()
                .map(String::from)
                .collect(),
            max_results: 10,
            link_ttl_hours: 24,
            audit_type: None,
            reply_link: "{name}: {url} (valid until {expires})".into(),
            reply_reference: "{name} is in the archive as {type} {id}.".into(),
            reply_none: "No document found for {kind} {reference}.".into(),
            reply_refused: "Sorry, this number is not authorised to request documents. Please contact your administrator.".into(),
            reply_choose: "{count} documents match {kind} {reference}. Please choose one.".into(),
            list_button: "Documents".into(),
            in_doubt_recheck_secs: 60,
        }
    }
}

/// A parsed request: the kind's index in `kinds` and the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Index into [`O4Config::kinds`].
    pub kind: usize,
    /// The reference as written (trimmed).
    pub reference: String,
}

/// Parses a whole message as a request: `[prefix] keyword reference`, the reference 1–3 words and
/// at most 40 characters; a trailing `.`, `?` or `!` is ignored. Anything else is not a request.
pub fn parse_request(text: &str, kinds: &[RequestKind], prefixes: &[String]) -> Option<Request> {
    let trimmed = text.trim().trim_end_matches(['.', '?', '!']).trim();
    let lower = trimmed.to_lowercase();
    let mut rest_at = 0;
    let mut sorted: Vec<&String> = prefixes.iter().collect();
    sorted.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in sorted {
        let p = p.to_lowercase();
        if lower.starts_with(&p) && lower[p.len()..].starts_with(' ') {
            rest_at = p.len() + 1;
            break;
        }
    }
    let rest = trimmed.get(rest_at..)?.trim_start();
    let (word, reference) = rest.split_once(char::is_whitespace)?;
    let reference = reference.trim();
    let kind = kinds
        .iter()
        .position(|k| k.keyword.eq_ignore_ascii_case(word))?;
    if reference.is_empty()
        || reference.chars().count() > 40
        || reference.split_whitespace().count() > 3
    {
        return None;
    }
    Some(Request {
        kind,
        reference: reference.to_owned(),
    })
}

/// What O4 remembers about a list it sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ListContext {
    kind: usize,
    reference: String,
}

/// The O4 handler.
pub struct DocumentRequest {
    config: O4Config,
    cms: CmsClient,
    /// The audit records (`audit_type`), when configured.
    audits: Option<InstanceSink>,
    sender: MessageSink,
    conversations: Conversations,
    kv: Arc<dyn KvStore>,
    directory: crate::directory::Directory,
}

impl std::fmt::Debug for DocumentRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentRequest").finish_non_exhaustive()
    }
}

/// Registers O4 when `[flows.o4] enabled`.
///
/// # Errors
/// [`Error::Config`] without `[opentext]` or without kinds.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let config = &ctx.config.flows.o4;
    if !config.enabled {
        return Ok(());
    }
    if config.kinds.is_empty() {
        return Err(Error::Config(
            "flows.o4.kinds: at least one kind is required".into(),
        ));
    }
    let cms = ctx.require_cms(FLOW)?;
    let audits = config
        .audit_type
        .as_deref()
        .map(|audit_type| {
            instance_sink(
                &cms,
                "flows.o4.audit_type",
                Category::Object,
                audit_type,
                "chatport_key",
                &KeyLocks::new(),
            )
        })
        .transpose()?;
    registry.message_flows.push(Arc::new(DocumentRequest {
        config: config.clone(),
        cms,
        audits,
        sender: ctx.sender.clone(),
        conversations: ctx.conversations.clone(),
        kv: ctx.kv.clone(),
        directory: ctx.directory.clone(),
    }));
    Ok(())
}

impl DocumentRequest {
    fn authorised(&self, person: Option<&DirectoryEntry>) -> bool {
        person
            .and_then(|p| p.role.as_deref())
            .is_some_and(|r| self.config.roles.iter().any(|a| a.eq_ignore_ascii_case(r)))
    }

    async fn audit(
        &self,
        stored: &StoredEvent,
        inbound: &Inbound,
        record: Value,
    ) -> Result<(), Error> {
        let at = inbound
            .message
            .timestamp()
            .unwrap_or(stored.received_at)
            .to_rfc3339();
        let key = format!("{at}:{}", inbound.message.id);
        let bytes = serde_json::to_vec(&record).map_err(|e| Error::Payload(e.to_string()))?;
        self.kv.put(KV_AUDIT, &key, &bytes).await?;
        if let Some(audits) = &self.audits {
            let mut draft = InstanceDraft::new(format!("Document request {}", inbound.message.id));
            if let Value::Object(map) = &record {
                for (k, v) in map {
                    if !v.is_null() {
                        draft.properties.insert(format!("request_{k}"), v.clone());
                    }
                }
            }
            audits
                .write(
                    &draft,
                    &IdempotencyKey::derive(FLOW, "audit", &stored.event_id),
                )
                .await?;
        }
        Ok(())
    }

    async fn reply(
        &self,
        stored: &StoredEvent,
        inbound: &Inbound,
        step: &str,
        message: OutgoingMessage,
    ) -> Result<Option<String>, Error> {
        let key = IdempotencyKey::derive(FLOW, step, &stored.event_id);
        send_once(
            &self.sender,
            &key,
            &inbound.phone_number_id,
            message.reply_to(inbound.message.id.clone()),
        )
        .await
    }

    /// The link (or reference) text for one instance.
    async fn answer_for(
        &self,
        stored: &StoredEvent,
        kind: &RequestKind,
        instance: &Instance,
    ) -> Result<(String, Value), Error> {
        let mut values = BTreeMap::new();
        values.insert("name".to_owned(), instance.name.clone());
        values.insert("id".to_owned(), instance.id.clone());
        values.insert("type".to_owned(), kind.type_name.clone());
        let link_key = IdempotencyKey::derive(FLOW, "link", &stored.event_id);
        if let Some(bytes) = self.kv.get(KV_LINK, link_key.as_str()).await?
            && let Ok(link) = serde_json::from_slice::<Value>(&bytes)
        {
            values.insert(
                "url".into(),
                link["url"].as_str().unwrap_or_default().to_owned(),
            );
            values.insert(
                "expires".into(),
                link["expires"].as_str().unwrap_or_default().to_owned(),
            );
            return Ok((render(&self.config.reply_link, &values), link));
        }
        let category = category_of(&kind.category);
        if category == Category::File && self.cms.css_base().is_some() {
            let contents = self
                .cms
                .list_contents(&kind.type_name, &instance.id, &ListQuery::new())
                .await?;
            let blob = contents.items.iter().find_map(|r| r.blob_id.clone());
            if let Some(blob) = blob {
                let expires = chrono::Utc::now()
                    + chrono::Duration::hours(
                        i64::try_from(self.config.link_ttl_hours).unwrap_or(24),
                    );
                let link = self
                    .cms
                    .create_share_link(
                        &blob,
                        &ShareLinkRequest::expiring_at(expires).object_id(&instance.id),
                    )
                    .await?;
                if let Some(url) = link.url {
                    let expires = expires.format("%Y-%m-%d %H:%M UTC").to_string();
                    let record =
                        json!({ "url": url, "expires": expires, "instance_id": instance.id });
                    let bytes =
                        serde_json::to_vec(&record).map_err(|e| Error::Payload(e.to_string()))?;
                    self.kv.put(KV_LINK, link_key.as_str(), &bytes).await?;
                    values.insert("url".into(), url);
                    values.insert("expires".into(), expires);
                    return Ok((render(&self.config.reply_link, &values), record));
                }
            }
        }
        Ok((
            render(&self.config.reply_reference, &values),
            json!({ "reference": instance.id }),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    async fn deliver_one(
        &self,
        stored: &StoredEvent,
        inbound: &Inbound,
        person: Option<&DirectoryEntry>,
        kind_index: usize,
        reference: &str,
        instance: &Instance,
        matches: usize,
    ) -> Result<Outcome, Error> {
        let kind = &self.config.kinds[kind_index];
        let (text, answer) = self.answer_for(stored, kind, instance).await?;
        self.audit(
            stored,
            inbound,
            json!({
                "requester": inbound.sender.as_str(),
                "role": person.and_then(|p| p.role.clone()),
                "kind": kind.keyword, "reference": reference,
                "outcome": if answer.get("url").is_some() { "link" } else { "reference" },
                "matches": matches, "instance_id": instance.id,
            }),
        )
        .await?;
        let message = OutgoingMessage::text(inbound.sender.recipient(), text);
        match self.reply(stored, inbound, "reply", message).await? {
            Some(wamid) => Ok(Outcome::delivered_with(json!({
                "kind": kind.keyword, "instance_id": instance.id,
                "answer": if answer.get("url").is_some() { "link" } else { "reference" },
                "reply_wamid": wamid,
            }))),
            None => Ok(in_doubt(self.config.in_doubt_recheck_secs)),
        }
    }

    async fn run(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let cfg = &self.config;
        let person = inbound
            .sender
            .phone()
            .and_then(|p| self.directory.lookup(p));
        let recipient = inbound.sender.recipient();

        // A choice from a list we sent.
        if let Some(choice) = inbound
            .message
            .interactive
            .as_ref()
            .and_then(|i| i.reply_id())
            && let Some(ctx) = self
                .conversations
                .context(inbound.context_id().unwrap_or_default())
                .await?
            && let Ok(list) = serde_json::from_value::<ListContext>(ctx.data)
            && let Some(kind) = cfg.kinds.get(list.kind)
            && self.authorised(person)
        {
            let instance = self
                .cms
                .get_instance(category_of(&kind.category), &kind.type_name, choice)
                .await?;
            return self
                .deliver_one(
                    stored,
                    inbound,
                    person,
                    list.kind,
                    &list.reference,
                    &instance,
                    1,
                )
                .await;
        }

        let text = inbound.text().unwrap_or_default();
        let Some(request) = parse_request(text, &cfg.kinds, &cfg.prefixes) else {
            return Ok(Outcome::Rejected {
                reason: "not a document request".into(),
            });
        };
        let kind = &cfg.kinds[request.kind];
        if !self.authorised(person) {
            self.audit(stored, inbound, json!({
                "requester": inbound.sender.as_str(), "role": person.and_then(|p| p.role.clone()),
                "kind": kind.keyword, "reference": request.reference, "outcome": "refused",
            }))
            .await?;
            let message = OutgoingMessage::text(recipient, cfg.reply_refused.clone());
            return match self.reply(stored, inbound, "reply", message).await? {
                Some(wamid) => Ok(Outcome::delivered_with(
                    json!({ "refused": true, "reply_wamid": wamid }),
                )),
                None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
            };
        }
        let query = ListQuery::new()
            .filter(kind.filter(&request.reference))
            .items_per_page(cfg.max_results.clamp(1, 10));
        let page = self
            .cms
            .list_instances(category_of(&kind.category), &kind.type_name, &query)
            .await?;
        let found = page.items;
        let mut values = BTreeMap::new();
        values.insert("kind".to_owned(), kind.keyword.clone());
        values.insert("reference".to_owned(), request.reference.clone());
        values.insert("count".to_owned(), found.len().to_string());
        match found.as_slice() {
            [] => {
                self.audit(stored, inbound, json!({
                    "requester": inbound.sender.as_str(), "role": person.and_then(|p| p.role.clone()),
                    "kind": kind.keyword, "reference": request.reference, "outcome": "none", "matches": 0,
                }))
                .await?;
                let message = OutgoingMessage::text(recipient, render(&cfg.reply_none, &values));
                match self.reply(stored, inbound, "reply", message).await? {
                    Some(wamid) => Ok(Outcome::delivered_with(
                        json!({ "kind": kind.keyword, "matches": 0, "reply_wamid": wamid }),
                    )),
                    None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
                }
            }
            [one] => {
                self.deliver_one(
                    stored,
                    inbound,
                    person,
                    request.kind,
                    &request.reference,
                    one,
                    1,
                )
                .await
            }
            several => {
                let rows = several
                    .iter()
                    .map(|i| {
                        let detail = property_text(i, &kind.property).unwrap_or_default();
                        ListRow::new(i.id.clone(), clip(&i.name, 24)).description(clip(&detail, 72))
                    })
                    .collect();
                let list = InteractiveMessage::list(
                    render(&cfg.reply_choose, &values),
                    clip(&cfg.list_button, 20),
                    vec![ListSection::untitled(rows)],
                );
                self.audit(stored, inbound, json!({
                    "requester": inbound.sender.as_str(), "role": person.and_then(|p| p.role.clone()),
                    "kind": kind.keyword, "reference": request.reference, "outcome": "list",
                    "matches": several.len(),
                }))
                .await?;
                let message = OutgoingMessage::interactive(recipient, list);
                let Some(wamid) = self.reply(stored, inbound, "list", message).await? else {
                    return Ok(in_doubt(cfg.in_doubt_recheck_secs));
                };
                if !wamid.is_empty() {
                    let data = json!({ "kind": request.kind, "reference": request.reference });
                    self.conversations
                        .remember_context(&wamid, FLOW, data)
                        .await?;
                }
                Ok(Outcome::delivered_with(json!({
                    "kind": kind.keyword, "matches": several.len(), "list_wamid": wamid,
                })))
            }
        }
    }
}

#[async_trait]
impl MessageFlow for DocumentRequest {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// Claims (priority 60) a text message whose whole text is a document request, from anyone: an
    /// authorised role gets the document, others the refusal.
    fn claim(&self, inbound: &Inbound, _person: Option<&DirectoryEntry>) -> Option<u8> {
        if inbound.message.message_type != chatport_whatsapp::webhook::MessageType::Text {
            return None;
        }
        parse_request(inbound.text()?, &self.config.kinds, &self.config.prefixes).map(|_| 60)
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        self.run(stored, inbound).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_message_requests_are_recognised() {
        let cfg = O4Config::default();
        let p = |t: &str| parse_request(t, &cfg.kinds, &cfg.prefixes);
        assert_eq!(
            p("invoice 12345"),
            Some(Request {
                kind: 0,
                reference: "12345".into()
            })
        );
        assert_eq!(
            p("Contract C-778?"),
            Some(Request {
                kind: 1,
                reference: "C-778".into()
            })
        );
        assert_eq!(
            p("please send customer ACME Corp"),
            Some(Request {
                kind: 2,
                reference: "ACME Corp".into()
            })
        );
        assert_eq!(
            p("/doc invoice 9"),
            Some(Request {
                kind: 0,
                reference: "9".into()
            })
        );
        assert_eq!(
            p("my invoice 12345 was charged twice, please refund me"),
            None
        );
        assert_eq!(p("invoice"), None);
        assert_eq!(p("hello there"), None);
    }

    #[test]
    fn filters_quote_and_lower_case() {
        let k = RequestKind::new("customer", "t", "customer_name", "contains");
        assert_eq!(k.filter("O'Neil%"), "LOWER(customer_name) like '%o''neil%'");
        let k = RequestKind::new("invoice", "t", "invoice_number", "eq");
        assert_eq!(k.filter("12345"), "invoice_number eq '12345'");
    }
}
