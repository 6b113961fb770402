//! The layers of `host/src`, checked on its source (design section 1): no
//! module imports one that imports it back, `config` is plain data, the
//! model (`automation`) knows no behaviour, and one composition root
//! (`app`) builds the engine.
//!
//! Edges are the `crate::a` and `super::a` paths of each file's code (not
//! its comments nor its test module), between the top modules of the crate,
//! as `shared/tools/modcycles.py` reads them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// For each top module, the modules it uses and where it first does.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !path.to_string_lossy().ends_with("_tests.rs")
        {
            out.push(path);
        }
    }
}

/// A file's module path: `steps/wait.rs` is `[steps, wait]`, `steps/mod.rs`
/// is `[steps]`, `lib.rs` is `[]`.
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The lines of code of a file, numbered from 1: comments dropped, and
/// nothing from its test module on (last in a file, as clippy asks).
fn code(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .get(i + 1)
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        out.push((i + 1, line.split(" //").next().unwrap_or_default()));
    }
    out
}

fn edges() -> (BTreeSet<String>, Edges) {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let top = |parts: &[String]| parts.first().cloned().unwrap_or_default();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| top(&module_path(f)))
        .filter(|m| !m.is_empty())
        .collect();
    let path = regex::Regex::new(r"\b(crate|super)((?:::super)*)::([a-z_][a-z0-9_]*)").unwrap();
    let mut edges = Edges::new();
    for file in &files {
        let here = module_path(file);
        let text = std::fs::read_to_string(file).unwrap();
        for (line, code) in code(&text) {
            for found in path.captures_iter(code) {
                let target = if &found[1] == "crate" {
                    found[3].to_string()
                } else {
                    let up = 1 + found[2].matches("super").count();
                    let parent = &here[..here.len().saturating_sub(up)];
                    parent.first().cloned().unwrap_or_else(|| found[3].into())
                };
                let from = top(&here);
                if from.is_empty() || target == from || !modules.contains(&target) {
                    continue;
                }
                let shown = file.strip_prefix(src()).unwrap().display();
                edges
                    .entry(from)
                    .or_default()
                    .entry(target)
                    .or_insert_with(|| format!("{shown}:{line}"));
            }
        }
    }
    (modules, edges)
}

/// Every module `from` reaches.
fn reach(edges: &Edges, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        for next in edges.get(&m).into_iter().flat_map(|e| e.keys()) {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let (modules, edges) = edges();
    let mut cycles = Vec::new();
    for m in &modules {
        for (to, at) in edges.get(m).into_iter().flatten() {
            if reach(&edges, to).contains(m) {
                cycles.push(format!("{m} -> {to} ({at}), and {to} leads back to {m}"));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// The modules `module` uses, with where.
fn uses(edges: &Edges, module: &str) -> Vec<String> {
    edges
        .get(module)
        .into_iter()
        .flatten()
        .map(|(to, at)| format!("{to} ({at})"))
        .collect()
}

#[test]
fn config_is_plain_data() {
    let (_, edges) = edges();
    // Base modules, and the capabilities whose sections it holds.
    let allowed = ["notify", "error", "time", "files", "secret", "text"];
    let used = uses(&edges, "config");
    let wrong: Vec<_> = used
        .iter()
        .filter(|u| !allowed.iter().any(|a| u.starts_with(&format!("{a} "))))
        .collect();
    assert!(wrong.is_empty(), "config uses {wrong:?}");
}

#[test]
fn the_model_knows_no_behaviour() {
    let (_, edges) = edges();
    let above = [
        "app", "cli", "config", "engine", "effects", "steps", "store", "notify",
    ];
    let used = uses(&edges, "automation");
    let wrong: Vec<_> = used
        .iter()
        .filter(|u| above.iter().any(|a| u.starts_with(&format!("{a} "))))
        .collect();
    assert!(wrong.is_empty(), "automation uses {wrong:?}");
}

#[test]
fn one_composition_root_builds_the_engine() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let builders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(src().join("engine")))
        .filter(|f| {
            code(&std::fs::read_to_string(f).unwrap())
                .iter()
                .any(|(_, line)| line.contains("Engine::builder("))
        })
        .map(|f| f.strip_prefix(src()).unwrap().display().to_string())
        .collect();
    assert_eq!(builders, ["app.rs"]);
}
