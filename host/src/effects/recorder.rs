//! A dry run's effects: nothing is sent; each effect is recorded and
//! answered with what would have been sent.
//!
//! Functions are recorded too by default: a function may use `http-fetch`,
//! and a dry run reaches nothing outside. Where functions are known to be
//! safe to call (an automation's own tests), [`Functions::Call`] calls
//! them, and they read the dry run's own copy of the store, its earlier
//! steps' changes included.

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

/// Whether a dry run calls function components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Functions {
    Record,
    Call,
}

#[async_trait::async_trait]
impl Effects for Recorder {
    async fn perform(&self, effect: Effect, key: &str) -> Result<Performed, Error> {
        if let (Effect::Function { .. }, Functions::Call) = (&effect, self.functions) {
            return self.live.perform(effect, key).await;
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
}
