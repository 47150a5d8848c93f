//! **O8 supplier exchange**: documents from vendor numbers (directory role `vendor`) are stored in
//! the CSS, indexed in the CMS and linked to their contract / purchase order / shipment found by the
//! reference in the caption; status changes on those objects notify the vendor with a template (a
//! checkpointed poller like O3, once per object and status).
//!
//! **Extraction** (`extractor = "model"`, `docs/flows/O8.md`): when the caption names no reference,
//! the `[assistant]` model reads the caption, the conversation and a PDF's text for the reference
//! and the kind of object it names (one of `objects`); the reference is then looked up as if the
//! caption had named it, and the model and prompt version are written to `provenance_property`.
//! O8 has no question to the vendor: what the model does not find stays unresolved, as before.
//! On any model failure the rules' result stands.
//!
//! Effectively once: a document is one `chatport_opentext::DocumentSink` write (CSS upload + file
//! instance with the media as primary rendition) keyed by `derive("O8", "document", wamid)` in
//! `idempotency_property`; the record is looked up by that key before anything is downloaded (a
//! replay answers from the filed record), and the uploaded blob is remembered under the same key
//! until the record exists (there is no separate upload key). Notifications are keyed by the
//! poller row `{object id}:{status}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chatport_assistant::extract::{DocumentFacts, Extractor};
use chatport_assistant::fields::{FieldKind, FieldSpec, FieldValue, LookupValue, LookupValues};
use chatport_core::sink::KeyLocks;
use chatport_core::{IdempotencyKey, Outcome, Sink};
use chatport_opentext::{Client as CmsClient, Document, DocumentSink, Instance, InstanceDraft};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::{OutgoingMessage, Recipient};
use serde::Deserialize;
use serde_json::json;

use super::{
    WatchConfig, category_of, document_sink, in_doubt, pdf_text_of, poller_start, property_text,
    require, send_once, spool_media, status_event, status_source,
};
use crate::Error;
use crate::assistant::{Engine, conversation_of};

use crate::directory::{DirectoryEntry, find_person, phone_digits};
use crate::flows::{EventFlow, FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::{TemplateConfig, render};
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::sink::MessageSink;

/// The flow name of O8.
pub const FLOW: &str = "O8";

/// A business object documents are linked to, found by reference.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LinkedObject {
    /// Its kind as stored on documents (`purchase_order`).
    pub kind: String,
    /// Caption words introducing a reference (`po` in `PO 4711`).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A prefix that makes a word a reference by itself (`PO-` in `PO-4711`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Category. Default `object`.
    #[serde(default = "default_object")]
    pub category: String,
    /// Type (`ca_purchase_order`).
    pub type_name: String,
    /// The reference property (`po_number`).
    pub property: String,
}

fn default_object() -> String {
    "object".into()
}

fn linked(
    kind: &str,
    keywords: &[&str],
    prefix: &str,
    type_name: &str,
    property: &str,
) -> LinkedObject {
    LinkedObject {
        kind: kind.into(),
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        prefix: Some(prefix.into()),
        category: "object".into(),
        type_name: type_name.into(),
        property: property.into(),
    }
}

