//! `call_function`: runs a function component; its JSON result is the
//! step's output.

use serde_json::json;

use super::{Input, Phases, Plan, Planning, Step};
use crate::automation::spec::{self, StepSpec};
use crate::effects::Effect;
use crate::error::Error;

pub struct CallFunction;

impl Step for CallFunction {
    fn spec(&self) -> &'static StepSpec {
        &spec::CALL_FUNCTION
    }

    fn phases(&self) -> Phases {
        Phases::Direct(plan)
    }
}

fn plan(input: &Input, _step: &Planning<'_>) -> Result<Plan, Error> {
    let name = input["function"].as_str().unwrap_or_default().to_string();
    let input = input.get("input").cloned().unwrap_or(json!({}));
    Ok(Plan::output_of(Effect::Function { name, input }))
}
