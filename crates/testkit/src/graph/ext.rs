//! The Graph emulator's media, templates, 24-hour window, pair rate limit and chaos wrapper.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes},
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Shared, bad_request, bearer_matches, graph_response, is_version, unauthorized};
use crate::{chaos::ChaosAction, failure::graph_error_body, util::lock};

/// Runs `handler` under chaos.
pub(crate) async fn with_chaos(shared: &Shared, handler: impl FnOnce() -> Response) -> Response {
    match shared.chaos.roll() {
        Some(ChaosAction::Respond(r)) => r,
        Some(ChaosAction::Slow(delay)) => {
            let r = handler();
            tokio::time::sleep(delay).await;
            r
        }
        None => handler(),
    }
}

// ---------------------------------------------------------------------------------------------
// 24-hour window and pair rate limit

/// The user key of a recipient: the digits of a phone number, or a BSUID as is.
pub(crate) fn user_key(user: &str) -> String {
    let t = user.trim();
    if t.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
    {
        t.chars().filter(char::is_ascii_digit).collect()
    } else {
        t.to_owned()
    }
}

/// Whether the window with `user` is open now.
pub(crate) fn window_open(
    inbound: &HashMap<(String, String), DateTime<Utc>>,
    phone_number_id: &str,
    user: &str,
) -> bool {
    inbound
        .get(&(phone_number_id.to_owned(), user_key(user)))
        .is_some_and(|at| Utc::now() - *at < chrono::Duration::hours(24))
}

/// GCRA: whether one more message to the pair fits `burst` messages per `interval` each; takes
/// the slot when it does.
pub(crate) fn pair_allows(
    tats: &mut HashMap<(String, String), Instant>,
    key: (String, String),
    interval: Duration,
    burst: u32,
) -> bool {
    let now = Instant::now();
    let tat = tats.get(&key).copied().unwrap_or(now).max(now);
    let tolerance = interval * burst.saturating_sub(1);
    if tat.duration_since(now) > tolerance {
        return false;
    }
    tats.insert(key, tat + interval);
    true
}

// ---------------------------------------------------------------------------------------------
// Media

/// One media object held by the emulator.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredMedia {
    /// The media id.
    pub id: String,
    /// The phone number id it was uploaded on (`None` for media added with
    /// [`super::GraphEmulator::add_media`]).
    pub phone_number_id: Option<String>,
    /// MIME type.
    pub mime_type: String,
    /// The bytes.
    pub bytes: Bytes,
    /// File name of the upload.
    pub file_name: Option<String>,
}

impl StoredMedia {
    /// SHA-256 of the bytes, lower-case hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }
}

/// The per-type table of Meta: business-phone-numbers/media (MIME → maximum bytes).
fn max_bytes_for(mime: &str) -> Option<u64> {
    Some(match mime {
        "image/jpeg" | "image/png" => 5_000_000,
        "video/3gpp" | "video/mp4" | "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4"
        | "audio/ogg" => 16_000_000,
        "text/plain"
        | "application/pdf"
        | "application/msword"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.ms-excel"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            100_000_000
        }
        "image/webp" => 500_000,
        _ => return None,
    })
}

struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    data: Bytes,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| &haystack[i..i + needle.len()] == needle)
}

fn header_param(line: &str, key: &str) -> Option<String> {
    let pattern = format!("{key}=\"");
    let start = line.find(&pattern)? + pattern.len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_owned())
}

/// A small `multipart/form-data` parser (RFC 7578), enough for the upload endpoint.
fn parse_multipart(content_type: &str, body: &Bytes) -> Option<Vec<Part>> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut parts = Vec::new();
    let mut pos = find(body, d, 0)? + d.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Some(parts);
        }
        pos += 2; // CRLF after the delimiter
        let head_end = find(body, b"\r\n\r\n", pos)?;
        let head = std::str::from_utf8(&body[pos..head_end]).ok()?;
        let next = find(body, d, head_end + 4)?;
        let data = body.slice(head_end + 4..next.saturating_sub(2));
        let mut name = None;
        let mut file_name = None;
        let mut part_type = None;
        for line in head.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                name = header_param(line, "name");
                file_name = header_param(line, "filename");
            } else if lower.starts_with("content-type:") {
                part_type = line.split_once(':').map(|(_, v)| v.trim().to_owned());
            }
        }
        parts.push(Part {
            name: name?,
            file_name,
            content_type: part_type,
            data,
        });
        pos = next + d.len();
    }
}

