//! Where a secret's value comes from: `env:VARIABLE` or `file:PATH`, never
//! the configuration text itself. A value is read when it is needed, and
//! errors name the source, never the value.

use std::path::{Path, PathBuf};

/// A secret's source.
#[derive(Clone, PartialEq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(var) => write!(f, "env:{var}"),
            SecretSource::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl SecretSource {
    /// Parses `env:VAR` or `file:PATH` (relative to `base`); `what` names
    /// the setting in the error.
    pub fn parse(text: &str, base: &Path, what: &str) -> Result<SecretSource, String> {
        if let Some(var) = text.strip_prefix("env:").filter(|v| !v.is_empty()) {
            Ok(SecretSource::Env(var.to_string()))
        } else if let Some(path) = text.strip_prefix("file:").filter(|p| !p.is_empty()) {
            Ok(SecretSource::File(base.join(path)))
        } else {
            Err(format!(
                "{what} must be `env:VARIABLE` or `file:PATH`; secrets are never written in the configuration"
            ))
        }
    }

    /// Reads the value.
    pub fn read(&self) -> Result<String, String> {
        match self {
            SecretSource::Env(var) => {
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))
            }
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
        }
    }
}
