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
//! `chatport_opentext::InstanceSink` ([`instance_sink`]), the streamed media path WhatsApp → temporary file (SHA-256 verified) →
//! CSS ([`store_media`]), and directory look-ups by id, name or number ([`find_person`]).

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

use async_trait::async_trait;
use chatport_core::sink::KeyLocks;
use chatport_core::{Checkpoint, Envelope, EventId, IdempotencyKey, Outcome, Source, SourceStream};
use chatport_opentext::filter::{Filter, SortBy};
use chatport_opentext::{
    Category, Client as CmsClient, Instance, InstanceSink, ListQuery, UploadOptions,
};
use chatport_runtime::KvStore;
use chatport_runtime::poller::{Poller, PollerConfig};
use chatport_whatsapp::OutgoingMessage;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::{OpenTextConfig, OpenTextGrant, client};

use crate::Error;

use crate::flows::{FlowContext, PollerStart, Registry};
use crate::whatsapp::{OnceSender, SendOnce};

/// The `source` of rows written by the CMS pollers.
pub const SOURCE: &str = "opentext";

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
/// As [`OnceSender::send`].
pub async fn send_once(
    sender: &OnceSender,
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
}

/// KV namespace: idempotency key of a media upload → [`StoredMedia`] JSON.
pub const KV_MEDIA: &str = "opentext.media";

/// Downloads a WhatsApp media (SHA-256 checked against the webhook's digest, at most `max_bytes`)
/// **streaming** into a temporary file, then streams that file into the CSS — the media is never
/// held whole in memory. The result is remembered under `key`, so a retry does not upload twice.
///
/// # Errors
/// WhatsApp download errors (a hash mismatch is [`chatport_whatsapp::Error::MediaHashMismatch`],
/// permanent), CSS errors, temporary-file I/O as [`Error::Payload`], store errors.
pub async fn store_media(
    whatsapp: &chatport_whatsapp::Client,
    cms: &CmsClient,
    kv: &Arc<dyn KvStore>,
    key: &IdempotencyKey,
    media: &chatport_whatsapp::webhook::Media,
    default_name: &str,
    max_bytes: u64,
) -> Result<StoredMedia, Error> {
    if let Some(bytes) = kv.get(KV_MEDIA, key.as_str()).await?
        && let Ok(stored) = serde_json::from_slice::<StoredMedia>(&bytes)
    {
        return Ok(stored);
    }
    let io = |e: std::io::Error| Error::Payload(format!("temporary media file: {e}"));
    let temp = tempfile::NamedTempFile::new().map_err(io)?;
    let mut file = tokio::fs::File::create(temp.path()).await.map_err(io)?;
    let options = chatport_whatsapp::DownloadOptions::new().max_bytes(max_bytes);
    let downloaded = whatsapp
        .download_inbound_media(media, &mut file, &options)
        .await?;
    drop(file);
    let mime_type = media
        .mime_type
        .clone()
        .or(downloaded.content_type.clone())
        .unwrap_or_else(|| "application/octet-stream".into());
    let mime_type = mime_type
        .split(';')
        .next()
        .unwrap_or("application/octet-stream")
        .trim()
        .to_owned();
    let file_name = media
        .filename
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| default_name.to_owned());
    let reader = tokio::fs::File::open(temp.path()).await.map_err(io)?;
    let content = cms
        .upload_content(
            reader,
            &UploadOptions::new(file_name.clone())
                .mime_type(mime_type.clone())
                .length(downloaded.bytes),
        )
        .await?;
    let stored = StoredMedia {
        blob_id: content.blob_id().to_owned(),
        file_name,
        mime_type,
        bytes: downloaded.bytes,
        sha256_hex: downloaded.sha256_hex,
        verified: downloaded.verified,
    };
    let bytes = serde_json::to_vec(&stored).map_err(|e| Error::Payload(e.to_string()))?;
    kv.put(KV_MEDIA, key.as_str(), &bytes).await?;
    Ok(stored)
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

/// A status change found by a [`StatusSource`]: the item as read, the status it has, and the type
/// it was found under. The row's event id is `{instance id}:{status}`, so the outbox keeps one
/// row per item and status.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusEvent {
    /// The category it was listed under.
    pub category: String,
    /// The type it was listed under.
    pub type_name: String,
    /// The watched property's value.
    pub status: String,
    /// The instance.
    pub instance: Instance,
}

