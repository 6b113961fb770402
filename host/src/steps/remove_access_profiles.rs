//! `remove_access_profiles`: unenrolls a user from access profiles, so they
//! get no further birthright grants from them. Grants already held stay.

use serde_json::json;

use super::{Input, Outcome, Phases, Step, StepCx, target};
use crate::automation::spec::{self, StepSpec};
use crate::error::Error;

pub struct RemoveAccessProfiles;

impl Step for RemoveAccessProfiles {
    fn spec(&self) -> &'static StepSpec {
        &spec::REMOVE_ACCESS_PROFILES
    }

    fn phases(&self) -> Phases {
        Phases::Settle(settle)
    }
}

fn settle(input: &Input, cx: &StepCx<'_>) -> Result<Outcome, Error> {
    let user = target::user(cx, input, "user")?;
    let enrolled = cx.dir.enrollments_of(&user.id)?;
    let wanted = target::words(input.get("profiles"));
    let (targets, not_enrolled): (Vec<String>, Vec<String>) =
        if target::names_keyword(cx, input, "profiles", "all") {
            (enrolled, Vec::new())
        } else {
            for p in &wanted {
                if cx.dir.access_profile(p)?.is_none() {
                    return Err(Error::fatal(format!(
                        "`profiles`: unknown access profile `{p}`"
                    )));
                }
            }
            wanted.into_iter().partition(|p| enrolled.contains(p))
        };
    for profile in &targets {
        cx.dir.unenroll(profile, &user.id)?;
    }
    Ok(Outcome::Done(json!({
        "user_id": user.id,
        "removed": targets,
        "not_enrolled": not_enrolled,
    })))
}
