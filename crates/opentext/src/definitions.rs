//! Type and trait definitions: `/cms/type-definitions…` and `/cms/trait-definitions…`.
//!
//! Paths and shapes: `shared/api/opentext-orangelogic.md` §1.4 ("Type defs", "Trait defs") and
//! §1.5 (the definition shape of the vendor's `.ottype` / `.ottrait` resource files).

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::client::Repeat;
use crate::http::set_query;
use crate::model::null_as_empty;
use crate::{Category, Client, Error, HalPage, ListQuery};

/// An attribute's data type. Values seen: `string`, `integer`, `bigint`, `double`, `boolean`,
/// `date`; anything else is [`DataType::Unknown`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataType {
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `bigint`.
    Bigint,
    /// `double`.
    Double,
    /// `boolean`.
    Boolean,
    /// `date`.
    Date,
    /// A value this crate does not know, kept verbatim.
    Unknown(String),
}

impl DataType {
    /// The wire value, e.g. `"string"`.
    pub fn as_str(&self) -> &str {
        match self {
            DataType::String => "string",
            DataType::Integer => "integer",
            DataType::Bigint => "bigint",
            DataType::Double => "double",
            DataType::Boolean => "boolean",
            DataType::Date => "date",
            DataType::Unknown(s) => s,
        }
    }
}

impl From<&str> for DataType {
    fn from(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "string" => DataType::String,
            "integer" => DataType::Integer,
            "bigint" => DataType::Bigint,
            "double" => DataType::Double,
            "boolean" => DataType::Boolean,
            "date" => DataType::Date,
            _ => DataType::Unknown(s.to_owned()),
        }
    }
}

impl Serialize for DataType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DataType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(DataType::from(s.as_str()))
    }
}

/// One attribute of a type or trait definition:
/// `{name, display_name, data_type, size?, repeating?, required?, searchable, sortable, …}`;
/// items of `attributes-all` also carry `system`, `internal` and `search_name` (the full-text
/// index field). Every field is optional when parsing; unknown fields are kept in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttributeDefinition {
    /// The attribute's system name (the key in `properties`).
    #[serde(default)]
    pub name: String,
    /// The label shown to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The data type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<DataType>,
    /// Maximum length of a string attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// A repeating attribute (a JSON array in `properties`; filter with `contains`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeating: Option<bool>,
    /// Required on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Usable in `filter=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searchable: Option<bool>,
    /// Usable in `sortby=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sortable: Option<bool>,
    /// A system attribute (`attributes-all` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<bool>,
    /// The full-text index field name, e.g. `ca_contract.requester_email_s` (`attributes-all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_name: Option<String>,
    /// Every other field (`validators`, `internal`, `_links`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A type definition: `{category, name, display_name, namespace, description, parent?,
/// attributes[], required_traits[], indexes[], …}` (`GET /cms/type-definitions/{type}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypeDefinition {
    /// The system name, `{namespace prefix}_{name}`, e.g. `ca_contract`.
    #[serde(default)]
    pub name: String,
    /// The label shown to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `file`, `folder` or `object`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// The namespace name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The parent type, when the type extends another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The type's own attributes (empty when the service leaves them out; see
    /// [`Client::type_attributes`]).
    #[serde(default, deserialize_with = "null_as_empty_vec")]
    pub attributes: Vec<AttributeDefinition>,
    /// `required_traits`: `[{instance_name, trait_name}]` as sent.
    #[serde(default, deserialize_with = "null_as_empty_vec")]
    pub required_traits: Vec<Value>,
    /// HAL links.
    #[serde(rename = "_links", default, deserialize_with = "null_as_empty")]
    pub links: Map<String, Value>,
    /// Every other field (`indexes`, `actions`, `operations`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A trait definition: `{name, display_name, namespace, description, attributes[], …}`
