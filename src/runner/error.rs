//! What stops a build before or outside its commands. A failing command is not an error: it
//! is a phase outcome, and the build's status says so.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("`{name}` comes from {kind} (`{reference}`), but no value was given")]
    MissingSecret {
        name: String,
        kind: &'static str,
        reference: String,
    },
    #[error("`--env {arg}` is not of the form NAME=VALUE")]
    EnvArg { arg: String },
    #[error("`{}` line {line}: `{text}` is not of the form NAME=VALUE", path.display())]
    EnvFile {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot use `{}` as the source directory", path.display())]
    Source {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`run-as: {user}`: no such user on this machine")]
    NoSuchUser { user: String },
    #[error("cannot start `{shell}`")]
    Spawn {
        shell: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot prepare `{}`", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot run the build in a container of `{image}`")]
    Container {
        image: String,
        #[source]
        detail: crate::registry::login_error::Detail,
    },
    #[error("`--artifacts {}` holds files cb-step did not put there", path.display())]
    ArtifactsNotOurs { path: PathBuf },
    #[error("cannot read a batch build's settings from stdin: {reason}")]
    ChildSettings { reason: &'static str },
    #[error("`build-fanout` is not run by `cb-step run`")]
    FanoutUnsupported,
}

impl RunError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RunError::MissingSecret { name, .. } => format!(
                "locally, pass the value with `--env {name}=…` or in an `--env-file`; it is masked as *** in the output"
            ),
            RunError::EnvArg { .. } | RunError::EnvFile { .. } => {
                "write NAME=VALUE; in an env file, one per line, `#` for comments".into()
            }
            RunError::NoSuchUser { .. } => {
                "create the user, remove `run-as`, or run in the build image with `--image`".into()
            }
            RunError::Container { .. } => {
                "the image must be available locally (`docker pull IMAGE` or `docker build`), with `sh`, and the Docker daemon must answer".into()
            }
            RunError::ChildSettings { .. } => {
                "`--batch-child` is how `cb-step run` starts the builds of a batch; run the batch's buildspec instead".into()
            }
            RunError::FanoutUnsupported => {
                "fan-out shards tests with CodeBuild's `codebuild-tests-run`, which has no local equivalent; run the buildspec as one build with `cb-step run --no-batch`".into()
            }
            RunError::ArtifactsNotOurs { .. } => {
                "cb-step never deletes files it did not write: pass an empty or new directory"
                    .into()
            }
            _ => return None,
        })
    }
}
