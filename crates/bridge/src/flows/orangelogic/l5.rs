//! **L5 approved content sharing**: an agent in the directory asks on WhatsApp to share an asset
//! with a customer (`share CTL1005 with +1 650 555 0000`); only an approved, unexpired asset goes
//! out, as media by a presigned link; who sent what to whom is recorded on the asset.
//!
//! Claim: a text starting with `command` from a sender whose directory role is one of `roles`.
//! Checks, in order: the asset exists (by identifier, else RecordID); its state
//! (`[orangelogic] state_field`) is one of `approved_values`; its `expiry_field` date is today or
//! later (a missing date passes unless `require_expiry_date`). Then a presigned link of
//! `link_format` valid for `link_expiry` is created and the customer gets the `customer_template`
//! — a template, because the customer has usually not written in the last 24 hours — with the
//! link as its media header (image, video or document by the asset's `MediaType`). The share is
//! appended to `share_log` on the asset and the agent gets a confirmation; a refusal tells the
//! agent why and sends nothing.
//!
//! Effectively once per command message: the customer send, the log entry (with a reference) and
//! the agent's reply are each keyed by the command's wamid.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{IdempotencyKey, Outcome, redact};
use chatport_orangelogic::{AssetRef, EmbedLinkRecord, EmbedLinksRequest, LinkExpiry};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::{MediaSource, OutgoingMessage, Recipient, TemplateParameter};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{Asset, FeedbackConfig, Shared, one_of, parse_date, short_ref};
use crate::Error;

use crate::directory::{Directory, DirectoryEntry, phone_digits};
use crate::flows::{FlowContext, Registry};
use crate::routing::MessageFlow;
use crate::templates::{TemplateConfig, render};
use chatport_whatsapp::inbound::Inbound;
use chatport_whatsapp::sink::SendOnce;

/// The flow name of L5.
pub const FLOW: &str = "L5";

/// KV marker flow of the embed links created per share command (namespace `ol.L5.embed`, key the
/// link's idempotency key, value the public URL), so a retry never creates a second link.
pub const EMBED_MARKER: &str = "L5.embed";

/// Which link the customer gets (`[flows.l5] link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum L5Link {
    /// A presigned link of `link_format` valid `link_expiry` (needs `[orangelogic]
    /// presigned_links_path`, not public).
    #[default]
    Presigned,
    /// A public embed link at a custom route, created with the documented "Batch create or
    /// update public embed links" call (`[orangelogic] embed_links_path`), expiring after
    /// `link_expiry`; once per share command.
    Embed,
}

/// Values the customer template can use.
pub const VALUES: &[&str] = &["agent", "title", "identifier", "link"];

/// `[flows.l5]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct L5Config {
    /// Whether the flow runs. Default `false`.
    pub enabled: bool,
    /// Directory roles allowed to share. Default `["agent"]`.
    pub roles: Vec<String>,
    /// The command word. Default `share`.
    pub command: String,
    /// State values meaning "approved". Default `["Approved"]`.
    pub approved_values: Vec<String>,
    /// The usage-rights end date field. Default `Rights.Expiry-Date`.
    pub expiry_field: String,
    /// Refuse assets without an expiry date. Default `false`.
    pub require_expiry_date: bool,
    /// Which link is sent: `presigned` (default) or `embed` (a public embed link with a custom
    /// route, see [`L5Link`]).
    pub link: L5Link,
    /// The custom route of an embed link (`link = "embed"`); must start with `/`. Placeholders
    /// `{identifier}`, `{format}` and `{ref}` (a short reference of the share command, so each
    /// share has its own link). Default `/public/{identifier}-{format}-{ref}`.
    pub embed_route: String,
    /// Format of the link (presigned or embed). Default `TRX`.
    pub link_format: String,
    /// Lifetime of the link (`1d2h3m` form). Default `1d`.
    pub link_expiry: String,
    /// The template the customer gets. Default `dam_shared_asset` with `agent, title`.
    pub customer_template: TemplateConfig,
    /// Put the link in the template's media header (image / video / document). Default `true`;
    /// `false` for a text-only template that takes the `link` value as a body parameter.
    pub media_header: bool,
    /// Where shares are recorded. Default: append to `Sharing.Log`.
    pub share_log: FeedbackConfig,
    /// Reply to the agent after a share. Placeholders `{title}`, `{identifier}`, `{customer}`.
    pub reply_sent: String,
    /// Reply to the agent when refused. Placeholders `{reason}`, `{identifier}`.
    pub reply_refused: String,
    /// Reply to a command that does not parse.
    pub reply_usage: String,
}

