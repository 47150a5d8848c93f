//! **L6 user-generated content**: a customer sends a photo, video or document with a campaign tag
//! in the caption → chatport asks for consent with two reply buttons and records the answer
//! **before anything is stored** → on "yes" the media is uploaded into the campaign's folder,
//! tagged by campaign and source, given the consent record, and routed to moderation; on "no"
//! nothing is stored.
//!
//! Claim: an image / video / document whose caption carries one of the `[[flows.l6.campaigns]]`
//! tags. Steps:
//!
//! 1. **Submission**: the submission (media id, digest, caption, campaign) is kept in the
//!    key-value store (`ol.L6.submission`, by the message's wamid) and a conversation session
//!    starts; the sender gets an interactive message with the buttons `l6:yes` / `l6:no`, whose
//!    wamid is remembered as reply context. Nothing reaches the DAM.
//! 2. **Answer** (a button tap, routed by its reply context or the session): the consent is
//!    recorded first (`ol.L6.consent`, first answer wins: `{answer, at, message}`), then
//!    - "yes": the media is downloaded (hash-checked) and uploaded as `wa-{reference}-{name}`,
//!      the mapped fields set (campaign, source, consent, consent time, consent message,
//!      submitter, caption) with the state `moderation_value`, the campaign and source added as
//!      keywords, and the sender thanked;
//!    - "no": the submission is dropped and the sender told nothing was stored;
//!    - anything else: the question is asked again (as text).
//!
//! **Extraction** (`extractor = "model"`, `docs/flows/L6.md`): after the consent, before the
//! upload, the `[assistant]` model fills the configured `ai_fields` from the caption, the
//! conversation and a PDF's text; the model and prompt version go to the DAM field mapped to
//! `ai_provenance`. The campaign, the source and the consent are never the model's. L6 asks
//! nothing beyond the consent: what the model does not find stays empty. The answer is
//! remembered per submission (KV `ol.extracted`), so a retry writes the same values. On any
//! model failure the rules' result (no AI fields) stands.
//!
//! Effectively once: the upload's file name is derived from the submission, so a second tap or a
//! retry finds the uploaded asset; every send is keyed by its message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_assistant::extract::{DocumentFacts, Extractor};
use chatport_assistant::fields::{FilledFields, LookupValues};
use chatport_core::{IdempotencyKey, Outcome};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::webhook::{Media, MessageType};
use chatport_whatsapp::{InteractiveMessage, OutgoingMessage, ReplyButton};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Shared;
use super::l2::AssetAiField;
use crate::Error;
use crate::assistant::{Engine, conversation_of};

use crate::directory::DirectoryEntry;
use crate::flows::{FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::render;
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::sink::SendOnce;

/// The flow name of L6.
pub const FLOW: &str = "L6";
/// The id of the consent button.
pub const YES: &str = "l6:yes";
/// The id of the refusal button.
pub const NO: &str = "l6:no";
/// KV namespace of pending submissions: submission wamid → [`Submission`].
pub const KV_SUBMISSION: &str = "ol.L6.submission";
/// KV namespace of consent records: submission wamid → `{answer, at, message}`.
pub const KV_CONSENT: &str = "ol.L6.consent";

/// Logical fields L6 can write (map them in `[flows.l6.fields]`).
pub const FIELDS: &[&str] = &[
    "campaign",
    "source",
    "consent",
    "consent_at",
    "consent_message",
    "submitter",
    "caption",
    "source_message",
    "ai_provenance",
];

/// A campaign tag and its folder.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CampaignTag {
    /// The tag, e.g. `#summer25` (case-insensitive, with or without `#`).
    pub tag: String,
    /// The campaign's name (written to the asset and used as a keyword).
    pub name: String,
    /// The folder's record id; when unset, a folder titled `folder_title` (else the name)
    /// under `root_folder`.
    pub folder: Option<String>,
    /// The folder's title.
    pub folder_title: Option<String>,
}

