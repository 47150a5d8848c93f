//! What the L flows share at run time: the asset as read ([`Asset`]), field and phone helpers, and
//! [`Shared`] (the client, the once-only sender, folders, presigned links, media ingest).

use std::sync::Arc;
use std::time::Duration;

use chatport_core::{EventId, IdempotencyKey, Outcome};
use chatport_orangelogic::{
    AssetRef, Client as OlClient, FeedbackTarget, LinkExpiry, PresignedLinkRequest, Record,
};
use chatport_runtime::KvStore;
use chatport_whatsapp::{OutgoingMessage, Recipient};
use chrono::{DateTime, NaiveDate};
use serde_json::Value;

use super::{FeedbackConfig, OrangeLogicConfig};
use crate::Error;

use crate::directory::phone_digits;
use chatport_whatsapp::sink::{MessageSink, SendOnce};

/// The values of one asset the flows put into messages.
#[derive(Debug, Clone)]
pub(crate) struct Asset {
    pub(crate) record: Record,
    pub(crate) record_id: String,
    pub(crate) identifier: String,
}

impl Asset {
    /// The first value of a field as text.
    pub(crate) fn text(&self, field: &str) -> Option<String> {
        field_values(&self.record, field).into_iter().next()
    }

    /// Every value of a field.
    pub(crate) fn values(&self, field: &str) -> Vec<String> {
        field_values(&self.record, field)
    }
}

/// Every value of a field: an array's items, or a text split at `|`; empty values dropped.
pub(crate) fn field_values(record: &Record, field: &str) -> Vec<String> {
    let raw: Vec<String> = match record.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect(),
        Some(Value::String(s)) => s.split('|').map(str::to_owned).collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.to_string()],
    };
    raw.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Phone numbers in a list of texts (each may hold several separated by `,`, `;` or `|`), as
/// digits, without duplicates; texts with fewer than 6 digits are ignored.
pub(crate) fn phones<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for text in texts {
        for part in text.split([',', ';', '|']) {
            let digits = phone_digits(part);
            if digits.len() >= 6 && !out.contains(&digits) {
                out.push(digits);
            }
        }
    }
    out
}

/// Parses a date field: `yyyy-mm-dd`, RFC 3339, or `yyyy-mm-ddThh:mm:ss` (date part used).
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.date_naive());
    }
    t.get(..10)
        .and_then(|p| NaiveDate::parse_from_str(p, "%Y-%m-%d").ok())
}

/// Whether `value` equals one of `wanted`, case-insensitively.
pub(crate) fn one_of(value: Option<&str>, wanted: &[String]) -> bool {
    value.is_some_and(|v| {
        wanted
            .iter()
            .any(|w| w.trim().eq_ignore_ascii_case(v.trim()))
    })
}

/// Result of sending one message to each of several recipients.
#[derive(Debug)]
pub(crate) enum SentAll {
    /// Every recipient has its message: `(phone digits, wamid)`.
    Sent(Vec<(String, String)>),
    /// At least one send is in doubt; the others are recorded and will not be resent.
    InDoubt,
}

