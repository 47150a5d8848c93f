//! Emulator of the WhatsApp Business Cloud API (Graph API) send endpoint.
//!
//! Follows Meta's *Send messages* and *Error codes* pages as summarised in
//! `../shared/api/whatsapp.md` §1.2–1.5:
//!
//! - `POST /{version}/{phone_number_id}/messages` (any `v<N>.<M>` version, e.g. `v25.0`) with
//!   `Authorization: Bearer <token>`;
//! - a missing or wrong token → **401** `{"error":{"message":"Invalid OAuth access token - Cannot
//!   parse access token","type":"OAuthException","code":190,"fbtrace_id":"…"}}`;
//! - an invalid payload → **400** `{"error":{"message":"(#100) …","type":"OAuthException","code":100,
//!   "error_data":{"messaging_product":"whatsapp","details":"…"},"fbtrace_id":"…"}}`;
//! - success → **200** `{"messaging_product":"whatsapp","contacts":[{"input":"<to>","wa_id":"<digits>"}],
//!   "messages":[{"id":"wamid.…"}]}`, and the message is recorded ([`GraphEmulator::sent`]);
//! - a *mark as read* body (`{"messaging_product":"whatsapp","status":"read","message_id":"…"}`)
//!   → 200 `{"success":true}`, recorded in [`GraphEmulator::marked_read`].
//!
//! Validation covers: `messaging_product == "whatsapp"`; a `to` (with at least one digit) or a
//! `recipient` (business-scoped user id); `type` (default `text`) one of `text`, `image`, `video`,
//! `audio`, `document`, `sticker`, `interactive`, `reaction`, `location`, `contacts`, `template`,
//! with its object; text `body` present and at most 4096 characters; media with `id` or `link`;
//! template `name` and `language.code`; interactive `type`; reaction `message_id`; location
//! `latitude`/`longitude`; contacts a non-empty array. The country-code rewriting of numbers
//! without `+` is not emulated: the `wa_id` answered is simply the digits of `to`.
//!
//! Opt-in behaviour (off by default, so existing flows are unaffected), set on the builder:
//!
//! - **24-hour window** ([`GraphEmulatorBuilder::enforce_window`]): a non-template message to a
//!   user without an inbound message in the last 24 h ([`GraphEmulator::record_inbound`]) → 400
//!   with code **131047** "Re-engagement message";
//! - **pair rate limit** ([`GraphEmulatorBuilder::pair_rate_limit`]): more than `burst` messages
//!   per `interval` each to one user (Meta: 1 per 6 s, bursts to 45) → 400 with code **131056**;
//! - **chaos** ([`GraphEmulatorBuilder::chaos`], [`Chaos`], see [`crate::chaos`]): a seeded share
//!   of 429 + `Retry-After` (code 4), 503 (code 2), dropped connections (cut **before** the
//!   message is recorded: no effect) and slow answers (recorded, then answered late) on every API
//!   route, including the media download URL.
//!
//! Always on:
//!
//! - **media**: `POST /{version}/{phone_number_id}/media` (multipart `messaging_product`, `type`,
//!   `file`; MIME and size checked against Meta's table → 131053), `GET /{version}/{media_id}`
//!   (`{"url","mime_type","sha256" (hex),"file_size","id"}`; the URL expires after
//!   [`GraphEmulatorBuilder::media_url_ttl`], 5 minutes by default, and needs the bearer token),
//!   `GET /whatsapp_business/attachments/?mid=…&token=…` (the bytes; 404 once expired, 401
//!   without the token), `DELETE /{version}/{media_id}`; [`GraphEmulator::add_media`] stores
//!   media as if a user had sent it;
//! - **templates**: `GET /{version}/{waba_id}/message_templates?name=&limit=&after=` over the
//!   templates added with [`GraphEmulator::add_template`], paged with cursors; `POST` on the same
//!   path creates one (`PENDING` until [`GraphEmulator::set_template_status`]), `DELETE
//!   ?name=[&hsm_id=]` deletes, `POST /{version}/{template_id}` edits; create and delete answers
//!   carry an `X-Business-Use-Case-Usage` header;
//! - **Thread control** (Meta Business Agent): `POST /business/whatsapp/phone_numbers/{id}/
//!   thread_control` with `action` `take` / `pass` / `release`, recorded
//!   ([`GraphEmulator::thread_control_requests`]);
//! - **BSUID sends**: a send to `recipient` answers `contacts[0].user_id` (no `wa_id`).
//!
//! [`shapes`] builds the webhook bodies of the newer shapes (a username-only customer, a number
//! or BSUID change, a standby period, handovers) for tests and the demo.

