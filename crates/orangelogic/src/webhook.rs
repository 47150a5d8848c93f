//! Asset webhooks: lenient event parsing, deduplication by event id, and a receiver
//! authenticator (secret path token + optional source IP allow-list).
//!
//! What is public (`shared/api/opentext-orangelogic.md` §2.9): OrangeDAM `POST`s to your
//! endpoint when assets are created, edited (saved) or deleted; webhooks are off by default
//! (support request); failed deliveries are retried up to 5 times; every event has a **unique
//! id**, meant for idempotency.
//!
//! What is **not** public: the payload schema and any signature scheme. So:
//!
//! * the field names are configurable ([`WebhookFields`]), each a list of candidate keys or
//!   dotted paths, compared case-insensitively; the defaults (`eventId`, `eventType`,
//!   `recordId`, …) are guesses that match chatport's testkit emulator, **not** the vendor's
//!   schema — capture a real delivery from your tenant and set the names from it;
//! * the event kind is read leniently from the type text ([`AssetEventKind::parse`]); anything
//!   unrecognised is kept as [`AssetEventKind::Unknown`];
//! * an event without an id gets a content-derived id (`sha256:` of its JSON), so a redelivery of
//!   the same bytes still deduplicates;
//! * authentication is a secret token in the URL path that you configure in the subscription
//!   (compared in constant time), plus an optional allow-list of source addresses
//!   ([`WebhookAuthenticator`]). This is weaker than a signature: use HTTPS and keep the URL secret.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chatport_core::EventId;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

/// What happened to the asset.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AssetEventKind {
    /// Created / uploaded.
    Created,
    /// Edited / saved / updated.
    Edited,
    /// Deleted / removed.
    Deleted,
    /// Anything else, as sent.
    Unknown(String),
}

impl AssetEventKind {
    /// Reads a type text leniently, case-insensitively: it mentions `creat` or `upload` →
    /// Created; `edit`, `updat`, `sav`, `modif` or `chang` → Edited; `delet` or `remov` →
    /// Deleted; else Unknown. (`Asset.Created`, `AssetCreated`, `asset_created`, `created` all
    /// read as Created.)
    pub fn parse(text: &str) -> Self {
        let lower = text.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
        if has(&["delet", "remov"]) {
            AssetEventKind::Deleted
        } else if has(&["creat", "upload"]) {
            AssetEventKind::Created
        } else if has(&["edit", "updat", "sav", "modif", "chang"]) {
            AssetEventKind::Edited
        } else {
            AssetEventKind::Unknown(text.to_owned())
        }
    }

    /// `created`, `edited`, `deleted` or the unknown text.
    pub fn as_str(&self) -> &str {
        match self {
            AssetEventKind::Created => "created",
            AssetEventKind::Edited => "edited",
            AssetEventKind::Deleted => "deleted",
            AssetEventKind::Unknown(s) => s,
        }
    }
}

/// Where the parser looks for each item. Each entry is a list of candidates (a key or a dotted
/// path such as `asset.recordId`), tried in order, keys compared case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookFields {
    /// The unique event id.
    pub event_id: Vec<String>,
    /// The event type text.
    pub event_type: Vec<String>,
    /// The asset's `RecordID`.
    pub record_id: Vec<String>,
    /// The asset's unique identifier.
    pub identifier: Vec<String>,
    /// When it happened.
    pub occurred_at: Vec<String>,
    /// Keys whose value is an array of events (a batched delivery).
    pub batch: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for WebhookFields {
    fn default() -> Self {
        Self {
            event_id: strings(&["eventId", "event_id", "id", "uniqueId", "EventUniqueId"]),
            event_type: strings(&["eventType", "event_type", "type", "event", "action"]),
            record_id: strings(&[
                "recordId",
                "RecordID",
                "asset.recordId",
                "asset.RecordID",
                "assetId",
            ]),
            identifier: strings(&[
                "identifier",
                "systemIdentifier",
                "asset.identifier",
                "CoreField.Identifier",
            ]),
            occurred_at: strings(&["occurredAt", "timestamp", "eventDate", "date"]),
            batch: strings(&["events", "items"]),
        }
    }
}

