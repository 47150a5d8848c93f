//! HAL collections as [`Listing`]s of pages and items, and full-text search (`ft-query`).
//!
//! **One paging shape**: every paginated collection is reached by a method named after it
//! ([`Client::instances`], [`Client::history`], [`Client::folder_items`], [`Client::ft_query`],
//! [`Client::acls`], [`Client::deleted`]) that takes its query by reference and returns a
//! [`Listing`]: `.pages()` is a stream of [`HalPage`]s, `.items()` a stream of the items across
//! pages. Both are `Unpin` (`while let Some(x) = s.try_next().await?` needs no pinning) and end
//! after the first error, which they yield. The `list_*` methods read one page.
//!
//! Paging follows `shared/api/opentext-orangelogic.md` §1.3: a collection answers
//! `{"_embedded":{"collection":[…]},"total"?,"_links":{"next"?,…}}`; pages are numbered from 1
//! with `page` and sized with `items-per-page`. A stream asks for the first page with the query
//! given, then:
//!
//! 1. follows `_links.next.href` when the page has one;
//! 2. otherwise, when `total` was sent (`include-total=true`) and fewer items were seen, asks for
//!    `page + 1`;
//! 3. otherwise, when the answer had no `_links` at all and the page was full (as many items as
//!    `items-per-page`), asks for `page + 1`;
//! 4. otherwise ends. It also ends on an empty page and when a `next` link points at the page just
//!    read (so a faulty server cannot make it loop).
//!
//! A `next` link may be absolute or relative. An absolute link must point at the CMS host (the
//! bearer token is never sent elsewhere); a path that starts with the CMS base path (`/cms/…`) is
//! taken from the host, any other path is taken relative to the CMS base (the samples show
//! `/instances/…` links; both forms are accepted, inferred).

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::client::{Repeat, json_body};
use crate::http::{encode_component, set_query};
use crate::{Category, Client, Error, HalPage, HistoryEntry, Instance, ListQuery};

/// A paginated CMS collection not read yet: `.pages()` streams its [`HalPage`]s, `.items()` its
/// items across pages (both `Unpin`; see [`chatport_core::paging`]).
///
/// **The paging rule of this crate**: every paginated collection is reached by a method named
/// after it ([`Client::instances`], [`Client::history`], [`Client::folder_items`],
/// [`Client::ft_query`], [`Client::acls`], [`Client::deleted`]) that takes its [`ListQuery`] by
/// reference and returns a `Listing`; the `list_*` methods read one page.
pub type Listing<T> = chatport_core::Listing<HalPage<T>, T, Error>;

/// The body of a full-text query: `POST /cms/ft-query` with `{"query": "…", "type": "…"}`.
///
/// `query` is the index (Solr-like) syntax, e.g. `cms_any.all_values:ACME` or
/// `ca_contract.requester_email_s:de*on@example.com`; index field names come from the
/// attributes' `search_name` ([`crate::Client::type_attributes_all`]). Full-text search must be
/// enabled on the tenant (`ft_search_enabled=true`). `extra` carries any other field (the
/// explorer's advanced form sends `vals`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FtQuery {
    /// The query text.
    pub query: String,
    /// The type to search (`type`), e.g. `ca_contract`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Any other field, sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FtQuery {
    /// A query over every type.
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            ..Self::default()
        }
    }

    /// Restricts the query to one type.
    pub fn type_name(mut self, type_name: impl Into<String>) -> Self {
        self.type_name = Some(type_name.into());
        self
    }
}

/// One paged request: what to send for every page.
#[derive(Clone)]
struct PagedRequest {
    client: Client,
    method: Method,
    body: Option<Bytes>,
    per_page: Option<u32>,
    what: &'static str,
}

struct Cursor {
    url: Url,
    seen: u64,
}

fn page_of(url: &Url) -> u32 {
    url.query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1)
}

/// `url` with `page` set to `page` (other parameters kept, re-encoded strictly).
fn with_page(url: &Url, page: u32) -> Url {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.push(("page".to_owned(), page.to_string()));
    let mut out = url.clone();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    out.set_query(Some(&query));
    out
}

impl Client {
    /// Resolves a HAL `href` against the CMS base (see the module docs).
    pub(crate) fn resolve_cms_link(&self, href: &str) -> Result<Url, Error> {
        let base = self.cms_base();
        if let Ok(url) = Url::parse(href) {
            if url.origin() != base.origin() {
                return Err(Error::Config(format!(
                    "refusing to follow a link to another host: {}",
                    url.origin().ascii_serialization()
                )));
            }
            return Ok(url);
        }
        let bad = |e: url::ParseError| Error::Config(format!("invalid link `{href}`: {e}"));
        let base_path = base.path().trim_end_matches('/');
        if href.starts_with('/') && !href.starts_with(&format!("{base_path}/")) {
            // `/instances/…`: relative to the CMS base.
            let mut prefix = base.clone();
            prefix.set_query(None);
            let joined = format!("{}{}", prefix.as_str().trim_end_matches('/'), href);
            return Url::parse(&joined).map_err(bad);
        }
        base.join(href).map_err(bad)
    }

