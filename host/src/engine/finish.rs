//! A run's end after its last step: its result, the automation's `output:`
//! rendered against what the steps left, or the run fails saying why the
//! output could not be rendered.
//!
//! The end is usually written in the last step's own settle job, so a run
//! with an `output:` takes no write of its own to end ([`Finishing`]); a run
//! found past its last step (its process stopped in between), or whose
//! output reads the directory (which must see the last change committed),
//! ends in a transition of its own ([`Engine::finish`]).

use std::sync::Arc;

use super::machine;
use super::settle::Settled;
use super::transition::{At, Failure, Transition, context, run_context};
use super::{Engine, Observer};
use crate::automation::Automation;
use crate::expr::{Scope, Template};
use crate::store::WriteTx;
use crate::store::runs::{Position, Run, RunUpdate};

/// What a settle job needs to end the run after its last step: the
/// automation, and what its `output:` sees but the outputs the job itself
/// settles.
#[derive(Clone)]
pub(super) struct Finishing {
    automation: Arc<Automation>,
    scope: Arc<Scope>,
}

impl Engine {
    /// What settling the step `at` works on and `links` steps after it
    /// needs to end the run too: none if they do not reach its end, or its
    /// automation has no `output:`.
    pub(super) fn finishing(&self, run: &Run, at: &At, links: usize) -> Option<Finishing> {
        let automation = at.automation();
        let output = automation.output.as_ref()?;
        // An output that reads the directory must see the last step's
        // change committed: it ends in a transition of its own.
        if at.index() + 1 + links != automation.steps.len()
            || output.exprs().iter().any(|e| e.reads_directory())
        {
            return None;
        }
        // The step's own scope, with `ctx.run` as the end sees it.
        let scope = match at.scope.is_empty() {
            true => self.scope(&context(run, 0)),
            false => at.scope.with("run", &run_context(run, 0)),
        };
        Some(Finishing {
            automation: automation.clone(),
            scope: Arc::new(scope),
        })
    }

    /// Inside a settle job, after its steps (`settled`, the last moving the
    /// run to `seen`): the run's end, if the last one moved it past its
    /// last step.
    pub(super) fn finish_in(
        &self,
        tx: &dyn WriteTx,
        finishing: &Finishing,
        seen: &Position,
        settled: &[Settled],
    ) -> Result<Option<RunUpdate>, Failure> {
        let steps = finishing.automation.steps.len();
        match settled.last() {
            Some((_, last)) if machine::moves_on_to(last, steps) => {}
            _ => return Ok(None),
        }
        let scope = settled
            .iter()
            .filter_map(|(_, next)| next.output.as_ref())
            .fold(None, |scope: Option<Scope>, (key, output)| {
                Some(scope.as_ref().unwrap_or(&finishing.scope).with(key, output))
            });
        let template = finishing.automation.output.as_ref().expect("checked");
        let next = ended(template, scope.as_ref().unwrap_or(&finishing.scope), seen);
        let (owner, now, lease_until) = (&self.inner.owner, self.now(), self.lease_until());
        if !tx.runs().update(seen, &next, owner, now, lease_until)? {
            return Err(Failure::Lost);
        }
        Ok(Some(next))
    }

    /// The run's end in a transition of its own.
    pub(super) async fn finish(
        &self,
        run: &mut Run,
        automation: &Automation,
        observer: &dyn Observer,
    ) -> anyhow::Result<Transition> {
        let template = automation.output.as_ref().expect("checked by the caller");
        let next = ended(template, &self.scope(&context(run, 0)), &run.position());
        Ok(match self.move_run(run, next, observer).await? {
            true => Transition::Ended,
            false => Transition::Lost,
        })
    }
}

/// The run's end, from its `output:` rendered in `scope`.
fn ended(template: &Template, scope: &Scope, seen: &Position) -> RunUpdate {
    let rendered = crate::panics::catch(|| template.render(scope))
        .unwrap_or_else(|panic| Err(format!("keystep failed rendering it (a bug): {panic}")));
    match rendered {
        Ok(result) => machine::finish(seen, result),
        Err(e) => machine::fail(seen, 0, format!("output: {e}")),
    }
}
