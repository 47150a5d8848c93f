//! **O6 compliance archive**: a WhatsApp message carrying a compliance tag (`#consent`,
//! `I consent`, `#incident`, `#policy` …, configured in `[[flows.o6.tags]]`) → the conversation's
//! transcript so far, taken from the [conversation store](chatport_whatsapp::conversation) (time,
//! direction, type, text, and media as references: WhatsApp media id, SHA-256, file name) → a
//! plain-text file streamed into the CSS (`upload_content`) → a CMS file instance with that file as
//! its primary rendition and the properties tag, retention rule, legal-hold flag, participant,
//! conversation, message count, first and last message time and business phone number id → an
//! optional confirmation reply inside the 24-hour window.
//!
//! **Retention and legal hold are properties.** The public CMS material documents no retention or
//! legal-hold API (`shared/api` notes §1.7), so the tag's `retention_rule` and `legal_hold` are
//! written to configurable properties of the archive record; a records-management policy on the
//! tenant is expected to act on them.
//!
//! Effectively once per tag message: the archive is keyed by `derive("O6", "archive", wamid)` in
//! `idempotency_property`; the uploaded transcript is remembered under the same key in
//! [`KV_SNAPSHOT`], so a retry after the upload neither uploads again nor archives a longer
//! transcript; the reply goes through [`MessageSink`] keyed by `derive("O6", "reply", wamid)`. A
//! redelivered webhook is dropped by the outbox (same event id). A second tag message later in the
//! same conversation is another event: it creates a **new** archive covering the conversation up
//! to then.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::sink::KeyLocks;
use chatport_core::{IdempotencyKey, Outcome, Sink};
use chatport_opentext::{Client as CmsClient, InstanceDraft, InstanceSink, UploadOptions};
use chatport_runtime::{KvStore, StoredEvent};
use chatport_whatsapp::{OutgoingMessage, WindowTracker};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{StoredMedia, category_of, in_doubt, instance_sink, primary_rendition, send_once};
use crate::Error;

use crate::directory::DirectoryEntry;
use crate::flows::{FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::render;
use chatport_whatsapp::conversation::{ConversationKey, Direction, LoggedMessage};
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::sink::MessageSink;

/// The flow name of O6.
pub const FLOW: &str = "O6";

/// The claim priority of a tagged message: above O1 (0) and O2's media guess (20), below the
/// role-based claims (L2 40, O5/O8/L6 50), O4's whole-message requests (60) and C1's handoff.
pub const PRIORITY: u8 = 30;

/// KV namespace: archive idempotency key → [`ArchiveSnapshot`] JSON (the transcript uploaded for
/// that tag message).
pub const KV_SNAPSHOT: &str = "opentext.o6.snapshot";

/// One compliance tag: what marks a message and what the archive gets.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ComplianceTag {
    /// The tag written to the archive (`consent`, `incident`, `policy_acknowledgement`).
    pub name: String,
    /// Words or phrases that mark a message (case-insensitive, whole words: `#consent` does not
    /// match `#consented`), in its text, caption or interactive reply title.
    pub keywords: Vec<String>,
    /// Retention rule written to the archive (a records-management rule id or label).
    pub retention_rule: String,
    /// Legal-hold flag written to the archive.
    #[serde(default)]
    pub legal_hold: bool,
}

impl ComplianceTag {
    /// A tag.
    pub fn new(name: &str, keywords: &[&str], retention_rule: &str, legal_hold: bool) -> Self {
        Self {
            name: name.into(),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            retention_rule: retention_rule.into(),
            legal_hold,
        }
    }

    /// Whether `text` carries one of the keywords (case-insensitive, whole words).
    pub fn matches(&self, text: &str) -> bool {
        let text = text.to_lowercase();
        self.keywords
            .iter()
            .any(|k| contains_phrase(&text, &k.trim().to_lowercase()))
    }
}

