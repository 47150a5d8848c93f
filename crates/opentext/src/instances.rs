//! Instance operations: `/cms/instances/{category}/{type}[/{id}]`.
//!
//! Paths and shapes: `shared/api/opentext-orangelogic.md` §1.4 (endpoint catalog) and §1.5
//! (instance model); vendor sources S1 (Postman "Cloud Developer Tutorial") and S2
//! (`sample-cms-go-cli`).

use bytes::Bytes;
use reqwest::Method;

use crate::client::{Repeat, json_body};
use crate::http::set_query;
use crate::{
    Category, Client, DeleteOptions, Error, HalPage, HistoryEntry, Instance, InstanceDraft,
    InstancePatch, ListQuery, Rendition, RenditionDraft, filter,
};

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

/// Full and partial updates, moves, deletes, versions, renditions and history.
///
/// Paths: `shared/api/opentext-orangelogic.md` §1.4 and §1.7 (vendor sources S1, S2, S4).
impl Client {
    fn instance_url(
        &self,
        category: &Category,
        type_name: &str,
        id: &str,
        rest: &[&str],
    ) -> Result<url::Url, Error> {
        let mut segments = vec!["instances", category.as_str(), type_name, id];
        segments.extend_from_slice(rest);
        self.cms_url(&segments)
    }

    /// Full update: `PUT {cms}/instances/{category}/{type_name}/{id}` with every field
    /// ("passing all properties": properties left out are cleared). Returns the updated instance.
    /// Idempotent, so retried in-client like a GET.
    ///
    /// # Errors
    ///
    /// As [`create_instance`](Self::create_instance); a missing instance is a 404.
    pub async fn update_instance(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
        draft: &InstanceDraft,
    ) -> Result<Instance, Error> {
        let url = self.instance_url(&category, type_name, id, &[])?;
        let body = json_body(draft, "instance")?;
        self.cms_json(Method::PUT, url, Some(body), Repeat::Safe, "instance")
            .await
    }

    /// Partial update: `PATCH {cms}/instances/{category}/{type_name}/{id}` with only the fields
    /// of `patch` (properties, trait instances, trait removal — see [`InstancePatch`]). Returns
    /// the updated instance. Repeated in-client only after a 429.
    ///
    /// # Errors
    ///
    /// As [`update_instance`](Self::update_instance).
    pub async fn patch_instance(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
        patch: &InstancePatch,
    ) -> Result<Instance, Error> {
        let url = self.instance_url(&category, type_name, id, &[])?;
        let body = json_body(patch, "instance patch")?;
        self.cms_json(Method::PATCH, url, Some(body), Repeat::Once, "instance")
            .await
    }

    /// The folder an instance is filed in: `GET …/{id}/parent`.
    ///
    /// # Errors
    ///
    /// As [`get_instance`](Self::get_instance).
    pub async fn get_parent(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
    ) -> Result<Instance, Error> {
        let url = self.instance_url(&category, type_name, id, &["parent"])?;
        self.cms_json(Method::GET, url, None, Repeat::Safe, "parent folder")
            .await
    }

    /// Moves an instance to another folder: `PUT …/{id}/parent` with `{"id": folder_id}`. The
    /// answer's body is not documented and is ignored; read the instance again to see it.
    /// Idempotent, so retried in-client.
    ///
    /// # Errors
    ///
    /// As [`update_instance`](Self::update_instance); an unknown folder is an error status.
    pub async fn move_instance(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
        folder_id: &str,
    ) -> Result<(), Error> {
        let url = self.instance_url(&category, type_name, id, &["parent"])?;
        let body = json_body(&serde_json::json!({ "id": folder_id }), "move")?;
        self.cms_no_content(Method::PUT, url, Some(body), Repeat::Safe)
            .await
    }

    /// Soft delete (to the recycle bin): `PUT …/{id}/delete`, with `?all-version=true` and/or
    /// `?recursive=true` from `options`. Repeated in-client only after a 429.
    ///
    /// # Errors
    ///
    /// As [`update_instance`](Self::update_instance).
    pub async fn soft_delete_instance(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
        options: DeleteOptions,
    ) -> Result<(), Error> {
        let mut url = self.instance_url(&category, type_name, id, &["delete"])?;
        set_query(&mut url, &options.pairs());
        self.cms_no_content(Method::PUT, url, None, Repeat::Once)
            .await
    }

    /// Hard delete: `DELETE …/{id}` (`DELETE …/{id}/all` for every version of a file when
    /// `options.all_versions`; `?recursive=true` for a folder and its content). The service
    /// answers 204. Repeated in-client only after a 429 (a repeat after an ambiguous failure
    /// would answer 404 for a delete that worked).
    ///
    /// # Errors
    ///
    /// As [`update_instance`](Self::update_instance).
    pub async fn delete_instance(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
        options: DeleteOptions,
    ) -> Result<(), Error> {
        let rest: &[&str] = if options.all_versions { &["all"] } else { &[] };
        let mut url = self.instance_url(&category, type_name, id, rest)?;
        if options.recursive {
            set_query(&mut url, &[("recursive", "true".to_owned())]);
        }
        self.cms_no_content(Method::DELETE, url, None, Repeat::Once)
            .await
    }