mod ext;
mod manage;
pub mod shapes;

pub use crate::chaos::{Chaos, ChaosCounts};
pub use ext::StoredMedia;

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{
    Error, Failure,
    chaos::ChaosEngine,
    failure::{Injected, Vendor, graph_error_body},
    server::Server,
    util::{self, lock},
};

/// Maximum length of a text message body, in characters (Meta: messages/text-messages).
pub const MAX_TEXT_BODY_CHARS: usize = 4096;

/// The access token [`GraphEmulator::start`] accepts.
pub const DEFAULT_ACCESS_TOKEN: &str = "test-token";

const MESSAGE_TYPES: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "interactive",
    "reaction",
    "location",
    "contacts",
    "template",
];

/// One message the emulator accepted (HTTP 200) on `POST /{version}/{phone_number_id}/messages`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The business phone number id from the request path.
    pub phone_number_id: String,
    /// The `to` field of the request, as sent (may contain `+`, spaces, dashes).
    pub to: Option<String>,
    /// The `recipient` field (a business-scoped user id such as `US.13491208655302741918`), if any.
    pub recipient: Option<String>,
    /// The message `type` (`text`, `template`, ...; `text` when the request omitted it).
    pub message_type: String,
    /// The full request JSON.
    pub body: Value,
    /// The message id answered to the client (`wamid.…`).
    pub wamid: String,
    /// When the emulator accepted the message.
    pub at: DateTime<Utc>,
}

impl SentMessage {
    /// The text body of a `text` message (`body.text.body`), if any.
    pub fn text_body(&self) -> Option<&str> {
        self.body.pointer("/text/body").and_then(Value::as_str)
    }

    /// The template name of a `template` message (`body.template.name`), if any.
    pub fn template_name(&self) -> Option<&str> {
        self.body.pointer("/template/name").and_then(Value::as_str)
    }
}

#[derive(Default)]
struct GraphState {
    sent: Vec<SentMessage>,
    marked_read: Vec<String>,
    requests: usize,
    failures: VecDeque<Failure>,
    inbound: HashMap<(String, String), DateTime<Utc>>,
    pair_tats: HashMap<(String, String), Instant>,
    media: HashMap<String, StoredMedia>,
    download_tokens: HashMap<String, (String, Instant)>,
    downloads: usize,
    templates: Vec<Value>,
    /// Template-management calls (create, delete), for the usage header.
    template_calls: usize,
    /// Thread control request bodies, in arrival order.
    thread_control: Vec<Value>,
    base_url: String,
}

struct Shared {
    access_token: String,
    phone_number_ids: BTreeSet<String>,
    enforce_window: bool,
    pair_limit: Option<(u32, Duration)>,
    media_url_ttl: Duration,
    chaos: ChaosEngine,
    state: Mutex<GraphState>,
}

/// Builder of a [`GraphEmulator`]; obtained from [`GraphEmulator::builder`].
#[derive(Clone)]
#[non_exhaustive]
pub struct GraphEmulatorBuilder {
    access_token: String,
    phone_number_ids: BTreeSet<String>,
    enforce_window: bool,
    pair_limit: Option<(u32, Duration)>,
    media_url_ttl: Duration,
    chaos: Option<Chaos>,
}

