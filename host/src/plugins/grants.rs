//! `NAME.toml` beside `NAME.wasm`: what the operator grants a plugin.
//! Nothing is granted by default: no hosts, no secrets, no scratch space.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::egress::HostPattern;
use crate::files::parse_toml;
use crate::secret::SecretSource;

/// The grant file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// In an instance file (no component of its own name beside it): the
    /// component it configures, a file name in the same folder.
    component: Option<String>,
    /// For a connector: how often `serve` syncs its app (`1h`, `15m`).
    sync_every: Option<String>,
    #[serde(default)]
    allow_hosts: Vec<String>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    scratch: bool,
    #[serde(default)]
    config: toml::Table,
    #[serde(default)]
    limits: LimitsFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    fuel: Option<u64>,
    input_kb: Option<u64>,
    output_kb: Option<u64>,
    log_kb: Option<u64>,
    scratch_mb: Option<u64>,
    scratch_files: Option<u64>,
}

/// Per-call limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub memory_bytes: usize,
    pub timeout: Duration,
    /// An instruction budget; `None` runs without fuel metering.
    pub fuel: Option<u64>,
    pub input_bytes: usize,
    pub output_bytes: usize,
    pub log_bytes: usize,
    /// The scratch directory's quota: bytes and entries (files, folders,
    /// links) in it.
    pub scratch_bytes: u64,
    pub scratch_files: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_bytes: 128 << 20,
            timeout: Duration::from_secs(10),
            fuel: None,
            input_bytes: 1 << 20,
            output_bytes: 1 << 20,
            log_bytes: 64 << 10,
            scratch_bytes: 64 << 20,
            scratch_files: 1000,
        }
    }
}

/// The largest memory a grant may give a plugin (the pooling allocator's
/// slot size).
pub const MAX_MEMORY_MB: u64 = 1024;

/// What a plugin may do, read from its `NAME.toml`.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// The file read, if there was one.
    pub file: Option<PathBuf>,
    pub allow_hosts: Vec<HostPattern>,
    pub secrets: BTreeMap<String, SecretSource>,
    /// A private directory the plugin sees as `/scratch`:
    /// `SCRATCH_ROOT/NAME`, NAME being a valid plugin name.
    pub scratch: Option<PathBuf>,
    /// The SHA-256 of the grant file (empty without one): what a
    /// remembered `info` ran under.
    pub fingerprint: String,
    /// `[config]`, as a JSON object.
    pub config: serde_json::Map<String, serde_json::Value>,
    pub limits: Limits,
    /// `component = "FILE.wasm"`: the file is an instance's, of that
    /// component.
    pub component: Option<String>,
    /// `sync_every`: how often `serve` syncs the connector's app.
    pub sync_every: Option<Duration>,
}

/// The shortest `sync_every`.
pub const SYNC_EVERY_MIN: Duration = Duration::from_secs(1);

impl Grants {
    /// Reads `path` (the plugin's `NAME.toml`); no file means no grants.
    /// `scratch_root` is where scratch directories live; `name` must be a
    /// valid plugin name, so that its scratch directory is a child of it.
    pub fn load(path: &Path, name: &str, scratch_root: &Path) -> Result<Grants, String> {
        if let Some(why) = super::bounds::name_problem(name) {
            return Err(why);
        }
        if !path.is_file() {
            return Ok(Grants::default());
        }
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        let fingerprint = format!("{:x}", Sha256::digest(text.as_bytes()));
        let file: File = parse_toml(path, &text)?;
        let allow_hosts = file
            .allow_hosts
            .iter()
            .map(|h| HostPattern::parse(h).map_err(|e| format!("{shown}: allow_hosts: {e}")))
            .collect::<Result<_, _>>()?;
        let base = path.parent().unwrap_or(Path::new("."));
        let secrets = file
            .secrets
            .into_iter()
            .map(|(name, source)| {
                let what = format!("{shown}: secret `{name}`");
                Ok::<_, String>((name, SecretSource::parse(&source, base, &what)?))
            })
            .collect::<Result<_, _>>()?;
        let l = file.limits;
        let defaults = Limits::default();
        if l.memory_mb.is_some_and(|m| m == 0 || m > MAX_MEMORY_MB) {
            return Err(format!(
                "{shown}: limits.memory_mb must be between 1 and {MAX_MEMORY_MB}"
            ));
        }
        let kb = |v: Option<u64>, d: usize| v.map_or(d, |v| (v as usize).saturating_mul(1024));
        let limits = Limits {
            memory_bytes: l
                .memory_mb
                .map_or(defaults.memory_bytes, |m| (m as usize) << 20),
            timeout: l.timeout_ms.map_or(defaults.timeout, Duration::from_millis),
            fuel: l.fuel.filter(|f| *f > 0),
            input_bytes: kb(l.input_kb, defaults.input_bytes),
            output_bytes: kb(l.output_kb, defaults.output_bytes),
            log_bytes: kb(l.log_kb, defaults.log_bytes),
            scratch_bytes: l
                .scratch_mb
                .map_or(defaults.scratch_bytes, |m| m.saturating_mul(1 << 20)),
            scratch_files: l.scratch_files.unwrap_or(defaults.scratch_files),
        };
        let sync_every = match &file.sync_every {
            None => None,
            Some(text) => match humantime::parse_duration(text.trim()) {
                Ok(d) if d >= SYNC_EVERY_MIN => Some(d),
                Ok(_) => return Err(format!("{shown}: sync_every must be at least 1s")),
                Err(e) => {
                    return Err(format!(
                        "{shown}: sync_every = {text:?} is not a duration such as 1h or 15m: {e}"
                    ));
                }
            },
        };
        let config = serde_json::to_value(file.config)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        Ok(Grants {
            file: Some(path.to_path_buf()),
            allow_hosts,
            secrets,
            scratch: file.scratch.then(|| scratch_root.join(name)),
            fingerprint,
            config,
            limits,
            component: file.component,
            sync_every,
        })
    }

    /// A one-line summary for `plugins list`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.allow_hosts.is_empty() {
            parts.push(format!("{} host(s)", self.allow_hosts.len()));
        }
        if !self.secrets.is_empty() {
            parts.push(format!("{} secret(s)", self.secrets.len()));
        }
        if self.scratch.is_some() {
            parts.push("scratch".into());
        }
        if self.limits != Limits::default() {
            parts.push("own limits".into());
        }
        if let Some(every) = self.sync_every {
            parts.push(format!("sync every {}", humantime::format_duration(every)));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}
