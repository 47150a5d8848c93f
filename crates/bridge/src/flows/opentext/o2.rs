//! **O2 document capture**: a WhatsApp document (or an image whose caption names a document type)
//! → the media downloaded with its SHA-256 verified and streamed into the CSS (through a temporary
//! file, never whole in memory) → the document type (invoice, proof of delivery, id document, claim
//! form) and key fields taken from the caption → what is missing asked from the sender (the type
//! with an interactive list or buttons, a field with a question) → a CMS file instance with
//! classification, retention tag and business context → a reply with the reference.
//!
//! The capture in progress is an O2 session in the store ([`Conversations`]), so it survives a
//! restart: the answer that arrives after it is routed to O2 and completes the capture.
//!
//! Effectively once: the upload is remembered under `derive("O2", "blob", wamid)`; the file
//! instance is keyed by `derive("O2", "file", first wamid)` in `idempotency_property`; each
//! question and the final reply go through [`MessageSink`] keyed by the message they answer; an
//! answer already applied (a retry) is not applied twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::sink::KeyLocks;
use chatport_core::{EventId, IdempotencyKey, Outcome, Sink};
use chatport_opentext::{Client as CmsClient, InstanceDraft, InstanceSink};
use chatport_runtime::{KvStore, StoredEvent};
use chatport_whatsapp::webhook::MessageType;
use chatport_whatsapp::{InteractiveMessage, ListRow, ListSection, OutgoingMessage, ReplyButton};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    MediaLimits, StoredMedia, category_of, in_doubt, instance_sink, primary_rendition, send_once,
    store_media,
};
use crate::Error;
use crate::assistant::Engine;
use chatport_assistant::extract::{DocumentFacts, Extractor};
use chatport_assistant::fields::{FieldKind, FieldSpec, FieldValue, LookupValue, LookupValues};
use chatport_whatsapp::conversation::ConversationKey;

use crate::directory::DirectoryEntry;
use crate::flows::{FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::render;
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::sink::MessageSink;

/// The flow name of O2.
pub const FLOW: &str = "O2";

/// A document type O2 recognises.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DocumentType {
    /// Its id, stored in `type_property` (`invoice`).
    pub name: String,
    /// Its title in questions and replies (`Invoice`, ≤ 20 characters for buttons).
    pub title: String,
    /// Caption words or phrases that name it (case-insensitive, whole words).
    pub keywords: Vec<String>,
    /// Fields that must be known before filing (`invoice_number`).
    #[serde(default)]
    pub required_fields: Vec<String>,
    /// Classification written to `classification_property`.
    pub classification: String,
    /// Retention tag written to `retention_property`.
    pub retention_tag: String,
}

impl DocumentType {
    fn new(
        name: &str,
        title: &str,
        keywords: &[&str],
        fields: &[&str],
        class: &str,
        retention: &str,
    ) -> Self {
        Self {
            name: name.into(),
            title: title.into(),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            required_fields: fields.iter().map(|k| (*k).to_owned()).collect(),
            classification: class.into(),
            retention_tag: retention.into(),
        }
    }
}

