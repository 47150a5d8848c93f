//! Routing of inbound WhatsApp messages to flows, and the conversation state flows keep.
//!
//! Several flows want inbound messages: case intake (O1), document capture (O2), document requests
//! (O4), field evidence (O5), replies to notifications (O7, L4), user-generated content (L6), the
//! Creatio handoff (C1). Ingress stores every message under the generic flow [`FLOW_INBOUND`]; when a
//! worker picks it up, the [`Dispatcher`] decides which flow handles it, in this order:
//!
//! 1. **Reply context** — the message quotes or answers a message a flow sent (`context.id`, an
//!    interactive reply): the flow that sent it, as recorded with [`Conversations::remember_context`].
//! 2. **Active conversation** — the sender is in the middle of a conversation a flow started (O2
//!    asking for missing metadata): that flow, until the session ends or expires.
//! 3. **Claims** — every enabled flow looks at stateless facts (the sender's directory role, the
//!    message type, the text) and may claim the message with a priority; the highest wins, ties go
//!    to the flow registered first. O1 claims everything at the lowest priority.
//!
//! The decision is written to the outbox row ([`Outbox::set_flow`]), so retries go straight to the
//! chosen flow and per-flow counts, DLQ listings and replays show it. The flow runs inline, in the
//! same attempt: messages of one customer keep their order across flows, because the row keeps the
//! customer's ordering key.

use std::sync::Arc;

use async_trait::async_trait;
use chatport_core::Outcome;
use chatport_runtime::{Outbox, StoredEvent};
use chatport_whatsapp::control::ControlStore;
use chatport_whatsapp::conversation::{ConversationKey, LoggedMessage};
use chatport_whatsapp::inbound::{Conversations, Inbound};
use chatport_whatsapp::webhook;
use serde_json::json;

use crate::Error;
use crate::directory::{Directory, DirectoryEntry};

/// Flow name under which ingress stores inbound messages until the dispatcher routes them.
pub const FLOW_INBOUND: &str = "whatsapp.inbound";

/// A flow that handles inbound WhatsApp messages.
#[async_trait]
pub trait MessageFlow: Send + Sync {
    /// The flow's name (`"O1"`), as in the outbox, metrics and docs.
    fn name(&self) -> &'static str;

    /// Whether this flow wants a message by stateless facts alone (the sender's directory entry, the
    /// message type, the text). `Some(priority)` claims it; the highest priority wins. Replies to a
    /// flow's messages and active conversations are routed before claims are asked.
    fn claim(&self, inbound: &Inbound, person: Option<&DirectoryEntry>) -> Option<u8>;

    /// Handles a message routed to this flow.
    ///
    /// # Errors
    /// Connector and store errors; the dispatcher maps them to an [`Outcome`].
    async fn handle(&self, stored: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error>;

    /// Follows a customer whose phone number or business-scoped user id changed on
    /// `phone_number_id` (`moves`: old → new identifier), for state the flow keeps by
    /// conversation. Called once per `system` message, after the sessions and the conversation
    /// log moved ([`Conversations::follow`]). Default: nothing to move.
    ///
    /// # Errors
    /// Connector and store errors (the system message is retried).
    async fn follow(
        &self,
        _phone_number_id: &str,
        _moves: &[(String, String)],
    ) -> Result<(), Error> {
        Ok(())
    }
}

/// Routes inbound messages to the registered [`MessageFlow`]s and runs them.
pub struct Dispatcher {
    flows: Vec<Arc<dyn MessageFlow>>,
    conversations: Conversations,
    directory: Directory,
    outbox: Arc<dyn Outbox>,
    typing: Option<(chatport_whatsapp::Client, Vec<String>)>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.flows.iter().map(|f| f.name()).collect();
        f.debug_struct("Dispatcher")
            .field("flows", &names)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Shows a typing indicator (and marks the message read) before each of `flows` works on a
    /// message, through `client` (`[whatsapp] typing_indicator`). Best effort: a failure is
    /// logged and the flow runs as usual.
    #[must_use]
    pub fn typing_indicator(
        mut self,
        client: chatport_whatsapp::Client,
        flows: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let flows: Vec<String> = flows.into_iter().map(Into::into).collect();
        self.typing = (!flows.is_empty()).then_some((client, flows));
        self
    }

