//! `cb-step run` conformance: one buildspec per rule of buildspec-semantics.md, checked by the
//! marker files its commands write, the exit code, and CodeBuild's log lines.

use pretty_assertions::assert_eq;

use crate::harness::{Outcome, Test};

/// Runs `buildspec` in a fresh directory.
fn run(buildspec: &str) -> Outcome {
    Test::new()
        .file("buildspec.yml", buildspec)
        .args(["run"])
        .run()
}

/// The messages of the `[Container]` lines, without their timestamps.
fn container(out: &Outcome) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("[Container] "))
        .map(|l| l.get(27..).unwrap_or_default().to_owned())
        .collect()
}

fn entered(out: &Outcome) -> Vec<String> {
    container(out)
        .iter()
        .filter_map(|l| l.strip_prefix("Entering phase ").map(str::to_owned))
        .collect()
}

fn completed(out: &Outcome) -> Vec<String> {
    container(out)
        .iter()
        .filter_map(|l| l.strip_prefix("Phase complete: ").map(str::to_owned))
        .collect()
}

const ALL_FOUR: [&str; 4] = ["INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"];

fn phases_with(failing: &str) -> String {
    let mut text = String::from("version: 0.2\nphases:\n");
    for phase in ["install", "pre_build", "build", "post_build"] {
        let command = if phase == failing { "exit 3" } else { "true" };
        text.push_str(&format!("  {phase}:\n    commands:\n      - touch ran-{phase}\n      - {command}\n      - touch after-{phase}\n"));
    }
    text.push_str("artifacts:\n  files: ['ran-*']\n");
    text
}

#[test]
fn a_successful_build_runs_every_phase_and_exits_0() {
    let out = run(&phases_with("none")).success();
    assert_eq!(
        entered(&out),
        [&ALL_FOUR[..], &["UPLOAD_ARTIFACTS"]].concat()
    );
    for phase in ["install", "pre_build", "build", "post_build"] {
        assert!(out.path().join(format!("after-{phase}")).exists());
        assert!(
            out.path()
                .join(format!(".cb-step/artifacts/ran-{phase}"))
                .exists()
        );
    }
    assert!(
        completed(&out)
            .iter()
            .all(|c| c.ends_with("State: SUCCEEDED")),
        "{:?}",
        completed(&out)
    );
    assert!(
        out.stderr.contains("cb-step: build SUCCEEDED"),
        "{}",
        out.stderr
    );
    let stamp = out.stdout.lines().next().unwrap();
    let pattern =
        regex_lite::Regex::new(r"^\[Container\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} ")
            .unwrap();
    assert!(pattern.is_match(stamp), "{stamp}");
}

#[test]
fn a_failed_install_skips_every_later_phase_and_the_upload() {
    let out = run(&phases_with("install")).failure(10);
    assert_eq!(entered(&out), ["INSTALL"]);
    assert!(out.path().join("ran-install").exists());
    assert!(
        !out.path().join("after-install").exists(),
        "the rest of the phase is skipped"
    );
    assert!(!out.path().join("ran-pre_build").exists());
    assert!(container(&out).contains(
        &"Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: exit 3. Reason: exit status 3".to_owned()
    ));
    assert!(
        container(&out)
            .contains(&"Command did not exit successfully exit 3 exit status 3".to_owned())
    );
}

#[test]
fn a_failed_pre_build_skips_build_post_build_and_the_upload() {
    let out = run(&phases_with("pre_build")).failure(10);
    assert_eq!(entered(&out), ["INSTALL", "PRE_BUILD"]);
    assert!(!out.path().join("ran-build").exists());
}

