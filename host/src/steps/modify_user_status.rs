//! `modify_user_status`: sets a user's status in the directory, which records
//! a `user_updated` event with the old and new user.

use serde_json::json;

use super::{Input, Outcome, Phases, Step, StepCx, target};
use crate::automation::spec::{self, StepSpec};
use crate::directory::USER_STATUSES;
use crate::error::Error;

pub struct ModifyUserStatus;

impl Step for ModifyUserStatus {
    fn spec(&self) -> &'static StepSpec {
        &spec::MODIFY_USER_STATUS
    }

    fn phases(&self) -> Phases {
        Phases::Settle(settle)
    }
}

fn settle(input: &Input, cx: &StepCx<'_>) -> Result<Outcome, Error> {
    let user = target::user(cx, input, "user")?;
    let status = target::text(input, "status")?;
    if !USER_STATUSES.contains(&status) {
        return Err(Error::fatal(format!(
            "`status` must be one of {}, got `{status}`",
            USER_STATUSES.join(", ")
        )));
    }
    let old = cx.dir.set_user_status(&user.id, status)?;
    Ok(Outcome::Done(json!({
        "user_id": user.id,
        "old_status": old,
        "new_status": status,
        "changed": old != status,
    })))
}
