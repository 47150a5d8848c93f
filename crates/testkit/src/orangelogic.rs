//! Emulator of an Orange Logic OrangeDAM instance: the auth endpoints, Search, DataTable, both
//! upload paths, links with expiry, failure injection, and asset webhooks fired at a URL.
//!
//! Follows `../shared/api/opentext-orangelogic.md` §2 where it is public:
//!
//! - `POST /webapi/security/clientcredentialsauthentication/authenticate_46H_v1` (form
//!   `grant_type=client_credentials`, `client_id`, `client_secret`) →
//!   `{"access_token","token_type":"Bearer","expires_in"}`; wrong client → 401
//!   `{"error":"invalid_client"}`.
//! - `POST /api/Authentication/v2.0/Login` (the documented user login; also under `/API/…`) and
//!   `GET|POST /API/Authentication/v1.0/Login` (`Login`, `Password`, `format`) → the legacy
//!   envelope with `APIResponse.Token` and `APIRequestInfo.TimeoutPeriodMinutes` (v1.0 answers
//!   HTTP 202, as Kaltura's integration expects; v2.0 answers 200 and refuses a GET with 405);
//!   wrong credentials → HTTP 200 with `APIResponse.Code = "LOGIN_FAILED"`. Each login is counted
//!   per version ([`OrangeLogicEmulator::logins`]).
//! - Static bearer tokens ([`OrangeLogicEmulatorBuilder::static_token`]).
//! - Every API call needs `Authorization: Bearer <token>` or a `token` parameter, else **401**
//!   with `{"APIResponse":{"Code":"NOT_AUTHENTICATED"}}`.
//! - `GET|POST /API/Search/v4.0/Search` (and `v3.0`): `query`, `fields`, `countperpage` (default
//!   100), `pagenumber` (1-based) → `APIResponse.GlobalInfo{TotalCount, NextPage}` and `Items`.
//!   Query subset: `field:value`, `field:"quoted \" value"`, `field:(a OR b)`, `field>:v`,
//!   `field<:v` (text comparison, so ISO dates work; numbers compared as numbers), a trailing `*`
//!   for a prefix, bare words (any field contains), `AND` / `OR` / `NOT` / parentheses, space
//!   meaning AND. Search names map to stored fields: `SystemIdentifier` → `CoreField.Identifier`,
//!   `RecordID` / `MediaEncryptedIdentifier` → `RecordID`, `Title` → `CoreField.Title`,
//!   `Keyword(s)` → `CoreField.Keywords`, `ParentFolderIdentifier` → the parent folder (record id
//!   or identifier); other names are looked up as stored field names, case-insensitively. A query
//!   outside the subset answers **HTTP 200** with `APIResponse.Code = "INVALID_QUERY"` (the
//!   emulator's choice; the real error code is not public).
//! - `GET|POST /API/DataTable/{version}/{Entity}:{Action}`: `Read` → `{"Response":[records]}`;
//!   `Update` (exactly one match) with `:=` (a `[…:Read?…]` sub-call value is evaluated and its
//!   first `RecordID` used), `+=` (existing tags only, else `UNKNOWN_TAG`), `++=` (creates tags),
//!   pipe lists → `{"Response":{"RecordsAffected":{"Result":{"Code":"SUCCESS"},"Count":1}}}`;
//!   `Create` (folders and metadata-only assets) → `{"Response":{"RecordID"}}`; `Delete`. Errors
//!   answer HTTP 200 with `{"Response":{"ErrorList":{"ErrorDetails":[{"Code","Message"}]}}}`.
//!   Entities: `Documents.All`, `Documents.Folder.*` (folders only), `Documents.{Type}.*`
//!   (assets whose `MediaType` is `{Type}`).
//! - `POST /API/UploadMedia/v3.0/UploadNewMedia` (`FolderRecordID`, `FileName`, multipart part
//!   `InputStream` or `UploadStream`) → `APIResponse.SystemIdentifier` and `RecordID`.
//! - The chunked upload: chunks at the documented
//!   `POST /webapi/mediafile/import/upload/item/26_v1/{uploadItemId}?start=&end=&totalLength=`
//!   (multipart `data`; `start` a multiple of 131,072 and equal to the bytes received so far;
//!   `end` one less than a multiple of 131,072 unless it is `totalLength - 1`), and the
//!   emulator's **own** paths for the steps whose paths are not public:
//!   [`CHUNKED_TRANSACTION_PATH`], [`CHUNKED_REGISTER_PATH`], [`CHUNKED_COMPLETE_PATH`], with the
//!   parameter spellings `chatport-orangelogic` sends. Completing assembles the bytes
//!   ([`OrangeLogicEmulator::asset_bytes`]); the chunks are logged in arrival order
//!   ([`OrangeLogicEmulator::chunks`]).
//! - Links (paths not public, the emulator's own): [`PRESIGNED_LINKS_PATH`] (JSON
//!   `{"expiration":"1d2h3m","assets":[{"recordID","format"}]}` → `[{"RecordID","Format","URL","error"}]`;
//!   the URL serves the bytes until it expires, then 403) and [`PUBLIC_SHARE_PATH`] (JSON
//!   `{"recordID","expirationDate"?}` → `{"url"}`; 410 after expiry).
//! - Batch public embed links at the documented
//!   `POST /webapi/objectmanagement/share/batchupsertassetlinkswithcustomroute_41FD_v1`: the body
//!   must be `application/json-patch+json` (else 415), `{"records":[{"customRoute","assetID",
//!   "format","expirationDate"?,…}],"executionOptions":{"executeAsynchronously"}}` (1 to 10,000
//!   records; `assetID` a `RecordID` or an identifier). A synchronous call answers the emulator's
//!   own per-record list `[{"customRoute","assetID","url"|"error"}]` (the real answer is not
//!   documented); an asynchronous one answers `text/plain` `Queued`. Routes under `/public/` then
//!   serve the asset's bytes (`GET /public/…`, 410 after `expirationDate`);
//!   [`OrangeLogicEmulator::embed_routes`] lists them.
//! - Webhooks: [`OrangeLogicEmulator::subscribe_webhooks`] makes every create / edit / delete
//!   `POST` `{"eventId","eventType":"Asset.Created|Asset.Edited|Asset.Deleted","occurredAt","recordId","identifier","title"}`
//!   to a URL (the payload schema is the emulator's; the real one is not public). There is no
//!   public signature scheme: the receiver's secret token is part of the URL path
//!   ([`webhook_url`]). [`OrangeLogicEmulator::fire_asset_event`] and
//!   [`OrangeLogicEmulator::redeliver`] send one on demand, to test deduplication.
//! - Failure injection with [`Failure`] (`fail_next`, `enqueue_failures`, `fail_next_token`):
//!   [`Failure::Status`] answers the legacy envelope `{"APIResponse":{"Code":"InjectedFailure"}}`
//!   with that status; [`OrangeLogicEmulator::envelope_error`] builds an HTTP-200 error.
//! - Seeded chaos on API requests ([`OrangeLogicEmulatorBuilder::chaos`], see [`crate::chaos`]),
//!   and lost answers ([`OrangeLogicEmulatorBuilder::lost_answers`]): a request processed, its
//!   answer cut off, so the client cannot know that its write happened.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use serde_json::{Map, Value, json};

use crate::{
    Error, Failure,
    chaos::{Chaos, ChaosAction, ChaosCounts, ChaosEngine},
    failure::{Injected, Vendor},
    server::{Bound, Server},
    util::{self, lock},
    webhook::DeliveryResult,
};

/// Client id accepted by default.
pub const DEFAULT_CLIENT_ID: &str = "ol-client";
/// Client secret accepted by default.
pub const DEFAULT_CLIENT_SECRET: &str = "ol-secret";
/// Lifetime of client-credentials tokens by default (`expires_in`).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Chunk alignment of the chunked upload.
pub const CHUNK_ALIGNMENT: u64 = 131_072;
/// The emulator's path for "create upload transaction" (the real path is not public).
pub const CHUNKED_TRANSACTION_PATH: &str =
    "/webapi/mediafile/import/upload/createtransaction_emu_v1";
/// The emulator's path for "register upload assets" (the real path is not public).
pub const CHUNKED_REGISTER_PATH: &str = "/webapi/mediafile/import/upload/registerassets_emu_v1";
/// The emulator's path for "complete the asset upload" (the real path is not public).
pub const CHUNKED_COMPLETE_PATH: &str = "/webapi/mediafile/import/upload/completeupload_emu_v1";
/// The emulator's path for batch presigned links (the real path is not public).
pub const PRESIGNED_LINKS_PATH: &str = "/webapi/objectmanagement/share/getpresignedlinks_emu_v1";
/// The emulator's path for public share links (the real path is not public).
pub const PUBLIC_SHARE_PATH: &str = "/webapi/objectmanagement/share/publicsharelink_emu_v1";
/// Record id of the root folder every emulator starts with.
pub const ROOT_FOLDER: &str = "ROOTFOLDER01";

