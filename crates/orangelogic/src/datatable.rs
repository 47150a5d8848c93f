//! DataTable API: the call builder (operators, pipes, nested sub-calls), records, and the asset
//! operations built on it (set fields, add keywords, move to a folder, create folders).
//!
//! Follows `shared/api/opentext-orangelogic.md` §2.6:
//! `/API/DataTable/v2.2/Documents.{type}.{subtype}:{Read|Update|Create|CreateOrUpdate|Delete}?{identifier}&{Field}{op}{value}`
//! with the operators `=` (identify), `:=` (set), `+=` (add existing tags), `++=` (add, creating
//! new tags), pipe-separated lists, and sub-calls in `[...]`, e.g.
//! `CoreField.Parent-folder:=[/API/DataTable/v2.2/Documents.Folder.Default:Read?CoreField.Identifier=X]`.
//!
//! # Encoding
//!
//! A parameter `Field{op}value` is sent as the form pair name `Field{op minus the final =}`,
//! value `value`, both percent-encoded (so `CoreField.Keywords++=a|b` travels as
//! `CoreField.Keywords%2B%2B=a%7Cb` and `:` as `%3A`). A sub-call is written
//! `[/API/DataTable/{version}/{Entity}:{Action}?{its own encoded pairs}]` and that whole text is
//! then encoded once more as the outer value, so an `&` inside the sub-call cannot end the outer
//! parameter. The vendor shows sub-calls only with one parameter and unencoded; encoding the
//! sub-call's own pairs is **inferred** from URL semantics.

use std::fmt;

use serde_json::{Map, Value};

use crate::client::{Call, Repeat, Transport};
use crate::http::{Family, encode_pairs, get_ci, get_ci_text};
use crate::{Client, Error};

/// A DataTable operator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operator {
    /// `=`: identifies the record(s) (`CoreField.Identifier=X`).
    Eq,
    /// `:=`: sets the field.
    Set,
    /// `+=`: adds existing values (tags, authority lists).
    Add,
    /// `++=`: adds values, creating tags that do not exist yet.
    AddOrCreate,
    /// Any other operator token, written before `=` (e.g. `"-"` for `-=`). The removal operators
    /// are documented but their tokens were not found in the public material.
    Other(String),
}

impl Operator {
    /// The token between the field name and `=`: `""`, `":"`, `"+"`, `"++"`.
    pub fn prefix(&self) -> &str {
        match self {
            Operator::Eq => "",
            Operator::Set => ":",
            Operator::Add => "+",
            Operator::AddOrCreate => "++",
            Operator::Other(s) => s,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.prefix())
    }
}

/// The action after `:` in the call path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `Read`.
    Read,
    /// `Update`.
    Update,
    /// `Create`.
    Create,
    /// `CreateOrUpdate`.
    CreateOrUpdate,
    /// `Delete`.
    Delete,
    /// Another action (e.g. `ParentChildLink`).
    Other(String),
}

impl Action {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Action::Read => "Read",
            Action::Update => "Update",
            Action::Create => "Create",
            Action::CreateOrUpdate => "CreateOrUpdate",
            Action::Delete => "Delete",
            Action::Other(s) => s,
        }
    }

    fn is_read(&self) -> bool {
        matches!(self, Action::Read)
    }
}

/// A parameter value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldValue {
    /// One value, sent as is.
    Text(String),
    /// Several values joined with `|` (tags, authority lists). A value may not contain `|`.
    List(Vec<String>),
    /// A nested call, sent as `[/API/DataTable/…?…]`.
    Call(Box<DataTableCall>),
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::Text(s.to_owned())
    }
}

impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue::Text(s)
    }
}

impl From<DataTableCall> for FieldValue {
    fn from(c: DataTableCall) -> Self {
        FieldValue::Call(Box::new(c))
    }
}

