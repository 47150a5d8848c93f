//! CMS data model: instance categories, instances, drafts, list queries and HAL pages.
//!
//! Shapes follow `shared/api/opentext-orangelogic.md` §1.3–1.5. Every model keeps unknown JSON
//! fields (`extra`), so a new vendor field never breaks parsing.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

chatport_core::open_enum! {
    /// The category segment of an instance path: `/instances/{category}/{type}`.
    ///
    /// Path values: `file`, `folder`, `object`, `case`, `any` (the last with the `cms_any` type, to
    /// query across types). Any other string parses as [`Category::Unknown`] and is sent as is.
    /// An open enum ([`chatport_core::open_enum!`]): serialised as its path segment.
    pub enum Category {
        /// `file` — documents with content (`cms_file` and custom file types).
        File => "file",
        /// `folder` — folders (`cms_folder`, custom folder types).
        Folder => "folder",
        /// `object` — business objects without content (`cms_object`, custom object types).
        Object => "object",
        /// `case` — case instances (seen in the vendor's recycle-bin UI).
        Case => "case",
        /// `any` — every category (with type `cms_any`).
        Any => "any",
    }
}

impl FromStr for Category {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Category::from(s))
    }
}

/// A CMS instance (file, folder, object or case) as the service returns it.
///
/// `GET /cms/instances/{category}/{type}/{id}` and the items of a collection. Lenient: every field
/// but none is required (a missing one is empty/`None`), and every field not modelled here —
/// `acl_id`, `owner`, `created_by`, `version_no`, `latest`, `mime_type`, `ancestor_ids`, … — is
/// kept in [`Instance::extra`]. Timestamps are kept as the strings the service sent; use
/// [`Instance::created_at`] / [`Instance::updated_at`] for parsed values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Instance {
    /// The instance id (opaque string).
    #[serde(default)]
    pub id: String,
    /// The instance name.
    #[serde(default)]
    pub name: String,
    /// `description`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `category` as returned (`file`, `folder`, `object`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The type system name (JSON `type`), e.g. `ca_contract`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// `parent_folder_id`, when filed in a folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_folder_id: Option<String>,
    /// `create_time` as sent (ISO 8601 / RFC 3339 in the samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// `update_time` as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// The type's custom attributes, flat (repeating attributes are arrays).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub properties: Map<String, Value>,
    /// Trait instances: `{ trait system name: { instance name: { attr: value } } }`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub traits: Map<String, Value>,
    /// HAL links (`_links`): `self`, `urn:eim:linkrel:download-media`, … each `{"href": …}`.
    #[serde(rename = "_links", default, deserialize_with = "null_as_empty")]
    pub links: Map<String, Value>,
    /// Every other field, unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub(crate) fn null_as_empty<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn href(link: Option<&Value>) -> Option<String> {
    match link? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("href").and_then(Value::as_str).map(str::to_owned),
        // A relation may be an array of link objects in HAL: take the first.
        Value::Array(a) => href(a.first()),
        _ => None,
    }
}

impl Instance {
    /// `create_time` parsed as RFC 3339, `None` when absent or in another format.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        parse_time(self.create_time.as_deref())
    }

    /// `update_time` parsed as RFC 3339, `None` when absent or in another format.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        parse_time(self.update_time.as_deref())
    }

    /// A property value, `None` when the property is absent.
    pub fn property(&self, name: &str) -> Option<&Value> {
        self.properties.get(name)
    }

    /// The `href` of a HAL link relation, e.g. `"self"` or `"urn:eim:linkrel:download-media"`.
    pub fn link(&self, rel: &str) -> Option<String> {
        href(self.links.get(rel))
    }
}

/// The body of a create request: `POST /cms/instances/{category}/{type}`.
///
/// Serialises to `{"name", "description"?, "parent_folder_id"?, "properties"?, "traits"?, …extra}`
/// (empty maps and `None`s are left out). Use `extra` for fields this struct does not model
/// (`acl_id`, `renditions`, `version_label`, …).
///
/// ```
/// use chatport_opentext::InstanceDraft;
/// let draft = InstanceDraft::new("Case 42")
///     .description("Damaged parcel")
///     .property("priority", "high")
///     .property("ext_ref", "O1:create_case:…");
/// let json = serde_json::to_value(&draft).unwrap();
/// assert_eq!(json["properties"]["priority"], "high");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceDraft {
    /// The instance name (required by the service: a missing name is a 400).
    pub name: String,
    /// Optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The folder to file the instance in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_folder_id: Option<String>,
    /// The type's custom attributes.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    /// Trait instances: `{ trait: { instance name: { attr: value } } }`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub traits: Map<String, Value>,
    /// Any other top-level field, sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl InstanceDraft {
    /// A draft with `name` and nothing else.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets `description`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets `parent_folder_id`.
    pub fn parent_folder_id(mut self, id: impl Into<String>) -> Self {
        self.parent_folder_id = Some(id.into());
        self
    }

    /// Sets one property (custom attribute).
    pub fn property(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// Attaches one trait instance: `traits[trait_name][instance_name] = attributes`.
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

    /// Sets any other top-level field (e.g. `acl_id`, `renditions`).
    pub fn extra(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }
}

