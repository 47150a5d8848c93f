//! **L2 field media ingest**: photos, videos and documents that field staff send on WhatsApp →
//! uploaded into the DAM folder of their project tag, with sender, location and project tag set,
//! and routed to review; the sender gets a reply with the asset's identifier.
//!
//! Claim: a media message (image, video, audio, document) from a sender whose directory role is
//! one of `roles`; a location message from such a sender is remembered (KV `ol.L2.location`)
//! for `location_ttl_secs` and written onto the media that follows.
//!
//! Steps: the project is the first `#tag` of the caption matching `[[flows.l2.projects]]` (else
//! `default_project`); its folder is the configured record id, or a folder of that title under
//! `root_folder` (found or created). The media is downloaded streaming into a temporary file with
//! its SHA-256 checked, and uploaded (`UploadNewMedia`, or the chunked upload above the
//! threshold) as `wa-{reference}-{name}`; one DataTable update then sets the mapped fields and
//! the review state (`[orangelogic] state_field := review_value`), and the project tag and
//! `keywords` are added.
//!
//! **Extraction** (`extractor = "model"`, `docs/flows/L2.md`): what the rules leave empty — the
//! project when the caption carries no configured tag (one of `projects`, so the model can only
//! choose a configured folder), the location when none was shared — and the configured
//! `ai_fields` are asked from the `[assistant]` model (from the caption, the conversation and a
//! PDF's text) before the upload; the model and prompt version go to the DAM field mapped to
//! `ai_provenance`. L2 asks the sender nothing: what the model does not find stays empty. The
//! model's answer is remembered per upload (KV `ol.extracted`), so a retry writes the same values.
//! On any model failure the rules' result stands.
//!
//! Effectively once: the file name carries a reference derived from the message, so a retry
//! finds the asset an earlier attempt uploaded instead of uploading it again; the field update
//! and keywords are idempotent; the reply is keyed by the message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chatport_assistant::extract::{DocumentFacts, Extractor};
use chatport_assistant::fields::{
    FieldKind, FieldSpec, FieldValue, FilledFields, LookupValue, LookupValues,
};
use chatport_core::{IdempotencyKey, Outcome};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;
use chatport_whatsapp::webhook::MessageType;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Shared, ingest_file_name, one_of};
use crate::Error;
use crate::assistant::{Engine, conversation_of};

use crate::directory::{Directory, DirectoryEntry};
use crate::flows::{FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::render;
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::sink::SendOnce;

/// The flow name of L2.
pub const FLOW: &str = "L2";

/// Logical fields L2 can write (map them in `[flows.l2.fields]`).
pub const FIELDS: &[&str] = &[
    "sender",
    "sender_phone",
    "location",
    "project",
    "captured_at",
    "caption",
    "source_message",
    "ai_provenance",
];

/// A DAM field the `[assistant]` model fills from the caption, the conversation and a PDF's text
/// (`[[flows.l2.ai_fields]]`, `[[flows.l6.ai_fields]]`, with `extractor = "model"`). A field the
/// flow's own mapping (`fields`) already writes keeps the flow's value.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AssetAiField {
    /// The DAM field written (`Field.Damage-Type`; OrangeDAM field names are the tenant's own).
    pub field: String,
    /// The name the model answers under (`damage_type`). Default: the field.
    #[serde(default)]
    pub name: Option<String>,
    /// A human title (`Damage type`).
    #[serde(default)]
    pub title: String,
    /// `text`, `number`, `date` (written `YYYY-MM-DD`) or `lookup` (one of `values`).
    pub kind: FieldKind,
    /// What the model should put there.
    #[serde(default)]
    pub instruction: String,
    /// For `kind = "lookup"`: the allowed values, written as they are (required).
    #[serde(default)]
    pub values: Vec<String>,
}

