//! How Creatio's news reach chatport: the endpoint the Creatio business process calls
//! ([`CreatioWebhook`], through the runtime's ingress: verified, stored, then acknowledged), and
//! the polling fallback ([`ReplySource`], run by a `Poller`) that catches what the business
//! process never sent. Both store [`CreatioEvent`] rows of flow `C2` under the source `creatio`
//! with the same event ids, so an activity both notified and polled is handled once.
//!
//! # The endpoint's contract (inferred; Creatio documents no outbound format)
//!
//! `POST {flows.c2.webhook_path}` (default `/creatio/events`), `Content-Type: application/json`,
//! authenticated by the shared secret in **one** of: `X-Connector-Secret: <secret>`,
//! `Authorization: Bearer <secret>`, or `Authorization: Basic base64(<any user>:<secret>)` (what
//! Creatio's web service "Basic" authentication sends). Wrong or missing → 401, nothing stored.
//!
//! | `event_type` | Other fields | Stored as (event id) |
//! |---|---|---|
//! | `new_activity` (also `activity_added`) | `activityId` (GUID), `caseId`? | `activity:{activityId}` |
//! | `new_activity` without `activityId` | `caseId` | `case:{caseId}:activities:{received ms}` (the case's new activities are looked up) |
//! | `case_closed`, `case_resolved`, `case_status_changed`, `case_modified` | `caseId`, `statusId`? | `case:{caseId}:status:{statusId}` |
//! | anything else | — | kept, delivered as skipped |
//!
//! Field names are also accepted in `snake_case` and `PascalCase` (`activity_id`, `ActivityId`).
//! Nothing else in the body is trusted: the flow reads the activity or case from Creatio. The
//! answer is 200 once the event is stored (the business process should not wait for WhatsApp).

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use chatport_core::{Checkpoint, EventId, Source, SourceStream};
use chatport_creatio::{Activity, Case, Entity, Order, Query, filter};
use chatport_runtime::NewEvent;
use chatport_runtime::ingress::{ParseFailure, VerifyError, WebhookAdapter};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{SOURCE, Shared};
use crate::Error;

