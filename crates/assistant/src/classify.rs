//! Classification of inbound messages: issue type, priority, product line and region, and who the
//! customer is.
//!
//! [`Classifier`] is a trait so that a model-backed implementation can plug in; the default,
//! [`RuleClassifier`], is configured in TOML ([`ClassifierConfig`], chatport's `[classifier]`):
//! keywords choose the issue type, priority and product line; the sender's country calling code
//! chooses the region; a [`SenderDirectory`] (chatport's `[[directory]]`) maps a phone number to a
//! customer id, a name and a region.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::provenance::Provenance;

/// `[classifier]`: keyword and number rules for the rule-based classifier.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ClassifierConfig {
    /// Issue type when no rule matches. Default `general`.
    pub default_issue_type: String,
    /// Priority when no rule matches. Default `normal`.
    pub default_priority: String,
    /// Product line when no rule matches. Default `unspecified`.
    pub default_product_line: String,
    /// Region when no calling code matches. Default `unknown`.
    pub default_region: String,
    /// `[[classifier.issue_types]]`: first rule with a matching keyword wins.
    pub issue_types: Vec<KeywordRule>,
    /// `[[classifier.priorities]]`: first rule with a matching keyword wins.
    pub priorities: Vec<KeywordRule>,
    /// `[[classifier.product_lines]]`: first rule with a matching keyword wins.
    pub product_lines: Vec<KeywordRule>,
    /// `[classifier.regions]`: country calling code (digits) → region; the longest matching prefix
    /// of the sender's number wins.
    pub regions: BTreeMap<String, String>,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            default_issue_type: "general".into(),
            default_priority: "normal".into(),
            default_product_line: "unspecified".into(),
            default_region: "unknown".into(),
            issue_types: Vec::new(),
            priorities: Vec::new(),
            product_lines: Vec::new(),
            regions: BTreeMap::new(),
        }
    }
}

/// A named value chosen when one of its keywords occurs in the message.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KeywordRule {
    /// The value assigned (an issue type, priority or product line).
    pub name: String,
    /// Keywords, matched case-insensitively as whole words or phrases.
    pub keywords: Vec<String>,
}

/// What is known about the sender and text of a message.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MessageFacts<'a> {
    /// The sender's WhatsApp id or phone number (digits, optionally with `+`), if known. A
    /// business-scoped user id may be passed too: it is recognised and not read as a number.
    pub sender: Option<&'a str>,
    /// The message text (body, caption or interactive reply title).
    pub text: &'a str,
}

impl<'a> MessageFacts<'a> {
    /// Facts of one message.
    pub fn new(sender: Option<&'a str>, text: &'a str) -> Self {
        Self { sender, text }
    }
}

/// The result of classifying a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Classification {
    /// Customer id from the directory, if the sender is known.
    pub customer_id: Option<String>,
    /// Name from the directory, if the sender is known.
    pub customer_name: Option<String>,
    /// Issue type (`billing`, `delivery`, ... or the configured default).
    pub issue_type: String,
    /// Priority (`high`, `normal`, ... or the configured default).
    pub priority: String,
    /// Region from the directory or the calling code.
    pub region: String,
    /// Product line (or the configured default).
    pub product_line: String,
    /// Which model and prompt chose the values; `None` from the rules (and from an LLM
    /// implementation that answered with its rule fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// `true` when an LLM implementation could not use the model's answer (timeout, error,
    /// refusal, off-schema answer) and answered with its rule-based fallback.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
}

impl Classification {
    /// A classification with these values and no known customer.
    pub fn new(
        issue_type: impl Into<String>,
        priority: impl Into<String>,
        region: impl Into<String>,
        product_line: impl Into<String>,
    ) -> Self {
        Self {
            customer_id: None,
            customer_name: None,
            issue_type: issue_type.into(),
            priority: priority.into(),
            region: region.into(),
            product_line: product_line.into(),
            provenance: None,
            fallback: false,
        }
    }
}

