//! **L3 rights expiry watch**: a scheduled search finds assets whose usage-rights / licence end
//! date (a configured field; OrangeDAM has no standard one) falls within the configured
//! thresholds (e.g. 30, 7 and 1 days) and alerts the owners and legal — once per asset, expiry
//! date and threshold, across restarts.
//!
//! Each round searches `field>:today AND field<:today+max(thresholds)`
//! ([`chatport_orangelogic::date_range_query`]) and assigns every hit to the **smallest**
//! threshold not below its days left (5 days left with thresholds 30/7/1 → the 7-day alert). The
//! event id is `{RecordID}:{expiry date}:{threshold}d`: the outbox keeps it forever, so the same
//! alert is never queued twice, a later threshold is a new event, and a renewed licence (a new
//! date) starts over. The handler re-reads the asset and skips the alert when the date changed
//! in the meantime.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{Outcome, redact};
use chatport_orangelogic::SearchItem;
use chatport_orangelogic::date_range_query;
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{AssetNotice, AssetSearchSource, SentAll, Shared, add_poller, parse_date, phones};
use crate::Error;
use crate::flows::{EventFlow, FlowContext, Registry};
use crate::templates::TemplateConfig;

/// The flow name of L3.
pub const FLOW: &str = "L3";

/// Values the L3 template can use.
pub const VALUES: &[&str] = &[
    "title",
    "identifier",
    "expiry_date",
    "days_left",
    "threshold",
    "link",
];

/// `[flows.l3]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct L3Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// The usage-rights / licence end date field (DataTable name). Default `Rights.Expiry-Date`.
    pub expiry_field: String,
    /// Its name in the Search API, when different. Default: `expiry_field`.
    pub search_field: Option<String>,
    /// Alert thresholds in days. Default `[30, 7, 1]`.
    pub thresholds_days: Vec<u32>,
    /// Seconds between searches. Default 3600.
    pub poll_interval_secs: u64,
    /// Legal's phone numbers, alerted with the owners.
    pub legal: Vec<String>,
    /// The template. Default `dam_rights_expiry` with `title, expiry_date, days_left, link`.
    pub template: TemplateConfig,
}

impl Default for L3Config {
    fn default() -> Self {
        Self {
            enabled: false,
            expiry_field: "Rights.Expiry-Date".into(),
            search_field: None,
            thresholds_days: vec![30, 7, 1],
            poll_interval_secs: 3600,
            legal: Vec::new(),
            template: TemplateConfig::new(
                "dam_rights_expiry",
                &["title", "expiry_date", "days_left", "link"],
            ),
        }
    }
}

impl L3Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn check(&self) -> Result<(), Error> {
        self.template.check("flows.l3.template", VALUES)?;
        if self.thresholds_days.is_empty() || self.thresholds_days.contains(&0) {
            return Err(Error::Config(
                "flows.l3.thresholds_days: at least one threshold, each at least 1 day".into(),
            ));
        }
        if self.poll_interval_secs == 0 {
            return Err(Error::Config(
                "flows.l3.poll_interval_secs: must be at least 1".into(),
            ));
        }
        if self.expiry_field.trim().is_empty() {
            return Err(Error::Config(
                "flows.l3.expiry_field: must not be empty".into(),
            ));
        }
        Ok(())
    }

    /// The threshold an asset expiring on `expiry` falls under on `today`: the smallest threshold
    /// not below the days left; `None` when it expired already or is beyond every threshold.
    pub fn threshold(&self, today: NaiveDate, expiry: NaiveDate) -> Option<u32> {
        let days = (expiry - today).num_days();
        if days < 0 {
            return None;
        }
        self.thresholds_days
            .iter()
            .copied()
            .filter(|t| i64::from(*t) >= days)
            .min()
    }
}

/// The event id of one alert.
pub fn event_id(record_id: &str, expiry: NaiveDate, threshold: u32) -> String {
    format!("{record_id}:{expiry}:{threshold}d")
}

/// The L3 handler.
#[derive(Debug)]
pub struct RightsExpiry {
    config: L3Config,
    shared: Shared,
}