/// (`GET /cms/trait-definitions/{trait}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TraitDefinition {
    /// The system name, e.g. `ca_approval`.
    #[serde(default)]
    pub name: String,
    /// The label shown to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The namespace name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The trait's attributes.
    #[serde(default, deserialize_with = "null_as_empty_vec")]
    pub attributes: Vec<AttributeDefinition>,
    /// HAL links.
    #[serde(rename = "_links", default, deserialize_with = "null_as_empty")]
    pub links: Map<String, Value>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn null_as_empty_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Query of `GET /cms/type-definitions`: `category`, `namespace` and the paging/filter parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypeDefinitionQuery {
    /// `category=file|folder|object`.
    pub category: Option<Category>,
    /// `namespace=…`.
    pub namespace: Option<String>,
    /// `filter`, `sortby`, `page`, `items-per-page`, `include-total`.
    pub list: ListQuery,
}

impl TypeDefinitionQuery {
    /// An empty query.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only definitions of this category.
    pub fn category(mut self, category: Category) -> Self {
        self.category = Some(category);
        self
    }

    /// Only definitions of this namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The paging / filter parameters.
    pub fn list(mut self, list: ListQuery) -> Self {
        self.list = list;
        self
    }

    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(c) = &self.category {
            pairs.push(("category", c.as_str().to_owned()));
        }
        if let Some(n) = &self.namespace {
            pairs.push(("namespace", n.clone()));
        }
        pairs.extend(self.list.pairs());
        pairs
    }
}

/// The body of an `attributes` / `attributes-all` answer. Its shape is not documented: a HAL
/// collection, a bare array and `{"attributes": […]}` are all accepted (inferred).
fn attributes_from(value: Value) -> Result<Vec<AttributeDefinition>, serde_json::Error> {
    let list = match value {
        Value::Array(items) => Value::Array(items),
        Value::Object(mut obj) => {
            if let Some(items) = obj
                .get_mut("_embedded")
                .and_then(|e| e.get_mut("collection"))
                .map(Value::take)
            {
                items
            } else if let Some(items) = obj.remove("attributes") {
                items
            } else {
                Value::Array(Vec::new())
            }
        }
        other => other,
    };
    if list.is_null() {
        return Ok(Vec::new());
    }
    serde_json::from_value(list)
}

impl Client {
    /// Lists type definitions: `GET {cms}/type-definitions?category=&namespace=&page=&items-per-page=&include-total=`.
    ///
    /// # Errors
    ///
    /// As [`Client::get_instance`].
    pub async fn list_type_definitions(
        &self,
        query: &TypeDefinitionQuery,
    ) -> Result<HalPage<TypeDefinition>, Error> {
        let mut url = self.cms_url(&["type-definitions"])?;
        set_query(&mut url, &query.pairs());
        self.cms_json(Method::GET, url, None, Repeat::Safe, "type definitions")
            .await
    }

    /// Reads one type definition: `GET {cms}/type-definitions/{type_name}` (with
    /// `expandAll=true` when `expand_all`, which inlines attributes and traits).
    ///
    /// # Errors
    ///
    /// As [`Client::get_instance`]; an unknown type is a 404.
    pub async fn get_type_definition(
        &self,
        type_name: &str,
        expand_all: bool,
    ) -> Result<TypeDefinition, Error> {
        let mut url = self.cms_url(&["type-definitions", type_name])?;
        if expand_all {
            set_query(&mut url, &[("expandAll", "true".to_owned())]);
        }
        self.cms_json(Method::GET, url, None, Repeat::Safe, "type definition")
            .await
    }

    /// The type's own attributes: `GET {cms}/type-definitions/{type_name}/attributes`.
    ///
    /// # Errors
    ///
    /// As [`Client::get_instance`]; [`Error::Decode`] when the body is none of the accepted shapes.
    pub async fn type_attributes(
        &self,
        type_name: &str,
    ) -> Result<Vec<AttributeDefinition>, Error> {
        self.attributes(&["type-definitions", type_name, "attributes"])
            .await
    }