#[test]
fn a_failed_build_still_runs_post_build_and_the_upload() {
    let out = run(&phases_with("build")).failure(10);
    assert_eq!(
        entered(&out),
        [&ALL_FOUR[..], &["UPLOAD_ARTIFACTS"]].concat()
    );
    assert!(out.path().join("ran-post_build").exists());
    assert!(
        out.path()
            .join(".cb-step/artifacts/ran-post_build")
            .exists()
    );
    assert!(completed(&out).contains(&"BUILD State: FAILED".to_owned()));
    assert!(
        out.stderr.contains("cb-step: build FAILED"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_failed_post_build_still_uploads() {
    let out = run(&phases_with("post_build")).failure(10);
    assert_eq!(
        entered(&out),
        [&ALL_FOUR[..], &["UPLOAD_ARTIFACTS"]].concat()
    );
    assert!(
        out.path()
            .join(".cb-step/artifacts/ran-post_build")
            .exists()
    );
}

#[test]
fn no_matching_artifact_paths_fails_upload_artifacts() {
    let out = run("version: 0.2\nphases:\n  build:\n    commands:\n      - 'true'\nartifacts:\n  files: imagedefinitions.json\n").failure(10);
    let lines = container(&out);
    assert!(
        lines.contains(&"Skipping invalid file path imagedefinitions.json".to_owned()),
        "{lines:?}"
    );
    assert!(lines.contains(&"Phase complete: UPLOAD_ARTIFACTS State: FAILED".to_owned()));
    assert!(
        lines.contains(
            &"Phase context status code: CLIENT_ERROR Message: no matching artifact paths found"
                .to_owned()
        )
    );
}

#[test]
fn finally_runs_after_a_failing_command_and_a_failing_finally_fails_the_phase() {
    let out = run("version: 0.2\nphases:\n  build:\n    commands:\n      - 'false'\n      - touch skipped\n    finally:\n      - touch finally-ran\n").failure(10);
    assert!(!out.path().join("skipped").exists());
    assert!(out.path().join("finally-ran").exists());

    let out = run("version: 0.2\nphases:\n  build:\n    commands:\n      - touch ok\n    finally:\n      - 'false'\n      - touch after-failing-finally\n").failure(10);
    assert!(completed(&out).contains(&"BUILD State: FAILED".to_owned()));
    assert!(!out.path().join("after-failing-finally").exists());
}

#[test]
fn on_failure_abort_stops_the_build_there() {
    let out = run("version: 0.2\nphases:\n  build:\n    on-failure: ABORT\n    commands:\n      - 'false'\n  post_build:\n    commands:\n      - touch post\n").failure(10);
    assert_eq!(entered(&out), ["INSTALL", "PRE_BUILD", "BUILD"]);
    assert!(!out.path().join("post").exists());
}

#[test]
fn on_failure_continue_goes_on_but_the_build_fails() {
    let out = run("version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n    commands:\n      - 'false'\n  build:\n    commands:\n      - echo \"succeeding=$CODEBUILD_BUILD_SUCCEEDING\" > marker\n").failure(10);
    assert_eq!(out.read("marker"), "succeeding=0\n");
}

#[test]
fn on_failure_retry_runs_the_phase_again() {
    // Fails twice, then succeeds: RETRY-2 is enough.
    let flaky = "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2\n    commands:\n      - echo x >> attempts\n      - test $(wc -l < attempts) -ge 3\n";
    let out = run(flaky).success();
    assert_eq!(out.read("attempts"), "x\nx\nx\n");
    assert_eq!(
        container(&out)
            .iter()
            .filter(|l| l.contains("retrying"))
            .count(),
        2
    );

    let out = run(&flaky.replace("RETRY-2", "RETRY-1")).failure(10);
    assert_eq!(out.read("attempts"), "x\nx\n");

    // RETRY-regex: only a failure whose message or output matches is retried.
    let out = run("version: 0.2\nphases:\n  build:\n    on-failure: RETRY-3-.*TIMEOUT.*\n    commands:\n      - echo x >> attempts\n      - echo 'permission denied' && false\n").failure(10);
    assert_eq!(out.read("attempts"), "x\n");
    let out = run("version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2-TIMEOUT\n    commands:\n      - echo x >> attempts\n      - echo 'TIMEOUT talking to registry' && false\n").failure(10);
    assert_eq!(out.read("attempts"), "x\nx\nx\n");
}

#[test]
fn version_0_2_keeps_cd_and_variables_across_commands_and_phases() {
    let out = run("version: 0.2\nphases:\n  pre_build:\n    commands:\n      - mkdir sub && cd sub\n      - IMAGE_TAG=abc1234\n  build:\n    commands:\n      - echo \"$IMAGE_TAG\" > tag\n").success();
    assert_eq!(out.read("sub/tag"), "abc1234\n");
}

#[test]
fn version_0_1_runs_each_command_in_a_fresh_shell() {
    let out = run("version: 0.1\nphases:\n  build:\n    commands:\n      - mkdir sub && cd sub\n      - IMAGE_TAG=abc1234\n      - echo \"[$IMAGE_TAG]\" > tag\n").success();
    assert_eq!(out.read("tag"), "[]\n");
}

#[test]
fn a_block_is_one_command_judged_by_its_last_status() {
    let out = run("version: 0.2\nphases:\n  build:\n    commands:\n      - |\n        false\n        touch after-false\n        true\n").success();
    assert!(out.path().join("after-false").exists());
}

#[test]
fn the_default_shell_is_sh_and_env_shell_chooses_another() {
    // Under sh, `[[` is "not found" and the `if` quietly takes the false branch.
    let out = run("version: 0.2\nphases:\n  build:\n    commands:\n      - 'if [[ 1 == 1 ]]; then touch bash-ran; fi'\n").success();
    assert!(!out.path().join("bash-ran").exists());
    assert!(out.stdout.contains("[[: not found"), "{}", out.stdout);
    assert!(
        out.stderr.contains("warning: `[[` is bash syntax"),
        "run warns as lint does: {}",
        out.stderr
    );
    let out = run("version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n      - 'if [[ 1 == 1 ]]; then touch bash-ran; fi'\n").success();
    assert!(out.path().join("bash-ran").exists());
}

#[test]
fn variables_precedence_and_literal_env_variables() {
    let out = Test::new()
        .file(
            "buildspec.yml",
            "version: 0.2\nenv:\n  variables:\n    FROM_SPEC: spec\n    OVERRIDDEN: spec\n    LITERAL: $HOME/bin\nphases:\n  build:\n    commands:\n      - echo \"$INHERITED $FROM_SPEC $OVERRIDDEN $LITERAL\" > vars\n",
        )
        .file("vars.env", "# a comment\nFROM_FILE=file\n")
        .env("INHERITED", "inherited")
        .env("FROM_SPEC", "inherited-loses")
        .args(["run", "--env", "OVERRIDDEN=flag", "--env-file", "vars.env"])
        .run()
        .success();
    assert_eq!(out.read("vars"), "inherited spec flag $HOME/bin\n");
}

#[test]
fn secrets_are_masked_everywhere_and_missing_ones_fail_download_source() {
    let spec = "version: 0.2\nenv:\n  parameter-store:\n    API_KEY: /prod/api-key\n  secrets-manager:\n    DB_PASSWORD: prod/db:password\nphases:\n  build:\n    commands:\n      - echo \"key=$API_KEY pw=$DB_PASSWORD\"\n      - echo s3cr3t-pw-value >&2\n";
    let out = Test::new()
        .file("buildspec.yml", spec)
        .args([
            "run",
            "--env",
            "API_KEY=k3y-value-123",
            "--env",
            "DB_PASSWORD=s3cr3t-pw-value",
        ])
        .run()
        .success();
    assert!(
        !out.stdout.contains("k3y-value-123") && !out.stdout.contains("s3cr3t-pw-value"),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains("s3cr3t-pw-value"), "{}", out.stderr);
    assert!(out.stdout.contains("key=*** pw=***"), "{}", out.stdout);
    assert!(
        out.stdout.lines().any(|l| l == "***"),
        "stderr of a command is masked too"
    );

    let out = Test::new()
        .file("buildspec.yml", spec)
        .args(["run", "--env", "API_KEY=x"])
        .run()
        .failure(3);
    let lines = container(&out);
    assert!(
        lines.contains(&"Phase complete: DOWNLOAD_SOURCE State: FAILED".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`DB_PASSWORD` comes from secrets-manager (`prod/db:password`)")),
        "{lines:?}"
    );
    assert!(entered(&out).is_empty());
}

#[test]
fn an_invalid_buildspec_fails_download_source_and_runs_nothing() {
    let out = run("version: 0.2\nphases:\n  build:\n    commands:\n      - touch ran\n      - echo \"Hello: world\"\n").failure(3);
    assert!(!out.path().join("ran").exists());
    assert!(entered(&out).is_empty());
    let lines = container(&out);
    assert!(lines.contains(&"Phase complete: DOWNLOAD_SOURCE State: FAILED".to_owned()));
    assert!(
        lines.contains(&"Phase context status code: YAML_FILE_ERROR Message: Expected Commands[1] to be of string type: found subkeys instead at line 6, value of the key tag on line 5 might be empty".to_owned()),
        "{lines:?}"
    );
    assert!(
        out.stderr.contains("hint: quote the whole command"),
        "{}",
        out.stderr
    );
}

#[test]
fn codebuild_variables_are_synthesised() {
    let test = Test::new().file(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - env | grep -E '^(CODEBUILD_|AWS_REGION|AWS_DEFAULT_REGION)' | sort > vars\n",
    );
    let commit = crate::harness::git_commit_all(test.path());
    let out = test
        .env("AWS_REGION", "eu-west-1")
        .args(["run"])
        .run()
        .success();
    let vars: std::collections::BTreeMap<String, String> = out
        .read("vars")
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let source = out
        .path()
        .canonicalize()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(vars["CODEBUILD_SRC_DIR"], source);
    assert_eq!(vars["CODEBUILD_RESOLVED_SOURCE_VERSION"], commit);
    assert_eq!(vars["CODEBUILD_BUILD_NUMBER"], "1");
    assert_eq!(vars["CODEBUILD_BUILD_SUCCEEDING"], "1");
    assert_eq!(vars["AWS_REGION"], "eu-west-1");
    assert_eq!(vars["AWS_DEFAULT_REGION"], "eu-west-1");
    let (project, uuid) = vars["CODEBUILD_BUILD_ID"].split_once(':').unwrap();
    assert!(
        !project.is_empty() && uuid.len() == 36,
        "{}",
        vars["CODEBUILD_BUILD_ID"]
    );
    assert!(vars["CODEBUILD_BUILD_ARN"].starts_with("arn:aws:codebuild:eu-west-1:"));
    assert!(
        vars["CODEBUILD_BUILD_ARN"].ends_with(&format!("build/{}", vars["CODEBUILD_BUILD_ID"]))
    );
    assert_eq!(vars["CODEBUILD_LOG_PATH"], uuid);
    assert!(vars["CODEBUILD_START_TIME"].parse::<u64>().is_ok());
    for name in [
        "CODEBUILD_SOURCE_VERSION",
        "CODEBUILD_INITIATOR",
        "CODEBUILD_BUILD_IMAGE",
    ] {
        assert!(vars.contains_key(name), "{name} missing: {vars:?}");
    }
    let out = out.again(["run"]).success();
    assert!(
        out.read("vars").contains("CODEBUILD_BUILD_NUMBER=2\n"),
        "counts up per source directory"
    );
}

#[test]
fn exported_variables_are_reported_and_written() {
    let out = run("version: 0.2\nenv:\n  exported-variables:\n    - IMAGE_TAG\nphases:\n  build:\n    commands:\n      - IMAGE_TAG=v42\n").success();
    assert!(container(&out).contains(&"Exporting variable IMAGE_TAG=v42".to_owned()));
    assert_eq!(
        out.json(".cb-step/artifacts/exported-variables.json"),
        serde_json::json!({"IMAGE_TAG": "v42"})
    );
}

#[test]
fn run_as_runs_the_commands_as_that_user() {
    let test = Test::new().file(
        "buildspec.yml",
        "version: 0.2\nrun-as: nobody\nphases:\n  build:\n    commands:\n      - id -un > /tmp/cb-step-run-as-$CODEBUILD_LOG_PATH\n      - cat /tmp/cb-step-run-as-$CODEBUILD_LOG_PATH\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(test.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = test.args(["run"]).run().success();
    assert!(out.stdout.lines().any(|l| l == "nobody"), "{}", out.stdout);

    let out = run("version: 0.2\nrun-as: no-such-user-here\nphases:\n  build:\n    commands:\n      - touch ran\n").failure(3);
    assert!(!out.path().join("ran").exists());
    assert!(
        out.stderr
            .contains("`run-as: no-such-user-here`: no such user"),
        "{}",
        out.stderr
    );
}

#[test]
fn plain_retry_means_three_more_attempts_and_retry_regex_alone_too() {
    let always = "version: 0.2\nphases:\n  build:\n    on-failure: RETRY\n    commands:\n      - echo x >> attempts\n      - echo 'flaky network' && false\n";
    let out = run(always).failure(10);
    assert_eq!(out.read("attempts"), "x\nx\nx\nx\n");
    let out = run(&always.replace("RETRY\n", "RETRY-flaky.*\n")).failure(10);
    assert_eq!(out.read("attempts"), "x\nx\nx\nx\n");
    let out = run(&always.replace("RETRY\n", "RETRY-disk.full\n")).failure(10);
    assert_eq!(out.read("attempts"), "x\n");
}