impl WebhookFields {
    /// Replaces the event id candidates.
    pub fn event_id<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.event_id = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the event type candidates.
    pub fn event_type<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.event_type = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the record id candidates.
    pub fn record_id<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.record_id = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the identifier candidates.
    pub fn identifier<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.identifier = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the occurred-at candidates.
    pub fn occurred_at<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.occurred_at = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the batch keys.
    pub fn batch<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.batch = keys.into_iter().map(Into::into).collect();
        self
    }
}

fn lookup<'a>(obj: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    // A key containing dots (`CoreField.Identifier`) is tried whole first.
    if let Some(v) = obj
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case(path) && !v.is_null())
        .map(|(_, v)| v)
    {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    let child = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(head))
        .map(|(_, v)| v)?;
    lookup(child.as_object()?, rest)
}

fn first_text(obj: &Map<String, Value>, candidates: &[String]) -> Option<String> {
    candidates.iter().find_map(|c| match lookup(obj, c)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// One asset event.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AssetEvent {
    /// What happened.
    pub kind: AssetEventKind,
    /// The asset's `RecordID`, when found.
    pub record_id: Option<String>,
    /// The asset's unique identifier, when found.
    pub identifier: Option<String>,
    /// When it happened, as sent.
    pub occurred_at: Option<String>,
    /// Whether the id came from the payload (`false`: derived from the content).
    pub has_vendor_id: bool,
    /// The whole event object, unknown fields included.
    pub raw: Map<String, Value>,
    id: EventId,
}

impl AssetEvent {
    /// The event's unique id (from the payload, or `sha256:` of the event JSON when it has none):
    /// the deduplication key.
    pub fn event_id(&self) -> &EventId {
        &self.id
    }

    fn from_object(obj: Map<String, Value>, fields: &WebhookFields) -> Self {
        let vendor_id = first_text(&obj, &fields.event_id).and_then(|s| EventId::try_new(s).ok());
        let has_vendor_id = vendor_id.is_some();
        let id = vendor_id.unwrap_or_else(|| {
            EventId::from_content(&serde_json::to_vec(&obj).unwrap_or_default())
        });
        let kind = first_text(&obj, &fields.event_type)
            .map(|t| AssetEventKind::parse(&t))
            .unwrap_or_else(|| AssetEventKind::Unknown(String::new()));
        Self {
            kind,
            record_id: first_text(&obj, &fields.record_id),
            identifier: first_text(&obj, &fields.identifier),
            occurred_at: first_text(&obj, &fields.occurred_at),
            has_vendor_id,
            raw: obj,
            id,
        }
    }
}

/// A body that is not a JSON object or array of objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webhook body is not a JSON object or array of objects")]
#[non_exhaustive]
pub struct WebhookParseError;

/// Parses a delivery: one event object, an array of them, or an object holding an array under
/// one of [`WebhookFields::batch`]. Events repeated within the delivery (same
/// [`AssetEvent::event_id`]) are kept once, first occurrence wins.
///
/// # Errors
///
/// [`WebhookParseError`] for a body that is not JSON, or JSON of another shape.
pub fn parse_events(
    body: &[u8],
    fields: &WebhookFields,
) -> Result<Vec<AssetEvent>, WebhookParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| WebhookParseError)?;
    let objects: Vec<Map<String, Value>> = match value {
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Object(o) => Ok(o),
                _ => Err(WebhookParseError),
            })
            .collect::<Result<_, _>>()?,
        Value::Object(obj) => {
            let batch = fields.batch.iter().find_map(|k| match lookup(&obj, k) {
                Some(Value::Array(items)) => Some(items.clone()),
                _ => None,
            });
            match batch {
                Some(items) => items
                    .into_iter()
                    .filter_map(|i| match i {
                        Value::Object(o) => Some(o),
                        _ => None,
                    })
                    .collect(),
                None => vec![obj],
            }
        }
        _ => return Err(WebhookParseError),
    };
    let mut seen = HashSet::new();
    Ok(objects
        .into_iter()
        .map(|o| AssetEvent::from_object(o, fields))
        .filter(|e| seen.insert(e.event_id().clone()))
        .collect())
}

