//! Wiring: builds the connectors from the configuration, serves the webhook ingress and runs the
//! workers that deliver events to their flows. `chatport serve` and `chatport demo` both use
//! [`Service::start`] (or [`Service::start_with_routes`], which serves extra routes such as
//! `/metrics` on the same listener).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{IdempotencyLedger, Outcome};
use chatport_runtime::ingress::{self, IngressState};
use chatport_runtime::worker::{Handler, RetryPolicy, WorkerConfig, WorkerPool};
use chatport_runtime::{KvStore, Outbox, PgOptions, PgStore, SqliteStore, StoredEvent};
use chatport_whatsapp::webhook::SignatureVerifier;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::config::{Config, StoreBackend, StoreConfig};
use crate::directory::Directory;
use crate::flows::{EventFlow, FlowContext, Registry, register_all};
use crate::routing::Dispatcher;
use crate::settings::Vars;
use crate::whatsapp::{FLOW_ERROR, FLOW_OTHER, FLOW_STATUS, StatusRecorder, WhatsAppWebhook};
use chatport_assistant::classify::RuleClassifier;
use chatport_core::Classify;
use chatport_whatsapp::control::ControlStore;
use chatport_whatsapp::conversation::ConversationStore;
use chatport_whatsapp::inbound::Conversations;
use chatport_whatsapp::sink::MessageSink;

/// The stores a service runs on: the outbox, durable key-value state and the idempotency ledger,
/// each behind its trait so that the flows do not know the backend.
///
/// Build it from a store with `From` ([`SqliteStore`] or [`PgStore`]: the one store serves all
/// three roles) or from `[store]` with [`Stores::open`]. Cheap to clone.
#[derive(Clone)]
#[non_exhaustive]
pub struct Stores {
    /// The outbox.
    pub outbox: Arc<dyn Outbox>,
    /// Durable key-value state.
    pub kv: Arc<dyn KvStore>,
    /// The idempotency ledger.
    pub ledger: Arc<dyn IdempotencyLedger>,
    /// The PostgreSQL store when that is the backend: [`Service`] runs its lease reaper.
    postgres: Option<PgStore>,
    /// How often the reaper runs.
    reaper_interval: Duration,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl From<SqliteStore> for Stores {
    fn from(store: SqliteStore) -> Self {
        Self {
            outbox: Arc::new(store.clone()),
            kv: Arc::new(store.clone()),
            ledger: Arc::new(store),
            postgres: None,
            reaper_interval: Duration::from_secs(5),
        }
    }
}

impl From<PgStore> for Stores {
    fn from(store: PgStore) -> Self {
        Self {
            outbox: Arc::new(store.clone()),
            kv: Arc::new(store.clone()),
            ledger: Arc::new(store.clone()),
            postgres: Some(store),
            reaper_interval: Duration::from_secs(5),
        }
    }
}

impl Stores {
    /// Opens the store `[store]` names: the SQLite file at `path` (created when missing), or the
    /// PostgreSQL database at `url` (schema created or migrated, pool of `max_connections`).
    ///
    /// # Errors
    /// [`Error::Config`] when `url` is missing or its variable unset for the PostgreSQL backend;
    /// [`Error::Store`] when the store cannot be opened or reached (the message never holds the URL).
    pub async fn open(config: &StoreConfig, vars: &dyn Vars) -> Result<Self, Error> {
        match config.backend {
            StoreBackend::Postgres => {
                let url = config
                    .url
                    .as_ref()
                    .ok_or_else(|| {
                        Error::Config(
                            "store.url: required when store.backend = \"postgres\"".into(),
                        )
                    })?
                    .resolve("store.url", vars)?;
                let mut options = PgOptions::default().max_connections(config.max_connections);
                if let Some(schema) = &config.schema {
                    options = options.schema(schema.clone());
                }
                if let Some(path) = config.root_certificate_path(vars)? {
                    options = options.root_certificate(path);
                }
                let store = PgStore::connect(&url, options).await?;
                let mut stores = Self::from(store);
                stores.reaper_interval = Duration::from_secs(config.reaper_interval_secs.max(1));
                Ok(stores)
            }
            StoreBackend::Sqlite => Ok(Self::from(SqliteStore::open(
                config.sqlite_path(vars)?,
                chatport_runtime::SqliteOptions::default(),
            )?)),
        }
    }

    /// Which backend these stores are on.
    pub fn backend(&self) -> StoreBackend {
        if self.postgres.is_some() {
            StoreBackend::Postgres
        } else {
            StoreBackend::Sqlite
        }
    }

