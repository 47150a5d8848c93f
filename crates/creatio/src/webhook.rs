//! Creatio's news as envelopes: the endpoint a Creatio business process calls
//! ([`ProcessWebhook`], a [`WebhookAdapter`]) and the [`CreatioEvent`] it yields. A poller that
//! reads activities instead yields the same events with the same ids ([`CreatioEvent::event_id`]),
//! so an activity both notified and polled is stored once.
//!
//! # The endpoint's contract (inferred; Creatio documents no outbound format)
//!
//! `POST <the path you mount it at>` (chatport's service: `flows.c2.webhook_path`, default `/creatio/events`), `Content-Type: application/json`,
//! authenticated by the shared secret in **one** of: `X-Connector-Secret: <secret>`,
//! `Authorization: Bearer <secret>`, or `Authorization: Basic base64(<any user>:<secret>)` (what
//! Creatio's web service "Basic" authentication sends). Wrong or missing → 401, nothing stored.
//!
//! | `event_type` | Other fields | Stored as (event id) |
//! |---|---|---|
//! | `new_activity` (also `activity_added`) | `activityId` (GUID), `caseId`? | `activity:{activityId}` |
//! | `new_activity` without `activityId` | `caseId` | `case:{caseId}:activities:{received ms}` (the case's new activities are looked up) |
//! | `case_closed`, `case_resolved`, `case_status_changed`, `case_modified` | `caseId`, `statusId`? | `case:{caseId}:status:{statusId}` |
//! | `new_file` (also `file_added`, `case_file_added`) | `fileId` (GUID, the `CaseFile` record), `caseId`? | `file:{fileId}` |
//! | anything else | — | kept, delivered as skipped |
//!
//! Field names are also accepted in `snake_case` and `PascalCase` (`activity_id`, `ActivityId`).
//! Nothing else in the body is trusted: the flow reads the activity or case from Creatio. The
//! answer is 200 once the event is stored (the business process should not wait for WhatsApp).

use base64::Engine as _;
use chatport_core::webhook::{
    ParseFailure, VerifyError, WebhookAdapter, WebhookBatch, WebhookRequest,
};
use chatport_core::{Envelope, EventId};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// The envelope `source` of Creatio events (webhook and pollers share it, so an event both
/// notified and polled is stored once).
pub const SOURCE: &str = "creatio";

/// A Creatio event: what a business-process notification (or an activity poller) reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CreatioEvent {
    /// An activity was added (an agent's reply, or anything else: the flow decides).
    ActivityAdded {
        /// The activity.
        activity_id: Uuid,
        /// Its case, as the notification said (a hint; the activity is read from Creatio).
        #[serde(default)]
        case_id: Option<Uuid>,
    },
    /// Look for new activities on a case (a notification without an activity id).
    CaseActivities {
        /// The case.
        case_id: Uuid,
    },
    /// A file was attached to a case (a `CaseFile` record: an agent sending the customer a
    /// document or a picture, or anything else: the flow decides).
    FileAdded {
        /// The `CaseFile` record.
        file_id: Uuid,
        /// Its case, as the notification said (a hint; the record is read from Creatio).
        #[serde(default)]
        case_id: Option<Uuid>,
    },
    /// A case's status changed (closure).
    CaseStatus {
        /// The case.
        case_id: Uuid,
        /// The status, as the notification said (a hint; the case is read from Creatio).
        #[serde(default)]
        status_id: Option<Uuid>,
    },
    /// An event type chatport does not know.
    Other {
        /// The `event_type` given.
        event_type: String,
    },
}

