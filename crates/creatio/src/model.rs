//! Typed models of the entities the WhatsApp handoff uses, and the lookup GUIDs
//! (`shared/api/creatio.md` §3).
//!
//! Every column is optional (a `$select` returns a subset; a create sends only what is set:
//! `None` is not serialized), and columns the model does not name are kept in `extra`, so custom
//! `Usr*` columns and new vendor columns survive a read–modify–write. Lookup columns are the
//! `{Name}Id` GUID form; an empty lookup comes back as the zero GUID (see [`is_empty_lookup`]).
//! Timestamps are UTC.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::{Uuid, uuid};

/// An entity set with a typed model.
pub trait Entity: Serialize + for<'de> Deserialize<'de> {
    /// The OData entity set (schema code), e.g. `"Case"`.
    const SET: &'static str;
}

/// Whether a lookup value is empty (`None` or the zero GUID Creatio returns for an empty lookup).
pub fn is_empty_lookup(id: Option<Uuid>) -> bool {
    id.is_none_or(|id| id.is_nil())
}

/// Creatio's `ContactCommunication.SearchNumber` for a phone number: its digits, reversed
/// (`shared/api/creatio.md` §3.3). `+49 151 2345-678` → `"876543215194"`. Match with
/// `startswith(SearchNumber,'<search_number(last N digits)>')`.
pub fn search_number(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).rev().collect()
}

/// Integers that may travel as strings (`IEEE754Compatible=true` sends Int64 as a string).
mod lenient_i64 {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        })
    }
}

/// A date-time as Creatio writes it: UTC, RFC 3339, with at most **7** fractional digits (.NET's
/// 100 ns ticks; chrono would write up to 9, which Creatio's OData parser is not documented to
/// accept), trailing zeros dropped and no fraction for whole seconds:
/// `2026-12-07T09:01:00.1234567Z`, `2026-12-07T09:01:00Z`. Used for every `DateTime` column the
/// typed models write and for `$filter` date-time literals.
pub fn odata_datetime(at: &DateTime<Utc>) -> String {
    let ticks = at.timestamp_subsec_nanos() / 100;
    let base = at.format("%Y-%m-%dT%H:%M:%S");
    if ticks == 0 {
        return format!("{base}Z");
    }
    let fraction = format!("{ticks:07}");
    format!("{base}.{}Z", fraction.trim_end_matches('0'))
}

/// How a typed model's column is written: as serde does, except date-times
/// ([`odata_datetime`]).
mod column {
    use chrono::{DateTime, Utc};
    use serde::{Serialize, Serializer};

    pub(crate) trait Column: Serialize {
        fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.serialize(s)
        }
    }

    impl Column for String {}
    impl Column for uuid::Uuid {}
    impl Column for bool {}
    impl Column for i32 {}
    impl Column for i64 {}
    impl Column for f64 {}

    impl Column for DateTime<Utc> {
        fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&super::odata_datetime(self))
        }
    }

    pub(crate) fn serialize<T: Column, S: Serializer>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => v.write(s),
            None => s.serialize_none(),
        }
    }
}

macro_rules! entity {
    (
        $(#[$meta:meta])*
        $name:ident, $set:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(
                    default,
                    skip_serializing_if = "Option::is_none",
                    serialize_with = "column::serialize"
                )]
                pub $field: Option<$ty>,
            )*
            /// Columns this model does not name (custom `Usr*` columns, OData annotations), kept
            /// as received and sent back as set.
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }

        impl $name {
            /// An empty record (every column unset).
            pub fn new() -> Self {
                Self::default()
            }
        }

        impl Entity for $name {
            const SET: &'static str = $set;
        }
    };
}