    /// Learns who holds a conversation from a WhatsApp row that is neither a message nor a status
    /// (`standby`, `messaging_handovers`; anything else is ignored), into the
    /// [`ControlStore`] every flow can ask.
    ///
    /// # Errors
    /// Store errors; a payload that is not a WhatsApp event is [`Error::Payload`].
    pub async fn observe_other(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        let event: webhook::Event =
            serde_json::from_slice(&stored.payload).map_err(|e| Error::Payload(e.to_string()))?;
        let changed = ControlStore::new(self.conversations.store().clone())
            .observe(&event)
            .await?;
        Ok(match changed {
            Some(state) => Outcome::delivered_with(json!({ "control": state.holder })),
            None => Outcome::delivered(),
        })
    }

    /// A dispatcher over `flows` (in registration order, which breaks priority ties).
    pub fn new(
        flows: Vec<Arc<dyn MessageFlow>>,
        conversations: Conversations,
        directory: Directory,
        outbox: Arc<dyn Outbox>,
    ) -> Self {
        Self {
            flows,
            conversations,
            directory,
            outbox,
            typing: None,
        }
    }

    /// Whether `flow` names a registered message flow or the generic inbound flow.
    pub fn handles(&self, flow: &str) -> bool {
        flow == FLOW_INBOUND || self.by_name(flow).is_some()
    }

    fn by_name(&self, name: &str) -> Option<&Arc<dyn MessageFlow>> {
        self.flows.iter().find(|f| f.name() == name)
    }

    /// Chooses the flow for a message: reply context, then active session, then the highest claim.
    ///
    /// # Errors
    /// Store errors.
    pub async fn route(&self, inbound: &Inbound) -> Result<Option<Arc<dyn MessageFlow>>, Error> {
        if let Some(id) = inbound.context_id()
            && let Some(context) = self.conversations.context(id).await?
            && let Some(flow) = self.by_name(&context.handler)
        {
            return Ok(Some(flow.clone()));
        }
        if let Some(session) = self
            .conversations
            .session(&inbound.phone_number_id, &inbound.sender)
            .await?
            && let Some(flow) = self.by_name(&session.handler)
        {
            return Ok(Some(flow.clone()));
        }
        // A person whose number changed is still found under the number the directory has.
        let previous = match inbound.sender.phone() {
            Some(p) if self.directory.lookup(p).is_none() => {
                self.conversations
                    .previous(&inbound.phone_number_id, p)
                    .await?
            }
            _ => None,
        };
        let person = inbound
            .sender
            .phone()
            .and_then(|p| self.directory.lookup(p))
            .or_else(|| previous.as_deref().and_then(|p| self.directory.lookup(p)));
        let mut best: Option<(u8, &Arc<dyn MessageFlow>)> = None;
        for flow in &self.flows {
            if let Some(priority) = flow.claim(inbound, person)
                && best.is_none_or(|(p, _)| priority > p)
            {
                best = Some((priority, flow));
            }
        }
        Ok(best.map(|(_, flow)| flow.clone()))
    }

