//! Emulator of the OpenText tenant OAuth token endpoint, the Content Metadata Service (CMS) and the
//! Content Storage Service (CSS), on one loopback server.
//!
//! Follows `../shared/api/opentext-orangelogic.md` §1.2–1.5 (OpenText Cloud Platform samples and
//! Postman collection):
//!
//! - `POST /tenants/{tenant}/oauth2/token`, JSON **or** form body (client credentials in the body
//!   or as HTTP Basic), `grant_type` `client_credentials` or `password` (+ `username`,
//!   `password`) → `{"access_token","token_type":"bearer","expires_in":<seconds>}`; a wrong client
//!   → 401 `{"error":"invalid_client",...}`; wrong user credentials → 400 `invalid_grant`; another
//!   grant → 400 `unsupported_grant_type`; another tenant → 404 `invalid_request` (inferred).
//! - Every `/cms/...` call needs `Authorization: Bearer <unexpired token>`, else **401** with the
//!   API gateway (Apigee) shape `{"fault":{"faultstring":"…","detail":{"errorcode":"…"}}}`:
//!   `oauth.v2.InvalidAccessToken` (missing header), `keymanagement.service.invalid_access_token`
//!   (unknown token), `keymanagement.service.access_token_expired` (expired). The exact error codes
//!   are Apigee's defaults, inferred.
//! - `POST /cms/instances/{category}/{type}` → **201** with the instance: `id` (UUID), `name`,
//!   `category`, `type`, `create_time`, `update_time` (RFC 3339, milliseconds, UTC),
//!   `created_by`, `updated_by`, `owner`, `parent_folder_id` (or `null`), `properties` (`{}` when
//!   absent), `traits` (`{}` when absent), `_links.self.href`, plus any other field of the request
//!   body (e.g. `description`, `acl_id`); files also get `version_no: 1`, `latest: true`. A missing
//!   `name` → 400 `{"exception":"…","message":"name is required"}`. Categories: `file`, `folder`,
//!   `object`, `case`. Types need not be declared (the emulator accepts any type name).
//! - `GET /cms/instances/{category}/{type}/{id}` → the instance or 404. `any` / `cms_any` match
//!   every category / type.
//! - `GET /cms/instances/{category}/{type}?filter=&page=&items-per-page=&include-total=&sortby=` →
//!   HAL `{"_embedded":{"collection":[…]},"total":n,"_links":{"self":{"href"},"next":{"href"},
//!   "previous":{"href"}}}`. `page` is 1-based (default 1); `items-per-page` defaults to
//!   [`DEFAULT_ITEMS_PER_PAGE`] (the real default is not documented) and is at most
//!   [`MAX_ITEMS_PER_PAGE`]; `total` only with `include-total=true`; `_embedded` is omitted when the
//!   page is empty, as the real service may do; `next` / `previous` only when such a page exists.
//!   Links are absolute URLs. Filters: see [the grammar](#filter-grammar).
//! - `PUT …/{id}` (full replace, `name` required), `PATCH …/{id}` (properties merged, trait
//!   instances added/replaced, a trait given as `{}` removed), `GET`/`PUT …/{id}/parent` (move:
//!   `{"id": folder}`), `PUT …/{id}/delete[?all-version=true][&recursive=true]` (soft delete to the
//!   recycle bin, [`CmsEmulator::deleted_instances`]), `DELETE …/{id}[?recursive=true]` and
//!   `DELETE …/{id}/all` (hard; a non-empty folder without `recursive` → 409),
//!   `GET …/{id}/versions`, `POST …/{id}/nextVersion` (files: new instance, `version_no` + 1, the
//!   others `latest: false`), `GET`/`POST …/{id}/contents` and `DELETE …/{id}/contents/{rid}`
//!   (renditions; a create body's `renditions` become contents with download links),
//!   `GET …/{id}/history` (one entry per change: `create`, `update`, `patch`, `move`,
//!   `next_version`, `content_add`, …) and `GET /cms/instances/folder/{type}/{id}/items`. Every
//!   list is a HAL page as above.
//! - Type and trait definitions, seeded with [`CmsEmulator::seed_type_definition`] /
//!   [`CmsEmulator::seed_trait_definition`]: `GET /cms/type-definitions[?category&namespace]`,
//!   `/type-definitions/{name}`, `/attributes`, `/attributes-all` (plus system attributes),
//!   `/cms/trait-definitions[/{name}[/attributes]]`. A seeded type's `required` attributes are
//!   enforced on create and full update (400); [`CmsEmulatorBuilder::strict_types`] refuses
//!   unseeded types (404).
//! - The Content Storage Service on the same server ([`CmsEmulator::css_base`]): v2 tenant upload
//!   (multipart field `file` or raw body), v3 `fromStream`, content records, downloads, expiring
//!   public share links (`publicShareUrl`, public `GET /public/{token}` → 410 once expired). A
//!   rendition whose draft has `"source": "FILE_ID"` (a v3 file id) links to
//!   `/v3/files/{id}/stream`.
//! - ACLs (`GET /cms/permissions[/{id}]`, `GET`/`PUT …/{id}/acl`) and the recycle bin
//!   (`GET /cms/deleted[/{id}]`, `PUT /cms/deleted/{id}/restore[?all-version=true][&recursive=true]`); an unknown ACL → 400.
//!   Not emulated:
//!   `ft-query`, locks, copy, multi-filing, namespaces, effective permissions.
//! - Optional rate limit ([`CmsEmulatorBuilder::rate_limit_per_sec`]; the real service allows 5
//!   requests per second) → 429 with the Apigee spike-arrest fault and no `Retry-After` (none is
//!   documented).
//! - Optional seeded chaos on `/cms` requests ([`CmsEmulatorBuilder::chaos`], see
//!   [`crate::chaos`]): 429 + `Retry-After` with the spike-arrest fault, 503 `{"exception",
//!   "message"}`, dropped connections (no effect) and slow answers (processed, then late).
//!
//! # Filter grammar
//!
//! `eq`, `ne`, `gt`, `ge`, `lt`, `le`, `like` / `not like` (`%` wildcard), `<attr>
//! contains(<literal>)` on repeating attributes, `LOWER(<field>)`, `date('…')` literals (compared
//! as strings, or as times when both sides are RFC 3339), `id=(a,b,…)`, joined with `and` / `or`
//! and parentheses (keywords case-insensitive). A literal is `'single quoted'` (a quote inside
//! written `''`), `"double quoted"`, a number, `true` or `false`. A field is a system field (`id`,
//! `name`, `parent_folder_id`, `type`, `category`, `description`, `owner`, `created_by`,
//! `updated_by`, `create_time`, `update_time`, `version_no`, `latest`, `mime_type`),
//! `properties.<name>`, `traits.<trait>.<attr>` (any instance of the trait), or a bare property
//! name. A string literal matches strings, numbers and booleans by their text (`latest eq
//! 'true'`); `eq` never matches a repeating (array) attribute. Anything else answers **400** with
//! a message naming the position: the emulator never silently matches all instances.

