//! What a user reads while a command runs: plain lines on stderr, silenced by `-q`.
//!
//! Diagnostics go through `tracing`; this is for output the user asked for, such as a build's
//! log, which would read badly with a level in front of every line.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn line(text: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}
