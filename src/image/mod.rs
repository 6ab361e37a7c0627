//! Images through the Docker Engine API: context, build, tag, push.

pub mod build;
pub mod content_key;
pub mod context;
pub mod engine;
pub mod error;
pub mod ignore;
pub mod images_file;
pub mod labels;
pub mod push;
