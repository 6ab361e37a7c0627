//! Findings about a buildspec, each pointing at a line and column, rendered with the line.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
    /// What CodeBuild itself says, for `YAML_FILE_ERROR Message: …` in `run`'s log.
    pub codebuild: Option<String>,
}

impl Diagnostic {
    pub fn error(line: usize, column: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            line,
            column,
            message: message.into(),
            hint: None,
            codebuild: None,
        }
    }

    pub fn warning(line: usize, column: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(line, column, message)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn codebuild(mut self, text: impl Into<String>) -> Self {
        self.codebuild = Some(text.into());
        self
    }

    /// ```text
    /// error: …
    ///  --> buildspec.yml:6:9
    ///   |
    /// 6 |       - echo "Hello: world"
    ///   |         ^
    /// hint: …
    /// ```
    pub fn render(&self, path: &str, source: &str) -> String {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{label}: {}\n", self.message);
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        let _ = writeln!(out, "{pad}--> {path}:{}:{}", self.line, self.column);
        if let Some(text) = yaml_lines(source).nth(self.line.saturating_sub(1)) {
            let caret_pad: String = text
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{number} | {text}");
            let _ = writeln!(out, "{pad} | {caret_pad}^");
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "hint: {hint}");
        }
        out
    }
}

/// The lines as YAML numbers them: a lone `\r` breaks a line too, which `str::lines` misses,
/// so a file with one would show the wrong line under a finding.
pub fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split("\r\n").flat_map(|part| part.split(['\n', '\r']))
}