/// A Creatio event for flow C2.
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
    /// The outbox event id (see the module docs).
    pub fn event_id(&self, received_at: DateTime<Utc>, body: &[u8]) -> EventId {
        match self {
            CreatioEvent::ActivityAdded { activity_id, .. } => {
                EventId::new(format!("activity:{activity_id}"))
            }
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

    /// The outbox `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            CreatioEvent::ActivityAdded { .. } => "activity.added",
            CreatioEvent::CaseActivities { .. } => "case.activities",
            CreatioEvent::CaseStatus { .. } => "case.status",
            CreatioEvent::Other { .. } => "other",
        }
    }

    fn case_id(&self) -> Option<Uuid> {
        match self {
            CreatioEvent::ActivityAdded { case_id, .. } => *case_id,
            CreatioEvent::CaseActivities { case_id } | CreatioEvent::CaseStatus { case_id, .. } => {
                Some(*case_id)
            }
            CreatioEvent::Other { .. } => None,
        }
    }

    /// The outbox row.
    ///
    /// # Errors
    /// [`Error::Payload`] if the event does not serialise.
    pub fn row(&self, event_id: EventId, occurred_at: DateTime<Utc>) -> Result<NewEvent, Error> {
        let payload = serde_json::to_vec(self).map_err(|e| Error::Payload(e.to_string()))?;
        let mut row = NewEvent::new(SOURCE, event_id, self.kind(), super::reply::FLOW, payload)
            .occurred_at(occurred_at);
        if let Some(case) = self.case_id() {
            row = row.ordering_key(format!("creatio:{case}"));
        }
        Ok(row)
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
    match event_type.as_str() {
        "new_activity" | "activity_added" => match (activity, case) {
            (Some(activity_id), case_id) => Ok(CreatioEvent::ActivityAdded {
                activity_id,
                case_id,
            }),
            (None, Some(case_id)) => Ok(CreatioEvent::CaseActivities { case_id }),
            (None, None) => Err(ParseFailure::new("new_activity needs activityId or caseId")),
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

/// The endpoint the Creatio business process calls (an ingress [`WebhookAdapter`]).
pub struct CreatioWebhook {
    secret: SecretString,
}

impl std::fmt::Debug for CreatioWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatioWebhook").finish_non_exhaustive()
    }
}

impl CreatioWebhook {
    /// An endpoint accepting `secret`.
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
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

impl WebhookAdapter for CreatioWebhook {
    fn source(&self) -> &str {
        SOURCE
    }

    fn verify(&self, headers: &http::HeaderMap, _body: &[u8]) -> Result<(), VerifyError> {
        if let Some(v) = headers
            .get("x-connector-secret")
            .and_then(|v| v.to_str().ok())
        {
            return if self.matches(v) {
                Ok(())
            } else {
                Err(VerifyError::Mismatch)
            };
        }
        let Some(auth) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
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

    fn parse(
        &self,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<NewEvent>, ParseFailure> {
        let event = parse_notification(body)?;
        let id = event.event_id(received_at, body);
        event
            .row(id, received_at)
            .map(|row| vec![row])
            .map_err(|e| ParseFailure::new(e.to_string()))
    }
}

/// The polling fallback: every round, for the conversations with an open case, reads the
/// activities created since the checkpoint (not by chatport) and the cases' statuses, and yields
/// [`CreatioEvent::ActivityAdded`] / [`CreatioEvent::CaseStatus`] events with the webhook's event
/// ids (so the outbox stores each once). The checkpoint is the latest `CreatedOn` seen; the first
/// round looks back `poll_lookback_hours`.
pub struct ReplySource {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReplySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplySource").finish_non_exhaustive()
    }
}

/// Cases per `$filter` (each adds two filter nodes; Creatio allows about 100).
const CASES_PER_QUERY: usize = 40;

impl ReplySource {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn collect(
        &self,
        since: DateTime<Utc>,
    ) -> Result<(Vec<CreatioEvent>, Option<DateTime<Utc>>), Error> {
        let s = &self.shared;
        let open = s.state.open_cases().await?;
        let mut events = Vec::new();
        let mut latest: Option<DateTime<Utc>> = None;
        let ids: Vec<Uuid> = open.iter().map(|(_, l)| l.case_id).collect();
        for chunk in ids.chunks(CASES_PER_QUERY) {
            let Some(cases) = filter::any_of("Case/Id", chunk.iter().copied()) else {
                continue;
            };
            let mut f = cases.and(filter::ge("CreatedOn", since));
            if let Some(me) = s.c2.integration_contact_id {
                f = f.and(filter::ne("CreatedBy/Id", me));
            }
            let query = Query::new()
                .filter(f)
                .select(["Id", "CaseId", "CreatedOn", "CreatedById"])
                .order_by("CreatedOn", Order::Asc);
            let mut stream = s.creatio.stream::<Activity>(Activity::SET, query, 500);
            while let Some(activity) = stream.next().await {
                let activity = activity?;
                let Some(id) = activity.id else { continue };
                if let Some(at) = activity.created_on
                    && latest.is_none_or(|l| at > l)
                {
                    latest = Some(at);
                }
                if s.state.is_own(id).await? {
                    continue;
                }
                events.push(CreatioEvent::ActivityAdded {
                    activity_id: id,
                    case_id: activity.case_id,
                });
            }
            let Some(by_id) = filter::any_of("Id", chunk.iter().copied()) else {
                continue;
            };
            let statuses = s
                .creatio
                .list::<Case>(
                    Case::SET,
                    &Query::new().filter(by_id).select(["Id", "StatusId"]),
                )
                .await?;
            for case in statuses.value {
                if let Some(case_id) = case.id
                    && s.is_closed_status(case.status_id)
                {
                    events.push(CreatioEvent::CaseStatus {
                        case_id,
                        status_id: case.status_id,
                    });
                }
            }
        }
        Ok((events, latest))
    }
}

#[async_trait]
impl Source for ReplySource {
    type Event = CreatioEvent;
    type Error = Error;

    async fn poll(
        &self,
        resume: Option<Checkpoint>,
    ) -> Result<SourceStream<'_, CreatioEvent, Error>, Error> {
        let lookback = chrono::Duration::hours(
            i64::try_from(self.shared.c2.poll_lookback_hours).unwrap_or(24),
        );
        let since = resume
            .as_ref()
            .and_then(|c| c.0.get("since"))
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|| Utc::now() - lookback);
        let (events, latest) = self.collect(since).await?;
        let now = Utc::now();
        let count = events.len();
        let checkpoint = latest.map(|l| Checkpoint::new(json!({ "since": l.to_rfc3339() })));
        let items: Vec<_> = events
            .into_iter()
            .enumerate()
            .map(move |(i, event)| {
                let id = event.event_id(now, b"");
                let mut envelope =
                    chatport_core::Envelope::new(id, SOURCE, event.kind(), event.clone());
                if let Some(case) = event.case_id() {
                    envelope = envelope.ordering_key(format!("creatio:{case}"));
                }
                let cp = if i + 1 == count {
                    checkpoint.clone()
                } else {
                    None
                };
                Ok((envelope, cp))
            })
            .collect();
        Ok(futures::stream::iter(items).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

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
    fn every_secret_form_is_checked() {
        let hook = CreatioWebhook::new(SecretString::from("s3cret"));
        let with = |name: &str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            hook.verify(&h, b"{}")
        };
        assert!(with("x-connector-secret", "s3cret").is_ok());
        assert!(with("x-connector-secret", "wrong").is_err());
        assert!(with("authorization", "Bearer s3cret").is_ok());
        assert!(with("authorization", "Bearer s3cre").is_err());
        let basic = base64::engine::general_purpose::STANDARD.encode("creatio:s3cret");
        assert!(with("authorization", &format!("Basic {basic}")).is_ok());
        let bad = base64::engine::general_purpose::STANDARD.encode("creatio:nope");
        assert!(with("authorization", &format!("Basic {bad}")).is_err());
        assert!(hook.verify(&HeaderMap::new(), b"{}").is_err());
    }
}
