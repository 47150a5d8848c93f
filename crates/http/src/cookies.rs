//! The cookies of a forms-login session, parsed with the [`cookie`] crate.

use std::fmt;

use cookie::Cookie;
use cookie::time::OffsetDateTime;
use http::HeaderMap;
use http::header::SET_COOKIE;

/// The cookies one site set for a session (a forms login): what goes back in the `Cookie`
/// header.
///
/// The client talks to one site, so path and domain scoping is not applied; a cookie the server
/// deletes (`Max-Age` ≤ 0 or an `Expires` date in the past) is dropped. Cookies keep the order in
/// which they were first set. `Debug` shows the names only, never a value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SessionCookies {
    cookies: Vec<(String, String)>,
}

impl fmt::Debug for SessionCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.cookies.iter().map(|(n, _)| n))
            .finish()
    }
}

impl SessionCookies {
    /// No cookies.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cookies the `Set-Cookie` headers of one answer set (see
    /// [`SessionCookies::absorb`]).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut cookies = Self::new();
        cookies.absorb(headers);
        cookies
    }

    /// Applies every `Set-Cookie` header of an answer: sets or replaces each cookie, removes the
    /// ones the server deletes. Headers that do not parse as a cookie are skipped.
    pub fn absorb(&mut self, headers: &HeaderMap) {
        let now = OffsetDateTime::now_utc();
        for raw in headers.get_all(SET_COOKIE) {
            let Ok(raw) = raw.to_str() else { continue };
            let Ok(cookie) = Cookie::parse(raw) else {
                continue;
            };
            if cookie.name().is_empty() {
                continue;
            }
            let removed = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
                || cookie.expires_datetime().is_some_and(|at| at < now);
            let name = cookie.name().to_owned();
            if removed {
                self.cookies.retain(|(n, _)| *n != name);
                continue;
            }
            let value = cookie.value_trimmed().to_owned();
            match self.cookies.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => self.cookies.push((name, value)),
            }
        }
    }

    /// The value of the cookie `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (or replaces) one cookie.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.cookies.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => self.cookies.push((name.to_owned(), value.to_owned())),
        }
    }

    /// `(name, value)` pairs in the order first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cookies.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether no cookie is set.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// The `Cookie` request header value: `name=value; name2=value2`.
    pub fn header_value(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(SET_COOKIE, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn reads_set_cookie_headers() {
        let c = SessionCookies::from_headers(&headers(&[
            ".ASPXAUTH=abc; path=/; HttpOnly",
            "BPMCSRF=tok; path=/",
            "UserName=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/",
            "Gone=x; Max-Age=0",
            "Quoted=\"q\"; Secure",
            "not a cookie",
        ]));
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [(".ASPXAUTH", "abc"), ("BPMCSRF", "tok"), ("Quoted", "q")]
        );
        assert_eq!(c.header_value(), ".ASPXAUTH=abc; BPMCSRF=tok; Quoted=q");
        assert_eq!(c.get("BPMCSRF"), Some("tok"));
        assert_eq!(c.get("Gone"), None);
    }

    #[test]
    fn later_answers_replace_and_delete() {
        let mut c = SessionCookies::from_headers(&headers(&["A=1", "B=2"]));
        c.absorb(&headers(&["A=3", "B=; Max-Age=-1", "C=4"]));
        assert_eq!(c.header_value(), "A=3; C=4");
        c.set("A", "5");
        c.set("D", "6");
        assert_eq!(c.header_value(), "A=5; C=4; D=6");
        assert!(!c.is_empty());
        assert!(SessionCookies::new().is_empty());
    }

    #[test]
    fn debug_shows_names_only() {
        let c = SessionCookies::from_headers(&headers(&[".ASPXAUTH=s3cr3t-session"]));
        let text = format!("{c:?}");
        assert!(text.contains(".ASPXAUTH"));
        assert!(!text.contains("s3cr3t"));
    }
}
