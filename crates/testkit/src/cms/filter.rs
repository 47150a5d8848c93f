//! The subset of the CMS `filter=` and `sortby=` grammar the emulator understands.
//!
//! ```text
//! expr    := and ( "or" and )*
//! and     := unary ( "and" unary )*
//! unary   := "(" expr ")" | "id" "=" "(" id ("," id)* ")" | term
//! term    := field op literal | field "not" "like" literal | field "contains" "(" literal ")"
//! op      := eq | ne | gt | ge | lt | le | like
//! field   := name | LOWER "(" name ")"
//! literal := 'single quoted' ('' inside) | "double quoted" ("" inside) | number | true | false
//!          | date('…')
//! ```
//!
//! Keywords are case-insensitive. A name is a system field ([`SYSTEM_FIELDS`]),
//! `properties.<name>`, `traits.<trait>.<attr>` (matches when any instance of the trait matches),
//! or a bare property name. `like` patterns use `%` as the only wildcard. Dates are strings:
//! `date('…')` compares like a string literal, except that `gt`/`ge`/`lt`/`le` compare two
//! RFC 3339 timestamps as times. Anything else is refused with a message: the emulator never
//! silently matches everything.

use std::cmp::Ordering;

use serde_json::Value;

/// Instance fields a filter or sort key addresses at the top level; any other name is looked up in
/// `properties`.
pub(crate) const SYSTEM_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "category",
    "type",
    "parent_folder_id",
    "owner",
    "created_by",
    "updated_by",
    "create_time",
    "update_time",
    "version_no",
    "latest",
    "mime_type",
];

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Num(String),
    Bool(bool),
}

impl Literal {
    fn text(&self) -> String {
        match self {
            Literal::Str(s) | Literal::Num(s) => s.clone(),
            Literal::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
    Contains,
}

#[derive(Clone, Debug, PartialEq)]
struct Field {
    name: String,
    lower: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Term {
        field: Field,
        op: Op,
        value: Literal,
    },
    Ids(Vec<String>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filter {
    expr: Expr,
}

/// Looks up a field of an instance: a system field, `properties.<name>`, or a property. Trait
/// attributes are handled by [`field_values`].
pub(crate) fn field_value<'a>(instance: &'a Value, field: &str) -> Option<&'a Value> {
    if SYSTEM_FIELDS.contains(&field) {
        return instance.get(field);
    }
    let property = field.strip_prefix("properties.").unwrap_or(field);
    instance.get("properties").and_then(|p| p.get(property))
}

/// Every value a field has: one for a plain field, one per trait instance for
/// `traits.<trait>.<attr>`.
fn field_values<'a>(instance: &'a Value, field: &str) -> Vec<&'a Value> {
    if let Some(rest) = field.strip_prefix("traits.") {
        let Some((trait_name, attr)) = rest.split_once('.') else {
            return Vec::new();
        };
        return instance
            .get("traits")
            .and_then(|t| t.get(trait_name))
            .and_then(Value::as_object)
            .map(|instances| {
                instances
                    .values()
                    .filter_map(|attrs| attrs.get(attr))
                    .collect()
            })
            .unwrap_or_default();
    }
    field_value(instance, field).into_iter().collect()
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn equal(literal: &Literal, actual: &Value, lower: bool) -> bool {
    match (literal, actual) {
        (Literal::Num(n), Value::Number(actual)) => match (n.parse::<f64>(), actual.as_f64()) {
            (Ok(a), Some(b)) => a == b,
            _ => false,
        },
        (Literal::Bool(b), Value::Bool(actual)) => b == actual,
        (literal, actual) => match scalar_text(actual) {
            Some(text) if lower => text.to_lowercase() == literal.text(),
            Some(text) => text == literal.text(),
            None => false,
        },
    }
}

fn compare(literal: &Literal, actual: &Value, lower: bool) -> Option<Ordering> {
    if let (Literal::Num(n), Value::Number(actual)) = (literal, actual) {
        return actual.as_f64()?.partial_cmp(&n.parse::<f64>().ok()?);
    }
    let mut text = scalar_text(actual)?;
    if lower {
        text = text.to_lowercase();
    }
    let expected = literal.text();
    if let (Ok(a), Ok(b)) = (
        chrono::DateTime::parse_from_rfc3339(&text),
        chrono::DateTime::parse_from_rfc3339(&expected),
    ) {
        return Some(a.cmp(&b));
    }
    if let (Ok(a), Ok(b)) = (text.parse::<f64>(), expected.parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    Some(text.as_str().cmp(expected.as_str()))
}

/// `%` matches any run of characters; everything else literally.
fn like(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

impl Expr {
    fn matches(&self, instance: &Value) -> bool {
        match self {
            Expr::And(parts) => parts.iter().all(|p| p.matches(instance)),
            Expr::Or(parts) => parts.iter().any(|p| p.matches(instance)),
            Expr::Ids(ids) => instance
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| ids.iter().any(|i| i == id)),
            Expr::Term { field, op, value } => {
                let values = field_values(instance, &field.name);
                let scalars: Vec<&Value> = values
                    .iter()
                    .copied()
                    .filter(|v| !v.is_array() && !v.is_null())
                    .collect();
                match op {
                    // `eq` never matches a repeating (array) attribute: use `contains`.
                    Op::Eq => scalars.iter().any(|v| equal(value, v, field.lower)),
                    Op::Ne => {
                        !scalars.is_empty() && scalars.iter().all(|v| !equal(value, v, field.lower))
                    }
                    Op::Gt | Op::Ge | Op::Lt | Op::Le => scalars.iter().any(|v| {
                        compare(value, v, field.lower).is_some_and(|o| match op {
                            Op::Gt => o == Ordering::Greater,
                            Op::Ge => o != Ordering::Less,
                            Op::Lt => o == Ordering::Less,
                            _ => o != Ordering::Greater,
                        })
                    }),
                    Op::Like | Op::NotLike => {
                        let pattern = value.text();
                        let hit = scalars.iter().any(|v| {
                            scalar_text(v).is_some_and(|t| {
                                let t = if field.lower { t.to_lowercase() } else { t };
                                like(&pattern, &t)
                            })
                        });
                        if *op == Op::Like {
                            hit
                        } else {
                            !values.is_empty() && !hit
                        }
                    }
                    Op::Contains => values.iter().any(|v| match v {
                        Value::Array(items) => items.iter().any(|i| equal(value, i, field.lower)),
                        _ => false,
                    }),
                }
            }
        }
    }
}

impl Filter {
    /// Whether the filter matches `instance`.
    pub(crate) fn matches(&self, instance: &Value) -> bool {
        self.expr.matches(instance)
    }
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.input.len() - trimmed.len();
    }

    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.input.len()
    }

