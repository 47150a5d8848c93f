//! [`LlmSummariser`]: the handoff summary written by a model.

use std::sync::Arc;

use async_trait::async_trait;
use chatport_whatsapp::conversation::{Direction, LoggedMessage};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Assistant, Request, object_schema, redact::fit_newest};
use crate::clip;
use crate::summary::{HandoffReason, Sentiment, Summariser, Summary, SummaryInput, message_gist};

/// The conversation as lines `[2026-03-04 10:15] customer: …` (redacted), oldest first.
pub(crate) fn transcript_lines(assistant: &Assistant, messages: &[LoggedMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            let who = match m.direction {
                Direction::Inbound => "customer",
                _ => "company",
            };
            format!(
                "[{}] {who}: {}",
                m.at.format("%Y-%m-%d %H:%M"),
                assistant.redact(&clip(&message_gist(m), 2000))
            )
        })
        .collect()
}

/// A [`Summariser`] backed by a model: subject, summary, intent, action items, the customer's
/// language and sentiment, and the model's reading of the handoff reason (customer asked,
/// missing knowledge, policy topic, classifier).
///
/// The case description it writes keeps the rule summary's facts (the handoff trigger, the
/// classification) and ends with the provenance line `Written by the assistant (model …, prompt
/// summary@…).`. The customer's name and number are not sent to the model.
///
/// On a timeout, an error, a refusal or an off-schema answer the fallback's summary is returned
/// with `fallback = true`.
pub struct LlmSummariser {
    assistant: Assistant,
    fallback: Arc<dyn Summariser>,
}

impl std::fmt::Debug for LlmSummariser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSummariser")
            .field("assistant", &self.assistant)
            .finish_non_exhaustive()
    }
}

const REASONS: [&str; 5] = [
    "customer_asked",
    "missing_knowledge",
    "policy_topic",
    "classifier",
    "other",
];
const SENTIMENTS: [&str; 3] = ["positive", "neutral", "negative"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    subject: String,
    summary: String,
    intent: String,
    action_items: Vec<String>,
    language: String,
    sentiment: String,
    handoff_reason: String,
    handoff_topic: Option<String>,
}