/// A DataTable call: version, entity (`Documents.All`, `Documents.Folder.Default`, …), action
/// and parameters in order.
///
/// ```
/// use chatport_orangelogic::DataTableCall;
///
/// let folder = DataTableCall::read("Documents.Folder.Default").filter("CoreField.Identifier", "FLD1");
/// let call = DataTableCall::update("Documents.All")
///     .filter("CoreField.Identifier", "CTL1")
///     .set("CoreField.Title", "Spring shoot")
///     .add_or_create("CoreField.Keywords", ["spring", "launch"])
///     .set_call("CoreField.Parent-folder", folder);
/// assert_eq!(call.path(), "/API/DataTable/v2.2/Documents.All:Update");
/// assert_eq!(
///     call.to_query().unwrap(),
///     "CoreField.Identifier=CTL1&CoreField.Title%3A=Spring%20shoot\
///      &CoreField.Keywords%2B%2B=spring%7Claunch\
///      &CoreField.Parent-folder%3A=%5B%2FAPI%2FDataTable%2Fv2.2%2FDocuments.Folder.Default%3ARead%3FCoreField.Identifier%3DFLD1%5D"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataTableCall {
    version: String,
    entity: String,
    action: Action,
    params: Vec<(String, Operator, FieldValue)>,
}

impl DataTableCall {
    /// A call of `action` on `entity`, DataTable version `v2.2`.
    pub fn new(entity: &str, action: Action) -> Self {
        Self {
            version: crate::client::DATATABLE_VERSION.to_owned(),
            entity: entity.to_owned(),
            action,
            params: Vec::new(),
        }
    }

    /// `{entity}:Read`.
    pub fn read(entity: &str) -> Self {
        Self::new(entity, Action::Read)
    }

    /// `{entity}:Update`.
    pub fn update(entity: &str) -> Self {
        Self::new(entity, Action::Update)
    }

    /// `{entity}:Create`.
    pub fn create(entity: &str) -> Self {
        Self::new(entity, Action::Create)
    }

    /// Sets the version segment (`v2.2` for documents, `v2.1` for contacts, tags and
    /// permission-related document actions).
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_owned();
        self
    }

    /// Adds `field{op}value`.
    pub fn param(mut self, field: &str, op: Operator, value: impl Into<FieldValue>) -> Self {
        self.params.push((field.to_owned(), op, value.into()));
        self
    }

    /// Adds `field=value` (identifies the record).
    pub fn filter(self, field: &str, value: &str) -> Self {
        self.param(field, Operator::Eq, value)
    }

    /// Adds `field:=value`.
    pub fn set(self, field: &str, value: &str) -> Self {
        self.param(field, Operator::Set, value)
    }

    /// Adds `field:=[sub-call]` (e.g. the parent folder).
    pub fn set_call(self, field: &str, call: DataTableCall) -> Self {
        self.param(field, Operator::Set, call)
    }

    /// Adds `field+=v1|v2…` (existing values only).
    pub fn add<I, S>(self, field: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list = values.into_iter().map(Into::into).collect();
        self.param(field, Operator::Add, FieldValue::List(list))
    }

    /// Adds `field++=v1|v2…` (values created when missing).
    pub fn add_or_create<I, S>(self, field: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list = values.into_iter().map(Into::into).collect();
        self.param(field, Operator::AddOrCreate, FieldValue::List(list))
    }

    /// The action.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// `/API/DataTable/{version}/{entity}:{action}`.
    pub fn path(&self) -> String {
        format!(
            "/API/DataTable/{}/{}:{}",
            self.version,
            self.entity,
            self.action.as_str()
        )
    }

    /// The decoded parameter pairs (name with the operator token, value), in order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty entity or field name, a field name containing
    /// `= & [ ] ? :` or whitespace, a list value containing `|` or an empty list.
    pub fn pairs(&self) -> Result<Vec<(String, String)>, Error> {
        if self.entity.trim().is_empty()
            || self.entity.contains(['/', '?', '&', '[', ']'])
            || self.version.trim().is_empty()
            || self.version.contains('/')
        {
            return Err(Error::InvalidInput(
                "DataTable entity and version must be non-empty path segments".into(),
            ));
        }
        self.params
            .iter()
            .map(|(field, op, value)| {
                if field.is_empty()
                    || field
                        .chars()
                        .any(|c| c.is_whitespace() || "=&[]?:|".contains(c))
                {
                    return Err(Error::InvalidInput(format!(
                        "invalid DataTable field name `{field}`"
                    )));
                }
                let value = match value {
                    FieldValue::Text(s) => s.clone(),
                    FieldValue::List(items) => {
                        if items.is_empty() {
                            return Err(Error::InvalidInput(format!(
                                "empty value list for `{field}`"
                            )));
                        }
                        if items.iter().any(|i| i.contains('|') || i.is_empty()) {
                            return Err(Error::InvalidInput(format!(
                                "a value for `{field}` is empty or contains `|`"
                            )));
                        }
                        items.join("|")
                    }
                    FieldValue::Call(call) => call.to_subcall()?,
                };
                Ok((format!("{field}{}", op.prefix()), value))
            })
            .collect()
    }

    /// The encoded query / form body (`name=value&…`, no `format`).
    ///
    /// # Errors
    ///
    /// As [`DataTableCall::pairs`].
    pub fn to_query(&self) -> Result<String, Error> {
        Ok(encode_pairs(&self.pairs()?))
    }

    /// The call as a sub-call value: `[{path}?{query}]` (or `[{path}]` without parameters).
    ///
    /// # Errors
    ///
    /// As [`DataTableCall::pairs`].
    pub fn to_subcall(&self) -> Result<String, Error> {
        let query = self.to_query()?;
        Ok(if query.is_empty() {
            format!("[{}]", self.path())
        } else {
            format!("[{}?{query}]", self.path())
        })
    }
}