/// Query parameters of a collection request (`GET /cms/instances/{category}/{type}` and other
/// lists).
///
/// Sent as `filter`, `sortby`, `page` (1-based), `items-per-page` and `include-total=true`; unset
/// fields are not sent. `filter` is the raw filter expression (see [`crate::filter`]); it is
/// URL-encoded by the client. The maximum page size is not documented (samples use up to 1000).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListQuery {
    /// `filter`, e.g. `name eq 'x'`.
    pub filter: Option<String>,
    /// `sortby`, e.g. `create_time desc`.
    pub sortby: Option<String>,
    /// `page`, 1-based.
    pub page: Option<u32>,
    /// `items-per-page`.
    pub items_per_page: Option<u32>,
    /// Sends `include-total=true` so that [`HalPage::total`] is filled.
    pub include_total: bool,
}

impl ListQuery {
    /// An empty query (the service's defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `filter`.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Sets `sortby`, e.g. `"create_time desc"`.
    pub fn sortby(mut self, sortby: impl Into<String>) -> Self {
        self.sortby = Some(sortby.into());
        self
    }

    /// Sets `page` (1-based).
    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }

    /// Sets `items-per-page`.
    pub fn items_per_page(mut self, n: u32) -> Self {
        self.items_per_page = Some(n);
        self
    }

    /// Asks for `total` (`include-total=true`).
    pub fn include_total(mut self, yes: bool) -> Self {
        self.include_total = yes;
        self
    }

    /// The query pairs in the order they are sent.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(f) = &self.filter {
            pairs.push(("filter", f.clone()));
        }
        if let Some(s) = &self.sortby {
            pairs.push(("sortby", s.clone()));
        }
        if let Some(p) = self.page {
            pairs.push(("page", p.to_string()));
        }
        if let Some(n) = self.items_per_page {
            pairs.push(("items-per-page", n.to_string()));
        }
        if self.include_total {
            pairs.push(("include-total", "true".to_owned()));
        }
        pairs
    }
}

/// One page of a HAL collection:
/// `{"_embedded":{"collection":[…]}, "total": N, "_links":{"self","next","previous"}}`.
///
/// `items` is empty when `_embedded` is absent (the service leaves it out when nothing matches).
/// `total` is only present when the query asked for it ([`ListQuery::include_total`]). `next` /
/// `previous` are the `href`s of those links, `None` on the last / first page.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HalPage<T> {
    /// The items of `_embedded.collection`.
    pub items: Vec<T>,
    /// `total`, when requested and sent.
    pub total: Option<u64>,
    /// `_links.next.href`.
    pub next: Option<String>,
    /// `_links.previous.href`.
    pub previous: Option<String>,
    /// All `_links` as sent.
    pub links: Map<String, Value>,
    /// Every other top-level field (e.g. `page`, `facetCounts`).
    pub extra: Map<String, Value>,
}

impl<T> Default for HalPage<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            total: None,
            next: None,
            previous: None,
            links: Map::new(),
            extra: Map::new(),
        }
    }
}

#[derive(Deserialize)]
struct RawPage<T> {
    #[serde(rename = "_embedded", default = "Option::default")]
    embedded: Option<RawEmbedded<T>>,
    #[serde(default, deserialize_with = "lenient_total")]
    total: Option<u64>,
    #[serde(rename = "_links", default, deserialize_with = "null_as_empty")]
    links: Map<String, Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawEmbedded<T> {
    #[serde(default = "Option::default")]
    collection: Option<Vec<T>>,
}

fn lenient_total<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for HalPage<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawPage::<T>::deserialize(d)?;
        Ok(HalPage {
            items: raw.embedded.and_then(|e| e.collection).unwrap_or_default(),
            total: raw.total,
            next: href(raw.links.get("next")),
            previous: href(raw.links.get("previous")),
            links: raw.links,
            extra: raw.extra,
        })
    }
}