/// Whether `phrase` occurs in `text` with no letter or digit right before or after it.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(pos) = text[from..].find(phrase) {
        let start = from + pos;
        let end = start + phrase.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let bounded = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if bounded(before) && bounded(after) {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// `[flows.o6]`: compliance archive.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct O6Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// Category of the archive record. Default `file` (it carries the transcript as content).
    pub category: String,
    /// Type of the archive record. Default `ca_compliance_archive`.
    pub type_name: String,
    /// Property holding chatport's idempotency key. Default `chatport_key`.
    pub idempotency_property: String,
    /// `[[flows.o6.tags]]`, first match wins. Default: `consent` (`#consent`, `I consent`;
    /// `consent-7y`), `incident` (`#incident`; `incident-10y`, legal hold), and
    /// `policy_acknowledgement` (`#policy`, `I acknowledge the policy`; `policy-ack-7y`).
    pub tags: Vec<ComplianceTag>,
    /// Logical field → property. Logical fields: `tag`, `retention_rule`, `legal_hold`,
    /// `participant` (the user's `wa_id` digits or BSUID), `participant_name`, `conversation`
    /// (`{phone_number_id}:{user}`), `message_count`, `first_message_at`, `last_message_at`
    /// (RFC 3339), `phone_number_id`, `wamid` (the tag message), `transcript_sha256`,
    /// `archived_at`. A field missing here is not written. Defaults: same names, except
    /// `tag` → `compliance_tag`, `phone_number_id` → `business_phone_number_id`, `wamid` →
    /// `source_message_id`.
    pub properties: BTreeMap<String, String>,
    /// Confirmation reply (free text, sent only inside the 24-hour window), or none. Placeholders
    /// `{tag}`, `{count}` (messages archived), `{archive}` (the archive's id). Default: none.
    pub reply: Option<String>,
    /// Seconds before an in-doubt send is checked again. Default 60.
    pub in_doubt_recheck_secs: u64,
}

impl Default for O6Config {
    fn default() -> Self {
        let properties = [
            "retention_rule",
            "legal_hold",
            "participant",
            "participant_name",
            "conversation",
            "message_count",
            "first_message_at",
            "last_message_at",
            "transcript_sha256",
            "archived_at",
        ]
        .into_iter()
        .map(|f| (f.to_owned(), f.to_owned()))
        .chain([
            ("tag".to_owned(), "compliance_tag".to_owned()),
            (
                "phone_number_id".to_owned(),
                "business_phone_number_id".to_owned(),
            ),
            ("wamid".to_owned(), "source_message_id".to_owned()),
        ])
        .collect();
        Self {
            enabled: false,
            category: "file".into(),
            type_name: "ca_compliance_archive".into(),
            idempotency_property: "chatport_key".into(),
            tags: vec![
                ComplianceTag::new("consent", &["#consent", "I consent"], "consent-7y", false),
                ComplianceTag::new("incident", &["#incident"], "incident-10y", true),
                ComplianceTag::new(
                    "policy_acknowledgement",
                    &["#policy", "I acknowledge the policy"],
                    "policy-ack-7y",
                    false,
                ),
            ],
            properties,
            reply: None,
            in_doubt_recheck_secs: 60,
        }
    }
}

impl O6Config {
    /// The first tag whose keywords `text` carries.
    pub fn tag_of(&self, text: &str) -> Option<&ComplianceTag> {
        self.tags.iter().find(|t| t.matches(text))
    }
}

/// The transcript uploaded for one tag message, remembered so a retry reuses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArchiveSnapshot {
    /// The transcript file in the CSS.
    pub transcript: StoredMedia,
    /// Messages in the transcript.
    pub message_count: usize,
    /// Time of the first message (RFC 3339, UTC).
    pub first_message_at: Option<String>,
    /// Time of the last message (RFC 3339, UTC).
    pub last_message_at: Option<String>,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What the transcript header says about the archive.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TranscriptHeader<'a> {
    /// The tag.
    pub tag: &'a ComplianceTag,
    /// The conversation.
    pub conversation: &'a ConversationKey,
    /// The tag message's wamid.
    pub wamid: &'a str,
}

impl<'a> TranscriptHeader<'a> {
    /// The header of the archive of `conversation` made for the tag message `wamid`.
    pub fn new(tag: &'a ComplianceTag, conversation: &'a ConversationKey, wamid: &'a str) -> Self {
        Self {
            tag,
            conversation,
            wamid,
        }
    }
}