fn check_auth(shared: &Shared, headers: &HeaderMap, version: &str) -> Option<Response> {
    if !bearer_matches(headers, &shared.access_token) {
        return Some(unauthorized());
    }
    if !is_version(version) {
        return Some(bad_request(format!("Unknown path components: /{version}")));
    }
    None
}

pub(crate) async fn post_media(
    State(shared): State<Arc<Shared>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = shared.clone();
    with_chaos(&shared, move || {
        upload(&s, &version, &phone_number_id, &headers, &body)
    })
    .await
}

fn upload(
    shared: &Shared,
    version: &str,
    phone_number_id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if let Some(r) = check_auth(shared, headers, version) {
        return r;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(parts) = parse_multipart(content_type, body) else {
        return bad_request("Invalid parameter: the request must be multipart/form-data");
    };
    let field = |n: &str| {
        parts
            .iter()
            .find(|p| p.name == n)
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    };
    if field("messaging_product").as_deref() != Some("whatsapp") {
        return bad_request("The parameter messaging_product is required.");
    }
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return bad_request("The parameter file is required.");
    };
    let mime = field("type")
        .or_else(|| file.content_type.clone())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(max) = max_bytes_for(&mime) else {
        return graph_response(
            StatusCode::BAD_REQUEST,
            graph_error_body(
                131_053,
                "Media upload error",
                "Unsupported file type or MIME type mismatch",
            ),
        );
    };
    if file.data.len() as u64 > max {
        return graph_response(
            StatusCode::BAD_REQUEST,
            graph_error_body(131_053, "Media upload error", "The file is too large"),
        );
    }
    let id = format!(
        "{}",
        1_000_000_000_000_000u64 + rand_u64() % 1_000_000_000_000_000
    );
    let media = StoredMedia {
        id: id.clone(),
        phone_number_id: Some(phone_number_id.to_owned()),
        mime_type: mime,
        bytes: file.data.clone(),
        file_name: file.file_name.clone(),
    };
    lock(&shared.state).media.insert(id.clone(), media);
    graph_response(StatusCode::OK, json!({ "id": id }))
}

pub(crate) fn rand_u64() -> u64 {
    let b = crate::util::random_bytes(8);
    let mut a = [0u8; 8];
    a.copy_from_slice(&b);
    u64::from_le_bytes(a)
}

#[derive(serde::Deserialize)]
pub(crate) struct ObjectQuery {
    phone_number_id: Option<String>,
}

fn lookup<'a>(
    media: &'a HashMap<String, StoredMedia>,
    id: &str,
    phone_number_id: Option<&str>,
) -> Option<&'a StoredMedia> {
    media.get(id).filter(|m| match phone_number_id {
        Some(p) => m.phone_number_id.as_deref().is_none_or(|own| own == p),
        None => true,
    })
}

fn unknown_object(id: &str) -> Response {
    bad_request(format!(
        "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
    ))
}

pub(crate) async fn get_media(
    State(shared): State<Arc<Shared>>,
    Path((version, media_id)): Path<(String, String)>,
    Query(q): Query<ObjectQuery>,
    headers: HeaderMap,
) -> Response {
    let s = shared.clone();
    with_chaos(&shared, move || {
        if let Some(r) = check_auth(&s, &headers, &version) {
            return r;
        }
        let mut state = lock(&s.state);
        let Some(m) = lookup(&state.media, &media_id, q.phone_number_id.as_deref()).cloned() else {
            return unknown_object(&media_id);
        };
        let token = crate::util::token(24);
        state.download_tokens.insert(
            token.clone(),
            (m.id.clone(), Instant::now() + s.media_url_ttl),
        );
        drop(state);
        let url = format!(
            "{}/whatsapp_business/attachments/?mid={}&token={token}",
            lock(&s.state).base_url,
            m.id
        );
        graph_response(
            StatusCode::OK,
            json!({
                "messaging_product": "whatsapp",
                "url": url,
                "mime_type": m.mime_type,
                "sha256": m.sha256_hex(),
                "file_size": m.bytes.len(),
                "id": m.id,
            }),
        )
    })
    .await
}

