//! Grant and revoke requests become tasks. Today every task stays open for
//! the app owner to carry out (`keystep tasks complete`); this is the one
//! place where a connector plugin will fulfil them instead.

use super::{StepCx, StepError};
use crate::directory::Task;

/// Opens a `kind` (grant or revoke) task for `user` × `entitlement`, assigned
/// to the app's owner, unless an open one exists. Returns the task and
/// whether it is new.
pub fn request(
    cx: &StepCx,
    kind: &str,
    user: &str,
    entitlement: &str,
) -> Result<(Task, bool), StepError> {
    if let Some(open) = cx.dir.open_task_for(kind, user, entitlement)? {
        return Ok((open, false));
    }
    let owner = cx.dir.app_owner_of(entitlement)?;
    let task = cx
        .dir
        .open_task(kind, user, entitlement, owner.as_deref(), None)?;
    Ok((task, true))
}