impl Default for L5Config {
    fn default() -> Self {
        Self {
            enabled: false,
            roles: vec!["agent".into()],
            command: "share".into(),
            approved_values: vec!["Approved".into()],
            expiry_field: "Rights.Expiry-Date".into(),
            require_expiry_date: false,
            link: L5Link::Presigned,
            embed_route: "/public/{identifier}-{format}-{ref}".into(),
            link_format: "TRX".into(),
            link_expiry: "1d".into(),
            customer_template: TemplateConfig::new("dam_shared_asset", &["agent", "title"]),
            media_header: true,
            share_log: FeedbackConfig::append("Sharing.Log"),
            reply_sent: "Sent {title} ({identifier}) to {customer}.".into(),
            reply_refused: "Not sent: {identifier} {reason}.".into(),
            reply_usage: "To share an asset: share <asset id> with <customer number>".into(),
        }
    }
}

impl L5Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn check(&self) -> Result<(), Error> {
        self.customer_template
            .check("flows.l5.customer_template", VALUES)?;
        self.share_log.check("flows.l5.share_log")?;
        self.expiry()?;
        if !self.embed_route.starts_with('/') {
            return Err(Error::Config(
                "flows.l5.embed_route: must start with `/`".into(),
            ));
        }
        if self.command.trim().is_empty() || self.roles.is_empty() {
            return Err(Error::Config(
                "flows.l5: command and roles must not be empty".into(),
            ));
        }
        Ok(())
    }

    fn expiry(&self) -> Result<LinkExpiry, Error> {
        self.link_expiry.parse::<LinkExpiry>().map_err(|_| {
            Error::Config("flows.l5.link_expiry: expected a form like 1d or 2h30m".into())
        })
    }

    /// Parses `share <asset> [with|to] <number>`: the asset id and the number's digits.
    pub fn parse(&self, text: &str) -> Option<(String, String)> {
        let mut words = text.split_whitespace();
        if !words.next()?.eq_ignore_ascii_case(&self.command) {
            return None;
        }
        let asset = words.next()?.to_owned();
        let rest: Vec<&str> = words
            .skip_while(|w| w.eq_ignore_ascii_case("with") || w.eq_ignore_ascii_case("to"))
            .collect();
        let digits = phone_digits(&rest.join(" "));
        (digits.len() >= 6).then_some((asset, digits))
    }
}

/// The L5 handler.
#[derive(Debug)]
pub struct ContentSharing {
    config: L5Config,
    shared: Shared,
    directory: Directory,
}

enum Check {
    Allowed(Box<Asset>),
    Refused(String),
}

impl ContentSharing {
    async fn check(&self, id: &str) -> Result<Check, Error> {
        let mut asset = self
            .shared
            .read(&AssetRef::Identifier(id.to_owned()))
            .await?;
        if asset.is_none() {
            asset = self.shared.read(&AssetRef::RecordId(id.to_owned())).await?;
        }
        let Some(asset) = asset else {
            return Ok(Check::Refused("was not found".into()));
        };
        let state = self.shared.state(&asset);
        if !one_of(state.as_deref(), &self.config.approved_values) {
            return Ok(Check::Refused(format!(
                "is not approved (state: {})",
                state.as_deref().unwrap_or("none")
            )));
        }
        match asset
            .text(&self.config.expiry_field)
            .as_deref()
            .map(parse_date)
        {
            Some(Some(d)) if d < Utc::now().date_naive() => {
                return Ok(Check::Refused(format!(
                    "has usage rights that expired on {d}"
                )));
            }
            Some(None) => {
                return Ok(Check::Refused("has an unreadable usage-rights date".into()));
            }
            None if self.config.require_expiry_date => {
                return Ok(Check::Refused("has no usage-rights date".into()));
            }
            _ => {}
        }
        Ok(Check::Allowed(Box::new(asset)))
    }

