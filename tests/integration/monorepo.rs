//! `build-push --images`: many services in one invocation, and content keys that skip what did
//! not change. Checked against the registry with skopeo.

use std::collections::BTreeMap;

use pretty_assertions::assert_eq;
use serde_json::Value;

use crate::harness::{
    BIN, Bed, Outcome, Test, create_repositories, fixture, git_commit_all, inspect,
    raw_manifest_sha256,
};

/// `n` services under `services/`, each `FROM scratch` with its own file and a `.dockerignore`d
/// notes file, and the images file that lists them. Returns the repositories, in order.
pub fn monorepo(test: Test, n: usize) -> (Test, Vec<String>) {
    let mut test = test;
    let mut list = String::new();
    let mut repos = Vec::new();
    for i in 0..n {
        let service = format!("s{i:02}");
        let repo = test.unique(&format!("mono-{service}"));
        test = test
            .file(
                &format!("services/{service}/Dockerfile"),
                "FROM scratch\nCOPY app.txt /app.txt\n",
            )
            .file(
                &format!("services/{service}/app.txt"),
                format!("service {service}\n"),
            )
            .file(&format!("services/{service}/.dockerignore"), "notes.md\n")
            .file(
                &format!("services/{service}/notes.md"),
                "not in the image\n",
            );
        list.push_str(&format!(
            "- container: {service}\n  repository: {repo}\n  context: services/{service}\n"
        ));
        repos.push(repo);
    }
    create_repositories(&repos);
    (test.file("images.yml", list), repos)
}

/// Container → (digest, reused, tags) from the build record.
pub fn recorded(out: &Outcome) -> BTreeMap<String, (String, bool, Vec<String>)> {
    let record = out.json(".cb-step/build-record.json");
    record["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| {
            let tags = image["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect();
            (
                image["container"].as_str().unwrap().to_owned(),
                (
                    image["digest"].as_str().unwrap().to_owned(),
                    image["reused"] == Value::Bool(true),
                    tags,
                ),
            )
        })
        .collect()
}

#[track_caller]
fn says(out: &Outcome, text: &str) {
    assert!(out.stderr.contains(text), "no {text:?} in:\n{}", out.stderr);
}

fn key_tag(tags: &[String]) -> &str {
    tags.iter().find(|t| t.starts_with("ctx-")).unwrap()
}