impl AssetAiField {
    /// The name the model answers under.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.field)
    }

    /// The field as the assistant crate describes it.
    pub fn spec(&self) -> FieldSpec {
        FieldSpec::new(
            self.name(),
            self.title.clone(),
            self.kind,
            self.instruction.clone(),
        )
    }

    /// Adds the field's allowed values (lookups) to `lookups`.
    pub fn add_lookups(&self, lookups: &mut LookupValues) {
        if self.kind == FieldKind::Lookup {
            lookups.insert(
                self.name().to_owned(),
                self.values
                    .iter()
                    .map(|v| LookupValue::new(v.clone(), v.clone()))
                    .collect(),
            );
        }
    }

    /// Checks a list of fields (`setting` names it in errors): a field name, unique names, and
    /// values for a lookup.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting.
    pub fn check_all(fields: &[AssetAiField], setting: &str) -> Result<(), Error> {
        let mut names = std::collections::BTreeSet::new();
        for f in fields {
            if f.field.trim().is_empty() {
                return Err(Error::Config(format!("{setting}: `field` is required")));
            }
            if !names.insert(f.name()) {
                return Err(Error::Config(format!(
                    "{setting}: the name `{}` is used twice",
                    f.name()
                )));
            }
            if f.kind == FieldKind::Lookup && f.values.is_empty() {
                return Err(Error::Config(format!(
                    "{setting}: `{}` is a lookup without `values`",
                    f.field
                )));
            }
        }
        Ok(())
    }

    /// `(DAM field, value)` of every field the model filled in `filled`, skipping fields already
    /// in `taken` (written by the flow's own mapping).
    pub fn pairs(
        fields: &[AssetAiField],
        filled: &FilledFields,
        taken: &[(String, String)],
    ) -> Vec<(String, String)> {
        fields
            .iter()
            .filter(|f| !taken.iter().any(|(k, _)| *k == f.field))
            .filter_map(|f| {
                let value = filled.get(f.name())?.to_plain();
                let value = value.trim();
                (!value.is_empty()).then(|| (f.field.clone(), value.to_owned()))
            })
            .collect()
    }
}

/// A project tag and its folder.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProjectRule {
    /// The tag, e.g. `#bridge-a4` (matched case-insensitively, with or without `#`).
    pub tag: String,
    /// The folder's record id; when unset, a folder titled `folder_title` (else the tag
    /// without `#`) under `root_folder` is used.
    pub folder: Option<String>,
    /// The folder's title.
    pub folder_title: Option<String>,
}

/// `[flows.l2]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct L2Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// Directory roles whose media is ingested. Default `["field", "technician",
    /// "photographer"]`.
    pub roles: Vec<String>,
    /// Record id of the folder the project folders live in (required).
    pub root_folder: String,
    /// Folder subtype for created folders (`Documents.Folder.{subtype}`). Default `Default`.
    pub folder_subtype: String,
    /// `[[flows.l2.projects]]`.
    pub projects: Vec<ProjectRule>,
    /// Folder title for media without a known project tag. Default `WhatsApp field inbox`.
    pub default_project: String,
    /// Logical field → DAM field (see [`FIELDS`]). A field missing here is not written.
    pub fields: BTreeMap<String, String>,
    /// The state the asset is routed to (`[orangelogic] state_field`). Default `In Review`;
    /// empty: not routed.
    pub review_value: String,
    /// Keywords added to every asset (besides the project tag). Default `["whatsapp"]`.
    pub keywords: Vec<String>,
    /// How long a shared location applies to the sender's next media, in seconds. Default 3600.
    pub location_ttl_secs: u64,
    /// Largest media accepted, in bytes. Default 100 MB (WhatsApp's maximum).
    pub max_bytes: u64,
    /// Reply. Placeholders `{name}`, `{identifier}`, `{project}`, `{file}`.
    pub reply: String,
    /// Who fills what the rules leave empty: `"rules"` (the default: the caption's project tag
    /// and a shared location only) or `"model"` (the `[assistant]` model picks the project from
    /// `projects`, reads the location, and fills `ai_fields`; the model and prompt version go to
    /// the field mapped to `ai_provenance`).
    pub extractor: Engine,
    /// Characters of a PDF's text given to the model with `extractor = "model"`. Default 8000.
    pub document_text_chars: usize,
    /// `[[flows.l2.ai_fields]]`: further DAM fields the model fills. Default: none.
    pub ai_fields: Vec<AssetAiField>,
}

