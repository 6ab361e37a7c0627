//! UPLOAD_ARTIFACTS, locally: the files a buildspec names, copied into the artifacts directory.
//!
//! Everything is copied into a staging directory beside the target and renamed into place at
//! the end, so the artifacts directory holds one whole build's artifacts or the previous ones.
//! A directory cb-step did not make is never replaced. Nothing is read from outside the
//! source directory: `..` and absolute paths are refused by the parser, and a symlink that
//! leads out is refused here.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::RunError;
use super::log;
use crate::buildspec::model::{ArtifactSet, Buildspec};
use crate::image::ignore::glob;

/// Marks a directory cb-step made, so a later run may replace it.
const MARKER: &str = ".cb-step-artifacts";

pub struct Staging {
    target: PathBuf,
    staging: tempfile::TempDir,
}

impl Staging {
    pub fn new(target: &Path) -> Result<Self, RunError> {
        if target.exists()
            && !target.join(MARKER).exists()
            && fs::read_dir(target).is_ok_and(|mut d| d.next().is_some())
        {
            return Err(RunError::ArtifactsNotOurs {
                path: target.to_owned(),
            });
        }
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let state = |source| RunError::State {
            path: parent.to_owned(),
            source,
        };
        fs::create_dir_all(parent).map_err(state)?;
        let staging = tempfile::Builder::new()
            .prefix(".cb-step-artifacts.")
            .tempdir_in(parent)
            .map_err(state)?;
        fs::write(staging.path().join(MARKER), "").map_err(state)?;
        Ok(Staging {
            target: target.to_owned(),
            staging,
        })
    }

    pub fn dir(&self) -> &Path {
        self.staging.path()
    }

    /// Replaces the artifacts directory with what was staged.
    pub fn finish(self) -> Result<(), RunError> {
        let state = |source| RunError::State {
            path: self.target.clone(),
            source,
        };
        if self.target.exists() {
            fs::remove_dir_all(&self.target).map_err(state)?;
        }
        let staged = self.staging.keep();
        fs::rename(&staged, &self.target).map_err(state)
    }
}

/// A batch's artifacts directory, made ready for its builds: each puts its own into
/// `<root>/<identifier>` (staged and renamed as a single build's). Whatever else an earlier
/// run left there (a single build's files, a build no longer in the batch) is removed, so the
/// directory shows this batch alone; as for a single build, only a directory cb-step made, or
/// an empty one, is touched.
pub fn prepare_batch(root: &Path, identifiers: &[&str]) -> Result<(), RunError> {
    if root.exists()
        && !root.join(MARKER).exists()
        && fs::read_dir(root).is_ok_and(|mut d| d.next().is_some())
    {
        return Err(RunError::ArtifactsNotOurs {
            path: root.to_owned(),
        });
    }
    let state = |path: &Path| {
        let path = path.to_owned();
        move |source| RunError::State { path, source }
    };
    fs::create_dir_all(root).map_err(state(root))?;
    fs::write(root.join(MARKER), "").map_err(state(root))?;
    for entry in fs::read_dir(root).map_err(state(root))?.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let keep =
            name == MARKER || (identifiers.contains(&name.as_str()) && path.join(MARKER).exists());
        if keep {
            continue;
        }
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(state(&path))?;
    }
    Ok(())
}

/// Copies the primary, secondary and report file sets. `Err` holds the CLIENT_ERROR message.
pub fn upload(buildspec: &Buildspec, source: &Path, dest: &Path) -> Result<usize, String> {
    let mut copied = 0;
    if let Some(artifacts) = &buildspec.artifacts {
        copied += copy_set(&artifacts.primary, source, dest)?;
        for (id, set) in &artifacts.secondary {
            copied += copy_set(set, source, &dest.join(id))?;
        }
        if let Some(name) = &artifacts.primary.name {
            log::container(&format!(
                "Artifact name `{name}` is used by CodeBuild's S3 upload; locally the files are in place"
            ));
        }
    }
    for (group, set) in &buildspec.reports {
        copied += copy_set(set, source, &dest.join("reports").join(group))?;
    }
    Ok(copied)
}

fn copy_set(set: &ArtifactSet, source: &Path, dest: &Path) -> Result<usize, String> {
    let root = source
        .canonicalize()
        .map_err(|e| format!("cannot read the source directory: {e}"))?;
    let bases = match &set.base_directory {
        None => vec![root.clone()],
        Some(base) => {
            log::container(&format!("Expanding base directory path: {base}"));
            let pattern = glob(base).ok_or_else(|| format!("invalid base directory `{base}`"))?;
            let mut dirs: Vec<PathBuf> = walk(&root, &root)
                .into_iter()
                .filter(|(rel, path)| path.is_dir() && pattern.is_match(rel))
                .map(|(_, path)| path)
                .collect();
            dirs.sort();
            if dirs.is_empty() {
                return Err("no matching base directory path found".into());
            }
            dirs
        }
    };
    log::container("Assembling file list");
    let excludes: Vec<_> = set.exclude_paths.iter().filter_map(|p| glob(p)).collect();
    let mut chosen: Vec<(PathBuf, String)> = Vec::new();
    for base in &bases {
        let files: Vec<(String, PathBuf)> = walk(base, &root)
            .into_iter()
            .filter(|(_, p)| !p.is_dir())
            .collect();
        for pattern in &set.files {
            log::container(&format!("Expanding {pattern}"));
            let Some(regex) = glob(pattern) else {
                log::container(&format!("Skipping invalid file path {pattern}"));
                continue;
            };
            let mut found = 0;
            for (rel, path) in &files {
                if regex.is_match(rel) && !excludes.iter().any(|e| e.is_match(rel)) {
                    found += 1;
                    if !chosen.iter().any(|(p, _)| p == path) {
                        chosen.push((path.clone(), rel.clone()));
                    }
                }
            }
            if found == 0 {
                log::container(&format!("Skipping invalid file path {pattern}"));
            }
        }
    }
    if chosen.is_empty() {
        return Err("no matching artifact paths found".into());
    }
    log::container(&format!("Found {} file(s)", chosen.len()));
    for (path, rel) in &chosen {
        let real = path
            .canonicalize()
            .map_err(|e| format!("cannot read `{rel}`: {e}"))?;
        if !real.starts_with(&root) {
            return Err(format!(
                "`{rel}` is a link that leads outside the source directory; refusing to copy it"
            ));
        }
        let name = if set.discard_paths {
            Path::new(rel)
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_default()
        } else {
            PathBuf::from(rel)
        };
        let to = dest.join(name);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        fs::copy(&real, &to).map_err(|e| format!("cannot copy `{rel}`: {e}"))?;
    }
    Ok(chosen.len())
}

/// Every path under `dir` as (path relative to `dir`, full path), sorted; symlinked
/// directories are not followed.
fn walk(dir: &Path, root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(rel) = path.strip_prefix(dir) else {
                continue;
            };
            let rel = rel.to_string_lossy().into_owned();
            // cb-step's own state and a half-staged artifacts directory are not build outputs.
            let ours = path
                .strip_prefix(root)
                .is_ok_and(|r| r.starts_with(crate::record::build_record::RECORD_DIR))
                || entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".cb-step-artifacts.");
            if ours {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            out.push((rel, path));
        }
    }
    out.sort();
    out
}