    async fn reply(
        &self,
        stored: &StoredEvent,
        inbound: &Inbound,
        step: &str,
        text: String,
        mut receipt: serde_json::Value,
    ) -> Result<Outcome, Error> {
        let key = IdempotencyKey::derive(FLOW, step, &stored.event_id);
        let message = OutgoingMessage::text(inbound.sender.recipient(), text)
            .reply_to(inbound.message.id.clone());
        match self
            .shared
            .send_one(&key, &inbound.phone_number_id, message)
            .await?
        {
            SendOnce::Sent(wamid) => {
                receipt["reply_wamid"] = json!(wamid);
                Ok(Outcome::delivered_with(receipt))
            }
            _ => Ok(self.shared.in_doubt("L5 reply to the agent")),
        }
    }

    /// The public embed link of this share command: created once (batch upsert at the custom
    /// route, which carries the command's reference) and remembered in the key-value store, so a
    /// retry sends the same link and creates no second one. `None` when the answer reports an
    /// error for the record.
    async fn embed_link(
        &self,
        stored: &StoredEvent,
        asset: &Asset,
    ) -> Result<Option<String>, Error> {
        let key = IdempotencyKey::derive(FLOW, "embed", &stored.event_id);
        if let Some(url) = self.shared.marker(EMBED_MARKER, key.as_str()).await? {
            return Ok(Some(url));
        }
        let route = self
            .config
            .embed_route
            .replace("{identifier}", &route_safe(&asset.identifier))
            .replace("{format}", &route_safe(&self.config.link_format))
            .replace("{ref}", &short_ref(&key));
        let expires = Utc::now()
            + chrono::Duration::from_std(self.config.expiry()?.as_duration())
                .unwrap_or(chrono::Duration::days(1));
        let record = EmbedLinkRecord::new(&route, &asset.identifier, &self.config.link_format)
            .title(&self.shared.title(asset))
            .expires_at(expires);
        let answer = self
            .shared
            .client
            .upsert_embed_links(&EmbedLinksRequest::new(vec![record]))
            .await?;
        let result = answer
            .results
            .iter()
            .find(|r| r.custom_route.as_deref().is_none_or(|c| c == route));
        if result.is_some_and(|r| r.error.is_some()) {
            return Ok(None);
        }
        let url = match result.and_then(|r| r.url.clone()) {
            Some(url) => url,
            None => self.shared.client.embed_link_url(&route)?.to_string(),
        };
        self.shared
            .set_marker(EMBED_MARKER, key.as_str(), &url)
            .await?;
        Ok(Some(url))
    }

