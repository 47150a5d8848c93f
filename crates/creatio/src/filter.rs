//! A `$filter` builder that quotes and escapes every value (`shared/api/creatio.md` §2.2).
//!
//! * strings: `'…'` with every `'` doubled (`'O''Brien'`; the OData rule, inferred for Creatio);
//! * GUIDs: bare, lower-case (`Id eq 6a0e…`; OData 4, no `guid'…'`);
//! * dates: bare ISO 8601 in UTC with `Z` (`ModifiedOn gt 2024-05-23T00:00:00Z`; not `datetime'…'`);
//! * lookups: the navigation path `Contact/Id eq <guid>` ([`lookup_eq`]), the form reported to
//!   work where `ContactId eq …` fails;
//! * no `in` operator: [`any_of`] expands to `(F eq a or F eq b)`.
//!
//! Field names are written as given: they are schema codes chosen by the program (`Contact`,
//! `UsrCustomField`), never user input. Every value is user input and goes through [`Literal`].
//!
//! ```
//! use chatport_creatio::filter::{self, Filter};
//! let f = filter::eq("Name", "O'Brien").and(filter::contains("Email", "@acme"));
//! assert_eq!(f.to_string(), "Name eq 'O''Brien' and contains(Email,'@acme')");
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A value in a filter expression, rendered as an OData 4 literal.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Literal {
    /// `'text'`, with `'` doubled.
    String(String),
    /// A bare GUID, e.g. `ae5f2f10-f46b-1410-fd9a-0050ba5d6c38`.
    Guid(Uuid),
    /// A bare UTC timestamp, e.g. `2024-05-23T00:00:00Z` (fractional seconds when non-zero).
    DateTime(DateTime<Utc>),
    /// An integer.
    Int(i64),
    /// A decimal number.
    Decimal(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Guid(g) => write!(f, "{}", g.hyphenated()),
            Literal::DateTime(d) => f.write_str(&crate::model::odata_datetime(d)),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Decimal(x) => write!(f, "{x}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

impl From<&str> for Literal {
    fn from(s: &str) -> Self {
        Literal::String(s.to_owned())
    }
}
impl From<String> for Literal {
    fn from(s: String) -> Self {
        Literal::String(s)
    }
}
impl From<&String> for Literal {
    fn from(s: &String) -> Self {
        Literal::String(s.clone())
    }
}
impl From<Uuid> for Literal {
    fn from(g: Uuid) -> Self {
        Literal::Guid(g)
    }
}
impl From<DateTime<Utc>> for Literal {
    fn from(d: DateTime<Utc>) -> Self {
        Literal::DateTime(d)
    }
}
impl From<i64> for Literal {
    fn from(i: i64) -> Self {
        Literal::Int(i)
    }
}
impl From<i32> for Literal {
    fn from(i: i32) -> Self {
        Literal::Int(i64::from(i))
    }
}
impl From<u32> for Literal {
    fn from(i: u32) -> Self {
        Literal::Int(i64::from(i))
    }
}
impl From<f64> for Literal {
    fn from(x: f64) -> Self {
        Literal::Decimal(x)
    }
}
impl From<bool> for Literal {
    fn from(b: bool) -> Self {
        Literal::Bool(b)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Atom,
    And,
    Or,
}

/// A `$filter` expression. Build it with the functions of this module and combine with
/// [`Filter::and`], [`Filter::or`] and [`Filter::not`]; `Display` gives the expression text
/// (parenthesised where precedence needs it: `and` binds tighter than `or`).
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    text: String,
    kind: Kind,
    nodes: usize,
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Filter {
    fn atom(text: String) -> Self {
        Self {
            text,
            kind: Kind::Atom,
            nodes: 1,
        }
    }

    /// A raw expression, sent as given (for functions this builder does not cover). The caller
    /// is responsible for quoting; prefer the typed functions.
    pub fn raw(expression: impl Into<String>) -> Self {
        Self {
            text: format!("({})", expression.into()),
            kind: Kind::Atom,
            nodes: 1,
        }
    }

    fn wrapped(&self, parent: Kind) -> String {
        if parent == Kind::And && self.kind == Kind::Or {
            format!("({})", self.text)
        } else {
            self.text.clone()
        }
    }

    /// `self and other`.
    #[must_use]
    pub fn and(self, other: Filter) -> Filter {
        Filter {
            text: format!(
                "{} and {}",
                self.wrapped(Kind::And),
                other.wrapped(Kind::And)
            ),
            kind: Kind::And,
            nodes: self.nodes + other.nodes,
        }
    }

    /// `self or other`.
    #[must_use]
    pub fn or(self, other: Filter) -> Filter {
        Filter {
            text: format!("{} or {}", self.wrapped(Kind::Or), other.wrapped(Kind::Or)),
            kind: Kind::Or,
            nodes: self.nodes + other.nodes,
        }
    }

    /// `not (self)`.
    #[must_use]
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter {
            text: format!("not ({})", self.text),
            kind: Kind::Atom,
            nodes: self.nodes,
        }
    }

    /// The number of comparison / function nodes. Creatio is reported to accept at most 100 per
    /// `$filter` (`shared/api/creatio.md` §2.2, unverified).
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The expression text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// All `filters` joined with `and` (`None` when empty).
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
        filters.into_iter().reduce(Filter::and)
    }

    /// Any of `filters` joined with `or` (`None` when empty).
    pub fn any(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
        filters.into_iter().reduce(Filter::or)
    }
}

fn cmp(field: &str, op: &str, value: impl Into<Literal>) -> Filter {
    Filter::atom(format!("{field} {op} {}", value.into()))
}

/// `field eq value`.
pub fn eq(field: &str, value: impl Into<Literal>) -> Filter {
    cmp(field, "eq", value)
}
/// `field ne value`.
pub fn ne(field: &str, value: impl Into<Literal>) -> Filter {
    cmp(field, "ne", value)
}
/// `field gt value`.
pub fn gt(field: &str, value: impl Into<Literal>) -> Filter {
    cmp(field, "gt", value)
}
/// `field ge value`.
pub fn ge(field: &str, value: impl Into<Literal>) -> Filter {
    cmp(field, "ge", value)
}
/// `field lt value`.
pub fn lt(field: &str, value: impl Into<Literal>) -> Filter {
    cmp(field, "lt", value)
}
/// `field le value`.
pub fn le(field: &str, value: impl Into<Literal>) -> Filter {
    cmp(field, "le", value)
}

/// `{lookup}/Id eq <guid>`: a lookup column by its navigation property (`Contact/Id eq …`).
pub fn lookup_eq(lookup: &str, id: Uuid) -> Filter {
    Filter::atom(format!("{lookup}/Id eq {}", id.hyphenated()))
}

/// `contains(field,'text')`.
pub fn contains(field: &str, text: &str) -> Filter {
    Filter::atom(format!("contains({field},{})", Literal::from(text)))
}

/// `startswith(field,'text')` (e.g. `ContactCommunication.SearchNumber` with reversed digits).
pub fn startswith(field: &str, text: &str) -> Filter {
    Filter::atom(format!("startswith({field},{})", Literal::from(text)))
}

/// `endswith(field,'text')`.
pub fn endswith(field: &str, text: &str) -> Filter {
    Filter::atom(format!("endswith({field},{})", Literal::from(text)))
}

/// `(field eq a or field eq b …)`: OData's missing `in`. `None` for no values.
pub fn any_of<L: Into<Literal>>(
    field: &str,
    values: impl IntoIterator<Item = L>,
) -> Option<Filter> {
    let f = Filter::any(values.into_iter().map(|v| eq(field, v)))?;
    Some(Filter {
        text: format!("({})", f.text),
        kind: Kind::Atom,
        nodes: f.nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(eq("Name", "O'Brien").to_string(), "Name eq 'O''Brien'");
        assert_eq!(eq("Name", "''").to_string(), "Name eq ''''''");
        assert_eq!(
            contains("Subject", "it's 100% broken").to_string(),
            "contains(Subject,'it''s 100% broken')"
        );
        let g = Uuid::parse_str("AE5F2F10-F46B-1410-FD9A-0050BA5D6C38").unwrap();
        assert_eq!(
            lookup_eq("Status", g).to_string(),
            "Status/Id eq ae5f2f10-f46b-1410-fd9a-0050ba5d6c38"
        );
        assert_eq!(
            eq("Id", g).to_string(),
            "Id eq ae5f2f10-f46b-1410-fd9a-0050ba5d6c38"
        );
        let d = Utc.with_ymd_and_hms(2024, 5, 23, 0, 0, 0).unwrap();
        assert_eq!(
            gt("ModifiedOn", d).to_string(),
            "ModifiedOn gt 2024-05-23T00:00:00Z"
        );
        assert_eq!(eq("IsFinal", true).to_string(), "IsFinal eq true");
        assert_eq!(ne("Number", Literal::Null).to_string(), "Number ne null");
    }

    #[test]
    fn precedence_and_grouping() {
        let a = eq("A", 1);
        let b = eq("B", 2);
        let c = eq("C", 3);
        assert_eq!(
            a.clone().or(b.clone()).and(c.clone()).to_string(),
            "(A eq 1 or B eq 2) and C eq 3"
        );
        assert_eq!(
            a.clone().and(b.clone()).or(c.clone()).to_string(),
            "A eq 1 and B eq 2 or C eq 3"
        );
        assert_eq!(a.clone().not().to_string(), "not (A eq 1)");
        let ids = any_of("Id", [1, 2]).unwrap();
        assert_eq!(ids.to_string(), "(Id eq 1 or Id eq 2)");
        assert_eq!(ids.and(c).nodes(), 3);
        assert!(any_of::<i32>("Id", []).is_none());
        assert_eq!(
            Filter::all([a, b]).unwrap().to_string(),
            "A eq 1 and B eq 2"
        );
    }

    proptest! {
        /// Whatever the text, the literal is one quoted token: undoubling the inside gives the
        /// text back, and no lone quote remains.
        #[test]
        fn string_literals_round_trip(s in ".*") {
            let lit = Literal::from(s.as_str()).to_string();
            prop_assert!(lit.starts_with('\'') && lit.ends_with('\''));
            let inner = &lit[1..lit.len() - 1];
            prop_assert!(!inner.replace("''", "").contains('\''));
            prop_assert_eq!(inner.replace("''", "'"), s);
        }
    }
}
