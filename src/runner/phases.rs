//! CodeBuild's phases and transitions (buildspec-semantics.md §2.3–2.5).
//!
//! - The first failing command skips the rest of its phase's `commands`; `finally` still runs,
//!   and a failing `finally` command skips the rest of `finally` (unconfirmed in CodeBuild;
//!   the same rule as `commands`).
//! - A failed INSTALL or PRE_BUILD skips the later phases and UPLOAD_ARTIFACTS (the phase
//!   diagram goes straight to FINALIZING; unconfirmed in text). A failed BUILD still runs
//!   POST_BUILD and UPLOAD_ARTIFACTS; a failed POST_BUILD still runs UPLOAD_ARTIFACTS.
//! - `on-failure: ABORT` stops the build there, UPLOAD_ARTIFACTS included. `CONTINUE` runs the
//!   next phase as if nothing failed, but the build still ends FAILED and
//!   `CODEBUILD_BUILD_SUCCEEDING` is 0 from then on (both unconfirmed; what the sources imply).
//! - `RETRY[-n][-regex]` runs the whole phase again (commands and finally), at most n more
//!   times (3 by default), while the failure matches the regex. The regex is matched against
//!   the failure message and the failed command's output (unconfirmed which CodeBuild uses).
//! - Phases absent from the buildspec are still entered and succeed, as CodeBuild logs them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regex_lite::Regex;

use super::environment::Environment;
use super::error::RunError;
use super::log;
use super::shell::Session;
use crate::buildspec::model::{Buildspec, Command, OnFailure, Phase, PhaseName};
use crate::process::{self, Ended, User};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Succeeded,
    Failed,
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Succeeded => "SUCCEEDED",
            State::Failed => "FAILED",
            State::Stopped => "STOPPED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PhaseReport {
    pub name: String,
    pub state: State,
    pub duration: Duration,
}

