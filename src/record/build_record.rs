//! The build record: what `build-push` built and pushed, for `emit-imagedefs` to read.
//!
//! It lives at `<source dir>/.cb-step/build-record.json`, one entry per container, sorted by
//! container name. Writers hold `<source dir>/.cb-step/build-record.lock` while they
//! read, change and atomically replace the file, so concurrent `build-push` runs (one per
//! service in a monorepo) each add their entry without losing another's.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::container_name::ContainerName;
use crate::atomic::{self, PendingFile, WriteError};
use crate::registry::digest::Digest;
use crate::registry::reference::{ImageRef, is_valid_tag};

pub const RECORD_DIR: &str = ".cb-step";
pub const RECORD_FILE: &str = "build-record.json";
const LOCK_FILE: &str = "build-record.lock";

/// The format version this build writes and the newest it reads.
pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub version: u32,
    pub images: Vec<RecordedImage>,
}

/// One built image. Unknown fields are ignored on read, so later versions can add fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedImage {
    /// The container's name in the ECS task definition.
    pub container: ContainerName,
    /// Registry host, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
    pub registry: String,
    /// Repository inside the registry, e.g. `my-service`.
    pub repository: String,
    /// Every tag applied; the first is the primary one (`--pin tag` uses it).
    pub tags: Vec<String>,
    /// The pushed manifest's digest, verified against the registry. Absent when not pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// `os/arch[/variant]`, e.g. `linux/amd64`.
    pub platform: String,
    pub pushed: bool,
    /// Not built by this run: the registry already had an image of the same content key, and
    /// this run only added its tags.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The full commit the image was built from, when known.
    #[serde(default)]
    pub commit: Option<String>,
    /// `CODEBUILD_BUILD_ID` of the build that made the image, when known.
    #[serde(default)]
    pub build_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no build record at `{}`", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read build record `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("build record `{}` is not valid", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("build record `{}` has format version {found}; this cb-step reads up to {RECORD_VERSION}", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("build record `{}`: container `{container}` {problem}", path.display())]
    Entry {
        path: PathBuf,
        container: ContainerName,
        problem: String,
    },
    #[error("build record `{}` lists container `{container}` twice", path.display())]
    Duplicate {
        path: PathBuf,
        container: ContainerName,
    },
    #[error("cannot lock build record `{}`", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl RecordError {
    pub fn hint(&self) -> Option<String> {
        match self {
            RecordError::Missing { .. } => Some(
                "run `cb-step build-push` first in this source directory, or pass the images with `--image NAME=URI`".into(),
            ),
            RecordError::Version { .. } => Some(
                "the record was written by a newer cb-step; use the same cb-step version for every step of the build".into(),
            ),
            RecordError::Parse { .. } | RecordError::Entry { .. } | RecordError::Duplicate { .. } => Some(
                "the record is written by `cb-step build-push`; delete `.cb-step/` and build again rather than editing it by hand".into(),
            ),
            _ => None,
        }
    }
}

impl BuildRecord {
    pub fn empty() -> Self {
        BuildRecord {
            version: RECORD_VERSION,
            images: Vec::new(),
        }
    }

    /// `<source_dir>/.cb-step/build-record.json`
    pub fn path_in(source_dir: &Path) -> PathBuf {
        source_dir.join(RECORD_DIR).join(RECORD_FILE)
    }

