//! The top-level error: one variant per stage, an exit code, hints, and how it is printed.

use std::error::Error as _;
use std::fmt::Write as _;

use crate::exit_code;
use crate::manifest::error::ManifestError;
use crate::record::build_record::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Record(RecordError::Write(_) | RecordError::Lock { .. }) => exit_code::OUTPUT,
            Error::Record(_) => exit_code::INPUT,
            Error::Manifest(ManifestError::Write(_) | ManifestError::OutputDir { .. }) => {
                exit_code::OUTPUT
            }
            Error::Manifest(e) if e.is_usage() => exit_code::USAGE,
            Error::Manifest(_) => exit_code::INPUT,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Record(e) => e.hint(),
            Error::Manifest(e) => e.hint(),
        }
    }

    /// `error: …`, one `caused by: …` line per underlying error, then `hint: …`.
    pub fn render(&self) -> String {
        let mut out = format!("error: {self}\n");
        let mut source = self.source();
        // `transparent` variants forward `source()` to the inner error's source.
        while let Some(cause) = source {
            let _ = writeln!(out, "  caused by: {cause}");
            source = cause.source();
        }
        if let Some(hint) = self.hint() {
            let _ = writeln!(out, "hint: {hint}");
        }
        out
    }
}