/// Services and settings every L flow uses.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) client: OlClient,
    /// Uploads of WhatsApp media, once per key: the file name carries `wa-{reference}-`.
    pub(crate) assets: chatport_orangelogic::AssetSink,
    pub(crate) sender: MessageSink,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) whatsapp: chatport_whatsapp::Client,
    pub(crate) config: OrangeLogicConfig,
    pub(crate) base_url: String,
    pub(crate) phone_number_id: String,
    /// One note write at a time per asset: an append is a read-modify-write of one field, and
    /// two answers about one asset (from different people, so different ordering keys) must not
    /// overwrite each other. Per process only; across replicas two appends can still race.
    pub(crate) note_locks: chatport_core::sink::KeyLocks,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// Reads an asset; `None` when it no longer exists.
    pub(crate) async fn read(&self, asset: &AssetRef) -> Result<Option<Asset>, Error> {
        let Some(record) = self.client.read_asset(asset).await? else {
            return Ok(None);
        };
        let (field, value) = asset.pair();
        let record_id = record.record_id().unwrap_or_else(|| {
            if field == "RecordID" {
                value.to_owned()
            } else {
                String::new()
            }
        });
        let identifier = record.identifier().unwrap_or_default();
        Ok(Some(Asset {
            record,
            record_id,
            identifier,
        }))
    }

    /// The asset's title.
    pub(crate) fn title(&self, asset: &Asset) -> String {
        asset
            .text(&self.config.title_field)
            .unwrap_or_else(|| asset.identifier.clone())
    }

    /// The asset's state.
    pub(crate) fn state(&self, asset: &Asset) -> Option<String> {
        asset.text(&self.config.state_field)
    }

    /// The owner's phone numbers.
    pub(crate) fn owners(&self, asset: &Asset) -> Vec<String> {
        let values = asset.values(&self.config.owner_field);
        phones(values.iter().map(String::as_str))
    }

    /// The DAM user-interface link of an asset (`asset_link`).
    pub(crate) fn ui_link(&self, asset: &Asset) -> String {
        self.config
            .asset_link
            .replace("{base_url}", self.base_url.trim_end_matches('/'))
            .replace("{record_id}", &asset.record_id)
            .replace("{identifier}", &asset.identifier)
    }

    /// A presigned link to `format` of the asset valid for `expiry`; `None` when no presigned
    /// path is configured or the server gave no URL for it.
    pub(crate) async fn presigned(
        &self,
        asset: &Asset,
        format: &str,
        expiry: LinkExpiry,
    ) -> Result<Option<String>, Error> {
        if self.config.presigned_links_path.is_none() {
            return Ok(None);
        }
        let links = self
            .client
            .presigned_links(
                &[PresignedLinkRequest::new(&asset.record_id, format)],
                expiry,
            )
            .await?;
        Ok(links.into_iter().find_map(|l| l.url))
    }

    /// How long to wait before rechecking an in-doubt send.
    pub(crate) fn in_doubt(&self, what: &str) -> Outcome {
        Outcome::Retry {
            after: Some(Duration::from_secs(self.config.in_doubt_recheck_secs)),
            reason: format!(
                "{what}: outcome unknown after an earlier attempt; not resent blindly, waiting for its status webhook"
            ),
        }
    }

    /// Sends one message to each recipient, at most once per (flow, step, event, recipient).
    pub(crate) async fn send_each(
        &self,
        flow: &str,
        step: &str,
        event: &EventId,
        recipients: &[String],
        build: impl Fn(Recipient) -> OutgoingMessage,
    ) -> Result<SentAll, Error> {
        let mut sent = Vec::new();
        let mut in_doubt = false;
        for phone in recipients {
            let key = IdempotencyKey::derive(flow, &format!("{step}:{phone}"), event);
            match self
                .sender
                .send(
                    &key,
                    &self.phone_number_id,
                    build(Recipient::phone(format!("+{phone}"))),
                )
                .await?
            {
                SendOnce::Sent(wamid) => sent.push((phone.clone(), wamid)),
                _ => in_doubt = true,
            }
        }
        Ok(if in_doubt {
            SentAll::InDoubt
        } else {
            SentAll::Sent(sent)
        })
    }

    /// Sends one message once per key, from the configured number.
    pub(crate) async fn send_one(
        &self,
        key: &IdempotencyKey,
        phone_number_id: &str,
        message: OutgoingMessage,
    ) -> Result<SendOnce, Error> {
        Ok(self.sender.send(key, phone_number_id, message).await?)
    }

    /// A marker of flow state per asset (namespace `ol.{flow}`).
    pub(crate) async fn marker(&self, flow: &str, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .kv
            .get(&format!("ol.{flow}"), key)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Sets a marker.
    pub(crate) async fn set_marker(&self, flow: &str, key: &str, value: &str) -> Result<(), Error> {
        self.kv
            .put(&format!("ol.{flow}"), key, value.as_bytes())
            .await?;
        Ok(())
    }

    /// Removes a marker.
    pub(crate) async fn clear_marker(&self, flow: &str, key: &str) -> Result<(), Error> {
        self.kv.delete(&format!("ol.{flow}"), key).await?;
        Ok(())
    }

    /// Writes a note onto an asset per `feedback`. In `append` mode the entry ends with
    /// `[ref:{reference}]` and is skipped when the field already holds that reference, so a retry
    /// after a successful write adds nothing.
    pub(crate) async fn write_note(
        &self,
        asset: &AssetRef,
        feedback: &FeedbackConfig,
        entry: &str,
        reference: &str,
    ) -> Result<(), Error> {
        let (field_name, value) = asset.pair();
        let _one_note_at_a_time = self.note_locks.lock(&format!("{field_name}={value}")).await;
        let target = feedback.target();
        let text = match &target {
            FeedbackTarget::AppendToField { field, .. } => {
                let marker = format!("[ref:{reference}]");
                let current = self.client.asset_field(asset, field).await?;
                if current.is_some_and(|c| c.contains(&marker)) {
                    return Ok(());
                }
                format!("{entry} {marker}")
            }
            FeedbackTarget::Tag { .. } => entry.replace('|', "/"),
            _ => entry.to_owned(),
        };
        self.client.record_feedback(asset, &target, &text).await?;
        Ok(())
    }
}

