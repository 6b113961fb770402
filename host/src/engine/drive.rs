//! Driving due runs: up to `concurrency` runs at once on the async
//! runtime, each moved one transition at a time until it ends or waits.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::{Engine, Observer, Transition, isolate};
use crate::store::runs::{self, Run};

/// How many due runs one look at the store fetches.
const DUE_BATCH: usize = 1024;

/// What [`Engine::drive`] stopped on.
#[derive(Debug, PartialEq)]
pub enum Idle {
    /// No run is due; the next one falls due then (if any).
    Until(Option<DateTime<Utc>>),
    /// Interrupted (Ctrl-C): every run in flight finished its transition.
    Interrupted,
}

/// How often a busy drive looks for due runs that it was not handed: a run
/// that moved may have woken others (a parent, a zero wait), and other
/// processes start runs. Runs this process starts are handed over at once
/// ([`Fresh`]).
const LOOK_EVERY: Duration = Duration::from_millis(5);

/// When the drive looks in the store for due runs: first of all; then,
/// once something moved, when the queue is empty and half the slots are
/// free (so that a full engine does not query after every run it moves),
/// at most every [`LOOK_EVERY`] while runs are moving; and before it stops.
#[derive(Default)]
struct Looks {
    last: Option<Instant>,
    moved_since: bool,
}

impl Looks {
    fn due(&self, active: usize, concurrency: usize) -> bool {
        let Some(last) = self.last else { return true };
        self.moved_since
            && (active == 0 || (active <= concurrency / 2 && last.elapsed() >= LOOK_EVERY))
    }

    fn looked(&mut self) {
        self.last = Some(Instant::now());
        self.moved_since = false;
    }

    fn moved(&mut self) {
        self.moved_since = true;
    }

    /// Whether the last look saw everything that moved before it.
    fn settled(&self) -> bool {
        self.last.is_some() && !self.moved_since
    }
}

/// Runs started in this process, as they were created, handed to its
/// drive (at most [`Fresh::MOST`] kept: beyond, the drive's look finds
/// them, and reads them).
pub(super) struct Fresh<T = Run>(Mutex<Vec<T>>);

impl<T> Default for Fresh<T> {
    fn default() -> Self {
        Fresh(Mutex::new(Vec::new()))
    }
}

impl<T> Fresh<T> {
    const MOST: usize = 4096;

    pub(super) fn push(&self, run: T) {
        let mut runs = self.0.lock().unwrap();
        if runs.len() < Self::MOST {
            runs.push(run);
        }
    }

    fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }
}

/// How one run's turn ended.
enum Turn {
    /// It moved, and now waits or has ended.
    Moved,
    /// Another live process holds it.
    Held,
}

impl Engine {
    /// Moves every due run forward until none is due. Runs move
    /// concurrently; each run's transitions are in order. A run that
    /// breaks fails alone; a store that fails stops the drive.
    pub async fn drive(&self, observer: Arc<dyn Observer>) -> anyhow::Result<Idle> {
        let mut queue: VecDeque<i64> = VecDeque::new();
        let mut active: HashSet<i64> = HashSet::new();
        // Runs another process holds: not looked at again in this drive.
        let mut held: HashSet<i64> = HashSet::new();
        let mut tasks: JoinSet<(i64, anyhow::Result<Turn>)> = JoinSet::new();
        let mut looks = Looks::default();
        // Fresh runs queued, as they were created: not read again.
        let mut created: HashMap<i64, Run> = HashMap::new();
        loop {
            if self.interrupted() {
                while tasks.join_next().await.is_some() {}
                return Ok(Idle::Interrupted);
            }
            for run in self.inner.fresh.take() {
                let id = run.id;
                if !active.contains(&id) && !held.contains(&id) && !queue.contains(&id) {
                    queue.push_back(id);
                    created.insert(id, run);
                }
            }
            if queue.is_empty() && looks.due(active.len(), self.inner.concurrency) {
                let due = self.store().read(|tx| {
                    tx.runs()
                        .due(self.now(), DUE_BATCH)
                        .map_err(anyhow::Error::from)
                })?;
                queue.extend(
                    due.into_iter()
                        .filter(|id| !active.contains(id) && !held.contains(id)),
                );
                looks.looked();
            }
            while active.len() < self.inner.concurrency {
                let Some(id) = queue.pop_front() else { break };
                active.insert(id);
                let (engine, observer) = (self.clone(), observer.clone());
                let run = created.remove(&id);
                tasks.spawn(async move { (id, engine.turn(id, run, observer).await) });
            }
            let Some(joined) = tasks.join_next().await else {
                if queue.is_empty() && looks.settled() && self.inner.fresh.is_empty() {
                    let next = self
                        .store()
                        .read(|tx| tx.runs().next_wake().map_err(anyhow::Error::from))?;
                    return Ok(Idle::Until(next));
                }
                continue;
            };
            let (id, turn) = joined.map_err(|e| anyhow::anyhow!("a run's task failed: {e}"))?;
            active.remove(&id);
            looks.moved();
            match turn {
                Ok(Turn::Moved) => {}
                Ok(Turn::Held) => {
                    held.insert(id);
                }
                Err(e) => {
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    return Err(e);
                }
            }
        }
    }

    /// One run's transitions until it ends or waits (`created`: the run
    /// as this process created it; else it is read). The lease is taken
    /// and given back in the transitions' own transactions. A panic or an
    /// error of this run alone fails it; only a store error is returned.
    async fn turn(
        &self,
        id: i64,
        created: Option<Run>,
        observer: Arc<dyn Observer>,
    ) -> anyhow::Result<Turn> {
        let run = match created {
            Some(run) => Some(run),
            None => self.load(id)?,
        };
        let Some(mut run) = run else {
            return Ok(Turn::Moved);
        };
        if runs::held_by_other(&run, &self.inner.owner, self.now(), super::process_alive) {
            return Ok(Turn::Held);
        }
        while !self.interrupted() {
            let moved = crate::panics::caught(self.transition(&mut run, &*observer)).await;
            let broken = match moved {
                Ok(Ok(Transition::Advanced)) => continue,
                Ok(Ok(_)) => break,
                Ok(Err(e)) if isolate::is_store_error(&e) => return Err(e),
                Ok(Err(e)) => format!("{e:#}"),
                Err(panic) => format!("keystep failed inside this run (a bug): {panic}"),
            };
            self.fail_broken(id, broken, &*observer).await?;
            break;
        }
        Ok(Turn::Moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drive_looks_first_then_only_after_something_moved_and_at_most_every_few_ms_while_busy() {
        let mut looks = Looks::default();
        assert!(looks.due(0, 256), "the first look");
        assert!(!looks.settled());
        looks.looked();
        assert!(!looks.due(0, 256), "nothing moved since");
        assert!(looks.settled());
        looks.moved();
        assert!(!looks.settled());
        assert!(looks.due(0, 256), "idle: look at once");
        assert!(!looks.due(200, 256), "more than half the slots busy");
        assert!(!looks.due(10, 256), "busy, and looked just now");
        std::thread::sleep(LOOK_EVERY);
        assert!(looks.due(10, 256), "busy, and the last look is old enough");
    }

    #[test]
    fn fresh_runs_are_taken_once_and_kept_up_to_a_bound() {
        let fresh = Fresh::<i64>::default();
        for id in 0..(Fresh::<i64>::MOST as i64 + 10) {
            fresh.push(id);
        }
        assert!(!fresh.is_empty());
        assert_eq!(fresh.take().len(), Fresh::<i64>::MOST);
        assert!(fresh.is_empty(), "taken once");
    }
}