impl fmt::Debug for GraphEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphEmulatorBuilder")
            .field("access_token", &"<redacted>")
            .field("phone_number_ids", &self.phone_number_ids)
            .field("enforce_window", &self.enforce_window)
            .field("pair_limit", &self.pair_limit)
            .field("media_url_ttl", &self.media_url_ttl)
            .field("chaos", &self.chaos)
            .finish()
    }
}

impl Default for GraphEmulatorBuilder {
    fn default() -> Self {
        Self {
            access_token: DEFAULT_ACCESS_TOKEN.to_owned(),
            phone_number_ids: BTreeSet::new(),
            enforce_window: false,
            pair_limit: None,
            media_url_ttl: Duration::from_secs(300),
            chaos: None,
        }
    }
}

impl GraphEmulatorBuilder {
    /// The bearer token the emulator accepts (default [`DEFAULT_ACCESS_TOKEN`]).
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.access_token = token.into();
        self
    }

    /// Restricts the accepted phone number ids to those added here (by default any id is
    /// accepted). A send on another id answers 400 with code 100 "Unsupported post request",
    /// like Graph does for an unknown object id.
    pub fn phone_number_id(mut self, id: impl Into<String>) -> Self {
        self.phone_number_ids.insert(id.into());
        self
    }

    /// Refuses free-form messages outside the 24-hour customer service window with 131047 (see
    /// [`GraphEmulator::record_inbound`]). Templates always pass.
    pub fn enforce_window(mut self, enforce: bool) -> Self {
        self.enforce_window = enforce;
        self
    }

    /// Emulates the pair rate limit: at most `burst` messages at once to one user, then one per
    /// `interval` (Meta: 45 and 6 s); over it → 400 with code 131056. Reactions and read marks
    /// are not counted.
    pub fn pair_rate_limit(mut self, burst: u32, interval: Duration) -> Self {
        self.pair_limit = Some((burst.max(1), interval));
        self
    }

    /// How long a media URL from `GET /{media_id}` stays valid (Meta: 5 minutes).
    pub fn media_url_ttl(mut self, ttl: Duration) -> Self {
        self.media_url_ttl = ttl;
        self
    }

    /// Answers a seeded share of API requests with failures (see [`Chaos`]).
    pub fn chaos(mut self, chaos: Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty access token, [`Error::Bind`] if the listener cannot bind.
    pub async fn start(self) -> Result<GraphEmulator, Error> {
        if self.access_token.trim().is_empty() {
            return Err(Error::Config(
                "the Graph emulator's access token is empty".to_owned(),
            ));
        }
        let state = GraphState::default();
        let shared = Arc::new(Shared {
            access_token: self.access_token,
            phone_number_ids: self.phone_number_ids,
            enforce_window: self.enforce_window,
            pair_limit: self.pair_limit,
            media_url_ttl: self.media_url_ttl,
            chaos: ChaosEngine::new(self.chaos, Vendor::Graph),
            state: Mutex::new(state),
        });
        let router = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(post_messages))
            .route("/{version}/{phone_number_id}/media", post(ext::post_media))
            .route(
                "/{version}/{waba_id}/message_templates",
                get(ext::list_templates)
                    .post(manage::create_template)
                    .delete(manage::delete_template),
            )
            .route(
                "/{version}/{media_id}",
                get(ext::get_media)
                    .delete(ext::delete_media)
                    .post(manage::edit_template),
            )
            .route(
                "/business/whatsapp/phone_numbers/{phone_number_id}/thread_control",
                post(manage::thread_control),
            )
            .route("/whatsapp_business/attachments/", get(ext::download))
            .fallback(unknown_path)
            .with_state(shared.clone());
        let server = Server::start("graph", router).await?;
        lock(&shared.state).base_url = server.base_url();
        Ok(GraphEmulator { shared, server })
    }
}

