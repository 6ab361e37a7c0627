//! What every command shares: help, version, usage errors, logging.

use insta::assert_snapshot;

use crate::harness::{ECR, Test};

#[test]
fn help_lists_the_working_commands() {
    let out = Test::new().args(["--help"]).run().success();
    assert_snapshot!(out.stdout);
}

#[test]
fn emit_imagedefs_help() {
    let out = Test::new()
        .args(["emit-imagedefs", "--help"])
        .run()
        .success();
    assert_snapshot!(out.stdout);
}

#[test]
fn version() {
    let out = Test::new().args(["--version"]).run().success();
    let version =
        regex_lite::Regex::new(r"^cb-step \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}|unknown)\)\n$")
            .unwrap();
    assert!(version.is_match(&out.stdout), "{}", out.stdout);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = Test::new()
        .args(["emit-imagedefs", "--imgae", "x"])
        .run()
        .failure(2);
    assert_snapshot!(out.snapshot());
}

#[test]
fn no_command_is_a_usage_error() {
    let out = Test::new().run().failure(2);
    assert!(out.stderr.contains("Usage: cb-step"), "{}", out.stderr);
}

fn emit(test: Test) -> crate::harness::Outcome {
    test.args(["emit-imagedefs", "--image", &format!("web={ECR}/web:1")])
        .run()
        .success()
}

#[test]
fn info_by_default_quiet_with_q_and_no_colours_in_a_pipe() {
    let out = emit(Test::new());
    assert!(out.stderr.contains("INFO web → "), "{}", out.stderr);
    assert!(
        !out.stderr.contains('\x1b'),
        "ANSI escape in {:?}",
        out.stderr
    );
    let out = emit(Test::new().args(["-q"]));
    assert_eq!(out.stderr, "");
}

#[test]
fn cb_step_log_sets_the_level() {
    let out = emit(Test::new().env("CB_STEP_LOG", "warn"));
    assert_eq!(out.stderr, "");
    let out = emit(
        Test::new()
            .env("CB_STEP_LOG", "debug")
            .env("CONTAINER_NAME", "other"),
    );
    assert!(
        out.stderr.contains("DEBUG ignoring CONTAINER_NAME"),
        "{}",
        out.stderr
    );
}

#[test]
fn verbose_shows_debug_lines() {
    let out = emit(Test::new().env("CONTAINER_NAME", "other").args(["-v"]));
    assert!(
        out.stderr.contains("DEBUG ignoring CONTAINER_NAME"),
        "{}",
        out.stderr
    );
    let out = emit(Test::new().env("CONTAINER_NAME", "other"));
    assert!(!out.stderr.contains("DEBUG"), "{}", out.stderr);
}

#[test]
fn build_push_help() {
    let out = Test::new().args(["build-push", "--help"]).run().success();
    assert_snapshot!(out.stdout);
}

#[test]
fn ecr_login_help() {
    let out = Test::new().args(["ecr-login", "--help"]).run().success();
    assert_snapshot!(out.stdout);
}

#[test]
fn run_help() {
    let out = Test::new().args(["run", "--help"]).run().success();
    assert_snapshot!(out.stdout);
}

#[test]
fn lint_help() {
    let out = Test::new().args(["lint", "--help"]).run().success();
    assert_snapshot!(out.stdout);
}
