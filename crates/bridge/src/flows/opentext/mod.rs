//! The OpenText document flows **O2–O8** (`docs/flows/O2.md` … `O8.md`), built on the CMS + CSS
//! client (`chatport_opentext`), the once-only WhatsApp sender and the runtime's poller.
//!
//! | Flow | Trigger | Module |
//! |---|---|---|
//! | O2 document capture | a document (or an image with a document keyword in its caption) | [`o2`] |
//! | O3 status notification | a CMS item reaches a configured status (poller) | [`o3`] |
//! | O4 document request | "invoice 12345" from a directory number with an authorised role | [`o4`] |
//! | O5 field evidence | photos, videos, notes, locations from directory role `technician` | [`o5`] |
//! | O6 compliance archive | a message tagged `#consent`, `#incident`, `#policy` … → transcript archived with retention rule and legal hold | [`o6`] |
//! | O7 exception loop | a CMS exception (poller) → template; the reply (by `context.id`) is written back | [`o7`] |
//! | O8 supplier exchange | documents from directory role `vendor`; status changes notify the vendor (poller) | [`o8`] |
//!
//! Claims never take O1's customers: O4, O5 and O8 claim by the sender's directory role, O2 by
//! media type and caption, O6 only messages carrying a configured compliance tag, O7 only through
//! reply contexts. Every flow is disabled by default.
//!
//! Shared pieces live here ([`TemplateConfig`](crate::templates::TemplateConfig), the one template
//! configuration of every flow, is in [`crate::templates`]): [`StatusSource`] (the
//! checkpointed CMS poller of O3, O7 and O8), effectively-once CMS creates through
//! `chatport_opentext::InstanceSink` ([`instance_sink`]), effectively-once documents (the CSS
//! upload and the file instance in one write, O5 and O8) through `chatport_opentext::DocumentSink`
//! ([`document_sink`], fed by [`spool_media`]), O2's two-step media path WhatsApp → temporary file
//! (SHA-256 verified) → CSS ([`store_media`]), and directory look-ups by id, name or number
//! ([`find_person`](crate::directory::find_person)).

mod config;
pub mod o1;
pub mod o2;
pub mod o3;
pub mod o4;
pub mod o5;
pub mod o6;
pub mod o7;
pub mod o8;

use std::sync::Arc;
use std::time::Duration;

use chatport_core::IdempotencyKey;
use chatport_core::Outcome;
use chatport_core::sink::KeyLocks;
use chatport_opentext::{
    Category, Client as CmsClient, CssApi, DocumentSink, Instance, InstanceSink, UploadOptions,
    Watch,
};
use chatport_runtime::KvStore;
use chatport_runtime::poller::{Poller, PollerConfig};
use chatport_whatsapp::OutgoingMessage;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::{OpenTextConfig, OpenTextGrant, client};

use crate::Error;

use crate::flows::{FlowContext, PollerStart, Registry};
use chatport_whatsapp::sink::{MessageSink, SendOnce};

pub use chatport_opentext::source::{SOURCE, StatusEvent, StatusSource};

/// Registers every enabled flow of the family.
///
/// # Errors
/// [`Error::Config`] when an enabled flow lacks its `[opentext]` section or a required setting.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    o7::register(ctx, registry)?;
    o4::register(ctx, registry)?;
    o5::register(ctx, registry)?;
    o6::register(ctx, registry)?;
    o8::register(ctx, registry)?;
    o2::register(ctx, registry)?;
    o3::register(ctx, registry)?;
    Ok(())
}

/// The category named in the configuration (`file`, `folder`, `object`, `case`, `any`).
pub fn category_of(name: &str) -> Category {
    Category::from(name)
}

