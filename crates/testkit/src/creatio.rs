//! Emulator of a Creatio instance: forms login, the Identity Service token endpoint, OData 4
//! (CRUD, the `$filter` subset, paging, `$batch`), `FileApiService/UploadFile`, and the outbound
//! "Call web service" of a business process, on one loopback server.
//!
//! Follows `../shared/api/creatio.md` (§1 authentication, §2 OData, §3.7 uploads, §4 outbound
//! notifications):
//!
//! - `POST /ServiceModel/AuthService.svc/Login` (site root), JSON `{"UserName","UserPassword"}` →
//!   HTTP 200 `{"Code":0,…}` with `Set-Cookie` `BPMLOADER`, `.ASPXAUTH` (the session), `UserName`
//!   and the CSRF cookie(s) of the configured [`CsrfStyle`]; wrong credentials → **HTTP 200** with
//!   `{"Code":1,"Message":"…"}`, as the real service does. `/0/ServiceModel/…/Login` → 401 (the
//!   real "wrong login path" symptom).
//! - `POST /connect/token` (the Identity Service, on the same server), form body with
//!   `client_id`/`client_secret` or HTTP Basic, `grant_type=client_credentials` →
//!   `{"access_token","expires_in","token_type":"Bearer"}`; a wrong client → 400
//!   `{"error":"invalid_client"}`.
//! - Every OData and `FileApiService` request needs a valid session cookie **and** the CSRF header
//!   (named like the cookie; [`CsrfStyle::Both`] accepts either name) — a missing or wrong CSRF
//!   header → 403 — or `Authorization: Bearer <unexpired token>`. No or an unknown session → 401.
//!   After [`CreatioEmulator::expire_sessions`], old sessions answer with the chosen
//!   [`ExpirySignal`] (401, 403, a 302 to `/Login/NuiLogin.aspx`, or a 200 HTML login page).
//! - OData at `/0/odata` **and** `/odata` (both styles): `GET {Set}` with `$filter`, `$select`,
//!   `$orderby`, `$top`, `$skip`, `$count=true` → `{"@odata.context","@odata.count"?,"value":[…]}`
//!   (never more than the row cap, default 20 000); `GET {Set}({id})` (+ `$select`) → the record
//!   or 404; `POST {Set}` → 201 with the record (an `Id` in the body is used, else a new one;
//!   `CreatedOn`/`ModifiedOn` set, `CreatedById` = the integration user's contact; `Case` gets a
//!   `Number` `SR0000000n`; a `ContactCommunication` without `SearchNumber` gets its `Number`'s
//!   digits reversed, as Creatio maintains it); a POST with an existing `Id` → **500** with a SQL Server
//!   duplicate-key message in the OData error shape (Creatio's exact answer is not documented;
//!   inferred); `PATCH {Set}({id})` → 204 (merge); `DELETE` → 204; 404 when missing. Entity sets are
//!   generic: any schema code works (`Case`, `Contact`, `ContactCommunication`, `Activity`,
//!   `CaseFile`, …). Errors use `{"error":{"code":"","message":"…"}}`.
//! - `POST {odata}/$batch` JSON `{"requests":[{"id","method","url","body"?}…]}` (at most 100, else
//!   400) → `{"responses":[{"id","status","headers","body"?}…]}`; stops after the first failing
//!   operation unless `Prefer: continue-on-error`.
//! - `POST /0/rest/FileApiService/UploadFile` (and `/rest/…`) with the query `fileId,
//!   totalFileLength, mimeType, fileName, entitySchemaName, parentColumnName, parentColumnValue`
//!   and `Content-Range: bytes s-e/total`: chunks are written at their offsets; when every byte has
//!   arrived, the file record is created (`Id` = `fileId`, `Name`, `{Parent}Id`, `Size`) →
//!   `{"success":true}`. A bad range → 400. [`CreatioEmulator::file_bytes`] gives the assembled
//!   bytes.
//! - `GET {odata}/{Set}({id})/Data` (the OData stream of a file record's `Data` column, e.g.
//!   `CaseFile({id})/Data`): the bytes the upload stored, with its `mimeType` as `Content-Type`,
//!   `Content-Length`, and `Content-Disposition: attachment; filename="…"`; **204** when the
//!   record exists without stored content (e.g. created through OData); 404 when there is no
//!   such record (deleted records included).
//! - [`CreatioEmulator::post_agent_file`] plays an agent attaching a file to a case (a `CaseFile`
//!   record with content, then a `new_file` call of the webhook, inferred like the next one).
//! - [`CreatioEmulator::post_agent_reply`] plays an agent answering in Creatio plus the business
//!   process of `shared/api/creatio.md` §4.2/§4.3: it creates an `Activity` on the case (authored by
//!   the agent contact) and then, like a "Call web service" element, POSTs
//!   `{"event_type":"new_activity","caseId","activityId","caseNumber","message",
//!   "authorContactId","createdOn"}` to the configured URL. **That body is the connector's proposed,
//!   inferred contract (§4.3), not a documented Creatio format.**
//!
//! # Filter subset
//!
//! `field op literal` with `eq ne gt ge lt le`; `contains(f,'x')`, `startswith(f,'x')`,
//! `endswith(f,'x')`; `and`, `or`, `not`, parentheses. Literals: `'strings'` (`''` for a quote),
//! bare GUIDs, bare ISO dates, numbers, `true`/`false`/`null`. `Lookup/Id` reads the `LookupId`
//! column. String comparisons ignore case (SQL Server's default collation). Anything else → 400:
//! the emulator never silently matches everything.
//!
//! Failure injection ([`CreatioEmulator::fail_next`]) applies to OData, `$batch` and upload
//! requests (not to login or token requests); [`Failure::Status`] answers with the OData error
//! shape. Seeded chaos ([`CreatioEmulatorBuilder::chaos`], see [`crate::chaos`]) applies to the
//! same requests.