entity! {
    /// A `Case` (Service Creatio). `Subject` holds the short summary, `Symptoms` the long one (the
    /// UI's "Description"); `Number` is auto-generated (`SR00005250`) and returned by the create.
    Case, "Case" {
        /// Primary key.
        id: Uuid,
        /// Auto-number, e.g. `SR00005250`.
        number: String,
        /// Subject (short summary).
        subject: String,
        /// Description (rich text; the conversation summary).
        symptoms: String,
        /// Notes.
        notes: String,
        /// Registration time (UTC).
        registered_on: DateTime<Utc>,
        /// `CaseStatus` lookup.
        status_id: Uuid,
        /// `CasePriority` lookup.
        priority_id: Uuid,
        /// `CaseOrigin` lookup (source channel).
        origin_id: Uuid,
        /// `CaseCategory` lookup.
        category_id: Uuid,
        /// The customer (`Contact`).
        contact_id: Uuid,
        /// The customer's account.
        account_id: Uuid,
        /// Assignee (`Contact`).
        owner_id: Uuid,
        /// Assignee group (`SysAdminUnit`).
        group_id: Uuid,
        /// Solution text.
        solution: String,
        /// Closure time.
        closure_date: DateTime<Utc>,
        /// Parent case.
        parent_case_id: Uuid,
        /// Created (UTC).
        created_on: DateTime<Utc>,
        /// Creator (`Contact`).
        created_by_id: Uuid,
        /// Last modified (UTC).
        modified_on: DateTime<Utc>,
        /// Last modifier (`Contact`).
        modified_by_id: Uuid,
    }
}

entity! {
    /// A `Contact`. `Name` alone is enough to create one (Creatio splits it into `GivenName` and
    /// `Surname`); `MobilePhone`, `Phone`, `Email` mirror the primary communication options.
    Contact, "Contact" {
        /// Primary key.
        id: Uuid,
        /// Full name.
        name: String,
        /// Given name.
        given_name: String,
        /// Surname.
        surname: String,
        /// Mobile phone (as entered, e.g. `+4915112345678`).
        mobile_phone: String,
        /// Business phone.
        phone: String,
        /// Home phone.
        home_phone: String,
        /// Email.
        email: String,
        /// Account.
        account_id: Uuid,
        /// `ContactType` lookup.
        type_id: Uuid,
        /// Owner.
        owner_id: Uuid,
        /// Language lookup.
        language_id: Uuid,
        /// Job title.
        job_title: String,
        /// Notes.
        notes: String,
        /// Created (UTC).
        created_on: DateTime<Utc>,
        /// Last modified (UTC).
        modified_on: DateTime<Utc>,
    }
}

entity! {
    /// A `ContactCommunication` row (the contact's communication options detail).
    /// `SearchNumber` is maintained by the platform: the digits of `Number` reversed
    /// ([`search_number`]).
    ContactCommunication, "ContactCommunication" {
        /// Primary key.
        id: Uuid,
        /// The contact.
        contact_id: Uuid,
        /// `CommunicationType` lookup (mobile phone, email, …).
        communication_type_id: Uuid,
        /// The number or address as entered.
        number: String,
        /// Reversed digits of `Number`.
        search_number: String,
        /// Position in the list.
        position: i32,
        /// Whether the option is no longer current.
        non_actual: bool,
        /// Created (UTC).
        created_on: DateTime<Utc>,
        /// Last modified (UTC).
        modified_on: DateTime<Utc>,
    }
}

entity! {
    /// An `Activity` (task, email, call): one line of the transcript on a case's timeline
    /// (`CaseId` set). Note Creatio's spelling `Recepient`.
    Activity, "Activity" {
        /// Primary key.
        id: Uuid,
        /// Title (at most 250 characters is safe).
        title: String,
        /// Start (UTC).
        start_date: DateTime<Utc>,
        /// Due (UTC).
        due_date: DateTime<Utc>,
        /// `ActivityStatus` lookup.
        status_id: Uuid,
        /// `ActivityType` lookup.
        type_id: Uuid,
        /// `ActivityCategory` lookup.
        activity_category_id: Uuid,
        /// `ActivityPriority` lookup.
        priority_id: Uuid,
        /// Owner (`Contact`).
        owner_id: Uuid,
        /// Author (`Contact`).
        author_id: Uuid,
        /// Contact.
        contact_id: Uuid,
        /// Account.
        account_id: Uuid,
        /// The case this activity belongs to.
        case_id: Uuid,
        /// Notes (full message text).
        notes: String,
        /// Detailed result.
        detailed_result: String,
        /// Email body.
        body: String,
        /// Whether `Body` is HTML.
        is_html_body: bool,
        /// Email sender.
        sender: String,
        /// Email recipient (Creatio's spelling).
        recepient: String,
        /// `EmailType` lookup (incoming / outgoing).
        message_type_id: Uuid,
        /// Created (UTC).
        created_on: DateTime<Utc>,
        /// Creator (`Contact`).
        created_by_id: Uuid,
        /// Last modified (UTC).
        modified_on: DateTime<Utc>,
    }
}