/// `[flows.o8]`: supplier exchange.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct O8Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// The business phone number id status notifications are sent from (required).
    pub phone_number_id: String,
    /// Directory roles treated as vendors. Default `vendor`.
    pub roles: Vec<String>,
    /// `[[flows.o8.objects]]`. Default: purchase orders (`PO-`, `po`), contracts (`C-`,
    /// `contract`), shipments (`SH-`, `shipment`).
    pub objects: Vec<LinkedObject>,
    /// Category of vendor documents. Default `file`.
    pub category: String,
    /// Type of vendor documents. Default `ca_supplier_document`.
    pub type_name: String,
    /// Property holding chatport's idempotency key. Default `chatport_key`.
    pub idempotency_property: String,
    /// Property of the object (on objects) naming the vendor: a directory `customer_id`, name or
    /// number. Default `vendor_id`.
    pub vendor_property: String,
    /// The status property of objects. Default `status`.
    pub status_property: String,
    /// Statuses that notify the vendor. Default `confirmed`, `shipped`, `delivered`, `cancelled`,
    /// `approved`, `rejected`.
    pub statuses: Vec<String>,
    /// The template. Default `supplier_status_update` (`en_US`), parameters `kind, reference, status`.
    pub template: TemplateConfig,
    /// Seconds between polls. Default 60.
    pub poll_interval_secs: u64,
    /// Largest media accepted, in bytes. Default 100 MB.
    pub max_bytes: u64,
    /// Acknowledgement of a linked document. Placeholders `{kind}`, `{reference}`.
    pub reply_linked: String,
    /// Acknowledgement when no object matched. Placeholder `{reference}`.
    pub reply_unlinked: String,
    /// Seconds before an in-doubt send is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
    /// Who reads the reference when the caption names none: `"rules"` (the default: only the
    /// caption's prefixes and keywords) or `"model"` (the `[assistant]` model reads the caption,
    /// the conversation and a PDF's text for the reference and the kind of object, one of
    /// `objects`).
    pub extractor: Engine,
    /// Characters of a PDF's text given to the model with `extractor = "model"`. Default 8000.
    pub document_text_chars: usize,
    /// Property receiving the model and prompt version when the model found the reference.
    /// Default `ai_provenance`; empty: not written.
    pub provenance_property: String,
}

impl Default for O8Config {
    fn default() -> Self {
        Self {
            enabled: false,
            phone_number_id: String::new(),
            roles: vec!["vendor".into()],
            objects: vec![
                linked(
                    "purchase_order",
                    &["po", "purchase order"],
                    "PO-",
                    "ca_purchase_order",
                    "po_number",
                ),
                linked(
                    "contract",
                    &["contract"],
                    "C-",
                    "ca_contract",
                    "contract_number",
                ),
                linked(
                    "shipment",
                    &["shipment"],
                    "SH-",
                    "ca_shipment",
                    "shipment_number",
                ),
            ],
            category: "file".into(),
            type_name: "ca_supplier_document".into(),
            idempotency_property: "chatport_key".into(),
            vendor_property: "vendor_id".into(),
            status_property: "status".into(),
            statuses: [
                "confirmed",
                "shipped",
                "delivered",
                "cancelled",
                "approved",
                "rejected",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            template: TemplateConfig::new(
                "supplier_status_update",
                &["kind", "reference", "status"],
            ),
            poll_interval_secs: 60,
            max_bytes: chatport_whatsapp::DEFAULT_MAX_DOWNLOAD_BYTES,
            reply_linked: "Thank you. Your document is filed with {kind} {reference}.".into(),
            reply_unlinked:
                "Thank you. We could not find {reference}; your document is filed for review."
                    .into(),
            in_doubt_recheck_secs: 60,
            extractor: Engine::Rules,
            document_text_chars: 8000,
            provenance_property: "ai_provenance".into(),
        }
    }
}

/// The first reference in a caption: `(object index, reference)`.
pub fn find_reference(caption: &str, objects: &[LinkedObject]) -> Option<(usize, String)> {
    let tokens: Vec<&str> = caption
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '/'))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, t) in tokens.iter().enumerate() {
        for (o, object) in objects.iter().enumerate() {
            if let Some(prefix) = &object.prefix
                && t.len() > prefix.len()
                && t.to_lowercase().starts_with(&prefix.to_lowercase())
            {
                return Some((o, t.to_uppercase()));
            }
            if object.keywords.iter().any(|k| k.eq_ignore_ascii_case(t))
                && let Some(next) = tokens.get(i + 1)
                && next.chars().any(|c| c.is_ascii_digit())
            {
                return Some((o, (*next).to_owned()));
            }
        }
    }
    None
}

/// The O8 handler: vendor documents and status notifications.
pub struct SupplierExchange {
    config: O8Config,
    cms: CmsClient,
    documents: DocumentSink,
    whatsapp: chatport_whatsapp::Client,
    sender: MessageSink,
    directory: Vec<DirectoryEntry>,
    conversations: Conversations,
    /// The metadata extractor, when `extractor = "model"`.
    extractor: Option<Arc<dyn Extractor>>,
}

