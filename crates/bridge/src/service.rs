//! Wiring: builds the connectors from the configuration, serves the webhook ingress and runs the
//! workers that deliver events to their flows. `chatport serve` and `chatport demo` both use
//! [`Service::start`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{IdempotencyLedger, Outcome};
use chatport_runtime::ingress::{self, IngressState};
use chatport_runtime::worker::{Handler, RetryPolicy, WorkerConfig, WorkerPool};
use chatport_runtime::{KvStore, Outbox, SqliteStore, StoredEvent};
use chatport_whatsapp::webhook::SignatureVerifier;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::classify::{Directory, RuleClassifier};
use crate::config::{Config, OpenTextGrant, Vars};
use crate::flows::o1::CaseIntake;
use crate::routing::{Conversations, Dispatcher, MessageFlow};
use crate::whatsapp::{
    FLOW_ERROR, FLOW_OTHER, FLOW_STATUS, OnceSender, StatusRecorder, WhatsAppWebhook,
};
use chatport_core::Classify;

/// Dispatches stored events to their flow by the row's `flow` column: inbound messages (routed or
/// not yet routed) to the [`Dispatcher`], status updates to the [`StatusRecorder`].
#[derive(Debug)]
pub struct FlowRouter {
    messages: Dispatcher,
    statuses: StatusRecorder,
}