/// `[flows.o2]`: document capture.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct O2Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// Category of the filed instance. Default `file`.
    pub category: String,
    /// Type of the filed instance. Default `ca_captured_document`.
    pub type_name: String,
    /// Property holding chatport's idempotency key. Default `chatport_key`.
    pub idempotency_property: String,
    /// `[[flows.o2.document_types]]`. Default: invoice, proof of delivery, id document, claim form.
    pub document_types: Vec<DocumentType>,
    /// Property of the document type. Default `document_type`.
    pub type_property: String,
    /// Property of the classification. Default `classification`.
    pub classification_property: String,
    /// Property of the retention tag. Default `retention_tag`.
    pub retention_property: String,
    /// Business context: logical field → property. Logical fields: `sender_name`, `customer_id`,
    /// `wamid`, `received_at`, `channel`, `caption`, `sha256`, `reference`. Key fields are written
    /// under their own names.
    pub context_properties: BTreeMap<String, String>,
    /// Whether images with no document keyword in the caption are captured too. Default `false`
    /// (they go to other flows, e.g. O1).
    pub capture_any_image: bool,
    /// Largest media accepted, in bytes. Default 100 MB.
    pub max_bytes: u64,
    /// How long a capture waits for answers, in seconds. Default 86400 (24 h, the window).
    pub session_ttl_secs: u64,
    /// Prefix of references (`DOC-` gives `DOC-7F3A9C21B0`). Default `DOC-`.
    pub reference_prefix: String,
    /// Question for the document type (list body).
    pub ask_type: String,
    /// The list's button (≤ 20 characters).
    pub list_button: String,
    /// Question for a field. Placeholders `{field}`, `{document_type}`.
    pub ask_field: String,
    /// Final reply. Placeholders `{document_type}`, `{reference}`, `{fields}`.
    pub reply_done: String,
    /// Seconds before an in-doubt send is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
    /// Who reads the document type and key fields: `"rules"` (caption keywords; the default) or
    /// `"model"` (the `[assistant]` model reads the caption, the conversation and a PDF's text,
    /// choosing the type only from `document_types`; the sender is asked only for what is still
    /// missing). The model and prompt version are written to the `ai_provenance` context
    /// property.
    pub extractor: Engine,
    /// Characters of a PDF's text given to the model with `extractor = "model"`. Default 8000.
    pub document_text_chars: usize,
}

impl Default for O2Config {
    fn default() -> Self {
        Self {
            enabled: false,
            category: "file".into(),
            type_name: "ca_captured_document".into(),
            idempotency_property: "chatport_key".into(),
            document_types: vec![
                DocumentType::new(
                    "invoice",
                    "Invoice",
                    &["invoice", "rechnung", "bill"],
                    &["invoice_number"],
                    "finance/accounts-payable",
                    "FIN-10Y",
                ),
                DocumentType::new(
                    "proof_of_delivery",
                    "Proof of delivery",
                    &["proof of delivery", "pod", "delivery note"],
                    &["shipment_number"],
                    "logistics/delivery",
                    "LOG-7Y",
                ),
                DocumentType::new(
                    "id_document",
                    "ID document",
                    &["id document", "passport", "id card", "identity card"],
                    &[],
                    "kyc/identity",
                    "KYC-5Y",
                ),
                DocumentType::new(
                    "claim_form",
                    "Claim form",
                    &["claim form", "claim"],
                    &["claim_number"],
                    "claims/forms",
                    "CLM-10Y",
                ),
            ],
            type_property: "document_type".into(),
            classification_property: "classification".into(),
            retention_property: "retention_tag".into(),
            context_properties: [
                ("sender_name", "submitted_by"),
                ("customer_id", "customer_id"),
                ("wamid", "source_message_id"),
                ("received_at", "received_at"),
                ("channel", "channel"),
                ("sha256", "content_sha256"),
                ("reference", "document_reference"),
                ("ai_provenance", "ai_provenance"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            capture_any_image: false,
            max_bytes: chatport_whatsapp::DEFAULT_MAX_DOWNLOAD_BYTES,
            session_ttl_secs: 86_400,
            reference_prefix: "DOC-".into(),
            ask_type: "Thank you, we received your file. What kind of document is it?".into(),
            list_button: "Document type".into(),
            ask_field: "Please send the {field} of this {document_type}.".into(),
            reply_done: "Thank you. Your {document_type} is filed as {reference} ({fields})."
                .into(),
            in_doubt_recheck_secs: 60,
            extractor: Engine::Rules,
            document_text_chars: 8000,
        }
    }
}

/// What the caption says: a document type (index) and `field → value`s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptionFacts {
    /// Index into the document types.
    pub document_type: Option<usize>,
    /// Key fields found.
    pub fields: BTreeMap<String, String>,
}

fn words(text: &str) -> String {
    let cleaned: String = text
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                ' '
            }
        })
        .collect();
    format!(
        " {} ",
        cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

/// The first document type with a keyword in `text` (whole words, case-insensitive).
pub fn document_type_of(text: &str, types: &[DocumentType]) -> Option<usize> {
    let haystack = words(text);
    types
        .iter()
        .position(|t| t.keywords.iter().any(|k| haystack.contains(&words(k))))
}

/// Reads a caption: the document type, `field: value` (or `field=value`) pairs for the type's
/// required fields, and otherwise the first word containing a digit for the first required field.
pub fn read_caption(caption: &str, types: &[DocumentType]) -> CaptionFacts {
    let document_type = document_type_of(caption, types);
    let mut fields = BTreeMap::new();
    if let Some(t) = document_type.map(|i| &types[i]) {
        for segment in caption.split([',', ';', '\n']) {
            if let Some((k, v)) = segment.split_once([':', '=']) {
                let k = k.trim().to_lowercase().replace(' ', "_");
                if let Some(f) = t
                    .required_fields
                    .iter()
                    .find(|f| f.eq_ignore_ascii_case(&k))
                    && !v.trim().is_empty()
                {
                    fields.insert(f.clone(), v.trim().to_owned());
                }
            }
        }
        if let Some(first) = t.required_fields.iter().find(|f| !fields.contains_key(*f))
            && let Some(token) = caption
                .split_whitespace()
                .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '/'))
                .find(|w| w.chars().any(|c| c.is_ascii_digit()) && !fields.values().any(|v| v == w))
        {
            fields.insert(first.clone(), token.to_owned());
        }
    }
    CaptionFacts {
        document_type,
        fields,
    }
}

