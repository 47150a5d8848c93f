//! Texts and WhatsApp templates the flows send: one [`TemplateConfig`], one [`render`] for reply
//! texts with `{placeholders}`, and [`clip`] (from `chatport-assistant`) for the length limits of
//! WhatsApp and the vendors.
//!
//! Every flow offers a documented set of **value names** (`title`, `link`, `case_number`, …) and
//! fills its texts and template parameters from them:
//!
//! - a reply text is rendered with [`render`]: each `{name}` is replaced by its value; an unknown
//!   placeholder stays as written, so a typo shows in the message instead of vanishing;
//! - a template parameter (`{{1}}`, `{{2}}`, … of the approved template body, in order) is either a
//!   bare value name (`title`) or a text with placeholders (`case {case_number}`).
//!
//! Meta refuses an empty body parameter, so an empty or missing value is sent as `-`.

use chatport_whatsapp::Template;
use serde::Deserialize;

use crate::Error;

/// A WhatsApp message template a flow sends outside the 24-hour customer service window: the
/// approved template's name, its language and the order of its body parameters.
///
/// TOML, e.g. `template = { name = "doc_status", language = "de", parameters = ["document_type",
/// "due {due_date}"] }`. Each parameter is a value name the flow offers (see the flow's docs) or a
/// text with `{value}` placeholders. Meta: "Send message templates"
/// (<https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates>).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TemplateConfig {
    /// The approved template's name.
    pub name: String,
    /// Its language code as approved, e.g. `en_US`, `en`, `de`. Default `en_US`.
    #[serde(default = "default_language")]
    pub language: String,
    /// One entry per `{{n}}` body parameter, in order: a value name or a text with `{value}`
    /// placeholders.
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// The template language used when the configuration names none.
pub const DEFAULT_LANGUAGE: &str = "en_US";

fn default_language() -> String {
    DEFAULT_LANGUAGE.into()
}

impl TemplateConfig {
    /// A template in [`DEFAULT_LANGUAGE`] with `parameters` (value names or texts), in order.
    pub fn new(name: impl Into<String>, parameters: &[&str]) -> Self {
        Self {
            name: name.into(),
            language: default_language(),
            parameters: parameters.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// The same template in `language`.
    #[must_use]
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = language.into();
        self
    }

    /// Checks the configuration against the value names the flow `offered`: the name is not
    /// empty, every bare parameter is an offered name and every `{placeholder}` in a text
    /// parameter is one.
    ///
    /// # Errors
    /// [`Error::Config`] naming `key` and the unknown value, with the offered names.
    pub fn check(&self, key: &str, offered: &[&str]) -> Result<(), Error> {
        if self.name.trim().is_empty() {
            return Err(Error::Config(format!("{key}.name: must not be empty")));
        }
        for p in &self.parameters {
            let names: Vec<&str> = if p.contains('{') {
                placeholders(p).collect()
            } else {
                vec![p.as_str()]
            };
            if let Some(unknown) = names.into_iter().find(|n| !offered.contains(n)) {
                return Err(Error::Config(format!(
                    "{key}.parameters: unknown value `{unknown}` (available: {})",
                    offered.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The template with its body parameters filled from `values` (name, value pairs), in the
    /// configured order. A missing or blank value is sent as `-`.
    pub fn build<K, V>(&self, values: impl IntoIterator<Item = (K, V)>) -> Template
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let values: Vec<(K, V)> = values.into_iter().collect();
        let parameters = self
            .parameters
            .iter()
            .map(|p| {
                let text = if p.contains('{') {
                    render(p, values.iter().map(|(k, v)| (k, v)))
                } else {
                    values
                        .iter()
                        .find(|(k, _)| k.as_ref() == p)
                        .map(|(_, v)| v.as_ref().to_owned())
                        .unwrap_or_default()
                };
                if text.trim().is_empty() {
                    "-".to_owned()
                } else {
                    text
                }
            })
            .collect();
        Template::new(self.name.clone(), self.language.clone()).body_parameters(parameters)
    }
}

/// The `{name}` placeholders of a text, in order.
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

/// Fills the `{name}` placeholders of `text` from `values` (name, value pairs). Placeholders with
/// no value stay as written.
pub fn render<K, V>(text: &str, values: impl IntoIterator<Item = (K, V)>) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut out = text.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{}}}", name.as_ref()), value.as_ref());
    }
    out
}

pub use chatport_assistant::clip;

/// A file name extension for a media MIME type, `bin` for a type WhatsApp does not list
/// ([`chatport_whatsapp::file_extension`]).
pub fn extension(mime_type: &str) -> &'static str {
    chatport_whatsapp::file_extension(mime_type).unwrap_or("bin")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chatport_whatsapp::{OutgoingMessage, Recipient};

    use super::*;

    fn parameters(t: Template) -> Vec<String> {
        let json = OutgoingMessage::template(Recipient::phone("1"), t).to_json();
        json["template"]["components"][0]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn value_names_and_texts_fill_in_order_with_dash_for_missing() {
        let t = TemplateConfig::new("x", &["title", "case {number}", "deadline", "{none}"]);
        let mut v = BTreeMap::new();
        v.insert("title", "Poster".to_owned());
        v.insert("number", "SR1".to_owned());
        v.insert("deadline", "  ".to_owned());
        assert_eq!(
            parameters(t.build(&v)),
            ["Poster", "case SR1", "-", "{none}"]
        );
        assert_eq!(t.language, "en_US");
        assert_eq!(t.clone().language("de").language, "de");
    }

    #[test]
    fn check_names_the_unknown_value() {
        let t = TemplateConfig::new("x", &["title", "hi {agent}"]);
        assert!(t.check("flows.l1.template", &["title", "agent"]).is_ok());
        let e = t.check("flows.l1.template", &["title"]).unwrap_err();
        assert!(e.to_string().contains("`agent`"), "{e}");
        let e = TemplateConfig::new(" ", &[]).check("k", &[]).unwrap_err();
        assert!(e.to_string().contains("k.name"), "{e}");
    }

    #[test]
    fn render_keeps_unknown_placeholders() {
        let v = [("reference", "CASE-1"), ("name", ", Anna")];
        assert_eq!(
            render("Thanks{name}: {reference} {unknown}", v),
            "Thanks, Anna: CASE-1 {unknown}"
        );
    }

    #[test]
    fn extension_falls_back_to_bin() {
        assert_eq!(extension("audio/mp4"), "m4a");
        assert_eq!(extension("application/zip"), "bin");
    }
}
