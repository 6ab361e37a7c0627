//! One build of a batch, run as a `cb-step run --batch-child` process of its own. A process
//! rather than a thread: a build's state (its shell session, the command's process group, the
//! signal it received) is per process, so builds that run at once stay apart, and a stopped
//! build stops exactly as a single `cb-step run` does.
//!
//! The child's settings (identifier, build number, variables) go to it as JSON on its stdin,
//! never on its command line, where `--env` values such as secrets would show in `ps`.

use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::process::Ended;
use crate::runner::error::RunError;

/// Which batch a build belongs to, and its place in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildOf {
    /// `CODEBUILD_BATCH_BUILD_IDENTIFIER`.
    pub identifier: String,
    /// The batch's project, so that `CODEBUILD_BUILD_ID` names it rather than the copy.
    pub project: String,
    pub build_number: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildSettings {
    pub of: ChildOf,
    /// The build's `env.variables`, then the batch's `--env-file` and `--env`: later win.
    pub env: Vec<(String, String)>,
}

impl ChildSettings {
    pub fn read(input: impl io::Read) -> Result<Self, RunError> {
        serde_json::from_reader(input).map_err(|source| RunError::ChildSettings { source })
    }
}

/// What to start.
pub struct Launch<'a> {
    pub exe: &'a Path,
    /// The build's own copy of the source.
    pub source: &'a Path,
    pub buildspec: &'a Path,
    pub artifacts: &'a Path,
    pub image: Option<&'a str>,
    pub settings: &'a ChildSettings,
}

/// How long a build has, after it was asked to stop, before its process group is killed. Its
/// own command gets 3 s after the signal (`process::GRACE`), so this is only for a build that
/// does not answer at all.
const GRACE: Duration = Duration::from_secs(10);

/// Runs the build to its end, its output lines prefixed with `[identifier] ` (stdout to
/// stdout, stderr to stderr). `stop` holds the signal to pass on (0: none); it is sent once.
pub fn run(launch: &Launch<'_>, stop: &AtomicI32) -> io::Result<Ended> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut command = Command::new(launch.exe);
    command
        .arg("run")
        .arg("--batch-child")
        .arg("--source")
        .arg(launch.source)
        .arg("--buildspec")
        .arg(launch.buildspec)
        .arg("--artifacts")
        .arg(launch.artifacts);
    if let Some(image) = launch.image {
        command.arg("--image").arg(image);
    }
    command
        .current_dir(launch.source)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn()?;
    if let Some(stdin) = child.stdin.take() {
        // A child that died at once has closed its stdin; its exit status says why.
        let _ = serde_json::to_writer(stdin, launch.settings);
    }
    let prefix = format!("[{}]", launch.settings.of.identifier);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let status = std::thread::scope(|scope| {
        if let Some(out) = stdout {
            scope.spawn(|| forward(out, &prefix, || Box::new(io::stdout().lock())));
        }
        if let Some(err) = stderr {
            scope.spawn(|| forward(err, &prefix, || Box::new(io::stderr().lock())));
        }
        // Polled, so that only this thread, which reaps the child, ever signals its pid.
        let mut asked: Option<Instant> = None;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok::<_, io::Error>(status);
            }
            let signal = stop.load(Ordering::SeqCst);
            let pid = i32::try_from(child.id()).unwrap_or(0);
            if signal != 0 && pid > 0 {
                match asked {
                    None => {
                        // SAFETY: kill(2) on our own, not yet reaped, child.
                        unsafe {
                            libc::kill(pid, signal);
                        }
                        asked = Some(Instant::now());
                    }
                    Some(at) if at.elapsed() >= GRACE => {
                        // SAFETY: as above; the child leads its own process group.
                        unsafe {
                            libc::kill(-pid, libc::SIGKILL);
                        }
                    }
                    Some(_) => {}
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exited(code),
        (None, Some(signal)) => Ended::Signalled(signal),
        (None, None) => Ended::Exited(1),
    })
}

/// Copies lines from `input` to the output `open` gives, each prefixed, one whole line at a
/// time so that builds running at once interleave by lines, never within one.
fn forward(input: impl io::Read, prefix: &str, open: impl Fn() -> Box<dyn Write>) {
    let mut reader = io::BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                let mut out = open();
                let _ = if text.is_empty() {
                    writeln!(out, "{prefix}")
                } else {
                    writeln!(out, "{prefix} {text}")
                };
                let _ = out.flush();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}