/// A running WhatsApp Cloud API emulator on `127.0.0.1`. See the [module docs](self) for the
/// emulated behaviour. Stops serving when dropped or on [`GraphEmulator::shutdown`].
pub struct GraphEmulator {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for GraphEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphEmulator")
            .field("base_url", &self.base_url())
            .field("access_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl GraphEmulator {
    /// A builder with the defaults (token [`DEFAULT_ACCESS_TOKEN`], any phone number id).
    pub fn builder() -> GraphEmulatorBuilder {
        GraphEmulatorBuilder::default()
    }

    /// Starts an emulator with the defaults.
    ///
    /// # Errors
    /// [`Error::Bind`] if the listener cannot bind.
    pub async fn start() -> Result<GraphEmulator, Error> {
        Self::builder().start().await
    }

    /// The base URL to configure as the Graph API host: `http://127.0.0.1:<port>` (no trailing
    /// slash, no version; requests go to `{base_url}/v25.0/{phone_number_id}/messages`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The bearer token the emulator accepts.
    pub fn access_token(&self) -> &str {
        &self.shared.access_token
    }

    /// Every accepted message, oldest first.
    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.shared.state).sent.clone()
    }

    /// The accepted messages addressed to `to`: equal `to` or `recipient`, or the same digits
    /// (so `"+49 170 1234567"` and `"491701234567"` match).
    pub fn sent_to(&self, to: &str) -> Vec<SentMessage> {
        let digits = digits_of(to);
        lock(&self.shared.state)
            .sent
            .iter()
            .filter(|m| {
                m.recipient.as_deref() == Some(to)
                    || m.to
                        .as_deref()
                        .is_some_and(|t| t == to || (!digits.is_empty() && digits_of(t) == digits))
            })
            .cloned()
            .collect()
    }

    /// The message ids marked as read, oldest first.
    pub fn marked_read(&self) -> Vec<String> {
        lock(&self.shared.state).marked_read.clone()
    }

    /// How many requests reached `POST /{version}/{phone_number_id}/messages`, whatever their
    /// outcome (failures, 401, 400 and successes).
    pub fn request_count(&self) -> usize {
        lock(&self.shared.state).requests
    }

    /// The next `n` requests answer with `failure`, **replacing** any failures still queued
    /// (`fail_next(0, _)` cancels them). See [`Failure`] for what each kind sends.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut state = lock(&self.shared.state);
        state.failures.clear();
        state.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Appends `n` times `failure` behind the failures already queued, to script a sequence
    /// (e.g. one 429, then one 503, then success).
    pub fn enqueue_failures(&self, n: usize, failure: Failure) {
        lock(&self.shared.state)
            .failures
            .extend(std::iter::repeat_n(failure, n));
    }

    /// How many injected failures are still queued.
    pub fn pending_failures(&self) -> usize {
        lock(&self.shared.state).failures.len()
    }

    /// Records that `user` (a phone number / wa_id in any format, or a BSUID) wrote to
    /// `phone_number_id` just now: opens the 24-hour window the emulator enforces with
    /// [`GraphEmulatorBuilder::enforce_window`].
    pub fn record_inbound(&self, phone_number_id: &str, user: &str) {
        self.record_inbound_at(phone_number_id, user, Utc::now());
    }

    /// Records an inbound at `at` (e.g. 25 hours ago, to test a closed window).
    pub fn record_inbound_at(&self, phone_number_id: &str, user: &str, at: DateTime<Utc>) {
        lock(&self.shared.state)
            .inbound
            .insert((phone_number_id.to_owned(), ext::user_key(user)), at);
    }

    /// Stores media as if a user had sent it (webhook media); returns its id. Its SHA-256 is
    /// [`StoredMedia::sha256_hex`].
    pub fn add_media(&self, mime_type: &str, bytes: impl Into<bytes::Bytes>) -> String {
        let id = format!(
            "{}",
            2_000_000_000_000_000u64 + ext::rand_u64() % 1_000_000_000_000_000
        );
        lock(&self.shared.state).media.insert(
            id.clone(),
            StoredMedia {
                id: id.clone(),
                phone_number_id: None,
                mime_type: mime_type.to_owned(),
                bytes: bytes.into(),
                file_name: None,
            },
        );
        id
    }

    /// The media the emulator holds (uploaded or added), by id.
    pub fn media(&self, id: &str) -> Option<StoredMedia> {
        lock(&self.shared.state).media.get(id).cloned()
    }

    /// Makes every media URL handed out so far expire now (404 on download).
    pub fn expire_media_urls(&self) {
        let now = Instant::now();
        for (_, expires) in lock(&self.shared.state).download_tokens.values_mut() {
            *expires = now;
        }
    }

    /// How many download requests reached the media URL route (with the token).
    pub fn download_count(&self) -> usize {
        lock(&self.shared.state).downloads
    }

    /// Adds a template to `GET /{waba_id}/message_templates` (`status` e.g. `APPROVED`,
    /// `PAUSED`, `REJECTED`).
    pub fn add_template(&self, name: &str, language: &str, status: &str) {
        let mut state = lock(&self.shared.state);
        let id = format!("{}", 500_000_000_000_000u64 + state.templates.len() as u64);
        state.templates.push(json!({
            "id": id, "name": name, "language": language, "status": status,
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hello {{1}}"}],
        }));
    }

    /// The templates as `GET /{waba_id}/message_templates` lists them (added, created, edited;
    /// deleted ones gone).
    pub fn templates(&self) -> Vec<Value> {
        lock(&self.shared.state).templates.clone()
    }

    /// Sets the review status of every template named `name` (e.g. `APPROVED` after a create,
    /// as Meta's review would; a `message_template_status_update` webhook would announce it).
    pub fn set_template_status(&self, name: &str, status: &str) {
        for t in &mut lock(&self.shared.state).templates {
            if t.get("name").and_then(Value::as_str) == Some(name) {
                t["status"] = Value::String(status.to_owned());
            }
        }
    }

    /// The base URL of the emulated Thread control API (for
    /// `ClientBuilder::thread_control_base_url`): `{base_url}/business/whatsapp`.
    pub fn thread_control_base_url(&self) -> String {
        format!("{}/business/whatsapp", self.base_url())
    }

    /// The Thread control request bodies received (each with the path's `phone_number_id`).
    pub fn thread_control_requests(&self) -> Vec<Value> {
        lock(&self.shared.state).thread_control.clone()
    }

    /// How many requests chaos answered (or slowed down) instead of the emulator.
    pub fn chaos_count(&self) -> usize {
        self.shared.chaos.counts().total()
    }

    /// How many requests chaos answered (or slowed down), per kind.
    pub fn chaos_counts(&self) -> ChaosCounts {
        self.shared.chaos.counts()
    }

    /// Forgets recorded messages, read marks, queued failures, the request counter, inbound
    /// windows, pair-limit state, media, templates and chaos counters (the chaos RNG restarts
    /// from its seed).
    pub fn reset(&self) {
        let mut state = lock(&self.shared.state);
        let base_url = std::mem::take(&mut state.base_url);
        *state = GraphState {
            base_url,
            ..GraphState::default()
        };
        self.shared.chaos.reset();
    }

    /// Stops serving and waits until the listener is closed.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn graph_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    let message = message.into();
    graph_response(
        StatusCode::BAD_REQUEST,
        graph_error_body(100, &message, &message),
    )
}

