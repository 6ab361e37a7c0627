//! `cb-step lint`: every check `run` makes before it runs anything, without running.

use std::path::Path;

use crate::buildspec::diagnostic::Severity;
use crate::buildspec::parse;
use crate::error::{Error, LintFailed};

pub fn execute(path: &Path) -> Result<(), Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::BuildspecRead {
        path: path.to_owned(),
        source,
    })?;
    let parsed = parse::parse(&text);
    let shown = path.display().to_string();
    for diagnostic in &parsed.diagnostics {
        print!("{}", diagnostic.render(&shown, &text));
    }
    let errors = parsed.errors().count();
    let warnings = parsed.diagnostics.len() - errors;
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    println!(
        "{shown}: {}, {}",
        count(errors, "error"),
        count(warnings, "warning")
    );
    if parsed
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error)
    {
        return Err(Error::Lint(LintFailed { errors }));
    }
    Ok(())
}
