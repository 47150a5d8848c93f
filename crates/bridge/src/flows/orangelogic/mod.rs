//! The Orange Logic (OrangeDAM) flows **L1–L7**, their connector section `[orangelogic]`, the
//! OrangeDAM webhook endpoint and the search pollers they share.
//!
//! | Flow | Trigger | Effect | Module |
//! |---|---|---|---|
//! | L1 review request | asset webhook (or poller) → asset in a review state | template to the approvers with link, deadline, campaign, usage rights | [`l1`] |
//! | L2 field media ingest | WhatsApp media from field staff | hash-verified download → upload into the project folder → metadata → review state; reply | [`l2`] |
//! | L3 rights expiry watch | scheduled search of a configured expiry date field | template to owners and legal, once per asset, expiry date and threshold | [`l3`] |
//! | L4 campaign rollout | asset webhook → approved campaign package | template with a link and quick-reply buttons to regional contacts; answers written back to the asset | [`l4`] |
//! | L5 approved content sharing | WhatsApp command of a directory agent | approved, unexpired asset sent to a customer as media by link; share recorded on the asset | [`l5`] |
//! | L6 user-generated content | WhatsApp media with a campaign tag | consent asked with buttons and recorded **before** anything is stored → upload, tags, moderation | [`l6`] |
//! | L7 policy alert | asset webhook → rejected, blocked or missing required metadata | template to the owner with the reason and a link | [`l7`] |
//!
//! **What OrangeDAM does not document publicly**, and how these flows cope
//! (`shared/api/opentext-orangelogic.md` §2.4, §2.9, §2.11): there is no public workflow /
//! approval API, no comments API, no standard usage-rights field, no public webhook payload
//! schema and no webhook signature. So the state of an asset is read from a field you name
//! (`[orangelogic] state_field`), answers and share records are written to fields you name
//! ([`FeedbackConfig`]), dates come from fields you name, the webhook payload field names are
//! configurable (`[orangelogic.webhook]`), and the webhook is authenticated by a secret token in
//! its URL path, compared in constant time ([`chatport_orangelogic::WebhookAuthenticator`]).
//!
//! **Delivery**: every webhook event becomes one outbox row per subscribed flow (L1, L4, L7),
//! event id `{vendor event id}:{flow}`, so a redelivered event is dropped by the outbox's
//! `UNIQUE(source, event_id)`; rows of one asset share the ordering key `ol:{RecordID}`. Every
//! WhatsApp send goes through the [`MessageSink`](chatport_whatsapp::sink::MessageSink) with a key per (flow, step, event, recipient);
//! state-based notifications also keep a marker per asset in the key-value store, so the same
//! state reached through several events is announced once.

pub mod l1;
pub mod l2;
pub mod l3;
pub mod l4;
pub mod l5;
pub mod l6;
pub mod l7;

use std::sync::Arc;
use std::time::Duration;

use chatport_orangelogic::source::AssetWebhook;
pub use chatport_orangelogic::source::{AssetNotice, AssetSearchSource};
use chatport_runtime::ingress::Flows;
use chatport_runtime::poller::{Poller, PollerConfig};

use crate::Error;

use crate::flows::{FlowContext, Registry};

pub use chatport_orangelogic::source::SOURCE;

mod config;
mod shared;

pub use config::{
    FeedbackConfig, OrangeLogicAuth, OrangeLogicConfig, OrangeLogicWebhookConfig, client, validate,
};
pub(crate) use shared::{
    Asset, SentAll, Shared, ingest_file_name, one_of, parse_date, phones, short_ref,
};

/// Adds a poller of `source` writing rows of `flow` every `interval` to the registry.
fn add_poller(
    ctx: &FlowContext<'_>,
    registry: &mut Registry,
    name: &str,
    flow: &'static str,
    interval: Duration,
    source: AssetSearchSource,
) {
    let poller = Poller::new(
        Arc::new(source),
        ctx.outbox.clone(),
        ctx.kv.clone(),
        PollerConfig::new(name, flow).interval(interval),
    );
    registry.pollers.push(Box::new(move |shutdown, notify| {
        poller.notify(notify).spawn(shutdown)
    }));
}

