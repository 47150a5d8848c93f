//! **C1 by hand**: a handoff an operator asks for, from `chatport handoff <user>` or the
//! `POST {handoff_path}` endpoint (bearer token). Both store a `C1.manual` outbox row
//! ([`manual_handoff_event`], keyed by the request id so a repeated request is a duplicate);
//! [`ManualHandoffFlow`] finds the user's conversation and runs the same handoff as C1.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use chatport_core::{EventId, Outcome};
use chatport_runtime::{NewEvent, Outbox, StoredEvent};
use chatport_whatsapp::conversation::ConversationKey;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::Shared;
use super::handoff::Trigger;
use crate::Error;
use chatport_assistant::summary::HandoffReason;

/// The flow name of handoffs by hand (`chatport handoff`, the HTTP endpoint).
pub const FLOW_MANUAL: &str = "C1.manual";
/// The outbox `source` of manual handoff requests.
pub const MANUAL_SOURCE: &str = "chatport";

/// A manual handoff request (the payload of a `C1.manual` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManualRequest {
    /// The customer: phone number (any format) or business-scoped user id.
    pub user: String,
    /// The business number; default: the user's most recent conversation.
    #[serde(default)]
    pub phone_number_id: Option<String>,
    /// A note for the agent.
    #[serde(default)]
    pub note: Option<String>,
}

impl ManualRequest {
    /// A request to hand `user`'s conversation to a person.
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            phone_number_id: None,
            note: None,
        }
    }

    /// The business number of the conversation (default: the user's most recent one).
    #[must_use]
    pub fn phone_number_id(mut self, id: Option<String>) -> Self {
        self.phone_number_id = id;
        self
    }

    /// A note for the agent.
    #[must_use]
    pub fn note(mut self, note: Option<String>) -> Self {
        self.note = note;
        self
    }
}

/// The outbox row of a manual handoff request (what `chatport handoff` and the HTTP endpoint
/// store). `request_id` makes a repeated request a duplicate (default: a new random id).
///
/// # Errors
/// [`Error::Config`] for an empty user; [`Error::Payload`] if the request does not serialise.
pub fn manual_handoff_event(
    request: &ManualRequest,
    request_id: Option<&str>,
) -> Result<NewEvent, Error> {
    if request.user.trim().is_empty() {
        return Err(Error::Config("a handoff needs the customer (user)".into()));
    }
    let id = request_id
        .map(str::to_owned)
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let payload = serde_json::to_vec(request).map_err(|e| Error::Payload(e.to_string()))?;
    let user = ConversationKey::new("", &request.user).user;
    Ok(NewEvent::new(
        MANUAL_SOURCE,
        EventId::new(format!("handoff:{id}")),
        "handoff.requested",
        FLOW_MANUAL,
        payload,
    )
    .ordering_key(user))
}

/// C1 by hand: handles `C1.manual` rows.
pub struct ManualHandoffFlow {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ManualHandoffFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualHandoffFlow").finish_non_exhaustive()
    }
}

impl ManualHandoffFlow {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[async_trait]
impl crate::flows::EventFlow for ManualHandoffFlow {
    fn name(&self) -> &'static str {
        FLOW_MANUAL
    }

    async fn handle(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        let request: ManualRequest =
            serde_json::from_slice(&stored.payload).map_err(|e| Error::Payload(e.to_string()))?;
        let conv = match &request.phone_number_id {
            Some(pnid) if !pnid.trim().is_empty() => ConversationKey::new(pnid, &request.user),
            _ => {
                match self
                    .shared
                    .store
                    .conversations_of(&request.user)
                    .await?
                    .into_iter()
                    .next()
                {
                    Some(conv) => conv,
                    None => {
                        return Ok(Outcome::Rejected {
                        reason: "no WhatsApp conversation with this user is known; pass phone_number_id".into(),
                    });
                    }
                }
            }
        };
        let trigger = Trigger {
            event_id: stored.event_id.clone(),
            reason: HandoffReason::Manual {
                note: request.note.clone(),
            },
            profile_name: None,
        };
        self.shared.handoff_and_confirm(&conv, &trigger).await
    }
}

#[derive(Clone)]
struct EndpointState {
    token: SecretString,
    outbox: Arc<dyn Outbox>,
}

#[derive(Deserialize)]
struct EndpointBody {
    user: String,
    #[serde(default)]
    phone_number_id: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
}

/// The manual handoff endpoint: `POST {path}` with `Authorization: Bearer <handoff_token>` and
/// `{"user": "+49…", "phone_number_id"?: "…", "note"?: "…", "request_id"?: "…"}` → `202
/// {"event_id", "duplicate"}` once the request is stored (401 wrong token, 400 bad body, 503 store
/// failure). The handoff runs on the workers as a `C1.manual` row.
pub fn endpoint(path: &str, token: SecretString, outbox: Arc<dyn Outbox>) -> Router {
    Router::new()
        .route(path, post(manual))
        .with_state(Arc::new(EndpointState { token, outbox }))
}

fn bearer_ok(headers: &HeaderMap, token: &SecretString) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    bool::from(
        given
            .trim()
            .as_bytes()
            .ct_eq(token.expose_secret().as_bytes()),
    )
}

async fn manual(State(s): State<Arc<EndpointState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !bearer_ok(&headers, &s.token) {
        return (StatusCode::UNAUTHORIZED, "bearer token required\n").into_response();
    }
    let Ok(body) = serde_json::from_slice::<EndpointBody>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "expected {\"user\": \"...\", \"phone_number_id\"?, \"note\"?, \"request_id\"?}\n",
        )
            .into_response();
    };
    let request = ManualRequest {
        user: body.user,
        phone_number_id: body.phone_number_id,
        note: body.note,
    };
    let event = match manual_handoff_event(&request, body.request_id.as_deref()) {
        Ok(e) => e,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let event_id = event.event_id.as_str().to_owned();
    match s.outbox.enqueue(vec![event]).await {
        Ok(r) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "event_id": event_id, "duplicate": r.inserted == 0 })),
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, "manual handoff: store error");
            (StatusCode::SERVICE_UNAVAILABLE, "try again later\n").into_response()
        }
    }
}

/// Stores a manual handoff request in `outbox` (what `chatport handoff` does); returns the event
/// id and whether it was new (a repeated `request_id` is a duplicate).
///
/// # Errors
/// As [`manual_handoff_event`]; store errors.
pub async fn enqueue_manual(
    outbox: &dyn Outbox,
    request: &ManualRequest,
    request_id: Option<&str>,
) -> Result<(String, bool), Error> {
    let event = manual_handoff_event(request, request_id)?;
    let id = event.event_id.as_str().to_owned();
    let r = outbox.enqueue(vec![event]).await?;
    Ok((id, r.inserted > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_event_is_keyed_by_request() {
        let req = ManualRequest {
            user: "+49 151 2345".into(),
            phone_number_id: None,
            note: None,
        };
        let a = manual_handoff_event(&req, Some("r1")).unwrap();
        let b = manual_handoff_event(&req, Some("r1")).unwrap();
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(a.flow, FLOW_MANUAL);
        assert_eq!(a.ordering_key.as_deref(), Some("491512345"));
        assert!(
            manual_handoff_event(
                &ManualRequest {
                    user: " ".into(),
                    phone_number_id: None,
                    note: None
                },
                None
            )
            .is_err()
        );
    }
}
