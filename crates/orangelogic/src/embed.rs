//! Batch public embed links: "Batch create or update public embed links"
//! (developer.orangelogic.com/reference/batch-create-or-update-public-embed-links; notes §2.8,
//! O5).
//!
//! `POST /webapi/objectmanagement/share/batchupsertassetlinkswithcustomroute_41FD_v1` with
//! `Content-Type: application/json-patch+json` and the body
//! `{"records":[{"title"?,"customRoute","assetID","format","fileExtension"?,"transformations"?,
//! "expirationDate"?}],"executionOptions":{"executeAsynchronously":bool}}`; at most 10,000
//! records per call; needs the `GetBulkPermanentLinks` security function. The links work like
//! the custom links users make in the Embed Links extension: the public URL is the instance host
//! plus `customRoute`.
//!
//! **The answer is not documented** (the page's examples send `accept: text/plain` and show no
//! body). It is kept whole in [`EmbedLinksAnswer::raw`] (JSON when it parses, else the text), and
//! per-record results are read leniently when the answer is a list of objects (or an object
//! wrapping one) naming `customRoute` / `assetID` and a URL or an error.

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;
use crate::client::{Client, Repeat, join};
use crate::http::{Family, get_ci_text};

/// The documented path of the batch embed-links call.
pub const EMBED_LINKS_PATH: &str =
    "/webapi/objectmanagement/share/batchupsertassetlinkswithcustomroute_41FD_v1";
/// The documented content type of its body.
pub const JSON_PATCH_CONTENT_TYPE: &str = "application/json-patch+json";
/// Most records one call accepts (the vendor's limit).
pub const MAX_EMBED_LINKS: usize = 10_000;

/// One public embed link to create or update (a `records[]` item).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbedLinkRecord {
    /// `title` (e.g. `Instagram`); not sent when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `customRoute`: the link's path on the instance host, e.g.
    /// `/public/Promenade-des-Anglais-Nice-TR1.auto`. The same route again updates the link.
    #[serde(rename = "customRoute")]
    pub custom_route: String,
    /// `assetID`: the asset's identifier (e.g. `Q1N3620`).
    #[serde(rename = "assetID")]
    pub asset_id: String,
    /// `format`: the asset format (`TR1`, `TRX`, …).
    pub format: String,
    /// `fileExtension` (e.g. `.auto`); not sent when `None`.
    #[serde(
        rename = "fileExtension",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub file_extension: Option<String>,
    /// `transformations`, in order, e.g. `c_x_0,c_y_129,c_w_656,c_h_364,c_whu_Pixel` (crop) and
    /// `r_a_10` (rotate); not sent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transformations: Vec<String>,
    /// `expirationDate` (ISO 8601, UTC, milliseconds as in the vendor's example); not sent when
    /// `None`.
    #[serde(
        rename = "expirationDate",
        default,
        skip_serializing_if = "Option::is_none",
        with = "iso_millis"
    )]
    pub expiration_date: Option<DateTime<Utc>>,
}

impl EmbedLinkRecord {
    /// A link at `custom_route` to `format` of the asset `asset_id`.
    pub fn new(custom_route: &str, asset_id: &str, format: &str) -> Self {
        Self {
            title: None,
            custom_route: custom_route.to_owned(),
            asset_id: asset_id.to_owned(),
            format: format.to_owned(),
            file_extension: None,
            transformations: Vec::new(),
            expiration_date: None,
        }
    }

    /// Sets `title`.
    pub fn title(mut self, title: &str) -> Self {
        self.title = Some(title.to_owned());
        self
    }

    /// Sets `fileExtension`.
    pub fn file_extension(mut self, ext: &str) -> Self {
        self.file_extension = Some(ext.to_owned());
        self
    }

    /// Appends a transformation.
    pub fn transformation(mut self, t: &str) -> Self {
        self.transformations.push(t.to_owned());
        self
    }

    /// Sets `expirationDate`.
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expiration_date = Some(at);
        self
    }
}

mod iso_millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

