//! Links: presigned cloud-storage links with an expiry, and public share links.
//!
//! Follows `shared/api/opentext-orangelogic.md` §2.8. The presigned-links call takes per asset a
//! `RecordID`, a `Format` (`TRX`, `TR1`, …), a generate-if-needed flag (404 while generating),
//! a skip-existence-check flag and an expiration written `[x]d[y]h[z]m` (default 10 minutes), and
//! answers a list of record id → URL with an `error` per item. Public share links are expirable
//! links anyone can open.
//!
//! # Assumptions (not public)
//!
//! The exact paths and JSON field spellings of both calls were **not found** in public material.
//! Both paths are [`LinkConfig`] settings with no default; a call without its path fails with
//! [`Error::NotConfigured`]. The client sends JSON
//! `{"expiration":"1d2h","assets":[{"recordID","format","generateIfNeeded","skipExistenceCheck"}]}`
//! for presigned links and `{"recordID","format","expirationDate","allowDownload"}` for a share
//! link, and reads answers leniently (case-insensitive keys; `url`, `link` or `presignedUrl`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::ACCEPT;
use serde_json::{Map, Value, json};

use crate::Error;
use crate::client::{Client, Repeat};
use crate::http::{Family, get_ci_text};

/// A link lifetime in OrangeDAM's `[x]d[y]h[z]m` form, whole minutes, at least one minute.
///
/// ```
/// use chatport_orangelogic::LinkExpiry;
/// use std::time::Duration;
///
/// let e = LinkExpiry::from_duration(Duration::from_secs(93_780)).unwrap();
/// assert_eq!(e.to_string(), "1d2h3m");
/// assert_eq!("1d2h3m".parse::<LinkExpiry>().unwrap(), e);
/// assert_eq!(LinkExpiry::from_duration(Duration::from_secs(3600)).unwrap().to_string(), "1h");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkExpiry {
    minutes: u64,
}

impl LinkExpiry {
    /// The vendor's default: 10 minutes.
    pub const DEFAULT: LinkExpiry = LinkExpiry { minutes: 10 };

    /// From a duration, rounded **down** to whole minutes (a link never lives longer than asked).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for less than one minute.
    pub fn from_duration(d: Duration) -> Result<Self, Error> {
        let minutes = d.as_secs() / 60;
        if minutes == 0 {
            return Err(Error::InvalidInput(
                "a link expiry must be at least one minute".into(),
            ));
        }
        Ok(Self { minutes })
    }

    /// From whole minutes (at least 1).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for zero.
    pub fn from_minutes(minutes: u64) -> Result<Self, Error> {
        Self::from_duration(Duration::from_secs(minutes.saturating_mul(60)))
    }

    /// The lifetime.
    pub fn as_duration(&self) -> Duration {
        Duration::from_secs(self.minutes * 60)
    }
}

impl fmt::Display for LinkExpiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.minutes / (24 * 60);
        let hours = (self.minutes / 60) % 24;
        let minutes = self.minutes % 60;
        if days > 0 {
            write!(f, "{days}d")?;
        }
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        Ok(())
    }
}

impl FromStr for LinkExpiry {
    type Err = Error;

    /// Parses `1d2h3m`, `2h`, `45m`, `1d30m` (units in this order, each at most once,
    /// case-insensitive).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidInput(format!("`{s}` is not an expiry like 1d2h3m"));
        let mut minutes: u64 = 0;
        let mut number = String::new();
        let mut last_unit = 0u8;
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let (rank, factor) = match c.to_ascii_lowercase() {
                'd' => (1, 24 * 60),
                'h' => (2, 60),
                'm' => (3, 1),
                _ => return Err(bad()),
            };
            if number.is_empty() || rank <= last_unit {
                return Err(bad());
            }
            let n: u64 = number.parse().map_err(|_| bad())?;
            minutes = n
                .checked_mul(factor)
                .and_then(|v| minutes.checked_add(v))
                .ok_or_else(bad)?;
            number.clear();
            last_unit = rank;
        }
        if !number.is_empty() || last_unit == 0 {
            return Err(bad());
        }
        Self::from_minutes(minutes)
    }
}

/// Link endpoints (see the [module docs](self)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkConfig {
    /// Path of the batch presigned-links call.
    pub presigned_path: Option<String>,
    /// Path of the public-share-link call; `None` disables public share links.
    pub public_share_path: Option<String>,
    /// Path of the batch embed-links call; `None` means the documented
    /// [`EMBED_LINKS_PATH`](crate::EMBED_LINKS_PATH).
    pub embed_links_path: Option<String>,
}

