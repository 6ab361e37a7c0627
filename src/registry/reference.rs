//! Image references: `[registry/]repository[:tag][@sha256:<hex>]`.
//!
//! This follows the grammar of distribution's `reference` package (the one the Docker CLI uses)
//! but keeps the text exactly as written: an ECS image URI must stay `nginx:1.27`, not become
//! `docker.io/library/nginx:1.27`. The errors are tuned to how buildspecs go wrong: an empty
//! shell variable leaves `:abc1234` or `repo:` behind, and those get a message that says so.

use std::fmt;

use super::digest::{Digest, DigestError};

/// distribution's `NameTotalLengthMax`.
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `registry/repository` as written, without tag or digest.
    name: String,
    /// Byte length of the registry part of `name` (0 when there is none).
    registry_len: usize,
    tag: Option<String>,
    digest: Option<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("image reference is empty")]
    Empty,
    #[error("image reference `{0}` contains whitespace")]
    Whitespace(String),
    #[error("image reference `{0}` has an empty repository name")]
    EmptyName(String),
    #[error("image reference `{0}` has an empty tag after `:`")]
    EmptyTag(String),
    #[error("image reference `{reference}` has an invalid tag `{tag}`")]
    Tag { reference: String, tag: String },
    #[error("image reference `{reference}` has an invalid registry host `{host}`")]
    Registry { reference: String, host: String },
    #[error("image reference `{reference}` has an invalid repository path component `{component}`")]
    Component {
        reference: String,
        component: String,
    },
    #[error("image reference `{reference}`: repository names must be lowercase")]
    Uppercase { reference: String },
    #[error("image reference `{reference}` is longer than {NAME_MAX} characters before the tag")]
    TooLong { reference: String },
    #[error("image reference `{reference}`: {reason}")]
    Digest {
        reference: String,
        reason: DigestError,
    },
}

impl ReferenceError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ReferenceError::Empty | ReferenceError::EmptyName(_) => {
                "the variable that should hold the repository URI (e.g. `$REPOSITORY_URI`) is probably empty or unset".into()
            }
            ReferenceError::EmptyTag(_) => {
                "the variable that should hold the tag (e.g. `$IMAGE_TAG`) is probably empty or unset".into()
            }
            ReferenceError::Whitespace(_) => {
                "quote the value in the buildspec, and check for a stray newline in a variable".into()
            }
            ReferenceError::Tag { .. } => {
                "tags are 1 to 128 characters of letters, digits, `_`, `.` and `-`, and cannot start with `.` or `-`".into()
            }
            ReferenceError::Registry { .. } => {
                "the registry is a host name with an optional port, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`".into()
            }
            ReferenceError::Component { .. } | ReferenceError::Uppercase { .. } => {
                "repository path components use lowercase letters and digits, separated by `.`, `_`, `__` or `-`".into()
            }
            ReferenceError::TooLong { .. } => return None,
            ReferenceError::Digest { .. } => {
                "a digest is `sha256:` followed by 64 lowercase hex characters".into()
            }
        })
    }
}