mod filter;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    Error, Failure,
    chaos::{Chaos, ChaosAction, ChaosCounts, ChaosEngine},
    failure::{Injected, Vendor},
    server::{Bound, Server},
    util::{self, lock},
};

/// Username accepted by default.
pub const DEFAULT_USERNAME: &str = "Supervisor";
/// Password accepted by default.
pub const DEFAULT_PASSWORD: &str = "Supervisor-pass";
/// OAuth client id accepted by default.
pub const DEFAULT_CLIENT_ID: &str = "chatport-test";
/// OAuth client secret accepted by default.
pub const DEFAULT_CLIENT_SECRET: &str = "chatport-test-secret";
/// Token lifetime by default (3600 s, the common default).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Rows per read at most, by default (`MaxEntityRowCount`).
pub const DEFAULT_ROW_CAP: usize = 20_000;
/// The contact id of the integration user (the `CreatedById` of records written through the API).
pub const INTEGRATION_CONTACT_ID: &str = "410006e1-ca4e-4502-a9ec-e54d922d2c00";
/// The contact id of the emulated agent ([`CreatioEmulator::post_agent_reply`]).
pub const AGENT_CONTACT_ID: &str = "7d8a0c6e-4b1f-4c3a-9e2d-5f6a7b8c9d01";

const TASK_TYPE: &str = "fbe0acdc-cfc0-df11-b00f-001d60e938c6";
/// `FileType` "File" (the default lookups' `file_type_file`).
const FILE_TYPE_FILE: &str = "529bc2f8-0ee0-df11-971b-001d60e938c6";

/// Which CSRF cookie(s) the login sets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfStyle {
    /// `BPMCSRF` (older builds; the default).
    #[default]
    Legacy,
    /// `CRT_CSRF` (newer builds).
    Modern,
    /// Both cookies with the same value; either header name is accepted.
    Both,
    /// No CSRF cookie and no check (CSRF protection disabled on-site).
    Disabled,
}

/// How an expired session shows ([`CreatioEmulator::expire_sessions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpirySignal {
    /// HTTP 401.
    Unauthorized,
    /// HTTP 403.
    Forbidden,
    /// HTTP 302 to `/Login/NuiLogin.aspx`.
    RedirectToLogin,
    /// HTTP 200 with an HTML login page.
    HtmlLoginPage,
}

/// One webhook call made by [`CreatioEmulator::post_agent_reply`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WebhookCall {
    /// The URL called.
    pub url: String,
    /// The JSON body sent.
    pub body: Value,
    /// The HTTP status the receiver answered, or `None` when the call failed below HTTP.
    pub status: Option<u16>,
}

struct Session {
    csrf: String,
    expired: Option<ExpirySignal>,
}

struct Upload {
    schema: String,
    parent_column: String,
    parent_id: String,
    name: String,
    mime: String,
    total: usize,
    data: Vec<u8>,
    received: Vec<bool>,
    complete: bool,
}

#[derive(Default)]
struct CreatioState {
    /// Entity set → records in creation order.
    sets: BTreeMap<String, Vec<Map<String, Value>>>,
    sessions: HashMap<String, Session>,
    tokens: HashMap<String, Instant>,
    logins: usize,
    login_requests: usize,
    tokens_issued: usize,
    api_requests: usize,
    case_numbers: u64,
    failures: VecDeque<Failure>,
    uploads: HashMap<Uuid, Upload>,
    webhook_calls: Vec<WebhookCall>,
}

struct Shared {
    base_url: String,
    username: String,
    password: String,
    client_id: String,
    client_secret: String,
    csrf: CsrfStyle,
    token_ttl: Duration,
    row_cap: usize,
    webhook_url: Mutex<Option<String>>,
    webhook_secret: Option<String>,
    chaos: ChaosEngine,
    state: Mutex<CreatioState>,
}

/// Builder of a [`CreatioEmulator`]; obtained from [`CreatioEmulator::builder`].
#[derive(Clone)]
#[non_exhaustive]
pub struct CreatioEmulatorBuilder {
    username: String,
    password: String,
    client_id: String,
    client_secret: String,
    csrf: CsrfStyle,
    token_ttl: Duration,
    row_cap: usize,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    chaos: Option<Chaos>,
}

impl fmt::Debug for CreatioEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatioEmulatorBuilder")
            .field("username", &self.username)
            .field("client_id", &self.client_id)
            .field("csrf", &self.csrf)
            .field("token_ttl", &self.token_ttl)
            .field("row_cap", &self.row_cap)
            .field("webhook_url", &self.webhook_url)
            .field("chaos", &self.chaos)
            .finish_non_exhaustive()
    }
}

impl Default for CreatioEmulatorBuilder {
    fn default() -> Self {
        Self {
            username: DEFAULT_USERNAME.to_owned(),
            password: DEFAULT_PASSWORD.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            csrf: CsrfStyle::default(),
            token_ttl: DEFAULT_TOKEN_TTL,
            row_cap: DEFAULT_ROW_CAP,
            webhook_url: None,
            webhook_secret: None,
            chaos: None,
        }
    }
}