mod acl;
mod css;
mod definitions;
mod filter;
mod ops;

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::{
    Error, Failure,
    chaos::{Chaos, ChaosAction, ChaosCounts, ChaosEngine},
    failure::{Injected, Vendor},
    server::Bound,
    server::Server,
    util::{self, lock},
};

/// Tenant id used by [`CmsEmulator::start`].
pub const DEFAULT_TENANT_ID: &str = "test-tenant";
/// Client id used by [`CmsEmulator::start`].
pub const DEFAULT_CLIENT_ID: &str = "test-client";
/// Client secret used by [`CmsEmulator::start`].
pub const DEFAULT_CLIENT_SECRET: &str = "test-secret";
/// Default token lifetime: 900 s, as observed in a decoded OpenText access token (`exp - iat`).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(900);
/// Page size when a list request gives no `items-per-page` (inferred; not documented).
pub const DEFAULT_ITEMS_PER_PAGE: usize = 10;
/// Largest accepted `items-per-page` (the emulator's limit; the real one is not documented).
pub const MAX_ITEMS_PER_PAGE: usize = 1000;

/// Largest request body the emulator accepts (uploads are held in memory): 512 MiB.
pub const MAX_UPLOAD_BYTES: usize = 512 * 1024 * 1024;

const CATEGORIES: &[&str] = &["file", "folder", "object", "case"];

struct TokenInfo {
    expires_at: Instant,
    subject: String,
}

#[derive(Default)]
struct CmsState {
    instances: Vec<Value>,
    /// Soft-deleted instances (the recycle bin).
    recycle_bin: Vec<Value>,
    /// Seeded ACLs (`/cms/permissions`).
    acls: Vec<Value>,
    /// Instance id → version series id (files; the first version's id).
    series: HashMap<String, String>,
    /// Instance id → renditions.
    contents: HashMap<String, Vec<Value>>,
    /// Instance id → history entries.
    history: HashMap<String, Vec<Value>>,
    type_defs: Vec<Value>,
    trait_defs: Vec<Value>,
    blobs: HashMap<String, css::Blob>,
    share_links: HashMap<String, css::ShareLinkState>,
    css_requests: usize,
    tokens: HashMap<String, TokenInfo>,
    token_requests: usize,
    tokens_issued: usize,
    cms_requests: usize,
    failures: VecDeque<Failure>,
    token_failures: VecDeque<Failure>,
    rate_window: Option<(Instant, u32)>,
}

