//! The outside world of an automation's test: nothing is sent. Each effect
//! is noted (what it would have sent, and which step); a step the case
//! answers gets that answer (an output, or an error); the rest goes to a
//! dry run's [`Recorder`], which calls a function granted no hosts and
//! records anything else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};

use super::file::Answer;
use crate::effects::{Effect, Effects, Performed, Recorder};
use crate::error::Error;

pub struct Scripted {
    /// What no answer covers: a dry run's effects ([`Functions::Offline`]).
    ///
    /// [`Functions::Offline`]: crate::effects::Functions::Offline
    pub unanswered: Recorder,
    /// By step id.
    pub answers: HashMap<String, Answer>,
    /// What each effect would have sent, in order.
    pub sent: Arc<Mutex<Vec<Json>>>,
}

#[async_trait::async_trait]
impl Effects for Scripted {
    async fn perform(&self, effect: Effect, key: &str) -> Result<Performed, Error> {
        // The key is `run/step/attempt`.
        let step = key.split('/').nth(1).unwrap_or_default().to_string();
        let mut note = noted(&effect);
        note["step"] = json!(step);
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(note);
        match self.answers.get(&step) {
            Some(Answer::Output { output }) => return Ok(Performed::Done(output.clone())),
            Some(Answer::Error { error, retryable }) => {
                return Err(Error::new(error.clone(), *retryable));
            }
            None => {}
        }
        self.unanswered.perform(effect, key).await
    }

    fn take_logs(&self, key: &str) -> Option<Json> {
        self.unanswered.take_logs(key)
    }
}

/// What the case's `sent` expectations see of an effect: its `kind` and
/// what it would have sent.
fn noted(effect: &Effect) -> Json {
    let mut note = match effect {
        Effect::Access(calls) => json!({
            "calls": calls.iter().map(|c| json!({
                "connector": c.connector,
                "change": if c.grant { "grant" } else { "revoke" },
                "user": c.user["id"],
                "entitlement": c.entitlement,
            })).collect::<Vec<_>>(),
        }),
        other => other.would(None),
    };
    if let Json::Object(map) = &mut note {
        map.remove("dry_run");
    }
    note["kind"] = json!(effect.kind());
    note
}