/// A property value as text: strings as is, numbers and booleans printed, anything else `None`.
pub fn property_text(instance: &Instance, property: &str) -> Option<String> {
    match instance.property(property)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Sends through the once-only sender: `Some(wamid)` when sent (now or earlier), `None` when an
/// earlier attempt left it in doubt (the caller answers [`in_doubt`]).
///
/// # Errors
/// As [`MessageSink::send`].
pub async fn send_once(
    sender: &MessageSink,
    key: &IdempotencyKey,
    phone_number_id: &str,
    message: OutgoingMessage,
) -> Result<Option<String>, Error> {
    match sender.send(key, phone_number_id, message).await? {
        SendOnce::Sent(wamid) => Ok(Some(wamid)),
        _ => Ok(None),
    }
}

/// The outcome of a send left in doubt: checked again after `secs`, never resent blindly.
pub fn in_doubt(secs: u64) -> Outcome {
    Outcome::Retry {
        after: Some(Duration::from_secs(secs)),
        reason: "send outcome unknown after an earlier attempt; not resent blindly, waiting for its status webhook".into(),
    }
}

/// The [`InstanceSink`] a flow writes its records through: instances of `category` and
/// `type_name`, found by the idempotency key stored in `key_property` before every create (a
/// retried or replayed event never creates a second record). Sinks built from one `locks` share
/// per-key locks.
///
/// # Errors
/// [`Error::Config`] (naming `setting`) when the type or the key property is empty.
pub fn instance_sink(
    cms: &CmsClient,
    setting: &str,
    category: Category,
    type_name: &str,
    key_property: &str,
    locks: &KeyLocks,
) -> Result<InstanceSink, Error> {
    InstanceSink::builder(cms.clone())
        .category(category)
        .type_name(type_name)
        .key_property(key_property)
        .locks(locks.clone())
        .build()
        .map_err(|e| Error::Config(format!("{setting}: {e}")))
}

/// The [`DocumentSink`] a flow files media through (O5, O8): file instances of `category` and
/// `type_name`, keyed like [`instance_sink`]; the CSS upload and the create happen in one
/// `write`, and the uploaded blob is remembered in `kv`
/// (`chatport_opentext::sink::BLOB_NAMESPACE`, by the record's idempotency key) until the
/// instance exists, so a retry after a failed create does not upload again. Uploads use the CSS
/// v2 API (`POST {css}/v2/tenant/{tenant}/content`, as [`store_media`] does); the rendition's
/// `blob_id` follows `[opentext] blob_id_source`.
///
/// # Errors
/// [`Error::Config`] (naming `setting`) when the type or the key property is empty, or
/// `[opentext]` has no `css_base`.
pub fn document_sink(
    cms: &CmsClient,
    kv: &Arc<dyn KvStore>,
    setting: &str,
    category: Category,
    type_name: &str,
    key_property: &str,
    locks: &KeyLocks,
) -> Result<DocumentSink, Error> {
    DocumentSink::builder(cms.clone())
        .category(category)
        .type_name(type_name)
        .key_property(key_property)
        .locks(locks.clone())
        .blobs(kv.clone())
        .upload_api(CssApi::V2)
        .build()
        .map_err(|e| Error::Config(format!("{setting}: {e}")))
}

/// Spools a WhatsApp media into a temporary file (SHA-256 checked against WhatsApp's digest, at
/// most `max_bytes`), for a [`DocumentSink`] write (`DocumentContent::Path`) and, for a PDF, its
/// text (`chatport_assistant::extract::pdf_text`). The file is deleted when the returned value is
/// dropped.
///
/// # Errors
/// As [`chatport_whatsapp::Client::spool_inbound_media`] (a hash mismatch is
/// [`chatport_whatsapp::Error::MediaHashMismatch`], permanent).
pub async fn spool_media(
    whatsapp: &chatport_whatsapp::Client,
    media: &chatport_whatsapp::webhook::Media,
    max_bytes: u64,
) -> Result<chatport_whatsapp::SpooledMedia, Error> {
    let options = chatport_whatsapp::DownloadOptions::new().max_bytes(max_bytes);
    Ok(whatsapp.spool_inbound_media(media, &options).await?)
}

/// Where a media file went: the CSS blob and what was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredMedia {
    /// The CSS blob id (for a rendition).
    pub blob_id: String,
    /// File name used for the upload.
    pub file_name: String,
    /// MIME type.
    pub mime_type: String,
    /// Bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256_hex: String,
    /// Whether the hash was checked against the webhook's digest.
    pub verified: bool,
    /// The document's text (the beginning of a PDF's text), when the flow asked for it (metadata
    /// extraction by the `[assistant]` model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// KV namespace: idempotency key of a media upload → [`StoredMedia`] JSON.
pub const KV_MEDIA: &str = "opentext.media";

/// How [`store_media`] takes in a media.
#[derive(Debug, Clone, Copy)]
pub struct MediaLimits<'a> {
    /// The file name when WhatsApp gives none.
    pub default_name: &'a str,
    /// Largest media accepted, bytes.
    pub max_bytes: u64,
    /// Characters of a PDF's text kept in [`StoredMedia::text`]; `0`: none read.
    pub text_chars: usize,
}

