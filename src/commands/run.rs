//! `cb-step run`: a CodeBuild build of this source directory, here and now.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use crate::buildspec::batch::{Batch, BatchKind};
use crate::buildspec::children;
use crate::buildspec::diagnostic::{Diagnostic, Severity};
use crate::buildspec::parse;
use crate::config::RunConfig;
use crate::error::{Error, LintFailed};
use crate::process::{self, User};
use crate::report;
use crate::runner::artifacts::{self, Staging};
use crate::runner::batch::plan;
use crate::runner::batch::scheduler::{self, BatchEvent};
use crate::runner::batch::signals;
use crate::runner::batch::summary::{self, Verdict};
use crate::runner::batch::workspace::Workspace;
use crate::runner::environment::{self, BuildIdentity, Environment};
use crate::runner::error::RunError;
use crate::runner::log;
use crate::runner::phases::{Host, PhaseReport, Runner, State};
use crate::runner::shell::Session;

pub fn execute(config: RunConfig) -> Result<(), Error> {
    let text = std::fs::read_to_string(&config.buildspec);
    let parsed = text.as_deref().ok().map(parse::parse);
    let batch = parsed
        .as_ref()
        .and_then(|p| p.buildspec.as_ref())
        .and_then(|b| b.batch.as_ref());
    if let (Some(batch), Ok(text), Some(parsed)) = (batch, &text, &parsed) {
        if !config.no_batch {
            return run_batch(&config, batch, text, &parsed.diagnostics);
        }
        if config.child.is_none() {
            report::line(
                "cb-step: --no-batch: the buildspec runs as one build; its `batch` is not run",
            );
        }
    }
    single(&config, text, parsed)
}

/// A batch: every buildspec it names checked first, then its builds, each a `cb-step run` of
/// its own (see `runner::batch`), then a table of how each ended.
fn run_batch(
    config: &RunConfig,
    batch: &Batch,
    text: &str,
    diagnostics: &[Diagnostic],
) -> Result<(), Error> {
    let checked = children::check(batch, &config.source, &config.buildspec);
    let shown = config.buildspec.display().to_string();
    let mut top: Vec<&Diagnostic> = diagnostics.iter().chain(&checked.top).collect();
    top.sort_by_key(|d| (d.line, d.column));
    for diagnostic in top {
        eprint!("{}", diagnostic.render(&shown, text));
    }
    for child in &checked.children {
        for diagnostic in &child.diagnostics {
            eprint!("{}", diagnostic.render(&child.shown, &child.text));
        }
    }
    let errors = checked.errors();
    if errors > 0 {
        return Err(Error::Lint(LintFailed { errors }));
    }
    if matches!(batch.kind, BatchKind::Fanout { .. }) {
        return Err(RunError::FanoutUnsupported.into());
    }
    signals::install();
    let plan = plan::plan(
        batch,
        &config.source,
        &config.buildspec,
        &config.env,
        config.image.as_deref(),
    );
    for note in &plan.notes {
        report::line(&format!("cb-step: batch: note: {note}"));
    }
    let identifiers: Vec<&str> = plan
        .children
        .iter()
        .map(|c| c.identifier.as_str())
        .collect();
    let workspace = Workspace::prepare(&config.source, &config.artifacts, &identifiers)?;
    let project = project_name(&config.source);
    let settings = scheduler::Settings {
        exe: &workspace.exe,
        source: &config.source,
        state: &workspace.state,
        artifacts: &workspace.artifacts,
        skip: workspace.skip.clone(),
        jobs: config.jobs,
        project: &project,
    };
    report::line(&format!(
        "cb-step: batch: {} of {} builds, up to {} at once, fast-fail {}",
        plan.kind,
        plan.children.len(),
        config.jobs,
        if plan.fast_fail { "on" } else { "off" }
    ));
    let started = Instant::now();
    let outcome = scheduler::run(
        &plan,
        &settings,
        &mut || next_build_number(&config.source),
        &mut |event| match event {
            BatchEvent::Started { identifier, number } => report::line(&format!(
                "cb-step: batch: `{identifier}` started (build number {number})"
            )),
            BatchEvent::Finished { identifier, result } => {
                let took = result
                    .duration
                    .map(|d| format!(" in {:.2}s", d.as_secs_f64()))
                    .unwrap_or_default();
                let note = result
                    .note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                report::line(&format!(
                    "cb-step: batch: `{identifier}` {}{took}{note}",
                    result.status.as_str()
                ));
            }
            BatchEvent::Stopping { reason } => {
                report::line(&format!("cb-step: batch: stopping: {reason}"));
            }
        },
    );
    let verdict = Verdict::of(&plan, &outcome);
    for line in summary::render(
        &plan,
        &outcome,
        verdict,
        started.elapsed(),
        &workspace.artifacts,
    ) {
        report::line(&line);
    }
    match verdict {
        Verdict::Succeeded => Ok(()),
        Verdict::Failed => Err(Error::BuildFailed(crate::exit_code::BUILD_FAILED)),
        Verdict::Stopped(signal) => Err(Error::BuildFailed(crate::exit_code::stopped_by(signal))),
    }
}

