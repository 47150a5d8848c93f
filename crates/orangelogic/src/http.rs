//! HTTP plumbing shared by every endpoint: percent-encoded pairs (over `chatport-http`), error
//! responses and the two response envelopes.

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use crate::Error;

/// Longest part of a non-JSON body kept in [`Error::UnexpectedBody`].
const SNIPPET_CHARS: usize = 256;

pub(crate) use chatport_http::encode_component;

/// `name=value&...` with [`encode_component`] on both sides.
pub(crate) fn encode_pairs(pairs: &[(String, String)]) -> String {
    chatport_http::encode_pairs(pairs.iter().map(|(k, v)| (k, v)))
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The value of the first of `keys` present in `obj`, compared ASCII case-insensitively
/// (OrangeDAM's parameter and field names are case-insensitive in practice).
pub(crate) fn get_ci<'a>(obj: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|key| {
        obj.iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(key) && !v.is_null())
            .map(|(_, v)| v)
    })
}

/// [`get_ci`] as text (numbers and booleans rendered).
pub(crate) fn get_ci_text(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    get_ci(obj, keys)
        .and_then(text_of)
        .filter(|s| !s.is_empty())
}

/// Depth-first search for the first object holding any of `keys` (case-insensitive); returns that
/// object. Used for answers whose exact nesting is not public.
pub(crate) fn find_object_with<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Map<String, Value>> {
    match v {
        Value::Object(obj) => {
            if get_ci(obj, keys).is_some() {
                return Some(obj);
            }
            obj.values().find_map(|child| find_object_with(child, keys))
        }
        Value::Array(items) => items.iter().find_map(|child| find_object_with(child, keys)),
        _ => None,
    }
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(SNIPPET_CHARS)
        .collect()
}

/// Turns a non-2xx response into [`Error::Http`] (JSON object body) or
/// [`Error::UnexpectedBody`].
pub(crate) fn error_from_status(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let retry_after = chatport_http::retry_after(headers);
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => {
            // Either a legacy envelope, a DataTable answer or a webapi / OAuth error body.
            let inner = obj
                .get("APIResponse")
                .and_then(Value::as_object)
                .unwrap_or(&obj);
            let code = get_ci_text(inner, &["Code", "error", "errorCode"]);
            let message = get_ci_text(
                inner,
                &["Message", "ErrorMessage", "error_description", "detail"],
            );
            Error::Http {
                status,
                code,
                message,
                retry_after,
            }
        }
        _ => Error::UnexpectedBody {
            status,
            snippet: snippet(body),
            retry_after,
        },
    }
}

/// The success envelope an OrangeDAM endpoint answers with, re-exported as
/// [`Envelope`](crate::Envelope): which of the API's three response conventions a 2xx body
/// follows, and so how a body-level failure inside an HTTP 200 is recognised
/// ([`Envelope::decode`](crate::Envelope::decode)). Follows `shared/api/opentext-orangelogic.md`
/// §2 (the legacy `APIRequestInfo`/`APIResponse` envelope, DataTable `Response`, webapi JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Family {
    /// Legacy `/API/...`: `{"APIRequestInfo":{…},"APIResponse":{"Code":"SUCCESS",…}}`.
    Legacy,
    /// `/API/DataTable/...`: `{"Response": …}` with `Record`, `RecordsAffected` or `ErrorList`.
    DataTable,
    /// `/webapi/...`: JSON as-is, success told by the HTTP status.
    WebApi,
    /// `/webapi/...` calls documented with `accept: text/plain`: JSON when the body parses,
    /// else the text as a JSON string.
    WebApiText,
}

impl Family {
    /// Decodes the 2xx answer `body` (HTTP `status`, e.g. 200) of an endpoint with this envelope
    /// as the client does: the JSON document when the call succeeded, else the error the body
    /// reports. For answers received outside the client (a proxy, a recorded exchange, a
    /// webhook relay) and for fuzzing the envelope decoder. Never panics, whatever the body.
    ///
    /// # Errors
    /// * [`Error::Api`]: a legacy `APIResponse.Code` other than `SUCCESS`, a non-empty DataTable
    ///   `ErrorList`, or a DataTable `RecordsAffected.Result.Code` other than `SUCCESS`;
    /// * [`Error::Decode`]: an empty legacy or DataTable body, or a legacy body without an
    ///   `APIResponse` object;
    /// * [`Error::UnexpectedBody`]: a body that is not JSON (except [`Envelope::WebApiText`](crate::Envelope::WebApiText),
    ///   whose text is returned as a JSON string).
    pub fn decode(self, status: u16, body: &[u8]) -> Result<Value, Error> {
        decode_success(self, status, body, "API")
    }
}

