//! # chatport-assistant
//!
//! The assistant steps of chatport's flows, behind traits so that a model-backed implementation
//! can replace the rule-based default per flow:
//!
//! - [`classify`]: [`Classifier`](classify::Classifier) — issue type, priority, product line and
//!   region of an inbound message, and who the customer is (flow O1's routing, C1's case fields);
//!   [`RuleClassifier`](classify::RuleClassifier) is configured in TOML.
//! - [`summary`]: [`Summariser`](summary::Summariser) — the subject and description of a
//!   conversation handed off to a person (flow C1), and the [`HandoffReason`](summary::HandoffReason);
//!   [`RuleSummariser`](summary::RuleSummariser) is the default.
//! - [`fields`]: [`FieldFiller`](fields::FieldFiller) — AI-filled case fields (text, number,
//!   date, lookup constrained to the lookup's real values); [`NoFields`](fields::NoFields) is the
//!   default.
//! - [`extract`]: [`Extractor`](extract::Extractor) — document metadata from the caption, the
//!   conversation and the document's text; [`NoExtraction`](extract::NoExtraction) is the
//!   default.
//! - `llm` (feature `llm`, on by default): an OpenAI-compatible Chat Completions client and the
//!   model-backed implementations of the four traits, each falling back to the rules.
//! - [`provenance`]: which model and prompt version wrote a value.
//!
//! The traits are async and infallible. The rule-based defaults are deterministic for the same
//! input; a model may answer a retried event differently (the bridge writes a record once per
//! idempotency key, so the first answer wins). Message text is personal data: nothing here logs
//! it. The guide is `docs/assistant.md` in the repository.
//!
//! ```
//! use chatport_assistant::classify::{Classifier, ClassifierConfig, MessageFacts, RuleClassifier};
//!
//! let config: ClassifierConfig = toml::from_str(
//!     r#"
//! [[issue_types]]
//! name = "billing"
//! keywords = ["invoice", "charged twice"]
//! [regions]
//! "49" = "EMEA"
//! "#,
//! )?;
//! let classifier = RuleClassifier::new(config);
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let c = classifier.classify(&MessageFacts::new(Some("4915112345678"), "My invoice is wrong")).await;
//! assert_eq!((c.issue_type.as_str(), c.region.as_str()), ("billing", "EMEA"));
//! # });
//! # Ok::<(), toml::de::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod classify;
mod error;
pub mod extract;
pub mod fields;
#[cfg(feature = "llm")]
#[cfg_attr(docsrs, doc(cfg(feature = "llm")))]
pub mod llm;
pub mod provenance;
pub mod summary;

pub use error::Error;

/// `text` on one line (runs of whitespace, line breaks included, become one space) and at most
/// `max` characters (Unicode scalar values, as Meta and Creatio count), ending in `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let mut out: String = line.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_characters_and_joins_lines() {
        assert_eq!(clip("äöü äöü", 4), "äöü…");
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("a\n b\tc", 10), "a b c");
    }
}