    /// All attributes of the type, inherited and system ones included (with `system`,
    /// `search_name`): `GET {cms}/type-definitions/{type_name}/attributes-all`.
    ///
    /// # Errors
    ///
    /// As [`Client::type_attributes`].
    pub async fn type_attributes_all(
        &self,
        type_name: &str,
    ) -> Result<Vec<AttributeDefinition>, Error> {
        self.attributes(&["type-definitions", type_name, "attributes-all"])
            .await
    }

    /// Lists trait definitions: `GET {cms}/trait-definitions?page=&items-per-page=…`.
    ///
    /// # Errors
    ///
    /// As [`Client::get_instance`].
    pub async fn list_trait_definitions(
        &self,
        query: &ListQuery,
    ) -> Result<HalPage<TraitDefinition>, Error> {
        let mut url = self.cms_url(&["trait-definitions"])?;
        set_query(&mut url, &query.pairs());
        self.cms_json(Method::GET, url, None, Repeat::Safe, "trait definitions")
            .await
    }

    /// Reads one trait definition: `GET {cms}/trait-definitions/{trait_name}[?expandAll=true]`.
    ///
    /// # Errors
    ///
    /// As [`Client::get_instance`]; an unknown trait is a 404.
    pub async fn get_trait_definition(
        &self,
        trait_name: &str,
        expand_all: bool,
    ) -> Result<TraitDefinition, Error> {
        let mut url = self.cms_url(&["trait-definitions", trait_name])?;
        if expand_all {
            set_query(&mut url, &[("expandAll", "true".to_owned())]);
        }
        self.cms_json(Method::GET, url, None, Repeat::Safe, "trait definition")
            .await
    }

    /// The trait's attributes: `GET {cms}/trait-definitions/{trait_name}/attributes`.
    ///
    /// # Errors
    ///
    /// As [`Client::type_attributes`].
    pub async fn trait_attributes(
        &self,
        trait_name: &str,
    ) -> Result<Vec<AttributeDefinition>, Error> {
        self.attributes(&["trait-definitions", trait_name, "attributes"])
            .await
    }

    async fn attributes(&self, segments: &[&str]) -> Result<Vec<AttributeDefinition>, Error> {
        let url = self.cms_url(segments)?;
        let (status, bytes) = self.cms_bytes(Method::GET, url, None, Repeat::Safe).await?;
        let decode = |source| Error::Decode {
            status,
            what: "attribute definitions",
            source,
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(decode)?;
        attributes_from(value).map_err(decode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attribute_shapes() {
        let one =
            json!({"name": "value", "data_type": "integer", "repeating": false, "validators": []});
        for body in [
            json!([one]),
            json!({"_embedded": {"collection": [one]}}),
            json!({"attributes": [one]}),
        ] {
            let attrs = attributes_from(body).unwrap();
            assert_eq!(attrs.len(), 1);
            assert_eq!(attrs[0].data_type, Some(DataType::Integer));
            assert_eq!(attrs[0].extra["validators"], json!([]));
        }
        assert!(attributes_from(json!({})).unwrap().is_empty());
        assert!(
            attributes_from(json!({"_embedded": {}}))
                .unwrap()
                .is_empty()
        );
        let odd = attributes_from(json!([{"name": "x", "data_type": "geo"}])).unwrap();
        assert_eq!(odd[0].data_type, Some(DataType::Unknown("geo".into())));
    }

    #[test]
    fn type_definition_is_lenient() {
        let t: TypeDefinition = serde_json::from_value(json!({
            "name": "ca_contract", "category": "file", "namespace": "ca",
            "attributes": null, "indexes": [{"name": "i"}]
        }))
        .unwrap();
        assert_eq!(t.category, Some(Category::File));
        assert!(t.attributes.is_empty());
        assert_eq!(t.extra["indexes"][0]["name"], "i");
        let q = TypeDefinitionQuery::new()
            .category(Category::Folder)
            .namespace("ca")
            .list(ListQuery::new().page(2));
        assert_eq!(
            q.pairs(),
            vec![
                ("category", "folder".to_owned()),
                ("namespace", "ca".to_owned()),
                ("page", "2".to_owned())
            ]
        );
    }
}
