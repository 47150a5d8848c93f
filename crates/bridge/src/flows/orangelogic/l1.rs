//! **L1 review request**: an asset that reaches a review state → a WhatsApp template to the
//! approvers with the asset link, the review deadline, the campaign and the usage rights.
//!
//! Triggers: the OrangeDAM asset webhook (every created / edited event of an asset is checked)
//! and, when `poll_interval_secs` is set, a search poller for assets in a review state (for
//! instances whose webhooks are not enabled). The state is read from `[orangelogic] state_field`
//! (no public workflow API exists).
//!
//! Effectively once: each approver's template is keyed by (L1, approver, event); after all are
//! sent the asset gets a marker (KV `ol.L1`), so further events of the same review (more edits,
//! the poller) announce nothing; an event showing the asset out of review clears the marker, so
//! the next review is announced again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{Outcome, redact};
use chatport_orangelogic::Query;
use chatport_orangelogic::SearchItem;
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;
use serde::Deserialize;
use serde_json::{Map, json};

use super::{AssetNotice, AssetSearchSource, SentAll, Shared, add_poller, one_of, phones};
use crate::Error;
use crate::flows::{EventFlow, FlowContext, Registry};
use crate::templates::TemplateConfig;

/// The flow name of L1.
pub const FLOW: &str = "L1";

/// Values the L1 template can use.
pub const VALUES: &[&str] = &[
    "title",
    "identifier",
    "link",
    "deadline",
    "campaign",
    "rights",
    "state",
];

/// `[flows.l1]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct L1Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// Triggered by the OrangeDAM webhook. Default `true`.
    pub webhook: bool,
    /// Also poll for assets in review every this many seconds (unset: no poller).
    pub poll_interval_secs: Option<u64>,
    /// Values of the state field that mean "ready for review". Default `["In Review"]`.
    pub review_values: Vec<String>,
    /// The state field's name in the Search API (the poller's query), when it differs from the
    /// DataTable name. Default: `[orangelogic] state_field`.
    pub search_field: Option<String>,
    /// Approvers' phone numbers.
    pub approvers: Vec<String>,
    /// A field of the asset holding more approvers' numbers.
    pub approvers_field: Option<String>,
    /// Field with the review deadline. Default `Review.Deadline`.
    pub deadline_field: String,
    /// Field with the campaign name. Default `Campaign.Name`.
    pub campaign_field: String,
    /// Field with the usage rights. Default `Rights.Usage`.
    pub rights_field: String,
    /// The template. Default `dam_review_request` with `title, link, deadline, campaign, rights`.
    pub template: TemplateConfig,
}

impl Default for L1Config {
    fn default() -> Self {
        Self {
            enabled: false,
            webhook: true,
            poll_interval_secs: None,
            review_values: vec!["In Review".into()],
            search_field: None,
            approvers: Vec::new(),
            approvers_field: None,
            deadline_field: "Review.Deadline".into(),
            campaign_field: "Campaign.Name".into(),
            rights_field: "Rights.Usage".into(),
            template: TemplateConfig::new(
                "dam_review_request",
                &["title", "link", "deadline", "campaign", "rights"],
            ),
        }
    }
}

impl L1Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn check(&self) -> Result<(), Error> {
        self.template.check("flows.l1.template", VALUES)?;
        if self.review_values.is_empty() {
            return Err(Error::Config(
                "flows.l1.review_values: must not be empty".into(),
            ));
        }
        if self.approvers.is_empty() && self.approvers_field.is_none() {
            return Err(Error::Config(
                "flows.l1: set approvers or approvers_field".into(),
            ));
        }
        if self.poll_interval_secs == Some(0) {
            return Err(Error::Config(
                "flows.l1.poll_interval_secs: must be at least 1".into(),
            ));
        }
        if !self.webhook && self.poll_interval_secs.is_none() {
            return Err(Error::Config(
                "flows.l1: enable the webhook or set poll_interval_secs".into(),
            ));
        }
        Ok(())
    }
}

/// The L1 handler.
#[derive(Debug)]
pub struct ReviewRequest {
    config: L1Config,
    shared: Shared,
}

