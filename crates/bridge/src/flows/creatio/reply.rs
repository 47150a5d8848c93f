//! **C2 agent replies** with the **C3 24-hour window** and **case closure**: `C2` outbox rows
//! (from the business-process endpoint or the poller, see [`super::events`]).
//!
//! For an added activity:
//! 1. skipped when chatport wrote it (its id is in chatport's own-activity set, or it was created
//!    by the configured integration user), when its type is not a reply type, or when its case is
//!    not a handed-off WhatsApp conversation;
//! 2. the activity is **read from Creatio** (the notification body is not trusted): the text is
//!    `Notes`, else `Body` (HTML reduced to text), else `Title`;
//! 3. inside the 24-hour window (the customer's last message, from the conversation store) the
//!    text goes out as a WhatsApp text, once per activity (`derive("C2", "reply", activity)`);
//! 4. outside it (or when Meta answers 131047) free text is not sent (C3): the configured template
//!    goes out instead — once per closed window, however many replies the agent writes — the reply
//!    is held and delivered as soon as the customer writes again (`deliver_held_replies`), and an
//!    activity on the case tells the agent what happened and why.
//!
//! For a case status change: the case is read from Creatio; when its status is a closed one the
//! conversation leaves the agent (the next escalation opens a new case), and the customer is told
//! (`close_message` inside the window, `close_template` outside), once per case.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatport_core::{EventId, IdempotencyKey, Outcome, Sink};
use chatport_creatio::{Activity, Case, CaseFile, Entity, Query};
use chatport_runtime::StoredEvent;
use chatport_whatsapp::OutgoingMessage;

use crate::templates::render;
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Shared;
use super::events::CreatioEvent;
use super::state::{CaseLink, HeldReply};
use crate::Error;
use crate::flows::EventFlow;
use chatport_whatsapp::conversation::ConversationKey;
use chatport_whatsapp::sink::SendOnce;

/// The flow name of Creatio events (agent replies, closures).
pub const FLOW: &str = "C2";

/// Reduces an HTML body to text: tags dropped, `<br>` and block ends as line breaks, the common
/// entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut tag = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag
                    .trim_start_matches('/')
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if matches!(name.as_str(), "br" | "p" | "div" | "li" | "tr")
                    && !out.ends_with('\n')
                    && !out.is_empty()
                {
                    out.push('\n');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

fn reply_text(a: &Activity) -> Option<String> {
    let nonblank = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    nonblank(&a.notes)
        .or_else(|| {
            nonblank(&a.body)
                .map(|b| html_to_text(&b))
                .filter(|t| !t.is_empty())
        })
        .or_else(|| nonblank(&a.detailed_result))
        .or_else(|| nonblank(&a.title))
}

/// What an agent sent to a handed-off conversation: a reply's text, or a file attached to the
/// case (C4, agent to customer).
#[derive(Debug, Clone, PartialEq, Eq)]
enum AgentItem {
    Reply { activity_id: Uuid, text: String },
    File { file_id: Uuid, name: String },
}

impl AgentItem {
    fn from_held(held: &HeldReply) -> Self {
        if held.file {
            AgentItem::File {
                file_id: held.activity_id,
                name: held.text.clone(),
            }
        } else {
            AgentItem::Reply {
                activity_id: held.activity_id,
                text: held.text.clone(),
            }
        }
    }

    /// `activity:{id}` or `file:{id}`: the event id the webhook and the poller give it.
    fn event(&self) -> EventId {
        match self {
            AgentItem::Reply { activity_id, .. } => EventId::new(format!("activity:{activity_id}")),
            AgentItem::File { file_id, .. } => EventId::new(format!("file:{file_id}")),
        }
    }

    /// The send's idempotency key: once per activity or file.
    fn key(&self) -> IdempotencyKey {
        let step = match self {
            AgentItem::Reply { .. } => "reply",
            AgentItem::File { .. } => "file",
        };
        IdempotencyKey::derive(FLOW, step, &self.event())
    }

    fn held(&self) -> HeldReply {
        let (activity_id, text, file) = match self {
            AgentItem::Reply { activity_id, text } => (*activity_id, text.clone(), false),
            AgentItem::File { file_id, name } => (*file_id, name.clone(), true),
        };
        HeldReply {
            activity_id,
            text,
            file,
            held_at: Utc::now(),
        }
    }

    /// What the window template's `agent_message` and the agent's note call it.
    fn summary(&self) -> String {
        match self {
            AgentItem::Reply { text, .. } => text.chars().take(900).collect(),
            AgentItem::File { name, .. } => format!("[file] {name}"),
        }
    }
}

/// One attempt to send an [`AgentItem`] inside the window.
enum Attempt {
    Sent(SendOnce),
    WindowClosed,
    /// WhatsApp cannot carry it (type or size); the agent is told.
    Refused(String),
}

/// How a reply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivery {
    Sent(String),
    InDoubt,
    Held { template: Option<String> },
    NotSent(String),
}

