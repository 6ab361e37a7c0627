//! `emit-imagedefs` from `--image`: the files, their exact formats, and pinning.

use insta::assert_snapshot;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::{ECR, Test, digest, fixture};

fn uri() -> String {
    format!("{ECR}/my-service:abc1234")
}

#[test]
fn writes_imagedefinitions_json_in_an_empty_directory() {
    let out = Test::new()
        .args([
            "emit-imagedefs",
            "--image",
            &format!("my-container={}", uri()),
        ])
        .run()
        .success();
    assert_eq!(
        out.json("imagedefinitions.json"),
        json!([{"name": "my-container", "imageUri": uri()}])
    );
    assert_eq!(out.stdout, "imagedefinitions.json\n");
    assert_eq!(out.files(), ["imagedefinitions.json"]);
    assert_snapshot!(out.read("imagedefinitions.json"));
}

#[test]
fn image_detail_names_the_same_image() {
    let out = Test::new()
        .args([
            "emit-imagedefs",
            "--image-detail",
            "--image",
            &format!("my-container={}", uri()),
        ])
        .run()
        .success();
    assert_eq!(out.json("imageDetail.json"), json!({"ImageURI": uri()}));
    assert_eq!(out.stdout, "imagedefinitions.json\nimageDetail.json\n");
    assert_snapshot!(out.read("imageDetail.json"));
}