// ------------------------------------------------------------------------------------------------
// What the flows share

/// Registers every enabled L flow, the OrangeDAM webhook endpoint and the pollers.
///
/// # Errors
/// [`Error::Config`] when a flow is enabled without `[orangelogic]`, or a setting is invalid.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let Some(ol) = &ctx.config.orangelogic else {
        validate(ctx.config)?;
        return Ok(());
    };
    let flows = &ctx.config.flows;
    let any = [
        flows.l1.enabled,
        flows.l2.enabled,
        flows.l3.enabled,
        flows.l4.enabled,
        flows.l5.enabled,
        flows.l6.enabled,
        flows.l7.enabled,
    ]
    .contains(&true);
    if !any {
        return Ok(());
    }
    let client = ctx.require_orangelogic("L")?;
    let shared = Shared {
        client: client.clone(),
        assets: chatport_orangelogic::AssetSink::builder(client.clone())
            .file_name_prefix("wa-")
            .build()?,
        sender: ctx.sender.clone(),
        kv: ctx.kv.clone(),
        whatsapp: ctx.whatsapp.clone(),
        config: ol.clone(),
        note_locks: chatport_core::sink::KeyLocks::new(),
        base_url: ol.base_url.resolve("orangelogic.base_url", ctx.vars)?,
        phone_number_id: match &ol.phone_number_id {
            Some(id) => id.resolve("orangelogic.phone_number_id", ctx.vars)?,
            None => String::new(),
        },
    };
    let mut webhook_flows = Vec::new();
    if flows.l1.enabled {
        l1::register(ctx, registry, &shared)?;
        if flows.l1.webhook {
            webhook_flows.push(l1::FLOW);
        }
    }
    if flows.l2.enabled {
        l2::register(ctx, registry, &shared)?;
    }
    if flows.l3.enabled {
        l3::register(ctx, registry, &shared)?;
    }
    if flows.l4.enabled {
        l4::register(ctx, registry, &shared)?;
        webhook_flows.push(l4::FLOW);
    }
    if flows.l5.enabled {
        l5::register(ctx, registry, &shared)?;
    }
    if flows.l6.enabled {
        l6::register(ctx, registry, &shared)?;
    }
    if flows.l7.enabled {
        l7::register(ctx, registry, &shared)?;
        webhook_flows.push(l7::FLOW);
    }
    if let Some(token) = &ol.webhook.token
        && !webhook_flows.is_empty()
    {
        let token = token.resolve("orangelogic.webhook.token", ctx.vars)?;
        let path = format!("{}/{{token}}", ol.webhook.path.trim_end_matches('/'));
        if !path.starts_with('/') {
            return Err(Error::Config(
                "orangelogic.webhook.path: must start with `/`".into(),
            ));
        }
        registry.ingress_routes.push((
            path,
            Arc::new(AssetWebhook::new(token, ol.webhook.fields())),
            Flows::fan_out(webhook_flows),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatport_core::webhook::WebhookAdapter;
    use chatport_orangelogic::{AssetRef, WebhookFields};
    use chrono::Utc;

    #[test]
    fn webhook_rows_fan_out_per_flow_with_stable_ids() {
        let hook = AssetWebhook::new(secrecy::SecretString::from("tok"), WebhookFields::default());
        let body =
            br#"{"eventId":"e-1","eventType":"Asset.Edited","recordId":"R1","identifier":"CTL1"}"#;
        let batch = hook.parse(body, Utc::now()).unwrap();
        let rows = Flows::fan_out(["L1", "L7"]).rows(SOURCE, Utc::now(), batch);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].event_id.as_str(), "e-1:L1");
        assert_eq!(rows[1].event_id.as_str(), "e-1:L7");
        assert_eq!(rows[0].flow, "L1");
        assert_eq!(rows[0].ordering_key.as_deref(), Some("ol:R1"));
        let notice = AssetNotice::from_payload(&rows[0].payload).unwrap();
        assert_eq!(notice.kind, "edited");
        assert_eq!(notice.asset(), Some(AssetRef::RecordId("R1".into())));
        assert!(hook.parse(b"not json", Utc::now()).is_err());
    }
}
