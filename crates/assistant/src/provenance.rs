//! Which model and which prompt produced an AI-written value ([`Provenance`]).
//!
//! chatport writes it with every AI-filled value (a line in the first case activity, a property
//! in the CMS record), so that a person can tell a model's answer from a rule's and find the
//! prompt that produced it.

use serde::{Deserialize, Serialize};

/// The model and the prompt (name and version) behind an answer.
///
/// Displayed as `model gpt-4o-mini, prompt summary@3f2a9c1b`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Provenance {
    /// The model as configured (`[assistant] model`), e.g. `gpt-4o-mini`.
    pub model: String,
    /// The prompt's name: `classify`, `summary`, `fields` or `extract`.
    pub prompt: String,
    /// The prompt's version: its explicit `version:` first line, else the first 8 hex digits of
    /// its SHA-256.
    pub prompt_version: String,
}

impl Provenance {
    /// The provenance of an answer of `model` to prompt `prompt` at `prompt_version`.
    pub fn new(
        model: impl Into<String>,
        prompt: impl Into<String>,
        prompt_version: impl Into<String>,
    ) -> Self {
        Self {
            model: model.into(),
            prompt: prompt.into(),
            prompt_version: prompt_version.into(),
        }
    }
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "model {}, prompt {}@{}",
            self.model, self.prompt, self.prompt_version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_model_and_prompt_version() {
        let p = Provenance::new("gpt-4o-mini", "summary", "3f2a9c1b");
        assert_eq!(p.to_string(), "model gpt-4o-mini, prompt summary@3f2a9c1b");
    }
}
