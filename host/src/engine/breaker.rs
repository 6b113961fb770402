//! Circuit breakers where runs are created: a new run of an automation
//! with `max_runs` is paused once the window holds `count` runs. The count
//! is read in the job that creates the run, so starters in every process
//! agree (the store serialises their jobs).

use chrono::{DateTime, Utc};

use crate::automation::Automation;
use crate::store::breakers::{BreakerAction, BreakerEntry};
use crate::store::{Keep, StoreError, WriteTx};

/// Checks run `id` of `automation`, just inserted pending, against the
/// automation's breaker: pauses it beyond the limit, and records a trip
/// when it is the first paused run. Returns whether it was paused.
pub(super) fn admit(
    tx: &dyn WriteTx,
    automation: &Automation,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(breaker) = automation.max_runs else {
        return Ok(false);
    };
    let name = &automation.name;
    // The count includes the run just inserted.
    let before = tx
        .breakers()
        .created_since(name, breaker.window_start(now))?
        .saturating_sub(1);
    if breaker.admits(before) {
        return Ok(false);
    }
    if !tx.breakers().any_paused(name)? {
        let reason = format!(
            "{before} runs created in the last {}; max_runs allows {breaker}",
            breaker.per.name()
        );
        tx.breakers().log(&BreakerEntry {
            automation: name,
            action: BreakerAction::Tripped,
            runs: 0,
            actor: "breaker",
            reason: &reason,
            at: now,
        })?;
        tracing::warn!(
            automation = %name,
            "circuit breaker tripped: {reason}; new runs are created paused until `keystep runs resume-paused {name}`"
        );
    }
    tx.breakers().pause(id)?;
    Ok(true)
}

impl super::Engine {
    /// Lets every paused run of `automation` start, recording `actor` as
    /// who did; returns their ids.
    pub async fn resume_paused(
        &self,
        automation: &str,
        actor: &str,
    ) -> Result<Vec<i64>, StoreError> {
        self.release(
            automation,
            BreakerAction::Resumed,
            "resumed by operator",
            actor,
        )
        .await
    }

    /// Cancels every paused run of `automation` with `reason`, recording
    /// `actor` as who did; returns their ids.
    pub async fn cancel_paused(
        &self,
        automation: &str,
        reason: &str,
        actor: &str,
    ) -> Result<Vec<i64>, StoreError> {
        self.release(automation, BreakerAction::Cancelled, reason, actor)
            .await
    }

    /// Resumes or cancels `automation`'s paused runs and records it, if
    /// there were any, in the breakers' log.
    async fn release(
        &self,
        automation: &str,
        action: BreakerAction,
        reason: &str,
        actor: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let (automation, reason, actor) = (
            automation.to_string(),
            reason.to_string(),
            actor.to_string(),
        );
        let now = self.now();
        self.store()
            .write(Keep::IfOk, move |tx| {
                let breakers = tx.breakers();
                let ids = match action {
                    BreakerAction::Cancelled => {
                        let error = format!("cancelled while paused: {reason}");
                        breakers.cancel_paused(&automation, &error, now)?
                    }
                    // Resumed: the only other action a release is.
                    _ => breakers.resume_paused(&automation, now)?,
                };
                if !ids.is_empty() {
                    breakers.log(&BreakerEntry {
                        automation: &automation,
                        action,
                        runs: ids.len(),
                        actor: &actor,
                        reason: &reason,
                        at: now,
                    })?;
                }
                Ok(ids)
            })
            .await
    }
}
