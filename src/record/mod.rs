//! The build record that `build-push` writes and `emit-imagedefs` reads.

pub mod build_record;
pub mod container_name;
