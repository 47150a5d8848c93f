//! Settings that may hold `${VAR}` references, and where their values come from.
//!
//! Every string of the configuration that may hold a secret or an address is a [`Setting`]: it may
//! contain `${VAR}` references, resolved from a [`Vars`] source (the process environment,
//! [`EnvVars`], for `chatport serve`; a map for tests and the demo). A [`SecretSetting`] **must**
//! be a reference: a literal secret in the file is refused, so secrets never live in the file, and
//! a resolved secret is a [`SecretString`] that never prints. `$${` writes a literal `${`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use secrecy::SecretString;
use serde::Deserialize;

use crate::Error;

/// A source of variables for `${VAR}` references.
pub trait Vars {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvVars;

impl Vars for EnvVars {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Vars for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Vars for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

/// A string setting that may contain `${VAR}` references (`$${` writes a literal `${`).
///
/// Keeps its raw text when the configuration is read (it deserialises as the newtype struct
/// `Setting`, which [`expand_document`] passes through unexpanded) and resolves it where it is
/// used, so a reference to an unset variable names this key.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Setting(String);

impl Setting {
    /// Wraps a raw setting (as written in the file).
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The raw text, references unresolved.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// Resolves the references. `key` names the setting in errors (`whatsapp.api_base`).
    ///
    /// # Errors
    /// [`Error::Config`] when a variable is not set or a reference is not closed. The message names
    /// the key and the variable, never a value.
    pub fn resolve(&self, key: &str, vars: &dyn Vars) -> Result<String, Error> {
        interpolate(&self.0, key, vars)
    }
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Setting").field(&self.0).finish()
    }
}

/// A secret setting: must be written as a `${VAR}` reference; the file never holds the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSetting(String);

impl SecretSetting {
    /// Wraps a reference such as `${WHATSAPP_TOKEN}`.
    ///
    /// # Errors
    /// [`Error::Config`] when `raw` contains no `${VAR}` reference.
    pub fn new(raw: impl Into<String>) -> Result<Self, Error> {
        let raw = raw.into();
        if !raw.contains("${") {
            return Err(Error::Config(
                "a secret must be an environment reference such as \"${WHATSAPP_TOKEN}\", not a literal value".into(),
            ));
        }
        Ok(Self(raw))
    }

    /// Resolves the reference into a secret. A blank result is refused.
    ///
    /// # Errors
    /// [`Error::Config`] when the variable is unset or blank; the message names the key and variable.
    pub fn resolve(&self, key: &str, vars: &dyn Vars) -> Result<SecretString, Error> {
        let value = interpolate(&self.0, key, vars)?;
        if value.trim().is_empty() {
            return Err(Error::Config(format!(
                "{key}: the secret resolved to a blank value"
            )));
        }
        Ok(SecretString::from(value))
    }
}

impl fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The raw text is only a reference (literals are refused), so it is safe to show.
        f.debug_tuple("SecretSetting").field(&self.0).finish()
    }
}

impl<'de> Deserialize<'de> for SecretSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The newtype struct `SecretSetting`, so [`expand_document`] keeps the reference raw.
        #[derive(Deserialize)]
        #[serde(rename = "SecretSetting")]
        struct Raw(String);
        let Raw(raw) = Raw::deserialize(deserializer)?;
        SecretSetting::new(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Setting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Setting".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "x-chatport-reference": true,
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for SecretSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretSetting".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "\\$\\{[A-Za-z0-9_]+\\}",
            "x-chatport-secret": true,
        })
    }
}

/// The variable names a raw setting refers to, in order (`$${` escapes are skipped; a malformed
/// reference is left for [`Setting::resolve`] to report).
pub fn reference_names(raw: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else { break };
            let name = &after[..end];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                names.push(name);
            }
            rest = &after[end + 1..];
        } else {
            rest = &tail[1..];
        }
    }
    names
}

/// One `${VAR}` reference in a configuration: the dotted key that holds it (`store.url`,
/// `whatsapp.app_secrets[1]`) and the variable's name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reference {
    /// The dotted key path of the setting.
    pub key: String,
    /// The variable's name.
    pub variable: String,
}

