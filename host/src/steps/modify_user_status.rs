//! `modify_user_status`: sets a user's status in the directory, which records
//! a `user_updated` event with the old and new user.

use serde_json::{Map, Value as Json, json};

use super::{Field, FieldKind, Outcome, Step, StepCx, StepError, target};
use crate::directory::USER_STATUSES;

pub struct ModifyUserStatus;

impl Step for ModifyUserStatus {
    fn kind(&self) -> &'static str {
        "modify_user_status"
    }

    fn fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::required("user", FieldKind::User),
            Field::required("status", FieldKind::Choice(USER_STATUSES)),
        ];
        FIELDS
    }

    fn run(&self, input: &Map<String, Json>, cx: &mut StepCx<'_>) -> Result<Outcome, StepError> {
        let user = target::user(cx, input, "user")?;
        let status = target::text(input, "status")?;
        if !USER_STATUSES.contains(&status) {
            return Err(StepError::fatal(format!(
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
}