impl CreatioEmulatorBuilder {
    /// The user accepted by the forms login (default [`DEFAULT_USERNAME`] /
    /// [`DEFAULT_PASSWORD`]).
    pub fn user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }

    /// The OAuth client accepted by `/connect/token` (default [`DEFAULT_CLIENT_ID`] /
    /// [`DEFAULT_CLIENT_SECRET`]).
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = id.into();
        self.client_secret = secret.into();
        self
    }

    /// Which CSRF cookie(s) the login issues (default [`CsrfStyle::Legacy`]).
    pub fn csrf(mut self, style: CsrfStyle) -> Self {
        self.csrf = style;
        self
    }

    /// Lifetime of issued tokens (default [`DEFAULT_TOKEN_TTL`]).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Most rows a read returns (default [`DEFAULT_ROW_CAP`]).
    pub fn row_cap(mut self, rows: usize) -> Self {
        self.row_cap = rows;
        self
    }

    /// The URL the emulated business process calls (chatport's Creatio endpoint).
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// A shared secret sent as `X-Connector-Secret` on webhook calls (§4.3's optional second
    /// factor).
    pub fn webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.webhook_secret = Some(secret.into());
        self
    }

    /// Answers a seeded share of OData, `$batch` and upload requests (not login or token
    /// requests) with failures (see [`crate::chaos`]): 429 with `Retry-After` and the OData error
    /// body, 503 with the OData error body, dropped connections (the request is **not**
    /// processed) and slow answers (processed, then answered late). Drawn after the queued
    /// failures and before authorization.
    pub fn chaos(mut self, chaos: Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty username, password, client id or secret, or a zero row cap;
    /// [`Error::Bind`] if the listener cannot bind.
    pub async fn start(self) -> Result<CreatioEmulator, Error> {
        for (what, value) in [
            ("username", &self.username),
            ("password", &self.password),
            ("client id", &self.client_id),
            ("client secret", &self.client_secret),
        ] {
            if value.trim().is_empty() {
                return Err(Error::Config(format!(
                    "the Creatio emulator's {what} is empty"
                )));
            }
        }
        if self.row_cap == 0 {
            return Err(Error::Config(
                "the Creatio emulator's row cap must be at least 1".into(),
            ));
        }
        let bound = Bound::new().await?;
        let shared = Arc::new(Shared {
            base_url: bound.base_url(),
            username: self.username,
            password: self.password,
            client_id: self.client_id,
            client_secret: self.client_secret,
            csrf: self.csrf,
            token_ttl: self.token_ttl,
            row_cap: self.row_cap,
            webhook_url: Mutex::new(self.webhook_url),
            webhook_secret: self.webhook_secret,
            chaos: ChaosEngine::new(self.chaos, Vendor::Creatio),
            state: Mutex::new(CreatioState::default()),
        });
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let server = bound.serve("creatio", router);
        Ok(CreatioEmulator { shared, server })
    }
}

/// A running Creatio emulator on `127.0.0.1`. See the [module docs](self). Stops serving when
/// dropped or on [`CreatioEmulator::shutdown`].
pub struct CreatioEmulator {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for CreatioEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatioEmulator")
            .field("base_url", &self.shared.base_url)
            .field("username", &self.shared.username)
            .field("client_id", &self.shared.client_id)
            .field("csrf", &self.shared.csrf)
            .finish_non_exhaustive()
    }
}

impl CreatioEmulator {
    /// A builder with the defaults.
    pub fn builder() -> CreatioEmulatorBuilder {
        CreatioEmulatorBuilder::default()
    }

    /// Starts an emulator with the defaults.
    ///
    /// # Errors
    /// [`Error::Bind`] if the listener cannot bind.
    pub async fn start() -> Result<CreatioEmulator, Error> {
        Self::builder().start().await
    }

    /// The site root `http://127.0.0.1:<port>` (login, `/0/odata`, `/odata`, `/0/rest/…`).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The Identity Service URL (the same server): the token endpoint is
    /// `{identity_url}/connect/token`.
    pub fn identity_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> String {
        format!("{}/connect/token", self.shared.base_url)
    }

    /// The accepted username.
    pub fn username(&self) -> &str {
        &self.shared.username
    }

    /// The accepted password.
    pub fn password(&self) -> &str {
        &self.shared.password
    }

    /// The accepted OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The accepted OAuth client secret.
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// Successful logins so far.
    pub fn logins(&self) -> usize {
        lock(&self.shared.state).logins
    }

    /// Requests that reached the login endpoint, whatever their outcome.
    pub fn login_requests(&self) -> usize {
        lock(&self.shared.state).login_requests
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        lock(&self.shared.state).tokens_issued
    }

    /// Requests that reached OData, `$batch` or `FileApiService`, whatever their outcome.
    pub fn api_requests(&self) -> usize {
        lock(&self.shared.state).api_requests
    }

    /// How many API requests chaos answered (or slowed down) instead of the emulator.
    pub fn chaos_count(&self) -> usize {
        self.shared.chaos.counts().total()
    }

    /// How many API requests chaos answered (or slowed down), per kind.
    pub fn chaos_counts(&self) -> ChaosCounts {
        self.shared.chaos.counts()
    }

    /// Expires every session issued so far: requests with them answer `signal` from now on (a new
    /// login works again).
    pub fn expire_sessions(&self, signal: ExpirySignal) {
        for s in lock(&self.shared.state).sessions.values_mut() {
            s.expired = Some(signal);
        }
    }

