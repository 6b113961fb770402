//! `keystep plugins new NAME --world W --lang L`: writes a ready plugin
//! project into a new directory: the WIT it implements, a small working
//! example, a one-command build script, a test that runs the built
//! component through keystep, a README and the grant file. The templates
//! are compiled in ([`templates`]), so the project builds anywhere.
//!
//! It never overwrites: the directory must be new or empty. A new one is
//! written as a hidden sibling and moved into place at once, and an empty
//! one is emptied again if a write fails, so a failure leaves nothing.

mod templates;

use std::io;
use std::path::{Path, PathBuf};

use templates::{Contents, File};
pub use templates::{Lang, World};

/// A plugin name as keystep loads it and every language's tooling takes
/// it: a lowercase letter, then lowercase letters, digits and `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if starts && rest && name.len() <= 64 && !name.ends_with('-') {
        return Ok(());
    }
    Err(format!(
        "{name:?} is not a plugin name: a lowercase letter, then lowercase letters, \
         digits and `-` (not last), at most 64 characters, such as `access-check`"
    ))
}

/// What [`create`] wrote: the project's directory and its files, relative
/// to it, in the order written.
#[derive(Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub files: Vec<String>,
}

/// Writes the project `name` (`lang`, `world`) into `dir`, which must not
/// exist or be an empty directory.
pub fn create(name: &str, world: World, lang: Lang, dir: &Path) -> Result<Project, String> {
    check_name(name)?;
    ensure_empty(dir)?;
    let files: Vec<(String, Vec<u8>)> = templates::files(lang, world)
        .map(|f| render(f, name, world))
        .collect();
    let shown = dir.display();
    write_all(dir, &files).map_err(|e| format!("cannot write {shown}: {e}"))?;
    Ok(Project {
        dir: dir.to_path_buf(),
        files: files.into_iter().map(|(path, _)| path).collect(),
    })
}

/// Fails unless `dir` is missing or an empty directory.
fn ensure_empty(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "{shown} is not empty: `keystep plugins new` writes only into a new or \
             empty directory (name another with --dir)"
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) if dir.exists() => Err(format!("{shown} exists and is not a directory")),
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
}

/// The placeholders of the templates and their values for `name`.
fn substitutions(name: &str, world: World) -> [(&'static str, String); 4] {
    let snake = name.replace('-', "_");
    [
        ("{{name}}", name.to_string()),
        ("{{name_snake}}", snake.clone()),
        ("{{NAME}}", snake.to_ascii_uppercase()),
        ("{{world}}", world.wit_name().to_string()),
    ]
}

/// A template file's path and contents with the placeholders filled in.
fn render(file: &File, name: &str, world: World) -> (String, Vec<u8>) {
    let fill = |text: &str| {
        substitutions(name, world)
            .iter()
            .fold(text.to_string(), |text, (key, value)| {
                text.replace(key, value)
            })
    };
    let contents = match file.contents {
        Contents::Text(text) => fill(text).into_bytes(),
        Contents::Binary(bytes) => bytes.to_vec(),
    };
    (fill(file.path), contents)
}

/// Writes `files` into `dir`. A new directory is made as a hidden sibling
/// and renamed into place once whole; an empty one (the current directory,
/// say) is filled in place and emptied again if a write fails.
fn write_all(dir: &Path, files: &[(String, Vec<u8>)]) -> io::Result<()> {
    if dir.is_dir() {
        let written = write_into(dir, files);
        if written.is_err() {
            for entry in std::fs::read_dir(dir)?.flatten() {
                let _ = std::fs::remove_dir_all(entry.path())
                    .or_else(|_| std::fs::remove_file(entry.path()));
            }
        }
        return written;
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let base = dir
        .file_name()
        .map_or("plugin".into(), |n| n.to_string_lossy());
    let staging = parent.join(format!(".{base}.new-{}", std::process::id()));
    let written = write_into(&staging, files).and_then(|()| std::fs::rename(&staging, dir));
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written
}

fn write_into(root: &Path, files: &[(String, Vec<u8>)]) -> io::Result<()> {
    for (path, contents) in files {
        let at = root.join(path);
        std::fs::create_dir_all(at.parent().unwrap_or(root))?;
        std::fs::write(&at, contents)?;
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LANGS: [Lang; 4] = [Lang::Rust, Lang::Python, Lang::Js, Lang::C];
    const WORLDS: [World; 2] = [World::Function, World::Connector];

    #[test]
    fn names_are_checked() {
        for good in ["a", "access-check", "risk2", "x-1-y"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Access",
            "1st",
            "a_b",
            "a-",
            "-a",
            "a b",
            "a/b",
            "ä",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_placeholder_is_filled_and_every_project_is_whole() {
        for lang in LANGS {
            for world in WORLDS {
                let files: Vec<_> = templates::files(lang, world)
                    .map(|f| render(f, "my-plugin", world))
                    .collect();
                let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
                for needed in ["build.sh", "test.sh", "README.md", "my-plugin.toml"] {
                    assert!(paths.contains(&needed), "{lang:?} {world:?}: {paths:?}");
                }
                assert!(paths.contains(&"wit/worlds.wit"), "{paths:?}");
                for (path, contents) in &files {
                    let text = String::from_utf8_lossy(contents);
                    for (key, _) in substitutions("my-plugin", world) {
                        assert!(!text.contains(key), "{lang:?} {world:?} {path}: {key}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_project_is_written_only_into_an_empty_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let project = create("p", World::Function, Lang::Python, &dir).unwrap();
        assert!(project.files.contains(&"app.py".to_string()));
        assert!(dir.join("p.toml").is_file());
        let mode = std::fs::metadata(dir.join("build.sh")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o111, 0o111);
        let again = create("p", World::Function, Lang::Python, &dir).unwrap_err();
        assert!(again.contains("is not empty"), "{again}");
        // Nothing else was left beside it.
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // An empty directory is fine.
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        create("q", World::Connector, Lang::C, &empty).unwrap();
        assert!(
            empty
                .join("bindings/connector_plugin_component_type.o")
                .is_file()
        );
    }
}
