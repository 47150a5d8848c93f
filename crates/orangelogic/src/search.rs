//! Search API (v4.0): the query builder, requests, pages, and the paging [`Listing`].
//!
//! Follows `shared/api/opentext-orangelogic.md` §2.5: `GET|POST /API/Search/v4.0/Search` with
//! `query`, `fields` (repeated, one parameter per field: `fields=A&fields=B`, as the Search
//! reference on developer.orangelogic.com shows it; issue 14), `sort`, `countperpage`, `pagenumber` (1-based), `format=json`;
//! answer `APIResponse.GlobalInfo{TotalCount, NextPage, …}` and `APIResponse.Items[]` (GlobalInfo
//! only with the "Search API - Allow search on all documents" security function).

use std::fmt;

use futures::stream;
use serde_json::{Map, Value};

use crate::client::{Call, Repeat, Transport};
use crate::http::{Family, get_ci, get_ci_text};
use crate::{Client, Error};

/// A search query in OrangeDAM's grammar: `criterion:term`, `AND` / `OR` / `NOT`, parentheses,
/// ranges `field>:value` / `field<:value`.
///
/// Values are quoted when they need it: a value made only of letters, digits and `. _ - / @`
/// (no spaces, no operator words) is written bare; anything else is wrapped in double quotes
/// with `"` and `\` escaped by a backslash. The vendor documents quoted phrases (`Text:"…"`) but
/// not an escape character; the backslash escape is **inferred** (Lucene-style), so avoid `"`
/// inside values you search for when you can.
///
/// ```
/// use chatport_orangelogic::Query;
///
/// let q = Query::term("MediaType", "Image")
///     .and(Query::term("Keyword", "spring launch"))
///     .and(Query::any_of("CoreField.Status", ["Approved", "Final"]))
///     .and(Query::term("Title", "draft").negate());
/// assert_eq!(
///     q.as_str(),
///     r#"MediaType:Image AND Keyword:"spring launch" AND CoreField.Status:(Approved OR Final) AND (NOT Title:draft)"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Query {
    text: String,
    /// The top-level operator (`None` for a single term): decides where parentheses go when
    /// queries are combined.
    op: Option<&'static str>,
}

/// Quotes a search value when needed (see [`Query`]): `Image` → `Image`,
/// `spring launch` → `"spring launch"`, `say "hi"` → `"say \"hi\""`, `` (empty) → `""`.
pub fn quote(value: &str) -> String {
    let bare = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '@'))
        && !matches!(value.to_ascii_uppercase().as_str(), "AND" | "OR" | "NOT");
    if bare {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn field_ok(field: &str) -> bool {
    !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Query {
    /// `field:value`, the value quoted when needed. A field name with characters other than
    /// letters, digits, `.`, `_`, `-` is itself quoted away: it becomes a free-text phrase
    /// search of `field value` rather than a broken criterion (check your field names).
    pub fn term(field: &str, value: &str) -> Self {
        if !field_ok(field) {
            return Self::text(&format!("{field} {value}"));
        }
        Self {
            text: format!("{field}:{}", quote(value)),
            op: None,
        }
    }

    /// A free-text word or phrase (quoted when needed).
    pub fn text(value: &str) -> Self {
        Self {
            text: quote(value),
            op: None,
        }
    }

    /// `field:(v1 OR v2 …)`: the field equals any of the values. No values: a query that matches
    /// nothing is not expressible, so this gives `field:("")`.
    pub fn any_of<I, S>(field: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let values: Vec<String> = values.into_iter().map(|v| quote(v.as_ref())).collect();
        let inner = if values.is_empty() {
            "\"\"".to_owned()
        } else {
            values.join(" OR ")
        };
        if !field_ok(field) {
            return Self::text(field);
        }
        Self {
            text: format!("{field}:({inner})"),
            op: None,
        }
    }

    /// `field>:value`: the field is at least `value` (dates as `yyyy-mm-dd`, numbers).
    pub fn at_least(field: &str, value: &str) -> Self {
        Self::range(field, ">:", value)
    }

    /// `field<:value`: the field is at most `value`.
    pub fn at_most(field: &str, value: &str) -> Self {
        Self::range(field, "<:", value)
    }

    fn range(field: &str, op: &str, value: &str) -> Self {
        if !field_ok(field) {
            return Self::text(&format!("{field} {value}"));
        }
        Self {
            text: format!("{field}{op}{}", quote(value)),
            op: None,
        }
    }

    /// A query written by hand, passed through unchanged (your responsibility to quote).
    pub fn raw(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            op: Some("RAW"),
        }
    }

    fn wrapped(&self) -> String {
        if self.op.is_none() {
            self.text.clone()
        } else {
            format!("({})", self.text)
        }
    }

    /// `self AND other` (each side parenthesised when it has operators of its own).
    pub fn and(self, other: Query) -> Self {
        Self::join(self, "AND", other)
    }

    /// `self OR other` (each side parenthesised when it has operators of its own).
    pub fn or(self, other: Query) -> Self {
        Self::join(self, "OR", other)
    }

    /// `NOT self`. (Named `negate`, not `not`, to avoid confusion with `std::ops::Not`.).
    pub fn negate(self) -> Self {
        Self {
            text: format!("NOT {}", self.wrapped()),
            op: Some("NOT"),
        }
    }

    fn join(a: Query, op: &'static str, b: Query) -> Self {
        // A chain of one operator stays flat: `a AND b AND c`.
        let side = |q: Query| {
            if q.op == Some(op) {
                q.text
            } else {
                q.wrapped()
            }
        };
        Self {
            text: format!("{} {op} {}", side(a), side(b)),
            op: Some(op),
        }
    }

    /// The query text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The `sort` parameter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sort {
    /// `Newest` first.
    Newest,
    /// `Oldest` first.
    Oldest,
    /// `Relevancy`.
    Relevancy,
    /// Any other value the instance accepts (numeric sort ids, other names).
    Other(String),
}

impl Sort {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            Sort::Newest => "Newest",
            Sort::Oldest => "Oldest",
            Sort::Relevancy => "Relevancy",
            Sort::Other(s) => s,
        }
    }
}

