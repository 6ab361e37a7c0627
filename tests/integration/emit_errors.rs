//! `emit-imagedefs` refusing bad input: the message, the exit code, and nothing changed.

use insta::assert_snapshot;
use pretty_assertions::assert_eq;

use crate::harness::{ECR, Test, fixture};

const EXISTING: &str = "[{\"name\":\"old\",\"imageUri\":\"old:1\"}]  \n";

/// Runs `emit-imagedefs` with `args` next to an existing imagedefinitions.json, checks that it
/// fails with `code` and leaves that file byte for byte as it was, and returns what it printed.
#[track_caller]
fn refused(args: &[&str], code: i32) -> String {
    let out = Test::new()
        .file("imagedefinitions.json", EXISTING)
        .args(["emit-imagedefs"])
        .args(args.iter().copied())
        .run()
        .failure(code);
    assert_eq!(out.read("imagedefinitions.json"), EXISTING);
    assert_eq!(out.files(), ["imagedefinitions.json"]);
    assert_eq!(out.stdout, "");
    out.snapshot()
}

#[test]
fn bad_container_name() {
    assert_snapshot!(refused(
        &["--image", &format!("my container={ECR}/web:1")],
        2
    ));
}

#[test]
fn empty_container_name_from_an_unset_variable() {
    assert_snapshot!(refused(&["--image", &format!("={ECR}/web:1")], 2));
}

#[test]
fn bad_uri() {
    assert_snapshot!(refused(
        &[
            "--image",
            "web=123456789012.dkr.ecr.us-east-1.amazonaws.com/My_Service:1"
        ],
        2
    ));
}

#[test]
fn uri_with_an_empty_repository_variable() {
    assert_snapshot!(refused(&["--image", "web=:abc1234"], 2));
}

#[test]
fn uri_with_an_empty_tag_variable() {
    assert_snapshot!(refused(&["--image", &format!("web={ECR}/web:")], 2));
}

#[test]
fn uri_with_a_bad_digest() {
    assert_snapshot!(refused(
        &["--image", &format!("web={ECR}/web@sha256:abc")],
        2
    ));
}

#[test]
fn uri_without_tag_or_digest() {
    assert_snapshot!(refused(&["--image", &format!("web={ECR}/web")], 2));
}

#[test]
fn image_without_equals() {
    assert_snapshot!(refused(&["--image", &format!("{ECR}/web:1")], 2));
}

#[test]
fn duplicate_name() {
    assert_snapshot!(refused(
        &[
            "--image",
            &format!("web={ECR}/web:1"),
            "--image",
            &format!("web={ECR}/web:2")
        ],
        3
    ));
}

#[test]
fn no_input_at_all() {
    assert_snapshot!(refused(&[], 3));
}

#[test]
fn image_detail_with_two_images_is_ambiguous() {
    assert_snapshot!(refused(
        &[
            "--image-detail",
            "--image",
            &format!("a={ECR}/a:1"),
            "--image",
            &format!("b={ECR}/b:1")
        ],
        3
    ));
}

#[test]
fn unknown_container() {
    assert_snapshot!(refused(
        &["--container", "api", "--image", &format!("web={ECR}/web:1")],
        3
    ));
}

#[test]
fn appspec_without_port_is_a_usage_error() {
    assert_snapshot!(refused(
        &["--appspec", "--image", &format!("web={ECR}/web:1")],
        2
    ));
}

#[test]
fn unknown_hook() {
    assert_snapshot!(refused(
        &[
            "--appspec",
            "--container-port",
            "80",
            "--hook",
            "BeforeDeploy=fn",
            "--image",
            &format!("web={ECR}/web:1")
        ],
        2
    ));
}

#[test]
fn incomplete_network_configuration() {
    assert_snapshot!(refused(
        &[
            "--appspec",
            "--container-port",
            "80",
            "--subnet",
            "subnet-1",
            "--image",
            &format!("web={ECR}/web:1")
        ],
        2
    ));
}

