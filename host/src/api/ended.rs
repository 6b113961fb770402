//! Who waits for which run to end (`?wait`), told by `serve`'s observer.
//!
//! A waiter subscribes once its run is created, and the run may end before
//! that (the drive takes it at once). So the last runs that ended with no
//! one waiting are remembered by id: a subscription to one of them is
//! answered at once. Beyond [`RECENT`] of them a waiter is answered when
//! its wait runs out, and reads the run then; nothing is lost but time.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::oneshot;

/// How many runs that ended unwatched are remembered.
const RECENT: usize = 4096;

#[derive(Default)]
pub struct Ended(Mutex<Watch>);

#[derive(Default)]
struct Watch {
    waiting: HashMap<i64, Vec<oneshot::Sender<()>>>,
    recent: VecDeque<i64>,
}

impl Ended {
    /// A receiver told when run `id` ends (at once if it has ended).
    pub fn subscribe(&self, id: i64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut watch = self.0.lock().unwrap();
        if watch.recent.contains(&id) {
            let _ = tx.send(());
        } else {
            watch.waiting.entry(id).or_default().push(tx);
        }
        rx
    }

    /// Drops the waiters on run `id` that gave up (a `?wait` that timed
    /// out), so a run that waits for days keeps no one's place.
    pub fn forget(&self, id: i64) {
        let mut watch = self.0.lock().unwrap();
        if let Some(waiters) = watch.waiting.get_mut(&id) {
            waiters.retain(|w| !w.is_closed());
            if waiters.is_empty() {
                watch.waiting.remove(&id);
            }
        }
    }

    /// Run `id` has ended: its waiters are told.
    pub fn ended(&self, id: i64) {
        let mut watch = self.0.lock().unwrap();
        match watch.waiting.remove(&id) {
            Some(waiters) => waiters.into_iter().for_each(|w| {
                let _ = w.send(());
            }),
            None => {
                if watch.recent.len() == RECENT {
                    watch.recent.pop_front();
                }
                watch.recent.push_back(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_is_told_when_its_run_ends_and_not_before() {
        let ended = Ended::default();
        let mut told = ended.subscribe(7);
        ended.ended(8);
        assert!(told.try_recv().is_err(), "another run ended");
        ended.ended(7);
        assert_eq!(told.try_recv(), Ok(()));
    }

    #[test]
    fn a_run_that_ended_before_its_waiter_came_answers_at_once() {
        let ended = Ended::default();
        ended.ended(7);
        assert_eq!(ended.subscribe(7).try_recv(), Ok(()));
    }

    #[test]
    fn only_the_last_runs_that_ended_unwatched_are_remembered() {
        let ended = Ended::default();
        for id in 0..(RECENT as i64 + 1) {
            ended.ended(id);
        }
        assert!(ended.subscribe(0).try_recv().is_err(), "forgotten");
        assert_eq!(ended.subscribe(1).try_recv(), Ok(()));
        assert_eq!(ended.0.lock().unwrap().recent.len(), RECENT);
    }

    #[test]
    fn a_waiter_that_gave_up_is_forgotten() {
        let ended = Ended::default();
        drop(ended.subscribe(7));
        ended.forget(7);
        assert!(ended.0.lock().unwrap().waiting.is_empty());
    }
}