    fn peek_char(&mut self) -> Option<char> {
        self.skip_ws();
        self.rest().chars().next()
    }

    fn eat_char(&mut self, c: char) -> bool {
        if self.peek_char() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.' || *c == '-'))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return None;
        }
        self.pos += len;
        Some(&rest[..len])
    }

    /// The next word if it equals `keyword` (case-insensitive), consumed; otherwise nothing moves.
    fn keyword(&mut self, keyword: &str) -> bool {
        let start = self.pos;
        match self.word() {
            Some(w) if w.eq_ignore_ascii_case(keyword) => true,
            _ => {
                self.pos = start;
                false
            }
        }
    }

    fn error(&self, what: &str) -> String {
        format!(
            "unsupported filter syntax at character {}: {what} (near `{}`); the emulator supports \
             eq, ne, gt, ge, lt, le, like, not like, contains(…), LOWER(…), date('…'), id=(…), \
             and, or and parentheses",
            self.pos + 1,
            self.rest().chars().take(20).collect::<String>()
        )
    }

    fn quoted(&mut self) -> Result<Option<String>, String> {
        self.skip_ws();
        let rest = self.rest();
        let Some(first) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            return Ok(None);
        };
        let mut value = String::new();
        let mut chars = rest.char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            if c == first {
                if chars.peek().is_some_and(|(_, next)| *next == first) {
                    value.push(first);
                    chars.next();
                    continue;
                }
                self.pos += i + c.len_utf8();
                return Ok(Some(value));
            }
            value.push(c);
        }
        Err(self.error("unterminated quoted value"))
    }

    fn literal(&mut self) -> Result<Literal, String> {
        if let Some(s) = self.quoted()? {
            return Ok(Literal::Str(s));
        }
        let start = self.pos;
        let word = self
            .word()
            .ok_or_else(|| self.error("expected a quoted value, number, boolean or date('…')"))?;
        if word.eq_ignore_ascii_case("date") && self.eat_char('(') {
            let Some(text) = self.quoted()? else {
                return Err(self.error("date(…) takes a quoted value"));
            };
            if !self.eat_char(')') {
                return Err(self.error("expected `)` after the date"));
            }
            return Ok(Literal::Str(text));
        }
        if word.eq_ignore_ascii_case("true") {
            Ok(Literal::Bool(true))
        } else if word.eq_ignore_ascii_case("false") {
            Ok(Literal::Bool(false))
        } else if word.parse::<f64>().is_ok() {
            Ok(Literal::Num(word.to_owned()))
        } else {
            self.pos = start;
            Err(format!(
                "unsupported filter value `{word}`: quote strings as 'value' or \"value\""
            ))
        }
    }

    fn field(&mut self) -> Result<Field, String> {
        let start = self.pos;
        let word = self
            .word()
            .ok_or_else(|| self.error("expected a field name"))?;
        if word.eq_ignore_ascii_case("lower") && self.eat_char('(') {
            let inner = self.field()?;
            if !self.eat_char(')') {
                return Err(self.error("expected `)` after LOWER(field"));
            }
            return Ok(Field {
                name: inner.name,
                lower: true,
            });
        }
        if word.starts_with('.') || word.ends_with('.') || word.contains("..") {
            self.pos = start;
            return Err(self.error("malformed field name"));
        }
        Ok(Field {
            name: word.to_owned(),
            lower: false,
        })
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > 32 {
            return Err(self.error("too deeply nested"));
        }
        let mut parts = vec![self.and(depth)?];
        while self.keyword("or") {
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, String> {
        let mut parts = vec![self.unary(depth)?];
        while self.keyword("and") {
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, String> {
        if self.eat_char('(') {
            let inner = self.expr(depth + 1)?;
            if !self.eat_char(')') {
                return Err(self.error("expected `)`"));
            }
            return Ok(inner);
        }
        let start = self.pos;
        if self.keyword("id") && self.eat_char('=') {
            if !self.eat_char('(') {
                return Err(self.error("expected `(` after id="));
            }
            let mut ids = Vec::new();
            loop {
                if self.eat_char(')') {
                    break;
                }
                let id = match self.quoted()? {
                    Some(q) => q,
                    None => self
                        .word()
                        .ok_or_else(|| self.error("expected an id"))?
                        .to_owned(),
                };
                ids.push(id);
                if !self.eat_char(',') && self.peek_char() != Some(')') {
                    return Err(self.error("expected `,` or `)` in the id list"));
                }
            }
            return Ok(Expr::Ids(ids));
        }
        self.pos = start;
        let field = self.field()?;
        let op_start = self.pos;
        let op_word = self
            .word()
            .ok_or_else(|| self.error("expected an operator"))?;
        let op = match op_word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "like" => Op::Like,
            "not" if self.keyword("like") => Op::NotLike,
            "contains" => Op::Contains,
            _ => {
                self.pos = op_start;
                return Err(self.error(&format!("operator `{op_word}` is not supported")));
            }
        };
        let value = if op == Op::Contains {
            if !self.eat_char('(') {
                return Err(self.error("contains takes its value in parentheses"));
            }
            let value = self.literal()?;
            if !self.eat_char(')') {
                return Err(self.error("expected `)` after the contains value"));
            }
            value
        } else {
            self.literal()?
        };
        if matches!(op, Op::Like | Op::NotLike) && !matches!(value, Literal::Str(_)) {
            return Err(self.error("like takes a quoted pattern"));
        }
        Ok(Expr::Term { field, op, value })
    }
}

/// Parses a `filter=` value.
pub(crate) fn parse(input: &str) -> Result<Filter, String> {
    let mut lexer = Lexer { input, pos: 0 };
    if lexer.at_end() {
        return Err("empty filter: omit the filter parameter to list everything".to_owned());
    }
    let expr = lexer.expr(0)?;
    if !lexer.at_end() {
        return Err(lexer.error("expected `and`, `or` or the end of the filter"));
    }
    Ok(Filter { expr })
}

/// One `sortby` key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SortKey {
    field: String,
    descending: bool,
}

/// Parses `sortby=<field> [asc|desc][, <field> [asc|desc] ...]`.
pub(crate) fn parse_sort(input: &str) -> Result<Vec<SortKey>, String> {
    let mut keys = Vec::new();
    for part in input.split(',') {
        let mut words = part.split_whitespace();
        let Some(field) = words.next() else {
            return Err(format!("invalid sortby `{input}`: empty sort key"));
        };
        if !field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("invalid sortby field `{field}`"));
        }
        let descending = match words.next() {
            None => false,
            Some(d) if d.eq_ignore_ascii_case("asc") => false,
            Some(d) if d.eq_ignore_ascii_case("desc") => true,
            Some(d) => return Err(format!("invalid sortby direction `{d}`: use asc or desc")),
        };
        if words.next().is_some() {
            return Err(format!("invalid sortby `{input}`"));
        }
        keys.push(SortKey {
            field: field.to_owned(),
            descending,
        });
    }
    Ok(keys)
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let rank = |v: Option<&Value>| match v {
        None | Some(Value::Null) => 1,
        Some(_) => 0,
    };
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Sorts instances by the keys (stable: ties keep creation order). Missing values sort last.
pub(crate) fn sort<V: std::borrow::Borrow<Value>>(instances: &mut [V], keys: &[SortKey]) {
    instances.sort_by(|a, b| {
        let (a, b) = (a.borrow(), b.borrow());
        for key in keys {
            let av = field_values(a, &key.field).first().copied();
            let bv = field_values(b, &key.field).first().copied();
            let ordering = compare_values(av, bv);
            let ordering = if key.descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn instance() -> Value {
        json!({
            "id": "0b4e", "name": "Case 1", "parent_folder_id": "f1", "latest": true,
            "create_time": "2024-05-01T10:00:00.000Z",
            "properties": {"customer": "O'Brien & Co", "priority": 2, "urgent": false, "tags": ["a", "b"]},
            "traits": {"ca_approval": {"Manager": {"approver": "ann", "granted": false},
                                        "Legal": {"approver": "bob", "granted": true}}}
        })
    }

    fn m(filter: &str) -> bool {
        parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(&instance())
    }

    #[test]
    fn single_and_escaped_quotes() {
        assert!(m("customer eq 'O''Brien & Co'"));
        assert!(m("customer eq \"O'Brien & Co\""));
        assert!(!m("customer eq 'O'"));
        assert!(!m("customer eq 'OBrien & Co'"));
    }

    #[test]
    fn system_fields_numbers_booleans_and_conjunction() {
        assert!(m("name eq 'Case 1' AND parent_folder_id eq 'f1'"));
        assert!(!m("name eq 'Case 1' and parent_folder_id eq 'f2'"));
        assert!(m("priority eq 2"));
        assert!(m("priority eq '2'"));
        assert!(m("properties.priority eq 2.0"));
        assert!(m("urgent eq false"));
        assert!(m("latest eq 'true'"));
        assert!(!m("missing eq 'x'"));
        assert!(!m("tags eq 'a'"), "eq never matches a repeating attribute");
    }

    #[test]
    fn or_parentheses_and_comparisons() {
        assert!(m("name eq 'x' or name eq 'Case 1'"));
        assert!(!m("name eq 'x' or name eq 'y'"));
        assert!(m("(name eq 'x' or priority ge 2) and urgent eq false"));
        assert!(!m("name eq 'x' or (priority ge 2 and urgent eq true)"));
        assert!(m("priority gt 1 and priority lt 3 and priority le 2"));
        assert!(!m("priority gt 2"));
        assert!(m("customer ne 'ACME'"));
        assert!(!m("missing ne 'ACME'"), "ne needs the field");
    }

    #[test]
    fn like_lower_contains_dates_traits_ids() {
        assert!(m("customer like 'O''B%'"));
        assert!(m("customer like '%Co'"));
        assert!(m("customer like '%Brien%'"));
        assert!(!m("customer like '%brien%'"));
        assert!(m("LOWER(customer) like '%brien%'"));
        assert!(m("customer not like 'X%'"));
        assert!(!m("customer not like 'O%'"));
        assert!(m("tags contains('b')"));
        assert!(!m("tags contains('z')"));
        assert!(m("create_time ge date('2024-05-01T00:00:00Z')"));
        assert!(m("create_time lt date('2024-05-01T10:00:00.001Z')"));
        assert!(!m("create_time gt date('2024-05-02T00:00:00Z')"));
        assert!(m("traits.ca_approval.approver eq 'bob'"));
        assert!(m("traits.ca_approval.granted eq true"));
        assert!(!m("traits.ca_approval.approver eq 'eve'"));
        assert!(!m("traits.ca_other.approver eq 'bob'"));
        assert!(m("id=(x1,0b4e)"));
        assert!(m("id=('0b4e')"));
        assert!(!m("id=(x1)"));
    }

    #[test]
    fn unsupported_syntax_is_refused() {
        for bad in [
            "",
            "   ",
            "name eq 'x' or",
            "(name eq 'x'",
            "name eq x",
            "name eq 'unterminated",
            "name eq 'x' and",
            "name eq 'x' name eq 'y'",
            "name sw 'x'",
            "tags contains 'a'",
            "name like 5",
            "UPPER(name) eq 'X'",
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(!error.is_empty());
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like("%", ""));
        assert!(like("a%c", "abc"));
        assert!(like("a%b%c", "a-b-c"));
        assert!(!like("a%b%c", "a-c"));
        assert!(!like("ab%ba", "aba"));
        assert!(like("abc", "abc"));
    }

    #[test]
    fn sort_keys() {
        let mut items = vec![
            json!({"name": "b", "properties": {"n": 2}}),
            json!({"name": "a", "properties": {}}),
            json!({"name": "c", "properties": {"n": 1}}),
        ];
        sort(&mut items, &parse_sort("n asc").unwrap());
        let names: Vec<_> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["c", "b", "a"]);
        sort(&mut items, &parse_sort("name desc").unwrap());
        let names: Vec<_> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["c", "b", "a"]);
        assert!(parse_sort("name sideways").is_err());
        assert!(parse_sort("name asc,").is_err());
    }
}
