//! HTTP plumbing shared by every endpoint: query encoding, `Retry-After` parsing, the OData error
//! body, and the small cookie jar of a forms session.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER, SET_COOKIE};
use serde_json::{Map, Value};

use crate::Error;

/// Longest part of a non-JSON error body kept in [`Error::UnexpectedBody`].
const SNIPPET_CHARS: usize = 256;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes a query component: everything but RFC 3986 unreserved characters becomes
/// `%XX` (a space is `%20`, a `'` is `%27`).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
    out
}

/// `name=value&…` with values encoded by [`encode_component`]; names are sent as given (OData
/// system options keep their `$`).
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Parses `Retry-After`: delay-seconds, or an HTTP date (a date in the past gives zero).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The parts of an OData (or OAuth) error object: `(code, message, inner_type)`.
pub(crate) fn parse_error_object(
    obj: &Map<String, Value>,
) -> Option<(Option<String>, Option<String>, Option<String>)> {
    match obj.get("error") {
        Some(Value::Object(err)) => {
            let inner = err.get("innererror").and_then(Value::as_object);
            let internal = inner
                .and_then(|i| i.get("internalexception"))
                .and_then(Value::as_object);
            let message = text(err.get("message"))
                .or_else(|| internal.and_then(|i| text(i.get("message"))))
                .or_else(|| inner.and_then(|i| text(i.get("message"))));
            let inner_type = inner
                .and_then(|i| text(i.get("type")))
                .or_else(|| internal.and_then(|i| text(i.get("type"))));
            Some((text(err.get("code")), message, inner_type))
        }
        // OAuth: {"error":"invalid_client","error_description":"…"}
        Some(Value::String(code)) => {
            Some((Some(code.clone()), text(obj.get("error_description")), None))
        }
        _ => None,
    }
}

/// Turns an error response into [`Error::OData`] or [`Error::UnexpectedBody`].
pub(crate) fn error_from_body(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let retry_after = retry_after(headers);
    if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body)
        && let Some((code, message, inner_type)) = parse_error_object(&obj)
    {
        return Error::OData {
            status,
            code,
            message,
            inner_type,
            retry_after,
        };
    }
    Error::UnexpectedBody {
        status,
        snippet: String::from_utf8_lossy(body)
            .chars()
            .take(SNIPPET_CHARS)
            .collect(),
        retry_after,
    }
}

/// Whether a content type is HTML (a login page served where JSON was expected).
pub(crate) fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("text/html"))
}

/// The cookies a response sets: `(name, value, removed)`, where `removed` is true for a cookie
/// the server deletes (`Max-Age=0` or an `Expires` date in the past). Attributes other than those
/// are ignored: the client talks to one site, so path and domain scoping does not matter.
pub(crate) fn set_cookies(headers: &HeaderMap) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for raw in headers.get_all(SET_COOKIE) {
        let Ok(raw) = raw.to_str() else { continue };
        let mut parts = raw.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let mut removed = false;
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            if k == "max-age" && v.parse::<i64>().is_ok_and(|n| n <= 0) {
                removed = true;
            }
            if k == "expires"
                && let Ok(when) = chrono::DateTime::parse_from_rfc2822(v)
                && when < chrono::Utc::now()
            {
                removed = true;
            }
        }
        out.push((
            name.to_owned(),
            value.trim().trim_matches('"').to_owned(),
            removed,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn encodes_components_strictly() {
        assert_eq!(
            encode_component("Name eq 'O''Brien'"),
            "Name%20eq%20%27O%27%27Brien%27"
        );
        assert_eq!(encode_component("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode_component("é&=+"), "%C3%A9%26%3D%2B");
    }

    #[test]
    fn parses_odata_and_oauth_error_bodies() {
        let h = HeaderMap::new();
        let e = error_from_body(
            500,
            &h,
            br#"{"error":{"code":"","message":"","innererror":{"message":"outer","type":"T","internalexception":{"message":"Cannot insert duplicate key","type":"SqlException"}}}}"#,
        );
        match e {
            Error::OData {
                code,
                message,
                inner_type,
                ..
            } => {
                assert_eq!(code, None);
                assert_eq!(message.as_deref(), Some("Cannot insert duplicate key"));
                assert_eq!(inner_type.as_deref(), Some("T"));
            }
            other => panic!("{other:?}"),
        }
        let o = error_from_body(
            400,
            &h,
            br#"{"error":"invalid_client","error_description":"bad"}"#,
        );
        assert!(
            matches!(o, Error::OData { code: Some(ref c), message: Some(ref m), .. }
            if c == "invalid_client" && m == "bad")
        );
        let html = error_from_body(502, &h, b"<html>Bad Gateway</html>");
        assert!(matches!(html, Error::UnexpectedBody { status: 502, .. }));
        let other = error_from_body(500, &h, br#"{"Message":"x"}"#);
        assert!(matches!(other, Error::UnexpectedBody { .. }));
    }

    #[test]
    fn reads_set_cookie_headers() {
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static(".ASPXAUTH=abc; path=/; HttpOnly"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("BPMCSRF=tok; path=/"));
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("UserName=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("Gone=x; Max-Age=0"));
        let c = set_cookies(&h);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0], (".ASPXAUTH".into(), "abc".into(), false));
        assert_eq!(c[1], ("BPMCSRF".into(), "tok".into(), false));
        assert!(c[2].2);
        assert!(c[3].2);
    }

    #[test]
    fn parses_retry_after() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }
}
