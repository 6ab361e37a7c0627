//! One build of a batch, run as a `cb-step run --batch-child` process of its own. A process
//! rather than a thread: a build's state (its shell session, the command's process group, the
//! signal it received) is per process, so builds that run at once stay apart, and a stopped
//! build stops exactly as a single `cb-step run` does.
//!
//! The child's settings (identifier, build number, variables) go to it on its stdin, never on
//! its command line, where `--env` values such as secrets would show in `ps`. They are
//! NUL-separated strings, which no environment variable can contain: a JSON reader over a pipe
//! would cost the static binary more than all of this module.

use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::process::Ended;
use crate::registry::secret::Redacted;
use crate::runner::error::RunError;

/// Which batch a build belongs to, and its place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildOf {
    /// `CODEBUILD_BATCH_BUILD_IDENTIFIER`.
    pub identifier: String,
    /// The batch's project, so that `CODEBUILD_BUILD_ID` names it rather than the copy.
    pub project: String,
    pub build_number: u64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct ChildSettings {
    pub of: ChildOf,
    /// The build's `env.variables`, then the batch's `--env-file` and `--env`: later win.
    pub env: Vec<(String, String)>,
}

/// The variables by name only: `--env` values may be secrets.
impl std::fmt::Debug for ChildSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSettings")
            .field("of", &self.of)
            .field("env", &Redacted::names(self.env.iter().map(|(k, _)| k)))
            .finish()
    }
}

impl ChildSettings {
    /// `identifier\0project\0number\0` then `name\0value\0` for each variable.
    pub fn encode(&self) -> Vec<u8> {
        let number = self.of.build_number.to_string();
        let mut fields = vec![
            self.of.identifier.as_str(),
            self.of.project.as_str(),
            number.as_str(),
        ];
        for (name, value) in &self.env {
            fields.push(name);
            fields.push(value);
        }
        let mut out = Vec::new();
        for field in fields {
            out.extend_from_slice(field.as_bytes());
            out.push(0);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, RunError> {
        let bad = |reason| RunError::ChildSettings { reason };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let mut fields: Vec<&str> = text.split('\0').collect();
        if fields.pop() != Some("") {
            return Err(bad("not NUL-terminated"));
        }
        if fields.len() < 3 || fields.len().is_multiple_of(2) {
            return Err(bad("the wrong number of fields"));
        }
        let of = ChildOf {
            identifier: fields[0].to_owned(),
            project: fields[1].to_owned(),
            build_number: fields[2].parse().map_err(|_| bad("a bad build number"))?,
        };
        let env = fields[3..]
            .chunks(2)
            .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
            .collect();
        Ok(ChildSettings { of, env })
    }

    pub fn read(mut input: impl io::Read) -> Result<Self, RunError> {
        let mut bytes = Vec::new();
        input
            .read_to_end(&mut bytes)
            .map_err(|_| RunError::ChildSettings {
                reason: "stdin cannot be read",
            })?;
        Self::decode(&bytes)
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
    if let Some(mut stdin) = child.stdin.take() {
        // A child that died at once has closed its stdin; its exit status says why.
        let _ = stdin.write_all(&launch.settings.encode());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_the_pipe() {
        let settings = ChildSettings {
            of: ChildOf {
                identifier: "build_1".into(),
                project: "app".into(),
                build_number: 42,
            },
            env: vec![
                ("MULTI".into(), "line\none = two".into()),
                ("EMPTY".into(), String::new()),
            ],
        };
        assert_eq!(ChildSettings::decode(&settings.encode()).unwrap(), settings);
        assert!(!format!("{settings:?}").contains("line"));
        assert!(ChildSettings::decode(b"a\0b\0").is_err());
        assert!(ChildSettings::decode(b"a\0b\0x\0").is_err());
    }
}
