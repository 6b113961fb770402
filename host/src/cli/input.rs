//! `--input`: JSON given inline, as `@FILE`, or as `-` (standard input), so
//! an input larger than the argument limit can still be given.

use std::io::Read;

use anyhow::Context as _;
use serde_json::Value as Json;

/// Reads and parses the value of `--input`.
pub fn read(arg: &str) -> anyhow::Result<Json> {
    let (text, source) = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("--input -: cannot read standard input")?;
        (text, "standard input".to_string())
    } else if let Some(path) = arg.strip_prefix('@') {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--input @{path}: cannot read {path}"))?;
        (text, path.to_string())
    } else {
        (arg.to_string(), "--input".to_string())
    };
    serde_json::from_str(&text).with_context(|| format!("{source} is not valid JSON"))
}

#[cfg(test)]
mod tests {
    use super::read;

    #[test]
    fn inline_and_file() {
        assert_eq!(read(r#"{"a": 1}"#).unwrap()["a"], 1);
        let file = std::env::temp_dir().join(format!("keystep-input-{}.json", std::process::id()));
        std::fs::write(&file, r#"{"user_id": "u-ada"}"#).unwrap();
        let value = read(&format!("@{}", file.display())).unwrap();
        assert_eq!(value["user_id"], "u-ada");
        std::fs::remove_file(&file).unwrap();
        let err = read("@/nonexistent/keystep-input").unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/keystep-input"),
            "{err:#}"
        );
        let err = read("{oops").unwrap_err();
        assert!(format!("{err:#}").contains("line 1 column 2"), "{err:#}");
    }
}
