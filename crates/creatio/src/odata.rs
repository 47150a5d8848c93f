//! OData 4 CRUD, queries, paging and idempotent creates (`shared/api/creatio.md` §2).

use bytes::Bytes;
use chatport_core::IdempotencyKey;
use futures::stream;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;
use uuid::Uuid;

use crate::client::{Repeat, Req};
use crate::filter::Filter;
use crate::http::query_string;
use crate::{Client, Error};

/// A collection read not started yet: `.pages()` streams one `Vec<T>` of rows per read,
/// `.items()` the rows across pages (both `Unpin`; see [`chatport_core::paging`]).
///
/// **The paging rule of this crate**: a paginated read ([`Client::entities`]) takes its
/// [`Query`] by reference and returns a `Listing`; [`Client::list`] reads one page.
pub type Listing<T> = chatport_core::Listing<Vec<T>, T, Error>;

/// Sort direction for `$orderby`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Order {
    /// `asc`.
    Asc,
    /// `desc`.
    Desc,
}

/// OData system query options: `$filter`, `$select`, `$expand`, `$orderby`, `$top`, `$skip`,
/// `$count` (`shared/api/creatio.md` §2.1).
///
/// ```
/// use chatport_creatio::{filter, Order, Query};
/// let q = Query::new()
///     .filter(filter::eq("MobilePhone", "+4915112345678"))
///     .select(["Id", "Name"])
///     .order_by("ModifiedOn", Order::Desc)
///     .top(1);
/// assert_eq!(
///     q.to_query_string(),
///     "$filter=MobilePhone%20eq%20%27%2B4915112345678%27&$select=Id%2CName&$orderby=ModifiedOn%20desc&$top=1"
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Query {
    /// `$filter`.
    pub filter: Option<Filter>,
    /// `$select` columns.
    pub select: Vec<String>,
    /// `$expand` navigation properties (many-to-one lookups only in Creatio).
    pub expand: Vec<String>,
    /// `$orderby` terms, e.g. `("CreatedOn", Order::Asc)`.
    pub order_by: Vec<(String, Order)>,
    /// `$top`.
    pub top: Option<u32>,
    /// `$skip`.
    pub skip: Option<u32>,
    /// `$count=true`.
    pub count: bool,
}

impl Query {
    /// An empty query.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `$filter` (replacing any earlier one).
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Adds `$select` columns.
    #[must_use]
    pub fn select<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.select.extend(columns.into_iter().map(Into::into));
        self
    }

    /// Adds `$expand` navigation properties.
    #[must_use]
    pub fn expand<S: Into<String>>(mut self, navs: impl IntoIterator<Item = S>) -> Self {
        self.expand.extend(navs.into_iter().map(Into::into));
        self
    }

    /// Adds an `$orderby` term.
    #[must_use]
    pub fn order_by(mut self, column: &str, order: Order) -> Self {
        self.order_by.push((column.to_owned(), order));
        self
    }

    /// Sets `$top`.
    #[must_use]
    pub fn top(mut self, n: u32) -> Self {
        self.top = Some(n);
        self
    }

    /// Sets `$skip`.
    #[must_use]
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = Some(n);
        self
    }

    /// Asks for `@odata.count` (`$count=true`).
    #[must_use]
    pub fn with_count(mut self) -> Self {
        self.count = true;
        self
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if let Some(f) = &self.filter {
            p.push(("$filter", f.to_string()));
        }
        if !self.select.is_empty() {
            p.push(("$select", self.select.join(",")));
        }
        if !self.expand.is_empty() {
            p.push(("$expand", self.expand.join(",")));
        }
        if !self.order_by.is_empty() {
            let terms = self
                .order_by
                .iter()
                .map(|(c, o)| match o {
                    Order::Asc => format!("{c} asc"),
                    Order::Desc => format!("{c} desc"),
                })
                .collect::<Vec<_>>()
                .join(",");
            p.push(("$orderby", terms));
        }
        if let Some(t) = self.top {
            p.push(("$top", t.to_string()));
        }
        if let Some(s) = self.skip {
            p.push(("$skip", s.to_string()));
        }
        if self.count {
            p.push(("$count", "true".to_owned()));
        }
        p
    }

    /// The encoded query string (without `?`), as sent.
    pub fn to_query_string(&self) -> String {
        query_string(&self.pairs())
    }
}

