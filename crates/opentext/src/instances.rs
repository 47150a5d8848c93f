//! Instance operations: `/cms/instances/{category}/{type}[/{id}]`.
//!
//! Paths and shapes: `shared/api/opentext-orangelogic.md` §1.4 (endpoint catalog) and §1.5
//! (instance model); vendor sources S1 (Postman "Cloud Developer Tutorial") and S2
//! (`sample-cms-go-cli`).

use bytes::Bytes;
use reqwest::Method;

use crate::client::Repeat;
use crate::http::set_query;
use crate::{Category, Client, Error, HalPage, Instance, InstanceDraft, ListQuery, filter};

impl Client {
    /// Creates an instance: `POST {cms}/instances/{category}/{type_name}` with `draft` as the JSON
    /// body. The service answers 201 (or 200) with the created instance, including its `id`.
    ///
    /// Not retried in-client: after a timeout or a dropped connection the instance may exist.
    /// Callers that need idempotency store a key in a property and call
    /// [`find_by_property`](Self::find_by_property) before creating (what the CMS sink does).
    ///
    /// # Errors
    ///
    /// [`Error::Service`] / [`Error::Gateway`] / [`Error::UnexpectedBody`] for an error status
    /// (400 = validation, e.g. a missing `name`; 404 = unknown type), [`Error::Token`],
    /// [`Error::Timeout`] / [`Error::Transport`] (check [`Error::is_ambiguous`]), [`Error::Decode`]
    /// when the success body is not an instance.
    pub async fn create_instance(
        &self,
        category: Category,
        type_name: &str,
        draft: &InstanceDraft,
    ) -> Result<Instance, Error> {
        let url = self.cms_url(&["instances", category.as_str(), type_name])?;
        let body = serde_json::to_vec(draft)
            .map_err(|e| Error::Config(format!("could not serialise the instance draft: {e}")))?;
        self.cms_json(
            Method::POST,
            url,
            Some(Bytes::from(body)),
            Repeat::Once,
            "instance",
        )
        .await
    }

    /// Reads one instance: `GET {cms}/instances/{category}/{type_name}/{id}`.
    ///
    /// # Errors
    ///
    /// As [`create_instance`](Self::create_instance); a missing instance is a 404
    /// ([`ErrorClass::Permanent`](chatport_core::ErrorClass::Permanent)). Retried in-client on
    /// throttling, 5xx and transport failures.
    pub async fn get_instance(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
    ) -> Result<Instance, Error> {
        let url = self.cms_url(&["instances", category.as_str(), type_name, id])?;
        self.cms_json(Method::GET, url, None, Repeat::Safe, "instance")
            .await
    }

    /// Lists instances of a type: `GET {cms}/instances/{category}/{type_name}?filter=…&sortby=…&page=…&items-per-page=…&include-total=true`,
    /// one HAL page.
    ///
    /// Use `Category::Any` with type `cms_any` to query across types. An empty result may come
    /// without `_embedded`; the page then has no items.
    ///
    /// # Errors
    ///
    /// As [`get_instance`](Self::get_instance); a malformed filter is a 400.
    pub async fn list_instances(
        &self,
        category: Category,
        type_name: &str,
        query: &ListQuery,
    ) -> Result<HalPage<Instance>, Error> {
        let mut url = self.cms_url(&["instances", category.as_str(), type_name])?;
        set_query(&mut url, &query.pairs());
        self.cms_json(Method::GET, url, None, Repeat::Safe, "instance collection")
            .await
    }

    /// The first instance whose `property` equals `value`, or `None`.
    ///
    /// Sends `filter={property} eq '{value}'` (see [`filter::eq`]) with `items-per-page=1`. This is
    /// how the CMS sink makes creates idempotent: the idempotency key is stored in a property and
    /// looked up before each create.
    ///
    /// **Quote escaping is inferred, not documented:** a `'` inside `value` is doubled, as in
    /// OData (`'O''Brien'`); the vendor's material never shows a quoted quote. Idempotency keys
    /// contain no quotes, so the sink does not depend on it.
    ///
    /// `property` is inserted verbatim into the filter: the bare attribute name for a type
    /// attribute, `traits.{trait}.{attr}` for a trait attribute.
    ///
    /// # Errors
    ///
    /// As [`list_instances`](Self::list_instances); an unknown property is a 400 from the service.
    pub async fn find_by_property(
        &self,
        category: Category,
        type_name: &str,
        property: &str,
        value: &str,
    ) -> Result<Option<Instance>, Error> {
        let query = ListQuery::new()
            .filter(filter::eq(property, value))
            .items_per_page(1);
        let page = self.list_instances(category, type_name, &query).await?;
        Ok(page.items.into_iter().next())
    }
}
