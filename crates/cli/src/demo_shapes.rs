//! `chatport demo`: the newer vendor shapes of issue 14, built with
//! `chatport_testkit::graph::shapes` and the Orange Logic emulator, run after the main report's
//! counts were taken (so every earlier count stays as it was) and reported in their own section
//! (`"scenarios"` in `--json`):
//!
//! - **username-only customer**: a text from a customer known only by business-scoped user id and
//!   username (no `wa_id`): O1 opens a case and answers the user id;
//! - **number change mid-conversation**: a customer writes, a `user_changed_number` system message
//!   arrives, the customer writes again from the new number: the system message gets no answer,
//!   the conversation thread moves to the new number, and the new number is answered;
//! - **standby period**: the customer writes while another app (Meta Business Agent) holds the
//!   thread (`standby`, with that app's answer as an echo): chatport records who holds it and does
//!   not answer; after `control_passed` to chatport the next message is answered;
//! - **chunked upload answering `AlreadyExists`**: the same file uploaded twice with the chunked
//!   upload; the second "Complete" answers `uploadStatus: AlreadyExists` with the first asset's
//!   record id, and the DAM holds one asset.

use std::collections::HashSet;
use std::sync::Arc;

use chatport_bridge::config::Config;
use chatport_core::redact;
use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore};
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::graph::shapes::{self, Business};
use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use chatport_whatsapp::control::{ControlStore, Holder};
use chatport_whatsapp::conversation::{ConversationKey, ConversationStore};
use serde_json::{Value, json};

/// What the scenarios add to the demo's report.
pub(crate) struct Scenarios {
    pub(crate) json: Value,
    pub(crate) text: String,
    pub(crate) problems: Vec<String>,
}

const USER_ID: &str = "US.48151623420000000001";
const USERNAME: &str = "kim.lee";
const OLD_NUMBER: &str = "447700900777";
const NEW_NUMBER: &str = "447700900888";
const STANDBY_CUSTOMER: &str = "33612345678";

fn ts(offset: i64) -> i64 {
    chrono::Utc::now().timestamp() - 300 + offset
}

/// The services and identifiers the scenarios use.
pub(crate) struct Context<'a> {
    pub(crate) graph: &'a GraphEmulator,
    pub(crate) simulator: &'a WebhookSimulator,
    pub(crate) store: &'a SqliteStore,
    pub(crate) orangelogic: &'a OrangeLogicEmulator,
    pub(crate) config: &'a Config,
    pub(crate) vars: &'a std::collections::BTreeMap<String, String>,
    /// WABA id, phone number id, display number.
    pub(crate) ids: (&'a str, &'a str, &'a str),
}

struct Posting<'a> {
    ctx: &'a Context<'a>,
    accepted: u64,
    deliveries: u64,
    problems: Vec<String>,
}

impl Posting<'_> {
    async fn post(&mut self, what: &str, body: &Value) -> Result<(), String> {
        let result = self
            .ctx
            .simulator
            .deliver(body)
            .await
            .map_err(|e| format!("webhook delivery: {e}"))?;
        self.deliveries += 1;
        let answer: Value = serde_json::from_str(&result.body).unwrap_or(Value::Null);
        self.accepted += ["inserted", "dead"]
            .iter()
            .filter_map(|k| answer.get(*k).and_then(Value::as_u64))
            .sum::<u64>();
        if result.status != 200 {
            self.problems
                .push(format!("scenario {what}: HTTP {}", result.status));
        }
        crate::demo::wait_drained(self.ctx.store).await
    }

    fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) -> bool {
        if !ok {
            self.problems.push(problem());
        }
        ok
    }
}

/// Replies whose `context.message_id` is `wamid`.
fn replies_to(graph: &GraphEmulator, wamid: &str) -> Vec<chatport_testkit::graph::SentMessage> {
    graph
        .sent()
        .into_iter()
        .filter(|m| m.body["context"]["message_id"] == wamid)
        .collect()
}

