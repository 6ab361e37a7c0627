//! `.dockerignore` parity: the files inside an image built by cb-step (both builders) are the
//! files inside the image the docker CLI builds from the same tree.
//!
//! One documented difference: when `.dockerignore` excludes the Dockerfile itself, BuildKit
//! through the Engine API still sees it in the context (it reads the Dockerfile from there).

use pretty_assertions::assert_eq;

use crate::harness::{Bed, Test, create_repository, tool};

const DOCKERIGNORE: &str = "\
# comments and blank lines are skipped

*.log
!important.log
**/*.tmp
build/
!build/keep/**
docs/*
!docs/README.md
/secrets
node_modules
**/cache
  spaced.txt  
a/**/z
[ab]?.bin
\\#literal.txt
.dockerignore
";

const FILES: &[&str] = &[
    "app.py",
    "debug.log",
    "important.log",
    "nested/deep/x.tmp",
    "nested/deep/y.txt",
    "top.tmp",
    "build/out.bin",
    "build/keep/a/b.txt",
    "docs/guide.md",
    "docs/README.md",
    "docs/sub/deeper.md",
    "secrets/key.pem",
    "src/secrets/not-top-level.pem",
    "node_modules/pkg/index.js",
    "src/node_modules/pkg/index.js",
    "one/cache/blob",
    "two/three/cache/blob",
    "spaced.txt",
    "a/z",
    "a/m/n/z",
    "a/m/n/y",
    "ax.bin",
    "cx.bin",
    "#literal.txt",
    "weird name with spaces.txt",
    "unicode-é.txt",
];

/// Builds `dir` with the docker CLI's classic builder and lists what landed in /ctx.
fn docker_cli_listing(dir: &str, repo: &str) -> Vec<String> {
    let image = format!("cb-step-test/{repo}:docker-cli");
    let env = [("DOCKER_BUILDKIT".to_owned(), "0".to_owned())];
    tool(
        "docker",
        &[
            "build",
            "--quiet",
            "--platform",
            "linux/amd64",
            "-t",
            &image,
            dir,
        ],
        &env,
    );
    let paths = listing(&image);
    tool("docker", &["rmi", &image], &[]);
    paths
}

/// Lists every path under /ctx in `image` by running the image's own busybox.
fn listing(image: &str) -> Vec<String> {
    let out = tool(
        "docker",
        &["run", "--rm", "--network", "none", image, "find", "/ctx"],
        &[],
    );
    let mut paths: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("/ctx/"))
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths
}

#[test]
fn cb_step_sends_what_the_docker_cli_sends() {
    let bed = Bed::get();
    let mut test = Test::new().bed().file(".dockerignore", DOCKERIGNORE).file(
        "Dockerfile",
        "FROM cb-step-testbed/busybox:latest\nCOPY . /ctx/\n",
    );
    for file in FILES {
        test = test.file(file, format!("{file}\n"));
    }
    std::os::unix::fs::symlink("app.py", test.path().join("link-to-app")).unwrap();
    let repo = test.unique("ignore");
    create_repository(&repo, "us-east-1", false);
    let dir = test.path().to_string_lossy().into_owned();

    let expected = docker_cli_listing(&dir, &repo);
    assert!(
        expected.contains(&"important.log".to_owned()),
        "{expected:?}"
    );
    assert!(
        !expected.iter().any(|p| p.starts_with("secrets")),
        "{expected:?}"
    );

    let mut out = test
        .args([
            "build-push",
            "--no-push",
            "--repository",
            &repo,
            "--tag",
            "buildkit",
        ])
        .run()
        .success();
    for builder in ["classic", "buildkit"] {
        if builder == "classic" {
            out = out
                .again([
                    "build-push",
                    "--no-push",
                    "--builder",
                    "classic",
                    "--repository",
                    &repo,
                    "--tag",
                    "classic",
                ])
                .success();
        }
        let image = format!("{}/{repo}:{builder}", bed.registry());
        assert_eq!(listing(&image), expected, "{builder}");
        tool("docker", &["rmi", &image], &[]);
    }
}

#[test]
fn an_excluded_dockerfile_is_dropped_by_the_classic_builder_only() {
    let test = Test::new()
        .bed()
        .file(".dockerignore", "Dockerfile\n*.md\n")
        .file(
            "Dockerfile",
            "FROM cb-step-testbed/busybox:latest\nCOPY . /ctx/\n",
        )
        .file("app.py", "print()\n")
        .file("notes.md", "x\n");
    let repo = test.unique("dfignore");
    create_repository(&repo, "us-east-1", false);
    let dir = test.path().to_string_lossy().into_owned();
    let expected = docker_cli_listing(&dir, &repo);
    assert_eq!(expected, [".dockerignore", "app.py"]);

    let out = test
        .args([
            "build-push",
            "--no-push",
            "--builder",
            "classic",
            "--repository",
            &repo,
            "--tag",
            "c",
        ])
        .run()
        .success();
    let image = format!("{}/{repo}", Bed::get().registry());
    assert_eq!(listing(&format!("{image}:c")), expected);
    out.again([
        "build-push",
        "--no-push",
        "--repository",
        &repo,
        "--tag",
        "b",
    ])
    .success();
    assert_eq!(
        listing(&format!("{image}:b")),
        [".dockerignore", "Dockerfile", "app.py"]
    );
    for tag in ["c", "b"] {
        tool("docker", &["rmi", &format!("{image}:{tag}")], &[]);
    }
}

#[test]
fn a_dockerfile_from_outside_the_context_stays_out_of_the_image() {
    let test = Test::new()
        .bed()
        .file("ctx/app.py", "print()\n")
        .file("ctx/.dockerignore", "*.md\n")
        .file("ctx/notes.md", "x\n")
        .file(
            "docker/app.Dockerfile",
            "FROM cb-step-testbed/busybox:latest\nCOPY . /ctx/\n",
        );
    let repo = test.unique("outside");
    create_repository(&repo, "us-east-1", false);
    let ctx = test.path().join("ctx").to_string_lossy().into_owned();
    let dockerfile = test
        .path()
        .join("docker/app.Dockerfile")
        .to_string_lossy()
        .into_owned();
    let image = format!("cb-step-test/{repo}:docker-cli");
    let env = [("DOCKER_BUILDKIT".to_owned(), "0".to_owned())];
    tool(
        "docker",
        &["build", "--quiet", "-f", &dockerfile, "-t", &image, &ctx],
        &env,
    );
    let expected = listing(&image);
    tool("docker", &["rmi", &image], &[]);
    assert_eq!(expected, [".dockerignore", "app.py"]);

    test.args([
        "build-push",
        "ctx",
        "--file",
        "docker/app.Dockerfile",
        "--no-push",
    ])
    .args(["--builder", "classic", "--repository", &repo, "--tag", "c"])
    .run()
    .success();
    let built = format!("{}/{repo}:c", Bed::get().registry());
    assert_eq!(listing(&built), expected);
    tool("docker", &["rmi", &built], &[]);
}