/// The MIME type without parameters, lower case.
fn mime_essence(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

impl Shared {
    fn in_doubt(&self, what: &str) -> Outcome {
        Outcome::Retry {
            after: Some(Duration::from_secs(self.c2.in_doubt_recheck_secs)),
            reason: format!("{what} in doubt; not resent blindly, waiting for its status webhook"),
        }
    }

    /// Sends `item` if the 24-hour window is open.
    async fn send_item(&self, conv: &ConversationKey, item: &AgentItem) -> Result<Attempt, Error> {
        let key = item.key();
        match item {
            AgentItem::Reply { text, .. } => {
                Ok(match self.send_in_window(conv, &key, text.clone()).await? {
                    Some(sent) => Attempt::Sent(sent),
                    None => Attempt::WindowClosed,
                })
            }
            AgentItem::File { file_id, name } => {
                self.send_file_in_window(conv, &key, *file_id, name).await
            }
        }
    }

    /// C4, agent to customer: downloads the `CaseFile`'s content from Creatio (spooled to a
    /// temporary file, at most `flows.c1.max_attachment_bytes`), uploads it to WhatsApp and
    /// sends it as an image, video or audio, or as a document with its name — if the window is
    /// open. A retry after a successful send finds the key sent and sends nothing, but downloads
    /// and uploads again (the extra media expires unused after 30 days).
    async fn send_file_in_window(
        &self,
        conv: &ConversationKey,
        key: &IdempotencyKey,
        file_id: Uuid,
        name: &str,
    ) -> Result<Attempt, Error> {
        use chatport_whatsapp::{MediaKind, MediaSource};
        if !self.window.is_open(&conv.phone_number_id, &conv.user).await {
            return Ok(Attempt::WindowClosed);
        }
        let cap = self.c1.max_attachment_bytes;
        let too_large = || {
            Attempt::Refused(format!(
                "it is larger than {cap} bytes (flows.c1.max_attachment_bytes)"
            ))
        };
        let download = self.creatio.download_case_file(file_id).await?;
        if download.length.is_some_and(|l| l > cap) {
            return Ok(too_large());
        }
        let mime = mime_essence(
            download
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        );
        let Some(kind) = MediaKind::for_mime(&mime) else {
            return Ok(Attempt::Refused(format!(
                "WhatsApp does not accept files of type {mime}"
            )));
        };
        let spooled = download.spool().await?;
        if spooled.length > cap {
            return Ok(too_large());
        }
        let uploaded = match self
            .whatsapp
            .upload_media(
                &conv.phone_number_id,
                spooled.open().await?,
                spooled.length,
                &mime,
                name,
            )
            .await
        {
            Ok(uploaded) => uploaded,
            Err(
                e @ (chatport_whatsapp::Error::UnsupportedMediaType { .. }
                | chatport_whatsapp::Error::MediaTooLarge { .. }),
            ) => return Ok(Attempt::Refused(e.to_string())),
            Err(e) => return Err(e.into()),
        };
        let to = Shared::recipient(conv);
        let source = MediaSource::id(uploaded.id);
        let message = match kind {
            MediaKind::Image => OutgoingMessage::image(to, source),
            MediaKind::Video => OutgoingMessage::video(to, source),
            MediaKind::Audio => OutgoingMessage::audio(to, source),
            _ => OutgoingMessage::document(to, source).filename(name),
        };
        match self.sender.send(key, &conv.phone_number_id, message).await {
            Ok(sent) => Ok(Attempt::Sent(sent)),
            Err(e) if e.kind() == Some(chatport_whatsapp::ErrorKind::ReEngagementRequired) => {
                Ok(Attempt::WindowClosed)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a to-do activity for the agent on the link's case, once per `key` (chatport's
    /// own: never sent back to WhatsApp).
    async fn note_to_agent(
        &self,
        link: &CaseLink,
        title: &str,
        notes: String,
        key: &IdempotencyKey,
    ) -> Result<(), Error> {
        let note = Activity {
            title: Some(format!("{} {title}", self.c1.activity_prefix)),
            notes: Some(notes),
            start_date: Some(Utc::now()),
            due_date: Some(Utc::now()),
            type_id: Some(self.lookups.activity_type_task),
            activity_category_id: Some(self.lookups.activity_category_todo),
            status_id: Some(self.lookups.activity_status_not_started),
            case_id: Some(link.case_id),
            contact_id: link.contact_id,
            ..Activity::new()
        };
        self.state.mark_own(key.uuid()).await?;
        self.activities.write(&note, key).await?;
        Ok(())
    }

    /// Tells the agent, in an activity on the case, why a file was not sent.
    async fn note_refused(
        &self,
        link: &CaseLink,
        item: &AgentItem,
        reason: &str,
    ) -> Result<(), Error> {
        let name = match item {
            AgentItem::File { name, .. } => name.as_str(),
            AgentItem::Reply { .. } => "reply",
        };
        let key = IdempotencyKey::derive("C4", "refused", &item.event());
        self.note_to_agent(
            link,
            "File not sent to WhatsApp",
            format!("The file \"{name}\" was not sent to the customer: {reason}.\n"),
            &key,
        )
        .await
    }

    /// Delivers an agent's reply or file (C2, C4) or, outside the window, the template + hold +
    /// note (C3).
    async fn deliver(
        &self,
        conv: &ConversationKey,
        link: &CaseLink,
        item: &AgentItem,
    ) -> Result<Delivery, Error> {
        let event = item.event();
        match self.send_item(conv, item).await? {
            Attempt::Sent(SendOnce::Sent(w)) => return Ok(Delivery::Sent(w)),
            Attempt::Sent(_) => return Ok(Delivery::InDoubt),
            Attempt::Refused(reason) => {
                self.note_refused(link, item, &reason).await?;
                return Ok(Delivery::NotSent(reason));
            }
            Attempt::WindowClosed => {}
        }
        // C3: the window is closed.
        let last = self.store.last_inbound(conv).await?;
        let mut template_sent = None;
        if let Some(t) = &self.c2.window_template {
            let window = EventId::new(format!(
                "{}:{}",
                conv.as_key(),
                last.map_or(0, |l| l.timestamp_millis())
            ));
            let key = IdempotencyKey::derive("C3", "template", &window);
            let name = self
                .store
                .messages(conv)
                .await?
                .iter()
                .rev()
                .find_map(|m| m.author.clone())
                .unwrap_or_default();
            let template = t.build([
                ("customer_name", name),
                ("case_number", link.case_number.clone().unwrap_or_default()),
                ("agent_message", item.summary()),
            ]);
            let message = OutgoingMessage::template(Shared::recipient(conv), template);
            match self
                .sender
                .send(&key, &conv.phone_number_id, message)
                .await?
            {
                SendOnce::Sent(_) => template_sent = Some(t.name.clone()),
                _ => return Ok(Delivery::InDoubt),
            }
        }
        if self.c2.deliver_held_replies {
            self.state.hold(conv, &item.held()).await?;
        }
        let last_text = last.map_or_else(
            || "never".to_owned(),
            |l| l.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
        let what = match item {
            AgentItem::Reply { .. } => "Your reply was not sent as a WhatsApp message".to_owned(),
            AgentItem::File { name, .. } => {
                format!("Your file \"{name}\" was not sent to WhatsApp")
            }
        };
        let mut notes = format!(
            "{what}: the customer last wrote {last_text}, more than 24 hours ago, and WhatsApp allows free-form messages only within 24 hours of the customer's last message.\n"
        );
        match &template_sent {
            Some(name) => notes.push_str(&format!(
                "chatport sent the approved template \"{name}\" to invite the customer back.\n"
            )),
            None => notes.push_str(
                "No template is configured (flows.c2.window_template), so nothing was sent.\n",
            ),
        }
        if self.c2.deliver_held_replies {
            notes.push_str(
                "It is held and will be delivered automatically as soon as the customer writes again.\n",
            );
        }
        let key = IdempotencyKey::derive("C3", "note", &event);
        self.note_to_agent(
            link,
            "Reply not delivered yet: WhatsApp 24-hour window closed",
            notes,
            &key,
        )
        .await?;
        Ok(Delivery::Held {
            template: template_sent,
        })
    }

    /// The conversation and link of `case_id` when it is the current case of a handed-off
    /// conversation; otherwise why not.
    async fn handed_off(
        &self,
        case_id: Uuid,
    ) -> Result<Result<(ConversationKey, CaseLink), &'static str>, Error> {
        let Some(conv) = self.state.conversation_of(case_id).await? else {
            return Ok(Err("the case is not a WhatsApp conversation"));
        };
        let Some(link) = self.state.link(&conv).await? else {
            return Ok(Err("the case is not a WhatsApp conversation"));
        };
        if link.case_id != case_id {
            return Ok(Err("the case is not the conversation's current case"));
        }
        Ok(Ok((conv, link)))
    }

    async fn on_file(&self, file_id: Uuid) -> Result<Outcome, Error> {
        let skipped = |why: &str| {
            Ok(Outcome::delivered_with(
                json!({ "skipped": why, "file_id": file_id }),
            ))
        };
        if !self.c2.agent_files {
            return skipped("flows.c2.agent_files is off");
        }
        if self.state.is_own(file_id).await? {
            return skipped("attached by chatport");
        }
        let file: Option<CaseFile> = self
            .creatio
            .find(
                CaseFile::SET,
                file_id,
                &Query::new().select(["Id", "Name", "CaseId", "TypeId", "CreatedById"]),
            )
            .await?;
        let Some(file) = file else {
            return skipped("the file does not exist (deleted?)");
        };
        if self.c2.integration_contact_id.is_some()
            && file.created_by_id == self.c2.integration_contact_id
        {
            return skipped("attached by the integration user");
        }
        if file.type_id == Some(self.lookups.file_type_link) {
            return skipped("a link, not a file");
        }
        let Some(case_id) = file.case_id.filter(|c| !c.is_nil()) else {
            return skipped("the file has no case");
        };
        let (conv, link) = match self.handed_off(case_id).await? {
            Ok(found) => found,
            Err(why) => return skipped(why),
        };
        let name = file
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("attachment")
            .to_owned();
        let item = AgentItem::File { file_id, name };
        let delivery = self.deliver(&conv, &link, &item).await?;
        Ok(self.outcome(delivery, &item, case_id))
    }

    /// The row's outcome of a delivery: the receipt names the activity (`activity_id`) or file
    /// (`file_id`), the case and what happened; a send in doubt is retried.
    fn outcome(&self, delivery: Delivery, item: &AgentItem, case_id: Uuid) -> Outcome {
        let (id_key, id, what) = match item {
            AgentItem::Reply { activity_id, .. } => ("activity_id", *activity_id, "agent reply"),
            AgentItem::File { file_id, .. } => ("file_id", *file_id, "agent file"),
        };
        let mut receipt = match delivery {
            Delivery::Sent(wamid) => json!({ "sent": true, "wamid": wamid }),
            Delivery::InDoubt => return self.in_doubt(what),
            Delivery::Held { template } => json!({
                "sent": false, "window": "closed", "template": template,
                "held": self.c2.deliver_held_replies,
            }),
            Delivery::NotSent(reason) => json!({ "sent": false, "reason": reason }),
        };
        receipt[id_key] = json!(id);
        receipt["case_id"] = json!(case_id);
        Outcome::delivered_with(receipt)
    }

    async fn on_activity(&self, activity_id: Uuid) -> Result<Outcome, Error> {
        let skipped = |why: &str| {
            Ok(Outcome::delivered_with(
                json!({ "skipped": why, "activity_id": activity_id }),
            ))
        };
        if self.state.is_own(activity_id).await? {
            return skipped("written by chatport");
        }
        let activity: Option<Activity> = self
            .creatio
            .find(
                Activity::SET,
                activity_id,
                &Query::new().select([
                    "Id",
                    "Title",
                    "Notes",
                    "Body",
                    "DetailedResult",
                    "TypeId",
                    "CaseId",
                    "CreatedById",
                    "AuthorId",
                    "CreatedOn",
                ]),
            )
            .await?;
        let Some(activity) = activity else {
            return skipped("the activity does not exist (deleted?)");
        };
        if self.c2.integration_contact_id.is_some()
            && activity.created_by_id == self.c2.integration_contact_id
        {
            return skipped("created by the integration user");
        }
        if !self.c2.reply_activity_types.is_empty()
            && !activity
                .type_id
                .is_some_and(|t| self.c2.reply_activity_types.contains(&t))
        {
            return skipped("not a reply activity type");
        }
        let Some(case_id) = activity.case_id.filter(|c| !c.is_nil()) else {
            return skipped("the activity has no case");
        };
        let (conv, link) = match self.handed_off(case_id).await? {
            Ok(found) => found,
            Err(why) => return skipped(why),
        };
        let Some(text) = reply_text(&activity) else {
            return skipped("the activity has no text");
        };
        let item = AgentItem::Reply { activity_id, text };
        let delivery = self.deliver(&conv, &link, &item).await?;
        Ok(self.outcome(delivery, &item, case_id))
    }

    async fn on_case_activities(&self, case_id: Uuid) -> Result<Outcome, Error> {
        let Some(conv) = self.state.conversation_of(case_id).await? else {
            return Ok(Outcome::delivered_with(
                json!({ "skipped": "the case is not a WhatsApp conversation" }),
            ));
        };
        let Some(link) = self.state.link(&conv).await? else {
            return Ok(Outcome::delivered_with(json!({ "skipped": "no link" })));
        };
        let since = link.opened_at - chrono::Duration::minutes(1);
        let page = self
            .creatio
            .list::<Activity>(
                Activity::SET,
                &Query::new()
                    .filter(
                        chatport_creatio::filter::lookup_eq("Case", case_id)
                            .and(chatport_creatio::filter::ge("CreatedOn", since)),
                    )
                    .select(["Id"])
                    .top(200),
            )
            .await?;
        let mut results = Vec::new();
        for id in page.value.iter().filter_map(|a| a.id) {
            if self.state.is_own(id).await? {
                continue;
            }
            match self.on_activity(id).await? {
                Outcome::Delivered { receipt } => results.push(receipt.unwrap_or(Value::Null)),
                other => return Ok(other),
            }
        }
        Ok(Outcome::delivered_with(
            json!({ "case_id": case_id, "activities": results }),
        ))
    }

    async fn on_case_status(&self, case_id: Uuid) -> Result<Outcome, Error> {
        let skipped = |why: &str| {
            Ok(Outcome::delivered_with(
                json!({ "skipped": why, "case_id": case_id }),
            ))
        };
        let Some(conv) = self.state.conversation_of(case_id).await? else {
            return skipped("the case is not a WhatsApp conversation");
        };
        let case: Option<Case> = self
            .creatio
            .find(
                Case::SET,
                case_id,
                &Query::new().select(["Id", "StatusId", "Number"]),
            )
            .await?;
        let Some(case) = case else {
            return skipped("the case does not exist");
        };
        if !self.is_closed_status(case.status_id) {
            return skipped("the status does not close the case");
        }
        let Some(mut link) = self
            .state
            .link(&conv)
            .await?
            .filter(|l| l.case_id == case_id)
        else {
            return skipped("not the conversation's current case");
        };
        if !link.open {
            return skipped("already closed");
        }
        let number = case
            .number
            .clone()
            .or_else(|| link.case_number.clone())
            .unwrap_or_default();
        let key = IdempotencyKey::derive(FLOW, "closed", &EventId::new(format!("case:{case_id}")));
        let text = render(&self.c2.close_message, [("case_number", number.as_str())]);
        let mut notified = match self.send_in_window(&conv, &key, text).await? {
            Some(SendOnce::Sent(_)) => Some("text"),
            Some(_) => return Ok(self.in_doubt("closure message")),
            None => None,
        };
        if notified.is_none()
            && let Some(t) = &self.c2.close_template
        {
            let template = t.build([("case_number", number.as_str())]);
            let key = IdempotencyKey::derive(
                FLOW,
                "closed-template",
                &EventId::new(format!("case:{case_id}")),
            );
            let message = OutgoingMessage::template(Shared::recipient(&conv), template);
            match self
                .sender
                .send(&key, &conv.phone_number_id, message)
                .await?
            {
                SendOnce::Sent(_) => notified = Some("template"),
                _ => return Ok(self.in_doubt("closure template")),
            }
        }
        link.open = false;
        self.state.save_link(&conv, &link).await?;
        let sender = match conv.phone() {
            Some(p) => chatport_whatsapp::inbound::Sender::Phone(p.to_owned()),
            None => chatport_whatsapp::inbound::Sender::UserId(conv.user.clone()),
        };
        self.conversations
            .end(&conv.phone_number_id, &sender)
            .await?;
        Ok(Outcome::delivered_with(json!({
            "case_id": case_id, "closed": true, "customer_notified": notified,
        })))
    }
}

/// Delivers the replies and files held for a conversation (the customer just wrote, so the
/// window is open). Returns how many went out; a file WhatsApp cannot carry is dropped from the
/// hold, and the agent is told why in a note on the case.
///
/// # Errors
/// WhatsApp, Creatio and store errors.
pub(crate) async fn deliver_held(s: &Shared, conv: &ConversationKey) -> Result<usize, Error> {
    let mut sent = 0;
    for held in s.state.held(conv).await? {
        let item = AgentItem::from_held(&held);
        match s.send_item(conv, &item).await? {
            Attempt::Sent(SendOnce::Sent(_)) => {
                s.state.release(conv, held.activity_id).await?;
                sent += 1;
            }
            Attempt::Refused(reason) => {
                if let Some(link) = s.state.link(conv).await? {
                    s.note_refused(&link, &item, &reason).await?;
                }
                s.state.release(conv, held.activity_id).await?;
            }
            _ => break,
        }
    }
    Ok(sent)
}

/// C2: handles `C2` rows.
pub struct AgentReplies {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AgentReplies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentReplies").finish_non_exhaustive()
    }
}

impl AgentReplies {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[async_trait]
impl EventFlow for AgentReplies {
    fn name(&self) -> &'static str {
        FLOW
    }

    async fn handle(&self, stored: &StoredEvent) -> Result<Outcome, Error> {
        let event: CreatioEvent =
            serde_json::from_slice(&stored.payload).map_err(|e| Error::Payload(e.to_string()))?;
        match event {
            CreatioEvent::ActivityAdded { activity_id, .. } => {
                self.shared.on_activity(activity_id).await
            }
            CreatioEvent::CaseActivities { case_id } => {
                self.shared.on_case_activities(case_id).await
            }
            CreatioEvent::CaseStatus { case_id, .. } => self.shared.on_case_status(case_id).await,
            CreatioEvent::FileAdded { file_id, .. } => self.shared.on_file(file_id).await,
            CreatioEvent::Other { event_type } => Ok(Outcome::delivered_with(
                json!({ "skipped": "unknown event_type", "event_type": event_type }),
            )),
            other => Ok(Outcome::delivered_with(
                json!({ "skipped": "event not handled by C2", "kind": other.kind() }),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_bodies_become_text() {
        assert_eq!(
            html_to_text(
                "<p>Hello&nbsp;Anna,</p><p>your refund is <b>on its way</b> &amp; done.<br/>Bye</p>"
            ),
            "Hello Anna,\nyour refund is on its way & done.\nBye"
        );
    }

    #[test]
    fn reply_text_prefers_notes_then_body_then_title() {
        let mut a = Activity {
            title: Some("Title".into()),
            body: Some("<i>Body</i>".into()),
            ..Activity::new()
        };
        assert_eq!(reply_text(&a).as_deref(), Some("Body"));
        a.notes = Some("  Notes ".into());
        assert_eq!(reply_text(&a).as_deref(), Some("Notes"));
        assert_eq!(reply_text(&Activity::new()), None);
    }
}