impl LinkConfig {
    /// Sets the presigned-links path.
    pub fn presigned_path(mut self, path: &str) -> Self {
        self.presigned_path = Some(path.to_owned());
        self
    }

    /// Sets the public-share-link path.
    pub fn public_share_path(mut self, path: &str) -> Self {
        self.public_share_path = Some(path.to_owned());
        self
    }

    /// Overrides the batch embed-links path (default
    /// [`EMBED_LINKS_PATH`](crate::EMBED_LINKS_PATH)).
    pub fn embed_links_path(mut self, path: &str) -> Self {
        self.embed_links_path = Some(path.to_owned());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = [
            &self.presigned_path,
            &self.public_share_path,
            &self.embed_links_path,
        ]
        .into_iter()
        .flatten()
        .any(|p| !p.starts_with('/'));
        if bad {
            return Err(Error::Config("link paths must start with `/`".into()));
        }
        Ok(())
    }
}

/// One asset and format to get a presigned link for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresignedLinkRequest {
    /// The asset's `RecordID`.
    pub record_id: String,
    /// The format (`TRX`, `TR1`, `WebHigh`, …).
    pub format: String,
    /// Generate the format if it does not exist yet (the server answers 404 while generating).
    pub generate_if_needed: bool,
    /// Skip the server's existence check.
    pub skip_existence_check: bool,
}

impl PresignedLinkRequest {
    /// A request for `format` of `record_id`, generating it if needed.
    pub fn new(record_id: &str, format: &str) -> Self {
        Self {
            record_id: record_id.to_owned(),
            format: format.to_owned(),
            generate_if_needed: true,
            skip_existence_check: false,
        }
    }
}

/// One presigned link (or the error for that asset).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PresignedLink {
    /// The asset's `RecordID`, as answered.
    pub record_id: Option<String>,
    /// The format, as answered.
    pub format: Option<String>,
    /// The URL, when one was issued.
    pub url: Option<String>,
    /// The per-asset error text, when the server gave one. Vendor free text.
    pub error: Option<String>,
    /// Every field of the answer item.
    pub extra: Map<String, Value>,
}

/// A public share link request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublicShareRequest {
    /// The asset's `RecordID`.
    pub record_id: String,
    /// The format to share (`None`: the server's default).
    pub format: Option<String>,
    /// When the link stops working (`None`: the server's default).
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether downloading is allowed.
    pub allow_download: bool,
}

impl PublicShareRequest {
    /// A share of `record_id` with the server's defaults, downloads allowed.
    pub fn new(record_id: &str) -> Self {
        Self {
            record_id: record_id.to_owned(),
            format: None,
            expires_at: None,
            allow_download: true,
        }
    }
}

/// A public share link.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PublicShareLink {
    /// The link.
    pub url: String,
    /// The whole answer.
    pub raw: Value,
}

fn link_items(value: &Value) -> Vec<Map<String, Value>> {
    match value {
        Value::Array(items) => items.iter().filter_map(Value::as_object).cloned().collect(),
        Value::Object(obj) => {
            // An object wrapping the list, or one item.
            match obj.values().find(|v| v.is_array()) {
                Some(list) => link_items(list),
                None => vec![obj.clone()],
            }
        }
        _ => Vec::new(),
    }
}

const URL_KEYS: &[&str] = &["url", "link", "presignedUrl", "presignedLink", "uri"];

impl Client {
    /// Presigned links for several assets at once, valid for `expiry`.
    ///
    /// # Errors
    ///
    /// [`Error::NotConfigured`] without [`LinkConfig::presigned_path`];
    /// [`Error::InvalidInput`] for an empty list or record id; HTTP and transport errors (a 404
    /// can mean "still generating": ask again later).
    pub async fn presigned_links(
        &self,
        requests: &[PresignedLinkRequest],
        expiry: LinkExpiry,
    ) -> Result<Vec<PresignedLink>, Error> {
        let path = self
            .inner
            .links
            .presigned_path
            .clone()
            .ok_or(Error::NotConfigured("links.presigned_path"))?;
        if requests.is_empty() || requests.iter().any(|r| r.record_id.trim().is_empty()) {
            return Err(Error::InvalidInput(
                "presigned links need at least one non-empty record id".into(),
            ));
        }
        let body = json!({
            "expiration": expiry.to_string(),
            "assets": requests.iter().map(|r| json!({
                "recordID": r.record_id,
                "format": r.format,
                "generateIfNeeded": r.generate_if_needed,
                "skipExistenceCheck": r.skip_existence_check,
            })).collect::<Vec<_>>(),
        });
        let url = self.url(&path)?;
        let value = self
            .send(
                Family::WebApi,
                "presigned links",
                Repeat::Safe,
                |http, token| {
                    Ok(Client::authorize(
                        http.post(url.clone())
                            .header(ACCEPT, "application/json")
                            .json(&body),
                        token,
                    ))
                },
            )
            .await?;
        Ok(link_items(&value)
            .into_iter()
            .map(|item| PresignedLink {
                record_id: get_ci_text(&item, &["recordID", "RecordId"]),
                format: get_ci_text(&item, &["format"]),
                url: get_ci_text(&item, URL_KEYS),
                error: get_ci_text(&item, &["error", "errorMessage"]),
                extra: item,
            })
            .collect())
    }

