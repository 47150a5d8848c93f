//! **O5 field evidence**: photos, videos, notes and shared locations from field staff (directory
//! role `technician`) → CMS file/object instances filed under the job, with job number, location,
//! timestamp, asset id and technician name.
//!
//! The job number comes from the message (`JOB-1234`, or `job 1234`), else from the technician's
//! O5 session (the last job named, kept in the store for `session_ttl_secs`). Evidence that arrives
//! before any job is known is kept in the session and filed once the job number arrives.
//!
//! **Extraction** (`extractor = "model"`, `docs/flows/O5.md`): what the rules leave empty — the
//! job number when neither the message nor the session names one, the asset id, and the note of
//! a photo, video or document sent without a caption — is asked from the `[assistant]` model
//! (from the caption, the conversation and a PDF's text). A job number the model reads is
//! filed like a typed one (and becomes the session's job); only when it is still missing is the
//! technician asked. Items filed with a model's value carry the model and prompt version in the
//! `ai_provenance` property. On any model failure the rules' result stands.
//!
//! Effectively once: each item is keyed by `derive("O5", "evidence", wamid)` in
//! `idempotency_property`. Media evidence is one `chatport_opentext::DocumentSink` write (CSS
//! upload + file instance with the media as primary rendition): the record is looked up by that
//! key before anything is downloaded, and the uploaded blob is remembered under the same key
//! until the record exists (there is no separate upload key). Notes and locations go through an
//! `InstanceSink`; acknowledgements are keyed by the message they answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_assistant::extract::{DocumentFacts, Extractor};
use chatport_assistant::fields::{FieldKind, FieldSpec, FieldValue, FilledFields, LookupValues};
use chatport_core::sink::KeyLocks;
use chatport_core::{EventId, IdempotencyKey, Outcome, Sink};
use chatport_opentext::{Client as CmsClient, Document, DocumentSink, InstanceDraft, InstanceSink};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;
use chatport_whatsapp::webhook::{Message, MessageType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    category_of, document_sink, in_doubt, instance_sink, pdf_text_of, send_once, spool_media,
};
use crate::Error;
use crate::assistant::{Engine, conversation_of};

use crate::directory::DirectoryEntry;
use crate::flows::{FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::render;
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::sink::MessageSink;

/// The flow name of O5.
pub const FLOW: &str = "O5";

/// `[flows.o5]`: field evidence.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct O5Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// Directory roles whose messages are evidence. Default `technician`.
    pub roles: Vec<String>,
    /// Category of evidence with media. Default `file`.
    pub category: String,
    /// Category of notes and locations (no content). Default `object`.
    pub note_category: String,
    /// Type of evidence instances. Default `ca_field_evidence`.
    pub type_name: String,
    /// Property holding chatport's idempotency key. Default `chatport_key`.
    pub idempotency_property: String,
    /// Prefix of job numbers in text (`JOB-` matches `JOB-1234`); `job 1234` is always read.
    /// Default `JOB-`.
    pub job_prefix: String,
    /// When set, the folder of this type whose `job_folder_property` equals the job number
    /// becomes the parent folder. Default: none.
    pub job_folder_type: Option<String>,
    /// The job folder's job-number property. Default `job_number`.
    pub job_folder_property: String,
    /// Logical field → property: `job_number`, `kind`, `latitude`, `longitude`, `location_name`,
    /// `captured_at`, `asset_id`, `technician`, `note`, `wamid`, `sha256`, `ai_provenance`.
    /// Defaults: same names (`wamid` → `source_message_id`, `sha256` → `content_sha256`).
    pub properties: BTreeMap<String, String>,
    /// How long the current job is remembered, in seconds. Default 28800 (8 h).
    pub session_ttl_secs: u64,
    /// Largest media accepted, in bytes. Default 100 MB.
    pub max_bytes: u64,
    /// Question when no job is known.
    pub ask_job: String,
    /// Acknowledgement. Placeholders `{job}`, `{count}`.
    pub reply_filed: String,
    /// Seconds before an in-doubt send is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
    /// Who fills the job number, asset id and note the message leaves empty: `"rules"` (the
    /// default: only what the text says; the technician is asked for a missing job) or
    /// `"model"` (the `[assistant]` model reads the caption, the conversation and a PDF's text
    /// for what is still empty; the technician is asked only when the job is still missing).
    /// The model and prompt version are written to the `ai_provenance` property.
    pub extractor: Engine,
    /// Characters of a PDF's text given to the model with `extractor = "model"`. Default 8000.
    pub document_text_chars: usize,
}