impl<T> HalPage<T> {
    /// Whether the service announced a next page.
    pub fn has_next(&self) -> bool {
        self.next.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn category_round_trip() {
        for (c, s) in [
            (Category::File, "file"),
            (Category::Folder, "folder"),
            (Category::Object, "object"),
            (Category::Case, "case"),
            (Category::Any, "any"),
        ] {
            assert_eq!(c.as_str(), s);
            assert_eq!(s.parse::<Category>().unwrap(), c);
        }
        let u: Category = serde_json::from_value(json!("workspace")).unwrap();
        assert_eq!(u, Category::Unknown("workspace".into()));
        assert_eq!(serde_json::to_value(&u).unwrap(), json!("workspace"));
        assert_eq!(Category::Object.to_string(), "object");
    }

    #[test]
    fn instance_keeps_unknown_fields_and_parses_times() {
        let v = json!({
            "id": "9f1c", "name": "Case 1", "type": "ca_case", "category": "object",
            "create_time": "2024-02-05T10:11:12.345Z", "update_time": "yesterday",
            "properties": {"priority": "high"}, "traits": null,
            "_links": {"self": {"href": "/instances/object/ca_case/9f1c"}},
            "version_no": 1, "acl_id": "acl-1"
        });
        let i: Instance = serde_json::from_value(v).unwrap();
        assert_eq!(i.type_name.as_deref(), Some("ca_case"));
        assert_eq!(i.property("priority"), Some(&json!("high")));
        assert!(i.traits.is_empty());
        assert_eq!(i.extra["version_no"], 1);
        assert_eq!(i.extra["acl_id"], "acl-1");
        assert_eq!(
            i.link("self").as_deref(),
            Some("/instances/object/ca_case/9f1c")
        );
        assert_eq!(
            i.created_at().map(|t| t.timestamp_millis()),
            Some(1_707_127_872_345)
        );
        assert_eq!(i.updated_at(), None);
        let back = serde_json::to_value(&i).unwrap();
        assert_eq!(back["type"], "ca_case");
        assert_eq!(back["acl_id"], "acl-1");
        let empty: Instance = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty, Instance::default());
    }

    #[test]
    fn draft_serialises_minimal_body() {
        let d = InstanceDraft::new("n");
        assert_eq!(serde_json::to_value(&d).unwrap(), json!({"name": "n"}));
        let mut attrs = Map::new();
        attrs.insert("is_required".into(), json!(true));
        let d = InstanceDraft::new("n")
            .description("d")
            .parent_folder_id("f1")
            .property("a", 1)
            .trait_instance("ca_approval", "Line Manager Approval", attrs)
            .extra("acl_id", "acl");
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({
                "name": "n", "description": "d", "parent_folder_id": "f1",
                "properties": {"a": 1},
                "traits": {"ca_approval": {"Line Manager Approval": {"is_required": true}}},
                "acl_id": "acl"
            })
        );
    }

    #[test]
    fn list_query_pairs() {
        assert!(ListQuery::new().pairs().is_empty());
        let q = ListQuery::new()
            .filter("name eq 'x'")
            .sortby("create_time desc")
            .page(2)
            .items_per_page(50)
            .include_total(true);
        assert_eq!(
            q.pairs(),
            vec![
                ("filter", "name eq 'x'".to_owned()),
                ("sortby", "create_time desc".to_owned()),
                ("page", "2".to_owned()),
                ("items-per-page", "50".to_owned()),
                ("include-total", "true".to_owned()),
            ]
        );
    }

    #[test]
    fn hal_page_lenient_links() {
        let p: HalPage<Instance> = serde_json::from_value(json!({
            "_embedded": {"collection": [{"id": "a"}]},
            "total": "3",
            "_links": {"next": [{"href": "/n"}], "previous": "/p"},
            "page": 2
        }))
        .unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.total, Some(3));
        assert_eq!(p.next.as_deref(), Some("/n"));
        assert_eq!(p.previous.as_deref(), Some("/p"));
        assert_eq!(p.extra["page"], 2);
        assert!(p.has_next());
        let p: HalPage<Instance> = serde_json::from_value(json!({"_embedded": {}})).unwrap();
        assert!(p.items.is_empty());
        assert!(!p.has_next());
    }
}