/// The body of a batch embed-links call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbedLinksRequest {
    /// `records` (1 to [`MAX_EMBED_LINKS`]).
    pub records: Vec<EmbedLinkRecord>,
    /// `executionOptions`.
    #[serde(rename = "executionOptions")]
    pub execution_options: ExecutionOptions,
}

/// `executionOptions` of an [`EmbedLinksRequest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExecutionOptions {
    /// `executeAsynchronously`: `true` queues the work and answers at once; `false` (the
    /// default here) answers when the links exist.
    #[serde(rename = "executeAsynchronously")]
    pub execute_asynchronously: bool,
}

impl EmbedLinksRequest {
    /// A synchronous request for `records`.
    pub fn new(records: Vec<EmbedLinkRecord>) -> Self {
        Self {
            records,
            execution_options: ExecutionOptions::default(),
        }
    }

    /// Sets `executionOptions.executeAsynchronously`.
    pub fn asynchronously(mut self, yes: bool) -> Self {
        self.execution_options.execute_asynchronously = yes;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.records.is_empty() || self.records.len() > MAX_EMBED_LINKS {
            return Err(Error::InvalidInput(format!(
                "a batch of embed links holds 1 to {MAX_EMBED_LINKS} records"
            )));
        }
        for r in &self.records {
            if !r.custom_route.starts_with('/') {
                return Err(Error::InvalidInput(
                    "an embed link's customRoute must start with `/`".into(),
                ));
            }
            if r.asset_id.trim().is_empty() || r.format.trim().is_empty() {
                return Err(Error::InvalidInput(
                    "an embed link needs an assetID and a format".into(),
                ));
            }
        }
        Ok(())
    }
}

/// One per-record result read from the answer (see the [module docs](self): the answer's shape
/// is not documented).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EmbedLinkResult {
    /// `customRoute`, when the item names it.
    pub custom_route: Option<String>,
    /// `assetID`, when the item names it.
    pub asset_id: Option<String>,
    /// A URL (`url`, `link`, `publicUrl`, `embedUrl`), when the item has one.
    pub url: Option<String>,
    /// An error text (`error`, `errorMessage`, `message`), when the item has one.
    pub error: Option<String>,
    /// The item as sent.
    pub extra: Map<String, Value>,
}

/// The answer of a batch embed-links call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EmbedLinksAnswer {
    /// Per-record results, when the answer lists them (empty otherwise, e.g. for an
    /// asynchronous call or a plain-text answer).
    pub results: Vec<EmbedLinkResult>,
    /// The whole answer: JSON, or the text as a JSON string (`null` when empty).
    pub raw: Value,
}

