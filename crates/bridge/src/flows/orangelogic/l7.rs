//! **L7 policy alert**: an asset that is rejected, blocked or missing required metadata → an
//! immediate WhatsApp template to its owner with the reason and a link.
//!
//! Trigger: the OrangeDAM asset webhook (by default `edited` events only: a freshly uploaded
//! asset gets its metadata in a second call, so its `created` event would look incomplete). The
//! state comes from `[orangelogic] state_field`, the owner from `[orangelogic] owner_field`.
//!
//! Effectively once: the alert to each recipient is keyed by (L7, recipient, event); the asset
//! keeps a marker with the reasons last alerted (KV `ol.L7`), so further edits with the same
//! problems alert nobody, a new problem alerts again, and a clean asset clears the marker.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{Outcome, redact};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;
use serde::Deserialize;
use serde_json::json;

use super::{Asset, AssetNotice, SentAll, Shared, one_of, phones};
use crate::Error;
use crate::flows::{EventFlow, FlowContext, Registry};
use crate::templates::TemplateConfig;

/// The flow name of L7.
pub const FLOW: &str = "L7";

/// Values the L7 template can use.
pub const VALUES: &[&str] = &["title", "identifier", "reason", "link", "state"];

/// `[flows.l7]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct L7Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// Event kinds that are checked. Default `["edited"]`.
    pub kinds: Vec<String>,
    /// State values meaning "rejected". Default `["Rejected"]`.
    pub rejected_values: Vec<String>,
    /// State values meaning "blocked". Default `["Blocked"]`.
    pub blocked_values: Vec<String>,
    /// Fields every asset must have (an empty value is "missing metadata").
    pub required_fields: Vec<String>,
    /// A field explaining a rejection or block, added to the reason. Default `Workflow.Reason`.
    pub reason_field: Option<String>,
    /// Who is alerted when the asset names no owner.
    pub fallback_recipients: Vec<String>,
    /// Who is always alerted as well (a compliance desk).
    pub also_notify: Vec<String>,
    /// The template. Default `dam_policy_alert` with `title, reason, link`.
    pub template: TemplateConfig,
}

impl Default for L7Config {
    fn default() -> Self {
        Self {
            enabled: false,
            kinds: vec!["edited".into()],
            rejected_values: vec!["Rejected".into()],
            blocked_values: vec!["Blocked".into()],
            required_fields: Vec::new(),
            reason_field: Some("Workflow.Reason".into()),
            fallback_recipients: Vec::new(),
            also_notify: Vec::new(),
            template: TemplateConfig::new("dam_policy_alert", &["title", "reason", "link"]),
        }
    }
}

impl L7Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn check(&self) -> Result<(), Error> {
        self.template.check("flows.l7.template", VALUES)?;
        if self.kinds.is_empty() {
            return Err(Error::Config("flows.l7.kinds: must not be empty".into()));
        }
        Ok(())
    }

    /// The policy problems of an asset (empty: none), given its state.
    pub fn problems(
        &self,
        state: Option<&str>,
        reason: Option<&str>,
        missing: &[String],
    ) -> Vec<String> {
        let mut out = Vec::new();
        let why = reason
            .filter(|r| !r.trim().is_empty())
            .map(|r| format!(": {}", r.trim()))
            .unwrap_or_default();
        if one_of(state, &self.rejected_values) {
            out.push(format!("rejected{why}"));
        } else if one_of(state, &self.blocked_values) {
            out.push(format!("blocked{why}"));
        }
        if !missing.is_empty() {
            out.push(format!("missing metadata: {}", missing.join(", ")));
        }
        out
    }
}

/// The L7 handler.
#[derive(Debug)]
pub struct PolicyAlert {
    config: L7Config,
    shared: Shared,
}

impl PolicyAlert {
    fn missing(&self, asset: &Asset) -> Vec<String> {
        self.config
            .required_fields
            .iter()
            .filter(|f| asset.text(f).is_none())
            .cloned()
            .collect()
    }

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
        if !one_of(Some(&notice.kind), &self.config.kinds) {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "event kind not watched", "kind": notice.kind }),
            ));
        }
        let Some(asset) = self.shared.read(&asset_ref).await? else {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "asset not found" }),
            ));
        };
        let state = self.shared.state(&asset);
        let reason = self
            .config
            .reason_field
            .as_deref()
            .and_then(|f| asset.text(f));
        let problems =
            self.config
                .problems(state.as_deref(), reason.as_deref(), &self.missing(&asset));
        if problems.is_empty() {
            self.shared.clear_marker(FLOW, &marker_key).await?;
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "no policy issue" }),
            ));
        }
        let signature = problems.join("; ");
        if self.shared.marker(FLOW, &marker_key).await?.as_deref() == Some(signature.as_str()) {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "already alerted", "reason": signature }),
            ));
        }
        let mut recipients = self.shared.owners(&asset);
        if recipients.is_empty() {
            recipients = phones(self.config.fallback_recipients.iter().map(String::as_str));
        }
        for extra in phones(self.config.also_notify.iter().map(String::as_str)) {
            if !recipients.contains(&extra) {
                recipients.push(extra);
            }
        }
        if recipients.is_empty() {
            return Ok(Outcome::Rejected {
                reason: "L7: the asset names no owner and flows.l7.fallback_recipients is empty"
                    .into(),
            });
        }
        let mut values = BTreeMap::new();
        values.insert("title", self.shared.title(&asset));
        values.insert("identifier", asset.identifier.clone());
        values.insert("reason", signature.clone());
        values.insert("link", self.shared.ui_link(&asset));
        values.insert("state", state.unwrap_or_default());
        let template = self.config.template.build(&values);
        let sent = self
            .shared
            .send_each(FLOW, "alert", &stored.event_id, &recipients, |to| {
                OutgoingMessage::template(to, template.clone())
            })
            .await?;
        let SentAll::Sent(sent) = sent else {
            return Ok(self.shared.in_doubt("L7 policy alert"));
        };
        self.shared
            .set_marker(FLOW, &marker_key, &signature)
            .await?;
        Ok(Outcome::delivered_with(json!({
            "asset": asset.identifier,
            "reason": signature,
            "alerted": sent.iter().map(|(p, _)| redact::phone(p)).collect::<Vec<_>>(),
            "wamids": sent.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>(),
        })))
    }
}

#[async_trait]
impl EventFlow for PolicyAlert {
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
    let config = ctx.config.flows.l7.clone();
    config.check()?;
    registry.event_flows.push(Arc::new(PolicyAlert {
        config,
        shared: shared.clone(),
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_the_reason() {
        let c = L7Config::default();
        assert_eq!(
            c.problems(Some("rejected"), Some("logo too small"), &[]),
            vec!["rejected: logo too small".to_owned()]
        );
        assert_eq!(
            c.problems(Some("Blocked"), None, &["Rights.Usage".into()]),
            vec![
                "blocked".to_owned(),
                "missing metadata: Rights.Usage".to_owned()
            ]
        );
        assert!(c.problems(Some("Approved"), Some("x"), &[]).is_empty());
    }
}