    /// Expires every token issued so far (401 from now on).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for t in lock(&self.shared.state).tokens.values_mut() {
            *t = now;
        }
    }

    /// The records of an entity set, in creation order (as a `GET` answers them).
    pub fn records(&self, set: &str) -> Vec<Value> {
        lock(&self.shared.state)
            .sets
            .get(set)
            .map(|v| v.iter().cloned().map(Value::Object).collect())
            .unwrap_or_default()
    }

    /// One record by id.
    pub fn record(&self, set: &str, id: Uuid) -> Option<Value> {
        let state = lock(&self.shared.state);
        find_index(&state, set, id).map(|i| Value::Object(state.sets[set][i].clone()))
    }

    /// Stores a record directly (no HTTP, no auth), as a POST would (an `Id` is added when
    /// missing), and returns it. For seeding contacts, cases, lookups.
    ///
    /// # Errors
    /// [`Error::Config`] when `record` is not an object or its `Id` already exists.
    pub fn seed(&self, set: &str, record: Value) -> Result<Value, Error> {
        let Value::Object(obj) = record else {
            return Err(Error::Config(
                "a seeded record must be a JSON object".into(),
            ));
        };
        let mut state = lock(&self.shared.state);
        insert(&mut state, set, obj, INTEGRATION_CONTACT_ID)
            .map(Value::Object)
            .map_err(|_| Error::Config(format!("a {set} record with that Id exists")))
    }

    /// Changes columns of a record directly (what an agent editing it in the UI does); `false`
    /// when it does not exist.
    pub fn modify(&self, set: &str, id: Uuid, changes: Map<String, Value>) -> bool {
        let mut state = lock(&self.shared.state);
        let Some(i) = find_index(&state, set, id) else {
            return false;
        };
        if let Some(rec) = state.sets.get_mut(set).and_then(|v| v.get_mut(i)) {
            rec.extend(changes);
            rec.insert("ModifiedOn".into(), Value::String(util::now_rfc3339()));
        }
        true
    }

    /// The bytes uploaded so far for file `file_id` (complete or not).
    pub fn file_bytes(&self, file_id: Uuid) -> Option<Vec<u8>> {
        lock(&self.shared.state)
            .uploads
            .get(&file_id)
            .map(|u| u.data.clone())
    }

    /// Whether every byte of file `file_id` has arrived (its record then exists).
    pub fn file_complete(&self, file_id: Uuid) -> bool {
        lock(&self.shared.state)
            .uploads
            .get(&file_id)
            .is_some_and(|u| u.complete)
    }

    /// Sets (or clears) the URL the emulated business process calls.
    pub fn set_webhook_url(&self, url: Option<String>) {
        *lock(&self.shared.webhook_url) = url;
    }

    /// Every webhook call made so far.
    pub fn webhook_calls(&self) -> Vec<WebhookCall> {
        lock(&self.shared.state).webhook_calls.clone()
    }

    /// An agent answers on case `case_id`: creates an `Activity` (`Title` = first 250 characters
    /// of `text`, `Notes` = `text`, `CaseId`, `TypeId` = Task, `AuthorId` = `OwnerId` =
    /// `CreatedById` = [`AGENT_CONTACT_ID`]) and, when a webhook URL is configured, calls it like a
    /// business process "Call web service" element (see the module docs; the body is the inferred
    /// contract of `shared/api/creatio.md` §4.3). Returns the activity and the call.
    ///
    /// # Errors
    /// [`Error::Config`] when the case does not exist.
    pub async fn post_agent_reply(
        &self,
        case_id: Uuid,
        text: &str,
    ) -> Result<(Value, Option<WebhookCall>), Error> {
        let case = self
            .record("Case", case_id)
            .ok_or_else(|| Error::Config(format!("no case {case_id}")))?;
        let mut activity = Map::new();
        activity.insert(
            "Title".into(),
            Value::from(text.chars().take(250).collect::<String>()),
        );
        activity.insert("Notes".into(), Value::from(text));
        activity.insert("CaseId".into(), Value::from(case_id.to_string()));
        activity.insert("TypeId".into(), Value::from(TASK_TYPE));
        activity.insert("AuthorId".into(), Value::from(AGENT_CONTACT_ID));
        activity.insert("OwnerId".into(), Value::from(AGENT_CONTACT_ID));
        let activity = {
            let mut state = lock(&self.shared.state);
            insert(&mut state, "Activity", activity, AGENT_CONTACT_ID)
                .map_err(|_| Error::Config("activity id collision".into()))?
        };
        let Some(url) = lock(&self.shared.webhook_url).clone() else {
            return Ok((Value::Object(activity), None));
        };
        let body = json!({
            "event_type": "new_activity",
            "caseId": case_id.to_string(),
            "activityId": activity.get("Id").cloned().unwrap_or(Value::Null),
            "caseNumber": case.get("Number").cloned().unwrap_or(Value::Null),
            "message": text,
            "authorContactId": AGENT_CONTACT_ID,
            "createdOn": activity.get("CreatedOn").cloned().unwrap_or(Value::Null),
        });
        let call = self.call_webhook(url, body).await;
        Ok((Value::Object(activity), Some(call)))
    }

    /// An agent attaches a file to case `case_id` (what the case page's "Attachments" tab does):
    /// stores the bytes and creates a `CaseFile` record (`Name` = `file_name`, `CaseId`, `Size`,
    /// `TypeId` = file, `CreatedById` = [`AGENT_CONTACT_ID`]) whose `Data` stream serves them with
    /// `mime_type`; then, when a webhook URL is configured, calls it with
    /// `{"event_type":"new_file","caseId","fileId","fileName","authorContactId"}` (chatport's
    /// inferred contract, like [`CreatioEmulator::post_agent_reply`]'s). Returns the record and
    /// the call.
    ///
    /// # Errors
    /// [`Error::Config`] when the case does not exist or `bytes` is empty.
    pub async fn post_agent_file(
        &self,
        case_id: Uuid,
        file_name: &str,
        mime_type: &str,
        bytes: &[u8],
    ) -> Result<(Value, Option<WebhookCall>), Error> {
        if self.record("Case", case_id).is_none() {
            return Err(Error::Config(format!("no case {case_id}")));
        }
        if bytes.is_empty() {
            return Err(Error::Config("an attachment needs content".into()));
        }
        let file_id = Uuid::new_v4();
        let mut record = Map::new();
        record.insert("Id".into(), Value::from(file_id.to_string()));
        record.insert("Name".into(), Value::from(file_name));
        record.insert("CaseId".into(), Value::from(case_id.to_string()));
        record.insert("Size".into(), Value::from(bytes.len()));
        record.insert("TypeId".into(), Value::from(FILE_TYPE_FILE));
        let record = {
            let mut state = lock(&self.shared.state);
            state.uploads.insert(
                file_id,
                Upload {
                    schema: "CaseFile".into(),
                    parent_column: "Case".into(),
                    parent_id: case_id.to_string(),
                    name: file_name.to_owned(),
                    mime: mime_type.to_owned(),
                    total: bytes.len(),
                    data: bytes.to_vec(),
                    received: vec![true; bytes.len()],
                    complete: true,
                },
            );
            insert(&mut state, "CaseFile", record, AGENT_CONTACT_ID)
                .map_err(|_| Error::Config("file id collision".into()))?
        };
        let Some(url) = lock(&self.shared.webhook_url).clone() else {
            return Ok((Value::Object(record), None));
        };
        let body = json!({
            "event_type": "new_file",
            "caseId": case_id.to_string(),
            "fileId": file_id.to_string(),
            "fileName": file_name,
            "authorContactId": AGENT_CONTACT_ID,
        });
        let call = self.call_webhook(url, body).await;
        Ok((Value::Object(record), Some(call)))
    }

    /// Sets a case's `StatusId` (e.g. to "Resolved") as an agent would and, when a webhook URL is
    /// configured, calls it with `{"event_type":"case_closed","caseId","caseNumber","statusId"}`
    /// (inferred contract, `shared/api/creatio.md` §4.2/§4.3).
    ///
    /// # Errors
    /// [`Error::Config`] when the case does not exist.
    pub async fn set_case_status(
        &self,
        case_id: Uuid,
        status_id: Uuid,
    ) -> Result<Option<WebhookCall>, Error> {
        let mut changes = Map::new();
        changes.insert("StatusId".into(), Value::from(status_id.to_string()));
        if !self.modify("Case", case_id, changes) {
            return Err(Error::Config(format!("no case {case_id}")));
        }
        let case = self.record("Case", case_id).unwrap_or(Value::Null);
        let Some(url) = lock(&self.shared.webhook_url).clone() else {
            return Ok(None);
        };
        let body = json!({
            "event_type": "case_closed",
            "caseId": case_id.to_string(),
            "caseNumber": case.get("Number").cloned().unwrap_or(Value::Null),
            "statusId": status_id.to_string(),
        });
        Ok(Some(self.call_webhook(url, body).await))
    }

    async fn call_webhook(&self, url: String, body: Value) -> WebhookCall {
        let client = reqwest::Client::new();
        let mut request = client.post(&url).json(&body);
        if let Some(secret) = &self.shared.webhook_secret {
            request = request.header("X-Connector-Secret", secret);
        }
        let status = request.send().await.ok().map(|r| r.status().as_u16());
        let call = WebhookCall { url, body, status };
        lock(&self.shared.state).webhook_calls.push(call.clone());
        call
    }

    /// The next `n` API requests (OData, `$batch`, upload) answer with `failure`, **replacing**
    /// failures still queued (`fail_next(0, _)` cancels them).
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut state = lock(&self.shared.state);
        state.failures.clear();
        state.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Appends `n` times `failure` behind the failures already queued.
    pub fn enqueue_failures(&self, n: usize, failure: Failure) {
        lock(&self.shared.state)
            .failures
            .extend(std::iter::repeat_n(failure, n));
    }

    /// Stops serving and waits until the listener is closed.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn odata_error_body(message: &str) -> Value {
    json!({ "error": { "code": "", "message": message } })
}

