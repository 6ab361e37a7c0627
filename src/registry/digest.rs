//! The content digest of a manifest, validated once and carried as a type from then on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A `sha256:<64 lowercase hex>` digest. ECR and ECS accept only sha256 digests, so other
/// algorithms are rejected at the door rather than passed through to fail at deploy time.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest `{0}` does not start with `sha256:`")]
    Algorithm(String),
    #[error("digest `{value}` must have 64 hex characters after `sha256:`, found {found}")]
    Length { value: String, found: usize },
    #[error("digest `{0}` must use lowercase hex characters only")]
    Hex(String),
}

impl Digest {
    const PREFIX: &'static str = "sha256:";

    /// The digest of `bytes`, as a registry computes it for a manifest.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let hash = Sha256::digest(bytes);
        let mut text = String::with_capacity(Self::PREFIX.len() + 64);
        text.push_str(Self::PREFIX);
        for byte in hash {
            text.push_str(&format!("{byte:02x}"));
        }
        Digest(text)
    }

    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let Some(hex) = value.strip_prefix(Self::PREFIX) else {
            return Err(DigestError::Algorithm(value.to_owned()));
        };
        if hex.len() != 64 {
            return Err(DigestError::Length {
                value: value.to_owned(),
                found: hex.len(),
            });
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::Hex(value.to_owned()));
        }
        Ok(Digest(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex characters without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0[Self::PREFIX.len()..]
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_bytes_matches_sha256sum() {
        // `printf '' | sha256sum`
        assert_eq!(
            Digest::of_bytes(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_round_trips_and_rejects_bad_values() {
        let good = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(Digest::parse(&good).unwrap().to_string(), good);
        assert_eq!(Digest::parse(&good).unwrap().hex(), "ab".repeat(32));
        assert!(matches!(
            Digest::parse("sha512:abc"),
            Err(DigestError::Algorithm(_))
        ));
        assert!(matches!(
            Digest::parse("sha256:abc"),
            Err(DigestError::Length { found: 3, .. })
        ));
        let upper = format!("sha256:{}", "AB".repeat(32));
        assert!(matches!(Digest::parse(&upper), Err(DigestError::Hex(_))));
    }
}
