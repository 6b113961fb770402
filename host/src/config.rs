//! `keystep.toml`, and the embedded defaults used when there is none.
//!
//! Plain data: the file format and the settings resolved from it. Each
//! capability owns its section's type (`notify::Sections`); the composition
//! root (`crate::app`) builds the parts from these settings.
//!
//! The file is found through `--config`, then `$KEYSTEP_CONFIG`, then
//! `./keystep.toml`. Relative paths in it are relative to the file. With no
//! file at all, keystep keeps its SQLite store in `.keystep/` and reads
//! automations from `automations/`, both in the working directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use crate::files::parse_toml;
use crate::notify;
use crate::secret::SecretSource;

/// How far `run_automation` may nest.
pub const DEFAULT_MAX_DEPTH: u32 = 8;

/// How many runs move at once by default: enough to hide the latency of
/// slow receivers (a 50 ms webhook at 2,000 runs/s needs 100 in flight);
/// CPU work is bounded by the runtime's worker threads whatever this is.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// How long a process keeps a run it is working on before another process
/// may take it over (sooner if the holder's process is gone). Renewed
/// while a step's effect goes on.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How long `serve` lets steps in flight finish when told to stop.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    automations: AutomationsSection,
    #[serde(default)]
    engine: EngineSection,
    #[serde(default)]
    plugins: PluginsSection,
    smtp: Option<notify::SmtpSection>,
    slack: Option<notify::SlackSection>,
    #[serde(default)]
    webhooks: BTreeMap<String, notify::WebhookSection>,
    #[serde(default)]
    outbox: OutboxSection,
    #[serde(default)]
    serve: ServeSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeSection {
    /// How long `serve` lets steps in flight finish after SIGTERM or SIGINT.
    shutdown_grace: Option<String>,
    /// Where the HTTP API listens (`127.0.0.1:8080`); none: no API.
    listen: Option<String>,
    /// The API's bearer tokens.
    #[serde(default)]
    tokens: Vec<TokenSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenSection {
    /// Who holds it (said in the log, never the token).
    name: String,
    /// `read` or `operate`.
    scope: String,
    /// `env:VAR` or `file:PATH`.
    secret: String,
}

/// What a bearer token of the HTTP API may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenScope {
    /// Read runs, tasks, users and automations.
    Read,
    /// Also start and cancel runs and complete tasks.
    Operate,
}

/// A bearer token of the HTTP API: its holder, scope and where its value is.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub scope: TokenScope,
    pub secret: SecretSource,
}

