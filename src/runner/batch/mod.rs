//! Batch builds (semantics §1.4): the child builds of a buildspec's `batch`, each a whole
//! `cb-step run` of its own, in its own copy of the source, scheduled as CodeBuild would.

pub mod child;
pub mod plan;
pub mod scheduler;
pub mod signals;
pub mod source_copy;
pub mod summary;
pub mod workspace;
