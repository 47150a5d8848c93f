//! OData `$batch` in the JSON format (`shared/api/creatio.md` §2.3).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::client::{Repeat, Req};
use crate::http::parse_error_object;
use crate::odata::check_set;
use crate::{Client, Error};

/// The most operations Creatio accepts in one `$batch`.
pub const MAX_BATCH_OPERATIONS: usize = 100;

/// The content type of a `$batch` and of each of its operations, as in Creatio Academy's OData 4
/// batch examples, with `IEEE754Compatible=true` so Int64 and decimal values travel as strings,
/// as every other call of the client sends them.
pub const BATCH_CONTENT_TYPE: &str = "application/json; odata=verbose; IEEE754Compatible=true";

/// One operation of a [`Batch`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BatchOp {
    /// The operation id (`"1"`, `"2"`, … unless set), echoed in its result.
    pub id: String,
    /// `GET`, `POST`, `PATCH` or `DELETE`.
    pub method: Method,
    /// The URL relative to the OData root, e.g. `Case` or `Case(<guid>)`.
    pub url: String,
    /// The JSON body (creates and updates).
    pub body: Option<Value>,
}

/// A `$batch` request: up to [`MAX_BATCH_OPERATIONS`] operations sent in one
/// `POST {odata}/$batch` with `Content-Type: application/json; odata=verbose;
/// IEEE754Compatible=true` ([`BATCH_CONTENT_TYPE`]):
/// `{"requests":[{"method","url","id","body"?,"headers"}…]}`.
///
/// By default Creatio stops at the first failing operation; [`Batch::continue_on_error`] sends
/// `Prefer: continue-on-error` so every operation is attempted.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Batch {
    /// The operations, in order.
    pub ops: Vec<BatchOp>,
    /// Send `Prefer: continue-on-error`.
    pub continue_on_error: bool,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets whether later operations still run after one fails.
    #[must_use]
    pub fn continue_on_error(mut self, yes: bool) -> Self {
        self.continue_on_error = yes;
        self
    }

    fn push(&mut self, method: Method, url: String, body: Option<Value>) -> &str {
        let id = (self.ops.len() + 1).to_string();
        self.ops.push(BatchOp {
            id,
            method,
            url,
            body,
        });
        self.ops.last().map_or("", |op| op.id.as_str())
    }

    /// Adds `POST {set}` (a create); returns the operation id.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid set name or a body that does not serialize.
    pub fn create<B: Serialize + ?Sized>(&mut self, set: &str, body: &B) -> Result<String, Error> {
        check_set(set)?;
        let body = to_value(body)?;
        Ok(self
            .push(Method::POST, set.to_owned(), Some(body))
            .to_owned())
    }

    /// Adds `PATCH {set}({id})`; returns the operation id.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid set name or a body that does not serialize.
    pub fn update<B: Serialize + ?Sized>(
        &mut self,
        set: &str,
        id: Uuid,
        body: &B,
    ) -> Result<String, Error> {
        check_set(set)?;
        let body = to_value(body)?;
        Ok(self
            .push(
                Method::PATCH,
                format!("{set}({})", id.hyphenated()),
                Some(body),
            )
            .to_owned())
    }

    /// Adds `DELETE {set}({id})`; returns the operation id.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid set name.
    pub fn delete(&mut self, set: &str, id: Uuid) -> Result<String, Error> {
        check_set(set)?;
        Ok(self
            .push(Method::DELETE, format!("{set}({})", id.hyphenated()), None)
            .to_owned())
    }

    /// Adds `GET {set}({id})`; returns the operation id.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid set name.
    pub fn get(&mut self, set: &str, id: Uuid) -> Result<String, Error> {
        check_set(set)?;
        Ok(self
            .push(Method::GET, format!("{set}({})", id.hyphenated()), None)
            .to_owned())
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    fn to_json(&self) -> Value {
        let requests: Vec<Value> = self
            .ops
            .iter()
            .map(|op| {
                let mut r = Map::new();
                r.insert("method".into(), Value::from(op.method.as_str()));
                r.insert("url".into(), Value::from(op.url.clone()));
                r.insert("id".into(), Value::from(op.id.clone()));
                if let Some(b) = &op.body {
                    r.insert("body".into(), b.clone());
                }
                r.insert(
                    "headers".into(),
                    json!({ "Content-Type": BATCH_CONTENT_TYPE, "Accept": BATCH_CONTENT_TYPE }),
                );
                Value::Object(r)
            })
            .collect();
        json!({ "requests": requests })
    }
}