/// The plain-text transcript (UTF-8): a header (tag, retention rule, legal hold, business phone
/// number id, participant, tag message, message count), then one block per message, oldest first:
///
/// ```text
/// [2025-06-30T01:39:08.000Z] inbound document wamid.X
///   text: Signed form
///   media: id=1234 sha256=… file=form.pdf mime=application/pdf
/// ```
///
/// Multi-line text is indented, so every line of a block starts with two spaces.
pub fn transcript(header: &TranscriptHeader<'_>, messages: &[LoggedMessage]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "chatport compliance archive (flow O6)");
    let _ = writeln!(out, "tag: {}", header.tag.name);
    let _ = writeln!(out, "retention rule: {}", header.tag.retention_rule);
    let _ = writeln!(out, "legal hold: {}", header.tag.legal_hold);
    let _ = writeln!(
        out,
        "business phone number id: {}",
        header.conversation.phone_number_id
    );
    let _ = writeln!(out, "participant: {}", header.conversation.user);
    let _ = writeln!(out, "tag message: {}", header.wamid);
    let _ = writeln!(out, "messages: {}", messages.len());
    for m in messages {
        let direction = m.direction.as_str();
        let _ = writeln!(out, "\n[{}] {direction} {} {}", rfc3339(m.at), m.kind, m.id);
        if let Some(author) = &m.author {
            let _ = writeln!(out, "  author: {author}");
        }
        if let Some(template) = &m.template {
            let _ = writeln!(out, "  template: {template}");
        }
        if let Some(text) = &m.text {
            let _ = writeln!(out, "  text: {}", text.replace('\n', "\n        "));
        }
        if let Some(media) = &m.media {
            let field = |name: &str, v: &Option<String>| {
                v.as_ref()
                    .map(|v| format!(" {name}={v}"))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "  media:{}{}{}{}",
                field("id", &media.id),
                field("sha256", &media.sha256),
                field("file", &media.filename),
                field("mime", &media.mime_type),
            );
        }
    }
    out
}

/// The O6 handler.
pub struct ComplianceArchive {
    config: O6Config,
    cms: CmsClient,
    archives: InstanceSink,
    sender: MessageSink,
    conversations: Conversations,
    window: WindowTracker,
    kv: Arc<dyn KvStore>,
}

impl std::fmt::Debug for ComplianceArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComplianceArchive").finish_non_exhaustive()
    }
}

/// Registers O6 when `[flows.o6] enabled`.
///
/// # Errors
/// [`Error::Config`] without `[opentext]`, or without any tag keyword.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let config = &ctx.config.flows.o6;
    if !config.enabled {
        return Ok(());
    }
    if !config
        .tags
        .iter()
        .any(|t| t.keywords.iter().any(|k| !k.trim().is_empty()))
    {
        return Err(Error::Config(
            "flows.o6.tags: at least one tag with a keyword is required when the flow is enabled"
                .into(),
        ));
    }
    super::require(&config.type_name, "flows.o6.type_name")?;
    super::require(
        &config.idempotency_property,
        "flows.o6.idempotency_property",
    )?;
    let cms = ctx.require_cms(FLOW)?;
    let archives = instance_sink(
        &cms,
        "flows.o6",
        category_of(&config.category),
        &config.type_name,
        &config.idempotency_property,
        &KeyLocks::new(),
    )?;
    registry.message_flows.push(Arc::new(ComplianceArchive {
        config: config.clone(),
        cms,
        archives,
        sender: ctx.sender.clone(),
        conversations: ctx.conversations.clone(),
        window: WindowTracker::new(Arc::new(ctx.conversations.log())),
        kv: ctx.kv.clone(),
    }));
    Ok(())
}

