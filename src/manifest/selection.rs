//! Which images go into the files, under which container names, pinned how.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::error::ManifestError;
use super::resolved::ResolvedImage;
use crate::record::build_record::RecordedImage;
use crate::record::container_name::ContainerName;
use crate::registry::digest::Digest;
use crate::registry::reference::ImageRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Digest,
    Tag,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(String),
    Record(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(arg) => write!(f, "`--image {arg}`"),
            Origin::Record(path) => write!(f, "the build record `{}`", path.display()),
        }
    }
}

/// An image that may go into the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub container: ContainerName,
    pub origin: Origin,
    /// `registry/repository`
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
    pub pushed: bool,
}

impl Candidate {
    pub fn from_flag(arg: &str, container: ContainerName, image: &ImageRef) -> Self {
        Candidate {
            container,
            origin: Origin::Flag(arg.to_owned()),
            name: image.name().to_owned(),
            tag: image.tag().map(str::to_owned),
            digest: image.digest().cloned(),
            pushed: true,
        }
    }

    pub fn from_record(path: PathBuf, image: &RecordedImage) -> Self {
        Candidate {
            container: image.container.clone(),
            origin: Origin::Record(path),
            name: image.name(),
            tag: image.tags.first().cloned(),
            digest: image.digest.clone().filter(|_| image.pushed),
            pushed: image.pushed,
        }
    }

    fn uri(&self) -> String {
        let mut uri = self.name.clone();
        if let Some(tag) = &self.tag {
            uri = format!("{uri}:{tag}");
        }
        if let Some(digest) = &self.digest {
            uri = format!("{uri}@{digest}");
        }
        uri
    }
}

/// Where a `--container` choice came from: the flag applies to every image, the
/// `CONTAINER_NAME` variable only to images from the build record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerChoice {
    pub name: ContainerName,
    pub from_env: bool,
}

impl ContainerChoice {
    fn origin(&self) -> String {
        if self.from_env {
            "`CONTAINER_NAME`".into()
        } else {
            format!("`--container {}`", self.name)
        }
    }
}

/// Rejects duplicate containers, then applies the container choice: pick the image with that
/// name, or rename the build record's only image. The result is sorted by container name.
pub fn select(
    candidates: Vec<Candidate>,
    choice: Option<&ContainerChoice>,
) -> Result<Vec<Candidate>, ManifestError> {
    let mut by_name: BTreeMap<ContainerName, Candidate> = BTreeMap::new();
    for candidate in candidates {
        if let Some(first) = by_name.get(&candidate.container) {
            return Err(ManifestError::Duplicate {
                container: candidate.container.clone(),
                first: first.origin.to_string(),
                second: candidate.origin.to_string(),
            });
        }
        by_name.insert(candidate.container.clone(), candidate);
    }
    let Some(choice) = choice else {
        return Ok(by_name.into_values().collect());
    };
    let from_flags = by_name
        .values()
        .any(|c| matches!(c.origin, Origin::Flag(_)));
    if choice.from_env && from_flags {
        tracing::debug!("ignoring CONTAINER_NAME: images were given with --image");
        return Ok(by_name.into_values().collect());
    }
    if let Some(chosen) = by_name.remove(&choice.name) {
        return Ok(vec![chosen]);
    }
    let only_record_image = by_name.len() == 1
        && by_name
            .values()
            .all(|c| matches!(c.origin, Origin::Record(_)));
    if only_record_image {
        let mut chosen = by_name.into_values().next().expect("checked: one image");
        tracing::info!(
            "container `{}` from the build record is written as `{}`",
            chosen.container,
            choice.name
        );
        chosen.container = choice.name.clone();
        return Ok(vec![chosen]);
    }
    Err(ManifestError::UnknownContainer {
        origin: choice.origin(),
        wanted: choice.name.clone(),
        available: by_name.keys().map(ToString::to_string).collect(),
    })
}

