//! **C1 handoff** (with **C4 media** and **C5 contact matching**): a WhatsApp conversation handed
//! to a person in Creatio.
//!
//! Triggers: an escalation phrase in the customer's text ([`escalation_phrases`](super::C1Config::escalation_phrases), several
//! languages), the classifier (configured issue types or priorities), or by hand
//! (`chatport handoff <user>` and `POST {handoff_path}`, both stored as `C1.manual` outbox rows:
//! [`super::manual`]).
//!
//! A handoff, each step idempotent:
//! 1. the conversation's open case is looked up (chatport's record, checked against the case's
//!    status in Creatio); if there is none:
//!    1. the customer's contact is matched or created ([`super::contact`], C5);
//!    2. the conversation is summarised ([`Summariser`](chatport_assistant::summary::Summariser), rule-based by default) and classified;
//!    3. the case is created with `Id` = `derive("C1", "case", event)`: `Subject`, `Symptoms` (the
//!       summary), `ContactId`, origin, status New, priority, owner/group, and the assistant-filled
//!       fields mapped onto the configured columns ([`fields`](super::C1Config::fields));
//! 2. a handoff note activity, the **first activity** of a new case, gives the reason, the summary
//!    and the signed, expiring link to the read-only transcript page; a second handoff of an open
//!    conversation adds a new note to the same case instead of a new case;
//! 3. every message of the conversation not yet on the case becomes **one activity** (in `$batch`
//!    requests of up to 100, each with an `Id` derived from the case and the message, so a retried
//!    batch cannot duplicate one); media messages carry their reference (type, file name, WhatsApp
//!    media id, SHA-256), and with `attach_media` the file is downloaded from WhatsApp (size-capped,
//!    hash-verified) and uploaded in chunks as a `CaseFile` whose id is derived from the key (C4);
//! 4. the customer gets the configured confirmation (inside the 24-hour window only);
//! 5. the conversation stays with the agent (a routing session): every further message goes to the
//!    case as an activity instead of to the other flows, and replies held back by a closed window
//!    (C3) go out now that the customer wrote.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{EventId, IdempotencyKey, Outcome, Sink};
use chatport_creatio::{Activity, Batch, BatchOutcome, Case, Entity, Query, Upload};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::{DownloadOptions, OutgoingMessage};
use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::contact::{ContactMatch, match_contact};
use super::state::CaseLink;
use super::{AiField, Shared};
use crate::Error;
use chatport_assistant::classify::{Classification, MessageFacts};
use chatport_assistant::fields::{
    FieldKind, FieldSpec, FieldValue, FilledFields, LookupValue, LookupValues,
};
use chatport_assistant::summary::{HandoffReason, Summary, SummaryInput, message_gist};

use crate::directory::DirectoryEntry;
use crate::routing::MessageFlow;
use crate::templates::clip;
use chatport_whatsapp::conversation::{ConversationKey, Direction, LoggedMessage};
use chatport_whatsapp::inbound::Inbound;
use chatport_whatsapp::sink::SendOnce;

/// The flow name of handoffs triggered by messages (and of the messages of handed-off
/// conversations).
pub const FLOW: &str = "C1";
/// The claim priority of an escalation phrase (O1 claims everything at 0).
pub const PRIORITY_PHRASE: u8 = 200;
/// The claim priority of a classifier escalation.
pub const PRIORITY_CLASSIFIER: u8 = 150;
/// Activities per `$batch` (Creatio's limit is 100).
const BATCH: usize = 100;

/// What started a handoff.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Trigger {
    /// The event (a wamid, a manual request id): every key of the handoff derives from it.
    pub event_id: EventId,
    /// Why.
    pub reason: HandoffReason,
    /// The customer's WhatsApp profile name, if known.
    pub profile_name: Option<String>,
}

/// What a handoff did (the outbox receipt).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct HandoffReport {
    /// The case.
    pub case_id: Uuid,
    /// Its number.
    pub case_number: Option<String>,
    /// Whether the case was created by this handoff (false: added to the open case).
    pub new_case: bool,
    /// The contact (C5), when a case was created.
    pub contact: Option<ContactMatch>,
    /// The transcript sync.
    pub sync: SyncReport,
    /// Whether the note carries a transcript link.
    pub transcript_link: bool,
    /// Why.
    pub reason: HandoffReason,
}

