//! Registries: names, digests, credentials, and ECR's way of handing them out.

pub mod credentials;
pub mod digest;
pub mod ecr;
pub mod login_error;
pub mod reference;
pub mod secret;
pub mod verify;