/// `[flows.l6]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct L6Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// `[[flows.l6.campaigns]]`.
    pub campaigns: Vec<CampaignTag>,
    /// Record id of the folder campaign folders are created in.
    pub root_folder: String,
    /// Folder subtype for created folders. Default `Default`.
    pub folder_subtype: String,
    /// The consent question. Placeholder `{campaign}`.
    pub consent_text: String,
    /// Label of the consent button (≤ 20 characters). Default `Yes, I agree`.
    pub consent_yes: String,
    /// Label of the refusal button. Default `No`.
    pub consent_no: String,
    /// Reply after storing. Placeholders `{campaign}`, `{identifier}`.
    pub reply_stored: String,
    /// Reply after a refusal.
    pub reply_declined: String,
    /// Reply to an answer that is not a button tap.
    pub reply_unclear: String,
    /// Logical field → DAM field (see [`FIELDS`]).
    pub fields: BTreeMap<String, String>,
    /// The source written to the asset and added as a keyword. Default `whatsapp-ugc`.
    pub source_value: String,
    /// The state the asset is routed to (`[orangelogic] state_field`). Default `Pending
    /// Moderation`.
    pub moderation_value: String,
    /// How long the sender may take to answer, in seconds. Default 86400.
    pub session_ttl_secs: u64,
    /// Largest media accepted, in bytes. Default 100 MB.
    pub max_bytes: u64,
    /// Who fills `ai_fields`: `"rules"` (the default: nothing) or `"model"` (the `[assistant]`
    /// model, from the caption, the conversation and a PDF's text; the model and prompt version
    /// go to the field mapped to `ai_provenance`).
    pub extractor: Engine,
    /// Characters of a PDF's text given to the model with `extractor = "model"`. Default 8000.
    pub document_text_chars: usize,
    /// `[[flows.l6.ai_fields]]`: DAM fields the model fills (e.g. a description or the subject
    /// of the submission). Default: none.
    pub ai_fields: Vec<AssetAiField>,
}

impl Default for L6Config {
    fn default() -> Self {
        let fields = [
            ("campaign", "UGC.Campaign"),
            ("source", "UGC.Source"),
            ("consent", "UGC.Consent"),
            ("consent_at", "UGC.Consent-At"),
            ("consent_message", "UGC.Consent-Message"),
            ("submitter", "UGC.Submitter"),
            ("caption", "CoreField.CaptionLong"),
            ("source_message", "UGC.Source-Message"),
            ("ai_provenance", "UGC.AI-Provenance"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self {
            enabled: false,
            campaigns: Vec::new(),
            root_folder: String::new(),
            folder_subtype: "Default".into(),
            consent_text: "Thank you for your submission to {campaign}! May we store it and use it in this campaign? Your answer is recorded.".into(),
            consent_yes: "Yes, I agree".into(),
            consent_no: "No".into(),
            reply_stored: "Thank you! Your submission to {campaign} is with our moderation team (reference {identifier}).".into(),
            reply_declined: "Understood — we have not stored your submission.".into(),
            reply_unclear: "Please answer with one of the two buttons above.".into(),
            fields,
            source_value: "whatsapp-ugc".into(),
            moderation_value: "Pending Moderation".into(),
            session_ttl_secs: 86_400,
            max_bytes: chatport_whatsapp::DEFAULT_MAX_DOWNLOAD_BYTES,
            extractor: Engine::Rules,
            document_text_chars: 8000,
            ai_fields: Vec::new(),
        }
    }
}

impl L6Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn check(&self) -> Result<(), Error> {
        if self.campaigns.is_empty() {
            return Err(Error::Config(
                "flows.l6.campaigns: at least one campaign tag".into(),
            ));
        }
        if self.root_folder.trim().is_empty() && self.campaigns.iter().any(|c| c.folder.is_none()) {
            return Err(Error::Config(
                "flows.l6.root_folder: required for campaigns without a folder".into(),
            ));
        }
        if self.consent_yes.chars().count() > 20 || self.consent_no.chars().count() > 20 {
            return Err(Error::Config(
                "flows.l6.consent_yes / consent_no: at most 20 characters (WhatsApp button limit)"
                    .into(),
            ));
        }
        for key in self.fields.keys() {
            if !FIELDS.contains(&key.as_str()) {
                return Err(Error::Config(format!(
                    "flows.l6.fields: unknown logical field `{key}` (available: {})",
                    FIELDS.join(", ")
                )));
            }
        }
        AssetAiField::check_all(&self.ai_fields, "flows.l6.ai_fields")?;
        Ok(())
    }

    /// The campaign of a caption's first matching tag.
    pub fn campaign_of(&self, caption: Option<&str>) -> Option<&CampaignTag> {
        caption?
            .split_whitespace()
            .filter(|w| w.starts_with('#'))
            .map(|w| w.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '_'))
            .find_map(|tag| {
                self.campaigns.iter().find(|c| {
                    c.tag
                        .trim_start_matches('#')
                        .eq_ignore_ascii_case(tag.trim_start_matches('#'))
                })
            })
    }
}

