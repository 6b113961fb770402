//! A `schedule` trigger's timing: its cron pattern read in its timezone
//! (daylight saving handled by the cron crate: a time in the spring-forward
//! gap fires at the first moment after it, one in the fall-back overlap
//! once), and when it is due. Pure, with the tests beside it.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde_json::{Map, Value as Json};

/// A parsed `schedule` trigger.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: Cron,
    pub timezone: Tz,
}

impl Schedule {
    /// Reads the trigger's `cron` and `timezone` (default UTC) settings.
    pub fn from_settings(settings: &Map<String, Json>) -> Result<Schedule, String> {
        let pattern = settings
            .get("cron")
            .and_then(Json::as_str)
            .ok_or("`cron` must be a cron pattern such as `0 9 * * MON`")?;
        let cron = Cron::from_str(pattern).map_err(|e| format!("cron `{pattern}`: {e}"))?;
        let timezone = match settings.get("timezone") {
            None => Tz::UTC,
            Some(Json::String(name)) => Tz::from_str(name).map_err(|_| {
                format!("timezone `{name}` is not an IANA time zone such as `Europe/Paris`")
            })?,
            Some(other) => return Err(format!("timezone must be text, got {other}")),
        };
        Ok(Schedule { cron, timezone })
    }

    /// The first time the schedule fires after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whether the schedule, last fired `last`, is due at `now`: it fired
    /// since. However many times it would have fired (serve was down), it
    /// fires once.
    pub fn due(&self, last: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.next_after(last).is_some_and(|next| next <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schedule(settings: Json) -> Result<Schedule, String> {
        Schedule::from_settings(settings.as_object().unwrap())
    }

    fn at(s: &str) -> DateTime<Utc> {
        crate::time::parse_ts(s).unwrap()
    }

    #[test]
    fn fires_at_its_local_time_in_its_timezone() {
        let s = schedule(json!({"cron": "0 9 * * MON", "timezone": "Europe/Paris"})).unwrap();
        // Monday 30 November 2026, 09:00 in Paris is 08:00 UTC (winter).
        assert_eq!(
            s.next_after(at("2026-11-28T12:00:00Z")),
            Some(at("2026-11-30T08:00:00Z"))
        );
        // In July it is 07:00 UTC (summer time).
        assert_eq!(
            s.next_after(at("2026-07-01T00:00:00Z")),
            Some(at("2026-07-06T07:00:00Z"))
        );
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_fires_once_after_it() {
        // Paris skips 02:00–03:00 on 29 March 2026.
        let s = schedule(json!({"cron": "30 2 * * *", "timezone": "Europe/Paris"})).unwrap();
        let next = s.next_after(at("2026-03-28T12:00:00Z")).unwrap();
        assert!(
            next >= at("2026-03-29T01:00:00Z") && next < at("2026-03-29T02:00:00Z"),
            "{next}"
        );
        let after = s.next_after(next).unwrap();
        assert_eq!(after, at("2026-03-30T00:30:00Z"));
    }

    #[test]
    fn a_time_in_the_fall_back_overlap_fires_once() {
        // Paris repeats 02:00–03:00 on 25 October 2026.
        let s = schedule(json!({"cron": "30 2 * * *", "timezone": "Europe/Paris"})).unwrap();
        let first = s.next_after(at("2026-10-24T12:00:00Z")).unwrap();
        let second = s.next_after(first).unwrap();
        assert!(
            second - first > chrono::TimeDelta::hours(23),
            "{first} then {second}"
        );
    }

    #[test]
    fn missed_fires_collapse_into_one() {
        let s = schedule(json!({"cron": "0 * * * *"})).unwrap();
        let last = at("2026-12-01T01:00:00Z");
        assert!(!s.due(last, at("2026-12-01T01:59:59Z")));
        assert!(s.due(last, at("2026-12-01T02:00:00Z")));
        // Down for a day: due once; after firing at `now`, not again until
        // the next hour.
        let now = at("2026-12-02T01:30:00Z");
        assert!(s.due(last, now));
        assert!(!s.due(now, at("2026-12-02T01:59:00Z")));
    }

    #[test]
    fn bad_settings_are_said_clearly() {
        let e = schedule(json!({"cron": "0 25 * * *"})).unwrap_err();
        assert!(e.starts_with("cron `0 25 * * *`:"), "{e}");
        let e = schedule(json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus"})).unwrap_err();
        assert!(e.contains("not an IANA time zone"), "{e}");
        assert!(
            schedule(json!({"cron": "*/2 * * * * *"})).is_ok(),
            "seconds are allowed"
        );
    }
}
