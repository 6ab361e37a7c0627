//! Writing outputs so that readers never see half a file, and a failed run leaves the old files.
//!
//! Each file goes to a temporary sibling and is renamed over its target: a rename within one
//! directory is atomic on POSIX file systems. For a set of files, every temporary file is written
//! before the first rename, and the renames that already happened are undone if a later one fails.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// One file to write: its final path, contents, and (optionally) its permission bits.
#[derive(Debug)]
pub struct PendingFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub mode: Option<u32>,
}

/// The path that failed and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot write `{}`", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn staged(file: &PendingFile) -> Result<NamedTempFile, WriteError> {
    let fail = |source| WriteError {
        path: file.path.clone(),
        source,
    };
    let dir = file.path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    if let Some(mode) = file.mode {
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(mode)).map_err(fail)?;
    }
    temp.write_all(&file.contents).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    Ok(temp)
}

/// Writes one file atomically.
pub fn write_file(file: &PendingFile) -> Result<(), WriteError> {
    let temp = staged(file)?;
    temp.persist(&file.path).map_err(|e| WriteError {
        path: file.path.clone(),
        source: e.error,
    })?;
    Ok(())
}

/// Writes every file or none: on error, targets keep the contents they had before.
pub fn write_all_or_nothing(files: &[PendingFile]) -> Result<(), WriteError> {
    let staged = files.iter().map(staged).collect::<Result<Vec<_>, _>>()?;
    // Hard links keep the previous versions reachable until every rename has succeeded.
    let mut backups: Vec<(PathBuf, Option<tempfile::TempPath>)> = Vec::new();
    for file in files {
        let backup = match fs::symlink_metadata(&file.path) {
            Ok(_) => {
                let dir = file.path.parent().filter(|p| !p.as_os_str().is_empty());
                let reserved = tempfile::Builder::new()
                    .prefix(".cb-step-backup.")
                    .tempfile_in(dir.unwrap_or(Path::new(".")))
                    .map_err(|source| WriteError {
                        path: file.path.clone(),
                        source,
                    })?
                    .into_temp_path();
                fs::remove_file(&reserved)
                    .and_then(|()| fs::hard_link(&file.path, &reserved))
                    .map_err(|source| WriteError {
                        path: file.path.clone(),
                        source,
                    })?;
                Some(reserved)
            }
            Err(_) => None,
        };
        backups.push((file.path.clone(), backup));
    }
    for (done, temp) in staged.into_iter().enumerate() {
        if let Err(e) = temp.persist(&files[done].path) {
            for (path, backup) in backups.iter().take(done) {
                let _ = match backup {
                    Some(backup) => fs::rename(backup, path),
                    None => fs::remove_file(path),
                };
            }
            return Err(WriteError {
                path: files[done].path.clone(),
                source: e.error,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(path: PathBuf, contents: &str) -> PendingFile {
        PendingFile {
            path,
            contents: contents.as_bytes().to_vec(),
            mode: None,
        }
    }

    #[test]
    fn writes_all_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.json"), "old").unwrap();
        let files = [
            pending(dir.path().join("a.json"), "new a"),
            pending(dir.path().join("b.json"), "new b"),
        ];
        write_all_or_nothing(&files).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("a.json")).unwrap(),
            "new a"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("b.json")).unwrap(),
            "new b"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "left behind: {names:?}");
    }

    #[test]
    fn a_failed_rename_restores_the_earlier_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.json"), "old a").unwrap();
        // A directory in the way makes the second rename fail after the first succeeded.
        fs::create_dir(dir.path().join("b.json")).unwrap();
        fs::write(dir.path().join("b.json/keep"), "x").unwrap();
        let files = [
            pending(dir.path().join("a.json"), "new a"),
            pending(dir.path().join("b.json"), "new b"),
            pending(dir.path().join("c.json"), "new c"),
        ];
        let err = write_all_or_nothing(&files).unwrap_err();
        assert_eq!(err.path, dir.path().join("b.json"));
        assert_eq!(
            fs::read_to_string(dir.path().join("a.json")).unwrap(),
            "old a"
        );
        assert!(!dir.path().join("c.json").exists());
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.json", "b.json"]);
    }

    #[test]
    fn mode_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        write_file(&PendingFile {
            path: path.clone(),
            contents: b"{}".to_vec(),
            mode: Some(0o600),
        })
        .unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
