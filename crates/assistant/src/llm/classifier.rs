//! [`LlmClassifier`]: the model picks the issue type, priority, product line and region from the
//! configured lists.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{Assistant, Request, object_schema, only_keys, redact::head};
use crate::classify::{Classification, Classifier, ClassifierConfig, MessageFacts};

/// A [`Classifier`] backed by a model: issue type, priority and product line are chosen by the
/// model **only from the configured values** of [`ClassifierConfig`] (the rule names and the
/// defaults, as `enum`s of the JSON schema), so a model can never invent a queue.
///
/// The sender's number is not sent to the model (redaction). The customer (id, name) and the
/// region therefore come from the fallback (the directory, the calling code); the model's region,
/// chosen from the configured regions on what the message itself says, is used only when the
/// fallback found none (its answer is the configured default region).
///
/// On a timeout, an error, a refusal or an off-schema answer the fallback's classification is
/// returned with `fallback = true`. [`Classifier::classify_rules`] is the fallback's.
pub struct LlmClassifier {
    assistant: Assistant,
    fallback: Arc<dyn Classifier>,
    issue_types: Vec<String>,
    priorities: Vec<String>,
    product_lines: Vec<String>,
    regions: Vec<String>,
    default_region: String,
}

impl std::fmt::Debug for LlmClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClassifier")
            .field("assistant", &self.assistant)
            .field("issue_types", &self.issue_types)
            .field("priorities", &self.priorities)
            .field("product_lines", &self.product_lines)
            .field("regions", &self.regions)
            .finish_non_exhaustive()
    }
}

/// `default` then the names, without repeats.
fn allowed<'a>(default: &str, names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut out = vec![default.to_owned()];
    for name in names {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

impl LlmClassifier {
    /// A classifier asking `assistant`, constrained to the values of `config`, falling back to
    /// `fallback` (normally the [`RuleClassifier`](crate::classify::RuleClassifier) of the same
    /// `config`).
    pub fn new(
        assistant: Assistant,
        config: &ClassifierConfig,
        fallback: Arc<dyn Classifier>,
    ) -> Self {
        Self {
            assistant,
            fallback,
            issue_types: allowed(
                &config.default_issue_type,
                config.issue_types.iter().map(|r| &r.name),
            ),
            priorities: allowed(
                &config.default_priority,
                config.priorities.iter().map(|r| &r.name),
            ),
            product_lines: allowed(
                &config.default_product_line,
                config.product_lines.iter().map(|r| &r.name),
            ),
            regions: allowed(&config.default_region, config.regions.values()),
            default_region: config.default_region.clone(),
        }
    }

    fn schema(&self) -> Value {
        let mut p = Map::new();
        let one = |values: &[String], what: &str| json!({"type": "string", "enum": values, "description": what});
        p.insert(
            "issue_type".into(),
            one(&self.issue_types, "What the message is about."),
        );
        p.insert(
            "priority".into(),
            one(&self.priorities, "How urgent it is."),
        );
        p.insert(
            "product_line".into(),
            one(&self.product_lines, "The product it is about."),
        );
        p.insert(
            "region".into(),
            one(
                &self.regions,
                "Where the customer is, if the message says so.",
            ),
        );
        object_schema(p)
    }
}

fn pick(object: &Map<String, Value>, key: &str, allowed: &[String]) -> Result<String, String> {
    let value = object
        .get(key)
        .ok_or_else(|| format!("missing field `{key}`"))?
        .as_str()
        .ok_or_else(|| format!("field `{key}` is not a string"))?;
    allowed
        .iter()
        .find(|a| a.as_str() == value)
        .cloned()
        .ok_or_else(|| format!("field `{key}` is not one of the configured values"))
}

#[async_trait]
impl Classifier for LlmClassifier {
    async fn classify(&self, facts: &MessageFacts<'_>) -> Classification {
        let base = self.fallback.classify(facts).await;
        let prompt = &self.assistant.prompts().classify;
        let text = self.assistant.redact(facts.text);
        // The newest text counts most: keep the end of a long message.
        let max = self.assistant.max_prompt_chars();
        let count = text.chars().count();
        let text = if count > max {
            text.chars().skip(count - max).collect()
        } else {
            text
        };
        let request = Request {
            task: "classify",
            prompt,
            instructions: String::new(),
            user: format!("Message:\n{}", head(&text, max)),
            schema: self.schema(),
        };
        let answer = self
            .assistant
            .run(request, |value| {
                let o = only_keys(
                    &value,
                    &["issue_type", "priority", "product_line", "region"],
                )?;
                Ok((
                    pick(o, "issue_type", &self.issue_types)?,
                    pick(o, "priority", &self.priorities)?,
                    pick(o, "product_line", &self.product_lines)?,
                    pick(o, "region", &self.regions)?,
                ))
            })
            .await;
        match answer {
            Ok((issue_type, priority, product_line, region)) => Classification {
                issue_type,
                priority,
                product_line,
                region: if base.region == self.default_region {
                    region
                } else {
                    base.region
                },
                provenance: Some(self.assistant.provenance(prompt)),
                fallback: false,
                ..base
            },
            Err(_) => Classification {
                fallback: true,
                ..base
            },
        }
    }

    fn classify_rules(&self, facts: &MessageFacts<'_>) -> Classification {
        self.fallback.classify_rules(facts)
    }
}