struct Shared {
    base_url: String,
    tenant_id: String,
    client_id: String,
    client_secret: String,
    users: Vec<(String, String)>,
    token_ttl: Duration,
    rate_limit_per_sec: Option<u32>,
    strict_types: bool,
    chaos: ChaosEngine,
    state: Mutex<CmsState>,
}

/// Builder of a [`CmsEmulator`]; obtained from [`CmsEmulator::builder`].
#[derive(Clone)]
#[non_exhaustive]
pub struct CmsEmulatorBuilder {
    tenant_id: String,
    client_id: String,
    client_secret: String,
    users: Vec<(String, String)>,
    token_ttl: Duration,
    rate_limit_per_sec: Option<u32>,
    strict_types: bool,
    chaos: Option<Chaos>,
}

impl fmt::Debug for CmsEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CmsEmulatorBuilder")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("users", &self.users.len())
            .field("token_ttl", &self.token_ttl)
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("strict_types", &self.strict_types)
            .field("chaos", &self.chaos)
            .finish()
    }
}

impl Default for CmsEmulatorBuilder {
    fn default() -> Self {
        Self {
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            users: Vec::new(),
            token_ttl: DEFAULT_TOKEN_TTL,
            rate_limit_per_sec: None,
            strict_types: false,
            chaos: None,
        }
    }
}

impl CmsEmulatorBuilder {
    /// The tenant id of the token endpoint path (default [`DEFAULT_TENANT_ID`]).
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = tenant_id.into();
        self
    }

    /// The confidential client accepted by the token endpoint (default [`DEFAULT_CLIENT_ID`] /
    /// [`DEFAULT_CLIENT_SECRET`]).
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = id.into();
        self.client_secret = secret.into();
        self
    }

    /// Adds a tenant user for the `password` grant (none by default).
    pub fn user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((username.into(), password.into()));
        self
    }

    /// Lifetime of issued tokens, answered as `expires_in` in whole seconds (default
    /// [`DEFAULT_TOKEN_TTL`]).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Answer 429 to `/cms` requests beyond this many per (fixed, one-second) window; `None`
    /// (the default) disables the limit. The real CMS allows 5 per second.
    pub fn rate_limit_per_sec(mut self, limit: Option<u32>) -> Self {
        self.rate_limit_per_sec = limit;
        self
    }

    /// With `true`, creating an instance of a type that has no seeded definition
    /// ([`CmsEmulator::seed_type_definition`]) answers 404, as the real service does. Default
    /// `false`: any type name is accepted (types seeded or not); a seeded type's `required`
    /// attributes are checked either way.
    pub fn strict_types(mut self, strict: bool) -> Self {
        self.strict_types = strict;
        self
    }

    /// Answers a seeded share of `/cms` requests with failures (see [`crate::chaos`]): 429 with
    /// `Retry-After` and the gateway's spike-arrest fault, 503 with the service error shape,
    /// dropped connections (the request is **not** processed) and slow answers (processed, then
    /// answered late). Drawn after the queued failures ([`CmsEmulator::fail_next`]) and before
    /// the token check; the token endpoint and CSS are not subject to chaos.
    pub fn chaos(mut self, chaos: Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty tenant id, client id or secret, or a zero rate limit;
    /// [`Error::Bind`] if the listener cannot bind.
    pub async fn start(self) -> Result<CmsEmulator, Error> {
        for (what, value) in [
            ("tenant id", &self.tenant_id),
            ("client id", &self.client_id),
            ("client secret", &self.client_secret),
        ] {
            if value.trim().is_empty() {
                return Err(Error::Config(format!("the CMS emulator's {what} is empty")));
            }
        }
        if self.rate_limit_per_sec == Some(0) {
            return Err(Error::Config(
                "the CMS emulator's rate limit must be at least 1".to_owned(),
            ));
        }
        let bound = Bound::new().await?;
        let shared = Arc::new(Shared {
            base_url: bound.base_url(),
            tenant_id: self.tenant_id,
            client_id: self.client_id,
            client_secret: self.client_secret,
            users: self.users,
            token_ttl: self.token_ttl,
            rate_limit_per_sec: self.rate_limit_per_sec,
            strict_types: self.strict_types,
            chaos: ChaosEngine::new(self.chaos, Vendor::Cms),
            state: Mutex::new(CmsState::default()),
        });
        let router = Router::new()
            .route("/tenants/{tenant}/oauth2/token", post(token))
            .route(
                "/cms/instances/{category}/{type_name}",
                post(create_instance).get(list_instances),
            )
            .route(
                "/cms/instances/{category}/{type_name}/{id}",
                get(get_instance)
                    .put(ops::put_instance)
                    .patch(ops::patch_instance)
                    .delete(ops::delete_instance),
            )
            .route(
                "/cms/instances/{category}/{type_name}/{id}/{action}",
                axum::routing::any(ops::instance_action),
            )
            .route(
                "/cms/instances/{category}/{type_name}/{id}/contents/{rendition}",
                axum::routing::delete(ops::delete_content),
            )
            .route("/cms/permissions", get(acl::list_acls))
            .route("/cms/permissions/{id}", get(acl::get_acl))
            .route("/cms/deleted", get(acl::list_deleted))
            .route("/cms/deleted/{id}", get(acl::get_deleted))
            .route(
                "/cms/deleted/{id}/{action}",
                axum::routing::put(acl::deleted_action),
            )
            .route("/cms/type-definitions", get(definitions::list_types))
            .route("/cms/type-definitions/{name}", get(definitions::get_type))
            .route(
                "/cms/type-definitions/{name}/{sub}",
                get(definitions::type_attributes),
            )
            .route("/cms/trait-definitions", get(definitions::list_traits))
            .route("/cms/trait-definitions/{name}", get(definitions::get_trait))
            .route(
                "/cms/trait-definitions/{name}/{sub}",
                get(definitions::trait_attributes),
            )
            .route("/v2/tenant/{tenant}/content", post(css::upload_v2))
            .route("/v3/files/fromStream", post(css::upload_v3))
            .route("/v2/content/{id}", get(css::content_info))
            .route("/v2/content/{id}/download", get(css::download))
            .route("/v3/files/{id}/stream", get(css::download))
            .route(
                "/v2/content/{id}/publicShareUrl",
                post(css::create_share_link),
            )
            .route(
                "/v2/content/{id}/publicShareUrl/{link}",
                axum::routing::delete(css::delete_share_link),
            )
            .route("/public/{token}", get(css::public_download))
            .fallback(fallback)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
            .with_state(shared.clone());
        let server = bound.serve("cms", router);
        Ok(CmsEmulator { shared, server })
    }
}

