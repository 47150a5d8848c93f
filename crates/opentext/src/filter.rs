//! A builder for the CMS `filter=` query parameter (an OData-like grammar) and for `sortby=`.
//!
//! The grammar, from `shared/api/opentext-orangelogic.md` §1.3 (OpenText's Postman collection and
//! the `OT_alpaca` explorer's filter builder):
//!
//! | Form | Example |
//! |---|---|
//! | comparison | `name eq 'Contract'`, `value ge 10`, `status ne 'CLOSED'` (`eq ne gt ge lt le`) |
//! | pattern | `LOWER(name) like '%foo%'`, `name not like 'tmp%'` (`%` is the wildcard) |
//! | repeating attribute | `tags contains('urgent')`, `dates contains(date('2024-05-01T00:00:00Z'))` |
//! | date literal | `create_time gt date('2024-05-01T00:00:00Z')` |
//! | numbers / booleans | unquoted: `version_no eq 2`, `is_required eq true` |
//! | trait attribute | `traits.ca_approval.approver eq 'x'` |
//! | boolean logic | `a eq 'x' and (b eq 'y' or c eq 'z')` |
//! | id list | `id=(id1,id2,id3)` |
//!
//! ```
//! use chatport_opentext::filter::{Field, Filter, Literal};
//!
//! let f = Filter::eq("status", "CREATED")
//!     .and(Filter::like(Field::lower("name"), "%o'brien%"))
//!     .and(Filter::eq(Field::trait_attr("ca_approval", "is_required"), true)
//!         .or(Filter::gt("create_time", Literal::date("2024-05-01T00:00:00Z"))));
//! assert_eq!(
//!     f.to_string(),
//!     "status eq 'CREATED' and LOWER(name) like '%o''brien%' and \
//!      (traits.ca_approval.is_required eq true or create_time gt date('2024-05-01T00:00:00Z'))"
//! );
//! ```
//!
//! **Escaping is inferred:** the public material never shows a value containing a quote. A `'`
//! inside a value is doubled, as OData does (`'O''Brien'`); verify against a live tenant before
//! relying on values with quotes. Field names are inserted verbatim: they must come from
//! configuration, never from user input ([`Field::new`] refuses nothing; [`Field::checked`]
//! refuses anything but letters, digits, `_` and `.`).
//!
//! The rendered strings are **not** URL-encoded: the client encodes them (`%` → `%25`, space →
//! `%20`) when it builds the query, as the CMS documentation asks.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

/// `value` as a single-quoted filter literal, with every `'` doubled (OData convention, inferred).
///
/// ```
/// assert_eq!(chatport_opentext::filter::quote("O'Brien"), "'O''Brien'");
/// assert_eq!(chatport_opentext::filter::quote(""), "''");
/// ```
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// The equality filter `{property} eq '{value}'`, the value quoted with [`quote`].
///
/// `property` is written as the filter grammar expects it: the bare attribute name for a type's own
/// attributes (`status`, `name`, `parent_folder_id`), `traits.{trait}.{attr}` for a trait
/// attribute. It is inserted verbatim, so it must come from configuration, never from user input.
///
/// ```
/// use chatport_opentext::filter;
/// assert_eq!(filter::eq("ext_ref", "O1:abc"), "ext_ref eq 'O1:abc'");
/// ```
pub fn eq(property: &str, value: &str) -> String {
    format!("{property} eq {}", quote(value))
}

/// The left side of a comparison: an attribute name, a trait attribute or `LOWER(…)` of one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field(String);

impl Field {
    /// A field written verbatim (`name`, `parent_folder_id`, `ca_contract_value`).
    pub fn new(name: impl Into<String>) -> Self {
        Field(name.into())
    }

    /// A field name checked to be letters, digits, `_` and `.` only (what attribute and trait
    /// system names consist of); `None` otherwise. Use it for names that come from outside.
    pub fn checked(name: &str) -> Option<Self> {
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        ok.then(|| Field(name.to_owned()))
    }

    /// A trait attribute: `traits.{trait_name}.{attribute}`.
    pub fn trait_attr(trait_name: &str, attribute: &str) -> Self {
        Field(format!("traits.{trait_name}.{attribute}"))
    }

    /// `LOWER({field})`, for case-insensitive comparisons (`LOWER(name) like '%foo%'`). Compare it
    /// with a lower-case value: the function lowers the stored value only.
    pub fn lower(field: impl Into<Field>) -> Self {
        Field(format!("LOWER({})", field.into().0))
    }

    /// The field as written in the filter.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Field {
    fn from(s: &str) -> Self {
        Field::new(s)
    }
}

