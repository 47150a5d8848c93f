//! The `$filter` subset the Creatio emulator understands (see the module docs of
//! [`crate::creatio`]).

use std::cmp::Ordering;

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Guid(uuid::Uuid),
    Date(chrono::DateTime<chrono::Utc>),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Cmp(String, CmpOp, Lit),
    Func(Func, String, String),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    Contains,
    StartsWith,
    EndsWith,
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("$filter: {what} at position {}", self.pos))
    }

    fn ws(&mut self) {
        while self.s[self.pos..].starts_with(' ') {
            self.pos += 1;
        }
    }

    fn peek_word(&self) -> &'a str {
        let rest = &self.s[self.pos..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '/'))
            .unwrap_or(rest.len());
        &rest[..end]
    }

    fn keyword(&mut self, kw: &str) -> bool {
        self.ws();
        let w = self.peek_word();
        if w.eq_ignore_ascii_case(kw) {
            self.pos += w.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.ws();
        if self.s[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            self.err(&format!("expected `{c}`"))
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn field(&mut self) -> Result<String, String> {
        self.ws();
        let w = self.peek_word();
        if w.is_empty() || !w.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return self.err("expected a field name");
        }
        self.pos += w.len();
        Ok(w.to_owned())
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect('\'')?;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.pos..];
            let Some(i) = rest.find('\'') else {
                return self.err("unterminated string");
            };
            out.push_str(&rest[..i]);
            self.pos += i + 1;
            if self.s[self.pos..].starts_with('\'') {
                out.push('\'');
                self.pos += 1;
            } else {
                return Ok(out);
            }
        }
    }

    fn literal(&mut self) -> Result<Lit, String> {
        self.ws();
        if self.s[self.pos..].starts_with('\'') {
            return self.string().map(Lit::Str);
        }
        let rest = &self.s[self.pos..];
        let end = rest.find([' ', ')', ',']).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.is_empty() {
            return self.err("expected a literal");
        }
        let lit = if word == "true" {
            Lit::Bool(true)
        } else if word == "false" {
            Lit::Bool(false)
        } else if word == "null" {
            Lit::Null
        } else if let Some(g) = uuid::Uuid::parse_str(word)
            .ok()
            .filter(|_| word.len() == 36)
        {
            Lit::Guid(g)
        } else if let Ok(d) = chrono::DateTime::parse_from_rfc3339(word) {
            Lit::Date(d.with_timezone(&chrono::Utc))
        } else if let Ok(n) = word.parse::<f64>() {
            Lit::Num(n)
        } else {
            return self.err(&format!("unsupported literal `{word}` (quote strings)"));
        };
        self.pos += word.len();
        Ok(lit)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.ws();
        if self.s[self.pos..].starts_with('(') {
            self.pos += 1;
            let e = self.or()?;
            self.expect(')')?;
            return Ok(e);
        }
        let word = self.peek_word();
        let func = match word.to_ascii_lowercase().as_str() {
            "contains" => Some(Func::Contains),
            "startswith" => Some(Func::StartsWith),
            "endswith" => Some(Func::EndsWith),
            _ => None,
        };
        if let Some(func) = func {
            self.pos += word.len();
            self.expect('(')?;
            let field = self.field()?;
            self.expect(',')?;
            self.ws();
            let text = self.string()?;
            self.expect(')')?;
            return Ok(Expr::Func(func, field, text));
        }
        let field = self.field()?;
        self.ws();
        let op_word = self.peek_word().to_ascii_lowercase();
        let op = match op_word.as_str() {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            _ => return self.err("expected eq, ne, gt, ge, lt or le"),
        };
        self.pos += op_word.len();
        let lit = self.literal()?;
        Ok(Expr::Cmp(field, op, lit))
    }
}

/// Parses a `$filter` expression of the supported subset.
pub(crate) fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser { s, pos: 0 };
    let e = p.or()?;
    p.ws();
    if p.pos != s.len() {
        return p.err("unexpected trailing input");
    }
    Ok(e)
}

