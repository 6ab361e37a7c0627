//! The ECR stand-in is faithful: the tutorials' own shell line logs in to it, and the docker CLI
//! pushes and pulls through it, over TLS that independent clients verify.

use crate::harness::{Bed, Test, push_and_pull, tool};

#[test]
fn the_tutorial_login_line_works_and_docker_pushes_and_pulls() {
    let bed = Bed::get();
    let test = Test::new();
    let docker_config = test.path().join("docker").to_string_lossy().into_owned();
    let image = format!("{}/{}:v1", bed.registry(), test.unique("bed-faithful"));
    let mut env = bed.aws_env();
    env.push(("DOCKER_CONFIG".into(), docker_config.clone()));
    env.push((
        "PATH".into(),
        format!(
            "{}/bin:{}",
            bed.var("CB_STEP_TESTBED_VENV"),
            std::env::var("PATH").unwrap()
        ),
    ));

    let login = "aws ecr get-login-password --region $AWS_DEFAULT_REGION | docker login --username AWS --password-stdin $AWS_ACCOUNT_ID.dkr.ecr.$AWS_DEFAULT_REGION.amazonaws.com";
    let said = tool("sh", &["-c", login], &env);
    assert!(said.contains("Login Succeeded"), "{said}");

    push_and_pull(&image, &env);

    // skopeo checks the registry's certificate (dockerd does not, for loopback addresses), and
    // the digest it reports is the sha256 of the manifest bytes the registry serves.
    let authfile = format!("{docker_config}/config.json");
    let reference = format!("docker://{image}");
    let digest = tool(
        "skopeo",
        &[
            "inspect",
            "--authfile",
            &authfile,
            "--format",
            "{{.Digest}}",
            &reference,
        ],
        &env,
    );
    let raw_sum = tool(
        "sh",
        &[
            "-c",
            &format!("skopeo inspect --raw --authfile {authfile} {reference} | sha256sum"),
        ],
        &env,
    );
    assert_eq!(
        digest.trim(),
        format!("sha256:{}", raw_sum.split_whitespace().next().unwrap())
    );
}