/// A bounded memory of recently seen event ids, for receivers that do not run chatport's
/// outbox (which deduplicates durably on `(source, event id)`). Forgets the oldest id beyond its
/// capacity and everything on restart.
#[derive(Debug, Clone)]
pub struct RecentEvents {
    capacity: usize,
    order: VecDeque<EventId>,
    set: HashSet<EventId>,
}

impl RecentEvents {
    /// Remembers up to `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// `true` the first time an id is seen, `false` for a repeat.
    pub fn first_time(&mut self, id: &EventId) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(id.clone());
        self.set.insert(id.clone());
        true
    }
}

/// An allowed source: one address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}` has an invalid prefix length"))?,
            None => max,
        };
        Ok(Self { network, prefix })
    }
}

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookAuthError {
    /// The path token did not match.
    #[error("webhook path token mismatch")]
    BadToken,
    /// The source address is not on the allow-list.
    #[error("webhook source address not allowed")]
    SourceNotAllowed,
}

/// Authenticates deliveries by a secret token in the URL path (`/hooks/orangelogic/{token}`),
/// compared in constant time, and optionally by source address.
///
/// ```
/// use chatport_orangelogic::WebhookAuthenticator;
/// use secrecy::SecretString;
///
/// let auth = WebhookAuthenticator::new(SecretString::from("s3cret-path-token"))
///     .allow("10.0.0.0/8").unwrap();
/// assert!(auth.authenticate("s3cret-path-token", "10.1.2.3".parse().unwrap()).is_ok());
/// assert!(auth.authenticate("guess", "10.1.2.3".parse().unwrap()).is_err());
/// assert!(auth.authenticate("s3cret-path-token", "192.0.2.1".parse().unwrap()).is_err());
/// ```
#[derive(Clone)]
pub struct WebhookAuthenticator {
    token: SecretString,
    allow: Vec<IpRange>,
}

impl fmt::Debug for WebhookAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookAuthenticator")
            .field("token", &"<redacted>")
            .field("allow", &self.allow)
            .finish()
    }
}

impl WebhookAuthenticator {
    /// Accepts deliveries presenting `token` (use at least 32 random characters), from any
    /// address until [`allow`](Self::allow) is called.
    pub fn new(token: impl Into<SecretString>) -> Self {
        Self {
            token: token.into(),
            allow: Vec::new(),
        }
    }

    /// Adds an allowed source (address or CIDR block). Once any is added, other sources are
    /// refused.
    ///
    /// # Errors
    ///
    /// A message when `range` does not parse.
    pub fn allow(mut self, range: &str) -> Result<Self, String> {
        self.allow.push(range.parse()?);
        Ok(self)
    }

