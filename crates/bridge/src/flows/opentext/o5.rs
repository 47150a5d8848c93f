//! **O5 field evidence**: photos, videos, notes and shared locations from field staff (directory
//! role `technician`) → CMS file/object instances filed under the job, with job number, location,
//! timestamp, asset id and technician name.
//!
//! The job number comes from the message (`JOB-1234`, or `job 1234`), else from the technician's
//! O5 session (the last job named, kept in the store for `session_ttl_secs`). Evidence that arrives
//! before any job is known is kept in the session and filed once the job number arrives.
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
use chatport_core::sink::KeyLocks;
use chatport_core::{EventId, IdempotencyKey, Outcome, Sink};
use chatport_opentext::{Client as CmsClient, Document, DocumentSink, InstanceDraft, InstanceSink};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;
use chatport_whatsapp::webhook::{Message, MessageType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{category_of, document_sink, in_doubt, instance_sink, send_once, spool_media};
use crate::Error;

use crate::directory::DirectoryEntry;
use crate::flows::{FlowContext, Registry};
use crate::routing::{Conversations, Inbound, MessageFlow};
use crate::templates::render;
use crate::whatsapp::OnceSender;

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
    /// `captured_at`, `asset_id`, `technician`, `note`, `wamid`, `sha256`. Defaults: same names
    /// (`wamid` → `source_message_id`, `sha256` → `content_sha256`).
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
    sender: OnceSender,
    conversations: Conversations,
    directory: crate::directory::Directory,
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
    }));
    Ok(())
}

impl FieldEvidence {
    async fn file(
        &self,
        message: &Message,
        job: &str,
        asset: Option<&str>,
        technician: &str,
    ) -> Result<String, Error> {
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
        if let Some(a) = asset {
            values.push(("asset_id", json!(a)));
        }
        if let Some(text) = message.text_body() {
            values.push(("note", json!(text)));
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
        // A replay finds the record before anything is downloaded.
        let media = message.media();
        if media.is_some()
            && let Some(found) = self.files.find(&key).await?
        {
            return Ok(found.id);
        }
        let spooled = match media {
            Some(media) => Some(spool_media(&self.whatsapp, media, cfg.max_bytes).await?),
            None => None,
        };
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
            Some(s) if s.flow == FLOW => serde_json::from_value(s.state).unwrap_or_default(),
            _ => FieldSession::default(),
        };
        let (job, asset) = read_refs(message.text_body().unwrap_or_default(), &cfg.job_prefix);
        if job.is_some() && job != session.job {
            // A new job: an asset named for the previous job no longer applies.
            if session.job.is_some() {
                session.asset = None;
            }
            session.job = job.clone();
        }
        if asset.is_some() {
            session.asset = asset;
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
        let mut filed = Vec::new();
        for item in &items {
            filed.push(
                self.file(item, &current_job, session.asset.as_deref(), &technician)
                    .await?,
            );
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
}