pub(crate) async fn delete_media(
    State(shared): State<Arc<Shared>>,
    Path((version, media_id)): Path<(String, String)>,
    Query(q): Query<ObjectQuery>,
    headers: HeaderMap,
) -> Response {
    let s = shared.clone();
    with_chaos(&shared, move || {
        if let Some(r) = check_auth(&s, &headers, &version) {
            return r;
        }
        let mut state = lock(&s.state);
        if lookup(&state.media, &media_id, q.phone_number_id.as_deref()).is_none() {
            return unknown_object(&media_id);
        }
        state.media.remove(&media_id);
        graph_response(StatusCode::OK, json!({ "success": true }))
    })
    .await
}

#[derive(serde::Deserialize)]
pub(crate) struct DownloadQuery {
    token: Option<String>,
}

/// `GET /whatsapp_business/attachments/?mid=…&token=…`: the bytes, only with the bearer token and
/// before the URL expired (404 after, like Meta).
pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Response {
    let s = shared.clone();
    with_chaos(&shared, move || {
        if !bearer_matches(&headers, &s.access_token) {
            return unauthorized();
        }
        let mut state = lock(&s.state);
        state.downloads += 1;
        let entry = q
            .token
            .as_deref()
            .and_then(|t| state.download_tokens.get(t).cloned());
        let Some((id, expires)) = entry else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if Instant::now() >= expires {
            return StatusCode::NOT_FOUND.into_response();
        }
        let Some(m) = state.media.get(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let mut r = Response::new(Body::from(m.bytes.clone()));
        if let Ok(v) = HeaderValue::from_str(&m.mime_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Templates

#[derive(serde::Deserialize)]
pub(crate) struct TemplateQuery {
    name: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

/// `GET /{version}/{waba_id}/message_templates?name=&limit=&after=`: the added templates, in
/// pages of `limit` (default 25) with `paging.cursors.after` and `paging.next` when more follow.
pub(crate) async fn list_templates(
    State(shared): State<Arc<Shared>>,
    Path((version, _waba_id)): Path<(String, String)>,
    Query(q): Query<TemplateQuery>,
    headers: HeaderMap,
) -> Response {
    let s = shared.clone();
    with_chaos(&shared, move || {
        if let Some(r) = check_auth(&s, &headers, &version) {
            return r;
        }
        let state = lock(&s.state);
        let matching: Vec<&Value> = state
            .templates
            .iter()
            .filter(|t| {
                q.name
                    .as_deref()
                    .is_none_or(|n| t.get("name").and_then(Value::as_str) == Some(n))
            })
            .collect();
        let start = q
            .after
            .as_deref()
            .and_then(|a| a.strip_prefix("IDX"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let limit = q.limit.unwrap_or(25).clamp(1, 1000);
        let page: Vec<&Value> = matching.iter().skip(start).take(limit).copied().collect();
        let end = start + page.len();
        let mut paging =
            json!({"cursors": {"before": format!("IDX{start}"), "after": format!("IDX{end}")}});
        if end < matching.len() {
            paging["next"] = Value::String(format!(
                "{}/{version}/message_templates?after=IDX{end}",
                state.base_url
            ));
        }
        graph_response(StatusCode::OK, json!({ "data": page, "paging": paging }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart() {
        let body = Bytes::from_static(b"--XyZ\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\nline2\r\n--XyZ--\r\n");
        let parts = parse_multipart("multipart/form-data; boundary=XyZ", &body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(&parts[0].data[..], b"whatsapp");
        assert_eq!(parts[1].file_name.as_deref(), Some("a.pdf"));
        assert_eq!(parts[1].content_type.as_deref(), Some("application/pdf"));
        assert_eq!(&parts[1].data[..], b"%PDF\r\nline2");
    }

    #[test]
    fn gcra_pair_limit() {
        let mut tats = HashMap::new();
        let key = ("p".to_owned(), "u".to_owned());
        for _ in 0..3 {
            assert!(pair_allows(
                &mut tats,
                key.clone(),
                Duration::from_secs(6),
                3
            ));
        }
        assert!(!pair_allows(
            &mut tats,
            key.clone(),
            Duration::from_secs(6),
            3
        ));
        assert!(pair_allows(
            &mut tats,
            ("p".into(), "other".into()),
            Duration::from_secs(6),
            3
        ));
    }
}
