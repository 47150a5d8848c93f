//! The people directory (`[[directory]]`): customers, staff and vendors known by phone number,
//! with their display name, customer id, role and region.
//!
//! Flows use it to recognise a sender ([`Directory::lookup`], by phone number digits: O1's
//! customer id, the role claims of O4, O5 and O8) and to find the WhatsApp number of a person a
//! CMS or DAM record names ([`find_person`]: O3, O7, O8, L-flows). Entries hold phone numbers:
//! they are never logged.

use std::collections::HashMap;

pub use chatport_assistant::classify::phone_digits;
use chatport_assistant::classify::{KnownSender, SenderDirectory};
use serde::Deserialize;

/// A `[[directory]]` entry: a person or customer known by phone number.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DirectoryEntry {
    /// Phone number in any common format (`+49 151 …`); compared by digits.
    pub phone: String,
    /// Display name.
    pub name: Option<String>,
    /// Customer id in the systems of record.
    pub customer_id: Option<String>,
    /// Role (`customer`, `technician`, `agent`, `vendor`, ...).
    pub role: Option<String>,
    /// Region, overriding the calling-code rule.
    pub region: Option<String>,
}

/// The directory of known people, looked up by phone number digits.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    by_digits: HashMap<String, DirectoryEntry>,
}

impl Directory {
    /// Builds the directory from `[[directory]]` entries. A later entry for the same number wins.
    pub fn new(entries: &[DirectoryEntry]) -> Self {
        let by_digits = entries
            .iter()
            .map(|e| (phone_digits(&e.phone), e.clone()))
            .collect();
        Self { by_digits }
    }

    /// The entry for a phone number or wa_id in any format.
    pub fn lookup(&self, number: &str) -> Option<&DirectoryEntry> {
        self.by_digits.get(&phone_digits(number))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_digits.len()
    }

    /// Whether the directory is empty.
    pub fn is_empty(&self) -> bool {
        self.by_digits.is_empty()
    }
}

/// The directory entry a CMS value names: equal `customer_id`, equal name (case-insensitive), or
/// the same phone number digits (a value with at least 6 digits and only phone punctuation).
pub fn find_person<'a>(entries: &'a [DirectoryEntry], value: &str) -> Option<&'a DirectoryEntry> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let looks_like_phone = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()./".contains(c))
        && phone_digits(value).len() >= 6;
    entries.iter().find(|e| {
        e.customer_id.as_deref() == Some(value)
            || e.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(value))
            || (looks_like_phone && phone_digits(&e.phone) == phone_digits(value))
    })
}

/// The directory as the classifier's sender lookup.
impl SenderDirectory for Directory {
    fn lookup(&self, digits: &str) -> Option<KnownSender> {
        Directory::lookup(self, digits).map(|e| {
            let mut known = KnownSender::new();
            known.customer_id = e.customer_id.clone();
            known.name = e.name.clone();
            known.region = e.region.clone();
            known
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(phone: &str, name: &str, id: &str) -> DirectoryEntry {
        DirectoryEntry {
            phone: phone.into(),
            name: Some(name.into()),
            customer_id: Some(id.into()),
            role: None,
            region: None,
        }
    }

    #[test]
    fn lookup_compares_digits_and_a_later_entry_wins() {
        let d = Directory::new(&[entry("+49 151 1", "A", "c-1"), entry("491511", "B", "c-2")]);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d.lookup("+49 (151) 1").and_then(|e| e.name.as_deref()),
            Some("B")
        );
        assert!(d.lookup("4915").is_none());
        assert_eq!(phone_digits("+49 (151) 123-45"), "4915112345");
    }

    fn person(phone: &str, name: &str, id: &str) -> DirectoryEntry {
        toml::from_str(&format!(
            "phone = {phone:?}\nname = {name:?}\ncustomer_id = {id:?}\n"
        ))
        .unwrap()
    }

    #[test]
    fn people_are_found_by_id_name_or_number() {
        let entries = vec![person("+49 151 1111 2222", "Ida Approver", "u-ida")];
        assert!(find_person(&entries, "u-ida").is_some());
        assert!(find_person(&entries, "ida approver").is_some());
        assert!(find_person(&entries, "4915111112222").is_some());
        assert!(find_person(&entries, "+49 (151) 1111-2222").is_some());
        assert!(find_person(&entries, "u-other").is_none());
        assert!(find_person(&entries, "").is_none());
        assert!(
            find_person(&entries, "2222").is_none(),
            "too few digits for a number"
        );
    }
}
