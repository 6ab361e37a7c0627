//! The one place cb-step starts other programs. Today that is `git`, to learn the commit of a
//! local checkout; nothing secret ever goes on a command line.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `program args…` in `dir` and returns its trimmed stdout, or `None` when it cannot be
/// started or fails: callers treat a missing answer as "unknown", and say so.
pub fn output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Runs `program args…` with `input` on stdin and returns its stdout. For the Docker credential
/// helper protocol, where the secret comes back on stdout and never appears on a command line.
pub fn output_with_input(program: &str, args: &[&str], input: &str) -> Option<String> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    let output = child.wait_with_output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}
