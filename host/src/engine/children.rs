//! Child runs started by `run_automation`, inside the parent step's
//! transaction, with cycles and runaway depth refused.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use crate::automation::catalog::Catalog;
use crate::error::Error;
use crate::steps::{RunInfo, RunStarter};
use crate::store::WriteTx;

pub(super) struct ChildStarter<'a> {
    pub tx: &'a dyn WriteTx,
    pub catalog: &'a Catalog,
    pub parent: &'a RunInfo,
    pub max_depth: u32,
    pub now: DateTime<Utc>,
}

impl RunStarter for ChildStarter<'_> {
    fn start_child(&self, name: &str, trigger: Json) -> Result<i64, Error> {
        let chain = |last: &str| {
            let mut names = self.parent.lineage.clone();
            names.push(last.to_string());
            names.join(" → ")
        };
        if self.parent.lineage.iter().any(|a| a == name) {
            return Err(Error::fatal(format!(
                "run_automation cycle refused: {}",
                chain(name)
            )));
        }
        if self.parent.lineage.len() as u32 >= self.max_depth {
            return Err(Error::fatal(format!(
                "run_automation depth limit ({}) reached: {}",
                self.max_depth,
                chain(name)
            )));
        }
        let automation = self
            .catalog
            .find(name)
            .map_err(|e| Error::fatal(e.to_string()))?;
        if automation.trigger.kind != "manual" {
            return Err(Error::fatal(format!(
                "automation `{name}` has trigger `{}`; run_automation needs `trigger: manual`",
                automation.trigger.kind
            )));
        }
        if !trigger.is_object() {
            return Err(Error::fatal("the child's context must be a JSON object"));
        }
        let dir = self.tx.directory(&format!("run {}", self.parent.id));
        let trigger = super::with_subject(&*dir, trigger)?;
        let mut lineage = self.parent.lineage.clone();
        lineage.push(automation.name.clone());
        let id = self.tx.runs().insert(
            &super::version_of(&automation),
            &trigger,
            Some(self.parent.id),
            &lineage,
            self.now,
        )?;
        super::breaker::admit(self.tx, &automation, id, self.now)?;
        Ok(id)
    }
}

/// Refuses to start runs: the plan phase reads, it does not start runs.
pub(super) struct NoRuns;

impl RunStarter for NoRuns {
    fn start_child(&self, _: &str, _: Json) -> Result<i64, Error> {
        Err(Error::fatal(
            "runs are started when a step settles, not when it plans",
        ))
    }
}
