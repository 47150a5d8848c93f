//! The Graph emulator's template management (create, edit, delete) and the Thread control API
//! (Meta Business Agent conversation routing). Additive: nothing here changes what the message,
//! media and template-listing routes answer.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{Shared, bad_request, bearer_matches, ext, graph_response, is_version, unauthorized};
use crate::util::lock;

/// The usage header the emulator puts on template-management answers: Meta sends
/// `X-Business-Use-Case-Usage` on Business-Use-Case-limited calls (a JSON object keyed by the
/// business object id; counts are percentages, `estimated_time_to_regain_access` minutes).
fn with_usage(mut response: Response, waba_id: &str, calls: usize) -> Response {
    let percent = calls.min(100);
    let usage = json!({ waba_id: [{
        "type": "whatsapp_business_management",
        "call_count": percent, "total_cputime": 1, "total_time": 1,
        "estimated_time_to_regain_access": 0,
    }]});
    if let Ok(v) = HeaderValue::from_str(&usage.to_string()) {
        response
            .headers_mut()
            .insert("x-business-use-case-usage", v);
    }
    response
}

fn check(shared: &Shared, headers: &HeaderMap, version: &str) -> Option<Response> {
    if !bearer_matches(headers, &shared.access_token) {
        return Some(unauthorized());
    }
    if !is_version(version) {
        return Some(bad_request(format!("Unknown path components: /{version}")));
    }
    None
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `POST /{version}/{waba_id}/message_templates` `{"name","language","category","components"}`
/// → `{"id","status":"PENDING","category"}`; the template is listed from then on. A name already
/// used in that language → 400 code 100 (Meta answers a subcode about the duplicate).
pub(crate) async fn create_template(
    State(shared): State<Arc<Shared>>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = shared.clone();
    ext::with_chaos(&shared, move || {
        if let Some(r) = check(&s, &headers, &version) {
            return r;
        }
        let Ok(request) = serde_json::from_slice::<Value>(&body) else {
            return bad_request("Invalid parameter: the request body must be a JSON object");
        };
        let name = request
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let language = request
            .get("language")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let category = request
            .get("category")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let components = request.get("components").and_then(Value::as_array);
        if !valid_name(name) {
            return bad_request("Invalid parameter: name");
        }
        if language.is_empty() {
            return bad_request("The parameter language is required.");
        }
        if !matches!(category, "AUTHENTICATION" | "MARKETING" | "UTILITY") {
            return bad_request("Invalid parameter: category");
        }
        if components.is_none_or(Vec::is_empty) {
            return bad_request("The parameter components is required.");
        }
        let mut state = lock(&s.state);
        let duplicate = state.templates.iter().any(|t| {
            t.get("name").and_then(Value::as_str) == Some(name)
                && t.get("language").and_then(Value::as_str) == Some(language)
        });
        if duplicate {
            return bad_request(format!(
                "Invalid parameter: a template named {name} already exists in {language}"
            ));
        }
        let id = format!(
            "{}",
            600_000_000_000_000u64 + state.templates.len() as u64 + state.template_calls as u64
        );
        state.templates.push(json!({
            "id": id, "name": name, "language": language, "status": "PENDING",
            "category": category, "components": components,
        }));
        state.template_calls += 1;
        let calls = state.template_calls;
        drop(state);
        with_usage(
            graph_response(
                StatusCode::OK,
                json!({"id": id, "status": "PENDING", "category": category}),
            ),
            &waba_id,
            calls,
        )
    })
    .await
}

#[derive(serde::Deserialize)]
pub(crate) struct DeleteQuery {
    name: Option<String>,
    hsm_id: Option<String>,
}

/// `DELETE /{version}/{waba_id}/message_templates?name=[&hsm_id=]` → `{"success":true}`; every
/// language of the name, or only the template `hsm_id`. No such template → 400 code 100.
pub(crate) async fn delete_template(
    State(shared): State<Arc<Shared>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(q): Query<DeleteQuery>,
    headers: HeaderMap,
) -> Response {
    let s = shared.clone();
    ext::with_chaos(&shared, move || {
        if let Some(r) = check(&s, &headers, &version) {
            return r;
        }
        let Some(name) = q.name.filter(|n| !n.is_empty()) else {
            return bad_request("The parameter name is required.");
        };
        let mut state = lock(&s.state);
        let before = state.templates.len();
        state.templates.retain(|t| {
            let same_name = t.get("name").and_then(Value::as_str) == Some(name.as_str());
            let same_id = q
                .hsm_id
                .as_deref()
                .is_none_or(|id| t.get("id").and_then(Value::as_str) == Some(id));
            !(same_name && same_id)
        });
        if state.templates.len() == before {
            return bad_request(format!("Invalid parameter: no template named {name}"));
        }
        state.template_calls += 1;
        let calls = state.template_calls;
        drop(state);
        with_usage(
            graph_response(StatusCode::OK, json!({ "success": true })),
            &waba_id,
            calls,
        )
    })
    .await
}

/// `POST /{version}/{template_id}` `{"components"?,"category"?}` → `{"success":true}`; the
/// template goes back to `PENDING` review. An id that is no template → Graph's unknown-object
/// error.
pub(crate) async fn edit_template(
    State(shared): State<Arc<Shared>>,
    Path((version, template_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = shared.clone();
    ext::with_chaos(&shared, move || {
        if let Some(r) = check(&s, &headers, &version) {
            return r;
        }
        let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
            return bad_request("Invalid parameter: the request body must be a JSON object");
        };
        let mut state = lock(&s.state);
        let Some(template) = state
            .templates
            .iter_mut()
            .find(|t| t.get("id").and_then(Value::as_str) == Some(template_id.as_str()))
        else {
            drop(state);
            return bad_request(format!(
                "Unsupported post request. Object with ID '{template_id}' does not exist"
            ));
        };
        let mut changed = false;
        for key in ["components", "category"] {
            if let Some(v) = request.get(key) {
                template[key] = v.clone();
                changed = true;
            }
        }
        if !changed {
            return bad_request("The parameter components or category is required.");
        }
        template["status"] = Value::String("PENDING".into());
        graph_response(StatusCode::OK, json!({ "success": true }))
    })
    .await
}

/// `POST /business/whatsapp/phone_numbers/{phone_number_id}/thread_control` with
/// `{"messaging_product":"whatsapp","action":"take"|"pass"|"release","to"|"recipient",...}` →
/// `{"messaging_product":"whatsapp"}`; the request body is recorded
/// ([`GraphEmulator::thread_control_requests`](super::GraphEmulator::thread_control_requests)).
pub(crate) async fn thread_control(
    State(shared): State<Arc<Shared>>,
    Path(phone_number_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = shared.clone();
    ext::with_chaos(&shared, move || {
        if !bearer_matches(&headers, &s.access_token) {
            return unauthorized();
        }
        let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(&body) else {
            return bad_request("Invalid parameter: the request body must be a JSON object");
        };
        if request.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
            return bad_request("The parameter messaging_product is required.");
        }
        let action = request
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !matches!(action, "take" | "pass" | "release") {
            return bad_request("Invalid parameter: action");
        }
        if request.get("to").is_none() && request.get("recipient").is_none() {
            return bad_request("The parameter to or recipient is required.");
        }
        request.insert("phone_number_id".into(), Value::String(phone_number_id));
        lock(&s.state).thread_control.push(Value::Object(request));
        (
            StatusCode::OK,
            axum::Json(json!({ "messaging_product": "whatsapp" })),
        )
            .into_response()
    })
    .await
}