/// `keystep serve`'s settings.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// How long steps in flight may finish when told to stop.
    pub shutdown_grace: Duration,
    /// Where the HTTP API listens; none: no API.
    pub listen: Option<std::net::SocketAddr>,
    pub tokens: Vec<ApiToken>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxSection {
    /// Where mail and Slack messages go when those are not configured.
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginsSection {
    /// Folders whose `*.wasm` files are plugins.
    dirs: Option<Vec<PathBuf>>,
    /// Where compiled plugins are cached.
    cache: Option<PathBuf>,
    /// How many plugin calls of runs run at once (each holds a thread).
    concurrency: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    /// SQLite database file.
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AutomationsSection {
    dirs: Option<Vec<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineSection {
    max_depth: Option<u32>,
    /// How many runs move at once.
    concurrency: Option<usize>,
    /// How long a process holds a run it moves before another may take it
    /// over (`60s`); renewed while a step's effect goes on.
    lease: Option<String>,
}

/// The settings keystep runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    pub store_path: PathBuf,
    pub automation_dirs: Vec<PathBuf>,
    pub max_depth: u32,
    /// How many runs move at once.
    pub concurrency: usize,
    /// How long a run's lease lasts.
    pub lease: Duration,
    /// Plugin folders: `plugins/` beside the config, and `.keystep/plugins/`.
    pub plugin_dirs: Vec<PathBuf>,
    /// Compiled plugins, and plugins' scratch directories.
    pub plugin_cache: PathBuf,
    /// How many plugin calls run at once; the host's default when unset.
    pub plugin_concurrency: Option<usize>,
    /// SMTP, Slack, webhooks and the outbox.
    pub notify: notify::Settings,
    /// `keystep serve`: its grace period, its API's address and tokens.
    pub serve: ServeSettings,
}

impl Config {
    /// Finds and reads the configuration (see the module docs).
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
        let from_env = std::env::var_os("KEYSTEP_CONFIG").map(PathBuf::from);
        let path = match explicit.map(Path::to_path_buf).or(from_env) {
            Some(p) => Some(p),
            None => Some(PathBuf::from("keystep.toml")).filter(|p| p.is_file()),
        };
        let Some(path) = path else {
            return Config::resolve(None, Path::new("."), File::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let file: File = parse_toml(&path, &text).map_err(anyhow::Error::msg)?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Config::resolve(Some(path.clone()), base, file)
    }

    fn resolve(file_path: Option<PathBuf>, base: &Path, file: File) -> anyhow::Result<Config> {
        let at = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let shown = file_path
            .as_ref()
            .map_or("the default configuration".into(), |p| {
                p.display().to_string()
            });
        let notify = notify::Sections {
            smtp: file.smtp,
            slack: file.slack,
            webhooks: file.webhooks,
            outbox: file.outbox.path,
        }
        .resolve(base)
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        let duration = |text: &Option<String>, key: &str, default: Duration, least: Duration| {
            match text {
            None => Ok(default),
            Some(text) => humantime::parse_duration(text)
                .ok()
                .filter(|d| *d >= least)
                .ok_or_else(|| {
                    let (least, default) = (humantime::format_duration(least), humantime::format_duration(default));
                    anyhow::anyhow!("{shown}: {key} is a duration of at least {least}, such as `{default}`, not `{text}`")
                }),
        }
        };
        let lease = duration(
            &file.engine.lease,
            "engine.lease",
            DEFAULT_LEASE,
            Duration::from_secs(1),
        )?;
        let shutdown_grace = duration(
            &file.serve.shutdown_grace,
            "serve.shutdown_grace",
            DEFAULT_SHUTDOWN_GRACE,
            Duration::ZERO,
        )?;
        if file.engine.concurrency == Some(0) || file.plugins.concurrency == Some(0) {
            anyhow::bail!("{shown}: engine.concurrency and plugins.concurrency are at least 1");
        }
        let serve = ServeSettings {
            shutdown_grace,
            listen: match &file.serve.listen {
                None => None,
                Some(text) => Some(text.parse().map_err(|_| {
                    anyhow::anyhow!("{shown}: serve.listen is an address and port such as `127.0.0.1:8080`, not `{text}`")
                })?),
            },
            tokens: tokens(&file.serve.tokens, base).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?,
        };
        Ok(Config {
            file: file_path,
            store_path: at(file
                .store
                .path
                .unwrap_or_else(|| PathBuf::from(".keystep/keystep.db"))),
            automation_dirs: file
                .automations
                .dirs
                .unwrap_or_else(|| vec![PathBuf::from("automations")])
                .into_iter()
                .map(at)
                .collect(),
            max_depth: file.engine.max_depth.unwrap_or(DEFAULT_MAX_DEPTH),
            concurrency: file.engine.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            lease,
            plugin_dirs: file
                .plugins
                .dirs
                .unwrap_or_else(|| vec!["plugins".into(), ".keystep/plugins".into()])
                .into_iter()
                .map(at)
                .collect(),
            plugin_concurrency: file.plugins.concurrency,
            plugin_cache: at(file
                .plugins
                .cache
                .unwrap_or_else(|| PathBuf::from(".keystep/cache"))),
            notify,
            serve,
        })
    }
}

/// The API's tokens, each with a known scope and a secret source.
fn tokens(sections: &[TokenSection], base: &Path) -> Result<Vec<ApiToken>, String> {
    sections
        .iter()
        .map(|t| {
            let what = format!("serve.tokens `{}`", t.name);
            let scope = match t.scope.as_str() {
                "read" => TokenScope::Read,
                "operate" => TokenScope::Operate,
                other => {
                    return Err(format!(
                        "{what}: scope is `read` or `operate`, not `{other}`"
                    ));
                }
            };
            let secret = SecretSource::parse(&t.secret, base, &format!("{what}: secret"))?;
            Ok(ApiToken {
                name: t.name.clone(),
                scope,
                secret,
            })
        })
        .collect()
}
