//! What ships: the static binary, the FROM scratch image around it, and cb-step's own
//! buildspec.yml, run by `cb-step run` against the stand-in. The README's test command builds
//! the static binary before the tests run.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::{BIN, Bed, Test, create_repository, git_commit_all, inspect, tool};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn static_binary() -> PathBuf {
    let path = repo_root().join("target/x86_64-unknown-linux-musl/release/cb-step");
    assert!(
        path.is_file(),
        "{} is missing: the README's test command (`bash .ci/test`) builds it before the tests",
        path.display()
    );
    path
}

#[test]
fn the_release_binary_is_static_and_at_most_6_mb() {
    let binary = static_binary();
    let size = std::fs::metadata(&binary).unwrap().len();
    assert!(size <= 6_000_000, "{size} bytes");
    let ldd = std::process::Command::new("ldd")
        .arg(&binary)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    assert!(
        said.contains("statically linked") || said.contains("not a dynamic executable"),
        "{said}"
    );
}

/// The Dockerfile's final stage around the locally built static binary (no base image can be
/// pulled here), built by cb-step with BuildKit, which skips the Rust stage.
fn scratch_image(test: &Test) -> String {
    let context = test.path().join("image");
    std::fs::create_dir_all(context.join("dist")).unwrap();
    std::fs::copy(static_binary(), context.join("dist/cb-step")).unwrap();
    std::fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        context.join("dist/ca-certificates.crt"),
    )
    .unwrap();
    std::fs::copy(repo_root().join("Dockerfile"), context.join("Dockerfile")).unwrap();
    let repo = test.unique("cb-step-image");
    create_repository(&repo, "us-east-1", false);
    let out = std::process::Command::new(BIN)
        .args([
            "build-push",
            "-q",
            "--no-push",
            "--target",
            "final",
            "--build-arg",
            "BINARY_FROM=prebuilt",
        ])
        .args(["--repository", &repo, "--tag", "local"])
        .arg(&context)
        .envs(Bed::get().aws_env())
        .env("CB_STEP_RECORD", test.path().join("record.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_scratch_image_runs_version_and_an_ecr_login() {
    let test = Test::new().bed();
    let image = scratch_image(&test);
    let version = tool("docker", &["run", "--rm", &image, "--version"], &[]);
    assert!(version.starts_with("cb-step 0.1.0 (commit "), "{version}");

    let config = test.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let mut args = vec![
        "run".to_owned(),
        "--rm".into(),
        "--network".into(),
        "host".into(),
    ];
    for (key, value) in Bed::get().aws_env() {
        args.extend(["-e".into(), format!("{key}={value}")]);
    }
    args.extend([
        "-e".into(),
        "DOCKER_CONFIG=/config".into(),
        "-v".into(),
        format!("{}:/config", config.display()),
    ]);
    args.extend([image.clone(), "ecr-login".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = tool("docker", &args, &[]);
    assert_eq!(host.trim(), Bed::get().registry());
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config.join("config.json")).unwrap()).unwrap();
    assert!(written["auths"][Bed::get().registry()]["auth"].is_string());
    tool("docker", &["rmi", &image], &[]);
}

/// A target directory of this test's own, hard-linked from the warm static build, so that the
/// buildspec's `cargo build` recompiles only cb-step itself (its path differs) and never
/// replaces the binary that the other tests read.
fn seeded_target_dir(test: &Test) -> TargetDir {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test.unique("ship-target"));
    std::fs::create_dir_all(&target).unwrap();
    for layout in ["x86_64-unknown-linux-musl", "release"] {
        let from = repo_root().join("target").join(layout);
        if from.is_dir() {
            tool(
                "cp",
                &["-al", from.to_str().unwrap(), target.to_str().unwrap()],
                &[],
            );
        }
    }
    TargetDir(target)
}

struct TargetDir(PathBuf);

impl Drop for TargetDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// cb-step's own buildspec.yml, in a copy of this repository, with a quick TEST_COMMAND (the
/// full suite is what is running this test) and a warm target directory.
#[test]
fn the_root_buildspec_runs_and_pins_its_own_image() {
    let test = Test::new().bed();
    let source = test.path().join("repo");
    let files = tool(
        "git",
        &[
            "-C",
            repo_root().to_str().unwrap(),
            "ls-files",
            "-co",
            "--exclude-standard",
        ],
        &[],
    );
    for file in files.lines() {
        let from = repo_root().join(file);
        if from.is_file() {
            let to = source.join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
    }
    let commit = git_commit_all(&source);
    let repo = test.unique("cb-step-self");
    create_repository(&repo, "us-east-1", false);
    let bin = Path::new(BIN).parent().unwrap().display().to_string();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap());
    let target = seeded_target_dir(&test);
    let home = std::env::var("HOME").unwrap();
    let rustup_home = std::env::var("RUSTUP_HOME").unwrap_or(format!("{home}/.rustup"));
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or(format!("{home}/.cargo"));
    let out = test
        .env("PATH", &path)
        .env("RUSTUP_HOME", &rustup_home)
        .env("CARGO_HOME", &cargo_home)
        .args(["run", "--source", source.to_str().unwrap()])
        .args([
            "--env",
            "TEST_COMMAND=cargo fmt --check",
            "--env",
            &format!("IMAGE_REPO_NAME={repo}"),
        ])
        .args(["--env", &format!("CARGO_TARGET_DIR={}", target.0.display())])
        .run()
        .success();
    let name = format!("{}/{repo}", Bed::get().registry());
    let (digest, platform, labels) = inspect(&format!("{name}:{}", &commit[..7]));
    assert_eq!(platform, "linux/amd64");
    assert_eq!(labels["org.opencontainers.image.revision"], commit.as_str());
    let artifacts = source.join(".cb-step/artifacts");
    let definitions: serde_json::Value =
        serde_json::from_slice(&std::fs::read(artifacts.join("imagedefinitions.json")).unwrap())
            .unwrap();
    assert_eq!(
        definitions,
        json!([{"name": "cb-step", "imageUri": format!("{name}@{digest}")}])
    );
    assert!(artifacts.join("dist/cb-step").is_file());
    assert!(
        out.stdout
            .contains("Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED")
    );
}