#[async_trait]
impl Handler for FlowRouter {
    async fn handle(&self, event: &StoredEvent) -> Outcome {
        let result = match event.flow.as_str() {
            flow if self.messages.handles(flow) => self.messages.dispatch(event).await,
            FLOW_STATUS => self.statuses.record(event).await,
            // Recorded in the outbox for inspection; nothing to deliver.
            FLOW_ERROR | FLOW_OTHER => Ok(Outcome::delivered()),
            other => Ok(Outcome::Rejected {
                reason: format!("no handler for flow {other:?}"),
            }),
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
    store: SqliteStore,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    workers: WorkerPool,
}

fn whatsapp_client(config: &Config, vars: &dyn Vars) -> Result<chatport_whatsapp::Client, Error> {
    let wa = &config.whatsapp;
    Ok(chatport_whatsapp::Client::builder()
        .access_token(wa.access_token.resolve("whatsapp.access_token", vars)?)
        .base_url(&wa.api_base.resolve("whatsapp.api_base", vars)?)
        .api_version(&wa.api_version)
        .timeout(Duration::from_secs(wa.timeout_secs))
        .build()?)
}

fn cms_client(
    config: &Config,
    vars: &dyn Vars,
) -> Result<Option<chatport_opentext::Client>, Error> {
    let Some(ot) = &config.opentext else {
        return Ok(None);
    };
    let client_id = ot.client_id.resolve("opentext.client_id", vars)?;
    let secret = ot.client_secret.resolve("opentext.client_secret", vars)?;
    let mut builder = chatport_opentext::Client::builder()
        .tenant_id(&ot.tenant_id.resolve("opentext.tenant_id", vars)?)
        .auth_base(&ot.auth_base.resolve("opentext.auth_base", vars)?)
        .cms_base(&ot.cms_base.resolve("opentext.cms_base", vars)?)
        .timeout(Duration::from_secs(ot.timeout_secs));
    if let Some(css) = &ot.css_base {
        builder = builder.css_base(&css.resolve("opentext.css_base", vars)?);
    }
    builder = match ot.grant {
        OpenTextGrant::Password => {
            let username = ot
                .username
                .as_ref()
                .ok_or_else(|| {
                    Error::Config("opentext.username is required for the password grant".into())
                })?
                .resolve("opentext.username", vars)?;
            let password = ot
                .password
                .as_ref()
                .ok_or_else(|| {
                    Error::Config("opentext.password is required for the password grant".into())
                })?
                .resolve("opentext.password", vars)?;
            builder.password_grant(&client_id, secret, &username, password)
        }
        _ => builder.client_credentials(&client_id, secret),
    };
    Ok(Some(builder.build()?))
}

/// Resolves every setting and builds every client without starting anything: what `chatport check`
/// validates offline.
///
/// # Errors
/// The first configuration or client-builder error.
pub fn validate(config: &Config, vars: &dyn Vars) -> Result<(), Error> {
    config.validate()?;
    whatsapp_client(config, vars)?;
    cms_client(config, vars)?;
    let secrets = config
        .whatsapp
        .app_secrets
        .iter()
        .enumerate()
        .map(|(i, s)| s.resolve(&format!("whatsapp.app_secrets[{i}]"), vars))
        .collect::<Result<Vec<_>, _>>()?;
    SignatureVerifier::new(secrets)?;
    config
        .whatsapp
        .verify_token
        .resolve("whatsapp.verify_token", vars)?;
    Ok(())
}

impl Service {
    /// Starts the ingress on `listener` and the workers over `store`.
    ///
    /// # Errors
    /// Configuration errors (unset variables, invalid URLs, blank secrets), before anything starts.
    pub async fn start(
        config: &Config,
        vars: &dyn Vars,
        store: SqliteStore,
        listener: TcpListener,
    ) -> Result<Self, Error> {
        config.validate()?;
        let wa_client = whatsapp_client(config, vars)?;
        let secrets = config
            .whatsapp
            .app_secrets
            .iter()
            .enumerate()
            .map(|(i, s)| s.resolve(&format!("whatsapp.app_secrets[{i}]"), vars))
            .collect::<Result<Vec<_>, _>>()?;
        let verifier = SignatureVerifier::new(secrets)?;
        let verify_token = config
            .whatsapp
            .verify_token
            .resolve("whatsapp.verify_token", vars)?;

        let kv: Arc<dyn KvStore> = Arc::new(store.clone());
        let ledger: Arc<dyn IdempotencyLedger> = Arc::new(store.clone());
        let outbox: Arc<dyn Outbox> = Arc::new(store.clone());
        let sender = OnceSender::new(wa_client, ledger, kv.clone());

        let directory = Directory::new(&config.directory);
        let mut message_flows: Vec<Arc<dyn MessageFlow>> = Vec::new();
        if config.flows.o1.enabled {
            let cms = cms_client(config, vars)?
                .ok_or_else(|| Error::Config("flows.o1 needs an [opentext] section".into()))?;
            let classifier = Arc::new(RuleClassifier::new(
                config.classifier.clone(),
                directory.clone(),
            ));
            message_flows.push(Arc::new(CaseIntake::new(
                config.flows.o1.clone(),
                classifier,
                cms,
                sender.clone(),
            )));
        }
        let messages = Dispatcher::new(
            message_flows,
            Conversations::new(kv.clone()),
            directory,
            outbox.clone(),
        );
        let router = FlowRouter {
            messages,
            statuses: StatusRecorder::new(kv),
        };

        let shutdown = CancellationToken::new();
        let workers_cfg = &config.workers;
        let mut worker_config = WorkerConfig::default();
        worker_config.concurrency = workers_cfg.concurrency;
        worker_config.lease = Duration::from_secs(workers_cfg.lease_secs);
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

        let adapter = WhatsAppWebhook::new(verifier, verify_token);
        let notify: Arc<Notify> = workers.notifier();
        let state = IngressState::new(outbox)
            .route(&config.whatsapp.webhook_path, Arc::new(adapter))
            .notify(notify)
            .max_body_bytes(config.service.max_body_bytes);
        let app = ingress::router(state);
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::Server(e.to_string()))?;
        let server_shutdown = shutdown.clone();
        let server = tokio::spawn(async move {
            if let Err(error) = ingress::serve(listener, app, server_shutdown).await {
                tracing::error!(%error, "ingress server stopped");
            }
        });
        tracing::info!(%local_addr, "chatport service started");
        Ok(Self {
            local_addr,
            store,
            shutdown,
            server,
            workers,
        })
    }

    /// The address the ingress listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The store the service runs on (for inspection: stats, dead-letter queue).
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops intake, lets in-flight deliveries finish, releases leases, and waits for all of it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
        self.workers.join().await;
    }
}
