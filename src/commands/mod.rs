//! One module per subcommand, each wiring the stages together.

pub mod build_push;
pub mod ecr_login;
pub mod emit_imagedefs;
pub mod lint;
pub mod run;