/// A search: query, returned fields, sort, page size and first page.
///
/// Default page size 100 (the vendor default per a secondary source), first page 1.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchRequest {
    /// The query.
    pub query: Query,
    /// Fields to return, e.g. `SystemIdentifier`, `Title`, `Path_TR1` (search-API names, which
    /// differ from DataTable names). Empty: the instance's default fields.
    pub fields: Vec<String>,
    /// Sort order; `None` leaves it to the server.
    pub sort: Option<Sort>,
    /// Items per page (`countperpage`), at least 1.
    pub page_size: u32,
    /// First page number (`pagenumber`, 1-based).
    pub first_page: u32,
    /// Stop the stream after this many pages (`None`: until the results end).
    pub max_pages: Option<u32>,
}

impl SearchRequest {
    /// A request for `query` with the defaults.
    pub fn new(query: Query) -> Self {
        Self {
            query,
            fields: Vec::new(),
            sort: None,
            page_size: 100,
            first_page: 1,
            max_pages: None,
        }
    }

    /// Adds returned fields.
    pub fn fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields.extend(fields.into_iter().map(Into::into));
        self
    }

    /// Sets the sort.
    pub fn sort(mut self, sort: Sort) -> Self {
        self.sort = Some(sort);
        self
    }

    /// Sets the page size (at least 1).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// Sets the first page (at least 1).
    pub fn first_page(mut self, n: u32) -> Self {
        self.first_page = n.max(1);
        self
    }

    /// Stops after this many pages.
    pub fn max_pages(mut self, n: u32) -> Self {
        self.max_pages = Some(n);
        self
    }

    /// The form parameters for page `page` (without `format`).
    pub(crate) fn params(&self, page: u32) -> Vec<(String, String)> {
        let mut p = vec![("query".to_owned(), self.query.as_str().to_owned())];
        // A repeated parameter, one per field (`fields=A&fields=B`), as the Search reference
        // documents it.
        p.extend(self.fields.iter().map(|f| ("fields".to_owned(), f.clone())));
        if let Some(sort) = &self.sort {
            p.push(("sort".into(), sort.as_str().to_owned()));
        }
        p.push(("countperpage".into(), self.page_size.to_string()));
        p.push(("pagenumber".into(), page.to_string()));
        p
    }
}

/// One search result: the requested fields as sent (`Path_TR1` is an object
/// `{"URI","Width","Height"}`, most others strings).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchItem {
    /// Every field of the item.
    pub fields: Map<String, Value>,
}