/// What a transcript sync did.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// Activities written (or found written by an earlier attempt).
    pub activities: usize,
    /// Attachments uploaded (C4).
    pub attachments: usize,
    /// Media left as references, with the reason (too large, hash mismatch, no id).
    pub media_not_attached: Vec<String>,
}

/// The escalation phrase in `text`, if any (case-insensitive).
pub fn escalation_phrase<'a>(phrases: &'a [String], text: &str) -> Option<&'a str> {
    let lower = text.to_lowercase();
    let normalised: String = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    phrases
        .iter()
        .map(String::as_str)
        .find(|p| !p.trim().is_empty() && normalised.contains(&p.trim().to_lowercase()))
}

fn media_noun(m: &LoggedMessage) -> &'static str {
    match m.kind.as_str() {
        "image" => "an image",
        "video" => "a video",
        "audio" if m.media.as_ref().is_some_and(|x| x.voice) => "a voice note",
        "audio" => "an audio message",
        "document" => "a document",
        "sticker" => "a sticker",
        _ => "a file",
    }
}

/// The transcript activity of one message (C1, with the media reference of C4).
pub fn message_activity(
    prefix: &str,
    m: &LoggedMessage,
    case_id: Uuid,
    contact_id: Option<Uuid>,
    id: Uuid,
    lookups: &chatport_creatio::Lookups,
) -> Activity {
    let who = match m.direction {
        Direction::Inbound => "Customer",
        _ => "chatport",
    };
    let title = match &m.media {
        Some(_) => {
            let caption = m
                .text
                .as_deref()
                .map(|t| format!(": {t}"))
                .unwrap_or_default();
            format!("{prefix} {who} sent {}{caption}", media_noun(m))
        }
        None => format!("{prefix} {who}: {}", message_gist(m)),
    };
    let mut notes = String::new();
    if let Some(text) = &m.text {
        notes.push_str(text);
        notes.push_str("\n\n");
    }
    if let Some(t) = &m.template {
        notes.push_str(&format!("Template: {t}\n"));
    }
    if let Some(media) = &m.media {
        notes.push_str(&format!(
            "Media ({}): {} {}; WhatsApp media id {}; SHA-256 {}\n",
            media_noun(m),
            media.mime_type.as_deref().unwrap_or("unknown type"),
            media.filename.as_deref().unwrap_or(""),
            media.id.as_deref().unwrap_or("-"),
            media.sha256.as_deref().unwrap_or("-"),
        ));
    }
    notes.push_str(&format!(
        "{} WhatsApp message {} at {}",
        match m.direction {
            Direction::Inbound => "Inbound",
            _ => "Outbound",
        },
        m.id,
        m.at.to_rfc3339()
    ));
    Activity {
        id: Some(id),
        title: Some(clip(&title, 250)),
        notes: Some(notes),
        start_date: Some(m.at),
        due_date: Some(m.at),
        type_id: Some(lookups.activity_type_task),
        activity_category_id: Some(lookups.activity_category_todo),
        status_id: Some(lookups.activity_status_completed),
        case_id: Some(case_id),
        contact_id,
        ..Activity::new()
    }
}

impl Shared {
    /// The conversation's open case: chatport's record, confirmed open in Creatio (a case deleted
    /// or set to a closed status there is not open).
    async fn open_link(&self, conv: &ConversationKey) -> Result<Option<CaseLink>, Error> {
        let Some(link) = self.state.link(conv).await?.filter(|l| l.open) else {
            return Ok(None);
        };
        let case: Option<Case> = self
            .creatio
            .find(
                Case::SET,
                link.case_id,
                &Query::new().select(["Id", "StatusId"]),
            )
            .await?;
        match case {
            Some(c) if !self.is_closed_status(c.status_id) => Ok(Some(link)),
            _ => {
                let mut closed = link;
                closed.open = false;
                self.state.save_link(conv, &closed).await?;
                Ok(None)
            }
        }
    }