/// One page of a collection read: `{"@odata.context","@odata.count"?,"@odata.nextLink"?,"value":[…]}`.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// The rows.
    pub value: Vec<T>,
    /// `@odata.count`, when `$count=true` was asked.
    #[serde(rename = "@odata.count", default)]
    pub count: Option<u64>,
    /// `@odata.nextLink`, when the server pages itself (not documented for Creatio; followed by
    /// [`Client::entities`] when present).
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// The result of [`Client::create_with_key`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Created<T> {
    /// The record as Creatio returned it (201 body) or as read back.
    pub record: T,
    /// The record's `Id` (= [`IdempotencyKey::uuid`]).
    pub id: Uuid,
    /// `true` when the record already existed (an earlier attempt had created it) and was read
    /// back instead of created.
    pub existed: bool,
}

/// Checks an entity set name: ASCII letters, digits and `_` (schema codes such as `Case`,
/// `ContactCommunication`, `UsrThing`).
pub(crate) fn check_set(set: &str) -> Result<(), Error> {
    if set.is_empty() || !set.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::Config(format!(
            "invalid entity set name {set:?}: expected a schema code of letters, digits and `_`"
        )));
    }
    Ok(())
}

impl Client {
    /// `{odata}/{set}` or `{odata}/{set}({id})`.
    pub(crate) fn entity_url(&self, set: &str, id: Option<Uuid>) -> Result<Url, Error> {
        check_set(set)?;
        let segment = match id {
            Some(id) => format!("{set}({})", id.hyphenated()),
            None => set.to_owned(),
        };
        let mut url = self.inner.odata_base.clone();
        let path = format!("{}/{segment}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        Ok(url)
    }

    /// Reads one page: `GET {odata}/{set}?{query}`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid set name; HTTP and decoding errors as [`Error`] says.
    pub async fn list<T: DeserializeOwned>(
        &self,
        set: &str,
        query: &Query,
    ) -> Result<Page<T>, Error> {
        let mut url = self.entity_url(set, None)?;
        let qs = query.to_query_string();
        if !qs.is_empty() {
            url.set_query(Some(&qs));
        }
        self.call_json(Req::new(Method::GET, url), Repeat::Safe, "collection")
            .await
    }

    /// All rows of `set` matching `query`, as a [`Listing`] read `page_size` rows at a time
    /// with `$top`/`$skip`: `.pages()` streams one `Vec<T>` per read, `.items()` the rows across
    /// pages. The query is taken by reference (cloned inside); [`Client::list`] reads one page.
    ///
    /// The page size is capped at the configured row cap (`MaxEntityRowCount`, default 20 000):
    /// Creatio never returns more rows than that per read, so a page of fewer rows than asked is
    /// the last one. Without an `$orderby` the listing orders by `Id` so that pages are stable.
    /// `query.top` limits the total rows; `query.skip` is the starting offset. When a page carries
    /// `@odata.nextLink`, that link is followed instead (only when it points at the OData base's
    /// origin: the session is never sent to another host).
    ///
    /// Each page is one `GET` (retried per the policy); an error ends the streams after yielding
    /// it.
    ///
    /// ```no_run
    /// use chatport_creatio::{Client, Query, filter};
    /// use futures::TryStreamExt as _;
    /// use serde_json::Value;
    ///
    /// # async fn run(creatio: Client) -> Result<(), chatport_creatio::Error> {
    /// let query = Query::new().filter(filter::eq("Name", "Acme")).select(["Id", "Name"]);
    /// let mut rows = creatio.entities::<Value>("Account", &query, 500).items();
    /// while let Some(row) = rows.try_next().await? {
    ///     println!("{}", row["Id"]);
    /// }
    /// let mut pages = creatio.entities::<Value>("Account", &query, 500).pages();
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} rows", page.len());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid set name or an unusable `@odata.nextLink`; HTTP and
    /// decoding errors as [`Client::list`].
    pub fn entities<T>(&self, set: &str, query: &Query, page_size: u32) -> Listing<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        if let Err(e) = check_set(set) {
            return Listing::failed(e);
        }
        let client = self.clone();
        let page_size = page_size.clamp(1, self.inner.row_cap);
        let mut query = query.clone();
        if query.order_by.is_empty() {
            query.order_by.push(("Id".to_owned(), Order::Asc));
        }
        let limit = query.top;
        let start = query.skip.unwrap_or(0);
        let set = set.to_owned();
        struct State {
            next: Option<Url>,
            offset: u32,
            yielded: u32,
            done: bool,
            // A next link that may not be followed: reported after the page that carried it.
            error: Option<Error>,
        }
        let init = State {
            next: None,
            offset: start,
            yielded: 0,
            done: false,
            error: None,
        };
        let pages = stream::try_unfold(init, move |mut st| {
            let client = client.clone();
            let query = query.clone();
            let set = set.clone();
            async move {
                if let Some(e) = st.error.take() {
                    return Err(e);
                }
                if st.done {
                    return Ok(None);
                }
                let want = match limit {
                    Some(l) => page_size.min(l.saturating_sub(st.yielded)),
                    None => page_size,
                };
                if want == 0 {
                    return Ok(None);
                }
                let url = match st.next.take() {
                    Some(u) => u,
                    None => {
                        let mut q = query;
                        q.top = Some(want);
                        q.skip = (st.offset > 0).then_some(st.offset);
                        let mut url = client.entity_url(&set, None)?;
                        url.set_query(Some(&q.to_query_string()));
                        url
                    }
                };
                let page: Page<T> = client
                    .call_json(Req::new(Method::GET, url), Repeat::Safe, "collection")
                    .await?;
                let got = u32::try_from(page.value.len()).unwrap_or(u32::MAX);
                st.offset = st.offset.saturating_add(got);
                st.yielded = st.yielded.saturating_add(got);
                match page.next_link.as_deref() {
                    Some(link) if got > 0 => {
                        // A relative link is relative to the service root (`…/0/odata/`).
                        let mut root = client.inner.odata_base.clone();
                        if !root.path().ends_with('/') {
                            root.set_path(&format!("{}/", root.path()));
                        }
                        match root.join(link) {
                            Ok(next) if next.origin() == client.inner.odata_base.origin() => {
                                st.next = Some(next);
                            }
                            Ok(next) => {
                                st.error = Some(Error::Config(format!(
                                    "refusing to follow an @odata.nextLink to another host: {}",
                                    next.origin().ascii_serialization()
                                )));
                            }
                            Err(e) => {
                                st.error =
                                    Some(Error::Config(format!("unusable @odata.nextLink: {e}")));
                            }
                        }
                    }
                    _ => st.done = got < want,
                }
                if got == 0 {
                    st.done = true;
                }
                Ok(Some((page.value, st)))
            }
        });
        Listing::new(pages, |rows: Vec<T>| rows)
    }

    /// Reads one record: `GET {odata}/{set}({id})` with the `$select`/`$expand` of `query`
    /// (other options are ignored by Creatio for a single entity).
    ///
    /// # Errors
    ///
    /// A 404 (deleted or never created) is an [`Error::OData`] with status 404
    /// ([`Error::is_not_found`]); see [`Client::find`] for an `Option`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        set: &str,
        id: Uuid,
        query: &Query,
    ) -> Result<T, Error> {
        let mut url = self.entity_url(set, Some(id))?;
        let q = Query {
            select: query.select.clone(),
            expand: query.expand.clone(),
            ..Query::default()
        };
        let qs = q.to_query_string();
        if !qs.is_empty() {
            url.set_query(Some(&qs));
        }
        self.call_json(Req::new(Method::GET, url), Repeat::Safe, "entity")
            .await
    }

    /// Like [`Client::get`], but a 404 is `Ok(None)`.
    ///
    /// # Errors
    ///
    /// Every error of [`Client::get`] except 404.
    pub async fn find<T: DeserializeOwned>(
        &self,
        set: &str,
        id: Uuid,
        query: &Query,
    ) -> Result<Option<T>, Error> {
        match self.get(set, id, query).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a record: `POST {odata}/{set}` with `body` as JSON; Creatio answers 201 with the
    /// full record (server-set `Id`, `CreatedOn`, an auto-number such as `Number`). Sent once:
    /// a failed create is never repeated in-client. Prefer [`Client::create_with_key`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `body` does not serialize; HTTP errors as [`Error`] says.
    pub async fn create<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        set: &str,
        body: &B,
    ) -> Result<T, Error> {
        let url = self.entity_url(set, None)?;
        let bytes = to_body(body)?;
        self.call_json(
            Req::new(Method::POST, url).json_body(bytes),
            Repeat::Once,
            "entity",
        )
        .await
    }

    /// Creates a record whose `Id` is chosen from the idempotency key ([`IdempotencyKey::uuid`]),
    /// so a repeated attempt cannot create a second record (`shared/api/creatio.md` §5,
    /// "Idempotency"; the `Id` column is writable).
    ///
    /// `body` must serialize to a JSON object; its `Id` is set (overwritten) to `key.uuid()`. When
    /// the POST fails with a duplicate-key error ([`Error::is_duplicate_key`]: an earlier attempt
    /// created the record) or ambiguously ([`Error::is_ambiguous`]: a timeout or a dropped
    /// connection, the record may exist), the record is read by that `Id`: if it exists it is
    /// returned with `existed = true`, otherwise the original error is returned (the outbox
    /// retries later with the same key).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `body` is not a JSON object; the create's error when the record
    /// does not exist afterwards; the read's error when the read-back fails.
    pub async fn create_with_key<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        set: &str,
        key: &IdempotencyKey,
        body: &B,
    ) -> Result<Created<T>, Error> {
        let id = key.uuid();
        let mut value = serde_json::to_value(body)
            .map_err(|e| Error::Config(format!("the record body does not serialize: {e}")))?;
        let Value::Object(obj) = &mut value else {
            return Err(Error::Config(
                "the record body must serialize to a JSON object".into(),
            ));
        };
        obj.insert("Id".to_owned(), Value::String(id.hyphenated().to_string()));
        match self.create::<T, _>(set, &value).await {
            Ok(record) => Ok(Created {
                record,
                id,
                existed: false,
            }),
            Err(e) if e.is_duplicate_key() || e.is_ambiguous() => {
                tracing::debug!(%id, error = %e, "create may have happened before; reading the record by its Id");
                match self.find::<T>(set, id, &Query::new()).await? {
                    Some(record) => Ok(Created {
                        record,
                        id,
                        existed: true,
                    }),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Updates columns: `PATCH {odata}/{set}({id})` with `body` (only the columns to change;
    /// `""` clears a string). Creatio answers 204. Retried in-client per the policy (a PATCH of
    /// the same values is idempotent).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `body` does not serialize; HTTP errors as [`Error`] says (404 when
    /// the record does not exist).
    pub async fn update<B: Serialize + ?Sized>(
        &self,
        set: &str,
        id: Uuid,
        body: &B,
    ) -> Result<(), Error> {
        let url = self.entity_url(set, Some(id))?;
        let bytes = to_body(body)?;
        self.call(Req::new(Method::PATCH, url).json_body(bytes), Repeat::Safe)
            .await
            .map(drop)
    }

    /// Deletes a record: `DELETE {odata}/{set}({id})`; Creatio answers 204.
    ///
    /// # Errors
    ///
    /// HTTP errors as [`Error`] says (404 when it does not exist — after a retried DELETE this
    /// can mean the first attempt succeeded).
    pub async fn delete(&self, set: &str, id: Uuid) -> Result<(), Error> {
        let url = self.entity_url(set, Some(id))?;
        self.call(Req::new(Method::DELETE, url), Repeat::Safe)
            .await
            .map(drop)
    }
}

pub(crate) fn to_body<B: Serialize + ?Sized>(body: &B) -> Result<Bytes, Error> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| Error::Config(format!("the record body does not serialize: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_names_are_checked() {
        assert!(check_set("Case").is_ok());
        assert!(check_set("UsrThing_1").is_ok());
        assert!(check_set("").is_err());
        assert!(check_set("Case(1)").is_err());
        assert!(check_set("../x").is_err());
    }

    #[test]
    fn query_string_shape() {
        let q = Query::new()
            .select(["Id"])
            .expand(["Contact"])
            .top(5)
            .skip(10)
            .with_count();
        assert_eq!(
            q.to_query_string(),
            "$select=Id&$expand=Contact&$top=5&$skip=10&$count=true"
        );
        assert_eq!(Query::new().to_query_string(), "");
    }
}
