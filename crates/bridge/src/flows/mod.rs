//! The flows of the catalogue (`docs/flows/`), and how they plug into the service.
//!
//! Each flow family registers itself into a [`Registry`] from a [`FlowContext`] (the configuration,
//! the connector clients, the stores, the once-only sender, conversation state, the directory):
//!
//! - **message flows** ([`MessageFlow`]) take inbound WhatsApp messages through the
//!   [`Dispatcher`](crate::routing::Dispatcher);
//! - **event flows** ([`EventFlow`]) handle outbox rows of their own flow name: events from pollers,
//!   from vendor webhooks, from HTTP endpoints;
//! - **pollers** run pull sources into the outbox (see `chatport_runtime::poller`);
//! - **ingress routes** receive vendor webhooks (verified, stored, acknowledged by the runtime);
//! - **HTTP routes** serve anything else a flow needs (a transcript page, a handoff endpoint).

pub mod creatio;
pub mod opentext;
pub mod orangelogic;

use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::{IdempotencyLedger, Outcome};
use chatport_runtime::ingress::{Flows, WebhookAdapter};
use chatport_runtime::{KvStore, Outbox, StoredEvent};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::config::Config;
use crate::directory::Directory;
use crate::routing::MessageFlow;
use crate::settings::Vars;
use chatport_assistant::classify::RuleClassifier;
use chatport_whatsapp::inbound::Conversations;
use chatport_whatsapp::sink::MessageSink;

/// A flow that handles outbox rows of its own flow name (not inbound WhatsApp messages).
#[async_trait]
pub trait EventFlow: Send + Sync {
    /// The flow name the rows carry (`"O3"`).
    fn name(&self) -> &'static str;

    /// Handles one row.
    ///
    /// # Errors
    /// Connector and store errors; the service maps them to an [`Outcome`].
    async fn handle(&self, stored: &StoredEvent) -> Result<Outcome, Error>;
}

impl std::fmt::Debug for dyn EventFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EventFlow").field(&self.name()).finish()
    }
}

/// Starts a poller when the service starts: given the shutdown token and the workers' notifier.
pub type PollerStart =
    Box<dyn FnOnce(CancellationToken, Arc<Notify>) -> tokio::task::JoinHandle<()> + Send>;

/// Everything flows share, built once from the configuration.
pub struct FlowContext<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// Where `${VAR}` references are resolved.
    pub vars: &'a dyn Vars,
    /// The outbox.
    pub outbox: Arc<dyn Outbox>,
    /// Durable key-value state.
    pub kv: Arc<dyn KvStore>,
    /// The idempotency ledger.
    pub ledger: Arc<dyn IdempotencyLedger>,
    /// The WhatsApp Cloud API client.
    pub whatsapp: chatport_whatsapp::Client,
    /// WhatsApp sends, at most once per idempotency key.
    pub sender: MessageSink,
    /// Conversation sessions and reply contexts.
    pub conversations: Conversations,
    /// The directory of known people.
    pub directory: Directory,
    /// The configured rule-based classifier.
    pub classifier: Arc<RuleClassifier>,
    /// The `[assistant]` model, when configured.
    pub assistant: Option<chatport_assistant::llm::Assistant>,
    /// The OpenText CMS client, when `[opentext]` is configured.
    pub cms: Option<chatport_opentext::Client>,
    /// The Creatio client, when `[creatio]` is configured.
    pub creatio: Option<chatport_creatio::Client>,
    /// The Orange Logic (OrangeDAM) client, when `[orangelogic]` is configured.
    pub orangelogic: Option<chatport_orangelogic::Client>,
}

impl std::fmt::Debug for FlowContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowContext").finish_non_exhaustive()
    }
}

impl FlowContext<'_> {
    /// The CMS client, or a configuration error naming the flow that needs it.
    ///
    /// # Errors
    /// [`Error::Config`] when there is no `[opentext]` section.
    pub fn require_cms(&self, flow: &str) -> Result<chatport_opentext::Client, Error> {
        self.cms.clone().ok_or_else(|| {
            Error::Config(format!(
                "flow {flow} is enabled but there is no [opentext] section"
            ))
        })
    }
}

impl FlowContext<'_> {
    /// The Orange Logic client, or a configuration error naming the flow that needs it.
    ///
    /// # Errors
    /// [`Error::Config`] when there is no `[orangelogic]` section.
    pub fn require_orangelogic(&self, flow: &str) -> Result<chatport_orangelogic::Client, Error> {
        self.orangelogic.clone().ok_or_else(|| {
            Error::Config(format!(
                "flow {flow} is enabled but there is no [orangelogic] section"
            ))
        })
    }
}

/// What the enabled flows contribute to the service.
#[derive(Default)]
pub struct Registry {
    /// Flows of inbound WhatsApp messages, in priority-tie order.
    pub message_flows: Vec<Arc<dyn MessageFlow>>,
    /// Flows of other outbox rows, by flow name.
    pub event_flows: Vec<Arc<dyn EventFlow>>,
    /// Pollers to start with the service.
    pub pollers: Vec<PollerStart>,
    /// Vendor webhook endpoints: path and adapter.
    pub ingress_routes: Vec<(String, Arc<dyn WebhookAdapter>, Flows)>,
    /// Other HTTP routes, merged into the service's router.
    pub http_routes: Vec<axum::Router>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let messages: Vec<&str> = self.message_flows.iter().map(|f| f.name()).collect();
        let events: Vec<&str> = self.event_flows.iter().map(|f| f.name()).collect();
        f.debug_struct("Registry")
            .field("message_flows", &messages)
            .field("event_flows", &events)
            .field("pollers", &self.pollers.len())
            .field(
                "ingress_routes",
                &self
                    .ingress_routes
                    .iter()
                    .map(|(p, _, _)| p.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("http_routes", &self.http_routes.len())
            .finish()
    }
}

impl Registry {
    /// The event flow named `name`.
    pub fn event_flow(&self, name: &str) -> Option<&Arc<dyn EventFlow>> {
        self.event_flows.iter().find(|f| f.name() == name)
    }
}

/// Registers every enabled flow.
///
/// # Errors
/// [`Error::Config`] when an enabled flow lacks what it needs (a connector section, a setting).
pub fn register_all(ctx: &FlowContext<'_>, registry: &mut Registry) -> Result<(), Error> {
    // O1 first: it claims every message at the lowest priority, and ties go to the flow
    // registered first.
    opentext::o1::register(ctx, registry)?;
    creatio::register(ctx, registry)?;
    orangelogic::register(ctx, registry)?;
    opentext::register(ctx, registry)?;
    Ok(())
}