    /// One page of a file's versions: `GET {cms}/instances/file/{type_name}/{id}/versions?…`
    /// (each version is an instance with its own id, `version_no`, `latest`).
    ///
    /// # Errors
    ///
    /// As [`list_instances`](Self::list_instances).
    pub async fn list_versions(
        &self,
        type_name: &str,
        id: &str,
        query: &ListQuery,
    ) -> Result<HalPage<Instance>, Error> {
        let mut url = self.instance_url(&Category::File, type_name, id, &["versions"])?;
        set_query(&mut url, &query.pairs());
        self.cms_json(Method::GET, url, None, Repeat::Safe, "versions")
            .await
    }

    /// Creates a new version of a file: `POST {cms}/instances/file/{type_name}/{id}/nextVersion`
    /// with `{name, description?, parent_folder_id?, version_label?, renditions: [...],
    /// properties?}` (put `renditions` and `version_label` in `draft.extra`). Returns the new
    /// version (a new instance id, `version_no` incremented). Repeated only after a 429.
    ///
    /// # Errors
    ///
    /// As [`create_instance`](Self::create_instance).
    pub async fn next_version(
        &self,
        type_name: &str,
        id: &str,
        draft: &InstanceDraft,
    ) -> Result<Instance, Error> {
        let url = self.instance_url(&Category::File, type_name, id, &["nextVersion"])?;
        let body = json_body(draft, "version")?;
        self.cms_json(Method::POST, url, Some(body), Repeat::Once, "instance")
            .await
    }

    /// One page of a file's renditions: `GET {cms}/instances/file/{type_name}/{id}/contents?…`.
    ///
    /// # Errors
    ///
    /// As [`list_instances`](Self::list_instances).
    pub async fn list_contents(
        &self,
        type_name: &str,
        id: &str,
        query: &ListQuery,
    ) -> Result<HalPage<Rendition>, Error> {
        let mut url = self.instance_url(&Category::File, type_name, id, &["contents"])?;
        set_query(&mut url, &query.pairs());
        self.cms_json(Method::GET, url, None, Repeat::Safe, "renditions")
            .await
    }

    /// Adds a rendition: `POST {cms}/instances/file/{type_name}/{id}/contents` with
    /// `{name, blob_id, rendition_type, mime_type?}`. Returns the rendition. Repeated only after
    /// a 429.
    ///
    /// # Errors
    ///
    /// As [`create_instance`](Self::create_instance).
    pub async fn add_content(
        &self,
        type_name: &str,
        id: &str,
        rendition: &RenditionDraft,
    ) -> Result<Rendition, Error> {
        let url = self.instance_url(&Category::File, type_name, id, &["contents"])?;
        let body = json_body(rendition, "rendition")?;
        self.cms_json(Method::POST, url, Some(body), Repeat::Once, "rendition")
            .await
    }

    /// Deletes a rendition: `DELETE {cms}/instances/file/{type_name}/{id}/contents/{rendition_id}`.
    ///
    /// # Errors
    ///
    /// As [`delete_instance`](Self::delete_instance).
    pub async fn delete_content(
        &self,
        type_name: &str,
        id: &str,
        rendition_id: &str,
    ) -> Result<(), Error> {
        let url = self.instance_url(&Category::File, type_name, id, &["contents", rendition_id])?;
        self.cms_no_content(Method::DELETE, url, None, Repeat::Once)
            .await
    }

    /// One page of an instance's history: `GET …/{id}/history?include-total&page&items-per-page&sortby&filter`
    /// (see [`HistoryEntry`]; [`Client::history`] reads every page).
    ///
    /// # Errors
    ///
    /// As [`list_instances`](Self::list_instances).
    pub async fn list_history(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
        query: &ListQuery,
    ) -> Result<HalPage<HistoryEntry>, Error> {
        let mut url = self.instance_url(&category, type_name, id, &["history"])?;
        set_query(&mut url, &query.pairs());
        self.cms_json(Method::GET, url, None, Repeat::Safe, "history")
            .await
    }

    /// One page of a folder's items: `GET {cms}/instances/folder/{type_name}/{id}/items?…`
    /// ([`Client::folder_items`] reads every page).
    ///
    /// # Errors
    ///
    /// As [`list_instances`](Self::list_instances).
    pub async fn list_folder_items(
        &self,
        type_name: &str,
        folder_id: &str,
        query: &ListQuery,
    ) -> Result<HalPage<Instance>, Error> {
        let mut url = self.instance_url(&Category::Folder, type_name, folder_id, &["items"])?;
        set_query(&mut url, &query.pairs());
        self.cms_json(Method::GET, url, None, Repeat::Safe, "folder items")
            .await
    }
}
