//! Entry points for hostile input: one per parser of untrusted text, each
//! taking raw bytes as a careless user or an attacker would hand them to
//! keystep. The fuzz targets in `fuzz/` and the corpus replay test
//! (`host/tests/fuzz_corpus.rs`) share them, so that every input the fuzzer
//! finds is replayed by `cargo test`.
//!
//! Each returns `Err` with the clean error keystep would show when it refuses
//! the input. A panic, a stack overflow, a hang or unbounded memory is a bug;
//! so is a broken invariant, which these functions assert.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value as Json, json};

use crate::automation::{self, catalog::Catalog, check};
use crate::directory::{Directory, DirectoryReads, import};
use crate::expr::{Expr, Scope, Template};
use crate::plugins::schema;
use crate::store::{Keep, Store};

/// `keystep validate` on one file's bytes: parsing with the step specs'
/// checks, then the checks that need no directory or plugins.
pub fn automation(data: &[u8]) -> Result<(), String> {
    // `validate` reads files with `read_to_string`, which refuses non-UTF-8.
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let automation = automation::parse(Path::new("fuzz.yaml"), text).map_err(|found| {
        assert!(!found.is_empty(), "a refused automation names no problem");
        lines(&found)
    })?;
    let found = check::check(&automation, None, &Catalog::new(Vec::new()), None);
    ok_unless(&found)
}

/// `Err` with every problem found, one a line, if any.
fn ok_unless<T: std::fmt::Display>(problems: &[T]) -> Result<(), String> {
    match problems {
        [] => Ok(()),
        _ => Err(lines(problems)),
    }
}

fn lines<T: std::fmt::Display>(problems: &[T]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// The context expressions see while fuzzing: the shapes of a real run's
/// `ctx` (trigger users, step outputs with lists and numbers).
fn fuzz_scope() -> Scope {
    let user = json!({
        "id": "u-ada", "email": "ada@example.com", "display_name": "Ada Lovelace",
        "status": "active", "manager_id": "u-john", "department": "Engineering",
        "title": "Engineer", "attributes": {"level": 3, "tags": ["a", "b"]},
    });
    Scope::new(&json!({
        "trigger": {"user_id": "u-ada", "user": user, "old_user": user, "new_user": user},
        "run": {"id": 7, "subject": "u-ada", "automation": "fuzz"},
        "revoke": {"revoked": ["aws:admin", "github:member"], "tasks": [1, 2, 3]},
        "score": {"score": 42.5},
        "review": {"campaign_id": "c-1"},
    }))
}

/// CEL on the bytes as an expression (compile, the references `validate`
/// reads, evaluate) and as a `{{ }}` template (compile, render). `Err` when
/// both refuse it, with the template's reason.
pub fn cel(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let scope = fuzz_scope();
    let expr = Expr::compile(text).map_err(|e| e.message).and_then(|e| {
        e.context_roots();
        e.eval(&scope)
    });
    let template = Template::compile(&Json::String(text.to_string()))
        .map_err(|e| e.error.message)
        .and_then(|t| t.render(&scope));
    expr.or(template).map(|_| ())
}

/// `keystep directory import` of the bytes into a new store, then the same
/// file again, which must succeed and change nothing (the import's promise).
/// Text whose first non-blank character is `{` is read as JSON, the rest as
/// YAML, as a `.json` or `.yaml` file would be.
pub fn directory_import(data: &[u8]) -> Result<(), String> {
    let json = data.trim_ascii_start().starts_with(b"{");
    let file = TempFile::new(data, if json { "json" } else { "yaml" })?;
    let parsed = import::read(&file.0).map_err(|e| e.to_string())?;
    let folder = TempFolder::new()?;
    let store = Store::open(&folder.0.join("keystep.db")).map_err(|e| e.to_string())?;
    let parsed = std::sync::Arc::new(parsed);
    let apply = || {
        let parsed = parsed.clone();
        store
            .write_sql_blocking(Keep::IfOk, move |conn| {
                let dir = Directory::new(conn, "import".into());
                import::apply(&dir, &parsed, import::Options::default())?;
                Ok::<_, import::ImportError>(dir.counts()?)
            })
            .map_err(|e| e.to_string())
    };
    let first = apply()?;
    let again = apply().expect("a file imported once imports again");
    assert_eq!(
        first, again,
        "importing the same file twice changed the directory"
    );
    Ok(())
}

/// The connector schema checker on bytes holding a JSON array
/// `[schema, value]`: the schema as a plugin declares it, the value as a
/// step's arguments.
pub fn schema(data: &[u8]) -> Result<(), String> {
    let (schema, value): (Json, Json) = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    ok_unless(&schema::violations(&schema, &value))
}

/// A file of its own in the temporary folder, removed when dropped: the
/// import reads files, and the extension picks the parser.
struct TempFile(PathBuf);

impl TempFile {
    fn new(data: &[u8], extension: &str) -> Result<TempFile, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("keystep-fuzz-{}-{n}.{extension}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, data).map_err(|e| e.to_string())?;
        Ok(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A folder of its own in the temporary folder, removed when dropped: a
/// store is a file with its WAL beside it.
struct TempFolder(PathBuf);

impl TempFolder {
    fn new() -> Result<TempFolder, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("keystep-fuzz-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
        Ok(TempFolder(path))
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