impl Default for L2Config {
    fn default() -> Self {
        let fields = [
            ("sender", "Field.Sender"),
            ("sender_phone", "Field.Sender-Phone"),
            ("location", "Field.Location"),
            ("project", "Field.Project"),
            ("captured_at", "Field.Captured-At"),
            ("caption", "CoreField.CaptionLong"),
            ("source_message", "Field.Source-Message"),
            ("ai_provenance", "Field.AI-Provenance"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self {
            enabled: false,
            roles: vec!["field".into(), "technician".into(), "photographer".into()],
            root_folder: String::new(),
            folder_subtype: "Default".into(),
            projects: Vec::new(),
            default_project: "WhatsApp field inbox".into(),
            fields,
            review_value: "In Review".into(),
            keywords: vec!["whatsapp".into()],
            location_ttl_secs: 3600,
            max_bytes: chatport_whatsapp::DEFAULT_MAX_DOWNLOAD_BYTES,
            reply: "Thank you{name}. {file} is stored as {identifier} in {project} and sent for review.".into(),
            extractor: Engine::Rules,
            document_text_chars: 8000,
            ai_fields: Vec::new(),
        }
    }
}

impl L2Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn check(&self) -> Result<(), Error> {
        if self.root_folder.trim().is_empty() && self.projects.iter().any(|p| p.folder.is_none()) {
            return Err(Error::Config(
                "flows.l2.root_folder: required (the record id project folders are created in)"
                    .into(),
            ));
        }
        if self.root_folder.trim().is_empty() {
            return Err(Error::Config(
                "flows.l2.root_folder: required for media without a project tag".into(),
            ));
        }
        for key in self.fields.keys() {
            if !FIELDS.contains(&key.as_str()) {
                return Err(Error::Config(format!(
                    "flows.l2.fields: unknown logical field `{key}` (available: {})",
                    FIELDS.join(", ")
                )));
            }
        }
        AssetAiField::check_all(&self.ai_fields, "flows.l2.ai_fields")?;
        Ok(())
    }

    /// The project rule of a caption's first matching `#tag`.
    pub fn project_of(&self, caption: Option<&str>) -> Option<&ProjectRule> {
        let caption = caption?;
        caption
            .split_whitespace()
            .filter(|w| w.starts_with('#'))
            .map(|w| w.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '_'))
            .find_map(|tag| {
                self.projects.iter().find(|p| {
                    p.tag
                        .trim_start_matches('#')
                        .eq_ignore_ascii_case(tag.trim_start_matches('#'))
                })
            })
    }
}

/// KV namespace of the locations field staff shared: sender → JSON.
pub const KV_LOCATION: &str = "ol.L2.location";

/// The L2 handler.
pub struct FieldIngest {
    config: L2Config,
    shared: Shared,
    directory: Directory,
    conversations: Conversations,
    /// The metadata extractor, when `extractor = "model"`.
    extractor: Option<Arc<dyn Extractor>>,
}

impl std::fmt::Debug for FieldIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldIngest").finish_non_exhaustive()
    }
}

fn is_media(t: &MessageType) -> bool {
    matches!(
        t,
        MessageType::Image | MessageType::Video | MessageType::Audio | MessageType::Document
    )
}

impl FieldIngest {
    async fn remember_location(&self, inbound: &Inbound) -> Result<Outcome, Error> {
        let Some(loc) = &inbound.message.location else {
            return Ok(Outcome::delivered_with(json!({ "skipped": "no location" })));
        };
        let text = match (loc.latitude, loc.longitude) {
            (Some(lat), Some(lon)) => {
                let place = loc
                    .name
                    .as_deref()
                    .or(loc.address.as_deref())
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                format!("{lat:.6},{lon:.6}{place}")
            }
            _ => {
                return Ok(Outcome::delivered_with(
                    json!({ "skipped": "location without coordinates" }),
                ));
            }
        };
        let record = json!({ "location": text, "at": chrono::Utc::now().timestamp() });
        self.shared
            .kv
            .put(
                KV_LOCATION,
                inbound.sender.as_str(),
                record.to_string().as_bytes(),
            )
            .await?;
        Ok(Outcome::delivered_with(json!({ "location": "remembered" })))
    }

