//! Ctrl-C and SIGTERM stop the running command's whole process group, run nothing further, and
//! end `cb-step run` with 130 or 143.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BIN, Test};

fn wait_for(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn gone(pid: i32) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status.is_empty() || status.contains("State:\tZ") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn stopped_by(signal: i32, expected: i32) {
    let test = Test::new().file(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30 & echo $! > sleep.pid; wait\n      - touch after\n    finally:\n      - touch finally-ran\n  post_build:\n    commands:\n      - touch post-build-ran\n",
    );
    let mut child = Command::new(BIN)
        .arg("run")
        .current_dir(test.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&test.path().join("sleep.pid"));
    let sleeper: i32 = std::fs::read_to_string(test.path().join("sleep.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: plain kill(2) on the child we started.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap(), signal);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(expected));
    assert!(gone(sleeper), "the command's background process survived");
    for marker in ["after", "finally-ran", "post-build-ran"] {
        assert!(
            !test.path().join(marker).exists(),
            "{marker}: nothing runs after the signal"
        );
    }
}

#[test]
fn sigterm_stops_the_build_with_143() {
    stopped_by(libc::SIGTERM, 143);
}

#[test]
fn sigint_stops_the_build_with_130() {
    stopped_by(libc::SIGINT, 130);
}