impl ReviewRequest {
    async fn run(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        let notice = AssetNotice::from_payload(&stored.payload)?;
        let Some(asset_ref) = notice.asset() else {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "no asset id in the event" }),
            ));
        };
        let marker_key = asset_ref.pair().1.to_owned();
        if notice.is_deleted() {
            self.shared.clear_marker(FLOW, &marker_key).await?;
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "asset deleted" }),
            ));
        }
        let Some(asset) = self.shared.read(&asset_ref).await? else {
            self.shared.clear_marker(FLOW, &marker_key).await?;
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "asset not found" }),
            ));
        };
        let state = self.shared.state(&asset);
        if !one_of(state.as_deref(), &self.config.review_values) {
            self.shared.clear_marker(FLOW, &marker_key).await?;
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "not in review", "state": state }),
            ));
        }
        if let Some(by) = self.shared.marker(FLOW, &marker_key).await?
            && by != stored.event_id.as_str()
        {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "this review was already announced", "by_event": by }),
            ));
        }
        let mut numbers: Vec<&str> = self.config.approvers.iter().map(String::as_str).collect();
        let from_field = self
            .config
            .approvers_field
            .as_deref()
            .map(|f| asset.values(f))
            .unwrap_or_default();
        numbers.extend(from_field.iter().map(String::as_str));
        let approvers = phones(numbers);
        if approvers.is_empty() {
            return Ok(Outcome::Rejected {
                reason: "L1: no approver phone number (flows.l1.approvers / approvers_field)"
                    .into(),
            });
        }
        let mut values = BTreeMap::new();
        values.insert("title", self.shared.title(&asset));
        values.insert("identifier", asset.identifier.clone());
        values.insert("link", self.shared.ui_link(&asset));
        values.insert(
            "deadline",
            asset.text(&self.config.deadline_field).unwrap_or_default(),
        );
        values.insert(
            "campaign",
            asset.text(&self.config.campaign_field).unwrap_or_default(),
        );
        values.insert(
            "rights",
            asset.text(&self.config.rights_field).unwrap_or_default(),
        );
        values.insert("state", state.clone().unwrap_or_default());
        let template = self.config.template.build(&values);
        let sent = self
            .shared
            .send_each(FLOW, "notify", &stored.event_id, &approvers, |to| {
                OutgoingMessage::template(to, template.clone())
            })
            .await?;
        let SentAll::Sent(sent) = sent else {
            return Ok(self.shared.in_doubt("L1 review request"));
        };
        self.shared
            .set_marker(FLOW, &marker_key, stored.event_id.as_str())
            .await?;
        Ok(Outcome::delivered_with(json!({
            "asset": asset.identifier,
            "record_id": asset.record_id,
            "notified": sent.iter().map(|(p, _)| redact::phone(p)).collect::<Vec<_>>(),
            "wamids": sent.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>(),
        })))
    }
}

#[async_trait]
impl EventFlow for ReviewRequest {
    fn name(&self) -> &'static str {
        FLOW
    }

    async fn handle(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        self.run(stored).await
    }
}

/// The poller's event id: one row per asset in review per day (the marker keeps it to one
/// announcement per review).
fn poll_event_id(record_id: &str) -> String {
    format!("poll:{record_id}:{}", chrono::Utc::now().date_naive())
}

pub(crate) fn register(
    ctx: &FlowContext<'_>,
    registry: &mut Registry,
    shared: &Shared,
) -> Result<(), Error> {
    let config = ctx.config.flows.l1.clone();
    config.check()?;
    if let Some(secs) = config.poll_interval_secs {
        let field = config
            .search_field
            .clone()
            .unwrap_or_else(|| shared.config.state_field.clone());
        let values = config.review_values.clone();
        let query_field = field.clone();
        let source = AssetSearchSource::new(
            shared.client.clone(),
            move || Query::any_of(&query_field, &values),
            vec![field],
            |item: &SearchItem| {
                let record = item.record_id()?;
                Some((poll_event_id(&record), Map::new()))
            },
        );
        add_poller(
            ctx,
            registry,
            "orangelogic.l1.review",
            FLOW,
            Duration::from_secs(secs),
            source,
        );
    }
    registry.event_flows.push(Arc::new(ReviewRequest {
        config,
        shared: shared.clone(),
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let mut c = L1Config::default();
        assert!(!c.enabled);
        assert!(c.check().is_err(), "no approvers");
        c.approvers = vec!["+49 151 1".into()];
        assert!(c.check().is_ok());
        c.template.parameters.push("nope".into());
        assert!(c.check().is_err());
        let id = poll_event_id("R1");
        assert!(id.starts_with("poll:R1:"));
        let _ = chatport_core::EventId::new(id);
    }
}
