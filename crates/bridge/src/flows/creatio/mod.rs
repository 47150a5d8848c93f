//! The Creatio flows (C1–C5): a WhatsApp conversation handed to a person in Creatio, and the
//! agent's answers back to WhatsApp.
//!
//! | Flow | Outbox flow name | Module |
//! |---|---|---|
//! | **C1 handoff** (escalation phrase, classifier, or by hand) → case with summary, contact, one activity per message, mapped fields, transcript link | `C1` (messages), `C1.manual` (by hand) | [`handoff`] |
//! | **C2 agent replies**: the Creatio business process calls chatport; the activity is fetched, chatport's own are skipped, the reply goes to WhatsApp; a poller catches missed calls; case closure | `C2` | [`reply`], [`events`] |
//! | **C3 24-hour window**: outside it a template goes out instead and the agent is told why; held replies go out when the customer writes again | (part of `C2`) | [`reply`] |
//! | **C4 media** as references in activities, optionally as case attachments | (part of `C1`) | [`handoff`] |
//! | **C5 contact matching** by phone | (part of `C1`) | [`contact`] |
//!
//! Every message of a conversation is kept by the
//! [`ConversationStore`]; a handoff writes it to the
//! case. Every Creatio record chatport creates has an `Id` derived from an
//! [`IdempotencyKey`](chatport_core::IdempotencyKey) (`create_with_key`), and every WhatsApp send
//! goes through the [`MessageSink`], so retries and replays never duplicate a case, an activity,
//! a contact or a reply. Docs: `docs/flows/C1.md` … `C5.md`, `docs/creatio-business-process.md`.

pub mod config;
pub mod contact;
pub mod events;
pub mod handoff;
pub mod manual;
pub mod reply;
pub mod state;
pub mod transcript;

use std::sync::Arc;
use std::time::Duration;

use chatport_creatio::Lookups;
use chatport_runtime::poller::{Poller, PollerConfig};
use chatport_whatsapp::{Recipient, WindowTracker};
use uuid::Uuid;

pub use config::{
    AiField, C1Config, C2Config, CreatioAuth, CreatioConfig, CreatioPlatform, FieldMapping,
};

use crate::Error;
use crate::config::Config;
use crate::flows::{FlowContext, Registry};
use chatport_assistant::classify::Classifier;
use chatport_whatsapp::conversation::{ConversationKey, ConversationStore};
use chatport_whatsapp::inbound::Conversations;
use chatport_whatsapp::sink::MessageSink;

use self::state::CreatioState;
use self::transcript::TranscriptLinks;
use crate::settings::Vars;
use chatport_assistant::fields::FieldFiller;
use chatport_assistant::summary::Summariser;

pub use chatport_creatio::webhook::SOURCE;

/// Builds the Creatio client from `[creatio]`, or `None` without that section.
///
/// # Errors
/// [`Error::Config`] for a missing credential or an unset variable; client-builder errors.
pub fn client(config: &Config, vars: &dyn Vars) -> Result<Option<chatport_creatio::Client>, Error> {
    let Some(c) = &config.creatio else {
        return Ok(None);
    };
    let mut builder = chatport_creatio::Client::builder()
        .base_url(&c.base_url.resolve("creatio.base_url", vars)?)
        .platform(match c.platform {
            CreatioPlatform::NetCore => chatport_creatio::Platform::NetCore,
            _ => chatport_creatio::Platform::NetFramework,
        })
        .timeout(Duration::from_secs(c.timeout_secs.max(1)))
        .lookups(c.lookups.clone());
    builder = match c.auth {
        CreatioAuth::Forms => {
            let user = c
                .username
                .as_ref()
                .ok_or_else(|| Error::Config("creatio.username is required for forms auth".into()))?
                .resolve("creatio.username", vars)?;
            let password = c
                .password
                .as_ref()
                .ok_or_else(|| Error::Config("creatio.password is required for forms auth".into()))?
                .resolve("creatio.password", vars)?;
            builder.forms_auth(&user, password)
        }
        _ => {
            let id = c
                .client_id
                .as_ref()
                .ok_or_else(|| Error::Config("creatio.client_id is required for oauth".into()))?
                .resolve("creatio.client_id", vars)?;
            let secret = c
                .client_secret
                .as_ref()
                .ok_or_else(|| Error::Config("creatio.client_secret is required for oauth".into()))?
                .resolve("creatio.client_secret", vars)?;
            let mut b = builder.oauth_client_credentials(&id, secret);
            if let Some(url) = &c.identity_url {
                b = b.identity_url(&url.resolve("creatio.identity_url", vars)?);
            }
            if let Some(url) = &c.token_url {
                b = b.token_url(&url.resolve("creatio.token_url", vars)?);
            }
            b
        }
    };
    Ok(Some(builder.build()?))
}