    /// The PostgreSQL store, when that is the backend.
    pub fn postgres(&self) -> Option<&PgStore> {
        self.postgres.as_ref()
    }
}

/// Dispatches stored events to their flow by the row's `flow` column: inbound messages (routed or
/// not yet routed) to the [`Dispatcher`], status updates to the [`StatusRecorder`], everything else
/// to the registered [`EventFlow`] of that name.
#[derive(Debug)]
pub struct FlowRouter {
    messages: Dispatcher,
    statuses: StatusRecorder,
    events: HashMap<&'static str, Arc<dyn EventFlow>>,
}

#[async_trait]
impl Handler for FlowRouter {
    async fn handle(&self, event: &StoredEvent) -> Outcome {
        let result = match event.flow.as_str() {
            // Only WhatsApp rows go to the message dispatcher: a flow may be both a message flow
            // and an event flow of the same name (O7: replies and poller rows).
            flow if event.source == crate::whatsapp::SOURCE && self.messages.handles(flow) => {
                self.messages.dispatch(event).await
            }
            FLOW_STATUS => self.statuses.record(event).await,
            // Standby and handover webhooks: who holds the conversation.
            FLOW_OTHER if event.source == crate::whatsapp::SOURCE => {
                self.messages.observe_other(event).await
            }
            // Recorded in the outbox for inspection; nothing to deliver.
            FLOW_ERROR | FLOW_OTHER => Ok(Outcome::delivered()),
            flow => match self.events.get(flow) {
                Some(handler) => handler.handle(event).await,
                None => Ok(Outcome::Rejected {
                    reason: format!("no handler for flow {flow:?}"),
                }),
            },
        };
        result.unwrap_or_else(|error| {
            tracing::warn!(flow = %event.flow, event_id = %event.event_id, class = error.class().as_str(), %error, "delivery attempt failed");
            Outcome::from_error(&error)
        })
    }
}

/// A running service.
#[derive(Debug)]
pub struct Service {
    local_addr: SocketAddr,
    stores: Stores,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    workers: WorkerPool,
    pollers: Vec<tokio::task::JoinHandle<()>>,
    reaper: Option<tokio::task::JoinHandle<()>>,
    retention: Option<tokio::task::JoinHandle<()>>,
}

/// The WhatsApp client of `[whatsapp]` (API base, version, token, timeout, media hosts), as the
/// service builds it; `chatport templates` uses it too.
///
/// # Errors
/// [`Error::Config`] for an unset variable or a blank token; client-builder errors.
pub fn whatsapp_client(
    config: &Config,
    vars: &dyn Vars,
) -> Result<chatport_whatsapp::Client, Error> {
    whatsapp_client_paced(config, vars, None)
}

/// The service's pacer of `[whatsapp] pacing`, or `None` without it: one per service, shared by
/// the client (whose `X-Business-Use-Case-Usage` headers it observes) and the message sink.
///
/// # Errors
/// [`Error::Config`] for invalid pacing keys.
pub fn whatsapp_pacer(config: &Config) -> Result<Option<Arc<chatport_whatsapp::Pacer>>, Error> {
    match config.whatsapp.pacing_config()? {
        Some(limits) => Ok(Some(Arc::new(
            chatport_whatsapp::Pacer::new(limits)
                .map_err(|e| Error::Config(format!("whatsapp.pacing: {e}")))?,
        ))),
        None => Ok(None),
    }
}

/// [`whatsapp_client`] whose usage headers feed `pacer` ([`chatport_whatsapp::Pacer::observe_usage`]).
fn whatsapp_client_paced(
    config: &Config,
    vars: &dyn Vars,
    pacer: Option<Arc<chatport_whatsapp::Pacer>>,
) -> Result<chatport_whatsapp::Client, Error> {
    let wa = &config.whatsapp;
    let api_base = wa.api_base.resolve("whatsapp.api_base", vars)?;
    let mut builder = chatport_whatsapp::Client::builder()
        .access_token(wa.access_token.resolve("whatsapp.access_token", vars)?)
        .base_url(&api_base)
        .api_version(&wa.api_version)
        .timeout(Duration::from_secs(wa.timeout_secs));
    if let Some(hosts) = &wa.media_hosts {
        builder = builder.media_hosts(hosts.iter().map(String::as_str));
    }
    if let Some(url) = &wa.thread_control_base_url {
        builder = builder
            .thread_control_base_url(&url.resolve("whatsapp.thread_control_base_url", vars)?);
    }
    // Media may also be downloaded from the API host itself: it already receives the token, so
    // allowing it widens nothing (and it is where the Graph emulator serves media).
    if let Some(host) = url::Url::parse(&api_base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
    {
        builder = builder.allow_media_host(host);
    }
    if let Some(pacer) = pacer {
        builder = builder.on_usage(move |usage| {
            if let Some(wait) = pacer.observe_usage(usage) {
                tracing::warn!(
                    wait_secs = wait.as_secs(),
                    "WhatsApp Business Use Case limit reached: sends are held back"
                );
            }
        });
    }
    Ok(builder.build()?)
}

fn app_secrets(config: &Config, vars: &dyn Vars) -> Result<SignatureVerifier, Error> {
    let secrets = config
        .whatsapp
        .app_secrets
        .iter()
        .enumerate()
        .map(|(i, s)| s.resolve(&format!("whatsapp.app_secrets[{i}]"), vars))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SignatureVerifier::new(secrets)?)
}

/// Builds the shared [`FlowContext`]: resolves every setting, builds every configured client.
///
/// # Errors
/// Configuration and client-builder errors.
pub fn context<'a>(
    config: &'a Config,
    vars: &'a dyn Vars,
    stores: impl Into<Stores>,
) -> Result<FlowContext<'a>, Error> {
    config.validate()?;
    let pacer = whatsapp_pacer(config)?;
    let whatsapp = whatsapp_client_paced(config, vars, pacer.clone())?;
    let Stores {
        outbox,
        kv,
        ledger,
        postgres,
        ..
    } = stores.into();
    // With PostgreSQL every replica shares one budget per CMS tenant (the limit is per tenant).
    let budget = postgres.map(|pg| Arc::new(pg) as Arc<dyn chatport_core::RateBudget>);
    let directory = Directory::new(&config.directory);
    Ok(FlowContext {
        config,
        vars,
        sender: {
            use crate::config::HeldElsewherePolicy;
            use chatport_whatsapp::sink::WhenHeldElsewhere;
            let when = match config.whatsapp.when_held_elsewhere {
                HeldElsewherePolicy::Take => WhenHeldElsewhere::Take,
                HeldElsewherePolicy::Send => WhenHeldElsewhere::Send,
                _ => WhenHeldElsewhere::Defer {
                    retry_after: Duration::from_secs(config.whatsapp.held_elsewhere_retry_secs),
                },
            };
            let sender = MessageSink::builder(whatsapp.clone(), ledger.clone(), kv.clone())
                .control(ControlStore::new(kv.clone()), when)
                .conversations(ConversationStore::new(kv.clone()));
            let sender = match pacer {
                Some(pacer) => sender.pacer(pacer),
                None => sender,
            };
            match config.whatsapp.resend_in_doubt_after_secs {
                Some(secs) => sender.resend_in_doubt_after(Duration::from_secs(secs)),
                None => sender,
            }
            .build()
        },
        conversations: Conversations::new(kv.clone()),
        classifier: Arc::new(
            RuleClassifier::new(config.classifier.clone()).directory(Arc::new(directory.clone())),
        ),
        directory,
        assistant: crate::assistant::build(config.assistant.as_ref(), vars)?,
        cms: crate::flows::opentext::client(config, vars, budget)?,
        creatio: crate::flows::creatio::client(config, vars)?,
        orangelogic: crate::flows::orangelogic::client(config, vars)?,
        whatsapp,
        outbox,
        kv,
        ledger,
    })
}

