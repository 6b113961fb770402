//! Runs started by triggers: several at once, in one transaction with the
//! trigger's own record (the event matcher's new position, a schedule's
//! fire), so that a crash starts all of them or none, and an event starts
//! at most one run of each automation.

use std::sync::Arc;

use serde_json::Value as Json;

use super::{Engine, RunError, version_of};
use crate::automation::Automation;
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
    /// start in order, the id of its run (none: its event had started one
    /// already), or nothing at all if `claim` found another process first.
    pub async fn start_all(
        &self,
        starts: Vec<Start>,
        claim: Claim,
    ) -> Result<Option<Vec<Option<i64>>>, RunError> {
        let now = self.now();
        let automations: Vec<Arc<Automation>> =
            starts.iter().map(|s| s.automation.clone()).collect();
        let started = self
            .store()
            .write(
                Keep::IfOk,
                move |tx| -> Result<Option<Vec<Option<i64>>>, RunError> {
                    if !claim(tx)? {
                        return Ok(None);
                    }
                    let mut ids = Vec::with_capacity(starts.len());
                    for start in &starts {
                        let name = &start.automation.name;
                        if let Some(seq) = start.event
                            && tx.triggers().started_by(seq, name)?.is_some()
                        {
                            continue;
                        }
                        let version = version_of(&start.automation);
                        let id = tx.runs().insert(
                            &version,
                            &start.trigger,
                            None,
                            &start.lineage,
                            now,
                        )?;
                        if let Some(seq) = start.event {
                            tx.triggers().record_start(seq, name, id)?;
                        }
                        ids.push(Some(id));
                    }
                    Ok(Some(ids))
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
        Ok(started)
    }

    /// The most automations one chain of runs may pass through.
    pub fn max_depth(&self) -> u32 {
        self.inner.max_depth
    }
}