fn unauthorized() -> Response {
    graph_response(
        StatusCode::UNAUTHORIZED,
        json!({"error": {
            "message": "Invalid OAuth access token - Cannot parse access token",
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": util::fbtrace_id(),
        }}),
    )
}

async fn unknown_path() -> Response {
    graph_response(
        StatusCode::NOT_FOUND,
        json!({"error": {
            "message": "Unknown path components",
            "type": "OAuthException",
            "code": 2500,
            "fbtrace_id": util::fbtrace_id(),
        }}),
    )
}

fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .is_some_and(|token| token.trim() == expected)
}

fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.splitn(2, '.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    !major.is_empty()
        && !minor.is_empty()
        && major.chars().all(|c| c.is_ascii_digit())
        && minor.chars().all(|c| c.is_ascii_digit())
}

async fn post_messages(
    State(shared): State<Arc<Shared>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let injected = {
        let mut state = lock(&shared.state);
        state.requests += 1;
        state.failures.pop_front().map(|f| f.inject(Vendor::Graph))
    };
    let delay = match injected {
        Some(Injected::Respond(response)) => return response,
        Some(Injected::Delay(delay)) => Some(delay),
        None => None,
    };
    if let Some(delay) = delay {
        // A queued failure takes precedence over chaos (no draw).
        let response = handle_send(&shared, &version, &phone_number_id, &headers, &body);
        tokio::time::sleep(delay).await;
        return response;
    }
    let s = shared.clone();
    ext::with_chaos(&shared, move || {
        handle_send(&s, &version, &phone_number_id, &headers, &body)
    })
    .await
}

