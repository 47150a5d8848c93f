//! Metadata extraction from a document and its context (flows O2, O5, O8, L2/L6): from the
//! caption, the conversation and the document's own text (a PDF's, see [`pdf_text`] with feature
//! `pdf`), an [`Extractor`] fills the metadata fields the flow maps. The flow asks the sender only
//! for what is still missing.
//!
//! The fields are the same [`FieldSpec`]s as the AI-filled case fields, with the same checks
//! (a lookup answer must be one of the allowed values, a number must parse, a date must be
//! `YYYY-MM-DD`). The rule-based default, [`NoExtraction`], extracts nothing (the flow asks as
//! before).

use async_trait::async_trait;
use chatport_whatsapp::conversation::LoggedMessage;

use crate::fields::{FieldSpec, FilledFields, LookupValues};

/// What is known about a document: its caption, the conversation it came in, its file name and
/// MIME type, and its text when it has one.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DocumentFacts<'a> {
    /// The caption sent with the document.
    pub caption: Option<&'a str>,
    /// The conversation, oldest first (may be empty).
    pub conversation: &'a [LoggedMessage],
    /// The file name (`invoice-0423.pdf`).
    pub file_name: Option<&'a str>,
    /// The MIME type (`application/pdf`).
    pub mime: Option<&'a str>,
    /// The document's text (see [`pdf_text`]), if it has one.
    pub text: Option<&'a str>,
}

impl<'a> DocumentFacts<'a> {
    /// Facts with nothing known yet; set what is known with the builder methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// The caption.
    #[must_use]
    pub fn caption(mut self, caption: Option<&'a str>) -> Self {
        self.caption = caption;
        self
    }

    /// The conversation, oldest first.
    #[must_use]
    pub fn conversation(mut self, conversation: &'a [LoggedMessage]) -> Self {
        self.conversation = conversation;
        self
    }

    /// The file name.
    #[must_use]
    pub fn file_name(mut self, file_name: Option<&'a str>) -> Self {
        self.file_name = file_name;
        self
    }

    /// The MIME type.
    #[must_use]
    pub fn mime(mut self, mime: Option<&'a str>) -> Self {
        self.mime = mime;
        self
    }

    /// The document's text.
    #[must_use]
    pub fn text(mut self, text: Option<&'a str>) -> Self {
        self.text = text;
        self
    }
}

/// Extracts metadata fields from a document and its context.
///
/// Infallible: a model-backed extractor that cannot use its model answers with its fallback.
#[async_trait]
pub trait Extractor: Send + Sync {
    /// The values of `specs` found in `doc`; lookup fields only from `lookups`.
    async fn extract(
        &self,
        specs: &[FieldSpec],
        lookups: &LookupValues,
        doc: &DocumentFacts<'_>,
    ) -> FilledFields;
}

/// The rule-based default: extracts nothing (the flow asks the sender).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExtraction;

#[async_trait]
impl Extractor for NoExtraction {
    async fn extract(
        &self,
        _specs: &[FieldSpec],
        _lookups: &LookupValues,
        _doc: &DocumentFacts<'_>,
    ) -> FilledFields {
        FilledFields::empty()
    }
}

/// The text of a PDF document, at most `max_chars` characters (Unicode scalar values), or `None`
/// when `bytes` is not a PDF lopdf can read, the document is encrypted, or it has no text (a
/// scanned image).
///
/// Whitespace runs become one space or one line break. Decompressed content is limited to 64 MiB
/// (a decompression bomb is cut, not expanded). Synchronous and CPU-bound: call it from
/// `tokio::task::spawn_blocking` for large files.
#[cfg(feature = "pdf")]
#[cfg_attr(docsrs, doc(cfg(feature = "pdf")))]
pub fn pdf_text(bytes: &[u8], max_chars: usize) -> Option<String> {
    const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;
    // lopdf may panic on some malformed input; a bad upload must not take the worker down.
    let text = std::panic::catch_unwind(|| {
        let doc = lopdf::Document::load_mem(bytes).ok()?;
        if doc.is_encrypted() {
            return None;
        }
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        doc.extract_text_with_limit(&pages, MAX_DECOMPRESSED).ok()
    })
    .ok()??;
    let mut out = String::new();
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line);
    }
    if out.is_empty() {
        return None;
    }
    Some(out.chars().take(max_chars).collect())
}
