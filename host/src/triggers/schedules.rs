//! Scheduled automations: each `schedule` trigger fires when its cron
//! pattern comes due in its timezone, starting one run, or one run per
//! user its `for_each_user` condition picks. The fire is recorded in the
//! transaction that starts its runs, guarded by the previous fire, so that
//! each fire starts its runs once however many processes serve. A
//! schedule first seen starts counting then; one missed while no process
//! served fires once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use crate::automation::Automation;
use crate::automation::schedule::Schedule;
use crate::engine::{Claim, Engine, Start};
use crate::expr::{Expr, Scope};

/// A schedule that fired: the runs it started, or why it started none
/// (a `for_each_user` or `when:` that failed to evaluate).
#[derive(Debug)]
pub struct Fired {
    pub automation: String,
    pub runs: Result<Vec<i64>, String>,
}

/// Fires the schedules that are due.
pub struct Scheduler {
    engine: Engine,
}

impl Scheduler {
    pub fn new(engine: Engine) -> Scheduler {
        Scheduler { engine }
    }

    /// Fires every due schedule of `automations`. A schedule whose settings
    /// do not hold is skipped (`validate` reports it).
    pub async fn pass(&self, automations: &[Arc<Automation>]) -> anyhow::Result<Vec<Fired>> {
        let now = Utc::now();
        let mut fired = Vec::new();
        for automation in automations.iter().filter(|a| a.trigger.kind == "schedule") {
            let Ok(schedule) = Schedule::from_settings(&automation.trigger.settings) else {
                continue;
            };
            let name = automation.name.clone();
            let last = self.engine.store().read(|tx| tx.triggers().fired(&name))?;
            let starts = match last {
                Some(last) if schedule.due(last, now) => self.starts(automation, now),
                Some(_) => continue,
                None => Ok(Vec::new()),
            };
            // A fire that cannot start its runs is recorded all the same,
            // so that it is said once, not at every look.
            let (starts, problem) = match starts {
                Ok(starts) => (starts, None),
                Err(e) => (Vec::new(), Some(format!("{e:#}"))),
            };
            let claim: Claim = {
                let name = name.clone();
                Box::new(move |tx| tx.triggers().fire(&name, last, now))
            };
            if let Some(runs) = self.engine.start_all(starts, claim).await?
                && last.is_some()
            {
                let runs = runs.into_iter().flatten().map(|r| r.id).collect();
                let runs = problem.map_or(Ok(runs), Err);
                fired.push(Fired {
                    automation: name,
                    runs,
                });
            }
        }
        Ok(fired)
    }

    /// The runs a fire at `now` starts: one, or one per user that
    /// `for_each_user` picks; each only if `when:` holds.
    fn starts(
        &self,
        automation: &Arc<Automation>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Start>> {
        let settings = &automation.trigger.settings;
        let fire = json!({
            "fired_at": crate::time::ts(now),
            "cron": settings.get("cron"),
            "timezone": settings.get("timezone").cloned().unwrap_or(json!("UTC")),
        });
        let triggers: Vec<Json> = match settings.get("for_each_user") {
            None => vec![json!({ "schedule": fire })],
            Some(condition) => {
                // `true` picks every user, `false` none.
                let source = match condition {
                    Json::Bool(every) => every.to_string(),
                    other => other.as_str().unwrap_or_default().to_string(),
                };
                let pick = Expr::compile(&source).map_err(|e| {
                    anyhow::anyhow!("{}: for_each_user: {}", automation.name, e.message)
                })?;
                let users = self.engine.store().read(|tx| tx.directory().users())?;
                let mut picked = Vec::new();
                for user in users {
                    let trigger =
                        json!({ "user_id": user.id, "user": user.to_json(), "schedule": fire });
                    if pick
                        .eval_bool(&Scope::new(&json!({ "trigger": trigger })))
                        .map_err(|e| anyhow::anyhow!("{}: for_each_user: {e}", automation.name))?
                    {
                        picked.push(trigger);
                    }
                }
                picked
            }
        };
        let mut starts = Vec::new();
        for trigger in triggers {
            let holds = automation
                .trigger
                .holds(&trigger, self.engine.directory())
                .map_err(|e| anyhow::anyhow!("{}: trigger condition: {e}", automation.name))?;
            if !holds {
                continue;
            }
            starts.push(Start {
                automation: automation.clone(),
                trigger,
                lineage: vec![automation.name.clone()],
                event: None,
            });
        }
        Ok(starts)
    }
}