#[test]
fn appspec_has_the_placeholder_and_a_numeric_port() {
    let out = Test::new()
        .args(["emit-imagedefs", "--appspec", "--container-port", "8080"])
        .args(["--image", &format!("my-container={}", uri())])
        .run()
        .success();
    let text = out.read("appspec.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let props = &doc["Resources"][0]["TargetService"]["Properties"];
    assert_eq!(props["TaskDefinition"].as_str(), Some("<TASK_DEFINITION>"));
    assert_eq!(
        props["LoadBalancerInfo"]["ContainerName"].as_str(),
        Some("my-container")
    );
    assert!(
        props["LoadBalancerInfo"]["ContainerPort"].is_u64(),
        "{text}"
    );
    assert_eq!(
        props["LoadBalancerInfo"]["ContainerPort"].as_u64(),
        Some(8080)
    );
    assert_eq!(doc["version"].as_f64(), Some(0.0));
    assert_snapshot!(text);
}

#[test]
fn appspec_with_every_optional_part() {
    let out = Test::new()
        .args(["emit-imagedefs", "--appspec", "--container-port", "80"])
        .args(["--image", &format!("web={}", uri())])
        .args(["--platform-version", "1.4.0"])
        .args([
            "--subnet",
            "subnet-1",
            "--subnet",
            "subnet-2",
            "--security-group",
            "sg-1",
        ])
        .args(["--assign-public-ip", "DISABLED"])
        .args(["--capacity-provider", "FARGATE_SPOT,base=1,weight=2"])
        .args(["--capacity-provider", "FARGATE,weight=1"])
        .args([
            "--hook",
            "AfterAllowTestTraffic=Smoke",
            "--hook",
            "BeforeInstall=Prepare",
        ])
        .run()
        .success();
    let text = out.read("appspec.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let props = &doc["Resources"][0]["TargetService"]["Properties"];
    assert_eq!(
        props["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"][1].as_str(),
        Some("subnet-2")
    );
    assert_eq!(
        props["CapacityProviderStrategy"][0]["Weight"].as_u64(),
        Some(2)
    );
    // Hooks come out in lifecycle order whatever the order of the flags.
    assert_eq!(doc["Hooks"][0]["BeforeInstall"].as_str(), Some("Prepare"));
    assert_eq!(
        doc["Hooks"][1]["AfterAllowTestTraffic"].as_str(),
        Some("Smoke")
    );
    assert_snapshot!(text);
}

#[test]
fn taskdef_gets_the_placeholder_and_keeps_everything_else() {
    let template = std::fs::read_to_string(fixture("emit/taskdef.template.json")).unwrap();
    let out = Test::new()
        .file("ecs/taskdef.template.json", &template)
        .args(["emit-imagedefs", "--taskdef", "ecs/taskdef.template.json"])
        .args(["--image", &format!("my-container={}", uri())])
        .run()
        .success();
    let expected: serde_json::Value = serde_json::from_str(&template).unwrap();
    let mut rendered = out.json("taskdef.json");
    assert_eq!(
        rendered["containerDefinitions"][0]["image"],
        "<IMAGE1_NAME>"
    );
    assert_eq!(
        rendered, expected,
        "the template already had the placeholder"
    );
    assert_eq!(
        out.read("ecs/taskdef.template.json"),
        template,
        "template untouched"
    );

    let out = Test::new()
        .file("taskdef.template.json", &template)
        .args([
            "emit-imagedefs",
            "--taskdef",
            "taskdef.template.json",
            "--render",
        ])
        .args(["--image", &format!("my-container={}", uri())])
        .run()
        .success();
    rendered = out.json("taskdef.json");
    assert_eq!(rendered["containerDefinitions"][0]["image"], uri());
    rendered["containerDefinitions"][0]["image"] =
        expected["containerDefinitions"][0]["image"].clone();
    assert_eq!(rendered, expected);
    assert_snapshot!(out.read("taskdef.json"));
}

#[test]
fn taskdef_placeholder_name_is_configurable() {
    let out = Test::new()
        .file(
            "t.json",
            r#"{"containerDefinitions":[{"name":"web","image":"nginx"}]}"#,
        )
        .args([
            "emit-imagedefs",
            "--taskdef",
            "t.json",
            "--placeholder",
            "IMAGE",
        ])
        .args(["--image", &format!("web={}", uri())])
        .run()
        .success();
    assert_eq!(
        out.json("taskdef.json")["containerDefinitions"][0]["image"],
        "<IMAGE>"
    );
}

#[test]
fn a_uri_with_a_digest_is_pinned_by_digest_by_default() {
    let d = digest('a');
    let out = Test::new()
        .args(["emit-imagedefs", "--image-detail"])
        .args(["--image", &format!("web={ECR}/web:abc1234@{d}")])
        .run()
        .success();
    let pinned = format!("{ECR}/web@{d}");
    assert_eq!(
        out.json("imagedefinitions.json"),
        json!([{"name": "web", "imageUri": pinned}])
    );
    assert_eq!(out.json("imageDetail.json"), json!({"ImageURI": pinned}));
}

#[test]
fn pin_tag_and_pin_digest_are_obeyed() {
    let d = digest('b');
    let out = Test::new()
        .args(["emit-imagedefs", "--pin", "tag"])
        .args(["--image", &format!("web={ECR}/web:abc1234@{d}")])
        .run()
        .success();
    assert_eq!(
        out.json("imagedefinitions.json")[0]["imageUri"],
        format!("{ECR}/web:abc1234")
    );

    let out = Test::new()
        .args([
            "emit-imagedefs",
            "--pin",
            "digest",
            "--image",
            &format!("web={}", uri()),
        ])
        .run()
        .failure(3);
    assert_eq!(out.files(), Vec::<String>::new());
    assert_snapshot!(out.snapshot());
}

#[test]
fn several_containers_are_sorted_by_name() {
    let out = Test::new()
        .args(["emit-imagedefs"])
        .args(["--image", &format!("worker={ECR}/worker:1")])
        .args(["--image", &format!("api={ECR}/api:1")])
        .args([
            "--image",
            "envoy=public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.4.0-prod",
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
    assert_eq!(names, ["api", "envoy", "worker"]);
}

#[test]
fn container_picks_one_of_several_images() {
    let out = Test::new()
        .args(["emit-imagedefs", "--image-detail", "--container", "api"])
        .args(["--image", &format!("worker={ECR}/worker:1")])
        .args(["--image", &format!("api={ECR}/api:1")])
        .run()
        .success();
    assert_eq!(
        out.json("imagedefinitions.json"),
        json!([{"name": "api", "imageUri": format!("{ECR}/api:1")}])
    );
    assert_eq!(
        out.json("imageDetail.json"),
        json!({"ImageURI": format!("{ECR}/api:1")})
    );
}

#[test]
fn output_dir_is_created_and_existing_outputs_are_replaced() {
    let out = Test::new()
        .file("deploy/imagedefinitions.json", "old")
        .args([
            "emit-imagedefs",
            "--output-dir",
            "deploy/ecs",
            "--image",
            &format!("web={}", uri()),
        ])
        .run()
        .success();
    assert_eq!(out.stdout, "deploy/ecs/imagedefinitions.json\n");
    assert_eq!(
        out.json("deploy/ecs/imagedefinitions.json")[0]["name"],
        "web"
    );
    assert_eq!(out.read("deploy/imagedefinitions.json"), "old");

    let out = Test::new()
        .file("imagedefinitions.json", "old")
        .args(["emit-imagedefs", "--image", &format!("web={}", uri())])
        .run()
        .success();
    assert_eq!(out.json("imagedefinitions.json")[0]["name"], "web");
    assert_eq!(
        out.files(),
        ["imagedefinitions.json"],
        "no temporary files left"
    );
}
