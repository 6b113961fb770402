//! `time.*`: the calendar arithmetic automations need beyond CEL's
//! timestamps and durations — the start of a day or week in a person's
//! time zone, formatting for a message, parsing what an HR system sends.
//!
//! Zones are IANA names (`Europe/Berlin`), UTC when none is given; a
//! timestamp is an instant (CEL's `string()` shows it in UTC), and
//! `time.format` shows it in a zone. Layouts are strftime's (`%Y-%m-%d %H:%M`); one with an unknown
//! specifier is refused, never half-printed.

use std::fmt::Write as _;
use std::str::FromStr;

use cel::Value;
use chrono::format::{Item, StrftimeItems};
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Timelike,
};
use chrono_tz::Tz;

use super::{text, type_name, whole};

fn timestamp(value: &Value, what: &str) -> Result<DateTime<FixedOffset>, String> {
    match value {
        Value::Timestamp(t) => Ok(*t),
        other => Err(format!(
            "{what} must be a timestamp (`now()`, `timestamp('2026-01-31T09:00:00Z')`), not {}",
            type_name(other)
        )),
    }
}

/// The zone named by the optional argument at `at`, UTC without one.
fn zone(args: &[Value], at: usize) -> Result<Tz, String> {
    let Some(name) = args.get(at) else {
        return Ok(Tz::UTC);
    };
    let name = text(name, "the zone")?;
    Tz::from_str(name)
        .map_err(|_| format!("unknown time zone `{name}` (an IANA name such as Europe/Berlin)"))
}

/// `local` in `zone` as a timestamp: at a clock change, the earlier of two
/// readings, or the first moment after a skipped hour.
fn in_zone(zone: Tz, local: NaiveDateTime) -> Result<DateTime<FixedOffset>, String> {
    let at = zone.from_local_datetime(&local).earliest().or_else(|| {
        zone.from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
    });
    at.map(|t| t.fixed_offset())
        .ok_or_else(|| format!("{local} does not exist in {zone}"))
}

/// `time.start_of(t, unit, zone?)`: the first moment of the minute, hour,
/// day, week (from Monday), month or year that holds `t`, in `zone`.
pub(super) fn start_of(args: &[Value]) -> Result<Value, String> {
    let t = timestamp(&args[0], "the time")?;
    let unit = text(&args[1], "the unit")?;
    let zone = zone(args, 2)?;
    let local = t.with_timezone(&zone).naive_local();
    let date = local.date();
    let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight exists");
    let start = match unit {
        "minute" => date.and_hms_opt(local.time().hour(), local.time().minute(), 0),
        "hour" => date.and_hms_opt(local.time().hour(), 0, 0),
        "day" => Some(day(date)),
        "week" => {
            Some(day(date
                - Duration::days(
                    date.weekday().num_days_from_monday().into(),
                )))
        }
        "month" => date.with_day(1).map(day),
        "year" => date.with_ordinal(1).map(day),
        other => {
            return Err(format!(
                "unknown unit `{other}`: minute, hour, day, week, month or year"
            ));
        }
    };
    let start = start.ok_or("the start is out of range")?;
    in_zone(zone, start).map(Value::Timestamp)
}

/// `time.format(t, layout, zone?)`: `t` as text, in `zone`.
pub(super) fn format(args: &[Value]) -> Result<Value, String> {
    let t = timestamp(&args[0], "the time")?;
    let items = layout(text(&args[1], "the layout")?)?;
    let local = t.with_timezone(&zone(args, 2)?);
    let mut out = String::new();
    write!(out, "{}", local.format_with_items(items.iter()))
        .map_err(|_| "the time cannot be written in this layout".to_string())?;
    Ok(Value::String(out.into()))
}

/// A strftime layout's parts, or which specifier is wrong.
fn layout(text: &str) -> Result<Vec<Item<'_>>, String> {
    let items: Vec<Item> = StrftimeItems::new(text).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "`{text}` is not a strftime layout (such as `%Y-%m-%d %H:%M`)"
        ));
    }
    Ok(items)
}

/// `time.parse(text, layout, zone?)`: a timestamp from text. A layout with
/// an offset (`%z`) takes it from the text; otherwise the text is a local
/// time in `zone`, or a date, which is its midnight.
pub(super) fn parse(args: &[Value]) -> Result<Value, String> {
    let input = text(&args[0], "the text")?;
    let layout_text = text(&args[1], "the layout")?;
    layout(layout_text)?;
    if let Ok(t) = DateTime::parse_from_str(input, layout_text) {
        return Ok(Value::Timestamp(t));
    }
    let zone = zone(args, 2)?;
    let local = NaiveDateTime::parse_from_str(input, layout_text).or_else(|e| {
        NaiveDate::parse_from_str(input, layout_text)
            .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
            .map_err(|_| format!("`{input}` does not fit the layout `{layout_text}`: {e}"))
    })?;
    in_zone(zone, local).map(Value::Timestamp)
}

/// `time.days(n)`: a duration of `n` days (CEL's `duration()` has no unit
/// longer than hours).
pub(super) fn days(args: &[Value]) -> Result<Value, String> {
    let n = whole(&args[0], "the number of days")?;
    Duration::try_days(n)
        .map(Value::Duration)
        .ok_or_else(|| format!("{n} days is out of range"))
}