/// A capture in progress (the O2 session state).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Capture {
    /// The wamid of the message with the file (keys the file instance).
    pub origin_wamid: String,
    /// The uploaded content.
    pub media: StoredMedia,
    /// The caption.
    pub caption: String,
    /// The document type's name, once known.
    pub document_type: Option<String>,
    /// Key fields collected.
    pub fields: BTreeMap<String, String>,
    /// What was asked last: `document_type` or a field name.
    pub asking: Option<String>,
    /// Event ids of answers already applied (a retried answer is not applied twice).
    pub applied: Vec<String>,
    /// The sender's name (profile or directory).
    pub sender_name: Option<String>,
    /// The sender's customer id from the directory.
    pub customer_id: Option<String>,
    /// When the file was received (RFC 3339).
    pub received_at: String,
    /// Which model and prompt extracted metadata (`model …, prompt extract@…`), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_provenance: Option<String>,
}

/// The O2 handler.
pub struct DocumentCapture {
    config: O2Config,
    cms: CmsClient,
    documents: InstanceSink,
    whatsapp: chatport_whatsapp::Client,
    sender: MessageSink,
    conversations: Conversations,
    kv: Arc<dyn KvStore>,
    directory: crate::directory::Directory,
    /// The metadata extractor, when `extractor = "model"`.
    extractor: Option<Arc<dyn Extractor>>,
}

impl std::fmt::Debug for DocumentCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentCapture").finish_non_exhaustive()
    }
}

/// Registers O2 when `[flows.o2] enabled`.
///
/// # Errors
/// [`Error::Config`] without `[opentext]`, without `css_base`, or without document types.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let config = &ctx.config.flows.o2;
    if !config.enabled {
        return Ok(());
    }
    let cms = ctx.require_cms(FLOW)?;
    if cms.css_base().is_none() {
        return Err(Error::Config("flow O2 needs opentext.css_base".into()));
    }
    if config.document_types.is_empty() {
        return Err(Error::Config(
            "flows.o2.document_types: at least one type is required".into(),
        ));
    }
    let documents = instance_sink(
        &cms,
        "flows.o2",
        category_of(&config.category),
        &config.type_name,
        &config.idempotency_property,
        &KeyLocks::new(),
    )?;
    registry.message_flows.push(Arc::new(DocumentCapture {
        config: config.clone(),
        cms,
        documents,
        whatsapp: ctx.whatsapp.clone(),
        sender: ctx.sender.clone(),
        conversations: ctx.conversations.clone(),
        kv: ctx.kv.clone(),
        directory: ctx.directory.clone(),
        extractor: match config.extractor {
            Engine::Rules => None,
            engine => Some(crate::assistant::extractor(
                engine,
                "flows.o2.extractor",
                ctx.assistant.as_ref(),
            )?),
        },
    }));
    Ok(())
}

