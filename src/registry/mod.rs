//! Registries: names, digests, credentials, and ECR's way of handing them out.

pub mod client;
pub mod credentials;
pub mod digest;
pub mod ecr;
pub mod ecr_host;
pub mod http;
pub mod login_error;
pub mod reference;
pub mod secret;
pub mod verify;
