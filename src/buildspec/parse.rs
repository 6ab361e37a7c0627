//! YAML text → `Buildspec`, with every problem reported at its line and column.
//!
//! Scalars stay strings (so `version: 0.2` is "0.2" and `yes`/`no` are read as CodeBuild reads
//! them), and every node keeps its position: `serde_yaml` reports positions only for syntax
//! errors, which is not enough for `lint`.

use std::sync::OnceLock;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node};
use regex_lite::Regex;
use yaml_rust2::Event;

mod batch;

use super::batch::Batch;
use super::diagnostic::{Diagnostic, Severity, yaml_lines};
use super::model::{
    ArtifactSet, Artifacts, Buildspec, Command, Env, OnFailure, Phase, PhaseName, Version,
};

#[derive(Debug)]
pub struct Parsed {
    /// `None` when any error was found.
    pub buildspec: Option<Buildspec>,
    /// Errors and warnings, in the order of the file.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

pub fn parse(text: &str) -> Parsed {
    if let Some(diagnostic) = too_deep(text) {
        return Parsed {
            buildspec: None,
            diagnostics: vec![diagnostic],
        };
    }
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(root) => root,
        Err(error) => {
            return Parsed {
                buildspec: None,
                diagnostics: vec![load_error(&error)],
            };
        }
    };
    let mut parser = Parser {
        lines: yaml_lines(text).collect(),
        ..Parser::default()
    };
    let buildspec = root.as_mapping().and_then(|map| parser.buildspec(map));
    parser.diagnostics.sort_by_key(|d| (d.line, d.column));
    let failed = parser
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error);
    Parsed {
        buildspec: buildspec.filter(|_| !failed),
        diagnostics: parser.diagnostics,
    }
}

/// Far deeper than any buildspec goes (a batch matrix is 7 levels).
const MAX_DEPTH: usize = 64;

/// Where the YAML first nests deeper than `MAX_DEPTH`. The loader recurses once per level, so a
/// few thousand `- ` would overflow the stack; the parser's event stream does not recurse.
/// Syntax errors are left to the loader, which reports them.
fn too_deep(text: &str) -> Option<Diagnostic> {
    let mut events = yaml_rust2::parser::Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        let (event, mark) = events.next_token().ok()?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => depth += 1,
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::StreamEnd => return None,
            _ => {}
        }
        if depth > MAX_DEPTH {
            let message = format!("the YAML nests more than {MAX_DEPTH} levels deep");
            return Some(
                Diagnostic::error(mark.line(), mark.col() + 1, message.clone())
                    .hint("a buildspec nests a few levels; check for a run of `- ` or `[` that was not meant as nesting")
                    .codebuild(format!("YAML_FILE_ERROR Message: {message}")),
            );
        }
    }
}

fn load_error(error: &LoadError) -> Diagnostic {
    let (marker, message) = match error {
        LoadError::ScanError(marker, scan) => {
            (marker, format!("YAML syntax error: {}", scan.info()))
        }
        LoadError::DuplicateKey(inner) => (
            inner.key.span().start().expect("parsed nodes have a start"),
            format!("duplicate key `{}`", inner.key.as_str()),
        ),
        LoadError::TopLevelMustBeMapping(marker) => (
            marker,
            "the buildspec must be a YAML mapping (`version:`, `phases:`, …)".into(),
        ),
        LoadError::UnexpectedAnchor(marker) => {
            (marker, "YAML anchors are not supported here".into())
        }
        LoadError::MappingKeyMustBeScalar(marker) => {
            (marker, "mapping keys must be plain strings".into())
        }
        LoadError::UnexpectedTag(marker) => (marker, "YAML tags (`!…`) are not supported".into()),
        LoadError::TopLevelMustBeSequence(marker) => (marker, "unexpected top level".into()),
    };
    Diagnostic::error(marker.line(), marker.column(), message.clone())
        .hint("check indentation and quoting; a command with `: ` or a leading `*`, `&`, `!`, `{` or `[` must be quoted")
        .codebuild(message)
}

/// Where a node starts; for a mapping, where its first key starts (the mapping's own span
/// begins at the first `:`).
fn at(node: &Node) -> (usize, usize) {
    if let Node::Mapping(map) = node
        && let Some(key) = map.keys().next()
    {
        return at_scalar(key);
    }
    node.span()
        .start()
        .map_or((1, 1), |m| (m.line(), m.column()))
}

