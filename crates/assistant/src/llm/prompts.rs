//! The system prompts of the four tasks, kept as files ([`Prompts`]).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::Error;

/// One system prompt: its name, its text and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prompt {
    /// `classify`, `summary`, `fields` or `extract`.
    pub name: &'static str,
    /// The text sent as the system message (without a `version:` line).
    pub text: String,
    /// The explicit `version:` of the first line, else the first 8 hex digits of the SHA-256 of
    /// the file's content.
    pub version: String,
}

impl Prompt {
    /// The prompt `name` with the file content `content`.
    pub fn parse(name: &'static str, content: &str) -> Self {
        let first = content.lines().next().unwrap_or_default();
        let explicit = first
            .trim()
            .strip_prefix("version:")
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match explicit {
            Some(version) => Self {
                name,
                text: content[first.len()..]
                    .trim_start_matches(['\r', '\n'])
                    .to_owned(),
                version: version.to_owned(),
            },
            None => {
                let digest = Sha256::digest(content.as_bytes());
                Self {
                    name,
                    text: content.to_owned(),
                    version: hex::encode(&digest[..4]),
                }
            }
        }
    }
}

/// The prompts of the four tasks: `classify.md`, `summary.md`, `fields.md` and `extract.md`.
///
/// The shipped ones live in the crate's `prompts/` folder; [`Prompts::load`] reads a folder of
/// the operator's (chatport's `[assistant] prompts_dir`), where a missing file keeps the shipped
/// prompt. Each prompt's version ([`Prompt::version`]) is written with every AI-filled value
/// (see [`Provenance`](crate::provenance::Provenance)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prompts {
    /// The classifier's prompt.
    pub classify: Prompt,
    /// The summariser's prompt.
    pub summary: Prompt,
    /// The field filler's prompt.
    pub fields: Prompt,
    /// The extractor's prompt.
    pub extract: Prompt,
}

const SHIPPED: [(&str, &str); 4] = [
    ("classify", include_str!("../../prompts/classify.md")),
    ("summary", include_str!("../../prompts/summary.md")),
    ("fields", include_str!("../../prompts/fields.md")),
    ("extract", include_str!("../../prompts/extract.md")),
];

impl Prompts {
    /// The prompts shipped with the crate (`crates/assistant/prompts/*.md`).
    pub fn shipped() -> Self {
        let [c, s, f, e] = SHIPPED;
        Self {
            classify: Prompt::parse("classify", c.1),
            summary: Prompt::parse("summary", s.1),
            fields: Prompt::parse("fields", f.1),
            extract: Prompt::parse("extract", e.1),
        }
    }

    /// The prompts in `dir` (`classify.md`, `summary.md`, `fields.md`, `extract.md`); a file
    /// that does not exist keeps the shipped prompt.
    ///
    /// # Errors
    ///
    /// [`Error::Prompt`] when a file exists but cannot be read (permissions, not UTF-8).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let mut prompts = Self::shipped();
        for prompt in [
            &mut prompts.classify,
            &mut prompts.summary,
            &mut prompts.fields,
            &mut prompts.extract,
        ] {
            let path = dir.join(format!("{}.md", prompt.name));
            match std::fs::read_to_string(&path) {
                Ok(content) => *prompt = Prompt::parse(prompt.name, &content),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Prompt { path, source }),
            }
        }
        Ok(prompts)
    }
}

impl Default for Prompts {
    fn default() -> Self {
        Self::shipped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_explicit_or_a_hash() {
        let p = Prompt::parse("summary", "version: 2026-01\nWrite a summary.\n");
        assert_eq!(p.version, "2026-01");
        assert_eq!(p.text, "Write a summary.\n");
        let p = Prompt::parse("summary", "Write a summary.\n");
        assert_eq!(p.version.len(), 8);
        assert!(p.version.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(
            p.version,
            Prompt::parse("summary", "Write another.\n").version
        );
        let shipped = Prompts::shipped();
        assert!(shipped.classify.text.contains("allowed values"));
        assert_eq!(shipped.extract.name, "extract");
    }
}