impl std::fmt::Debug for SupplierExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupplierExchange").finish_non_exhaustive()
    }
}

/// Registers O8 (document flow, poller, notification flow) when `[flows.o8] enabled`.
///
/// # Errors
/// [`Error::Config`] without `[opentext]` or `phone_number_id`.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let config = &ctx.config.flows.o8;
    if !config.enabled {
        return Ok(());
    }
    let cms = ctx.require_cms(FLOW)?;
    require(&config.phone_number_id, "flows.o8.phone_number_id")?;
    let watch: Vec<WatchConfig> = config
        .objects
        .iter()
        .map(|o| WatchConfig {
            category: o.category.clone(),
            type_name: o.type_name.clone(),
        })
        .collect();
    let source = status_source(
        cms.clone(),
        "flows.o8",
        &watch,
        &config.status_property,
        &config.statuses,
    )?;
    registry.pollers.push(poller_start(
        ctx,
        "O8.status",
        FLOW,
        source,
        config.poll_interval_secs,
    ));
    let documents = document_sink(
        &cms,
        &ctx.kv,
        "flows.o8",
        category_of(&config.category),
        &config.type_name,
        &config.idempotency_property,
        &KeyLocks::new(),
    )?;
    let flow = Arc::new(SupplierExchange {
        config: config.clone(),
        cms,
        documents,
        whatsapp: ctx.whatsapp.clone(),
        sender: ctx.sender.clone(),
        directory: ctx.config.directory.clone(),
        conversations: ctx.conversations.clone(),
        extractor: match config.extractor {
            Engine::Rules => None,
            engine => Some(crate::assistant::extractor(
                engine,
                "flows.o8.extractor",
                ctx.assistant.as_ref(),
            )?),
        },
    });
    registry.event_flows.push(flow.clone());
    registry.message_flows.push(flow);
    Ok(())
}

impl SupplierExchange {
    async fn notify(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        let cfg = &self.config;
        let event = status_event(stored)?;
        let instance = &event.instance;
        let object = cfg.objects.iter().find(|o| o.type_name == event.type_name);
        let vendor = property_text(instance, &cfg.vendor_property).unwrap_or_default();
        let Some(person) = find_person(&self.directory, &vendor) else {
            return Ok(Outcome::Rejected {
                reason: format!(
                    "the vendor of object {} is not in the directory",
                    instance.id
                ),
            });
        };
        let mut values = BTreeMap::new();
        values.insert(
            "kind".to_owned(),
            object.map_or(event.type_name.clone(), |o| o.kind.replace('_', " ")),
        );
        values.insert(
            "reference".to_owned(),
            object
                .and_then(|o| property_text(instance, &o.property))
                .unwrap_or_else(|| instance.name.clone()),
        );
        values.insert("status".to_owned(), event.status.clone());
        values.insert("name".to_owned(), instance.name.clone());
        let message = OutgoingMessage::template(
            Recipient::phone(phone_digits(&person.phone)),
            cfg.template.build(&values),
        );
        let key = IdempotencyKey::derive(FLOW, "notify", &stored.event_id);
        match send_once(&self.sender, &key, &cfg.phone_number_id, message).await? {
            Some(wamid) => Ok(Outcome::delivered_with(
                json!({ "object_id": instance.id, "status": event.status, "wamid": wamid }),
            )),
            None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
        }
    }