/// An asset stored from WhatsApp media.
#[derive(Debug, Clone)]
pub(crate) struct StoredMedia {
    /// How to address it.
    pub(crate) asset: AssetRef,
    /// Its identifier, when known.
    pub(crate) identifier: String,
    /// Bytes uploaded (0 when an earlier attempt had uploaded it).
    pub(crate) bytes: u64,
    /// Whether an earlier attempt had uploaded it already.
    pub(crate) reused: bool,
    /// The SHA-256 of the bytes (hex), when downloaded now.
    pub(crate) sha256: Option<String>,
}

/// The DAM file name of an ingested media: `wa-{reference}-{name}`, where the name is the
/// document's own file name or `{type}.{ext}`. The reference makes the name unique per
/// submission, and lets a retry find the asset an earlier attempt uploaded.
pub(crate) fn ingest_file_name(
    key: &IdempotencyKey,
    media: &chatport_whatsapp::webhook::Media,
    kind: &str,
) -> String {
    format!("wa-{}-{}", short_ref(key), ingest_name(media, kind))
}

/// The name part of [`ingest_file_name`]: the document's own file name or `{type}.{ext}`. The
/// asset sink ([`Shared::assets`]) prefixes it with `wa-{reference}-`.
pub(crate) fn ingest_name(media: &chatport_whatsapp::webhook::Media, kind: &str) -> String {
    let mime = media.mime_type.as_deref().unwrap_or_default();
    let own: String = media
        .filename
        .as_deref()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if own.trim_matches('_').is_empty() {
        format!("{kind}.{}", crate::templates::extension(mime))
    } else {
        own
    }
}

impl Shared {
    /// The record id of a folder: `folder` when given, else the folder titled `title` under
    /// `root` (found or created, then cached in KV `ol.folder`). Creating is not atomic in
    /// OrangeDAM: two first submissions at once may create two folders of one title.
    pub(crate) async fn folder(
        &self,
        folder: Option<&str>,
        title: &str,
        root: &str,
        subtype: &str,
    ) -> Result<String, Error> {
        if let Some(id) = folder.filter(|f| !f.trim().is_empty()) {
            return Ok(id.to_owned());
        }
        let cache_key = format!("{root}/{title}");
        if let Some(id) = self.marker("folder", &cache_key).await? {
            return Ok(id);
        }
        let id = self.client.ensure_folder(subtype, title, root).await?;
        self.set_marker("folder", &cache_key, &id).await?;
        Ok(id)
    }

    /// The asset an earlier attempt uploaded for `key` (the name `wa-{reference}-{name}` of
    /// [`ingest_file_name`]), looked up before anything is downloaded, so a replay downloads
    /// nothing.
    ///
    /// # Errors
    /// OrangeDAM search errors.
    pub(crate) async fn uploaded(
        &self,
        media: &chatport_whatsapp::webhook::Media,
        key: &IdempotencyKey,
        kind: &str,
    ) -> Result<Option<StoredMedia>, Error> {
        let name = ingest_name(media, kind);
        Ok(self
            .assets
            .find(&name, key)
            .await?
            .map(|existing| StoredMedia {
                asset: existing.asset(),
                identifier: existing.identifier.unwrap_or_default(),
                bytes: 0,
                reused: true,
                sha256: None,
            }))
    }

