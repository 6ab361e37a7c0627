//! Buildspecs as the AWS tutorials write them run unmodified against the ECR stand-in, and so
//! does the same build written with cb-step.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::build_push::app;
use crate::harness::{BIN, Bed, Test, create_repository, fixture, git_commit_all, inspect};

/// A source directory with the sample app, the buildspec, one commit, and a repository.
fn source(buildspec: &str) -> (Test, String, String) {
    let test =
        app(Test::new().bed()).file("buildspec.yml", std::fs::read(fixture(buildspec)).unwrap());
    let repo = test.unique("tutorial");
    create_repository(&repo, "us-east-1", false);
    let commit = git_commit_all(test.path());
    (test, repo, commit)
}

/// PATH with cb-step, the stand-in's AWS CLI and the docker CLI.
fn path() -> String {
    let bin = std::path::Path::new(BIN)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let venv = Bed::get().var("CB_STEP_TESTBED_VENV");
    format!("{bin}:{venv}/bin:{}", std::env::var("PATH").unwrap())
}

#[test]
fn the_tutorial_buildspec_runs_unmodified() {
    let (test, repo, commit) = source("buildspecs/tutorial-ecs.yml");
    let out = test
        .env("PATH", &path())
        .args([
            "run",
            "--env",
            &format!("IMAGE_REPO_NAME={repo}"),
            "--env",
            "CONTAINER_NAME=web",
        ])
        .args(["--env", "DOCKER_BUILDKIT=0"])
        .run()
        .success();
    let uri = format!("{}/{repo}:{}", Bed::get().registry(), &commit[..7]);
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.stdout);
    assert_eq!(
        out.json(".cb-step/artifacts/imagedefinitions.json"),
        json!([{"name": "web", "imageUri": uri}])
    );
    assert_eq!(
        out.json(".cb-step/artifacts/imageDetail.json"),
        json!({"ImageURI": uri})
    );
    let (digest, platform, _) = inspect(&uri);
    assert_eq!(
        inspect(&format!("{}/{repo}:latest", Bed::get().registry())).0,
        digest
    );
    assert_eq!(platform, "linux/amd64");
}

#[test]
fn the_same_build_with_cb_step_pins_by_digest() {
    let (test, repo, commit) = source("buildspecs/cb-step-ecs.yml");
    let out = test
        .env("PATH", &path())
        .args([
            "run",
            "--env",
            &format!("IMAGE_REPO_NAME={repo}"),
            "--env",
            "CONTAINER_NAME=web",
        ])
        .run()
        .success();
    let name = format!("{}/{repo}", Bed::get().registry());
    let (digest, _, labels) = inspect(&format!("{name}:{}", &commit[..7]));
    assert_eq!(labels["org.opencontainers.image.revision"], commit.as_str());
    let pinned = format!("{name}@{digest}");
    assert_eq!(
        out.json(".cb-step/artifacts/imagedefinitions.json"),
        json!([{"name": "web", "imageUri": pinned}])
    );
    assert_eq!(
        out.json(".cb-step/artifacts/imageDetail.json"),
        json!({"ImageURI": pinned})
    );
    let record = out.json(".cb-step/build-record.json");
    assert!(
        record["images"][0]["build_id"]
            .as_str()
            .unwrap()
            .contains(':'),
        "run's CODEBUILD_BUILD_ID reaches the record"
    );
}

/// The README's main job: fixtures/app's own buildspec (ecr-login, build-push, emit-imagedefs
/// with every file), run by `cb-step run` against the stand-in.
#[test]
fn the_sample_service_builds_and_gets_its_deploy_artifacts() {
    let mut test = Test::new().bed();
    for file in [
        "Dockerfile",
        "hello.txt",
        ".dockerignore",
        "buildspec.yml",
        "taskdef.template.json",
    ] {
        test = test.file(
            file,
            std::fs::read(fixture(&format!("app/{file}"))).unwrap(),
        );
    }
    let repo = test.unique("sample");
    create_repository(&repo, "us-east-1", false);
    git_commit_all(test.path());
    let out = test
        .env("PATH", &path())
        .args(["run", "--env", &format!("IMAGE_REPO_NAME={repo}")])
        .run()
        .success();
    let name = format!("{}/{repo}", Bed::get().registry());
    let (digest, _, _) = inspect(&format!("{name}:latest"));
    let pinned = format!("{name}@{digest}");
    let artifacts = ".cb-step/artifacts";
    assert_eq!(
        out.json(&format!("{artifacts}/imagedefinitions.json")),
        json!([{"name": "my-container", "imageUri": pinned}])
    );
    assert_eq!(
        out.json(&format!("{artifacts}/imageDetail.json")),
        json!({"ImageURI": pinned})
    );
    assert!(
        out.read(&format!("{artifacts}/appspec.yaml"))
            .contains("ContainerPort: 8080")
    );
    assert_eq!(
        out.json(&format!("{artifacts}/taskdef.json"))["containerDefinitions"][0]["image"],
        "<IMAGE1_NAME>"
    );
    assert_eq!(
        out.read("docker/config.json")
            .contains(Bed::get().registry()),
        true,
        "ecr-login ran"
    );
}