/// One DataTable record: its fields as sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Every field.
    pub fields: Map<String, Value>,
}

impl Record {
    /// A field by name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Value> {
        get_ci(&self.fields, &[name])
    }

    /// A field as text (case-insensitive name).
    pub fn text(&self, name: &str) -> Option<String> {
        get_ci_text(&self.fields, &[name])
    }

    /// `RecordID`.
    pub fn record_id(&self) -> Option<String> {
        self.text("RecordID")
    }

    /// `CoreField.Identifier` (or `SystemIdentifier`).
    pub fn identifier(&self) -> Option<String> {
        self.text("CoreField.Identifier")
            .or_else(|| self.text("SystemIdentifier"))
    }
}

/// A decoded DataTable answer (already checked for `ErrorList` / a failed result code).
#[derive(Clone, Debug, PartialEq)]
pub struct DataTableResponse {
    /// The whole body.
    pub raw: Value,
}

impl DataTableResponse {
    /// The records of a read: `Response` as an array, `Response.Record` (object or array), or a
    /// single `Response` object carrying a `RecordID`.
    pub fn records(&self) -> Vec<Record> {
        let response = self.raw.get("Response").unwrap_or(&self.raw);
        let from = |v: &Value| -> Vec<Record> {
            match v {
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|o| Record { fields: o.clone() })
                    .collect(),
                Value::Object(o) => vec![Record { fields: o.clone() }],
                _ => Vec::new(),
            }
        };
        match response {
            Value::Array(_) => from(response),
            Value::Object(o) => match get_ci(o, &["Record", "Records"]) {
                Some(r) => from(r),
                None if get_ci(o, &["RecordID"]).is_some() => from(response),
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The record id a create answered (`Response.RecordID`), or the first record's.
    pub fn record_id(&self) -> Option<String> {
        self.records().first().and_then(Record::record_id)
    }
}

/// How an asset is named in a DataTable lookup (`Documents.All` accepts `RecordID`,
/// `CoreField.Identifier`, `CoreField.OriginalFileName`, `CoreField.OtherNum`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AssetRef {
    /// `RecordID` (a.k.a. Media Encrypted Identifier, e.g. `2RBKT7U02J5F`).
    RecordId(String),
    /// `CoreField.Identifier` (the unique / system identifier, e.g. `CTL898546`).
    Identifier(String),
}

impl AssetRef {
    /// The lookup field and value.
    pub fn pair(&self) -> (&'static str, &str) {
        match self {
            AssetRef::RecordId(v) => ("RecordID", v),
            AssetRef::Identifier(v) => ("CoreField.Identifier", v),
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self.pair().1.trim().is_empty() {
            return Err(Error::InvalidInput("empty asset identifier".into()));
        }
        Ok(())
    }
}

impl Client {
    /// Runs a DataTable call: reads are `GET` when short (else `POST` form) and retried
    /// in-client; other actions are always `POST` form and sent once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] from [`DataTableCall::pairs`]; [`Error::Api`] when the answer
    /// carries an `ErrorList` or a failed `RecordsAffected` code (HTTP 200 included); the HTTP
    /// and transport errors of every call.
    pub async fn datatable(&self, call: &DataTableCall) -> Result<DataTableResponse, Error> {
        let params = call.pairs()?;
        let path = call.path();
        let read = call.action().is_read();
        let raw = self
            .call(Call {
                path: &path,
                params,
                family: Family::DataTable,
                repeat: if read { Repeat::Safe } else { Repeat::Once },
                transport: if read {
                    Transport::Auto
                } else {
                    Transport::PostForm
                },
                what: "DataTable",
            })
            .await?;
        Ok(DataTableResponse { raw })
    }

