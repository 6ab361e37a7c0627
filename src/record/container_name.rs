//! ECS container names: the key that ties an image to a container in the task definition.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// ECS's rule for `ContainerDefinition.name`: 1 to 255 letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerNameError {
    #[error("container name is empty")]
    Empty,
    #[error("container name `{0}` is longer than 255 characters")]
    TooLong(String),
    #[error("container name `{name}` contains `{bad}`")]
    Character { name: String, bad: char },
}

impl ContainerNameError {
    pub fn hint(&self) -> String {
        match self {
            ContainerNameError::Empty => {
                "the variable that should hold it (e.g. `$CONTAINER_NAME`) is probably empty or unset; it must equal the container's `name` in the task definition".into()
            }
            _ => "ECS container names are 1 to 255 letters, digits, `_` and `-`; use the container's `name` from the task definition".into(),
        }
    }
}

impl ContainerName {
    pub fn parse(name: &str) -> Result<Self, ContainerNameError> {
        if name.is_empty() {
            return Err(ContainerNameError::Empty);
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(ContainerNameError::Character {
                name: name.to_owned(),
                bad,
            });
        }
        if name.len() > 255 {
            return Err(ContainerNameError::TooLong(name.to_owned()));
        }
        Ok(ContainerName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ContainerName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ContainerName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ContainerName::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_ecs_alphabet() {
        assert!(ContainerName::parse("my-container_2").is_ok());
        assert!(ContainerName::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn rejects_the_rest() {
        assert_eq!(ContainerName::parse(""), Err(ContainerNameError::Empty));
        assert!(matches!(
            ContainerName::parse("my container"),
            Err(ContainerNameError::Character { bad: ' ', .. })
        ));
        assert!(matches!(
            ContainerName::parse("web.app"),
            Err(ContainerNameError::Character { bad: '.', .. })
        ));
        assert!(matches!(
            ContainerName::parse(&"a".repeat(256)),
            Err(ContainerNameError::TooLong(_))
        ));
    }
}