    /// Downloads a WhatsApp media streaming into a temporary file with its SHA-256 checked (the
    /// webhook's digest, else the one `GET /{media id}` announces); the file is deleted when the
    /// result is dropped.
    ///
    /// # Errors
    /// WhatsApp download errors (size, hash mismatch, expired media), local I/O errors;
    /// [`Error::Payload`] when the media has no verifiable digest.
    pub(crate) async fn spool(
        &self,
        media: &chatport_whatsapp::webhook::Media,
        max_bytes: u64,
    ) -> Result<chatport_whatsapp::SpooledMedia, Error> {
        let spooled = self
            .whatsapp
            .spool_inbound_media(
                media,
                &chatport_whatsapp::DownloadOptions::new().max_bytes(max_bytes),
            )
            .await?;
        if !spooled.verified {
            return Err(Error::Payload(
                "the media has no SHA-256 to verify it against; not stored".into(),
            ));
        }
        Ok(spooled)
    }

    /// Uploads a spooled media ([`Shared::spool`]) into `folder` as
    /// [`ingest_file_name`], effectively once per `key` (the asset sink finds an upload an
    /// earlier attempt made).
    ///
    /// # Errors
    /// OrangeDAM upload errors, local I/O errors.
    pub(crate) async fn upload(
        &self,
        media: &chatport_whatsapp::webhook::Media,
        spooled: &chatport_whatsapp::SpooledMedia,
        folder: &str,
        key: &IdempotencyKey,
        kind: &str,
    ) -> Result<StoredMedia, Error> {
        let draft = chatport_orangelogic::AssetDraft::new(
            folder,
            ingest_name(media, kind),
            chatport_orangelogic::AssetContent::file(spooled.path()),
        )
        .content_type(spooled.mime_type.clone());
        let stored = self.assets.store(&draft, key).await?;
        Ok(StoredMedia {
            asset: stored.receipt.asset(),
            identifier: stored.receipt.identifier.unwrap_or_default(),
            bytes: if stored.reused { 0 } else { spooled.bytes },
            reused: stored.reused,
            sha256: Some(spooled.sha256_hex.clone()),
        })
    }

    /// What the model extracted for the upload `key` in an earlier attempt ([`KV_EXTRACTED`]),
    /// so that a retry or a replay writes the same values and asks the model once.
    ///
    /// # Errors
    /// Store errors.
    pub(crate) async fn recall_extraction(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<chatport_assistant::fields::FilledFields>, Error> {
        Ok(self
            .kv
            .get(KV_EXTRACTED, key.as_str())
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Remembers what the model extracted for the upload `key` ([`KV_EXTRACTED`]). A fallback
    /// result is not remembered: nothing of it reaches the asset, and the next attempt before
    /// the upload may reach the model.
    ///
    /// # Errors
    /// Store errors.
    pub(crate) async fn remember_extraction(
        &self,
        key: &IdempotencyKey,
        filled: &chatport_assistant::fields::FilledFields,
    ) -> Result<(), Error> {
        if filled.fallback || filled.provenance.is_none() {
            return Ok(());
        }
        let bytes = serde_json::to_vec(filled).map_err(|e| Error::Payload(e.to_string()))?;
        self.kv.put(KV_EXTRACTED, key.as_str(), &bytes).await?;
        Ok(())
    }
}

/// KV namespace of the L flows' model extractions (L2, L6): upload idempotency key →
/// `FilledFields` JSON.
pub(crate) const KV_EXTRACTED: &str = "ol.extracted";

/// A short, stable reference of a key (its first 12 hex digits), for notes written onto assets.
pub(crate) fn short_ref(key: &IdempotencyKey) -> String {
    key.as_str().chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_dates() {
        assert_eq!(
            phones([
                "+49 151 2345 6789| +1 (650) 555-1234",
                "12",
                "4915123456789"
            ]),
            vec!["4915123456789".to_owned(), "16505551234".to_owned()]
        );
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(parse_date("2026-03-01"), Some(d));
        assert_eq!(parse_date("2026-03-01T10:00:00Z"), Some(d));
        assert_eq!(parse_date("2026-03-01T10:00:00"), Some(d));
        assert_eq!(parse_date("March"), None);
    }
}
