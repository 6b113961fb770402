//! `serve`'s scheduled syncs: each connector whose grant file sets
//! `sync_every` is synced that often, counted from its last recorded sync
//! (so a restart, or a `keystep sync` by hand, does not sync again early).
//! A scheduled sync never removes more than the mass-removal guard lets
//! it: that one is refused and logged, for an operator to look at.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tracing::{error, info, warn};

use super::{Options, Quiet};
use crate::plugins::{Plugins, World};
use crate::store::Store;

/// The connectors with a `sync_every`, and it.
pub fn scheduled(plugins: &Plugins) -> Vec<(String, Duration)> {
    plugins
        .list()
        .into_iter()
        .flatten()
        .filter(|entry| entry.found.world == Some(World::Connector))
        .filter_map(|entry| {
            let every = entry.grants.as_ref().ok()?.sync_every?;
            Some((entry.name, every))
        })
        .collect()
}

/// Syncs each of `schedule` when due, until `stop` is set (and `closing`
/// told). A sync under way when it stops is dropped unapplied, unless its
/// write job already committed.
pub async fn run_scheduled(
    plugins: Arc<Plugins>,
    store: Store,
    schedule: Vec<(String, Duration)>,
    stop: Arc<AtomicBool>,
    closing: Arc<Notify>,
) {
    let loops = schedule.into_iter().map(|(connector, every)| {
        let (plugins, store) = (plugins.clone(), store.clone());
        let (stop, closing) = (stop.clone(), closing.clone());
        tokio::spawn(async move {
            let mut due = next_due(&store, &connector, every);
            loop {
                let closed = closing.notified();
                tokio::pin!(closed);
                closed.as_mut().enable();
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(due) => {}
                    _ = closed => return,
                }
                let (p, s, name) = (plugins.clone(), store.clone(), connector.clone());
                let synced = tokio::task::spawn_blocking(move || {
                    super::sync(&p, &s, &name, Options::default(), &Quiet)
                })
                .await;
                match synced {
                    Ok(Ok(report)) => info!(
                        connector = %connector,
                        "synced connector {connector} into app {}: {}",
                        report.app,
                        report.summary.describe()
                    ),
                    Ok(Err(e)) => {
                        error!(connector = %connector, "sync of connector {connector} failed: {e}")
                    }
                    Err(e) => {
                        error!(connector = %connector, "sync of connector {connector} stopped: {e}")
                    }
                }
                due = every;
            }
        })
    });
    for handle in loops.collect::<Vec<_>>() {
        let _ = handle.await;
    }
}

/// How long until `connector`'s next sync: `every` after the last one, or
/// now if there was none.
fn next_due(store: &Store, connector: &str, every: Duration) -> Duration {
    match super::last_finished(store, connector) {
        Ok(Some(last)) => {
            let since = (Utc::now() - last).to_std().unwrap_or(Duration::ZERO);
            every.saturating_sub(since)
        }
        Ok(None) => Duration::ZERO,
        Err(e) => {
            warn!("when connector {connector} last synced is unknown ({e}): syncing now");
            Duration::ZERO
        }
    }
}