impl From<String> for Field {
    fn from(s: String) -> Self {
        Field(s)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value on the right side of a comparison.
///
/// Strings are single-quoted with `'` doubled; numbers and booleans are unquoted; dates are
/// `date('…')`. `From` impls exist for `&str`, `String`, the integer types, `f64`, `bool` and
/// `DateTime<Utc>` (rendered as RFC 3339 with `Z`, seconds precision; the exact date format the
/// service expects is not documented — `date('2024-05-01T00:00:00Z')` is inferred).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Literal {
    /// A string: `'text'`.
    Str(String),
    /// An integer: `42`.
    Int(i64),
    /// A floating point number: `1.5` (non-finite numbers render as `0`).
    Float(f64),
    /// A boolean: `true` / `false`.
    Bool(bool),
    /// A date: `date('…')` with the text given.
    Date(String),
}

impl Literal {
    /// A date literal `date('{text}')` from its text (e.g. `2024-05-01T00:00:00Z`).
    pub fn date(text: impl Into<String>) -> Self {
        Literal::Date(text.into())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => f.write_str(&quote(s)),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Float(x) if x.is_finite() => write!(f, "{x}"),
            Literal::Float(_) => f.write_str("0"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Date(d) => write!(f, "date({})", quote(d)),
        }
    }
}

impl From<&str> for Literal {
    fn from(s: &str) -> Self {
        Literal::Str(s.to_owned())
    }
}

impl From<String> for Literal {
    fn from(s: String) -> Self {
        Literal::Str(s)
    }
}

impl From<&String> for Literal {
    fn from(s: &String) -> Self {
        Literal::Str(s.clone())
    }
}

macro_rules! int_literal {
    ($($t:ty),*) => {$(
        impl From<$t> for Literal {
            fn from(n: $t) -> Self {
                Literal::Int(i64::from(n))
            }
        }
    )*};
}
int_literal!(i8, i16, i32, i64, u8, u16, u32);

impl From<f64> for Literal {
    fn from(x: f64) -> Self {
        Literal::Float(x)
    }
}

impl From<bool> for Literal {
    fn from(b: bool) -> Self {
        Literal::Bool(b)
    }
}

impl From<DateTime<Utc>> for Literal {
    fn from(t: DateTime<Utc>) -> Self {
        Literal::Date(t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Term(String),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    fn render(&self, out: &mut String) {
        match self {
            Expr::Term(t) => out.push_str(t),
            Expr::And(parts) => Self::join(parts, " and ", out, |e| matches!(e, Expr::Or(_))),
            Expr::Or(parts) => Self::join(parts, " or ", out, |e| matches!(e, Expr::And(_))),
        }
    }

    fn join(parts: &[Expr], sep: &str, out: &mut String, needs_parens: fn(&Expr) -> bool) {
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            if needs_parens(part) {
                out.push('(');
                part.render(out);
                out.push(')');
            } else {
                part.render(out);
            }
        }
    }
}

/// A filter expression. Build terms with the constructors, combine them with [`Filter::and`] /
/// [`Filter::or`] (a mixed `and`/`or` nesting is parenthesised, so the result never depends on
/// the service's operator precedence), then pass it to [`ListQuery::filter`](crate::ListQuery::filter)
/// (`Filter` converts into `String`) or render it with `to_string()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter(Expr);

impl Filter {
    fn cmp(field: impl Into<Field>, op: &str, value: impl Into<Literal>) -> Self {
        Filter(Expr::Term(format!(
            "{} {op} {}",
            field.into(),
            value.into()
        )))
    }

    /// `{field} eq {value}`.
    pub fn eq(field: impl Into<Field>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, "eq", value)
    }

    /// `{field} ne {value}`.
    pub fn ne(field: impl Into<Field>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, "ne", value)
    }

