//! Configurable stand-ins for what OrangeDAM does not document publicly: comments, workflow /
//! approval state, and usage-rights expiry fields.
//!
//! `shared/api/opentext-orangelogic.md` §2.4 and §2.11: a comments API and a workflow/approval API
//! were **not found**, and no standard expiration or usage-rights field is documented (customers
//! define their own, e.g. `MAY.Usage-Rights-End`). chatport therefore never guesses a field name:
//! it writes feedback and reads states and dates from fields **you** configure, through the
//! documented DataTable and Search calls. If your instance has a real comments or workflow API,
//! these helpers are the wrong tool: call it with [`Client::datatable`] or your own request.

use chrono::NaiveDate;

use crate::datatable::{Action, AssetRef, DataTableCall, DataTableResponse};
use crate::{Client, Error, Query};

/// Where a piece of feedback (a comment) on an asset is written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedbackTarget {
    /// Replace the value of this field (`Field:=text`): keeps only the latest feedback.
    ReplaceField {
        /// The field's API name, e.g. `MAY.Regional-Feedback`.
        field: String,
    },
    /// Append to this text field: read it, then set `old + separator + text`. **Not atomic**:
    /// two writers at the same moment can lose one entry.
    AppendToField {
        /// The field's API name.
        field: String,
        /// Put between entries, e.g. `"\n"`.
        separator: String,
    },
    /// Add the text as a tag of this authority-list field (`Field++=text`, created when
    /// missing). The text may not contain `|`.
    Tag {
        /// The field's API name, e.g. `CoreField.Keywords`.
        field: String,
    },
}

impl Client {
    /// Writes `text` onto an asset per `target` (see [`FeedbackTarget`]). With a
    /// [`FeedbackTarget::ReplaceField`] or [`FeedbackTarget::Tag`] target, repeating the call
    /// has no further effect, so it is safe to retry.
    ///
    /// # Errors
    ///
    /// As [`Client::datatable`]; [`Error::InvalidInput`] for a tag containing `|`.
    pub async fn record_feedback(
        &self,
        asset: &AssetRef,
        target: &FeedbackTarget,
        text: &str,
    ) -> Result<DataTableResponse, Error> {
        let (f, v) = asset.pair();
        let base = DataTableCall::new("Documents.All", Action::Update)
            .version(&self.inner.datatable_version)
            .filter(f, v);
        let call = match target {
            FeedbackTarget::ReplaceField { field } => base.set(field, text),
            FeedbackTarget::Tag { field } => base.add_or_create(field, [text]),
            FeedbackTarget::AppendToField { field, separator } => {
                let current = self
                    .read_asset(asset)
                    .await?
                    .and_then(|r| r.text(field))
                    .unwrap_or_default();
                let value = if current.is_empty() {
                    text.to_owned()
                } else {
                    format!("{current}{separator}{text}")
                };
                base.set(field, &value)
            }
        };
        self.datatable(&call).await
    }

    /// The value of a configured state field of an asset (e.g. a review / approval status field
    /// your instance maintains), `None` when the asset or the field is absent.
    ///
    /// # Errors
    ///
    /// As [`Client::read_asset`].
    pub async fn asset_field(
        &self,
        asset: &AssetRef,
        field: &str,
    ) -> Result<Option<String>, Error> {
        Ok(self.read_asset(asset).await?.and_then(|r| r.text(field)))
    }
}

/// A search for assets whose date field (a configured usage-rights / licence end field, in the
/// search API's naming) falls within `from..=to`: `field>:from AND field<:to`, dates written
/// `yyyy-mm-dd`. The range operators are documented (`MediaDate>:…`); that custom date fields
/// accept them with this date format is **inferred**.
///
/// ```
/// use chatport_orangelogic::date_range_query;
/// use chrono::NaiveDate;
///
/// let q = date_range_query(
///     "MAY.Rights-End",
///     NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
///     NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
/// );
/// assert_eq!(q.as_str(), "MAY.Rights-End>:2026-03-01 AND MAY.Rights-End<:2026-03-31");
/// ```
pub fn date_range_query(field: &str, from: NaiveDate, to: NaiveDate) -> Query {
    let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    Query::at_least(field, &fmt(from)).and(Query::at_most(field, &fmt(to)))
}