fn handle_send(
    shared: &Shared,
    version: &str,
    phone_number_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if !bearer_matches(headers, &shared.access_token) {
        return unauthorized();
    }
    if !is_version(version) {
        return bad_request(format!(
            "Unknown path components: /{version}/{phone_number_id}/messages"
        ));
    }
    if !shared.phone_number_ids.is_empty() && !shared.phone_number_ids.contains(phone_number_id) {
        return bad_request(format!(
            "Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
        ));
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(value @ Value::Object(_)) => value,
        Ok(_) | Err(_) => {
            return bad_request("Invalid parameter: the request body must be a JSON object");
        }
    };
    match request.get("messaging_product") {
        Some(Value::String(p)) if p == "whatsapp" => {}
        Some(other) => {
            return bad_request(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got {other}"
            ));
        }
        None => return bad_request("The parameter messaging_product is required."),
    }

    // Mark as read / typing indicator.
    if request.get("status").and_then(Value::as_str) == Some("read") {
        let Some(message_id) = request.get("message_id").and_then(Value::as_str) else {
            return bad_request("The parameter message_id is required.");
        };
        lock(&shared.state).marked_read.push(message_id.to_owned());
        return graph_response(StatusCode::OK, json!({ "success": true }));
    }

    let send = match validate_send(&request) {
        Ok(send) => send,
        Err(message) => return bad_request(message),
    };
    let user = send
        .to
        .as_deref()
        .or(send.recipient.as_deref())
        .unwrap_or_default()
        .to_owned();
    if let Some(refusal) = window_and_pair(shared, phone_number_id, &user, &send.message_type) {
        return refusal;
    }
    let wamid = util::wamid(
        send.to
            .as_deref()
            .or(send.recipient.as_deref())
            .unwrap_or_default(),
    );
    let contact = match (&send.to, &send.recipient) {
        (Some(to), _) => json!({ "input": to, "wa_id": digits_of(to) }),
        // Answer for a BSUID-only send (inferred: Meta's exact contact shape for `recipient`
        // sends is not documented in the pages read).
        (None, Some(recipient)) => json!({ "input": recipient, "user_id": recipient }),
        (None, None) => json!({}),
    };
    let message = SentMessage {
        phone_number_id: phone_number_id.to_owned(),
        to: send.to,
        recipient: send.recipient,
        message_type: send.message_type,
        body: request,
        wamid: wamid.clone(),
        at: Utc::now(),
    };
    tracing::debug!(
        phone_number_id,
        message_type = %message.message_type,
        "graph emulator accepted a message"
    );
    lock(&shared.state).sent.push(message);
    graph_response(
        StatusCode::OK,
        json!({
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{ "id": wamid }],
        }),
    )
}