    /// `{field} gt {value}`.
    pub fn gt(field: impl Into<Field>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, "gt", value)
    }

    /// `{field} ge {value}`.
    pub fn ge(field: impl Into<Field>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, "ge", value)
    }

    /// `{field} lt {value}`.
    pub fn lt(field: impl Into<Field>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, "lt", value)
    }

    /// `{field} le {value}`.
    pub fn le(field: impl Into<Field>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, "le", value)
    }

    /// `{field} like '{pattern}'`: `%` in `pattern` matches any run of characters. How to match a
    /// literal `%` is not documented; the pattern is sent as given (quotes doubled).
    pub fn like(field: impl Into<Field>, pattern: &str) -> Self {
        Self::cmp(field, "like", pattern)
    }

    /// `{field} not like '{pattern}'`.
    pub fn not_like(field: impl Into<Field>, pattern: &str) -> Self {
        Self::cmp(field, "not like", pattern)
    }

    /// `{field} contains({value})`: a repeating (array) attribute has an element equal to
    /// `value` (e.g. `tags contains('urgent')`, `dates contains(date('…'))`).
    pub fn contains(field: impl Into<Field>, value: impl Into<Literal>) -> Self {
        Filter(Expr::Term(format!(
            "{} contains({})",
            field.into(),
            value.into()
        )))
    }

    /// `id=(id1,id2,…)`: the instances with these ids (`/instances/any/cms_any` in the samples).
    /// Ids are sent verbatim (they are UUIDs); an id containing `,`, `(` `)` or whitespace is left
    /// out. No ids gives `id=()`.
    pub fn ids<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list: Vec<String> = ids
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .filter(|s| {
                !s.chars()
                    .any(|c| c == ',' || c == '(' || c == ')' || c.is_whitespace())
            })
            .collect();
        Filter(Expr::Term(format!("id=({})", list.join(","))))
    }

    /// An expression written by hand, used as one term (parenthesised when combined with the
    /// other operator).
    pub fn raw(expression: impl Into<String>) -> Self {
        let expression = expression.into();
        // A raw `a or b` combined with `and` must keep its meaning: treat it as a group.
        Filter(Expr::Or(vec![Expr::Term(expression)]))
    }

    /// `self and other`.
    pub fn and(self, other: Filter) -> Self {
        let mut parts = match self.0 {
            Expr::And(parts) => parts,
            e => vec![e],
        };
        match other.0 {
            Expr::And(more) => parts.extend(more),
            e => parts.push(e),
        }
        Filter(Expr::And(parts))
    }

    /// `self or other`.
    pub fn or(self, other: Filter) -> Self {
        let mut parts = match self.0 {
            Expr::Or(parts) => parts,
            e => vec![e],
        };
        match other.0 {
            Expr::Or(more) => parts.extend(more),
            e => parts.push(e),
        }
        Filter(Expr::Or(parts))
    }

    /// Every filter joined with `and`; `None` for none.
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
        filters.into_iter().reduce(Filter::and)
    }

    /// Every filter joined with `or`; `None` for none.
    pub fn any(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
        filters.into_iter().reduce(Filter::or)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        match &self.0 {
            // A lone raw term is not parenthesised.
            Expr::Or(parts) if parts.len() == 1 => parts[0].render(&mut out),
            e => e.render(&mut out),
        }
        f.write_str(&out)
    }
}

impl From<Filter> for String {
    fn from(f: Filter) -> Self {
        f.to_string()
    }
}

/// A sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// `asc`.
    Asc,
    /// `desc`.
    Desc,
}

/// A `sortby=` value: `{field} asc|desc`, e.g. `create_time desc`, `traits.ca_approval.approver asc`.
///
/// One key is documented. Several keys are joined with `,` (**inferred**, not documented).
///
/// ```
/// use chatport_opentext::filter::SortBy;
/// assert_eq!(SortBy::desc("create_time").to_string(), "create_time desc");
/// assert_eq!(SortBy::asc("name").then_desc("version_no").to_string(), "name asc,version_no desc");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortBy(Vec<(Field, Direction)>);

impl SortBy {
    /// Ascending by `field`.
    pub fn asc(field: impl Into<Field>) -> Self {
        SortBy(vec![(field.into(), Direction::Asc)])
    }

    /// Descending by `field`.
    pub fn desc(field: impl Into<Field>) -> Self {
        SortBy(vec![(field.into(), Direction::Desc)])
    }

    /// Then ascending by `field`.
    pub fn then_asc(mut self, field: impl Into<Field>) -> Self {
        self.0.push((field.into(), Direction::Asc));
        self
    }

    /// Then descending by `field`.
    pub fn then_desc(mut self, field: impl Into<Field>) -> Self {
        self.0.push((field.into(), Direction::Desc));
        self
    }
}

impl fmt::Display for SortBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, dir)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let dir = match dir {
                Direction::Asc => "asc",
                Direction::Desc => "desc",
            };
            write!(f, "{field} {dir}")?;
        }
        Ok(())
    }
}