/// Classifies inbound messages.
///
/// The rule-based [`RuleClassifier`] is deterministic for the same input. A model-backed one
/// (`LlmClassifier`, feature `llm`) may answer a retried event differently; the bridge writes a
/// record once per idempotency key, so the first answer wins.
///
/// Infallible: an implementation that cannot reach its model answers with its fallback.
#[async_trait]
pub trait Classifier: Send + Sync {
    /// Classifies one message.
    async fn classify(&self, facts: &MessageFacts<'_>) -> Classification;

    /// Classifies one message **without waiting** for anything (no model call): the rules'
    /// answer. Used for decisions that must be taken synchronously and the same way on every
    /// retry, such as which flow claims a message (the C1 escalation by issue type or priority).
    /// An LLM implementation answers with its fallback's `classify_rules`.
    fn classify_rules(&self, facts: &MessageFacts<'_>) -> Classification;
}

/// What a directory knows about a sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KnownSender {
    /// The customer id in the systems of record.
    pub customer_id: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The region, overriding the calling-code rule.
    pub region: Option<String>,
}

impl KnownSender {
    /// A sender with nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Looks senders up by phone number (digits only, e.g. `4915112345678`).
pub trait SenderDirectory: Send + Sync {
    /// What is known about the number `digits`, if anything.
    fn lookup(&self, digits: &str) -> Option<KnownSender>;
}

/// Keeps only the digits of a phone number: `"+49 (151) 123-45"` → `"4915112345"`.
pub fn phone_digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// The configured rule-based classifier.
#[derive(Clone)]
pub struct RuleClassifier {
    config: ClassifierConfig,
    /// Rules with lower-cased keywords, in configuration order.
    issue_types: Vec<(String, Vec<String>)>,
    priorities: Vec<(String, Vec<String>)>,
    product_lines: Vec<(String, Vec<String>)>,
    directory: Option<Arc<dyn SenderDirectory>>,
}

impl std::fmt::Debug for RuleClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleClassifier")
            .field("config", &self.config)
            .field("directory", &self.directory.is_some())
            .finish()
    }
}

impl RuleClassifier {
    /// The classifier of `config`, with no sender directory.
    pub fn new(config: ClassifierConfig) -> Self {
        let prepare = |rules: &[KeywordRule]| -> Vec<(String, Vec<String>)> {
            rules
                .iter()
                .map(|r| {
                    (
                        r.name.clone(),
                        r.keywords.iter().map(|k| k.to_lowercase()).collect(),
                    )
                })
                .collect()
        };
        Self {
            issue_types: prepare(&config.issue_types),
            priorities: prepare(&config.priorities),
            product_lines: prepare(&config.product_lines),
            config,
            directory: None,
        }
    }

    /// Looks senders up in `directory` (customer id, name, region).
    #[must_use]
    pub fn directory(mut self, directory: Arc<dyn SenderDirectory>) -> Self {
        self.directory = Some(directory);
        self
    }

    fn region_of(&self, digits: &str) -> Option<&str> {
        self.config
            .regions
            .iter()
            .filter(|(code, _)| !code.is_empty() && digits.starts_with(code.as_str()))
            .max_by_key(|(code, _)| code.len())
            .map(|(_, region)| region.as_str())
    }
}

/// Whether `c` belongs to a script written without spaces between words (Han, Hiragana, Katakana,
/// Hangul syllables, Thai), where a word boundary cannot be told from the characters around it.
fn is_unspaced(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0E7F}'   // Thai
        | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{AC00}'..='\u{D7AF}' // Hangul syllables
        | '\u{F900}'..='\u{FAFF}' // CJK compatibility ideographs
    )
}

/// Whether `keyword` occurs in `text` (both lower-case) as a whole word or phrase: the characters
/// before and after the match are not alphanumeric. In scripts written without spaces (Japanese,
/// Chinese, Thai, ...) any occurrence counts, as there is no boundary to check.
fn contains_word(text: &str, keyword: &str) -> bool {
    let (Some(first), Some(last)) = (keyword.chars().next(), keyword.chars().next_back()) else {
        return false;
    };
    let boundary = |neighbour: Option<char>, edge: char| {
        neighbour.is_none_or(|c| !c.is_alphanumeric() || is_unspaced(c) || is_unspaced(edge))
    };
    text.match_indices(keyword).any(|(start, _)| {
        boundary(text[..start].chars().next_back(), first)
            && boundary(text[start + keyword.len()..].chars().next(), last)
    })
}

fn first_match(rules: &[(String, Vec<String>)], text: &str) -> Option<String> {
    rules
        .iter()
        .find(|(_, keywords)| keywords.iter().any(|k| contains_word(text, k)))
        .map(|(name, _)| name.clone())
}

#[async_trait]
impl Classifier for RuleClassifier {
    async fn classify(&self, facts: &MessageFacts<'_>) -> Classification {
        self.classify_rules(facts)
    }