/// A submission waiting for consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Submission {
    /// The submission message's wamid.
    pub wamid: String,
    /// The message type (`image`, `video`, `document`).
    pub kind: String,
    /// The media as the webhook described it.
    pub media: Media,
    /// The campaign tag.
    pub tag: String,
    /// The submitter's profile name.
    pub submitter: Option<String>,
}

/// The L6 handler.
pub struct UserContent {
    config: L6Config,
    shared: Shared,
    conversations: Conversations,
    /// The metadata extractor, when `extractor = "model"` and `ai_fields` are configured.
    extractor: Option<Arc<dyn Extractor>>,
}

impl std::fmt::Debug for UserContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserContent").finish_non_exhaustive()
    }
}

fn is_media(t: &MessageType) -> bool {
    matches!(
        t,
        MessageType::Image | MessageType::Video | MessageType::Document
    )
}

impl UserContent {
    async fn reply(
        &self,
        stored: &StoredEvent,
        inbound: &Inbound,
        step: &str,
        message: OutgoingMessage,
    ) -> Result<Option<String>, Error> {
        let key = IdempotencyKey::derive(FLOW, step, &stored.event_id);
        match self
            .shared
            .send_one(&key, &inbound.phone_number_id, message)
            .await?
        {
            SendOnce::Sent(wamid) => Ok(Some(wamid)),
            _ => Ok(None),
        }
    }

    async fn submit(
        &self,
        stored: &StoredEvent,
        inbound: &Inbound,
        campaign: &CampaignTag,
        media: &Media,
    ) -> Result<Outcome, Error> {
        let submission = Submission {
            wamid: inbound.message.id.clone(),
            kind: inbound.message.message_type.as_str().to_owned(),
            media: media.clone(),
            tag: campaign.tag.clone(),
            submitter: inbound.profile_name().map(str::to_owned),
        };
        let bytes = serde_json::to_vec(&submission).map_err(|e| Error::Payload(e.to_string()))?;
        self.shared
            .kv
            .put(KV_SUBMISSION, &submission.wamid, &bytes)
            .await?;
        self.conversations
            .start(
                &inbound.phone_number_id,
                &inbound.sender,
                FLOW,
                json!({ "submission": submission.wamid }),
                Duration::from_secs(self.config.session_ttl_secs),
            )
            .await?;
        let mut values = HashMap::new();
        values.insert("campaign", campaign.name.clone());
        let question = InteractiveMessage::buttons(
            render(&self.config.consent_text, &values),
            vec![
                ReplyButton::new(YES, self.config.consent_yes.clone()),
                ReplyButton::new(NO, self.config.consent_no.clone()),
            ],
        );
        let message = OutgoingMessage::interactive(inbound.sender.recipient(), question)
            .reply_to(inbound.message.id.clone());
        let Some(wamid) = self.reply(stored, inbound, "ask", message).await? else {
            return Ok(self.shared.in_doubt("L6 consent question"));
        };
        if !wamid.is_empty() {
            self.conversations
                .remember_context(&wamid, FLOW, json!({ "submission": submission.wamid }))
                .await?;
        }
        Ok(Outcome::delivered_with(json!({
            "submission": submission.wamid,
            "campaign": campaign.name,
            "consent": "asked",
            "question_wamid": wamid,
        })))
    }

