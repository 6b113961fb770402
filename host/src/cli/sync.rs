//! `keystep sync CONNECTOR`: the connector's app reconciled into the
//! directory, with a progress bar on a terminal.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Env, Exit, render};
use crate::plugins::SyncKind;
use crate::sync::{self, Change, Options, Progress, SyncError};

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The connector (plugin or instance name) whose app to sync.
    connector: String,
    /// List and plan, show what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply a sync that removes more than half of the app's grants or
    /// accounts (refused by default: an empty listing looks like that).
    #[arg(long)]
    allow_mass_removal: bool,
}

pub fn sync(env: &Env, args: SyncArgs) -> anyhow::Result<Exit> {
    let store = env.app.open_store()?;
    let options = Options {
        dry_run: args.dry_run,
        allow_mass_removal: args.allow_mass_removal,
    };
    let bar = Bar::new(env.json);
    let done = sync::sync(&env.app.plugins(), &store, &args.connector, options, &bar);
    bar.0.finish_and_clear();
    let report = match done {
        Ok(report) => report,
        // The connector failed: the sync did, not the command line.
        Err(e @ SyncError::Listing { .. }) => {
            super::report(&anyhow::anyhow!(e), env.json);
            return Ok(Exit::RunFailed);
        }
        Err(e) => return Err(e.into()),
    };
    if env.json {
        render::json(&report);
    } else {
        print(&report);
    }
    Ok(Exit::Ok)
}

/// The report for people: a dry run's changes, the summary, what was kept
/// or left out, and where the time went.
fn print(report: &sync::Report) {
    if report.dry_run {
        for change in &report.changes {
            println!("{}", describe(change));
        }
    }
    let skipped = report.summary.skipped;
    let what = match report.dry_run {
        true => "dry run, nothing written",
        false => "synced",
    };
    println!(
        "{what}: connector `{}` into app `{}`: {}",
        render::escape(&report.connector),
        render::escape(&report.app),
        report.summary.describe()
    );
    if let Some(why) = &report.refused {
        println!("  a real sync would be refused: {why}");
    }
    for kept in &report.summary.entitlements_kept {
        println!(
            "  kept {}: no longer listed, but a task or an access profile names it",
            render::escape(kept)
        );
    }
    let left_out = skipped.unknown_account + skipped.unlinked_account + skipped.unknown_entitlement;
    if left_out > 0 {
        println!(
            "  {left_out} listed grants left out: {} of accounts linked to no directory user, {} of unlisted accounts, {} of unlisted entitlements",
            skipped.unlinked_account, skipped.unknown_account, skipped.unknown_entitlement
        );
    }
    let t = report.timings;
    println!(
        "  {} pages, {} requests; HTTP {:.0} ms, plugin {:.0} ms, store {:.0} ms, {:.0} ms in all",
        t.pages, t.requests, t.http_ms, t.plugin_ms, t.store_ms, t.total_ms
    );
}

/// One change as a line: `+` added, `~` changed, `-` taken away.
fn describe(change: &Change) -> String {
    let e = |s: &str| render::escape(s).into_owned();
    let or_dash = |s: &Option<String>| e(&render::or_dash(s.as_deref()));
    match change {
        Change::EntitlementCreated { entitlement } => {
            format!("+ entitlement {}", e(&entitlement.id))
        }
        Change::EntitlementUpdated { entitlement } => {
            format!("~ entitlement {}", e(&entitlement.id))
        }
        Change::EntitlementGone { entitlement_id } => {
            format!("- entitlement {}", e(entitlement_id))
        }
        Change::AccountCreated { account } => format!(
            "+ account {} ({}) of user {}",
            e(&account.id),
            or_dash(&account.username),
            or_dash(&account.user_id)
        ),
        Change::AccountUpdated { account } => format!(
            "~ account {} ({}) of user {}: {}",
            e(&account.id),
            or_dash(&account.username),
            or_dash(&account.user_id),
            e(&account.status)
        ),
        Change::AccountGone { account } => format!(
            "- account {} ({}) of user {}: marked deleted",
            e(&account.id),
            or_dash(&account.username),
            or_dash(&account.user_id)
        ),
        Change::GrantAdded {
            user_id,
            entitlement_id,
        } => {
            format!("+ grant {} × {}", e(user_id), e(entitlement_id))
        }
        Change::GrantRemoved {
            user_id,
            entitlement_id,
        } => {
            format!("- grant {} × {}", e(user_id), e(entitlement_id))
        }
    }
}

/// The progress bar: pages and items listed so far, on stderr when it is
/// a terminal (and never under `--json`).
struct Bar(ProgressBar, Mutex<usize>);

impl Bar {
    fn new(json: bool) -> Bar {
        let bar = match json {
            true => ProgressBar::hidden(),
            false => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let style = ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar(bar, Mutex::new(0))
    }
}

impl Progress for Bar {
    fn page(&self, kind: SyncKind, page: usize, items: usize) {
        let mut listed = self.1.lock().unwrap_or_else(|e| e.into_inner());
        if page == 1 {
            *listed = 0;
        }
        *listed += items;
        self.0.set_message(format!(
            "listing {}: page {page}, {} so far",
            kind.name(),
            *listed
        ));
    }

    fn applying(&self) {
        self.0.set_message("planning and applying the changes");
    }
}