impl Default for O5Config {
    fn default() -> Self {
        let properties = [
            "job_number",
            "kind",
            "latitude",
            "longitude",
            "location_name",
            "captured_at",
            "asset_id",
            "technician",
            "note",
            "ai_provenance",
        ]
        .into_iter()
        .map(|f| (f.to_owned(), f.to_owned()))
        .chain([
            ("wamid".to_owned(), "source_message_id".to_owned()),
            ("sha256".to_owned(), "content_sha256".to_owned()),
        ])
        .collect();
        Self {
            enabled: false,
            roles: vec!["technician".into()],
            category: "file".into(),
            note_category: "object".into(),
            type_name: "ca_field_evidence".into(),
            idempotency_property: "chatport_key".into(),
            job_prefix: "JOB-".into(),
            job_folder_type: None,
            job_folder_property: "job_number".into(),
            properties,
            session_ttl_secs: 28_800,
            max_bytes: chatport_whatsapp::DEFAULT_MAX_DOWNLOAD_BYTES,
            ask_job: "Which job is this for? Please send the job number (e.g. JOB-1234).".into(),
            reply_filed: "Filed {count} item(s) under {job}.".into(),
            in_doubt_recheck_secs: 60,
            extractor: Engine::Rules,
            document_text_chars: 8000,
        }
    }
}

/// Reads `JOB-1234` (the configured prefix) or `job 1234`, and `asset X-1`, from a text.
pub fn read_refs(text: &str, job_prefix: &str) -> (Option<String>, Option<String>) {
    let tokens: Vec<&str> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-'))
        .collect();
    let prefix = job_prefix.to_lowercase();
    let mut job = None;
    let mut asset = None;
    for (i, t) in tokens.iter().enumerate() {
        let lower = t.to_lowercase();
        if job.is_none()
            && !prefix.is_empty()
            && lower.starts_with(&prefix)
            && lower.len() > prefix.len()
        {
            job = Some(t.to_uppercase());
        }
        if let Some(next) = tokens.get(i + 1).filter(|n| !n.is_empty()) {
            if job.is_none() && lower == "job" && next.chars().any(|c| c.is_ascii_digit()) {
                job = Some(format!("{job_prefix}{next}").to_uppercase());
            }
            if asset.is_none() && lower == "asset" {
                asset = Some((*next).to_owned());
            }
        }
    }
    (job, asset)
}

/// A job number as the model answered it, in the rules' form (`JOB-1234` from `JOB-1234`,
/// `job 1234` or `1234`), or `None` when the answer is not a job number (no digit).
pub fn job_of(answer: &str, job_prefix: &str) -> Option<String> {
    read_refs(answer, job_prefix)
        .0
        .or_else(|| read_refs(&format!("job {}", answer.trim()), job_prefix).0)
}

/// The O5 session: the current job and evidence waiting for one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct FieldSession {
    /// The current job number.
    pub job: Option<String>,
    /// The current asset id.
    pub asset: Option<String>,
    /// Messages waiting for a job number.
    pub pending: Vec<Message>,
    /// The model and prompt version behind the session's job or asset, while one of them is the
    /// model's (cleared when the text names them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_provenance: Option<String>,
    /// Which of `job` and `asset` the model filled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ai_fields: Vec<String>,
}

/// What the items of one message are filed under: the job, the asset, the technician, and the
/// model behind a session value among them.
#[derive(Debug, Clone, Copy)]
struct Under<'a> {
    job: &'a str,
    asset: Option<&'a str>,
    technician: &'a str,
    provenance: Option<&'a str>,
}

/// An item ready to file: its media spooled (when it has one), and what the model extracted.
struct Prepared {
    spooled: Option<chatport_whatsapp::SpooledMedia>,
    filled: FilledFields,
}

impl Prepared {
    /// A value the model filled, as text (blank answers count as none).
    fn text(&self, name: &str) -> Option<String> {
        self.filled
            .get(name)
            .map(FieldValue::to_plain)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty() && v.chars().count() <= 500)
    }
}

/// The O5 handler.
pub struct FieldEvidence {
    config: O5Config,
    cms: CmsClient,
    /// Media evidence (`category`): CSS upload + file instance.
    files: DocumentSink,
    /// Notes and locations (`note_category`).
    notes: InstanceSink,
    whatsapp: chatport_whatsapp::Client,
    sender: MessageSink,
    conversations: Conversations,
    directory: crate::directory::Directory,
    /// The metadata extractor, when `extractor = "model"`.
    extractor: Option<Arc<dyn Extractor>>,
}

impl std::fmt::Debug for FieldEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldEvidence").finish_non_exhaustive()
    }
}

