//! `keystep validate PATH...`: every check of design section 2, before any
//! run starts. Errors name file, line and column.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{Env, Exit, render};
use crate::automation::{Diagnostic, Pos, catalog, check};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Automation files or folders (default: the configured automation folders).
    paths: Vec<PathBuf>,
}

pub fn validate(env: &Env, args: ValidateArgs) -> anyhow::Result<Exit> {
    let paths = if args.paths.is_empty() {
        env.app.config.automation_dirs.clone()
    } else {
        args.paths
    };
    let mut files = Vec::new();
    for path in &paths {
        if path.is_dir() {
            files.extend(catalog::Catalog::new(vec![path.clone()]).files());
        } else {
            files.push(path.clone());
        }
    }
    let store = env.app.open_store()?;
    let reader = store.reader()?;
    let dir = crate::directory::Directory::new(&reader, "validate".into());
    let directory_known = !dir.is_empty()?;
    let catalog = env.app.catalog().with_files(&files);
    let plugins = env.app.plugins();
    let plugins_known = !plugins.is_empty();
    let mut diagnostics = Vec::new();
    let mut valid = Vec::new();
    for file in &files {
        match catalog::load_file(file) {
            Ok(automation) => {
                let found = check::check(
                    &automation,
                    directory_known.then_some(&dir),
                    &catalog,
                    plugins_known.then_some(&*plugins),
                );
                if found.is_empty() {
                    valid.push(automation.name.clone());
                }
                diagnostics.extend(found);
            }
            Err(catalog::LoadError::Invalid(found)) => diagnostics.extend(found),
            Err(other) => diagnostics.push(Diagnostic {
                file: file.clone(),
                pos: Pos { line: 0, column: 0 },
                message: other.to_string(),
            }),
        }
    }
    if files.is_empty() {
        anyhow::bail!(
            "no automation files in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if env.json {
        let errors: Vec<_> = diagnostics
            .iter()
            .map(|d| json!({ "file": d.file, "line": d.pos.line, "column": d.pos.column, "message": d.message }))
            .collect();
        render::json(
            &json!({ "files": files.len(), "valid": valid, "errors": errors, "directory_checked": directory_known }),
        );
    } else {
        for d in &diagnostics {
            eprintln!("{d}");
        }
        if !directory_known {
            eprintln!(
                "note: the directory is empty, so literal users, entitlements and templates were not checked"
            );
        }
        let bad = files.len() - valid.len();
        println!(
            "{} file(s) checked: {} valid, {bad} with errors ({} error(s))",
            files.len(),
            valid.len(),
            diagnostics.len()
        );
    }
    Ok(if diagnostics.is_empty() {
        Exit::Ok
    } else {
        Exit::BadInput
    })
}
