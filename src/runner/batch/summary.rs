//! The batch's status by CodeBuild's rules, and the table that ends its log.

use std::path::Path;
use std::time::Duration;

use super::plan::BatchPlan;
use super::scheduler::{Outcome, Status};

/// The batch SUCCEEDED when every build SUCCEEDED or failed with `ignore-failure: true`;
/// otherwise it FAILED. A signal STOPPED it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    Failed,
    Stopped(i32),
}

impl Verdict {
    pub fn of(plan: &BatchPlan, outcome: &Outcome) -> Self {
        if let Some(signal) = outcome.signal {
            return Verdict::Stopped(signal);
        }
        let all = plan
            .children
            .iter()
            .zip(&outcome.results)
            .all(|(child, result)| result.status == Status::Succeeded || child.ignore_failure);
        if all {
            Verdict::Succeeded
        } else {
            Verdict::Failed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Succeeded => "SUCCEEDED",
            Verdict::Failed => "FAILED",
            Verdict::Stopped(_) => "STOPPED",
        }
    }
}

/// ```text
/// cb-step: batch FAILED in 1.52s: build-graph of 4 builds, fast-fail off
///   IDENTIFIER  STATUS     DURATION  ARTIFACTS                NOTE
///   a           SUCCEEDED    0.312s  .cb-step/artifacts/a
///   d           STOPPED           -  -                        not started: `b` did not succeed
/// ```
pub fn render(
    plan: &BatchPlan,
    outcome: &Outcome,
    verdict: Verdict,
    elapsed: Duration,
    artifacts: &Path,
) -> Vec<String> {
    let mut lines = vec![format!(
        "cb-step: batch {} in {:.2}s: {} of {} build{}, fast-fail {}",
        verdict.as_str(),
        elapsed.as_secs_f64(),
        plan.kind,
        plan.children.len(),
        if plan.children.len() == 1 { "" } else { "s" },
        if plan.fast_fail { "on" } else { "off" },
    )];
    let rows: Vec<[String; 5]> = plan
        .children
        .iter()
        .zip(&outcome.results)
        .map(|(child, result)| {
            let mut notes = Vec::new();
            if child.ignore_failure && result.status != Status::Succeeded {
                notes.push("ignored (ignore-failure)".to_owned());
            }
            notes.extend(result.note.clone());
            [
                child.identifier.clone(),
                result.status.as_str().to_owned(),
                result
                    .duration
                    .map_or_else(|| "-".into(), |d| format!("{:.3}s", d.as_secs_f64())),
                result.duration.map_or_else(
                    || "-".into(),
                    |_| artifacts.join(&child.identifier).display().to_string(),
                ),
                notes.join("; "),
            ]
        })
        .collect();
    let header = [
        "IDENTIFIER".to_owned(),
        "STATUS".into(),
        "DURATION".into(),
        "ARTIFACTS".into(),
        "NOTE".into(),
    ];
    let width = |column: usize| {
        rows.iter()
            .chain([&header])
            .map(|row| row[column].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2), width(3)];
    for row in [&header].into_iter().chain(&rows) {
        let line = format!(
            "  {:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        lines.push(line.trim_end().to_owned());
    }
    lines
}
