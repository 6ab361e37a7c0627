//! Running a buildspec with CodeBuild's semantics; it prints CodeBuild's log format.

pub mod artifacts;
pub mod batch;
pub mod container;
pub mod environment;
pub mod error;
pub mod log;
pub mod phases;
pub mod shell;
