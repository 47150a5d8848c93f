//! The summary of a conversation handed off to a person: a subject and a description (chatport
//! writes them into the Creatio case's `Subject` and `Symptoms`), and why it was handed off. A
//! trait, so a model-backed summariser can plug in; [`RuleSummariser`] is the default.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use chatport_whatsapp::conversation::{Direction, LoggedMessage};

use crate::classify::Classification;
use crate::clip;
use crate::provenance::Provenance;

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
    /// The customer asked for a person in their own words (a model's reading of the
    /// conversation; an escalation phrase is [`HandoffReason::Phrase`]).
    CustomerAsked,
    /// The assistant lacked the knowledge to answer (a model's reading of the conversation).
    MissingKnowledge {
        /// What was missing, in a few words, if known.
        topic: Option<String>,
    },
    /// The conversation touches a topic that policy reserves to people (legal, complaints,
    /// refunds above a limit, ...; a model's reading of the conversation).
    PolicyTopic {
        /// The topic, in a few words, if known.
        topic: Option<String>,
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
            HandoffReason::CustomerAsked => "the customer asked for a person".into(),
            HandoffReason::MissingKnowledge { topic: Some(topic) } => {
                format!("the assistant lacked the knowledge to answer ({topic})")
            }
            HandoffReason::MissingKnowledge { topic: None } => {
                "the assistant lacked the knowledge to answer".into()
            }
            HandoffReason::PolicyTopic { topic: Some(topic) } => {
                format!("a topic reserved to people ({topic})")
            }
            HandoffReason::PolicyTopic { topic: None } => "a topic reserved to people".into(),
        }
    }
}

/// The customer's sentiment, as a model read it. Open: a value this version does not know is
/// kept in [`Sentiment::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sentiment {
    /// Satisfied, friendly.
    Positive,
    /// Neither.
    Neutral,
    /// Upset, angry, disappointed.
    Negative,
    /// Another value (kept as given, lower case).
    Unknown(String),
}

impl Sentiment {
    /// `positive`, `neutral`, `negative` (any case, surrounding spaces ignored) or
    /// [`Sentiment::Unknown`] with the lower-cased value.
    pub fn parse(value: &str) -> Self {
        let v = value.trim().to_lowercase();
        match v.as_str() {
            "positive" => Sentiment::Positive,
            "neutral" => Sentiment::Neutral,
            "negative" => Sentiment::Negative,
            _ => Sentiment::Unknown(v),
        }
    }

    /// The value as written: `positive`, `neutral`, `negative` or the unknown value.
    pub fn as_str(&self) -> &str {
        match self {
            Sentiment::Positive => "positive",
            Sentiment::Neutral => "neutral",
            Sentiment::Negative => "negative",
            Sentiment::Unknown(v) => v,
        }
    }
}

impl std::fmt::Display for Sentiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Sentiment {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Sentiment {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(Sentiment::parse(&s))
    }
}

/// A case summary.
///
/// The rule-based [`RuleSummariser`] fills `subject` and `description` only; a model-backed one
/// (`LlmSummariser`, feature `llm`) also fills the intent, the action items, the language, the
/// sentiment and its reading of the handoff reason, and names itself in `provenance`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// A short subject (at most 120 characters).
    pub subject: String,
    /// The long description (plain text).
    pub description: String,
    /// What the customer wants, in one sentence.
    pub intent: Option<String>,
    /// What the person taking over should do, in order.
    pub action_items: Vec<String>,
    /// The customer's language (a BCP 47 tag such as `de` or `pt-BR`).
    pub language: Option<String>,
    /// The customer's sentiment.
    pub sentiment: Option<Sentiment>,
    /// The model's reading of why the conversation needs a person (the flow's own
    /// [`SummaryInput::reason`] stays what triggered the handoff).
    pub handoff_reason: Option<HandoffReason>,
    /// Which model and prompt wrote it; `None` from the rules.
    pub provenance: Option<Provenance>,
    /// `true` when an LLM implementation answered with its rule-based fallback.
    pub fallback: bool,
}

impl Summary {
    /// A summary with this subject and description and nothing else.
    pub fn new(subject: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            description: description.into(),
            intent: None,
            action_items: Vec::new(),
            language: None,
            sentiment: None,
            handoff_reason: None,
            provenance: None,
            fallback: false,
        }
    }
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

/// Summarises a conversation for the agent.
///
/// [`RuleSummariser`] is deterministic for the same input. A model-backed summariser may answer a
/// retried handoff differently; the bridge writes the case once per idempotency key, so the first
/// answer wins. Infallible: an implementation that cannot reach its model answers with its
/// fallback.
#[async_trait]
pub trait Summariser: Send + Sync {
    /// The summary.
    async fn summarise(&self, input: &SummaryInput<'_>) -> Summary;
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

impl RuleSummariser {
    /// The rule-based summary (what [`Summariser::summarise`] returns), without an `.await`.
    pub fn summary(&self, input: &SummaryInput<'_>) -> Summary {
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
        Summary::new(subject, d)
    }
}

#[async_trait]
impl Summariser for RuleSummariser {
    async fn summarise(&self, input: &SummaryInput<'_>) -> Summary {
        self.summary(input)
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
        let classification = Classification::new("delivery", "high", "EMEA", "unspecified");
        let reason = HandoffReason::Phrase {
            phrase: "talk to a person".into(),
        };
        let s = RuleSummariser.summary(&SummaryInput {
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