/// Registers O5 when `[flows.o5] enabled`.
///
/// # Errors
/// [`Error::Config`] without `[opentext]`.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let config = &ctx.config.flows.o5;
    if !config.enabled {
        return Ok(());
    }
    let cms = ctx.require_cms(FLOW)?;
    let locks = KeyLocks::new();
    let files = document_sink(
        &cms,
        &ctx.kv,
        "flows.o5",
        category_of(&config.category),
        &config.type_name,
        &config.idempotency_property,
        &locks,
    )?;
    let notes = instance_sink(
        &cms,
        "flows.o5",
        category_of(&config.note_category),
        &config.type_name,
        &config.idempotency_property,
        &locks,
    )?;
    registry.message_flows.push(Arc::new(FieldEvidence {
        config: config.clone(),
        cms,
        files,
        notes,
        whatsapp: ctx.whatsapp.clone(),
        sender: ctx.sender.clone(),
        conversations: ctx.conversations.clone(),
        directory: ctx.directory.clone(),
        extractor: match config.extractor {
            Engine::Rules => None,
            engine => Some(crate::assistant::extractor(
                engine,
                "flows.o5.extractor",
                ctx.assistant.as_ref(),
            )?),
        },
    }));
    Ok(())
}

impl FieldEvidence {
    /// Spools `item`'s media (when it has one) and, with `extractor = "model"`, asks the model
    /// for what the rules left empty: the job number (`want_job`), the asset id (`want_asset`)
    /// and, for media without a caption, a note.
    async fn prepare(
        &self,
        inbound: &Inbound,
        item: &Message,
        want_job: bool,
        want_asset: bool,
    ) -> Result<Prepared, Error> {
        let cfg = &self.config;
        let spooled = match item.media() {
            Some(media) => Some(spool_media(&self.whatsapp, media, cfg.max_bytes).await?),
            None => None,
        };
        let mut prepared = Prepared {
            spooled,
            filled: FilledFields::empty(),
        };
        let Some(extractor) = &self.extractor else {
            return Ok(prepared);
        };
        let caption = item.text_body().filter(|t| !t.trim().is_empty());
        let mut specs = Vec::new();
        if want_job {
            specs.push(FieldSpec::new(
                "job_number",
                "Job number",
                FieldKind::Text,
                format!(
                    "The job (work order) number this evidence belongs to, as written (e.g. {}1234); leave it out when none is named.",
                    cfg.job_prefix
                ),
            ));
        }
        if want_asset {
            specs.push(FieldSpec::new(
                "asset_id",
                "Asset id",
                FieldKind::Text,
                "The id of the asset (equipment, machine, site object) the evidence is about, exactly as written; leave it out when none is named.",
            ));
        }
        if item.media().is_some() && caption.is_none() {
            specs.push(FieldSpec::new(
                "note",
                "Note",
                FieldKind::Text,
                "One sentence on what this evidence shows or documents, taken from the document's text and the conversation; leave it out when nothing says it.",
            ));
        }
        if specs.is_empty() {
            return Ok(prepared);
        }
        let spooled = prepared.spooled.as_ref();
        let text = match spooled {
            Some(s) if s.mime_type == "application/pdf" && cfg.document_text_chars > 0 => {
                pdf_text_of(s.path(), cfg.document_text_chars).await
            }
            _ => None,
        };
        let conversation = conversation_of(&self.conversations, inbound).await?;
        let facts = DocumentFacts::new()
            .caption(caption)
            .conversation(&conversation)
            .file_name(spooled.and_then(|s| s.file_name.as_deref()))
            .mime(spooled.map(|s| s.mime_type.as_str()))
            .text(text.as_deref());
        prepared.filled = extractor
            .extract(&specs, &LookupValues::new(), &facts)
            .await;
        Ok(prepared)
    }

