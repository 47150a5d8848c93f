//! Request and response models of the instance sub-resources: partial updates, deletes,
//! renditions (`contents`) and history.
//!
//! Shapes: `shared/api/opentext-orangelogic.md` §1.4 (rows "Instances", "Renditions/contents",
//! "History / audit") and §1.5 (trait removal).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{href, null_as_empty};

/// The body of a partial update: `PATCH /cms/instances/{category}/{type}/{id}`.
///
/// Only the fields set are sent. `properties` replaces the named properties only; `traits`
/// adds or replaces the named trait instances; a trait set to `{}` removes **all** of its
/// instances ([`InstancePatch::remove_trait`], as the vendor's explorer does). Removing one trait
/// instance while keeping the others is not documented.
///
/// ```
/// use chatport_opentext::InstancePatch;
/// let patch = InstancePatch::new().property("status", "APPROVED").remove_trait("ca_hold");
/// assert_eq!(
///     serde_json::to_value(&patch).unwrap(),
///     serde_json::json!({"properties": {"status": "APPROVED"}, "traits": {"ca_hold": {}}})
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstancePatch {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Properties to set (others are kept).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    /// Trait instances to add or replace; `{trait: {}}` removes a trait.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub traits: Map<String, Value>,
    /// Any other top-level field, sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl InstancePatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets `description`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets one property.
    pub fn property(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// Adds or replaces one trait instance: `traits[trait_name][instance_name] = attributes`.
    pub fn trait_instance(
        mut self,
        trait_name: impl Into<String>,
        instance_name: impl Into<String>,
        attributes: Map<String, Value>,
    ) -> Self {
        let entry = self
            .traits
            .entry(trait_name.into())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(instances) = entry {
            instances.insert(instance_name.into(), Value::Object(attributes));
        }
        self
    }

    /// Removes every instance of a trait: `traits[trait_name] = {}`.
    pub fn remove_trait(mut self, trait_name: impl Into<String>) -> Self {
        self.traits
            .insert(trait_name.into(), Value::Object(Map::new()));
        self
    }

    /// Sets any other top-level field.
    pub fn extra(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }
}

/// Options of a delete (hard: `DELETE`, soft: `PUT …/delete`).
///
/// * `all_versions` — a file with all its versions: hard delete `DELETE …/{id}/all`, soft delete
///   `?all-version=true`.
/// * `recursive` — a folder with its content: `?recursive=true`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteOptions {
    /// Every version of a file.
    pub all_versions: bool,
    /// A folder and everything in it.
    pub recursive: bool,
}

impl DeleteOptions {
    /// No option: this instance (this version) only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every version of a file.
    pub fn all_versions(mut self, yes: bool) -> Self {
        self.all_versions = yes;
        self
    }

    /// A folder and everything in it.
    pub fn recursive(mut self, yes: bool) -> Self {
        self.recursive = yes;
        self
    }

    /// `all-version=true` / `recursive=true` for the options set (soft delete and restore).
    pub(crate) fn pairs(self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if self.all_versions {
            pairs.push(("all-version", "true".to_owned()));
        }
        if self.recursive {
            pairs.push(("recursive", "true".to_owned()));
        }
        pairs
    }
}

/// A rendition (content) of a file instance: an item of
/// `GET /cms/instances/file/{type}/{id}/contents`:
/// `{id, name, blob_id, mime_type, rendition_type, content_size, _links}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Rendition {
    /// The rendition id.
    #[serde(default)]
    pub id: String,
    /// The file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The CSS blob id of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_id: Option<String>,
    /// The MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// `primary` or `secondary` (or another value, kept as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendition_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_size: Option<u64>,
    /// HAL links, e.g. `urn:eim:linkrel:download-media`.
    #[serde(rename = "_links", default, deserialize_with = "null_as_empty")]
    pub links: Map<String, Value>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Rendition {
    /// The `href` of the download link (`urn:eim:linkrel:download-media`).
    pub fn download_href(&self) -> Option<String> {
        href(self.links.get("urn:eim:linkrel:download-media"))
    }
}