    async fn classification(
        &self,
        conv: &ConversationKey,
        messages: &[LoggedMessage],
    ) -> Classification {
        let text: Vec<&str> = messages
            .iter()
            .filter(|m| m.direction == Direction::Inbound)
            .filter_map(|m| m.text.as_deref())
            .collect();
        let joined = text.join("\n");
        self.classifier
            .classify(&MessageFacts::new(conv.phone(), &joined))
            .await
    }

    /// Fills `[[flows.c1.ai_fields]]` for a new case; a lookup's allowed values are read from
    /// Creatio first (`Id`, `Name` of its entity set, at most 500).
    async fn ai_fields(&self, input: &SummaryInput<'_>) -> Result<FilledFields, Error> {
        if self.c1.ai_fields.is_empty() {
            return Ok(FilledFields::empty());
        }
        let mut lookups = LookupValues::new();
        for field in &self.c1.ai_fields {
            let Some(set) = field
                .lookup
                .as_deref()
                .filter(|_| field.kind == FieldKind::Lookup)
            else {
                continue;
            };
            let page: chatport_creatio::Page<Value> = self
                .creatio
                .list(set, &Query::new().select(["Id", "Name"]).top(500))
                .await?;
            let values = page
                .value
                .iter()
                .filter_map(|row| {
                    Some(LookupValue::new(
                        row.get("Id")?.as_str()?,
                        row.get("Name")?.as_str()?,
                    ))
                })
                .collect();
            lookups.insert(field.name().to_owned(), values);
        }
        let specs: Vec<FieldSpec> = self.c1.ai_fields.iter().map(AiField::spec).collect();
        Ok(self.filler.fill(&specs, &lookups, input).await)
    }

    fn field_value(
        field: &str,
        c: &Classification,
        reason: &HandoffReason,
        name: Option<&str>,
    ) -> Option<String> {
        match field {
            "issue_type" => Some(c.issue_type.clone()),
            "priority" => Some(c.priority.clone()),
            "region" => Some(c.region.clone()),
            "product_line" => Some(c.product_line.clone()),
            "customer_id" => c.customer_id.clone(),
            "customer_name" => c.customer_name.clone().or(name.map(str::to_owned)),
            "handoff_reason" => Some(reason.describe()),
            _ => None,
        }
    }

