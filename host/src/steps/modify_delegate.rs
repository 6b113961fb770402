//! `modify_delegate`: re-points everyone who delegates to `user` at
//! `replacement`, or removes those delegations.

use serde_json::{Value as Json, json};

use super::{Input, Outcome, Phases, Step, StepCx, target};
use crate::automation::spec::{self, StepSpec};
use crate::error::Error;

pub struct ModifyDelegate;

impl Step for ModifyDelegate {
    fn spec(&self) -> &'static StepSpec {
        &spec::MODIFY_DELEGATE
    }

    fn phases(&self) -> Phases {
        Phases::Settle(settle)
    }
}

fn settle(input: &Input, cx: &StepCx<'_>) -> Result<Outcome, Error> {
    let user = target::user(cx, input, "user")?;
    let replacement = match input.get("replacement") {
        None | Some(Json::Null) => None,
        Some(v) => Some(target::user_ref(cx, v, "replacement", None)?),
    };
    let mut changed = Vec::new();
    for delegator in cx.dir.delegators_of(&user.id)? {
        // Nobody delegates to themselves: that delegation is removed.
        let to = replacement
            .as_ref()
            .map(|r| r.id.as_str())
            .filter(|r| *r != delegator);
        cx.dir.set_delegate(&delegator, to)?;
        changed.push(delegator);
    }
    Ok(Outcome::Done(json!({
        "user_id": user.id,
        "replacement": replacement.map(|r| r.id),
        "changed": changed,
    })))
}