/// One build: what CodeBuild's start-build does, and what each build of a batch does.
fn single(
    config: &RunConfig,
    text: std::io::Result<String>,
    parsed: Option<parse::Parsed>,
) -> Result<(), Error> {
    process::forward_signals();
    let started = Instant::now();
    log::container(&format!(
        "Running on cb-step {} (local)",
        env!("CARGO_PKG_VERSION")
    ));
    log::container("Phase is DOWNLOAD_SOURCE");
    let shown_source = match &config.image {
        Some(_) => crate::runner::container::SOURCE.to_owned(),
        None => config.source.display().to_string(),
    };
    log::container(&format!("CODEBUILD_SRC_DIR={shown_source}"));
    log::container(&format!("YAML location is {}", config.buildspec.display()));
    let download = Instant::now();
    let text = text.map_err(|source| {
        download_failed("YAML_FILE_ERROR", "YAML file does not exist");
        Error::BuildspecRead {
            path: config.buildspec.clone(),
            source,
        }
    })?;
    let parsed = parsed.unwrap_or_else(|| parse::parse(&text));
    let shown = config.buildspec.display().to_string();
    for diagnostic in &parsed.diagnostics {
        // A batch showed its builds' warnings once, before they started.
        if config.child.is_none() || diagnostic.severity == Severity::Error {
            eprint!("{}", diagnostic.render(&shown, &text));
        }
    }
    let Some(buildspec) = parsed.buildspec else {
        let first = parsed.errors().next().expect("no buildspec means an error");
        let message = first
            .codebuild
            .clone()
            .unwrap_or_else(|| format!("YAML_FILE_ERROR Message: {}", first.message));
        let (code, message) = message
            .split_once(" Message: ")
            .unwrap_or(("YAML_FILE_ERROR", &message));
        download_failed(code, message);
        return Err(Error::BuildFailed(crate::exit_code::INPUT));
    };

    log::container("Processing environment variables");
    let identity = identity(config);
    let container_mode = config.image.is_some();
    let env = match Environment::build(
        &buildspec,
        &config.source,
        &shown_source,
        !container_mode,
        &identity,
        &config.env,
    ) {
        Ok(env) => env,
        Err(error) => {
            download_failed("CLIENT_ERROR", &error.to_string());
            return Err(error.into());
        }
    };
    let mut users = BTreeMap::new();
    let names = buildspec
        .run_as
        .iter()
        .chain(buildspec.phases.iter().filter_map(|p| p.run_as.as_ref()));
    for name in names {
        // Inside a container, the image's own users apply and the daemon resolves the name.
        let found = if container_mode {
            Some(User {
                name: name.clone(),
                uid: 0,
                gid: 0,
                home: String::new(),
            })
        } else {
            User::lookup(name)
        };
        match found {
            Some(user) => {
                users.insert(name.clone(), user);
            }
            None => {
                let error = RunError::NoSuchUser { user: name.clone() };
                download_failed("CLIENT_ERROR", &error.to_string());
                return Err(error.into());
            }
        }
    }
    log::container(&format!("Moving to directory {shown_source}"));
    if buildspec.cache_paths.is_empty() {
        log::container("Cache is not defined in the buildspec");
    } else {
        log::container(&format!(
            "Cache paths are not saved or restored locally: {}",
            buildspec.cache_paths.join(", ")
        ));
    }
    log::container(&format!("Phases found in YAML: {}", buildspec.phases.len()));
    for phase in &buildspec.phases {
        log::container(&format!(
            " {}: {} commands",
            phase.name,
            phase.commands.len()
        ));
    }
    log::container("Phase complete: DOWNLOAD_SOURCE State: SUCCEEDED");
    log::container("Phase context status code:  Message: ");
    let mut reports = vec![PhaseReport {
        name: "DOWNLOAD_SOURCE".into(),
        state: State::Succeeded,
        duration: download.elapsed(),
    }];

    let visible = container_mode.then_some(crate::runner::container::STATE);
    let session = Session::new(buildspec.env.shell.as_deref(), buildspec.version, visible)?;
    if !users.is_empty() || container_mode {
        session.share()?;
    }
    let executor: Box<dyn crate::runner::phases::Executor> = match &config.image {
        Some(image) => {
            log::container(&format!("Starting a container of {image}"));
            match crate::runner::container::Container::start(image, &config.source, session.dir()) {
                Ok(container) => Box::new(container),
                Err(error) => {
                    return Err(error.into());
                }
            }
        }
        None => Box::new(Host::new(config.source.clone())),
    };
    let mut runner = Runner {
        buildspec: &buildspec,
        env: &env,
        session,
        executor,
        users,
        succeeding: true,
        reports: Vec::new(),
    };
    let outcome = runner.run_phases()?;
    reports.append(&mut runner.reports);
    let mut failed = outcome.failed;

    let staging = Staging::new(&config.artifacts)?;
    let mut uploaded = true;
    if outcome.upload {
        let upload = Instant::now();
        log::container("Entering phase UPLOAD_ARTIFACTS");
        let result = if buildspec.artifacts.is_some() || !buildspec.reports.is_empty() {
            artifacts::upload(&buildspec, &config.source, staging.dir())
        } else {
            Ok(0)
        };
        let state = match &result {
            Ok(_) => State::Succeeded,
            Err(_) => State::Failed,
        };
        log::container(&format!(
            "Phase complete: UPLOAD_ARTIFACTS State: {}",
            state.as_str()
        ));
        match result {
            Ok(_) => log::container("Phase context status code:  Message: "),
            Err(message) => {
                failed = true;
                uploaded = false;
                log::container(&format!(
                    "Phase context status code: CLIENT_ERROR Message: {message}"
                ));
            }
        }
        reports.push(PhaseReport {
            name: "UPLOAD_ARTIFACTS".into(),
            state,
            duration: upload.elapsed(),
        });
    }
    export_variables(&mut runner, &staging, &env)?;
    // A failed upload leaves the previous artifacts whole rather than half of this build's.
    if uploaded {
        staging.finish()?;
    }

    let status = match (outcome.signal, failed) {
        (Some(_), _) => "STOPPED",
        (None, true) => "FAILED",
        (None, false) => "SUCCEEDED",
    };
    if config.child.is_none() {
        summary(&reports, status, started, &config.artifacts);
    }
    match (outcome.signal, failed) {
        (Some(signal), _) => Err(Error::BuildFailed(crate::exit_code::stopped_by(signal))),
        (None, true) => Err(Error::BuildFailed(crate::exit_code::BUILD_FAILED)),
        (None, false) => Ok(()),
    }
}

