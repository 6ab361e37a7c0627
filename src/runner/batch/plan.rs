//! A batch and the run's settings → what each child build runs: its buildspec, its variables,
//! its image, and which builds it waits for.

use std::path::{Path, PathBuf};

use crate::buildspec::batch::{Batch, Build};

/// A child's buildspec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildBuildspec {
    /// Relative to the source directory: read from the build's own copy.
    InSource(PathBuf),
    /// The batch's own buildspec lives outside the source directory (`--buildspec`).
    Outside(PathBuf),
}

#[derive(Debug, Clone)]
pub struct ChildPlan {
    pub identifier: String,
    pub buildspec: ChildBuildspec,
    /// `env.variables` of the build, then `--env-file` and `--env`: later entries win.
    pub env: Vec<(String, String)>,
    /// Indices of the builds this one waits for.
    pub depend_on: Vec<usize>,
    pub ignore_failure: bool,
    pub image: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// `build-list`, `build-graph` or `build-matrix`.
    pub kind: &'static str,
    pub fast_fail: bool,
    pub children: Vec<ChildPlan>,
    /// What the batch asks for that a local run does not do.
    pub notes: Vec<String>,
}

/// `source` is absolute; `buildspec` is the batch's own; `env` comes from `--env-file` and
/// `--env`; `image` from `--image`.
pub fn plan(
    batch: &Batch,
    source: &Path,
    buildspec: &Path,
    env: &[(String, String)],
    image: Option<&str>,
) -> BatchPlan {
    let own = std::path::absolute(buildspec)
        .ok()
        .and_then(|path| path.canonicalize().ok())
        .and_then(|path| path.strip_prefix(source).ok().map(Path::to_owned))
        .map_or_else(
            || ChildBuildspec::Outside(buildspec.to_owned()),
            ChildBuildspec::InSource,
        );
    let builds = batch.builds();
    let position = |id: &str| builds.iter().position(|b| b.identifier == id);
    let children: Vec<ChildPlan> = builds
        .iter()
        .map(|build| ChildPlan {
            identifier: build.identifier.clone(),
            buildspec: build.buildspec.as_ref().map_or_else(
                || own.clone(),
                |path| ChildBuildspec::InSource(PathBuf::from(path)),
            ),
            env: build.env.variables.iter().chain(env).cloned().collect(),
            depend_on: build.depend_on.iter().filter_map(|d| position(d)).collect(),
            ignore_failure: build.ignore_failure,
            // A build's own image replaces `--image`, as it replaces the project's in CodeBuild.
            image: image.map(|image| build.env.image.clone().unwrap_or_else(|| image.to_owned())),
        })
        .collect();
    BatchPlan {
        kind: batch.kind.key(),
        fast_fail: batch.fast_fail,
        children,
        notes: notes(&builds, image.is_some()),
    }
}

fn notes(builds: &[Build], with_image: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let mut images: Vec<&str> = Vec::new();
    for image in builds.iter().filter_map(|b| b.env.image.as_deref()) {
        if !images.contains(&image) {
            images.push(image);
        }
    }
    if !with_image && !images.is_empty() {
        notes.push(format!(
            "env.image ({}) is used with --image only; without it, every build runs on this machine",
            images
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut hardware: Vec<&str> = builds.iter().flat_map(|b| b.env.hardware()).collect();
    hardware.sort_unstable();
    hardware.dedup();
    if !hardware.is_empty() {
        notes.push(format!(
            "env.{} choose CodeBuild's machines; locally they change nothing",
            hardware.join(", env.")
        ));
    }
    notes
}
