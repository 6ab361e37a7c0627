//! Puts the commit into `cb-step --version`: `CB_STEP_COMMIT` if set (a build without .git,
//! such as the Dockerfile's), else `git rev-parse --short=12 HEAD`, else CodeBuild's
//! `CODEBUILD_RESOLVED_SOURCE_VERSION` (CodePipeline hands CodeBuild a zip without .git), else
//! "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CB_STEP_COMMIT");
    println!("cargo:rerun-if-env-changed=CODEBUILD_RESOLVED_SOURCE_VERSION");
    // A new commit changes HEAD (detached) or the branch's ref.
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(reference) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed=.git/{reference}");
    }
    let commit = std::env::var("CB_STEP_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let output = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        })
        .or_else(|| {
            let resolved = std::env::var("CODEBUILD_RESOLVED_SOURCE_VERSION").ok()?;
            let hex = resolved.len() >= 12 && resolved.bytes().all(|b| b.is_ascii_hexdigit());
            hex.then(|| resolved[..12].to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CB_STEP_COMMIT={commit}");
}