/// A running OpenText CMS + token endpoint emulator on `127.0.0.1`. See the
/// [module docs](self) for the emulated behaviour. Stops serving when dropped or on
/// [`CmsEmulator::shutdown`].
pub struct CmsEmulator {
    shared: Arc<Shared>,
    server: Server,
}

impl fmt::Debug for CmsEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CmsEmulator")
            .field("base_url", &self.base_url())
            .field("tenant_id", &self.shared.tenant_id)
            .field("client_id", &self.shared.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl CmsEmulator {
    /// A builder with the defaults (see [`CmsEmulatorBuilder`]).
    pub fn builder() -> CmsEmulatorBuilder {
        CmsEmulatorBuilder::default()
    }

    /// Starts an emulator with the defaults.
    ///
    /// # Errors
    /// [`Error::Bind`] if the listener cannot bind.
    pub async fn start() -> Result<CmsEmulator, Error> {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:<port>`: the one server for the token endpoint and the CMS.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The auth base (equal to [`Self::base_url`]): the token endpoint is
    /// `{auth_base}/tenants/{tenant_id}/oauth2/token`.
    pub fn auth_base(&self) -> String {
        self.base_url()
    }

    /// The CMS base: `{base_url}/cms` (instances are under `{cms_base}/instances/...`).
    pub fn cms_base(&self) -> String {
        format!("{}/cms", self.shared.base_url)
    }

    /// The full token endpoint URL.
    pub fn token_url(&self) -> String {
        format!(
            "{}/tenants/{}/oauth2/token",
            self.shared.base_url, self.shared.tenant_id
        )
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.shared.tenant_id
    }

    /// The accepted client id.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The accepted client secret.
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// How many requests reached the token endpoint, whatever their outcome.
    pub fn token_requests(&self) -> usize {
        lock(&self.shared.state).token_requests
    }

    /// How many tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        lock(&self.shared.state).tokens_issued
    }

    /// How many requests reached `/cms/...`, whatever their outcome.
    pub fn cms_requests(&self) -> usize {
        lock(&self.shared.state).cms_requests
    }

    /// Makes every token issued so far expired: the next `/cms` call with one of them gets 401
    /// (`keymanagement.service.access_token_expired`). New tokens are valid again.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for info in lock(&self.shared.state).tokens.values_mut() {
            info.expires_at = now;
        }
    }

    /// Every instance, in creation order (the same JSON a `GET` answers).
    pub fn instances(&self) -> Vec<Value> {
        lock(&self.shared.state).instances.clone()
    }

    /// The instances of one type (`type` field equal to `type_name`), in creation order.
    pub fn instances_of_type(&self, type_name: &str) -> Vec<Value> {
        lock(&self.shared.state)
            .instances
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some(type_name))
            .cloned()
            .collect()
    }

    /// Creates an instance directly (no HTTP, no auth), as `POST /cms/instances/{category}/{type}`
    /// would with body `{"name": name, "properties": properties}`, and returns it. For seeding
    /// data that tests then search.
    pub fn seed_instance(
        &self,
        category: &str,
        type_name: &str,
        name: &str,
        properties: Map<String, Value>,
    ) -> Value {
        let mut body = Map::new();
        body.insert("name".to_owned(), Value::String(name.to_owned()));
        body.insert("properties".to_owned(), Value::Object(properties));
        self.seed_instance_body(category, type_name, body)
    }

    /// Creates an instance directly from a full create body (`name`, `parent_folder_id`,
    /// `properties`, `traits`, `renditions`, …), as `POST /cms/instances/{category}/{type}` would,
    /// and returns it. For seeding folders, trait instances and files with content.
    pub fn seed_instance_body(
        &self,
        category: &str,
        type_name: &str,
        body: Map<String, Value>,
    ) -> Value {
        ops::insert_new(&self.shared, category, type_name, body, "seed", None)
    }

    /// Declares a type definition (`{name, category?, namespace?, display_name?, attributes:
    /// [{name, data_type, required?, repeating?, …}], …}`), served by
    /// `GET /cms/type-definitions…`. `category` defaults to `object`. A seeded type's `required`
    /// attributes are checked on create; with [`CmsEmulatorBuilder::strict_types`] only seeded
    /// types can be instantiated. A definition with the same `name` is replaced.
    pub fn seed_type_definition(&self, definition: Value) {
        definitions::seed(&self.shared, definitions::Kind::Type, definition);
    }

    /// Declares a trait definition (`{name, namespace?, attributes: […]}`), served by
    /// `GET /cms/trait-definitions…`. A definition with the same `name` is replaced.
    pub fn seed_trait_definition(&self, definition: Value) {
        definitions::seed(&self.shared, definitions::Kind::Trait, definition);
    }

    /// Declares an ACL (`{name, description?, named?, permits?: [{identity, identity_type,
    /// permissions[]}]}`), served by `GET /cms/permissions…` and assignable with
    /// `PUT …/{id}/acl`. Returns its id.
    pub fn seed_acl(&self, acl: Value) -> String {
        let acl = match acl {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        acl::seed(&self.shared, acl)
    }

    /// The soft-deleted instances (the recycle bin), in deletion order.
    pub fn deleted_instances(&self) -> Vec<Value> {
        lock(&self.shared.state).recycle_bin.clone()
    }

    /// One instance by id (any category or type), `None` when absent or deleted.
    pub fn instance(&self, id: &str) -> Option<Value> {
        lock(&self.shared.state)
            .instances
            .iter()
            .find(|i| i.get("id").and_then(Value::as_str) == Some(id))
            .cloned()
    }

    /// The renditions of a file instance (as `GET …/contents` lists them).
    pub fn renditions(&self, id: &str) -> Vec<Value> {
        lock(&self.shared.state)
            .contents
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// The history entries of an instance, oldest first.
    pub fn history(&self, id: &str) -> Vec<Value> {
        lock(&self.shared.state)
            .history
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// The CSS base: equal to [`Self::base_url`] (the emulator serves `/v2/...` and `/v3/...`
    /// next to `/cms`; the real CSS is a separate host).
    pub fn css_base(&self) -> String {
        self.base_url()
    }

    /// The bytes of an uploaded content (by content id or blob id).
    pub fn content(&self, id: &str) -> Option<Vec<u8>> {
        let state = lock(&self.shared.state);
        css::find_blob(&state, id).map(|b| b.data.to_vec())
    }

    /// The content records of every upload, in no particular order (the JSON `GET /v2/content/{id}`
    /// answers).
    pub fn contents_uploaded(&self) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state
            .blobs
            .values()
            .map(|b| b.record(&self.shared))
            .collect()
    }

    /// Every share link created: `{id, content_id, object_id, publicUrl, expiresAt, revoked}`.
    pub fn share_links(&self) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state
            .share_links
            .iter()
            .map(|(token, link)| link.describe(&self.shared, token))
            .collect()
    }

    /// Makes every share link expired: public downloads through them answer 410.
    pub fn expire_share_links(&self) {
        for link in lock(&self.shared.state).share_links.values_mut() {
            link.expires_at = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
        }
    }

    /// How many `/cms` requests chaos answered (or slowed down) instead of the emulator.
    pub fn chaos_count(&self) -> usize {
        self.shared.chaos.counts().total()
    }

    /// How many `/cms` requests chaos answered (or slowed down), per kind.
    pub fn chaos_counts(&self) -> ChaosCounts {
        self.shared.chaos.counts()
    }

    /// How many requests reached the CSS endpoints (`/v2/...`, `/v3/...`), whatever their outcome.
    pub fn css_requests(&self) -> usize {
        lock(&self.shared.state).css_requests
    }

    /// The next `n` `/cms/...` requests answer with `failure`, **replacing** any failures still
    /// queued (`fail_next(0, _)` cancels them). The token endpoint is not affected (see
    /// [`Self::fail_next_token`]). See [`Failure`].
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut state = lock(&self.shared.state);
        state.failures.clear();
        state.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Appends `n` times `failure` behind the `/cms` failures already queued, to script a
    /// sequence.
    pub fn enqueue_failures(&self, n: usize, failure: Failure) {
        lock(&self.shared.state)
            .failures
            .extend(std::iter::repeat_n(failure, n));
    }

    /// How many injected `/cms` failures are still queued.
    pub fn pending_failures(&self) -> usize {
        lock(&self.shared.state).failures.len()
    }

    /// The next `n` token requests answer with `failure`, replacing token failures still queued.
    /// [`Failure::Status`] bodies use the service error shape.
    pub fn fail_next_token(&self, n: usize, failure: Failure) {
        let mut state = lock(&self.shared.state);
        state.token_failures.clear();
        state.token_failures.extend(std::iter::repeat_n(failure, n));
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

fn service_error(status: StatusCode, exception: &str, message: impl Into<String>) -> Response {
    json_response(
        status,
        json!({ "exception": exception, "message": message.into() }),
    )
}

fn gateway_fault(status: StatusCode, faultstring: &str, errorcode: &str) -> Response {
    json_response(
        status,
        json!({ "fault": { "faultstring": faultstring, "detail": { "errorcode": errorcode } } }),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({ "error": error, "error_description": description }),
    )
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

fn token_params(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, Box<Response>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let looks_json = content_type.contains("json")
        || (content_type.is_empty()
            && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'));
    if looks_json {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Err(Box::new(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request body is not a JSON object",
            )));
        };
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                Value::Bool(b) => Some((k, b.to_string())),
                _ => None,
            })
            .collect())
    } else {
        Ok(url::form_urlencoded::parse(body).into_owned().collect())
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let injected = {
        let mut state = lock(&shared.state);
        state.token_requests += 1;
        state
            .token_failures
            .pop_front()
            .map(|f| f.inject(Vendor::Cms))
    };
    let delay = match injected {
        Some(Injected::Respond(response)) => return response,
        Some(Injected::Delay(delay)) => Some(delay),
        None => None,
    };
    let response = issue_token(&shared, &tenant, &headers, &body);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

fn issue_token(shared: &Shared, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    if tenant != shared.tenant_id {
        return oauth_error(StatusCode::NOT_FOUND, "invalid_request", "unknown tenant");
    }
    let params = match token_params(headers, body) {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let Some(grant_type) = params.get("grant_type") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        );
    };
    if grant_type != "client_credentials" && grant_type != "password" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "the emulator supports client_credentials and password",
        );
    }
    let (client_id, client_secret) = match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => basic_credentials(headers).unwrap_or_default(),
    };
    if client_id != shared.client_id || client_secret != shared.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    let subject = if grant_type == "password" {
        let (Some(username), Some(password)) = (params.get("username"), params.get("password"))
        else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "username and password are required for the password grant",
            );
        };
        if !shared
            .users
            .iter()
            .any(|(u, p)| u == username && p == password)
        {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid user credentials",
            );
        }
        username.clone()
    } else {
        client_id
    };
    let access_token = util::token(32);
    {
        let mut state = lock(&shared.state);
        state.tokens.insert(
            access_token.clone(),
            TokenInfo {
                expires_at: Instant::now() + shared.token_ttl,
                subject,
            },
        );
        state.tokens_issued += 1;
    }
    json_response(
        StatusCode::OK,
        json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": shared.token_ttl.as_secs(),
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// /cms guard: failure injection, bearer token, rate limit

/// What a `/cms` handler may do after the guard.
struct Admitted {
    subject: String,
    delay: Option<Duration>,
}

fn guard(shared: &Shared, headers: &HeaderMap) -> Result<Admitted, Box<Response>> {
    let mut state = lock(&shared.state);
    state.cms_requests += 1;
    let delay = match state.failures.pop_front().map(|f| f.inject(Vendor::Cms)) {
        Some(Injected::Respond(response)) => return Err(Box::new(response)),
        Some(Injected::Delay(delay)) => Some(delay),
        // No queued failure: chaos may answer instead (no effect) or slow the answer down.
        None => match shared.chaos.roll() {
            Some(ChaosAction::Respond(response)) => return Err(Box::new(response)),
            Some(ChaosAction::Slow(delay)) => Some(delay),
            None => None,
        },
    };
    let subject = check_token(&state, headers)?;
    let now = Instant::now();
    if let Some(limit) = shared.rate_limit_per_sec {
        let window = match state.rate_window {
            Some((start, count)) if now.duration_since(start) < Duration::from_secs(1) => {
                (start, count + 1)
            }
            _ => (now, 1),
        };
        state.rate_window = Some(window);
        if window.1 > limit {
            return Err(Box::new(gateway_fault(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Spike arrest violation. Allowed rate : {limit}ps"),
                "policies.ratelimit.SpikeArrestViolation",
            )));
        }
    }
    Ok(Admitted { subject, delay })
}

/// The subject of the request's bearer token, or the gateway's 401.
fn check_token(state: &CmsState, headers: &HeaderMap) -> Result<String, Box<Response>> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(bearer) = bearer else {
        return Err(Box::new(gateway_fault(
            StatusCode::UNAUTHORIZED,
            "Invalid access token",
            "oauth.v2.InvalidAccessToken",
        )));
    };
    match state.tokens.get(bearer) {
        None => Err(Box::new(gateway_fault(
            StatusCode::UNAUTHORIZED,
            "Invalid Access Token",
            "keymanagement.service.invalid_access_token",
        ))),
        Some(info) if info.expires_at <= Instant::now() => Err(Box::new(gateway_fault(
            StatusCode::UNAUTHORIZED,
            "Access Token expired",
            "keymanagement.service.access_token_expired",
        ))),
        Some(info) => Ok(info.subject.clone()),
    }
}

