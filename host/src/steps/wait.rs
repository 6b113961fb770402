//! `wait`: a durable timer. The run sleeps as a row in the store; no thread
//! or task is held while it waits.

use serde_json::{Value as Json, json};

use super::{Input, Outcome, Phases, Step, StepCx};
use crate::automation::fields::parse_duration;
use crate::automation::spec::{self, StepSpec, check_until};
use crate::error::Error;
use crate::time::ts;

pub struct Wait;

impl Step for Wait {
    fn spec(&self) -> &'static StepSpec {
        &spec::WAIT
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