impl CreatioEvent {
    /// The event id (see the module docs): stable for the same activity or status, so the
    /// outbox stores it once whichever source found it.
    pub fn event_id(&self, received_at: DateTime<Utc>, body: &[u8]) -> EventId {
        match self {
            CreatioEvent::ActivityAdded { activity_id, .. } => {
                EventId::new(format!("activity:{activity_id}"))
            }
            CreatioEvent::FileAdded { file_id, .. } => EventId::new(format!("file:{file_id}")),
            CreatioEvent::CaseActivities { case_id } => EventId::new(format!(
                "case:{case_id}:activities:{}",
                received_at.timestamp_millis()
            )),
            CreatioEvent::CaseStatus { case_id, status_id } => match status_id {
                Some(s) => EventId::new(format!("case:{case_id}:status:{s}")),
                None => EventId::new(format!(
                    "case:{case_id}:status:changed-{}",
                    received_at.timestamp_millis()
                )),
            },
            CreatioEvent::Other { .. } => EventId::from_content(body),
        }
    }

    /// The envelope `kind`: `activity.added`, `file.added`, `case.activities`, `case.status` or
    /// `other`.
    pub fn kind(&self) -> &'static str {
        match self {
            CreatioEvent::ActivityAdded { .. } => "activity.added",
            CreatioEvent::FileAdded { .. } => "file.added",
            CreatioEvent::CaseActivities { .. } => "case.activities",
            CreatioEvent::CaseStatus { .. } => "case.status",
            CreatioEvent::Other { .. } => "other",
        }
    }

    /// The case the event is about, when known.
    pub fn case_id(&self) -> Option<Uuid> {
        match self {
            CreatioEvent::ActivityAdded { case_id, .. }
            | CreatioEvent::FileAdded { case_id, .. } => *case_id,
            CreatioEvent::CaseActivities { case_id } | CreatioEvent::CaseStatus { case_id, .. } => {
                Some(*case_id)
            }
            CreatioEvent::Other { .. } => None,
        }
    }

    /// The event's envelope: `source` [`SOURCE`], ordering key `creatio:<case id>` when the case
    /// is known (one case's events in order), payload the event itself.
    pub fn envelope(self, id: EventId, at: DateTime<Utc>) -> Envelope<CreatioEvent> {
        let mut envelope = Envelope::new(id, SOURCE, self.kind(), self)
            .occurred_at(at)
            .received_at(at);
        if let Some(case) = envelope.payload.case_id() {
            envelope = envelope.ordering_key(format!("creatio:{case}"));
        }
        envelope
    }
}

fn field<'a>(body: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| body.get(*n).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn guid(body: &Value, names: &[&str]) -> Result<Option<Uuid>, ParseFailure> {
    match field(body, names) {
        None => Ok(None),
        Some(s) => Uuid::parse_str(s.trim_matches(|c| c == '{' || c == '}'))
            .map(Some)
            .map_err(|_| ParseFailure::new(format!("{} is not a GUID", names[0]))),
    }
}

/// Parses a business-process notification (see the module docs).
///
/// # Errors
/// [`ParseFailure`] for a body that is not a JSON object, a GUID field that is not a GUID, or an
/// activity/case event without the ids it needs.
pub fn parse_notification(body: &[u8]) -> Result<CreatioEvent, ParseFailure> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ParseFailure::new(e.to_string()))?;
    if !value.is_object() {
        return Err(ParseFailure::new("the body is not a JSON object"));
    }
    let event_type = field(&value, &["event_type", "eventType", "EventType"])
        .unwrap_or("")
        .to_ascii_lowercase();
    let activity = guid(&value, &["activityId", "activity_id", "ActivityId"])?;
    let case = guid(&value, &["caseId", "case_id", "CaseId"])?;
    let status = guid(&value, &["statusId", "status_id", "StatusId"])?;
    let file = guid(&value, &["fileId", "file_id", "FileId"])?;
    match event_type.as_str() {
        "new_activity" | "activity_added" => match (activity, case) {
            (Some(activity_id), case_id) => Ok(CreatioEvent::ActivityAdded {
                activity_id,
                case_id,
            }),
            (None, Some(case_id)) => Ok(CreatioEvent::CaseActivities { case_id }),
            (None, None) => Err(ParseFailure::new("new_activity needs activityId or caseId")),
        },
        "new_file" | "file_added" | "case_file_added" => match file {
            Some(file_id) => Ok(CreatioEvent::FileAdded {
                file_id,
                case_id: case,
            }),
            None => Err(ParseFailure::new("new_file needs fileId")),
        },
        "case_closed" | "case_resolved" | "case_status_changed" | "case_modified" => match case {
            Some(case_id) => Ok(CreatioEvent::CaseStatus {
                case_id,
                status_id: status,
            }),
            None => Err(ParseFailure::new("a case event needs caseId")),
        },
        other => Ok(CreatioEvent::Other {
            event_type: other.to_owned(),
        }),
    }
}