/// The value of `field` in `record`: `Lookup/Id` reads the `LookupId` column.
fn value_of<'a>(record: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    if let Some(nav) = field.strip_suffix("/Id") {
        return record.get(&format!("{nav}Id"));
    }
    record.get(field)
}

/// Compares a column value with a literal (strings case-insensitively, like SQL Server's
/// default collation; GUIDs by value; dates by instant).
fn compare(v: Option<&Value>, lit: &Lit) -> Option<Ordering> {
    let v = v.unwrap_or(&Value::Null);
    match (v, lit) {
        (Value::Null, Lit::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Lit::Null) => None,
        (Value::String(s), Lit::Str(l)) => Some(s.to_lowercase().cmp(&l.to_lowercase())),
        (Value::String(s), Lit::Guid(g)) => uuid::Uuid::parse_str(s).ok().map(|u| u.cmp(g)),
        (Value::String(s), Lit::Date(d)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|x| x.with_timezone(&chrono::Utc).cmp(d)),
        (Value::Number(n), Lit::Num(l)) => n.as_f64().and_then(|x| x.partial_cmp(l)),
        (Value::String(s), Lit::Num(l)) => s.parse::<f64>().ok().and_then(|x| x.partial_cmp(l)),
        (Value::Bool(b), Lit::Bool(l)) => Some(b.cmp(l)),
        _ => None,
    }
}

/// Whether `record` matches `expr`.
pub(crate) fn matches(expr: &Expr, record: &Map<String, Value>) -> bool {
    match expr {
        Expr::And(a, b) => matches(a, record) && matches(b, record),
        Expr::Or(a, b) => matches(a, record) || matches(b, record),
        Expr::Not(a) => !matches(a, record),
        Expr::Func(func, field, text) => {
            let Some(Value::String(s)) = value_of(record, field) else {
                return false;
            };
            let (s, t) = (s.to_lowercase(), text.to_lowercase());
            match func {
                Func::Contains => s.contains(&t),
                Func::StartsWith => s.starts_with(&t),
                Func::EndsWith => s.ends_with(&t),
            }
        }
        Expr::Cmp(field, op, lit) => {
            let ord = compare(value_of(record, field), lit);
            match op {
                CmpOp::Eq => ord == Some(Ordering::Equal),
                CmpOp::Ne => ord != Some(Ordering::Equal),
                CmpOp::Gt => ord == Some(Ordering::Greater),
                CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                CmpOp::Lt => ord == Some(Ordering::Less),
                CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
            }
        }
    }
}

/// Orders two records by a column (missing / null first), for `$orderby`.
pub(crate) fn order(a: &Map<String, Value>, b: &Map<String, Value>, field: &str) -> Ordering {
    match (a.get(field), b.get(field)) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn parses_and_evaluates_the_subset() {
        let r = rec(json!({
            "Name": "Anna O'Brien",
            "CaseId": "AE5F2F10-F46B-1410-FD9A-0050BA5D6C38",
            "CreatedOn": "2024-05-24T10:00:00.1234567Z",
            "Position": 2
        }));
        let ok = [
            "Name eq 'Anna O''Brien'",
            "Name eq 'anna o''brien'",
            "Case/Id eq ae5f2f10-f46b-1410-fd9a-0050ba5d6c38",
            "CaseId eq ae5f2f10-f46b-1410-fd9a-0050ba5d6c38",
            "contains(Name,'brien') and Position eq 2",
            "Name eq 'x' or startswith(Name,'Anna')",
            "(Name eq 'x' or Name eq 'Anna O''Brien') and CreatedOn gt 2024-05-23T00:00:00Z",
            "not (Name eq 'x')",
            "Missing eq null",
        ];
        for f in ok {
            let e = parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(matches(&e, &r), "{f}");
        }
        let no = [
            "Name eq 'Anna'",
            "Name eq 'x' and contains(Name,'Anna')",
            "CreatedOn lt 2024-05-23T00:00:00Z",
        ];
        for f in no {
            assert!(!matches(&parse(f).unwrap(), &r), "{f}");
        }
        for bad in [
            "Name in ('a')",
            "Name eq",
            "Name eq 'x",
            "substringof('a',Name)",
            "Name eq Anna",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