/// Whether O2 wants a media message: documents always; images when the caption names a document
/// type (or `capture_any_image`).
pub fn wants(message: &chatport_whatsapp::webhook::Message, config: &O2Config) -> bool {
    match &message.message_type {
        MessageType::Document => message.document.is_some(),
        MessageType::Image => {
            config.capture_any_image
                || message
                    .image
                    .as_ref()
                    .and_then(|m| m.caption.as_deref())
                    .is_some_and(|c| document_type_of(c, &config.document_types).is_some())
        }
        _ => false,
    }
}

impl DocumentCapture {
    fn type_by_name(&self, name: &str) -> Option<&DocumentType> {
        self.config.document_types.iter().find(|t| t.name == name)
    }

    async fn start_capture(
        &self,
        stored: &StoredEvent,
        inbound: &Inbound,
    ) -> Result<Outcome, Error> {
        let message = &inbound.message;
        let Some(media) = message.media() else {
            return Ok(Outcome::Rejected {
                reason: "O2 got a message without media".into(),
            });
        };
        let key = IdempotencyKey::derive(FLOW, "blob", &stored.event_id);
        let default_name = format!(
            "{}.{}",
            message.id.replace(['.', '='], "_"),
            if message.message_type == MessageType::Image {
                "jpg"
            } else {
                "bin"
            }
        );
        let media = store_media(
            &self.whatsapp,
            &self.cms,
            &self.kv,
            &key,
            media,
            MediaLimits {
                default_name: &default_name,
                max_bytes: self.config.max_bytes,
                text_chars: if self.extractor.is_some() {
                    self.config.document_text_chars
                } else {
                    0
                },
            },
        )
        .await?;
        let caption = inbound.text().unwrap_or_default().to_owned();
        let facts = read_caption(&caption, &self.config.document_types);
        let person = inbound
            .sender
            .phone()
            .and_then(|p| self.directory.lookup(p));
        let mut capture = Capture {
            origin_wamid: message.id.clone(),
            media,
            caption,
            document_type: facts
                .document_type
                .map(|i| self.config.document_types[i].name.clone()),
            fields: facts.fields,
            asking: None,
            applied: vec![stored.event_id.as_str().to_owned()],
            sender_name: inbound
                .profile_name()
                .map(str::to_owned)
                .or_else(|| person.and_then(|p| p.name.clone())),
            customer_id: person.and_then(|p| p.customer_id.clone()),
            received_at: message
                .timestamp()
                .unwrap_or(stored.received_at)
                .to_rfc3339(),
            ai_provenance: None,
        };
        if let Some(extractor) = &self.extractor {
            self.extract(extractor.as_ref(), inbound, &mut capture)
                .await?;
        }
        self.advance(stored, inbound, capture).await
    }

