//! Content Storage Service emulation (`../shared/api/opentext-orangelogic.md` §1.6), served on
//! the same loopback server as the CMS:
//!
//! - `POST /v2/tenant/{tenant}/content[?avs-scan=]` — `multipart/form-data` with the field `file`,
//!   or a raw body with its `Content-Type` → **201** `{"entries":[{"id","blobId","fileName",
//!   "mimeType","size","_links":{"download":{"href"}}}]}` (`id` = `blobId`). Another tenant → 404;
//!   a multipart body without `file` → 400.
//! - `POST /v3/files/fromStream[?tenant=]` — multipart field `file` → **201**
//!   `{"id","originalFileName","mimeType","size"}`.
//! - `GET /v2/content/{id}` → the v2 record; `GET /v2/content/{id}/download` and
//!   `GET /v3/files/{id}/stream` → the bytes with their `Content-Type`.
//! - `POST /v2/content/{id}/publicShareUrl[?objectId=]` with `{"expiresAt"?, "password"?}` (the
//!   real field names are not published; the emulator accepts `expiresAt` as RFC 3339 text or
//!   epoch milliseconds, which are the client's defaults) → **201** `{"id","publicUrl",
//!   "expiresAt"}`; `DELETE /v2/content/{id}/publicShareUrl/{linkId}` → 204.
//! - `GET /public/{token}[?password=]` (no bearer token) → the bytes; an expired or revoked link
//!   → **410**; a wrong password → 401.
//!
//! Every `/v2` and `/v3` call needs a valid bearer token (the CMS's 401 shapes); the CMS failure
//! queue and rate limit do not apply to them.

// Handlers short-circuit with the HTTP error response itself; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{CmsState, Shared, json_response, service_error};
use crate::util::lock;

/// One uploaded content.
pub(super) struct Blob {
    pub(super) id: String,
    pub(super) file_name: String,
    pub(super) mime_type: String,
    pub(super) data: Bytes,
}

impl Blob {
    /// The v2 content record.
    pub(super) fn record(&self, shared: &Shared) -> Value {
        json!({
            "id": self.id,
            "blobId": self.id,
            "fileName": self.file_name,
            "mimeType": self.mime_type,
            "size": self.data.len(),
            "_links": { "download": {
                "href": format!("{}/v2/content/{}/download", shared.base_url, self.id)
            } },
        })
    }
}

/// One public share link.
pub(super) struct ShareLinkState {
    pub(super) id: String,
    pub(super) content_id: String,
    pub(super) object_id: Option<String>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) password: Option<String>,
    pub(super) revoked: bool,
}

impl ShareLinkState {
    pub(super) fn describe(&self, shared: &Shared, token: &str) -> Value {
        json!({
            "id": self.id,
            "content_id": self.content_id,
            "object_id": self.object_id,
            "publicUrl": format!("{}/public/{token}", shared.base_url),
            "expiresAt": self.expires_at.map(|t| t.to_rfc3339()),
            "revoked": self.revoked,
        })
    }
}

pub(super) fn find_blob<'a>(state: &'a CmsState, id: &str) -> Option<&'a Blob> {
    state.blobs.get(id)
}

/// The CSS guard: counts the request and checks the bearer token (no failure queue, no limit).
fn admit(shared: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let mut state = lock(&shared.state);
    state.css_requests += 1;
    super::check_token(&state, headers).map(drop)
}

struct Upload {
    file_name: String,
    mime_type: String,
    data: Bytes,
}

/// The `file` part of a `multipart/form-data` body, `Ok(None)` when the body has no such part.
fn multipart_file(content_type: &str, body: &Bytes) -> Result<Option<Upload>, String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .ok_or("the multipart Content-Type has no boundary")?;
    let delimiter = format!("--{boundary}").into_bytes();
    // memmem (SIMD) rather than a byte-by-byte window compare: uploads of hundreds of MB are
    // parsed here (the media relay benchmark sends up to 536 MB).
    let find = |from: usize, needle: &[u8]| {
        memchr::memmem::find(body.get(from..)?, needle).map(|p| p + from)
    };
    let mut at = find(0, &delimiter).ok_or("no multipart delimiter")?;
    loop {
        let after = at + delimiter.len();
        if body.get(after..after + 2) == Some(b"--") {
            return Ok(None);
        }
        let headers_start = after + 2;
        let headers_end = find(headers_start, b"\r\n\r\n").ok_or("unterminated part headers")?;
        let headers = String::from_utf8_lossy(&body[headers_start..headers_end]).into_owned();
        let content_start = headers_end + 4;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(&delimiter);
        let content_end = find(content_start, &closing).ok_or("unterminated part")?;
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or_default();
        let param = |name: &str| {
            disposition.split(';').map(str::trim).find_map(|p| {
                p.strip_prefix(&format!("{name}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        if param("name").as_deref() == Some("file") {
            let mime_type = headers
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-type")
                        .then(|| v.trim().to_owned())
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            return Ok(Some(Upload {
                file_name: param("filename").unwrap_or_else(|| "file".to_owned()),
                mime_type,
                data: body.slice(content_start..content_end),
            }));
        }
        at = content_end + 2;
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned()
}

fn store(shared: &Shared, upload: Upload) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    let blob = Blob {
        id: id.clone(),
        file_name: upload.file_name,
        mime_type: upload.mime_type,
        data: upload.data,
    };
    let record = blob.record(shared);
    lock(&shared.state).blobs.insert(id, blob);
    record
}

fn parse_upload(headers: &HeaderMap, body: &Bytes, raw_allowed: bool) -> Result<Upload, Response> {
    let ct = content_type(headers);
    if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return match multipart_file(&ct, body) {
            Ok(Some(upload)) => Ok(upload),
            Ok(None) => Err(service_error(
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                "the multipart body has no `file` field",
            )),
            Err(message) => Err(service_error(
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                message,
            )),
        };
    }
    if !raw_allowed {
        return Err(service_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaTypeException",
            "use multipart/form-data with a `file` field",
        ));
    }
    Ok(Upload {
        file_name: "content".to_owned(),
        mime_type: ct,
        data: body.clone(),
    })
}

pub(super) async fn upload_v2(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = admit(&shared, &headers) {
        return *response;
    }
    if tenant != shared.tenant_id {
        return service_error(StatusCode::NOT_FOUND, "NotFoundException", "unknown tenant");
    }
    match parse_upload(&headers, &body, true) {
        Ok(upload) => {
            let record = store(&shared, upload);
            json_response(StatusCode::CREATED, json!({ "entries": [record] }))
        }
        Err(response) => response,
    }
}

pub(super) async fn upload_v3(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = admit(&shared, &headers) {
        return *response;
    }
    match parse_upload(&headers, &body, false) {
        Ok(upload) => {
            let record = store(&shared, upload);
            json_response(
                StatusCode::CREATED,
                json!({
                    "id": record["id"], "originalFileName": record["fileName"],
                    "mimeType": record["mimeType"], "size": record["size"],
                }),
            )
        }
        Err(response) => response,
    }
}

fn missing(id: &str) -> Response {
    service_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("no content '{id}'"),
    )
}