fn at_scalar(node: &MarkedScalarNode) -> (usize, usize) {
    node.span()
        .start()
        .map_or((1, 1), |m| (m.line(), m.column()))
}

/// YAML 1.1's booleans, as CodeBuild accepts them.
fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "y" => Some(true),
        "no" | "false" | "off" | "n" => Some(false),
        _ => None,
    }
}

#[derive(Default)]
struct Parser<'a> {
    lines: Vec<&'a str>,
    diagnostics: Vec<Diagnostic>,
    shell: Option<String>,
}

impl Parser<'_> {
    fn error(
        &mut self,
        (line, column): (usize, usize),
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::error(line, column, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn warning(
        &mut self,
        (line, column): (usize, usize),
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::warning(line, column, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn unknown_keys(&mut self, map: &MarkedMappingNode, known: &[&str], within: &str) {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let hint = suggestion(key.as_str(), known).map_or_else(
                    || format!("known keys here: {}", known.join(", ")),
                    |s| format!("did you mean `{s}`?"),
                );
                let d = self.warning(
                    at_scalar(key),
                    format!(
                        "unknown key `{}` in {within}; CodeBuild ignores it",
                        key.as_str()
                    ),
                );
                *d = d.clone().hint(hint);
            }
        }
    }

    fn scalar<'a>(&mut self, node: &'a Node, what: &str) -> Option<&'a str> {
        match node {
            Node::Scalar(s) => Some(s.as_str()),
            _ => {
                self.error(at(node), format!("{what} must be a single value"));
                None
            }
        }
    }

    fn flag(&mut self, node: &Node, what: &str) -> bool {
        let Some(text) = self.scalar(node, what) else {
            return false;
        };
        boolean(text).unwrap_or_else(|| {
            let d = self.error(at(node), format!("{what} is `{text}`, not a boolean"));
            *d = d.clone().hint("write yes, no, true or false");
            false
        })
    }

    /// A list of strings; a single scalar counts as a one-element list (as pipelines write
    /// `files: imagedefinitions.json`).
    fn strings(&mut self, node: &Node, what: &str) -> Vec<String> {
        match node {
            Node::Scalar(s) => vec![s.as_str().to_owned()],
            Node::Sequence(items) => items
                .iter()
                .filter_map(|item| self.scalar(item, what).map(str::to_owned))
                .collect(),
            Node::Mapping(_) => {
                self.error(at(node), format!("{what} must be a list of strings"));
                Vec::new()
            }
        }
    }

    fn buildspec(&mut self, map: &MarkedMappingNode) -> Option<Buildspec> {
        self.unknown_keys(
            map,
            &[
                "version",
                "run-as",
                "env",
                "proxy",
                "batch",
                "phases",
                "reports",
                "artifacts",
                "cache",
            ],
            "the buildspec",
        );
        let version = match map.get_node("version") {
            None => {
                let d = self.error((1, 1), "the buildspec has no `version`");
                *d = d
                    .clone()
                    .hint("start the file with `version: 0.2`")
                    .codebuild("YAML_FILE_ERROR Message: missing buildspec `version`");
                None
            }
            Some(node) => match self.scalar(node, "`version`") {
                Some("0.2") => Some(Version::V02),
                Some("0.1") => Some(Version::V01),
                Some(other) => {
                    let message = format!(
                        "invalid buildspec `version` specified: {other}, see documentation"
                    );
                    let d = self.error(at(node), message.clone());
                    *d = d
                        .clone()
                        .hint("use `version: 0.2`")
                        .codebuild(format!("YAML_FILE_ERROR Message: {message}"));
                    None
                }
                None => None,
            },
        };
        let run_as = map
            .get_node("run-as")
            .and_then(|n| self.scalar(n, "`run-as`").map(str::to_owned));
        let env = map.get_node("env").map(|n| self.env(n)).unwrap_or_default();
        self.shell = env.shell.clone();
        let batch: Option<Batch> = map
            .get_node("batch")
            .and_then(|node| self.batch(node, batch::at_key(map, "batch")));
        let phases = match map.get_node("phases") {
            Some(Node::Mapping(phases)) => self.phases(phases),
            Some(node) => {
                self.error(
                    at(node),
                    "`phases` must be a mapping of phase names to phases",
                );
                Vec::new()
            }
            None => {
                let d = self.error((1, 1), "the buildspec has no `phases`");
                *d = d
                    .clone()
                    .hint("add `phases:` with at least `build: commands: [...]`");
                Vec::new()
            }
        };
        let artifacts = map.get_node("artifacts").and_then(|n| self.artifacts(n));
        let reports = match map.get_node("reports") {
            Some(Node::Mapping(groups)) => groups
                .iter()
                .map(|(name, node)| {
                    let group = name.as_str();
                    let escapes = group.starts_with('/')
                        || group.split('/').any(|part| matches!(part, "" | "." | ".."));
                    if escapes {
                        let d = self.error(
                            at_scalar(name),
                            format!("report group `{group}` leaves the reports directory"),
                        );
                        *d = d.clone().hint("name the group, or give its ARN: `arn:aws:codebuild:<region>:<account>:report-group/<name>`");
                    }
                    (
                        name.as_str().to_owned(),
                        self.file_set(node, "report group", false),
                    )
                })
                .collect(),
            Some(node) => {
                self.error(at(node), "`reports` must be a mapping of report groups");
                Vec::new()
            }
            None => Vec::new(),
        };
        let cache_paths = match map.get_node("cache") {
            Some(Node::Mapping(cache)) => {
                self.unknown_keys(
                    cache,
                    &["paths", "key", "fallback-keys", "action"],
                    "`cache`",
                );
                cache
                    .get_node("paths")
                    .map(|n| self.strings(n, "`cache.paths`"))
                    .unwrap_or_default()
            }
            Some(node) => {
                self.error(at(node), "`cache` must be a mapping with `paths`");
                Vec::new()
            }
            None => Vec::new(),
        };
        Some(Buildspec {
            version: version?,
            run_as,
            env,
            phases,
            artifacts,
            reports,
            cache_paths,
            batch,
        })
    }

    fn env(&mut self, node: &Node) -> Env {
        let Node::Mapping(map) = node else {
            self.error(at(node), "`env` must be a mapping");
            return Env::default();
        };
        self.unknown_keys(
            map,
            &[
                "shell",
                "variables",
                "parameter-store",
                "secrets-manager",
                "exported-variables",
                "git-credential-helper",
            ],
            "`env`",
        );
        let shell = map
            .get_node("shell")
            .and_then(|n| self.scalar(n, "`env.shell`").map(str::to_owned));
        if let Some(helper) = map.get_node("git-credential-helper") {
            self.flag(helper, "`env.git-credential-helper`");
        }
        let env = Env {
            shell,
            variables: self.pairs(map.get_node("variables"), "env.variables", true),
            parameter_store: self.pairs(
                map.get_node("parameter-store"),
                "env.parameter-store",
                false,
            ),
            secrets_manager: self.pairs(
                map.get_node("secrets-manager"),
                "env.secrets-manager",
                false,
            ),
            exported_variables: map
                .get_node("exported-variables")
                .map(|n| self.strings(n, "`env.exported-variables`"))
                .unwrap_or_default(),
        };
        if let Some(Node::Sequence(items)) = map.get_node("exported-variables") {
            for item in items.iter() {
                let Node::Scalar(name) = item else { continue };
                let name = name.as_str();
                let secret = [
                    (&env.secrets_manager, "secrets-manager"),
                    (&env.parameter_store, "parameter-store"),
                ]
                .into_iter()
                .find(|(pairs, _)| pairs.iter().any(|(n, _)| n == name));
                if let Some((_, kind)) = secret {
                    let d = self.warning(
                        at(item),
                        format!("`{name}` is a {kind} variable, which CodeBuild does not export"),
                    );
                    *d = d.clone().hint(
                        "cb-step writes its value as `***`; export a variable that is not secret",
                    );
                }
            }
        }
        env
    }

    fn pairs(&mut self, node: Option<&Node>, what: &str, literal: bool) -> Vec<(String, String)> {
        let Some(node) = node else { return Vec::new() };
        let Node::Mapping(map) = node else {
            self.error(
                at(node),
                format!("`{what}` must be a mapping of names to values"),
            );
            return Vec::new();
        };
        let mut pairs = Vec::new();
        for (name, value) in map.iter() {
            let Some(text) = self.scalar(value, &format!("`{what}.{}`", name.as_str())) else {
                continue;
            };
            if name.as_str().starts_with("CODEBUILD_") {
                let d = self.warning(
                    at_scalar(name),
                    format!(
                        "`{}`: names starting with CODEBUILD_ are reserved",
                        name.as_str()
                    ),
                );
                *d = d
                    .clone()
                    .hint("CodeBuild sets these itself; choose another name");
            }
            if literal && reference_pattern().is_match(text) {
                let d = self.warning(
                    at(value),
                    format!(
                        "`{}: {text}` is literal: variables in `env.variables` are not expanded",
                        name.as_str()
                    ),
                );
                *d = d.clone().hint(format!(
                    "extend it in a command instead, e.g. `- export {}=\"{text}\"` in the install phase",
                    name.as_str()
                ));
            }
            pairs.push((name.as_str().to_owned(), text.to_owned()));
        }
        pairs
    }

    fn phases(&mut self, map: &MarkedMappingNode) -> Vec<Phase> {
        let mut phases = Vec::new();
        for (key, node) in map.iter() {
            let Some(name) = PhaseName::parse(key.as_str()) else {
                let message = format!(
                    "Invalid buildspec phase name: {}. Expecting: build,install,post_build,pre_build",
                    key.as_str()
                );
                let names: Vec<&str> = PhaseName::ALL.iter().map(|p| p.key()).collect();
                let hint = suggestion(key.as_str(), &names).map_or_else(
                    || "`artifacts`, `reports` and `cache` belong at the top level, not under `phases`".into(),
                    |s| format!("did you mean `{s}`?"),
                );
                let d = self.error(at_scalar(key), format!("unknown phase `{}`", key.as_str()));
                *d = d
                    .clone()
                    .hint(hint)
                    .codebuild(format!("YAML_FILE_ERROR Message: {message}"));
                continue;
            };
            phases.push(self.phase(name, node));
        }
        phases.sort_by_key(|p| p.name);
        phases
    }

    fn phase(&mut self, name: PhaseName, node: &Node) -> Phase {
        let mut phase = Phase {
            name,
            run_as: None,
            on_failure: None,
            commands: Vec::new(),
            finally: Vec::new(),
        };
        let map = match node {
            Node::Mapping(map) => map,
            _ if name == PhaseName::Install => return phase,
            _ => {
                let d = self.error(
                    at(node),
                    format!("phase `{}` has no `commands`", name.key()),
                );
                *d = d
                    .clone()
                    .hint("a phase needs `commands:` with at least one command");
                return phase;
            }
        };
        self.unknown_keys(
            map,
            &[
                "run-as",
                "on-failure",
                "runtime-versions",
                "commands",
                "finally",
            ],
            &format!("phase `{}`", name.key()),
        );
        phase.run_as = map
            .get_node("run-as")
            .and_then(|n| self.scalar(n, "`run-as`").map(str::to_owned));
        if let Some(node) = map.get_node("on-failure") {
            phase.on_failure = self.on_failure(node);
        }
        if let Some(runtimes) = map.get_node("runtime-versions") {
            if name == PhaseName::Install {
                let d = self.warning(at(runtimes), "`runtime-versions` selects runtimes of CodeBuild's images; locally the host's tools are used");
                *d = d
                    .clone()
                    .hint("use `--image` with a CodeBuild image to get its runtimes");
            } else {
                self.error(
                    at(runtimes),
                    "`runtime-versions` is allowed only in the install phase",
                );
            }
        }
        match map.get_node("commands") {
            Some(node) => phase.commands = self.commands(node, name, "commands"),
            None if name == PhaseName::Install => {}
            None => {
                let d = self.error(
                    at(node),
                    format!("phase `{}` has no `commands`", name.key()),
                );
                *d = d
                    .clone()
                    .hint("add `commands:` with at least one command, or remove the phase");
            }
        }
        if let Some(node) = map.get_node("finally") {
            phase.finally = self.commands(node, name, "finally");
        }
        phase
    }

    fn on_failure(&mut self, node: &Node) -> Option<OnFailure> {
        let text = self.scalar(node, "`on-failure`")?;
        let parsed = match text {
            "ABORT" => Some(OnFailure::Abort),
            "CONTINUE" => Some(OnFailure::Continue),
            "RETRY" => Some(OnFailure::Retry {
                count: 3,
                pattern: None,
            }),
            _ => text.strip_prefix("RETRY-").and_then(|rest| {
                let (count, pattern) = match rest.split_once('-') {
                    Some((n, p)) if n.parse::<u32>().is_ok() => (n.parse().ok(), Some(p)),
                    _ if rest.parse::<u32>().is_ok() => (rest.parse().ok(), None),
                    _ => (Some(3), Some(rest)),
                };
                let count = count.filter(|c| *c <= 100)?;
                if let Some(p) = pattern
                    && Regex::new(p).is_err()
                {
                    return None;
                }
                Some(OnFailure::Retry {
                    count,
                    pattern: pattern.map(str::to_owned),
                })
            }),
        };
        if parsed.is_none() {
            let d = self.error(at(node), format!("invalid `on-failure` value `{text}`"));
            *d = d.clone().hint("use ABORT, CONTINUE, RETRY, RETRY-<count 0-100>, RETRY-<regex> or RETRY-<count>-<regex>");
        }
        parsed
    }

    fn commands(&mut self, node: &Node, phase: PhaseName, field: &str) -> Vec<Command> {
        let Node::Sequence(items) = node else {
            let d = self.error(
                at(node),
                format!(
                    "`{field}` of phase `{}` must be a list of commands",
                    phase.key()
                ),
            );
            *d = d
                .clone()
                .hint("write each command on its own line, starting with `- `");
            return Vec::new();
        };
        let mut commands = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let (line, column) = at(item);
            match item {
                Node::Scalar(text) => {
                    self.check_command(text, line, column);
                    commands.push(Command {
                        text: text.as_str().to_owned(),
                        line,
                    });
                }
                _ => {
                    let codebuild = format!(
                        "YAML_FILE_ERROR Message: Expected Commands[{index}] to be of string type: found subkeys instead at line {line}, value of the key tag on line {} might be empty",
                        line.saturating_sub(1)
                    );
                    let d = self.error(
                        (line, column),
                        format!("{field}[{index}] of phase `{}` is not a string: YAML read an unquoted `: ` as a key", phase.key()),
                    );
                    *d = d.clone().hint(quote_hint(item)).codebuild(codebuild);
                }
            }
        }
        commands
    }

    fn check_command(&mut self, text: &MarkedScalarNode, line: usize, column: usize) {
        let command = text.as_str();
        // A plain scalar whose first line ends in `\` was folded onto the next line.
        let continued = self
            .lines
            .get(line.saturating_sub(1))
            .is_some_and(|l| l.trim_end().ends_with('\\'));
        if text.may_coerce() && continued && command.contains("\\ ") {
            let d = self.warning((line, column), "a `\\` line continuation in an unquoted command: YAML folds the lines into one, so the shell sees an escaped space");
            *d = d.clone().hint("use a block (`- |` or `- >`) for multi-line commands, or put the command on one line");
        }
        let default_shell = self
            .shell
            .as_deref()
            .is_none_or(|s| s.ends_with("sh") && !s.ends_with("bash") && !s.ends_with("zsh"));
        if default_shell && let Some(found) = bashism(command) {
            let d = self.warning(
                (line, column),
                format!("`{found}` is bash syntax, but commands run in `sh`"),
            );
            *d = d
                .clone()
                .hint("add `env: shell: bash` to the buildspec, or use POSIX sh syntax");
        }
    }

    fn artifacts(&mut self, node: &Node) -> Option<Artifacts> {
        let Node::Mapping(map) = node else {
            self.error(at(node), "`artifacts` must be a mapping with `files`");
            return None;
        };
        let primary = self.file_set(node, "`artifacts`", true);
        let mut secondary = Vec::new();
        if let Some(node) = map.get_node("secondary-artifacts") {
            match node {
                Node::Mapping(sets) => {
                    for (id, set) in sets.iter() {
                        if !crate::buildspec::batch::is_identifier(id.as_str()) {
                            let d = self.error(
                                at_scalar(id),
                                format!("secondary artifact identifier `{}` may contain only letters, digits and `_`", id.as_str()),
                            );
                            *d = d.clone().hint("the identifier names the artifact's directory, so it cannot hold `/` or `..`");
                        }
                        secondary.push((
                            id.as_str().to_owned(),
                            self.file_set(set, "secondary artifact", true),
                        ));
                    }
                }
                _ => {
                    self.error(
                        at(node),
                        "`secondary-artifacts` must map identifiers to artifact sets",
                    );
                }
            }
        }
        Some(Artifacts { primary, secondary })
    }

    fn file_set(&mut self, node: &Node, what: &str, artifact: bool) -> ArtifactSet {
        let Node::Mapping(map) = node else {
            self.error(at(node), format!("{what} must be a mapping with `files`"));
            return ArtifactSet::default();
        };
        let known: &[&str] = if artifact {
            &[
                "files",
                "name",
                "discard-paths",
                "base-directory",
                "exclude-paths",
                "enable-symlinks",
                "s3-prefix",
                "secondary-artifacts",
            ]
        } else {
            &["files", "base-directory", "discard-paths", "file-format"]
        };
        self.unknown_keys(map, known, what);
        let mut set = ArtifactSet::default();
        match map.get_node("files") {
            Some(files) => {
                set.files = self.strings(files, &format!("{what} `files`"));
                self.check_paths(files, &set.files);
            }
            None => {
                let d = self.error(at(node), format!("{what} has no `files`"));
                *d = d
                    .clone()
                    .hint("list the files to keep, e.g. `files: [imagedefinitions.json]`");
            }
        }
        if let Some(base) = map.get_node("base-directory")
            && let Some(text) = self.scalar(base, "`base-directory`")
        {
            set.base_directory = Some(text.to_owned());
            self.check_paths(base, &[text.to_owned()]);
        }
        if let Some(discard) = map.get_node("discard-paths") {
            set.discard_paths = self.flag(discard, "`discard-paths`");
        }
        if let Some(exclude) = map.get_node("exclude-paths") {
            set.exclude_paths = self.strings(exclude, "`exclude-paths`");
        }
        if let Some(name) = map.get_node("name") {
            set.name = self.scalar(name, "`name`").map(str::to_owned);
        }
        if let Some(symlinks) = map.get_node("enable-symlinks") {
            self.flag(symlinks, "`enable-symlinks`");
        }
        set
    }

    fn check_paths(&mut self, node: &Node, paths: &[String]) {
        for path in paths {
            let escapes = path.starts_with('/') || path.split('/').any(|part| part == "..");
            if escapes {
                let d = self.error(
                    at(node),
                    format!("artifact path `{path}` leaves the source directory"),
                );
                *d = d.clone().hint("artifact paths are relative to the source directory (or `base-directory`), without `..` or a leading `/`");
            }
        }
    }
}

