//! `emit-imagedefs` from the build record that `build-push` leaves in `.cb-step/`.

use insta::assert_snapshot;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::{ECR, Test, fixture};

const RECORD: &str = ".cb-step/build-record.json";

fn record(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("emit/{name}"))).unwrap()
}

const DIGEST: &str = "sha256:b07fe1240a1b0c2b7c9e8d1f1e6f0d5f6a2b3c4d5e6f708192a3b4c5d6e7f8a9";

#[test]
fn the_record_is_pinned_by_digest_with_no_flags() {
    let out = Test::new()
        .file(RECORD, record("record-one.json"))
        .args(["emit-imagedefs", "--image-detail"])
        .run()
        .success();
    let pinned = format!("{ECR}/my-service@{DIGEST}");
    assert_eq!(
        out.json("imagedefinitions.json"),
        json!([{"name": "my-service", "imageUri": pinned}])
    );
    assert_eq!(out.json("imageDetail.json"), json!({"ImageURI": pinned}));
}

#[test]
fn container_name_renames_the_only_record_image() {
    let out = Test::new()
        .file(RECORD, record("record-one.json"))
        .env("CONTAINER_NAME", "my-container")
        .args(["emit-imagedefs", "--appspec", "--container-port", "8080"])
        .run()
        .success();
    assert_eq!(out.json("imagedefinitions.json")[0]["name"], "my-container");
    assert!(
        out.read("appspec.yaml")
            .contains("ContainerName: my-container")
    );
    assert!(
        out.stderr.contains("is written as `my-container`"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_record_is_found_under_codebuild_src_dir() {
    let test = Test::new().file("src/.cb-step/build-record.json", record("record-one.json"));
    let src = test.path().join("src").to_string_lossy().into_owned();
    let out = test
        .env("CODEBUILD_SRC_DIR", &src)
        .args(["emit-imagedefs", "--output-dir", "out"])
        .run()
        .success();
    assert_eq!(
        out.json("out/imagedefinitions.json")[0]["imageUri"],
        format!("{ECR}/my-service@{DIGEST}")
    );
}

#[test]
fn two_images_and_one_not_pushed() {
    let out = Test::new()
        .file(RECORD, record("record-two.json"))
        .args(["emit-imagedefs"])
        .run()
        .success();
    assert_eq!(
        out.json("imagedefinitions.json"),
        json!([
            {"name": "api", "imageUri": format!("{ECR}/shop/api@sha256:{}", "1".repeat(64))},
            {"name": "worker", "imageUri": format!("{ECR}/shop/worker:abc1234")},
        ])
    );
    assert!(out.stderr.contains("was not pushed"), "{}", out.stderr);
}

#[test]
fn pin_digest_refuses_an_image_that_was_not_pushed() {
    let out = Test::new()
        .file(RECORD, record("record-two.json"))
        .args(["emit-imagedefs", "--pin", "digest"])
        .run()
        .failure(3);
    assert_eq!(out.files(), [RECORD]);
    assert_snapshot!(out.snapshot());
}

#[test]
fn record_is_merged_with_images_only_when_named() {
    let out = Test::new()
        .file(RECORD, record("record-one.json"))
        .args([
            "emit-imagedefs",
            "--image",
            "envoy=public.ecr.aws/appmesh/envoy:v1",
        ])
        .run()
        .success();
    assert_eq!(
        out.json("imagedefinitions.json").as_array().unwrap().len(),
        1
    );

    let out = Test::new()
        .file(RECORD, record("record-one.json"))
        .args([
            "emit-imagedefs",
            "--record",
            RECORD,
            "--image",
            "envoy=public.ecr.aws/appmesh/envoy:v1",
        ])
        .run()
        .success();
    let names: Vec<_> = out
        .json("imagedefinitions.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["envoy", "my-service"]);
}

#[test]
fn empty_record() {
    let out = Test::new()
        .file(RECORD, r#"{"version": 1, "images": []}"#)
        .args(["emit-imagedefs"])
        .run()
        .failure(3);
    assert_eq!(out.files(), [RECORD]);
    assert_snapshot!(out.snapshot());
}

#[test]
fn corrupt_record() {
    let out = Test::new()
        .file(RECORD, "{\"version\": 1, \"images\": [")
        .args(["emit-imagedefs"])
        .run()
        .failure(3);
    assert_snapshot!(out.snapshot());
}

#[test]
fn record_from_a_newer_cb_step() {
    let out = Test::new()
        .file(RECORD, r#"{"version": 2, "images": []}"#)
        .args(["emit-imagedefs"])
        .run()
        .failure(3);
    assert_snapshot!(out.snapshot());
}

#[test]
fn record_with_a_bad_container_name() {
    let text = String::from_utf8(record("record-one.json"))
        .unwrap()
        .replace("\"my-service\",", "\"my service\",");
    let out = Test::new()
        .file(RECORD, text)
        .args(["emit-imagedefs"])
        .run()
        .failure(3);
    assert_snapshot!(out.snapshot());
}
