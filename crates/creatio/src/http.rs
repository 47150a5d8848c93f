//! HTTP plumbing shared by every endpoint: the OData query string (over `chatport-http`'s
//! percent-encoding) and the OData error body.

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use crate::Error;

/// Longest part of a non-JSON error body kept in [`Error::UnexpectedBody`].
const SNIPPET_CHARS: usize = 256;

pub(crate) use chatport_http::encode_component;

/// `name=value&…` with values encoded by [`encode_component`]; names are sent as given (OData
/// system options keep their `$`).
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
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
    let retry_after = chatport_http::retry_after(headers);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_keep_their_dollar() {
        assert_eq!(
            query_string(&[
                ("$filter", "Name eq 'O''Brien'".to_owned()),
                ("$top", "5".to_owned())
            ]),
            "$filter=Name%20eq%20%27O%27%27Brien%27&$top=5"
        );
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
}