    /// Every page of a collection, starting at `first` (see the module docs).
    fn page_stream<T>(
        &self,
        request: PagedRequest,
        first: Url,
    ) -> BoxStream<'static, Result<HalPage<T>, Error>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        // `Some(Err(_))`: a bad `next` link, reported after the page that carried it.
        let start: Option<Result<Cursor, Error>> = Some(Ok(Cursor {
            url: first,
            seen: 0,
        }));
        stream::try_unfold(start, move |cursor| {
            let request = request.clone();
            async move {
                let cursor = match cursor {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(cursor)) => cursor,
                };
                let page: HalPage<T> = request
                    .client
                    .cms_json(
                        request.method.clone(),
                        cursor.url.clone(),
                        request.body.clone(),
                        Repeat::Safe,
                        request.what,
                    )
                    .await?;
                let count = u64::try_from(page.items.len()).unwrap_or(u64::MAX);
                let seen = cursor.seen.saturating_add(count);
                let next = if count == 0 {
                    None
                } else if let Some(href) = &page.next {
                    match request.client.resolve_cms_link(href) {
                        Ok(url) => Some(url),
                        Err(e) => return Ok(Some((page, Some(Err(e))))),
                    }
                } else if page.total.is_some_and(|t| seen < t)
                    || (page.links.is_empty()
                        && request.per_page.is_some_and(|n| u64::from(n) == count))
                {
                    Some(with_page(
                        &cursor.url,
                        page_of(&cursor.url).saturating_add(1),
                    ))
                } else {
                    None
                };
                let next = next
                    .filter(|url| *url != cursor.url)
                    .map(|url| Ok(Cursor { url, seen }));
                Ok(Some((page, next)))
            }
        })
        .boxed()
    }

    fn get_paged(&self, query: &ListQuery, what: &'static str) -> PagedRequest {
        PagedRequest {
            client: self.clone(),
            method: Method::GET,
            body: None,
            per_page: query.items_per_page,
            what,
        }
    }

    fn list_url(&self, segments: &[&str], query: &ListQuery) -> Result<Url, Error> {
        let mut url = self.cms_url(segments)?;
        set_query(&mut url, &query.pairs());
        Ok(url)
    }

    /// The listing of the collection at `segments` (after the CMS base).
    pub(crate) fn collection<T>(
        &self,
        segments: &[&str],
        query: &ListQuery,
        what: &'static str,
    ) -> Listing<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        match self.list_url(segments, query) {
            Ok(url) => {
                let request = self.get_paged(query, what);
                Listing::new(self.page_stream(request, url), hal_items)
            }
            Err(e) => Listing::failed(e),
        }
    }

    /// Every instance of a type matching `query`
    /// (`GET {cms}/instances/{category}/{type_name}?…`), as a [`Listing`]: `.pages()` for the
    /// HAL pages (with `total` and `extra`), `.items()` for the instances across pages; see the
    /// [module docs](crate::paging) for how the next page is found. Set `query.items_per_page` to
    /// choose the page size; `query.page` is the first page read. [`Client::list_instances`]
    /// reads one page.
    ///
    /// ```no_run
    /// use chatport_opentext::{Category, Client, ListQuery, filter};
    /// use futures::TryStreamExt as _;
    ///
    /// # async fn run(cms: Client) -> Result<(), chatport_opentext::Error> {
    /// let query = ListQuery::new().filter(filter::eq("status", "open")).items_per_page(100);
    /// let mut cases = cms.instances(Category::Object, "ca_case", &query).items();
    /// while let Some(case) = cases.try_next().await? {
    ///     println!("{}", case.id);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A configuration error for the URL is the streams' only item; every failed page request
    /// (as [`Client::list_instances`]) is yielded and ends the stream.
    pub fn instances(
        &self,
        category: Category,
        type_name: &str,
        query: &ListQuery,
    ) -> Listing<Instance> {
        self.collection(
            &["instances", category.as_str(), type_name],
            query,
            "instance collection",
        )
    }

    /// Every history entry of an instance (`GET …/{id}/history?…`), as a [`Listing`];
    /// [`Client::list_history`] reads one page.
    ///
    /// ```no_run
    /// use chatport_opentext::{Category, Client, ListQuery};
    /// use futures::TryStreamExt as _;
    ///
    /// # async fn run(cms: Client) -> Result<(), chatport_opentext::Error> {
    /// let mut entries = cms
    ///     .history(Category::Object, "ca_case", "8a1f", &ListQuery::new())
    ///     .items();
    /// while let Some(entry) = entries.try_next().await? {
    ///     println!("{entry:?}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Client::instances`].
    pub fn history(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
        query: &ListQuery,
    ) -> Listing<HistoryEntry> {
        self.collection(
            &["instances", category.as_str(), type_name, id, "history"],
            query,
            "history",
        )
    }

    /// Every item of a folder (`GET /instances/folder/{type}/{id}/items?…`), as a [`Listing`];
    /// [`Client::list_folder_items`] reads one page.
    ///
    /// ```no_run
    /// use chatport_opentext::{Client, ListQuery};
    /// use futures::TryStreamExt as _;
    ///
    /// # async fn run(cms: Client) -> Result<(), chatport_opentext::Error> {
    /// let mut pages = cms.folder_items("cms_folder", "9f3c", &ListQuery::new()).pages();
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} items", page.items.len());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Client::instances`].
    pub fn folder_items(
        &self,
        type_name: &str,
        folder_id: &str,
        query: &ListQuery,
    ) -> Listing<Instance> {
        self.collection(
            &["instances", "folder", type_name, folder_id, "items"],
            query,
            "folder items",
        )
    }

    /// One page of a full-text query: `POST {cms}/ft-query?page=&items-per-page=&include-total=`
    /// with `{"query","type"}`; the answer is a HAL page of instances (extra fields such as
    /// `facetCounts` are in [`HalPage::extra`]). Read-only, so retried like a GET.
    /// [`Client::ft_query`] reads every page.
    ///
    /// # Errors
    ///
    /// As [`Client::list_instances`]; a tenant without full-text search answers an error status.
    pub async fn list_ft_query(
        &self,
        query: &FtQuery,
        page: &ListQuery,
    ) -> Result<HalPage<Instance>, Error> {
        let url = self.list_url(&["ft-query"], page)?;
        let body = json_body(query, "full-text query")?;
        self.cms_json(
            Method::POST,
            url,
            Some(body),
            Repeat::Safe,
            "full-text results",
        )
        .await
    }

    /// Every result of a full-text query, as a [`Listing`] (the same body posted for each page;
    /// `page` sets the page size and the first page).
    ///
    /// ```no_run
    /// use chatport_opentext::{Client, FtQuery, ListQuery};
    /// use futures::TryStreamExt as _;
    ///
    /// # async fn run(cms: Client) -> Result<(), chatport_opentext::Error> {
    /// let query = FtQuery::new("cms_any.all_values:ACME").type_name("ca_contract");
    /// let mut hits = cms.ft_query(&query, &ListQuery::new().items_per_page(50)).items();
    /// while let Some(hit) = hits.try_next().await? {
    ///     println!("{}", hit.id);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Client::list_ft_query`], once per page.
    pub fn ft_query(&self, query: &FtQuery, page: &ListQuery) -> Listing<Instance> {
        let prepared = self
            .list_url(&["ft-query"], page)
            .and_then(|url| Ok((url, json_body(query, "full-text query")?)));
        match prepared {
            Ok((url, body)) => {
                let request = PagedRequest {
                    client: self.clone(),
                    method: Method::POST,
                    body: Some(body),
                    per_page: page.items_per_page,
                    what: "full-text results",
                };
                Listing::new(self.page_stream(request, url), hal_items)
            }
            Err(e) => Listing::failed(e),
        }
    }
}

/// The items of one HAL page.
fn hal_items<T>(page: HalPage<T>) -> Vec<T> {
    page.items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_parameter_is_replaced() {
        let url = Url::parse("http://h/cms/x?filter=name%20eq%20%27a%27&page=2&items-per-page=5")
            .unwrap();
        assert_eq!(page_of(&url), 2);
        let next = with_page(&url, 3);
        assert_eq!(
            next.as_str(),
            "http://h/cms/x?filter=name%20eq%20%27a%27&items-per-page=5&page=3"
        );
        assert_eq!(page_of(&Url::parse("http://h/x").unwrap()), 1);
    }

    #[test]
    fn ft_query_body() {
        let q = FtQuery::new("cms_any.all_values:ACME").type_name("ca_contract");
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            serde_json::json!({"query": "cms_any.all_values:ACME", "type": "ca_contract"})
        );
    }
}
