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
            let expires = cookie
                .expires_datetime()
                .or_else(|| expires_attribute(raw).and_then(rfc6265_date));
            let removed = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
                || expires.is_some_and(|at| at < now);
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

/// The raw value of a `Set-Cookie` header's `Expires` attribute, if any.
fn expires_attribute(raw: &str) -> Option<&str> {
    raw.split(';').skip(1).find_map(|attr| {
        let (name, value) = attr.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("expires")
            .then_some(value.trim())
    })
}

/// A cookie date by the lenient algorithm of RFC 6265 §5.1.1, for the forms the `cookie` crate's
/// fixed formats do not read (e.g. `1 Jan 1970 00:00:00 GMT`): the first `hh:mm:ss` token is the
/// time, the first 1–2 digit token the day, the first token starting with a month name the
/// month, the first 2–4 digit token the year (70–99 → 19xx, 0–69 → 20xx). `None` when a part is
/// missing or out of range.
fn rfc6265_date(value: &str) -> Option<OffsetDateTime> {
    use cookie::time::{Date, Month, PrimitiveDateTime, Time};
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let delimiter = |c: char| {
        c == '\t'
            || (' '..='/').contains(&c)
            || (';'..='@').contains(&c)
            || ('['..='`').contains(&c)
            || ('{'..='~').contains(&c)
    };
    let leading_digits = |t: &str| t.chars().take_while(char::is_ascii_digit).count();
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    for token in value.split(delimiter).filter(|t| !t.is_empty()) {
        if time.is_none() {
            let parts: Vec<&str> = token.splitn(3, ':').collect();
            if parts.len() == 3 {
                let field = |p: &str| {
                    let n = leading_digits(p);
                    (1..=2)
                        .contains(&n)
                        .then(|| p[..n].parse::<u8>().ok())
                        .flatten()
                };
                if let (Some(h), Some(m), Some(s)) =
                    (field(parts[0]), field(parts[1]), field(parts[2]))
                {
                    time = Some((h, m, s));
                    continue;
                }
            }
        }
        let digits = leading_digits(token);
        if day.is_none() && (1..=2).contains(&digits) {
            day = token[..digits].parse::<u8>().ok();
            continue;
        }
        if month.is_none() && token.len() >= 3 {
            let prefix = token[..3].to_ascii_lowercase();
            if let Some(i) = MONTHS.iter().position(|m| *m == prefix) {
                month = Month::try_from(u8::try_from(i + 1).ok()?).ok();
                continue;
            }
        }
        if year.is_none() && (2..=4).contains(&digits) {
            let y: i32 = token[..digits].parse().ok()?;
            year = Some(match y {
                70..=99 => y + 1900,
                0..=69 => y + 2000,
                y => y,
            });
        }
    }
    let (h, m, s) = time?;
    let year = year.filter(|y| *y >= 1601)?;
    let date = Date::from_calendar_date(year, month?, day?).ok()?;
    let time = Time::from_hms(h, m, s).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
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
    fn every_expires_form_rfc_6265_allows_deletes_a_cookie() {
        // RFC 6265 §5.1.1 date forms: RFC 1123, RFC 850, asctime, and ASP.NET's weekday-less
        // `01-Jan-1970 00:00:00 GMT`, plus two-digit years.
        for expired in [
            "A=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/",
            "A=; expires=Thursday, 01-Jan-70 00:00:00 GMT; path=/",
            "A=; expires=Thu Jan  1 00:00:00 1970; path=/",
            "A=; expires=01-Jan-1970 00:00:00 GMT; path=/",
            "A=; expires=Thu, 01-Jan-1970 00:00:00 GMT; path=/",
            "A=; expires=1 Jan 1970 00:00:00 GMT",
        ] {
            let mut c = SessionCookies::from_headers(&headers(&["A=1", "B=2"]));
            let mut h = HeaderMap::new();
            h.append(SET_COOKIE, HeaderValue::from_str(expired).unwrap());
            c.absorb(&h);
            assert_eq!(c.header_value(), "B=2", "{expired}");
        }
        let future = "A=3; expires=01-Jan-2099 00:00:00 GMT; path=/";
        let mut c = SessionCookies::new();
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static(future));
        c.absorb(&h);
        assert_eq!(c.header_value(), "A=3");
    }

    #[test]
    fn the_rfc_6265_date_algorithm() {
        let at = |v| rfc6265_date(v).map(|d| d.unix_timestamp());
        assert_eq!(at("1 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(at("Sat, 01-Jan-2000 08:00:00 GMT"), Some(946_713_600));
        assert_eq!(at("01 January 70 00:00:01"), Some(1));
        assert_eq!(at("Jan 1 00:00:00"), None, "no year");
        assert_eq!(at("31 Feb 2026 00:00:00 GMT"), None, "no such day");
        assert_eq!(at("1 Jan 1500 00:00:00 GMT"), None, "before 1601");
        assert_eq!(at("not a date"), None);
        assert_eq!(
            expires_attribute("A=1; Path=/; EXPIRES = 1 Jan 1970 00:00:00 GMT"),
            Some("1 Jan 1970 00:00:00 GMT")
        );
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
