//! Driving due runs: up to `concurrency` runs at once on the async
//! runtime, each moved one transition at a time until it ends or waits.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::{Engine, Observer, Transition, isolate};
use crate::store::runs;

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
        let mut looked = false;
        loop {
            if self.interrupted() {
                while tasks.join_next().await.is_some() {}
                return Ok(Idle::Interrupted);
            }
            if queue.is_empty() && !looked {
                let due = self.store().read(|tx| {
                    tx.runs()
                        .due(self.now(), DUE_BATCH)
                        .map_err(anyhow::Error::from)
                })?;
                queue.extend(
                    due.into_iter()
                        .filter(|id| !active.contains(id) && !held.contains(id)),
                );
                looked = true;
            }
            while active.len() < self.inner.concurrency {
                let Some(id) = queue.pop_front() else { break };
                active.insert(id);
                let (engine, observer) = (self.clone(), observer.clone());
                tasks.spawn(async move { (id, engine.turn(id, observer).await) });
            }
            let Some(joined) = tasks.join_next().await else {
                if looked && queue.is_empty() {
                    let next = self
                        .store()
                        .read(|tx| tx.runs().next_wake().map_err(anyhow::Error::from))?;
                    return Ok(Idle::Until(next));
                }
                continue;
            };
            let (id, turn) = joined.map_err(|e| anyhow::anyhow!("a run's task failed: {e}"))?;
            active.remove(&id);
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
            // Something moved: runs it woke (a parent, a zero wait) may be
            // due now. Look again once the queue is drained and half the
            // slots are free, so that a full engine does not query the
            // store after every run it moves.
            if queue.is_empty() && active.len() <= self.inner.concurrency / 2 {
                looked = false;
            }
        }
    }

    /// One run's transitions until it ends or waits. The lease is taken
    /// and given back in the transitions' own transactions. A panic or an
    /// error of this run alone fails it; only a store error is returned.
    async fn turn(&self, id: i64, observer: Arc<dyn Observer>) -> anyhow::Result<Turn> {
        let Some(mut run) = self.load(id)? else {
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