    fn header(&self, asset: &Asset, link: &str) -> TemplateParameter {
        let source = MediaSource::link(link.to_owned());
        match asset
            .text("MediaType")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "image" => TemplateParameter::Image(source),
            "video" => TemplateParameter::Video(source),
            _ => TemplateParameter::Document {
                source,
                filename: Some(self.shared.title(asset)),
            },
        }
    }

    async fn run(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
        let Some((id, customer)) = inbound.text().and_then(|t| self.config.parse(t)) else {
            return self
                .reply(
                    stored,
                    inbound,
                    "usage",
                    self.config.reply_usage.clone(),
                    json!({ "skipped": "command did not parse" }),
                )
                .await;
        };
        let mut values = HashMap::new();
        values.insert("identifier", id.clone());
        let asset = match self.check(&id).await? {
            Check::Allowed(asset) => asset,
            Check::Refused(reason) => {
                values.insert("reason", reason.clone());
                let text = render(&self.config.reply_refused, &values);
                return self
                    .reply(
                        stored,
                        inbound,
                        "refused",
                        text,
                        json!({ "asset": id, "refused": reason }),
                    )
                    .await;
            }
        };
        let link = match self.config.link {
            L5Link::Embed => self.embed_link(stored, &asset).await?,
            _ => {
                self.shared
                    .presigned(&asset, &self.config.link_format, self.config.expiry()?)
                    .await?
            }
        };
        let Some(link) = link else {
            values.insert(
                "reason",
                "has no shareable link (no link was issued)".into(),
            );
            let text = render(&self.config.reply_refused, &values);
            return self
                .reply(
                    stored,
                    inbound,
                    "refused",
                    text,
                    json!({ "asset": id, "refused": "no presigned link" }),
                )
                .await;
        };
        let agent = inbound
            .sender
            .phone()
            .and_then(|p| self.directory.lookup(p))
            .and_then(|e| e.name.clone())
            .or_else(|| inbound.profile_name().map(str::to_owned))
            .unwrap_or_else(|| "our team".into());
        let title = self.shared.title(&asset);
        let mut params = BTreeMap::new();
        params.insert("agent", agent.clone());
        params.insert("title", title.clone());
        params.insert("identifier", asset.identifier.clone());
        params.insert("link", link.clone());
        let mut template = self.config.customer_template.build(&params);
        if self.config.media_header {
            template = template.header(vec![self.header(&asset, &link)]);
        }
        let share_key = IdempotencyKey::derive(FLOW, "share", &stored.event_id);
        let customer_wamid = match self
            .shared
            .send_one(
                &share_key,
                &inbound.phone_number_id,
                OutgoingMessage::template(Recipient::phone(format!("+{customer}")), template),
            )
            .await?
        {
            SendOnce::Sent(wamid) => wamid,
            _ => return Ok(self.shared.in_doubt("L5 share to the customer")),
        };
        let at = inbound
            .message
            .timestamp()
            .unwrap_or_else(Utc::now)
            .format("%Y-%m-%d %H:%M UTC");
        let entry = format!(
            "{at} {agent} shared {} ({}) with +{customer} via WhatsApp, link valid {}, message {customer_wamid}",
            asset.identifier, self.config.link_format, self.config.link_expiry
        );
        self.shared
            .write_note(
                &AssetRef::RecordId(asset.record_id.clone()),
                &self.config.share_log,
                &entry,
                &short_ref(&share_key),
            )
            .await?;
        values.insert("title", title);
        values.insert("identifier", asset.identifier.clone());
        values.insert("customer", format!("+{customer}"));
        let text = render(&self.config.reply_sent, &values);
        self.reply(
            stored,
            inbound,
            "confirm",
            text,
            json!({
                "asset": asset.identifier,
                "customer": redact::phone(&customer),
                "customer_wamid": customer_wamid,
            }),
        )
        .await
    }
}

/// `text` with every character other than ASCII letters, digits, `-`, `_` and `.` replaced by
/// `-`, so an identifier cannot add path segments or query parts to a route.
fn route_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[async_trait]
impl MessageFlow for ContentSharing {
    fn name(&self) -> &'static str {
        FLOW
    }

    /// Texts starting with the command, from a directory entry with an allowed role.
    fn claim(&self, inbound: &Inbound, person: Option<&DirectoryEntry>) -> Option<u8> {
        let role = person.and_then(|p| p.role.as_deref())?;
        if !one_of(Some(role), &self.config.roles) {
            return None;
        }
        let first = inbound.text()?.split_whitespace().next()?;
        first
            .eq_ignore_ascii_case(&self.config.command)
            .then_some(60)
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
    let config = ctx.config.flows.l5.clone();
    config.check()?;
    if config.link == L5Link::Presigned && shared.config.presigned_links_path.is_none() {
        return Err(Error::Config(
            "flows.l5 sends assets by presigned link: set orangelogic.presigned_links_path (or flows.l5.link = \"embed\")".into(),
        ));
    }
    registry.message_flows.push(Arc::new(ContentSharing {
        config,
        shared: shared.clone(),
        directory: ctx.directory.clone(),
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_command() {
        let c = L5Config::default();
        assert_eq!(
            c.parse("share CTL1005 with +1 650 555 0000"),
            Some(("CTL1005".into(), "16505550000".into()))
        );
        assert_eq!(
            c.parse("Share X1 to 4915123456789"),
            Some(("X1".into(), "4915123456789".into()))
        );
        assert_eq!(c.parse("share CTL1005"), None);
        assert_eq!(c.parse("send CTL1005 with +1 650 555 0000"), None);
        assert!(c.check().is_ok());
    }

    #[test]
    fn embed_routes_are_checked_and_kept_to_one_segment() {
        let c = L5Config {
            embed_route: "public/{ref}".into(),
            ..L5Config::default()
        };
        assert!(c.check().is_err());
        assert_eq!(route_safe("CTL 1/../x?y"), "CTL-1-..-x-y");
        assert_eq!(route_safe("Q1N3620.auto"), "Q1N3620.auto");
    }
}
