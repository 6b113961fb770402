//! `keystep directory import|show`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::{Env, Exit, render};
use crate::directory::{Directory, TaskFilter, import};

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Import users, apps, entitlements, grants, accounts, access profiles,
    /// delegates and review templates from a YAML or JSON file, in one transaction.
    Import { file: PathBuf },
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
    let store = env.open_store()?;
    match cmd {
        DirectoryCommand::Import { file } => {
            let parsed = import::read(&file)?;
            let summary = store
                .write(|conn| import::apply(&Directory::new(conn, "import".into()), &parsed))
                .with_context(|| format!("importing {}", file.display()))?;
            if env.json {
                render::json(&summary);
            } else {
                println!(
                    "imported {}: {} users, {} apps, {} entitlements, {} grants, {} accounts, {} access profiles, {} delegates, {} review templates",
                    file.display(),
                    summary.users,
                    summary.apps,
                    summary.entitlements,
                    summary.grants,
                    summary.accounts,
                    summary.access_profiles,
                    summary.delegates,
                    summary.review_templates
                );
            }
            Ok(Exit::Ok)
        }
        DirectoryCommand::Show { user: None, events } => {
            let dir = store.directory("cli");
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
            let dir = store.directory("cli");
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

fn print_events(dir: &Directory, subject: Option<&str>) -> anyhow::Result<()> {
    println!("events:");
    for e in dir.events(subject)? {
        println!(
            "  {:>5} {} {:<18} {}",
            e["seq"],
            e["at"].as_str().unwrap_or_default(),
            e["kind"].as_str().unwrap_or_default(),
            e["actor"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}