fn result_items(value: &Value) -> Vec<Map<String, Value>> {
    match value {
        Value::Array(items) => items.iter().filter_map(Value::as_object).cloned().collect(),
        Value::Object(obj) => match obj.values().find(|v| v.is_array()) {
            Some(list) => result_items(list),
            None if get_ci_text(obj, &["customRoute", "assetID"]).is_some() => vec![obj.clone()],
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

impl Client {
    /// Creates or updates public embed links in one call (see the [module docs](crate::embed)):
    /// `POST {base}`[`EMBED_LINKS_PATH`] with `Content-Type: application/json-patch+json`. The
    /// public URL of each link is the instance host plus its `customRoute`
    /// ([`Client::embed_link_url`]). An upsert by route, so it is retried in-client like a read.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for no records, more than [`MAX_EMBED_LINKS`], a route without a
    /// leading `/`, or an empty asset id or format; HTTP and transport errors (a 403 when the
    /// account lacks `GetBulkPermanentLinks`).
    pub async fn upsert_embed_links(
        &self,
        request: &EmbedLinksRequest,
    ) -> Result<EmbedLinksAnswer, Error> {
        request.validate()?;
        let body = serde_json::to_vec(request)
            .map_err(|e| Error::InvalidInput(format!("could not serialise the request: {e}")))?;
        let path = self
            .inner
            .links
            .embed_links_path
            .clone()
            .unwrap_or_else(|| EMBED_LINKS_PATH.to_owned());
        let url = self.url(&path)?;
        let raw = self
            .send(
                Family::WebApiText,
                "embed links",
                Repeat::Safe,
                |http, token| {
                    Ok(Client::authorize(
                        http.post(url.clone())
                            .header(ACCEPT, "application/json, text/plain;q=0.9")
                            .header(CONTENT_TYPE, JSON_PATCH_CONTENT_TYPE)
                            .body(body.clone()),
                        token,
                    ))
                },
            )
            .await?;
        let results = result_items(&raw)
            .into_iter()
            .map(|item| EmbedLinkResult {
                custom_route: get_ci_text(&item, &["customRoute"]),
                asset_id: get_ci_text(&item, &["assetID", "assetId"]),
                url: get_ci_text(&item, &["url", "link", "publicUrl", "embedUrl"]),
                error: get_ci_text(&item, &["error", "errorMessage", "message"]),
                extra: item,
            })
            .collect();
        Ok(EmbedLinksAnswer { results, raw })
    }

    /// The public URL of an embed link: the instance base URL plus `custom_route`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a route without a leading `/`; [`Error::Config`] when the
    /// URL does not parse.
    pub fn embed_link_url(&self, custom_route: &str) -> Result<url::Url, Error> {
        if !custom_route.starts_with('/') {
            return Err(Error::InvalidInput(
                "an embed link's customRoute must start with `/`".into(),
            ));
        }
        join(&self.inner.base_url, custom_route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn the_request_is_shaped_as_documented() {
        let at = Utc.with_ymd_and_hms(2026, 7, 25, 12, 55, 5).unwrap()
            + chrono::Duration::milliseconds(943);
        let req = EmbedLinksRequest::new(vec![
            EmbedLinkRecord::new(
                "/public/Promenade-des-Anglais-Nice-TR1.auto",
                "Q1N3620",
                "TR1",
            )
            .title("Instagram")
            .file_extension(".auto")
            .transformation("c_x_0,c_y_129,c_w_656,c_h_364,c_whu_Pixel")
            .transformation("r_a_10")
            .expires_at(at),
            EmbedLinkRecord::new(
                "/public/Historic-village-in-Provence-TR1.auto",
                "Q1N3670",
                "TR1",
            ),
        ])
        .asynchronously(true);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "records": [
                    {"title": "Instagram", "customRoute": "/public/Promenade-des-Anglais-Nice-TR1.auto",
                     "assetID": "Q1N3620", "format": "TR1", "fileExtension": ".auto",
                     "transformations": ["c_x_0,c_y_129,c_w_656,c_h_364,c_whu_Pixel", "r_a_10"],
                     "expirationDate": "2026-07-25T12:55:05.943Z"},
                    {"customRoute": "/public/Historic-village-in-Provence-TR1.auto",
                     "assetID": "Q1N3670", "format": "TR1"}
                ],
                "executionOptions": {"executeAsynchronously": true}
            })
        );
        let back: EmbedLinksRequest =
            serde_json::from_value(serde_json::to_value(&req).unwrap()).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn validation_and_lenient_results() {
        assert!(EmbedLinksRequest::new(vec![]).validate().is_err());
        assert!(
            EmbedLinksRequest::new(vec![EmbedLinkRecord::new("public/x", "A", "TR1")])
                .validate()
                .is_err()
        );
        assert!(
            EmbedLinksRequest::new(vec![EmbedLinkRecord::new("/p/x", " ", "TR1")])
                .validate()
                .is_err()
        );
        let many = vec![EmbedLinkRecord::new("/p/x", "A", "TR1"); MAX_EMBED_LINKS + 1];
        assert!(EmbedLinksRequest::new(many).validate().is_err());
        let items = result_items(&json!({"results": [{"customRoute": "/p/x", "url": "u"}]}));
        assert_eq!(items.len(), 1);
        assert!(result_items(&json!("queued")).is_empty());
        assert!(result_items(&json!({"status": "ok"})).is_empty());
    }
}