    /// Files one item under `under.job` (`prepared`: the item's media and extraction when `run`
    /// prepared it already).
    async fn file(
        &self,
        inbound: &Inbound,
        message: &Message,
        under: &Under<'_>,
        prepared: Option<Prepared>,
    ) -> Result<String, Error> {
        let Under {
            job,
            asset,
            technician,
            provenance: session_provenance,
        } = *under;
        let cfg = &self.config;
        let event = EventId::new(message.id.clone());
        let key = IdempotencyKey::derive(FLOW, "evidence", &event);
        let captured_at = message.timestamp().map(|t| t.to_rfc3339());
        let kind = match &message.message_type {
            MessageType::Image => "photo",
            MessageType::Video => "video",
            MessageType::Location => "location",
            MessageType::Text => "note",
            other => other.as_str(),
        };
        let mut values: Vec<(&str, Value)> = vec![
            ("job_number", json!(job)),
            ("kind", json!(kind)),
            ("technician", json!(technician)),
            ("wamid", json!(message.id)),
        ];
        if let Some(at) = &captured_at {
            values.push(("captured_at", json!(at)));
        }
        // A replay finds the record before anything is downloaded or asked (a note's record is
        // looked up first only when the model would be asked; its sink looks it up anyway).
        let found = if message.media().is_some() {
            self.files.find(&key).await?
        } else if self.extractor.is_some() {
            self.notes.find(&key).await?
        } else {
            None
        };
        if let Some(found) = found {
            return Ok(found.id);
        }
        let prepared = match prepared {
            Some(prepared) => prepared,
            None => {
                self.prepare(inbound, message, false, asset.is_none())
                    .await?
            }
        };
        let mut provenance = session_provenance.map(str::to_owned);
        let model_provenance = prepared.filled.provenance.as_ref().map(ToString::to_string);
        match (asset, prepared.text("asset_id")) {
            (Some(a), _) => values.push(("asset_id", json!(a))),
            (None, Some(a)) => {
                values.push(("asset_id", json!(a)));
                provenance = provenance.or(model_provenance.clone());
            }
            (None, None) => {}
        }
        match (message.text_body(), prepared.text("note")) {
            (Some(text), _) => values.push(("note", json!(text))),
            (None, Some(note)) => {
                values.push(("note", json!(note)));
                provenance = provenance.or(model_provenance.clone());
            }
            (None, None) => {}
        }
        if let Some(loc) = &message.location {
            if let Some(lat) = loc.latitude {
                values.push(("latitude", json!(lat)));
            }
            if let Some(lon) = loc.longitude {
                values.push(("longitude", json!(lon)));
            }
            if let Some(name) = loc.name.clone().or(loc.address.clone()) {
                values.push(("location_name", json!(name)));
            }
        }
        if let Some(p) = provenance {
            values.push(("ai_provenance", json!(p)));
        }
        let spooled = prepared.spooled;
        if let Some(spooled) = &spooled {
            values.push(("sha256", json!(spooled.sha256_hex)));
        }
        let mut draft = InstanceDraft::new(format!(
            "{job} {kind} {}",
            captured_at.as_deref().unwrap_or(&message.id)
        ));
        for (field, value) in values {
            if let Some(p) = cfg.properties.get(field) {
                draft.properties.insert(p.clone(), value);
            }
        }
        if let Some(folder_type) = &cfg.job_folder_type
            && let Some(folder) = self
                .cms
                .find_by_property(
                    chatport_opentext::Category::Folder,
                    folder_type,
                    &cfg.job_folder_property,
                    job,
                )
                .await?
        {
            draft = draft.parent_folder_id(folder.id);
        }
        let Some(spooled) = spooled else {
            return Ok(self.notes.write(&draft, &key).await?.id);
        };
        let file_name = spooled
            .file_name
            .clone()
            .unwrap_or_else(|| format!("{kind}-{}", message.id.replace(['.', '='], "_")));
        let document = Document::from_path(draft, file_name, spooled.path())
            .mime_type(spooled.mime_type.clone());
        Ok(self.files.write(&document, &key).await?.id)
    }

