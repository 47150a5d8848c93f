//! [`LlmFieldFiller`] (AI-filled case fields) and [`LlmExtractor`] (document metadata).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::summariser::transcript_lines;
use super::{Assistant, Request, object_schema, only_keys, redact::fit_newest, redact::head};
use crate::extract::{DocumentFacts, Extractor};
use crate::fields::{
    FieldFiller, FieldKind, FieldSpec, FilledField, FilledFields, LookupValues, check_value,
};
use crate::summary::SummaryInput;

/// The JSON schema of `specs`: one nullable property per field, a lookup constrained to the
/// names of its allowed values.
fn schema(specs: &[FieldSpec], lookups: &LookupValues) -> Value {
    let mut p = Map::new();
    for spec in specs {
        let description = if spec.title.is_empty() {
            spec.instruction.clone()
        } else {
            format!("{}: {}", spec.title, spec.instruction)
        };
        let property = match spec.kind {
            FieldKind::Text => json!({"type": ["string", "null"], "description": description}),
            FieldKind::Number => json!({"type": ["number", "null"], "description": description}),
            FieldKind::Date => {
                json!({"type": ["string", "null"], "format": "date", "description": description})
            }
            FieldKind::Lookup => {
                let mut names: Vec<Value> = lookups
                    .get(&spec.name)
                    .map(|values| {
                        values
                            .iter()
                            .map(|v| Value::String(v.name.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                names.push(Value::Null);
                json!({"type": ["string", "null"], "enum": names, "description": description})
            }
        };
        p.insert(spec.name.clone(), property);
    }
    object_schema(p)
}

/// The field list appended to the system prompt: `- name (title, kind): instruction [allowed: a, b]`.
fn field_list(specs: &[FieldSpec], lookups: &LookupValues) -> String {
    let mut out = String::from("Fields:\n");
    for spec in specs {
        out.push_str(&format!("- {} ({}", spec.name, spec.kind.as_str()));
        if !spec.title.is_empty() {
            out.push_str(&format!(", {}", spec.title));
        }
        out.push(')');
        if !spec.instruction.is_empty() {
            out.push_str(&format!(": {}", spec.instruction));
        }
        if spec.kind == FieldKind::Lookup {
            let names: Vec<&str> = lookups
                .get(&spec.name)
                .map(|v| v.iter().map(|v| v.name.as_str()).collect())
                .unwrap_or_default();
            out.push_str(&format!(" [allowed: {}]", names.join(", ")));
        }
        out.push('\n');
    }
    out
}

/// The checked values of the answer: unknown keys are off-schema; a value that does not fit
/// its field (a lookup name not allowed, a number that does not parse, ...) is dropped.
fn parse(
    value: &Value,
    specs: &[FieldSpec],
    lookups: &LookupValues,
) -> Result<Vec<FilledField>, String> {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let object = only_keys(value, &names)?;
    let mut out = Vec::new();
    for spec in specs {
        let answer = match object.get(&spec.name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(_) | Value::Array(_) | Value::Object(_)) => continue,
        };
        let allowed = lookups
            .get(&spec.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if let Some(v) = check_value(spec, allowed, &answer) {
            out.push(FilledField::new(spec.name.clone(), v));
        }
    }
    Ok(out)
}

/// A [`FieldFiller`] backed by a model: fills each [`FieldSpec`] from the handed-off
/// conversation; a lookup only with one of its allowed values ([`LookupValues`]).
///
/// On a timeout, an error, a refusal or an answer that is not an object of the fields, the
/// fallback's values are returned with `fallback = true`. A single value that does not fit its
/// field is dropped, the others are kept.
pub struct LlmFieldFiller {
    assistant: Assistant,
    fallback: Arc<dyn FieldFiller>,
}

impl std::fmt::Debug for LlmFieldFiller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmFieldFiller")
            .field("assistant", &self.assistant)
            .finish_non_exhaustive()
    }
}

impl LlmFieldFiller {
    /// A filler asking `assistant`, falling back to `fallback` (normally
    /// [`NoFields`](crate::fields::NoFields)).
    pub fn new(assistant: Assistant, fallback: Arc<dyn FieldFiller>) -> Self {
        Self {
            assistant,
            fallback,
        }
    }
}

#[async_trait]
impl FieldFiller for LlmFieldFiller {
    async fn fill(
        &self,
        specs: &[FieldSpec],
        lookups: &LookupValues,
        input: &SummaryInput<'_>,
    ) -> FilledFields {
        if specs.is_empty() {
            return FilledFields::empty();
        }
        let prompt = &self.assistant.prompts().fields;
        let header = "Conversation (oldest first):\n";
        let budget = self
            .assistant
            .max_prompt_chars()
            .saturating_sub(header.chars().count())
            .max(100);
        let lines = transcript_lines(&self.assistant, input.messages);
        let request = Request {
            task: "fields",
            prompt,
            instructions: field_list(specs, lookups),
            user: format!("{header}{}", fit_newest(&lines, budget)),
            schema: schema(specs, lookups),
        };
        match self
            .assistant
            .run(request, |v| parse(&v, specs, lookups))
            .await
        {
            Ok(values) => FilledFields {
                values,
                provenance: Some(self.assistant.provenance(prompt)),
                fallback: false,
            },
            Err(_) => {
                let mut filled = self.fallback.fill(specs, lookups, input).await;
                filled.fallback = true;
                filled.provenance = None;
                filled
            }
        }
    }
}

/// An [`Extractor`] backed by a model: fills each [`FieldSpec`] from the document's caption,
/// file name, MIME type, conversation and text; a lookup only with one of its allowed values.
///
/// The user content is capped at `max_prompt_chars`: the document's text gets at most half of
/// it (its beginning), the conversation the rest (its newest messages). On a timeout, an error,
/// a refusal or an answer that is not an object of the fields, the fallback's values are returned
/// with `fallback = true`.
pub struct LlmExtractor {
    assistant: Assistant,
    fallback: Arc<dyn Extractor>,
}

impl std::fmt::Debug for LlmExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmExtractor")
            .field("assistant", &self.assistant)
            .finish_non_exhaustive()
    }
}

