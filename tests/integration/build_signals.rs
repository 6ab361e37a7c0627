//! SIGTERM and SIGINT while `build-push` builds or pushes: exit 143 or 130 with one line that
//! says so, nothing recorded, and the daemon's work cancelled: the build's RUN process is gone
//! from this host (and, for the classic builder, its container too), the image was never
//! tagged, and the registry's upload stops without a manifest. These use the shared daemon,
//! which they only ask to build and push.

use std::time::Duration;

use crate::harness::{Bed, tool};
use crate::interrupt::{
    Stage, check, leftovers, processes_gone, processes_with, push_stopped, within,
};

/// One run: bring cb-step to `stage`, send `signal`, and check the outcome. Returns what went
/// wrong, if anything.
fn stopped(stage: Stage, signal: i32) -> Option<String> {
    let scenario = stage.prepare(Bed::get().var("CB_STEP_TESTBED_BASE_IMAGE"), "stop");
    let run = scenario.start(&[]);
    run.signal(signal);
    let ended = run.finish(Duration::from_secs(30));
    let (code, name) = if signal == libc::SIGTERM {
        (143, "SIGTERM")
    } else {
        (130, "SIGINT")
    };
    let line = format!(
        "error: stopped by {name}: the daemon's build or push was cancelled, and nothing was recorded"
    );
    let problem = if ended.code != Some(code) {
        Some(format!("exit {:?}, not {code}", ended.code))
    } else if !ended.stderr.lines().any(|l| l == line) {
        Some(format!("no line `{line}`"))
    } else if let Some(left) = leftovers(&scenario.test, &ended) {
        Some(left)
    } else {
        match stage {
            Stage::Build { classic, .. } => {
                build_cancelled(&scenario.marker, &scenario.reference(), classic)
            }
            Stage::Push => (!push_stopped(&scenario.repo, "v1", Duration::from_secs(30)))
                .then(|| "the registry's upload carried on, or v1 was tagged".to_owned()),
        }
    };
    problem.map(|p| format!("{p}\nstderr:\n{}", ended.stderr))
}

/// The daemon stopped the build: no process of its RUN step is left (its `sleep 300` would
/// otherwise run for minutes), the classic builder removed its container, and no image was
/// tagged.
fn build_cancelled(marker: &str, reference: &str, classic: bool) -> Option<String> {
    if !processes_gone(marker, Duration::from_secs(30)) {
        return Some(format!(
            "the RUN step still runs 30 s after the signal: {:?}",
            processes_with(marker)
        ));
    }
    let removed = || {
        !tool(
            "docker",
            &["ps", "--all", "--no-trunc", "--format", "{{.Command}}"],
            &[],
        )
        .contains(marker)
    };
    // The daemon removes the container just after its process is gone.
    if classic && !within(Duration::from_secs(30), removed) {
        return Some("the classic builder's RUN container is still there 30 s on".into());
    }
    let inspected = std::process::Command::new("docker")
        .args(["image", "inspect", reference])
        .output()
        .unwrap();
    inspected
        .status
        .success()
        .then(|| format!("{reference} was tagged in the daemon"))
}

fn stop(case: (Stage, i32)) -> Option<String> {
    stopped(case.0, case.1)
}

#[test]
fn sigterm_mid_build() {
    let cases = [Stage::BUILDKIT, Stage::CLASSIC, Stage::IMAGES].map(|s| (s, libc::SIGTERM));
    check("SIGTERM mid-build", &cases, stop);
}

#[test]
fn sigint_mid_build() {
    let cases = [Stage::BUILDKIT, Stage::CLASSIC].map(|s| (s, libc::SIGINT));
    check("SIGINT mid-build", &cases, stop);
}

#[test]
fn sigterm_mid_push() {
    check("SIGTERM mid-push", &[(Stage::Push, libc::SIGTERM)], stop);
}

#[test]
fn sigint_mid_push() {
    check("SIGINT mid-push", &[(Stage::Push, libc::SIGINT)], stop);
}
