//! The writing half of a transition: the first short transaction of a step
//! with an effect (the attempt recorded as performing), the effect itself
//! under the step's timeout with the lease renewed, the settle
//! transaction, and the end of a waiting attempt.

use std::future::Future;
use std::pin::pin;

use serde_json::Value as Json;

use super::finish::Finishing;
use super::machine::{self, Child, Woken};
use super::transition::{At, Failure, Link, Settling, Transition};
use super::{Engine, Observer};
use crate::automation::Automation;
use crate::effects::Effect;
use crate::error::Error;
use crate::steps::{self, Then};
use crate::store::runs::{Attempt, AttemptState, Origin, Position, Run, RunUpdate};
use crate::store::{Keep, StoreError, WriteTx};
use crate::test_hook;

/// A step settled in a write job: its attempt's record and the run's next
/// state.
pub(super) type Settled = (Attempt, RunUpdate);

/// What a settle job committed: each step it settled, and the run's end
/// if they reached it.
type Job = (Vec<Settled>, Option<RunUpdate>);

/// Why a settle job was rolled back.
enum Unsettled {
    /// As any step's transaction.
    Failed(Failure),
    /// The link at this place in the job's links failed.
    Link(usize),
}

impl From<Failure> for Unsettled {
    fn from(failure: Failure) -> Unsettled {
        Unsettled::Failed(failure)
    }
}

/// The store failed (the writer's own error: the commit, a lost
/// transaction).
impl From<StoreError> for Unsettled {
    fn from(e: StoreError) -> Unsettled {
        Unsettled::Failed(e.into())
    }
}

/// `run ID/STEP/ATTEMPT`: who a step's directory changes are recorded as.
fn actor(run: i64, step: &str, attempt: u32) -> String {
    format!("run {run}/{step}/{attempt}")
}

