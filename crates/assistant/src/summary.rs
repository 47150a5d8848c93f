//! The summary of a conversation handed off to a person: a subject and a description (chatport
//! writes them into the Creatio case's `Subject` and `Symptoms`), and why it was handed off. A
//! trait, so a model-backed summariser can plug in; [`RuleSummariser`] is the default.

use serde::{Deserialize, Serialize};

use chatport_whatsapp::conversation::{Direction, LoggedMessage};

use crate::classify::Classification;
use crate::clip;

/// Why a conversation was handed off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HandoffReason {
    /// The customer wrote an escalation phrase.
    Phrase {
        /// The phrase that matched.
        phrase: String,
    },
    /// The classifier's issue type or priority is configured to hand off.
    Classifier {
        /// The issue type.
        issue_type: String,
        /// The priority.
        priority: String,
    },
    /// Someone handed it off by hand (`chatport handoff`, the HTTP endpoint).
    Manual {
        /// The note given with the request.
        note: Option<String>,
    },
}

impl HandoffReason {
    /// One line for people: `customer asked for a person ("speak to a person")`.
    pub fn describe(&self) -> String {
        match self {
            HandoffReason::Phrase { phrase } => {
                format!("the customer asked for a person (\"{phrase}\")")
            }
            HandoffReason::Classifier {
                issue_type,
                priority,
            } => format!("classified as {issue_type}, priority {priority}"),
            HandoffReason::Manual { note: Some(note) } => format!("handed off by hand: {note}"),
            HandoffReason::Manual { note: None } => "handed off by hand".into(),
        }
    }
}

/// A case summary.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// A short subject (at most 120 characters).
    pub subject: String,
    /// The long description (plain text).
    pub description: String,
}

/// What a summariser sees.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SummaryInput<'a> {
    /// The whole conversation, oldest first.
    pub messages: &'a [LoggedMessage],
    /// Why it is handed off.
    pub reason: &'a HandoffReason,
    /// The classification of the customer's messages.
    pub classification: &'a Classification,
    /// The customer's name, if known.
    pub customer_name: Option<&'a str>,
}

impl<'a> SummaryInput<'a> {
    /// The input for `messages` (oldest first), handed off for `reason`, classified as
    /// `classification`; no customer name.
    pub fn new(
        messages: &'a [LoggedMessage],
        reason: &'a HandoffReason,
        classification: &'a Classification,
    ) -> Self {
        Self {
            messages,
            reason,
            classification,
            customer_name: None,
        }
    }

    /// The customer's name.
    #[must_use]
    pub fn customer_name(mut self, name: Option<&'a str>) -> Self {
        self.customer_name = name;
        self
    }
}

/// Summarises a conversation for the agent. Must be deterministic for the same input (a retried
/// handoff writes the same case).
pub trait Summariser: Send + Sync {
    /// The summary.
    fn summarise(&self, input: &SummaryInput<'_>) -> Summary;
}

/// The rule-based summariser: the subject is the classification and the customer's first request;
/// the description gives the reason, the counts, the classification and the customer's last
/// messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleSummariser;

/// What a message says, for summaries and titles: its text, else its type.
pub fn message_gist(m: &LoggedMessage) -> String {
    match (&m.text, &m.template) {
        (Some(t), _) if !t.trim().is_empty() => t.clone(),
        (_, Some(name)) => format!("(template {name})"),
        _ => format!("({})", m.kind),
    }
}

impl Summariser for RuleSummariser {
    fn summarise(&self, input: &SummaryInput<'_>) -> Summary {
        let customer: Vec<&LoggedMessage> = input
            .messages
            .iter()
            .filter(|m| m.direction == Direction::Inbound)
            .collect();
        let first = customer
            .iter()
            .find(|m| m.text.as_deref().is_some_and(|t| !t.trim().is_empty()))
            .map(|m| message_gist(m))
            .unwrap_or_else(|| "conversation".into());
        let c = input.classification;
        let subject = clip(&format!("{} – {}", c.issue_type, first), 120);
        let media = input.messages.iter().filter(|m| m.media.is_some()).count();
        let mut d = String::new();
        d.push_str(&format!("Handoff: {}.\n", input.reason.describe()));
        if let Some(name) = input.customer_name {
            d.push_str(&format!("Customer: {name}.\n"));
        }
        d.push_str(&format!(
            "Classification: issue {}, priority {}, region {}, product line {}.\n",
            c.issue_type, c.priority, c.region, c.product_line
        ));
        if let (Some(first), Some(last)) = (input.messages.first(), input.messages.last()) {
            d.push_str(&format!(
                "Conversation: {} message(s) ({} from the customer, {} answered, {} with media) from {} to {} (UTC).\n",
                input.messages.len(),
                customer.len(),
                input.messages.len() - customer.len(),
                media,
                first.at.format("%Y-%m-%d %H:%M"),
                last.at.format("%Y-%m-%d %H:%M"),
            ));
        }
        let recent: Vec<&&LoggedMessage> = customer.iter().rev().take(3).collect();
        if !recent.is_empty() {
            d.push_str("Customer's latest messages:\n");
            for m in recent.into_iter().rev() {
                d.push_str(&format!("- {}\n", clip(&message_gist(m), 300)));
            }
        }
        Summary {
            subject,
            description: d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn summary_names_reason_classification_and_latest_messages() {
        let now = Utc::now();
        let mut a = LoggedMessage::new(Direction::Inbound, "1", now, "text");
        a.text = Some("My   parcel\nis damaged".into());
        let mut b = LoggedMessage::new(Direction::Outbound, "2", now, "text");
        b.text = Some("Sorry to hear that".into());
        let mut c = LoggedMessage::new(Direction::Inbound, "3", now, "image");
        c.media = Some(Default::default());
        let classification = Classification {
            customer_id: None,
            customer_name: None,
            issue_type: "delivery".into(),
            priority: "high".into(),
            region: "EMEA".into(),
            product_line: "unspecified".into(),
        };
        let reason = HandoffReason::Phrase {
            phrase: "talk to a person".into(),
        };
        let s = RuleSummariser.summarise(&SummaryInput {
            messages: &[a, b, c],
            reason: &reason,
            classification: &classification,
            customer_name: Some("Anna"),
        });
        assert_eq!(s.subject, "delivery – My parcel is damaged");
        assert!(s.description.contains("talk to a person"));
        assert!(s.description.contains("priority high"));
        assert!(
            s.description
                .contains("3 message(s) (2 from the customer, 1 answered, 1 with media)")
        );
        assert!(s.description.contains("- (image)"));
        assert!(s.description.contains("Customer: Anna."));
    }
}
