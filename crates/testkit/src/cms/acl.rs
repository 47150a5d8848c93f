//! ACLs and the recycle bin (`../shared/api/opentext-orangelogic.md` §1.4, OpenText's
//! contract-approval sample and the `OT_alpaca` explorer):
//!
//! - `GET /cms/permissions[?filter=name eq 'x'&page&items-per-page&include-total]` → a HAL page of
//!   ACLs `{id, name, description?, named, permits:[{identity, identity_type, permissions[]}],
//!   _links}` (seeded with [`CmsEmulator::seed_acl`](super::CmsEmulator::seed_acl));
//!   `GET /cms/permissions/{id}` → one ACL or 404.
//! - `GET …/{id}/acl` → the ACL of the instance (404 when it has none);
//!   `PUT …/{id}/acl[?recursive=true][&force=true]` with `{"id": aclId}` → 200 with the instance,
//!   its `acl_id` set (a folder's descendants too with `recursive=true`); an unknown ACL → 400.
//! - `GET /cms/deleted[?page&items-per-page&include-total&sortby&filter]` → a HAL page of the
//!   soft-deleted instances; `GET /cms/deleted/{id}` → one, or 404;
//!   `PUT /cms/deleted/{id}/restore[?all-version=true][&recursive=true]` → 204, the instance
//!   back in place (every deleted version of the series with `all-version`, the deleted
//!   descendants of a folder with `recursive`); an id not in the bin → 404.

// Handlers short-circuit with the HTTP error response itself; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::{
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{Shared, finish, guard, hal_list, json_response, service_error};
use crate::util::lock;

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn flag(raw: Option<&str>, name: &str) -> bool {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == name && v.eq_ignore_ascii_case("true"))
    })
    .unwrap_or(false)
}

/// A stored ACL from a seed `{name, description?, named?, permits?}`: an id and a self link.
pub(super) fn seed(shared: &Shared, mut acl: serde_json::Map<String, Value>) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    acl.insert("id".to_owned(), json!(id));
    acl.entry("named").or_insert(json!(true));
    acl.entry("permits").or_insert(json!([]));
    acl.insert(
        "_links".to_owned(),
        json!({ "self": { "href": format!("{}/cms/permissions/{id}", shared.base_url) } }),
    );
    lock(&shared.state).acls.push(Value::Object(acl));
    id
}

/// `GET /cms/permissions`.
pub(super) async fn list_acls(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = {
        let state = lock(&shared.state);
        hal_list(
            &shared,
            "/cms/permissions",
            raw.as_deref(),
            state.acls.iter().collect(),
        )
    };
    finish(response, admitted.delay).await
}

/// `GET /cms/permissions/{id}`.
pub(super) async fn get_acl(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = {
        let state = lock(&shared.state);
        match state.acls.iter().find(|a| str_field(a, "id") == id) {
            Some(acl) => json_response(StatusCode::OK, acl.clone()),
            None => no_acl(&id),
        }
    };
    finish(response, admitted.delay).await
}

fn no_acl(id: &str) -> Response {
    service_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("no ACL '{id}'"),
    )
}

/// `GET …/{id}/acl` (called from the instance action route with the instance's position).
pub(super) fn instance_acl(shared: &Shared, at: usize) -> Response {
    let state = lock(&shared.state);
    let acl_id = str_field(&state.instances[at], "acl_id");
    match state.acls.iter().find(|a| str_field(a, "id") == acl_id) {
        Some(acl) => json_response(StatusCode::OK, acl.clone()),
        None => no_acl(&acl_id),
    }
}