/// `{receiver_base}/{token}`: a webhook URL carrying the receiver's secret path token.
pub fn webhook_url(receiver_base: &str, token: &str) -> String {
    format!("{}/{token}", receiver_base.trim_end_matches('/'))
}

/// One asset or folder as stored.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredAsset {
    /// `RecordID`.
    pub record_id: String,
    /// `CoreField.Identifier`.
    pub identifier: String,
    /// Whether it is a folder.
    pub folder: bool,
    /// Every field (DataTable names), including `RecordID`, `CoreField.Identifier`,
    /// `CoreField.Title`, `CoreField.Parent-folder`, `MediaType`, `CoreField.Keywords` (an array).
    pub fields: Map<String, Value>,
    /// The file, for uploaded assets.
    pub bytes: Option<Vec<u8>>,
}

/// One chunk received by the chunked upload, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkRecord {
    /// The upload item.
    pub upload_item_id: String,
    /// `start`.
    pub start: u64,
    /// `end` (inclusive).
    pub end: u64,
    /// `totalLength`.
    pub total_length: u64,
    /// Bytes in the `data` part.
    pub len: u64,
}

/// One webhook delivery the emulator made.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WebhookDelivery {
    /// Where it went.
    pub url: String,
    /// The JSON sent.
    pub payload: Value,
    /// The receiver's answer, or `None` when the request failed.
    pub result: Option<DeliveryResult>,
}

impl WebhookDelivery {
    /// The payload's `eventId`.
    pub fn event_id(&self) -> &str {
        self.payload["eventId"].as_str().unwrap_or_default()
    }
}

struct UploadItem {
    folder: String,
    file_name: String,
    size: u64,
    received: Vec<u8>,
    completed: bool,
}

#[derive(Default)]
struct OlState {
    assets: Vec<StoredAsset>,
    keywords: HashSet<String>,
    tokens: HashMap<String, Instant>,
    transactions: HashMap<String, String>,
    items: HashMap<String, UploadItem>,
    chunks: Vec<ChunkRecord>,
    links: HashMap<String, (String, Instant)>,
    failures: VecDeque<Failure>,
    token_failures: VecDeque<Failure>,
    token_requests: usize,
    api_requests: usize,
    next_identifier: u64,
    subscribers: Vec<String>,
    deliveries: Vec<WebhookDelivery>,
    /// Successful-or-not user logins per API version (`v1.0`, `v2.0`).
    logins: HashMap<&'static str, usize>,
    /// Custom routes of the embed links created, in order.
    embed_routes: Vec<String>,
    /// The uploader name of each form-encoded "register" call (`uploaderName` or `uploader`).
    register_uploaders: Vec<Option<String>>,
}

struct Shared {
    base_url: String,
    client_id: String,
    client_secret: String,
    users: Vec<(String, String)>,
    static_tokens: Vec<String>,
    token_ttl: Duration,
    http: reqwest::Client,
    chaos: ChaosEngine,
    lost: Option<Mutex<LostAnswers>>,
    state: Mutex<OlState>,
}

/// The lost-answers knob: its share, RNG and counter.
struct LostAnswers {
    share: f64,
    rng: crate::chaos::Rng,
    count: usize,
}

/// Builder of an [`OrangeLogicEmulator`]; from [`OrangeLogicEmulator::builder`].
#[derive(Clone)]
#[non_exhaustive]
pub struct OrangeLogicEmulatorBuilder {
    client_id: String,
    client_secret: String,
    users: Vec<(String, String)>,
    static_tokens: Vec<String>,
    token_ttl: Duration,
    chaos: Option<Chaos>,
    lost_answers: Option<(u64, f64)>,
}

impl fmt::Debug for OrangeLogicEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrangeLogicEmulatorBuilder")
            .field("client_id", &self.client_id)
            .field("users", &self.users.len())
            .field("static_tokens", &self.static_tokens.len())
            .field("token_ttl", &self.token_ttl)
            .field("chaos", &self.chaos)
            .field("lost_answers", &self.lost_answers)
            .finish_non_exhaustive()
    }
}

impl Default for OrangeLogicEmulatorBuilder {
    fn default() -> Self {
        Self {
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            users: Vec::new(),
            static_tokens: Vec::new(),
            token_ttl: DEFAULT_TOKEN_TTL,
            chaos: None,
            lost_answers: None,
        }
    }
}

