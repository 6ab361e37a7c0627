//! `build-push` end to end against the real daemon and the ECR stand-in, checked with skopeo
//! and sha256sum, and `emit-imagedefs` reading what it recorded.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::{Bed, Test, create_repository, git_commit_all, inspect, raw_manifest_sha256};

pub const DOCKERFILE: &str = "FROM cb-step-testbed/busybox:latest\nCOPY hello.txt /hello.txt\nRUN echo built > /built.txt\nCMD [\"cat\", \"/hello.txt\"]\n";

/// A small app: the bed's busybox base, a file, and a RUN step.
pub fn app(test: Test) -> Test {
    test.file("Dockerfile", DOCKERFILE)
        .file("hello.txt", "hello\n")
}

#[test]
fn commit_and_latest_tags_resolve_to_the_printed_digest() {
    let test = app(Test::new().bed());
    let repo = test.unique("svc");
    create_repository(&repo, "us-east-1", false);
    let commit = git_commit_all(test.path());
    let out = test
        .args([
            "build-push",
            "--repository",
            &repo,
            "--tag-from-commit",
            "--latest",
        ])
        .run()
        .success();
    let name = format!("{}/{repo}", Bed::get().registry());
    let printed = out.stdout.trim().to_owned();
    let (printed_name, digest) = printed.split_once('@').expect("name@digest");
    assert_eq!(printed_name, name);
    for tag in [&commit[..7], "latest"] {
        let (found, platform, labels) = inspect(&format!("{name}:{tag}"));
        assert_eq!(found, digest, "tag {tag}");
        assert_eq!(platform, "linux/amd64");
        assert_eq!(labels["org.opencontainers.image.revision"], commit.as_str());
        assert_eq!(labels["org.opencontainers.image.version"], &commit[..7]);
        assert!(
            labels["org.opencontainers.image.created"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }
    assert_eq!(raw_manifest_sha256(&format!("{name}:latest")), digest);
    assert!(out.stderr.contains("digest verified"), "{}", out.stderr);
    assert!(
        out.stderr.contains("by manifest (no upload)"),
        "{}",
        out.stderr
    );

    let record = out.json(".cb-step/build-record.json");
    let key_tag = record["images"][0]["tags"][2].as_str().unwrap().to_owned();
    assert!(
        key_tag.starts_with("ctx-") && key_tag.len() == 16,
        "{key_tag}"
    );
    assert_eq!(inspect(&format!("{name}:{key_tag}")).0, digest);
    assert_eq!(
        record["images"][0],
        json!({
            "container": repo, "registry": Bed::get().registry(), "repository": repo,
            "tags": [&commit[..7], "latest", key_tag], "digest": digest, "platform": "linux/amd64",
            "pushed": true, "commit": commit, "build_id": null
        })
    );

    // emit-imagedefs after build-push: digest-pinned, with no further flags.
    let out = out.again(["emit-imagedefs", "--image-detail"]).success();
    let pinned = format!("{name}@{digest}");
    assert_eq!(
        out.json("imagedefinitions.json"),
        json!([{"name": repo, "imageUri": pinned}])
    );
    assert_eq!(out.json("imageDetail.json"), json!({"ImageURI": pinned}));
}

#[test]
fn classic_builder_and_codebuild_variables() {
    let test = app(Test::new().bed());
    let repo = test.unique("classic");
    create_repository(&repo, "us-east-1", false);
    let out = test
        .env(
            "CODEBUILD_RESOLVED_SOURCE_VERSION",
            "0123456789abcdef0123456789abcdef01234567",
        )
        .env("CODEBUILD_BUILD_NUMBER", "42")
        .env("CODEBUILD_BUILD_ID", "my-project:4f1c3e2a")
        .env(
            "CODEBUILD_SOURCE_REPO_URL",
            "https://github.com/acme/shop.git",
        )
        .env("CONTAINER_NAME", "web")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build-push", "--builder", "classic", "--repository", &repo])
        .args([
            "--tag-from-commit",
            "--tag-length",
            "10",
            "--tag-from-build-number",
        ])
        .run()
        .success();
    let name = format!("{}/{repo}", Bed::get().registry());
    let digest = out.stdout.trim().split_once('@').unwrap().1.to_owned();
    let (found, platform, labels) = inspect(&format!("{name}:0123456789"));
    assert_eq!(
        (found.as_str(), platform.as_str()),
        (digest.as_str(), "linux/amd64")
    );
    assert_eq!(inspect(&format!("{name}:42")).0, digest);
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/acme/shop.git"
    );
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(
        labels["com.amazonaws.codebuild.build-id"],
        "my-project:4f1c3e2a"
    );
    assert!(
        out.stderr.contains(" : RUN echo built > /built.txt"),
        "{}",
        out.stderr
    );
    let record = out.json(".cb-step/build-record.json");
    assert_eq!(record["images"][0]["container"], "web");
    assert_eq!(record["images"][0]["build_id"], "my-project:4f1c3e2a");
}

#[test]
fn no_push_records_an_unpushed_image_that_emit_will_not_pin_by_digest() {
    let test = app(Test::new().bed());
    let repo = test.unique("nopush");
    create_repository(&repo, "us-east-1", false);
    let out = test
        .args([
            "build-push",
            "--repository",
            &repo,
            "--tag",
            "v1",
            "--no-push",
        ])
        .run()
        .success();
    let name = format!("{}/{repo}", Bed::get().registry());
    assert_eq!(out.stdout, format!("{name}:v1\n"));
    let record = out.json(".cb-step/build-record.json");
    assert_eq!(record["images"][0]["pushed"], false);
    assert!(record["images"][0].get("digest").is_none());
    let out = out.again(["emit-imagedefs", "--pin", "digest"]).failure(3);
    assert!(
        out.stderr.contains("was built but not pushed"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_full_ecr_reference_and_build_options() {
    let test = Test::new()
        .bed()
        .file(
            "Dockerfile",
            "FROM cb-step-testbed/busybox:latest AS base\nARG GREETING\nARG FROM_ENV\nRUN echo \"$GREETING $FROM_ENV\" > /greeting\nFROM base AS final\nRUN false\n",
        );
    let repo = test.unique("team/app");
    create_repository(&repo, "us-east-1", false);
    let full = format!("{}/{repo}", Bed::get().registry());
    let out = test
        .env("FROM_ENV", "from-env")
        .args([
            "build-push",
            "--repository",
            &full,
            "--tag",
            "v1.2.3",
            "--target",
            "base",
        ])
        .args([
            "--build-arg",
            "GREETING=hi",
            "--build-arg",
            "FROM_ENV",
            "--label",
            "team=payments",
            "--no-cache",
        ])
        .run()
        .success();
    let (_, _, labels) = inspect(&format!("{full}:v1.2.3"));
    assert_eq!(labels["team"], "payments");
    let record = out.json(".cb-step/build-record.json");
    assert_eq!(
        record["images"][0]["container"],
        repo.rsplit('/').next().unwrap()
    );
    assert_eq!(record["images"][0]["repository"], repo);
}

/// The stand-in registry under its IP address: to cb-step an ordinary, non-ECR registry.
const PLAIN_REGISTRY: &str = "127.0.0.1";

#[test]
fn other_registries_use_docker_config_auths() {
    let auth = "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu"; // AWS:123456789012-auth-token
    let test = app(Test::new().bed()).file(
        "docker/config.json",
        format!(r#"{{"auths": {{"{PLAIN_REGISTRY}": {{"auth": "{auth}"}}}}}}"#),
    );
    let name = format!("{PLAIN_REGISTRY}/{}", test.unique("plain"));
    let out = test
        .args(["build-push", "--repository", &name, "--tag", "v1"])
        .run()
        .success();
    let digest = out.stdout.trim().split_once('@').unwrap().1.to_owned();
    assert_eq!(inspect(&format!("{name}:v1")).0, digest);
}

#[test]
fn other_registries_use_credential_helpers() {
    let helper = "#!/bin/sh\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"AWS\",\"Secret\":\"123456789012-auth-token\"}' \"$server\"\n";
    let test = app(Test::new().bed())
        .file("bin/docker-credential-cbtest", helper)
        .file(
            "docker/config.json",
            format!(r#"{{"credHelpers": {{"{PLAIN_REGISTRY}": "cbtest"}}}}"#),
        );
    use std::os::unix::fs::PermissionsExt;
    let bin = test.path().join("bin");
    std::fs::set_permissions(
        bin.join("docker-credential-cbtest"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let name = format!("{PLAIN_REGISTRY}/{}", test.unique("helper"));
    let out = test
        .env("PATH", &path)
        .args(["build-push", "--repository", &name, "--tag", "v1"])
        .run()
        .success();
    let digest = out.stdout.trim().split_once('@').unwrap().1.to_owned();
    assert_eq!(inspect(&format!("{name}:v1")).0, digest);
}

#[test]
fn other_registries_without_credentials_are_refused_by_the_registry() {
    let test = app(Test::new().bed());
    let name = format!("{PLAIN_REGISTRY}/{}", test.unique("anonymous"));
    let out = test
        .args(["build-push", "--repository", &name, "--tag", "v1"])
        .run()
        .failure(8);
    assert!(
        out.stderr.contains("no basic auth credentials"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hint: cb-step found no credentials for this registry"),
        "{}",
        out.stderr
    );
    assert!(!out.path().join(".cb-step/build-record.json").exists());
}
