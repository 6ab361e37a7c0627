//! Everything that can go wrong between the inputs of `emit-imagedefs` and its files.

use std::io;
use std::path::PathBuf;

use crate::atomic::WriteError;
use crate::record::container_name::{ContainerName, ContainerNameError};
use crate::registry::reference::ReferenceError;

use super::taskdef::TemplateProblem;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("`--image {arg}` is not of the form NAME=URI")]
    ImageArgSyntax { arg: String },
    #[error("{origin}: {reason}")]
    ContainerName {
        origin: String,
        reason: ContainerNameError,
    },
    #[error("`--image {arg}`: {reason}")]
    Reference { arg: String, reason: ReferenceError },
    #[error("`--image {arg}`: the image URI has neither a tag nor a digest")]
    Unpinned { arg: String },
    #[error("container `{container}` is given twice: by {first} and by {second}")]
    Duplicate {
        container: ContainerName,
        first: String,
        second: String,
    },
    #[error("build record `{}` lists no images", path.display())]
    EmptyRecord { path: PathBuf },
    #[error("{origin} names container `{wanted}`, but the images are for: {}", available.join(", "))]
    UnknownContainer {
        origin: String,
        wanted: ContainerName,
        available: Vec<String>,
    },
    #[error("{output} needs exactly one image, but there are {}: {}", containers.len(), containers.join(", "))]
    Ambiguous {
        output: &'static str,
        containers: Vec<String>,
    },
    #[error("cannot pin container `{container}` by digest: {reason}")]
    NoDigest {
        container: ContainerName,
        reason: String,
        not_pushed: bool,
    },
    #[error("cannot pin container `{container}` by tag: `{uri}` has no tag")]
    NoTag {
        container: ContainerName,
        uri: String,
    },
    #[error(
        "imagedefinitions.json would be {bytes} bytes, over CodePipeline's limit of {limit} bytes"
    )]
    TooLarge { bytes: usize, limit: usize },
    #[error("`--hook {arg}`: {problem}")]
    Hook { arg: String, problem: String },
    #[error("network configuration needs {}; missing: {}", "`--subnet`, `--security-group` and `--assign-public-ip`", missing.join(", "))]
    NetworkIncomplete { missing: Vec<&'static str> },
    #[error("`--capacity-provider {arg}`: {problem}")]
    CapacityProvider { arg: String, problem: String },
    #[error("cannot read task definition template `{}`", path.display())]
    TemplateRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("task definition template `{}` is not valid JSON", path.display())]
    TemplateParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("task definition template `{}` {problem}", path.display())]
    Template {
        path: PathBuf,
        problem: TemplateProblem,
    },
    #[error("task definition template `{}` is also the output file", path.display())]
    TemplateIsOutput { path: PathBuf },
    #[error("cannot use `{}` as the output directory", path.display())]
    OutputDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl ManifestError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ManifestError::ImageArgSyntax { .. } => {
                "write `--image CONTAINER=URI`, e.g. `--image web=123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc1234`".into()
            }
            ManifestError::ContainerName { reason, .. } => reason.hint(),
            ManifestError::Reference { reason, .. } => reason.hint()?,
            ManifestError::Unpinned { .. } => {
                "add `:TAG` or `@sha256:…`; without one, ECS deploys whatever `latest` is at deploy time".into()
            }
            ManifestError::Duplicate { .. } => {
                "each container may appear once; drop one of them, or rename with `--container`".into()
            }
            ManifestError::EmptyRecord { .. } => {
                "run `cb-step build-push` before `emit-imagedefs`, or pass `--image NAME=URI`".into()
            }
            ManifestError::UnknownContainer { .. } => {
                "the name must match one of the images; `--container` renames only when the build record holds exactly one image".into()
            }
            ManifestError::Ambiguous { .. } => {
                "pick one with `--container NAME` (imagedefinitions.json then lists only it), or run emit-imagedefs once per container with its own `--output-dir`".into()
            }
            ManifestError::NoDigest {
                not_pushed: true, ..
            } => "push the image (build-push without `--no-push`), or pass `--pin tag` to deploy by tag".into(),
            ManifestError::NoDigest { .. } => {
                "give the URI as `repo@sha256:…`, or pass `--pin tag` to deploy by tag".into()
            }
            ManifestError::NoTag { .. } => "pass `--pin digest`, or give the URI with a `:TAG`".into(),
            ManifestError::TooLarge { .. } => {
                "split the containers across several deploy actions, each with its own `--output-dir`".into()
            }
            ManifestError::Hook { .. } => format!(
                "write `--hook NAME=FUNCTION` with NAME one of {}",
                super::appspec::Hook::ALL.map(|h| h.name()).join(", ")
            ),
            ManifestError::NetworkIncomplete { .. } => {
                "CodeDeploy takes all three or none; with none, the service keeps its current network settings".into()
            }
            ManifestError::CapacityProvider { .. } => {
                "write `--capacity-provider NAME[,base=N][,weight=N]`, e.g. `--capacity-provider FARGATE_SPOT,weight=2`".into()
            }
            ManifestError::TemplateRead { .. } | ManifestError::TemplateParse { .. } => {
                "`--taskdef` takes a task definition JSON file, e.g. the output of `aws ecs describe-task-definition --query taskDefinition`".into()
            }
            ManifestError::Template {
                problem: TemplateProblem::NoSuchContainer { .. },
                ..
            } => "the container must appear in `containerDefinitions` with the same `name`".into(),
            ManifestError::Template { .. } => {
                "a task definition is a JSON object with a `containerDefinitions` list, e.g. the output of `aws ecs describe-task-definition --query taskDefinition`".into()
            }
            ManifestError::TemplateIsOutput { .. } => {
                "keep the template under another name (e.g. `taskdef.template.json`) or pass `--output-dir`, so it is never overwritten".into()
            }
            ManifestError::OutputDir { .. } => {
                "`--output-dir` must be a directory you can write to, or a path where one can be created".into()
            }
            ManifestError::Write(_) => return None,
        })
    }

    /// Errors in the values given on the command line, as opposed to the files read.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ManifestError::ImageArgSyntax { .. }
                | ManifestError::ContainerName { .. }
                | ManifestError::Reference { .. }
                | ManifestError::Unpinned { .. }
                | ManifestError::Hook { .. }
                | ManifestError::NetworkIncomplete { .. }
                | ManifestError::CapacityProvider { .. }
        )
    }
}
