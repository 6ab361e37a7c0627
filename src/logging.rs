//! Log output: tracing to stderr, plain text unless stderr is a terminal.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, fmt};

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
    // Other crates speak up only when asked: their warnings repeat what cb-step's own error
    // says, with raw HTTP responses attached.
    let others = if verbosity > 0 { "warn" } else { "error" };
    // A bare level applies to cb-step alone.
    let spec = match env_vars::get(env_vars::CB_STEP_LOG) {
        Some(spec) if spec.parse::<tracing::Level>().is_ok() || spec == "off" => {
            format!("cb_step={spec},{others}")
        }
        Some(spec) => spec,
        None => format!("cb_step={level},{others}"),
    };
    let filter: Targets = spec.parse().unwrap_or_else(|_| {
        eprintln!(
            "warning: ignoring invalid {}={spec:?}",
            env_vars::CB_STEP_LOG
        );
        format!("cb_step={level},{others}")
            .parse()
            .expect("a fixed directive parses")
    });
    // CodeBuild's log viewer shows escape codes as garbage, so colour only a real terminal.
    let ansi = std::io::stderr().is_terminal() && env_vars::get(env_vars::NO_COLOR).is_none();
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .with_filter(filter)
        .with_filter(filter_fn(|meta| {
            // Whatever CB_STEP_LOG says, other crates never log below info: the AWS SDK and
            // the HTTP stack put request and response details (tokens included) at debug and
            // trace, and a build log is no place for those.
            meta.target().starts_with("cb_step") || *meta.level() <= LevelFilter::INFO
        }));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