    /// Runs a handoff (see the module docs).
    ///
    /// # Errors
    /// Creatio, WhatsApp and store errors (the outbox retries; every step is idempotent).
    pub(crate) async fn handoff(
        &self,
        conv: &ConversationKey,
        trigger: &Trigger,
    ) -> Result<HandoffReport, Error> {
        let messages = self.store.messages(conv).await?;
        let name = trigger
            .profile_name
            .clone()
            .or_else(|| messages.iter().rev().find_map(|m| m.author.clone()));
        let (mut link, new_case, contact, description, ai_note) = match self.open_link(conv).await?
        {
            // A retry of the event that opened the case carries on as that handoff.
            Some(link) if link.opened_by.as_deref() == Some(trigger.event_id.as_str()) => {
                let case: Option<Case> = self
                    .creatio
                    .find(
                        Case::SET,
                        link.case_id,
                        &Query::new().select(["Id", "Symptoms"]),
                    )
                    .await?;
                let ai_note = link.ai_note.clone();
                (link, true, None, case.and_then(|c| c.symptoms), ai_note)
            }
            Some(mut link) => {
                link.handoffs += 1;
                (link, false, None, None, None)
            }
            None => {
                let previous = self.state.link(conv).await?;
                let contact = match_contact(
                    &self.creatio,
                    &self.lookups,
                    conv,
                    name.as_deref(),
                    self.c1.match_digits,
                )
                .await?;
                let transcript_from = previous.as_ref().and_then(|p| p.last_synced_at);
                let scope: Vec<LoggedMessage> = messages
                    .iter()
                    .filter(|m| transcript_from.is_none_or(|from| m.at > from))
                    .cloned()
                    .collect();
                let classification = self.classification(conv, &scope).await;
                let input = SummaryInput::new(&scope, &trigger.reason, &classification)
                    .customer_name(name.as_deref());
                let summary = self.summariser.summarise(&input).await;
                let filled = self.ai_fields(&input).await?;
                let case = Case {
                    subject: Some(clip(
                        &format!("{}{}", self.c1.subject_prefix, summary.subject),
                        250,
                    )),
                    symptoms: Some(summary.description.clone()),
                    contact_id: Some(contact.id),
                    origin_id: Some(self.lookups.case_origin),
                    status_id: Some(self.lookups.case_status_new),
                    priority_id: Some(self.lookups.case_priority_medium),
                    owner_id: self.c1.owner_id,
                    group_id: self.c1.group_id,
                    ..Case::new()
                };
                // Mapped columns go to `extra`, which wins over a named column of the same name
                // when the case is serialised (as inserting into the body did).
                let mut case = case;
                let body = &mut case.extra;
                for (field, mapping) in &self.c1.fields {
                    let Some(value) =
                        Self::field_value(field, &classification, &trigger.reason, name.as_deref())
                    else {
                        continue;
                    };
                    if mapping.values.is_empty() {
                        body.insert(mapping.column.clone(), Value::String(value));
                    } else if let Some(id) = mapping
                        .values
                        .get(&value)
                        .or_else(|| mapping.values.get(&value.to_lowercase()))
                    {
                        body.insert(mapping.column.clone(), Value::String(id.clone()));
                    }
                }
                for field in &self.c1.ai_fields {
                    if let Some(value) = filled.get(field.name()) {
                        body.insert(field.column.clone(), column_value(value));
                    }
                }
                let ai_note = ai_note(&classification, &summary, &filled, &self.c1.ai_fields);
                let key = IdempotencyKey::derive(FLOW, "case", &trigger.event_id);
                let created = self.cases.create(&case, &key).await?;
                let link = CaseLink {
                    case_id: created.id,
                    case_number: created.record.number.clone(),
                    contact_id: Some(contact.id),
                    open: true,
                    opened_at: created.record.created_on.unwrap_or_else(Utc::now),
                    handoffs: 1,
                    opened_by: Some(trigger.event_id.as_str().to_owned()),
                    last_synced_at: None,
                    transcript_from,
                    ai_note: ai_note.clone(),
                };
                self.state.save_link(conv, &link).await?;
                (
                    link,
                    true,
                    Some(contact),
                    Some(summary.description),
                    ai_note,
                )
            }
        };
        self.state.save_link(conv, &link).await?;

        // The handoff note: the first activity of a new case, with the transcript link.
        let now = Utc::now();
        let url = self.links.as_ref().map(|l| l.url(link.case_id, now));
        let mut notes = format!("Handed off: {}.\n", trigger.reason.describe());
        if let Some(d) = &description {
            notes.push('\n');
            notes.push_str(d);
        }
        if let Some(ai) = &ai_note {
            notes.push('\n');
            notes.push_str(ai);
        }
        if let Some(url) = &url {
            let days = self.c1.transcript_link_ttl_hours.max(1).div_ceil(24);
            notes.push_str(&format!(
                "\nView the conversation (read-only; the link works for {days} day(s)): {url}\n"
            ));
        }
        let first_at = messages
            .iter()
            .find(|m| link.transcript_from.is_none_or(|from| m.at > from))
            .map(|m| m.at);
        let start = if new_case {
            first_at.unwrap_or(now)
        } else {
            now
        };
        let title = if new_case {
            format!(
                "{} Conversation handed off: {}",
                self.c1.activity_prefix,
                trigger.reason.describe()
            )
        } else {
            format!(
                "{} Handed off again: {}",
                self.c1.activity_prefix,
                trigger.reason.describe()
            )
        };
        let note = Activity {
            title: Some(clip(&title, 250)),
            notes: Some(notes),
            start_date: Some(start),
            due_date: Some(start),
            type_id: Some(self.lookups.activity_type_task),
            activity_category_id: Some(self.lookups.activity_category_todo),
            status_id: Some(self.lookups.activity_status_completed),
            case_id: Some(link.case_id),
            contact_id: link.contact_id,
            ..Activity::new()
        };
        let key = IdempotencyKey::derive(FLOW, "note", &trigger.event_id);
        self.state.mark_own(key.uuid()).await?;
        self.activities.write(&note, &key).await?;

        let sync = self.sync(conv, &mut link).await?;
        Ok(HandoffReport {
            case_id: link.case_id,
            case_number: link.case_number.clone(),
            new_case,
            contact,
            sync,
            transcript_link: url.is_some(),
            reason: trigger.reason.clone(),
        })
    }

