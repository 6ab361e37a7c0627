//! `build-push` refusing or failing: a clear message, its exit code, and the record untouched.

use insta::assert_snapshot;
use pretty_assertions::assert_eq;

use crate::build_push::app;
use crate::harness::{Bed, Outcome, Test, create_repository, fixture, git_commit_all};

const RECORD: &str = ".cb-step/build-record.json";

fn record() -> Vec<u8> {
    std::fs::read(fixture("emit/record-one.json")).unwrap()
}

/// Runs build-push next to an existing build record, expects exit `code`, and checks that the
/// record is byte for byte what it was.
#[track_caller]
fn fails(test: Test, args: &[&str], code: i32) -> Outcome {
    let out = test
        .file(RECORD, record())
        .args(["build-push"])
        .args(args.iter().copied())
        .run()
        .failure(code);
    assert_eq!(
        out.read(RECORD).as_bytes(),
        record().as_slice(),
        "record changed"
    );
    assert_eq!(out.stdout, "");
    out
}

fn with_repository(test: Test, immutable: bool) -> (Test, String) {
    let repo = test.unique("err");
    create_repository(&repo, "us-east-1", immutable);
    (test, repo)
}

#[test]
fn missing_dockerfile() {
    let (test, repo) = with_repository(Test::new().bed().file("hello.txt", "hi"), false);
    assert_snapshot!(fails(test, &["--repository", &repo, "--tag", "v1"], 3).snapshot());
}

#[test]
fn failing_run_step_names_the_step() {
    for builder in ["buildkit", "classic"] {
        let (test, repo) = with_repository(
            Test::new().bed().file(
                "Dockerfile",
                "FROM cb-step-testbed/busybox:latest\nRUN echo about to fail && exit 3\n",
            ),
            false,
        );
        let out = fails(
            test,
            &["--repository", &repo, "--tag", "v1", "--builder", builder],
            7,
        );
        let error = out
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default();
        assert!(
            error.starts_with("error: the build failed at `")
                && error.contains("RUN echo about to fail && exit 3"),
            "{builder}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("about to fail"),
            "{builder}: the step's output is shown:\n{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("hint: the lines above show the build's output"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn invalid_tag() {
    let (test, repo) = with_repository(app(Test::new().bed()), false);
    assert_snapshot!(fails(test, &["--repository", &repo, "--tag", "feature/login"], 2).snapshot());
}

#[test]
fn tag_from_commit_without_a_commit_never_becomes_latest() {
    let (test, repo) = with_repository(app(Test::new().bed()), false);
    assert_snapshot!(fails(test, &["--repository", &repo, "--tag-from-commit"], 3).snapshot());
}

#[test]
fn no_repository() {
    assert_snapshot!(fails(app(Test::new().bed()), &["--tag", "v1"], 2).snapshot());
}

#[test]
fn unknown_repository() {
    let test = app(Test::new().bed());
    let repo = test.unique("never-created");
    assert_snapshot!(fails(test, &["--repository", &repo, "--tag", "v1"], 3).snapshot());
}

#[test]
fn stopped_daemon() {
    let (test, repo) = with_repository(app(Test::new().bed()), false);
    let test = test.env("DOCKER_HOST", "unix:///var/run/cb-step-no-such-daemon.sock");
    assert_snapshot!(fails(test, &["--repository", &repo, "--tag", "v1"], 9).snapshot());
}

#[test]
fn rejected_registry_credentials() {
    let bed = Bed::get();
    let test = app(Test::new().bed());
    let repo = test.unique("rejected");
    create_repository(&repo, bed.var("CB_STEP_TESTBED_REJECTING_REGION"), false);
    let full = format!("{}/{repo}", bed.var("CB_STEP_TESTBED_REJECTING_REGISTRY"));
    let out = fails(test, &["--repository", &full, "--tag", "v1"], 8);
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        error.contains(&format!("pushing `{full}:v1` failed")),
        "{}",
        out.stderr
    );
    assert!(error.contains("unauthorized"), "{}", out.stderr);
}

#[test]
fn immutable_tag_pointing_elsewhere_fails_and_a_rerun_of_the_same_image_succeeds() {
    let (test, repo) = with_repository(app(Test::new().bed()), true);
    let first = test
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build-push", "--repository", &repo, "--tag", "v1"])
        .run()
        .success();
    let pinned = first.stdout.clone();
    let record_after_first = first.read(RECORD);

    // The same image again: its content key's tag and every other tag already hold it, so
    // the re-run builds nothing and succeeds.
    let again = first
        .again(["build-push", "--repository", &repo, "--tag", "v1"])
        .success();
    assert_eq!(again.stdout, pinned);
    assert!(
        again.stderr.contains("tagged nothing new"),
        "{}",
        again.stderr
    );

    // With --force it is built again; the tags hold the same image, so nothing is pushed.
    let forced = again
        .again([
            "build-push",
            "--repository",
            &repo,
            "--tag",
            "v1",
            "--force",
        ])
        .success();
    assert_eq!(forced.stdout, pinned);
    assert!(
        forced.stderr.contains("nothing to push"),
        "{}",
        forced.stderr
    );
    let again = forced;

    // Another image under the same tag: refused, record untouched.
    std::fs::write(again.path().join("hello.txt"), "changed\n").unwrap();
    let out = again
        .again(["build-push", "--repository", &repo, "--tag", "v1"])
        .failure(8);
    assert_eq!(out.read(RECORD), record_after_first);
    assert_eq!(out.stdout, "");
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap();
    assert_eq!(
        error.replace(&repo, "[REPO]"),
        "error: tag `v1` already exists in the immutable repository `[REPO]` and points at another image"
    );
}

#[test]
fn dockerignore_with_a_lone_bang() {
    let (test, repo) = with_repository(
        app(Test::new().bed()).file(".dockerignore", "*.log\n!\n"),
        false,
    );
    git_commit_all(test.path());
    assert_snapshot!(fails(test, &["--repository", &repo, "--tag", "v1"], 3).snapshot());
}

#[test]
fn missing_base_image_names_the_image_and_the_step() {
    for builder in ["buildkit", "classic"] {
        let (test, repo) = with_repository(
            Test::new().bed().file(
                "Dockerfile",
                "FROM cb-step-testbed/no-such-base:1.0\nRUN true\n",
            ),
            false,
        );
        let out = fails(
            test,
            &["--repository", &repo, "--tag", "v1", "--builder", builder],
            7,
        );
        let error = out
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default();
        assert!(
            error.starts_with("error: the build failed"),
            "{builder}: {}",
            out.stderr
        );
        assert!(
            error.contains("cb-step-testbed/no-such-base"),
            "{builder}: {}",
            out.stderr
        );
    }
}