    async fn location(&self, inbound: &Inbound) -> Result<Option<String>, Error> {
        let Some(bytes) = self
            .shared
            .kv
            .get(KV_LOCATION, inbound.sender.as_str())
            .await?
        else {
            return Ok(None);
        };
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            return Ok(None);
        };
        let at = v.get("at").and_then(Value::as_i64).unwrap_or_default();
        let fresh = chrono::Utc::now().timestamp() - at
            <= i64::try_from(self.config.location_ttl_secs).unwrap_or(i64::MAX);
        Ok(fresh
            .then(|| v.get("location").and_then(Value::as_str).map(str::to_owned))
            .flatten())
    }

    /// Asks the model (with `extractor = "model"`) for the project (`want_project`, one of the
    /// configured tags), the location (`want_location`) and the `ai_fields`, from the caption,
    /// the conversation and a PDF's text. Once per upload: a retry gets the remembered answer,
    /// and when the asset was uploaded already (`spooled` is `None`) nothing new is asked.
    async fn extract(
        &self,
        inbound: &Inbound,
        key: &IdempotencyKey,
        caption: Option<&str>,
        spooled: Option<&chatport_whatsapp::SpooledMedia>,
        want_project: bool,
        want_location: bool,
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
        let mut specs = Vec::new();
        let mut lookups = LookupValues::new();
        if want_project && !self.config.projects.is_empty() {
            specs.push(FieldSpec::new(
                "project",
                "Project",
                FieldKind::Lookup,
                "The project (site, construction job) the media was taken for; leave it out when the caption and the conversation do not say.",
            ));
            lookups.insert(
                "project".to_owned(),
                self.config
                    .projects
                    .iter()
                    .map(|p| {
                        LookupValue::new(
                            p.tag.clone(),
                            p.folder_title
                                .clone()
                                .unwrap_or_else(|| p.tag.trim_start_matches('#').to_owned()),
                        )
                    })
                    .collect(),
            );
        }
        if want_location {
            specs.push(FieldSpec::new(
                "location",
                "Location",
                FieldKind::Text,
                "Where the media was taken (a place, an address or a position on the site) as the sender says it; leave it out when nobody says.",
            ));
        }
        for field in &self.config.ai_fields {
            specs.push(field.spec());
            field.add_lookups(&mut lookups);
        }
        if specs.is_empty() {
            return Ok(FilledFields::empty());
        }
        let text = if spooled.mime_type == "application/pdf" && self.config.document_text_chars > 0
        {
            crate::flows::opentext::pdf_text_of(spooled.path(), self.config.document_text_chars)
                .await
        } else {
            None
        };
        let conversation = conversation_of(&self.conversations, inbound).await?;
        let facts = DocumentFacts::new()
            .caption(caption.filter(|c| !c.trim().is_empty()))
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
        if message.message_type == MessageType::Location {
            return self.remember_location(inbound).await;
        }
        let Some(media) = message.media() else {
            return Ok(Outcome::delivered_with(json!({ "skipped": "no media" })));
        };
        let caption = media.caption.as_deref();
        let kind = message.message_type.as_str();
        let key = IdempotencyKey::derive(FLOW, "upload", &stored.event_id);
        let file_name = ingest_file_name(&key, media, kind);
        // Looked up before downloading, so a replay downloads nothing.
        let uploaded = self.shared.uploaded(media, &key, kind).await?;
        let spooled = match uploaded {
            Some(_) => None,
            None => Some(self.shared.spool(media, self.config.max_bytes).await?),
        };
        let rule_project = self.config.project_of(caption);
        let mut location = self.location(inbound).await?;
        let filled = self
            .extract(
                inbound,
                &key,
                caption,
                spooled.as_ref(),
                rule_project.is_none(),
                location.is_none(),
            )
            .await?;
        let mut by_model = false;
        let project = rule_project.or_else(|| match filled.get("project") {
            Some(FieldValue::Lookup(v)) => {
                let found = self.config.projects.iter().find(|p| p.tag == v.id);
                by_model = found.is_some();
                found
            }
            _ => None,
        });
        if location.is_none()
            && let Some(l) = filled
                .get("location")
                .map(FieldValue::to_plain)
                .filter(|l| !l.trim().is_empty())
        {
            location = Some(l.trim().to_owned());
            by_model = true;
        }
        let (folder_id, project_title, tag) = match project {
            Some(p) => {
                let tag = p.tag.trim_start_matches('#').to_owned();
                let title = p.folder_title.clone().unwrap_or_else(|| tag.clone());
                (p.folder.clone(), title, Some(tag))
            }
            None => (None, self.config.default_project.clone(), None),
        };
        let folder = self
            .shared
            .folder(
                folder_id.as_deref(),
                &project_title,
                &self.config.root_folder,
                &self.config.folder_subtype,
            )
            .await?;
        let stored_media = match (uploaded, &spooled) {
            (Some(uploaded), _) => uploaded,
            (None, Some(spooled)) => {
                self.shared
                    .upload(media, spooled, &folder, &key, kind)
                    .await?
            }
            (None, None) => {
                return Err(Error::Payload("L2: the media was not downloaded".into()));
            }
        };

        let person = inbound
            .sender
            .phone()
            .and_then(|p| self.directory.lookup(p));
        let name = person
            .and_then(|p| p.name.clone())
            .or_else(|| inbound.profile_name().map(str::to_owned));
        let mut logical: Vec<(&str, String)> = vec![
            (
                "sender_phone",
                format!("+{}", inbound.sender.as_str().trim_start_matches('+')),
            ),
            (
                "project",
                tag.clone().unwrap_or_else(|| project_title.clone()),
            ),
            ("source_message", message.id.clone()),
        ];
        if let Some(n) = &name {
            logical.push(("sender", n.clone()));
        }
        if let Some(at) = message.timestamp() {
            logical.push(("captured_at", at.to_rfc3339()));
        }
        if let Some(c) = caption.filter(|c| !c.trim().is_empty()) {
            logical.push(("caption", c.to_owned()));
        }
        if let Some(loc) = location {
            logical.push(("location", loc));
        }
        let mut pairs: Vec<(String, String)> = logical
            .into_iter()
            .filter_map(|(k, v)| self.config.fields.get(k).map(|f| (f.clone(), v)))
            .collect();
        let ai = AssetAiField::pairs(&self.config.ai_fields, &filled, &pairs);
        by_model |= !ai.is_empty();
        pairs.extend(ai);
        if by_model
            && let Some(p) = &filled.provenance
            && let Some(field) = self.config.fields.get("ai_provenance")
        {
            pairs.push((field.clone(), p.to_string()));
        }
        if !self.config.review_value.trim().is_empty() {
            pairs.push((
                self.shared.config.state_field.clone(),
                self.config.review_value.clone(),
            ));
        }
        self.shared
            .client
            .set_fields(
                &stored_media.asset,
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .await?;
        let mut keywords: Vec<String> = self.config.keywords.clone();
        if let Some(t) = &tag {
            keywords.push(t.clone());
        }
        keywords.retain(|k| !k.trim().is_empty() && !k.contains('|'));
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
        values.insert("name", name.map(|n| format!(", {n}")).unwrap_or_default());
        values.insert("identifier", identifier.clone());
        values.insert("project", project_title.clone());
        values.insert(
            "file",
            media
                .filename
                .clone()
                .unwrap_or_else(|| format!("Your {}", message.message_type.as_str())),
        );
        let reply = OutgoingMessage::text(
            inbound.sender.recipient(),
            render(&self.config.reply, &values),
        )
        .reply_to(message.id.clone());
        let reply_key = IdempotencyKey::derive(FLOW, "reply", &stored.event_id);
        match self
            .shared
            .send_one(&reply_key, &inbound.phone_number_id, reply)
            .await?
        {
            SendOnce::Sent(wamid) => Ok(Outcome::delivered_with(json!({
                "asset": identifier,
                "folder": folder,
                "project": project_title,
                "file_name": file_name,
                "bytes": stored_media.bytes,
                "sha256": stored_media.sha256,
                "reused_upload": stored_media.reused,
                "reply_wamid": wamid,
            }))),
            _ => Ok(self.shared.in_doubt("L2 reply")),
        }
    }
}

