//! `keystep plugins list|inspect|check|new`, `keystep call` (a function
//! on its own) and `keystep invoke` (a connector's action on its own).

use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};

use super::{Env, Exit, render};
use crate::effects::StoreReader;
use crate::plugins::{Entry, Plugins, World};
use crate::scaffold;

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Every plugin in the plugin folders: name, world, version, grants,
    /// size and whether its compiled form is cached.
    List,
    /// One plugin in detail: info, actions and their schemas, account
    /// schema, grants and imports.
    Inspect { name: String },
    /// Check a component against the plugin contract, offline: its world
    /// and imports, a connector's info and schemas, and each action (or a
    /// function's call) tried with sample input. Exit 1 if a check fails.
    Check {
        /// The component, with its NAME.toml beside it if it has one.
        file: std::path::PathBuf,
    },
    /// Start a plugin: writes a project (the WIT, a working example, a
    /// build script, a test, a README and the grant file) into ./NAME.
    New {
        /// The plugin's name, which is its file's name: `access-check`.
        name: String,
        /// What it is: a function (`call_function`) or a connector.
        #[arg(long, value_enum)]
        world: scaffold::World,
        /// What it is written in.
        #[arg(long, value_enum)]
        lang: scaffold::Lang,
        /// Where to write it (default: ./NAME); must be new or empty.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The function's name (its file name without `.wasm`).
    function: String,
    /// The input, as JSON; `@FILE` reads it from a file, `-` from standard input.
    #[arg(long, default_value = "{}")]
    input: String,
    #[command(flatten)]
    log: LogLevel,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The connector's name (its file name without `.wasm`, or an instance's).
    connector: String,
    /// One of the actions its `info` declares (`keystep plugins inspect`).
    action: String,
    /// The arguments, as JSON, checked against the action's schema first;
    /// `@FILE` reads them from a file, `-` from standard input.
    #[arg(long, default_value = "{}")]
    args: String,
    #[command(flatten)]
    log: LogLevel,
}