/// Decodes a 2xx body of `family`, turning a body-level failure into [`Error::Api`].
///
/// * Legacy: `APIResponse.Code` other than `SUCCESS` (case-insensitive) is an error; a missing
///   `Code` is accepted (search answers are not documented to always carry one).
/// * DataTable: a non-empty `Response.ErrorList` (or top-level `ErrorList`) is an error; so is a
///   `RecordsAffected.Result.Code` other than `SUCCESS`.
/// * WebApi: any JSON (an empty body decodes as `null`).
pub(crate) fn decode_success(
    family: Family,
    status: u16,
    body: &[u8],
    what: &'static str,
) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if matches!(family, Family::WebApi | Family::WebApiText) {
            Ok(Value::Null)
        } else {
            Err(Error::Decode {
                status,
                what,
                reason: "empty body".into(),
            })
        };
    }
    if family == Family::WebApiText {
        return Ok(serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())));
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| Error::UnexpectedBody {
        status,
        snippet: snippet(body),
        retry_after: None,
    })?;
    match family {
        Family::WebApi | Family::WebApiText => Ok(value),
        Family::Legacy => {
            let Some(response) = value.get("APIResponse").and_then(Value::as_object) else {
                return Err(Error::Decode {
                    status,
                    what,
                    reason: "no APIResponse object in the envelope".into(),
                });
            };
            if let Some(code) = get_ci_text(response, &["Code"])
                && !code.eq_ignore_ascii_case("SUCCESS")
            {
                let message = get_ci_text(response, &["Message", "ErrorMessage", "Error"]);
                return Err(Error::Api {
                    status,
                    code,
                    message,
                    body: value,
                });
            }
            Ok(value)
        }
        Family::DataTable => {
            if let Some(err) = datatable_error(status, &value) {
                return Err(err);
            }
            Ok(value)
        }
    }
}