/// `PUT …/{id}/acl` with `{"id": aclId}`: sets `acl_id` on the instance (and, with
/// `recursive=true`, on every descendant of a folder).
pub(super) fn set_instance_acl(
    shared: &Shared,
    id: &str,
    raw: Option<&str>,
    body: &[u8],
) -> Response {
    let Some(acl_id) = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b.get("id").and_then(Value::as_str).map(str::to_owned))
    else {
        return service_error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "the body must be {\"id\": \"<acl id>\"}",
        );
    };
    let mut state = lock(&shared.state);
    if !state.acls.iter().any(|a| str_field(a, "id") == acl_id) {
        return service_error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            format!("unknown ACL '{acl_id}'"),
        );
    }
    let mut ids = vec![id.to_owned()];
    if flag(raw, "recursive") {
        let mut queue = vec![id.to_owned()];
        while let Some(parent) = queue.pop() {
            for child in state
                .instances
                .iter()
                .filter(|i| str_field(i, "parent_folder_id") == parent)
                .map(|i| str_field(i, "id"))
                .collect::<Vec<_>>()
            {
                ids.push(child.clone());
                queue.push(child);
            }
        }
    }
    let mut updated = Value::Null;
    for instance in &mut state.instances {
        let instance_id = str_field(instance, "id");
        if ids.contains(&instance_id)
            && let Some(obj) = instance.as_object_mut()
        {
            obj.insert("acl_id".to_owned(), json!(acl_id));
            if instance_id == id {
                updated = Value::Object(obj.clone());
            }
        }
    }
    json_response(StatusCode::OK, updated)
}

/// `GET /cms/deleted`.
pub(super) async fn list_deleted(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = {
        let state = lock(&shared.state);
        hal_list(
            &shared,
            "/cms/deleted",
            raw.as_deref(),
            state.recycle_bin.iter().collect(),
        )
    };
    finish(response, admitted.delay).await
}

fn not_in_bin(id: &str) -> Response {
    service_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("'{id}' is not in the recycle bin"),
    )
}

/// `GET /cms/deleted/{id}`.
pub(super) async fn get_deleted(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = {
        let state = lock(&shared.state);
        match state.recycle_bin.iter().find(|i| str_field(i, "id") == id) {
            Some(item) => json_response(StatusCode::OK, item.clone()),
            None => not_in_bin(&id),
        }
    };
    finish(response, admitted.delay).await
}

/// `PUT /cms/deleted/{id}/{action}`: only `restore`.
pub(super) async fn deleted_action(
    State(shared): State<Arc<Shared>>,
    Path((id, action)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = if action == "restore" {
        restore(&shared, &id, raw.as_deref(), &admitted.subject)
    } else {
        service_error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            format!("the emulator does not implement PUT /deleted/{{id}}/{action}"),
        )
    };
    finish(response, admitted.delay).await
}

fn restore(shared: &Shared, id: &str, raw: Option<&str>, subject: &str) -> Response {
    let mut state = lock(&shared.state);
    if !state.recycle_bin.iter().any(|i| str_field(i, "id") == id) {
        return not_in_bin(id);
    }
    let mut ids = vec![id.to_owned()];
    if flag(raw, "all-version")
        && let Some(series) = state.series.get(id).cloned()
    {
        ids.extend(
            state
                .series
                .iter()
                .filter(|(i, s)| **s == series && i.as_str() != id)
                .map(|(i, _)| i.clone()),
        );
    }
    if flag(raw, "recursive") {
        let mut queue = vec![id.to_owned()];
        while let Some(parent) = queue.pop() {
            for child in state
                .recycle_bin
                .iter()
                .filter(|i| str_field(i, "parent_folder_id") == parent)
                .map(|i| str_field(i, "id"))
                .collect::<Vec<_>>()
            {
                if !ids.contains(&child) {
                    ids.push(child.clone());
                    queue.push(child);
                }
            }
        }
    }
    let (back, kept): (Vec<Value>, Vec<Value>) = std::mem::take(&mut state.recycle_bin)
        .into_iter()
        .partition(|i| ids.contains(&str_field(i, "id")));
    state.recycle_bin = kept;
    for item in &back {
        super::ops::record(&mut state, &str_field(item, "id"), "restore", subject);
    }
    state.instances.extend(back);
    StatusCode::NO_CONTENT.into_response()
}