impl OrangeLogicEmulatorBuilder {
    /// The OAuth client accepted by the client-credentials endpoint.
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = id.into();
        self.client_secret = secret.into();
        self
    }

    /// Adds a user for the legacy login.
    pub fn user(mut self, login: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((login.into(), password.into()));
        self
    }

    /// Adds a static, non-expiring bearer token.
    pub fn static_token(mut self, token: impl Into<String>) -> Self {
        self.static_tokens.push(token.into());
        self
    }

    /// Lifetime of client-credentials tokens (login tokens last `ttl` rounded up to minutes).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Answers a seeded share of API requests (search, DataTable, uploads, links; not the token
    /// and login endpoints) with failures (see [`crate::chaos`]): 429 with `Retry-After` and
    /// the envelope `{"APIResponse":{"Code":"TooManyRequests"}}`, 503 with
    /// `{"APIResponse":{"Code":"ServiceUnavailable"}}`, dropped connections (the request is
    /// **not** processed) and slow answers (processed, then answered late). Drawn after the
    /// queued failures and before the token check.
    pub fn chaos(mut self, chaos: Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    /// Loses the answer of a seeded `share` (0.0–1.0) of the API requests that are admitted
    /// (after queued failures, chaos and the token check; not the token and login endpoints):
    /// the request is **processed normally** — an upload stores its asset, an update writes —
    /// and then the connection is cut after the status line and headers of a 200, before any
    /// body byte, so the client sees a transport error and cannot know that the write happened.
    /// This is the "in doubt" case that an effectively-once client must resolve by looking the
    /// effect up before repeating it. [`OrangeLogicEmulator::lost_answers`] counts them.
    pub fn lost_answers(mut self, seed: u64, share: f64) -> Self {
        self.lost_answers = Some((seed, share));
        self
    }

    /// Binds `127.0.0.1:0` and starts serving. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty client id or secret; [`Error::Bind`]; [`Error::Http`] if
    /// the webhook HTTP client cannot be built.
    pub async fn start(self) -> Result<OrangeLogicEmulator, Error> {
        if self.client_id.trim().is_empty() || self.client_secret.trim().is_empty() {
            return Err(Error::Config(
                "the Orange Logic emulator's client id and secret must not be empty".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(Error::Http)?;
        let bound = Bound::new().await?;
        let mut state = OlState::default();
        let mut root = Map::new();
        root.insert("CoreField.Title".into(), json!("Root"));
        root.insert("MediaType".into(), json!("Folder"));
        state
            .assets
            .push(stored(ROOT_FOLDER, "FLD0", true, root, None));
        let shared = Arc::new(Shared {
            base_url: bound.base_url(),
            client_id: self.client_id,
            client_secret: self.client_secret,
            users: self.users,
            static_tokens: self.static_tokens,
            token_ttl: self.token_ttl,
            http,
            chaos: ChaosEngine::new(self.chaos, Vendor::OrangeLogic),
            lost: self.lost_answers.map(|(seed, share)| {
                Mutex::new(LostAnswers {
                    share,
                    rng: crate::chaos::Rng::new(seed),
                    count: 0,
                })
            }),
            state: Mutex::new(state),
        });
        let router = Router::new()
            .route(
                "/webapi/security/clientcredentialsauthentication/authenticate_46H_v1",
                post(client_credentials),
            )
            .route("/API/Authentication/{version}/Login", any(login))
            .route("/api/Authentication/{version}/Login", any(login))
            .route("/API/Search/{version}/Search", any(search))
            .route("/API/DataTable/{version}/{call}", any(datatable))
            .route(
                "/API/UploadMedia/v3.0/UploadNewMedia",
                post(upload_new_media),
            )
            .route(CHUNKED_TRANSACTION_PATH, post(create_transaction))
            .route(CHUNKED_REGISTER_PATH, post(register))
            .route(
                "/webapi/mediafile/import/upload/item/26_v1/{item}",
                post(chunk),
            )
            .route(CHUNKED_COMPLETE_PATH, post(complete))
            .route(PRESIGNED_LINKS_PATH, post(presigned))
            .route(PUBLIC_SHARE_PATH, post(public_share))
            .route("/presigned/{token}", get(serve_presigned))
            .route("/share/{token}", get(serve_share))
            .route(
                "/webapi/objectmanagement/share/batchupsertassetlinkswithcustomroute_41FD_v1",
                post(embed_links),
            )
            .route("/public/{*route}", get(serve_embed))
            .with_state(shared.clone());
        let server = bound.serve("orangelogic", router);
        Ok(OrangeLogicEmulator { shared, server })
    }
}

/// A running Orange Logic emulator (see the [module docs](self)).
pub struct OrangeLogicEmulator {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for OrangeLogicEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrangeLogicEmulator")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

fn stored(
    record_id: &str,
    identifier: &str,
    folder: bool,
    mut fields: Map<String, Value>,
    bytes: Option<Vec<u8>>,
) -> StoredAsset {
    fields.insert("RecordID".into(), json!(record_id));
    fields.insert("CoreField.Identifier".into(), json!(identifier));
    StoredAsset {
        record_id: record_id.to_owned(),
        identifier: identifier.to_owned(),
        folder,
        fields,
        bytes,
    }
}

fn record_id() -> String {
    util::token(9)
        .to_ascii_uppercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect()
}

fn media_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "heic" | "tif" | "tiff" => "Image",
        "mp4" | "mov" | "avi" | "mkv" | "webm" | "3gp" => "Video",
        "mp3" | "wav" | "ogg" | "opus" | "aac" | "m4a" => "Audio",
        _ => "Multimedia",
    }
}

impl OrangeLogicEmulator {
    /// A builder with the defaults.
    pub fn builder() -> OrangeLogicEmulatorBuilder {
        OrangeLogicEmulatorBuilder::default()
    }

    /// Starts an emulator with the defaults.
    ///
    /// # Errors
    /// As [`OrangeLogicEmulatorBuilder::start`].
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:<port>`, the instance base URL.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The accepted client id.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The accepted client secret.
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// The uploader name sent with each form-encoded "register" call of the chunked upload
    /// (`uploaderName` or `uploader`; `None` when absent), in order.
    pub fn register_uploaders(&self) -> Vec<Option<String>> {
        lock(&self.shared.state).register_uploaders.clone()
    }

    /// The custom routes of every embed link created (batch embed-links call), in order.
    pub fn embed_routes(&self) -> Vec<String> {
        lock(&self.shared.state).embed_routes.clone()
    }

    /// User login requests per API version (`"v1.0"`, `"v2.0"`), failed ones included.
    pub fn logins(&self, version: &str) -> usize {
        lock(&self.shared.state)
            .logins
            .get(version)
            .copied()
            .unwrap_or(0)
    }

    /// Requests that reached the token or login endpoints.
    pub fn token_requests(&self) -> usize {
        lock(&self.shared.state).token_requests
    }

    /// Requests that reached the API (search, DataTable, uploads, links).
    pub fn api_requests(&self) -> usize {
        lock(&self.shared.state).api_requests
    }

    /// How many API requests chaos answered (or slowed down) instead of the emulator.
    pub fn chaos_count(&self) -> usize {
        self.shared.chaos.counts().total()
    }

    /// How many answers [`OrangeLogicEmulatorBuilder::lost_answers`] cut off (each after its
    /// request was processed).
    pub fn lost_answers(&self) -> usize {
        self.shared.lost.as_ref().map_or(0, |l| lock(l).count)
    }

    /// How many API requests chaos answered (or slowed down), per kind.
    pub fn chaos_counts(&self) -> ChaosCounts {
        self.shared.chaos.counts()
    }

    /// Makes every issued token expired (static tokens stay valid).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for at in lock(&self.shared.state).tokens.values_mut() {
            *at = now;
        }
    }

    /// Creates a folder directly; returns its record id.
    pub fn seed_folder(&self, title: &str, parent_record_id: &str) -> String {
        let mut fields = Map::new();
        fields.insert("CoreField.Title".into(), json!(title));
        fields.insert("CoreField.Parent-folder".into(), json!(parent_record_id));
        fields.insert("MediaType".into(), json!("Folder"));
        let mut state = lock(&self.shared.state);
        insert_asset(&mut state, true, fields, None).record_id
    }

    /// Creates an asset directly (no webhook) with `fields` (DataTable names; a
    /// `CoreField.Keywords` array adds its tags to the vocabulary) and optional bytes; returns it.
    pub fn seed_asset(
        &self,
        title: &str,
        folder_record_id: &str,
        fields: Map<String, Value>,
        bytes: Option<Vec<u8>>,
    ) -> StoredAsset {
        let mut all = fields;
        all.insert("CoreField.Title".into(), json!(title));
        all.insert("CoreField.Parent-folder".into(), json!(folder_record_id));
        all.entry("MediaType").or_insert(json!("Image"));
        let mut state = lock(&self.shared.state);
        if let Some(Value::Array(tags)) = all.get("CoreField.Keywords") {
            for t in tags.iter().filter_map(Value::as_str) {
                state.keywords.insert(t.to_owned());
            }
        }
        insert_asset(&mut state, false, all, bytes)
    }

    /// Adds existing tags to the vocabulary (for `+=`).
    pub fn seed_keywords<I: IntoIterator<Item = S>, S: Into<String>>(&self, tags: I) {
        lock(&self.shared.state)
            .keywords
            .extend(tags.into_iter().map(Into::into));
    }

    /// Every asset and folder (deleted ones are removed).
    pub fn assets(&self) -> Vec<StoredAsset> {
        lock(&self.shared.state).assets.clone()
    }

    /// One asset by record id or identifier.
    pub fn asset(&self, id: &str) -> Option<StoredAsset> {
        lock(&self.shared.state)
            .assets
            .iter()
            .find(|a| a.record_id == id || a.identifier == id)
            .cloned()
    }

    /// The stored file of an asset (by record id or identifier).
    pub fn asset_bytes(&self, id: &str) -> Option<Vec<u8>> {
        self.asset(id).and_then(|a| a.bytes)
    }

    /// Sets a field directly (no webhook).
    pub fn set_field(&self, id: &str, field: &str, value: Value) -> bool {
        let mut state = lock(&self.shared.state);
        match state
            .assets
            .iter_mut()
            .find(|a| a.record_id == id || a.identifier == id)
        {
            Some(a) => {
                a.fields.insert(field.to_owned(), value);
                true
            }
            None => false,
        }
    }

    /// The chunks received by the chunked upload, in arrival order.
    pub fn chunks(&self) -> Vec<ChunkRecord> {
        lock(&self.shared.state).chunks.clone()
    }

    /// Makes every presigned and share link issued so far expired.
    pub fn expire_links(&self) {
        let now = Instant::now();
        for (_, at) in lock(&self.shared.state).links.values_mut() {
            *at = now;
        }
    }

    /// The next `n` API requests answer with `failure`, replacing queued failures.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut state = lock(&self.shared.state);
        state.failures.clear();
        state.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Appends `n` × `failure` behind the queued API failures.
    pub fn enqueue_failures(&self, n: usize, failure: Failure) {
        lock(&self.shared.state)
            .failures
            .extend(std::iter::repeat_n(failure, n));
    }

    /// How many injected API failures are still queued.
    pub fn pending_failures(&self) -> usize {
        lock(&self.shared.state).failures.len()
    }

    /// The next `n` token / login requests answer with `failure`.
    pub fn fail_next_token(&self, n: usize, failure: Failure) {
        let mut state = lock(&self.shared.state);
        state.token_failures.clear();
        state.token_failures.extend(std::iter::repeat_n(failure, n));
    }

    /// An HTTP 200 legacy envelope carrying an error code: the "HTTP 200 but failed" case.
    pub fn envelope_error(code: &str, message: &str) -> Failure {
        Failure::Json {
            status: 200,
            body: json!({ "APIRequestInfo": {"IsLoggedIn": true}, "APIResponse": {"Code": code, "Message": message} }),
        }
    }

    /// Every create / edit / delete from now on is `POST`ed to `url` (in a background task;
    /// see [`Self::webhook_deliveries`]).
    pub fn subscribe_webhooks(&self, url: &str) {
        lock(&self.shared.state).subscribers.push(url.to_owned());
    }

    /// The deliveries made so far (automatic ones appear once answered).
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.shared.state).deliveries.clone()
    }

    /// Sends one asset event to `url` now and returns the delivery. `kind` is `created`,
    /// `edited` or `deleted` (any other text is sent as is).
    ///
    /// # Errors
    /// [`Error::Http`] when the request cannot be sent.
    pub async fn fire_asset_event(
        &self,
        url: &str,
        kind: &str,
        id: &str,
    ) -> Result<WebhookDelivery, Error> {
        let asset = self.asset(id);
        let payload = event_payload(kind, id, asset.as_ref());
        self.redeliver(url, &payload).await
    }

    /// Sends exactly `payload` to `url` again (same `eventId`): a redelivery.
    ///
    /// # Errors
    /// [`Error::Http`] when the request cannot be sent.
    pub async fn redeliver(&self, url: &str, payload: &Value) -> Result<WebhookDelivery, Error> {
        let result = deliver(&self.shared.http, url, payload).await?;
        let delivery = WebhookDelivery {
            url: url.to_owned(),
            payload: payload.clone(),
            result: Some(result),
        };
        lock(&self.shared.state).deliveries.push(delivery.clone());
        Ok(delivery)
    }

    /// Stops serving.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn insert_asset(
    state: &mut OlState,
    folder: bool,
    fields: Map<String, Value>,
    bytes: Option<Vec<u8>>,
) -> StoredAsset {
    state.next_identifier += 1;
    let identifier = if folder {
        format!("FLD{}", state.next_identifier)
    } else {
        format!("CTL{}", 1000 + state.next_identifier)
    };
    let asset = stored(&record_id(), &identifier, folder, fields, bytes);
    state.assets.push(asset.clone());
    asset
}

fn event_payload(kind: &str, id: &str, asset: Option<&StoredAsset>) -> Value {
    let event_type = match kind {
        "created" => "Asset.Created".to_owned(),
        "edited" => "Asset.Edited".to_owned(),
        "deleted" => "Asset.Deleted".to_owned(),
        other => other.to_owned(),
    };
    json!({
        "eventId": uuid::Uuid::new_v4().to_string(),
        "eventType": event_type,
        "occurredAt": util::now_rfc3339(),
        "recordId": asset.map_or(id, |a| a.record_id.as_str()),
        "identifier": asset.map(|a| a.identifier.clone()),
        "title": asset.and_then(|a| a.fields.get("CoreField.Title").cloned()),
    })
}

async fn deliver(
    http: &reqwest::Client,
    url: &str,
    payload: &Value,
) -> Result<DeliveryResult, Error> {
    let response = http
        .post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "OrangeLogic-Webhook-Emulator")
        .body(payload.to_string())
        .send()
        .await
        .map_err(Error::Http)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(Error::Http)?;
    Ok(DeliveryResult { status, body })
}

/// Fires `kind` for `asset` to every subscriber, in the background.
fn notify(shared: &Arc<Shared>, kind: &str, asset: &StoredAsset) {
    let subscribers = lock(&shared.state).subscribers.clone();
    for url in subscribers {
        let payload = event_payload(kind, &asset.record_id, Some(asset));
        let shared = shared.clone();
        tokio::spawn(async move {
            let result = deliver(&shared.http, &url, &payload).await.ok();
            lock(&shared.state).deliveries.push(WebhookDelivery {
                url,
                payload,
                result,
            });
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// The parameters of a request: query string then form body, names as sent.
fn params(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if form {
        out.extend(url::form_urlencoded::parse(body).into_owned());
    }
    out
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn envelope(response: Value) -> Response {
    json_response(
        StatusCode::OK,
        json!({ "APIRequestInfo": {"IsLoggedIn": true, "Status": "OK"}, "APIResponse": response }),
    )
}

fn envelope_err(code: &str, message: &str) -> Response {
    envelope(json!({ "Code": code, "Message": message }))
}

fn envelope_err_status(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({ "APIRequestInfo": {"IsLoggedIn": false}, "APIResponse": {"Code": code, "Message": message} }),
    )
}

fn dt_error(code: &str, message: &str) -> Response {
    json_response(
        StatusCode::OK,
        json!({ "Response": { "ErrorList": { "ErrorDetails": [{ "Code": code, "Message": message }] } } }),
    )
}

fn inject(failure: Failure) -> Injected {
    failure.inject(Vendor::OrangeLogic)
}

/// What happens to the answer of an admitted request: sent after `delay`, or lost (the
/// connection is cut after processing, see [`OrangeLogicEmulatorBuilder::lost_answers`]).
#[derive(Clone, Copy, Debug, Default)]
struct Admission {
    delay: Option<Duration>,
    lose: bool,
}

impl From<Option<Duration>> for Admission {
    fn from(delay: Option<Duration>) -> Self {
        Self { delay, lose: false }
    }
}

/// Counts the request, applies an injected failure, and checks the token. `Ok(admission)` lets
/// the request proceed (then wait its delay, or lose the answer).
fn admit(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<Admission, Box<Response>> {
    let mut state = lock(&shared.state);
    state.api_requests += 1;
    let delay = match state.failures.pop_front().map(inject) {
        Some(Injected::Respond(r)) => return Err(Box::new(r)),
        Some(Injected::Delay(d)) => Some(d),
        // No queued failure: chaos may answer instead (no effect) or slow the answer down.
        None => match shared.chaos.roll() {
            Some(ChaosAction::Respond(r)) => return Err(Box::new(r)),
            Some(ChaosAction::Slow(d)) => Some(d),
            None => None,
        },
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let token = bearer.or_else(|| param(params, "token").map(str::to_owned));
    let _ = uri;
    let ok = token.is_some_and(|t| {
        shared.static_tokens.contains(&t)
            || state.tokens.get(&t).is_some_and(|at| Instant::now() < *at)
    });
    if !ok {
        return Err(Box::new(json_response(
            StatusCode::UNAUTHORIZED,
            json!({ "APIResponse": { "Code": "NOT_AUTHENTICATED", "Message": "not authenticated" } }),
        )));
    }
    drop(state);
    let lose = shared.lost.as_ref().is_some_and(|lost| {
        let mut lost = lock(lost);
        let lose = lost.rng.next_f64() < lost.share;
        if lose {
            lost.count += 1;
        }
        lose
    });
    Ok(Admission { delay, lose })
}

async fn finish(response: Response, admission: impl Into<Admission>) -> Response {
    let admission = admission.into();
    if let Some(d) = admission.delay {
        tokio::time::sleep(d).await;
    }
    if admission.lose {
        return lost_answer();
    }
    response
}

/// A 200 whose body fails before its first byte: the connection is reset after the request was
/// processed.
fn lost_answer() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "lost answer: connection cut after processing",
        ))
    });
    let mut r = Response::new(axum::body::Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

macro_rules! admitted {
    ($shared:expr, $uri:expr, $headers:expr, $params:expr) => {
        match admit(&$shared, &$uri, &$headers, &$params) {
            Ok(delay) => delay,
            Err(response) => return *response,
        }
    };
}

fn token_gate(shared: &Shared) -> Result<Option<Duration>, Box<Response>> {
    let mut state = lock(&shared.state);
    state.token_requests += 1;
    match state.token_failures.pop_front().map(inject) {
        Some(Injected::Respond(r)) => Err(Box::new(r)),
        Some(Injected::Delay(d)) => Ok(Some(d)),
        None => Ok(None),
    }
}

async fn client_credentials(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = match token_gate(&shared) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let p = params(&uri, &headers, &body);
    let response = if param(&p, "grant_type") != Some("client_credentials") {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}),
        )
    } else if param(&p, "client_id") != Some(shared.client_id.as_str())
        || param(&p, "client_secret") != Some(shared.client_secret.as_str())
    {
        json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}))
    } else {
        let token = util::token(24);
        lock(&shared.state)
            .tokens
            .insert(token.clone(), Instant::now() + shared.token_ttl);
        json_response(
            StatusCode::OK,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": shared.token_ttl.as_secs()}),
        )
    };
    finish(response, delay).await
}

async fn login(
    State(shared): State<Arc<Shared>>,
    Path(version): Path<String>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v2 = version.eq_ignore_ascii_case("v2.0");
    if !v2 && !version.eq_ignore_ascii_case("v1.0") {
        return envelope_err_status(StatusCode::NOT_FOUND, "NOT_FOUND", "unknown login version");
    }
    if v2 && method != axum::http::Method::POST {
        return envelope_err_status(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "the v2.0 login is a POST",
        );
    }
    let delay = match token_gate(&shared) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    *lock(&shared.state)
        .logins
        .entry(if v2 { "v2.0" } else { "v1.0" })
        .or_default() += 1;
    let p = params(&uri, &headers, &body);
    let (login, password) = (param(&p, "Login"), param(&p, "Password"));
    let known = shared
        .users
        .iter()
        .any(|(l, pw)| Some(l.as_str()) == login && Some(pw.as_str()) == password);
    let response = if known {
        let token = util::token(24);
        lock(&shared.state)
            .tokens
            .insert(token.clone(), Instant::now() + shared.token_ttl);
        json_response(
            if v2 {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            },
            json!({
                "APIRequestInfo": {"Module": "Authentication",
                    "APIVersion": if v2 { "v2.0" } else { "v1.0" }, "IsLoggedIn": true,
                    "TimeoutPeriodMinutes": shared.token_ttl.as_secs().div_ceil(60)},
                "APIResponse": {"Code": "SUCCESS", "Token": token}
            }),
        )
    } else {
        envelope_err("LOGIN_FAILED", "invalid login or password")
    };
    finish(response, delay).await
}

// ---------------------------------------------------------------------------------------------
// Search

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Term(Term),
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Text(String),
    Eq(String, Vec<String>),
    Ge(String, String),
    Le(String, String),
}

enum Expr {
    Term(Term),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

fn read_value(chars: &[char], i: &mut usize) -> Result<String, String> {
    let mut out = String::new();
    if chars.get(*i) == Some(&'"') {
        *i += 1;
        loop {
            match chars.get(*i) {
                None => return Err("unterminated quote".into()),
                Some('\\') => {
                    let c = chars.get(*i + 1).ok_or("dangling escape")?;
                    out.push(*c);
                    *i += 2;
                }
                Some('"') => {
                    *i += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(*c);
                    *i += 1;
                }
            }
        }
    }
    while let Some(c) = chars.get(*i) {
        if c.is_whitespace() || *c == '(' || *c == ')' {
            break;
        }
        out.push(*c);
        *i += 1;
    }
    if out.is_empty() {
        return Err(format!("value expected at {}", *i));
    }
    Ok(out)
}

fn tokenize(query: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '(' {
            out.push(Tok::LParen);
            i += 1;
            continue;
        }
        if c == ')' {
            out.push(Tok::RParen);
            i += 1;
            continue;
        }
        if c == '"' {
            out.push(Tok::Term(Term::Text(read_value(&chars, &mut i)?)));
            continue;
        }
        // A word: maybe `field:`, `field>:`, `field<:`, or an operator, or bare text.
        let start = i;
        while i < chars.len()
            && (chars[i].is_alphanumeric() || matches!(chars[i], '.' | '_' | '-' | '/' | '@' | '*'))
        {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if !word.is_empty() && chars.get(i) == Some(&':') {
            i += 1;
            if chars.get(i) == Some(&'(') {
                i += 1;
                let mut values = Vec::new();
                loop {
                    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                        i += 1;
                    }
                    if chars.get(i) == Some(&')') {
                        i += 1;
                        break;
                    }
                    let v = read_value(&chars, &mut i)?;
                    if v == "OR" {
                        continue;
                    }
                    values.push(v);
                }
                if values.is_empty() {
                    return Err(format!("empty group for `{word}`"));
                }
                out.push(Tok::Term(Term::Eq(word, values)));
            } else {
                out.push(Tok::Term(Term::Eq(word, vec![read_value(&chars, &mut i)?])));
            }
            continue;
        }
        if !word.is_empty()
            && matches!(chars.get(i), Some('>' | '<'))
            && chars.get(i + 1) == Some(&':')
        {
            let ge = chars.get(i) == Some(&'>');
            i += 2;
            let v = read_value(&chars, &mut i)?;
            out.push(Tok::Term(if ge {
                Term::Ge(word, v)
            } else {
                Term::Le(word, v)
            }));
            continue;
        }
        match word.as_str() {
            "AND" => out.push(Tok::And),
            "OR" => out.push(Tok::Or),
            "NOT" => out.push(Tok::Not),
            "" => return Err(format!("unexpected `{c}` at {start}")),
            _ => out.push(Tok::Term(Term::Text(word))),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                }
                Some(Tok::Term(_) | Tok::LParen | Tok::Not) => {}
                _ => return Ok(left),
            }
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err("missing `)`".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Term(t)) => {
                self.pos += 1;
                Ok(Expr::Term(t))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn parse_query(query: &str) -> Result<Option<Expr>, String> {
    let toks = tokenize(query)?;
    if toks.is_empty() {
        return Ok(None);
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected token at {}", p.pos));
    }
    Ok(Some(e))
}

fn stored_name(search_name: &str) -> &str {
    match search_name.to_ascii_lowercase().as_str() {
        "systemidentifier" | "identifier" => "CoreField.Identifier",
        "recordid" | "mediaencryptedidentifier" => "RecordID",
        "title" => "CoreField.Title",
        "keyword" | "keywords" => "CoreField.Keywords",
        "parentfolderidentifier" => "CoreField.Parent-folder",
        _ => search_name,
    }
}

fn field_values(asset: &StoredAsset, name: &str) -> Vec<String> {
    let stored = stored_name(name);
    let value = asset
        .fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(stored))
        .map(|(_, v)| v);
    let mut out: Vec<String> = match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.to_string()],
    };
    if stored == "CoreField.Parent-folder" {
        out.extend(out.clone());
    }
    out
}

fn matches_value(have: &str, want: &str) -> bool {
    match want.strip_suffix('*') {
        Some(prefix) => have.to_lowercase().starts_with(&prefix.to_lowercase()),
        None => have.eq_ignore_ascii_case(want),
    }
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn eval(e: &Expr, asset: &StoredAsset, assets: &[StoredAsset]) -> bool {
    match e {
        Expr::And(a, b) => eval(a, asset, assets) && eval(b, asset, assets),
        Expr::Or(a, b) => eval(a, asset, assets) || eval(b, asset, assets),
        Expr::Not(a) => !eval(a, asset, assets),
        Expr::Term(Term::Text(t)) => {
            let t = t.to_lowercase();
            asset.fields.values().any(|v| {
                v.as_str()
                    .map_or_else(|| v.to_string(), str::to_owned)
                    .to_lowercase()
                    .contains(&t)
            })
        }
        Expr::Term(Term::Eq(field, wants)) => {
            let mut have = field_values(asset, field);
            if stored_name(field) == "CoreField.Parent-folder" {
                // The parent may be named by record id or identifier.
                let extra: Vec<String> = have
                    .iter()
                    .filter_map(|p| assets.iter().find(|a| &a.record_id == p))
                    .map(|a| a.identifier.clone())
                    .collect();
                have.extend(extra);
            }
            wants
                .iter()
                .any(|w| have.iter().any(|h| matches_value(h, w)))
        }
        Expr::Term(Term::Ge(field, v)) => field_values(asset, field)
            .iter()
            .any(|h| compare(h, v) != std::cmp::Ordering::Less),
        Expr::Term(Term::Le(field, v)) => field_values(asset, field)
            .iter()
            .any(|h| compare(h, v) != std::cmp::Ordering::Greater),
    }
}

fn search_item(asset: &StoredAsset, fields: &[String]) -> Value {
    let mut item = Map::new();
    let defaults = [
        "SystemIdentifier".to_owned(),
        "RecordID".to_owned(),
        "Title".to_owned(),
    ];
    let names = if fields.is_empty() {
        &defaults[..]
    } else {
        fields
    };
    for name in names {
        let stored = stored_name(name);
        let value = asset
            .fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(stored))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null);
        item.insert(name.clone(), value);
    }
    Value::Object(item)
}

async fn search(
    State(shared): State<Arc<Shared>>,
    Path(_version): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &body);
    let delay = admitted!(shared, uri, headers, p);
    let query = param(&p, "query").unwrap_or_default();
    // `fields` is a repeated parameter (`fields=A&fields=B`, as documented); a comma list in one
    // value is accepted too.
    let fields: Vec<String> = p
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("fields"))
        .flat_map(|(_, v)| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let per_page = param(&p, "countperpage")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(100)
        .max(1);
    let page = param(&p, "pagenumber")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let response = match parse_query(query) {
        Err(e) => envelope_err("INVALID_QUERY", &e),
        Ok(expr) => {
            let state = lock(&shared.state);
            let hits: Vec<&StoredAsset> = state
                .assets
                .iter()
                .filter(|a| expr.as_ref().is_none_or(|e| eval(e, a, &state.assets)))
                .collect();
            let total = hits.len();
            let items: Vec<Value> = hits
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|a| search_item(a, &fields))
                .collect();
            let next = if page * per_page < total {
                (page + 1).to_string()
            } else {
                String::new()
            };
            envelope(json!({
                "Code": "SUCCESS",
                "GlobalInfo": {"TotalCount": total, "QueryDurationinMilliseconds": 1, "NextPage": next},
                "Items": items,
            }))
        }
    };
    finish(response, delay).await
}

// ---------------------------------------------------------------------------------------------
// DataTable

fn entity_matches(entity: &str, asset: &StoredAsset) -> bool {
    let parts: Vec<&str> = entity.split('.').collect();
    match parts.as_slice() {
        ["Documents", "All"] => true,
        ["Documents", kind, ..] if kind.eq_ignore_ascii_case("Folder") => asset.folder,
        ["Documents", kind, ..] => {
            !asset.folder
                && asset
                    .fields
                    .get("MediaType")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.eq_ignore_ascii_case(kind))
        }
        _ => false,
    }
}

fn filter_matches(asset: &StoredAsset, field: &str, value: &str) -> bool {
    let name = match field.to_ascii_lowercase().as_str() {
        "corefield.unique-identifier" | "corefield.identifier" => "CoreField.Identifier",
        _ => field,
    };
    field_values(asset, name)
        .iter()
        .any(|h| h.eq_ignore_ascii_case(value))
}

/// Splits `Name`, `Name:`, `Name+`, `Name++` into (field, operator).
fn split_op(name: &str) -> (&str, &str) {
    for op in ["++", "+", ":"] {
        if let Some(field) = name.strip_suffix(op) {
            return (field, op);
        }
    }
    (name, "")
}

fn read_records<'a>(
    state: &'a OlState,
    entity: &str,
    filters: &[(String, String)],
) -> Vec<&'a StoredAsset> {
    state
        .assets
        .iter()
        .filter(|a| entity_matches(entity, a))
        .filter(|a| filters.iter().all(|(f, v)| filter_matches(a, f, v)))
        .collect()
}

/// Evaluates a `[/API/DataTable/{v}/{Entity}:Read?...]` sub-call to its first record id.
fn subcall(state: &OlState, value: &str) -> Result<Option<String>, String> {
    let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) else {
        return Ok(None);
    };
    let (path, query) = inner.split_once('?').unwrap_or((inner, ""));
    let call = path
        .trim_start_matches('/')
        .trim_start_matches("API/")
        .split('/')
        .nth(2)
        .ok_or_else(|| format!("bad sub-call `{inner}`"))?;
    let (entity, action) = call.split_once(':').ok_or("sub-call without action")?;
    if !action.eq_ignore_ascii_case("Read") {
        return Err("only Read sub-calls are supported".into());
    }
    let filters: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let found = read_records(state, entity, &filters);
    match found.first() {
        Some(a) => Ok(Some(a.record_id.clone())),
        None => Err(format!("sub-call `{inner}` matched nothing")),
    }
}

async fn datatable(
    State(shared): State<Arc<Shared>>,
    Path((_version, call)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &body);
    let delay = admitted!(shared, uri, headers, p);
    let response = run_datatable(&shared, &call, &p);
    finish(response, delay).await
}

fn run_datatable(shared: &Arc<Shared>, call: &str, p: &[(String, String)]) -> Response {
    let Some((entity, action)) = call.split_once(':') else {
        return dt_error("INVALID_CALL", "expected {Entity}:{Action}");
    };
    let mut filters = Vec::new();
    let mut ops = Vec::new();
    for (name, value) in p {
        if ["format", "token"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue;
        }
        match split_op(name) {
            (field, "") => filters.push((field.to_owned(), value.clone())),
            (field, op) => ops.push((field.to_owned(), op.to_owned(), value.clone())),
        }
    }
    let mut state = lock(&shared.state);
    match action {
        "Read" => {
            let records: Vec<Value> = read_records(&state, entity, &filters)
                .into_iter()
                .map(|a| Value::Object(a.fields.clone()))
                .collect();
            json_response(StatusCode::OK, json!({ "Response": records }))
        }
        "Update" | "Delete" => {
            let ids: Vec<String> = read_records(&state, entity, &filters)
                .iter()
                .map(|a| a.record_id.clone())
                .collect();
            let [id] = ids.as_slice() else {
                let code = if ids.is_empty() {
                    "RECORD_NOT_FOUND"
                } else {
                    "MULTIPLE_RECORDS"
                };
                return dt_error(code, &format!("{} records match", ids.len()));
            };
            if action == "Delete" {
                let Some(pos) = state.assets.iter().position(|a| &a.record_id == id) else {
                    return dt_error("RECORD_NOT_FOUND", "gone");
                };
                let removed = state.assets.remove(pos);
                drop(state);
                notify(shared, "deleted", &removed);
                return json_response(
                    StatusCode::OK,
                    json!({"Response": {"RecordsAffected": {"Result": {"Code": "SUCCESS"}, "Count": 1}}}),
                );
            }
            let mut changes = Vec::new();
            for (field, op, value) in &ops {
                let change = match op.as_str() {
                    ":" => match subcall(&state, value) {
                        Ok(Some(rid)) => (field.clone(), json!(rid), false),
                        Ok(None) => (field.clone(), json!(value), false),
                        Err(e) => return dt_error("SUBCALL_FAILED", &e),
                    },
                    "+" | "++" => {
                        let tags: Vec<String> = value.split('|').map(str::to_owned).collect();
                        if op == "+" {
                            if let Some(unknown) =
                                tags.iter().find(|t| !state.keywords.contains(*t))
                            {
                                return dt_error(
                                    "UNKNOWN_TAG",
                                    &format!("tag `{unknown}` does not exist"),
                                );
                            }
                        } else {
                            state.keywords.extend(tags.iter().cloned());
                        }
                        (field.clone(), json!(tags), true)
                    }
                    _ => return dt_error("INVALID_OPERATOR", op),
                };
                changes.push(change);
            }
            let Some(asset) = state.assets.iter_mut().find(|a| &a.record_id == id) else {
                return dt_error("RECORD_NOT_FOUND", "gone");
            };
            for (field, value, append) in changes {
                if append {
                    let entry = asset.fields.entry(field).or_insert(json!([]));
                    if !entry.is_array() {
                        *entry = json!([]);
                    }
                    if let (Value::Array(list), Value::Array(new)) = (entry, value) {
                        for tag in new {
                            if !list.contains(&tag) {
                                list.push(tag);
                            }
                        }
                    }
                } else {
                    asset.fields.insert(field, value);
                }
            }
            let updated = asset.clone();
            drop(state);
            notify(shared, "edited", &updated);
            json_response(
                StatusCode::OK,
                json!({"Response": {"RecordsAffected": {"Result": {"Code": "SUCCESS"}, "Count": 1}}}),
            )
        }
        "Create" => {
            let folder = entity
                .split('.')
                .nth(1)
                .is_some_and(|k| k.eq_ignore_ascii_case("Folder"));
            let mut fields = Map::new();
            for (field, _, value) in &ops {
                let value = match subcall(&state, value) {
                    Ok(Some(rid)) => rid,
                    Ok(None) => value.clone(),
                    Err(e) => return dt_error("SUBCALL_FAILED", &e),
                };
                fields.insert(field.clone(), json!(value));
            }
            if folder {
                fields.insert("MediaType".into(), json!("Folder"));
            } else if let Some(kind) = entity.split('.').nth(1) {
                fields.insert("MediaType".into(), json!(kind));
            }
            let created = insert_asset(&mut state, folder, fields, None);
            drop(state);
            if !folder {
                notify(shared, "created", &created);
            }
            json_response(
                StatusCode::OK,
                json!({"Response": {"RecordID": created.record_id}}),
            )
        }
        other => dt_error("INVALID_ACTION", &format!("unsupported action `{other}`")),
    }
}

// ---------------------------------------------------------------------------------------------
// Uploads

/// One multipart part: (name, file name, bytes).
type FormPart = (String, Option<String>, Vec<u8>);

/// The parts of a `multipart/form-data` body.
fn multipart_parts(headers: &HeaderMap, body: &[u8]) -> Option<Vec<FormPart>> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut positions = Vec::new();
    let mut i = 0;
    while i + delimiter.len() <= body.len() {
        if body[i..].starts_with(&delimiter) {
            positions.push(i);
            i += delimiter.len();
        } else {
            i += 1;
        }
    }
    for w in positions.windows(2) {
        let part = &body[w[0] + delimiter.len()..w[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split = part.windows(4).position(|x| x == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let data = part[split + 4..].to_vec();
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        let attr = |key: &str| {
            disposition.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix(&format!("{key}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        parts.push((attr("name")?, attr("filename"), data));
    }
    Some(parts)
}

fn find_folder(state: &OlState, id: &str) -> Option<String> {
    state
        .assets
        .iter()
        .find(|a| a.folder && (a.record_id == id || a.identifier == id))
        .map(|a| a.record_id.clone())
}

async fn upload_new_media(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &[]);
    let delay = admitted!(shared, uri, headers, p);
    let response = (|| {
        let folder_param = param(&p, "FolderRecordID").unwrap_or_default();
        let Some(parts) = multipart_parts(&headers, &body) else {
            return envelope_err("INVALID_REQUEST", "expected a multipart/form-data body");
        };
        let Some((_, part_name, bytes)) = parts
            .into_iter()
            .find(|(n, _, _)| n == "InputStream" || n == "UploadStream")
        else {
            return envelope_err("INVALID_REQUEST", "no InputStream part");
        };
        let file_name = param(&p, "FileName")
            .map(str::to_owned)
            .or(part_name)
            .unwrap_or_default();
        if file_name.is_empty() {
            return envelope_err("INVALID_REQUEST", "FileName is required");
        }
        let mut state = lock(&shared.state);
        let Some(folder) = find_folder(&state, folder_param) else {
            return envelope_err("FOLDER_NOT_FOUND", "FolderRecordID does not name a folder");
        };
        let mut fields = Map::new();
        fields.insert("CoreField.Title".into(), json!(file_name));
        fields.insert("CoreField.OriginalFileName".into(), json!(file_name));
        fields.insert("CoreField.Parent-folder".into(), json!(folder));
        fields.insert("MediaType".into(), json!(media_type(&file_name)));
        let created = insert_asset(&mut state, false, fields, Some(bytes));
        drop(state);
        notify(&shared, "created", &created);
        envelope(
            json!({"Code": "SUCCESS", "SystemIdentifier": created.identifier, "RecordID": created.record_id}),
        )
    })();
    finish(response, delay).await
}

async fn create_transaction(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &body);
    let delay = admitted!(shared, uri, headers, p);
    let response = {
        let mut state = lock(&shared.state);
        match find_folder(&state, param(&p, "folderRecordID").unwrap_or_default()) {
            None => json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "folder not found"}),
            ),
            Some(folder) => {
                let id = format!("TX-{}", util::token(6));
                state.transactions.insert(id.clone(), folder);
                json_response(StatusCode::OK, json!({"transactionID": id}))
            }
        }
    };
    finish(response, delay).await
}

async fn register(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let p = params(&uri, &headers, if is_form { &body[..] } else { &[] });
    let delay = admitted!(shared, uri, headers, p);
    let response = (|| {
        // The documented shape: a form whose `files` field is a JSON-serialised array (plus the
        // uploader name); a JSON body `{"transactionID","files":[…]}` is still accepted.
        let req = if is_form {
            let Some(files) =
                param(&p, "files").and_then(|f| serde_json::from_str::<Value>(f).ok())
            else {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "files must be a JSON-serialised array"}),
                );
            };
            let uploader = p
                .iter()
                .find(|(k, _)| {
                    k.eq_ignore_ascii_case("uploaderName") || k.eq_ignore_ascii_case("uploader")
                })
                .map(|(_, v)| v.clone());
            lock(&shared.state).register_uploaders.push(uploader);
            json!({"transactionID": param(&p, "transactionID").unwrap_or_default(), "files": files})
        } else {
            let Ok(req) = serde_json::from_slice::<Value>(&body) else {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": "expected JSON"}));
            };
            req
        };
        let mut state = lock(&shared.state);
        let tx = req["transactionID"].as_str().unwrap_or_default();
        let Some(folder) = state.transactions.get(tx).cloned() else {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "unknown transaction"}),
            );
        };
        let mut items = Vec::new();
        for file in req["files"].as_array().cloned().unwrap_or_default() {
            let name = file["fileName"].as_str().unwrap_or_default().to_owned();
            let size = file["fileSize"].as_u64().unwrap_or(0);
            let id = format!("UI-{}", util::token(6));
            items.push(
                json!({"status": "Registered", "startposition": 0, "uploadItemID": id,
                "identifier": Value::Null, "dO_recordID": Value::Null,
                "requestedFileName": name, "requestedFileSize": size}),
            );
            state.items.insert(
                id,
                UploadItem {
                    folder: folder.clone(),
                    file_name: name,
                    size,
                    received: Vec::new(),
                    completed: false,
                },
            );
        }
        json_response(StatusCode::OK, json!({"uploadItems": items}))
    })();
    finish(response, delay).await
}

async fn chunk(
    State(shared): State<Arc<Shared>>,
    Path(item_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &[]);
    let delay = admitted!(shared, uri, headers, p);
    let response = (|| {
        let num = |n: &str| param(&p, n).and_then(|v| v.parse::<u64>().ok());
        let (Some(start), Some(end), Some(total)) = (num("start"), num("end"), num("totalLength"))
        else {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "start, end and totalLength are required"}),
            );
        };
        let Some(data) = multipart_parts(&headers, &body).and_then(|parts| {
            parts
                .into_iter()
                .find(|(n, _, _)| n == "data")
                .map(|(_, _, d)| d)
        }) else {
            return json_response(StatusCode::BAD_REQUEST, json!({"error": "no data part"}));
        };
        let mut state = lock(&shared.state);
        let Some(item) = state.items.get_mut(&item_id) else {
            return json_response(
                StatusCode::NOT_FOUND,
                json!({"error": "unknown upload item"}),
            );
        };
        let bad = |m: &str| json_response(StatusCode::BAD_REQUEST, json!({"error": m}));
        if total != item.size {
            return bad("totalLength differs from the registered size");
        }
        if start % CHUNK_ALIGNMENT != 0 {
            return bad("start must be a multiple of 131072");
        }
        if end + 1 != total && (end + 1) % CHUNK_ALIGNMENT != 0 {
            return bad("end must be one less than a multiple of 131072, or totalLength - 1");
        }
        if end < start || end - start + 1 != data.len() as u64 {
            return bad("the data length does not match start..end");
        }
        let have = item.received.len() as u64;
        if start > have {
            return bad("chunks must arrive in order");
        }
        // A repeated chunk (same offset) replaces what was received from there on.
        item.received
            .truncate(usize::try_from(start).unwrap_or(usize::MAX));
        item.received.extend_from_slice(&data);
        state.chunks.push(ChunkRecord {
            upload_item_id: item_id.clone(),
            start,
            end,
            total_length: total,
            len: data.len() as u64,
        });
        StatusCode::OK.into_response()
    })();
    finish(response, delay).await
}

async fn complete(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &body);
    let delay = admitted!(shared, uri, headers, p);
    let response = (|| {
        let id = param(&p, "uploadItemID").unwrap_or_default().to_owned();
        let mut state = lock(&shared.state);
        let Some(item) = state.items.get_mut(&id) else {
            return json_response(
                StatusCode::NOT_FOUND,
                json!({"error": "unknown upload item"}),
            );
        };
        if item.completed {
            return json_response(StatusCode::CONFLICT, json!({"error": "already completed"}));
        }
        if item.received.len() as u64 != item.size {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("received {} of {} bytes", item.received.len(), item.size)}),
            );
        }
        item.completed = true;
        let bytes = std::mem::take(&mut item.received);
        let (folder, name) = (item.folder.clone(), item.file_name.clone());
        // The same file (name and bytes) in the same folder: `uploadStatus: AlreadyExists` with the
        // existing asset's record id, and no second asset.
        if let Some(existing) = state.assets.iter().find(|a| {
            !a.folder
                && a.bytes.as_deref() == Some(bytes.as_slice())
                && a.fields.get("CoreField.Parent-folder") == Some(&json!(folder))
                && a.fields.get("CoreField.OriginalFileName") == Some(&json!(name))
        }) {
            return json_response(
                StatusCode::OK,
                json!({"uploadStatus": "AlreadyExists", "duplicateRecordID": existing.record_id,
                    "identifier": existing.identifier, "assetVersion": "1"}),
            );
        }
        let mut fields = Map::new();
        fields.insert("CoreField.Title".into(), json!(name));
        fields.insert("CoreField.OriginalFileName".into(), json!(name));
        fields.insert("CoreField.Parent-folder".into(), json!(folder));
        fields.insert("MediaType".into(), json!(media_type(&name)));
        let created = insert_asset(&mut state, false, fields, Some(bytes));
        drop(state);
        notify(&shared, "created", &created);
        json_response(
            StatusCode::OK,
            json!({"uploadStatus": "Success", "identifier": created.identifier,
                "recordID": created.record_id, "assetVersion": "1"}),
        )
    })();
    finish(response, delay).await
}

// ---------------------------------------------------------------------------------------------
// Links

/// Parses `[x]d[y]h[z]m` into a duration.
fn parse_expiry(s: &str) -> Option<Duration> {
    let mut minutes = 0u64;
    let mut n = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            n.push(c);
            continue;
        }
        let v: u64 = n.parse().ok()?;
        n.clear();
        minutes += v * match c {
            'd' | 'D' => 1440,
            'h' | 'H' => 60,
            'm' | 'M' => 1,
            _ => return None,
        };
    }
    (n.is_empty() && minutes > 0).then(|| Duration::from_secs(minutes * 60))
}

async fn presigned(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &[]);
    let delay = admitted!(shared, uri, headers, p);
    let response = (|| {
        let Ok(req) = serde_json::from_slice::<Value>(&body) else {
            return json_response(StatusCode::BAD_REQUEST, json!({"error": "expected JSON"}));
        };
        let ttl = match req["expiration"].as_str() {
            None => Duration::from_secs(600),
            Some(s) => match parse_expiry(s) {
                Some(d) => d,
                None => {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        json!({"error": "bad expiration"}),
                    );
                }
            },
        };
        let mut state = lock(&shared.state);
        let mut out = Vec::new();
        for a in req["assets"].as_array().cloned().unwrap_or_default() {
            let rid = a["recordID"].as_str().unwrap_or_default().to_owned();
            let format = a["format"].as_str().unwrap_or("TRX").to_owned();
            let found = state
                .assets
                .iter()
                .any(|x| x.record_id == rid && x.bytes.is_some());
            if found {
                let token = util::token(18);
                state
                    .links
                    .insert(token.clone(), (rid.clone(), Instant::now() + ttl));
                out.push(json!({"RecordID": rid, "Format": format,
                    "URL": format!("{}/presigned/{token}", shared.base_url), "error": Value::Null}));
            } else {
                out.push(json!({"RecordID": rid, "Format": format, "URL": Value::Null, "error": "Asset not found"}));
            }
        }
        json_response(StatusCode::OK, Value::Array(out))
    })();
    finish(response, delay).await
}

async fn public_share(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &[]);
    let delay = admitted!(shared, uri, headers, p);
    let response = (|| {
        let Ok(req) = serde_json::from_slice::<Value>(&body) else {
            return json_response(StatusCode::BAD_REQUEST, json!({"error": "expected JSON"}));
        };
        let rid = req["recordID"].as_str().unwrap_or_default().to_owned();
        let ttl = req["expirationDate"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|at| {
                (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            })
            .unwrap_or(Duration::from_secs(30 * 86_400));
        let mut state = lock(&shared.state);
        if !state.assets.iter().any(|a| a.record_id == rid) {
            return json_response(StatusCode::NOT_FOUND, json!({"error": "asset not found"}));
        }
        let token = util::token(18);
        state
            .links
            .insert(token.clone(), (rid, Instant::now() + ttl));
        json_response(
            StatusCode::OK,
            json!({"url": format!("{}/share/{token}", shared.base_url)}),
        )
    })();
    finish(response, delay).await
}

fn serve_link(shared: &Shared, token: &str, expired: StatusCode) -> Response {
    let state = lock(&shared.state);
    let Some((rid, until)) = state.links.get(token) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if Instant::now() >= *until {
        return (expired, "Request has expired").into_response();
    }
    match state
        .assets
        .iter()
        .find(|a| &a.record_id == rid)
        .and_then(|a| a.bytes.clone())
    {
        Some(bytes) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The documented batch public embed links call (`application/json-patch+json`,
/// `{"records":[{"customRoute","assetID","format",…}],"executionOptions":{"executeAsynchronously"}}`).
async fn embed_links(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &[]);
    let delay = admitted!(shared, uri, headers, p);
    let response = (|| {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with("application/json-patch+json") {
            return json_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({"error": "expected application/json-patch+json"}),
            );
        }
        let Ok(req) = serde_json::from_slice::<Value>(&body) else {
            return json_response(StatusCode::BAD_REQUEST, json!({"error": "expected JSON"}));
        };
        let Some(records) = req["records"].as_array().filter(|r| !r.is_empty()) else {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "records is required"}),
            );
        };
        if records.len() > 10_000 {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "at most 10000 records"}),
            );
        }
        let asynchronous = req["executionOptions"]["executeAsynchronously"]
            .as_bool()
            .unwrap_or(false);
        let mut state = lock(&shared.state);
        let mut results = Vec::new();
        for record in records {
            let route = record["customRoute"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let asset_id = record["assetID"].as_str().unwrap_or_default().to_owned();
            let found = state
                .assets
                .iter()
                .find(|a| a.record_id == asset_id || a.identifier == asset_id)
                .map(|a| a.record_id.clone());
            let result = match found {
                _ if !route.starts_with('/') || record["format"].as_str().is_none() => json!({
                    "customRoute": route, "assetID": asset_id,
                    "error": "customRoute (with a leading /) and format are required"
                }),
                None => {
                    json!({"customRoute": route, "assetID": asset_id, "error": "asset not found"})
                }
                Some(rid) => {
                    let ttl = record["expirationDate"]
                        .as_str()
                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                        .map(|at| {
                            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                                .to_std()
                                .unwrap_or(Duration::ZERO)
                        })
                        .unwrap_or(Duration::from_secs(3650 * 86_400));
                    state
                        .links
                        .insert(format!("route:{route}"), (rid, Instant::now() + ttl));
                    state.embed_routes.push(route.clone());
                    json!({"customRoute": route, "assetID": asset_id,
                           "url": format!("{}{route}", shared.base_url)})
                }
            };
            results.push(result);
        }
        if asynchronous {
            ([(header::CONTENT_TYPE, "text/plain")], "Queued").into_response()
        } else {
            json_response(StatusCode::OK, Value::Array(results))
        }
    })();
    finish(response, delay).await
}

/// `GET /public/{route}`: the bytes behind an embed link's custom route (410 once expired).
async fn serve_embed(State(shared): State<Arc<Shared>>, Path(route): Path<String>) -> Response {
    serve_link(&shared, &format!("route:/public/{route}"), StatusCode::GONE)
}

async fn serve_presigned(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Response {
    serve_link(&shared, &token, StatusCode::FORBIDDEN)
}

async fn serve_share(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Response {
    serve_link(&shared, &token, StatusCode::GONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(fields: Value) -> StoredAsset {
        let Value::Object(map) = fields else {
            unreachable!()
        };
        stored("R1", "CTL1", false, map, None)
    }

    fn hit(q: &str, a: &StoredAsset) -> bool {
        let e = parse_query(q).unwrap().unwrap();
        eval(&e, a, std::slice::from_ref(a))
    }

    #[test]
    fn query_subset() {
        let a = asset(
            json!({"CoreField.Title": "Spring launch", "CoreField.Keywords": ["spring", "hero"],
            "MediaType": "Image", "MAY.Rights-End": "2026-03-15"}),
        );
        assert!(hit("Keyword:spring", &a));
        assert!(hit("Keyword:(summer OR hero)", &a));
        assert!(hit("Title:\"spring launch\" AND MediaType:Image", &a));
        assert!(hit("SystemIdentifier:CTL1 RecordID:R1", &a));
        assert!(!hit("Keyword:spring AND NOT MediaType:Image", &a));
        assert!(hit("(Keyword:x OR Keyword:hero) AND Title:spr*", &a));
        assert!(hit(
            "MAY.Rights-End>:2026-03-01 AND MAY.Rights-End<:2026-03-31",
            &a
        ));
        assert!(!hit("MAY.Rights-End>:2026-04-01", &a));
        assert!(hit("launch", &a));
        assert!(hit(r#"Title:"say \"x\"" OR MediaType:Image"#, &a));
        assert!(parse_query("Title:(").is_err());
        assert!(parse_query("(Title:x").is_err());
        assert!(parse_query("Title:\"open").is_err());
        assert!(parse_query("").unwrap().is_none());
    }

    #[test]
    fn expiry_and_ops() {
        assert_eq!(parse_expiry("1d2h3m"), Some(Duration::from_secs(93_780)));
        assert_eq!(parse_expiry("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_expiry("x"), None);
        assert_eq!(split_op("CoreField.Title:"), ("CoreField.Title", ":"));
        assert_eq!(split_op("K++"), ("K", "++"));
        assert_eq!(split_op("K+"), ("K", "+"));
        assert_eq!(split_op("RecordID"), ("RecordID", ""));
    }
}
