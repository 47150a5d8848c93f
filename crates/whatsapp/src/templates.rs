//! Template management: list (paged, also as a stream), get, create, edit and delete the message
//! templates of a WhatsApp Business Account, and check at start-up that the templates a flow
//! sends exist and are approved.
//!
//! Business Management API, message-templates (needs `whatsapp_business_management`; these
//! endpoints are Business-Use-Case rate limited, see [`Client::business_use_case_usage`]):
//!
//! | Operation | Request | Answer |
//! |---|---|---|
//! | list | `GET /{WABA_ID}/message_templates?name=&limit=&after=` | `{"data":[{"id","name","language","status","category","components":[..]}],"paging":{"cursors":{"before","after"},"next"?}}` |
//! | create | `POST /{WABA_ID}/message_templates` `{"name","language","category","components":[..],"parameter_format"?}` | `{"id","status","category"}` |
//! | edit | `POST /{TEMPLATE_ID}` `{"components"?,"category"?}` | `{"success":true}` |
//! | delete | `DELETE /{WABA_ID}/message_templates?name=[&hsm_id=]` | `{"success":true}` |
//!
//! Deleting by name deletes every language of that name; with `hsm_id` (the template id) only
//! that template. Status changes arrive on the `message_template_status_update` webhook.

use futures::TryStreamExt as _;
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{Client, Success};
use crate::error::Error;
use crate::webhook::Extra;
use chatport_core::open_enum;

/// The templates of a WABA not read yet: `.pages()` streams one `Vec<TemplateInfo>` per page,
/// `.items()` the templates across pages (both `Unpin`; see [`chatport_core::paging`]).
///
/// **The paging rule of this crate**: a paginated call ([`Client::templates`]) takes its
/// arguments by reference and returns a `Listing`.
pub type Listing = chatport_core::Listing<Vec<TemplateInfo>, TemplateInfo, Error>;

/// Pages followed at most by [`Client::templates`] (a WABA holds up to 250 templates).
const MAX_PAGES: usize = 50;

open_enum! {
    /// `status` of a message template (the `event` values of `message_template_status_update`).
    pub enum TemplateStatus {
        /// Approved: can be sent.
        Approved => "APPROVED",
        /// In review.
        Pending => "PENDING",
        /// Rejected.
        Rejected => "REJECTED",
        /// Paused for low quality.
        Paused => "PAUSED",
        /// Disabled.
        Disabled => "DISABLED",
        /// Appealed.
        InAppeal => "IN_APPEAL",
        /// Waiting for deletion.
        PendingDeletion => "PENDING_DELETION",
        /// Deleted.
        Deleted => "DELETED",
        /// Archived.
        Archived => "ARCHIVED",
        /// Limit exceeded.
        LimitExceeded => "LIMIT_EXCEEDED",
        /// Locked.
        Locked => "LOCKED",
        /// Flagged.
        Flagged => "FLAGGED",
        /// Reinstated.
        Reinstated => "REINSTATED",
    }
}

open_enum! {
    /// `category` of a message template (Business Management API, message-templates; Meta:
    /// pricing): it decides the price and, for `AUTHENTICATION`, that the template needs the
    /// customer's phone number (not deliverable to a business-scoped user id, 131062).
    pub enum TemplateCategory {
        /// One-time passwords and other authentication codes.
        Authentication => "AUTHENTICATION",
        /// Marketing.
        Marketing => "MARKETING",
        /// Utility (order updates, account notices).
        Utility => "UTILITY",
    }
}

/// One template of `GET /{WABA_ID}/message_templates`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateInfo {
    /// Template id.
    #[serde(
        default,
        deserialize_with = "crate::webhook::model::lenient::string_or_empty"
    )]
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Language code, e.g. `en_US`.
    #[serde(default)]
    pub language: String,
    /// Review status.
    pub status: TemplateStatus,
    /// `MARKETING`, `UTILITY`, `AUTHENTICATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The components (header, body, footer, buttons), verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Value>,
    /// Fields not modelled here (`parameter_format`, `quality_score`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl TemplateInfo {
    /// [`TemplateInfo::category`] typed (`None` when Meta sent none).
    pub fn category_kind(&self) -> Option<TemplateCategory> {
        self.category.as_deref().map(TemplateCategory::from)
    }

    /// Whether it can be sent now.
    pub fn is_approved(&self) -> bool {
        self.status == TemplateStatus::Approved
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    data: Vec<TemplateInfo>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

/// A template the caller needs that is missing or not approved; see
/// [`Client::unapproved_templates`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TemplateProblem {
    /// Name asked for.
    pub name: String,
    /// Language asked for.
    pub language: String,
    /// Its status, `None` when it does not exist in that language.
    pub status: Option<TemplateStatus>,
}

