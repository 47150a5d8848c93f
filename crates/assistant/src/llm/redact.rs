//! Personal-data redaction of prompts ([`Redaction`]) and the size cap.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What is replaced in every string that goes into a prompt, before it leaves the process.
///
/// - phone numbers (`[phone]`): a run of at least 7 digits, optionally with a leading `+` and
///   spaces, dots, dashes, slashes or parentheses between them (`+49 151 1234-5678`,
///   `(650) 555-1234`); an ISO date (`2026-03-04`) is kept. Long order or invoice numbers look
///   the same and are replaced too: turn `phone_numbers` off when the model must read them.
/// - e-mail addresses (`[email]`).
///
/// Default: both on. Deserialises from TOML (`phone_numbers = true`, `emails = false`; a missing
/// key keeps its default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Redaction {
    /// Replace phone numbers with `[phone]`.
    pub phone_numbers: bool,
    /// Replace e-mail addresses with `[email]`.
    pub emails: bool,
}

impl Default for Redaction {
    fn default() -> Self {
        Self {
            phone_numbers: true,
            emails: true,
        }
    }
}

static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}").ok()
});
static PHONE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\+?\(?\d[\d \t().\-/]{5,}\d").ok());
static ISO_DATE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^\d{4}-\d{2}-\d{2}$").ok());

impl Redaction {
    /// Nothing is redacted.
    pub fn none() -> Self {
        Self {
            phone_numbers: false,
            emails: false,
        }
    }

    /// Sets phone number redaction.
    #[must_use]
    pub fn with_phone_numbers(mut self, on: bool) -> Self {
        self.phone_numbers = on;
        self
    }

    /// Sets e-mail address redaction.
    #[must_use]
    pub fn with_emails(mut self, on: bool) -> Self {
        self.emails = on;
        self
    }

    /// `text` with the configured personal data replaced.
    pub fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        if self.emails
            && let Some(email) = EMAIL.as_ref()
            && email.is_match(&out)
        {
            out = Cow::Owned(email.replace_all(&out, "[email]").into_owned());
        }
        if self.phone_numbers
            && let Some(phone) = PHONE.as_ref()
            && phone.is_match(&out)
        {
            let replaced = phone.replace_all(&out, |c: &regex::Captures<'_>| {
                let m = &c[0];
                let digits = m.chars().filter(char::is_ascii_digit).count();
                let date = ISO_DATE.as_ref().is_some_and(|d| d.is_match(m.trim()));
                if digits >= 7 && !date {
                    "[phone]".to_owned()
                } else {
                    m.to_owned()
                }
            });
            out = Cow::Owned(replaced.into_owned());
        }
        out
    }
}

/// The newest `lines` (given oldest first) that fit in `budget` characters together (each plus a
/// line break), oldest first, preceded by `[… n earlier message(s) left out]` when some were
/// left out. A newest line longer than the budget is cut at the end.
pub(crate) fn fit_newest(lines: &[String], budget: usize) -> String {
    let total: usize = lines.iter().map(|l| l.chars().count() + 1).sum();
    // Room for the "left out" notice when not everything fits.
    let budget = if total > budget {
        budget.saturating_sub(48).max(budget / 2)
    } else {
        budget
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut used = 0usize;
    for line in lines.iter().rev() {
        let len = line.chars().count() + 1;
        if used + len > budget {
            if kept.is_empty() {
                let cut: String = line.chars().take(budget.saturating_sub(1)).collect();
                return cut;
            }
            break;
        }
        used += len;
        kept.push(line);
    }
    kept.reverse();
    let left_out = lines.len() - kept.len();
    let mut out = String::new();
    if left_out > 0 {
        out.push_str(&format!("[… {left_out} earlier message(s) left out]\n"));
    }
    for line in kept {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The first `max` characters of `text`.
pub(crate) fn head(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_emails_are_replaced_dates_and_amounts_kept() {
        let r = Redaction::default();
        let text = "Call me on +49 151 1234-5678 or (650) 555-1234, mail anna.b+x@example.co.uk; \
                    order of 2026-03-04, 12.50 EUR, room 42";
        let out = r.apply(text);
        assert_eq!(
            out,
            "Call me on [phone] or [phone], mail [email]; order of 2026-03-04, 12.50 EUR, room 42"
        );
        assert_eq!(Redaction::none().apply(text), text);
        let r: Redaction = toml::from_str("emails = false").unwrap();
        assert_eq!(r, Redaction::default().with_emails(false));
        assert_eq!(
            Redaction::default()
                .with_phone_numbers(false)
                .apply("a@b.io 4915112345678"),
            "[email] 4915112345678"
        );
    }

    #[test]
    fn newest_lines_fit_the_budget() {
        let lines: Vec<String> = ["first line", "second line", "third"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(fit_newest(&lines, 100), "first line\nsecond line\nthird\n");
        let long: Vec<String> = (0..4)
            .map(|i| format!("line {i} {}", "x".repeat(23)))
            .collect();
        let fitted = fit_newest(&long, 100);
        assert!(fitted.chars().count() <= 100, "{fitted}");
        assert!(fitted.starts_with("[… 3 earlier message(s) left out]\nline 3 "));
        assert_eq!(
            fit_newest(&lines, 8),
            "thi",
            "budget 8 → 4 for the lines, the newest cut"
        );
        assert_eq!(head("äöü", 2), "äö");
    }
}
