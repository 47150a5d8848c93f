//! Chunked file upload through `FileApiService/UploadFile` (`shared/api/creatio.md` §3.7).

use bytes::Bytes;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use uuid::Uuid;

use crate::client::{Repeat, Req};
use crate::http::encode_component;
use crate::odata::check_set;
use crate::{Client, Error};

/// What to upload and where it goes. Built with [`Upload::case_file`] (an attachment on a case)
/// or [`Upload::new`] for any `*File` schema.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upload {
    /// `entitySchemaName`, e.g. `CaseFile`.
    pub entity_schema: String,
    /// `columnName`: the binary column, `Data`.
    pub column_name: String,
    /// `parentColumnName`, e.g. `Case`.
    pub parent_column: String,
    /// `parentColumnValue`: the parent record's id.
    pub parent_id: Uuid,
    /// `fileId`: the new file record's `Id` (client-chosen, so a retried upload targets the same
    /// record; default a random v4 UUID).
    pub file_id: Uuid,
    /// `fileName`.
    pub file_name: String,
    /// `mimeType`, also sent as `Content-Type`.
    pub mime_type: String,
    /// `totalFileLength` in bytes: the reader must yield exactly this many bytes.
    pub total_len: u64,
}

impl Upload {
    /// An upload into `{entity_schema}` (column `Data`) under the parent record
    /// `{parent_column} = parent_id`.
    pub fn new(
        entity_schema: &str,
        parent_column: &str,
        parent_id: Uuid,
        file_name: &str,
        mime_type: &str,
        total_len: u64,
    ) -> Self {
        Self {
            entity_schema: entity_schema.to_owned(),
            column_name: "Data".to_owned(),
            parent_column: parent_column.to_owned(),
            parent_id,
            file_id: Uuid::new_v4(),
            file_name: file_name.to_owned(),
            mime_type: mime_type.to_owned(),
            total_len,
        }
    }

    /// A `CaseFile` attachment on the case `case_id`.
    pub fn case_file(case_id: Uuid, file_name: &str, mime_type: &str, total_len: u64) -> Self {
        Self::new("CaseFile", "Case", case_id, file_name, mime_type, total_len)
    }

    /// Sets the file record's id (e.g. derived from an idempotency key).
    #[must_use]
    pub fn file_id(mut self, id: Uuid) -> Self {
        self.file_id = id;
        self
    }
}

/// Reads up to `buf.len()` bytes, stopping early only at end of input.
async fn fill<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> Result<usize, Error> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await.map_err(Error::Io)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

impl Client {
    /// Uploads `reader`'s bytes with `POST {base}{/0}/rest/FileApiService/UploadFile`, one
    /// request per chunk of the configured size (default 512 KiB), each with
    /// `Content-Range: bytes {start}-{end}/{total}` (inclusive end) and the raw bytes as body, and
    /// the query `fileId, totalFileLength, mimeType, fileName, columnName, entitySchemaName,
    /// parentColumnName, parentColumnValue`. Only one chunk is in memory at a time. Returns the
    /// file record's id.
    ///
    /// Each chunk is sent once (plus the one replay after an expired session). The answer is a
    /// 2xx; a JSON answer with `"success": false` is an error (Creatio's service response shape
    /// `{"success","errorInfo":{"errorCode","message"}}`; inferred). A failed upload may leave a
    /// partial file record: delete it ([`Client::delete`]) or retry with the same
    /// [`Upload::file_id`]. Check the instance's `MaxFileSize` (default 10 MB) first.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty upload or an invalid schema name; [`Error::Io`] when the
    /// reader fails, ends before `total_len` bytes, or has more; HTTP errors as [`Error`] says.
    pub async fn upload_file<R>(&self, upload: &Upload, mut reader: R) -> Result<Uuid, Error>
    where
        R: AsyncRead + Unpin + Send,
    {
        check_set(&upload.entity_schema)?;
        check_set(&upload.parent_column)?;
        check_set(&upload.column_name)?;
        if upload.total_len == 0 {
            return Err(Error::Config("cannot upload an empty file".into()));
        }
        let mut url = self.inner.service_base.clone();
        let path = format!(
            "{}/rest/FileApiService/UploadFile",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        let query = crate::http::query_string(&[
            ("fileId", upload.file_id.hyphenated().to_string()),
            ("totalFileLength", upload.total_len.to_string()),
            ("mimeType", upload.mime_type.clone()),
            ("fileName", upload.file_name.clone()),
            ("columnName", upload.column_name.clone()),
            ("entitySchemaName", upload.entity_schema.clone()),
            ("parentColumnName", upload.parent_column.clone()),
            (
                "parentColumnValue",
                upload.parent_id.hyphenated().to_string(),
            ),
        ]);
        url.set_query(Some(&query));
        let chunk_size = self.inner.chunk_size;
        let total = upload.total_len;
        let mut buf = vec![0u8; chunk_size];
        let mut start: u64 = 0;
        while start < total {
            let remaining = usize::try_from(total - start).unwrap_or(usize::MAX);
            let want = chunk_size.min(remaining);
            let got = fill(&mut reader, &mut buf[..want]).await?;
            if got < want {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "upload source ended after {} of {total} bytes",
                        start + got as u64
                    ),
                )));
            }
            let end = start + got as u64 - 1;
            let mut req = Req::new(Method::POST, url.clone());
            req.body = Some(Bytes::copy_from_slice(&buf[..got]));
            req.content_type = Some(upload.mime_type.clone());
            req.headers.push((
                "Content-Disposition",
                format!(
                    "attachment; filename={}",
                    encode_component(&upload.file_name)
                ),
            ));
            req.headers
                .push(("Content-Range", format!("bytes {start}-{end}/{total}")));
            let (status, body) = self.call(req, Repeat::Once).await?;
            check_upload_answer(status, &body)?;
            start = end + 1;
        }
        let mut probe = [0u8; 1];
        if fill(&mut reader, &mut probe).await? > 0 {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("upload source is longer than the announced {total} bytes"),
            )));
        }
        Ok(upload.file_id)
    }
}

fn check_upload_answer(status: u16, body: &[u8]) -> Result<(), Error> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    if obj.get("success").and_then(Value::as_bool) == Some(false) {
        let info = obj.get("errorInfo").and_then(Value::as_object);
        let field = |k: &str| {
            info.and_then(|i| i.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        return Err(Error::OData {
            status,
            code: field("errorCode"),
            message: field("message"),
            inner_type: None,
            retry_after: None,
        });
    }
    Ok(())
}
