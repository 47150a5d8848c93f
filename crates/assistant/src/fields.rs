//! AI-filled case fields (flow C1): each mapped column of the case gets a name, a title, a kind
//! (text, number, date, lookup) and an instruction, and a [`FieldFiller`] fills them from the
//! conversation when the case is created, the way the OpenCX handoff fills its "AI fields"
//! (`{column, title, kind, description}`; `../shared/api/creatio.md` §7, "AI fields").
//!
//! A lookup field is constrained to the lookup's real values ([`LookupValues`], read from Creatio
//! by the bridge at run time): an answer that is not one of them is dropped, never invented. A
//! number that does not parse and a date that is not `YYYY-MM-DD` are dropped too.
//!
//! The rule-based default, [`NoFields`], fills nothing (the case keeps the bridge's own column
//! mapping).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::provenance::Provenance;
use crate::summary::SummaryInput;

/// The kind of a field: what the model must answer and how the answer is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FieldKind {
    /// Free text (one line or a few sentences).
    Text,
    /// A number (decimal point, no unit).
    Number,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of the lookup's values ([`LookupValues`]), answered by name, written by id.
    Lookup,
}

impl FieldKind {
    /// `text`, `number`, `date` or `lookup`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::Lookup => "lookup",
        }
    }
}

/// One field to fill (TOML: `{ name = "UsrCategory", title = "Category", kind = "lookup",
/// instruction = "..." }`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FieldSpec {
    /// The column (Creatio) or property (CMS, DAM) the value is written to, e.g. `UsrCategory`.
    /// Also the key of the field in the model's answer.
    pub name: String,
    /// The display title shown to the model (and to people), e.g. `Category`.
    #[serde(default)]
    pub title: String,
    /// The kind of value.
    pub kind: FieldKind,
    /// What to put in the field, for the model (e.g. "the product the customer writes about").
    #[serde(default)]
    pub instruction: String,
}

impl FieldSpec {
    /// A field `name` of `kind`, titled `title`, with `instruction`.
    pub fn new(
        name: impl Into<String>,
        title: impl Into<String>,
        kind: FieldKind,
        instruction: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            title: title.into(),
            kind,
            instruction: instruction.into(),
        }
    }
}

/// One allowed value of a lookup field: its id (written) and its name (shown to the model).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LookupValue {
    /// The id written to the record (a Creatio lookup GUID, a CMS value key).
    pub id: String,
    /// The display name the model chooses by.
    pub name: String,
}

impl LookupValue {
    /// The value `id` named `name`.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
        }
    }
}

/// The allowed values of each lookup field, by [`FieldSpec::name`]. A lookup field without an
/// entry (or with an empty list) is never filled.
pub type LookupValues = BTreeMap<String, Vec<LookupValue>>;

/// A filled value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
#[non_exhaustive]
pub enum FieldValue {
    /// Text (trimmed, not empty).
    Text(String),
    /// A finite number.
    Number(f64),
    /// A date.
    Date(NaiveDate),
    /// One of the lookup's allowed values.
    Lookup(LookupValue),
}

impl FieldValue {
    /// The value as written to a text column or a record property: the text, the number, the
    /// date as `YYYY-MM-DD`, or the lookup's id.
    pub fn to_plain(&self) -> String {
        match self {
            FieldValue::Text(t) => t.clone(),
            FieldValue::Number(n) => n.to_string(),
            FieldValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            FieldValue::Lookup(v) => v.id.clone(),
        }
    }
}

/// One field and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FilledField {
    /// The [`FieldSpec::name`].
    pub name: String,
    /// The value.
    pub value: FieldValue,
}

impl FilledField {
    /// Field `name` with `value`.
    pub fn new(name: impl Into<String>, value: FieldValue) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }
}

/// The fields a filler or an extractor filled (those it could not fill are absent).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FilledFields {
    /// The filled fields, in the order of the specs.
    pub values: Vec<FilledField>,
    /// Which model and prompt filled them; `None` from the rules.
    pub provenance: Option<Provenance>,
    /// `true` when an LLM implementation answered with its rule-based fallback.
    pub fallback: bool,
}

