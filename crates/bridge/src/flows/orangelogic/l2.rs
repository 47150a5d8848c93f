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
//! Effectively once: the file name carries a reference derived from the message, so a retry
//! finds the asset an earlier attempt uploaded instead of uploading it again; the field update
//! and keywords are idempotent; the reply is keyed by the message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{IdempotencyKey, Outcome};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;
use chatport_whatsapp::webhook::MessageType;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Shared, ingest_file_name, one_of};
use crate::Error;

use crate::directory::{Directory, DirectoryEntry};
use crate::flows::{FlowContext, Registry};
use crate::routing::{Inbound, MessageFlow};
use crate::templates::render;
use crate::whatsapp::SendOnce;

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
];

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
#[derive(Debug)]
pub struct FieldIngest {
    config: L2Config,
    shared: Shared,
    directory: Directory,
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

    async fn run(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let message = &inbound.message;
        if message.message_type == MessageType::Location {
            return self.remember_location(inbound).await;
        }
        let Some(media) = message.media() else {
            return Ok(Outcome::delivered_with(json!({ "skipped": "no media" })));
        };
        let caption = media.caption.as_deref();
        let project = self.config.project_of(caption);
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
        let key = IdempotencyKey::derive(FLOW, "upload", &stored.event_id);
        let file_name = ingest_file_name(&key, media, message.message_type.as_str());
        let stored_media = self
            .shared
            .store_media(
                media,
                &folder,
                &key,
                message.message_type.as_str(),
                self.config.max_bytes,
            )
            .await?;

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
        if let Some(loc) = self.location(inbound).await? {
            logical.push(("location", loc));
        }
        let mut pairs: Vec<(String, String)> = logical
            .into_iter()
            .filter_map(|(k, v)| self.config.fields.get(k).map(|f| (f.clone(), v)))
            .collect();
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
    registry.message_flows.push(Arc::new(FieldIngest {
        config,
        shared: shared.clone(),
        directory: ctx.directory.clone(),
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
}
