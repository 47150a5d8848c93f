//! Graph API versions and their retirement dates, so a configured version Meta has retired can be
//! refused before any call (Graph API changelog, *Versions*:
//! `developers.facebook.com/docs/graph-api/changelog/versions/`, as published after the v26.0
//! release of 29 Jul 2026; "available until" is the date from which calls with that version fail
//! or are served by the next version).
//!
//! ```
//! use chatport_whatsapp::versions::{self, VersionStatus};
//! use chrono::NaiveDate;
//!
//! let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
//! assert_eq!(
//!     versions::status("v20.0", today),
//!     VersionStatus::Retired { on: NaiveDate::from_ymd_opt(2026, 9, 24).unwrap() }
//! );
//! assert!(matches!(versions::status("v25.0", today), VersionStatus::Available { .. }));
//! assert!(versions::check("v20.0", today).unwrap_err().to_string().contains("2026-09-24"));
//! ```

use chrono::NaiveDate;

/// `(version, released, available until)` of every Graph API version since v3.0, newest first;
/// `None`: no retirement date announced yet.
const TABLE: &[(&str, &str, Option<&str>)] = &[
    ("v26.0", "2026-07-29", None),
    ("v25.0", "2026-02-18", Some("2028-07-29")),
    ("v24.0", "2025-10-08", Some("2028-02-18")),
    ("v23.0", "2025-05-29", Some("2027-10-08")),
    ("v22.0", "2025-01-21", Some("2027-05-20")),
    ("v21.0", "2024-10-02", Some("2027-01-21")),
    ("v20.0", "2024-05-21", Some("2026-09-24")),
    ("v19.0", "2024-01-23", Some("2026-05-21")),
    ("v18.0", "2023-09-12", Some("2026-01-26")),
    ("v17.0", "2023-05-23", Some("2025-09-12")),
    ("v16.0", "2023-02-02", Some("2025-05-14")),
    ("v15.0", "2022-09-15", Some("2024-11-20")),
    ("v14.0", "2022-05-25", Some("2024-09-17")),
    ("v13.0", "2022-02-08", Some("2024-05-28")),
    ("v12.0", "2021-09-14", Some("2024-02-08")),
    ("v11.0", "2021-06-08", Some("2023-09-14")),
    ("v10.0", "2021-02-23", Some("2023-06-08")),
    ("v9.0", "2020-11-10", Some("2023-02-23")),
    ("v8.0", "2020-08-04", Some("2022-11-01")),
    ("v7.0", "2020-05-05", Some("2022-08-04")),
    ("v6.0", "2020-02-03", Some("2022-05-05")),
    ("v5.0", "2019-10-29", Some("2022-02-03")),
    ("v4.0", "2019-07-29", Some("2021-11-02")),
    ("v3.3", "2019-04-30", Some("2021-08-03")),
    ("v3.2", "2018-10-23", Some("2021-05-04")),
    ("v3.1", "2018-07-26", Some("2020-10-27")),
    ("v3.0", "2018-05-01", Some("2020-07-28")),
];

/// One Graph API version of the changelog table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphVersion {
    /// `v<major>.<minor>`.
    pub version: &'static str,
    /// Release date.
    pub released: NaiveDate,
    /// The last day before retirement: calls fail from this date on. `None` while Meta has not
    /// announced one.
    pub available_until: Option<NaiveDate>,
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Every known version, newest first.
pub fn known() -> impl Iterator<Item = GraphVersion> {
    TABLE.iter().filter_map(|(version, released, until)| {
        Some(GraphVersion {
            version,
            released: date(released)?,
            available_until: until.and_then(date),
        })
    })
}

/// The version `version` (`v25.0`; a missing `v` or `.0` is accepted: `25`, `v25`), if known.
pub fn lookup(version: &str) -> Option<GraphVersion> {
    let v = version.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    let normalised = if v.contains('.') {
        format!("v{v}")
    } else {
        format!("v{v}.0")
    };
    known().find(|g| g.version == normalised)
}

/// The retirement date of `version` (`None`: not announced, or the version is unknown).
pub fn retirement_date(version: &str) -> Option<NaiveDate> {
    lookup(version)?.available_until
}

/// What is known about a configured version on `today`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionStatus {
    /// Usable; `until` is its announced retirement date, if any.
    Available {
        /// The announced retirement date.
        until: Option<NaiveDate>,
    },
    /// Retired on `on` (calls with it fail or are upgraded by Meta).
    Retired {
        /// The retirement date.
        on: NaiveDate,
    },
    /// Not in the table: newer than this crate, or not a Graph version.
    Unknown,
}

/// The status of `version` on `today`.
pub fn status(version: &str, today: NaiveDate) -> VersionStatus {
    match lookup(version) {
        None => VersionStatus::Unknown,
        Some(GraphVersion {
            available_until: Some(on),
            ..
        }) if today >= on => VersionStatus::Retired { on },
        Some(g) => VersionStatus::Available {
            until: g.available_until,
        },
    }
}

/// A configured Graph API version Meta has retired.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "Graph API version {version} was retired on {retired_on}; configure {newest} (or another version still available)"
)]
#[non_exhaustive]
pub struct VersionRetired {
    /// The configured version.
    pub version: String,
    /// Its retirement date.
    pub retired_on: NaiveDate,
    /// The newest version this crate knows.
    pub newest: &'static str,
}

/// Refuses a version retired on or before `today` (for `chatport check`); unknown versions pass
/// (a version newer than this table must keep working).
///
/// # Errors
/// [`VersionRetired`] naming the retirement date.
pub fn check(version: &str, today: NaiveDate) -> Result<(), VersionRetired> {
    match status(version, today) {
        VersionStatus::Retired { on } => Err(VersionRetired {
            version: version.trim().to_owned(),
            retired_on: on,
            newest: TABLE.first().map_or("v26.0", |row| row.0),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_table_parses_and_is_ordered() {
        let all: Vec<GraphVersion> = known().collect();
        assert_eq!(all.len(), TABLE.len(), "every row parses");
        assert_eq!(all[0].version, crate::DEFAULT_API_VERSION);
        for pair in all.windows(2) {
            assert!(pair[0].released > pair[1].released, "{}", pair[0].version);
        }
        for g in &all {
            if let Some(until) = g.available_until {
                assert!(until > g.released, "{}", g.version);
            }
        }
    }

    #[test]
    fn retirement_dates_from_the_changelog() {
        assert_eq!(retirement_date("v20.0"), Some(d(2026, 9, 24)));
        assert_eq!(retirement_date("20"), Some(d(2026, 9, 24)));
        assert_eq!(retirement_date("v25.0"), Some(d(2028, 7, 29)));
        assert_eq!(retirement_date("v26.0"), None);
        assert_eq!(retirement_date("v99.0"), None);
        assert_eq!(
            status("v20.0", d(2026, 9, 23)),
            VersionStatus::Available {
                until: Some(d(2026, 9, 24))
            }
        );
        assert_eq!(
            status("v20.0", d(2026, 9, 24)),
            VersionStatus::Retired { on: d(2026, 9, 24) }
        );
        assert_eq!(status("v99.0", d(2026, 9, 24)), VersionStatus::Unknown);
        let err = check("v19.0", d(2026, 12, 7)).unwrap_err();
        assert_eq!(err.retired_on, d(2026, 5, 21));
        assert!(
            err.to_string().contains("v19.0 was retired on 2026-05-21"),
            "{err}"
        );
        assert!(check(crate::DEFAULT_API_VERSION, d(2026, 12, 7)).is_ok());
        assert!(check("v99.0", d(2026, 12, 7)).is_ok());
    }
}
