//! The media relay: an inbound media file downloaded **streaming** into a temporary file, its
//! SHA-256 checked, ready to be streamed on to a content system (a CMS, a DAM, a CRM attachment)
//! without ever holding it whole in memory.
//!
//! [`Client::spool_inbound_media`] (a webhook's media) and [`Client::spool_media_by_id`] (a media id
//! kept from earlier, e.g. in a conversation log) return a [`SpooledMedia`]: the temporary file
//! (deleted when the value is dropped), its size, its SHA-256, whether that hash was checked
//! against WhatsApp's, and the MIME type and file name to upload it under.

use std::path::Path;

use tokio::io::AsyncWriteExt as _;

use crate::client::Client;
use crate::error::Error;
use crate::media::{DownloadOptions, Downloaded, file_extension};

/// A media file downloaded into a temporary file. The file is deleted when this value is dropped,
/// so keep it alive until the upload that reads it has finished.
#[derive(Debug)]
#[non_exhaustive]
pub struct SpooledMedia {
    file: tempfile::TempPath,
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256_hex: String,
    /// Whether the hash was checked against WhatsApp's digest (the webhook's `sha256`, else the
    /// one `GET /{media id}` announced) and matched. A mismatch is never spooled: it is
    /// [`Error::MediaHashMismatch`].
    pub verified: bool,
    /// The MIME type without parameters, e.g. `application/pdf`: the webhook's `mime_type`, else
    /// the download's `Content-Type`, else `application/octet-stream`.
    pub mime_type: String,
    /// The sender's file name (documents only), when it is not blank.
    pub file_name: Option<String>,
}

impl SpooledMedia {
    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Opens the temporary file for reading (once per upload attempt).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened.
    pub async fn open(&self) -> Result<tokio::fs::File, Error> {
        Ok(tokio::fs::File::open(&self.file).await?)
    }

    /// The sender's file name, else `{stem}.{extension}` with the extension of the MIME type
    /// ([`file_extension`], `bin` for a type outside Meta's list).
    pub fn file_name_or(&self, stem: &str) -> String {
        self.file_name.clone().unwrap_or_else(|| {
            format!(
                "{stem}.{}",
                file_extension(&self.mime_type).unwrap_or("bin")
            )
        })
    }
}

/// The MIME type without parameters (`audio/ogg; codecs=opus` → `audio/ogg`).
fn essence(mime: &str) -> String {
    mime.split(';').next().unwrap_or_default().trim().to_owned()
}

impl Client {
    /// Downloads the media of an inbound message into a temporary file (streaming, at most
    /// `options.max_bytes`, SHA-256 checked against the webhook's digest or the one
    /// `GET /{media id}` announces), as [`Client::download_inbound_media`] does into a writer.
    ///
    /// # Errors
    /// As [`Client::download_inbound_media`] ([`Error::MediaTooLarge`],
    /// [`Error::MediaHashMismatch`], an expired media id …); [`Error::Io`] when the temporary file
    /// cannot be created or written.
    pub async fn spool_inbound_media(
        &self,
        media: &crate::webhook::Media,
        options: &DownloadOptions,
    ) -> Result<SpooledMedia, Error> {
        let (file, mut writer) = temp_file().await?;
        let downloaded = self
            .download_inbound_media(media, &mut writer, options)
            .await?;
        writer.flush().await?;
        drop(writer);
        Ok(finish(
            file,
            downloaded,
            media.mime_type.as_deref(),
            media.filename.as_deref(),
        ))
    }

    /// Downloads media by its id into a temporary file (`known_url` first when it is still valid),
    /// as [`Client::download_media_by_id`] does into a writer. `mime_type` and `file_name` are
    /// what the message said about the file, when it was kept.
    ///
    /// # Errors
    /// As [`Client::download_media_by_id`]; [`Error::Io`] for the temporary file.
    pub async fn spool_media_by_id(
        &self,
        media_id: &str,
        known_url: Option<&str>,
        options: &DownloadOptions,
        mime_type: Option<&str>,
        file_name: Option<&str>,
    ) -> Result<SpooledMedia, Error> {
        let (file, mut writer) = temp_file().await?;
        let downloaded = self
            .download_media_by_id(media_id, known_url, &mut writer, options)
            .await?;
        writer.flush().await?;
        drop(writer);
        Ok(finish(file, downloaded, mime_type, file_name))
    }
}

/// A fresh temporary file (deleted when its path is dropped) and a writer on it.
async fn temp_file() -> Result<(tempfile::TempPath, tokio::fs::File), Error> {
    let path = tempfile::NamedTempFile::new()?.into_temp_path();
    let writer = tokio::fs::File::create(&path).await?;
    Ok((path, writer))
}

fn finish(
    file: tempfile::TempPath,
    downloaded: Downloaded,
    mime_type: Option<&str>,
    file_name: Option<&str>,
) -> SpooledMedia {
    let mime_type = mime_type
        .filter(|m| !m.trim().is_empty())
        .map(essence)
        .or_else(|| downloaded.content_type.as_deref().map(essence))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    SpooledMedia {
        file,
        bytes: downloaded.bytes,
        sha256_hex: downloaded.sha256_hex,
        verified: downloaded.verified,
        mime_type,
        file_name: file_name
            .filter(|n| !n.trim().is_empty())
            .map(str::to_owned),
    }
}