pub(crate) async fn run(ctx: &Context<'_>) -> Result<Scenarios, String> {
    let (waba, pnid, display) = ctx.ids;
    let business = Business::new(waba, pnid, display);
    let before: HashSet<i64> = ctx
        .store
        .list(&EventFilter::default(), 100_000)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| r.id)
        .collect();
    let kv: Arc<dyn chatport_runtime::KvStore> = Arc::new(ctx.store.clone());
    let mut p = Posting {
        ctx,
        accepted: 0,
        deliveries: 0,
        problems: Vec::new(),
    };
    let mut text = String::from("\nNewer WhatsApp and Orange Logic shapes (issue 14):\n");

    // 1. A username-only customer: business-scoped user id, no phone number.
    let wamid = "wamid.demo-username-0001";
    p.post(
        "username-only customer",
        &shapes::username_only_text(
            &business,
            USER_ID,
            USERNAME,
            wamid,
            ts(1),
            "My router shows an error since the update.",
        ),
    )
    .await?;
    let replies = replies_to(ctx.graph, wamid);
    let to_user_id = replies
        .iter()
        .filter(|m| m.recipient.as_deref() == Some(USER_ID) && m.to.is_none())
        .count();
    p.check(replies.len() == 1 && to_user_id == 1, || {
        format!(
            "username-only customer: {} replies, {to_user_id} to the user id (expected 1)",
            replies.len()
        )
    });
    text.push_str(&format!(
        "  username-only customer @{USERNAME} ({}): {} reply sent to the business-scoped user id, no phone number used\n",
        redact::phone(USER_ID),
        to_user_id
    ));
    let username_only = json!({ "replies_to_user_id": to_user_id });

    // 2. A number change mid-conversation.
    let first = "wamid.demo-move-0001";
    let system = "wamid.demo-move-sys";
    let second = "wamid.demo-move-0002";
    let message = |from: &str, wamid: &str, at: i64, body: &str| {
        Delivery::new(waba)
            .message(
                pnid,
                display,
                MessageSpec::text(from, wamid, at, body).profile_name("Sam Carter"),
            )
            .build()
    };
    p.post(
        "number change: first message",
        &message(OLD_NUMBER, first, ts(10), "My parcel never arrived."),
    )
    .await?;
    p.post(
        "number change: user_changed_number",
        &shapes::user_changed_number(&business, OLD_NUMBER, NEW_NUMBER, None, system, ts(11)),
    )
    .await?;
    p.post(
        "number change: message from the new number",
        &message(
            NEW_NUMBER,
            second,
            ts(12),
            "Any news on my parcel delivery?",
        ),
    )
    .await?;
    let conversations = ConversationStore::new(kv.clone());
    let thread = conversations
        .messages(&ConversationKey::new(pnid, NEW_NUMBER))
        .await
        .map_err(|e| e.to_string())?;
    let followed = thread.iter().any(|m| m.id == first);
    let system_replies = replies_to(ctx.graph, system).len();
    let new_replies = replies_to(ctx.graph, second)
        .iter()
        .filter(|m| m.to.as_deref().is_some_and(|t| t.ends_with(NEW_NUMBER)))
        .count();
    p.check(followed, || {
        "number change: the thread did not follow the new number".into()
    });
    p.check(system_replies == 0, || {
        format!("number change: {system_replies} replies to the system message")
    });
    p.check(new_replies == 1, || {
        format!("number change: {new_replies} replies to the new number (expected 1)")
    });
    text.push_str(&format!(
        "  number change {} → {}: thread of {} message(s) moved to the new number, system message answered {} time(s), new number answered {}\n",
        redact::phone(OLD_NUMBER),
        redact::phone(NEW_NUMBER),
        thread.len(),
        system_replies,
        new_replies
    ));
    let number_change = json!({
        "thread_followed": followed,
        "thread_messages": thread.len(),
        "system_message_replies": system_replies,
        "new_number_replies": new_replies,
    });

    // 3. A standby period: another app holds the thread.
    let during = "wamid.demo-standby-0001";
    let after = "wamid.demo-standby-0002";
    p.post(
        "standby: customer and the other app's answer",
        &shapes::standby_text(
            &business,
            STANDBY_CUSTOMER,
            during,
            ts(20),
            "Is the shop open on Sunday?",
            Some(("wamid.demo-agent-echo-0001", "Yes, from 10 to 16h.")),
        ),
    )
    .await?;
    let control = ControlStore::new(kv.clone());
    let held = control
        .holder(pnid, STANDBY_CUSTOMER)
        .await
        .map_err(|e| e.to_string())?;
    let sent_during = ctx.graph.sent_to(&format!("+{STANDBY_CUSTOMER}")).len();
    p.check(held == Holder::OtherApp && sent_during == 0, || {
        format!("standby: holder {held:?}, {sent_during} message(s) sent over the other app")
    });
    p.post(
        "standby: control passed to chatport",
        &shapes::handover(
            &business,
            "control_passed",
            STANDBY_CUSTOMER,
            "meta_business_agent",
            "chatport",
            ts(21),
        ),
    )
    .await?;
    let back = control
        .holder(pnid, STANDBY_CUSTOMER)
        .await
        .map_err(|e| e.to_string())?;
    p.post(
        "standby: message after the handover",
        &message(
            STANDBY_CUSTOMER,
            after,
            ts(22),
            "Thanks! Also, I was charged twice on my invoice.",
        ),
    )
    .await?;
    let answered_after = replies_to(ctx.graph, after).len();
    p.check(back == Holder::ThisApp && answered_after == 1, || {
        format!("standby: after the handover holder {back:?}, {answered_after} answer(s)")
    });
    text.push_str(&format!(
        "  standby period for {}: another app held the thread, chatport sent {} message(s); after control_passed it answered {}\n",
        redact::phone(STANDBY_CUSTOMER),
        sent_during,
        answered_after
    ));
    let standby = json!({
        "held_by_other_app": held == Holder::OtherApp,
        "sent_during_standby": sent_during,
        "answered_after_handover": answered_after,
    });

    // 4. The chunked upload answering `AlreadyExists` for a file the DAM already holds.
    let client = chatport_bridge::flows::orangelogic::client(ctx.config, ctx.vars)
        .map_err(|e| e.to_string())?
        .ok_or("the demo configuration has no [orangelogic] section")?;
    let bytes = b"%PDF-1.7 delivery note 4411".to_vec();
    let request = chatport_orangelogic::UploadRequest::new(
        ROOT_FOLDER,
        "delivery-note-4411.pdf",
        bytes.len() as u64,
    )
    .content_type("application/pdf");
    let assets_before = ctx.orangelogic.assets().len();
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        outcomes.push(
            client
                .upload_chunked(&request, std::io::Cursor::new(bytes.clone()))
                .await
                .map_err(|e| format!("chunked upload: {e}"))?,
        );
    }
    let new_assets = ctx.orangelogic.assets().len() - assets_before;
    let already = outcomes[1].already_existed && !outcomes[0].already_existed;
    let same_record =
        outcomes[0].record_id.is_some() && outcomes[0].record_id == outcomes[1].record_id;
    p.check(already && same_record && new_assets == 1, || {
        format!(
            "chunked upload: AlreadyExists {already}, same record {same_record}, {new_assets} new asset(s)"
        )
    });
    text.push_str(&format!(
        "  chunked upload of the same file twice: Success, then AlreadyExists naming the same record ({}); {} asset stored\n",
        outcomes[1].record_id.as_deref().unwrap_or("?"),
        new_assets
    ));
    let already_exists = json!({
        "uploads": outcomes.len(),
        "already_existed": already,
        "same_record": same_record,
        "assets_created": new_assets,
    });

    // Every event the scenarios added ended delivered (nothing lost, nothing dead).
    let rows: Vec<_> = ctx
        .store
        .list(&EventFilter::default(), 100_000)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| !before.contains(&r.id) && r.source == chatport_bridge::whatsapp::SOURCE)
        .collect();
    let delivered = rows
        .iter()
        .filter(|r| r.status == EventStatus::Done)
        .count() as u64;
    let dead = rows
        .iter()
        .filter(|r| r.status == EventStatus::Dead)
        .count() as u64;
    let accepted = p.accepted;
    p.check(rows.len() as u64 == accepted && delivered == accepted, || {
        format!(
            "scenarios: ingress accepted {accepted} event(s), the outbox holds {} new row(s), {delivered} delivered, {dead} dead",
            rows.len()
        )
    });
    text.push_str(&format!(
        "  {} webhook deliveries, {} events, {} delivered, {} dead\n",
        p.deliveries,
        rows.len(),
        delivered,
        dead
    ));
    let json = json!({
        "webhook_deliveries": p.deliveries,
        "events": rows.len(),
        "delivered": delivered,
        "dead": dead,
        "username_only": username_only,
        "number_change": number_change,
        "standby": standby,
        "already_exists": already_exists,
    });
    Ok(Scenarios {
        json,
        text,
        problems: p.problems,
    })
}
