//! `cb-step run` of a buildspec with `batch`: each fixture's builds append `<identifier> start`
//! and `<identifier> end` to a markers file outside the source, so the tests read the order in
//! which builds ran, and then check the statuses, the exit code, the summary table and each
//! build's artifacts directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use insta::assert_snapshot;
use pretty_assertions::assert_eq;

use crate::harness::{BIN, Outcome, Test, fixture, git_commit_all};

/// A test whose source directory holds `fixtures/batch/<name>`, and a markers file beside it.
struct Batch {
    test: Test,
    markers: tempfile::TempDir,
}

impl Batch {
    fn new(name: &str) -> Self {
        let mut test = Test::new();
        let root = fixture(&format!("batch/{name}"));
        for path in files(&root) {
            let relative = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            test = test.file(&relative, fs::read(&path).unwrap());
        }
        Batch {
            test,
            markers: tempfile::tempdir().unwrap(),
        }
    }

    fn markers_path(&self) -> PathBuf {
        self.markers.path().join("markers")
    }

    /// `cb-step run --env MARKERS=… args…`; the lines of the markers file.
    fn run(self, args: &[&str]) -> (Outcome, Vec<String>) {
        self.run_keeping(args).0
    }

    /// As `run`, and the markers' directory, for what else the builds wrote there.
    fn run_keeping(self, args: &[&str]) -> ((Outcome, Vec<String>), tempfile::TempDir) {
        let markers = self.markers_path();
        let mut all = vec![
            "run".to_owned(),
            "--env".into(),
            format!("MARKERS={}", markers.display()),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let out = self.test.args(all).run();
        let lines = fs::read_to_string(&markers)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        ((out, lines), self.markers)
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Where `line` is in the markers; panics when it is missing.
#[track_caller]
fn at(markers: &[String], line: &str) -> usize {
    markers
        .iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no `{line}` in the markers: {markers:#?}"))
}

/// The summary table's rows: (identifier, status, note).
fn rows(out: &Outcome) -> Vec<(String, String, String)> {
    out.stderr
        .lines()
        .skip_while(|l| !l.starts_with("  IDENTIFIER"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (
                fields[0].to_owned(),
                fields[1].to_owned(),
                fields.get(4..).map(|n| n.join(" ")).unwrap_or_default(),
            )
        })
        .collect()
}

/// The verdict line and the table, with the directory and the durations redacted.
fn summary(out: &Outcome) -> String {
    let dir = out.path().to_string_lossy().into_owned();
    let durations = regex_lite::Regex::new(r"\d+\.\d+s").unwrap();
    // The columns' widths depend on the temporary directory's name.
    let padding = regex_lite::Regex::new(r"  +").unwrap();
    let table: Vec<String> = out
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("cb-step: batch ") || l.starts_with("cb-step: batch: "))
        .map(|l| {
            let l = durations
                .replace_all(&l.replace(&dir, "[DIR]"), "[T]")
                .into_owned();
            padding.replace_all(&l, "  ").into_owned()
        })
        .collect();
    table.join("\n") + "\n"
}

#[test]
fn build_list_runs_every_build_with_its_own_variables_source_and_artifacts() {
    let batch = Batch::new("list");
    let commit = git_commit_all(batch.test.path());
    let (out, markers) = batch.run(&["--jobs", "3", "--env", "TARGET=from-cli"]);
    let out = out.success();
    for id in ["alpha", "beta", "gamma"] {
        assert!(at(&markers, &format!("{id} start")) < at(&markers, &format!("{id} end")));
        // Each build in its own copy of the source, on the same commit.
        at(&markers, &format!("{id} commit={commit}"));
        at(
            &markers,
            &format!(
                "{id} src={}",
                out.path()
                    .join(".cb-step/batch")
                    .join(id)
                    .join("source")
                    .display()
            ),
        );
        assert_eq!(
            out.read(&format!(".cb-step/artifacts/{id}/result.txt")),
            format!("built by {id}\n")
        );
    }
    // buildspec env < the build's env.variables < --env.
    at(&markers, "alpha GREETING=from-buildspec TARGET=from-cli");
    at(&markers, "beta GREETING=from-beta TARGET=from-cli");
    // The builds' files stayed in their copies.
    assert!(!out.path().join("result.txt").exists());
    // Each line of a build's log carries its identifier.
    assert!(
        out.stdout.lines().all(|l| ["[alpha]", "[beta]", "[gamma]"]
            .iter()
            .any(|p| l.starts_with(p))),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("[beta] [Container] "), "{}", out.stdout);
    assert_snapshot!(summary(&out));
}

#[test]
fn jobs_1_runs_a_build_list_one_build_after_another_in_order() {
    let (out, markers) = Batch::new("list").run(&["--jobs", "1"]);
    out.success();
    let order: Vec<&String> = markers
        .iter()
        .filter(|l| l.ends_with(" start") || l.ends_with(" end"))
        .collect();
    assert_eq!(
        order,
        [
            "alpha start",
            "alpha end",
            "beta start",
            "beta end",
            "gamma start",
            "gamma end"
        ]
    );
}

#[test]
fn build_graph_diamond_runs_dependencies_first_and_b_and_c_together() {
    let (out, markers) = Batch::new("graph").run(&["--jobs", "4"]);
    let out = out.success();
    assert!(at(&markers, "a end") < at(&markers, "b start"));
    assert!(at(&markers, "a end") < at(&markers, "c start"));
    // b and c each waited for the other to start: they ran at the same time.
    assert!(at(&markers, "b start") < at(&markers, "c end"));
    assert!(at(&markers, "c start") < at(&markers, "b end"));
    assert!(at(&markers, "b end") < at(&markers, "d start"));
    assert!(at(&markers, "c end") < at(&markers, "d start"));
    assert_eq!(markers.len(), 8, "{markers:#?}");
    // c ran its own buildspec.
    assert_eq!(out.read(".cb-step/artifacts/c/from-ci-c.txt"), "c\n");
    for id in ["a", "b", "d"] {
        assert_eq!(
            out.read(&format!(".cb-step/artifacts/{id}/built-by.txt")),
            format!("{id}\n")
        );
    }
    assert!(out.stdout.contains("[c] [Container] "), "{}", out.stdout);
    assert!(
        out.stdout.contains("YAML location is ") && out.stdout.contains("ci/c.yml"),
        "{}",
        out.stdout
    );
    assert_snapshot!(summary(&out));
}

#[test]
fn build_graph_a_failed_dependency_stops_what_depends_on_it_and_nothing_else() {
    let (out, markers) = Batch::new("graph").run(&["--jobs", "4", "--env", "FAIL=b"]);
    let out = out.failure(10);
    at(&markers, "b start");
    // c does not depend on b: it completes (fast-fail is off).
    at(&markers, "c end");
    assert!(
        !markers
            .iter()
            .any(|l| l.starts_with("b end") || l.starts_with("d "))
    );
    assert_eq!(
        rows(&out),
        [
            ("a".into(), "SUCCEEDED".into(), String::new()),
            ("b".into(), "FAILED".into(), String::new()),
            ("c".into(), "SUCCEEDED".into(), String::new()),
            (
                "d".into(),
                "STOPPED".into(),
                "not started: `b` did not succeed".into()
            ),
        ]
    );
    assert!(
        out.stderr.contains("cb-step: batch FAILED in "),
        "{}",
        out.stderr
    );
    assert!(!out.path().join(".cb-step/artifacts/d").exists());
}

#[test]
fn build_matrix_runs_every_combination() {
    let (out, markers) = Batch::new("matrix").run(&["--jobs", "4"]);
    let out = out.success();
    for (os, arch) in [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("alpine", "amd64"),
        ("alpine", "arm64"),
    ] {
        let id = format!("OS_{os}_ARCH_{arch}");
        assert!(at(&markers, &format!("{id} start")) < at(&markers, &format!("{id} end")));
        at(&markers, &format!("{id} OS={os} ARCH={arch}"));
        assert_eq!(
            out.read(&format!(".cb-step/artifacts/{id}/platform.txt")),
            format!("{os}/{arch}\n")
        );
    }
    assert_eq!(markers.len(), 12, "{markers:#?}");
    assert_snapshot!(summary(&out));
}

#[test]
fn fast_fail_stops_the_running_build_and_starts_no_other() {
    let batch = Batch::new("fast_fail");
    let pid_file = PathBuf::from(format!("{}.slow.pid", batch.markers_path().display()));
    let started = Instant::now();
    let ((out, markers), _dir) = batch.run_keeping(&["--jobs", "2"]);
    let out = out.failure(10);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "`slow` sleeps 30 s; fast-fail should stop it"
    );
    assert!(at(&markers, "slow start") < markers.len());
    at(&markers, "broken start");
    assert!(
        !markers
            .iter()
            .any(|l| l == "slow end" || l.starts_with("waiting")),
        "{markers:#?}"
    );
    let sleeper: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(gone(sleeper), "the stopped build's command survived");
    assert_eq!(
        rows(&out),
        [
            (
                "slow".into(),
                "STOPPED".into(),
                "stopped: fast-fail: `broken` did not succeed".into()
            ),
            ("broken".into(), "FAILED".into(), String::new()),
            (
                "waiting".into(),
                "STOPPED".into(),
                "not started: fast-fail: `broken` did not succeed".into()
            ),
        ]
    );
    assert!(
        out.stdout.contains("[slow] [Container] ")
            && out.stdout.contains("Phase complete: BUILD State: STOPPED"),
        "{}",
        out.stdout
    );
    assert_snapshot!(summary(&out));
}

#[test]
fn ignore_failure_lets_the_batch_succeed_and_dependants_run() {
    let (out, markers) = Batch::new("ignore_failure").run(&[]);
    let out = out.success();
    assert!(at(&markers, "flaky start") < at(&markers, "after start"));
    at(&markers, "after end");
    assert!(!markers.iter().any(|l| l == "flaky end"));
    assert_eq!(
        rows(&out),
        [
            (
                "flaky".into(),
                "FAILED".into(),
                "ignored (ignore-failure)".into()
            ),
            ("after".into(), "SUCCEEDED".into(), String::new()),
        ]
    );
    assert_snapshot!(summary(&out));
}

#[test]
fn no_batch_runs_the_buildspec_as_one_build() {
    let (out, markers) = Batch::new("list").run(&["--no-batch"]);
    let out = out.success();
    // Outside a batch, CODEBUILD_BATCH_BUILD_IDENTIFIER is not set.
    assert_eq!(markers.first().map(String::as_str), Some(" start"));
    assert!(out.path().join(".cb-step/artifacts/result.txt").exists());
    assert!(
        out.stderr
            .contains("--no-batch: the buildspec runs as one build"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("cb-step: build SUCCEEDED"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_second_run_replaces_the_copies_and_the_artifacts_of_the_first() {
    let (out, _) = Batch::new("list").run(&["--jobs", "3"]);
    let out = out.success();
    fs::write(out.path().join(".cb-step/artifacts/stale.txt"), "old").unwrap();
    fs::write(
        out.path().join(".cb-step/batch/alpha/source/stale.txt"),
        "old",
    )
    .unwrap();
    let markers = out.path().join("markers");
    let out = out.again([
        "run",
        "--jobs",
        "3",
        "--env",
        &format!("MARKERS={}", markers.display()),
    ]);
    let out = out.success();
    assert!(!out.path().join(".cb-step/artifacts/stale.txt").exists());
    assert!(
        !out.path()
            .join(".cb-step/batch/alpha/source/stale.txt")
            .exists()
    );
    // Not copied into the builds either: `.cb-step` stays out of their sources.
    assert!(
        !out.path()
            .join(".cb-step/batch/alpha/source/.cb-step/batch")
            .exists()
    );
    assert!(
        out.path()
            .join(".cb-step/artifacts/gamma/result.txt")
            .exists()
    );
}

#[test]
fn sigterm_stops_every_build_of_the_batch_with_143() {
    let test = Test::new().file(
        "buildspec.yml",
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: one\n    - identifier: two\nphases:\n  build:\n    commands:\n      - sleep 30 & echo $! > \"$PIDS/$CODEBUILD_BATCH_BUILD_IDENTIFIER\"; wait\n      - touch \"$PIDS/$CODEBUILD_BATCH_BUILD_IDENTIFIER.after\"\n",
    );
    let pids = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--jobs", "2", "--env"])
        .arg(format!("PIDS={}", pids.path().display()))
        .current_dir(test.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !(pids.path().join("one").exists() && pids.path().join("two").exists()) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the builds never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: plain kill(2) on the child we started.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGTERM);
    }
    assert_eq!(child.wait().unwrap().code(), Some(143));
    for id in ["one", "two"] {
        let pid: i32 = fs::read_to_string(pids.path().join(id))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone(pid), "{id}: its command's background process survived");
        assert!(!pids.path().join(format!("{id}.after")).exists());
    }
}

fn gone(pid: i32) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status.is_empty() || status.contains("State:\tZ") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// `cb-step lint` of a buildspec with these batch settings.
fn lint(batch: &str, code: i32) -> String {
    let buildspec =
        format!("version: 0.2\nbatch:\n{batch}phases:\n  build:\n    commands:\n      - echo ok\n");
    Test::new()
        .file("buildspec.yml", buildspec)
        .args(["lint"])
        .run()
        .failure(code)
        .snapshot()
}

#[test]
fn lint_a_cycle_in_depend_on() {
    assert_snapshot!(lint(
        "  build-graph:\n    - identifier: a\n      depend-on: [c]\n    - identifier: b\n      depend-on: [a]\n    - identifier: c\n      depend-on: [b]\n",
        3
    ));
}

#[test]
fn lint_an_unknown_depend_on() {
    assert_snapshot!(lint(
        "  build-graph:\n    - identifier: build1\n    - identifier: build2\n      depend-on:\n        - buidl1\n        - deploy\n",
        3
    ));
}

#[test]
fn lint_identifiers_depend_on_in_a_list_and_two_kinds() {
    assert_snapshot!(lint(
        "  build-list:\n    - identifier: unit-tests\n    - identifier: lint\n      depend-on: [unit-tests]\n    - identifier: lint\n  build-graph:\n    - identifier: x\n",
        3
    ));
}

#[test]
fn lint_a_missing_child_buildspec_and_one_with_errors() {
    let out = Test::new()
        .file(
            "buildspec.yml",
            "version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n      buildspec: ci/a.yml\n    - identifier: b\n      buildspec: ci/missing.yml\nphases:\n  build:\n    commands:\n      - echo ok\n",
        )
        .file(
            "ci/a.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo Hello: world\n",
        )
        .args(["lint"])
        .run()
        .failure(3);
    assert_snapshot!(out.snapshot());
}

#[test]
fn lint_a_clean_batch_with_a_matrix() {
    assert_snapshot!(lint(
        "  fast-fail: yes\n  build-matrix:\n    static:\n      ignore-failure: true\n    dynamic:\n      env:\n        image:\n          - aws/codebuild/standard:7.0\n        variables:\n          NODE: [18, 20]\n",
        0
    ));
}

#[test]
fn run_refuses_a_cycle_before_any_build_starts() {
    let test = Test::new().file(
        "buildspec.yml",
        "version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n      depend-on: [a]\nphases:\n  build:\n    commands:\n      - touch ran\n",
    );
    let out = test.args(["run"]).run().failure(3);
    assert!(!out.path().join(".cb-step/batch").exists());
    assert!(!out.path().join("ran").exists());
    // As CodeBuild fails an invalid buildspec: in DOWNLOAD_SOURCE, with YAML_FILE_ERROR.
    assert!(
        out.stdout.contains(
            "Phase context status code: YAML_FILE_ERROR Message: cycle in `depend-on`: a → a"
        ),
        "{}",
        out.stdout
    );
    assert_snapshot!(
        out.stderr
            .replace(&out.path().to_string_lossy().into_owned(), "[DIR]")
    );
}

#[test]
fn run_refuses_build_fanout() {
    let out = Test::new()
        .file(
            "buildspec.yml",
            "version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 3\nphases:\n  build:\n    commands:\n      - touch ran\n",
        )
        .args(["run"])
        .run()
        .failure(3);
    assert!(!out.path().join("ran").exists());
    assert_snapshot!(out.snapshot());
}

#[test]
fn a_buildspec_outside_the_source_and_a_relative_artifacts_directory() {
    let markers = tempfile::tempdir().unwrap();
    let out = Test::new()
        .file("src/input.txt", "from the source\n")
        .file(
            "ci/buildspec.yml",
            "version: 0.2\nbatch:\n  build-list:\n    - identifier: one\n    - identifier: two\nphases:\n  build:\n    commands:\n      - cp input.txt \"copied-by-$CODEBUILD_BATCH_BUILD_IDENTIFIER\"\n      - echo \"$CODEBUILD_BATCH_BUILD_IDENTIFIER\" >> \"$MARKERS\"\nartifacts:\n  files: ['copied-by-*']\n",
        )
        .args([
            "run",
            "--source",
            "src",
            "--buildspec",
            "ci/buildspec.yml",
            "--artifacts",
            "out",
            "--env",
        ])
        .args([format!("MARKERS={}", markers.path().join("m").display())])
        .run()
        .success();
    for id in ["one", "two"] {
        assert_eq!(
            out.read(&format!("out/{id}/copied-by-{id}")),
            "from the source\n"
        );
    }
    assert!(
        out.path()
            .join("src/.cb-step/batch/one/source/input.txt")
            .exists()
    );
}
