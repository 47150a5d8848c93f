//! Failure injection shared by the emulators ([`Failure`], also re-exported at the crate root).

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// A failure the next requests of an emulator answer with, set by `fail_next(n, failure)`
/// ([`crate::graph::GraphEmulator::fail_next`], [`crate::cms::CmsEmulator::fail_next`]) or queued
/// behind others by `enqueue_failures(n, failure)`.
///
/// A queued failure is consumed by the next request that reaches the emulator's API, whatever
/// its content and before any authentication or validation (except [`Failure::Delay`], which
/// processes the request normally). Requests answered with a failure have **no effect** on the
/// emulator's state: nothing is recorded or created.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Failure {
    /// Answer with this HTTP status and the vendor's generic error body for it. Graph: a Meta
    /// error (`{"error":{"message","type":"OAuthException","code",...}}`) whose code follows the
    /// status (400 → 100, 401/403 → 190, 429 → 4, 500 → 1, 503 → 2, otherwise 131000). CMS: the
    /// service error shape `{"exception","message"}`. Orange Logic: the legacy envelope
    /// `{"APIResponse":{"Code":"InjectedFailure","Message"}}`. Creatio: the OData error
    /// `{"error":{"code":"","message"}}`.
    Status(u16),
    /// Answer with this HTTP status and exactly this JSON body
    /// (see [`Failure::graph_error`], [`Failure::cms_error`]).
    Json {
        /// HTTP status code.
        status: u16,
        /// The JSON body sent as `application/json`.
        body: Value,
    },
    /// HTTP 429 with a `Retry-After: <retry_after_secs>` header and an **empty** body (what a
    /// gateway or load balancer sends, no vendor JSON).
    Http429 {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// This HTTP status with an HTML body (`text/html`), like a proxy error page: clients must
    /// cope with error bodies that are not JSON.
    NonJson(u16),
    /// Process the request normally (its effect happens **immediately**: the message is recorded,
    /// the instance created), then wait this long before answering. A client that times out
    /// meanwhile sees an ambiguous failure although the effect took place, which is exactly the
    /// case where a send must not be repeated blindly.
    Delay(Duration),
}

impl Failure {
    /// A Graph API error in Meta's documented shape
    /// (WhatsApp Cloud API, *Error codes*; see `../shared/api/whatsapp.md` §1.5):
    /// `{"error":{"message":"(#<code>) <message>","type":"OAuthException","code":<code>,
    /// "error_data":{"messaging_product":"whatsapp","details":"<message>"},"fbtrace_id":"…"}}`.
    ///
    /// Example: `Failure::graph_error(400, 130429, "Rate limit hit")` is WhatsApp throttling,
    /// which arrives with HTTP 400.
    pub fn graph_error(status: u16, code: i64, message: impl Into<String>) -> Self {
        let message = message.into();
        Failure::Json {
            status,
            body: graph_error_body(code, &message, &message),
        }
    }

    /// An OpenText CMS service error: `{"exception":"<exception>","message":"<message>"}`
    /// (the shape the official samples read; full schema not published).
    pub fn cms_error(
        status: u16,
        exception: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Failure::Json {
            status,
            body: json!({ "exception": exception.into(), "message": message.into() }),
        }
    }
}

/// The Meta Graph error body for `code`.
pub(crate) fn graph_error_body(code: i64, title: &str, details: &str) -> Value {
    json!({
        "error": {
            "message": format!("(#{code}) {title}"),
            "type": "OAuthException",
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": details },
            "fbtrace_id": crate::util::fbtrace_id(),
        }
    })
}

/// What a failure turns into once it is taken from the queue.
pub(crate) enum Injected {
    /// Answer with this response now.
    Respond(Response),
    /// Process normally, then wait before answering.
    Delay(Duration),
}

/// The vendor a failure is rendered for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Vendor {
    Graph,
    Cms,
    OrangeLogic,
    Creatio,
}

impl Failure {
    pub(crate) fn inject(self, vendor: Vendor) -> Injected {
        match self {
            Failure::Delay(delay) => Injected::Delay(delay),
            Failure::Status(status) => {
                let code = status_code(status);
                let body = match vendor {
                    Vendor::Graph => {
                        let (graph_code, title) = match status {
                            400 => (100, "Invalid parameter"),
                            401 | 403 => (190, "Invalid OAuth access token"),
                            429 => (4, "Application request limit reached"),
                            500 => (1, "An unknown error occurred"),
                            503 => (2, "Service temporarily unavailable"),
                            _ => (131000, "Something went wrong"),
                        };
                        graph_error_body(graph_code, title, title)
                    }
                    Vendor::Cms => json!({
                        "exception": "InjectedFailure",
                        "message": format!("injected failure with HTTP status {status}"),
                    }),
                    Vendor::OrangeLogic => json!({
                        "APIResponse": { "Code": "InjectedFailure", "Message": format!("injected HTTP {status}") },
                    }),
                    Vendor::Creatio => json!({
                        "error": { "code": "", "message": format!("injected failure with HTTP status {status}") },
                    }),
                };
                Injected::Respond((code, axum::Json(body)).into_response())
            }
            Failure::Json { status, body } => {
                Injected::Respond((status_code(status), axum::Json(body)).into_response())
            }
            Failure::Http429 { retry_after_secs } => {
                let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                Injected::Respond(response)
            }
            Failure::NonJson(status) => {
                let code = status_code(status);
                let html = format!(
                    "<html><head><title>{status}</title></head><body><h1>{status} {}</h1></body></html>",
                    code.canonical_reason().unwrap_or("Error")
                );
                Injected::Respond((code, axum::response::Html(html)).into_response())
            }
        }
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
