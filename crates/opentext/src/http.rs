//! HTTP plumbing shared by every endpoint: query encoding and URL building (over
//! `chatport-http`), and turning an error response into an [`Error`].

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};
use url::Url;

use crate::Error;

/// Longest part of a non-JSON error body kept in [`Error::UnexpectedBody`].
const SNIPPET_CHARS: usize = 256;

pub(crate) use chatport_http::encode_component;

/// Sets the query of `url` to `pairs`, encoded with [`encode_component`]. No pairs: no query.
pub(crate) fn set_query(url: &mut Url, pairs: &[(&str, String)]) {
    if pairs.is_empty() {
        url.set_query(None);
        return;
    }
    let query = chatport_http::encode_pairs(pairs.iter().map(|(k, v)| (k, v)));
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
    let retry_after = chatport_http::retry_after(headers);
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

    #[test]
    fn sets_strictly_encoded_queries() {
        let mut url = Url::parse("https://h.example/cms/instances").unwrap();
        set_query(
            &mut url,
            &[
                ("filter", "name eq 'O''Brien'".to_owned()),
                ("x", "%a%".to_owned()),
            ],
        );
        assert_eq!(
            url.query(),
            Some("filter=name%20eq%20%27O%27%27Brien%27&x=%25a%25")
        );
        set_query(&mut url, &[]);
        assert_eq!(url.query(), None);
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
