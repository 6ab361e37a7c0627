//! Log output: tracing to stderr, plain text unless stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::env_vars;

/// `verbosity` is -v count minus -q count; 0 is `info`.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // A bare level applies to cb-step alone: the AWS SDK and HTTP stacks log request and
    // response details at debug and trace, and those are not for a build log.
    let spec = match env_vars::get(env_vars::CB_STEP_LOG) {
        Some(spec) if spec.parse::<tracing::Level>().is_ok() || spec == "off" => {
            format!("cb_step={spec},warn")
        }
        Some(spec) => spec,
        None => format!("cb_step={level},warn"),
    };
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| {
        eprintln!(
            "warning: ignoring invalid {}={spec:?}",
            env_vars::CB_STEP_LOG
        );
        EnvFilter::new(format!("cb_step={level},warn"))
    });
    // CodeBuild's log viewer shows escape codes as garbage, so colour only a real terminal.
    let ansi = std::io::stderr().is_terminal() && env_vars::get(env_vars::NO_COLOR).is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .try_init();
}
