//! Helpers for the CMS `filter=` query parameter (an OData-like grammar).
//!
//! Documented in `shared/api/opentext-orangelogic.md` §1.3: `name eq 'Contract Approval App'`,
//! `parent_folder_id eq '{id}' and name eq '{x}'`, trait attributes as
//! `traits.{trait}.{attr} eq '…'`. This module holds the two helpers the idempotent create needs;
//! a full builder (`like`, `contains`, dates, `and`/`or`) follows with the complete client.
//!
//! **Escaping is inferred:** the public material never shows a value containing a quote. These
//! helpers double a `'` inside the value, as OData does (`'O''Brien'`). Verify against a live
//! tenant before relying on values with quotes.
//!
//! The returned strings are not URL-encoded: the client encodes them when it builds the query.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_quotes_only() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote("''"), "''''''");
        assert_eq!(quote("\"double\" é"), "'\"double\" é'");
        assert_eq!(eq("name", "a'b"), "name eq 'a''b'");
    }
}
