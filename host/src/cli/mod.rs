//! The `keystep` command line (design section 8).
//!
//! Exit codes: 0 success, 1 a run failed, 2 bad input or usage (and any other
//! error), 130 interrupted with Ctrl-C (the run is saved).

/// `print!`, `println!` and `eprintln!` for every command: defined before
/// the command modules, these shadow the standard macros there, so that a
/// closed pipe or a full disk never panics ([`output`]).
macro_rules! print {
    ($($arg:tt)*) => { $crate::cli::output::write(format_args!($($arg)*), false) };
}
macro_rules! println {
    () => { $crate::cli::output::write(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::cli::output::write(format_args!($($arg)*), true) };
}
macro_rules! eprintln {
    ($($arg:tt)*) => { $crate::cli::output::write_err(format_args!($($arg)*)) };
}

mod directory;
mod exit;
mod input;
mod logs;
mod output;
mod plugins;
mod progress;
mod render;
mod run;
mod runs;
mod serve;
mod sync;
mod tasks;
mod test;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::config::Config;

pub use exit::Exit;

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
    /// Run the automations' test cases (NAME.test.yaml): nothing outside
    /// is contacted; exit 1 if any fails.
    Test(test::TestArgs),
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
    /// Run a connector's action with JSON arguments and print its JSON result.
    Invoke(plugins::InvokeArgs),
    /// Sync a connector's app into the directory: its accounts,
    /// entitlements and grants, each change with its event.
    Sync(sync::SyncArgs),
    /// Run by itself: drive due runs, start runs from directory events,
    /// until SIGTERM or SIGINT.
    Serve(serve::ServeArgs),
}

/// What every command gets: the configured program (its settings and the
/// parts built from them, [`App`]) and how to print.
pub struct Env {
    pub app: App,
    pub json: bool,
}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::finish(usage(&e)),
    };
    let env = match Config::load(cli.config.as_deref()) {
        Ok(config) => Env {
            app: App::new(config),
            json: cli.json,
        },
        Err(e) => return output::finish(report(&e, cli.json)),
    };
    match &cli.command {
        Command::Serve(args) => logs::serving(args.log_format),
        _ => logs::commands(),
    }
    let result = match cli.command {
        Command::Run(args) => run::run(&env, args),
        Command::Validate(args) => validate::validate(&env, args),
        Command::Test(args) => test::test(&env, args),
        Command::Runs(cmd) => runs::runs(&env, cmd),
        Command::Tasks(cmd) => tasks::tasks(&env, cmd),
        Command::Directory(cmd) => directory::directory(&env, cmd),
        Command::Plugins(cmd) => plugins::plugins(&env, cmd),
        Command::Call(args) => plugins::call(&env, args),
        Command::Invoke(args) => plugins::invoke(&env, args),
        Command::Sync(args) => sync::sync(&env, args),
        Command::Serve(args) => serve::serve(&env, args),
    };
    output::finish(match result {
        Ok(exit) => exit as i32,
        Err(e) => report(&naming_the_store(e, &env.app.config.store_path), env.json),
    })
}

/// A store error, with the database file it came from.
fn naming_the_store(e: anyhow::Error, path: &std::path::Path) -> anyhow::Error {
    let shown = path.display().to_string();
    if e.chain().any(|c| c.is::<rusqlite::Error>()) && !format!("{e:#}").contains(&shown) {
        e.context(format!("store {shown}"))
    } else {
        e
    }
}

/// Prints help, the version, or a usage error (as `{"error": …}` under
/// `--json`); returns the exit code.
fn usage(e: &clap::Error) -> i32 {
    if !e.use_stderr() {
        return match e.print() {
            Ok(()) => Exit::Ok as i32,
            Err(why) if why.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok as i32,
            Err(why) => {
                eprintln!("error: cannot write the output: {why}");
                Exit::BadInput as i32
            }
        };
    }
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if json {
        let text = e.render().to_string();
        let message = text.trim().strip_prefix("error: ").unwrap_or(text.trim());
        println!("{}", serde_json::json!({ "error": message }));
    } else {
        let _ = e.print();
    }
    Exit::BadInput as i32
}

fn report(e: &anyhow::Error, json: bool) -> i32 {
    if json {
        println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
    }
    // Under --json too when the JSON could not be written: the error is not lost.
    if !json || !output::written() {
        eprintln!("error: {}", render::escape_lines(&format!("{e:#}")));
    }
    Exit::BadInput as i32
}
