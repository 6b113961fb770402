//! `keystep test [PATH...]`: the automations' test cases (`*.test.yaml`,
//! and `tests:` in automation files), each case passed or failed with what
//! differed, then `N passed, N failed`; exit 1 when any failed.

use std::path::PathBuf;

use serde_json::json;

use super::{Env, Exit, render};
use crate::testing::{self, Setup};

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Test files and automation files with `tests:`, or folders searched
    /// for both (default: the automation folders).
    paths: Vec<PathBuf>,
}

pub fn test(env: &Env, args: TestArgs) -> anyhow::Result<Exit> {
    let paths = match args.paths.is_empty() {
        true => env.app.config.automation_dirs.clone(),
        false => args.paths,
    };
    let files = testing::find(&paths);
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!(
            "no test cases (NAME.test.yaml, or `tests:` in an automation) in {}",
            shown.join(", ")
        );
    }
    // Nothing outside is contacted, not even by a connector's `info`.
    env.app.plugins().go_offline();
    let engine = |store: &crate::store::Store| env.app.engine(store);
    let setup = Setup {
        catalog: env.app.catalog(),
        engine: &engine,
        runtime: env.app.runtime(),
    };
    let mut reports = Vec::new();
    for file in &files {
        let report = testing::run_file(&setup, file);
        if !env.json {
            print(&report);
        }
        reports.push(report);
    }
    let cases = reports.iter().flat_map(|r| &r.cases);
    let passed = cases.clone().filter(|c| c.passed).count();
    let failed = cases.filter(|c| !c.passed).count();
    let broken = reports.iter().filter(|r| r.error.is_some()).count();
    if env.json {
        render::json(
            &json!({"files": reports, "passed": passed, "failed": failed, "broken_files": broken}),
        );
    } else {
        let files = match broken {
            0 => String::new(),
            n => format!(", {n} test files could not be read"),
        };
        println!("{passed} passed, {failed} failed{files}");
    }
    Ok(if failed + broken > 0 {
        Exit::RunFailed
    } else {
        Exit::Ok
    })
}

fn print(report: &testing::FileReport) {
    println!("{}", render::escape(&report.file.display().to_string()));
    if let Some(error) = &report.error {
        println!("  ✗ {}", render::escape_lines(error));
    }
    for case in &report.cases {
        let mark = if case.passed { "✓" } else { "✗" };
        println!("  {mark} {}", render::escape(&case.name));
        for difference in &case.differences {
            println!("      {}", render::escape(difference));
        }
    }
}
