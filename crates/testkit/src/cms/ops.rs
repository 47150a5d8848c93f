//! Instance operations beyond create/get/list: full and partial update, parent and move, soft
//! and hard delete, versions (`nextVersion`), renditions (`contents`), history and folder items.
//!
//! Paths follow `../shared/api/opentext-orangelogic.md` §1.4 and §1.7.

// Handlers short-circuit with the HTTP error response itself; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{
    Shared, build_instance, category_matches, finish, guard, hal_list, json_response,
    service_error, type_matches,
};
use crate::util::{self, lock};

/// Stores a new instance built from a create body: renditions go to the instance's contents
/// (with ids and download links), a `create` history entry is written, files join a version
/// series (`series`, or a new one).
pub(super) fn insert_new(
    shared: &Shared,
    category: &str,
    type_name: &str,
    mut body: Map<String, Value>,
    subject: &str,
    series: Option<String>,
) -> Value {
    let renditions = match body.remove("renditions") {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let mut instance = build_instance(shared, category, type_name, body, subject);
    let id = str_field(&instance, "id");
    let mut state = lock(&shared.state);
    let contents: Vec<Value> = renditions
        .into_iter()
        .filter_map(|r| match r {
            Value::Object(map) => Some(rendition(shared, &state, map)),
            _ => None,
        })
        .collect();
    if let Some(primary) = contents
        .iter()
        .find(|r| r.get("rendition_type").and_then(Value::as_str) == Some("primary"))
        .or_else(|| contents.first())
        && let Some(obj) = instance.as_object_mut()
    {
        if let Some(mime) = primary.get("mime_type") {
            obj.insert("mime_type".to_owned(), mime.clone());
        }
        if let Some(size) = primary.get("content_size") {
            obj.insert("content_size".to_owned(), size.clone());
        }
        if let Some(Value::Object(links)) = obj.get_mut("_links")
            && let Some(href) = primary.pointer("/_links/urn:eim:linkrel:download-media")
        {
            links.insert("urn:eim:linkrel:download-media".to_owned(), href.clone());
        }
    }
    if category == "file" {
        state
            .series
            .insert(id.clone(), series.unwrap_or_else(|| id.clone()));
    }
    if !contents.is_empty() {
        state.contents.insert(id.clone(), contents);
    }
    record(&mut state, &id, "create", subject);
    state.instances.push(instance.clone());
    instance
}

/// A stored rendition from its draft `{name, blob_id, rendition_type?, mime_type?}`: an id, the
/// size and MIME type of the CSS blob when known, and a download link.
fn rendition(shared: &Shared, state: &super::CmsState, mut draft: Map<String, Value>) -> Value {
    let blob_id = draft
        .get("blob_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    draft.insert(
        "id".to_owned(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    draft
        .entry("rendition_type")
        .or_insert_with(|| json!("primary"));
    if let Some(blob) = super::css::find_blob(state, &blob_id) {
        draft
            .entry("mime_type")
            .or_insert_with(|| json!(blob.mime_type));
        draft.insert("content_size".to_owned(), json!(blob.data.len()));
    }
    // A v3 file id (`"source": "FILE_ID"`) downloads through the v3 stream endpoint.
    let href = if draft.get("source").and_then(Value::as_str) == Some("FILE_ID") {
        format!("{}/v3/files/{blob_id}/stream", shared.base_url)
    } else {
        format!("{}/v2/content/{blob_id}/download", shared.base_url)
    };
    draft.insert(
        "_links".to_owned(),
        json!({ "urn:eim:linkrel:download-media": { "href": href } }),
    );
    Value::Object(draft)
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub(super) fn record(state: &mut super::CmsState, id: &str, event: &str, subject: &str) {
    let entries = state.history.entry(id.to_owned()).or_default();
    let n = entries.len() + 1;
    entries.push(json!({
        "id": format!("{id}-h{n}"),
        "event_type": event,
        "user_name": subject,
        "event_time": util::now_rfc3339(),
    }));
}

fn position(state: &super::CmsState, category: &str, type_name: &str, id: &str) -> Option<usize> {
    state.instances.iter().position(|i| {
        i.get("id").and_then(Value::as_str) == Some(id)
            && category_matches(category, i)
            && type_matches(type_name, i)
    })
}

fn not_found(category: &str, type_name: &str, id: &str) -> Response {
    service_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("no instance with id '{id}' of type '{type_name}' in category '{category}'"),
    )
}

fn bad_request(message: impl Into<String>) -> Response {
    service_error(StatusCode::BAD_REQUEST, "BadRequestException", message)
}

fn object_body(body: &[u8]) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(bad_request("the request body must be a JSON object")),
    }
}

const SYSTEM: &[&str] = &[
    "id",
    "category",
    "type",
    "create_time",
    "created_by",
    "owner",
    "version_no",
    "latest",
    "_links",
    "mime_type",
    "content_size",
];

fn touch(instance: &mut Map<String, Value>, subject: &str) {
    instance.insert("update_time".to_owned(), json!(util::now_rfc3339()));
    instance.insert("updated_by".to_owned(), json!(subject));
}

/// `PUT …/{id}`: replaces every non-system field with the body's (`name` required).
pub(super) async fn put_instance(
    State(shared): State<Arc<Shared>>,
    Path((category, type_name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = (|| {
        let body = object_body(&body)?;
        if body
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(|n| n.trim().is_empty())
        {
            return Err(bad_request("name is required"));
        }
        if let Err(response) = super::definitions::check_instance(&shared, &type_name, &body) {
            return Err(*response);
        }
        let mut state = lock(&shared.state);
        let Some(at) = position(&state, &category, &type_name, &id) else {
            return Err(not_found(&category, &type_name, &id));
        };
        let Some(old) = state.instances[at].as_object().cloned() else {
            return Err(not_found(&category, &type_name, &id));
        };
        let mut new: Map<String, Value> = old
            .iter()
            .filter(|(k, _)| SYSTEM.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in body {
            if !SYSTEM.contains(&k.as_str()) {
                new.insert(k, v);
            }
        }
        for (key, empty) in [("properties", json!({})), ("traits", json!({}))] {
            if !new.get(key).is_some_and(Value::is_object) {
                new.insert(key.to_owned(), empty);
            }
        }
        new.entry("parent_folder_id").or_insert(Value::Null);
        touch(&mut new, &admitted.subject);
        let updated = Value::Object(new);
        state.instances[at] = updated.clone();
        record(&mut state, &id, "update", &admitted.subject);
        Ok(json_response(StatusCode::OK, updated))
    })()
    .unwrap_or_else(|response| response);
    finish(response, admitted.delay).await
}

/// `PATCH …/{id}`: merges `properties`, adds/replaces trait instances, removes a trait given as
/// `{}`, sets any other non-system field.
pub(super) async fn patch_instance(
    State(shared): State<Arc<Shared>>,
    Path((category, type_name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = (|| {
        let body = object_body(&body)?;
        let mut state = lock(&shared.state);
        let Some(at) = position(&state, &category, &type_name, &id) else {
            return Err(not_found(&category, &type_name, &id));
        };
        let Some(instance) = state.instances[at].as_object_mut() else {
            return Err(not_found(&category, &type_name, &id));
        };
        for (key, value) in body {
            match (key.as_str(), value) {
                ("properties", Value::Object(props)) => {
                    let target = instance.entry("properties").or_insert_with(|| json!({}));
                    if let Some(target) = target.as_object_mut() {
                        target.extend(props);
                    }
                }
                ("traits", Value::Object(traits)) => {
                    let target = instance.entry("traits").or_insert_with(|| json!({}));
                    let Some(target) = target.as_object_mut() else {
                        continue;
                    };
                    for (trait_name, instances) in traits {
                        match instances {
                            Value::Object(map) if map.is_empty() => {
                                target.remove(&trait_name);
                            }
                            Value::Object(map) => {
                                let entry = target.entry(trait_name).or_insert_with(|| json!({}));
                                if let Some(entry) = entry.as_object_mut() {
                                    entry.extend(map);
                                }
                            }
                            _ => {
                                return Err(bad_request(
                                    "each trait must be an object of trait instances",
                                ));
                            }
                        }
                    }
                }
                ("properties" | "traits", _) => {
                    return Err(bad_request(format!("{key} must be a JSON object")));
                }
                (k, v) if !SYSTEM.contains(&k) => {
                    instance.insert(key, v);
                }
                _ => {}
            }
        }
        touch(instance, &admitted.subject);
        let updated = Value::Object(instance.clone());
        record(&mut state, &id, "patch", &admitted.subject);
        Ok(json_response(StatusCode::OK, updated))
    })()
    .unwrap_or_else(|response| response);
    finish(response, admitted.delay).await
}

/// The ids an operation on `id` affects: every version with `all_versions`, every descendant of
/// a folder with `recursive`. A non-empty folder without `recursive` is a 409.
fn affected(
    state: &super::CmsState,
    id: &str,
    all_versions: bool,
    recursive: bool,
) -> Result<Vec<String>, Response> {
    let mut ids = vec![id.to_owned()];
    if all_versions && let Some(series) = state.series.get(id) {
        ids = state
            .series
            .iter()
            .filter(|(_, s)| *s == series)
            .map(|(i, _)| i.clone())
            .collect();
    }
    let children = |parent: &str| -> Vec<String> {
        state
            .instances
            .iter()
            .filter(|i| i.get("parent_folder_id").and_then(Value::as_str) == Some(parent))
            .map(|i| str_field(i, "id"))
            .collect()
    };
    if !children(id).is_empty() && !recursive {
        return Err(service_error(
            StatusCode::CONFLICT,
            "ConflictException",
            "the folder is not empty; use recursive=true",
        ));
    }
    let mut queue = vec![id.to_owned()];
    while let Some(parent) = queue.pop() {
        for child in children(&parent) {
            if !ids.contains(&child) {
                ids.push(child.clone());
                queue.push(child);
            }
        }
    }
    Ok(ids)
}

fn flag(raw: Option<&str>, name: &str) -> bool {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == name && v.eq_ignore_ascii_case("true"))
    })
    .unwrap_or(false)
}

/// Removes the instances `ids`; to the recycle bin when `soft`.
fn remove(state: &mut super::CmsState, ids: &[String], soft: bool, subject: &str) {
    let (gone, kept): (Vec<Value>, Vec<Value>) = std::mem::take(&mut state.instances)
        .into_iter()
        .partition(|i| ids.contains(&str_field(i, "id")));
    state.instances = kept;
    for id in ids {
        record(
            state,
            id,
            if soft { "soft_delete" } else { "delete" },
            subject,
        );
    }
    if soft {
        state.recycle_bin.extend(gone);
    } else {
        for id in ids {
            state.contents.remove(id);
        }
    }
}

/// `DELETE …/{id}[?recursive=true]`: hard delete (204).
pub(super) async fn delete_instance(
    State(shared): State<Arc<Shared>>,
    Path((category, type_name, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = delete(
        &shared,
        (&category, &type_name, &id),
        false,
        flag(raw.as_deref(), "recursive"),
        false,
        &admitted.subject,
    );
    finish(response, admitted.delay).await
}

fn delete(
    shared: &Shared,
    (category, type_name, id): (&str, &str, &str),
    all_versions: bool,
    recursive: bool,
    soft: bool,
    subject: &str,
) -> Response {
    let mut state = lock(&shared.state);
    if position(&state, category, type_name, id).is_none() {
        return not_found(category, type_name, id);
    }
    match affected(&state, id, all_versions, recursive) {
        Ok(ids) => {
            remove(&mut state, &ids, soft, subject);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => response,
    }
}

/// `DELETE …/{id}/contents/{rendition}` (204).
pub(super) async fn delete_content(
    State(shared): State<Arc<Shared>>,
    Path((category, type_name, id, rendition_id)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = {
        let mut state = lock(&shared.state);
        if position(&state, &category, &type_name, &id).is_none() {
            not_found(&category, &type_name, &id)
        } else {
            let list = state.contents.entry(id.clone()).or_default();
            let before = list.len();
            list.retain(|r| r.get("id").and_then(Value::as_str) != Some(rendition_id.as_str()));
            if list.len() == before {
                service_error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFoundException",
                    format!("no rendition '{rendition_id}'"),
                )
            } else {
                record(&mut state, &id, "content_delete", &admitted.subject);
                StatusCode::NO_CONTENT.into_response()
            }
        }
    };
    finish(response, admitted.delay).await
}

/// `…/{id}/{action}`: `parent` (GET, PUT), `delete` (PUT, soft), `all` (DELETE), `versions`
/// (GET), `nextVersion` (POST), `contents` (GET, POST), `history` (GET), `items` (GET), `acl`
/// (GET, PUT; [`super::acl`]).
pub(super) async fn instance_action(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path((category, type_name, id, action)): Path<(String, String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let subject = admitted.subject.as_str();
    let target = (category.as_str(), type_name.as_str(), id.as_str());
    let raw = raw.as_deref();
    let response = match (method.as_str(), action.as_str()) {
        ("GET", "parent") => get_parent(&shared, target),
        ("PUT", "parent") => move_to(&shared, target, &body, subject),
        ("PUT", "delete") => delete(
            &shared,
            target,
            flag(raw, "all-version"),
            flag(raw, "recursive"),
            true,
            subject,
        ),
        ("DELETE", "all") => delete(
            &shared,
            target,
            true,
            flag(raw, "recursive"),
            false,
            subject,
        ),
        ("GET", "versions") => versions(&shared, target, raw),
        ("POST", "nextVersion") => next_version(&shared, target, &body, subject),
        ("GET", "contents") => list_side(&shared, target, raw, Side::Contents),
        ("POST", "contents") => add_content(&shared, target, &body, subject),
        ("GET", "history") => list_side(&shared, target, raw, Side::History),
        ("GET", "items") => items(&shared, target, raw),
        ("GET", "acl") => {
            let at = position(&lock(&shared.state), &category, &type_name, &id);
            match at {
                Some(at) => super::acl::instance_acl(&shared, at),
                None => not_found(&category, &type_name, &id),
            }
        }
        ("PUT", "acl") => {
            let known = position(&lock(&shared.state), &category, &type_name, &id).is_some();
            if known {
                super::acl::set_instance_acl(&shared, &id, raw, &body)
            } else {
                not_found(&category, &type_name, &id)
            }
        }
        _ => service_error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            format!("the emulator does not implement {method} …/{action}"),
        ),
    };
    finish(response, admitted.delay).await
}

fn get_parent(shared: &Shared, (category, type_name, id): (&str, &str, &str)) -> Response {
    let state = lock(&shared.state);
    let Some(at) = position(&state, category, type_name, id) else {
        return not_found(category, type_name, id);
    };
    let parent = str_field(&state.instances[at], "parent_folder_id");
    match state
        .instances
        .iter()
        .find(|i| !parent.is_empty() && str_field(i, "id") == parent)
    {
        Some(folder) => json_response(StatusCode::OK, folder.clone()),
        None => service_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "the instance is not filed in a folder",
        ),
    }
}

fn move_to(
    shared: &Shared,
    (category, type_name, id): (&str, &str, &str),
    body: &[u8],
    subject: &str,
) -> Response {
    let body = match object_body(body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(folder_id) = body.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return bad_request("the body must be {\"id\": \"<folder id>\"}");
    };
    let mut state = lock(&shared.state);
    let is_folder = state.instances.iter().any(|i| {
        str_field(i, "id") == folder_id
            && i.get("category").and_then(Value::as_str) == Some("folder")
    });
    if !is_folder || folder_id == id {
        return bad_request(format!("'{folder_id}' is not a folder"));
    }
    let Some(at) = position(&state, category, type_name, id) else {
        return not_found(category, type_name, id);
    };
    let Some(instance) = state.instances[at].as_object_mut() else {
        return not_found(category, type_name, id);
    };
    instance.insert("parent_folder_id".to_owned(), json!(folder_id));
    touch(instance, subject);
    let moved = Value::Object(instance.clone());
    record(&mut state, id, "move", subject);
    json_response(StatusCode::OK, moved)
}

fn versions(
    shared: &Shared,
    (category, type_name, id): (&str, &str, &str),
    raw: Option<&str>,
) -> Response {
    let items: Vec<Value> = {
        let state = lock(&shared.state);
        if position(&state, category, type_name, id).is_none() {
            return not_found(category, type_name, id);
        }
        let series = state
            .series
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned());
        let mut items: Vec<Value> = state
            .instances
            .iter()
            .filter(|i| state.series.get(&str_field(i, "id")) == Some(&series))
            .cloned()
            .collect();
        items.sort_by_key(|i| i.get("version_no").and_then(Value::as_u64).unwrap_or(0));
        items
    };
    hal_list(
        shared,
        &format!("/cms/instances/{category}/{type_name}/{id}/versions"),
        raw,
        items.iter().collect(),
    )
}

fn next_version(
    shared: &Shared,
    (category, type_name, id): (&str, &str, &str),
    body: &[u8],
    subject: &str,
) -> Response {
    let body = match object_body(body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (base, series, version) = {
        let mut state = lock(&shared.state);
        let Some(at) = position(&state, category, type_name, id) else {
            return not_found(category, type_name, id);
        };
        if state.instances[at].get("category").and_then(Value::as_str) != Some("file") {
            return bad_request("only files have versions");
        }
        let series = state
            .series
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned());
        let mut version = 0;
        let members: Vec<String> = state
            .series
            .iter()
            .filter(|(_, s)| **s == series)
            .map(|(i, _)| i.clone())
            .collect();
        for instance in &mut state.instances {
            if members.contains(&str_field(instance, "id")) {
                version = version.max(
                    instance
                        .get("version_no")
                        .and_then(Value::as_u64)
                        .unwrap_or(1),
                );
                if let Some(obj) = instance.as_object_mut() {
                    obj.insert("latest".to_owned(), json!(false));
                }
            }
        }
        (state.instances[at].clone(), series, version + 1)
    };
    let mut new_body: Map<String, Value> = base
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !SYSTEM.contains(&k.as_str()) && k != "update_time" && k != "updated_by")
        .collect();
    for (k, v) in body {
        match (k.as_str(), v) {
            ("properties", Value::Object(props)) => {
                let target = new_body.entry("properties").or_insert_with(|| json!({}));
                if let Some(target) = target.as_object_mut() {
                    target.extend(props);
                }
            }
            (key, v) if !SYSTEM.contains(&key) => {
                new_body.insert(k, v);
            }
            _ => {}
        }
    }
    let mut created = insert_new(shared, "file", type_name, new_body, subject, Some(series));
    if let Some(obj) = created.as_object_mut() {
        obj.insert("version_no".to_owned(), json!(version));
        obj.insert("latest".to_owned(), json!(true));
    }
    {
        let mut state = lock(&shared.state);
        let new_id = str_field(&created, "id");
        if let Some(stored) = state
            .instances
            .iter_mut()
            .find(|i| str_field(i, "id") == new_id)
        {
            *stored = created.clone();
        }
        record(&mut state, id, "next_version", subject);
    }
    json_response(StatusCode::CREATED, created)
}

enum Side {
    Contents,
    History,
}

fn list_side(
    shared: &Shared,
    (category, type_name, id): (&str, &str, &str),
    raw: Option<&str>,
    side: Side,
) -> Response {
    let (items, what) = {
        let state = lock(&shared.state);
        if position(&state, category, type_name, id).is_none() {
            return not_found(category, type_name, id);
        }
        match side {
            Side::Contents => (
                state.contents.get(id).cloned().unwrap_or_default(),
                "contents",
            ),
            Side::History => (
                state.history.get(id).cloned().unwrap_or_default(),
                "history",
            ),
        }
    };
    hal_list(
        shared,
        &format!("/cms/instances/{category}/{type_name}/{id}/{what}"),
        raw,
        items.iter().collect(),
    )
}

fn add_content(
    shared: &Shared,
    (category, type_name, id): (&str, &str, &str),
    body: &[u8],
    subject: &str,
) -> Response {
    let body = match object_body(body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if body
        .get("blob_id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return bad_request("blob_id is required");
    }
    let mut state = lock(&shared.state);
    if position(&state, category, type_name, id).is_none() {
        return not_found(category, type_name, id);
    }
    let stored = rendition(shared, &state, body);
    state
        .contents
        .entry(id.to_owned())
        .or_default()
        .push(stored.clone());
    record(&mut state, id, "content_add", subject);
    json_response(StatusCode::CREATED, stored)
}

fn items(
    shared: &Shared,
    (category, type_name, id): (&str, &str, &str),
    raw: Option<&str>,
) -> Response {
    let items: Vec<Value> = {
        let state = lock(&shared.state);
        if position(&state, category, type_name, id).is_none() {
            return not_found(category, type_name, id);
        }
        state
            .instances
            .iter()
            .filter(|i| i.get("parent_folder_id").and_then(Value::as_str) == Some(id))
            .cloned()
            .collect()
    };
    hal_list(
        shared,
        &format!("/cms/instances/{category}/{type_name}/{id}/items"),
        raw,
        items.iter().collect(),
    )
}
