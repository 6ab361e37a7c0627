//! Runs a batch's builds as CodeBuild schedules them (semantics §1.4):
//!
//! - build-list and build-matrix builds are independent; a build-graph build starts once every
//!   build in its `depend-on` has finished and counts as done. At most `jobs` run at once,
//!   started in the order the buildspec lists them.
//! - A build "counts as done" when it SUCCEEDED, or FAILED with `ignore-failure: true` (our
//!   reading: the failure is ignored, so what depends on it runs; unconfirmed). A build whose
//!   dependency did not count as done never starts, and is STOPPED.
//! - `fast-fail: true`: the first failure that is not ignored stops every running build (it
//!   gets SIGTERM, as Ctrl-C would stop a single build) and starts no other; those not started
//!   are STOPPED. `fast-fail: false` lets running builds, and builds that do not depend on the
//!   failure, complete.
//! - SIGINT or SIGTERM is passed on to every running build, and nothing else starts.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use super::child::{self, ChildOf, ChildSettings, Launch};
use super::plan::{BatchPlan, ChildBuildspec, ChildPlan};
use super::signals;
use super::source_copy;
use crate::process::Ended;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Stopped => "STOPPED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChildResult {
    pub status: Status,
    /// `None`: it never started.
    pub duration: Option<Duration>,
    /// Why it failed or stopped, when its own log does not say.
    pub note: Option<String>,
}

/// What the reporter hears about, as it happens.
#[derive(Debug)]
pub enum BatchEvent<'a> {
    Started {
        identifier: &'a str,
        number: u64,
    },
    Finished {
        identifier: &'a str,
        result: &'a ChildResult,
    },
    Stopping {
        reason: &'a str,
    },
}

pub struct Settings<'a> {
    /// This very binary: each build is a `cb-step run` of its own.
    pub exe: &'a Path,
    /// The source directory, absolute; copied for each build.
    pub source: &'a Path,
    /// Where each build's copy goes: `<state>/<identifier>/source`.
    pub state: &'a Path,
    /// Each build's artifacts go to `<artifacts>/<identifier>`. Absolute.
    pub artifacts: &'a Path,
    /// Left out of the copies.
    pub skip: Vec<PathBuf>,
    pub jobs: usize,
    pub project: &'a str,
}

pub struct Outcome {
    /// One per child, in the plan's order.
    pub results: Vec<ChildResult>,
    pub signal: Option<i32>,
}

enum Slot {
    Pending,
    Running,
    Done(ChildResult),
}

/// Runs `plan`; `number` gives each build its `CODEBUILD_BUILD_NUMBER` as it starts.
pub fn run(
    plan: &BatchPlan,
    settings: &Settings<'_>,
    number: &mut dyn FnMut() -> u64,
    on_event: &mut dyn FnMut(BatchEvent<'_>),
) -> Outcome {
    let children = &plan.children;
    let mut slots: Vec<Slot> = children.iter().map(|_| Slot::Pending).collect();
    let stop = AtomicI32::new(0);
    let mut stopping: Option<String> = None;
    let mut signal = None;
    // Polled with the signal flag; a channel would cost the static binary more than it saves.
    let finished: Mutex<Vec<(usize, ChildResult)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        loop {
            if signal.is_none()
                && let Some(received) = signals::received()
            {
                signal = Some(received);
                stop.store(received, Ordering::SeqCst);
                let reason = format!("signal {received} received");
                on_event(BatchEvent::Stopping { reason: &reason });
                stopping = Some(reason);
            }
            settle(children, &mut slots, stopping.as_deref(), on_event);
            if stopping.is_none() {
                let mut running = slots.iter().filter(|s| matches!(s, Slot::Running)).count();
                for (index, child) in children.iter().enumerate() {
                    if running >= settings.jobs {
                        break;
                    }
                    let ready = matches!(slots[index], Slot::Pending)
                        && child
                            .depend_on
                            .iter()
                            .all(|&d| counts_as_done(children, &slots, d));
                    if !ready {
                        continue;
                    }
                    slots[index] = Slot::Running;
                    running += 1;
                    let of = ChildOf {
                        identifier: child.identifier.clone(),
                        project: settings.project.to_owned(),
                        build_number: number(),
                    };
                    on_event(BatchEvent::Started {
                        identifier: &child.identifier,
                        number: of.build_number,
                    });
                    let (stop, finished) = (&stop, &finished);
                    scope.spawn(move || {
                        let result = build(child, of, settings, stop);
                        finished
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((index, result));
                    });
                }
            }
            if !slots
                .iter()
                .any(|s| matches!(s, Slot::Pending | Slot::Running))
            {
                break;
            }
            let next = {
                let mut list = finished
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (!list.is_empty()).then(|| list.remove(0))
            };
            let Some((index, mut result)) = next else {
                std::thread::sleep(Duration::from_millis(25));
                continue;
            };
            if result.status == Status::Stopped
                && result.note.is_none()
                && let Some(reason) = &stopping
            {
                result.note = Some(format!("stopped: {reason}"));
            }
            let child = &children[index];
            on_event(BatchEvent::Finished {
                identifier: &child.identifier,
                result: &result,
            });
            let failed = result.status != Status::Succeeded && !child.ignore_failure;
            slots[index] = Slot::Done(result);
            if failed && plan.fast_fail && stopping.is_none() {
                let reason = format!("fast-fail: `{}` did not succeed", child.identifier);
                on_event(BatchEvent::Stopping { reason: &reason });
                stop.store(libc::SIGTERM, Ordering::SeqCst);
                stopping = Some(reason);
            }
        }
    });
    Outcome {
        results: slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Done(result) => result,
                // The loop ends only when every build is done.
                Slot::Pending | Slot::Running => ChildResult {
                    status: Status::Stopped,
                    duration: None,
                    note: None,
                },
            })
            .collect(),
        signal,
    }
}