    /// Asks the model for what the caption did not give: the document type (only one of the
    /// configured types) and the key fields still missing. What it fills is kept in the capture
    /// (the sender is asked only for the rest), with the model and prompt version.
    async fn extract(
        &self,
        extractor: &dyn Extractor,
        inbound: &Inbound,
        capture: &mut Capture,
    ) -> Result<(), Error> {
        let types = &self.config.document_types;
        let mut specs = Vec::new();
        let mut lookups = LookupValues::new();
        let known = capture
            .document_type
            .as_deref()
            .and_then(|n| self.type_by_name(n));
        if known.is_none() {
            specs.push(FieldSpec::new(
                "document_type",
                "Document type",
                FieldKind::Lookup,
                "What kind of document this is.",
            ));
            lookups.insert(
                "document_type".to_owned(),
                types
                    .iter()
                    .map(|t| LookupValue::new(t.name.clone(), t.title.clone()))
                    .collect(),
            );
        }
        let mut wanted: Vec<&String> = Vec::new();
        for t in types
            .iter()
            .filter(|t| known.is_none_or(|k| k.name == t.name))
        {
            for field in &t.required_fields {
                if !capture.fields.contains_key(field) && !wanted.contains(&field) {
                    wanted.push(field);
                }
            }
        }
        for field in wanted {
            specs.push(FieldSpec::new(
                field.clone(),
                field.replace('_', " "),
                FieldKind::Text,
                format!(
                    "The {} exactly as written on the document; leave it out when it is not there.",
                    field.replace('_', " ")
                ),
            ));
        }
        if specs.is_empty() {
            return Ok(());
        }
        let conversation = self
            .conversations
            .log()
            .messages(&ConversationKey::new(
                &inbound.phone_number_id,
                inbound.sender.as_str(),
            ))
            .await?;
        let facts = DocumentFacts::new()
            .caption(Some(capture.caption.as_str()).filter(|c| !c.is_empty()))
            .conversation(&conversation)
            .file_name(Some(capture.media.file_name.as_str()))
            .mime(Some(capture.media.mime_type.as_str()))
            .text(capture.media.text.as_deref());
        let filled = extractor.extract(&specs, &lookups, &facts).await;
        // Whether a value of the model was used: only then is the provenance written.
        let mut used = false;
        if capture.document_type.is_none()
            && let Some(FieldValue::Lookup(v)) = filled.get("document_type")
            && self.type_by_name(&v.id).is_some()
        {
            capture.document_type = Some(v.id.clone());
            used = true;
        }
        for f in &filled.values {
            if f.name != "document_type"
                && let std::collections::btree_map::Entry::Vacant(slot) =
                    capture.fields.entry(f.name.clone())
            {
                slot.insert(f.value.to_plain());
                used = true;
            }
        }
        capture.ai_provenance = filled
            .provenance
            .as_ref()
            .filter(|_| used)
            .map(ToString::to_string);
        Ok(())
    }

    async fn answer(
        &self,
        stored: &StoredEvent,
        inbound: &Inbound,
        mut capture: Capture,
    ) -> Result<Outcome, Error> {
        if !capture
            .applied
            .iter()
            .any(|e| e == stored.event_id.as_str())
        {
            let reply_id = inbound
                .message
                .interactive
                .as_ref()
                .and_then(|i| i.reply_id())
                .map(str::to_owned);
            let text = inbound.text().unwrap_or_default().trim().to_owned();
            match capture.asking.as_deref() {
                Some("document_type") => {
                    let chosen = reply_id
                        .filter(|id| self.type_by_name(id).is_some())
                        .or_else(|| {
                            document_type_of(&text, &self.config.document_types)
                                .map(|i| self.config.document_types[i].name.clone())
                        })
                        .or_else(|| {
                            self.config
                                .document_types
                                .iter()
                                .find(|t| t.title.eq_ignore_ascii_case(&text))
                                .map(|t| t.name.clone())
                        });
                    if let Some(name) = chosen {
                        // The caption may now be read for this type's fields.
                        if let Some(i) = self
                            .config
                            .document_types
                            .iter()
                            .position(|t| t.name == name)
                        {
                            let t = &self.config.document_types[i];
                            let facts = read_caption(
                                &format!(
                                    "{} {}",
                                    t.keywords.first().cloned().unwrap_or_default(),
                                    capture.caption
                                ),
                                &self.config.document_types,
                            );
                            for (k, v) in facts.fields {
                                capture.fields.entry(k).or_insert(v);
                            }
                        }
                        capture.document_type = Some(name);
                    }
                }
                Some(field) if !text.is_empty() => {
                    capture.fields.insert(field.to_owned(), text);
                }
                _ => {}
            }
            capture.applied.push(stored.event_id.as_str().to_owned());
        }
        self.advance(stored, inbound, capture).await
    }

