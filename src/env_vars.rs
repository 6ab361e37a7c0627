//! Every environment variable cb-step reads, in one place.

/// The container name tutorials use; the default for `--container` on build-record images.
pub const CONTAINER_NAME: &str = "CONTAINER_NAME";
/// CodeBuild's source directory; the build record lives under it.
pub const CODEBUILD_SRC_DIR: &str = "CODEBUILD_SRC_DIR";
/// The commit CodeBuild checked out; `--tag-from-commit` and the revision label use it.
pub const CODEBUILD_RESOLVED_SOURCE_VERSION: &str = "CODEBUILD_RESOLVED_SOURCE_VERSION";
/// The source repository's URL; the `org.opencontainers.image.source` label.
pub const CODEBUILD_SOURCE_REPO_URL: &str = "CODEBUILD_SOURCE_REPO_URL";
/// `<project>:<uuid>`; recorded and labelled.
pub const CODEBUILD_BUILD_ID: &str = "CODEBUILD_BUILD_ID";
pub const CODEBUILD_BUILD_ARN: &str = "CODEBUILD_BUILD_ARN";
/// The project's build counter; `--tag-from-build-number`.
pub const CODEBUILD_BUILD_NUMBER: &str = "CODEBUILD_BUILD_NUMBER";
/// Seconds since the epoch for the `created` label, for reproducible images.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
/// The Docker daemon (read by bollard; named here for messages).
pub const DOCKER_HOST: &str = "DOCKER_HOST";
/// Image repository name, the default of `build-push --repository` (as in AWS's tutorials).
pub const IMAGE_REPO_NAME: &str = "IMAGE_REPO_NAME";
/// Log filter in tracing's `EnvFilter` syntax, e.g. `debug` or `cb_step=trace`; overrides -v/-q.
pub const CB_STEP_LOG: &str = "CB_STEP_LOG";
/// Path of the build record, instead of `<source dir>/.cb-step/build-record.json`.
pub const CB_STEP_RECORD: &str = "CB_STEP_RECORD";
/// The ECR API endpoint, when not AWS's (read by the AWS SDK; named here for messages).
pub const AWS_ENDPOINT_URL_ECR: &str = "AWS_ENDPOINT_URL_ECR";
/// Every AWS API endpoint, when not AWS's (read by the AWS SDK; named here for messages).
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// The Docker config directory (`config.json` inside), instead of `~/.docker`.
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
pub const HOME: &str = "HOME";
/// Any value turns colours off (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// A variable's value, treating an empty one as unset, as CodeBuild's own scripts do.
pub fn get(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
