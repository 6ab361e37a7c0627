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
    // Absolute: the builds run in their copies, not in this directory.
    let absolute = std::path::absolute(buildspec).unwrap_or_else(|_| buildspec.to_owned());
    let own = absolute
        .canonicalize()
        .ok()
        .and_then(|path| path.strip_prefix(source).ok().map(Path::to_owned))
        .map_or_else(
            || ChildBuildspec::Outside(absolute.clone()),
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
            "CodeBuild's machine settings (env.{}) change nothing locally",
            hardware.join(", env.")
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildspec::parse;

    fn batch(text: &str) -> Batch {
        let parsed = parse::parse(text);
        assert!(parsed.errors().next().is_none(), "{:?}", parsed.diagnostics);
        parsed.buildspec.unwrap().batch.unwrap()
    }

    const GRAPH: &str = "version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n      env:\n        image: img:a\n        compute-type: BUILD_GENERAL1_LARGE\n        variables:\n          X: from-task\n    - identifier: b\n      buildspec: ci/b.yml\n      depend-on: [a]\nphases:\n  build:\n    commands:\n      - true\n";

    #[test]
    fn variables_images_buildspecs_and_dependencies() {
        let source = Path::new("/src");
        let env = [("X".to_owned(), "from-cli".to_owned())];
        let plan = plan(
            &batch(GRAPH),
            source,
            Path::new("/elsewhere/buildspec.yml"),
            &env,
            Some("img:cli"),
        );
        let [a, b] = &plan.children[..] else {
            panic!("two builds")
        };
        // The task's variables come first, so that --env wins.
        assert_eq!(
            a.env,
            [
                ("X".to_owned(), "from-task".to_owned()),
                ("X".to_owned(), "from-cli".to_owned())
            ]
        );
        assert_eq!(a.image.as_deref(), Some("img:a"));
        assert_eq!(b.image.as_deref(), Some("img:cli"));
        assert_eq!(
            a.buildspec,
            ChildBuildspec::Outside(PathBuf::from("/elsewhere/buildspec.yml"))
        );
        assert_eq!(
            b.buildspec,
            ChildBuildspec::InSource(PathBuf::from("ci/b.yml"))
        );
        assert_eq!(b.depend_on, [0]);
        assert_eq!(plan.kind, "build-graph");
        assert_eq!(
            plan.notes,
            ["CodeBuild's machine settings (env.compute-type) change nothing locally"]
        );
    }

    #[test]
    fn without_image_a_build_image_is_only_noted() {
        let plan = plan(
            &batch(GRAPH),
            Path::new("/src"),
            Path::new("/src/buildspec.yml"),
            &[],
            None,
        );
        assert!(plan.children.iter().all(|c| c.image.is_none()));
        assert_eq!(
            plan.notes[0],
            "env.image (`img:a`) is used with --image only; without it, every build runs on this machine"
        );
    }
}
