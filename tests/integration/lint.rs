//! `cb-step lint`: the exact output for each trap, and `run` refusing what lint refuses.

use insta::assert_snapshot;

use crate::harness::Test;

fn lint(buildspec: &str, code: i32) -> String {
    let out = Test::new()
        .file("buildspec.yml", buildspec)
        .args(["lint"])
        .run()
        .failure(code);
    out.snapshot()
}

#[test]
fn a_clean_buildspec() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n",
        0
    ));
}

#[test]
fn yaml_syntax_error() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo x\n     - echo misaligned\n",
        3
    ));
}

#[test]
fn unquoted_colon_in_a_command() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo Hello: world\n",
        3
    ));
}

#[test]
fn unknown_phase_with_did_you_mean() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  postbuild:\n    commands:\n      - echo x\n",
        3
    ));
}

#[test]
fn artifacts_under_phases() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo x\n  artifacts:\n    files: [a]\n",
        3
    ));
}

#[test]
fn unknown_keys_are_warnings() {
    assert_snapshot!(lint(
        "version: 0.2\nenviroment:\n  variables: {}\nphases:\n  build:\n    commands:\n      - echo x\n    comands:\n      - echo y\n",
        0
    ));
}

#[test]
fn bad_version_and_missing_commands() {
    assert_snapshot!(lint(
        "version: 1.0\nphases:\n  build:\n    finally:\n      - echo x\n",
        3
    ));
}

#[test]
fn bash_syntax_under_sh() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - source ./env.sh\n      - FILES=(a b c)\n      - echo ${NAME//-/_}\n",
        0
    ));
}

#[test]
fn bash_syntax_is_fine_with_env_shell_bash() {
    assert_snapshot!(lint(
        "version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n      - '[[ -n \"$X\" ]] && source ./env.sh'\n",
        0
    ));
}

#[test]
fn folded_line_continuation() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - docker build \\\n        -t app .\n",
        0
    ));
}

#[test]
fn path_in_env_variables_stays_literal() {
    assert_snapshot!(lint(
        "version: 0.2\nenv:\n  variables:\n    PATH: $PATH:/opt/tool/bin\nphases:\n  build:\n    commands:\n      - tool\n",
        0
    ));
}

#[test]
fn absolute_and_parent_artifact_paths() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo x\nartifacts:\n  base-directory: ../out\n  files:\n    - /etc/passwd\n",
        3
    ));
}

#[test]
fn booleans_in_every_spelling_and_a_bad_one() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo x\nartifacts:\n  files: [a]\n  discard-paths: maybe\nreports:\n  unit:\n    files: [r.xml]\n    discard-paths: yes\n",
        3
    ));
    for value in ["yes", "no", "true", "false", "Yes", "FALSE"] {
        let spec = format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo x\nartifacts:\n  files: [a]\n  discard-paths: {value}\n"
        );
        Test::new()
            .file("buildspec.yml", spec)
            .args(["lint"])
            .run()
            .success();
    }
}

#[test]
fn bad_on_failure() {
    assert_snapshot!(lint(
        "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-500\n    commands:\n      - echo x\n",
        3
    ));
}

#[test]
fn missing_buildspec() {
    let out = Test::new()
        .args(["lint", "ci/buildspec.yml"])
        .run()
        .failure(3);
    assert_snapshot!(out.snapshot());
}
