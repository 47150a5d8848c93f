//! Masking of personal data before it reaches logs, metrics or error messages.
//!
//! chatport never logs a full phone number or message text. Use [`phone`] for numbers and WhatsApp
//! ids, [`text`] for message bodies.

/// Masks a phone number, `wa_id` or business-scoped user id, keeping the last four characters so that
/// an operator can still tell two numbers apart: `"+16505551234"` → `"…1234"`. Inputs of four
/// characters or fewer become `"…"`.
pub fn phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 4 {
        return "…".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("…{tail}")
}

/// Replaces message text by its length in characters: `"hello"` → `"<5 chars>"`.
pub fn text(body: &str) -> String {
    format!("<{} chars>", body.chars().count())
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks() {
        assert_eq!(super::phone("+16505551234"), "…1234");
        assert_eq!(super::phone("123"), "…");
        assert_eq!(super::phone("US.13491208655302741918"), "…1918");
        assert_eq!(super::text("äöå!"), "<4 chars>");
    }
}