    async fn document(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let cfg = &self.config;
        let message = &inbound.message;
        let Some(media) = message.media() else {
            return Ok(Outcome::Rejected {
                reason: "O8 got a message without media".into(),
            });
        };
        let key = IdempotencyKey::derive(FLOW, "document", &stored.event_id);
        // A replay answers from the record an earlier attempt filed, downloading nothing.
        let filed = match self.documents.find(&key).await? {
            Some(found) => Filed::of(&found),
            None => self.file(inbound, media, &key).await?,
        };
        let mut values = BTreeMap::new();
        values.insert(
            "reference".to_owned(),
            filed
                .reference
                .clone()
                .unwrap_or_else(|| "the reference".into()),
        );
        values.insert(
            "kind".to_owned(),
            filed
                .linked
                .as_ref()
                .map(|(kind, _)| kind.replace('_', " "))
                .unwrap_or_default(),
        );
        let text = if filed.linked.is_some() {
            render(&cfg.reply_linked, &values)
        } else {
            render(&cfg.reply_unlinked, &values)
        };
        let reply =
            OutgoingMessage::text(inbound.sender.recipient(), text).reply_to(message.id.clone());
        let reply_key = IdempotencyKey::derive(FLOW, "reply", &stored.event_id);
        match send_once(&self.sender, &reply_key, &inbound.phone_number_id, reply).await? {
            Some(wamid) => Ok(Outcome::delivered_with(json!({
                "document_id": filed.id,
                "linked_object_id": filed.linked.as_ref().map(|(_, id)| id.clone()),
                "reply_wamid": wamid,
            }))),
            None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
        }
    }

    /// Spools the media, finds the linked object and files the document (one
    /// [`DocumentSink`] write).
    async fn file(
        &self,
        inbound: &Inbound,
        media: &chatport_whatsapp::webhook::Media,
        key: &IdempotencyKey,
    ) -> Result<Filed, Error> {
        let cfg = &self.config;
        let message = &inbound.message;
        let caption = inbound.text().unwrap_or_default().to_owned();
        let vendor = inbound
            .sender
            .phone()
            .and_then(|p| find_person(&self.directory, p));
        let spooled = spool_media(&self.whatsapp, media, cfg.max_bytes).await?;
        let file_name = spooled
            .file_name
            .clone()
            .unwrap_or_else(|| format!("{}.bin", message.id.replace(['.', '='], "_")));
        let mut reference = find_reference(&caption, &cfg.objects);
        let mut provenance = None;
        if reference.is_none()
            && let Some(extractor) = &self.extractor
        {
            (reference, provenance) = self
                .extract(extractor.as_ref(), inbound, &caption, &spooled)
                .await?;
        }
        let mut target = None;
        if let Some((index, reference)) = &reference {
            let object = &cfg.objects[*index];
            if let Some(found) = self
                .cms
                .find_by_property(
                    category_of(&object.category),
                    &object.type_name,
                    &object.property,
                    reference,
                )
                .await?
            {
                target = Some((object.clone(), found));
            }
        }
        let mut draft = InstanceDraft::new(format!(
            "{} {}",
            vendor
                .and_then(|v| v.name.clone())
                .unwrap_or_else(|| "Vendor".into()),
            file_name
        ))
        .property(
            "vendor_id",
            vendor
                .and_then(|v| v.customer_id.clone())
                .unwrap_or_default(),
        )
        .property("caption", caption.clone())
        .property("source_message_id", message.id.clone())
        .property("content_sha256", spooled.sha256_hex.clone())
        .property(
            "link_status",
            if target.is_some() {
                "linked"
            } else {
                "unresolved"
            },
        );
        if let Some((_, r)) = &reference {
            draft = draft.property("reference", r.clone());
        }
        if let Some(p) = provenance.filter(|_| !cfg.provenance_property.trim().is_empty()) {
            draft = draft.property(cfg.provenance_property.clone(), p);
        }
        if let Some((object, found)) = &target {
            draft = draft
                .property("linked_object_id", found.id.clone())
                .property("linked_object_type", object.type_name.clone())
                .property("linked_object_kind", object.kind.clone());
        }
        let document = Document::from_path(draft, file_name, spooled.path())
            .mime_type(spooled.mime_type.clone());
        let receipt = self.documents.write(&document, key).await?;
        Ok(Filed {
            id: receipt.id,
            reference: reference.map(|(_, r)| r),
            linked: target.map(|(object, found)| (object.kind, found.id)),
        })
    }
}