fn odata_error(status: StatusCode, message: &str) -> Response {
    json_response(status, odata_error_body(message))
}

fn duplicate_message(set: &str, id: &str) -> String {
    format!(
        "Violation of PRIMARY KEY constraint 'PK{set}'. Cannot insert duplicate key in object 'dbo.{set}'. The duplicate key value is ({id})."
    )
}

fn expired_response(signal: ExpirySignal) -> Response {
    match signal {
        ExpirySignal::Unauthorized => StatusCode::UNAUTHORIZED.into_response(),
        ExpirySignal::Forbidden => StatusCode::FORBIDDEN.into_response(),
        ExpirySignal::RedirectToLogin => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_static("/Login/NuiLogin.aspx?ReturnUrl=%2f0%2fodata"),
            );
            r
        }
        ExpirySignal::HtmlLoginPage => (
            StatusCode::OK,
            axum::response::Html(
                "<html><head><title>Creatio</title></head><body><form id=\"loginForm\"></form></body></html>",
            ),
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Dispatch

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    if path.eq_ignore_ascii_case("/ServiceModel/AuthService.svc/Login") && method == Method::POST {
        return login(&shared, &body);
    }
    if path.eq_ignore_ascii_case("/0/ServiceModel/AuthService.svc/Login") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if path == "/connect/token" && method == Method::POST {
        return token(&shared, &headers, &body);
    }
    let api = if let Some(rest) = path
        .strip_prefix("/0/odata/")
        .or_else(|| path.strip_prefix("/odata/"))
    {
        Some(Api::OData(rest.to_owned()))
    } else if path.eq_ignore_ascii_case("/0/rest/FileApiService/UploadFile")
        || path.eq_ignore_ascii_case("/rest/FileApiService/UploadFile")
    {
        Some(Api::Upload)
    } else {
        None
    };
    let Some(api) = api else {
        return odata_error(StatusCode::NOT_FOUND, "resource not found");
    };
    let delay = {
        let mut state = lock(&shared.state);
        state.api_requests += 1;
        match state.failures.pop_front() {
            Some(Failure::Status(s)) => {
                let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return odata_error(status, &format!("injected failure with HTTP status {s}"));
            }
            Some(f) => match f.inject(Vendor::Creatio) {
                Injected::Respond(r) => return r,
                Injected::Delay(d) => Some(d),
            },
            // No queued failure: chaos may answer instead (no effect) or slow the answer down.
            None => match shared.chaos.roll() {
                Some(ChaosAction::Respond(r)) => return r,
                Some(ChaosAction::Slow(d)) => Some(d),
                None => None,
            },
        }
    };
    if let Some(r) = authorize(&shared, &headers) {
        return r;
    }
    let response = match api {
        Api::OData(rest) if method == Method::GET && data_stream_target(&rest).is_some() => {
            download(&shared, &rest)
        }
        Api::OData(rest) => odata(&shared, &method, &rest, &query, &headers, &body),
        Api::Upload => upload(&shared, &query, &headers, &body),
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    response
}

enum Api {
    OData(String),
    Upload,
}

fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `None` when the request is authorized, else the response to answer.
fn authorize(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let mut state = lock(&shared.state);
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(token) = auth.strip_prefix("Bearer ")
    {
        return match state.tokens.get(token) {
            Some(exp) if Instant::now() < *exp => None,
            _ => Some(odata_error(
                StatusCode::UNAUTHORIZED,
                "invalid or expired token",
            )),
        };
    }
    let jar = cookies(headers);
    let Some(session) = jar.get(".ASPXAUTH").and_then(|s| state.sessions.get_mut(s)) else {
        return Some(StatusCode::UNAUTHORIZED.into_response());
    };
    if let Some(signal) = session.expired {
        return Some(expired_response(signal));
    }
    let header_value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let ok = match shared.csrf {
        CsrfStyle::Disabled => true,
        CsrfStyle::Legacy => header_value("BPMCSRF") == Some(session.csrf.as_str()),
        CsrfStyle::Modern => header_value("CRT_CSRF") == Some(session.csrf.as_str()),
        CsrfStyle::Both => {
            header_value("BPMCSRF") == Some(session.csrf.as_str())
                || header_value("CRT_CSRF") == Some(session.csrf.as_str())
        }
    };
    (!ok).then(|| StatusCode::FORBIDDEN.into_response())
}

fn login(shared: &Shared, body: &[u8]) -> Response {
    let mut state = lock(&shared.state);
    state.login_requests += 1;
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let user = parsed.get("UserName").and_then(Value::as_str);
    let pass = parsed.get("UserPassword").and_then(Value::as_str);
    if user != Some(shared.username.as_str()) || pass != Some(shared.password.as_str()) {
        return json_response(
            StatusCode::OK,
            json!({"Code": 1, "Message": "Invalid username or password specified", "Exception": null,
                   "PasswordChangeUrl": null, "RedirectUrl": null}),
        );
    }
    let session = util::token(24);
    let csrf = util::token(16);
    state.sessions.insert(
        session.clone(),
        Session {
            csrf: csrf.clone(),
            expired: None,
        },
    );
    state.logins += 1;
    let mut response = json_response(
        StatusCode::OK,
        json!({"Code": 0, "Message": "", "Exception": null, "PasswordChangeUrl": null, "RedirectUrl": null}),
    );
    let mut set = vec![
        format!("BPMLOADER={}; path=/0; HttpOnly", util::token(8)),
        format!(".ASPXAUTH={session}; path=/0; HttpOnly"),
        "UserName=83|117|112; path=/; HttpOnly".to_owned(),
    ];
    match shared.csrf {
        CsrfStyle::Legacy => set.push(format!("BPMCSRF={csrf}; path=/")),
        CsrfStyle::Modern => set.push(format!("CRT_CSRF={csrf}; path=/")),
        CsrfStyle::Both => {
            set.push(format!("BPMCSRF={csrf}; path=/"));
            set.push(format!("CRT_CSRF={csrf}; path=/"));
        }
        CsrfStyle::Disabled => {}
    }
    for c in set {
        if let Ok(v) = HeaderValue::from_str(&c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

fn token(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut id = form.get("client_id").cloned();
    let mut secret = form.get("client_secret").cloned();
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim())
        && let Ok(text) = String::from_utf8(decoded)
        && let Some((i, s)) = text.split_once(':')
    {
        id = Some(i.to_owned());
        secret = Some(s.to_owned());
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}),
        );
    }
    if id.as_deref() != Some(shared.client_id.as_str())
        || secret.as_deref() != Some(shared.client_secret.as_str())
    {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "invalid_client"}));
    }
    let token = util::token(32);
    let mut state = lock(&shared.state);
    state
        .tokens
        .insert(token.clone(), Instant::now() + shared.token_ttl);
    state.tokens_issued += 1;
    json_response(
        StatusCode::OK,
        json!({"access_token": token, "expires_in": shared.token_ttl.as_secs(),
               "token_type": "Bearer", "scope": ""}),
    )
}

