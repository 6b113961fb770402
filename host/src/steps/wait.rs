//! `wait`: a durable timer. The run sleeps as a row in the store; no thread
//! or task is held while it waits.

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use super::fields::{MAX_DURATION, parse_duration};
use super::{Field, FieldKind, Input, Outcome, Phases, Step, StepCx};
use crate::automation::{Pos, StepDef};
use crate::error::Error;
use crate::time::ts;

pub struct Wait;

impl Step for Wait {
    fn kind(&self) -> &'static str {
        "wait"
    }

    fn fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::optional("duration", FieldKind::Duration),
            Field::optional("until", FieldKind::Timestamp),
        ];
        FIELDS
    }

    fn check(&self, step: &StepDef) -> Vec<(Pos, String)> {
        match (step.field("duration"), step.field("until")) {
            (Some(_), None) => Vec::new(),
            (None, Some(until)) => until
                .template
                .literal()
                .and_then(Json::as_str)
                // A malformed timestamp is the field's own error already.
                .filter(|t| DateTime::parse_from_rfc3339(t).is_ok())
                .and_then(|t| check_until(t, Utc::now()).err())
                .map(|e| vec![(until.pos, e)])
                .unwrap_or_default(),
            _ => vec![(
                step.pos,
                "give exactly one of `duration` (e.g. 7d) or `until` (a timestamp)".into(),
            )],
        }
    }

    fn phases(&self) -> Phases {
        Phases::Settle(settle)
    }
}

fn settle(input: &Input, cx: &StepCx<'_>) -> Result<Outcome, Error> {
    let until = match (input.get("duration"), input.get("until")) {
        (Some(Json::String(d)), _) => {
            let d = parse_duration(d).map_err(Error::fatal)?;
            // `parse_duration` keeps `d` within ten years.
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| cx.now.checked_add_signed(d))
                .ok_or_else(|| Error::fatal("`duration` is too long"))?
        }
        (_, Some(Json::String(t))) => check_until(t, cx.now).map_err(Error::fatal)?,
        _ => return Err(Error::fatal("`duration` or `until` must be text")),
    };
    Ok(Outcome::Sleep {
        until,
        output: json!({"until": ts(until)}),
    })
}

/// Parses an `until` timestamp, which may lie at most ten years after `now`.
fn check_until(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let until = DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("`until`: `{text}` is not an RFC 3339 timestamp ({e})"))?
        .to_utc();
    let latest = chrono::Duration::from_std(MAX_DURATION)
        .ok()
        .and_then(|d| now.checked_add_signed(d));
    match latest {
        Some(latest) if until <= latest => Ok(until),
        _ => Err(format!(
            "`until`: `{text}` is more than 10 years ahead (the limit of a wait)"
        )),
    }
}