/// Resolves every setting, builds every client and registers every enabled flow without starting
/// anything: what `chatport check` validates offline.
///
/// # Errors
/// The first configuration or client-builder error.
pub fn validate(config: &Config, vars: &dyn Vars) -> Result<(), Error> {
    config.check_environment(vars)?;
    chatport_whatsapp::versions::check(
        &config.whatsapp.api_version,
        chrono::Utc::now().date_naive(),
    )
    .map_err(|e| Error::Config(format!("whatsapp.api_version: {e}")))?;
    let store = SqliteStore::open_in_memory()?;
    let ctx = context(config, vars, store)?;
    app_secrets(config, vars)?;
    config
        .whatsapp
        .verify_token
        .resolve("whatsapp.verify_token", vars)?;
    register_all(&ctx, &mut Registry::default())?;
    if let Some(url) = &config.store.url {
        url.resolve("store.url", vars)?;
    }
    Ok(())
}

impl Service {
    /// Starts the ingress on `listener`, the workers over `stores` (a [`SqliteStore`], a
    /// [`PgStore`] or [`Stores`]), the flows' pollers and, on PostgreSQL, the lease reaper.
    ///
    /// # Errors
    /// Configuration errors (unset variables, invalid URLs, blank secrets, a flow without its
    /// connector section), before anything starts.
    pub async fn start(
        config: &Config,
        vars: &dyn Vars,
        stores: impl Into<Stores>,
        listener: TcpListener,
    ) -> Result<Self, Error> {
        Self::start_with_routes(config, vars, stores, listener, Vec::new()).await
    }