/// Spools a WhatsApp media into a temporary file ([`chatport_whatsapp::SpooledMedia`]: SHA-256
/// checked, at most `max_bytes`), then streams that file into the CSS — the media is never
/// held whole in memory. The result is remembered under `key`, so a retry does not upload twice.
/// With `text_chars > 0` the text of a PDF (its first `text_chars` characters) is read from the
/// temporary file too, for metadata extraction ([`StoredMedia::text`]; none for other types or a
/// PDF without a text layer).
///
/// # Errors
/// WhatsApp download errors (a hash mismatch is [`chatport_whatsapp::Error::MediaHashMismatch`],
/// permanent; temporary-file I/O), CSS errors, store errors.
pub async fn store_media(
    whatsapp: &chatport_whatsapp::Client,
    cms: &CmsClient,
    kv: &Arc<dyn KvStore>,
    key: &IdempotencyKey,
    media: &chatport_whatsapp::webhook::Media,
    limits: MediaLimits<'_>,
) -> Result<StoredMedia, Error> {
    let MediaLimits {
        default_name,
        max_bytes,
        text_chars,
    } = limits;
    if let Some(bytes) = kv.get(KV_MEDIA, key.as_str()).await?
        && let Ok(stored) = serde_json::from_slice::<StoredMedia>(&bytes)
    {
        return Ok(stored);
    }
    let options = chatport_whatsapp::DownloadOptions::new().max_bytes(max_bytes);
    let spooled = whatsapp.spool_inbound_media(media, &options).await?;
    let file_name = spooled
        .file_name
        .clone()
        .unwrap_or_else(|| default_name.to_owned());
    let content = cms
        .upload_content(
            spooled.open().await?,
            &UploadOptions::new(file_name.clone())
                .mime_type(spooled.mime_type.clone())
                .length(spooled.bytes),
        )
        .await?;
    let text = if text_chars > 0 && spooled.mime_type == "application/pdf" {
        pdf_text_of(spooled.path(), text_chars).await
    } else {
        None
    };
    let stored = StoredMedia {
        blob_id: content.rendition_blob_id(cms.blob_id_source()).to_owned(),
        file_name,
        mime_type: spooled.mime_type.clone(),
        bytes: spooled.bytes,
        sha256_hex: spooled.sha256_hex.clone(),
        verified: spooled.verified,
        text,
    };
    let bytes = serde_json::to_vec(&stored).map_err(|e| Error::Payload(e.to_string()))?;
    kv.put(KV_MEDIA, key.as_str(), &bytes).await?;
    Ok(stored)
}

/// The first `max_chars` characters of the text of the PDF at `path`, parsed off the async
/// runtime; `None` when it cannot be read or has no text layer (extraction then works from the
/// caption and the conversation alone).
pub(crate) async fn pdf_text_of(path: &std::path::Path, max_chars: usize) -> Option<String> {
    let bytes = tokio::fs::read(path).await.ok()?;
    tokio::task::spawn_blocking(move || chatport_assistant::extract::pdf_text(&bytes, max_chars))
        .await
        .ok()
        .flatten()
}

/// A rendition entry for a create body: `[{name, blob_id, rendition_type: primary, mime_type}]`.
pub fn primary_rendition(media: &StoredMedia) -> Value {
    json!([
        chatport_opentext::RenditionDraft::primary(&media.file_name, &media.blob_id)
            .mime_type(&media.mime_type)
            .to_value()
    ])
}

/// The CMS items a status poller watches.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WatchConfig {
    /// Instance category. Default `file`.
    #[serde(default = "default_file")]
    pub category: String,
    /// Instance type, e.g. `ca_invoice`.
    pub type_name: String,
}

fn default_file() -> String {
    "file".into()
}

impl WatchConfig {
    /// The connector's [`Watch`] of this configuration.
    pub fn to_watch(&self) -> Watch {
        Watch::new(category_of(&self.category), self.type_name.clone())
    }
}

/// The [`StatusSource`] of a flow: the `watch`ed types, items whose `status_property` is one of
/// `statuses` (the CMS poller of `chatport_opentext::source`).
///
/// # Errors
/// [`Error::Config`] (naming `setting`) for an empty status property or type name.
pub fn status_source(
    cms: CmsClient,
    setting: &str,
    watch: &[WatchConfig],
    status_property: &str,
    statuses: &[String],
) -> Result<StatusSource, Error> {
    StatusSource::builder(cms)
        .watches(watch.iter().map(WatchConfig::to_watch))
        .status_property(status_property)
        .statuses(statuses.iter().cloned())
        .build()
        .map_err(|e| Error::Config(format!("{setting}: {e}")))
}

/// A [`PollerStart`] running `source` into rows of `flow` every `interval_secs`.
pub fn poller_start(
    ctx: &FlowContext<'_>,
    name: &str,
    flow: &'static str,
    source: StatusSource,
    interval_secs: u64,
) -> PollerStart {
    let outbox = ctx.outbox.clone();
    let kv = ctx.kv.clone();
    let config = PollerConfig::new(name, flow)
        .interval(Duration::from_secs(interval_secs.max(1)))
        .error_backoff(Duration::from_secs(interval_secs.clamp(1, 30)));
    Box::new(move |shutdown, notify| {
        Poller::new(Arc::new(source), outbox, kv, config)
            .notify(notify)
            .spawn(shutdown)
    })
}

/// Decodes the payload of a poller row.
///
/// # Errors
/// [`Error::Payload`] when it is not a [`StatusEvent`].
pub fn status_event(stored: &chatport_runtime::StoredEvent) -> Result<StatusEvent, Error> {
    StatusEvent::from_payload(&stored.payload).map_err(|e| Error::Payload(e.to_string()))
}

/// Requires a non-empty setting of an enabled flow.
///
/// # Errors
/// [`Error::Config`] naming the key.
pub fn require(value: &str, key: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::Config(format!(
            "{key}: required when the flow is enabled"
        )));
    }
    Ok(())
}
