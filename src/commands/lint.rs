//! `cb-step lint`: every check `run` makes before it runs anything, without running.
//!
//! The buildspecs a `batch` names are checked too, relative to the source directory
//! (`$CODEBUILD_SRC_DIR`, else the current directory), each under its own name.

use std::path::Path;

use crate::buildspec::children::{self, Checked};
use crate::buildspec::diagnostic::{Diagnostic, Severity};
use crate::buildspec::parse;
use crate::error::{Error, LintFailed};

pub fn execute(path: &Path) -> Result<(), Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::BuildspecRead {
        path: path.to_owned(),
        source,
    })?;
    let parsed = parse::parse(&text);
    let checked = parsed
        .buildspec
        .as_ref()
        .and_then(|b| b.batch.as_ref())
        .map(|batch| children::check(batch, &crate::config::source_dir(), path))
        .unwrap_or_default();
    let shown = path.display().to_string();
    let mut top: Vec<&Diagnostic> = parsed.diagnostics.iter().chain(&checked.top).collect();
    top.sort_by_key(|d| (d.line, d.column));
    for diagnostic in &top {
        print!("{}", diagnostic.render(&shown, &text));
    }
    for child in &checked.children {
        for diagnostic in &child.diagnostics {
            print!("{}", diagnostic.render(&child.shown, &child.text));
        }
        counts(&child.shown, child.diagnostics.iter());
    }
    counts(&shown, top.into_iter());
    let errors = parsed.errors().count() + Checked::errors(&checked);
    if errors > 0 {
        return Err(Error::Lint(LintFailed { errors }));
    }
    Ok(())
}

/// `buildspec.yml: 1 error, 2 warnings`
fn counts<'a>(shown: &str, diagnostics: impl Iterator<Item = &'a Diagnostic>) {
    let (errors, warnings) = diagnostics.fold((0, 0), |(e, w), d| match d.severity {
        Severity::Error => (e + 1, w),
        Severity::Warning => (e, w + 1),
    });
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    println!(
        "{shown}: {}, {}",
        count(errors, "error"),
        count(warnings, "warning")
    );
}