    /// Asks for what is missing, or files the document.
    async fn advance(
        &self,
        stored: &StoredEvent,
        inbound: &Inbound,
        mut capture: Capture,
    ) -> Result<Outcome, Error> {
        let cfg = &self.config;
        let recipient = inbound.sender.recipient();
        let ttl = Duration::from_secs(cfg.session_ttl_secs);
        let doc_type = capture
            .document_type
            .as_deref()
            .and_then(|n| self.type_by_name(n))
            .cloned();
        let missing = match &doc_type {
            None => Some("document_type".to_owned()),
            Some(t) => t
                .required_fields
                .iter()
                .find(|f| !capture.fields.contains_key(*f))
                .cloned(),
        };
        if let Some(missing) = missing {
            capture.asking = Some(missing.clone());
            let state =
                serde_json::to_value(&capture).map_err(|e| Error::Payload(e.to_string()))?;
            self.conversations
                .start(&inbound.phone_number_id, &inbound.sender, FLOW, state, ttl)
                .await?;
            let message = match &doc_type {
                None => {
                    let types = &cfg.document_types;
                    let interactive = if types.len() <= 3 {
                        InteractiveMessage::buttons(
                            cfg.ask_type.clone(),
                            types
                                .iter()
                                .map(|t| {
                                    ReplyButton::new(
                                        t.name.clone(),
                                        t.title.chars().take(20).collect::<String>(),
                                    )
                                })
                                .collect(),
                        )
                    } else {
                        InteractiveMessage::list(
                            cfg.ask_type.clone(),
                            cfg.list_button.chars().take(20).collect::<String>(),
                            vec![ListSection::untitled(
                                types
                                    .iter()
                                    .take(10)
                                    .map(|t| {
                                        ListRow::new(
                                            t.name.clone(),
                                            t.title.chars().take(24).collect::<String>(),
                                        )
                                    })
                                    .collect(),
                            )],
                        )
                    };
                    OutgoingMessage::interactive(recipient, interactive)
                }
                Some(t) => {
                    let mut values = BTreeMap::new();
                    values.insert("field".to_owned(), missing.replace('_', " "));
                    values.insert("document_type".to_owned(), t.title.to_lowercase());
                    OutgoingMessage::text(recipient, render(&cfg.ask_field, &values))
                }
            };
            let key = IdempotencyKey::derive(FLOW, "ask", &stored.event_id);
            return match send_once(
                &self.sender,
                &key,
                &inbound.phone_number_id,
                message.reply_to(inbound.message.id.clone()),
            )
            .await?
            {
                Some(wamid) => Ok(Outcome::delivered_with(
                    json!({ "asked": missing, "origin": capture.origin_wamid, "blob_id": capture.media.blob_id, "ask_wamid": wamid }),
                )),
                None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
            };
        }
        let Some(t) = doc_type else {
            return Ok(Outcome::Rejected {
                reason: "no document type".into(),
            });
        };
        let key = IdempotencyKey::derive(FLOW, "file", &EventId::new(capture.origin_wamid.clone()));
        let digits: String = key.as_str().chars().take(10).collect();
        let reference = format!("{}{}", cfg.reference_prefix, digits.to_uppercase());
        let mut draft = InstanceDraft::new(format!(
            "{} {}",
            t.title,
            t.required_fields
                .first()
                .and_then(|f| capture.fields.get(f))
                .cloned()
                .unwrap_or_else(|| reference.clone())
        ));
        let p = &mut draft.properties;
        p.insert(cfg.type_property.clone(), json!(t.name));
        p.insert(cfg.classification_property.clone(), json!(t.classification));
        p.insert(cfg.retention_property.clone(), json!(t.retention_tag));
        for (k, v) in &capture.fields {
            p.insert(k.clone(), json!(v));
        }
        let context: [(&str, Option<Value>); 8] = [
            ("sender_name", capture.sender_name.clone().map(Value::from)),
            ("customer_id", capture.customer_id.clone().map(Value::from)),
            ("wamid", Some(json!(capture.origin_wamid))),
            ("received_at", Some(json!(capture.received_at))),
            ("channel", Some(json!("whatsapp"))),
            ("sha256", Some(json!(capture.media.sha256_hex))),
            ("reference", Some(json!(reference))),
            (
                "ai_provenance",
                capture.ai_provenance.clone().map(Value::from),
            ),
        ];
        for (field, value) in context {
            if let (Some(property), Some(value)) = (cfg.context_properties.get(field), value) {
                p.insert(property.clone(), value);
            }
        }
        if !capture.caption.is_empty()
            && let Some(property) = cfg.context_properties.get("caption")
        {
            p.insert(property.clone(), json!(capture.caption));
        }
        draft = draft.extra("renditions", primary_rendition(&capture.media));
        let instance = self.documents.write(&draft, &key).await?;
        let mut values = BTreeMap::new();
        values.insert("document_type".to_owned(), t.title.to_lowercase());
        values.insert("reference".to_owned(), reference.clone());
        values.insert(
            "fields".to_owned(),
            capture
                .fields
                .iter()
                .map(|(k, v)| format!("{}: {v}", k.replace('_', " ")))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let message = OutgoingMessage::text(recipient, render(&cfg.reply_done, &values))
            .reply_to(inbound.message.id.clone());
        let reply_key = IdempotencyKey::derive(FLOW, "done", &stored.event_id);
        let Some(wamid) =
            send_once(&self.sender, &reply_key, &inbound.phone_number_id, message).await?
        else {
            return Ok(in_doubt(cfg.in_doubt_recheck_secs));
        };
        self.conversations
            .end(&inbound.phone_number_id, &inbound.sender)
            .await?;
        Ok(Outcome::delivered_with(json!({
            "instance_id": instance.id, "reference": reference, "document_type": t.name,
            "origin": capture.origin_wamid, "sha256": capture.media.sha256_hex,
            "verified": capture.media.verified, "reply_wamid": wamid,
        })))
    }
}

#[async_trait]
impl MessageFlow for DocumentCapture {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// Claims documents, and images whose caption names a document type, at priority 20 (below
    /// the role-based claims of O4, O5 and O8).
    fn claim(&self, inbound: &Inbound, _person: Option<&DirectoryEntry>) -> Option<u8> {
        wants(&inbound.message, &self.config).then_some(20)
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        if inbound.message.media().is_some() && wants(&inbound.message, &self.config) {
            // A new file starts a new capture (an unfinished one is replaced).
            return self.start_capture(stored, inbound).await;
        }
        match self
            .conversations
            .session(&inbound.phone_number_id, &inbound.sender)
            .await?
        {
            Some(session) if session.handler == FLOW => {
                let capture: Capture = serde_json::from_value(session.state)
                    .map_err(|e| Error::Payload(e.to_string()))?;
                self.answer(stored, inbound, capture).await
            }
            _ => Ok(Outcome::delivered_with(
                json!({ "skipped": "no capture in progress" }),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_give_type_and_key_fields() {
        let types = O2Config::default().document_types;
        let f = read_caption("Invoice 12345 from ACME", &types);
        assert_eq!(f.document_type, Some(0));
        assert_eq!(f.fields["invoice_number"], "12345");
        let f = read_caption("proof of delivery, shipment_number: SH-778", &types);
        assert_eq!(f.document_type, Some(1));
        assert_eq!(f.fields["shipment_number"], "SH-778");
        let f = read_caption("my passport", &types);
        assert_eq!(f.document_type, Some(2));
        assert!(f.fields.is_empty());
        let f = read_caption("Rechnung", &types);
        assert_eq!(f.document_type, Some(0));
        assert!(f.fields.is_empty(), "no number: the field is asked");
        assert_eq!(
            read_caption("holiday photo 2024", &types).document_type,
            None
        );
        assert_eq!(
            document_type_of("podcast", &types),
            None,
            "whole words only"
        );
    }
}
