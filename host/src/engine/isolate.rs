//! One broken run must not stop the others (design section 7): a panic or a
//! run-specific error inside one run's transition fails that run, recorded
//! in the store, and the engine goes on with the rest. Only store errors,
//! which no other run would escape either, stop the engine.

use super::{Engine, Observer, machine};
use crate::store::runs::{self, AttemptState};
use crate::store::{Keep, StoreError};
use crate::time::ts;

/// Whether an error from a transition comes from the store itself (and
/// so would stop any run), rather than from the one run.
pub(super) fn is_store_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<StoreError>().is_some()
}

impl Engine {
    /// Fails run `id`, which broke the engine's work on it, with `error`,
    /// and ends its open attempt if it has one. Nothing happens if the run
    /// has ended or another process moved it meanwhile.
    pub(super) async fn fail_broken(
        &self,
        id: i64,
        error: String,
        observer: &dyn Observer,
    ) -> anyhow::Result<()> {
        let Some(mut run) = self.load(id)? else {
            return Ok(());
        };
        if run.is_terminal() {
            return Ok(());
        }
        let (now, lease_until) = (self.now(), self.lease_until());
        let next = machine::fail(&run.position(), run.attempt, error.clone());
        let owner = self.inner.owner.clone();
        let (seen, update) = (run.position(), next.clone());
        let written = self
            .store()
            .write(Keep::IfOk, move |tx| -> anyhow::Result<bool> {
                let runs = tx.runs();
                let open = match runs.open_attempt(&seen, AttemptState::Waiting)? {
                    Some(a) => Some(a),
                    None => runs.open_attempt(&seen, AttemptState::Performing)?,
                };
                if !runs.update(&seen, &update, &owner, now, lease_until)? {
                    return Ok(false);
                }
                if let Some(mut attempt) = open {
                    let origin = runs::Origin::of(&attempt);
                    attempt.state = AttemptState::Failed;
                    attempt.error = Some(error);
                    attempt.retryable = Some(false);
                    attempt.finished_at = Some(ts(now));
                    runs.write_attempt(&attempt, origin)?;
                }
                Ok(true)
            })
            .await?;
        if written {
            run.apply(&next, &self.inner.owner, lease_until);
            observer.run_ended(&run);
        }
        Ok(())
    }
}