/// A template to create ([`Client::create_template`]). `components` are Meta's component
/// objects verbatim (`HEADER` with `format` and `example`, `BODY`, `FOOTER`, `BUTTONS`, ...).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NewTemplate {
    /// Name: lower case letters, digits and `_`, at most 512 characters.
    pub name: String,
    /// Language code, e.g. `en_US`.
    pub language: String,
    /// Category.
    pub category: TemplateCategory,
    /// The components, verbatim.
    pub components: Vec<Value>,
    /// `positional` (default) or `named` placeholders.
    pub parameter_format: Option<String>,
}

impl NewTemplate {
    /// A template without components yet.
    pub fn new(
        name: impl Into<String>,
        language: impl Into<String>,
        category: TemplateCategory,
    ) -> Self {
        Self {
            name: name.into(),
            language: language.into(),
            category,
            components: Vec::new(),
            parameter_format: None,
        }
    }

    /// Adds a component object.
    #[must_use]
    pub fn component(mut self, component: Value) -> Self {
        self.components.push(component);
        self
    }

    /// Uses `{{name}}` placeholders (`parameter_format: named`).
    #[must_use]
    pub fn named_parameters(mut self) -> Self {
        self.parameter_format = Some("named".into());
        self
    }

    fn validate(&self) -> Result<(), Error> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 512
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err(Error::Invalid {
                field: "name",
                reason: "a template name is 1 to 512 lower case letters, digits or '_'",
            });
        }
        crate::interactive::non_empty("language", &self.language)?;
        if self.components.is_empty() {
            return Err(Error::Invalid {
                field: "components",
                reason: "a template needs at least a BODY component",
            });
        }
        Ok(())
    }
}