// ---------------------------------------------------------------------------------------------
// OData

fn find_index(state: &CreatioState, set: &str, id: Uuid) -> Option<usize> {
    state.sets.get(set)?.iter().position(|r| {
        r.get("Id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            == Some(id)
    })
}

/// Stores a new record; `Err(id)` when the id exists.
fn insert(
    state: &mut CreatioState,
    set: &str,
    mut record: Map<String, Value>,
    creator: &str,
) -> Result<Map<String, Value>, String> {
    let id = match record
        .get("Id")
        .and_then(Value::as_str)
        .map(Uuid::parse_str)
    {
        Some(Ok(id)) => id,
        _ => Uuid::new_v4(),
    };
    if find_index(state, set, id).is_some() {
        return Err(id.to_string());
    }
    let now = util::now_rfc3339();
    record.insert("Id".into(), Value::from(id.to_string()));
    record
        .entry("CreatedOn")
        .or_insert_with(|| Value::from(now.clone()));
    record.insert("ModifiedOn".into(), Value::from(now));
    record
        .entry("CreatedById")
        .or_insert_with(|| Value::from(creator));
    // Creatio maintains `SearchNumber` (the number's digits reversed) itself.
    if set == "ContactCommunication"
        && record.get("SearchNumber").is_none_or(Value::is_null)
        && let Some(number) = record.get("Number").and_then(Value::as_str)
    {
        let reversed: String = number.chars().filter(char::is_ascii_digit).rev().collect();
        record.insert("SearchNumber".into(), Value::from(reversed));
    }
    if set == "Case" && record.get("Number").is_none_or(Value::is_null) {
        state.case_numbers += 1;
        record.insert(
            "Number".into(),
            Value::from(format!("SR{:08}", state.case_numbers)),
        );
    }
    state
        .sets
        .entry(set.to_owned())
        .or_default()
        .push(record.clone());
    Ok(record)
}

/// Splits `Set` / `Set(guid)`.
fn parse_target(target: &str) -> Result<(String, Option<Uuid>), String> {
    let (set, id) = match target.split_once('(') {
        Some((set, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("malformed key in `{target}`"))?;
            let inner = inner.trim_start_matches("guid'").trim_end_matches('\'');
            let id = Uuid::parse_str(inner).map_err(|_| format!("invalid key `{inner}`"))?;
            (set, Some(id))
        }
        None => (target, None),
    };
    if set.is_empty() || !set.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("unknown entity set `{set}`"));
    }
    Ok((set.to_owned(), id))
}

