//! The subset of the CMS `filter=` and `sortby=` grammar the emulator understands.
//!
//! Filter: `<field> eq <literal> [and <field> eq <literal> ...]` where a literal is
//! `'single quoted'` (a quote inside written `''`), `"double quoted"` (a quote inside written
//! `""`), a number, `true` or `false`. Keywords are case-insensitive. A field is a system field
//! ([`SYSTEM_FIELDS`]), `properties.<name>`, or a bare property name. Anything else (`or`, `ne`,
//! `like`, parentheses, functions, `id=(…)` lists) is refused with a message: the emulator never
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
];

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Num(String),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq)]
struct Term {
    field: String,
    value: Literal,
}

/// A parsed filter: a conjunction of equality terms.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filter {
    terms: Vec<Term>,
}

/// Looks up a field of an instance: a system field, `properties.<name>`, or a property.
pub(crate) fn field_value<'a>(instance: &'a Value, field: &str) -> Option<&'a Value> {
    if SYSTEM_FIELDS.contains(&field) {
        return instance.get(field);
    }
    let property = field.strip_prefix("properties.").unwrap_or(field);
    instance.get("properties").and_then(|p| p.get(property))
}

impl Filter {
    /// Whether every term matches `instance`. String literals compare with the text of strings,
    /// numbers and booleans (`latest eq 'true'` matches `true`); numbers compare numerically.
    pub(crate) fn matches(&self, instance: &Value) -> bool {
        self.terms.iter().all(|term| {
            let Some(actual) = field_value(instance, &term.field) else {
                return false;
            };
            match (&term.value, actual) {
                (Literal::Num(n), Value::Number(actual)) => {
                    match (n.parse::<f64>(), actual.as_f64()) {
                        (Ok(a), Some(b)) => a == b,
                        _ => false,
                    }
                }
                (Literal::Bool(b), Value::Bool(actual)) => b == actual,
                (literal, actual) => {
                    let expected = match literal {
                        Literal::Str(s) | Literal::Num(s) => s.clone(),
                        Literal::Bool(b) => b.to_string(),
                    };
                    match actual {
                        Value::String(s) => *s == expected,
                        Value::Number(n) => n.to_string() == expected,
                        Value::Bool(b) => b.to_string() == expected,
                        _ => false,
                    }
                }
            }
        })
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

    fn word(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return None;
        }
        self.pos += len;
        Some(&rest[..len])
    }

    fn error(&self, what: &str) -> String {
        format!(
            "unsupported filter syntax at character {}: {what}; the emulator supports only \
             `<field> eq <literal>` terms joined by `and` (near `{}`)",
            self.pos + 1,
            self.rest().chars().take(20).collect::<String>()
        )
    }

    fn literal(&mut self) -> Result<Literal, String> {
        self.skip_ws();
        let rest = self.rest();
        let Some(first) = rest.chars().next() else {
            return Err(self.error("a value is missing"));
        };
        if first == '\'' || first == '"' {
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
                    return Ok(Literal::Str(value));
                }
                value.push(c);
            }
            return Err(self.error("unterminated quoted value"));
        }
        let word = self
            .word()
            .ok_or_else(|| self.error("expected a quoted value, number or boolean"))?;
        if word.eq_ignore_ascii_case("true") {
            Ok(Literal::Bool(true))
        } else if word.eq_ignore_ascii_case("false") {
            Ok(Literal::Bool(false))
        } else if word.parse::<f64>().is_ok() {
            Ok(Literal::Num(word.to_owned()))
        } else {
            Err(format!(
                "unsupported filter value `{word}`: quote strings as 'value' or \"value\""
            ))
        }
    }
}

/// Parses a `filter=` value.
pub(crate) fn parse(input: &str) -> Result<Filter, String> {
    let mut lexer = Lexer { input, pos: 0 };
    if lexer.at_end() {
        return Err("empty filter: omit the filter parameter to list everything".to_owned());
    }
    let mut terms = Vec::new();
    loop {
        let field = lexer
            .word()
            .ok_or_else(|| lexer.error("expected a field name"))?;
        if field.starts_with('.') || field.ends_with('.') || field.contains("..") {
            return Err(lexer.error("malformed field name"));
        }
        let op_start = lexer.pos;
        let op = lexer
            .word()
            .ok_or_else(|| lexer.error("expected the operator `eq`"))?;
        if !op.eq_ignore_ascii_case("eq") {
            lexer.pos = op_start;
            return Err(lexer.error(&format!("operator `{op}` is not supported")));
        }
        let value = lexer.literal()?;
        terms.push(Term {
            field: field.to_owned(),
            value,
        });
        if lexer.at_end() {
            return Ok(Filter { terms });
        }
        let join_start = lexer.pos;
        match lexer.word() {
            Some(w) if w.eq_ignore_ascii_case("and") => {}
            Some(w) => {
                lexer.pos = join_start;
                return Err(lexer.error(&format!("`{w}` is not supported")));
            }
            None => return Err(lexer.error("expected `and` or the end of the filter")),
        }
    }
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
pub(crate) fn sort(instances: &mut [Value], keys: &[SortKey]) {
    instances.sort_by(|a, b| {
        for key in keys {
            let ordering = compare_values(field_value(a, &key.field), field_value(b, &key.field));
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
            "properties": {"customer": "O'Brien & Co", "priority": 2, "urgent": false, "tags": ["a"]}
        })
    }

    #[test]
    fn single_and_escaped_quotes() {
        assert!(
            parse("customer eq 'O''Brien & Co'")
                .unwrap()
                .matches(&instance())
        );
        assert!(
            parse("customer eq \"O'Brien & Co\"")
                .unwrap()
                .matches(&instance())
        );
        assert!(!parse("customer eq 'O'").unwrap().matches(&instance()));
        assert!(
            !parse("customer eq 'OBrien & Co'")
                .unwrap()
                .matches(&instance())
        );
    }

    #[test]
    fn system_fields_numbers_booleans_and_conjunction() {
        let i = instance();
        assert!(
            parse("name eq 'Case 1' AND parent_folder_id eq 'f1'")
                .unwrap()
                .matches(&i)
        );
        assert!(
            !parse("name eq 'Case 1' and parent_folder_id eq 'f2'")
                .unwrap()
                .matches(&i)
        );
        assert!(parse("priority eq 2").unwrap().matches(&i));
        assert!(parse("priority eq '2'").unwrap().matches(&i));
        assert!(parse("properties.priority eq 2.0").unwrap().matches(&i));
        assert!(parse("urgent eq false").unwrap().matches(&i));
        assert!(parse("latest eq 'true'").unwrap().matches(&i));
        assert!(!parse("missing eq 'x'").unwrap().matches(&i));
        assert!(
            !parse("tags eq 'a'").unwrap().matches(&i),
            "eq never matches a repeating attribute"
        );
    }

    #[test]
    fn unsupported_syntax_is_refused() {
        for bad in [
            "",
            "   ",
            "name ne 'x'",
            "name eq 'x' or name eq 'y'",
            "(name eq 'x')",
            "LOWER(name) like '%x%'",
            "id=(a,b)",
            "name eq x",
            "name eq 'unterminated",
            "name eq 'x' and",
            "name eq 'x' name eq 'y'",
            "tags contains('a')",
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(!error.is_empty());
        }
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