pub(super) async fn content_info(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = admit(&shared, &headers) {
        return *response;
    }
    let state = lock(&shared.state);
    match find_blob(&state, &id) {
        Some(blob) => json_response(StatusCode::OK, blob.record(&shared)),
        None => missing(&id),
    }
}

fn bytes_response(blob: &Blob) -> Response {
    let mut response = (StatusCode::OK, blob.data.clone()).into_response();
    if let Ok(v) = HeaderValue::from_str(&blob.mime_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        blob.file_name.replace('"', "")
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

pub(super) async fn download(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = admit(&shared, &headers) {
        return *response;
    }
    let state = lock(&shared.state);
    match find_blob(&state, &id) {
        Some(blob) => bytes_response(blob),
        None => missing(&id),
    }
}

fn expiry(v: Option<&Value>) -> Result<Option<DateTime<Utc>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| format!("expiresAt `{s}` is not RFC 3339")),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .map(Some)
            .ok_or_else(|| "expiresAt is not epoch milliseconds".to_owned()),
        Some(_) => Err("expiresAt must be a string or a number".to_owned()),
    }
}

pub(super) async fn create_share_link(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = admit(&shared, &headers) {
        return *response;
    }
    let request = if body.is_empty() {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map,
            _ => {
                return service_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequestException",
                    "the request body must be a JSON object",
                );
            }
        }
    };
    let expires_at = match expiry(request.get("expiresAt")) {
        Ok(at) => at,
        Err(message) => {
            return service_error(StatusCode::BAD_REQUEST, "BadRequestException", message);
        }
    };
    let object_id = raw.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "objectId")
            .map(|(_, v)| v.into_owned())
    });
    let mut state = lock(&shared.state);
    if find_blob(&state, &id).is_none() {
        return missing(&id);
    }
    let token = crate::util::token(24);
    let link = ShareLinkState {
        id: uuid::Uuid::new_v4().to_string(),
        content_id: id,
        object_id,
        expires_at,
        password: request
            .get("password")
            .and_then(Value::as_str)
            .map(str::to_owned),
        revoked: false,
    };
    let body = link.describe(&shared, &token);
    state.share_links.insert(token, link);
    json_response(
        StatusCode::CREATED,
        json!({ "id": body["id"], "publicUrl": body["publicUrl"], "expiresAt": body["expiresAt"] }),
    )
}

pub(super) async fn delete_share_link(
    State(shared): State<Arc<Shared>>,
    Path((id, link_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = admit(&shared, &headers) {
        return *response;
    }
    let mut state = lock(&shared.state);
    match state
        .share_links
        .values_mut()
        .find(|l| l.id == link_id && l.content_id == id)
    {
        Some(link) => {
            link.revoked = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => missing(&link_id),
    }
}

pub(super) async fn public_download(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let state = lock(&shared.state);
    let Some(link) = state.share_links.get(&token) else {
        return (StatusCode::NOT_FOUND, "unknown link").into_response();
    };
    if link.revoked || link.expires_at.is_some_and(|at| at <= Utc::now()) {
        return (StatusCode::GONE, "this link has expired").into_response();
    }
    if let Some(password) = &link.password {
        let given = raw.and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "password")
                .map(|(_, v)| v.into_owned())
        });
        if given.as_deref() != Some(password.as_str()) {
            return (StatusCode::UNAUTHORIZED, "password required").into_response();
        }
    }
    match find_blob(&state, &link.content_id) {
        Some(blob) => bytes_response(blob),
        None => (StatusCode::GONE, "the content was deleted").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_file_part() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\
              Content-Type: application/pdf\r\n\r\n%PDF\r\n--\r\n--XyZ--\r\n",
        );
        let upload = multipart_file("multipart/form-data; boundary=XyZ", &body)
            .unwrap()
            .unwrap();
        assert_eq!(upload.file_name, "a.pdf");
        assert_eq!(upload.mime_type, "application/pdf");
        assert_eq!(&upload.data[..], b"%PDF\r\n--");
        let none = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--XyZ--\r\n",
        );
        assert!(
            multipart_file("multipart/form-data; boundary=XyZ", &none)
                .unwrap()
                .is_none()
        );
        assert!(multipart_file("multipart/form-data", &none).is_err());
    }
}