    fn dt(&self, entity: &str, action: Action) -> DataTableCall {
        DataTableCall::new(entity, action).version(&self.inner.datatable_version)
    }

    /// Reads one asset (`Documents.All:Read`); `None` when no record matched.
    ///
    /// # Errors
    ///
    /// As [`Client::datatable`].
    pub async fn read_asset(&self, asset: &AssetRef) -> Result<Option<Record>, Error> {
        asset.check()?;
        let (field, value) = asset.pair();
        let call = self.dt("Documents.All", Action::Read).filter(field, value);
        Ok(self.datatable(&call).await?.records().into_iter().next())
    }

    /// Sets fields of one asset (`Documents.All:Update` with `Field:=value` each).
    ///
    /// # Errors
    ///
    /// As [`Client::datatable`]. Note that read-only fields are silently not updated by the
    /// server.
    pub async fn set_fields<'a, I>(
        &self,
        asset: &AssetRef,
        fields: I,
    ) -> Result<DataTableResponse, Error>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        asset.check()?;
        let (f, v) = asset.pair();
        let mut call = self.dt("Documents.All", Action::Update).filter(f, v);
        for (name, value) in fields {
            call = call.set(name, value);
        }
        self.datatable(&call).await
    }

    /// Adds keywords (`CoreField.Keywords+=…`, or `++=` creating missing tags when `create`).
    ///
    /// # Errors
    ///
    /// As [`Client::datatable`]; [`Error::InvalidInput`] for an empty list or a keyword with `|`.
    pub async fn add_keywords<I, S>(
        &self,
        asset: &AssetRef,
        keywords: I,
        create: bool,
    ) -> Result<DataTableResponse, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        asset.check()?;
        let (f, v) = asset.pair();
        let call = self.dt("Documents.All", Action::Update).filter(f, v);
        let call = if create {
            call.add_or_create("CoreField.Keywords", keywords)
        } else {
            call.add("CoreField.Keywords", keywords)
        };
        self.datatable(&call).await
    }

    /// Moves an asset into a folder:
    /// `Documents.All:Update?{asset}&CoreField.Parent-folder:=[…Documents.Folder.Default:Read?{folder}]`,
    /// the form of the vendor's "Move one asset into another" page (notes §2.6, O3). The folder
    /// sub-call reads the folder by `CoreField.Unique-Identifier={id}` when `folder` is an
    /// [`AssetRef::Identifier`] (the documented field; configurable with
    /// [`ClientBuilder::folder_identifier_field`](crate::ClientBuilder::folder_identifier_field)),
    /// and by `RecordID={id}` when it is an [`AssetRef::RecordId`].
    ///
    /// # Errors
    ///
    /// As [`Client::datatable`].
    pub async fn move_to_folder(
        &self,
        asset: &AssetRef,
        folder: &AssetRef,
    ) -> Result<DataTableResponse, Error> {
        asset.check()?;
        folder.check()?;
        let (f, v) = asset.pair();
        let (ff, fv) = match folder {
            AssetRef::Identifier(id) => (self.inner.folder_identifier_field.as_str(), id.as_str()),
            other => other.pair(),
        };
        let read_folder = self
            .dt("Documents.Folder.Default", Action::Read)
            .filter(ff, fv);
        let call = self
            .dt("Documents.All", Action::Update)
            .filter(f, v)
            .set_call("CoreField.Parent-folder", read_folder);
        self.datatable(&call).await
    }

    /// Creates a folder: `Documents.Folder.{subtype}:Create?CoreField.Title:={title}&CoreField.Parent-folder:={parent RecordID}`
    /// (the form a public integration uses), returning the new folder's `RecordID`.
    ///
    /// # Errors
    ///
    /// As [`Client::datatable`]; [`Error::Decode`] when the answer names no `RecordID`.
    pub async fn create_folder(
        &self,
        subtype: &str,
        title: &str,
        parent_record_id: &str,
    ) -> Result<String, Error> {
        if title.trim().is_empty() || parent_record_id.trim().is_empty() {
            return Err(Error::InvalidInput(
                "folder title and parent must not be empty".into(),
            ));
        }
        let call = self
            .dt(&format!("Documents.Folder.{subtype}"), Action::Create)
            .set("CoreField.Title", title)
            .set("CoreField.Parent-folder", parent_record_id);
        self.datatable(&call)
            .await?
            .record_id()
            .ok_or_else(|| Error::Decode {
                status: 200,
                what: "folder create",
                reason: "no RecordID in the answer".into(),
            })
    }

    /// Finds a folder by title under a parent (`Documents.Folder.{subtype}:Read` with
    /// `CoreField.Title` and `CoreField.Parent-folder`) or creates it; returns its `RecordID`.
    /// Not atomic: two concurrent callers may both create it.
    ///
    /// # Errors
    ///
    /// As [`Client::create_folder`].
    pub async fn ensure_folder(
        &self,
        subtype: &str,
        title: &str,
        parent_record_id: &str,
    ) -> Result<String, Error> {
        let read = self
            .dt(&format!("Documents.Folder.{subtype}"), Action::Read)
            .filter("CoreField.Title", title)
            .filter("CoreField.Parent-folder", parent_record_id);
        if let Some(id) = self.datatable(&read).await?.record_id() {
            return Ok(id);
        }
        self.create_folder(subtype, title, parent_record_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operators() {
        assert_eq!(Operator::Eq.to_string(), "=");
        assert_eq!(Operator::Set.to_string(), ":=");
        assert_eq!(Operator::Add.to_string(), "+=");
        assert_eq!(Operator::AddOrCreate.to_string(), "++=");
        assert_eq!(Operator::Other("-".into()).to_string(), "-=");
    }

    #[test]
    fn encodes_each_operator() {
        let call = DataTableCall::update("Documents.Image.Default")
            .filter("CoreField.Identifier", "ZZ13U2O")
            .set("CoreField.Title", "January photoshoot")
            .add("CoreField.Keywords", ["a", "b c"])
            .add_or_create("MAY.Tags", ["x"]);
        assert_eq!(
            call.path(),
            "/API/DataTable/v2.2/Documents.Image.Default:Update"
        );
        assert_eq!(
            call.pairs().unwrap(),
            vec![
                ("CoreField.Identifier".to_owned(), "ZZ13U2O".to_owned()),
                (
                    "CoreField.Title:".to_owned(),
                    "January photoshoot".to_owned()
                ),
                ("CoreField.Keywords+".to_owned(), "a|b c".to_owned()),
                ("MAY.Tags++".to_owned(), "x".to_owned()),
            ]
        );
        assert_eq!(
            call.to_query().unwrap(),
            "CoreField.Identifier=ZZ13U2O&CoreField.Title%3A=January%20photoshoot&CoreField.Keywords%2B=a%7Cb%20c&MAY.Tags%2B%2B=x"
        );
    }

    #[test]
    fn nested_calls_are_encoded_twice() {
        let inner = DataTableCall::read("Documents.Folder.Default")
            .version("V2.2")
            .filter("CoreField.Title", "a&b")
            .filter("CoreField.Parent-folder", "P1");
        assert_eq!(
            inner.to_subcall().unwrap(),
            "[/API/DataTable/V2.2/Documents.Folder.Default:Read?CoreField.Title=a%26b&CoreField.Parent-folder=P1]"
        );
        let outer = DataTableCall::update("Documents.All")
            .filter("RecordID", "R1")
            .set_call("CoreField.Parent-folder", inner);
        let q = outer.to_query().unwrap();
        assert_eq!(
            q,
            "RecordID=R1&CoreField.Parent-folder%3A=%5B%2FAPI%2FDataTable%2FV2.2%2FDocuments.Folder.Default%3ARead%3FCoreField.Title%3Da%2526b%26CoreField.Parent-folder%3DP1%5D"
        );
        // Decoding the outer value once gives back the sub-call text exactly.
        let decoded: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(decoded[1].0, "CoreField.Parent-folder:");
        assert!(
            decoded[1].1.starts_with("[/API/DataTable/V2.2/") && decoded[1].1.contains("a%26b&")
        );
        // Two levels deep.
        let deep = DataTableCall::read("A").set_call(
            "F",
            DataTableCall::read("B").set_call("G", DataTableCall::read("C").filter("x", "1")),
        );
        assert_eq!(
            deep.pairs().unwrap()[0].1,
            "[/API/DataTable/v2.2/B:Read?G%3A=%5B%2FAPI%2FDataTable%2Fv2.2%2FC%3ARead%3Fx%3D1%5D]"
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(
            DataTableCall::read("Documents.All")
                .filter("bad name", "x")
                .pairs()
                .is_err()
        );
        assert!(
            DataTableCall::read("Documents.All")
                .filter("a=b", "x")
                .pairs()
                .is_err()
        );
        assert!(
            DataTableCall::update("Documents.All")
                .add("K", ["a|b"])
                .pairs()
                .is_err()
        );
        assert!(
            DataTableCall::update("Documents.All")
                .add("K", Vec::<String>::new())
                .pairs()
                .is_err()
        );
        assert!(DataTableCall::read("").pairs().is_err());
        assert!(
            DataTableCall::read("Documents.All")
                .pairs()
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            DataTableCall::read("X").to_subcall().unwrap(),
            "[/API/DataTable/v2.2/X:Read]"
        );
    }

    #[test]
    fn records_from_each_shape() {
        let r = |v: Value| DataTableResponse { raw: v };
        assert_eq!(
            r(json!({"Response":[{"RecordID":"1"},{"RecordID":"2"}]}))
                .records()
                .len(),
            2
        );
        assert_eq!(
            r(json!({"Response":{"Record":{"RecordID":"1"}}}))
                .record_id()
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            r(json!({"Response":{"Record":[{"RecordID":"7"}]}}))
                .record_id()
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            r(json!({"Response":{"RecordID":"9"}}))
                .record_id()
                .as_deref(),
            Some("9")
        );
        assert!(
            r(json!({"Response":{"RecordsAffected":{"Result":{"Code":"SUCCESS"}}}}))
                .records()
                .is_empty()
        );
        let rec =
            &r(json!({"Response":[{"RecordID":"1","CoreField.Identifier":"CTL1"}]})).records()[0];
        assert_eq!(rec.identifier().as_deref(), Some("CTL1"));
    }
}
