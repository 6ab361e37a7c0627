//! One module per subcommand, each wiring the stages together.

pub mod emit_imagedefs;