async fn finish(response: Response, delay: Option<Duration>) -> Response {
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

async fn fallback(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if uri.path().starts_with("/cms") {
        let admitted = match guard(&shared, &headers) {
            Ok(admitted) => admitted,
            Err(response) => return *response,
        };
        let response = service_error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            format!("the emulator does not implement {}", uri.path()),
        );
        return finish(response, admitted.delay).await;
    }
    (StatusCode::NOT_FOUND, "not found").into_response()
}

// ---------------------------------------------------------------------------------------------
// Instances

fn category_matches(requested: &str, actual: &Value) -> bool {
    requested == "any" || actual.get("category").and_then(Value::as_str) == Some(requested)
}

fn type_matches(requested: &str, actual: &Value) -> bool {
    requested == "cms_any" || actual.get("type").and_then(Value::as_str) == Some(requested)
}

fn build_instance(
    shared: &Shared,
    category: &str,
    type_name: &str,
    mut body: Map<String, Value>,
    subject: &str,
) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    let now = util::now_rfc3339();
    for system in [
        "id",
        "category",
        "type",
        "create_time",
        "update_time",
        "_links",
        "_embedded",
    ] {
        body.remove(system);
    }
    if !matches!(body.get("properties"), Some(Value::Object(_))) {
        body.insert("properties".to_owned(), json!({}));
    }
    if !matches!(body.get("traits"), Some(Value::Object(_))) {
        body.insert("traits".to_owned(), json!({}));
    }
    body.entry("parent_folder_id").or_insert(Value::Null);
    body.insert("id".to_owned(), Value::String(id.clone()));
    body.insert("category".to_owned(), Value::String(category.to_owned()));
    body.insert("type".to_owned(), Value::String(type_name.to_owned()));
    body.insert("create_time".to_owned(), Value::String(now.clone()));
    body.insert("update_time".to_owned(), Value::String(now));
    for who in ["created_by", "updated_by", "owner"] {
        body.insert(who.to_owned(), Value::String(subject.to_owned()));
    }
    if category == "file" {
        body.insert("version_no".to_owned(), json!(1));
        body.insert("latest".to_owned(), json!(true));
    }
    body.insert(
        "_links".to_owned(),
        json!({ "self": { "href": format!("{}/cms/instances/{category}/{type_name}/{id}", shared.base_url) } }),
    );
    Value::Object(body)
}