/// The body of `POST /cms/instances/file/{type}/{id}/contents` and an entry of a create or
/// `nextVersion` body's `renditions`: `{name, blob_id, rendition_type, mime_type?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RenditionDraft {
    /// The file name.
    pub name: String,
    /// The CSS blob id (from an upload).
    pub blob_id: String,
    /// `primary` (the main content) or `secondary`.
    pub rendition_type: String,
    /// The MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// `source`: what kind of id `blob_id` is; `"FILE_ID"` for a CSS v3 file id
    /// ([`FILE_ID_SOURCE`](crate::FILE_ID_SOURCE)); not sent when `None` (a v2 blob id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RenditionDraft {
    /// A primary rendition of a CSS v3 file: `{name, blob_id: file_id, rendition_type:
    /// "primary", source: "FILE_ID"}` (the contract-approval sample's shape).
    pub fn primary_file_id(name: impl Into<String>, file_id: impl Into<String>) -> Self {
        Self::primary(name, file_id).source(crate::FILE_ID_SOURCE)
    }

    /// Sets `source` (e.g. [`FILE_ID_SOURCE`](crate::FILE_ID_SOURCE)).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// A primary rendition.
    pub fn primary(name: impl Into<String>, blob_id: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            blob_id: blob_id.into(),
            rendition_type: "primary".to_owned(),
            ..Self::default()
        }
    }

    /// A secondary rendition.
    pub fn secondary(name: impl Into<String>, blob_id: impl Into<String>) -> Self {
        Self {
            rendition_type: "secondary".to_owned(),
            ..Self::primary(name, blob_id)
        }
    }

    /// Sets `mime_type`.
    pub fn mime_type(mut self, mime: impl Into<String>) -> Self {
        self.mime_type = Some(mime.into());
        self
    }

    /// The draft as a JSON value (for `InstanceDraft::extra("renditions", …)`).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One entry of an instance's history (`GET …/{id}/history`).
///
/// The entry schema is **not documented** publicly; this keeps the whole entry and offers the
/// fields the vendor's explorer shows when they are present (`id`, `event_type` or `action`,
/// `user` or `user_name`, `time` or `event_time`). Everything is in `extra` as well as sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The whole entry as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl HistoryEntry {
    fn first_str(&self, keys: &[&str]) -> Option<&str> {
        keys.iter()
            .find_map(|k| self.extra.get(*k).and_then(Value::as_str))
    }

    /// `id`, when present.
    pub fn id(&self) -> Option<&str> {
        self.first_str(&["id"])
    }

    /// The event name: `event_type`, `action` or `event`.
    pub fn event(&self) -> Option<&str> {
        self.first_str(&["event_type", "action", "event"])
    }

    /// Who: `user`, `user_name`, `updated_by` or `created_by`.
    pub fn user(&self) -> Option<&str> {
        self.first_str(&["user", "user_name", "updated_by", "created_by"])
    }

    /// When: `time`, `event_time`, `create_time` or `update_time` (as sent).
    pub fn time(&self) -> Option<&str> {
        self.first_str(&["time", "event_time", "create_time", "update_time"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_body_and_trait_removal() {
        let mut attrs = Map::new();
        attrs.insert("approver".into(), json!("ann"));
        let p = InstancePatch::new()
            .name("n2")
            .description("d")
            .property("a", 1)
            .trait_instance("ca_approval", "Manager", attrs)
            .remove_trait("ca_old")
            .extra("acl_id", "acl");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({
                "name": "n2", "description": "d", "properties": {"a": 1},
                "traits": {"ca_approval": {"Manager": {"approver": "ann"}}, "ca_old": {}},
                "acl_id": "acl"
            })
        );
        assert_eq!(
            serde_json::to_value(InstancePatch::new()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn renditions_and_history() {
        let r: Rendition = serde_json::from_value(json!({
            "id": "r1", "name": "a.pdf", "blob_id": "b1", "rendition_type": "primary",
            "content_size": 12, "_links": {"urn:eim:linkrel:download-media": {"href": "https://css/x"}},
            "extra_field": 1
        }))
        .unwrap();
        assert_eq!(r.download_href().as_deref(), Some("https://css/x"));
        assert_eq!(r.extra["extra_field"], 1);
        let d = RenditionDraft::secondary("b.txt", "b2").mime_type("text/plain");
        assert_eq!(
            d.to_value(),
            json!({"name": "b.txt", "blob_id": "b2", "rendition_type": "secondary", "mime_type": "text/plain"})
        );
        let h: HistoryEntry = serde_json::from_value(json!({
            "id": "h1", "action": "update", "user_name": "ann", "event_time": "2024-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(h.id(), Some("h1"));
        assert_eq!(h.event(), Some("update"));
        assert_eq!(h.user(), Some("ann"));
        assert_eq!(h.time(), Some("2024-01-01T00:00:00Z"));
    }
}
