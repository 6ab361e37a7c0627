//! The top-level error: one variant per stage, an exit code, hints, and how it is printed.

use std::error::Error as _;
use std::fmt::Write as _;

use crate::docker_config::DockerConfigError;
use crate::exit_code;
use crate::image::error::ImageError;
use crate::manifest::error::ManifestError;
use crate::record::build_record::RecordError;
use crate::registry::client::RegistryError;
use crate::registry::login_error::LoginError;

/// `lint` found errors; they were printed already.
#[derive(Debug, thiserror::Error)]
#[error("the buildspec has {errors} error{}", if *errors == 1 { "" } else { "s" })]
pub struct LintFailed {
    pub errors: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read buildspec `{}`", path.display())]
    BuildspecRead {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lint(LintFailed),
    /// `run`: the log has said what happened; this carries the exit code.
    #[error("the build did not succeed")]
    BuildFailed(i32),
    #[error(transparent)]
    Run(#[from] crate::runner::error::RunError),
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    DockerConfig(#[from] DockerConfigError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// `build-push`: SIGINT or SIGTERM; the work in hand was dropped, and the daemon with it.
    #[error(
        "stopped by {}: the daemon's build or push was cancelled, and nothing was recorded",
        crate::process::signal_name(*signal)
    )]
    Stopped { signal: i32 },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::BuildspecRead { .. } | Error::Lint(_) => exit_code::INPUT,
            Error::BuildFailed(code) => *code,
            Error::Run(
                crate::runner::error::RunError::EnvArg { .. }
                | crate::runner::error::RunError::EnvFile { .. },
            ) => exit_code::USAGE,
            Error::Run(_) => exit_code::INPUT,
            Error::Login(e) if e.is_usage() => exit_code::USAGE,
            Error::Login(e) if e.is_unreachable() => exit_code::UNREACHABLE,
            Error::Login(LoginError::Api { .. } | LoginError::MalformedToken { .. }) => {
                exit_code::FAILURE
            }
            Error::Login(_) => exit_code::CREDENTIALS,
            Error::DockerConfig(e) if e.is_output() => exit_code::OUTPUT,
            Error::DockerConfig(_) => exit_code::INPUT,
            Error::Runtime(_) => exit_code::FAILURE,
            Error::Image(e) if e.is_usage() => exit_code::USAGE,
            Error::Image(ImageError::ImagesFailed { code, .. }) => *code,
            Error::Image(
                ImageError::NoCommit { .. }
                | ImageError::NoBuildNumber
                | ImageError::NoDockerfile { .. }
                | ImageError::ContextDir { .. }
                | ImageError::ContextRead { .. }
                | ImageError::DockerIgnore { .. }
                | ImageError::ImagesRead { .. }
                | ImageError::ImagesFile { .. }
                | ImageError::DuplicateContainer { .. }
                | ImageError::UnknownRepository { .. },
            ) => exit_code::INPUT,
            Error::Image(
                ImageError::NoDaemon { .. }
                | ImageError::DaemonLost { .. }
                | ImageError::Engine { .. },
            ) => exit_code::DAEMON,
            Error::Image(ImageError::Build { .. } | ImageError::Platform { .. }) => {
                exit_code::BUILD
            }
            Error::Image(_) | Error::Registry(_) => exit_code::PUSH,
            Error::Record(RecordError::Write(_) | RecordError::Lock { .. }) => exit_code::OUTPUT,
            Error::Record(_) => exit_code::INPUT,
            Error::Manifest(ManifestError::Write(_) | ManifestError::OutputDir { .. }) => {
                exit_code::OUTPUT
            }
            Error::Manifest(e) if e.is_usage() => exit_code::USAGE,
            Error::Manifest(_) => exit_code::INPUT,
            Error::Stopped { signal } => exit_code::stopped_by(*signal),
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::BuildspecRead { .. } => {
                Some("pass the buildspec's path, or run from the source directory that holds buildspec.yml".into())
            }
            Error::Lint(_) | Error::BuildFailed(_) | Error::Stopped { .. } => None,
            Error::Run(e) => e.hint(),
            Error::Login(e) => e.hint(),
            Error::DockerConfig(e) => e.hint(),
            Error::Runtime(_) => None,
            Error::Image(e) => e.hint(),
            Error::Registry(e) => e.hint(),
            Error::Record(e) => e.hint(),
            Error::Manifest(e) => e.hint(),
        }
    }

    /// `error: …`, one `caused by: …` line per underlying error, then `hint: …`.
    pub fn render(&self) -> String {
        if let Error::Lint(_) | Error::BuildFailed(_) = self {
            // `lint` has printed its findings and their count already.
            return String::new();
        }
        let mut out = format!("error: {self}\n");
        let mut source = self.source();
        // `transparent` variants forward `source()` to the inner error's source.
        while let Some(cause) = source {
            let _ = writeln!(out, "  caused by: {cause}");
            source = cause.source();
        }
        if let Some(hint) = self.hint() {
            let _ = writeln!(out, "hint: {hint}");
        }
        out
    }
}