entity! {
    /// A `CaseFile` (attachment on a case). Upload content with
    /// [`crate::Client::upload_file`]; the `FileApiService` creates the record.
    CaseFile, "CaseFile" {
        /// Primary key (the `fileId` of the upload).
        id: Uuid,
        /// The case.
        case_id: Uuid,
        /// File name.
        name: String,
        /// `FileType` lookup (file / link).
        type_id: Uuid,
        /// Version.
        version: i32,
        /// Notes.
        notes: String,
        /// Created (UTC).
        created_on: DateTime<Utc>,
        /// Creator (`Contact`).
        created_by_id: Uuid,
    }
}

/// `CaseFile.Size` in bytes, which may travel as a string; read it with [`CaseFile::size`].
impl CaseFile {
    /// The `Size` column in bytes, when present (a number or a numeric string).
    pub fn size(&self) -> Option<i64> {
        #[derive(Deserialize)]
        struct S {
            #[serde(deserialize_with = "lenient_i64::deserialize", default)]
            v: Option<i64>,
        }
        let v = self.extra.get("Size")?.clone();
        serde_json::from_value::<S>(serde_json::json!({ "v": v }))
            .ok()
            .and_then(|s| s.v)
    }
}

/// The lookup GUIDs the handoff writes. The defaults are Creatio's **out-of-the-box values**
/// (`shared/api/creatio.md` §3.8, from public Creatio packages): customers rename and add lookup
/// values, so **verify them per instance** (e.g. `GET CaseStatus?$select=Id,Name`) and override
/// what differs. A "WhatsApp" case origin has no out-of-the-box value: the default origin is the
/// `CaseOriginDef` seed value (labelled "Call" in the UI, inferred).
///
/// Deserializes from configuration with every field optional (missing fields keep the default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
#[non_exhaustive]
pub struct Lookups {
    /// CaseStatus "New".
    pub case_status_new: Uuid,
    /// CaseStatus "In progress".
    pub case_status_in_progress: Uuid,
    /// CaseStatus "Resolved".
    pub case_status_resolved: Uuid,
    /// CaseStatus "Closed" (final).
    pub case_status_closed: Uuid,
    /// CaseStatus "Canceled" (final).
    pub case_status_canceled: Uuid,
    /// CasePriority "Medium" (`CasePriorityDef`).
    pub case_priority_medium: Uuid,
    /// CaseOrigin for cases the integration creates (default: the `CaseOriginDef` seed value).
    pub case_origin: Uuid,
    /// ActivityType "Task".
    pub activity_type_task: Uuid,
    /// ActivityType "Email".
    pub activity_type_email: Uuid,
    /// ActivityCategory "To do".
    pub activity_category_todo: Uuid,
    /// ActivityStatus "Not started".
    pub activity_status_not_started: Uuid,
    /// ActivityStatus "Completed".
    pub activity_status_completed: Uuid,
    /// ActivityStatus "Canceled".
    pub activity_status_canceled: Uuid,
    /// ActivityPriority "Medium".
    pub activity_priority_medium: Uuid,
    /// CommunicationType "Mobile phone".
    pub communication_type_mobile: Uuid,
    /// CommunicationType "Business phone".
    pub communication_type_phone: Uuid,
    /// ContactType "Client" (customer).
    pub contact_type_customer: Uuid,
    /// FileType "File".
    pub file_type_file: Uuid,
    /// FileType "Link".
    pub file_type_link: Uuid,
}