impl From<SortBy> for String {
    fn from(s: SortBy) -> Self {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn doubles_quotes_only() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote("''"), "''''''");
        assert_eq!(quote("\"double\" é"), "'\"double\" é'");
        assert_eq!(eq("name", "a'b"), "name eq 'a''b'");
    }

    #[test]
    fn comparison_operators_and_literals() {
        assert_eq!(Filter::eq("name", "x").to_string(), "name eq 'x'");
        assert_eq!(
            Filter::ne("status", "CLOSED").to_string(),
            "status ne 'CLOSED'"
        );
        assert_eq!(Filter::gt("value", 10).to_string(), "value gt 10");
        assert_eq!(Filter::ge("value", -3i64).to_string(), "value ge -3");
        assert_eq!(Filter::lt("ratio", 0.5).to_string(), "ratio lt 0.5");
        assert_eq!(Filter::le("n", 7u32).to_string(), "n le 7");
        assert_eq!(Filter::eq("flag", false).to_string(), "flag eq false");
        assert_eq!(Filter::eq("x", f64::NAN).to_string(), "x eq 0");
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 8, 30, 0).unwrap();
        assert_eq!(
            Filter::ge("create_time", t).to_string(),
            "create_time ge date('2024-05-01T08:30:00Z')"
        );
        assert_eq!(
            Filter::lt("due", Literal::date("2024-06-01")).to_string(),
            "due lt date('2024-06-01')"
        );
    }

    #[test]
    fn like_contains_lower_and_traits() {
        assert_eq!(
            Filter::like(Field::lower("name"), "%acme%").to_string(),
            "LOWER(name) like '%acme%'"
        );
        assert_eq!(
            Filter::not_like("name", "tmp%").to_string(),
            "name not like 'tmp%'"
        );
        assert_eq!(
            Filter::contains("tags", "urgent").to_string(),
            "tags contains('urgent')"
        );
        assert_eq!(
            Filter::contains("dates", Literal::date("2024-01-01")).to_string(),
            "dates contains(date('2024-01-01'))"
        );
        assert_eq!(
            Filter::eq(Field::trait_attr("ca_approval", "approver"), "ann").to_string(),
            "traits.ca_approval.approver eq 'ann'"
        );
    }

    #[test]
    fn escaping_in_every_literal_position() {
        assert_eq!(
            Filter::eq("customer", "O'Brien & Co").to_string(),
            "customer eq 'O''Brien & Co'"
        );
        assert_eq!(
            Filter::like("name", "%it's%").to_string(),
            "name like '%it''s%'"
        );
        assert_eq!(
            Filter::contains("tags", "a'b").to_string(),
            "tags contains('a''b')"
        );
        assert_eq!(
            Filter::eq("d", Literal::date("x') or ('1")).to_string(),
            "d eq date('x'') or (''1')"
        );
        // An injection attempt stays inside one literal.
        assert_eq!(
            Filter::eq("name", "x' or name ne '").to_string(),
            "name eq 'x'' or name ne '''"
        );
    }

    #[test]
    fn and_or_nesting_is_parenthesised() {
        let a = || Filter::eq("a", 1);
        let b = || Filter::eq("b", 2);
        let c = || Filter::eq("c", 3);
        assert_eq!(
            a().and(b()).and(c()).to_string(),
            "a eq 1 and b eq 2 and c eq 3"
        );
        assert_eq!(
            a().or(b()).or(c()).to_string(),
            "a eq 1 or b eq 2 or c eq 3"
        );
        assert_eq!(
            a().and(b().or(c())).to_string(),
            "a eq 1 and (b eq 2 or c eq 3)"
        );
        assert_eq!(
            a().or(b().and(c())).to_string(),
            "a eq 1 or (b eq 2 and c eq 3)"
        );
        assert_eq!(
            a().or(b()).and(c().or(a())).to_string(),
            "(a eq 1 or b eq 2) and (c eq 3 or a eq 1)"
        );
        assert_eq!(
            Filter::raw("latest eq 'true' or latest eq 'false'")
                .and(a())
                .to_string(),
            "(latest eq 'true' or latest eq 'false') and a eq 1"
        );
        assert_eq!(Filter::raw("x eq 1").to_string(), "x eq 1");
        assert_eq!(
            Filter::all([a(), b()]).unwrap().to_string(),
            "a eq 1 and b eq 2"
        );
        assert_eq!(
            Filter::any([a(), b()]).unwrap().to_string(),
            "a eq 1 or b eq 2"
        );
        assert!(Filter::all([]).is_none());
        let s: String = a().into();
        assert_eq!(s, "a eq 1");
    }

    #[test]
    fn id_lists_and_checked_fields() {
        assert_eq!(Filter::ids(["a1", "b2"]).to_string(), "id=(a1,b2)");
        assert_eq!(Filter::ids(["a1", "x,y", "c 3"]).to_string(), "id=(a1)");
        assert_eq!(Filter::ids(Vec::<String>::new()).to_string(), "id=()");
        assert!(Field::checked("traits.ca_x.attr_1").is_some());
        assert!(Field::checked("name eq 'x' or 1").is_none());
        assert!(Field::checked("").is_none());
    }

    #[test]
    fn sort_keys() {
        assert_eq!(SortBy::asc("name").to_string(), "name asc");
        assert_eq!(
            SortBy::desc(Field::trait_attr("t", "a"))
                .then_asc("id")
                .to_string(),
            "traits.t.a desc,id asc"
        );
    }
}
