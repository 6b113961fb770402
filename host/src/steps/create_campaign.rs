//! `create_campaign`: opens an access-review campaign from a template, with
//! one review task per grant of each user in the template's scope, assigned
//! by the template's reviewer policy.

use serde_json::{Value as Json, json};

use super::{Input, Outcome, Phases, Step, StepCx, target};
use crate::automation::spec::{self, StepSpec};
use crate::directory::{Grant, ReviewTemplate, User};
use crate::error::Error;

pub struct CreateCampaign;

impl Step for CreateCampaign {
    fn spec(&self) -> &'static StepSpec {
        &spec::CREATE_CAMPAIGN
    }

    fn phases(&self) -> Phases {
        Phases::Settle(settle)
    }
}

fn settle(input: &Input, cx: &StepCx<'_>) -> Result<Outcome, Error> {
    let template_id = target::text(input, "template")?;
    let template = cx.dir.review_template(template_id)?.ok_or_else(|| {
        Error::fatal(format!(
            "`template`: unknown review template `{template_id}`"
        ))
    })?;
    let users = target::users(cx, input, "user")?;
    let name = match input.get("name").and_then(Json::as_str) {
        Some(n) => n.to_string(),
        None => {
            let names: Vec<&str> = users.iter().map(|u| u.display_name.as_str()).collect();
            format!("{}: {}", template.name, names.join(", "))
        }
    };
    let campaign = cx.dir.create_campaign(&template.id, &name)?;
    let mut tasks = Vec::new();
    for user in &users {
        for grant in cx.dir.grants_of(&user.id)? {
            if template
                .apps
                .as_ref()
                .is_some_and(|apps| !apps.contains(&grant.app_id))
            {
                continue;
            }
            let reviewer = reviewer(cx, &template, user, &grant)?;
            let task = cx.dir.open_task(
                "review",
                &user.id,
                &grant.entitlement_id,
                Some(&reviewer),
                Some(campaign.id),
            )?;
            tasks.push(task.id);
        }
    }
    Ok(Outcome::Done(json!({
        "campaign_id": campaign.id,
        "name": name,
        "tasks": tasks,
        "reviews": tasks.len(),
    })))
}

/// Who reviews `grant`: the template's policy, else its fallback. Nobody
/// reviews their own access.
fn reviewer(
    cx: &StepCx,
    template: &ReviewTemplate,
    user: &User,
    grant: &Grant,
) -> Result<String, Error> {
    let by_policy = match template.reviewer.as_str() {
        "manager" => user.manager_id.clone(),
        "app_owner" => cx.dir.app(&grant.app_id)?.and_then(|a| a.owner_id),
        other => other.strip_prefix("user:").map(str::to_string),
    };
    let not_self = |r: &String| *r != user.id;
    by_policy
        .filter(not_self)
        .or_else(|| template.fallback_reviewer.clone().filter(not_self))
        .ok_or_else(|| {
            let fallback = match &template.fallback_reviewer {
                None => "has no fallback_reviewer".to_string(),
                Some(f) => format!("its fallback_reviewer is {f}, who may not review their own access"),
            };
            Error::fatal(format!(
                "no reviewer for {}'s {}: template `{}` assigns `{}`, which finds nobody, and {fallback}",
                user.id, grant.entitlement_id, template.id, template.reviewer
            ))
        })
}