/// The endpoint a Creatio business process calls: checks the shared secret (any of the three
/// forms in the module docs, constant time) and parses the notification into one
/// [`CreatioEvent`] envelope (payload: the event as JSON).
///
/// ```
/// use chatport_core::webhook::{WebhookAdapter, WebhookRequest};
/// use chatport_creatio::webhook::ProcessWebhook;
///
/// let hook = ProcessWebhook::new("s3cret");
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-connector-secret", "s3cret".parse()?);
/// hook.verify(&WebhookRequest::new("/creatio/events", &headers), b"{}")?;
/// let body = br#"{"event_type":"case_closed","caseId":"5f0c1f6e-9b1a-4f53-9d43-3a1c2a8e7b10"}"#;
/// let batch = hook.parse(body, chrono::Utc::now())?;
/// assert_eq!(batch.events[0].kind, "case.status");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ProcessWebhook {
    secret: SecretString,
}

impl std::fmt::Debug for ProcessWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessWebhook").finish_non_exhaustive()
    }
}

impl ProcessWebhook {
    /// An endpoint accepting `secret`.
    pub fn new(secret: impl Into<SecretString>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    fn matches(&self, given: &str) -> bool {
        bool::from(
            given
                .trim()
                .as_bytes()
                .ct_eq(self.secret.expose_secret().as_bytes()),
        )
    }
}

impl WebhookAdapter for ProcessWebhook {
    fn source(&self) -> &str {
        SOURCE
    }

