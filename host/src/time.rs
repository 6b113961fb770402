//! Timestamps as the store keeps them: RFC 3339 in UTC, to the millisecond.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a timestamp the way the store keeps it.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a timestamp the store wrote.
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
