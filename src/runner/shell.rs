//! The shell that runs a build's commands, as CodeBuild runs them.
//!
//! CodeBuild writes each command to a script and runs it with the buildspec's shell, keeping
//! the environment in a file between commands (semantics §2.1: `script.sh`, `env.sh`). For
//! version 0.2 cb-step does the same: each wrapper sources the saved environment and working
//! directory, runs the command with `set -a` (so plain `VAR=value` assignments persist, as the
//! tutorials' `IMAGE_TAG=…` in pre_build and `$IMAGE_TAG` in post_build need), and saves both
//! back on exit, whatever the command's status. Shell functions, aliases and `set -o` options
//! do not persist; CodeBuild's behaviour there is unconfirmed, and this is what its mechanism
//! implies. Version 0.1 runs each command in a fresh shell from the build's environment.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::RunError;
use crate::buildspec::model::Version;

pub struct Session {
    state: tempfile::TempDir,
    /// The state directory as the commands see it (another path inside a container).
    visible: String,
    pub shell: String,
    version: Version,
    scripts: usize,
}

impl Session {
    pub fn new(
        shell: Option<&str>,
        version: Version,
        visible: Option<&str>,
    ) -> Result<Self, RunError> {
        let state = tempfile::Builder::new()
            .prefix("cb-step-run.")
            .tempdir()
            .map_err(|source| RunError::State {
                path: std::env::temp_dir(),
                source,
            })?;
        Ok(Session {
            visible: visible.map_or_else(
                || state.path().to_string_lossy().into_owned(),
                str::to_owned,
            ),
            state,
            shell: shell.unwrap_or("sh").to_owned(),
            version,
            scripts: 0,
        })
    }

    pub fn dir(&self) -> &Path {
        self.state.path()
    }

    /// Lets another user (`run-as`) read the scripts and saved environment.
    pub fn share(&self) -> Result<(), RunError> {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(self.dir(), fs::Permissions::from_mode(0o777)).map_err(|source| {
            RunError::State {
                path: self.dir().to_owned(),
                source,
            }
        })
    }

    /// Writes the wrapper for `command`, with `overrides` exported after the saved environment
    /// is restored (cb-step's own variables, such as `CODEBUILD_BUILD_SUCCEEDING`).
    pub fn script(
        &mut self,
        command: &str,
        overrides: &[(&str, String)],
    ) -> Result<PathBuf, RunError> {
        self.scripts += 1;
        let path = self.dir().join(format!("script-{}.sh", self.scripts));
        let state = shell_quote(&self.visible);
        let mut text = String::from("# cb-step: one buildspec command\n");
        if self.version == Version::V02 {
            text.push_str(&format!(
                "__cb_state={state}\n\
                 if [ -f \"$__cb_state/env.sh\" ]; then . \"$__cb_state/env.sh\" 2>/dev/null; fi\n\
                 if [ -f \"$__cb_state/dir\" ]; then IFS= read -r __cb_dir < \"$__cb_state/dir\"; cd \"$__cb_dir\" 2>/dev/null; fi\n"
            ));
        }
        for (name, value) in overrides {
            text.push_str(&format!("export {name}={}\n", shell_quote(value)));
        }
        if self.version == Version::V02 {
            // Positional parameters carry the status, so no variable of ours is saved with
            // the user's.
            text.push_str(
                "trap 'set -- $?; set +a; export -p > \"$__cb_state/env.next\" 2>/dev/null; \
                 pwd > \"$__cb_state/dir.next\" 2>/dev/null; exit $1' EXIT\n\
                 set -a\n",
            );
        }
        text.push_str(command);
        text.push('\n');
        fs::write(&path, text).map_err(|source| RunError::State {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Adopts what the last command saved. A command killed before its trap ran saved nothing,
    /// and the state before it stays.
    pub fn commit(&self) {
        for (next, current) in [("env.next", "env.sh"), ("dir.next", "dir")] {
            let next = self.dir().join(next);
            if next.exists() {
                let _ = fs::rename(&next, self.dir().join(current));
            }
        }
    }

    /// A script that prints `NAME=value` lines for `names` from the saved environment.
    pub fn export_script(&mut self, names: &[String]) -> Result<PathBuf, RunError> {
        let mut command = String::new();
        for name in names {
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                command.push_str(&format!("printf '%s=%s\\n' {name} \"${{{name}}}\"\n"));
            }
        }
        self.script(&command, &[])
    }
}

/// `'…'`, with single quotes written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}