    /// Writes every message of the conversation not yet on the case as one activity each, and
    /// (C4) attaches media when configured.
    ///
    /// # Errors
    /// Creatio, WhatsApp and store errors (after recording what succeeded).
    pub(crate) async fn sync(
        &self,
        conv: &ConversationKey,
        link: &mut CaseLink,
    ) -> Result<SyncReport, Error> {
        let messages = self.store.messages(conv).await?;
        let mut report = SyncReport::default();
        let mut todo: Vec<&LoggedMessage> = Vec::new();
        for m in messages
            .iter()
            .filter(|m| link.transcript_from.is_none_or(|from| m.at > from))
        {
            if self.state.is_synced(link.case_id, &m.id).await? {
                report.activities += 1;
            } else {
                todo.push(m);
            }
        }
        let mut first_error: Option<Error> = None;
        for chunk in todo.chunks(BATCH) {
            let mut batch = Batch::new().continue_on_error(true);
            let mut ops: HashMap<String, (&LoggedMessage, Uuid)> = HashMap::new();
            for m in chunk {
                let key = IdempotencyKey::derive(
                    FLOW,
                    "activity",
                    &EventId::new(format!("{}:{}", link.case_id, m.id)),
                );
                let id = key.uuid();
                let activity = message_activity(
                    &self.c1.activity_prefix,
                    m,
                    link.case_id,
                    link.contact_id,
                    id,
                    &self.lookups,
                );
                // Marked before the write: a notification about it may arrive before we know.
                self.state.mark_own(id).await?;
                let op = batch.create(Activity::SET, &activity)?;
                ops.insert(op, (m, id));
            }
            let results = self.creatio.batch(&batch).await?;
            for result in results {
                let Some((m, id)) = ops.get(&result.id) else {
                    continue;
                };
                match result.outcome {
                    BatchOutcome::Ok { .. } => {}
                    BatchOutcome::Failed(e) if e.is_duplicate_key() => {}
                    BatchOutcome::Failed(e) => {
                        first_error.get_or_insert(Error::Creatio(e));
                        continue;
                    }
                    _ => {
                        first_error.get_or_insert(Error::Payload(
                            "a $batch operation was not executed".into(),
                        ));
                        continue;
                    }
                }
                self.state.mark_synced(link.case_id, &m.id, *id).await?;
                report.activities += 1;
                if link.last_synced_at.is_none_or(|t| m.at > t) {
                    link.last_synced_at = Some(m.at);
                }
            }
        }
        self.state.save_link(conv, link).await?;
        if let Some(error) = first_error {
            return Err(error);
        }
        if self.c1.attach_media {
            for m in messages.iter().filter(|m| m.media.is_some()) {
                if link.transcript_from.is_some_and(|from| m.at <= from)
                    || self.state.is_attached(link.case_id, &m.id).await?
                {
                    continue;
                }
                match self.attach(link.case_id, m).await? {
                    Ok(()) => report.attachments += 1,
                    Err(why) => report.media_not_attached.push(why),
                }
            }
        }
        Ok(report)
    }

