//! **L4 campaign rollout**: an approved campaign package → its regional contacts get a WhatsApp
//! template with a link to it and quick-reply buttons; their answers (received / need another
//! format / report an issue, or any text) are written back to the asset.
//!
//! Trigger: the OrangeDAM asset webhook; an asset is a campaign package ready for rollout when
//! its state (`[orangelogic] state_field`) is one of `approved_values` and its `campaign_field`
//! is set. Contacts: the `[[flows.l4.regions]]` named in the asset's `regions_field` (all regions
//! when it names none). Link: a presigned link of `link_format` valid for `link_expiry` when
//! `[orangelogic] presigned_links_path` is set, else the DAM user-interface link.
//!
//! Answers: each template's wamid is remembered as a reply context, so a tap on a quick-reply
//! button (a `button` message with the payload) or a quoted reply reaches the flow
//! [`ANSWER_FLOW`], which writes `{date} {who} ({region}): {answer}` per `feedback` (OrangeDAM has
//! no public comments API: a field of your choice, appended with a reference so a retry appends
//! nothing) and thanks the contact once.
//!
//! Effectively once: one template per (contact, event); a marker per asset (KV `ol.L4`) makes the
//! rollout happen once per approval (cleared when the asset leaves the approved state).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{IdempotencyKey, Outcome, redact};
use chatport_orangelogic::{AssetRef, LinkExpiry};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AssetNotice, FeedbackConfig, SentAll, Shared, one_of, phones, short_ref};
use crate::Error;

use crate::directory::{Directory, DirectoryEntry};
use crate::flows::{EventFlow, FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::{TemplateConfig, render};
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::sink::SendOnce;

/// The flow name of the rollout (webhook rows).
pub const FLOW: &str = "L4";
/// The flow name of the contacts' answers (inbound messages).
pub const ANSWER_FLOW: &str = "L4.answer";

/// Values the L4 template can use.
pub const VALUES: &[&str] = &["campaign", "title", "identifier", "link", "region"];

/// A region and its contacts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RegionContacts {
    /// The region's name as the asset's `regions_field` writes it.
    pub region: String,
    /// The contacts' phone numbers.
    pub contacts: Vec<String>,
}

/// `[flows.l4]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct L4Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// State values meaning "approved". Default `["Approved"]`.
    pub approved_values: Vec<String>,
    /// Field with the campaign name; an approved asset with it set is a package. Default
    /// `Campaign.Name`.
    pub campaign_field: String,
    /// Field naming the regions to notify (several values or `|`-separated). Default
    /// `Campaign.Regions`.
    pub regions_field: String,
    /// `[[flows.l4.regions]]`: contacts per region.
    pub regions: Vec<RegionContacts>,
    /// Format of the presigned link. Default `TRX`.
    pub link_format: String,
    /// Lifetime of the presigned link in OrangeDAM's `1d2h3m` form. Default `7d`.
    pub link_expiry: String,
    /// The template. Default `dam_campaign_rollout` with `campaign, title, link`.
    pub template: TemplateConfig,
    /// Payloads of the template's quick-reply buttons, in button order. Default
    /// `["received", "need_format", "issue"]`.
    pub buttons: Vec<String>,
    /// Payload → the answer written to the asset. Unknown payloads are written as sent.
    pub answers: BTreeMap<String, String>,
    /// Where answers are written. Default: append to `Campaign.Feedback`.
    pub feedback: FeedbackConfig,
    /// Reply to an answer. Placeholders `{answer}`, `{title}`, `{campaign}`.
    pub ack: String,
}

