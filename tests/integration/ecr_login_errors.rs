//! `ecr-login` failures against real services, and the password kept out of every output.

use insta::assert_snapshot;
use pretty_assertions::assert_eq;

use crate::harness::{Bed, ECR_PASSWORD, Outcome, Test};

/// The base64 `AWS:<password>` token is the same secret in another spelling.
const ECR_TOKEN: &str = "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu";

/// Runs `ecr-login` with `args`, expects exit `code`, and checks that no Docker config appeared.
#[track_caller]
fn refused(test: Test, args: &[&str], code: i32) -> Outcome {
    let out = test
        .args(["ecr-login"])
        .args(args.iter().copied())
        .run()
        .failure(code);
    assert!(
        !out.path().join("docker/config.json").exists(),
        "config written on error"
    );
    assert_eq!(out.stdout, "");
    out
}

/// No credentials anywhere: no variables, no ~/.aws, no instance metadata.
fn without_credentials() -> Test {
    Test::new()
        .bed()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// The IAM-enforcing stand-in, with a user that may do nothing.
fn denied() -> Test {
    let bed = Bed::get();
    Test::new()
        .bed()
        .env(
            "AWS_ENDPOINT_URL_ECR",
            bed.var("CB_STEP_TESTBED_IAM_ENDPOINT"),
        )
        .env(
            "AWS_ACCESS_KEY_ID",
            bed.var("CB_STEP_TESTBED_DENIED_KEY_ID"),
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            bed.var("CB_STEP_TESTBED_DENIED_SECRET"),
        )
}

#[test]
fn no_credentials() {
    assert_snapshot!(refused(without_credentials(), &[], 5).snapshot());
}

#[test]
fn no_region() {
    let test = Test::new()
        .bed()
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    assert_snapshot!(refused(test, &[], 2).snapshot());
}

#[test]
fn bad_registry_id() {
    assert_snapshot!(refused(Test::new().bed(), &["--registry-id", "12345678901x"], 2).snapshot());
}

#[test]
fn unreachable_api_endpoint() {
    let test = Test::new()
        .bed()
        .env("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:1");
    assert_snapshot!(refused(test, &[], 6).snapshot());
}

#[test]
fn access_denied() {
    assert_snapshot!(refused(denied(), &[], 5).snapshot());
}

#[test]
fn unknown_access_key() {
    let bed = Bed::get();
    let test = Test::new()
        .bed()
        .env(
            "AWS_ENDPOINT_URL_ECR",
            bed.var("CB_STEP_TESTBED_IAM_ENDPOINT"),
        )
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret");
    let out = refused(test, &[], 5);
    assert!(
        out.stderr.contains("AWS rejected the credentials"),
        "{}",
        out.stderr
    );
}

#[test]
fn registry_rejects_the_token() {
    let bed = Bed::get();
    let test = Test::new().bed();
    let out = refused(
        test,
        &["--region", bed.var("CB_STEP_TESTBED_REJECTING_REGION")],
        5,
    );
    assert_snapshot!(out.snapshot());
}

#[test]
fn registry_unreachable() {
    // The stand-in hands out a token for account 210987654321, whose host resolves nowhere.
    let out = refused(Test::new().bed(), &["--registry-id", "210987654321"], 6);
    assert!(
        out.stderr
            .contains("cannot reach registry `210987654321.dkr.ecr.us-east-1.amazonaws.com`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_config_it_cannot_read_is_left_alone() {
    let out = Test::new()
        .bed()
        .file("docker/config.json", "{\"auths\": {")
        .args(["ecr-login"])
        .run()
        .failure(3);
    assert_eq!(out.read("docker/config.json"), "{\"auths\": {");
    assert_snapshot!(out.snapshot());
}

/// Every path, at the highest verbosity, with the third-party crates asked for trace as well:
/// the password is in config.json and (only with `--password-stdout`) on stdout, nowhere else.
/// strace shows every program cb-step started and its argv.
#[test]
fn the_password_never_leaks() {
    let bed = Bed::get();
    let bed_test = || Test::new().bed();
    let shadowed = || {
        Test::new()
            .bed()
            .file("docker/config.json", r#"{"credsStore":"desktop"}"#)
    };
    let rejecting = bed.var("CB_STEP_TESTBED_REJECTING_REGION");
    type Case<'a> = (&'a str, &'a dyn Fn() -> Test, Vec<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        ("login", &bed_test, vec![]),
        ("no verify", &bed_test, vec!["--no-verify"]),
        (
            "two registries",
            &bed_test,
            vec![
                "--no-verify",
                "--registry-id",
                "123456789012",
                "--registry-id",
                "210987654321",
            ],
        ),
        ("shadowed", &shadowed, vec![]),
        ("registry rejects", &bed_test, vec!["--region", rejecting]),
        (
            "registry unreachable",
            &bed_test,
            vec!["--registry-id", "210987654321"],
        ),
        ("no credentials", &without_credentials, vec![]),
        ("access denied", &denied, vec![]),
        ("password stdout", &bed_test, vec!["--password-stdout"]),
    ];
    for (name, test, args) in cases {
        for log in [
            "trace",
            "trace,aws_smithy_runtime=trace,aws_config=trace,hyper=trace,reqwest=trace",
        ] {
            let out = test()
                .traced()
                .env("CB_STEP_LOG", log)
                .args(["-vv", "ecr-login"])
                .args(args.iter().copied())
                .run();
            let stdout = if name == "password stdout" {
                assert_eq!(out.stdout, format!("{ECR_PASSWORD}\n"));
                String::new()
            } else {
                out.stdout.clone()
            };
            for secret in [ECR_PASSWORD, ECR_TOKEN] {
                assert!(
                    !stdout.contains(secret),
                    "{name}: secret on stdout:\n{stdout}"
                );
                assert!(
                    !out.stderr.contains(secret),
                    "{name}: secret on stderr:\n{}",
                    out.stderr
                );
            }
            let trace = out.read("strace.log");
            let execs: Vec<_> = trace.lines().filter(|l| l.contains("execve(")).collect();
            assert_eq!(
                execs.len(),
                1,
                "{name}: cb-step started other programs:\n{trace}"
            );
            assert!(
                !trace.contains(ECR_PASSWORD) && !trace.contains(ECR_TOKEN),
                "{name}: {trace}"
            );
        }
    }
}