    /// C4: spools a message's media from WhatsApp into a temporary file (size-capped, SHA-256
    /// checked) and uploads it from there as a case attachment in chunks. `Ok(Err(reason))` when it stays a reference for good.
    async fn attach(&self, case_id: Uuid, m: &LoggedMessage) -> Result<Result<(), String>, Error> {
        let Some(media) = &m.media else {
            return Ok(Ok(()));
        };
        let skip = |why: String| async move {
            self.state
                .mark_attached(case_id, &m.id, Uuid::nil())
                .await?;
            Ok::<_, Error>(Err(why))
        };
        let Some(media_id) = media.id.as_deref().filter(|i| !i.is_empty()) else {
            return skip(format!("{}: no media id", m.id)).await;
        };
        let mut options = DownloadOptions::new().max_bytes(self.c1.max_attachment_bytes);
        if let Some(sha) = media.sha256.as_deref().filter(|s| !s.is_empty()) {
            options = options.sha256(sha);
        }
        let spooled = match self
            .whatsapp
            .spool_media_by_id(
                media_id,
                None,
                &options,
                media.mime_type.as_deref(),
                media.filename.as_deref(),
            )
            .await
        {
            Ok(spooled) => spooled,
            Err(chatport_whatsapp::Error::MediaTooLarge { limit, .. }) => {
                return skip(format!(
                    "{}: larger than {limit} bytes, kept as a reference",
                    m.id
                ))
                .await;
            }
            Err(chatport_whatsapp::Error::MediaHashMismatch { .. }) => {
                return skip(format!(
                    "{}: SHA-256 does not match WhatsApp's, not attached",
                    m.id
                ))
                .await;
            }
            Err(e) => return Err(Error::WhatsApp(e)),
        };
        let tail: String =
            m.id.chars()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
        let name = spooled.file_name_or(&format!("whatsapp-{tail}"));
        let key =
            IdempotencyKey::derive("C4", "file", &EventId::new(format!("{case_id}:{}", m.id)));
        let upload = Upload::case_file(case_id, &name, &spooled.mime_type, spooled.bytes)
            .file_id(key.uuid());
        // Before the upload: its `new_file` notification may arrive before this returns, and
        // C2 must not send the customer's own file back.
        self.state.mark_own(key.uuid()).await?;
        self.creatio
            .upload_file(&upload, spooled.open().await?)
            .await?;
        self.state.mark_attached(case_id, &m.id, key.uuid()).await?;
        Ok(Ok(()))
    }

    /// Sends `text` to the conversation if the 24-hour window is open (else nothing).
    pub(crate) async fn send_in_window(
        &self,
        conv: &ConversationKey,
        key: &IdempotencyKey,
        text: String,
    ) -> Result<Option<SendOnce>, Error> {
        if text.trim().is_empty() || !self.window.is_open(&conv.phone_number_id, &conv.user).await {
            return Ok(None);
        }
        let message = OutgoingMessage::text(Shared::recipient(conv), text);
        match self.sender.send(key, &conv.phone_number_id, message).await {
            Ok(sent) => Ok(Some(sent)),
            Err(e) if e.kind() == Some(chatport_whatsapp::ErrorKind::ReEngagementRequired) => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts (or extends) the conversation's session with the agent.
    async fn keep_with_agent(&self, conv: &ConversationKey, link: &CaseLink) -> Result<(), Error> {
        let sender = match conv.phone() {
            Some(p) => chatport_whatsapp::inbound::Sender::Phone(p.to_owned()),
            None => chatport_whatsapp::inbound::Sender::UserId(conv.user.clone()),
        };
        self.conversations
            .start(
                &conv.phone_number_id,
                &sender,
                FLOW,
                json!({ "case_id": link.case_id }),
                Duration::from_secs(self.c1.session_ttl_hours.max(1) * 3600),
            )
            .await?;
        Ok(())
    }

    /// Handoff, confirmation, session: what both triggers do.
    pub(super) async fn handoff_and_confirm(
        &self,
        conv: &ConversationKey,
        trigger: &Trigger,
    ) -> Result<Outcome, Error> {
        let report = self.handoff(conv, trigger).await?;
        let link = self
            .state
            .link(conv)
            .await?
            .ok_or_else(|| Error::Payload("the case link vanished".into()))?;
        self.keep_with_agent(conv, &link).await?;
        let text = self
            .c1
            .handoff_reply
            .replace("{case_number}", link.case_number.as_deref().unwrap_or("-"));
        let key = IdempotencyKey::derive(FLOW, "reply", &trigger.event_id);
        let confirmation = self.send_in_window(conv, &key, text).await?;
        if confirmation == Some(SendOnce::InDoubt) {
            return Ok(Outcome::Retry {
                after: Some(Duration::from_secs(self.c1.in_doubt_recheck_secs)),
                reason: "handoff confirmation in doubt; waiting for its status webhook".into(),
            });
        }
        // The confirmation joins the transcript too.
        let mut link = link;
        let sync = self.sync(conv, &mut link).await?;
        let mut receipt = serde_json::to_value(&report).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut receipt {
            map.insert(
                "confirmation".into(),
                json!(matches!(confirmation, Some(SendOnce::Sent(_)))),
            );
            map.insert(
                "activities_after_confirmation".into(),
                json!(sync.activities),
            );
        }
        Ok(Outcome::delivered_with(receipt))
    }
}

/// C1 for inbound messages: claims escalations, and handles every message of a handed-off
/// conversation (routed by its session).
pub struct HandoffFlow {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HandoffFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoffFlow").finish_non_exhaustive()
    }
}

impl HandoffFlow {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn reason(&self, inbound: &Inbound) -> Option<HandoffReason> {
        let c1 = &self.shared.c1;
        let text = inbound.text()?;
        if let Some(phrase) = escalation_phrase(&c1.escalation_phrases, text) {
            return Some(HandoffReason::Phrase {
                phrase: phrase.to_owned(),
            });
        }
        if c1.escalate_issue_types.is_empty() && c1.escalate_priorities.is_empty() {
            return None;
        }
        let c = self
            .shared
            .classifier
            .classify_rules(&MessageFacts::new(inbound.sender.phone(), text));
        let hit = |list: &[String], v: &str| list.iter().any(|x| x.eq_ignore_ascii_case(v));
        (hit(&c1.escalate_issue_types, &c.issue_type) || hit(&c1.escalate_priorities, &c.priority))
            .then_some(HandoffReason::Classifier {
                issue_type: c.issue_type,
                priority: c.priority,
            })
    }
}

#[async_trait]
impl MessageFlow for HandoffFlow {
    fn name(&self) -> &'static str {
        FLOW
    }

