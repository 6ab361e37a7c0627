//! An image whose URI has been chosen for deployment.

use crate::record::container_name::ContainerName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    pub container: ContainerName,
    /// `name@sha256:…` or `name:tag`.
    pub uri: String,
}