    async fn run(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let cfg = &self.config;
        let message = &inbound.message;
        let technician = inbound
            .sender
            .phone()
            .and_then(|p| self.directory.lookup(p))
            .and_then(|p| p.name.clone())
            .or_else(|| inbound.profile_name().map(str::to_owned))
            .unwrap_or_default();
        let mut session: FieldSession = match self
            .conversations
            .session(&inbound.phone_number_id, &inbound.sender)
            .await?
        {
            Some(s) if s.handler == FLOW => serde_json::from_value(s.state).unwrap_or_default(),
            _ => FieldSession::default(),
        };
        let (job, asset) = read_refs(message.text_body().unwrap_or_default(), &cfg.job_prefix);
        if job.is_some() && job != session.job {
            // A new job: an asset named for the previous job no longer applies.
            if session.job.is_some() {
                session.asset = None;
                session.ai_fields.retain(|f| f != "asset");
            }
            session.job = job.clone();
            session.ai_fields.retain(|f| f != "job");
        }
        if asset.is_some() {
            session.asset = asset;
            session.ai_fields.retain(|f| f != "asset");
        }
        // No job known: the model may read it (and a missing asset id) from this message.
        let mut prepared = None;
        if session.job.is_none() && self.extractor.is_some() {
            let p = self
                .prepare(inbound, message, true, session.asset.is_none())
                .await?;
            let by_model = p.filled.provenance.as_ref().map(ToString::to_string);
            if let Some(j) = p
                .text("job_number")
                .and_then(|j| job_of(&j, &cfg.job_prefix))
            {
                session.job = Some(j);
                session.ai_fields.push("job".into());
                session.ai_provenance = by_model.clone();
            }
            if session.asset.is_none()
                && let Some(a) = p.text("asset_id")
            {
                session.asset = Some(a);
                session.ai_fields.push("asset".into());
                session.ai_provenance = by_model;
            }
            prepared = Some(p);
        }
        if session.ai_fields.is_empty() {
            session.ai_provenance = None;
        }
        // A text that only names the job (and maybe an asset) is not a note.
        let only_refs = message.message_type == MessageType::Text
            && message
                .text_body()
                .is_some_and(|t| t.split_whitespace().count() <= 4)
            && job.is_some();
        let ttl = Duration::from_secs(cfg.session_ttl_secs);
        let Some(current_job) = session.job.clone() else {
            if !session.pending.iter().any(|m| m.id == message.id) {
                session.pending.push(message.clone());
            }
            let state =
                serde_json::to_value(&session).map_err(|e| Error::Payload(e.to_string()))?;
            self.conversations
                .start(&inbound.phone_number_id, &inbound.sender, FLOW, state, ttl)
                .await?;
            let ask = OutgoingMessage::text(inbound.sender.recipient(), cfg.ask_job.clone())
                .reply_to(message.id.clone());
            let key = IdempotencyKey::derive(FLOW, "ask", &stored.event_id);
            return match send_once(&self.sender, &key, &inbound.phone_number_id, ask).await? {
                Some(_) => Ok(Outcome::delivered_with(
                    json!({ "pending": session.pending.len(), "asked": "job" }),
                )),
                None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
            };
        };
        let mut items = std::mem::take(&mut session.pending);
        if !only_refs {
            items.push(message.clone());
        }
        let under = Under {
            job: &current_job,
            asset: session.asset.as_deref(),
            technician: &technician,
            provenance: session.ai_provenance.as_deref(),
        };
        let mut filed = Vec::new();
        for item in &items {
            let ready = if item.id == message.id {
                prepared.take()
            } else {
                None
            };
            filed.push(self.file(inbound, item, &under, ready).await?);
        }
        let state = serde_json::to_value(&session).map_err(|e| Error::Payload(e.to_string()))?;
        self.conversations
            .start(&inbound.phone_number_id, &inbound.sender, FLOW, state, ttl)
            .await?;
        let mut values = BTreeMap::new();
        values.insert("job".to_owned(), current_job.clone());
        values.insert("count".to_owned(), filed.len().to_string());
        let ack = OutgoingMessage::text(
            inbound.sender.recipient(),
            render(&cfg.reply_filed, &values),
        )
        .reply_to(message.id.clone());
        let key = IdempotencyKey::derive(FLOW, "ack", &stored.event_id);
        match send_once(&self.sender, &key, &inbound.phone_number_id, ack).await? {
            Some(wamid) => Ok(Outcome::delivered_with(
                json!({ "job": current_job, "filed": filed, "reply_wamid": wamid }),
            )),
            None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
        }
    }
}

#[async_trait]
impl MessageFlow for FieldEvidence {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// Claims every message from a configured role (priority 50).
    fn claim(&self, _inbound: &Inbound, person: Option<&DirectoryEntry>) -> Option<u8> {
        let role = person?.role.as_deref()?;
        self.config
            .roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(role))
            .then_some(50)
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        self.run(stored, inbound).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_and_asset_are_read_from_text() {
        assert_eq!(
            read_refs("JOB-1234 pump replaced", "JOB-"),
            (Some("JOB-1234".into()), None)
        );
        assert_eq!(
            read_refs("job 77, asset P-9 leaking", "JOB-"),
            (Some("JOB-77".into()), Some("P-9".into()))
        );
        assert_eq!(read_refs("all done here", "JOB-"), (None, None));
        assert_eq!(
            read_refs("job done", "JOB-"),
            (None, None),
            "a job number needs a digit"
        );
    }

    #[test]
    fn model_job_numbers_take_the_rules_form() {
        assert_eq!(job_of("JOB-1234", "JOB-").as_deref(), Some("JOB-1234"));
        assert_eq!(job_of("job 77", "JOB-").as_deref(), Some("JOB-77"));
        assert_eq!(job_of(" 4711 ", "JOB-").as_deref(), Some("JOB-4711"));
        assert_eq!(job_of("Customer says: hello", "JOB-"), None);
        assert_eq!(job_of("", "JOB-"), None);
    }
}