    /// Checks a delivery's path token and source address. The token comparison takes the same
    /// time for every token of the same length.
    ///
    /// # Errors
    ///
    /// [`WebhookAuthError::BadToken`] or [`WebhookAuthError::SourceNotAllowed`].
    pub fn authenticate(&self, presented: &str, source: IpAddr) -> Result<(), WebhookAuthError> {
        let expected = self.token.expose_secret().as_bytes();
        let ok = bool::from(presented.as_bytes().ct_eq(expected));
        if !ok || expected.is_empty() {
            return Err(WebhookAuthError::BadToken);
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|r| r.contains(source)) {
            return Err(WebhookAuthError::SourceNotAllowed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            AssetEventKind::parse("Asset.Created"),
            AssetEventKind::Created
        );
        assert_eq!(
            AssetEventKind::parse("asset_uploaded"),
            AssetEventKind::Created
        );
        assert_eq!(AssetEventKind::parse("AssetSaved"), AssetEventKind::Edited);
        assert_eq!(AssetEventKind::parse("edited"), AssetEventKind::Edited);
        assert_eq!(
            AssetEventKind::parse("ASSET_DELETED"),
            AssetEventKind::Deleted
        );
        assert_eq!(
            AssetEventKind::parse("Asset.Moved"),
            AssetEventKind::Unknown("Asset.Moved".into())
        );
    }

    #[test]
    fn parses_single_batch_and_dedups() {
        let f = WebhookFields::default();
        let one = br#"{"eventId":"e1","eventType":"AssetCreated","recordId":"R1","extra":{"a":1}}"#;
        let events = parse_events(one, &f).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_id().as_str(), "e1");
        assert_eq!(events[0].kind, AssetEventKind::Created);
        assert_eq!(events[0].record_id.as_deref(), Some("R1"));
        assert_eq!(events[0].raw["extra"]["a"], 1);

        let batch = br#"{"events":[{"id":"e1","type":"edited"},{"id":"e1","type":"edited"},{"id":"e2","type":"deleted","asset":{"RecordID":"R9"}}]}"#;
        let events = parse_events(batch, &f).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].record_id.as_deref(), Some("R9"));
        assert_eq!(events[1].kind, AssetEventKind::Deleted);

        let arr = br#"[{"eventId":"x"},{"eventId":"y"}]"#;
        assert_eq!(parse_events(arr, &f).unwrap().len(), 2);
        assert!(parse_events(b"[1]", &f).is_err());
        assert!(parse_events(b"nope", &f).is_err());
    }

    #[test]
    fn no_id_gets_content_id_and_custom_names_work() {
        let f = WebhookFields::default();
        let body = br#"{"eventType":"created","recordId":"R1"}"#;
        let a = parse_events(body, &f).unwrap();
        let b = parse_events(body, &f).unwrap();
        assert!(!a[0].has_vendor_id);
        assert!(a[0].event_id().as_str().starts_with("sha256:"));
        assert_eq!(a[0].event_id(), b[0].event_id());

        let custom = WebhookFields::default()
            .event_id(["Data.Guid"])
            .record_id(["Data.Asset.Id"]);
        let body = br#"{"Data":{"Guid":"g-1","Asset":{"Id":"A7"}}}"#;
        let e = &parse_events(body, &custom).unwrap()[0];
        assert_eq!(e.event_id().as_str(), "g-1");
        assert_eq!(e.record_id.as_deref(), Some("A7"));
        assert_eq!(e.kind, AssetEventKind::Unknown(String::new()));
    }

    #[test]
    fn recent_events_bounded() {
        let mut r = RecentEvents::new(2);
        let (a, b, c) = (EventId::new("a"), EventId::new("b"), EventId::new("c"));
        assert!(r.first_time(&a));
        assert!(!r.first_time(&a));
        assert!(r.first_time(&b));
        assert!(r.first_time(&c));
        assert!(r.first_time(&a), "oldest forgotten");
    }

    #[test]
    fn ip_ranges() {
        let r: IpRange = "10.0.0.0/8".parse().unwrap();
        assert!(r.contains("10.200.0.1".parse().unwrap()));
        assert!(!r.contains("11.0.0.1".parse().unwrap()));
        assert!(r.contains("::ffff:10.0.0.1".parse().unwrap()));
        let one: IpRange = "192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("nope".parse::<IpRange>().is_err());
    }

    #[test]
    fn authenticator() {
        let auth = WebhookAuthenticator::new(SecretString::from("tok-123"));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(auth.authenticate("tok-123", ip).is_ok());
        assert_eq!(
            auth.authenticate("tok-124", ip),
            Err(WebhookAuthError::BadToken)
        );
        assert_eq!(
            auth.authenticate("tok-12", ip),
            Err(WebhookAuthError::BadToken)
        );
        assert_eq!(auth.authenticate("", ip), Err(WebhookAuthError::BadToken));
        assert!(!format!("{auth:?}").contains("tok-123"));
        let empty = WebhookAuthenticator::new(SecretString::from(""));
        assert_eq!(empty.authenticate("", ip), Err(WebhookAuthError::BadToken));
        let limited = auth.allow("192.0.2.0/24").unwrap();
        assert_eq!(
            limited.authenticate("tok-123", ip),
            Err(WebhookAuthError::SourceNotAllowed)
        );
        assert!(
            limited
                .authenticate("tok-123", "192.0.2.9".parse().unwrap())
                .is_ok()
        );
    }
}
