//! A dry run's effects: nothing is sent; each effect is recorded and
//! answered with what would have been sent.
//!
//! A function granted no hosts cannot reach outside (its only way out is
//! `http-fetch`, through its grants), so a dry run calls it
//! ([`Functions::Offline`], `keystep run --dry-run`) and a following `if:`
//! on its output sees a real answer; one granted hosts is recorded. Where
//! every function is known to be safe to call (an automation's own tests),
//! [`Functions::Call`] calls them all. Called functions read the dry run's
//! own copy of the store, its earlier steps' changes included.

use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};

use super::{Effect, Effects, Live, Performed};
use crate::error::Error;

/// Records instead of sending.
pub struct Recorder {
    /// Carries out function calls, and knows the webhooks' settings.
    pub live: Live,
    pub functions: Functions,
    /// Every effect a dry run would have had, with its idempotency key.
    pub log: Arc<Mutex<Vec<Json>>>,
}

/// Which function components a dry run calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Functions {
    /// None: each call is recorded.
    Record,
    /// Those granted no outbound hosts; the others are recorded.
    Offline,
    /// All of them.
    Call,
}

#[async_trait::async_trait]
impl Effects for Recorder {
    async fn perform(&self, effect: Effect, key: &str) -> Result<Performed, Error> {
        if let Effect::Function { name, .. } = &effect {
            let call = match self.functions {
                Functions::Record => false,
                Functions::Offline => {
                    // Loading may compile: on the plugin host's pool, not here.
                    let name = name.clone();
                    let reaches = self
                        .live
                        .plugins
                        .blocking(move |p| p.reaches_outside(&name));
                    !reaches.await?
                }
                Functions::Call => true,
            };
            if call {
                return self.live.perform(effect, key).await;
            }
        }
        let url = match &effect {
            Effect::Webhook { name, .. } => Some(self.live.notifier.webhook(name)?.url.clone()),
            _ => None,
        };
        let would = effect.would(url.as_deref());
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(json!({ "key": key, "effect": would }));
        Ok(Performed::Recorded(would))
    }

    fn take_logs(&self, key: &str) -> Option<Json> {
        self.live.take_logs(key)
    }
}
