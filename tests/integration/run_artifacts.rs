//! UPLOAD_ARTIFACTS: CodeBuild's file selection, and nothing read or written outside its place.

use pretty_assertions::assert_eq;

use crate::harness::{Outcome, Test};

fn tree(buildspec: &str) -> Test {
    Test::new()
        .file("buildspec.yml", buildspec)
        .file("build/app.jar", "jar")
        .file("build/lib/dep.jar", "dep")
        .file("build/lib/.hidden", "h")
        .file("build/tmp/cache.bin", "tmp")
        .file("docs/readme.md", "doc")
        .file("imagedefinitions.json", "[]")
}

fn artifacts(out: &Outcome) -> Vec<String> {
    out.files()
        .into_iter()
        .filter_map(|f| f.strip_prefix(".cb-step/artifacts/").map(str::to_owned))
        .filter(|f| f != ".cb-step-artifacts")
        .collect()
}

const PHASES: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - 'true'\n";

#[test]
fn recursive_globs_base_directory_and_exclusions() {
    let spec = format!(
        "{PHASES}artifacts:\n  base-directory: build\n  files:\n    - '**/*'\n  exclude-paths:\n    - 'tmp/**/*'\n    - '**/.*'\n"
    );
    let out = tree(&spec).args(["run"]).run().success();
    assert_eq!(artifacts(&out), ["app.jar", "lib/dep.jar"]);
}

#[test]
fn discard_paths_and_a_scalar_files_entry() {
    let spec = format!("{PHASES}artifacts:\n  files: build/lib/*\n  discard-paths: yes\n");
    let out = tree(&spec).args(["run"]).run().success();
    assert_eq!(artifacts(&out), [".hidden", "dep.jar"]);
}

#[test]
fn secondary_artifacts_and_reports_get_subdirectories() {
    let spec = format!(
        "{PHASES}artifacts:\n  files: [imagedefinitions.json]\n  secondary-artifacts:\n    docs:\n      files: ['docs/*']\nreports:\n  unit:\n    files: ['build/app.jar']\n"
    );
    let out = tree(&spec).args(["run"]).run().success();
    assert_eq!(
        artifacts(&out),
        [
            "docs/docs/readme.md",
            "imagedefinitions.json",
            "reports/unit/build/app.jar"
        ]
    );
}

#[test]
fn a_symlink_out_of_the_source_is_refused() {
    let spec = format!("{PHASES}artifacts:\n  files: ['**/*']\n  base-directory: out\n");
    let test = tree(&spec).file("out/keep.txt", "k");
    std::os::unix::fs::symlink("/etc/hostname", test.path().join("out/escape")).unwrap();
    let out = test.args(["run"]).run().failure(10);
    assert!(
        out.stdout
            .contains("`escape` is a link that leads outside the source directory"),
        "{}",
        out.stdout
    );
    assert!(artifacts(&out).is_empty());
}

#[test]
fn an_artifacts_directory_cb_step_did_not_make_is_left_alone() {
    let spec = format!("{PHASES}artifacts:\n  files: [imagedefinitions.json]\n");
    let out = tree(&spec)
        .file("mine/notes.txt", "precious")
        .args(["run", "--artifacts", "mine"])
        .run()
        .failure(3);
    assert_eq!(out.read("mine/notes.txt"), "precious");
    assert!(
        out.stderr
            .contains("`--artifacts mine` holds files cb-step did not put there"),
        "{}",
        out.stderr
    );

    // A directory cb-step made is replaced whole: nothing stale from the last run survives.
    let out = out.again(["run", "--artifacts", "fresh"]).success();
    std::fs::remove_file(out.path().join("imagedefinitions.json")).unwrap();
    std::fs::write(out.path().join("other.json"), "{}").unwrap();
    let out = out.again(["run", "--artifacts", "fresh"]).failure(10);
    assert!(
        out.path().join("fresh/imagedefinitions.json").exists(),
        "a failed upload keeps the previous artifacts"
    );
}