impl FilledFields {
    /// Nothing filled.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The value of field `name`, if filled.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.values
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// Whether nothing was filled.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Fills the configured fields of a case from the handed-off conversation.
///
/// Infallible: a model-backed filler that cannot use its model answers with its fallback.
#[async_trait]
pub trait FieldFiller: Send + Sync {
    /// The values of `specs` for the conversation of `input`; lookup fields only from `lookups`.
    async fn fill(
        &self,
        specs: &[FieldSpec],
        lookups: &LookupValues,
        input: &SummaryInput<'_>,
    ) -> FilledFields;
}

/// The rule-based default: fills nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFields;

#[async_trait]
impl FieldFiller for NoFields {
    async fn fill(
        &self,
        _specs: &[FieldSpec],
        _lookups: &LookupValues,
        _input: &SummaryInput<'_>,
    ) -> FilledFields {
        FilledFields::empty()
    }
}

/// Checks one answered value against its spec: `None` (dropped) for a null, an empty text, a
/// number that does not parse or is not finite, a date that is not `YYYY-MM-DD`, or a lookup
/// name that is not one of `allowed` (compared exactly, then ignoring case and surrounding
/// spaces).
pub fn check_value(spec: &FieldSpec, allowed: &[LookupValue], answer: &str) -> Option<FieldValue> {
    let answer = answer.trim();
    if answer.is_empty() {
        return None;
    }
    match spec.kind {
        FieldKind::Text => Some(FieldValue::Text(answer.to_owned())),
        FieldKind::Number => answer
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(FieldValue::Number),
        FieldKind::Date => NaiveDate::parse_from_str(answer, "%Y-%m-%d")
            .ok()
            .map(FieldValue::Date),
        FieldKind::Lookup => allowed
            .iter()
            .find(|v| v.name == answer)
            .or_else(|| {
                allowed
                    .iter()
                    .find(|v| v.name.trim().eq_ignore_ascii_case(answer))
            })
            .cloned()
            .map(FieldValue::Lookup),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_from_toml() {
        #[derive(Deserialize)]
        struct Config {
            fields: Vec<FieldSpec>,
        }
        let c: Config = toml::from_str(
            r#"
[[fields]]
name = "UsrCategory"
title = "Category"
kind = "lookup"
instruction = "The product category"
[[fields]]
name = "UsrAmount"
kind = "number"
"#,
        )
        .unwrap();
        assert_eq!(c.fields[0].kind, FieldKind::Lookup);
        assert_eq!(c.fields[1].kind, FieldKind::Number);
        assert!(toml::from_str::<Config>("[[fields]]\nname = \"x\"\nkind = \"colour\"").is_err());
    }

    #[test]
    fn values_are_checked_against_their_kind() {
        let allowed = vec![
            LookupValue::new("id-1", "Routers"),
            LookupValue::new("id-2", "Phones"),
        ];
        let lookup = FieldSpec::new("UsrCategory", "Category", FieldKind::Lookup, "");
        assert_eq!(
            check_value(&lookup, &allowed, " phones "),
            Some(FieldValue::Lookup(allowed[1].clone()))
        );
        assert_eq!(
            check_value(&lookup, &allowed, "Tablets"),
            None,
            "never invented"
        );
        assert_eq!(check_value(&lookup, &[], "Routers"), None);
        let number = FieldSpec::new("n", "", FieldKind::Number, "");
        assert_eq!(
            check_value(&number, &[], "12.5"),
            Some(FieldValue::Number(12.5))
        );
        assert_eq!(check_value(&number, &[], "twelve"), None);
        assert_eq!(check_value(&number, &[], "NaN"), None);
        let date = FieldSpec::new("d", "", FieldKind::Date, "");
        assert_eq!(
            check_value(&date, &[], "2026-03-04").map(|v| v.to_plain()),
            Some("2026-03-04".into())
        );
        assert_eq!(check_value(&date, &[], "4 March"), None);
        let text = FieldSpec::new("t", "", FieldKind::Text, "");
        assert_eq!(check_value(&text, &[], "   "), None);
    }
}
