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

tokio::task_local! {
    static PREFIX: String;
}

/// Runs `work` with every line it reports prefixed, e.g. `[web] `, so that the output of
/// images built side by side stays readable.
pub async fn prefixed<F: std::future::Future>(prefix: String, work: F) -> F::Output {
    PREFIX.scope(prefix, work).await
}

pub fn line(text: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        let mut out = std::io::stderr().lock();
        let _ = match PREFIX.try_with(Clone::clone) {
            Ok(prefix) => writeln!(out, "{prefix}{text}"),
            Err(_) => writeln!(out, "{text}"),
        };
    }
}