impl Default for Lookups {
    fn default() -> Self {
        Self {
            case_status_new: uuid!("ae5f2f10-f46b-1410-fd9a-0050ba5d6c38"),
            case_status_in_progress: uuid!("7e9f1204-f46b-1410-fb9a-0050ba5d6c38"),
            case_status_resolved: uuid!("ae7f411e-f46b-1410-009b-0050ba5d6c38"),
            case_status_closed: uuid!("3e7f420c-f46b-1410-fc9a-0050ba5d6c38"),
            case_status_canceled: uuid!("6e5f4218-f46b-1410-fe9a-0050ba5d6c38"),
            case_priority_medium: uuid!("d9bd322c-f46b-1410-ee8c-0050ba5d6c38"),
            case_origin: uuid!("5e5e202a-f46b-1410-3692-0050ba5d6c38"),
            activity_type_task: uuid!("fbe0acdc-cfc0-df11-b00f-001d60e938c6"),
            activity_type_email: uuid!("e2831dec-cfc0-df11-b00f-001d60e938c6"),
            activity_category_todo: uuid!("f51c4643-58e6-df11-971b-001d60e938c6"),
            activity_status_not_started: uuid!("384d4b84-58e6-df11-971b-001d60e938c6"),
            activity_status_completed: uuid!("4bdbb88f-58e6-df11-971b-001d60e938c6"),
            activity_status_canceled: uuid!("201cfba8-58e6-df11-971b-001d60e938c6"),
            activity_priority_medium: uuid!("ab96fa02-7fe6-df11-971b-001d60e938c6"),
            communication_type_mobile: uuid!("d4a2dc80-30ca-df11-9b2a-001d60e938c6"),
            communication_type_phone: uuid!("3dddb3cc-53ee-49c4-a71f-e9e257f59e49"),
            contact_type_customer: uuid!("00783ef6-f36b-1410-a883-16d83cab0980"),
            file_type_file: uuid!("529bc2f8-0ee0-df11-971b-001d60e938c6"),
            file_type_link: uuid!("539bc2f8-0ee0-df11-971b-001d60e938c6"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_are_written_with_at_most_seven_fractional_digits() {
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 9, 1, 0).unwrap();
        assert_eq!(odata_datetime(&at), "2026-12-07T09:01:00Z");
        let nanos = at + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(odata_datetime(&nanos), "2026-12-07T09:01:00.1234567Z");
        let millis = at + chrono::Duration::milliseconds(250);
        assert_eq!(odata_datetime(&millis), "2026-12-07T09:01:00.25Z");
        let mut activity = Activity::new();
        activity.start_date = Some(nanos);
        let json = serde_json::to_value(&activity).unwrap();
        assert_eq!(json["StartDate"], "2026-12-07T09:01:00.1234567Z");
        let back: Activity = serde_json::from_value(json).unwrap();
        assert_eq!(
            back.start_date,
            Some(at + chrono::Duration::nanoseconds(123_456_700))
        );
    }
    use serde_json::json;

    #[test]
    fn case_round_trip_keeps_unknown_columns() {
        let raw = json!({
            "@odata.context": "https://h/0/odata/$metadata#Case/$entity",
            "Id": "0a9a1e6b-3f34-4f7e-a0b8-5b1f9a8b6c11",
            "Number": "SR00005250",
            "Subject": "Parcel damaged",
            "StatusId": "ae5f2f10-f46b-1410-fd9a-0050ba5d6c38",
            "ContactId": "00000000-0000-0000-0000-000000000000",
            "CreatedOn": "2022-04-07T09:37:58.5679414Z",
            "ClosureDate": "0001-01-01T00:00:00Z",
            "UsrWhatsAppConversation": "conv-1"
        });
        let c: Case = serde_json::from_value(raw).unwrap();
        assert_eq!(c.number.as_deref(), Some("SR00005250"));
        assert!(is_empty_lookup(c.contact_id));
        assert!(!is_empty_lookup(c.status_id));
        assert_eq!(c.extra["UsrWhatsAppConversation"], "conv-1");
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["UsrWhatsAppConversation"], "conv-1");
        assert_eq!(back["Subject"], "Parcel damaged");
        assert!(back.get("Symptoms").is_none(), "unset columns are not sent");
    }

    #[test]
    fn activity_uses_creatio_spelling() {
        let a = Activity {
            recepient: Some("x".into()),
            case_id: Some(Uuid::nil()),
            ..Activity::new()
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["Recepient"], "x");
        assert!(v.get("CaseId").is_some());
    }

    #[test]
    fn helpers() {
        assert_eq!(search_number("+49 151 2345-678"), "876543215194");
        let f: CaseFile = serde_json::from_value(json!({"Size": "1024"})).unwrap();
        assert_eq!(f.size(), Some(1024));
        let f: CaseFile = serde_json::from_value(json!({"Size": 7})).unwrap();
        assert_eq!(f.size(), Some(7));
        let l: Lookups = serde_json::from_value(json!({
            "case_origin": "11111111-1111-1111-1111-111111111111"
        }))
        .unwrap();
        assert_eq!(l.case_status_new, Lookups::default().case_status_new);
        assert_eq!(
            l.case_origin.to_string(),
            "11111111-1111-1111-1111-111111111111"
        );
        assert_eq!(Case::SET, "Case");
    }
}
