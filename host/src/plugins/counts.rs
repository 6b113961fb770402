//! How this process's plugin calls ended, per plugin: returned a value,
//! returned an error, or trapped (a panic, a limit of memory, fuel or time,
//! a bad host call). Read by serve's `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// How one call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallOutcome {
    Ok,
    Error,
    Trap,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Trap => "trap",
        }
    }
}

/// Calls by plugin and outcome.
#[derive(Debug, Default)]
pub struct CallCounts(Mutex<BTreeMap<(String, CallOutcome), u64>>);

impl CallCounts {
    pub(super) fn count(&self, plugin: &str, outcome: CallOutcome) {
        let mut counts = self.0.lock().unwrap();
        match counts.get_mut(&(plugin.to_string(), outcome)) {
            Some(n) => *n += 1,
            None => {
                counts.insert((plugin.to_string(), outcome), 1);
            }
        }
    }

    /// (plugin, outcome, calls), in order.
    pub fn all(&self) -> Vec<(String, CallOutcome, u64)> {
        let counts = self.0.lock().unwrap();
        counts
            .iter()
            .map(|((p, o), n)| (p.clone(), *o, *n))
            .collect()
    }
}
