//! Runs started by triggers: several at once, in one transaction with the
//! trigger's own record (the event matcher's new position, a schedule's
//! fire), so that a crash starts all of them or none, and an event starts
//! at most one run of each automation. Each run is checked against its
//! automation's circuit breaker as it is created.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::{Engine, RunError, breaker, version_of};
use crate::automation::Automation;
use crate::store::runs::{Run, RunState};
use crate::store::{Keep, StoreError, WriteTx};

/// A run a trigger starts.
pub struct Start {
    pub automation: Arc<Automation>,
    /// Its `ctx.trigger`.
    pub trigger: Json,
    /// The automations that led to it, itself last.
    pub lineage: Vec<String>,
    /// The event that started it, if an event did: one run per event and
    /// automation.
    pub event: Option<i64>,
}

/// The trigger's own record, written before the runs: false if another
/// process wrote it first, and then no run starts.
pub type Claim = Box<dyn FnOnce(&dyn WriteTx) -> Result<bool, StoreError> + Send>;

impl Engine {
    /// Starts `starts` in one transaction with `claim`. Returns, for each
    /// start in order, its run (none: its event had started one already),
    /// or nothing at all if `claim` found another process first.
    pub async fn start_all(&self, starts: Vec<Start>, claim: Claim) -> Result<Created, RunError> {
        let now = self.now();
        let told: Vec<(String, Option<i64>)> = starts
            .iter()
            .map(|s| (s.automation.name.clone(), s.event))
            .collect();
        let automations: Vec<Arc<Automation>> =
            starts.iter().map(|s| s.automation.clone()).collect();
        let started = self
            .store()
            .write(
                Keep::IfOk,
                move |tx| -> Result<Option<Vec<Option<Creation>>>, RunError> {
                    if !claim(tx)? {
                        return Ok(None);
                    }
                    let runs = starts.iter().map(|start| create(tx, start, now));
                    runs.collect::<Result<Vec<_>, _>>().map(Some)
                },
            )
            .await?;
        let mut cache = self.inner.cache.lock().unwrap();
        for automation in automations {
            // Many starts share one version: it is cached once.
            if !cache.contains_key(&automation.hash) {
                cache.insert(automation.hash.clone(), automation);
            }
        }
        let Some(started) = started else {
            return Ok(None);
        };
        let mut created = Vec::with_capacity(started.len());
        for ((automation, event), run) in told.iter().zip(started) {
            created.push(run.map(|(new, run)| {
                log_start(automation, *event, &new);
                if let Some(run) = run {
                    self.inner.fresh.push(run);
                }
                new
            }));
        }
        Ok(Some(created))
    }

    /// The most automations one chain of runs may pass through.
    pub fn max_depth(&self) -> u32 {
        self.inner.max_depth
    }
}

/// A run a start created.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewRun {
    pub id: i64,
    /// Beyond its automation's circuit breaker.
    pub paused: bool,
}

impl NewRun {
    /// The state it was created in.
    pub fn state(&self) -> RunState {
        if self.paused {
            RunState::Paused
        } else {
            RunState::Pending
        }
    }
}

/// What a job of starts created: none if its claim found another process
/// first; else per start, its run (none: its event had started one).
pub type Created = Option<Vec<Option<NewRun>>>;

/// A run one start created, and, unless paused, the run as stored, for
/// the drive to take without reading it back.
type Creation = (NewRun, Option<Run>);

/// Creates the run `start` asks for, paused beyond its automation's
/// breaker; none if its event had started one already.
fn create(
    tx: &dyn WriteTx,
    start: &Start,
    now: DateTime<Utc>,
) -> Result<Option<Creation>, RunError> {
    let name = &start.automation.name;
    if let Some(seq) = start.event
        && tx.triggers().started_by(seq, name)?.is_some()
    {
        return Ok(None);
    }
    let version = version_of(&start.automation);
    let id = tx
        .runs()
        .insert(&version, &start.trigger, None, &start.lineage, now)?;
    if let Some(seq) = start.event {
        tx.triggers().record_start(seq, name, id)?;
    }
    let paused = breaker::admit(tx, &start.automation, id, now)?;
    let run = match paused {
        true => None,
        false => tx.runs().load(id)?,
    };
    Ok(Some((NewRun { id, paused }, run)))
}

/// One log line per run started.
fn log_start(automation: &str, event: Option<i64>, run: &NewRun) {
    let by = event
        .map(|seq| format!(" by event {seq}"))
        .unwrap_or_default();
    let paused = if run.paused {
        ", paused by its circuit breaker"
    } else {
        ""
    };
    tracing::info!(
        run = run.id,
        automation,
        event,
        paused = run.paused,
        "run {} ({automation}) started{by}{paused}",
        run.id
    );
}