impl RightsExpiry {
    async fn run(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        let notice = AssetNotice::from_payload(&stored.payload)?;
        let Some(asset_ref) = notice.asset() else {
            return Ok(Outcome::delivered_with(json!({ "skipped": "no asset id" })));
        };
        let queued_expiry = notice
            .data
            .get("expiry_date")
            .and_then(Value::as_str)
            .and_then(parse_date);
        let threshold = notice
            .data
            .get("threshold")
            .and_then(Value::as_u64)
            .unwrap_or_default();
        let Some(asset) = self.shared.read(&asset_ref).await? else {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "asset not found" }),
            ));
        };
        let expiry = asset
            .text(&self.config.expiry_field)
            .as_deref()
            .and_then(parse_date);
        let (Some(expiry), Some(queued)) = (expiry, queued_expiry) else {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "no expiry date" }),
            ));
        };
        if expiry != queued {
            return Ok(Outcome::delivered_with(json!({
                "skipped": "the expiry date changed since the search",
                "queued": queued.to_string(), "now": expiry.to_string(),
            })));
        }
        let mut recipients = self.shared.owners(&asset);
        for extra in phones(self.config.legal.iter().map(String::as_str)) {
            if !recipients.contains(&extra) {
                recipients.push(extra);
            }
        }
        if recipients.is_empty() {
            return Ok(Outcome::Rejected {
                reason: "L3: the asset names no owner and flows.l3.legal is empty".into(),
            });
        }
        let days_left = (expiry - Utc::now().date_naive()).num_days().max(0);
        let mut values = BTreeMap::new();
        values.insert("title", self.shared.title(&asset));
        values.insert("identifier", asset.identifier.clone());
        values.insert("expiry_date", expiry.to_string());
        values.insert("days_left", days_left.to_string());
        values.insert("threshold", threshold.to_string());
        values.insert("link", self.shared.ui_link(&asset));
        let template = self.config.template.build(&values);
        let sent = self
            .shared
            .send_each(FLOW, "alert", &stored.event_id, &recipients, |to| {
                OutgoingMessage::template(to, template.clone())
            })
            .await?;
        let SentAll::Sent(sent) = sent else {
            return Ok(self.shared.in_doubt("L3 rights expiry alert"));
        };
        Ok(Outcome::delivered_with(json!({
            "asset": asset.identifier,
            "expiry_date": expiry.to_string(),
            "threshold_days": threshold,
            "alerted": sent.iter().map(|(p, _)| redact::phone(p)).collect::<Vec<_>>(),
            "wamids": sent.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>(),
        })))
    }
}

#[async_trait]
impl EventFlow for RightsExpiry {
    fn name(&self) -> &'static str {
        FLOW
    }

    async fn handle(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        self.run(stored).await
    }
}

pub(crate) fn register(
    ctx: &FlowContext<'_>,
    registry: &mut Registry,
    shared: &Shared,
) -> Result<(), Error> {
    let config = ctx.config.flows.l3.clone();
    config.check()?;
    let search_field = config
        .search_field
        .clone()
        .unwrap_or_else(|| config.expiry_field.clone());
    let max = config.thresholds_days.iter().copied().max().unwrap_or(1);
    let query_field = search_field.clone();
    let classify = config.clone();
    let item_field = search_field.clone();
    let source = AssetSearchSource::new(
        shared.client.clone(),
        move || {
            let today = Utc::now().date_naive();
            date_range_query(
                &query_field,
                today,
                today + chrono::Days::new(u64::from(max)),
            )
        },
        vec![search_field],
        move |item: &SearchItem| {
            let record = item.record_id()?;
            let expiry = parse_date(&item.text(&item_field)?)?;
            let threshold = classify.threshold(Utc::now().date_naive(), expiry)?;
            let mut data = Map::new();
            data.insert("expiry_date".into(), json!(expiry.to_string()));
            data.insert("threshold".into(), json!(threshold));
            Some((event_id(&record, expiry, threshold), data))
        },
    );
    add_poller(
        ctx,
        registry,
        "orangelogic.l3.rights-expiry",
        FLOW,
        Duration::from_secs(config.poll_interval_secs),
        source,
    );
    registry.event_flows.push(Arc::new(RightsExpiry {
        config,
        shared: shared.clone(),
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_threshold_not_below_days_left() {
        let c = L3Config::default();
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let in_days = |d: u64| today + chrono::Days::new(d);
        assert_eq!(c.threshold(today, in_days(30)), Some(30));
        assert_eq!(c.threshold(today, in_days(8)), Some(30));
        assert_eq!(c.threshold(today, in_days(7)), Some(7));
        assert_eq!(c.threshold(today, in_days(2)), Some(7));
        assert_eq!(c.threshold(today, in_days(1)), Some(1));
        assert_eq!(c.threshold(today, today), Some(1));
        assert_eq!(c.threshold(today, in_days(31)), None);
        assert_eq!(c.threshold(today, today - chrono::Days::new(1)), None);
        assert_eq!(event_id("R1", in_days(7), 7), "R1:2026-01-08:7d");
    }
}