    pub fn read(path: &Path) -> Result<Self, RecordError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RecordError::Missing {
                    path: path.to_owned(),
                });
            }
            Err(source) => {
                return Err(RecordError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::from_json(path, &bytes)
    }

    /// A record from its JSON text, validated; `path` names it in errors.
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<Self, RecordError> {
        let record: BuildRecord =
            serde_json::from_slice(bytes).map_err(|source| RecordError::Parse {
                path: path.to_owned(),
                source,
            })?;
        record.validate(path)?;
        Ok(record)
    }

    fn validate(&self, path: &Path) -> Result<(), RecordError> {
        if self.version > RECORD_VERSION || self.version == 0 {
            return Err(RecordError::Version {
                path: path.to_owned(),
                found: self.version,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for image in &self.images {
            if !seen.insert(&image.container) {
                return Err(RecordError::Duplicate {
                    path: path.to_owned(),
                    container: image.container.clone(),
                });
            }
            if let Some(problem) = image.problem() {
                return Err(RecordError::Entry {
                    path: path.to_owned(),
                    container: image.container.clone(),
                    problem,
                });
            }
        }
        Ok(())
    }

    /// Adds or replaces `image` (by container name) under the record's lock, then writes the
    /// record atomically. A missing record starts empty.
    pub fn upsert(path: &Path, image: RecordedImage) -> Result<BuildRecord, RecordError> {
        Self::upsert_all(path, vec![image])
    }

    /// `upsert` of many images with one lock and one write.
    pub fn upsert_all(path: &Path, images: Vec<RecordedImage>) -> Result<BuildRecord, RecordError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let lock_err = |source| RecordError::Lock {
            path: path.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(lock_err)?;
        let lock = File::create(dir.join(LOCK_FILE)).map_err(lock_err)?;
        lock.lock().map_err(lock_err)?;
        let mut record = match Self::read(path) {
            Ok(record) => record,
            Err(RecordError::Missing { .. }) => Self::empty(),
            Err(e) => return Err(e),
        };
        record
            .images
            .retain(|i| !images.iter().any(|new| new.container == i.container));
        record.images.extend(images);
        record.images.sort_by(|a, b| a.container.cmp(&b.container));
        record.version = RECORD_VERSION;
        record.validate(path)?;
        let mut contents = serde_json::to_vec_pretty(&record).expect("a record always serializes");
        contents.push(b'\n');
        atomic::write_file(&PendingFile {
            path: path.to_owned(),
            contents,
            mode: None,
        })?;
        Ok(record)
    }
}

impl RecordedImage {
    /// `registry/repository`
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    fn problem(&self) -> Option<String> {
        if let Err(e) = ImageRef::parse(&self.name()) {
            return Some(format!("has an invalid image name: {e}"));
        }
        if self.registry.is_empty() || !self.name().contains('/') {
            return Some("has no registry".into());
        }
        if let Some(tag) = self.tags.iter().find(|t| !is_valid_tag(t)) {
            return Some(format!("has an invalid tag `{tag}`"));
        }
        if self.pushed && self.digest.is_none() {
            return Some("is marked pushed but has no digest".into());
        }
        if self.digest.is_none() && self.tags.is_empty() {
            return Some("has neither a tag nor a digest".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(container: &str, digest: Option<&str>) -> RecordedImage {
        RecordedImage {
            container: ContainerName::parse(container).unwrap(),
            registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
            repository: container.into(),
            tags: vec!["abc1234".into(), "latest".into()],
            digest: digest.map(|d| Digest::parse(d).unwrap()),
            platform: "linux/amd64".into(),
            pushed: digest.is_some(),
            reused: false,
            commit: Some("abc1234def".into()),
            build_id: None,
        }
    }

    #[test]
    fn upsert_creates_sorts_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = BuildRecord::path_in(dir.path());
        let digest = format!("sha256:{}", "1".repeat(64));
        BuildRecord::upsert(&path, image("web", Some(&digest))).unwrap();
        BuildRecord::upsert(&path, image("api", None)).unwrap();
        BuildRecord::upsert(&path, image("web", None)).unwrap();
        let record = BuildRecord::read(&path).unwrap();
        let names: Vec<_> = record.images.iter().map(|i| i.container.as_str()).collect();
        assert_eq!(names, ["api", "web"]);
        assert_eq!(record.images[1].digest, None);
    }

    #[test]
    fn concurrent_upserts_keep_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = BuildRecord::path_in(dir.path());
        std::thread::scope(|scope| {
            for i in 0..10 {
                let path = &path;
                scope.spawn(move || {
                    BuildRecord::upsert(path, image(&format!("svc-{i}"), None)).unwrap();
                });
            }
        });
        assert_eq!(BuildRecord::read(&path).unwrap().images.len(), 10);
    }

    #[test]
    fn read_rejects_inconsistent_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let mut bad = image("web", None);
        bad.pushed = true;
        let record = BuildRecord {
            version: 1,
            images: vec![bad],
        };
        fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        let err = BuildRecord::read(&path).unwrap_err();
        assert!(matches!(err, RecordError::Entry { .. }), "{err:?}");
        fs::write(&path, r#"{"version": 7, "images": []}"#).unwrap();
        assert!(matches!(
            BuildRecord::read(&path).unwrap_err(),
            RecordError::Version { found: 7, .. }
        ));
        assert!(matches!(
            BuildRecord::read(&dir.path().join("none.json")).unwrap_err(),
            RecordError::Missing { .. }
        ));
    }
}