/// The 24-hour window (131047) and pair rate limit (131056) checks, when enabled.
fn window_and_pair(
    shared: &Shared,
    phone_number_id: &str,
    user: &str,
    message_type: &str,
) -> Option<Response> {
    let mut state = lock(&shared.state);
    if shared.enforce_window
        && message_type != "template"
        && !ext::window_open(&state.inbound, phone_number_id, user)
    {
        return Some(graph_response(
            StatusCode::BAD_REQUEST,
            graph_error_body(
                131_047,
                "Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            ),
        ));
    }
    if let Some((burst, interval)) = shared.pair_limit
        && message_type != "reaction"
    {
        let key = (phone_number_id.to_owned(), ext::user_key(user));
        if !ext::pair_allows(&mut state.pair_tats, key, interval, burst) {
            return Some(graph_response(
                StatusCode::BAD_REQUEST,
                graph_error_body(
                    131_056,
                    "(Business Account, Consumer Account) pair rate limit hit",
                    "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
                ),
            ));
        }
    }
    None
}

struct ValidSend {
    to: Option<String>,
    recipient: Option<String>,
    message_type: String,
}

fn non_empty_str<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn validate_send(request: &Value) -> Result<ValidSend, String> {
    let to = match request.get("to") {
        None | Some(Value::Null) => None,
        Some(Value::String(to)) if to.chars().any(|c| c.is_ascii_digit()) => Some(to.clone()),
        // The value is not echoed: error details end up in client logs, phone numbers must not.
        Some(_) => return Err("Invalid parameter: to is not a valid phone number".to_owned()),
    };
    let recipient = match request.get("recipient") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if !r.trim().is_empty() => Some(r.clone()),
        Some(_) => return Err("Invalid parameter: recipient must be a non-empty string".to_owned()),
    };
    if to.is_none() && recipient.is_none() {
        return Err("The parameter to is required.".to_owned());
    }
    let message_type = match request.get("type") {
        None | Some(Value::Null) => "text".to_owned(),
        Some(Value::String(t)) if MESSAGE_TYPES.contains(&t.as_str()) => t.clone(),
        Some(other) => {
            return Err(format!(
                "Param type must be one of {{{}}} - got {other}",
                MESSAGE_TYPES.join(", ").to_uppercase()
            ));
        }
    };
    let Some(object) = request.get(&message_type).filter(|o| !o.is_null()) else {
        return Err(format!("The parameter {message_type} is required."));
    };
    if let Some(problem) = object_problem(&message_type, object) {
        return Err(problem);
    }
    Ok(ValidSend {
        to,
        recipient,
        message_type,
    })
}

/// What is wrong with the type object of a send, if anything.
fn object_problem(t: &str, object: &Value) -> Option<String> {
    if t == "contacts" {
        return object
            .as_array()
            .is_none_or(Vec::is_empty)
            .then(|| "Param contacts must be a non-empty array.".to_owned());
    }
    if !object.is_object() {
        return Some(format!("Param {t} must be an object."));
    }
    let missing = |key: &str| non_empty_str(object, key).is_none();
    match t {
        "text" => match object.get("body").and_then(Value::as_str) {
            None => Some("The parameter text['body'] is required.".to_owned()),
            Some(body) if body.trim().is_empty() => {
                Some("Param text['body'] must not be empty.".to_owned())
            }
            Some(body) if body.chars().count() > MAX_TEXT_BODY_CHARS => Some(format!(
                "Param text['body'] must be at most {MAX_TEXT_BODY_CHARS} characters long."
            )),
            Some(_) => None,
        },
        "image" | "video" | "audio" | "document" | "sticker" => (missing("id") && missing("link"))
            .then(|| format!("The parameter {t}['id'] or {t}['link'] is required.")),
        "template" if missing("name") => {
            Some("The parameter template['name'] is required.".to_owned())
        }
        "template" => object
            .get("language")
            .and_then(|l| non_empty_str(l, "code"))
            .is_none()
            .then(|| "The parameter template['language']['code'] is required.".to_owned()),
        "interactive" => {
            missing("type").then(|| "The parameter interactive['type'] is required.".to_owned())
        }
        "reaction" => missing("message_id")
            .then(|| "The parameter reaction['message_id'] is required.".to_owned()),
        "location" => ["latitude", "longitude"]
            .into_iter()
            .find(|key| object.get(*key).is_none_or(Value::is_null))
            .map(|key| format!("The parameter location['{key}'] is required.")),
        _ => None,
    }
}
