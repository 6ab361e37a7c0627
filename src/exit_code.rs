//! Exit codes, in one place. The README's table is generated from nothing: keep them in step.

/// Everything asked for was done.
pub const SUCCESS: i32 = 0;
/// The command line is wrong: an unknown flag, a missing value, or a value that fails
/// validation (a bad container name or image URI). clap uses 2 for its own errors too.
pub const USAGE: i32 = 2;
/// An input file is missing or invalid (build record, task definition template), or the
/// inputs do not fit the request (an ambiguous container, a digest that is not known).
pub const INPUT: i32 = 3;
/// An output could not be written. Nothing was changed.
pub const OUTPUT: i32 = 4;