    fn classify_rules(&self, facts: &MessageFacts<'_>) -> Classification {
        let text = facts.text.to_lowercase();
        // A business-scoped user id ("US.1349…") is not a phone number: no calling code, no lookup.
        let digits = facts
            .sender
            .filter(|s| !s.chars().any(|c| c.is_ascii_alphabetic()))
            .map(phone_digits)
            .unwrap_or_default();
        let entry = match &self.directory {
            Some(directory) if !digits.is_empty() => directory.lookup(&digits),
            _ => None,
        };
        let entry = entry.as_ref();
        let region = entry
            .and_then(|e| e.region.clone())
            .or_else(|| self.region_of(&digits).map(str::to_owned))
            .unwrap_or_else(|| self.config.default_region.clone());
        Classification {
            customer_id: entry.and_then(|e| e.customer_id.clone()),
            customer_name: entry.and_then(|e| e.name.clone()),
            issue_type: first_match(&self.issue_types, &text)
                .unwrap_or_else(|| self.config.default_issue_type.clone()),
            priority: first_match(&self.priorities, &text)
                .unwrap_or_else(|| self.config.default_priority.clone()),
            region,
            product_line: first_match(&self.product_lines, &text)
                .unwrap_or_else(|| self.config.default_product_line.clone()),
            provenance: None,
            fallback: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OneCustomer;

    impl SenderDirectory for OneCustomer {
        fn lookup(&self, digits: &str) -> Option<KnownSender> {
            (digits == "4915112345678").then(|| KnownSender {
                customer_id: Some("CUST-1".into()),
                name: Some("Anna".into()),
                region: Some("DACH".into()),
            })
        }
    }

    fn classifier() -> RuleClassifier {
        let config: ClassifierConfig = toml::from_str(
            r#"
default_region = "unknown"
[[issue_types]]
name = "billing"
keywords = ["invoice", "rechnung", "charged twice", "返金"]
[[issue_types]]
name = "delivery"
keywords = ["parcel", "delivery"]
[[priorities]]
name = "high"
keywords = ["urgent", "dringend", "asap"]
[[product_lines]]
name = "routers"
keywords = ["router"]
[regions]
"1" = "NA"
"49" = "EMEA"
"491" = "EMEA-DE-MOBILE"
"#,
        )
        .unwrap();
        RuleClassifier::new(config).directory(Arc::new(OneCustomer))
    }

    #[test]
    fn keywords_choose_values_case_insensitively() {
        let c = classifier().classify_rules(&MessageFacts::new(
            Some("16505551234"),
            "URGENT: my Invoice is wrong",
        ));
        assert_eq!(c.issue_type, "billing");
        assert_eq!(c.priority, "high");
        assert_eq!(c.region, "NA");
        assert_eq!(c.product_line, "unspecified");
        assert_eq!(c.customer_id, None);
    }

    #[test]
    fn whole_words_only_and_non_ascii() {
        let c = classifier().classify_rules(&MessageFacts::new(
            None,
            "Meine Rechnung ist falsch – dringend!",
        ));
        assert_eq!(
            (c.issue_type.as_str(), c.priority.as_str()),
            ("billing", "high")
        );
        // "routers" contains "router" but "invoices2" must not match "invoice"
        let c = classifier().classify_rules(&MessageFacts::new(None, "invoices2 routerx"));
        assert_eq!(c.issue_type, "general");
        assert_eq!(c.product_line, "unspecified");
        let c = classifier().classify_rules(&MessageFacts::new(
            None,
            "注文した商品が壊れていました 😢 返金をお願いします",
        ));
        assert_eq!(
            c.issue_type, "billing",
            "unspaced scripts match inside runs of text"
        );
        let c = classifier().classify_rules(&MessageFacts::new(
            None,
            "I was charged twice for the router",
        ));
        assert_eq!(
            (c.issue_type.as_str(), c.product_line.as_str()),
            ("billing", "routers")
        );
    }

    #[test]
    fn directory_and_longest_calling_code() {
        let c = classifier().classify_rules(&MessageFacts::new(Some("4915112345678"), "hello"));
        assert_eq!(c.customer_id.as_deref(), Some("CUST-1"));
        assert_eq!(c.customer_name.as_deref(), Some("Anna"));
        assert_eq!(c.region, "DACH", "directory region overrides calling code");
        let c = classifier().classify_rules(&MessageFacts::new(Some("4917000000"), "hello"));
        assert_eq!(c.region, "EMEA-DE-MOBILE");
        let c = classifier().classify_rules(&MessageFacts::new(Some("4930000000"), "hello"));
        assert_eq!(c.region, "EMEA");
        let c = classifier()
            .classify_rules(&MessageFacts::new(Some("US.13491208655302741918"), "hello"));
        assert_eq!(
            c.region, "unknown",
            "a BSUID has no calling code; its digits are not a phone number"
        );
    }
}
