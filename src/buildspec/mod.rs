//! Buildspecs: text → validated model, with positions for every finding.

pub mod batch;
pub mod children;
pub mod diagnostic;
pub mod model;
pub mod parse;