/// The references of `all` that sit in plain string settings of the configuration `document`
/// (expanded when read), as opposed to [`Setting`]s and [`SecretSetting`]s (resolved where used).
/// Found by deserialising the document once more with variables that record every lookup.
pub(crate) fn plain_references(document: toml::Table, all: &[Reference]) -> Vec<Reference> {
    struct Recorder(std::sync::Mutex<std::collections::BTreeSet<String>>);
    impl Vars for Recorder {
        fn get(&self, name: &str) -> Option<String> {
            if let Ok(mut seen) = self.0.lock() {
                seen.insert(name.to_owned());
            }
            None
        }
    }
    let recorder = Recorder(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    // The document parsed once already; a second parse only serves to record the lookups.
    let _ = expand_document::<crate::config::Config>(document, &recorder);
    let seen = recorder.0.into_inner().unwrap_or_default();
    all.iter()
        .filter(|r| seen.contains(&r.variable))
        .cloned()
        .collect()
}

/// Every `${VAR}` reference in every string of a TOML document, with its key path.
pub fn references_in(table: &toml::Table) -> Vec<Reference> {
    fn walk(value: &toml::Value, key: &str, out: &mut Vec<Reference>) {
        match value {
            toml::Value::String(raw) => {
                out.extend(reference_names(raw).into_iter().map(|v| Reference {
                    key: key.to_owned(),
                    variable: v.to_owned(),
                }))
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{key}[{i}]"), out);
                }
            }
            toml::Value::Table(table) => {
                for (k, v) in table {
                    let path = if key.is_empty() {
                        k.clone()
                    } else {
                        format!("{key}.{k}")
                    };
                    walk(v, &path, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (k, v) in table {
        walk(v, k, &mut out);
    }
    out
}

/// Checks every reference at once: `Ok` when each variable is set, else one [`Error::Config`]
/// naming **every** unset variable with the keys that use it (never a value), so a configuration
/// is fixed in one round instead of one variable per run.
///
/// # Errors
/// [`Error::Config`] listing the unset variables.
pub fn check_references(references: &[Reference], vars: &dyn Vars) -> Result<(), Error> {
    let mut missing: Vec<(&str, Vec<&str>)> = Vec::new();
    for r in references {
        if vars.get(&r.variable).is_some() {
            continue;
        }
        match missing.iter_mut().find(|(v, _)| *v == r.variable) {
            Some((_, keys)) => keys.push(&r.key),
            None => missing.push((&r.variable, vec![&r.key])),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(var, keys)| format!("{var} (used by {})", keys.join(", ")))
        .collect();
    Err(Error::Config(format!(
        "{} environment variable{} not set: {}",
        missing.len(),
        if missing.len() == 1 { " is" } else { "s are" },
        list.join("; ")
    )))
}

/// Deserialises `T` from a TOML document with every `${VAR}` reference of every **plain** string
/// expanded from `vars` (and `$${` turned into `${`), while the strings of [`Setting`]s and
/// [`SecretSetting`]s keep their raw text (they resolve where they are used, and a secret must
/// stay a reference). Which strings are plain is told by the types: a `Setting` or
/// `SecretSetting` asks for the newtype struct of that name, anything else for a string.
///
/// A string whose reference cannot be expanded (an unset variable, an unclosed `${`) is left as
/// written: [`check_references`] reports every unset variable at once, and nothing here stops at
/// the first.
///
/// # Errors
/// The deserialisation error of `T` (the document is expected to have been checked against `T`
/// already, with positions, by the TOML parser).
pub fn expand_document<T: serde::de::DeserializeOwned>(
    document: toml::Table,
    vars: &dyn Vars,
) -> Result<T, serde::de::value::Error> {
    T::deserialize(Expanding {
        value: toml::Value::Table(document),
        key: String::new(),
        vars: Some(vars),
    })
}

/// A TOML value as a serde deserializer that expands references in its strings (`vars` set) or
/// hands them out raw (`vars` unset: inside a [`Setting`] or [`SecretSetting`]). `key` is the
/// dotted path, for the messages of [`interpolate`].
struct Expanding<'a> {
    value: toml::Value,
    key: String,
    vars: Option<&'a dyn Vars>,
}

impl Expanding<'_> {
    fn text(raw: String, key: &str, vars: Option<&dyn Vars>) -> String {
        match vars {
            Some(vars) => interpolate(&raw, key, vars).unwrap_or(raw),
            None => raw,
        }
    }
}

impl<'de> serde::de::IntoDeserializer<'de, serde::de::value::Error> for Expanding<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> serde::Deserializer<'de> for Expanding<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        use serde::de::value::{MapDeserializer, SeqDeserializer};
        let Self { value, key, vars } = self;
        match value {
            toml::Value::String(raw) => visitor.visit_string(Self::text(raw, &key, vars)),
            toml::Value::Integer(i) => visitor.visit_i64(i),
            toml::Value::Float(f) => visitor.visit_f64(f),
            toml::Value::Boolean(b) => visitor.visit_bool(b),
            toml::Value::Datetime(d) => visitor.visit_string(d.to_string()),
            toml::Value::Array(items) => visitor.visit_seq(SeqDeserializer::new(
                items.into_iter().enumerate().map(|(i, value)| Self {
                    value,
                    key: format!("{key}[{i}]"),
                    vars,
                }),
            )),
            toml::Value::Table(table) => {
                visitor.visit_map(MapDeserializer::new(table.into_iter().map(|(k, value)| {
                    let path = if key.is_empty() {
                        k.clone()
                    } else {
                        format!("{key}.{k}")
                    };
                    (
                        k,
                        Self {
                            value,
                            key: path,
                            vars,
                        },
                    )
                })))
            }
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // TOML has no null: a present key is always `Some`.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        if name == "Setting" || name == "SecretSetting" {
            visitor.visit_newtype_struct(Self { vars: None, ..self })
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        use serde::de::IntoDeserializer as _;
        let Self { value, key, vars } = self;
        match value {
            toml::Value::String(raw) => {
                visitor.visit_enum(Self::text(raw, &key, vars).into_deserializer())
            }
            toml::Value::Table(table) => {
                visitor.visit_enum(serde::de::value::MapAccessDeserializer::new(
                    serde::de::value::MapDeserializer::new(table.into_iter().map(|(k, value)| {
                        let path = format!("{key}.{k}");
                        (
                            k,
                            Self {
                                value,
                                key: path,
                                vars,
                            },
                        )
                    })),
                ))
            }
            other => Err(serde::de::Error::custom(format!(
                "expected a string or a table for an enum, found {}",
                other.type_str()
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

pub(crate) fn interpolate(raw: &str, key: &str, vars: &dyn Vars) -> Result<String, Error> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| Error::Config(format!("{key}: unclosed \"${{\" reference")))?;
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::Config(format!(
                    "{key}: invalid variable name in reference"
                )));
            }
            let value = vars.get(name).ok_or_else(|| {
                Error::Config(format!("{key}: environment variable {name} is not set"))
            })?;
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        [("TOKEN".to_owned(), "t0k".to_owned())]
            .into_iter()
            .collect()
    }

    #[test]
    fn every_unset_reference_is_reported_at_once() {
        let table: toml::Table = toml::from_str(
            r#"
            [store]
            path = "${STATE_DIR}/chatport.sqlite"
            [whatsapp]
            access_token = "${TOKEN}"
            app_secrets = ["${SECRET_A}", "${SECRET_B}"]
            note = "$${NOT_A_REFERENCE} and ${STATE_DIR}"
            "#,
        )
        .unwrap();
        let refs = references_in(&table);
        assert_eq!(refs.len(), 5, "{refs:?}");
        assert!(refs.contains(&Reference {
            key: "whatsapp.app_secrets[1]".into(),
            variable: "SECRET_B".into()
        }));
        let err = check_references(&refs, &vars()).unwrap_err().to_string();
        assert!(err.contains("3 environment variables are not set"), "{err}");
        assert!(
            err.contains("STATE_DIR (used by store.path, whatsapp.note)"),
            "{err}"
        );
        assert!(
            err.contains("SECRET_A (used by whatsapp.app_secrets[0])"),
            "{err}"
        );
        assert!(!err.contains("TOKEN ("), "TOKEN is set: {err}");
        assert!(!err.contains("NOT_A_REFERENCE"), "{err}");
        let all: HashMap<String, String> = ["STATE_DIR", "TOKEN", "SECRET_A", "SECRET_B"]
            .iter()
            .map(|v| ((*v).to_owned(), "x".to_owned()))
            .collect();
        assert!(check_references(&refs, &all).is_ok());
    }

    #[test]
    fn interpolation_rules() {
        let v = vars();
        assert_eq!(interpolate("a${TOKEN}b", "k", &v).unwrap(), "at0kb");
        assert_eq!(interpolate("$${TOKEN}", "k", &v).unwrap(), "${TOKEN}");
        assert_eq!(interpolate("cost $5", "k", &v).unwrap(), "cost $5");
        let err = interpolate("${MISSING}", "whatsapp.access_token", &v)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MISSING") && err.contains("whatsapp.access_token"),
            "{err}"
        );
        assert!(interpolate("${TOKEN", "k", &v).is_err());
        assert!(interpolate("${A-B}", "k", &v).is_err());
        let blank: HashMap<String, String> = [("TOKEN".to_owned(), "  ".to_owned())]
            .into_iter()
            .collect();
        assert!(
            SecretSetting::new("${TOKEN}")
                .unwrap()
                .resolve("k", &blank)
                .is_err()
        );
    }
}