    /// Handles one stored inbound message: records it in the conversation store, routes it on its
    /// first attempt (recording the choice on the row), then runs the flow.
    ///
    /// # Errors
    /// Store errors while routing; the flow's own errors.
    pub async fn dispatch(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        let Some(inbound) =
            Inbound::from_json(&stored.payload).map_err(|e| Error::Payload(e.to_string()))?
        else {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "not a message" }),
            ));
        };
        // Who holds the conversation (Conversation Routing): a customer message on `messages`
        // means this app answers it.
        ControlStore::new(self.conversations.store().clone())
            .observe(&inbound.event)
            .await?;
        // A number or user-id change is a system message for the stores, not for a flow to
        // answer: the sessions, the conversation log and its 24-hour window follow the customer
        // to the new identifier, and so does every flow's own state (C1's case link, C5's
        // contact); nothing is answered.
        if inbound.message.identity_change().is_some() {
            let moves = self.conversations.follow(&inbound.event).await?;
            for flow in &self.flows {
                flow.follow(&inbound.phone_number_id, &moves).await?;
            }
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "identity change followed", "moved": moves.len() }),
            ));
        }
        // Every inbound message joins its conversation's log, whichever flow handles it.
        self.conversations
            .log()
            .record(
                &ConversationKey::new(&inbound.phone_number_id, inbound.sender.as_str()),
                &LoggedMessage::from_message(&inbound.message, inbound.profile_name()),
            )
            .await?;
        let flow = if stored.flow == FLOW_INBOUND {
            match self.route(&inbound).await? {
                Some(flow) => {
                    self.outbox.set_flow(stored.id, flow.name()).await?;
                    flow
                }
                None => {
                    return Ok(Outcome::delivered_with(
                        json!({ "skipped": "no flow claims this message" }),
                    ));
                }
            }
        } else {
            match self.by_name(&stored.flow) {
                Some(flow) => flow.clone(),
                None => {
                    return Ok(Outcome::Rejected {
                        reason: format!("flow {:?} is not enabled", stored.flow),
                    });
                }
            }
        };
        // Shown on the first attempt only: a retry comes after a backoff, and the customer has
        // seen the indicator already (or WhatsApp has dismissed it).
        if let Some((client, flows)) = &self.typing
            && stored.attempts <= 1
            && flows.iter().any(|f| f == flow.name())
            && let Err(error) = client
                .typing_indicator(&inbound.phone_number_id, &inbound.message.id)
                .await
        {
            tracing::debug!(flow = flow.name(), %error, "typing indicator not shown");
        }
        flow.handle(stored, &inbound).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use chrono::Utc;

    use chatport_runtime::{EventFilter, SqliteStore};
    use chatport_testkit::webhook::{Delivery, MessageSpec, meta_json};
    use chatport_whatsapp::inbound::Sender;
    use chatport_whatsapp::webhook::Notification;

    use super::*;
    use crate::whatsapp::WhatsAppWebhook;

    /// A flow that claims by a keyword and records what it handled.
    struct Probe {
        name: &'static str,
        keyword: &'static str,
        priority: u8,
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl MessageFlow for Probe {
        fn name(&self) -> &'static str {
            self.name
        }
        fn claim(&self, inbound: &Inbound, _: Option<&DirectoryEntry>) -> Option<u8> {
            inbound
                .text()
                .filter(|t| t.contains(self.keyword))
                .map(|_| self.priority)
        }
        async fn handle(&self, _: &StoredEvent, inbound: &Inbound) -> Result<Outcome, Error> {
            self.seen.lock().unwrap().push(inbound.message.id.clone());
            Ok(Outcome::delivered())
        }
    }

    fn probe(name: &'static str, keyword: &'static str, priority: u8) -> Arc<Probe> {
        Arc::new(Probe {
            name,
            keyword,
            priority,
            seen: Mutex::new(Vec::new()),
        })
    }

    struct Setup {
        store: SqliteStore,
        dispatcher: Dispatcher,
        conversations: Conversations,
    }

    fn setup(flows: Vec<Arc<dyn MessageFlow>>) -> Setup {
        let store = SqliteStore::open_in_memory().unwrap();
        let conversations = Conversations::new(Arc::new(store.clone()));
        let dispatcher = Dispatcher::new(
            flows,
            conversations.clone(),
            Directory::default(),
            Arc::new(store.clone()),
        );
        Setup {
            store,
            dispatcher,
            conversations,
        }
    }

    /// Stores a text message (optionally quoting `context`) and returns its claimed row.
    async fn arrive(
        store: &SqliteStore,
        wamid: &str,
        text: &str,
        context: Option<&str>,
    ) -> chatport_runtime::Claimed {
        let mut spec = MessageSpec::text("16505551234", wamid, 1_751_247_548, text);
        if let Some(id) = context {
            spec = spec.context(id);
        }
        let body = Delivery::new("1")
            .message("106540352242922", "15550783881", spec)
            .build();
        arrive_body(store, &body).await
    }

    /// Stores a raw WhatsApp webhook body and returns its first claimed row.
    async fn arrive_body(
        store: &SqliteStore,
        body: &serde_json::Value,
    ) -> chatport_runtime::Claimed {
        let bytes = serde_json::to_vec(body).unwrap();
        let notification = Notification::parse(&bytes).unwrap();
        let adapter = WhatsAppWebhook::new(
            chatport_whatsapp::webhook::SignatureVerifier::new([secrecy::SecretString::from("s")])
                .unwrap(),
            secrecy::SecretString::from("v"),
        );
        let envelopes = adapter.envelopes(&notification, Utc::now()).unwrap();
        let rows = crate::whatsapp::flows().rows(
            crate::whatsapp::SOURCE,
            Utc::now(),
            chatport_core::webhook::WebhookBatch::new(envelopes),
        );
        store.enqueue(rows).await.unwrap();
        let claimed = store
            .claim("test", 1, Duration::from_secs(60))
            .await
            .unwrap();
        claimed.into_iter().next().unwrap()
    }

    /// Dispatches a claimed row and resolves it as the worker would.
    async fn run(s: &Setup, claimed: &chatport_runtime::Claimed) -> Outcome {
        let outcome = s.dispatcher.dispatch(&claimed.event).await.unwrap();
        s.store
            .resolve(
                &claimed.lease,
                claimed.event.id,
                chatport_runtime::Resolution::Done { receipt: None },
            )
            .await
            .unwrap();
        outcome
    }

    async fn flow_of(store: &SqliteStore, row: &StoredEvent) -> String {
        Outbox::get(store, row.id).await.unwrap().unwrap().flow
    }

    #[tokio::test]
    async fn the_highest_claim_wins_and_the_row_is_relabelled() {
        let (low, high) = (probe("LOW", "invoice", 1), probe("HIGH", "invoice 123", 5));
        let s = setup(vec![low.clone(), high.clone()]);
        let claimed = arrive(&s.store, "wamid.1", "please send invoice 123", None).await;
        let row = claimed.event.clone();
        assert_eq!(row.flow, FLOW_INBOUND);
        run(&s, &claimed).await;
        assert_eq!(high.seen.lock().unwrap().as_slice(), ["wamid.1"]);
        assert!(low.seen.lock().unwrap().is_empty());
        assert_eq!(flow_of(&s.store, &row).await, "HIGH");
    }

    #[tokio::test]
    async fn a_number_change_moves_the_conversation_and_reaches_no_flow() {
        use chatport_testkit::graph::shapes::{self, Business};
        let everything = probe("ALL", "", 0);
        let s = setup(vec![everything.clone()]);
        let before = arrive(&s.store, "wamid.old", "hello", None).await;
        run(&s, &before).await;
        assert_eq!(everything.seen.lock().unwrap().len(), 1);
        let business = Business::new("1", "106540352242922", "15550783881");
        let change = shapes::user_changed_number(
            &business,
            "16505551234",
            "16505559999",
            None,
            "wamid.sys",
            1_751_247_600,
        );
        let claimed = arrive_body(&s.store, &change).await;
        let outcome = run(&s, &claimed).await;
        assert!(
            format!("{outcome:?}").contains("identity change followed"),
            "{outcome:?}"
        );
        assert_eq!(
            everything.seen.lock().unwrap().len(),
            1,
            "no flow saw the system message"
        );
        let log = s.conversations.log();
        let new = ConversationKey::new("106540352242922", "16505559999");
        let moved = log.messages(&new).await.unwrap();
        assert_eq!(
            moved.len(),
            1,
            "the thread follows the new number: {moved:?}"
        );
        assert_eq!(moved[0].id, "wamid.old");
    }

    /// Claims by directory role: a technician whose number changed is still a technician.
    struct ByRole {
        seen: Mutex<Vec<Option<String>>>,
    }

    #[async_trait]
    impl MessageFlow for ByRole {
        fn name(&self) -> &'static str {
            "ROLE"
        }
        fn claim(&self, _: &Inbound, person: Option<&DirectoryEntry>) -> Option<u8> {
            self.seen
                .lock()
                .unwrap()
                .push(person.and_then(|p| p.role.clone()));
            Some(1)
        }
        async fn handle(&self, _: &StoredEvent, _: &Inbound) -> Result<Outcome, Error> {
            Ok(Outcome::delivered())
        }
    }

    #[tokio::test]
    async fn the_directory_still_knows_a_person_after_a_number_change() {
        use chatport_testkit::graph::shapes::{self, Business};
        let flow = Arc::new(ByRole {
            seen: Mutex::new(Vec::new()),
        });
        let store = SqliteStore::open_in_memory().unwrap();
        let directory: Directory = toml::from_str::<DirectoryFile>(
            "[[entry]]\nphone = \"+1 650 555 1234\"\nrole = \"technician\"\n",
        )
        .map(|f| Directory::new(&f.entry))
        .unwrap();
        let s = Setup {
            dispatcher: Dispatcher::new(
                vec![flow.clone()],
                Conversations::new(Arc::new(store.clone())),
                directory,
                Arc::new(store.clone()),
            ),
            conversations: Conversations::new(Arc::new(store.clone())),
            store,
        };
        let business = Business::new("1", "106540352242922", "15550783881");
        let change = shapes::user_changed_number(
            &business,
            "16505551234",
            "16505559999",
            None,
            "wamid.sys",
            1_751_247_600,
        );
        run(&s, &arrive_body(&s.store, &change).await).await;
        let body = Delivery::new("1")
            .message(
                "106540352242922",
                "15550783881",
                MessageSpec::text("16505559999", "wamid.new", 1_751_247_700, "on site"),
            )
            .build();
        run(&s, &arrive_body(&s.store, &body).await).await;
        assert_eq!(
            flow.seen.lock().unwrap().as_slice(),
            [Some("technician".to_owned())]
        );
    }

    #[derive(serde::Deserialize)]
    struct DirectoryFile {
        entry: Vec<DirectoryEntry>,
    }

    #[tokio::test]
    async fn handovers_and_standby_tell_who_holds_the_conversation() {
        use chatport_testkit::graph::shapes::{self, Business};
        use chatport_whatsapp::control::Holder;
        let s = setup(vec![probe("ALL", "", 0)]);
        let business = Business::new("1", "106540352242922", "15550783881");
        let control = ControlStore::new(Arc::new(s.store.clone()));
        let standby = shapes::standby_text(
            &business,
            "16505551234",
            "wamid.sb",
            1_751_247_600,
            "where is my order?",
            None,
        );
        let claimed = arrive_body(&s.store, &standby).await;
        assert_eq!(claimed.event.flow, crate::whatsapp::FLOW_OTHER);
        s.dispatcher.observe_other(&claimed.event).await.unwrap();
        s.store
            .resolve(
                &claimed.lease,
                claimed.event.id,
                chatport_runtime::Resolution::Done { receipt: None },
            )
            .await
            .unwrap();
        assert_eq!(
            control
                .holder("106540352242922", "16505551234")
                .await
                .unwrap(),
            Holder::OtherApp
        );
        // An older message (a late redelivery) does not flip the holder back.
        let late = arrive(&s.store, "wamid.late", "earlier text", None).await;
        run(&s, &late).await;
        assert_eq!(
            control
                .holder("106540352242922", "16505551234")
                .await
                .unwrap(),
            Holder::OtherApp
        );
        // The customer writes on `messages` again, later: this app holds it.
        let body: serde_json::Value = serde_json::from_str(&meta_json(
            &Delivery::new("1")
                .message(
                    "106540352242922",
                    "15550783881",
                    MessageSpec::text("16505551234", "wamid.back", 1_751_247_700, "thanks"),
                )
                .build(),
        ))
        .unwrap();
        let back = arrive_body(&s.store, &body).await;
        run(&s, &back).await;
        assert_eq!(
            control
                .holder("106540352242922", "16505551234")
                .await
                .unwrap(),
            Holder::ThisApp
        );
    }

    #[tokio::test]
    async fn the_typing_indicator_is_shown_for_configured_flows_only_and_never_fails_a_delivery() {
        use chatport_testkit::graph::GraphEmulator;
        let graph = GraphEmulator::start().await.unwrap();
        let client = chatport_whatsapp::Client::builder()
            .access_token(secrecy::SecretString::from(graph.access_token().to_owned()))
            .base_url(&graph.base_url())
            .build()
            .unwrap();
        let (slow, quick) = (probe("SLOW", "case", 2), probe("QUICK", "hi", 1));
        let s = setup(vec![slow.clone(), quick.clone()]);
        let s = Setup {
            dispatcher: s.dispatcher.typing_indicator(client, ["SLOW"]),
            ..s
        };
        let first = arrive(&s.store, "wamid.t1", "open a case", None).await;
        assert_eq!(first.event.attempts, 1);
        run(&s, &first).await;
        run(&s, &arrive(&s.store, "wamid.t2", "hi", None).await).await;
        assert_eq!(
            graph.marked_read(),
            ["wamid.t1"],
            "only the configured flow"
        );
        // A retry of the same event (routed to its flow on the first attempt) works again,
        // without a second indicator.
        let mut retry = first.event.clone();
        retry.attempts = 2;
        retry.flow = "SLOW".into();
        s.dispatcher.dispatch(&retry).await.unwrap();
        assert_eq!(graph.marked_read(), ["wamid.t1"], "not again on a retry");
        assert_eq!(slow.seen.lock().unwrap().len(), 2);
        assert_eq!(quick.seen.lock().unwrap().len(), 1);

        // A Graph API that cannot be reached: the flow still runs and the delivery succeeds.
        let unreachable = chatport_whatsapp::Client::builder()
            .access_token(secrecy::SecretString::from("t"))
            .base_url("http://127.0.0.1:9")
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let s2 = setup(vec![slow.clone()]);
        let s2 = Setup {
            dispatcher: s2.dispatcher.typing_indicator(unreachable, ["SLOW"]),
            ..s2
        };
        let outcome = run(
            &s2,
            &arrive(&s2.store, "wamid.t3", "open a case", None).await,
        )
        .await;
        assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
        assert_eq!(slow.seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn ties_go_to_the_flow_registered_first() {
        let (first, second) = (probe("FIRST", "x", 3), probe("SECOND", "x", 3));
        let s = setup(vec![first.clone(), second.clone()]);
        run(&s, &arrive(&s.store, "wamid.2", "x", None).await).await;
        assert_eq!(first.seen.lock().unwrap().len(), 1);
        assert!(second.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_active_session_beats_claims_and_a_reply_context_beats_the_session() {
        let (claimer, sessions, replies) = (
            probe("CLAIM", "", 9),
            probe("SESSION", "never", 0),
            probe("REPLY", "never", 0),
        );
        let s = setup(vec![claimer.clone(), sessions.clone(), replies.clone()]);
        let sender = Sender::Phone("16505551234".into());
        s.conversations
            .start(
                "106540352242922",
                &sender,
                "SESSION",
                json!({"step": 1}),
                Duration::from_secs(600),
            )
            .await
            .unwrap();
        run(&s, &arrive(&s.store, "wamid.3", "anything", None).await).await;
        assert_eq!(sessions.seen.lock().unwrap().as_slice(), ["wamid.3"]);

        s.conversations
            .remember_context("wamid.sent-by-reply-flow", "REPLY", json!({"record": "r1"}))
            .await
            .unwrap();
        run(
            &s,
            &arrive(
                &s.store,
                "wamid.4",
                "answer",
                Some("wamid.sent-by-reply-flow"),
            )
            .await,
        )
        .await;
        assert_eq!(replies.seen.lock().unwrap().as_slice(), ["wamid.4"]);
        assert!(claimer.seen.lock().unwrap().is_empty());

        // An ended session no longer routes.
        s.conversations
            .end("106540352242922", &sender)
            .await
            .unwrap();
        assert!(
            s.conversations
                .session("106540352242922", &sender)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_expired_session_does_not_route() {
        let (claimer, sessions) = (probe("CLAIM", "", 1), probe("SESSION", "never", 0));
        let s = setup(vec![claimer.clone(), sessions.clone()]);
        let sender = Sender::Phone("16505551234".into());
        s.conversations
            .start(
                "106540352242922",
                &sender,
                "SESSION",
                json!({}),
                Duration::ZERO,
            )
            .await
            .unwrap();
        run(&s, &arrive(&s.store, "wamid.5", "hi", None).await).await;
        assert_eq!(claimer.seen.lock().unwrap().len(), 1);
        assert!(sessions.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_unclaimed_message_is_delivered_as_skipped_and_kept() {
        let s = setup(vec![probe("ONLY", "keyword", 1)]);
        let claimed = arrive(&s.store, "wamid.6", "unrelated", None).await;
        let row = claimed.event.clone();
        let outcome = run(&s, &claimed).await;
        assert_eq!(
            outcome,
            Outcome::delivered_with(json!({ "skipped": "no flow claims this message" }))
        );
        assert_eq!(flow_of(&s.store, &row).await, FLOW_INBOUND);
        let listed = Outbox::list(&s.store, &EventFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(
            listed.len(),
            1,
            "the message stays in the outbox for inspection"
        );
    }

    #[tokio::test]
    async fn a_routed_row_goes_straight_to_its_flow_on_retry() {
        let (a, b) = (probe("A", "x", 1), probe("B", "x", 9));
        let s = setup(vec![a.clone(), b.clone()]);
        let mut row = arrive(&s.store, "wamid.7", "x", None).await.event;
        row.flow = "A".into(); // as relabelled by an earlier attempt
        s.dispatcher.dispatch(&row).await.unwrap();
        assert_eq!(
            a.seen.lock().unwrap().len(),
            1,
            "the recorded route is kept even if claims changed"
        );
        assert!(b.seen.lock().unwrap().is_empty());
    }
}
