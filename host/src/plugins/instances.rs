//! Instances of one component: `NAME.toml` with `component = "FILE.wasm"`
//! and no `NAME.wasm` beside it is a plugin of its own, named `NAME`,
//! running the component `FILE.wasm` of the same folder under the grants,
//! secrets, config and limits of `NAME.toml`. So one SCIM component serves
//! Zoom and Atlassian, each with its own base URL, token and hosts.

use std::path::{Path, PathBuf};

/// The instance files in `dirs`: every `*.toml` without a component of its
/// own name beside it, in folder order then name order.
pub(super) fn files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter()
        .flat_map(|dir| super::discover::files_in(dir, "toml"))
        .filter(|p| !p.with_extension("wasm").exists())
        .collect()
}

/// Where the component an instance file names is: a plain `.wasm` file
/// name, in the instance file's own folder.
pub(super) fn component_path(file: &Path, component: &str) -> Result<PathBuf, String> {
    let plain = !component.contains(['/', '\\']) && component != ".." && !component.is_empty();
    if !plain || !component.ends_with(".wasm") {
        return Err(format!(
            "{}: component `{component}` is not a file name ending in .wasm in the same folder",
            file.display()
        ));
    }
    Ok(file.parent().unwrap_or(Path::new(".")).join(component))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_file_is_a_toml_without_its_own_component() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "scim.wasm",
            "scim.toml",
            "zoom.toml",
            "atlassian.toml",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let found = files(&[dir.path().to_path_buf()]);
        let names: Vec<_> = found.iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(names, ["atlassian.toml", "zoom.toml"]);
    }

    #[test]
    fn an_instance_names_a_component_of_its_own_folder_only() {
        let file = Path::new("/p/zoom.toml");
        assert_eq!(
            component_path(file, "scim.wasm").unwrap(),
            Path::new("/p/scim.wasm")
        );
        for bad in [
            "../scim.wasm",
            "/etc/scim.wasm",
            "sub/scim.wasm",
            "scim",
            "",
        ] {
            let e = component_path(file, bad).unwrap_err();
            assert!(e.contains("not a file name ending in .wasm"), "{bad}: {e}");
        }
    }
}