#[test]
fn taskdef_without_the_container_writes_nothing() {
    let out = Test::new()
        .file("imagedefinitions.json", EXISTING)
        .file(
            "t.json",
            std::fs::read(fixture("emit/taskdef.template.json")).unwrap(),
        )
        .args(["emit-imagedefs", "--image-detail", "--taskdef", "t.json"])
        .args(["--image", &format!("web={ECR}/web:1")])
        .run()
        .failure(3);
    assert_eq!(out.read("imagedefinitions.json"), EXISTING);
    assert_eq!(out.files(), ["imagedefinitions.json", "t.json"]);
    assert_snapshot!(out.snapshot());
}

#[test]
fn taskdef_template_that_is_not_json() {
    let out = Test::new()
        .file("t.json", "{\"family\": \n")
        .args([
            "emit-imagedefs",
            "--taskdef",
            "t.json",
            "--image",
            &format!("web={ECR}/web:1"),
        ])
        .run()
        .failure(3);
    assert_eq!(out.files(), ["t.json"]);
    assert_snapshot!(out.snapshot());
}

#[test]
fn taskdef_template_that_is_missing() {
    let out = Test::new()
        .args([
            "emit-imagedefs",
            "--taskdef",
            "ecs/taskdef.json",
            "--image",
            &format!("web={ECR}/web:1"),
        ])
        .run()
        .failure(3);
    assert_eq!(out.files(), Vec::<String>::new());
    assert_snapshot!(out.snapshot());
}

#[test]
fn taskdef_template_is_never_overwritten() {
    let template = r#"{"containerDefinitions":[{"name":"web","image":"<IMAGE1_NAME>"}]}"#;
    let out = Test::new()
        .file("taskdef.json", template)
        .args([
            "emit-imagedefs",
            "--taskdef",
            "taskdef.json",
            "--render",
            "--image",
            &format!("web={ECR}/web:1"),
        ])
        .run()
        .failure(3);
    assert_eq!(out.read("taskdef.json"), template);
    assert_eq!(out.files(), ["taskdef.json"]);
    assert_snapshot!(out.snapshot());
}

#[test]
fn imagedefinitions_over_100_kb_is_refused() {
    let mut args = vec!["emit-imagedefs".to_owned()];
    for i in 0..400 {
        args.push("--image".into());
        args.push(format!(
            "{}{i:03}={ECR}/{}:{i}",
            "c".repeat(200),
            "r".repeat(60)
        ));
    }
    let out = Test::new().args(args).run().failure(3);
    assert_eq!(out.files(), Vec::<String>::new());
    assert_snapshot!(out.snapshot());
}

#[test]
fn an_unwritable_output_directory_changes_nothing() {
    let out = Test::new()
        .file("out", "a file where the directory should be")
        .args([
            "emit-imagedefs",
            "--output-dir",
            "out",
            "--image",
            &format!("web={ECR}/web:1"),
        ])
        .run()
        .failure(4);
    assert_eq!(out.read("out"), "a file where the directory should be");
    assert_snapshot!(out.snapshot());
}

#[test]
fn bad_capacity_provider() {
    assert_snapshot!(refused(
        &[
            "--appspec",
            "--container-port",
            "80",
            "--capacity-provider",
            "FARGATE_SPOT,weight=lots",
            "--image",
            &format!("web={ECR}/web:1"),
        ],
        2
    ));
}

#[test]
fn duplicate_hook() {
    assert_snapshot!(refused(
        &[
            "--appspec",
            "--container-port",
            "80",
            "--hook",
            "BeforeInstall=a",
            "--hook",
            "BeforeInstall=b",
            "--image",
            &format!("web={ECR}/web:1"),
        ],
        2
    ));
}

#[test]
fn taskdef_template_that_is_not_an_object() {
    let out = Test::new()
        .file("t.json", "[]")
        .args([
            "emit-imagedefs",
            "--taskdef",
            "t.json",
            "--image",
            &format!("web={ECR}/web:1"),
        ])
        .run()
        .failure(3);
    assert_eq!(out.files(), ["t.json"]);
    assert_snapshot!(out.snapshot());
}