fn select(record: &Map<String, Value>, columns: Option<&str>) -> Map<String, Value> {
    match columns {
        None => record.clone(),
        Some(cols) => cols
            .split(',')
            .map(str::trim)
            .filter_map(|c| record.get(c).map(|v| (c.to_owned(), v.clone())))
            .collect(),
    }
}

/// One OData operation: `(status, body)`.
fn odata_op(
    shared: &Shared,
    method: &Method,
    target: &str,
    query: &HashMap<String, String>,
    body: Option<&Value>,
) -> (StatusCode, Option<Value>) {
    let err = |s: StatusCode, m: &str| (s, Some(odata_error_body(m)));
    let (set, id) = match parse_target(target) {
        Ok(t) => t,
        Err(m) => return err(StatusCode::NOT_FOUND, &m),
    };
    let context = format!("{}/0/odata/$metadata#{set}", shared.base_url);
    let mut state = lock(&shared.state);
    match (method.as_str(), id) {
        ("GET", None) => {
            let expr = match query.get("$filter").map(|f| filter::parse(f)) {
                Some(Ok(e)) => Some(e),
                Some(Err(m)) => return err(StatusCode::BAD_REQUEST, &m),
                None => None,
            };
            let mut rows: Vec<&Map<String, Value>> = state
                .sets
                .get(&set)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            if let Some(e) = &expr {
                rows.retain(|r| filter::matches(e, r));
            }
            if let Some(order) = query.get("$orderby") {
                let terms: Vec<(String, bool)> = order
                    .split(',')
                    .map(|t| {
                        let mut parts = t.split_whitespace();
                        let field = parts.next().unwrap_or_default().to_owned();
                        let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                        (field, desc)
                    })
                    .collect();
                rows.sort_by(|a, b| {
                    for (field, desc) in &terms {
                        let o = filter::order(a, b, field);
                        let o = if *desc { o.reverse() } else { o };
                        if o != std::cmp::Ordering::Equal {
                            return o;
                        }
                    }
                    std::cmp::Ordering::Equal
                });
            }
            let total = rows.len();
            let skip = query.get("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
            let top = query
                .get("$top")
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(usize::MAX)
                .min(shared.row_cap);
            let value: Vec<Value> = rows
                .into_iter()
                .skip(skip)
                .take(top)
                .map(|r| Value::Object(select(r, query.get("$select").map(String::as_str))))
                .collect();
            let mut out = json!({ "@odata.context": context, "value": value });
            if query.get("$count").map(String::as_str) == Some("true") {
                out["@odata.count"] = Value::from(total);
            }
            (StatusCode::OK, Some(out))
        }
        ("GET", Some(id)) => match find_index(&state, &set, id) {
            Some(i) => {
                let mut rec = select(
                    &state.sets[&set][i],
                    query.get("$select").map(String::as_str),
                );
                rec.insert(
                    "@odata.context".into(),
                    Value::from(format!("{context}/$entity")),
                );
                (StatusCode::OK, Some(Value::Object(rec)))
            }
            None => err(StatusCode::NOT_FOUND, "Resource not found"),
        },
        ("POST", None) => {
            let Some(Value::Object(obj)) = body else {
                return err(
                    StatusCode::BAD_REQUEST,
                    "the request body must be a JSON object",
                );
            };
            match insert(&mut state, &set, obj.clone(), INTEGRATION_CONTACT_ID) {
                Ok(mut rec) => {
                    rec.insert(
                        "@odata.context".into(),
                        Value::from(format!("{context}/$entity")),
                    );
                    (StatusCode::CREATED, Some(Value::Object(rec)))
                }
                Err(id) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some(json!({"error": {"code": "", "message": "",
                        "innererror": {"message": "An error has occurred.",
                            "type": "System.Data.SqlClient.SqlException",
                            "internalexception": {"message": duplicate_message(&set, &id),
                                "type": "System.Data.SqlClient.SqlException"}}}})),
                ),
            }
        }
        ("PATCH", Some(id)) => {
            let Some(Value::Object(obj)) = body else {
                return err(
                    StatusCode::BAD_REQUEST,
                    "the request body must be a JSON object",
                );
            };
            let Some(i) = find_index(&state, &set, id) else {
                return err(StatusCode::NOT_FOUND, "Resource not found");
            };
            if let Some(rec) = state.sets.get_mut(&set).and_then(|v| v.get_mut(i)) {
                for (k, v) in obj {
                    if k != "Id" {
                        rec.insert(k.clone(), v.clone());
                    }
                }
                rec.insert("ModifiedOn".into(), Value::from(util::now_rfc3339()));
            }
            (StatusCode::NO_CONTENT, None)
        }
        ("DELETE", Some(id)) => {
            let Some(i) = find_index(&state, &set, id) else {
                return err(StatusCode::NOT_FOUND, "Resource not found");
            };
            if let Some(v) = state.sets.get_mut(&set) {
                v.remove(i);
            }
            (StatusCode::NO_CONTENT, None)
        }
        _ => err(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}

fn parse_query(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn odata(
    shared: &Shared,
    method: &Method,
    rest: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if rest == "$batch" && method == Method::POST {
        return batch(shared, headers, body);
    }
    let body_json = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => Some(v),
            Err(_) => return odata_error(StatusCode::BAD_REQUEST, "the request body is not JSON"),
        }
    };
    let (status, out) = odata_op(
        shared,
        method,
        rest,
        &parse_query(query),
        body_json.as_ref(),
    );
    match out {
        Some(v) => json_response(status, v),
        None => status.into_response(),
    }
}

fn batch(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return odata_error(StatusCode::BAD_REQUEST, "the batch body is not JSON");
    };
    let Some(requests) = parsed.get("requests").and_then(Value::as_array) else {
        return odata_error(StatusCode::BAD_REQUEST, "the batch body has no `requests`");
    };
    if requests.len() > 100 {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "a batch request may contain at most 100 operations",
        );
    }
    let continue_on_error = headers
        .get_all("Prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("continue-on-error"));
    let mut responses = Vec::new();
    for r in requests {
        let id = r.get("id").cloned().unwrap_or(Value::Null);
        let method = r
            .get("method")
            .and_then(Value::as_str)
            .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
            .unwrap_or(Method::GET);
        let url = r.get("url").and_then(Value::as_str).unwrap_or_default();
        let url = url
            .split_once("/odata/")
            .map_or(url, |(_, rest)| rest)
            .trim_start_matches('/');
        let (target, query) = url.split_once('?').unwrap_or((url, ""));
        let (status, out) = odata_op(shared, &method, target, &parse_query(query), r.get("body"));
        let mut item = json!({ "id": id, "status": status.as_u16(), "headers": {} });
        if let Some(b) = out {
            item["body"] = b;
        }
        responses.push(item);
        if !status.is_success() && !continue_on_error {
            break;
        }
    }
    json_response(StatusCode::OK, json!({ "responses": responses }))
}

