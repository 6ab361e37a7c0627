//! Each build of a batch gets its own copy of the source, as each CodeBuild build downloads
//! its own: builds that run at once cannot see or overwrite each other's files. The copy is of
//! the working tree as it is, uncommitted changes and `.git` included, so git in the copy
//! answers as in the original (`CODEBUILD_RESOLVED_SOURCE_VERSION` is the same commit).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Copies the tree at `from` into `to`, which is created, leaving out the paths in `skip`.
/// Symlinks are copied as links; sockets and pipes are left out. Returns the failing path.
pub fn copy_tree(from: &Path, to: &Path, skip: &[PathBuf]) -> Result<(), (PathBuf, io::Error)> {
    let mut directories = Vec::new();
    let mut stack = vec![(from.to_owned(), to.to_owned())];
    while let Some((source, dest)) = stack.pop() {
        fs::create_dir_all(&dest).map_err(|e| (dest.clone(), e))?;
        let entries = fs::read_dir(&source).map_err(|e| (source.clone(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| (source.clone(), e))?;
            let path = entry.path();
            if skip.contains(&path) {
                continue;
            }
            let target = dest.join(entry.file_name());
            let kind = entry.file_type().map_err(|e| (path.clone(), e))?;
            if kind.is_dir() {
                stack.push((path, target));
            } else if kind.is_symlink() {
                let link = fs::read_link(&path).map_err(|e| (path.clone(), e))?;
                std::os::unix::fs::symlink(&link, &target).map_err(|e| (target.clone(), e))?;
            } else if kind.is_file() {
                fs::copy(&path, &target).map_err(|e| (path.clone(), e))?;
            }
        }
        directories.push((source, dest));
    }
    // Modes last, so that a read-only directory was still writable while it was filled.
    for (source, dest) in directories.into_iter().rev() {
        if let Ok(meta) = fs::metadata(&source) {
            fs::set_permissions(&dest, meta.permissions()).map_err(|e| (dest.clone(), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_links_and_modes_and_skips() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("src");
        fs::create_dir_all(from.join("a/b")).unwrap();
        fs::create_dir_all(from.join(".cb-step/batch")).unwrap();
        fs::write(from.join("a/b/file"), "x").unwrap();
        fs::write(from.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(from.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a/b/file", from.join("link")).unwrap();
        let to = dir.path().join("copy");
        copy_tree(&from, &to, &[from.join(".cb-step")]).unwrap();
        assert_eq!(fs::read_to_string(to.join("a/b/file")).unwrap(), "x");
        assert_eq!(
            fs::read_link(to.join("link")).unwrap(),
            Path::new("a/b/file")
        );
        let mode = fs::metadata(to.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(!to.join(".cb-step").exists());
    }
}
