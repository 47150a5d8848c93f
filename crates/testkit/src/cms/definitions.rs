//! Seedable type and trait definitions: `GET /cms/type-definitions[/{name}[/attributes|/attributes-all]]`
//! and `GET /cms/trait-definitions[/{name}[/attributes]]` (`../shared/api/opentext-orangelogic.md`
//! §1.4–1.5). Lists are HAL pages with the usual paging; `category` and `namespace` query
//! parameters filter type lists.

use std::sync::Arc;

use axum::{
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::{Map, Value, json};

use super::{Shared, finish, guard, hal_list, json_response, service_error};
use crate::util::lock;

/// Which definitions.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Type,
    Trait,
}

/// The system attributes `attributes-all` adds to a type's own (with `system: true`).
const SYSTEM_ATTRIBUTES: &[(&str, &str, &str)] = &[
    ("id", "string", "cms_any.id_s"),
    ("name", "string", "cms_any.name_s"),
    ("description", "string", "cms_any.description_s"),
    ("parent_folder_id", "string", "cms_any.parent_folder_id_s"),
    ("owner", "string", "cms_any.owner_s"),
    ("create_time", "date", "cms_any.create_time_dt"),
    ("update_time", "date", "cms_any.update_time_dt"),
    ("version_no", "integer", "cms_any.version_no_i"),
    ("latest", "boolean", "cms_any.latest_b"),
];

pub(super) fn seed(shared: &Shared, kind: Kind, definition: Value) {
    let Value::Object(mut def) = definition else {
        return;
    };
    let Some(name) = def.get("name").and_then(Value::as_str).map(str::to_owned) else {
        return;
    };
    if matches!(kind, Kind::Type) {
        def.entry("category").or_insert_with(|| json!("object"));
    }
    def.entry("attributes").or_insert_with(|| json!([]));
    let path = match kind {
        Kind::Type => "type-definitions",
        Kind::Trait => "trait-definitions",
    };
    def.insert(
        "_links".to_owned(),
        json!({ "self": { "href": format!("{}/cms/{path}/{name}", shared.base_url) } }),
    );
    let mut state = lock(&shared.state);
    let list = match kind {
        Kind::Type => &mut state.type_defs,
        Kind::Trait => &mut state.trait_defs,
    };
    list.retain(|d| d.get("name").and_then(Value::as_str) != Some(name.as_str()));
    list.push(Value::Object(def));
}

fn find(shared: &Shared, kind: Kind, name: &str) -> Option<Value> {
    let state = lock(&shared.state);
    let list = match kind {
        Kind::Type => &state.type_defs,
        Kind::Trait => &state.trait_defs,
    };
    list.iter()
        .find(|d| d.get("name").and_then(Value::as_str) == Some(name))
        .cloned()
}

/// Checks a create/replace body against a seeded type: with `strict_types` an unknown type is a
/// 404; a seeded type's `required` attributes must be present in `properties`.
pub(super) fn check_instance(
    shared: &Shared,
    type_name: &str,
    body: &Map<String, Value>,
) -> Result<(), Box<Response>> {
    let Some(def) = find(shared, Kind::Type, type_name) else {
        if shared.strict_types {
            return Err(Box::new(service_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!("type '{type_name}' is not defined"),
            )));
        }
        return Ok(());
    };
    let properties = body.get("properties").and_then(Value::as_object);
    let missing: Vec<&str> = def
        .get("attributes")
        .and_then(Value::as_array)
        .map(|attrs| {
            attrs
                .iter()
                .filter(|a| a.get("required").and_then(Value::as_bool) == Some(true))
                .filter_map(|a| a.get("name").and_then(Value::as_str))
                .filter(|n| properties.is_none_or(|p| p.get(*n).is_none_or(Value::is_null)))
                .collect()
        })
        .unwrap_or_default();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Box::new(service_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!("required attributes missing: {}", missing.join(", ")),
        )))
    }
}

fn query_value(raw: Option<&str>, key: &str) -> Option<String> {
    raw.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    })
}

async fn list(
    shared: Arc<Shared>,
    kind: Kind,
    raw: Option<String>,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let category = query_value(raw.as_deref(), "category");
    let namespace = query_value(raw.as_deref(), "namespace");
    let items: Vec<Value> = {
        let state = lock(&shared.state);
        let list = match kind {
            Kind::Type => &state.type_defs,
            Kind::Trait => &state.trait_defs,
        };
        list.iter()
            .filter(|d| {
                category
                    .as_deref()
                    .is_none_or(|c| d.get("category").and_then(Value::as_str) == Some(c))
                    && namespace
                        .as_deref()
                        .is_none_or(|n| d.get("namespace").and_then(Value::as_str) == Some(n))
            })
            .cloned()
            .collect()
    };
    // `category` / `namespace` are not filter expressions: strip them before paging.
    let rest: Option<String> = raw.map(|q| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                url::form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| k != "category" && k != "namespace"),
            )
            .finish()
    });
    let path = match kind {
        Kind::Type => "/cms/type-definitions",
        Kind::Trait => "/cms/trait-definitions",
    };
    let response = hal_list(&shared, path, rest.as_deref(), items.iter().collect());
    finish(response, admitted.delay).await
}

async fn one(
    shared: Arc<Shared>,
    kind: Kind,
    name: String,
    sub: Option<String>,
    headers: HeaderMap,
) -> Response {
    let admitted = match guard(&shared, &headers) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let response = match find(&shared, kind, &name) {
        None => service_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("no definition named '{name}'"),
        ),
        Some(def) => match sub.as_deref() {
            None => json_response(StatusCode::OK, def),
            Some("attributes") => attributes(&def, false),
            Some("attributes-all") if matches!(kind, Kind::Type) => attributes(&def, true),
            Some(other) => service_error(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                format!("the emulator does not implement …/{other}"),
            ),
        },
    };
    finish(response, admitted.delay).await
}

fn attributes(def: &Value, all: bool) -> Response {
    let type_name = def.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut items: Vec<Value> = def
        .get("attributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if all {
        for item in &mut items {
            if let Some(obj) = item.as_object_mut() {
                let name = obj
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                obj.entry("system").or_insert(json!(false));
                obj.entry("search_name")
                    .or_insert_with(|| json!(format!("{type_name}.{name}")));
            }
        }
        for (name, data_type, search_name) in SYSTEM_ATTRIBUTES {
            items.push(json!({
                "name": name, "data_type": data_type, "system": true, "internal": false,
                "searchable": true, "sortable": true, "search_name": search_name
            }));
        }
    }
    json_response(
        StatusCode::OK,
        json!({ "_embedded": { "collection": items }, "total": items.len() }),
    )
}

pub(super) async fn list_types(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    list(shared, Kind::Type, raw, headers).await
}

pub(super) async fn list_traits(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    list(shared, Kind::Trait, raw, headers).await
}

pub(super) async fn get_type(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    one(shared, Kind::Type, name, None, headers).await
}

pub(super) async fn get_trait(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    one(shared, Kind::Trait, name, None, headers).await
}

pub(super) async fn type_attributes(
    State(shared): State<Arc<Shared>>,
    Path((name, sub)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    one(shared, Kind::Type, name, Some(sub), headers).await
}

pub(super) async fn trait_attributes(
    State(shared): State<Arc<Shared>>,
    Path((name, sub)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    one(shared, Kind::Trait, name, Some(sub), headers).await
}