fn download_failed(code: &str, message: &str) {
    log::container("Phase complete: DOWNLOAD_SOURCE State: FAILED");
    log::container(&format!(
        "Phase context status code: {code} Message: {message}"
    ));
}

fn identity(config: &RunConfig) -> BuildIdentity {
    let (project, number, batch_identifier) = match &config.child {
        Some(of) => (
            of.project.clone(),
            of.build_number,
            Some(of.identifier.clone()),
        ),
        None => (
            project_name(&config.source),
            next_build_number(&config.source),
            None,
        ),
    };
    BuildIdentity {
        project,
        uuid: environment::uuid(),
        number,
        region: crate::env_vars::get("AWS_REGION")
            .or_else(|| crate::env_vars::get("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into()),
        image: config.image.clone().unwrap_or_else(|| "local".into()),
        batch_identifier,
    }
}

/// The source directory's name, as a CodeBuild project name.
pub(crate) fn project_name(source: &Path) -> String {
    source
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        })
        .filter(|n: &String| !n.is_empty())
        .unwrap_or_else(|| "cb-step-local".into())
}

/// Counts up per source directory, in `.cb-step/build-number`, under a lock.
pub(crate) fn next_build_number(source: &Path) -> u64 {
    let dir = source.join(crate::record::build_record::RECORD_DIR);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("build-number");
    let lock =
        std::fs::File::create(dir.join("build-number.lock")).and_then(|f| f.lock().map(|()| f));
    let number = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    let _ = crate::atomic::write_file(&crate::atomic::PendingFile {
        path,
        contents: format!("{number}\n").into_bytes(),
        mode: None,
    });
    drop(lock);
    number
}

/// `exported-variables`: their final values, logged (masked) and written as JSON.
fn export_variables(
    runner: &mut Runner<'_>,
    staging: &Staging,
    env: &Environment,
) -> Result<(), RunError> {
    let names = &runner.buildspec.env.exported_variables;
    if names.is_empty() {
        return Ok(());
    }
    let script = runner.session.export_script(names)?;
    let mut lines = Vec::new();
    let vars = env.vars.clone();
    runner
        .executor
        .run(&runner.session, &script, &vars, None, &mut |line| {
            lines.push(line.to_owned())
        })?;
    let mut exported = serde_json::Map::new();
    for line in lines {
        if let Some((name, value)) = line.split_once('=') {
            log::container(&format!("Exporting variable {name}={}", env.mask(value)));
            // CodeBuild refuses to export secrets; a value built from one is masked here too.
            exported.insert(name.to_owned(), serde_json::Value::String(env.mask(value)));
        }
    }
    let path = staging.dir().join("exported-variables.json");
    let mut contents = serde_json::to_vec_pretty(&exported).expect("strings serialize");
    contents.push(b'\n');
    std::fs::write(&path, contents).map_err(|source| RunError::State { path, source })
}

fn summary(reports: &[PhaseReport], status: &str, started: Instant, artifacts: &Path) {
    report::line(&format!(
        "cb-step: build {status} in {:.2}s; artifacts in {}",
        started.elapsed().as_secs_f64(),
        artifacts.display()
    ));
    for phase in reports {
        report::line(&format!(
            "  {:<17} {:<10} {:>8.3}s",
            phase.name,
            phase.state.as_str(),
            phase.duration.as_secs_f64()
        ));
    }
}
