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
use chatport_creatio::{Activity, Case, Entity, Query};
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
use crate::whatsapp::SendOnce;
use chatport_whatsapp::conversation::ConversationKey;

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

/// How a reply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivery {
    Sent(String),
    InDoubt,
    Held { template: Option<String> },
}

impl Shared {
    fn in_doubt(&self, what: &str) -> Outcome {
        Outcome::Retry {
            after: Some(Duration::from_secs(self.c2.in_doubt_recheck_secs)),
            reason: format!("{what} in doubt; not resent blindly, waiting for its status webhook"),
        }
    }

    /// Delivers an agent reply (C2) or, outside the window, the template + hold + note (C3).
    async fn deliver_reply(
        &self,
        conv: &ConversationKey,
        link: &CaseLink,
        activity_id: Uuid,
        text: &str,
    ) -> Result<Delivery, Error> {
        let event = EventId::new(format!("activity:{activity_id}"));
        let key = IdempotencyKey::derive(FLOW, "reply", &event);
        if let Some(sent) = self.send_in_window(conv, &key, text.to_owned()).await? {
            return Ok(match sent {
                SendOnce::Sent(w) => Delivery::Sent(w),
                _ => Delivery::InDoubt,
            });
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
            let agent: String = text.chars().take(900).collect();
            let template = t.build([
                ("customer_name", name),
                ("case_number", link.case_number.clone().unwrap_or_default()),
                ("agent_message", agent),
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
            self.state
                .hold(
                    conv,
                    &HeldReply {
                        activity_id,
                        text: text.to_owned(),
                        held_at: Utc::now(),
                    },
                )
                .await?;
        }
        let last_text = last.map_or_else(
            || "never".to_owned(),
            |l| l.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
        let mut notes = format!(
            "Your reply was not sent as a WhatsApp message: the customer last wrote {last_text}, more than 24 hours ago, and WhatsApp allows free-text messages only within 24 hours of the customer's last message.\n"
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
                "Your reply is held and will be delivered automatically as soon as the customer writes again.\n",
            );
        }
        let note = Activity {
            title: Some(format!(
                "{} Reply not delivered yet: WhatsApp 24-hour window closed",
                self.c1.activity_prefix
            )),
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
        let key = IdempotencyKey::derive("C3", "note", &event);
        self.state.mark_own(key.uuid()).await?;
        self.activities.write(&note, &key).await?;
        Ok(Delivery::Held {
            template: template_sent,
        })
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
        let Some(conv) = self.state.conversation_of(case_id).await? else {
            return skipped("the case is not a WhatsApp conversation");
        };
        let Some(link) = self.state.link(&conv).await? else {
            return skipped("the case is not a WhatsApp conversation");
        };
        if link.case_id != case_id {
            return skipped("the case is not the conversation's current case");
        }
        let Some(text) = reply_text(&activity) else {
            return skipped("the activity has no text");
        };
        match self.deliver_reply(&conv, &link, activity_id, &text).await? {
            Delivery::Sent(wamid) => Ok(Outcome::delivered_with(json!({
                "activity_id": activity_id, "case_id": case_id, "sent": true, "wamid": wamid,
            }))),
            Delivery::InDoubt => Ok(self.in_doubt("agent reply")),
            Delivery::Held { template } => Ok(Outcome::delivered_with(json!({
                "activity_id": activity_id, "case_id": case_id, "sent": false,
                "window": "closed", "template": template, "held": self.c2.deliver_held_replies,
            }))),
        }
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
            Some(p) => crate::routing::Sender::Phone(p.to_owned()),
            None => crate::routing::Sender::UserId(conv.user.clone()),
        };
        self.conversations
            .end(&conv.phone_number_id, &sender)
            .await?;
        Ok(Outcome::delivered_with(json!({
            "case_id": case_id, "closed": true, "customer_notified": notified,
        })))
    }
}

/// Delivers the replies held for a conversation (the customer just wrote, so the window is
/// open). Returns how many went out.
///
/// # Errors
/// WhatsApp and store errors.
pub(crate) async fn deliver_held(s: &Shared, conv: &ConversationKey) -> Result<usize, Error> {
    let mut sent = 0;
    for held in s.state.held(conv).await? {
        let event = EventId::new(format!("activity:{}", held.activity_id));
        let key = IdempotencyKey::derive(FLOW, "reply", &event);
        match s.send_in_window(conv, &key, held.text.clone()).await? {
            Some(SendOnce::Sent(_)) => {
                s.state.release(conv, held.activity_id).await?;
                sent += 1;
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