impl ImageRef {
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(ReferenceError::Whitespace(text.to_owned()));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let digest = Digest::parse(digest).map_err(|reason| ReferenceError::Digest {
                    reference: text.to_owned(),
                    reason,
                })?;
                (rest, Some(digest))
            }
            None => (text, None),
        };
        // A `:` after the last `/` separates the tag; one before it belongs to a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::EmptyName(text.to_owned()));
        }
        if let Some(tag) = tag {
            if tag.is_empty() {
                return Err(ReferenceError::EmptyTag(text.to_owned()));
            }
            if !is_valid_tag(tag) {
                return Err(ReferenceError::Tag {
                    reference: text.to_owned(),
                    tag: tag.to_owned(),
                });
            }
        }
        if name.len() > NAME_MAX {
            return Err(ReferenceError::TooLong {
                reference: text.to_owned(),
            });
        }
        let registry_len = split_registry(name).map_or(0, str::len);
        if registry_len > 0 && !is_valid_host(&name[..registry_len]) {
            return Err(ReferenceError::Registry {
                reference: text.to_owned(),
                host: name[..registry_len].to_owned(),
            });
        }
        let path = &name[registry_len..].trim_start_matches('/');
        for component in path.split('/') {
            if component.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(ReferenceError::Uppercase {
                    reference: text.to_owned(),
                });
            }
            if !is_valid_component(component) {
                return Err(ReferenceError::Component {
                    reference: text.to_owned(),
                    component: component.to_owned(),
                });
            }
        }
        Ok(ImageRef {
            name: name.to_owned(),
            registry_len,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// `registry/repository`, as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn registry(&self) -> Option<&str> {
        (self.registry_len > 0).then(|| &self.name[..self.registry_len])
    }

    pub fn repository(&self) -> &str {
        self.name[self.registry_len..].trim_start_matches('/')
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `name@digest`: what runs is exactly what was pushed.
    pub fn pinned_by_digest(&self) -> Option<String> {
        self.digest.as_ref().map(|d| format!("{}@{d}", self.name))
    }

    /// `name:tag`.
    pub fn pinned_by_tag(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The registry part of a name, by Docker's rule: the first component names a registry when it
/// contains `.` or `:`, or is `localhost`.
fn split_registry(name: &str) -> Option<&str> {
    let (first, _) = name.split_once('/')?;
    (first.contains(['.', ':']) || first == "localhost").then_some(first)
}

fn is_valid_host(host: &str) -> bool {
    let (host, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => ("", after.strip_prefix(':')),
        }
    } else {
        match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if port.is_none() && host.is_empty() {
        return false;
    }
    host.is_empty()
        || host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_valid_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
pub fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TAG_MAX
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    #[test]
    fn parses_ecr_uri_with_tag() {
        let r = ImageRef::parse(&format!("{ECR}/my-service:abc1234")).unwrap();
        assert_eq!(r.registry(), Some(ECR));
        assert_eq!(r.repository(), "my-service");
        assert_eq!(r.tag(), Some("abc1234"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.to_string(), format!("{ECR}/my-service:abc1234"));
    }

    #[test]
    fn parses_tag_and_digest_and_pins() {
        let digest = format!("sha256:{}", "0".repeat(64));
        let r = ImageRef::parse(&format!("{ECR}/team/app:v1@{digest}")).unwrap();
        assert_eq!(r.repository(), "team/app");
        assert_eq!(
            r.pinned_by_digest().unwrap(),
            format!("{ECR}/team/app@{digest}")
        );
        assert_eq!(r.pinned_by_tag().unwrap(), format!("{ECR}/team/app:v1"));
    }

    #[test]
    fn registry_port_is_not_a_tag() {
        let r = ImageRef::parse("localhost:5000/demo").unwrap();
        assert_eq!(r.registry(), Some("localhost:5000"));
        assert_eq!(r.tag(), None);
        let r = ImageRef::parse("127.0.0.1:5050/demo:latest").unwrap();
        assert_eq!(r.registry(), Some("127.0.0.1:5050"));
        assert_eq!(r.tag(), Some("latest"));
        let r = ImageRef::parse("[::1]:5000/demo:1").unwrap();
        assert_eq!(r.registry(), Some("[::1]:5000"));
        assert_eq!(
            ImageRef::parse("[::1]/demo").unwrap().registry(),
            Some("[::1]")
        );
        assert!(ImageRef::parse("[::1/demo").is_err());
        assert!(ImageRef::parse("[::1]x/demo").is_err());
    }

    #[test]
    fn docker_hub_names_have_no_registry() {
        let r = ImageRef::parse("nginx:1.27").unwrap();
        assert_eq!(r.registry(), None);
        assert_eq!(r.repository(), "nginx");
        let r = ImageRef::parse("library/nginx").unwrap();
        assert_eq!(r.registry(), None);
        assert_eq!(r.repository(), "library/nginx");
    }

    #[test]
    fn empty_shell_variables_are_named() {
        assert_eq!(ImageRef::parse(""), Err(ReferenceError::Empty));
        assert!(matches!(
            ImageRef::parse(":abc1234"),
            Err(ReferenceError::EmptyName(_))
        ));
        assert!(matches!(
            ImageRef::parse(&format!("{ECR}/app:")),
            Err(ReferenceError::EmptyTag(_))
        ));
        assert!(matches!(
            ImageRef::parse(":"),
            Err(ReferenceError::EmptyName(_))
        ));
    }

    #[test]
    fn rejects_bad_values() {
        let bad = [
            "my service:1",
            "App:1",
            "app:-x",
            "app:.x",
            "a..b:1",
            "-app:1",
            "app-:1",
            "host:port/app:1",
            "bad_host.com/app:1",
            "app@sha256:123",
            &format!("app:{}", "t".repeat(129)),
        ];
        for value in bad {
            assert!(
                ImageRef::parse(value).is_err(),
                "{value} should be rejected"
            );
        }
    }

    #[test]
    fn accepts_separators_from_the_grammar() {
        for value in ["a.b/c_d/e__f/g---h:1", "a/b-c.d:T_1.0-rc"] {
            assert!(ImageRef::parse(value).is_ok(), "{value} should parse");
        }
        assert!(is_valid_tag(&"t".repeat(128)));
    }
}