#[test]
fn twenty_services_build_together_then_reuse_and_rebuild_only_what_changed() {
    let (test, repos) = monorepo(Test::new().bed(), 20);
    let registry = Bed::get().registry();
    let build = |out: Outcome, tag: &str| {
        out.again([
            "build-push",
            "--images",
            "images.yml",
            "--jobs",
            "4",
            "--tag",
            tag,
        ])
        .success()
    };

    // First run: all 20 built and pushed, concurrently, one line each on stdout.
    let first = test
        .args([
            "build-push",
            "--images",
            "images.yml",
            "--jobs",
            "4",
            "--tag",
            "v1",
        ])
        .run()
        .success();
    let printed: Vec<&str> = first.stdout.lines().collect();
    assert_eq!(printed.len(), 20, "{}", first.stdout);
    let before = recorded(&first);
    assert_eq!(before.len(), 20);
    for (i, repo) in repos.iter().enumerate() {
        let (digest, reused, tags) = &before[&format!("s{i:02}")];
        assert!(!reused);
        assert_eq!(printed[i], format!("{registry}/{repo}@{digest}"));
        assert_eq!(inspect(&format!("{registry}/{repo}:v1")).0, *digest);
        assert_eq!(
            inspect(&format!("{registry}/{repo}:{}", key_tag(tags))).0,
            *digest
        );
    }
    says(&first, "[s07] build-push: building");
    assert!(
        first.stderr.contains("20 images in")
            && first.stderr.contains("20 built, 0 reused, 0 failed"),
        "{}",
        first.stderr
    );

    // Nothing changed: every image reused, same digests, the new tag added by manifest.
    let second = build(first, "v2");
    let after = recorded(&second);
    for (i, repo) in repos.iter().enumerate() {
        let (digest, reused, tags) = &after[&format!("s{i:02}")];
        assert!(reused, "s{i:02} was rebuilt");
        assert_eq!(*digest, before[&format!("s{i:02}")].0);
        assert!(tags.contains(&"v2".to_owned()));
        assert_eq!(inspect(&format!("{registry}/{repo}:v2")).0, *digest);
    }
    says(&second, "0 built, 20 reused");
    assert!(
        !second.stderr.contains("build-push: building"),
        "{}",
        second.stderr
    );

    // One context changed: that one is rebuilt, with a new key and digest; the rest reused.
    std::fs::write(second.path().join("services/s07/app.txt"), "changed\n").unwrap();
    let third = build(second, "v3");
    let changed = recorded(&third);
    says(&third, "1 built, 19 reused");
    let (digest, reused, tags) = &changed["s07"];
    assert!(!reused);
    assert_ne!(*digest, before["s07"].0);
    assert_ne!(key_tag(tags), key_tag(&before["s07"].2));
    assert_eq!(inspect(&format!("{registry}/{}:v3", repos[7])).0, *digest);
    for (container, (digest, reused, _)) in &changed {
        if container != "s07" {
            assert!(reused, "{container}");
            assert_eq!(*digest, before[container].0);
        }
    }

    // Only a .dockerignored file changed: no key changes, nothing built.
    std::fs::write(third.path().join("services/s03/notes.md"), "edited\n").unwrap();
    let fourth = build(third, "v4");
    says(&fourth, "0 built, 20 reused");
    for (container, (_, _, tags)) in recorded(&fourth) {
        assert_eq!(
            key_tag(&tags),
            key_tag(&changed[&container].2),
            "{container}"
        );
    }

    // One imagedefinitions.json for the 20 containers, pinned by digest.
    let emitted = fourth.again(["emit-imagedefs"]).success();
    let definitions = emitted.json("imagedefinitions.json");
    assert_eq!(definitions.as_array().unwrap().len(), 20);
    assert_eq!(
        definitions[7]["imageUri"],
        format!("{registry}/{}@{}", repos[7], changed["s07"].0)
    );
}

#[test]
fn force_rebuilds_and_a_failing_image_leaves_the_others_pushed() {
    let (test, repos) = monorepo(Test::new().bed(), 3);
    let test = test.file(
        "services/s01/Dockerfile",
        "FROM scratch\nCOPY missing.txt /\n",
    );
    let out = test
        .args(["build-push", "--images", "images.yml", "--tag", "v1"])
        .run()
        .failure(7);
    says(&out, "[s01] error: the build failed");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("error: 1 of 3 images failed: s01")),
        "{}",
        out.stderr
    );
    let record = recorded(&out);
    assert_eq!(record.keys().collect::<Vec<_>>(), ["s00", "s02"]);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    let registry = Bed::get().registry();
    assert_eq!(
        inspect(&format!("{registry}/{}:v1", repos[2])).0,
        record["s02"].0
    );

    let forced = out
        .again([
            "build-push",
            "--images",
            "images.yml",
            "--tag",
            "v2",
            "--force",
            "--jobs",
            "1",
        ])
        .failure(7);
    says(&forced, "2 built, 0 reused, 1 failed");
    let digest = &recorded(&forced)["s02"].0;
    assert_eq!(inspect(&format!("{registry}/{}:v2", repos[2])).0, *digest);
}