    fn claim(&self, inbound: &Inbound, _person: Option<&DirectoryEntry>) -> Option<u8> {
        match self.reason(inbound)? {
            HandoffReason::Phrase { .. } => Some(PRIORITY_PHRASE),
            _ => Some(PRIORITY_CLASSIFIER),
        }
    }

    /// The case link and held replies follow the customer; with a new phone number the
    /// customer's contact gets it as a mobile communication option (C5 finds the contact by it
    /// next time).
    async fn follow(&self, phone_number_id: &str, moves: &[(String, String)]) -> Result<(), Error> {
        let s = &self.shared;
        for (old, new) in moves {
            let from = ConversationKey::new(phone_number_id, old);
            let to = ConversationKey::new(phone_number_id, new);
            let Some(link) = s.state.rekey(&from, &to).await? else {
                continue;
            };
            if let (Some(contact_id), Some(digits)) = (link.contact_id, to.phone()) {
                super::contact::add_mobile(&s.creatio, &s.lookups, contact_id, &from, digits)
                    .await?;
            }
        }
        Ok(())
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let s = &self.shared;
        let conv = ConversationKey::new(&inbound.phone_number_id, inbound.sender.as_str());
        let reason = self.reason(inbound);
        let open = s.state.link(&conv).await?.filter(|l| l.open);
        match (open, reason) {
            // A message of a conversation with the agent: onto the case; held replies go out.
            (Some(mut link), None) => {
                let sync = s.sync(&conv, &mut link).await?;
                let held = super::reply::deliver_held(s, &conv).await?;
                Ok(Outcome::delivered_with(json!({
                    "case_id": link.case_id,
                    "mirrored": true,
                    "activities": sync.activities,
                    "attachments": sync.attachments,
                    "held_replies_delivered": held,
                })))
            }
            (_, Some(reason)) => {
                let trigger = Trigger {
                    event_id: stored.event_id.clone(),
                    reason,
                    profile_name: inbound.profile_name().map(str::to_owned),
                };
                s.handoff_and_confirm(&conv, &trigger).await
            }
            (None, None) => {
                // The session outlived the case (closed meanwhile): let the other flows have the
                // next message.
                s.conversations
                    .end(&inbound.phone_number_id, &inbound.sender)
                    .await?;
                Ok(Outcome::delivered_with(
                    json!({ "skipped": "the conversation's case is closed" }),
                ))
            }
        }
    }
}

