//! The `X-Business-Use-Case-Usage` answer header: how much of its Business Use Case rate limit
//! an app has used, per business object (Meta: Graph API, rate-limiting, "Business Use Case Rate
//! Limits"; WhatsApp Business Management API requests are BUC-limited).
//!
//! Shape: a JSON object keyed by business object id (the WABA), each value an array of
//! `{"type", "call_count", "total_cputime", "total_time", "estimated_time_to_regain_access"}`:
//! the three counts are **percentages** of the limit (0–100), `estimated_time_to_regain_access`
//! is in **minutes** (0 when not throttled). Meta sends it on answers to BUC-limited calls, not
//! necessarily on every answer: its absence is not "zero usage".

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The header name, lower case.
pub const BUSINESS_USE_CASE_USAGE_HEADER: &str = "x-business-use-case-usage";

/// One usage entry: a business object and one use case type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UseCaseUsage {
    /// The business object id the usage is counted for (the header's key, e.g. a WABA id).
    pub business_id: String,
    /// The use case, e.g. `whatsapp_business_management`, `whatsapp_business_messaging`.
    pub usage_type: String,
    /// Calls made, percent of the limit.
    pub call_count: u32,
    /// CPU time used, percent of the limit.
    pub total_cputime: u32,
    /// Total time used, percent of the limit.
    pub total_time: u32,
    /// Minutes until calls are allowed again; 0 (or absent) when not throttled.
    pub estimated_time_to_regain_access: u32,
}

impl UseCaseUsage {
    /// The highest of the three percentages.
    pub fn percent(&self) -> u32 {
        self.call_count.max(self.total_cputime).max(self.total_time)
    }
}

/// A parsed `X-Business-Use-Case-Usage` header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BusinessUseCaseUsage {
    /// Every entry, in the header's order of business ids.
    pub entries: Vec<UseCaseUsage>,
}

impl BusinessUseCaseUsage {
    /// Parses the header value. Lenient: numbers may be strings, unknown fields are ignored, an
    /// entry without a `type` is kept with an empty one. `None` for a value that is not a JSON
    /// object of arrays.
    pub fn parse(value: &str) -> Option<Self> {
        let map: BTreeMap<String, Value> = serde_json::from_str(value).ok()?;
        let mut entries = Vec::new();
        for (business_id, items) in map {
            let Value::Array(items) = items else {
                return None;
            };
            for item in items {
                let number = |key: &str| -> u32 {
                    match item.get(key) {
                        Some(Value::Number(n)) => {
                            n.as_u64()
                                .or_else(|| n.as_f64().map(|f| f.max(0.0).round() as u64))
                                .unwrap_or(0)
                                .min(u64::from(u32::MAX)) as u32
                        }
                        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
                        _ => 0,
                    }
                };
                entries.push(UseCaseUsage {
                    business_id: business_id.clone(),
                    usage_type: item
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    call_count: number("call_count"),
                    total_cputime: number("total_cputime"),
                    total_time: number("total_time"),
                    estimated_time_to_regain_access: number("estimated_time_to_regain_access"),
                });
            }
        }
        Some(Self { entries })
    }

    /// The highest percentage over all entries (0 when empty).
    pub fn max_percent(&self) -> u32 {
        self.entries
            .iter()
            .map(UseCaseUsage::percent)
            .max()
            .unwrap_or(0)
    }

    /// How long until access is regained, when any entry is throttled (the longest wait).
    pub fn regain_access_in(&self) -> Option<Duration> {
        self.entries
            .iter()
            .map(|e| e.estimated_time_to_regain_access)
            .filter(|m| *m > 0)
            .max()
            .map(|m| Duration::from_secs(u64::from(m) * 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meta_shaped_header() {
        let header = r#"{"102290129340398":[{"type":"whatsapp_business_management","call_count":28,"total_cputime":12,"total_time":35,"estimated_time_to_regain_access":0}],"1":[{"type":"whatsapp_business_messaging","call_count":"100","total_cputime":3,"total_time":4,"estimated_time_to_regain_access":7}]}"#;
        let usage = BusinessUseCaseUsage::parse(header).unwrap();
        assert_eq!(usage.entries.len(), 2);
        let waba = usage
            .entries
            .iter()
            .find(|e| e.business_id == "102290129340398")
            .unwrap();
        assert_eq!(waba.usage_type, "whatsapp_business_management");
        assert_eq!(
            (waba.call_count, waba.total_cputime, waba.total_time),
            (28, 12, 35)
        );
        assert_eq!(waba.percent(), 35);
        assert_eq!(usage.max_percent(), 100);
        assert_eq!(usage.regain_access_in(), Some(Duration::from_secs(420)));
        assert_eq!(BusinessUseCaseUsage::parse("[]"), None);
        assert_eq!(BusinessUseCaseUsage::parse(r#"{"1":7}"#), None);
        assert_eq!(
            BusinessUseCaseUsage::parse("{}")
                .unwrap()
                .regain_access_in(),
            None
        );
    }
}