#[test]
fn a_bad_images_file_names_the_line_and_builds_nothing() {
    let test = Test::new().bed().file(
        "images.yml",
        "- repository: web\n- repository: api\n  contxt: api\n",
    );
    let out = test
        .args(["build-push", "--images", "images.yml", "--tag", "v1"])
        .run()
        .failure(3);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        "error: `images.yml`, line 3: unknown field `contxt`, expected one of `container`, `repository`, `context`, `dockerfile`, `target`, `build-args`, `platform`"
    );
    says(&out, "hint: the file is a YAML list");

    let out = out
        .again([
            "build-push",
            "--images",
            "images.yml",
            "--repository",
            "web",
        ])
        .failure(2);
    says(&out, "cannot be used with");

    std::fs::write(
        out.path().join("images.yml"),
        "- repository: team-a/web\n- repository: team-b/web\n",
    )
    .unwrap();
    let out = out
        .again(["build-push", "--images", "images.yml", "--tag", "v1"])
        .failure(3);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        "error: `images.yml`: two images have the container name `web`"
    );
}

/// The README's fan-out: `fixtures/monorepo`, a batch of one build per group of services, each
/// running `build-push --images` and `emit-imagedefs`, run locally by `cb-step run`.
#[test]
fn the_batch_fan_out_of_a_monorepo_runs_locally() {
    let mut test = Test::new().bed();
    let prefix = test.unique("fanout");
    for file in [
        "buildspec.yml",
        "images/storefront.yml",
        "images/backoffice.yml",
        "services/web/Dockerfile",
        "services/web/app.txt",
        "services/checkout/Dockerfile",
        "services/checkout/app.txt",
        "services/admin/Dockerfile",
        "services/admin/app.txt",
        "services/reports/Dockerfile",
        "services/reports/app.txt",
    ] {
        let text = std::fs::read_to_string(fixture(&format!("monorepo/{file}"))).unwrap();
        test = test.file(file, text.replace("monorepo/", &format!("{prefix}/")));
    }
    let services = ["web", "checkout", "admin", "reports"];
    create_repositories(&services.map(|s| format!("{prefix}/{s}")));
    git_commit_all(test.path());
    let bin = std::path::Path::new(BIN)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap());
    let out = test.env("PATH", &path).args(["run"]).run().success();
    assert!(out.stdout.contains("[storefront] "), "{}", out.stdout);
    let registry = Bed::get().registry();
    for (group, members) in [
        ("storefront", ["web", "checkout"]),
        ("backoffice", ["admin", "reports"]),
    ] {
        let definitions = out.json(&format!(".cb-step/artifacts/{group}/imagedefinitions.json"));
        let mut expected = Vec::new();
        for service in members {
            let name = format!("{registry}/{prefix}/{service}");
            let (digest, platform, _) = inspect(&format!("{name}:latest"));
            assert_eq!(platform, "linux/amd64");
            expected
                .push(serde_json::json!({"name": service, "imageUri": format!("{name}@{digest}")}));
        }
        expected.sort_by_key(|e| e["name"].as_str().unwrap().to_owned());
        assert_eq!(definitions, Value::Array(expected), "{group}");
    }
}

/// Load: 50 images in one run, all pushed and verified, in bounded memory. The peak RSS goes to
/// the test's output for the README.
#[test]
fn fifty_images_in_one_run_are_pushed_and_verified_in_bounded_memory() {
    let (test, repos) = monorepo(Test::new().bed(), 50);
    let (out, peak_kib) = test
        .args(["build-push", "--images", "images.yml", "--tag", "v1"])
        .run_measured();
    assert_eq!(out.status, 0, "{}", out.stderr);
    says(&out, "50 built, 0 reused, 0 failed");
    let record = recorded(&out);
    assert_eq!(record.len(), 50);
    let registry = Bed::get().registry();
    for (i, repo) in repos.iter().enumerate() {
        let digest = &record[&format!("s{i:02}")].0;
        assert_eq!(
            raw_manifest_sha256(&format!("{registry}/{repo}:v1")),
            *digest
        );
    }
    eprintln!("peak RSS of build-push --images with 50 images: {peak_kib} KiB");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}