/// A pull [`Source`] over CMS instances whose `status_property` is one of `statuses`, updated at
/// or after the checkpoint (`update_time ge date(…)`, sorted by `update_time` ascending, paged).
///
/// The checkpoint is the last `update_time` seen. `ge` (not `gt`) re-reads items updated in the
/// same instant as the checkpoint; their event ids (`{id}:{status}`) make the outbox drop them.
/// Without a checkpoint (first start) every matching item is read.
#[derive(Clone)]
pub struct StatusSource {
    cms: CmsClient,
    watch: Vec<WatchConfig>,
    status_property: String,
    statuses: Vec<String>,
    page_size: u32,
}

impl std::fmt::Debug for StatusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusSource")
            .field("watch", &self.watch)
            .field("status_property", &self.status_property)
            .field("statuses", &self.statuses)
            .finish_non_exhaustive()
    }
}

impl StatusSource {
    /// A source over the `watch`ed types.
    pub fn new(
        cms: CmsClient,
        watch: Vec<WatchConfig>,
        status_property: impl Into<String>,
        statuses: Vec<String>,
    ) -> Self {
        Self {
            cms,
            watch,
            status_property: status_property.into(),
            statuses,
            page_size: 100,
        }
    }

    /// The filter of one round.
    pub fn filter(&self, since: Option<&str>) -> Option<String> {
        let status = Filter::any(
            self.statuses
                .iter()
                .map(|s| Filter::eq(self.status_property.as_str(), s.as_str())),
        )?;
        let filter = match since {
            Some(t) => status.and(Filter::ge(
                "update_time",
                chatport_opentext::filter::Literal::date(t),
            )),
            None => status,
        };
        Some(filter.to_string())
    }
}

#[async_trait]
impl Source for StatusSource {
    type Event = StatusEvent;
    type Error = chatport_opentext::Error;

    async fn poll(
        &self,
        resume: Option<Checkpoint>,
    ) -> Result<SourceStream<'_, StatusEvent, chatport_opentext::Error>, chatport_opentext::Error>
    {
        let since = resume
            .as_ref()
            .and_then(|c| c.0.get("update_time"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(filter) = self.filter(since.as_deref()) else {
            return Ok(futures::stream::empty().boxed());
        };
        let mut streams = Vec::new();
        for watch in &self.watch {
            let query = ListQuery::new()
                .filter(filter.clone())
                .sortby(SortBy::asc("update_time").to_string())
                .items_per_page(self.page_size);
            let category = category_of(&watch.category);
            let watch = watch.clone();
            let property = self.status_property.clone();
            let since = since.clone();
            let stream = self
                .cms
                .stream_instances(category, &watch.type_name, &query)
                .map(move |item| {
                    item.map(|instance| {
                        let status = property_text(&instance, &property).unwrap_or_default();
                        let update_time = instance.update_time.clone();
                        let occurred = instance.updated_at().unwrap_or_else(chrono::Utc::now);
                        let id = format!("{}:{status}", instance.id);
                        let ordering = instance.id.clone();
                        let envelope = Envelope::new(
                            EventId::new(id),
                            SOURCE,
                            "instance.status",
                            StatusEvent {
                                category: watch.category.clone(),
                                type_name: watch.type_name.clone(),
                                status,
                                instance,
                            },
                        )
                        .occurred_at(occurred)
                        .ordering_key(ordering);
                        // Several watched types share one checkpoint: only the latest time is
                        // kept, and it never moves back.
                        let checkpoint = update_time
                            .filter(|t| since.as_deref().is_none_or(|s| t.as_str() >= s))
                            .map(|t| Checkpoint::new(json!({ "update_time": t })));
                        (envelope, checkpoint)
                    })
                });
            streams.push(stream);
        }
        Ok(futures::stream::iter(streams).flatten().boxed())
    }
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
    serde_json::from_slice(&stored.payload).map_err(|e| Error::Payload(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filter_combines_statuses_and_the_checkpoint() {
        let cms = CmsClient::builder()
            .tenant_id("t")
            .auth_base("http://127.0.0.1:9")
            .cms_base("http://127.0.0.1:9/cms")
            .client_credentials("c", secrecy::SecretString::from("s"))
            .build()
            .unwrap();
        let s = StatusSource::new(
            cms,
            vec![],
            "status",
            vec!["rejected".into(), "pending_review".into()],
        );
        let f = s.filter(None).unwrap();
        assert!(
            f.contains("status eq 'rejected'") && f.contains(" or "),
            "{f}"
        );
        let f = s.filter(Some("2025-01-01T00:00:00.000Z")).unwrap();
        assert!(
            f.contains("update_time ge date('2025-01-01T00:00:00.000Z')"),
            "{f}"
        );
        let none = StatusSource::new(s.cms.clone(), vec![], "status", vec![]);
        assert!(none.filter(None).is_none());
    }
}
