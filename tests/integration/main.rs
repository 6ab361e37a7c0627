//! One integration-test binary: every test drives the built `cb-step` through `harness::Test`.

mod fault_proxy;
mod harness;

mod build_push;
mod build_push_errors;
mod build_signals;
mod cli;
mod daemon_faults;
mod dockerignore;
mod ecr_login;
mod ecr_login_errors;
mod emit_errors;
mod emit_imagedefs;
mod emit_record;
mod faults;
mod files;
/// The fuzz targets' properties, shared with `tests/fuzz` (cargo-fuzz).
#[path = "../fuzz/checks.rs"]
mod fuzz_checks;
mod fuzz_inputs;
mod interrupt;
mod lint;
mod monorepo;
mod run_artifacts;
mod run_batch;
mod run_image;
mod run_phases;
mod run_signals;
mod run_tutorial;
mod secrets;
mod ship;
mod testbed;
