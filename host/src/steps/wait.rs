//! `wait`: a durable timer. The run sleeps as a row in the store; no thread
//! or task is held while it waits.

use chrono::DateTime;
use serde_json::{Map, Value as Json, json};

use super::fields::parse_duration;
use super::{Field, FieldKind, Outcome, Step, StepCx, StepError};
use crate::automation::{Pos, StepDef};
use crate::store::ts;

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
            (Some(_), None) | (None, Some(_)) => Vec::new(),
            _ => vec![(
                step.pos,
                "give exactly one of `duration` (e.g. 7d) or `until` (a timestamp)".into(),
            )],
        }
    }

    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError> {
        let until = match (input.get("duration"), input.get("until")) {
            (Some(Json::String(d)), _) => {
                let d = parse_duration(d).map_err(StepError::fatal)?;
                cx.now
                    + chrono::Duration::from_std(d)
                        .map_err(|_| StepError::fatal(format!("duration `{d:?}` is too long")))?
            }
            (_, Some(Json::String(t))) => DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    StepError::fatal(format!("`until`: `{t}` is not an RFC 3339 timestamp ({e})"))
                })?
                .to_utc(),
            _ => return Err(StepError::fatal("`duration` or `until` must be text")),
        };
        Ok(Outcome::Sleep {
            until,
            output: json!({"until": ts(until)}),
        })
    }
}