/// A filled AI field as the value of its case column: text as a string, a number as a JSON
/// number, a date as midnight UTC in Creatio's date-time form, a lookup as its `Id`.
fn column_value(value: &FieldValue) -> Value {
    match value {
        FieldValue::Number(n) => json!(n),
        FieldValue::Date(d) => d.and_hms_opt(0, 0, 0).map_or(Value::Null, |t| {
            Value::String(chatport_creatio::odata_datetime(&t.and_utc()))
        }),
        FieldValue::Lookup(l) => Value::String(l.id.clone()),
        other => Value::String(other.to_plain()),
    }
}

/// The line of the first activity that says what a model wrote (model and prompt version) and
/// where the rules stood in for it; `None` when no model was involved.
fn ai_note(
    classification: &Classification,
    summary: &Summary,
    filled: &FilledFields,
    fields: &[AiField],
) -> Option<String> {
    let mut lines = Vec::new();
    if let Some(p) = &classification.provenance {
        lines.push(format!("Classification: {p}."));
    } else if classification.fallback {
        lines.push("Classification: rules (the model did not answer).".to_owned());
    }
    if let Some(p) = &summary.provenance {
        lines.push(format!("Summary: {p}."));
    } else if summary.fallback {
        lines.push("Summary: rules (the model did not answer).".to_owned());
    }
    if !fields.is_empty() {
        let written: Vec<String> = fields
            .iter()
            .filter_map(|f| {
                filled.get(f.name()).map(|v| {
                    let shown = match v {
                        FieldValue::Lookup(l) => l.name.clone(),
                        other => other.to_plain(),
                    };
                    format!("{} = {}", f.column, clip(&shown, 80))
                })
            })
            .collect();
        let by = filled.provenance.as_ref().map_or_else(
            || "the model did not answer".to_owned(),
            ToString::to_string,
        );
        lines.push(if written.is_empty() {
            format!("AI-filled fields ({by}): none.")
        } else {
            format!("AI-filled fields ({by}): {}.", written.join("; "))
        });
    }
    (!lines.is_empty()).then(|| format!("Assistant: {}\n", lines.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::creatio::C1Config;

    #[test]
    fn escalation_phrases_match_in_any_case_and_spacing() {
        let phrases = C1Config::default().escalation_phrases;
        assert_eq!(
            escalation_phrase(&phrases, "I need to SPEAK   to a person please"),
            Some("speak to a person")
        );
        assert_eq!(
            escalation_phrase(&phrases, "Ich möchte mit einem Menschen sprechen"),
            Some("mit einem menschen")
        );
        assert_eq!(
            escalation_phrase(&phrases, "Quiero hablar con una persona"),
            Some("hablar con una persona")
        );
        assert_eq!(
            escalation_phrase(&phrases, "Je veux parler à un conseiller"),
            Some("parler à un conseiller")
        );
        assert_eq!(escalation_phrase(&phrases, "where is my parcel"), None);
    }

    #[test]
    fn media_activity_carries_the_reference() {
        let mut m = LoggedMessage::new(Direction::Inbound, "wamid.X", Utc::now(), "audio");
        let mut media = chatport_whatsapp::conversation::MediaRef::default();
        media.id = Some("777".into());
        media.mime_type = Some("audio/ogg".into());
        media.sha256 = Some("abc".into());
        media.voice = true;
        m.media = Some(media);
        let a = message_activity(
            "[WhatsApp]",
            &m,
            Uuid::nil(),
            None,
            Uuid::nil(),
            &chatport_creatio::Lookups::default(),
        );
        assert_eq!(
            a.title.as_deref(),
            Some("[WhatsApp] Customer sent a voice note")
        );
        let notes = a.notes.unwrap();
        assert!(notes.contains("WhatsApp media id 777"));
        assert!(notes.contains("SHA-256 abc"));
    }
}