/// The URI to deploy. Without `pin`, a known digest wins over the tag.
pub fn resolve(candidate: &Candidate, pin: Option<Pin>) -> Result<ResolvedImage, ManifestError> {
    let by_digest = || {
        candidate
            .digest
            .as_ref()
            .map(|d| format!("{}@{d}", candidate.name))
    };
    let by_tag = || {
        candidate
            .tag
            .as_ref()
            .map(|t| format!("{}:{t}", candidate.name))
    };
    let no_digest = || ManifestError::NoDigest {
        container: candidate.container.clone(),
        reason: if candidate.pushed {
            format!("`{}` has no digest", candidate.uri())
        } else {
            format!(
                "{} says `{}` was built but not pushed",
                candidate.origin,
                candidate.uri()
            )
        },
        not_pushed: !candidate.pushed,
    };
    let uri = match pin {
        Some(Pin::Digest) => by_digest().ok_or_else(no_digest)?,
        Some(Pin::Tag) => by_tag().ok_or_else(|| ManifestError::NoTag {
            container: candidate.container.clone(),
            uri: candidate.uri(),
        })?,
        None => match by_digest() {
            Some(uri) => uri,
            None => {
                if !candidate.pushed {
                    tracing::warn!(
                        "container `{}`: `{}` was not pushed; the deploy will fail unless the tag exists in the registry",
                        candidate.container,
                        candidate.uri()
                    );
                }
                by_tag().ok_or_else(no_digest)?
            }
        },
    };
    Ok(ResolvedImage {
        container: candidate.container.clone(),
        uri,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(container: &str, uri: &str) -> Candidate {
        let image = ImageRef::parse(uri).unwrap();
        Candidate::from_flag(
            &format!("{container}={uri}"),
            ContainerName::parse(container).unwrap(),
            &image,
        )
    }

    fn record(container: &str) -> Candidate {
        Candidate {
            container: ContainerName::parse(container).unwrap(),
            origin: Origin::Record("r.json".into()),
            name: format!("host.example/{container}"),
            tag: Some("abc1234".into()),
            digest: None,
            pushed: false,
        }
    }

    fn choice(name: &str, from_env: bool) -> ContainerChoice {
        ContainerChoice {
            name: ContainerName::parse(name).unwrap(),
            from_env,
        }
    }

    #[test]
    fn sorts_and_rejects_duplicates() {
        let out = select(vec![flag("b", "b:1"), flag("a", "a:1")], None).unwrap();
        assert_eq!(out[0].container.as_str(), "a");
        let err = select(vec![flag("a", "a:1"), flag("a", "b:1")], None).unwrap_err();
        assert!(matches!(err, ManifestError::Duplicate { .. }));
    }

    #[test]
    fn container_picks_or_renames_the_single_record_image() {
        let picked = select(vec![record("a"), record("b")], Some(&choice("b", false))).unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].name, "host.example/b");
        let renamed = select(vec![record("svc")], Some(&choice("web", true))).unwrap();
        assert_eq!(renamed[0].container.as_str(), "web");
        assert_eq!(renamed[0].name, "host.example/svc");
        let err = select(vec![record("a"), record("b")], Some(&choice("c", false))).unwrap_err();
        assert!(matches!(err, ManifestError::UnknownContainer { .. }));
        // A name given on --image is explicit: the flag never renames it.
        let err = select(vec![flag("a", "a:1")], Some(&choice("c", false))).unwrap_err();
        assert!(matches!(err, ManifestError::UnknownContainer { .. }));
        // CONTAINER_NAME does not apply to --image inputs at all.
        let kept = select(vec![flag("a", "a:1")], Some(&choice("c", true))).unwrap();
        assert_eq!(kept[0].container.as_str(), "a");
    }

    #[test]
    fn resolve_prefers_digest_and_never_falls_back_when_asked_for_it() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let both = flag("web", &format!("r.example/web:v1@{digest}"));
        assert_eq!(
            resolve(&both, None).unwrap().uri,
            format!("r.example/web@{digest}")
        );
        assert_eq!(
            resolve(&both, Some(Pin::Tag)).unwrap().uri,
            "r.example/web:v1"
        );
        let tag_only = flag("web", "r.example/web:v1");
        assert_eq!(resolve(&tag_only, None).unwrap().uri, "r.example/web:v1");
        assert!(matches!(
            resolve(&tag_only, Some(Pin::Digest)),
            Err(ManifestError::NoDigest {
                not_pushed: false,
                ..
            })
        ));
        assert!(matches!(
            resolve(&record("svc"), Some(Pin::Digest)),
            Err(ManifestError::NoDigest {
                not_pushed: true,
                ..
            })
        ));
    }
}