    /// A public share link, where the instance has them and [`LinkConfig::public_share_path`] is
    /// set.
    ///
    /// # Errors
    ///
    /// [`Error::NotConfigured`] without the path; [`Error::Decode`] when the answer holds no
    /// URL; HTTP and transport errors.
    pub async fn public_share_link(
        &self,
        request: &PublicShareRequest,
    ) -> Result<PublicShareLink, Error> {
        let path = self
            .inner
            .links
            .public_share_path
            .clone()
            .ok_or(Error::NotConfigured("links.public_share_path"))?;
        if request.record_id.trim().is_empty() {
            return Err(Error::InvalidInput("empty record id".into()));
        }
        let mut body = json!({
            "recordID": request.record_id,
            "allowDownload": request.allow_download,
        });
        if let Some(format) = &request.format {
            body["format"] = json!(format);
        }
        if let Some(at) = request.expires_at {
            body["expirationDate"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        let url = self.url(&path)?;
        let raw = self
            .send(
                Family::WebApi,
                "public share link",
                Repeat::Once,
                |http, token| {
                    Ok(Client::authorize(
                        http.post(url.clone())
                            .header(ACCEPT, "application/json")
                            .json(&body),
                        token,
                    ))
                },
            )
            .await?;
        let link = link_items(&raw)
            .iter()
            .find_map(|i| get_ci_text(i, URL_KEYS))
            .ok_or_else(|| Error::Decode {
                status: 200,
                what: "public share link",
                reason: "no url in the answer".into(),
            })?;
        Ok(PublicShareLink { url: link, raw })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> LinkExpiry {
        s.parse().unwrap()
    }

    #[test]
    fn formats() {
        let m = |n| LinkExpiry::from_minutes(n).unwrap().to_string();
        assert_eq!(m(1), "1m");
        assert_eq!(m(59), "59m");
        assert_eq!(m(60), "1h");
        assert_eq!(m(61), "1h1m");
        assert_eq!(m(24 * 60), "1d");
        assert_eq!(m(24 * 60 + 3), "1d3m");
        assert_eq!(m(3 * 24 * 60 + 23 * 60 + 59), "3d23h59m");
        assert_eq!(LinkExpiry::DEFAULT.to_string(), "10m");
        // Rounds down, never up.
        assert_eq!(
            LinkExpiry::from_duration(Duration::from_secs(119))
                .unwrap()
                .to_string(),
            "1m"
        );
        assert!(LinkExpiry::from_duration(Duration::from_secs(59)).is_err());
        assert!(LinkExpiry::from_minutes(0).is_err());
    }

    #[test]
    fn parses() {
        assert_eq!(e("1d2h3m").as_duration(), Duration::from_secs(93_780));
        assert_eq!(e("2H"), LinkExpiry::from_minutes(120).unwrap());
        assert_eq!(e("90m").to_string(), "1h30m");
        assert_eq!(e("1d30m").to_string(), "1d30m");
        for bad in ["", "1", "d", "1h2d", "1m1m", "1x", "1d 2h", "0m", "h1"] {
            assert!(bad.parse::<LinkExpiry>().is_err(), "{bad}");
        }
        for n in [1u64, 7, 60, 1439, 1440, 1441, 99_999] {
            let x = LinkExpiry::from_minutes(n).unwrap();
            assert_eq!(x.to_string().parse::<LinkExpiry>().unwrap(), x);
        }
    }

    #[test]
    fn lenient_link_items() {
        let v = serde_json::json!({"results":[{"RecordID":"R1","Format":"TR1","URL":"https://x/1"},{"recordId":"R2","error":"not found"}]});
        let items = link_items(&v);
        assert_eq!(items.len(), 2);
        assert_eq!(
            get_ci_text(&items[0], URL_KEYS).as_deref(),
            Some("https://x/1")
        );
        assert_eq!(link_items(&serde_json::json!({"url":"u"})).len(), 1);
        assert!(
            LinkConfig::default()
                .presigned_path("x")
                .validate()
                .is_err()
        );
    }
}