// ---------------------------------------------------------------------------------------------
// FileApiService

fn parse_range(headers: &HeaderMap) -> Option<(usize, usize, usize)> {
    let v = headers.get("Content-Range")?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (s, e) = range.split_once('-')?;
    Some((s.parse().ok()?, e.parse().ok()?, total.parse().ok()?))
}

/// `{Set}({id})/Data` (case-insensitive column name): the target of a stream read.
fn data_stream_target(rest: &str) -> Option<&str> {
    let (target, column) = rest.rsplit_once('/')?;
    column.eq_ignore_ascii_case("Data").then_some(target)
}

/// `GET {odata}/{Set}({id})/Data`: the bytes `FileApiService/UploadFile` stored for that record,
/// with the upload's `Content-Type`, `Content-Length` and `Content-Disposition`; **204** for a
/// record that exists without stored content; 404 (OData error) for no such record.
fn download(shared: &Shared, rest: &str) -> Response {
    let Some(target) = data_stream_target(rest) else {
        return odata_error(StatusCode::NOT_FOUND, "resource not found");
    };
    let (set, id) = match parse_target(target) {
        Ok((set, Some(id))) => (set, id),
        Ok((_, None)) => return odata_error(StatusCode::BAD_REQUEST, "a key is required"),
        Err(m) => return odata_error(StatusCode::NOT_FOUND, &m),
    };
    let state = lock(&shared.state);
    let id_text = id.to_string();
    let exists = state.sets.get(&set).is_some_and(|rows| {
        rows.iter().any(|r| {
            r.get("Id")
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(&id_text))
        })
    });
    if !exists {
        return odata_error(
            StatusCode::NOT_FOUND,
            &format!("no {set} record with Id {id_text}"),
        );
    }
    match state
        .uploads
        .get(&id)
        .filter(|u| u.complete && u.schema.eq_ignore_ascii_case(&set))
    {
        Some(up) => {
            let mime = if up.mime.is_empty() {
                "application/octet-stream"
            } else {
                up.mime.as_str()
            };
            let mut response = (StatusCode::OK, up.data.clone()).into_response();
            let headers = response.headers_mut();
            if let Ok(v) = header::HeaderValue::from_str(mime) {
                headers.insert(header::CONTENT_TYPE, v);
            }
            let name: String = up
                .name
                .chars()
                .filter(|c| *c != '"' && !c.is_control())
                .collect();
            if let Ok(v) =
                header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

fn upload(shared: &Shared, query: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let q = parse_query(query);
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let Ok(file_id) = Uuid::parse_str(&get("fileId")) else {
        return odata_error(StatusCode::BAD_REQUEST, "fileId is required");
    };
    let total: usize = match get("totalFileLength").parse() {
        Ok(t) if t > 0 => t,
        _ => return odata_error(StatusCode::BAD_REQUEST, "totalFileLength is required"),
    };
    let Some((start, end, range_total)) = parse_range(headers) else {
        return odata_error(StatusCode::BAD_REQUEST, "Content-Range is required");
    };
    if range_total != total || end < start || end >= total || end - start + 1 != body.len() {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "Content-Range does not match the body",
        );
    }
    let mut state = lock(&shared.state);
    let up = state.uploads.entry(file_id).or_insert_with(|| Upload {
        schema: get("entitySchemaName"),
        parent_column: get("parentColumnName"),
        parent_id: get("parentColumnValue"),
        name: get("fileName"),
        mime: get("mimeType"),
        total,
        data: vec![0; total],
        received: vec![false; total],
        complete: false,
    });
    if up.total != total {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "totalFileLength changed between chunks",
        );
    }
    up.data[start..=end].copy_from_slice(body);
    for r in &mut up.received[start..=end] {
        *r = true;
    }
    if !up.complete && up.received.iter().all(|r| *r) {
        up.complete = true;
        let mut record = Map::new();
        record.insert("Id".into(), Value::from(file_id.to_string()));
        record.insert("Name".into(), Value::from(up.name.clone()));
        record.insert(
            format!("{}Id", up.parent_column),
            Value::from(up.parent_id.clone()),
        );
        record.insert("Size".into(), Value::from(up.total));
        record.insert("TypeId".into(), Value::from(FILE_TYPE_FILE));
        let schema = up.schema.clone();
        if insert(&mut state, &schema, record, INTEGRATION_CONTACT_ID).is_err() {
            return odata_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &duplicate_message(&schema, &file_id.to_string()),
            );
        }
    }
    json_response(
        StatusCode::OK,
        json!({ "success": true, "errorInfo": null }),
    )
}
