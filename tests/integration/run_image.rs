//! `run --image`: the phases run in a container of the build image, through the Engine API.

use pretty_assertions::assert_eq;

use crate::harness::{Bed, Test};

#[test]
fn the_phases_run_inside_the_image_with_the_source_mounted() {
    let image = Bed::get().var("CB_STEP_TESTBED_BASE_IMAGE");
    let out = Test::new()
        .file(
            "buildspec.yml",
            "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - mkdir -p out && cd out\n      - TAG=v7\n  build:\n    commands:\n      - echo \"$CODEBUILD_SRC_DIR|$PWD|$TAG|$PATH\" > seen\n      - test -S /var/run/docker.sock && echo socket > socket\n      - exit 4\n  post_build:\n    commands:\n      - echo post > post\nartifacts:\n  files: ['out/*']\n",
        )
        .args(["run", "--image", image])
        .run()
        .failure(10);
    // The image's PATH (busybox: /bin), not the host's; the source at CodeBuild's path.
    assert_eq!(
        out.read("out/seen"),
        "/codebuild/output/src1/src|/codebuild/output/src1/src/out|v7|/bin\n"
    );
    assert_eq!(out.read("out/socket"), "socket\n");
    assert_eq!(out.read(".cb-step/artifacts/out/post"), "post\n");
    assert!(
        out.stdout.contains("Reason: exit status 4"),
        "{}",
        out.stdout
    );
    let source = out.path().canonicalize().unwrap();
    let filter = format!("label=cb-step.source={}", source.display());
    let left = crate::harness::tool("docker", &["ps", "-aq", "--filter", &filter], &[]);
    assert_eq!(left.trim(), "", "the build container is removed");
}

#[test]
fn a_missing_image_is_a_clear_error() {
    let out = Test::new()
        .file(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - touch ran\n",
        )
        .args(["run", "--image", "cb-step-testbed/no-such-image:1"])
        .run()
        .failure(3);
    assert!(!out.path().join("ran").exists());
    assert!(
        out.stderr
            .contains("cannot run the build in a container of `cb-step-testbed/no-such-image:1`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hint: the image must be available locally"),
        "{}",
        out.stderr
    );
}
