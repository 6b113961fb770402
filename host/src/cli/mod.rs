//! The `keystep` command line (design section 8).
//!
//! Exit codes: 0 success, 1 a run failed, 2 bad input or usage (and any other
//! error), 130 interrupted with Ctrl-C (the run is saved).

mod directory;
mod plugins;
mod render;
mod run;
mod runs;
mod tasks;
mod validate;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::engine::Engine;
use crate::notify::Notifier;
use crate::plugins::Plugins;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "keystep",
    version,
    about = "Identity-governance automations: YAML workflows, durable runs, sandboxed plugins"
)]
pub struct Cli {
    /// Config file (default: $KEYSTEP_CONFIG, else ./keystep.toml, else built-in defaults).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an automation, given by file or by name, showing each step.
    Run(run::RunArgs),
    /// Check automation files before anything runs.
    Validate(validate::ValidateArgs),
    /// Inspect and control runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// List and act on tasks (grants, revokes, reviews).
    #[command(subcommand)]
    Tasks(tasks::TasksCommand),
    /// Import and inspect the directory.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// List and inspect plugins (connectors and functions).
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Call a function plugin with JSON input and print its JSON result.
    Call(plugins::CallArgs),
}

/// The outcome of a command, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    RunFailed = 1,
    BadInput = 2,
    Interrupted = 130,
}

/// What every command gets: the configuration and how to print.
pub struct Env {
    pub config: Config,
    pub json: bool,
    plugins: OnceLock<Arc<Plugins>>,
}

impl Env {
    pub fn open_store(&self) -> anyhow::Result<Store> {
        Store::open(&self.config.store_path)
    }

    /// The plugin host, made once per command.
    pub fn plugins(&self) -> Arc<Plugins> {
        self.plugins
            .get_or_init(|| Arc::new(self.config.plugins()))
            .clone()
    }

    /// An engine on `store` with the configured depth limit and plugins.
    pub fn engine<'s>(&self, store: &'s Store) -> Engine<'s> {
        Engine::new(store, self.config.catalog())
            .with_max_depth(self.config.max_depth)
            .with_plugins(self.plugins())
            .with_notifier(Arc::new(Notifier::new(self.config.notify.clone())))
    }
}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::BadInput as i32
            } else {
                0
            };
        }
    };
    let env = match Config::load(cli.config.as_deref()) {
        Ok(config) => Env {
            config,
            json: cli.json,
            plugins: OnceLock::new(),
        },
        Err(e) => return report(&e, cli.json),
    };
    let result = match cli.command {
        Command::Run(args) => run::run(&env, args),
        Command::Validate(args) => validate::validate(&env, args),
        Command::Runs(cmd) => runs::runs(&env, cmd),
        Command::Tasks(cmd) => tasks::tasks(&env, cmd),
        Command::Directory(cmd) => directory::directory(&env, cmd),
        Command::Plugins(cmd) => plugins::plugins(&env, cmd),
        Command::Call(args) => plugins::call(&env, args),
    };
    match result {
        Ok(exit) => exit as i32,
        Err(e) => report(&e, env.json),
    }
}

fn report(e: &anyhow::Error, json: bool) -> i32 {
    if json {
        println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
    } else {
        eprintln!("error: {}", render::escape_lines(&format!("{e:#}")));
    }
    Exit::BadInput as i32
}
