//! `keystep sync CONNECTOR`: a connector's listing of its app reconciled
//! into the directory (design section 5).
//!
//! A sync has the three phases of a step. It **lists** (every page of
//! users, resources, entitlements and grants, each page one plugin call,
//! with no transaction open), **plans** (pure, [`plan`]: the listing
//! against what the directory holds for the app) and **applies** the plan
//! in one write job, each change with its event (`account_created`,
//! `account_updated`, `grant_added`, `grant_removed`,
//! `entitlement_removed`), so that `serve`'s triggers react to them. The
//! plan is made inside that job from what the job reads, so it is exact.
//!
//! A failure while listing changes nothing: what was listed is dropped,
//! since a partial listing would read as access taken away. A failure or a
//! kill while applying rolls the job back. Either way the next sync starts
//! from the top and finishes the work. A dry run plans in the job and rolls
//! it back. A plan that takes away more than half of the app's grants or
//! accounts is refused unless allowed ([`plan::Plan::mass_removal`]).

mod apply;
pub mod listing;
pub mod plan;
mod record;
mod schedule;

pub use record::last_finished;
pub use schedule::{run_scheduled, scheduled};

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::directory::DirError;
use crate::error::{Error, StoreError};
use crate::plugins::{HttpSpent, Plugins, SyncKind};
use crate::store::{Keep, Store};

pub use apply::Summary;
pub use listing::Listing;
pub use plan::{Change, Plan};

/// How a sync treats what it finds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Plan and show, change nothing.
    pub dry_run: bool,
    /// Apply a plan that removes more than half of the app's access.
    pub allow_mass_removal: bool,
}

/// The most pages a sync reads of one kind: a connector that never stops
/// paging fails its sync instead of holding it forever.
pub const MAX_PAGES: usize = 100_000;

/// The most bytes of listed items a sync holds (512 MiB), whatever the
/// pages' number.
pub const MAX_LISTED_BYTES: usize = 512 << 20;

/// Why a sync stopped; nothing of it was kept.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Setup(String),
    #[error("connector `{connector}` listing {kind}: {error}")]
    Listing {
        connector: String,
        kind: &'static str,
        error: Error,
    },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Directory(#[from] DirError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// What a sync shows while it lists and applies.
pub trait Progress: Sync {
    /// A page of `kind` came: its number (from 1) and its items.
    fn page(&self, _kind: SyncKind, _page: usize, _items: usize) {}
    /// The listing is complete; the plan is being made and applied.
    fn applying(&self) {}
}

/// Shows nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Where a sync's time went.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    pub pages: usize,
    pub requests: u32,
    /// Waiting for HTTP answers, inside the plugin's calls.
    pub http_ms: f64,
    /// In plugin calls, HTTP excluded.
    pub plugin_ms: f64,
    /// Reading the listing into plain data.
    pub listing_ms: f64,
    /// The write job: reading the app, planning, applying, committing.
    pub store_ms: f64,
    pub total_ms: f64,
}

/// What a sync did (or, dry, would do).
#[derive(Debug, Serialize)]
pub struct Report {
    pub connector: String,
    pub app: String,
    pub dry_run: bool,
    /// In a dry run: why the sync itself would be refused (the
    /// mass-removal guard), if it would.
    pub refused: Option<String>,
    pub summary: Summary,
    pub changes: Vec<Change>,
    pub timings: Timings,
}

/// Syncs `connector` into the directory in `store`, and records the sync
/// (a dry run is not recorded).
pub fn sync(
    plugins: &Plugins,
    store: &Store,
    connector: &str,
    options: Options,
    progress: &dyn Progress,
) -> Result<Report, SyncError> {
    let started = chrono::Utc::now();
    let synced = list_and_apply(plugins, store, connector, options, progress, started);
    if let (Err(e), false) = (&synced, options.dry_run) {
        record::failed(store, connector, started, &e.to_string());
    }
    synced
}