    /// Like [`Service::start`], and also serves every router of `extra` on the same listener
    /// (merged into the ingress router; `chatport serve` adds `/metrics` this way). The ingress
    /// applies `[service]`'s backpressure keys (`max_pending`, `max_pending_age_secs`) to the
    /// webhook routes.
    ///
    /// # Errors
    /// As [`Service::start`].
    ///
    /// # Panics
    /// When an extra router repeats a path already served (axum refuses overlapping routes).
    pub async fn start_with_routes(
        config: &Config,
        vars: &dyn Vars,
        stores: impl Into<Stores>,
        listener: TcpListener,
        extra: Vec<axum::Router>,
    ) -> Result<Self, Error> {
        let stores: Stores = stores.into();
        config.check_expanded()?;
        config.check_environment(vars)?;
        let verifier = app_secrets(config, vars)?;
        let verify_token = config
            .whatsapp
            .verify_token
            .resolve("whatsapp.verify_token", vars)?;
        let ctx = context(config, vars, stores.clone())?;
        let mut registry = Registry::default();
        register_all(&ctx, &mut registry)?;
        let Registry {
            message_flows,
            event_flows,
            pollers,
            ingress_routes,
            http_routes,
        } = registry;

        let outbox = ctx.outbox.clone();
        let router = FlowRouter {
            messages: Dispatcher::new(
                message_flows,
                ctx.conversations.clone(),
                ctx.directory.clone(),
                outbox.clone(),
            )
            .typing_indicator(
                ctx.whatsapp.clone(),
                config.whatsapp.typing_indicator.iter().cloned(),
            ),
            statuses: StatusRecorder::new(ctx.kv.clone()),
            events: event_flows.into_iter().map(|f| (f.name(), f)).collect(),
        };

        let shutdown = CancellationToken::new();
        let workers_cfg = &config.workers;
        let mut worker_config = WorkerConfig::default();
        worker_config.concurrency = workers_cfg.concurrency;
        worker_config.lease = Duration::from_secs(workers_cfg.lease_secs);
        worker_config.attempt_timeout = Duration::from_secs(workers_cfg.attempt_timeout_secs);
        worker_config.batch = workers_cfg.claim_batch.max(1);
        worker_config.resolve_batch = workers_cfg.resolve_batch.max(1);
        worker_config.poll_interval = Duration::from_millis(workers_cfg.poll_interval_ms);
        let mut retry = RetryPolicy::default();
        retry.schedule = workers_cfg.schedule();
        retry.max_attempts = workers_cfg.max_attempts;
        worker_config.retry = retry;
        let workers = WorkerPool::spawn(
            outbox.clone(),
            Arc::new(router),
            worker_config,
            shutdown.child_token(),
        );
        let notify: Arc<Notify> = workers.notifier();
        let pollers = pollers
            .into_iter()
            .map(|start| start(shutdown.child_token(), notify.clone()))
            .collect();

        let mut state = IngressState::new(outbox)
            .route(
                &config.whatsapp.webhook_path,
                Arc::new(WhatsAppWebhook::new(verifier, verify_token)),
                crate::whatsapp::flows(),
            )
            .notify(notify)
            .max_body_bytes(config.service.max_body_bytes)
            .body_read_timeout(Duration::from_secs(
                config.service.body_read_timeout_secs.max(1),
            ))
            .body_budget(ingress::BodyBudget::new(
                config.service.max_body_memory_bytes,
            ))
            .backpressure(config.service.backpressure());
        for (path, adapter, flows) in ingress_routes {
            state = state.route(&path, adapter, flows);
        }
        let mut app = ingress::router(state);
        for routes in http_routes.into_iter().chain(extra) {
            app = app.merge(routes);
        }
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::Server(e.to_string()))?;
        let server_shutdown = shutdown.clone();
        let serve_options = config.service.serve_options();
        let server = tokio::spawn(async move {
            if let Err(error) =
                ingress::serve_with(listener, app, server_shutdown, serve_options).await
            {
                tracing::error!(%error, "ingress server stopped");
            }
        });
        let reaper = stores
            .postgres
            .as_ref()
            .map(|pg| pg.spawn_reaper(stores.reaper_interval, shutdown.child_token()));
        let retention = (config.store.retention_days > 0).then(|| {
            crate::retention::spawn(
                ctx.outbox.clone(),
                chatport_whatsapp::conversation::ConversationStore::new(ctx.kv.clone()),
                Duration::from_secs(u64::from(config.store.retention_days) * 24 * 60 * 60),
                shutdown.child_token(),
            )
        });
        tracing::info!(%local_addr, backend = ?stores.backend(), "chatport service started");
        Ok(Self {
            local_addr,
            stores,
            reaper,
            retention,
            shutdown,
            server,
            workers,
            pollers,
        })
    }

    /// The address the ingress listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The stores the service runs on (for inspection: stats, dead-letter queue).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops intake and pollers, lets in-flight deliveries finish, releases leases, and waits for
    /// all of it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
        for poller in self.pollers {
            let _ = poller.await;
        }
        self.workers.join().await;
        if let Some(reaper) = self.reaper {
            let _ = reaper.await;
        }
        if let Some(retention) = self.retention {
            let _ = retention.await;
        }
    }
}
