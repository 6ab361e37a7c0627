//! The buildspecs a batch names for its builds: each must exist in the source directory and be
//! valid, which `lint` and `run` check before any build starts (CodeBuild would find out only
//! when that build reaches DOWNLOAD_SOURCE).

use std::path::{Path, PathBuf};

use super::batch::{Batch, BatchKind, Located};
use super::diagnostic::Diagnostic;
use super::parse;

/// A child's own buildspec, read and checked.
#[derive(Debug)]
pub struct ChildBuildspec {
    /// As the batch names it, relative to the source directory.
    pub shown: String,
    pub text: String,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Default)]
pub struct Checked {
    /// Findings about the batch's own buildspec (a named file that does not exist).
    pub top: Vec<Diagnostic>,
    /// Every other buildspec the batch names, once each, in the order first named.
    pub children: Vec<ChildBuildspec>,
}

impl Checked {
    pub fn errors(&self) -> usize {
        let errors = |d: &&Diagnostic| d.severity == super::diagnostic::Severity::Error;
        self.top.iter().filter(errors).count()
            + self
                .children
                .iter()
                .map(|c| c.diagnostics.iter().filter(errors).count())
                .sum::<usize>()
    }
}

/// `source` is the directory the paths are relative to; `top` is the batch's own buildspec,
/// which the caller has checked already.
pub fn check(batch: &Batch, source: &Path, top: &Path) -> Checked {
    let named: Vec<&Located<String>> = match &batch.kind {
        BatchKind::List(tasks) | BatchKind::Graph(tasks) => {
            tasks.iter().filter_map(|t| t.buildspec.as_ref()).collect()
        }
        BatchKind::Matrix(matrix) => matrix.buildspecs.iter().collect(),
        BatchKind::Fanout { .. } => Vec::new(),
    };
    let top = top.canonicalize().ok();
    let mut checked = Checked::default();
    let mut done: Vec<&str> = Vec::new();
    for path in named {
        let full: PathBuf = source.join(&path.value);
        if !full.is_file() {
            let shown_source = if source.as_os_str().is_empty() {
                "the current directory".to_owned()
            } else {
                format!("`{}`", source.display())
            };
            checked.top.push(
                Diagnostic::error(
                    path.at.0,
                    path.at.1,
                    format!("buildspec `{}` does not exist", path.value),
                )
                .hint(format!(
                    "a batch build's buildspec is relative to the source directory, here {shown_source}"
                ))
                .codebuild("YAML_FILE_ERROR Message: YAML file does not exist"),
            );
            continue;
        }
        if done.contains(&path.value.as_str()) || full.canonicalize().ok() == top {
            continue;
        }
        done.push(&path.value);
        let text = match std::fs::read_to_string(&full) {
            Ok(text) => text,
            Err(error) => {
                checked.top.push(Diagnostic::error(
                    path.at.0,
                    path.at.1,
                    format!("cannot read buildspec `{}`: {error}", path.value),
                ));
                continue;
            }
        };
        let parsed = parse::parse(&text);
        let mut diagnostics = parsed.diagnostics;
        if let Some(nested) = parsed.buildspec.as_ref().and_then(|b| b.batch.as_ref()) {
            diagnostics.push(
                Diagnostic::warning(
                    nested.at.0,
                    nested.at.1,
                    "`batch` in a batch build's buildspec is not run: batches do not nest",
                )
                .hint("this file runs as one build of the batch that names it"),
            );
            diagnostics.sort_by_key(|d| (d.line, d.column));
        }
        checked.children.push(ChildBuildspec {
            shown: path.value.clone(),
            text,
            diagnostics,
        });
    }
    checked
}