async fn create_instance(
    State(shared): State<Arc<Shared>>,
    Path((category, type_name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = create(&shared, &category, &type_name, &body, &admitted.subject);
    finish(response, admitted.delay).await
}

fn create(
    shared: &Shared,
    category: &str,
    type_name: &str,
    body: &[u8],
    subject: &str,
) -> Response {
    if !CATEGORIES.contains(&category) {
        return service_error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            format!(
                "instances cannot be created in category '{category}'; use one of {}",
                CATEGORIES.join(", ")
            ),
        );
    }
    if type_name == "cms_any" || type_name.trim().is_empty() {
        return service_error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            format!("instances cannot be created with type '{type_name}'"),
        );
    }
    let body = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) => {
            return service_error(
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                "the request body must be a JSON object",
            );
        }
    };
    if body
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return service_error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "name is required",
        );
    }
    if body
        .get("properties")
        .is_some_and(|p| !p.is_object() && !p.is_null())
    {
        return service_error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "properties must be a JSON object",
        );
    }
    if let Err(response) = definitions::check_instance(shared, type_name, &body) {
        return *response;
    }
    let instance = ops::insert_new(shared, category, type_name, body, subject, None);
    let mut response = json_response(StatusCode::CREATED, instance.clone());
    if let Some(location) = instance
        .pointer("/_links/self/href")
        .and_then(Value::as_str)
        .and_then(|href| HeaderValue::from_str(href).ok())
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn get_instance(
    State(shared): State<Arc<Shared>>,
    Path((category, type_name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let found = lock(&shared.state)
        .instances
        .iter()
        .find(|i| {
            i.get("id").and_then(Value::as_str) == Some(id.as_str())
                && category_matches(&category, i)
                && type_matches(&type_name, i)
        })
        .cloned();
    let response = match found {
        Some(instance) => json_response(StatusCode::OK, instance),
        None => service_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("no instance with id '{id}' of type '{type_name}' in category '{category}'"),
        ),
    };
    finish(response, admitted.delay).await
}

struct ListQuery {
    params: Vec<(String, String)>,
    filter: Option<filter::Filter>,
    sort: Vec<filter::SortKey>,
    page: usize,
    per_page: usize,
    include_total: bool,
}

fn parse_list_query(raw: Option<&str>) -> Result<ListQuery, String> {
    let params: Vec<(String, String)> = raw
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let get = |key: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let filter = get("filter").map(filter::parse).transpose()?;
    let sort = get("sortby")
        .map(filter::parse_sort)
        .transpose()?
        .unwrap_or_default();
    let page = match get("page") {
        None => 1,
        Some(p) => p
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| format!("invalid page '{p}': pages are numbered from 1"))?,
    };
    let per_page = match get("items-per-page") {
        None => DEFAULT_ITEMS_PER_PAGE,
        Some(n) => n
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_ITEMS_PER_PAGE).contains(n))
            .ok_or_else(|| {
                format!("invalid items-per-page '{n}': use 1 to {MAX_ITEMS_PER_PAGE}")
            })?,
    };
    let include_total = match get("include-total") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(format!("invalid include-total '{v}': use true or false")),
    };
    Ok(ListQuery {
        params,
        filter,
        sort,
        page,
        per_page,
        include_total,
    })
}