impl Default for L4Config {
    fn default() -> Self {
        Self {
            enabled: false,
            approved_values: vec!["Approved".into()],
            campaign_field: "Campaign.Name".into(),
            regions_field: "Campaign.Regions".into(),
            regions: Vec::new(),
            link_format: "TRX".into(),
            link_expiry: "7d".into(),
            template: TemplateConfig::new("dam_campaign_rollout", &["campaign", "title", "link"]),
            buttons: vec!["received".into(), "need_format".into(), "issue".into()],
            answers: [
                ("received", "received"),
                ("need_format", "needs another format"),
                ("issue", "reported an issue"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            feedback: FeedbackConfig::append("Campaign.Feedback"),
            ack: "Thank you — we noted for {title}: {answer}.".into(),
        }
    }
}

impl L4Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn check(&self) -> Result<(), Error> {
        self.template.check("flows.l4.template", VALUES)?;
        self.feedback.check("flows.l4.feedback")?;
        self.expiry()?;
        if self.regions.iter().all(|r| r.contacts.is_empty()) {
            return Err(Error::Config(
                "flows.l4.regions: at least one region with contacts".into(),
            ));
        }
        if self.buttons.len() > 10 {
            return Err(Error::Config(
                "flows.l4.buttons: a template has at most 10 buttons".into(),
            ));
        }
        Ok(())
    }

    fn expiry(&self) -> Result<LinkExpiry, Error> {
        self.link_expiry.parse::<LinkExpiry>().map_err(|_| {
            Error::Config("flows.l4.link_expiry: expected a form like 7d or 1d2h3m".into())
        })
    }

    /// The contacts to notify for an asset naming `regions` (all when it names none), each with
    /// its region, without duplicates.
    pub fn contacts_for(&self, regions: &[String]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for r in &self.regions {
            if !regions.is_empty() && !one_of(Some(&r.region), regions) {
                continue;
            }
            for phone in phones(r.contacts.iter().map(String::as_str)) {
                if !out.iter().any(|(p, _)| *p == phone) {
                    out.push((phone, r.region.clone()));
                }
            }
        }
        out
    }
}

/// The L4 rollout handler.
#[derive(Debug)]
pub struct CampaignRollout {
    config: L4Config,
    shared: Shared,
    conversations: Conversations,
}

impl CampaignRollout {
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
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "asset not found" }),
            ));
        };
        let state = self.shared.state(&asset);
        let campaign = asset.text(&self.config.campaign_field);
        let (true, Some(campaign)) = (
            one_of(state.as_deref(), &self.config.approved_values),
            campaign,
        ) else {
            self.shared.clear_marker(FLOW, &marker_key).await?;
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "not an approved campaign package", "state": state }),
            ));
        };
        if let Some(by) = self.shared.marker(FLOW, &marker_key).await?
            && by != stored.event_id.as_str()
        {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "this package was already rolled out", "by_event": by }),
            ));
        }
        let contacts = self
            .config
            .contacts_for(&asset.values(&self.config.regions_field));
        if contacts.is_empty() {
            return Ok(Outcome::Rejected {
                reason: "L4: no contacts for the package's regions (flows.l4.regions)".into(),
            });
        }
        let link = match self
            .shared
            .presigned(&asset, &self.config.link_format, self.config.expiry()?)
            .await?
        {
            Some(url) => url,
            None => self.shared.ui_link(&asset),
        };
        let title = self.shared.title(&asset);
        let region_of: HashMap<String, String> = contacts.iter().cloned().collect();
        let phones: Vec<String> = contacts.into_iter().map(|(p, _)| p).collect();
        let build = |to: chatport_whatsapp::Recipient| {
            let region = region_of
                .get(to.as_str().trim_start_matches('+'))
                .cloned()
                .unwrap_or_default();
            let mut values = BTreeMap::new();
            values.insert("campaign", campaign.clone());
            values.insert("title", title.clone());
            values.insert("identifier", asset.identifier.clone());
            values.insert("link", link.clone());
            values.insert("region", region);
            let mut template = self.config.template.build(&values);
            for (i, payload) in self.config.buttons.iter().enumerate() {
                template =
                    template.quick_reply(u8::try_from(i).unwrap_or(u8::MAX), payload.clone());
            }
            OutgoingMessage::template(to, template)
        };
        let sent = self
            .shared
            .send_each(FLOW, "rollout", &stored.event_id, &phones, build)
            .await?;
        let SentAll::Sent(sent) = sent else {
            return Ok(self.shared.in_doubt("L4 rollout"));
        };
        for (phone, wamid) in &sent {
            if wamid.is_empty() {
                continue;
            }
            self.conversations
                .remember_context(
                    wamid,
                    ANSWER_FLOW,
                    json!({
                        "record_id": asset.record_id,
                        "identifier": asset.identifier,
                        "title": title,
                        "campaign": campaign,
                        "region": region_of.get(phone),
                    }),
                )
                .await?;
        }
        self.shared
            .set_marker(FLOW, &marker_key, stored.event_id.as_str())
            .await?;
        Ok(Outcome::delivered_with(json!({
            "asset": asset.identifier,
            "campaign": campaign,
            "notified": sent.iter().map(|(p, _)| redact::phone(p)).collect::<Vec<_>>(),
            "wamids": sent.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>(),
        })))
    }
}

#[async_trait]
impl EventFlow for CampaignRollout {
    fn name(&self) -> &'static str {
        FLOW
    }

    async fn handle(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        self.run(stored).await
    }
}

/// The answers of regional contacts (routed here by the reply context of the rollout template).
#[derive(Debug)]
pub struct RolloutAnswers {
    config: L4Config,
    shared: Shared,
    conversations: Conversations,
    directory: Directory,
}

