//! Files: concurrent writers lose nothing, artifacts never escape their directory, and no
//! user file other than a command's documented outputs is ever touched.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::{
    BIN, Bed, Fingerprint, Test, create_repository, fingerprints, git_commit_all, tally, tool,
};

const DOCKERFILE: &str = "FROM cb-step-testbed/busybox:latest\nCOPY hello.txt /hello.txt\n";

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap()
}

/// Starts `cb-step args…` in `dir` with the bed's AWS variables and `env`, without waiting.
fn spawn(dir: &Path, args: &[String], env: &[(&str, &Path)]) -> std::process::Child {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", dir)
        .envs(Bed::get().aws_env())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cb-step")
}

/// Waits for every child and panics with the output of any that failed.
fn wait_all(children: Vec<std::process::Child>) {
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a concurrent cb-step failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn ten_parallel_logins_keep_every_entry_and_the_other_settings() {
    let test = Test::new().file(
        "docker/config.json",
        json!({"auths": {"ghcr.io": {"auth": "dXNlcjpwYXNz"}}, "psFormat": "table {{.ID}}"})
            .to_string(),
    );
    let docker = test.path().join("docker");
    let accounts: Vec<String> = (0..10).map(|i| format!("2000000000{i:02}")).collect();
    let children = accounts
        .iter()
        .map(|account| {
            let args = ["ecr-login", "-q", "--no-verify", "--registry-id", account];
            spawn(
                test.path(),
                &args.map(str::to_owned),
                &[("DOCKER_CONFIG", &docker)],
            )
        })
        .collect();
    wait_all(children);
    let text = std::fs::read_to_string(docker.join("config.json")).unwrap();
    let config: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let auths = config.as_ref().and_then(|c| c["auths"].as_object());
    let lost = accounts
        .iter()
        .map(|a| format!("{a}.dkr.ecr.us-east-1.amazonaws.com"))
        .chain(["ghcr.io".to_owned()])
        .filter(|host| {
            auths
                .and_then(|a| a.get(host))
                .and_then(|e| e["auth"].as_str())
                .is_none_or(str::is_empty)
        })
        .count();
    let kept = config
        .as_ref()
        .is_some_and(|c| c["psFormat"] == "table {{.ID}}");
    report_writers(
        "ecr-login: 10 parallel logins into one config.json",
        accounts.len(),
        lost,
        config.is_none() || !kept,
        &text,
    );
}

/// Tallies one check of concurrent writers: what was lost, and whether the file is whole.
fn report_writers(check: &str, writers: usize, lost: usize, invalid: bool, file: &str) {
    let bad = lost + usize::from(invalid);
    tally("writers", check, count(writers), count(bad));
    assert_eq!(
        bad, 0,
        "{check}: lost {lost} entries, invalid: {invalid}\n{file}"
    );
}

#[test]
fn ten_parallel_record_updates_keep_every_entry() {
    let test = Test::new()
        .file("Dockerfile", DOCKERFILE)
        .file("hello.txt", "hello\n");
    let repo = test.unique("writers");
    create_repository(&repo, "us-east-1", false);
    let containers: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    let children = containers
        .iter()
        .enumerate()
        .map(|(i, container)| {
            let args = [
                "build-push",
                "-q",
                "--no-push",
                "--repository",
                &repo,
                "--tag",
                &format!("w{i}"),
                "--container",
                container,
            ];
            spawn(test.path(), &args.map(str::to_owned), &[])
        })
        .collect();
    wait_all(children);
    for i in 0..containers.len() {
        let image = format!("{}/{repo}:w{i}", Bed::get().registry());
        tool("docker", &["rmi", &image], &[]);
    }
    let text = std::fs::read_to_string(test.path().join(".cb-step/build-record.json")).unwrap();
    let record: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let entries: Vec<&str> = record
        .as_ref()
        .and_then(|r| r["images"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e["container"].as_str())
        .collect();
    let lost = containers
        .iter()
        .filter(|c| !entries.contains(&c.as_str()))
        .count();
    report_writers(
        "build-push --no-push: 10 parallel updates of one build record",
        containers.len(),
        lost,
        record.is_none(),
        &text,
    );
    assert_eq!(entries, containers, "sorted by container and unique");
}

/// One way out of the artifacts directory, and how cb-step must answer it.
struct Escape {
    what: &'static str,
    artifacts: String,
    /// `(link, target)`; a target starting with `OUT/` is in the directory outside.
    links: &'static [(&'static str, &'static str)],
    exit: i32,
    message: &'static str,
}

const OUTSIDE_CONTENT: &str = "outside the source: never an artifact";

/// The attempts, with `OUT` the name of a directory beside the source (reached as `../OUT`)
/// and `ABS` its absolute path.
fn escapes() -> Vec<Escape> {
    let set = |body: &str| format!("artifacts:\n{body}");
    vec![
        Escape {
            what: "a symlink to a file outside",
            artifacts: set("  files: ['out/**/*']\n"),
            links: &[("out/leak", "OUT/secret.txt")],
            exit: 10,
            message: "`out/leak` is a link that leads outside the source directory",
        },
        Escape {
            what: "a chain of symlinks that ends outside",
            artifacts: set("  files: [out/first]\n"),
            links: &[("out/first", "second"), ("out/second", "OUT/secret.txt")],
            exit: 10,
            message: "`out/first` is a link that leads outside the source directory",
        },
        Escape {
            what: "discard-paths over a symlink outside",
            artifacts: set("  files: ['out/*']\n  discard-paths: yes\n"),
            links: &[("out/leak", "OUT/secret.txt")],
            exit: 10,
            message: "`out/leak` is a link that leads outside the source directory",
        },
        Escape {
            what: "a symlink to a directory outside, under **",
            artifacts: set("  files: ['**/*']\n  base-directory: out\n"),
            links: &[("out/dir", "OUT")],
            exit: 0,
            message: "Found 1 file(s)",
        },
        Escape {
            what: "base-directory that is a symlink to a directory outside",
            artifacts: set("  files: ['*']\n  base-directory: out/dir\n"),
            links: &[("out/dir", "OUT")],
            exit: 10,
            message: "is a link that leads outside the source directory",
        },
        Escape {
            what: "a files path through a symlinked directory outside",
            artifacts: set("  files: [out/dir/secret.txt]\n"),
            links: &[("out/dir", "OUT")],
            exit: 10,
            message: "no matching artifact paths found",
        },
        Escape {
            what: "base-directory: ..",
            artifacts: set("  files: ['**/*']\n  base-directory: ..\n"),
            links: &[],
            exit: 3,
            message: "artifact path `..` leaves the source directory",
        },
        Escape {
            what: "a `..` path in files",
            artifacts: set("  files: [../OUT/secret.txt]\n"),
            links: &[],
            exit: 3,
            message: "artifact path `../OUT/secret.txt` leaves the source directory",
        },
        Escape {
            what: "`..` in the middle of a files path",
            artifacts: set("  files: [out/../../OUT/secret.txt]\n"),
            links: &[],
            exit: 3,
            message: "leaves the source directory",
        },
        Escape {
            what: "an absolute path in files",
            artifacts: set("  files: [ABS/secret.txt]\n"),
            links: &[],
            exit: 3,
            message: "artifact path `ABS/secret.txt` leaves the source directory",
        },
        Escape {
            what: "a secondary artifact identifier with `..`",
            artifacts: set(
                "  files: [hello.txt]\n  secondary-artifacts:\n    ../../../OUT:\n      files: [hello.txt]\n",
            ),
            links: &[],
            exit: 3,
            message: "secondary artifact identifier `../../../OUT` may contain only letters",
        },
        Escape {
            what: "an absolute secondary artifact identifier",
            artifacts: set(
                "  files: [hello.txt]\n  secondary-artifacts:\n    ABS/written:\n      files: [hello.txt]\n",
            ),
            links: &[],
            exit: 3,
            message: "secondary artifact identifier `ABS/written` may contain only letters",
        },
        Escape {
            what: "a report group with `..`",
            artifacts: "reports:\n  ../../../../OUT:\n    files: [hello.txt]\n".into(),
            links: &[],
            exit: 3,
            message: "report group `../../../../OUT` leaves the reports directory",
        },
        Escape {
            what: "an absolute report group",
            artifacts: "reports:\n  ABS/report:\n    files: [hello.txt]\n".into(),
            links: &[],
            exit: 3,
            message: "report group `ABS/report` leaves the reports directory",
        },
    ]
}

#[test]
fn artifacts_never_escape_their_directory() {
    let attempts = escapes();
    let mut escaped = Vec::new();
    for attempt in &attempts {
        let outside = tempfile::Builder::new()
            .prefix("cb-step-outside.")
            .tempdir()
            .unwrap();
        std::fs::write(outside.path().join("secret.txt"), OUTSIDE_CONTENT).unwrap();
        let name = outside.path().file_name().unwrap().to_string_lossy();
        let abs = outside.path().to_string_lossy();
        let fill = |text: &str| text.replace("ABS", &abs).replace("OUT", &name);
        let buildspec = format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - 'true'\n{}",
            fill(&attempt.artifacts)
        );
        let test = Test::new()
            .file("buildspec.yml", buildspec)
            .file("hello.txt", "hello\n")
            .file("out/keep.txt", "keep\n");
        for (link, target) in attempt.links {
            let target = match target.strip_prefix("OUT") {
                Some(rest) => format!("{abs}{rest}"),
                None => (*target).to_owned(),
            };
            std::os::unix::fs::symlink(target, test.path().join(link)).unwrap();
        }
        let source_before = fingerprints(test.path());
        let outside_before = fingerprints(outside.path());
        let out = test.args(["run"]).run();
        let mut problems = Vec::new();
        if fingerprints(outside.path()) != outside_before {
            problems.push("wrote outside the source".to_owned());
        }
        for (path, _) in changed(&source_before, &fingerprints(out.path())) {
            if !path.starts_with(".cb-step/") {
                problems.push(format!("wrote `{path}` outside the artifacts directory"));
            }
        }
        for (path, print) in fingerprints(&out.path().join(".cb-step")) {
            let file = out.path().join(".cb-step").join(&path);
            if print.content.starts_with("->")
                || std::fs::read(&file).is_ok_and(|b| b == OUTSIDE_CONTENT.as_bytes())
            {
                problems.push(format!("copied `{path}` from outside"));
            }
        }
        if !problems.is_empty() {
            escaped.push(format!("{}: {}", attempt.what, problems.join("; ")));
        }
        let shown = fill(attempt.message);
        assert_eq!(
            out.status, attempt.exit,
            "{}: exit {}\n{}\n{}",
            attempt.what, out.status, out.stdout, out.stderr
        );
        assert!(
            out.stdout.contains(&shown) || out.stderr.contains(&shown),
            "{}: expected `{shown}` in:\n{}\n{}",
            attempt.what,
            out.stdout,
            out.stderr
        );
    }
    tally(
        "files",
        "artifacts: escapes through symlinks, `..` and absolute paths",
        count(attempts.len()),
        count(escaped.len()),
    );
    assert!(escaped.is_empty(), "{}", escaped.join("\n"));
}

/// Paths whose fingerprint differs, appeared or disappeared, with what happened.
fn changed(
    before: &BTreeMap<String, Fingerprint>,
    after: &BTreeMap<String, Fingerprint>,
) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for (path, print) in before {
        match after.get(path) {
            None => out.push((path.clone(), "removed")),
            Some(now) if now != print => out.push((path.clone(), "modified")),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push((path.clone(), "created"));
    }
    out
}

/// A user's source tree: a git repository with its own imagedefinitions.json (one at the top,
/// which `emit-imagedefs` replaces, and one in `deploy/`), a .dockerignore, a Docker config
/// with another registry, and symlinks of every kind.
fn user_tree() -> Test {
    let test = Test::new()
        .bed()
        .file("Dockerfile", DOCKERFILE)
        .file("Dockerfile.broken", "FROM cb-step-testbed/busybox:latest\nCOPY missing.txt /\n")
        .file("hello.txt", "hello\n")
        .file(".dockerignore", "*.md\n!README.md\n")
        .file("README.md", "# app\n")
        .file("notes.md", "private\n")
        .file("imagedefinitions.json", r#"[{"name":"old","imageUri":"r/old:1"}]"#)
        .file("deploy/imagedefinitions.json", r#"[{"name":"keep","imageUri":"r/keep:1"}]"#)
        .file(
            "docker/config.json",
            json!({"auths": {"ghcr.io": {"auth": "dXNlcjpwYXNz"}}}).to_string(),
        )
        .file(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - cat hello.txt\nartifacts:\n  files: [hello.txt]\n",
        )
        .file(
            "failing.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - 'false'\n  post_build:\n    commands:\n      - ls\nartifacts:\n  files: [hello.txt]\n",
        )
        .file("invalid.yml", "version: 0.2\nphases:\n  biuld:\n    commands: [x]\n");
    for (link, target) in [
        ("link-to-file", "hello.txt"),
        ("link-to-dir", "deploy"),
        ("dangling", "nowhere"),
        ("link-out", "/etc/hostname"),
    ] {
        std::os::unix::fs::symlink(target, test.path().join(link)).unwrap();
    }
    git_commit_all(test.path());
    test
}

#[test]
fn no_user_file_but_the_documented_outputs_is_ever_touched() {
    const RECORD: &[&str] = &[".cb-step/build-record.json", ".cb-step/build-record.lock"];
    const RUN: &[&str] = &[
        ".cb-step/artifacts/",
        ".cb-step/build-number",
        ".cb-step/build-number.lock",
    ];
    let test = user_tree();
    let repo = test.unique("files");
    create_repository(&repo, "us-east-1", false);
    let template = json!({"family": "app", "containerDefinitions": [{"name": repo, "image": "x"}]});
    let mut test = test.file("taskdef.template.json", template.to_string());
    let runs: Vec<(Vec<&str>, i32, &[&str])> = vec![
        (vec!["ecr-login"], 0, &["docker/config.json"]),
        (vec!["ecr-login", "--registry-id", "12"], 2, &[]),
        (vec!["lint"], 0, &[]),
        (vec!["lint", "invalid.yml"], 3, &[]),
        (vec!["build-push", "--no-such-flag"], 2, &[]),
        (
            vec![
                "build-push",
                "--no-push",
                "--repository",
                &repo,
                "--tag",
                "a",
            ],
            0,
            RECORD,
        ),
        (
            vec![
                "build-push",
                "--file",
                "Dockerfile.broken",
                "--repository",
                &repo,
                "--tag",
                "broken",
            ],
            7,
            &[],
        ),
        (
            vec!["build-push", "--repository", &repo, "--tag", "b"],
            0,
            RECORD,
        ),
        (
            vec!["emit-imagedefs", "--image-detail"],
            0,
            &["imagedefinitions.json", "imageDetail.json"],
        ),
        (
            vec![
                "emit-imagedefs",
                "--appspec",
                "--container-port",
                "8080",
                "--taskdef",
                "taskdef.template.json",
            ],
            0,
            &["imagedefinitions.json", "appspec.yaml", "taskdef.json"],
        ),
        (
            vec!["emit-imagedefs", "--output-dir", "deploy"],
            0,
            &["deploy/imagedefinitions.json"],
        ),
        (
            vec!["build-push", "--print-key", "--repository", &repo],
            0,
            &[],
        ),
        (
            vec![
                "emit-imagedefs",
                "--image-detail",
                "--image",
                "a=r/a:1",
                "--image",
                "b=r/b:1",
            ],
            3,
            &[],
        ),
        (vec!["emit-imagedefs", "--taskdef", "missing.json"], 3, &[]),
        (vec!["emit-imagedefs", "--image", "bad name=r/a:1"], 2, &[]),
        (vec!["run"], 0, RUN),
        (vec!["run", "--buildspec", "failing.yml"], 10, RUN),
        (vec!["run", "--buildspec", "invalid.yml"], 3, RUN),
    ];
    let (mut checked, mut touched, count_runs) = (0, Vec::new(), runs.len());
    for (args, exit, outputs) in runs {
        let before = fingerprints(test.path());
        checked += before.len();
        let out = test.args(args.iter().copied()).run();
        assert_eq!(
            out.status, exit,
            "{args:?}: exit {}\n{}\n{}",
            out.status, out.stdout, out.stderr
        );
        let mut wrote_output = false;
        for (path, how) in changed(&before, &fingerprints(out.path())) {
            let documented = outputs
                .iter()
                .any(|o| path == *o || (o.ends_with('/') && path.starts_with(o)));
            if documented {
                wrote_output = true;
            } else {
                touched.push(format!("{args:?} {how} `{path}`"));
            }
        }
        // A run that succeeded did write what it is for: the check is not of idle runs.
        assert!(
            wrote_output || exit != 0 || outputs.is_empty(),
            "{args:?} wrote none of {outputs:?}"
        );
        test = out.then();
    }
    for i in ["a", "b"] {
        tool(
            "docker",
            &["rmi", &format!("{}/{repo}:{i}", Bed::get().registry())],
            &[],
        );
    }
    tally(
        "files",
        &format!("user files untouched by {count_runs} runs, failing ones included (files x runs)"),
        count(checked),
        count(touched.len()),
    );
    assert!(touched.is_empty(), "{}", touched.join("\n"));
}
