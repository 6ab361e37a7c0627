//! `build-push --images FILE`: the images of a monorepo, one YAML list entry each.
//!
//! ```yaml
//! - container: web            # default: the repository's last path component
//!   repository: shop/web      # required; NAME in the default ECR registry, or HOST/NAME
//!   context: services/web     # default: the file's directory
//!   dockerfile: services/web/Dockerfile   # default: <context>/Dockerfile
//!   target: runtime
//!   build-args: {GO_VERSION: "1.22"}
//!   platform: linux/amd64     # default: --platform
//! ```
//!
//! Paths are relative to the file's directory, as in a Compose file, so the file means the same
//! wherever cb-step is started from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ImageError;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entry {
    pub container: Option<String>,
    pub repository: String,
    pub context: Option<PathBuf>,
    pub dockerfile: Option<PathBuf>,
    pub target: Option<String>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    pub platform: Option<String>,
}

/// The entries, with `context` and `dockerfile` resolved against the file's directory.
pub fn read(path: &Path) -> Result<Vec<Entry>, ImageError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImageError::ImagesRead {
        path: path.to_owned(),
        source,
    })?;
    let mut entries = parse(&text).map_err(|(line, message)| ImageError::ImagesFile {
        path: path.to_owned(),
        line,
        message,
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    for entry in &mut entries {
        let context = base.join(entry.context.take().unwrap_or_default());
        entry.dockerfile = entry.dockerfile.take().map(|d| base.join(d));
        entry.context = Some(if context.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            context
        });
    }
    Ok(entries)
}

/// The entries as written, paths unresolved. `Err((line, message))`; line 0 when the parser
/// gives no position.
pub fn parse(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let entries: Vec<Entry> = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        // serde_yaml writes `.[1].key: … at line L column C`; the line says it better.
        let mut message = e.to_string();
        if let Some(at) = message.find(" at line ") {
            message.truncate(at);
        }
        if line > 0
            && message.starts_with(".[")
            && let Some((_, rest)) = message.split_once(": ")
        {
            message = rest.to_owned();
        }
        (line, message)
    })?;
    if entries.is_empty() {
        return Err((0, "the list of images is empty".into()));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_entry_and_a_minimal_one() {
        let entries = parse(
            "- container: web\n  repository: shop/web\n  context: services/web\n  dockerfile: services/web/Dockerfile.prod\n  target: runtime\n  build-args: {A: '1'}\n  platform: linux/arm64\n- repository: api\n",
        )
        .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].container.as_deref(), Some("web"));
        assert_eq!(entries[0].build_args["A"], "1");
        assert_eq!(entries[1].context, None);
    }

    #[test]
    fn an_unknown_key_names_its_line() {
        let (line, message) =
            parse("- repository: web\n- repository: api\n  contxt: api\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(message.contains("unknown field `contxt`"), "{message}");
    }

    #[test]
    fn a_map_instead_of_a_list_is_an_error() {
        let (_, message) = parse("repository: web\n").unwrap_err();
        assert!(message.contains("expected a sequence"), "{message}");
        assert_eq!(parse("[]\n").unwrap_err().1, "the list of images is empty");
    }
}