impl Engine {
    /// Records the attempt as performing (taking the run's lease), performs
    /// the effect, then settles what follows from its answer.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn perform(
        &self,
        run: &mut Run,
        at: &At,
        mut record: Attempt,
        effect: Effect,
        then: Then,
        replayed: bool,
        observer: &dyn Observer,
    ) -> anyhow::Result<Transition> {
        let step = at.step();
        let number = record.attempt;
        let key = steps::key(run.id, &step.id, number);
        record.idempotency_key = Some(key.clone());
        let actor = actor(run.id, &step.id, number);
        let seen = run.position();
        let (next, first) = (machine::performing(&seen, number), record.clone());
        let (owner, now, lease_until) = (self.inner.owner.clone(), self.now(), self.lease_until());
        let hook = actor.clone();
        let recorded = self
            .store()
            .write(Keep::IfOk, {
                let next = next.clone();
                move |tx| -> Result<bool, Failure> {
                    if !tx.runs().update(&seen, &next, &owner, now, lease_until)? {
                        return Err(Failure::Lost);
                    }
                    if !replayed {
                        tx.runs().insert_performing(&first)?;
                    }
                    test_hook::hold(&hook);
                    Ok(true)
                }
            })
            .await;
        test_hook::released(&actor).await;
        match recorded {
            Ok(_) => run.apply(&next, &self.inner.owner, lease_until),
            Err(Failure::Lost) => return Ok(Transition::Lost),
            Err(Failure::Step(e)) => {
                record.idempotency_key = None;
                return self.fail(run, at, record, e, observer).await;
            }
        }
        test_hook::performing(&actor).await;
        let effects = self.inner.effects.clone();
        let timeout = step.timeout;
        let asked = key.clone();
        let performed = self
            .leased(run, async move {
                let perform = effects.perform(effect, &asked);
                match timeout {
                    Some(limit) => tokio::time::timeout(limit, perform)
                        .await
                        .unwrap_or_else(|_| Err(machine::timed_out(at.step()))),
                    None => perform.await,
                }
            })
            .await;
        // What plugins logged during the effect stays with the attempt.
        record.logs = self.inner.effects.take_logs(&key);
        match performed {
            Ok(performed) => {
                let work = Settling::After(then, performed);
                self.settle(run, at, record, work, observer).await
            }
            Err(e) => self.fail(run, at, record, e, observer).await,
        }
    }

    /// Awaits `work`, renewing `run`'s lease every third of its length so
    /// that no other process takes the run over while the effect goes on.
    async fn leased<T>(&self, run: &mut Run, work: impl Future<Output = T>) -> T {
        let period = self.inner.lease / 3;
        let mut work = pin!(work);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = tick.tick() => {
                    let (id, owner, until) = (run.id, self.inner.owner.clone(), self.lease_until());
                    let renewed = self
                        .store()
                        .write(Keep::IfOk, move |tx| -> Result<bool, Error> {
                            Ok(tx.runs().renew_lease(id, &owner, until)?)
                        })
                        .await;
                    if let Ok(true) = renewed {
                        run.lease_until = Some(until);
                    }
                }
            }
        }
    }

    /// The settle phase: the step's directory work with the attempt's
    /// record and the run's next state, in one guarded transaction. A
    /// directory-only step settles in the same job the directory-only steps
    /// that follow it straight on (its [`Link`]s); if one of those fails,
    /// the job is undone and the step settles alone, leaving the failing
    /// step to a transition of its own, where its failure is recorded as
    /// any step's is.
    pub(super) async fn settle(
        &self,
        run: &mut Run,
        at: &At,
        record: Attempt,
        mut work: Settling,
        observer: &dyn Observer,
    ) -> anyhow::Result<Transition> {
        let mut links = match &work {
            Settling::Local(..) => self.links(run, at),
            _ => Vec::new(),
        };
        let mut finishing = self.finishing(run, at, links.len());
        loop {
            // What to settle again if a link fails: the job undone, the
            // step and the links before the failing one.
            let again = match &work {
                Settling::Local(settle, input) if !links.is_empty() => {
                    Some((Settling::Local(*settle, input.clone()), links.clone()))
                }
                _ => None,
            };
            let job = self.settle_job(run, at, record.clone(), work, links, finishing);
            match job.await {
                Ok(settled) => return Ok(self.settled(run, settled, observer)),
                Err(Unsettled::Failed(failure)) => {
                    return self.unsettled(run, at, record, failure, observer).await;
                }
                Err(Unsettled::Link(failed)) => {
                    let (alone, before) = again.expect("only a job with links has a link to fail");
                    work = alone;
                    links = before;
                    links.truncate(failed);
                    finishing = self.finishing(run, at, links.len());
                }
            }
        }
    }

    /// The writer job of [`Engine::settle`]: the step, then each link the
    /// run moves straight on to, then the run's end if they reach it.
    async fn settle_job(
        &self,
        run: &Run,
        at: &At,
        record: Attempt,
        work: Settling,
        links: Vec<Link>,
        finishing: Option<Finishing>,
    ) -> Result<Job, Unsettled> {
        let actors: Vec<String> = std::iter::once(actor(run.id, &at.step().id, record.attempt))
            .chain(links.iter().map(|l| actor(run.id, &l.at.step().id, 1)))
            .collect();
        let (engine, at, seen) = (self.clone(), at.clone(), run.position());
        let written = self
            .store()
            .write(Keep::IfOk, move |tx| -> Result<Job, Unsettled> {
                let mut settled = vec![engine.settle_in(tx, &at, &seen, record, work)?];
                let mut seen = seen;
                for (place, link) in links.into_iter().enumerate() {
                    let next = &settled[settled.len() - 1].1;
                    if !machine::moves_on_to(next, link.at.index()) {
                        break;
                    }
                    seen = seen.after(next, &engine.inner.owner);
                    let linked = engine.settle_link(tx, &seen, link);
                    settled.push(linked.ok_or(Unsettled::Link(place))?);
                }
                let Some(finishing) = finishing else {
                    return Ok((settled, None));
                };
                let seen = seen.after(&settled[settled.len() - 1].1, &engine.inner.owner);
                let ended = engine.finish_in(tx, &finishing, &seen, &settled)?;
                Ok((settled, ended))
            })
            .await;
        for actor in &actors {
            test_hook::released(actor).await;
        }
        written
    }

    /// Brings `run` up to date with what a settle job committed.
    fn settled(&self, run: &mut Run, (settled, ended): Job, observer: &dyn Observer) -> Transition {
        let mut moved = Transition::Advanced;
        for (record, next) in &settled {
            moved = self.report(run, record, next, observer);
        }
        if let Some(ended) = ended {
            run.apply(&ended, &self.inner.owner, self.lease_until());
            observer.run_ended(run);
            moved = Transition::Ended;
        }
        moved
    }

    /// A settle job that was rolled back.
    async fn unsettled(
        &self,
        run: &mut Run,
        at: &At,
        record: Attempt,
        failure: Failure,
        observer: &dyn Observer,
    ) -> anyhow::Result<Transition> {
        match failure {
            Failure::Lost => Ok(Transition::Lost),
            Failure::Step(e) => self.fail(run, at, record, e, observer).await,
        }
    }

    /// One step's settle inside a write job: its directory work, then its
    /// attempt record and the run's next state, guarded by `seen`.
    fn settle_in(
        &self,
        tx: &dyn WriteTx,
        at: &At,
        seen: &Position,
        record: Attempt,
        work: Settling,
    ) -> Result<Settled, Failure> {
        let number = record.attempt;
        let hook = actor(at.info.id, &at.step().id, number);
        let now = self.now();
        let dir = tx.directory(&hook);
        let starter = super::children::ChildStarter {
            tx,
            catalog: &self.inner.catalog,
            parent: &at.info,
            max_depth: self.inner.max_depth,
            now,
        };
        let cx = self.cx(at, &*dir, &starter, number, now);
        let outcome = match work {
            Settling::Local(settle, input) => settle(&input, &cx),
            Settling::Planned(settle) => settle(&cx),
            Settling::After(then, performed) => then(&cx, performed),
        }?;
        test_hook::hold(&hook);
        let finished = self.now();
        let origin = Origin::of(&record);
        let (record, next) = machine::outcome(
            seen,
            at.step(),
            at.steps(),
            record,
            outcome,
            finished,
            self.inner.waits,
        );
        let (owner, lease_until) = (&self.inner.owner, self.lease_until());
        if !tx
            .runs()
            .update(seen, &next, owner, finished, lease_until)?
        {
            return Err(Failure::Lost);
        }
        tx.runs().write_attempt(&record, origin)?;
        Ok((record, next))
    }

    /// A link: a first attempt of the step the run moved on to. None if
    /// it failed or panicked: then the whole job is undone.
    fn settle_link(&self, tx: &dyn WriteTx, seen: &Position, link: Link) -> Option<Settled> {
        let mut record = machine::attempt(seen, link.at.step(), seen.attempt + 1, self.now());
        record.input = Some(Json::Object(link.input.clone()));
        let work = Settling::Local(link.settle, link.input);
        crate::panics::catch(|| self.settle_in(tx, &link.at, seen, record, work))
            .ok()
            .and_then(Result::ok)
    }

    /// A waiting attempt whose time has come: a timer that fired, a child
    /// run that ended, or a deadline that passed.
    pub(super) async fn wake(
        &self,
        run: &mut Run,
        automation: &std::sync::Arc<Automation>,
        waiting: Attempt,
        observer: &dyn Observer,
    ) -> anyhow::Result<Transition> {
        let at = self.at(run, automation.clone(), waiting.attempt);
        let step = at.step();
        let now = self.now();
        let child = match run.awaiting_run {
            Some(id) => match self.load(id)? {
                Some(child) => Some(child),
                None => {
                    let e = Error::fatal(format!("child run {id} is missing from the store"));
                    return self.fail(run, &at, waiting, e, observer).await;
                }
            },
            None => None,
        };
        let seen = child.as_ref().map(|c| Child {
            id: c.id,
            automation: &c.automation,
            state: c.state,
            error: c.error.as_deref(),
            outputs: &c.outputs,
            result: c.output.as_ref(),
        });
        match machine::woken(step, &waiting, seen, now, self.inner.waits) {
            Woken::Done(output) => {
                let mut record = waiting;
                record.state = AttemptState::Succeeded;
                record.finished_at = Some(crate::time::ts(now));
                record.output = Some(output.clone());
                let next =
                    machine::advance(&run.position(), Some((step.id.clone(), output)), at.steps());
                self.commit(run, next, record, Origin::Waiting, observer)
                    .await
            }
            Woken::Failed(e) => self.fail(run, &at, waiting, e, observer).await,
            Woken::CancelChild(child) => {
                let why = format!("parent run {} timed out waiting", run.id);
                match self.cancel(child, &why).await {
                    Ok(_) | Err(super::RunError::Ended { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                self.fail(run, &at, waiting, machine::timed_out(step), observer)
                    .await
            }
            Woken::StillWaiting => {
                let started = crate::time::parse_ts(&waiting.started_at).unwrap_or(now);
                let seen = run.position();
                let next = machine::wait(
                    &seen,
                    run.attempt,
                    machine::deadline(step, started),
                    run.awaiting_run,
                );
                if !self.move_run(run, next, observer).await? {
                    return Ok(Transition::Lost);
                }
                Ok(Transition::Parked)
            }
        }
    }

    /// Moves `run` to `next` with no attempt to record (a wait that goes
    /// on, the run's end with its result); false if another process moved
    /// it first.
    pub(super) async fn move_run(
        &self,
        run: &mut Run,
        next: RunUpdate,
        observer: &dyn Observer,
    ) -> anyhow::Result<bool> {
        let (seen, update) = (run.position(), next.clone());
        let (owner, now, lease_until) = (self.inner.owner.clone(), self.now(), self.lease_until());
        let moved = self
            .store()
            .write(Keep::IfOk, move |tx| {
                tx.runs()
                    .update(&seen, &update, &owner, now, lease_until)
                    .map_err(anyhow::Error::from)
            })
            .await?;
        if moved {
            run.apply(&next, &self.inner.owner, lease_until);
            if next.state.is_terminal() {
                observer.run_ended(run);
            }
        }
        Ok(moved)
    }

    /// Records a failed attempt and decides: retry later, continue, or fail
    /// the run.
    pub(super) async fn fail(
        &self,
        run: &mut Run,
        at: &At,
        record: Attempt,
        error: Error,
        observer: &dyn Observer,
    ) -> anyhow::Result<Transition> {
        let origin = Origin::of(&record);
        let (record, next) = machine::failure(
            &run.position(),
            at.step(),
            at.steps(),
            record,
            &error,
            self.now(),
            self.inner.waits,
        );
        self.commit(run, next, record, origin, observer).await
    }

    /// Writes an attempt (new, or ending a stored one) and the run's next
    /// state in one guarded transaction.
    pub(super) async fn commit(
        &self,
        run: &mut Run,
        next: RunUpdate,
        record: Attempt,
        origin: Origin,
        observer: &dyn Observer,
    ) -> anyhow::Result<Transition> {
        let (seen, update, written) = (run.position(), next.clone(), record.clone());
        let (owner, now, lease_until) = (self.inner.owner.clone(), self.now(), self.lease_until());
        let moved = self
            .store()
            .write(Keep::IfOk, move |tx| -> anyhow::Result<bool> {
                // The guard first: a run another process moved is left alone.
                if !tx.runs().update(&seen, &update, &owner, now, lease_until)? {
                    return Ok(false);
                }
                tx.runs().write_attempt(&written, origin)?;
                Ok(true)
            })
            .await?;
        if !moved {
            return Ok(Transition::Lost);
        }
        Ok(self.report(run, &record, &next, observer))
    }

    /// Brings `run` up to date with a committed update, and tells the
    /// observer about the attempt and about the run's end.
    fn report(
        &self,
        run: &mut Run,
        record: &Attempt,
        next: &RunUpdate,
        observer: &dyn Observer,
    ) -> Transition {
        run.apply(next, &self.inner.owner, self.lease_until());
        observer.attempt(run, record);
        if !next.state.is_terminal() {
            return Transition::Advanced;
        }
        observer.run_ended(run);
        Transition::Ended
    }
}
