//! Everything that can go wrong between a context directory and a pushed, verified image.

use std::io;
use std::path::PathBuf;

use super::ignore::IgnoreError;
use crate::record::container_name::ContainerNameError;
use crate::registry::login_error::Detail;
use crate::registry::reference::ReferenceError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no repository given")]
    NoRepository,
    #[error("`--repository {value}`: {reason}")]
    Repository {
        value: String,
        reason: ReferenceError,
    },
    #[error("no tags: the image would be pushed under no name")]
    NoTags,
    #[error("`{tag}` is not a valid tag")]
    InvalidTag { tag: String },
    #[error("`--tag-from-commit`: no commit is known for `{}`", context.display())]
    NoCommit { context: PathBuf },
    #[error("`--tag-from-build-number`: `CODEBUILD_BUILD_NUMBER` is not set")]
    NoBuildNumber,
    #[error("`--build-arg {arg}` has an empty name")]
    BuildArg { arg: String },
    #[error("`--label {arg}` is not of the form KEY=VALUE")]
    Label { arg: String },
    #[error("{origin}: {reason}")]
    Container {
        origin: String,
        reason: ContainerNameError,
    },
    #[error("{origin} `{value}` is not of the form OS/ARCH[/VARIANT]")]
    PlatformSyntax { origin: String, value: String },
    #[error("repository `{repository}` does not exist in registry `{registry}`")]
    UnknownRepository {
        repository: String,
        registry: String,
    },
    #[error("cannot reach the Docker daemon at `{socket}`")]
    NoDaemon {
        socket: String,
        #[source]
        detail: Detail,
    },
    #[error("the Docker daemon at `{socket}` went away while {doing}")]
    DaemonLost {
        socket: String,
        /// `building `repo:tag``, `pushing …`.
        doing: String,
        /// What the build or push said, or how the watch on the daemon ended.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the Docker daemon failed to {action}")]
    Engine {
        action: String,
        #[source]
        detail: Detail,
    },
    #[error("cannot use `{}` as the build context", path.display())]
    ContextDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read `{}` in the build context", path.display())]
    ContextRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no Dockerfile at `{}`", path.display())]
    NoDockerfile { path: PathBuf },
    #[error("`{}` {reason}", path.display())]
    DockerIgnore { path: PathBuf, reason: IgnoreError },
    #[error("the build failed{}: {message}", step.as_ref().map(|s| format!(" at `{s}`")).unwrap_or_default())]
    Build {
        step: Option<String>,
        message: String,
    },
    #[error("the image was built for `{found}`, not `{expected}`")]
    Platform { expected: String, found: String },
    #[error("pushing `{reference}` failed: {message}")]
    Push {
        reference: String,
        message: String,
        /// No credentials were found for the registry.
        anonymous: bool,
        /// A reset, 5xx or throttling that retries did not cure.
        transient: bool,
    },
    #[error("the push of `{reference}` reported no digest")]
    NoDigest { reference: String },
    #[error(
        "the registry serves `{reference}` with digest `{actual}`, but the push reported `{expected}`"
    )]
    DigestMismatch {
        reference: String,
        expected: String,
        actual: String,
    },
    #[error(
        "`{reference}` is a manifest list or index (`{media_type}`), not a single-platform image"
    )]
    NotSingleManifest {
        reference: String,
        media_type: String,
    },
    #[error("cannot read the images file `{}`", path.display())]
    ImagesRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}`{}: {message}", path.display(), if *line > 0 { format!(", line {line}") } else { String::new() })]
    ImagesFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("`{}`: two images have the container name `{container}`", path.display())]
    DuplicateContainer { path: PathBuf, container: String },
    #[error("{failed} of {total} images failed: {names}")]
    ImagesFailed {
        failed: usize,
        total: usize,
        names: String,
        /// The exit code of the first failure.
        code: i32,
    },
    #[error(
        "tag `{tag}` already exists in the immutable repository `{repository}` and points at another image"
    )]
    ImmutableTag {
        repository: String,
        tag: String,
        existing: String,
    },
}

impl ImageError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ImageError::NoRepository => {
                "pass `--repository NAME` (an ECR repository in your default registry) or `HOST/NAME`, or set `IMAGE_REPO_NAME`".into()
            }
            ImageError::Repository { reason, .. } => reason.hint()?,
            ImageError::NoTags => "pass `--tag-from-commit`, `--tag TAG`, `--tag-from-build-number` or `--latest`".into(),
            ImageError::InvalidTag { .. } => {
                "tags are 1 to 128 letters, digits, `_`, `.` and `-`, and cannot start with `.` or `-`".into()
            }
            ImageError::NoCommit { .. } => {
                "CodeBuild sets `CODEBUILD_RESOLVED_SOURCE_VERSION` for Git sources; locally, build from a git checkout; cb-step never falls back to `latest`".into()
            }
            ImageError::NoBuildNumber => "CodeBuild sets it; locally, use `--tag` instead".into(),
            ImageError::Container { reason, .. } => reason.hint(),
            ImageError::UnknownRepository { repository, .. } => format!(
                "create it first: `aws ecr create-repository --repository-name {repository}`, or check `--repository` and the region"
            ),
            ImageError::NoDaemon { .. } => {
                "in CodeBuild, enable privileged mode for the project (Environment → Privileged) so Docker runs in the build container; locally, start dockerd or set `DOCKER_HOST`".into()
            }
            ImageError::DaemonLost { .. } => {
                "dockerd stopped or restarted (its log says why); nothing was recorded for this image, so run cb-step again once `docker info` answers".into()
            }
            ImageError::NoDockerfile { .. } => {
                "pass `--file PATH`, or give the context directory that holds it: `cb-step build-push DIR …`".into()
            }
            ImageError::DockerIgnore { .. } => {
                "patterns follow Docker's rules: https://docs.docker.com/build/concepts/context/#dockerignore-files".into()
            }
            ImageError::Build { .. } => {
                "the lines above show the build's output; run the failing step locally with `docker build` to debug it".into()
            }
            ImageError::Platform { .. } => {
                "the daemon could not build for that platform; on an ARM machine, install QEMU binfmt handlers, or build on an amd64 host".into()
            }
            ImageError::Push {
                transient: true, ..
            } => "the registry kept failing (resets, HTTP 5xx, throttling) through the retries; retry the build later".into(),
            ImageError::Push {
                anonymous: true, ..
            } => "cb-step found no credentials for this registry in the Docker config (`auths`, `credHelpers`, `credsStore`); log in with `docker login HOST` first".into(),
            ImageError::Push { .. } => {
                "check that the repository exists and that the credentials may push to it (`ecr:InitiateLayerUpload`, `ecr:PutImage`, …)".into()
            }
            ImageError::ImmutableTag { .. } => {
                "immutable tags cannot move: use a new tag (e.g. `--tag-from-commit`), or make the repository's tags mutable".into()
            }
            ImageError::ImagesFile { .. } => {
                "the file is a YAML list; each entry has `repository` and optionally `container`, `context`, `dockerfile`, `target`, `build-args` and `platform` (see `cb-step build-push --help`)".into()
            }
            ImageError::DuplicateContainer { .. } => {
                "the build record and imagedefinitions.json hold one image per container; give each entry its own `container:`".into()
            }
            ImageError::ImagesFailed { .. } => {
                "each failure was reported above, prefixed with its container name; the images that succeeded are in the build record".into()
            }
            ImageError::NotSingleManifest { .. } => {
                "cb-step pushes single-platform images; something else pushed an index under this tag".into()
            }
            _ => return None,
        })
    }

    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ImageError::NoRepository
                | ImageError::Repository { .. }
                | ImageError::NoTags
                | ImageError::InvalidTag { .. }
                | ImageError::BuildArg { .. }
                | ImageError::Label { .. }
                | ImageError::Container { .. }
                | ImageError::PlatformSyntax { .. }
        )
    }
}