impl LlmExtractor {
    /// An extractor asking `assistant`, falling back to `fallback` (normally
    /// [`NoExtraction`](crate::extract::NoExtraction)).
    pub fn new(assistant: Assistant, fallback: Arc<dyn Extractor>) -> Self {
        Self {
            assistant,
            fallback,
        }
    }

    fn user_content(&self, doc: &DocumentFacts<'_>) -> String {
        let a = &self.assistant;
        let mut header = String::from("Document:\n");
        if let Some(name) = doc.file_name {
            header.push_str(&format!("File name: {}\n", a.redact(head(name, 300))));
        }
        if let Some(mime) = doc.mime {
            header.push_str(&format!("Type: {}\n", head(mime, 100)));
        }
        if let Some(caption) = doc.caption {
            header.push_str(&format!("Caption: {}\n", a.redact(head(caption, 1000))));
        }
        let max = a.max_prompt_chars();
        let rest = max.saturating_sub(header.chars().count()).max(200);
        let mut text_part = String::new();
        if let Some(text) = doc.text.filter(|t| !t.trim().is_empty()) {
            let cut = head(text, rest / 2);
            text_part = format!("Text of the document:\n{}\n", a.redact(cut));
            if cut.len() < text.len() {
                text_part.push_str("[… the rest of the text left out]\n");
            }
        }
        let mut out = header;
        out.push_str(&text_part);
        if !doc.conversation.is_empty() {
            let budget = rest.saturating_sub(text_part.chars().count()).max(100);
            out.push_str("Conversation (oldest first):\n");
            out.push_str(&fit_newest(&transcript_lines(a, doc.conversation), budget));
        }
        out
    }
}

#[async_trait]
impl Extractor for LlmExtractor {
    async fn extract(
        &self,
        specs: &[FieldSpec],
        lookups: &LookupValues,
        doc: &DocumentFacts<'_>,
    ) -> FilledFields {
        if specs.is_empty() {
            return FilledFields::empty();
        }
        let prompt = &self.assistant.prompts().extract;
        let request = Request {
            task: "extract",
            prompt,
            instructions: field_list(specs, lookups),
            user: self.user_content(doc),
            schema: schema(specs, lookups),
        };
        match self
            .assistant
            .run(request, |v| parse(&v, specs, lookups))
            .await
        {
            Ok(values) => FilledFields {
                values,
                provenance: Some(self.assistant.provenance(prompt)),
                fallback: false,
            },
            Err(_) => {
                let mut filled = self.fallback.extract(specs, lookups, doc).await;
                filled.fallback = true;
                filled.provenance = None;
                filled
            }
        }
    }
}
