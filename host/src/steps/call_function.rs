//! `call_function`: runs a function component; its JSON result is the
//! step's output.

use serde_json::{Map, Value as Json, json};

use super::{Field, FieldKind, Outcome, Step, StepCx, StepError};

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

    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError> {
        let function = input["function"].as_str().unwrap_or_default();
        let arguments = input.get("input").cloned().unwrap_or(json!({}));
        if cx.dry_run {
            return Ok(Outcome::Done(json!({
                "dry_run": format!("would call function `{function}`"),
                "input": arguments,
            })));
        }
        let output = cx.plugins.host.call_function(
            function,
            &arguments,
            Some(cx.plugins.directory.clone()),
        )?;
        Ok(Outcome::Done(output))
    }
}
