//! Names and digests of images in registries.

pub mod digest;
pub mod reference;
