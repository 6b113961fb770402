//! `keystep directory import|show`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use super::{Env, Exit, render};
use crate::directory::{Directory, DirectoryReads, TaskFilter, import};
use crate::store::{Keep, Store};

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Import users, apps, entitlements, grants, accounts, access profiles,
    /// delegates and review templates from a YAML or JSON file, in one
    /// transaction. By default a merge: adds and updates, never removes, and
    /// leaves fields the file leaves out as they are.
    Import {
        file: PathBuf,
        /// The file is the whole truth for each kind it holds: users it
        /// leaves out are marked deleted; grants, enrollments and delegations
        /// it leaves out are removed.
        #[arg(long)]
        snapshot: bool,
        /// Let a snapshot mark more than half of the users deleted.
        #[arg(long, requires = "snapshot")]
        allow_mass_delete: bool,
        /// Show what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show what the directory holds, or everything about one user.
    Show {
        /// A user id.
        user: Option<String>,
        /// Also list the user's events (with a user) or every event.
        #[arg(long)]
        events: bool,
    },
}

pub fn directory(env: &Env, cmd: DirectoryCommand) -> anyhow::Result<Exit> {
    let store = env.app.open_store()?;
    match cmd {
        DirectoryCommand::Import {
            file,
            snapshot,
            allow_mass_delete,
            dry_run,
        } => {
            let options = import::Options {
                snapshot,
                allow_mass_delete,
            };
            import_file(env, &store, &file, options, dry_run)?;
            Ok(Exit::Ok)
        }
        DirectoryCommand::Show { user: None, events } => {
            let reader = store.reader()?;
            let dir = crate::directory::Directory::new(&reader, "cli".into());
            let counts = dir.counts()?;
            if env.json {
                let mut out: serde_json::Map<String, serde_json::Value> = counts
                    .iter()
                    .map(|(k, n)| (k.replace(' ', "_"), json!(n)))
                    .collect();
                out.insert("users_list".into(), json!(dir.users()?));
                out.insert("campaigns_list".into(), json!(dir.campaigns()?));
                if events {
                    out.insert("events_list".into(), json!(dir.events(None)?));
                }
                render::json(&out);
            } else {
                render::table(
                    &["WHAT", "COUNT"],
                    &counts
                        .iter()
                        .map(|(k, n)| vec![k.to_string(), n.to_string()])
                        .collect::<Vec<_>>(),
                );
                if events {
                    print_events(&dir, None)?;
                }
            }
            Ok(Exit::Ok)
        }
        DirectoryCommand::Show {
            user: Some(id),
            events,
        } => {
            let reader = store.reader()?;
            let dir = crate::directory::Directory::new(&reader, "cli".into());
            let user = dir.require_user(&id)?;
            let grants = dir.grants_of(&id)?;
            let tasks = dir.tasks(&TaskFilter {
                subject: Some(id.clone()),
                ..TaskFilter::default()
            })?;
            let assigned = dir.tasks(&TaskFilter {
                assignee: Some(id.clone()),
                states: vec!["open".into()],
                ..TaskFilter::default()
            })?;
            let profiles = dir.enrollments_of(&id)?;
            let delegators = dir.delegators_of(&id)?;
            if env.json {
                let mut out = json!({
                    "user": user, "grants": grants, "tasks": tasks, "assigned_tasks": assigned,
                    "access_profiles": profiles, "delegated_by": delegators,
                });
                if events {
                    out["events"] = json!(dir.events(Some(&id))?);
                }
                render::json(&out);
            } else {
                let e = |s: &str| render::escape(s).into_owned();
                println!(
                    "{} ({}) {}",
                    e(&user.display_name),
                    e(&user.id),
                    user.status
                );
                for (k, v) in [
                    ("email", &user.email),
                    ("manager", &user.manager_id),
                    ("department", &user.department),
                    ("title", &user.title),
                ] {
                    println!("  {k:<12} {}", e(&render::or_dash(v.as_deref())));
                }
                println!("  {:<12} {}", "profiles", e(&profiles.join(", ")));
                println!("  {:<12} {}", "delegated by", e(&delegators.join(", ")));
                println!("grants:");
                for g in &grants {
                    println!("  {:<28} {}", e(&g.entitlement_id), e(&g.source));
                }
                println!("tasks about this user:");
                for t in &tasks {
                    println!(
                        "  {:>4} {:<7} {:<10} {:<28} {}",
                        t.id,
                        t.kind,
                        t.state,
                        e(&t.entitlement_id),
                        e(&render::or_dash(t.assignee_id.as_deref()))
                    );
                }
                println!("open tasks assigned to this user: {}", assigned.len());
                if events {
                    print_events(&dir, Some(&id))?;
                }
            }
            Ok(Exit::Ok)
        }
    }
}

/// Imports `file` in one transaction (rolled back for a dry run) and says
/// what changed.
fn import_file(
    env: &Env,
    store: &Store,
    file: &Path,
    options: import::Options,
    dry_run: bool,
) -> anyhow::Result<()> {
    let parsed = import::read(file)?;
    let keep = if dry_run { Keep::Never } else { Keep::IfOk };
    let changes = store
        .write_sql_blocking(keep, move |conn| {
            import::apply(&Directory::new(conn, "import".into()), &parsed, options)
        })
        .map_err(|e| match e {
            import::ImportError::At(at) => anyhow::anyhow!("{}:{at}", file.display()),
            e => anyhow::anyhow!("importing {}: {e}", file.display()),
        })?;
    let summary = import::Summary::of(&changes);
    if env.json {
        render::json(&json!({
            "file": file, "dry_run": dry_run, "snapshot": options.snapshot,
            "summary": summary, "changes": changes,
        }));
    } else if dry_run {
        for c in &changes {
            println!("{c}");
        }
        println!(
            "dry run of {}, nothing written: {}",
            file.display(),
            summary.describe()
        );
    } else {
        println!("imported {}: {}", file.display(), summary.describe());
    }
    Ok(())
}

fn print_events(dir: &Directory, subject: Option<&str>) -> anyhow::Result<()> {
    println!("events:");
    for e in dir.events(subject)? {
        println!("  {:>5} {} {:<18} {}", e.seq, e.at, e.kind, e.actor);
    }
    Ok(())
}