    fn verify(&self, request: &WebhookRequest<'_>, _body: &[u8]) -> Result<(), VerifyError> {
        if let Some(v) = request.header("x-connector-secret") {
            return if self.matches(v) {
                Ok(())
            } else {
                Err(VerifyError::Mismatch)
            };
        }
        let Some(auth) = request.header("authorization") else {
            return Err(VerifyError::Missing(
                "X-Connector-Secret or Authorization".into(),
            ));
        };
        if let Some(token) = auth.strip_prefix("Bearer ") {
            return if self.matches(token) {
                Ok(())
            } else {
                Err(VerifyError::Mismatch)
            };
        }
        if let Some(basic) = auth.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .map_err(|_| VerifyError::Malformed("Basic credentials are not base64".into()))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| VerifyError::Malformed("Basic credentials are not UTF-8".into()))?;
            let (_, password) = text
                .split_once(':')
                .ok_or_else(|| VerifyError::Malformed("Basic credentials without ':'".into()))?;
            return if self.matches(password) {
                Ok(())
            } else {
                Err(VerifyError::Mismatch)
            };
        }
        Err(VerifyError::Malformed(
            "Authorization must be Bearer or Basic".into(),
        ))
    }

    fn parse(&self, body: &[u8], received_at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure> {
        let event = parse_notification(body)?;
        let id = event.event_id(received_at, body);
        let envelope = event.envelope(id, received_at);
        let envelope = envelope
            .try_map(|event| serde_json::to_vec(&event))
            .map_err(|e| ParseFailure::new(e.to_string()))?;
        Ok(WebhookBatch::new(vec![envelope]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use serde_json::json;

    #[test]
    fn notifications_parse_into_events_with_stable_ids() {
        let a = Uuid::new_v4();
        let c = Uuid::new_v4();
        let body = json!({"event_type": "new_activity", "caseId": c.to_string(), "activityId": a.to_string(), "message": "ignored"}).to_string();
        let e = parse_notification(body.as_bytes()).unwrap();
        assert_eq!(
            e,
            CreatioEvent::ActivityAdded {
                activity_id: a,
                case_id: Some(c)
            }
        );
        assert_eq!(
            e.event_id(Utc::now(), b"").as_str(),
            format!("activity:{a}")
        );
        let body = json!({"event_type": "new_activity", "case_id": format!("{{{c}}}")}).to_string();
        assert_eq!(
            parse_notification(body.as_bytes()).unwrap(),
            CreatioEvent::CaseActivities { case_id: c }
        );
        let s = Uuid::new_v4();
        let body = json!({"event_type": "case_closed", "CaseId": c.to_string(), "statusId": s.to_string()}).to_string();
        let e = parse_notification(body.as_bytes()).unwrap();
        assert_eq!(
            e.event_id(Utc::now(), b"").as_str(),
            format!("case:{c}:status:{s}")
        );
        assert!(matches!(
            parse_notification(br#"{"event_type":"something_new"}"#).unwrap(),
            CreatioEvent::Other { .. }
        ));
        assert!(
            parse_notification(br#"{"event_type":"new_activity","activityId":"nope"}"#).is_err()
        );
        assert!(parse_notification(br#"[1]"#).is_err());
        assert!(parse_notification(br#"{"event_type":"new_activity"}"#).is_err());
    }

    #[test]
    fn a_new_file_names_its_case_file_record() {
        let f = Uuid::new_v4();
        let c = Uuid::new_v4();
        for event_type in ["new_file", "file_added", "CASE_FILE_ADDED"] {
            let body =
                json!({"event_type": event_type, "fileId": f.to_string(), "CaseId": c.to_string()})
                    .to_string();
            let e = parse_notification(body.as_bytes()).unwrap();
            assert_eq!(
                e,
                CreatioEvent::FileAdded {
                    file_id: f,
                    case_id: Some(c)
                }
            );
            assert_eq!(e.event_id(Utc::now(), b"").as_str(), format!("file:{f}"));
            assert_eq!(e.kind(), "file.added");
            assert_eq!(e.case_id(), Some(c));
        }
        let e = parse_notification(
            format!(r#"{{"event_type":"new_file","file_id":"{f}"}}"#).as_bytes(),
        )
        .unwrap();
        assert_eq!(e.case_id(), None);
        assert!(
            parse_notification(
                br#"{"event_type":"new_file","caseId":"5f0c1f6e-9b1a-4f53-9d43-3a1c2a8e7b10"}"#
            )
            .is_err()
        );
        assert!(parse_notification(br#"{"event_type":"new_file","fileId":"x"}"#).is_err());
    }

    #[test]
    fn every_secret_form_is_checked() {
        let hook = ProcessWebhook::new(SecretString::from("s3cret"));
        let with = |name: &str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            hook.verify(&WebhookRequest::new("/", &h), b"{}")
        };
        assert!(with("x-connector-secret", "s3cret").is_ok());
        assert!(with("x-connector-secret", "wrong").is_err());
        assert!(with("authorization", "Bearer s3cret").is_ok());
        assert!(with("authorization", "Bearer s3cre").is_err());
        let basic = base64::engine::general_purpose::STANDARD.encode("creatio:s3cret");
        assert!(with("authorization", &format!("Basic {basic}")).is_ok());
        let bad = base64::engine::general_purpose::STANDARD.encode("creatio:nope");
        assert!(with("authorization", &format!("Basic {bad}")).is_err());
        assert!(
            hook.verify(&WebhookRequest::new("/", &HeaderMap::new()), b"{}")
                .is_err()
        );
    }
}
