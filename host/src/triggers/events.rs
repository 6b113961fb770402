//! The event matcher: reads the event log (the directory's transactional
//! outbox) after its stored position, and starts, for each event, one run
//! of each automation that wants it, in one transaction with its new
//! position. A crash before that commit leaves both as they were; two
//! processes matching at once start each run once (the position is
//! guarded, and each event × automation is recorded).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value as Json;

use super::matcher;
use crate::automation::Automation;
use crate::directory::Event;
use crate::engine::{Engine, Start};
use crate::error::StoreError;

/// The matcher's name in the store's trigger positions.
pub const READER: &str = "events";

/// How many events one pass reads.
const BATCH: usize = 500;

/// A run an event started.
#[derive(Debug)]
pub struct Started {
    pub run: i64,
    pub automation: String,
    pub event: i64,
    /// The kind of trigger (and of event) that started it.
    pub trigger: String,
    /// From the event's commit to its run's.
    pub lag: std::time::Duration,
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Pass {
    /// Events read: a full batch means more may wait.
    pub events: usize,
    pub started: Vec<Started>,
    /// Runs not started, and why (a loop between automations, a `when:`
    /// that failed).
    pub refused: Vec<String>,
}

impl Pass {
    /// Whether the pass read a full batch, so that more events may wait.
    pub fn full(&self) -> bool {
        self.events == BATCH
    }
}

/// An event read for matching: its context (with the subject's record)
/// and the lineage of the run that caused it.
struct Read {
    event: Event,
    context: Json,
    cause: Vec<String>,
}

/// Matches the event log against automations, one batch a pass.
pub struct EventMatcher {
    engine: Engine,
}

impl EventMatcher {
    pub fn new(engine: Engine) -> EventMatcher {
        EventMatcher { engine }
    }

    /// Where the matcher stands in the log. On its first start it begins at
    /// the end: serve reacts to the changes made from then on, not to the
    /// history before it.
    pub async fn position(&self) -> anyhow::Result<i64> {
        // The end of the log is read only before the first start.
        let (at, last) = self.engine.store().read(|tx| {
            let triggers = tx.triggers();
            Ok::<_, StoreError>(match triggers.position(READER)? {
                Some(at) => (Some(at), at),
                None => (None, triggers.last_event()?),
            })
        })?;
        if let Some(at) = at {
            return Ok(at);
        }
        let claim: crate::engine::Claim =
            Box::new(move |tx| tx.triggers().advance(READER, None, last));
        self.engine.start_all(Vec::new(), claim).await?;
        Ok(self
            .engine
            .store()
            .read(|tx| tx.triggers().position(READER))?
            .unwrap_or(last))
    }

    /// Reads the next events after the position and starts their runs.
    pub async fn pass(&self, automations: &[Arc<Automation>]) -> anyhow::Result<Pass> {
        let from = self.position().await?;
        let batch = self.read(from, automations)?;
        let Some(last) = batch.last else {
            return Ok(Pass::default());
        };
        let reads = batch.wanted;
        let mut pass = Pass {
            events: batch.events,
            ..Pass::default()
        };
        let mut starts = Vec::new();
        // Per start: its automation, event, trigger kind and the event's time.
        let mut keys = Vec::new();
        for read in &reads {
            for automation in automations {
                match self.decide(automation, read) {
                    Ok(Some(start)) => {
                        let kind = automation.trigger.kind.clone();
                        let at = crate::time::parse_ts(&read.event.at);
                        keys.push((automation.name.clone(), read.event.seq, kind, at));
                        starts.push(start);
                    }
                    Ok(None) => {}
                    Err(why) => pass.refused.push(format!(
                        "event {} ({}) does not start {}: {why}",
                        read.event.seq, read.event.kind, automation.name
                    )),
                }
            }
        }
        let claim: crate::engine::Claim =
            Box::new(move |tx| tx.triggers().advance(READER, Some(from), last));
        let Some(ids) = self.engine.start_all(starts, claim).await? else {
            // Another process matched these events first.
            return Ok(Pass::default());
        };
        let now = chrono::Utc::now();
        pass.started = ids
            .into_iter()
            .zip(keys)
            .filter_map(|(run, (automation, event, trigger, at))| {
                Some(Started {
                    run: run?.id,
                    automation,
                    event,
                    trigger,
                    lag: at
                        .and_then(|at| (now - at).to_std().ok())
                        .unwrap_or_default(),
                })
            })
            .collect();
        Ok(pass)
    }

    /// Whether `read`'s event starts a run of `automation`, and which.
    fn decide(&self, automation: &Arc<Automation>, read: &Read) -> Result<Option<Start>, String> {
        if !matcher::wants(
            automation,
            &read.event,
            &read.context,
            self.engine.directory(),
        )? {
            return Ok(None);
        }
        let lineage = matcher::lineage(&read.cause, &automation.name, self.engine.max_depth())?;
        Ok(Some(Start {
            automation: automation.clone(),
            trigger: read.context.clone(),
            lineage,
            event: Some(read.event.seq),
        }))
    }

    /// The events after `from`, at most a batch; those of a kind some
    /// automation's trigger has come with their context and cause, read in
    /// the same read (the others are only passed over).
    fn read(&self, from: i64, automations: &[Arc<Automation>]) -> anyhow::Result<Batch> {
        let kinds: HashSet<&str> = automations
            .iter()
            .map(|a| a.trigger.kind.as_str())
            .collect();
        self.engine.store().read(|tx| {
            let dir = tx.directory();
            let events = dir.events_after(from, BATCH)?;
            let mut batch = Batch {
                last: events.last().map(|e| e.seq),
                events: events.len(),
                wanted: Vec::new(),
            };
            // The lineage of each run that caused events, read once.
            let mut lineages: HashMap<i64, Vec<String>> = HashMap::new();
            for event in events
                .into_iter()
                .filter(|e| kinds.contains(e.kind.as_str()))
            {
                let context = matcher::context(&event);
                let context =
                    crate::engine::with_subject(&*dir, context.clone()).unwrap_or(context);
                let cause = match matcher::causing_run(&event.actor) {
                    Some(id) => match lineages.get(&id) {
                        Some(lineage) => lineage.clone(),
                        None => {
                            let lineage =
                                tx.runs().load(id)?.map(|r| r.lineage).unwrap_or_default();
                            lineages.insert(id, lineage.clone());
                            lineage
                        }
                    },
                    None => Vec::new(),
                };
                batch.wanted.push(Read {
                    event,
                    context,
                    cause,
                });
            }
            Ok::<_, anyhow::Error>(batch)
        })
    }
}

/// One batch of the event log.
struct Batch {
    /// The last event read, if any.
    last: Option<i64>,
    /// How many events were read.
    events: usize,
    /// Those some automation may want.
    wanted: Vec<Read>,
}