/// What the C flows share.
pub(crate) struct Shared {
    pub(crate) c1: C1Config,
    pub(crate) c2: C2Config,
    pub(crate) creatio: chatport_creatio::Client,
    /// C1's cases, one per handoff event (`Id` from the key).
    pub(crate) cases: chatport_creatio::EntitySink<chatport_creatio::Case>,
    /// The notes C1 and C3 write, one per event (`Id` from the key).
    pub(crate) activities: chatport_creatio::EntitySink<chatport_creatio::Activity>,
    pub(crate) lookups: Lookups,
    pub(crate) whatsapp: chatport_whatsapp::Client,
    pub(crate) sender: MessageSink,
    pub(crate) conversations: Conversations,
    pub(crate) store: ConversationStore,
    pub(crate) state: CreatioState,
    pub(crate) window: WindowTracker,
    pub(crate) classifier: Arc<dyn Classifier>,
    pub(crate) summariser: Arc<dyn Summariser>,
    /// Fills `[[flows.c1.ai_fields]]` (nothing without them).
    pub(crate) filler: Arc<dyn FieldFiller>,
    pub(crate) links: Option<TranscriptLinks>,
}

impl Shared {
    /// The case statuses that end a handoff: the configured ones plus Closed and Canceled.
    pub(crate) fn is_closed_status(&self, status: Option<Uuid>) -> bool {
        status.is_some_and(|s| {
            self.c2.closed_status_ids.contains(&s)
                || s == self.lookups.case_status_closed
                || s == self.lookups.case_status_canceled
        })
    }

    /// Whom to answer in a conversation.
    pub(crate) fn recipient(conv: &ConversationKey) -> Recipient {
        match conv.phone() {
            Some(digits) => Recipient::phone(digits.to_owned()),
            None => Recipient::user_id(conv.user.clone()),
        }
    }
}

