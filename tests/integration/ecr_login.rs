//! `ecr-login` against the ECR stand-in: the config it writes works for docker and skopeo.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use insta::assert_snapshot;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::{BIN, Bed, ECR_PASSWORD, Test, push_and_pull, tally, tool};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn docker_and_skopeo_push_and_pull_with_the_config_it_writes() {
    let bed = Bed::get();
    let test = Test::new().bed();
    let image = format!("{}/{}:v1", bed.registry(), test.unique("ecr-login"));
    let out = test.args(["ecr-login"]).run().success();
    assert_eq!(out.stdout, format!("{}\n", bed.registry()));
    let config = out.path().join("docker/config.json");
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&out.path().join("docker")), 0o700);
    assert_eq!(
        out.json("docker/config.json"),
        json!({"auths": {bed.registry(): {"auth": "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu"}}})
    );

    let env = [(
        "DOCKER_CONFIG".to_owned(),
        out.path().join("docker").to_string_lossy().into_owned(),
    )];
    push_and_pull(&image, &env);
    let authfile = config.to_string_lossy().into_owned();
    let inspected = tool(
        "skopeo",
        &[
            "inspect",
            "--authfile",
            &authfile,
            &format!("docker://{image}"),
        ],
        &[],
    );
    let inspected: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(inspected["Architecture"], "amd64");
}

#[test]
fn merges_into_an_existing_config() {
    let bed = Bed::get();
    let existing = json!({
        "auths": {"ghcr.io": {"auth": "dXNlcjpwYXNz"}, bed.registry(): {"auth": "b2xkOm9sZA=="}},
        "psFormat": "table {{.ID}}",
        "proxies": {"default": {"noProxy": "localhost"}}
    });
    let out = Test::new()
        .bed()
        .file("docker/config.json", existing.to_string())
        .args(["ecr-login"])
        .run()
        .success();
    let mut expected = existing.clone();
    expected["auths"][bed.registry()] = json!({"auth": "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu"});
    assert_eq!(out.json("docker/config.json"), expected);
    assert_eq!(mode(&out.path().join("docker/config.json")), 0o600);
}

#[test]
fn password_stdout_prints_only_the_password() {
    let out = Test::new()
        .bed()
        .args(["ecr-login", "--password-stdout"])
        .run()
        .success();
    assert_eq!(out.stdout, format!("{ECR_PASSWORD}\n"));
    assert!(!out.stderr.contains(ECR_PASSWORD));
}

#[test]
fn several_registries_get_one_entry_each() {
    let out = Test::new()
        .bed()
        .args([
            "ecr-login",
            "--no-verify",
            "--registry-id",
            "123456789012",
            "--registry-id",
            "210987654321",
        ])
        .run()
        .success();
    let hosts = [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "210987654321.dkr.ecr.us-east-1.amazonaws.com",
    ];
    assert_eq!(out.stdout, format!("{}\n{}\n", hosts[0], hosts[1]));
    let config = out.json("docker/config.json");
    assert_eq!(
        config["auths"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        hosts
    );
}

#[test]
fn region_flag_wins_over_the_environment() {
    let out = Test::new()
        .bed()
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .args(["ecr-login", "--no-verify", "--region", "us-east-1"])
        .run()
        .success();
    assert_eq!(out.stdout, format!("{}\n", Bed::get().registry()));
}

#[test]
fn a_shadowing_creds_store_is_reported_with_the_fix() {
    let out = Test::new()
        .bed()
        .file("docker/config.json", r#"{"credsStore": "desktop"}"#)
        .args(["ecr-login", "-q"])
        .run()
        .success();
    assert_snapshot!(out.snapshot());
}

#[test]
fn concurrent_logins_keep_every_entry() {
    let test = Test::new();
    let docker_config = test.path().join("docker");
    let children: Vec<_> = (0..20)
        .map(|i| {
            std::process::Command::new(BIN)
                .args([
                    "ecr-login",
                    "-q",
                    "--no-verify",
                    "--registry-id",
                    &format!("1000000000{i:02}"),
                ])
                .envs(Bed::get().aws_env())
                .env("DOCKER_CONFIG", &docker_config)
                .spawn()
                .expect("spawn cb-step")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(docker_config.join("config.json")).unwrap()).unwrap();
    let kept = config["auths"].as_object().unwrap().len();
    tally(
        "writers",
        "parallel ecr-login into one config.json",
        20,
        20u64.saturating_sub(kept as u64),
    );
    assert_eq!(kept, 20);
}

#[test]
fn credentials_from_a_named_profile() {
    let test = Test::new()
        .bed()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PROFILE", "ci")
        .file(
            ".aws/credentials",
            "[ci]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n",
        );
    let home = test.path().to_string_lossy().into_owned();
    let out = test.env("HOME", &home).args(["ecr-login"]).run().success();
    assert_eq!(out.stdout, format!("{}\n", Bed::get().registry()));
}

/// CodeBuild hands its service role to builds through the container credentials endpoint
/// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on 169.254.170.2). The same provider takes a full
/// loopback URI, which a test can serve.
#[test]
fn credentials_from_the_container_credentials_endpoint() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let body = r#"{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"container-secret","Token":"container-session","Expiration":"2099-01-01T00:00:00Z"}"#;
        let mut stream = stream;
        write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        request_line
    });
    let out = Test::new()
        .bed()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            &format!("http://127.0.0.1:{port}/v2/credentials/build"),
        )
        .args(["ecr-login"])
        .run()
        .success();
    assert_eq!(out.stdout, format!("{}\n", Bed::get().registry()));
    assert!(
        server
            .join()
            .unwrap()
            .starts_with("GET /v2/credentials/build ")
    );
}