    /// The submission an answer refers to: by reply context, else by the sender's session.
    async fn submission_for(&self, inbound: &Inbound) -> Result<Option<Submission>, Error> {
        let mut id = None;
        if let Some(ctx_id) = inbound.context_id()
            && let Some(c) = self.conversations.context(ctx_id).await?
            && c.handler == FLOW
        {
            id = c
                .data
                .get("submission")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        if id.is_none()
            && let Some(s) = self
                .conversations
                .session(&inbound.phone_number_id, &inbound.sender)
                .await?
            && s.handler == FLOW
        {
            id = s
                .state
                .get("submission")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        let Some(id) = id else {
            return Ok(None);
        };
        Ok(self
            .shared
            .kv
            .get(KV_SUBMISSION, &id)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    async fn answer(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let Some(submission) = self.submission_for(inbound).await? else {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "no pending submission for this answer" }),
            ));
        };
        let tapped = inbound
            .message
            .interactive
            .as_ref()
            .and_then(|i| i.reply_id())
            .or_else(|| {
                inbound
                    .message
                    .button
                    .as_ref()
                    .and_then(|b| b.payload.as_deref())
            });
        let answer = match tapped {
            Some(YES) => "yes",
            Some(NO) => "no",
            _ => {
                let message = OutgoingMessage::text(
                    inbound.sender.recipient(),
                    self.config.reply_unclear.clone(),
                )
                .reply_to(inbound.message.id.clone());
                return match self.reply(stored, inbound, "unclear", message).await? {
                    Some(_) => Ok(Outcome::delivered_with(
                        json!({ "consent": "unclear answer" }),
                    )),
                    None => Ok(self.shared.in_doubt("L6 reminder")),
                };
            }
        };
        // Record the consent before anything is stored; the first answer wins.
        let at = inbound
            .message
            .timestamp()
            .unwrap_or_else(chrono::Utc::now)
            .to_rfc3339();
        let record = json!({ "answer": answer, "at": at, "message": inbound.message.id });
        self.shared
            .kv
            .put_if_absent(KV_CONSENT, &submission.wamid, record.to_string().as_bytes())
            .await?;
        let consent: Value = self
            .shared
            .kv
            .get(KV_CONSENT, &submission.wamid)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(record);
        let text = |k: &str| {
            consent
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let campaign = self
            .config
            .campaigns
            .iter()
            .find(|c| c.tag == submission.tag)
            .cloned();
        if text("answer") != "yes" || campaign.is_none() {
            let message = OutgoingMessage::text(
                inbound.sender.recipient(),
                self.config.reply_declined.clone(),
            )
            .reply_to(inbound.message.id.clone());
            let Some(_) = self.reply(stored, inbound, "declined", message).await? else {
                return Ok(self.shared.in_doubt("L6 reply"));
            };
            self.conversations
                .end(&inbound.phone_number_id, &inbound.sender)
                .await?;
            self.shared
                .kv
                .delete(KV_SUBMISSION, &submission.wamid)
                .await?;
            return Ok(Outcome::delivered_with(json!({
                "submission": submission.wamid, "consent": "no", "stored": false,
            })));
        }
        let Some(campaign) = campaign else {
            return Ok(Outcome::Rejected {
                reason: "L6: campaign disappeared from the configuration".into(),
            });
        };
        let filled: FilledFields;
        let folder = self
            .shared
            .folder(
                campaign.folder.as_deref(),
                campaign.folder_title.as_deref().unwrap_or(&campaign.name),
                &self.config.root_folder,
                &self.config.folder_subtype,
            )
            .await?;
        let key = IdempotencyKey::derive(
            FLOW,
            "upload",
            &chatport_core::EventId::new(submission.wamid.clone()),
        );
        // Looked up before downloading, so a replay downloads nothing.
        let stored_media = match self
            .shared
            .uploaded(&submission.media, &key, &submission.kind)
            .await?
        {
            Some(uploaded) => {
                filled = self.extract(inbound, &key, &submission, None).await?;
                uploaded
            }
            None => {
                let spooled = self
                    .shared
                    .spool(&submission.media, self.config.max_bytes)
                    .await?;
                filled = self
                    .extract(inbound, &key, &submission, Some(&spooled))
                    .await?;
                self.shared
                    .upload(&submission.media, &spooled, &folder, &key, &submission.kind)
                    .await?
            }
        };
        let mut logical: Vec<(&str, String)> = vec![
            ("campaign", campaign.name.clone()),
            ("source", self.config.source_value.clone()),
            ("consent", "yes".into()),
            ("consent_at", text("at")),
            ("consent_message", text("message")),
            ("source_message", submission.wamid.clone()),
        ];
        if let Some(s) = &submission.submitter {
            logical.push(("submitter", s.clone()));
        }
        if let Some(c) = submission
            .media
            .caption
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            logical.push(("caption", c.to_owned()));
        }
        let mut pairs: Vec<(String, String)> = logical
            .into_iter()
            .filter_map(|(k, v)| self.config.fields.get(k).map(|f| (f.clone(), v)))
            .collect();
        let ai = AssetAiField::pairs(&self.config.ai_fields, &filled, &pairs);
        if !ai.is_empty()
            && let Some(p) = &filled.provenance
            && let Some(field) = self.config.fields.get("ai_provenance")
        {
            pairs.extend(ai);
            pairs.push((field.clone(), p.to_string()));
        }
        if !self.config.moderation_value.trim().is_empty() {
            pairs.push((
                self.shared.config.state_field.clone(),
                self.config.moderation_value.clone(),
            ));
        }
        self.shared
            .client
            .set_fields(
                &stored_media.asset,
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .await?;
        let keywords: Vec<String> = [campaign.name.clone(), self.config.source_value.clone()]
            .into_iter()
            .filter(|k| !k.trim().is_empty() && !k.contains('|'))
            .collect();
        if !keywords.is_empty() {
            self.shared
                .client
                .add_keywords(&stored_media.asset, keywords, true)
                .await?;
        }
        let identifier = if stored_media.identifier.is_empty() {
            stored_media.asset.pair().1.to_owned()
        } else {
            stored_media.identifier.clone()
        };
        let mut values = HashMap::new();
        values.insert("campaign", campaign.name.clone());
        values.insert("identifier", identifier.clone());
        let message = OutgoingMessage::text(
            inbound.sender.recipient(),
            render(&self.config.reply_stored, &values),
        )
        .reply_to(inbound.message.id.clone());
        let Some(wamid) = self.reply(stored, inbound, "stored", message).await? else {
            return Ok(self.shared.in_doubt("L6 reply"));
        };
        self.conversations
            .end(&inbound.phone_number_id, &inbound.sender)
            .await?;
        Ok(Outcome::delivered_with(json!({
            "submission": submission.wamid,
            "consent": "yes",
            "stored": true,
            "asset": identifier,
            "folder": folder,
            "reused_upload": stored_media.reused,
            "reply_wamid": wamid,
        })))
    }

    /// Asks the model (with `extractor = "model"`) for the `ai_fields` of a consented
    /// submission. Once per submission: a retry gets the remembered answer, and when the asset
    /// was uploaded already (`spooled` is `None`) nothing new is asked.
    async fn extract(
        &self,
        inbound: &Inbound,
        key: &IdempotencyKey,
        submission: &Submission,
        spooled: Option<&chatport_whatsapp::SpooledMedia>,
    ) -> Result<FilledFields, Error> {
        let Some(extractor) = &self.extractor else {
            return Ok(FilledFields::empty());
        };
        if let Some(remembered) = self.shared.recall_extraction(key).await? {
            return Ok(remembered);
        }
        let Some(spooled) = spooled else {
            return Ok(FilledFields::empty());
        };
        let mut lookups = LookupValues::new();
        let specs: Vec<_> = self
            .config
            .ai_fields
            .iter()
            .map(|f| {
                f.add_lookups(&mut lookups);
                f.spec()
            })
            .collect();
        let text = if spooled.mime_type == "application/pdf" && self.config.document_text_chars > 0
        {
            crate::flows::opentext::pdf_text_of(spooled.path(), self.config.document_text_chars)
                .await
        } else {
            None
        };
        let conversation = conversation_of(&self.conversations, inbound).await?;
        let facts = DocumentFacts::new()
            .caption(
                submission
                    .media
                    .caption
                    .as_deref()
                    .filter(|c| !c.trim().is_empty()),
            )
            .conversation(&conversation)
            .file_name(spooled.file_name.as_deref())
            .mime(Some(spooled.mime_type.as_str()))
            .text(text.as_deref());
        let filled = extractor.extract(&specs, &lookups, &facts).await;
        self.shared.remember_extraction(key, &filled).await?;
        Ok(filled)
    }

    async fn run(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let message = &inbound.message;
        if is_media(&message.message_type)
            && let Some(media) = message.media()
            && let Some(campaign) = self.config.campaign_of(media.caption.as_deref())
        {
            let campaign = campaign.clone();
            return self.submit(stored, inbound, &campaign, media).await;
        }
        self.answer(stored, inbound).await
    }
}

#[async_trait]
impl MessageFlow for UserContent {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// Media with a campaign tag in the caption, from anyone.
    fn claim(&self, inbound: &Inbound, _person: Option<&DirectoryEntry>) -> Option<u8> {
        let message = &inbound.message;
        if !is_media(&message.message_type) {
            return None;
        }
        self.config
            .campaign_of(message.media()?.caption.as_deref())
            .map(|_| 50)
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        self.run(stored, inbound).await
    }
}

pub(crate) fn register(
    ctx: &FlowContext<'_>,
    registry: &mut Registry,
    shared: &Shared,
) -> Result<(), Error> {
    let config = ctx.config.flows.l6.clone();
    config.check()?;
    let extractor = match config.extractor {
        Engine::Model if !config.ai_fields.is_empty() => Some(crate::assistant::extractor(
            Engine::Model,
            "flows.l6.extractor",
            ctx.assistant.as_ref(),
        )?),
        _ => None,
    };
    registry.message_flows.push(Arc::new(UserContent {
        config,
        shared: shared.clone(),
        conversations: ctx.conversations.clone(),
        extractor,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_from_caption() {
        let mut c = L6Config::default();
        assert!(c.check().is_err(), "no campaigns");
        c.root_folder = "ROOT".into();
        c.campaigns = vec![CampaignTag {
            tag: "#summer25".into(),
            name: "Summer 25".into(),
            folder: None,
            folder_title: None,
        }];
        assert!(c.check().is_ok());
        assert_eq!(
            c.campaign_of(Some("Beach day! #Summer25!"))
                .map(|c| c.name.as_str()),
            Some("Summer 25")
        );
        assert!(c.campaign_of(Some("#winter")).is_none());
        c.consent_yes = "Yes I agree to everything".into();
        assert!(c.check().is_err());
    }
}
