//! HTTP plumbing shared by every endpoint: query encoding, URL building, `Retry-After` parsing
//! and turning an error response into an [`Error`].

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::{Map, Value};
use url::Url;

use crate::Error;

/// Longest part of a non-JSON error body kept in [`Error::UnexpectedBody`].
const SNIPPET_CHARS: usize = 256;

/// Percent-encodes a query component: everything but RFC 3986 unreserved characters becomes
/// `%XX`, so a space is `%20` (not `+`, which the vendor's JavaScript samples never send) and the
/// `%` of a `like` pattern is `%25`, as the CMS documentation asks.
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

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Sets the query of `url` to `pairs`, encoded with [`encode_component`]. No pairs: no query.
pub(crate) fn set_query(url: &mut Url, pairs: &[(&str, String)]) {
    if pairs.is_empty() {
        url.set_query(None);
        return;
    }
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    url.set_query(Some(&query));
}

/// `base` with `segments` appended as path segments (each percent-encoded as one segment, so an
/// id containing `/` cannot change the path). A trailing `/` on `base` is ignored.
pub(crate) fn join_segments(base: &Url, segments: &[&str]) -> Result<Url, Error> {
    let mut url = base.clone();
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| Error::Config(format!("base URL `{base}` cannot have a path")))?;
        path.pop_if_empty();
        for s in segments {
            path.push(s);
        }
    }
    Ok(url)
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

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).filter(|v| !v.is_null()).map(text_of)
}

/// Turns an error response into the matching [`Error`] variant (see [`Error`] for the shapes).
pub(crate) fn error_from_body(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let retry_after = retry_after(headers);
    if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) {
        if let Some(Value::Object(fault)) = obj.get("fault") {
            let errorcode = fault
                .get("detail")
                .and_then(Value::as_object)
                .and_then(|d| field(d, "errorcode"));
            return Error::Gateway {
                status,
                faultstring: field(fault, "faultstring").unwrap_or_default(),
                errorcode,
                retry_after,
            };
        }
        let exception = field(&obj, "exception").or_else(|| field(&obj, "error"));
        let message = field(&obj, "message").or_else(|| field(&obj, "error_description"));
        let details = obj.get("details").filter(|v| !v.is_null()).cloned();
        let details = if exception.is_none() && message.is_none() && details.is_none() {
            Some(Value::Object(obj))
        } else {
            details
        };
        return Error::Service {
            status,
            exception,
            message,
            details,
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn encodes_components_strictly() {
        assert_eq!(
            encode_component("name eq 'O''Brien'"),
            "name%20eq%20%27O%27%27Brien%27"
        );
        assert_eq!(encode_component("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode_component("%foo%"), "%25foo%25");
        assert_eq!(encode_component("é&="), "%C3%A9%26%3D");
    }

    #[test]
    fn joins_segments_with_encoding() {
        let base = Url::parse("https://h.example/cms/").unwrap();
        let url = join_segments(&base, &["instances", "object", "a/b c"]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://h.example/cms/instances/object/a%2Fb%20c"
        );
        let base = Url::parse("https://h.example/cms").unwrap();
        let url = join_segments(&base, &["instances"]).unwrap();
        assert_eq!(url.as_str(), "https://h.example/cms/instances");
    }

    #[test]
    fn parses_retry_after() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn classifies_body_shapes() {
        let h = HeaderMap::new();
        let gw = error_from_body(
            401,
            &h,
            br#"{"fault":{"faultstring":"Invalid ApiKey","detail":{"errorcode":"oauth.v2.InvalidApiKey"}}}"#,
        );
        assert!(matches!(
            gw,
            Error::Gateway { status: 401, ref faultstring, errorcode: Some(ref c), .. }
                if faultstring == "Invalid ApiKey" && c == "oauth.v2.InvalidApiKey"
        ));
        let oauth = error_from_body(
            400,
            &h,
            br#"{"error":"invalid_client","error_description":"bad secret"}"#,
        );
        assert!(matches!(
            oauth,
            Error::Service { exception: Some(ref e), message: Some(ref m), .. }
                if e == "invalid_client" && m == "bad secret"
        ));
        let unknown = error_from_body(409, &h, br#"{"code":17}"#);
        assert!(matches!(
            unknown,
            Error::Service { exception: None, message: None, details: Some(ref d), .. }
                if d["code"] == 17
        ));
        let html = error_from_body(502, &h, b"<html>Bad Gateway</html>");
        assert!(matches!(
            html,
            Error::UnexpectedBody { status: 502, ref snippet, .. } if snippet == "<html>Bad Gateway</html>"
        ));
        let long = "x".repeat(1000);
        let cut = error_from_body(500, &h, long.as_bytes());
        assert!(matches!(cut, Error::UnexpectedBody { ref snippet, .. } if snippet.len() == 256));
        let array = error_from_body(500, &h, b"[1,2]");
        assert!(matches!(array, Error::UnexpectedBody { .. }));
    }
}