/// `--log-level`: which of the plugin's log lines reach standard error.
#[derive(Debug, Args)]
struct LogLevel {
    /// The plugin's log lines shown: trace, debug, info, warn, error or off
    /// (default: $KEYSTEP_PLUGIN_LOG, else info).
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

impl LogLevel {
    fn apply(&self) -> anyhow::Result<()> {
        match &self.log_level {
            Some(level) => crate::plugins::set_log_level(level).map_err(anyhow::Error::msg),
            None => Ok(()),
        }
    }
}

pub fn plugins(env: &Env, cmd: PluginsCommand) -> anyhow::Result<Exit> {
    match cmd {
        PluginsCommand::List => list(env, &env.app.plugins()),
        PluginsCommand::Check { file } => check(env, &file),
        PluginsCommand::New {
            name,
            world,
            lang,
            dir,
        } => new(env, &name, world, lang, dir),
        PluginsCommand::Inspect { name } => {
            let plugins = env.app.plugins();
            let entry = plugins.find(&name)?;
            let entry = plugins
                .with_info(entry)
                .map_err(|why| crate::plugins::plugin_error(&name, "load", why))?;
            let details = details(&plugins, &entry);
            if env.json {
                render::json(&details);
            } else {
                let yaml = serde_yaml::to_string(&details)?;
                println!("{}", render::escape_lines(yaml.trim_end()));
            }
            Ok(Exit::Ok)
        }
    }
}

/// `plugins check FILE.wasm`: the component as the plugin its file names,
/// in its own folder, with every plugin offline.
fn check(env: &Env, file: &std::path::Path) -> anyhow::Result<Exit> {
    let is_wasm = file.extension().is_some_and(|e| e == "wasm");
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !is_wasm || !file.is_file() {
        anyhow::bail!("{}: not a .wasm file", file.display());
    }
    let folder = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let plugins = Plugins::new(
        vec![folder.to_path_buf()],
        env.app.config.plugin_cache.clone(),
    );
    plugins.go_offline();
    let checks = crate::plugins::conformance::run(&plugins, name);
    let failed = checks.iter().filter(|c| !c.passed).count();
    if env.json {
        render::json(&json!({"file": file, "plugin": name, "checks": checks, "failed": failed}));
    } else {
        println!("{}", render::escape(&file.display().to_string()));
        for c in &checks {
            let mark = if c.passed { "✓" } else { "✗" };
            println!(
                "  {mark} {}: {}",
                render::escape(&c.check),
                render::escape(&c.detail)
            );
        }
        println!("{} checks passed, {failed} failed", checks.len() - failed);
    }
    Ok(if failed > 0 {
        Exit::RunFailed
    } else {
        Exit::Ok
    })
}

/// `plugins new`: writes the project, then lists its files and the next
/// commands.
fn new(
    env: &Env,
    name: &str,
    world: scaffold::World,
    lang: scaffold::Lang,
    dir: Option<std::path::PathBuf>,
) -> anyhow::Result<Exit> {
    let dir = dir.unwrap_or_else(|| std::path::PathBuf::from(name));
    let project = scaffold::create(name, world, lang, &dir).map_err(anyhow::Error::msg)?;
    let shown = dir.display().to_string();
    let (what, try_it) = match world {
        scaffold::World::Function => (
            "function",
            format!(
                r#"keystep call {name} --input '{{"user_id": "u-ada", "entitlement": "github:admin"}}'"#
            ),
        ),
        scaffold::World::Connector => (
            "connector",
            format!(r#"keystep invoke {name} get-account --args '{{"account_id": "1"}}'"#),
        ),
    };
    let next = [
        format!("cd {shown}"),
        "./build.sh".into(),
        format!("keystep plugins check {name}.wasm"),
        "./test.sh".into(),
        format!("cp {name}.wasm {name}.toml path/to/plugins/ && {try_it}"),
    ];
    if env.json {
        render::json(&json!({"dir": shown, "files": project.files, "next": next}));
        return Ok(Exit::Ok);
    }
    println!("{}: a {what} in {}", render::escape(&shown), lang.label());
    for file in &project.files {
        println!("  {}", render::escape(file));
    }
    println!("next (see {}/README.md):", render::escape(&shown));
    for line in &next {
        println!("  {}", render::escape(line));
    }
    Ok(Exit::Ok)
}

fn list(env: &Env, plugins: &Plugins) -> anyhow::Result<Exit> {
    // A connector's version comes from its `info`: asked here (once per
    // component, then remembered), never by a plain folder scan.
    let entries: Vec<_> = plugins
        .list()
        .into_iter()
        .map(|e| e.and_then(|e| plugins.with_info(e)))
        .collect();
    if env.json {
        let shown: Vec<Json> = entries
            .iter()
            .map(|e| match e {
                Ok(e) => summary(plugins, e),
                Err(error) => json!({ "error": error }),
            })
            .collect();
        render::json(&shown);
        return Ok(Exit::Ok);
    }
    if entries.is_empty() {
        let dirs: Vec<String> = plugins
            .dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        println!("no plugins in {}", dirs.join(", "));
        return Ok(Exit::Ok);
    }
    let mut rows = Vec::new();
    for entry in &entries {
        match entry {
            Ok(e) => rows.push(vec![
                e.name.clone(),
                world_of(e),
                e.info.as_ref().map_or("-".into(), |i| i.version.clone()),
                match &e.grants {
                    Ok(g) => g.summary(),
                    Err(_) => "INVALID".into(),
                },
                format!("{:.1} MB", e.found.size as f64 / 1e6),
                if plugins.is_compiled(e) {
                    "compiled"
                } else {
                    "not compiled"
                }
                .into(),
            ]),
            Err(error) => eprintln!("warning: {}", render::escape_lines(error)),
        }
    }
    render::table(
        &["NAME", "WORLD", "VERSION", "GRANTS", "SIZE", "CACHE"],
        &rows,
    );
    for entry in entries.iter().flatten() {
        if let Err(e) = &entry.grants {
            eprintln!("warning: {}", render::escape_lines(e));
        }
    }
    Ok(Exit::Ok)
}

fn world_of(e: &Entry) -> String {
    e.found.world.map_or("?".into(), |w| w.to_string())
}

fn summary(plugins: &Plugins, e: &Entry) -> Json {
    json!({
        "name": e.name,
        "world": world_of(e),
        "version": e.info.as_ref().map(|i| &i.version),
        "path": e.found.path,
        "size": e.found.size,
        "sha256": e.found.sha256,
        "grants": e.grants.as_ref().map(|g| g.summary()).unwrap_or_else(|err| err.clone()),
        "cached": plugins.is_compiled(e),
    })
}

fn details(plugins: &Plugins, e: &Entry) -> Json {
    let mut shown = summary(plugins, e);
    if let Some(info) = &e.info {
        shown["info"] = json!(info);
    }
    if let Ok(g) = &e.grants {
        shown["grants"] = json!({
            "file": g.file,
            "allow_hosts": g.allow_hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "secrets": g.secrets.keys().collect::<Vec<_>>(),
            "scratch": g.scratch.is_some(),
            "config": g.config,
            "limits": {
                "memory_mb": g.limits.memory_bytes >> 20,
                "timeout_ms": g.limits.timeout.as_millis() as u64,
                "fuel": g.limits.fuel,
                "input_kb": g.limits.input_bytes >> 10,
                "output_kb": g.limits.output_bytes >> 10,
                "log_kb": g.limits.log_bytes >> 10,
            },
        });
    }
    shown["imports"] = json!(e.found.imports);
    shown["exports"] = json!(e.found.exports);
    shown
}

pub fn call(env: &Env, args: CallArgs) -> anyhow::Result<Exit> {
    args.log.apply()?;
    let input = super::input::read(&args.input)?;
    let plugins = env.app.plugins();
    let directory = Arc::new(StoreReader::new(env.app.open_store()?));
    plugins.load(&args.function, World::Function)?;
    answer(
        env,
        plugins.call_function(&args.function, &input, Some(directory)),
    )
}

/// Runs a connector's action, as `perform_connector_action` would, with no
/// automation: the arguments checked against the action's schema, an
/// idempotency key of its own.
pub fn invoke(env: &Env, args: InvokeArgs) -> anyhow::Result<Exit> {
    args.log.apply()?;
    let arguments = super::input::read(&args.args)?;
    let plugins = env.app.plugins();
    let info = plugins.connector_info(&args.connector)?;
    info.check_action(&args.connector, &args.action, &arguments)
        .map_err(anyhow::Error::msg)?;
    let key = format!("cli/invoke/{}", chrono::Utc::now().timestamp_micros());
    let done = plugins.invoke_action(&args.connector, &args.action, &arguments, &key);
    answer(env, done)
}

/// A plugin's JSON result on standard output, or its error (exit 1).
fn answer(env: &Env, result: Result<Json, crate::error::Error>) -> anyhow::Result<Exit> {
    match result {
        Ok(output) => {
            render::json(&output);
            Ok(Exit::Ok)
        }
        Err(e) => {
            if env.json {
                render::json(&json!({
                    "error": e.to_string(),
                    "code": e.code,
                    "retryable": e.is_retryable(),
                }));
            } else {
                eprintln!("error: {}", render::escape_lines(&e.to_string()));
            }
            Ok(Exit::RunFailed)
        }
    }
}