fn list_and_apply(
    plugins: &Plugins,
    store: &Store,
    connector: &str,
    options: Options,
    progress: &dyn Progress,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Report, SyncError> {
    let started = Instant::now();
    let info = plugins
        .connector_info(connector)
        .map_err(|e| SyncError::Setup(e.message))?;
    if !info.can("sync") {
        return Err(SyncError::Setup(format!(
            "connector `{connector}` does not sync (its `info` lists no `sync` capability)"
        )));
    }
    let app = store
        .read(|tx| tx.directory().app_with_connector(connector))?
        .ok_or_else(|| {
            SyncError::Setup(format!(
                "no app in the directory uses connector `{connector}`: import one with `connector: {connector}` first"
            ))
        })?
        .id;
    let mut timings = Timings::default();
    let listing = list(plugins, connector, progress, &mut timings)?;
    progress.applying();
    let keep = if options.dry_run {
        Keep::Never
    } else {
        Keep::IfOk
    };
    let actor = format!("sync:{connector}");
    let job_started = Instant::now();
    let (app_id, name) = (app.clone(), connector.to_string());
    let (summary, changes, refused) = store.write_sql_blocking(keep, move |conn| {
        let dir = crate::directory::Directory::new(conn, actor);
        let current = apply::current(&dir, &app_id)?;
        let plan = plan::plan(&app_id, &listing, &current);
        // A dry run shows what the guard would refuse.
        let refused = plan.mass_removal().filter(|_| !options.allow_mass_removal);
        if let (Some(why), false) = (&refused, options.dry_run) {
            return Err(SyncError::Refused(why.clone()));
        }
        let summary = apply::apply(&dir, &plan)?;
        if !options.dry_run {
            let said = serde_json::to_value(&summary).unwrap_or_default();
            record::add(conn, &name, at, record::Ended::Succeeded(&said))?;
            crate::test_hook::hold(&format!("sync:{name}"));
        }
        Ok((summary, plan.changes, refused))
    })?;
    timings.store_ms = ms(job_started.elapsed());
    timings.total_ms = ms(started.elapsed());
    Ok(Report {
        connector: connector.to_string(),
        app,
        dry_run: options.dry_run,
        refused,
        summary,
        changes,
        timings,
    })
}

/// Every page of every kind, read into a [`Listing`].
fn list(
    plugins: &Plugins,
    connector: &str,
    progress: &dyn Progress,
    timings: &mut Timings,
) -> Result<Listing, SyncError> {
    let mut listing = Listing::default();
    let mut held = 0;
    for kind in SyncKind::ALL {
        let failed = |error: Error| SyncError::Listing {
            connector: connector.to_string(),
            kind: kind.name(),
            error,
        };
        let mut cursor: Option<String> = None;
        for number in 1.. {
            if number > MAX_PAGES {
                return Err(failed(Error::fatal(format!(
                    "more than {MAX_PAGES} pages: the connector does not stop paging"
                ))));
            }
            let called = Instant::now();
            let page = plugins
                .sync_page(connector, kind, cursor.as_deref())
                .map_err(failed)?;
            count(timings, page.http, called.elapsed());
            held += page.bytes;
            if held > MAX_LISTED_BYTES {
                return Err(failed(Error::fatal(format!(
                    "the listing passed {} MiB, more than a sync holds",
                    MAX_LISTED_BYTES >> 20
                ))));
            }
            let read = Instant::now();
            progress.page(kind, number, page.items.len());
            listing
                .add(kind, number, page.items)
                .map_err(|why| failed(Error::fatal(why)))?;
            timings.listing_ms += ms(read.elapsed());
            match page.next {
                Some(next) if cursor.as_ref() == Some(&next) => {
                    return Err(failed(Error::fatal(format!(
                        "page {number} handed back the cursor it was given: the listing would never end"
                    ))));
                }
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    listing.distinct_grants();
    Ok(listing)
}

fn count(timings: &mut Timings, http: HttpSpent, call: Duration) {
    timings.pages += 1;
    timings.requests += http.requests;
    timings.http_ms += ms(http.time);
    timings.plugin_ms += ms(call.saturating_sub(http.time));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