fn datatable_error(status: u16, value: &Value) -> Option<Error> {
    let response = value.get("Response").unwrap_or(value);
    let obj = response.as_object()?;
    if let Some(list) = get_ci(obj, &["ErrorList"]) {
        let details = match list {
            Value::Object(o) => get_ci(o, &["ErrorDetails"])
                .cloned()
                .unwrap_or(list.clone()),
            other => other.clone(),
        };
        let first = match &details {
            Value::Array(items) => items.first().cloned(),
            Value::Object(o) if o.is_empty() => None,
            Value::Null => None,
            other => Some(other.clone()),
        };
        if let Some(first) = first {
            let (code, message) = match &first {
                Value::Object(o) => (
                    get_ci_text(o, &["Code", "ErrorCode"]),
                    get_ci_text(o, &["Message", "ErrorMessage", "Description"]),
                ),
                other => (None, text_of(other)),
            };
            return Some(Error::Api {
                status,
                code: code.unwrap_or_else(|| "ERROR".into()),
                message,
                body: value.clone(),
            });
        }
    }
    let code = get_ci(obj, &["RecordsAffected"])
        .and_then(Value::as_object)
        .and_then(|ra| get_ci(ra, &["Result"]))
        .and_then(Value::as_object)
        .and_then(|r| get_ci_text(r, &["Code"]))?;
    if code.eq_ignore_ascii_case("SUCCESS") {
        return None;
    }
    Some(Error::Api {
        status,
        code,
        message: None,
        body: value.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_operators_and_pipes() {
        assert_eq!(encode_component("CoreField.Title:"), "CoreField.Title%3A");
        assert_eq!(
            encode_component("CoreField.Keywords++"),
            "CoreField.Keywords%2B%2B"
        );
        assert_eq!(encode_component("a|b c"), "a%7Cb%20c");
        assert_eq!(encode_component("[x?y=1&z=2]"), "%5Bx%3Fy%3D1%26z%3D2%5D");
        assert_eq!(encode_component("é"), "%C3%A9");
        assert_eq!(
            encode_pairs(&[("a".into(), "1".into()), ("b:".into(), "x y".into())]),
            "a=1&b%3A=x%20y"
        );
    }

    #[test]
    fn legacy_envelope_code() {
        let ok = br#"{"APIRequestInfo":{},"APIResponse":{"Code":"SUCCESS","Items":[]}}"#;
        assert!(decode_success(Family::Legacy, 200, ok, "x").is_ok());
        let no_code = br#"{"APIResponse":{"Items":[]}}"#;
        assert!(decode_success(Family::Legacy, 200, no_code, "x").is_ok());
        let bad = br#"{"APIResponse":{"Code":"INVALID_QUERY","Message":"near 'x'"}}"#;
        let err = decode_success(Family::Legacy, 200, bad, "x").unwrap_err();
        assert!(
            matches!(err, Error::Api { status: 200, ref code, message: Some(ref m), .. }
            if code == "INVALID_QUERY" && m == "near 'x'")
        );
        let missing = br#"{"Items":[]}"#;
        assert!(matches!(
            decode_success(Family::Legacy, 200, missing, "x"),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            decode_success(Family::Legacy, 200, b"<xml/>", "x"),
            Err(Error::UnexpectedBody { .. })
        ));
    }

    #[test]
    fn datatable_errors() {
        let read = br#"{"Response":[{"RecordID":"1"}]}"#;
        assert!(decode_success(Family::DataTable, 200, read, "x").is_ok());
        let updated = br#"{"Response":{"RecordsAffected":{"Result":{"Code":"SUCCESS"}}}}"#;
        assert!(decode_success(Family::DataTable, 200, updated, "x").is_ok());
        let failed = br#"{"Response":{"RecordsAffected":{"Result":{"Code":"FAILED"}}}}"#;
        assert!(matches!(
            decode_success(Family::DataTable, 200, failed, "x"),
            Err(Error::Api { ref code, .. }) if code == "FAILED"
        ));
        let list = json!({"Response":{"ErrorList":{"ErrorDetails":[{"Code":"NOT_FOUND","Message":"no record"}]}}});
        let body = serde_json::to_vec(&list).unwrap();
        assert!(matches!(
            decode_success(Family::DataTable, 200, &body, "x"),
            Err(Error::Api { ref code, message: Some(ref m), .. }) if code == "NOT_FOUND" && m == "no record"
        ));
        let text = br#"{"Response":{"ErrorList":{"ErrorDetails":"Field unknown"}}}"#;
        assert!(matches!(
            decode_success(Family::DataTable, 200, text, "x"),
            Err(Error::Api { ref code, message: Some(ref m), .. }) if code == "ERROR" && m == "Field unknown"
        ));
        let empty = br#"{"Response":{"ErrorList":{"ErrorDetails":[]},"RecordID":"9"}}"#;
        assert!(decode_success(Family::DataTable, 200, empty, "x").is_ok());
    }

    #[test]
    fn status_errors() {
        let h = HeaderMap::new();
        let e = error_from_status(
            503,
            &h,
            br#"{"APIResponse":{"Code":"NotAcceptingAPICalls"}}"#,
        );
        assert!(
            matches!(e, Error::Http { status: 503, code: Some(ref c), .. } if c == "NotAcceptingAPICalls")
        );
        let e = error_from_status(502, &h, b"<html>bad gateway</html>");
        assert!(matches!(e, Error::UnexpectedBody { status: 502, .. }));
        let e = error_from_status(400, &h, br#"{"error":"invalid_client"}"#);
        assert_eq!(e.code(), Some("invalid_client"));
    }

    #[test]
    fn finds_nested_objects() {
        let v = json!({"a":[{"b":1},{"UploadItemID":"u1","x":2}]});
        let o = find_object_with(&v, &["uploadItemId"]).unwrap();
        assert_eq!(get_ci_text(o, &["uploaditemid"]).as_deref(), Some("u1"));
    }
}