impl ComplianceArchive {
    /// Uploads the transcript of `conversation` (once per `key`).
    async fn snapshot(
        &self,
        key: &IdempotencyKey,
        tag: &ComplianceTag,
        conversation: &ConversationKey,
        inbound: &Inbound,
    ) -> Result<ArchiveSnapshot, Error> {
        if let Some(bytes) = self.kv.get(KV_SNAPSHOT, key.as_str()).await?
            && let Ok(snapshot) = serde_json::from_slice::<ArchiveSnapshot>(&bytes)
        {
            return Ok(snapshot);
        }
        let tag_at = inbound.message.timestamp();
        // Everything recorded so far, except customer messages written after the tag message
        // (handled concurrently by another worker): they belong to the next archive.
        let messages: Vec<LoggedMessage> = self
            .conversations
            .log()
            .messages(conversation)
            .await?
            .into_iter()
            .filter(|m| {
                m.direction != Direction::Inbound
                    || m.id == inbound.message.id
                    || tag_at.is_none_or(|t| m.at <= t)
            })
            .collect();
        let header = TranscriptHeader::new(tag, conversation, &inbound.message.id);
        let text = transcript(&header, &messages).into_bytes();
        let sha256_hex = hex::encode(Sha256::digest(&text));
        let bytes = text.len() as u64;
        let file_name = format!(
            "transcript-{}-{}.txt",
            tag.name,
            inbound
                .message
                .id
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        );
        let mime_type = "text/plain";
        let content = self
            .cms
            .upload_content(
                std::io::Cursor::new(text),
                &UploadOptions::new(file_name.clone())
                    .mime_type(mime_type)
                    .length(bytes),
            )
            .await?;
        let snapshot = ArchiveSnapshot {
            transcript: StoredMedia {
                blob_id: content
                    .rendition_blob_id(self.cms.blob_id_source())
                    .to_owned(),
                file_name,
                mime_type: mime_type.to_owned(),
                bytes,
                sha256_hex,
                verified: true,
                text: None,
            },
            message_count: messages.len(),
            first_message_at: messages.first().map(|m| rfc3339(m.at)),
            last_message_at: messages.last().map(|m| rfc3339(m.at)),
        };
        let json = serde_json::to_vec(&snapshot).map_err(|e| Error::Payload(e.to_string()))?;
        self.kv.put(KV_SNAPSHOT, key.as_str(), &json).await?;
        Ok(snapshot)
    }

    async fn run(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let cfg = &self.config;
        let message = &inbound.message;
        let Some(tag) = message.text_body().and_then(|t| cfg.tag_of(t)).cloned() else {
            // Routed here by an earlier attempt, but the configuration no longer tags it.
            return Ok(Outcome::delivered_with(
                json!({ "archive": null, "skipped": "no compliance tag" }),
            ));
        };
        let conversation = ConversationKey::new(&inbound.phone_number_id, inbound.sender.as_str());
        let key = IdempotencyKey::derive(FLOW, "archive", &stored.event_id);
        let snapshot = self.snapshot(&key, &tag, &conversation, inbound).await?;

        let mut values: Vec<(&str, Value)> = vec![
            ("tag", json!(tag.name)),
            ("retention_rule", json!(tag.retention_rule)),
            ("legal_hold", json!(tag.legal_hold)),
            ("participant", json!(conversation.user)),
            ("conversation", json!(conversation.as_key())),
            ("message_count", json!(snapshot.message_count)),
            ("phone_number_id", json!(conversation.phone_number_id)),
            ("wamid", json!(message.id)),
            ("transcript_sha256", json!(snapshot.transcript.sha256_hex)),
            ("archived_at", json!(rfc3339(Utc::now()))),
        ];
        if let Some(name) = inbound.profile_name() {
            values.push(("participant_name", json!(name)));
        }
        if let Some(at) = &snapshot.first_message_at {
            values.push(("first_message_at", json!(at)));
        }
        if let Some(at) = &snapshot.last_message_at {
            values.push(("last_message_at", json!(at)));
        }
        let tagged_at = message
            .timestamp()
            .map_or_else(|| message.id.clone(), rfc3339);
        let mut draft = InstanceDraft::new(format!("Compliance archive {} {tagged_at}", tag.name))
            .extra("renditions", primary_rendition(&snapshot.transcript));
        for (field, value) in values {
            if let Some(p) = cfg.properties.get(field) {
                draft.properties.insert(p.clone(), value);
            }
        }
        let archive = self.archives.write(&draft, &key).await?;
        let created = archive.created;
        let mut result = json!({
            "archive": archive.id,
            "created": created,
            "tag": tag.name,
            "messages": snapshot.message_count,
        });

        let Some(reply) = &cfg.reply else {
            return Ok(Outcome::delivered_with(result));
        };
        if !self
            .window
            .is_open(&conversation.phone_number_id, &conversation.user)
            .await
        {
            result["reply"] = json!("skipped: the 24-hour window is closed");
            return Ok(Outcome::delivered_with(result));
        }
        let mut placeholders = BTreeMap::new();
        placeholders.insert("tag".to_owned(), tag.name.clone());
        placeholders.insert("count".to_owned(), snapshot.message_count.to_string());
        placeholders.insert("archive".to_owned(), archive.id.clone());
        let confirmation =
            OutgoingMessage::text(inbound.sender.recipient(), render(reply, &placeholders))
                .reply_to(message.id.clone());
        let reply_key = IdempotencyKey::derive(FLOW, "reply", &stored.event_id);
        match send_once(
            &self.sender,
            &reply_key,
            &inbound.phone_number_id,
            confirmation,
        )
        .await?
        {
            Some(wamid) => {
                result["reply_wamid"] = json!(wamid);
                Ok(Outcome::delivered_with(result))
            }
            None => Ok(in_doubt(cfg.in_doubt_recheck_secs)),
        }
    }
}