impl SearchItem {
    /// A field by name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Value> {
        get_ci(&self.fields, &[name])
    }

    /// A field as text (numbers rendered; case-insensitive name).
    pub fn text(&self, name: &str) -> Option<String> {
        get_ci_text(&self.fields, &[name])
    }

    /// `SystemIdentifier` (the unique identifier, e.g. `CTL898546`).
    pub fn system_identifier(&self) -> Option<String> {
        self.text("SystemIdentifier")
    }

    /// `RecordID` or `MediaEncryptedIdentifier` (e.g. `2RBKT7U02J5F`).
    pub fn record_id(&self) -> Option<String> {
        self.text("RecordID")
            .or_else(|| self.text("MediaEncryptedIdentifier"))
    }
}

/// One page of results.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SearchPage {
    /// The page number asked for.
    pub page: u32,
    /// The items.
    pub items: Vec<SearchItem>,
    /// `GlobalInfo.TotalCount`, when the account may see it.
    pub total_count: Option<u64>,
    /// `GlobalInfo.NextPage` as sent (its format is not documented).
    pub next_page: Option<String>,
}

impl SearchPage {
    fn from_envelope(page: u32, value: &Value) -> Result<Self, Error> {
        let response = value
            .get("APIResponse")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Decode {
                status: 200,
                what: "search",
                reason: "no APIResponse".into(),
            })?;
        let items = match get_ci(response, &["Items"]) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_object().cloned())
                .map(|fields| SearchItem { fields })
                .collect(),
            Some(_) => {
                return Err(Error::Decode {
                    status: 200,
                    what: "search",
                    reason: "APIResponse.Items is not an array".into(),
                });
            }
        };
        let global = get_ci(response, &["GlobalInfo"]).and_then(Value::as_object);
        let total_count = global
            .and_then(|g| get_ci_text(g, &["TotalCount"]))
            .and_then(|t| t.parse().ok());
        let next_page = global.and_then(|g| get_ci_text(g, &["NextPage"]));
        Ok(Self {
            page,
            items,
            total_count,
            next_page,
        })
    }

    /// Whether a page after this one may hold results: this page was full and, when the total
    /// is known, it does not end at or after the total.
    fn has_more(&self, page_size: u32) -> bool {
        if self.items.len() < page_size as usize {
            return false;
        }
        match self.total_count {
            Some(total) => u64::from(self.page) * u64::from(page_size) < total,
            None => true,
        }
    }
}

impl Client {
    /// One page of a search. `GET` when the URL is short, else `POST` form (long queries).
    ///
    /// # Errors
    ///
    /// [`Error::Api`] when `APIResponse.Code` is not `SUCCESS` (HTTP 200 included), the HTTP and
    /// transport errors of every call, [`Error::Decode`] when `Items` is not an array.
    pub async fn search_page(
        &self,
        request: &SearchRequest,
        page: u32,
    ) -> Result<SearchPage, Error> {
        let path = self.inner.search_path.clone();
        let value = self
            .call(Call {
                path: &path,
                params: request.params(page.max(1)),
                family: Family::Legacy,
                repeat: Repeat::Safe,
                transport: Transport::Auto,
                what: "search",
            })
            .await?;
        SearchPage::from_envelope(page.max(1), &value)
    }

