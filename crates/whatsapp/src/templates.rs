//! Template management (read side): list and get the message templates of a WhatsApp Business
//! Account, so a flow can check at start-up that the templates it sends exist and are approved.
//!
//! `GET /{WABA_ID}/message_templates?name=&status=&limit=&after=` →
//! `{"data":[{"id","name","language","status","category","components":[..]}],
//! "paging":{"cursors":{"before","after"},"next"?}}` (Business Management API, message-templates;
//! needs `whatsapp_business_management`; these endpoints have an app rate limit of 200 requests
//! per hour per WABA by default).

use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::Client;
use crate::error::Error;
use crate::webhook::Extra;
use chatport_core::open_enum;

/// Pages followed at most by [`Client::list_templates`] (a WABA holds up to 250 templates).
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

impl Client {
    /// Lists the templates of a WABA, following the `after` cursor over all pages (at most 50),
    /// optionally only those named `name`.
    ///
    /// # Errors
    /// As [`Client::send`] (e.g. 100 for an unknown WABA id, 10 / 200 for a missing
    /// `whatsapp_business_management` permission, 4 / 80007 for the hourly management limits).
    pub async fn list_templates(
        &self,
        waba_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<TemplateInfo>, Error> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self.url(&[waba_id, "message_templates"], "waba_id")?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("limit", "100");
                if let Some(n) = name {
                    q.append_pair("name", n);
                }
                if let Some(a) = &after {
                    q.append_pair("after", a);
                }
            }
            let request = self
                .inner
                .http
                .get(url)
                .bearer_auth(self.inner.token.expose_secret());
            let page: Page = self.execute("message_templates", request).await?;
            let got = page.data.len();
            all.extend(page.data);
            let next = page.paging.and_then(|p| {
                p.next.as_ref()?;
                p.cursors?.after
            });
            match next {
                Some(cursor) if got > 0 && after.as_ref() != Some(&cursor) => after = Some(cursor),
                _ => break,
            }
        }
        Ok(all)
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