/// A BCP 47-looking tag (`de`, `pt-BR`, `zh-Hant-TW`), else `None`.
fn language_tag(value: &str) -> Option<String> {
    let value = value.trim();
    let mut parts = value.split('-');
    let primary = parts.next()?;
    let ok = (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    ok.then(|| value.to_owned())
}

impl LlmSummariser {
    /// A summariser asking `assistant`, falling back to `fallback` (normally
    /// [`RuleSummariser`](crate::summary::RuleSummariser)).
    pub fn new(assistant: Assistant, fallback: Arc<dyn Summariser>) -> Self {
        Self {
            assistant,
            fallback,
        }
    }

    fn schema() -> Value {
        let mut p = Map::new();
        let text = |d: &str| json!({"type": "string", "description": d});
        p.insert(
            "subject".into(),
            text("At most 12 words naming the problem."),
        );
        p.insert("summary".into(), text("Two to four sentences."));
        p.insert(
            "intent".into(),
            text("The customer's goal in one sentence."),
        );
        p.insert(
            "action_items".into(),
            json!({"type": "array", "items": {"type": "string"}, "description": "Next steps for the person, in order."}),
        );
        p.insert(
            "language".into(),
            text("BCP 47 tag of the customer's language."),
        );
        p.insert(
            "sentiment".into(),
            json!({"type": "string", "enum": SENTIMENTS}),
        );
        p.insert(
            "handoff_reason".into(),
            json!({"type": "string", "enum": REASONS}),
        );
        p.insert(
            "handoff_topic".into(),
            json!({"type": ["string", "null"], "description": "The missing knowledge or policy topic, else null."}),
        );
        object_schema(p)
    }

    fn user_content(&self, input: &SummaryInput<'_>) -> String {
        let c = input.classification;
        let header = format!(
            "Handoff trigger: {}.\nClassification: issue {}, priority {}, product line {}.\nConversation (oldest first):\n",
            self.assistant.redact(&input.reason.describe()),
            c.issue_type,
            c.priority,
            c.product_line
        );
        let lines = transcript_lines(&self.assistant, input.messages);
        let budget = self
            .assistant
            .max_prompt_chars()
            .saturating_sub(header.chars().count())
            .max(100);
        format!("{header}{}", fit_newest(&lines, budget))
    }
}

fn parse(value: Value) -> Result<Answer, String> {
    let answer: Answer = serde_json::from_value(value).map_err(|e| {
        // serde's messages may quote a value: keep only the kind of mismatch.
        let m = e.to_string();
        if let Some(field) = m
            .strip_prefix("missing field `")
            .or_else(|| m.strip_prefix("unknown field `"))
            .and_then(|r| r.split('`').next())
            .filter(|f| f.len() <= 40 && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            format!(
                "{} `{field}`",
                if m.starts_with("missing") {
                    "missing field"
                } else {
                    "unknown field"
                }
            )
        } else {
            "a field has the wrong type".to_owned()
        }
    })?;
    if !SENTIMENTS.contains(&answer.sentiment.as_str()) {
        return Err("field `sentiment` is not one of the allowed values".into());
    }
    if !REASONS.contains(&answer.handoff_reason.as_str()) {
        return Err("field `handoff_reason` is not one of the allowed values".into());
    }
    if answer.subject.trim().is_empty() || answer.summary.trim().is_empty() {
        return Err("field `subject` or `summary` is empty".into());
    }
    Ok(answer)
}

#[async_trait]
impl Summariser for LlmSummariser {
    async fn summarise(&self, input: &SummaryInput<'_>) -> Summary {
        let prompt = &self.assistant.prompts().summary;
        let request = Request {
            task: "summary",
            prompt,
            instructions: String::new(),
            user: self.user_content(input),
            schema: Self::schema(),
        };
        let answer = self.assistant.run(request, parse).await;
        let answer = match answer {
            Ok(a) => a,
            Err(_) => {
                let mut summary = self.fallback.summarise(input).await;
                summary.fallback = true;
                summary.provenance = None;
                return summary;
            }
        };
        let provenance = self.assistant.provenance(prompt);
        let c = input.classification;
        let topic = answer
            .handoff_topic
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| clip(t, 120));
        let handoff_reason = match answer.handoff_reason.as_str() {
            "customer_asked" => Some(HandoffReason::CustomerAsked),
            "missing_knowledge" => Some(HandoffReason::MissingKnowledge { topic }),
            "policy_topic" => Some(HandoffReason::PolicyTopic { topic }),
            "classifier" => Some(HandoffReason::Classifier {
                issue_type: c.issue_type.clone(),
                priority: c.priority.clone(),
            }),
            _ => None,
        };
        let action_items: Vec<String> = answer
            .action_items
            .iter()
            .map(|a| clip(a, 300))
            .filter(|a| !a.is_empty())
            .take(10)
            .collect();
        let intent = Some(clip(&answer.intent, 500)).filter(|i| !i.is_empty());
        let language = language_tag(&answer.language);
        let sentiment = Sentiment::parse(&answer.sentiment);

        let mut d = String::new();
        d.push_str(answer.summary.trim());
        d.push_str("\n\n");
        if let Some(intent) = &intent {
            d.push_str(&format!("Intent: {intent}\n"));
        }
        if !action_items.is_empty() {
            d.push_str("Action items:\n");
            for item in &action_items {
                d.push_str(&format!("- {item}\n"));
            }
        }
        match &language {
            Some(l) => d.push_str(&format!("Language: {l}; sentiment: {sentiment}.\n")),
            None => d.push_str(&format!("Sentiment: {sentiment}.\n")),
        }
        d.push_str(&format!("Handoff: {}", input.reason.describe()));
        if let Some(reason) = &handoff_reason
            && reason != input.reason
        {
            d.push_str(&format!(" (the assistant reads: {})", reason.describe()));
        }
        d.push_str(".\n");
        d.push_str(&format!(
            "Classification: issue {}, priority {}, region {}, product line {}.\n",
            c.issue_type, c.priority, c.region, c.product_line
        ));
        d.push_str(&format!("Written by the assistant ({provenance}).\n"));

        let mut summary = Summary::new(clip(&answer.subject, 120), d);
        summary.intent = intent;
        summary.action_items = action_items;
        summary.language = language;
        summary.sentiment = Some(sentiment);
        summary.handoff_reason = handoff_reason;
        summary.provenance = Some(provenance);
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        assert_eq!(language_tag(" pt-BR "), Some("pt-BR".into()));
        assert_eq!(language_tag("de"), Some("de".into()));
        assert_eq!(language_tag("Customer says: hi"), None);
        assert_eq!(language_tag("german"), None);
    }
}
