//! The event matcher: reads the event log (the directory's transactional
//! outbox) after its stored position, and starts, for each event, one run
//! of each automation that wants it, in one transaction with its new
//! position. A crash before that commit leaves both as they were; two
//! processes matching at once start each run once (the position is
//! guarded, and each event × automation is recorded).

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
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Pass {
    /// Events read.
    pub events: usize,
    pub started: Vec<Started>,
    /// Runs not started, and why (a loop between automations, a `when:`
    /// that failed).
    pub refused: Vec<String>,
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
        let (at, last) = self.engine.store().read(|tx| {
            Ok::<_, StoreError>((tx.triggers().position(READER)?, tx.triggers().last_event()?))
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
        let reads = self.read(from)?;
        let Some(last) = reads.last().map(|r| r.event.seq) else {
            return Ok(Pass::default());
        };
        let mut pass = Pass {
            events: reads.len(),
            ..Pass::default()
        };
        let mut starts = Vec::new();
        for read in &reads {
            for automation in automations {
                match self.decide(automation, read) {
                    Ok(Some(start)) => starts.push(start),
                    Ok(None) => {}
                    Err(why) => pass.refused.push(format!(
                        "event {} ({}) does not start {}: {why}",
                        read.event.seq, read.event.kind, automation.name
                    )),
                }
            }
        }
        let keys: Vec<(String, i64, String)> = starts
            .iter()
            .map(|s: &Start| {
                let kind = s.automation.trigger.kind.clone();
                (s.automation.name.clone(), s.event.unwrap_or_default(), kind)
            })
            .collect();
        let claim: crate::engine::Claim =
            Box::new(move |tx| tx.triggers().advance(READER, Some(from), last));
        let Some(ids) = self.engine.start_all(starts, claim).await? else {
            // Another process matched these events first.
            return Ok(Pass::default());
        };
        pass.started = ids
            .into_iter()
            .zip(keys)
            .filter_map(|(run, (automation, event, trigger))| {
                Some(Started {
                    run: run?,
                    automation,
                    event,
                    trigger,
                })
            })
            .collect();
        Ok(pass)
    }

    /// Whether `read`'s event starts a run of `automation`, and which.
    fn decide(&self, automation: &Arc<Automation>, read: &Read) -> Result<Option<Start>, String> {
        if !matcher::wants(automation, &read.event, &read.context)? {
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

    /// The events after `from` that some trigger kind matches, each with
    /// its context and cause, in one read.
    fn read(&self, from: i64) -> anyhow::Result<Vec<Read>> {
        self.engine.store().read(|tx| {
            let dir = tx.directory();
            let mut reads = Vec::new();
            for event in dir.events_after(from, BATCH)? {
                let context = matcher::context(&event);
                let context =
                    crate::engine::with_subject(&*dir, context.clone()).unwrap_or(context);
                let cause = match matcher::causing_run(&event.actor) {
                    Some(id) => tx.runs().load(id)?.map(|r| r.lineage).unwrap_or_default(),
                    None => Vec::new(),
                };
                reads.push(Read {
                    event,
                    context,
                    cause,
                });
            }
            Ok::<_, anyhow::Error>(reads)
        })
    }
}
