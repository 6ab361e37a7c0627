//! Deploy artifacts: pure renderers from resolved images to file contents.

pub mod appspec;
pub mod error;
pub mod image_definitions;
pub mod image_detail;
pub mod resolved;
pub mod selection;
pub mod taskdef;