    /// A search across pages, as a [`Listing`]: `.pages()` streams the [`SearchPage`]s (fetched
    /// lazily one after another from [`SearchRequest::first_page`]), `.items()` the
    /// [`SearchItem`]s across pages. The request is taken by reference (cloned inside). The
    /// streams end after a page with fewer items than the page size, an empty page, the page
    /// reaching `TotalCount`, [`SearchRequest::max_pages`], or the first error (which they
    /// yield). [`Client::search_page`] reads one page.
    ///
    /// ```no_run
    /// # use chatport_orangelogic::{Client, Query, SearchRequest};
    /// use futures::TryStreamExt as _;
    /// # async fn run(client: Client) -> Result<(), chatport_orangelogic::Error> {
    /// let request = SearchRequest::new(Query::term("MediaType", "Image"))
    ///     .fields(["SystemIdentifier", "Title"])
    ///     .page_size(50);
    /// let mut items = client.search(&request).items();
    /// while let Some(item) = items.try_next().await? {
    ///     println!("{:?}", item.get("Title"));
    /// }
    /// let mut pages = client.search(&request).pages();
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("page {}: {} items of {:?}", page.page, page.items.len(), page.total_count);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn search(&self, request: &SearchRequest) -> Listing {
        let client = self.clone();
        let request = request.clone();
        let first = request.first_page.max(1);
        let pages = stream::unfold(Some((client, request, first, 0u32)), |state| async move {
            let (client, request, page, done) = state?;
            if request.max_pages.is_some_and(|max| done >= max) {
                return None;
            }
            match client.search_page(&request, page).await {
                Ok(result) => {
                    if result.items.is_empty() {
                        return None;
                    }
                    let more = result.has_more(request.page_size);
                    let next = more.then(|| (client, request, page + 1, done + 1));
                    Some((Ok(result), next))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
        Listing::new(pages, |page: SearchPage| page.items)
    }
}

/// A search not read yet: `.pages()` streams its [`SearchPage`]s, `.items()` its [`SearchItem`]s
/// across pages (both `Unpin`; see [`chatport_core::paging`]).
///
/// **The paging rule of this crate**: a paginated call ([`Client::search`]) takes its request by
/// reference and returns a `Listing`; [`Client::search_page`] reads one page.
pub type Listing = chatport_core::Listing<SearchPage, SearchItem, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("Image"), "Image");
        assert_eq!(quote("CTL-89_8.5"), "CTL-89_8.5");
        assert_eq!(quote("spring launch"), "\"spring launch\"");
        assert_eq!(quote(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("or"), "\"or\"");
        assert_eq!(quote("a:b"), "\"a:b\"");
        assert_eq!(quote("(x)"), "\"(x)\"");
    }

    #[test]
    fn combining() {
        let a = Query::term("A", "1");
        let b = Query::term("B", "2");
        let c = Query::term("C", "3");
        assert_eq!(
            a.clone().and(b.clone()).and(c.clone()).as_str(),
            "A:1 AND B:2 AND C:3"
        );
        assert_eq!(
            a.clone().or(b.clone()).and(c.clone()).as_str(),
            "(A:1 OR B:2) AND C:3"
        );
        assert_eq!(
            a.clone().and(b.clone()).or(c.clone()).as_str(),
            "(A:1 AND B:2) OR C:3"
        );
        assert_eq!(
            c.clone().and(a.clone().or(b.clone())).as_str(),
            "C:3 AND (A:1 OR B:2)"
        );
        assert_eq!(
            a.clone().negate().and(b.clone()).as_str(),
            "(NOT A:1) AND B:2"
        );
        assert_eq!(
            Query::at_least("MediaDate", "2026-01-01")
                .and(Query::at_most("MediaDate", "2026-02-01"))
                .as_str(),
            "MediaDate>:2026-01-01 AND MediaDate<:2026-02-01"
        );
        assert_eq!(
            Query::any_of("K", Vec::<String>::new()).as_str(),
            "K:(\"\")"
        );
        assert_eq!(Query::term("bad field", "x").as_str(), "\"bad field x\"");
    }

    #[test]
    fn params_and_pages() {
        let r = SearchRequest::new(Query::text("x"))
            .fields(["A", "B"])
            .sort(Sort::Newest)
            .page_size(20);
        let p = r.params(3);
        assert!(p.contains(&("fields".into(), "A".into())));
        assert!(p.contains(&("fields".into(), "B".into())));
        assert!(!p.iter().any(|(_, v)| v == "A,B"), "not a comma list");
        assert!(p.contains(&("sort".into(), "Newest".into())));
        assert!(p.contains(&("countperpage".into(), "20".into())));
        assert!(p.contains(&("pagenumber".into(), "3".into())));
        let page = |n: usize, page: u32, total: Option<u64>| SearchPage {
            page,
            items: vec![SearchItem { fields: Map::new() }; n],
            total_count: total,
            next_page: None,
        };
        assert!(page(2, 1, None).has_more(2));
        assert!(!page(1, 1, None).has_more(2));
        assert!(page(2, 1, Some(5)).has_more(2));
        assert!(!page(2, 2, Some(4)).has_more(2));
        assert!(!page(2, 3, Some(6)).has_more(2));
    }
}