fn page_href(base: &str, params: &[(String, String)], page: usize) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    let mut page_written = false;
    for (key, value) in params {
        if key == "page" {
            if !page_written {
                serializer.append_pair("page", &page.to_string());
                page_written = true;
            }
        } else {
            serializer.append_pair(key, value);
        }
    }
    if !page_written {
        serializer.append_pair("page", &page.to_string());
    }
    format!("{base}?{}", serializer.finish())
}

async fn list_instances(
    State(shared): State<Arc<Shared>>,
    Path((category, type_name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = list(&shared, &category, &type_name, raw.as_deref());
    finish(response, admitted.delay).await
}

fn list(shared: &Shared, category: &str, type_name: &str, raw: Option<&str>) -> Response {
    let state = lock(&shared.state);
    // Filter and sort by reference and clone only the page: a lookup by key property (what
    // InstanceSink does before every create) stays cheap however many instances exist.
    let items: Vec<&Value> = state
        .instances
        .iter()
        .filter(|i| category_matches(category, i) && type_matches(type_name, i))
        .collect();
    hal_list(
        shared,
        &format!("/cms/instances/{category}/{type_name}"),
        raw,
        items,
    )
}

/// A HAL page of `items` (filtered, sorted and paged by the query in `raw`) for the collection
/// at `path` (absolute links are built from it).
fn hal_list(shared: &Shared, path: &str, raw: Option<&str>, items: Vec<&Value>) -> Response {
    let query = match parse_list_query(raw) {
        Ok(query) => query,
        Err(message) => {
            return service_error(StatusCode::BAD_REQUEST, "BadRequestException", message);
        }
    };
    let mut matching: Vec<&Value> = items
        .into_iter()
        .filter(|i| query.filter.as_ref().is_none_or(|f| f.matches(i)))
        .collect();
    filter::sort(&mut matching, &query.sort);
    let total = matching.len();
    let start = (query.page - 1).saturating_mul(query.per_page);
    let page: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(query.per_page)
        .cloned()
        .collect();
    let has_next = start.saturating_add(query.per_page) < total;

    let base = format!("{}{path}", shared.base_url);
    let mut links = Map::new();
    let self_href = match raw {
        Some(raw) if !raw.is_empty() => format!("{base}?{raw}"),
        _ => base.clone(),
    };
    links.insert("self".to_owned(), json!({ "href": self_href }));
    if has_next {
        links.insert(
            "next".to_owned(),
            json!({ "href": page_href(&base, &query.params, query.page + 1) }),
        );
    }
    if query.page > 1 {
        links.insert(
            "previous".to_owned(),
            json!({ "href": page_href(&base, &query.params, query.page - 1) }),
        );
    }
    let mut body = Map::new();
    if !page.is_empty() {
        body.insert("_embedded".to_owned(), json!({ "collection": page }));
    }
    if query.include_total {
        body.insert("total".to_owned(), json!(total));
    }
    body.insert("page".to_owned(), json!(query.page));
    body.insert("_links".to_owned(), Value::Object(links));
    json_response(StatusCode::OK, Value::Object(body))
}