/// SUCCEEDED, or FAILED with `ignore-failure`.
fn counts_as_done(children: &[ChildPlan], slots: &[Slot], index: usize) -> bool {
    match &slots[index] {
        Slot::Done(result) => {
            result.status == Status::Succeeded
                || (result.status == Status::Failed && children[index].ignore_failure)
        }
        _ => false,
    }
}

/// Marks the builds that will never start: all of them once the batch is stopping, and those
/// whose dependency is done without counting as done. Repeats until nothing changes, since
/// that can cascade down a graph.
fn settle(
    children: &[ChildPlan],
    slots: &mut [Slot],
    stopping: Option<&str>,
    on_event: &mut dyn FnMut(BatchEvent<'_>),
) {
    loop {
        let mut changed = false;
        for (index, child) in children.iter().enumerate() {
            if !matches!(slots[index], Slot::Pending) {
                continue;
            }
            let blocked = child.depend_on.iter().copied().find(|&d| {
                matches!(slots[d], Slot::Done(_)) && !counts_as_done(children, slots, d)
            });
            let note = match (stopping, blocked) {
                (Some(reason), _) => format!("not started: {reason}"),
                (None, Some(d)) => {
                    format!("not started: `{}` did not succeed", children[d].identifier)
                }
                (None, None) => continue,
            };
            let result = ChildResult {
                status: Status::Stopped,
                duration: None,
                note: Some(note),
            };
            on_event(BatchEvent::Finished {
                identifier: &child.identifier,
                result: &result,
            });
            slots[index] = Slot::Done(result);
            changed = true;
        }
        if !changed {
            return;
        }
    }
}

/// One build, on its own thread: a fresh copy of the source, then `cb-step run` in it.
fn build(child: &ChildPlan, of: ChildOf, settings: &Settings<'_>, stop: &AtomicI32) -> ChildResult {
    let started = Instant::now();
    let finish = |status, note: Option<String>| ChildResult {
        status,
        duration: Some(started.elapsed()),
        note,
    };
    let dir = settings.state.join(&child.identifier);
    let source = dir.join("source");
    if dir.exists()
        && let Err(error) = std::fs::remove_dir_all(&dir)
    {
        return finish(
            Status::Failed,
            Some(format!("cannot remove `{}`: {error}", dir.display())),
        );
    }
    if let Err((path, error)) = source_copy::copy_tree(settings.source, &source, &settings.skip) {
        return finish(
            Status::Failed,
            Some(format!(
                "cannot copy the source (`{}`): {error}",
                path.display()
            )),
        );
    }
    if stop.load(Ordering::SeqCst) != 0 {
        return ChildResult {
            status: Status::Stopped,
            duration: None,
            note: Some("not started: the batch is stopping".into()),
        };
    }
    let buildspec = match &child.buildspec {
        ChildBuildspec::InSource(relative) => source.join(relative),
        ChildBuildspec::Outside(path) => path.clone(),
    };
    let artifacts = settings.artifacts.join(&child.identifier);
    let launch = Launch {
        exe: settings.exe,
        source: &source,
        buildspec: &buildspec,
        artifacts: &artifacts,
        image: child.image.as_deref(),
        settings: &ChildSettings {
            of,
            env: child.env.clone(),
        },
    };
    let stopped = || stop.load(Ordering::SeqCst) != 0;
    match child::run(&launch, stop) {
        Ok(Ended::Exited(0)) => finish(Status::Succeeded, None),
        Ok(Ended::Exited(code))
            if [libc::SIGINT, libc::SIGTERM]
                .map(crate::exit_code::stopped_by)
                .contains(&code) =>
        {
            finish(Status::Stopped, None)
        }
        Ok(Ended::Exited(crate::exit_code::BUILD_FAILED)) => finish(Status::Failed, None),
        Ok(Ended::Exited(code)) => finish(Status::Failed, Some(format!("exit {code}"))),
        Ok(Ended::Signalled(signal)) if stopped() => {
            finish(Status::Stopped, Some(format!("killed by signal {signal}")))
        }
        Ok(Ended::Signalled(signal)) => {
            finish(Status::Failed, Some(format!("killed by signal {signal}")))
        }
        Err(error) => finish(
            Status::Failed,
            Some(format!(
                "cannot start `{}`: {error}",
                settings.exe.display()
            )),
        ),
    }
}
