//! The one place cb-step starts other programs: `git` for the commit of a checkout, Docker
//! credential helpers, and the commands of a buildspec. Nothing secret ever goes on a command
//! line.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `program args…` in `dir` and returns its trimmed stdout, or `None` when it cannot be
/// started or fails: callers treat a missing answer as "unknown", and say so.
///
/// For local queries (`git rev-parse`, `git remote get-url`), so the program gets only what
/// finds it and its configuration: never the AWS credentials or, under `cb-step run`, a
/// build's secrets, which it has no use for.
pub fn output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(std::env::vars_os().filter(|(name, _)| name.to_str().is_some_and(local_query_needs)))
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

/// `PATH` finds git's own programs, `HOME`/`XDG_CONFIG_HOME` its global configuration (where
/// `safe.directory` lives, as does `SUDO_UID`'s exception for it), and `GIT_*` is the user's.
fn local_query_needs(name: &str) -> bool {
    matches!(name, "PATH" | "HOME" | "XDG_CONFIG_HOME" | "SUDO_UID") || name.starts_with("GIT_")
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

/// The user a phase runs as (`run-as`), from /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

impl User {
    pub fn lookup(name: &str) -> Option<User> {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 7 && fields[0] == name).then(|| User {
                name: name.to_owned(),
                uid: fields[2].parse().unwrap_or(u32::MAX),
                gid: fields[3].parse().unwrap_or(u32::MAX),
                home: fields[5].to_owned(),
            })
        })
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signalled(i32),
}

/// The process group of the command now running, for the signal handler (0: none).
static CHILD_GROUP: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// The first SIGINT or SIGTERM cb-step received (0: none).
static RECEIVED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    use std::sync::atomic::Ordering;
    let _ = RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    let group = CHILD_GROUP.load(Ordering::SeqCst);
    if group > 0 {
        // SAFETY: kill(2) is async-signal-safe; a negative pid names the process group.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

/// Catches SIGINT and SIGTERM and forwards them to the running command's process group.
/// The command runs in a group of its own, so a terminal's Ctrl-C reaches cb-step alone and
/// is passed on from here; and when cb-step is PID 1 in a container, which the kernel
/// shields from signals it has no handler for, SIGTERM is still passed on.
pub fn forward_signals() {
    escalate_after_signal();
    catch_signals();
}

/// Catches SIGINT and SIGTERM: the first is noted (`received_signal`), and each is passed on
/// to the running command's group, if there is one. Alone, for commands that stop their own
/// work when told (`build-push`, through `stop_signal`), instead of dying with it half done.
pub fn catch_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only touches atomics and calls kill(2).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// The signal cb-step received, if any: the build stops after the running command.
pub fn received_signal() -> Option<i32> {
    match RECEIVED.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// Resolves to the first SIGINT or SIGTERM once `catch_signals` has caught one. It polls: a
/// signal handler may not wake a task, and 20 ms is nothing next to a build.
pub async fn stop_signal() -> i32 {
    loop {
        if let Some(signal) = received_signal() {
            return signal;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// How long a command's process group has to exit after a forwarded signal before SIGKILL.
/// Background jobs of a non-interactive shell ignore SIGINT (POSIX), and would otherwise
/// outlive Ctrl-C while holding the output pipe open.
const GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// One thread for the whole run: once a signal arrived, it gives the running command's group
/// `GRACE`, then kills it. A thread per command would cost every command a spawn and a join.
fn escalate_after_signal() {
    use std::sync::atomic::Ordering;
    std::thread::spawn(|| {
        let mut since: Option<std::time::Instant> = None;
        loop {
            if received_signal().is_some() {
                let since = *since.get_or_insert_with(std::time::Instant::now);
                let group = CHILD_GROUP.load(Ordering::SeqCst);
                if since.elapsed() >= GRACE && group > 0 {
                    // SAFETY: as in `forward`.
                    unsafe {
                        libc::kill(-group, libc::SIGKILL);
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    });
}

/// Runs `shell script` in `cwd` with exactly `env`, in a process group of its own, with stdin
/// closed and stdout and stderr merged into one pipe that `on_line` reads line by line as the
/// command writes.
pub fn run_script(
    shell: &Path,
    script: &Path,
    cwd: &Path,
    env: &std::collections::BTreeMap<String, String>,
    user: Option<&User>,
    on_line: &mut dyn FnMut(&str),
) -> std::io::Result<Ended> {
    use std::io::BufRead;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let (reader, writer) = std::io::pipe()?;
    let mut command = Command::new(shell);
    command
        .arg(script)
        .current_dir(cwd)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    if let Some(user) = user {
        command
            .uid(user.uid)
            .gid(user.gid)
            .env("HOME", &user.home)
            .env("USER", &user.name);
    }
    let mut child = command.spawn()?;
    // The parent's copies of the pipe's write end must close, or the reader never sees EOF.
    drop(command);
    let pid = i32::try_from(child.id()).unwrap_or(0);
    CHILD_GROUP.store(pid, std::sync::atomic::Ordering::SeqCst);
    if let Some(signal) = received_signal() {
        // SAFETY: as in `forward`.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
    let mut reader = std::io::BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                on_line(text.trim_end_matches(['\n', '\r']));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let status = child.wait();
    CHILD_GROUP.store(0, std::sync::atomic::Ordering::SeqCst);
    let status = status?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exited(code),
        (None, Some(signal)) => Ended::Signalled(signal),
        (None, None) => Ended::Exited(1),
    })
}