/// The answer of a message: a template quick-reply payload, an interactive reply id, or text.
fn answer_of(inbound: &Inbound) -> Option<String> {
    let m = &inbound.message;
    m.button
        .as_ref()
        .and_then(|b| b.payload.clone().or_else(|| b.text.clone()))
        .or_else(|| {
            m.interactive
                .as_ref()
                .and_then(|i| i.reply_id().map(str::to_owned))
        })
        .or_else(|| inbound.text().map(str::to_owned))
        .filter(|a| !a.trim().is_empty())
}

impl RolloutAnswers {
    async fn run(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let context = match inbound.context_id() {
            Some(id) => self.conversations.context(id).await?,
            None => None,
        };
        let Some(context) = context.filter(|c| c.handler == ANSWER_FLOW) else {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "not an answer to a rollout message" }),
            ));
        };
        let data = &context.data;
        let text = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let record_id = text("record_id");
        let Some(raw) = answer_of(inbound) else {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "no answer in the message" }),
            ));
        };
        let answer = self.config.answers.get(&raw).cloned().unwrap_or(raw);
        let who = inbound
            .sender
            .phone()
            .and_then(|p| self.directory.lookup(p))
            .and_then(|e: &DirectoryEntry| e.name.clone())
            .or_else(|| inbound.profile_name().map(str::to_owned))
            .unwrap_or_else(|| redact::phone(inbound.sender.as_str()));
        let date = inbound
            .message
            .timestamp()
            .unwrap_or_else(chrono::Utc::now)
            .format("%Y-%m-%d %H:%M UTC");
        let region = text("region");
        let entry = if region.is_empty() {
            format!("{date} {who}: {answer}")
        } else {
            format!("{date} {who} ({region}): {answer}")
        };
        let note_key = IdempotencyKey::derive(ANSWER_FLOW, "feedback", &stored.event_id);
        self.shared
            .write_note(
                &AssetRef::RecordId(record_id.clone()),
                &self.config.feedback,
                &entry,
                &short_ref(&note_key),
            )
            .await?;
        let mut values = HashMap::new();
        values.insert("answer", answer.clone());
        values.insert("title", text("title"));
        values.insert("campaign", text("campaign"));
        let reply = OutgoingMessage::text(
            inbound.sender.recipient(),
            render(&self.config.ack, &values),
        )
        .reply_to(inbound.message.id.clone());
        let ack_key = IdempotencyKey::derive(ANSWER_FLOW, "ack", &stored.event_id);
        match self
            .shared
            .send_one(&ack_key, &inbound.phone_number_id, reply)
            .await?
        {
            SendOnce::Sent(wamid) => Ok(Outcome::delivered_with(json!({
                "asset": text("identifier"),
                "answer": answer,
                "ack_wamid": wamid,
            }))),
            _ => Ok(self.shared.in_doubt("L4 answer acknowledgement")),
        }
    }
}

#[async_trait]
impl MessageFlow for RolloutAnswers {
    fn name(&self) -> &'static str {
        ANSWER_FLOW
    }

    /// Answers arrive through their reply context only.
    fn claim(&self, _inbound: &Inbound, _person: Option<&DirectoryEntry>) -> Option<u8> {
        None
    }

    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        self.run(stored, inbound).await
    }
}

pub(crate) fn register(
    ctx: &FlowContext<'_>,
    registry: &mut Registry,
    shared: &Shared,
) -> Result<(), Error> {
    let config = ctx.config.flows.l4.clone();
    config.check()?;
    registry.event_flows.push(Arc::new(CampaignRollout {
        config: config.clone(),
        shared: shared.clone(),
        conversations: ctx.conversations.clone(),
    }));
    registry.message_flows.push(Arc::new(RolloutAnswers {
        config,
        shared: shared.clone(),
        conversations: ctx.conversations.clone(),
        directory: ctx.directory.clone(),
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> L4Config {
        L4Config {
            regions: vec![
                RegionContacts {
                    region: "EMEA".into(),
                    contacts: vec!["+49 151 1111 1111".into()],
                },
                RegionContacts {
                    region: "NA".into(),
                    contacts: vec!["+1 650 555 0001".into(), "+49 151 1111 1111".into()],
                },
            ],
            ..L4Config::default()
        }
    }

    #[test]
    fn contacts_by_region_without_duplicates() {
        let c = config();
        assert!(c.check().is_ok());
        assert_eq!(
            c.contacts_for(&["emea".into()]),
            vec![("4915111111111".to_owned(), "EMEA".to_owned())]
        );
        let all = c.contacts_for(&[]);
        assert_eq!(all.len(), 2);
        assert!(c.contacts_for(&["APAC".into()]).is_empty());
        let mut bad = config();
        bad.link_expiry = "soon".into();
        assert!(bad.check().is_err());
    }
}