/// The answer to [`Client::create_template`]: `{"id","status","category"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedTemplate {
    /// The template id (`hsm_id` for a delete of this one template).
    #[serde(
        default,
        deserialize_with = "crate::webhook::model::lenient::string_or_empty"
    )]
    pub id: String,
    /// Review status (usually `PENDING`; `APPROVED` or `REJECTED` right away for some).
    pub status: TemplateStatus,
    /// The category Meta assigned (it may differ from the one asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Client {
    /// One page of `GET /{waba_id}/message_templates`, and the cursor of the next one.
    async fn template_page(
        &self,
        waba_id: &str,
        name: Option<&str>,
        after: Option<&str>,
    ) -> Result<(Vec<TemplateInfo>, Option<String>), Error> {
        let mut url = self.url(&[waba_id, "message_templates"], "waba_id")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", "100");
            if let Some(n) = name {
                q.append_pair("name", n);
            }
            if let Some(a) = after {
                q.append_pair("after", a);
            }
        }
        let request = self
            .inner
            .http
            .get(url)
            .bearer_auth(self.inner.token.expose_secret());
        let page: Page = self.execute("message_templates", request).await?;
        let next = page.paging.and_then(|p| {
            p.next.as_ref()?;
            p.cursors?.after
        });
        let next = next.filter(|cursor| !page.data.is_empty() && Some(cursor.as_str()) != after);
        Ok((page.data, next))
    }

    /// The templates of a WABA as a [`Listing`], optionally only those named `name`:
    /// `.pages()` streams the pages (100 templates each, fetched one at a time as the stream is
    /// read, following the `after` cursor, at most 50 pages), `.items()` the templates across
    /// pages. The arguments are taken by reference (copied inside). The streams stop after the
    /// first error, which they yield.
    ///
    /// ```no_run
    /// use chatport_whatsapp::Client;
    /// use futures::TryStreamExt as _;
    ///
    /// # async fn run(wa: Client) -> Result<(), chatport_whatsapp::Error> {
    /// let mut templates = wa.templates("102290129340398", None).items();
    /// while let Some(template) = templates.try_next().await? {
    ///     println!("{} ({}): {:?}", template.name, template.language, template.status);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Client::list_templates`], once per page.
    pub fn templates(&self, waba_id: &str, name: Option<&str>) -> Listing {
        let client = self.clone();
        let waba_id = waba_id.to_owned();
        let name = name.map(str::to_owned);
        let pages =
            futures::stream::try_unfold((Some(None::<String>), 0_usize), move |(after, pages)| {
                let client = client.clone();
                let waba_id = waba_id.clone();
                let name = name.clone();
                async move {
                    let Some(after) = after else {
                        return Ok::<_, Error>(None);
                    };
                    if pages >= MAX_PAGES {
                        return Ok(None);
                    }
                    let (page, next) = client
                        .template_page(&waba_id, name.as_deref(), after.as_deref())
                        .await?;
                    Ok(Some((page, (next.map(Some), pages + 1))))
                }
            });
        Listing::new(pages, |page: Vec<TemplateInfo>| page)
    }

    /// Lists the templates of a WABA, following the `after` cursor over all pages (at most 50),
    /// optionally only those named `name`: `templates(..).items()` collected.
    ///
    /// # Errors
    /// As [`Client::send`] (e.g. 100 for an unknown WABA id, 10 / 200 for a missing
    /// `whatsapp_business_management` permission, 4 / 80007 for the hourly management limits).
    pub async fn list_templates(
        &self,
        waba_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<TemplateInfo>, Error> {
        self.templates(waba_id, name).items().try_collect().await
    }

    /// Creates a template: `POST /{waba_id}/message_templates`. It can be sent once its status is
    /// `APPROVED` (a `message_template_status_update` webhook says when).
    ///
    /// # Errors
    /// [`Error::Invalid`] before sending for a bad name, an empty language or no component; then
    /// as [`Client::send`] (2388019: 250 templates already; 2388039... content rejected; 100 for a
    /// malformed component).
    pub async fn create_template(
        &self,
        waba_id: &str,
        template: &NewTemplate,
    ) -> Result<CreatedTemplate, Error> {
        template.validate()?;
        let url = self.url(&[waba_id, "message_templates"], "waba_id")?;
        let mut body = serde_json::json!({
            "name": template.name,
            "language": template.language,
            "category": template.category.as_str(),
            "components": template.components,
        });
        if let Some(format) = &template.parameter_format {
            body["parameter_format"] = Value::String(format.clone());
        }
        let request = self
            .inner
            .http
            .post(url)
            .bearer_auth(self.inner.token.expose_secret())
            .json(&body);
        self.execute("template_create", request).await
    }

    /// Edits a template: `POST /{template_id}` with new `components` and/or `category` (Meta
    /// limits how often an approved template may be edited).
    ///
    /// # Errors
    /// [`Error::Invalid`] when neither is given; then as [`Client::send`];
    /// [`Error::InvalidResponse`] when the answer is not `{"success":true}`.
    pub async fn edit_template(
        &self,
        template_id: &str,
        components: Option<&[Value]>,
        category: Option<&TemplateCategory>,
    ) -> Result<(), Error> {
        if components.is_none() && category.is_none() {
            return Err(Error::Invalid {
                field: "components",
                reason: "an edit changes the components, the category or both",
            });
        }
        let url = self.url(&[template_id], "template_id")?;
        let mut body = serde_json::Map::new();
        if let Some(c) = components {
            body.insert("components".into(), Value::Array(c.to_vec()));
        }
        if let Some(c) = category {
            body.insert("category".into(), Value::String(c.as_str().to_owned()));
        }
        let request = self
            .inner
            .http
            .post(url)
            .bearer_auth(self.inner.token.expose_secret())
            .json(&body);
        let answer: Success = self.execute("template_edit", request).await?;
        answer.into_result()
    }

    /// Deletes a template: `DELETE /{waba_id}/message_templates?name=…` (every language of
    /// `name`), or only the template `template_id` of that name (`&hsm_id=`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty name; then as [`Client::send`];
    /// [`Error::InvalidResponse`] when the answer is not `{"success":true}`.
    pub async fn delete_template(
        &self,
        waba_id: &str,
        name: &str,
        template_id: Option<&str>,
    ) -> Result<(), Error> {
        crate::interactive::non_empty("name", name)?;
        let mut url = self.url(&[waba_id, "message_templates"], "waba_id")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("name", name);
            if let Some(id) = template_id {
                q.append_pair("hsm_id", id);
            }
        }
        let request = self
            .inner
            .http
            .delete(url)
            .bearer_auth(self.inner.token.expose_secret());
        let answer: Success = self.execute("template_delete", request).await?;
        answer.into_result()
    }

    /// The template `name` in `language`, if the WABA has it.
    ///
    /// # Errors
    /// As [`Client::list_templates`].
    pub async fn get_template(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> Result<Option<TemplateInfo>, Error> {
        Ok(self
            .list_templates(waba_id, Some(name))
            .await?
            .into_iter()
            .find(|t| t.name == name && t.language == language))
    }

    /// Checks at start-up that every `(name, language)` exists and is approved; returns the ones
    /// that are not (empty when all are fine). One listing of the WABA's templates.
    ///
    /// # Errors
    /// As [`Client::list_templates`].
    pub async fn unapproved_templates(
        &self,
        waba_id: &str,
        wanted: &[(&str, &str)],
    ) -> Result<Vec<TemplateProblem>, Error> {
        let all = self.list_templates(waba_id, None).await?;
        Ok(wanted
            .iter()
            .filter_map(|(name, language)| {
                let found = all
                    .iter()
                    .find(|t| t.name == *name && t.language == *language);
                match found {
                    Some(t) if t.is_approved() => None,
                    other => Some(TemplateProblem {
                        name: (*name).to_owned(),
                        language: (*language).to_owned(),
                        status: other.map(|t| t.status.clone()),
                    }),
                }
            })
            .collect())
    }
}