impl SupplierExchange {
    /// Asks the model for the reference the caption did not name, and the kind of object it
    /// names (one of `objects`): `(object index, reference)` in the rules' form when the
    /// reference carries a configured prefix or keyword, else with the model's kind; and the
    /// model and prompt version when a reference came from the model.
    async fn extract(
        &self,
        extractor: &dyn Extractor,
        inbound: &Inbound,
        caption: &str,
        spooled: &chatport_whatsapp::SpooledMedia,
    ) -> Result<(Option<(usize, String)>, Option<String>), Error> {
        let cfg = &self.config;
        let objects = &cfg.objects;
        let specs = [
            FieldSpec::new(
                "reference",
                "Reference",
                FieldKind::Text,
                "The number of the purchase order, contract or shipment this document belongs to, exactly as written (e.g. PO-4711); leave it out when none is named.",
            ),
            FieldSpec::new(
                "reference_kind",
                "Reference kind",
                FieldKind::Lookup,
                "What kind of business object the reference names.",
            ),
        ];
        let mut lookups = LookupValues::new();
        lookups.insert(
            "reference_kind".to_owned(),
            objects
                .iter()
                .map(|o| LookupValue::new(o.kind.clone(), o.kind.replace('_', " ")))
                .collect(),
        );
        let text = if spooled.mime_type == "application/pdf" && cfg.document_text_chars > 0 {
            pdf_text_of(spooled.path(), cfg.document_text_chars).await
        } else {
            None
        };
        let conversation = conversation_of(&self.conversations, inbound).await?;
        let facts = DocumentFacts::new()
            .caption(Some(caption).filter(|c| !c.trim().is_empty()))
            .conversation(&conversation)
            .file_name(spooled.file_name.as_deref())
            .mime(Some(spooled.mime_type.as_str()))
            .text(text.as_deref());
        let filled = extractor.extract(&specs, &lookups, &facts).await;
        let Some(answer) = filled
            .get("reference")
            .map(FieldValue::to_plain)
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty() && r.chars().count() <= 100 && !r.contains('\n'))
        else {
            return Ok((None, None));
        };
        let kind = match filled.get("reference_kind") {
            Some(FieldValue::Lookup(v)) => objects.iter().position(|o| o.kind == v.id),
            _ => None,
        };
        let reference =
            find_reference(&answer, objects).or_else(|| kind.map(|i| (i, answer.clone())));
        let provenance = reference
            .is_some()
            .then(|| filled.provenance.as_ref().map(ToString::to_string))
            .flatten();
        Ok((reference, provenance))
    }
}

/// A filed vendor document: its id, the reference read, and the linked object (kind, id).
#[derive(Debug)]
struct Filed {
    id: String,
    reference: Option<String>,
    linked: Option<(String, String)>,
}

impl Filed {
    /// What an earlier attempt filed, read back from the record's properties.
    fn of(instance: &Instance) -> Self {
        Self {
            id: instance.id.clone(),
            reference: property_text(instance, "reference"),
            linked: property_text(instance, "linked_object_kind")
                .zip(property_text(instance, "linked_object_id")),
        }
    }
}

#[async_trait]
impl EventFlow for SupplierExchange {
    fn name(&self) -> &'static str {
        FLOW
    }

    async fn handle(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        self.notify(stored).await
    }
}

#[async_trait]
impl MessageFlow for SupplierExchange {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// Claims media messages from a vendor role (priority 50); vendors' text goes elsewhere (O1).
    fn claim(&self, inbound: &Inbound, person: Option<&DirectoryEntry>) -> Option<u8> {
        let role = person?.role.as_deref()?;
        (inbound.message.media().is_some()
            && self
                .config
                .roles
                .iter()
                .any(|r| r.eq_ignore_ascii_case(role)))
        .then_some(50)
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        self.document(stored, inbound).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_by_prefix_or_keyword() {
        let objects = O8Config::default().objects;
        assert_eq!(
            find_reference("Delivery note PO-4711", &objects),
            Some((0, "PO-4711".into()))
        );
        assert_eq!(
            find_reference("invoice for shipment 889", &objects),
            Some((2, "889".into()))
        );
        assert_eq!(
            find_reference("signed contract C-778.", &objects),
            Some((1, "C-778".into()))
        );
        assert_eq!(find_reference("hello", &objects), None);
    }
}