#[async_trait]
impl MessageFlow for FieldIngest {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// Media and locations from senders with a field role.
    fn claim(&self, inbound: &Inbound, person: Option<&DirectoryEntry>) -> Option<u8> {
        let role = person.and_then(|p| p.role.as_deref())?;
        if !one_of(Some(role), &self.config.roles) {
            return None;
        }
        let t = &inbound.message.message_type;
        (is_media(t) || *t == MessageType::Location).then_some(40)
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
    let config = ctx.config.flows.l2.clone();
    config.check()?;
    let extractor = match config.extractor {
        Engine::Rules => None,
        engine => Some(crate::assistant::extractor(
            engine,
            "flows.l2.extractor",
            ctx.assistant.as_ref(),
        )?),
    };
    registry.message_flows.push(Arc::new(FieldIngest {
        config,
        shared: shared.clone(),
        directory: ctx.directory.clone(),
        conversations: ctx.conversations.clone(),
        extractor,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_from_caption_tag() {
        let mut c = L2Config {
            root_folder: "ROOT".into(),
            projects: vec![ProjectRule {
                tag: "#Bridge-A4".into(),
                folder: None,
                folder_title: Some("Bridge A4".into()),
            }],
            ..L2Config::default()
        };
        assert!(c.check().is_ok());
        assert_eq!(
            c.project_of(Some("crack at pier 3 #bridge-a4, urgent"))
                .map(|p| p.tag.as_str()),
            Some("#Bridge-A4")
        );
        assert!(c.project_of(Some("no tag here")).is_none());
        assert!(c.project_of(None).is_none());
        c.fields.insert("nope".into(), "X".into());
        assert!(c.check().is_err());
    }

    fn ai_field(field: &str, kind: FieldKind, values: &[&str]) -> AssetAiField {
        AssetAiField {
            field: field.into(),
            name: None,
            title: String::new(),
            kind,
            instruction: String::new(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn ai_fields_are_checked_and_never_replace_the_flows_own_values() {
        let damage = ai_field("Field.Damage", FieldKind::Lookup, &["crack"]);
        let caption = ai_field("CoreField.CaptionLong", FieldKind::Text, &[]);
        assert!(AssetAiField::check_all(&[damage.clone(), caption.clone()], "k").is_ok());
        let no_values = ai_field("Field.Damage", FieldKind::Lookup, &[]);
        assert!(AssetAiField::check_all(&[no_values], "k").is_err());
        assert!(AssetAiField::check_all(&[damage.clone(), damage.clone()], "k").is_err());
        assert!(AssetAiField::check_all(&[ai_field(" ", FieldKind::Text, &[])], "k").is_err());

        let mut filled = FilledFields::empty();
        filled.values = vec![
            chatport_assistant::fields::FilledField::new(
                "Field.Damage",
                FieldValue::Lookup(LookupValue::new("crack", "crack")),
            ),
            chatport_assistant::fields::FilledField::new(
                "CoreField.CaptionLong",
                FieldValue::Text("the model's caption".into()),
            ),
        ];
        let taken = vec![(
            "CoreField.CaptionLong".to_owned(),
            "the sender's".to_owned(),
        )];
        assert_eq!(
            AssetAiField::pairs(&[damage, caption], &filled, &taken),
            vec![("Field.Damage".to_owned(), "crack".to_owned())]
        );
    }
}
