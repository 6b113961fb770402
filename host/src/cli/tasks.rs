//! `keystep tasks list|complete|cancel`.

use clap::Subcommand;

use super::{Env, Exit, render};
use crate::directory::{DirectoryReads, Task, TaskFilter};
use crate::store::Keep;

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List tasks (open ones unless --state says otherwise).
    List {
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        /// grant, revoke or review (repeatable).
        #[arg(long)]
        kind: Vec<String>,
        /// open, completed, cancelled or all.
        #[arg(long, default_value = "open")]
        state: String,
    },
    /// Complete a task and carry it out (grant tasks add the grant, revoke
    /// tasks remove it, reviews decided `revoke` open a revoke task).
    Complete {
        id: i64,
        /// For reviews: keep or revoke.
        #[arg(long)]
        decision: Option<String>,
    },
    /// Cancel a task; nothing is carried out.
    Cancel { id: i64 },
}

pub fn tasks(env: &Env, cmd: TasksCommand) -> anyhow::Result<Exit> {
    let store = env.app.open_store()?;
    match cmd {
        TasksCommand::List {
            assignee,
            subject,
            kind,
            state,
        } => {
            let filter = TaskFilter {
                assignee,
                subject,
                kinds: kind,
                states: if state == "all" {
                    Vec::new()
                } else {
                    vec![state]
                },
            };
            let reader = store.reader()?;
            let tasks = crate::directory::Directory::new(&reader, "cli".into()).tasks(&filter)?;
            if env.json {
                render::json(&tasks);
            } else {
                let rows: Vec<Vec<String>> = tasks
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            t.kind.clone(),
                            t.state.clone(),
                            t.subject_id.clone(),
                            t.entitlement_id.clone(),
                            render::or_dash(t.assignee_id.as_deref()),
                            t.campaign_id.map_or("-".into(), |c| c.to_string()),
                        ]
                    })
                    .collect();
                render::table(
                    &[
                        "ID",
                        "KIND",
                        "STATE",
                        "SUBJECT",
                        "ENTITLEMENT",
                        "ASSIGNEE",
                        "CAMPAIGN",
                    ],
                    &rows,
                );
            }
            Ok(Exit::Ok)
        }
        TasksCommand::Complete { id, decision } => {
            let task = store.write_blocking(Keep::IfOk, move |tx| {
                tx.directory("cli").complete_task(id, decision.as_deref())
            })?;
            print_task(env, &task);
            Ok(Exit::Ok)
        }
        TasksCommand::Cancel { id } => {
            let task =
                store.write_blocking(Keep::IfOk, move |tx| tx.directory("cli").cancel_task(id))?;
            print_task(env, &task);
            Ok(Exit::Ok)
        }
    }
}

fn print_task(env: &Env, task: &Task) {
    if env.json {
        render::json(task);
    } else {
        let decision = task
            .decision
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        println!(
            "task {} {} {}{decision}: {} {}",
            task.id,
            task.kind,
            task.state,
            render::escape(&task.subject_id),
            render::escape(&task.entitlement_id)
        );
    }
}
