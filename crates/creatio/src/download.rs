//! File download: the OData stream of a file entity's `Data` column (`shared/api/creatio.md`
//! §2.1 "stream fields use `/Data`" and §3.7; Creatio Academy "Stream data via OData" [doc S10]).
//!
//! `GET {odata}/{Set}({id})/Data` answers the raw bytes with the file's `Content-Type` (and
//! usually `Content-Length`). [`Client::download_file`] returns a [`FileDownload`]: the
//! answer's headers and the body as a stream, never held whole in memory. Write it anywhere with
//! [`FileDownload::write_to`], or spool it into a temporary file with [`FileDownload::spool`]
//! (a [`SpooledFile`], deleted when dropped) to hand it on, e.g. to WhatsApp.

use std::path::Path;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use uuid::Uuid;

use crate::client::{CONNECTOR, Req};
use crate::{Client, Error};

/// The name of the binary column of Creatio's `*File` entities (`CaseFile`, `ActivityFile`, …).
pub const DATA_COLUMN: &str = "Data";

/// A file being downloaded: the answer's headers, and its body as a stream of chunks.
#[non_exhaustive]
pub struct FileDownload {
    /// `Content-Type` as sent (e.g. `application/pdf`), when sent.
    pub content_type: Option<String>,
    /// `Content-Length` in bytes, when sent.
    pub length: Option<u64>,
    /// The file name of a `Content-Disposition: attachment; filename=…` header, when sent.
    pub file_name: Option<String>,
    body: BoxStream<'static, Result<Bytes, Error>>,
}

impl std::fmt::Debug for FileDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDownload")
            .field("content_type", &self.content_type)
            .field("length", &self.length)
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

impl FileDownload {
    /// The body as a stream of chunks. A dropped connection mid-body is an
    /// [`Error::Transport`] item.
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, Error>> {
        self.body
    }

    /// Writes the body into `writer` chunk by chunk and flushes it (not shut down). Returns the
    /// number of bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] when the connection drops mid-body (part may have been written);
    /// [`Error::Io`] when the writer fails, or when `Content-Length` was sent and the body is
    /// shorter or longer.
    pub async fn write_to<W>(self, writer: &mut W) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let expected = self.length;
        let mut body = self.body;
        let mut total: u64 = 0;
        while let Some(chunk) = body.try_next().await? {
            writer.write_all(&chunk).await.map_err(Error::Io)?;
            total = total.saturating_add(chunk.len() as u64);
        }
        writer.flush().await.map_err(Error::Io)?;
        if let Some(expected) = expected
            && expected != total
        {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the download announced {expected} bytes and sent {total}"),
            )));
        }
        Ok(total)
    }

    /// Downloads the whole body into a temporary file (streamed; deleted when the returned
    /// [`SpooledFile`] is dropped).
    ///
    /// # Errors
    ///
    /// As [`FileDownload::write_to`]; [`Error::Io`] when the temporary file cannot be created.
    pub async fn spool(self) -> Result<SpooledFile, Error> {
        let path = tokio::task::spawn_blocking(tempfile::NamedTempFile::new)
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
            .map_err(Error::Io)?
            .into_temp_path();
        let mut file = tokio::fs::File::create(&path).await.map_err(Error::Io)?;
        let content_type = self.content_type.clone();
        let file_name = self.file_name.clone();
        let length = self.write_to(&mut file).await?;
        file.sync_all().await.map_err(Error::Io)?;
        Ok(SpooledFile {
            path,
            length,
            content_type,
            file_name,
        })
    }
}

/// A downloaded file in a temporary file, deleted when this value is dropped.
#[derive(Debug)]
#[non_exhaustive]
pub struct SpooledFile {
    path: tempfile::TempPath,
    /// Bytes written.
    pub length: u64,
    /// `Content-Type` of the download, when sent.
    pub content_type: Option<String>,
    /// The file name of the download's `Content-Disposition`, when sent.
    pub file_name: Option<String>,
}

impl SpooledFile {
    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the temporary file for reading.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be opened.
    pub async fn open(&self) -> Result<tokio::fs::File, Error> {
        tokio::fs::File::open(&self.path).await.map_err(Error::Io)
    }
}

/// The `filename` (or RFC 6266 `filename*=UTF-8''…`) of a `Content-Disposition` value.
fn disposition_file_name(value: &str) -> Option<String> {
    let mut plain = None;
    for part in value.split(';').map(str::trim) {
        let Some((key, v)) = part.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let v = v.trim();
        if key == "filename*" {
            let encoded = v.split_once("''").map_or(v, |(_, rest)| rest);
            if let Ok(decoded) = percent_decode(encoded) {
                return Some(decoded);
            }
        } else if key == "filename" {
            plain = Some(v.trim_matches('"').to_owned());
        }
    }
    plain.filter(|n| !n.is_empty())
}

fn percent_decode(s: &str) -> Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

impl Client {
    /// Downloads the `Data` column of a file record: `GET {odata}/{set}({id})/Data`
    /// (`Accept: */*`). Retried per the [`RetryPolicy`](crate::RetryPolicy) until the headers of
    /// a 2xx answer arrive (the 401 / expired-session replay included); the body is then
    /// streamed ([`FileDownload`]). A `204` (no content stored) is an empty download.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid set name; a missing record is an [`Error::OData`] 404
    /// ([`Error::is_not_found`]); HTTP and transport errors as [`Error`] says.
    pub async fn download_file(&self, set: &str, id: Uuid) -> Result<FileDownload, Error> {
        let mut url = self.entity_url(set, Some(id))?;
        let path = format!("{}/{DATA_COLUMN}", url.path());
        url.set_path(&path);
        let mut req = Req::new(Method::GET, url);
        req.expect_json = false;
        req.accept = Some("*/*");
        let req_ref = &req;
        let response = self
            .inner
            .retry
            .run(move || {
                chatport_core::telemetry::observe(CONNECTOR, "download", self.send(req_ref))
            })
            .await?;
        let headers = response.headers();
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = text(CONTENT_TYPE);
        let file_name = text(CONTENT_DISPOSITION).and_then(|d| disposition_file_name(&d));
        let length = if response.status() == reqwest::StatusCode::NO_CONTENT {
            Some(0)
        } else {
            text(CONTENT_LENGTH).and_then(|l| l.trim().parse::<u64>().ok())
        };
        let body = response
            .bytes_stream()
            .map(|chunk| chunk.map_err(Error::from_reqwest))
            .boxed();
        Ok(FileDownload {
            content_type,
            length,
            file_name,
            body,
        })
    }

    /// Downloads a case attachment: [`Client::download_file`] on `CaseFile({id})/Data`.
    ///
    /// # Errors
    ///
    /// As [`Client::download_file`].
    pub async fn download_case_file(&self, id: Uuid) -> Result<FileDownload, Error> {
        self.download_file("CaseFile", id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_names() {
        assert_eq!(
            disposition_file_name("attachment; filename=\"a b.pdf\"").as_deref(),
            Some("a b.pdf")
        );
        assert_eq!(
            disposition_file_name("attachment; filename=x.pdf; filename*=UTF-8''%C3%A9t%C3%A9.pdf")
                .as_deref(),
            Some("été.pdf")
        );
        assert_eq!(disposition_file_name("inline"), None);
        assert_eq!(disposition_file_name("attachment; filename=\"\""), None);
    }
}