fn to_value<B: Serialize + ?Sized>(body: &B) -> Result<Value, Error> {
    serde_json::to_value(body)
        .map_err(|e| Error::Config(format!("the batch body does not serialize: {e}")))
}

/// How one operation of a batch ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum BatchOutcome {
    /// A 2xx status with the operation's body (`None` for 204).
    Ok {
        /// The operation's HTTP status.
        status: u16,
        /// The operation's JSON body.
        body: Option<Value>,
    },
    /// A failure status; the error is built from the operation's body like a plain request's.
    Failed(Error),
    /// The operation has no result: Creatio stopped at an earlier failure (no
    /// `continue-on-error`).
    NotExecuted,
}

/// The result of one operation, in request order.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchResult {
    /// The operation id.
    pub id: String,
    /// How it ended.
    pub outcome: BatchOutcome,
}

impl BatchResult {
    /// Whether the operation succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, BatchOutcome::Ok { .. })
    }
}

#[derive(Deserialize)]
struct BatchResponse {
    #[serde(default)]
    responses: Vec<OpResponse>,
}

#[derive(Deserialize)]
struct OpResponse {
    #[serde(default)]
    id: Option<Value>,
    status: u16,
    #[serde(default)]
    body: Option<Value>,
}

impl Client {
    /// Sends a `$batch` and returns one [`BatchResult`] per operation, in request order.
    ///
    /// Sent once (a batch usually contains creates); a batch-level HTTP failure is an `Err`,
    /// per-operation failures are [`BatchOutcome::Failed`]. An empty batch sends nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for more than [`MAX_BATCH_OPERATIONS`] operations; HTTP errors of the
    /// batch request; [`Error::Decode`] when the answer is not `{"responses":[…]}`.
    pub async fn batch(&self, batch: &Batch) -> Result<Vec<BatchResult>, Error> {
        if batch.ops.len() > MAX_BATCH_OPERATIONS {
            return Err(Error::Config(format!(
                "a $batch holds at most {MAX_BATCH_OPERATIONS} operations, got {}",
                batch.ops.len()
            )));
        }
        if batch.ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut url = self.inner.odata_base.clone();
        let path = format!("{}/$batch", url.path().trim_end_matches('/'));
        url.set_path(&path);
        let body = serde_json::to_vec(&batch.to_json())
            .map_err(|e| Error::Config(format!("the batch does not serialize: {e}")))?;
        let mut req = Req::new(Method::POST, url);
        req.body = Some(body.into());
        req.content_type = Some(BATCH_CONTENT_TYPE.to_owned());
        if batch.continue_on_error {
            req.headers.push(("Prefer", "continue-on-error".to_owned()));
        }
        let parsed: BatchResponse = self.call_json(req, Repeat::Once, "batch").await?;
        let mut by_id: std::collections::HashMap<String, OpResponse> = parsed
            .responses
            .into_iter()
            .filter_map(|r| {
                let id = match &r.id {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return None,
                };
                Some((id, r))
            })
            .collect();
        Ok(batch
            .ops
            .iter()
            .map(|op| {
                let outcome = match by_id.remove(&op.id) {
                    None => BatchOutcome::NotExecuted,
                    Some(r) if (200..300).contains(&r.status) => BatchOutcome::Ok {
                        status: r.status,
                        body: r.body.filter(|b| !b.is_null()),
                    },
                    Some(r) => BatchOutcome::Failed(op_error(r.status, r.body)),
                };
                BatchResult {
                    id: op.id.clone(),
                    outcome,
                }
            })
            .collect())
    }
}

fn op_error(status: u16, body: Option<Value>) -> Error {
    if let Some(Value::Object(obj)) = &body
        && let Some((code, message, inner_type)) = parse_error_object(obj)
    {
        return Error::OData {
            status,
            code,
            message,
            inner_type,
            retry_after: None,
        };
    }
    Error::UnexpectedBody {
        status,
        snippet: body
            .map(|b| b.to_string().chars().take(256).collect())
            .unwrap_or_default(),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_json_shape() {
        let mut b = Batch::new();
        let id = b.create("Activity", &json!({"Title": "x"})).unwrap();
        assert_eq!(id, "1");
        b.delete("Activity", Uuid::nil()).unwrap();
        let j = b.to_json();
        assert_eq!(j["requests"][0]["method"], "POST");
        assert_eq!(j["requests"][0]["url"], "Activity");
        assert_eq!(j["requests"][0]["body"]["Title"], "x");
        assert_eq!(
            j["requests"][1]["url"],
            "Activity(00000000-0000-0000-0000-000000000000)"
        );
        assert!(j["requests"][1].get("body").is_none());
        assert!(b.create("Bad/Set", &json!({})).is_err());
    }
}
