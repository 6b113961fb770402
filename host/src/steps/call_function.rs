//! `call_function`: runs a function component; its JSON result is the
//! step's output.

use serde_json::json;

use super::{Field, FieldKind, Input, Phases, Plan, Step, StepCx};
use crate::effects::Effect;
use crate::error::Error;

pub struct CallFunction;

impl Step for CallFunction {
    fn kind(&self) -> &'static str {
        "call_function"
    }

    fn fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::required("function", FieldKind::Function),
            Field::optional("input", FieldKind::Json),
        ];
        FIELDS
    }

    fn phases(&self) -> Phases {
        Phases::Plan(plan)
    }
}

fn plan(input: &Input, _cx: &StepCx<'_>) -> Result<Plan, Error> {
    let name = input["function"].as_str().unwrap_or_default().to_string();
    let input = input.get("input").cloned().unwrap_or(json!({}));
    Ok(Plan::output_of(Effect::Function { name, input }))
}