#[async_trait]
impl MessageFlow for ComplianceArchive {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// Claims (priority [`PRIORITY`]) a message whose text, caption or reply title carries a
    /// configured tag keyword, from anyone.
    fn claim(&self, inbound: &Inbound, _person: Option<&DirectoryEntry>) -> Option<u8> {
        self.config.tag_of(inbound.text()?).map(|_| PRIORITY)
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        self.run(stored, inbound).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatport_whatsapp::conversation::MediaRef;

    #[test]
    fn tags_match_whole_words_case_insensitively() {
        let cfg = O6Config::default();
        let tag = |t: &str| cfg.tag_of(t).map(|t| t.name.as_str());
        assert_eq!(tag("#consent"), Some("consent"));
        assert_eq!(tag("Yes, I CONSENT to the recording."), Some("consent"));
        assert_eq!(tag("#Incident: pump flooded"), Some("incident"));
        assert_eq!(
            tag("I acknowledge the policy v3"),
            Some("policy_acknowledgement")
        );
        assert_eq!(tag("#consented"), None, "whole words only");
        assert_eq!(tag("I consented earlier"), None);
        assert_eq!(tag("my invoice is wrong"), None);
        assert_eq!(tag(""), None);
        let incident = cfg.tags.iter().find(|t| t.name == "incident").unwrap();
        assert!(incident.legal_hold);
        assert!(!ComplianceTag::new("x", &[""], "r", false).matches("anything"));
    }

    #[test]
    fn the_transcript_lists_every_message_with_media_references() {
        let tag = ComplianceTag::new("incident", &["#incident"], "incident-10y", true);
        let conversation = ConversationKey::new("106540352242922", "+1 650 555 1234");
        let t0 = DateTime::parse_from_rfc3339("2025-06-30T01:39:08Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut a = LoggedMessage::new(Direction::Inbound, "wamid.A", t0, "text");
        a.text = Some("first line\nsecond line".into());
        let mut b = LoggedMessage::new(
            Direction::Inbound,
            "wamid.B",
            t0 + chrono::Duration::seconds(5),
            "document",
        );
        let mut media = MediaRef::default();
        media.id = Some("media-1".into());
        media.sha256 = Some("c2hh".into());
        media.filename = Some("form.pdf".into());
        media.mime_type = Some("application/pdf".into());
        b.media = Some(media);
        let mut c = LoggedMessage::new(
            Direction::Outbound,
            "wamid.C",
            t0 + chrono::Duration::seconds(9),
            "template",
        );
        c.template = Some("case_update".into());
        let header = TranscriptHeader::new(&tag, &conversation, "wamid.D");
        let text = transcript(&header, &[a, b, c]);
        assert!(text.contains("tag: incident\n"), "{text}");
        assert!(text.contains("legal hold: true\n"));
        assert!(text.contains("retention rule: incident-10y\n"));
        assert!(text.contains("participant: 16505551234\n"));
        assert!(text.contains("messages: 3\n"));
        assert!(text.contains("[2025-06-30T01:39:08.000Z] inbound text wamid.A\n"));
        assert!(text.contains("  text: first line\n        second line\n"));
        assert!(
            text.contains("  media: id=media-1 sha256=c2hh file=form.pdf mime=application/pdf\n")
        );
        assert!(text.contains("outbound template wamid.C\n  template: case_update\n"));
        let a_at = text.find("wamid.A").unwrap();
        let c_at = text.find("wamid.C").unwrap();
        assert!(a_at < c_at, "oldest first");
    }
}