/// `$NAME` or `${NAME}`: a reference that env.variables would keep literal.
fn reference_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)").expect("fixed")
    })
}

/// The first bash-only construct in `command`, if any.
fn bashism(command: &str) -> Option<&'static str> {
    static RE: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let patterns = RE.get_or_init(|| {
        [
            (r"\[\[", "[["),
            (r"(^|[;&|(\s])source\s", "source"),
            (r"(^|[;&|\s])[A-Za-z_][A-Za-z0-9_]*=\(", "array assignment"),
            (
                r"\$\{[A-Za-z_][A-Za-z0-9_]*(//|:[0-9]|\[|,,|\^\^)",
                "${…} bash expansion",
            ),
            (r"(^|[;&|\s])function\s+[A-Za-z_]", "function keyword"),
            (r"<<<", "<<<"),
            (r"&>", "&>"),
            (r"(^|[;&|\s])pushd\s", "pushd"),
        ]
        .into_iter()
        .map(|(re, name)| (Regex::new(re).expect("fixed"), name))
        .collect()
    });
    patterns
        .iter()
        .find(|(re, _)| re.is_match(command))
        .map(|(_, name)| *name)
}

/// How to quote a command that YAML read as a mapping.
fn quote_hint(item: &Node) -> String {
    let text = match item {
        Node::Mapping(map) => map
            .iter()
            .map(|(k, v)| match v {
                Node::Scalar(v) if !v.as_str().is_empty() => {
                    format!("{}: {}", k.as_str(), v.as_str())
                }
                _ => format!("{}:", k.as_str()),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    if text.is_empty() {
        return "quote the whole command, e.g. `- 'echo \"Hello: world\"'`".into();
    }
    format!(
        "quote the whole command: `- '{}'`",
        text.replace('\'', "''")
    )
}

/// The closest known name, for "did you mean".
fn suggestion<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let normal = |s: &str| s.to_ascii_lowercase().replace(['-', '_'], "");
    known
        .iter()
        .map(|k| (distance(&normal(word), &normal(k)), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}