/// Where a command runs: on this machine, or in a container (`--image`).
pub trait Executor {
    fn run(
        &mut self,
        session: &Session,
        script: &Path,
        env: &BTreeMap<String, String>,
        user: Option<&User>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Ended, RunError>;
}

pub struct Host {
    pub source: PathBuf,
    /// The shell's absolute path, found once in the build's PATH. With a bare name and a
    /// changed environment, std falls back from posix_spawn to fork for every command.
    shell: Option<PathBuf>,
}

impl Host {
    pub fn new(source: PathBuf) -> Self {
        Host {
            source,
            shell: None,
        }
    }
}

fn find_in_path(program: &str, env: &BTreeMap<String, String>) -> PathBuf {
    if program.contains('/') {
        return PathBuf::from(program);
    }
    env.get("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

impl Executor for Host {
    fn run(
        &mut self,
        session: &Session,
        script: &Path,
        env: &BTreeMap<String, String>,
        user: Option<&User>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Ended, RunError> {
        let shell = self
            .shell
            .get_or_insert_with(|| find_in_path(&session.shell, env))
            .clone();
        process::run_script(&shell, script, &self.source, env, user, on_line).map_err(|source| {
            RunError::Spawn {
                shell: session.shell.clone(),
                source,
            }
        })
    }
}

/// Why a phase failed: the command, its status, and what it printed (for RETRY-regex).
struct Failure {
    message: String,
    output: Vec<String>,
}

pub struct Runner<'a> {
    pub buildspec: &'a Buildspec,
    pub env: &'a Environment,
    pub session: Session,
    pub executor: Box<dyn Executor + 'a>,
    pub users: BTreeMap<String, User>,
    pub succeeding: bool,
    pub reports: Vec<PhaseReport>,
}

/// What the build phases decided.
pub struct PhasesOutcome {
    pub failed: bool,
    /// UPLOAD_ARTIFACTS is still to run.
    pub upload: bool,
    pub signal: Option<i32>,
}

impl Runner<'_> {
    pub fn run_phases(&mut self) -> Result<PhasesOutcome, RunError> {
        let mut failed = false;
        for name in PhaseName::ALL {
            let phase = self.buildspec.phase(name).cloned().unwrap_or(Phase {
                name,
                run_as: None,
                on_failure: None,
                commands: Vec::new(),
                finally: Vec::new(),
            });
            let started = Instant::now();
            log::container(&format!("Entering phase {name}"));
            let result = self.run_phase(&phase)?;
            let state = match (&result, process::received_signal()) {
                (_, Some(_)) => State::Stopped,
                (Ok(()), None) => State::Succeeded,
                (Err(_), None) => State::Failed,
            };
            log::container(&format!("Phase complete: {name} State: {}", state.as_str()));
            match &result {
                Ok(()) => log::container("Phase context status code:  Message: "),
                Err(failure) => log::container(&format!(
                    "Phase context status code: COMMAND_EXECUTION_ERROR Message: {}",
                    failure.message
                )),
            }
            self.reports.push(PhaseReport {
                name: name.to_string(),
                state,
                duration: started.elapsed(),
            });
            if let Some(signal) = process::received_signal() {
                return Ok(PhasesOutcome {
                    failed: true,
                    upload: false,
                    signal: Some(signal),
                });
            }
            if result.is_err() {
                failed = true;
                self.succeeding = false;
                let go_on = match phase.on_failure {
                    Some(OnFailure::Abort) => false,
                    Some(OnFailure::Continue) => true,
                    _ => matches!(name, PhaseName::Build | PhaseName::PostBuild),
                };
                if !go_on {
                    return Ok(PhasesOutcome {
                        failed,
                        upload: false,
                        signal: None,
                    });
                }
            }
        }
        Ok(PhasesOutcome {
            failed,
            upload: true,
            signal: None,
        })
    }

    fn run_phase(&mut self, phase: &Phase) -> Result<Result<(), Failure>, RunError> {
        let user = phase
            .run_as
            .as_ref()
            .or(self.buildspec.run_as.as_ref())
            .and_then(|name| self.users.get(name).cloned());
        let (retries, pattern) = match &phase.on_failure {
            Some(OnFailure::Retry { count, pattern }) => (*count, pattern.as_deref()),
            _ => (0, None),
        };
        let mut attempt = 0;
        loop {
            let mut result = self.run_commands(&phase.commands, user.as_ref())?;
            if process::received_signal().is_none() {
                let finally = self.run_commands(&phase.finally, user.as_ref())?;
                if result.is_ok() {
                    result = finally;
                }
            }
            let Err(failure) = &result else {
                return Ok(result);
            };
            let matches = pattern.is_none_or(|p| {
                Regex::new(p).is_ok_and(|re| {
                    re.is_match(&failure.message) || failure.output.iter().any(|l| re.is_match(l))
                })
            });
            if attempt >= retries || !matches || process::received_signal().is_some() {
                return Ok(result);
            }
            attempt += 1;
            log::container(&format!(
                "Phase {} failed; retrying, attempt {attempt} of {retries}",
                phase.name
            ));
        }
    }

    fn run_commands(
        &mut self,
        commands: &[Command],
        user: Option<&User>,
    ) -> Result<Result<(), Failure>, RunError> {
        for command in commands {
            if process::received_signal().is_some() {
                break;
            }
            let shown = self.env.mask(&command.text);
            log::container(&format!("Running command {shown}"));
            let succeeding = if self.succeeding { "1" } else { "0" };
            let script = self.session.script(
                &command.text,
                &[("CODEBUILD_BUILD_SUCCEEDING", succeeding.to_owned())],
            )?;
            let mut vars = self.env.vars.clone();
            vars.insert("CODEBUILD_BUILD_SUCCEEDING".into(), succeeding.into());
            let env = self.env;
            let mut output = Vec::new();
            let ended = self
                .executor
                .run(&self.session, &script, &vars, user, &mut |line| {
                    let line = env.mask(line);
                    log::output(&line);
                    if output.len() == 200 {
                        output.remove(0);
                    }
                    output.push(line);
                })?;
            self.session.commit();
            log::output("");
            let reason = match ended {
                Ended::Exited(0) => continue,
                Ended::Exited(code) => format!("exit status {code}"),
                Ended::Signalled(signal) => format!("signal {signal}"),
            };
            log::container(&format!(
                "Command did not exit successfully {shown} {reason}"
            ));
            return Ok(Err(Failure {
                message: format!("Error while executing command: {shown}. Reason: {reason}"),
                output,
            }));
        }
        Ok(Ok(()))
    }
}