/// Registers the C flows that are enabled (`[flows.c1]`, `[flows.c2]`).
///
/// # Errors
/// [`Error::Config`] when a C flow is enabled without `[creatio]`, C2 without C1 or without
/// `webhook_secret`, or a transcript secret without `public_url`.
pub fn register(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    let flows = &ctx.config.flows;
    let (c1, c2) = (&flows.c1, &flows.c2);
    if !c1.enabled && !c2.enabled {
        return Ok(());
    }
    if c2.enabled && !c1.enabled {
        return Err(Error::Config(
            "flows.c2 is enabled but flows.c1 is not: replies go to handed-off conversations"
                .into(),
        ));
    }
    if c2.enabled {
        const VALUES: &[&str] = &["customer_name", "case_number", "agent_message"];
        if let Some(t) = &c2.window_template {
            t.check("flows.c2.window_template", VALUES)?;
        }
        if let Some(t) = &c2.close_template {
            t.check("flows.c2.close_template", &["case_number"])?;
        }
    }
    for (i, field) in c1.ai_fields.iter().enumerate() {
        if field.kind == chatport_assistant::fields::FieldKind::Lookup
            && field.lookup.as_deref().is_none_or(|l| l.trim().is_empty())
        {
            return Err(Error::Config(format!(
                "flows.c1.ai_fields[{i}] ({}) is a lookup without `lookup` (its entity set, e.g. \"CasePriority\")",
                field.column
            )));
        }
    }
    let creatio = ctx.creatio.clone().ok_or_else(|| {
        Error::Config("flows.c1 is enabled but there is no [creatio] section".into())
    })?;
    let links = match &c1.transcript_secret {
        Some(secret) => {
            let public_url = c1.public_url.resolve("flows.c1.public_url", ctx.vars)?;
            if public_url.trim().is_empty() {
                return Err(Error::Config(
                    "flows.c1.transcript_secret is set but flows.c1.public_url is empty".into(),
                ));
            }
            Some(TranscriptLinks::new(
                secret.resolve("flows.c1.transcript_secret", ctx.vars)?,
                &public_url,
                &c1.transcript_path,
                Duration::from_secs(c1.transcript_link_ttl_hours.max(1) * 3600),
            ))
        }
        None => None,
    };
    let store = ctx.conversations.log();
    let shared = Arc::new(Shared {
        c1: c1.clone(),
        c2: c2.clone(),
        lookups: creatio.lookups().clone(),
        cases: chatport_creatio::EntitySink::new(creatio.clone()),
        activities: chatport_creatio::EntitySink::new(creatio.clone()),
        creatio,
        whatsapp: ctx.whatsapp.clone(),
        sender: ctx.sender.clone(),
        conversations: ctx.conversations.clone(),
        window: WindowTracker::new(Arc::new(store.clone())),
        store: store.clone(),
        state: CreatioState::new(ctx.kv.clone()),
        classifier: crate::assistant::classifier(
            c1.classifier,
            "flows.c1.classifier",
            ctx.assistant.as_ref(),
            &ctx.config.classifier,
            &ctx.classifier,
        )?,
        summariser: crate::assistant::summariser(
            c1.summariser,
            "flows.c1.summariser",
            ctx.assistant.as_ref(),
        )?,
        filler: crate::assistant::field_filler(
            !c1.ai_fields.is_empty(),
            "flows.c1.ai_fields",
            ctx.assistant.as_ref(),
        )?,
        links: links.clone(),
    });

    registry
        .message_flows
        .push(Arc::new(handoff::HandoffFlow::new(shared.clone())));
    registry
        .event_flows
        .push(Arc::new(manual::ManualHandoffFlow::new(shared.clone())));
    if let Some(links) = links {
        registry.http_routes.push(transcript::router(
            links,
            shared.state.clone(),
            store.clone(),
            Some(transcript::Attachments::new(
                ctx.whatsapp.clone(),
                c1.max_attachment_bytes,
            )),
        ));
    }
    if let Some(token) = &c1.handoff_token {
        let token = token.resolve("flows.c1.handoff_token", ctx.vars)?;
        registry.http_routes.push(manual::endpoint(
            &c1.handoff_path,
            token,
            ctx.outbox.clone(),
        ));
    }
    if c2.enabled {
        let secret = c2
            .webhook_secret
            .as_ref()
            .ok_or_else(|| {
                Error::Config("flows.c2.webhook_secret is required when flows.c2 is enabled".into())
            })?
            .resolve("flows.c2.webhook_secret", ctx.vars)?;
        registry.ingress_routes.push((
            c2.webhook_path.clone(),
            Arc::new(chatport_creatio::webhook::ProcessWebhook::new(secret)),
            chatport_runtime::ingress::Flows::one(reply::FLOW),
        ));
        registry
            .event_flows
            .push(Arc::new(reply::AgentReplies::new(shared.clone())));
        if c2.poll_interval_secs > 0 {
            let source = Arc::new(events::reply_source(&shared)?);
            let (outbox, kv) = (ctx.outbox.clone(), ctx.kv.clone());
            let interval = Duration::from_secs(c2.poll_interval_secs);
            registry.pollers.push(Box::new(move |shutdown, notify| {
                Poller::new(
                    source,
                    outbox,
                    kv,
                    PollerConfig::new("creatio.c2", reply::FLOW)
                        .interval(interval)
                        .error_backoff(interval.max(Duration::from_secs(5))),
                )
                .notify(notify)
                .spawn(shutdown)
            }));
        }
    }
    Ok(())
}
