//! `batch:` → [`Batch`], with the checks that would otherwise fail a batch halfway: exactly one
//! kind of batch, identifiers that are valid and unique, and a `depend-on` graph that names
//! only its own builds and has no cycle.

use std::collections::BTreeMap;

use marked_yaml::Node;
use marked_yaml::types::MarkedMappingNode;

use super::{Parser, at, at_scalar, suggestion};
use crate::buildspec::batch::{
    At, Batch, BatchKind, Located, Matrix, Task, TaskEnv, is_identifier,
};

const KINDS: [&str; 4] = ["build-list", "build-graph", "build-matrix", "build-fanout"];

/// A matrix multiplies its lists, so a few short ones make millions of builds, which would
/// exhaust memory before the first build started; no batch runs anywhere near this many.
const MAX_MATRIX_BUILDS: usize = 1000;

impl Parser<'_> {
    pub(super) fn batch(&mut self, node: &Node, key: At) -> Option<Batch> {
        let Node::Mapping(map) = node else {
            self.error(at(node), "`batch` must be a mapping");
            return None;
        };
        let mut known = vec!["fast-fail"];
        known.extend(KINDS);
        self.unknown_keys(map, &known, "`batch`");
        let fast_fail = map
            .get_node("fast-fail")
            .is_some_and(|n| self.flag(n, "`batch.fast-fail`"));
        let present: Vec<_> = map
            .iter()
            .filter(|(k, _)| KINDS.contains(&k.as_str()))
            .collect();
        for (extra, _) in present.iter().skip(1) {
            let d = self.error(
                at_scalar(extra),
                format!(
                    "`batch` has both `{}` and `{}`; a batch is exactly one kind",
                    present[0].0.as_str(),
                    extra.as_str()
                ),
            );
            *d = d.clone().hint(
                "keep one of build-list, build-graph, build-matrix and build-fanout, in one buildspec",
            );
        }
        let Some((kind_key, kind_node)) = present.first() else {
            let d = self.error(key, "`batch` names no builds");
            *d = d.clone().hint(
                "add one of build-list, build-graph, build-matrix or build-fanout, or remove `batch`",
            );
            return None;
        };
        let kind = match kind_key.as_str() {
            "build-list" => BatchKind::List(self.tasks(kind_node, "build-list")),
            "build-graph" => {
                let tasks = self.tasks(kind_node, "build-graph");
                self.check_graph(&tasks);
                BatchKind::Graph(tasks)
            }
            "build-matrix" => BatchKind::Matrix(self.matrix(kind_node)),
            _ => self.fanout(kind_node, at_scalar(kind_key))?,
        };
        Some(Batch {
            at: key,
            fast_fail,
            kind,
        })
    }

    fn tasks(&mut self, node: &Node, kind: &str) -> Vec<Task> {
        let Node::Sequence(items) = node else {
            let d = self.error(at(node), format!("`{kind}` must be a list of builds"));
            *d = d
                .clone()
                .hint("write each build as `- identifier: name`, with its settings below");
            return Vec::new();
        };
        let mut tasks = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for item in items.iter() {
            let Node::Mapping(map) = item else {
                self.error(
                    at(item),
                    format!("a build of `{kind}` must be a mapping with `identifier`"),
                );
                continue;
            };
            let Some(task) = self.task(map, kind) else {
                continue;
            };
            let id = &task.identifier;
            if let Some(line) = seen.get(&id.value) {
                let d = self.error(
                    id.at,
                    format!("duplicate identifier `{}` in `{kind}`", id.value),
                );
                *d = d.clone().hint(format!(
                    "`{}` is already the build on line {line}; an identifier names one build (and its artifacts directory)",
                    id.value
                ));
            } else {
                seen.insert(id.value.clone(), id.at.0);
            }
            tasks.push(task);
        }
        tasks
    }

    fn task(&mut self, map: &MarkedMappingNode, kind: &str) -> Option<Task> {
        self.unknown_keys(
            map,
            &[
                "identifier",
                "buildspec",
                "debug-session",
                "depend-on",
                "env",
                "ignore-failure",
            ],
            &format!("a build of `{kind}`"),
        );
        let Some(node) = map.get_node("identifier") else {
            let first = map.keys().next().map_or((1, 1), at_scalar);
            let d = self.error(first, format!("a build of `{kind}` has no `identifier`"));
            *d = d
                .clone()
                .hint("every build needs `identifier: name`, unique in the batch");
            return None;
        };
        let identifier = Located {
            value: self.scalar(node, "`identifier`")?.to_owned(),
            at: at(node),
        };
        if !is_identifier(&identifier.value) {
            let d = self.error(
                identifier.at,
                format!(
                    "identifier `{}` may contain only letters, digits and `_`",
                    identifier.value
                ),
            );
            let fixed: String = identifier
                .value
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            *d = d.clone().hint(format!(
                "CodeBuild's rule for identifiers (they also name directories here), e.g. `{fixed}`"
            ));
        }
        let buildspec = map.get_node("buildspec").and_then(|n| {
            let value = self.scalar(n, "`buildspec`")?.to_owned();
            self.check_buildspec_path(&value, at(n));
            Some(Located { value, at: at(n) })
        });
        if let Some(debug) = map.get_node("debug-session") {
            self.flag(debug, "`debug-session`");
        }
        let depend_on = match map.get_node("depend-on") {
            None => Vec::new(),
            Some(node) => {
                if kind == "build-list" {
                    let d = self.error(
                        at_key(map, "depend-on"),
                        "`depend-on` in a build-list: its builds do not wait for each other",
                    );
                    *d = d.clone().hint(
                        "use `build-graph` for builds that depend on others, or remove `depend-on`",
                    );
                }
                self.located_strings(node, "`depend-on`")
            }
        };
        let env = map
            .get_node("env")
            .map(|n| self.task_env(n))
            .unwrap_or_default();
        let ignore_failure = map
            .get_node("ignore-failure")
            .is_some_and(|n| self.flag(n, "`ignore-failure`"));
        Some(Task {
            identifier,
            buildspec,
            depend_on,
            env,
            ignore_failure,
        })
    }

    fn task_env(&mut self, node: &Node) -> TaskEnv {
        let Node::Mapping(map) = node else {
            self.error(at(node), "a build's `env` must be a mapping");
            return TaskEnv::default();
        };
        self.unknown_keys(
            map,
            &[
                "compute-type",
                "fleet",
                "image",
                "privileged-mode",
                "type",
                "variables",
            ],
            "a build's `env`",
        );
        let mut text = |key: &str| {
            map.get_node(key)
                .and_then(|n| self.scalar(n, &format!("`env.{key}`")).map(str::to_owned))
        };
        let env = TaskEnv {
            image: text("image"),
            compute_type: text("compute-type"),
            fleet: text("fleet"),
            env_type: text("type"),
            privileged_mode: false,
            variables: Vec::new(),
        };
        if env.compute_type.is_some() && env.fleet.is_some() {
            let d = self.error(
                at_key(map, "fleet"),
                "a build's `env` has both `compute-type` and `fleet`",
            );
            *d = d
                .clone()
                .hint("a fleet fixes the compute type: keep one of the two");
        }
        TaskEnv {
            privileged_mode: map
                .get_node("privileged-mode")
                .is_some_and(|n| self.flag(n, "`env.privileged-mode`")),
            variables: self.pairs(map.get_node("variables"), "env.variables", true),
            ..env
        }
    }

    fn matrix(&mut self, node: &Node) -> Matrix {
        let mut matrix = Matrix::default();
        let Node::Mapping(map) = node else {
            self.error(at(node), "`build-matrix` must be a mapping with `dynamic`");
            return matrix;
        };
        self.unknown_keys(map, &["static", "dynamic"], "`build-matrix`");
        if let Some(node) = map.get_node("static") {
            match node {
                Node::Mapping(fixed) => {
                    self.unknown_keys(fixed, &["ignore-failure", "env"], "`build-matrix.static`");
                    matrix.ignore_failure = fixed
                        .get_node("ignore-failure")
                        .is_some_and(|n| self.flag(n, "`ignore-failure`"));
                    if let Some(env) = fixed.get_node("env") {
                        let env = self.task_env(env);
                        matrix.privileged_mode = env.privileged_mode;
                        matrix.env_type = env.env_type;
                    }
                }
                _ => {
                    self.error(at(node), "`build-matrix.static` must be a mapping");
                }
            }
        }
        let dynamic = match map.get_node("dynamic") {
            Some(Node::Mapping(dynamic)) => dynamic,
            Some(node) => {
                self.error(at(node), "`build-matrix.dynamic` must be a mapping");
                return matrix;
            }
            None => {
                let d = self.error(at(node), "`build-matrix` has no `dynamic`");
                *d = d.clone().hint(
                    "list what varies under `dynamic`: `buildspec`, `env.image`, `env.compute-type` or `env.variables`",
                );
                return matrix;
            }
        };
        self.unknown_keys(dynamic, &["buildspec", "env"], "`build-matrix.dynamic`");
        if let Some(node) = dynamic.get_node("buildspec") {
            matrix.buildspecs = self.located_strings(node, "`dynamic.buildspec`");
            for path in matrix.buildspecs.clone() {
                self.check_buildspec_path(&path.value, path.at);
            }
        }
        match dynamic.get_node("env") {
            Some(Node::Mapping(env)) => {
                self.unknown_keys(
                    env,
                    &["compute-type", "image", "variables"],
                    "`build-matrix.dynamic.env`",
                );
                if let Some(node) = env.get_node("image") {
                    matrix.images = self.strings(node, "`dynamic.env.image`");
                }
                if let Some(node) = env.get_node("compute-type") {
                    matrix.compute_types = self.strings(node, "`dynamic.env.compute-type`");
                }
                match env.get_node("variables") {
                    Some(Node::Mapping(variables)) => {
                        for (name, values) in variables.iter() {
                            let what = format!("`dynamic.env.variables.{}`", name.as_str());
                            let values = self.strings(values, &what);
                            matrix.variables.push((name.as_str().to_owned(), values));
                        }
                    }
                    Some(node) => {
                        self.error(
                            at(node),
                            "`dynamic.env.variables` must map names to lists of values",
                        );
                    }
                    None => {}
                }
            }
            Some(node) => {
                self.error(at(node), "`build-matrix.dynamic.env` must be a mapping");
            }
            None => {}
        }
        let empty = matrix.buildspecs.is_empty()
            && matrix.images.is_empty()
            && matrix.compute_types.is_empty()
            && matrix.variables.iter().all(|(_, values)| values.is_empty());
        if empty {
            let d = self.error(at(node), "`build-matrix.dynamic` lists no values");
            *d = d.clone().hint(
                "a matrix runs one build per combination of its `dynamic` lists; give at least one list a value",
            );
        }
        let lists = [
            matrix.buildspecs.len(),
            matrix.images.len(),
            matrix.compute_types.len(),
        ]
        .into_iter()
        .chain(matrix.variables.iter().map(|(_, values)| values.len()));
        let builds = lists
            .filter(|&n| n > 0)
            .try_fold(1usize, usize::checked_mul)
            .filter(|&n| n <= MAX_MATRIX_BUILDS);
        if builds.is_none() {
            let d = self.error(
                at(node),
                format!("`build-matrix` makes more than {MAX_MATRIX_BUILDS} builds"),
            );
            *d = d.clone().hint(
                "each `dynamic` list multiplies the number of builds; split the matrix, or list the builds with `build-list`",
            );
        }
        matrix
    }

    fn fanout(&mut self, node: &Node, key: At) -> Option<BatchKind> {
        let Node::Mapping(map) = node else {
            self.error(
                at(node),
                "`build-fanout` must be a mapping with `parallelism`",
            );
            return None;
        };
        self.unknown_keys(map, &["parallelism", "ignore-failure"], "`build-fanout`");
        if let Some(ignore) = map.get_node("ignore-failure") {
            self.flag(ignore, "`ignore-failure`");
        }
        let parallelism = match map.get_node("parallelism") {
            Some(node) => match self.scalar(node, "`parallelism`")?.parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => {
                    self.error(at(node), "`parallelism` must be a whole number above 0");
                    return None;
                }
            },
            None => {
                self.error(key, "`build-fanout` has no `parallelism`");
                return None;
            }
        };
        let d = self.warning(
            key,
            "`build-fanout` is not run by `cb-step run`: it shards tests with CodeBuild's `codebuild-tests-run`, which has no local equivalent",
        );
        *d = d
            .clone()
            .hint("run the buildspec as one build with `cb-step run --no-batch`");
        Some(BatchKind::Fanout {
            parallelism,
            at: key,
        })
    }

    /// Every `depend-on` names a build of the graph, and following them never comes back.
    fn check_graph(&mut self, tasks: &[Task]) {
        let index: BTreeMap<&str, usize> = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.identifier.value.as_str(), i))
            .collect();
        let names: Vec<&str> = tasks.iter().map(|t| t.identifier.value.as_str()).collect();
        for task in tasks {
            for dependency in &task.depend_on {
                if index.contains_key(dependency.value.as_str()) {
                    continue;
                }
                let hint = suggestion(&dependency.value, &names).map_or_else(
                    || format!("the builds of this graph are: {}", names.join(", ")),
                    |s| format!("did you mean `{s}`?"),
                );
                let d = self.error(
                    dependency.at,
                    format!(
                        "`{}` depends on `{}`, which is not a build of this build-graph",
                        task.identifier.value, dependency.value
                    ),
                );
                *d = d.clone().hint(hint);
            }
        }
        // Depth-first; a dependency that is still on the path closes a cycle.
        let mut state = vec![Visit::New; tasks.len()];
        let mut path = Vec::new();
        for start in 0..tasks.len() {
            self.visit(tasks, &index, start, &mut state, &mut path);
        }
    }

    fn visit(
        &mut self,
        tasks: &[Task],
        index: &BTreeMap<&str, usize>,
        node: usize,
        state: &mut [Visit],
        path: &mut Vec<usize>,
    ) {
        if state[node] != Visit::New {
            return;
        }
        state[node] = Visit::OnPath;
        path.push(node);
        for dependency in &tasks[node].depend_on {
            let Some(&next) = index.get(dependency.value.as_str()) else {
                continue;
            };
            match state[next] {
                Visit::New => self.visit(tasks, index, next, state, path),
                Visit::OnPath => {
                    let from = path.iter().position(|&n| n == next).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[from..]
                        .iter()
                        .map(|&n| tasks[n].identifier.value.as_str())
                        .collect();
                    cycle.push(&tasks[next].identifier.value);
                    let d = self.error(
                        dependency.at,
                        format!("cycle in `depend-on`: {}", cycle.join(" → ")),
                    );
                    *d = d.clone().hint(
                        "`a → b` reads \"a depends on b\"; no build of a cycle could ever start: remove one of these dependencies",
                    );
                }
                Visit::Done => {}
            }
        }
        path.pop();
        state[node] = Visit::Done;
    }

    fn located_strings(&mut self, node: &Node, what: &str) -> Vec<Located<String>> {
        let items: Vec<&Node> = match node {
            Node::Sequence(items) => items.iter().collect(),
            Node::Scalar(_) => vec![node],
            Node::Mapping(_) => {
                self.error(at(node), format!("{what} must be a list"));
                return Vec::new();
            }
        };
        items
            .into_iter()
            .filter_map(|item| {
                let value = self.scalar(item, what)?.to_owned();
                Some(Located {
                    value,
                    at: at(item),
                })
            })
            .collect()
    }

    /// A child's buildspec is read from its copy of the source, so it must be inside it.
    fn check_buildspec_path(&mut self, path: &str, at: At) {
        if path.starts_with('/') || path.split('/').any(|part| part == "..") || path.is_empty() {
            let d = self.error(
                at,
                format!("buildspec `{path}` is not a path inside the source directory"),
            );
            *d = d.clone().hint(
                "a batch build's buildspec is relative to the source directory (CODEBUILD_SRC_DIR), without `..` or a leading `/`",
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    OnPath,
    Done,
}

/// Where `key` is written in `map` (its value's position is `at(value)`).
pub(super) fn at_key(map: &MarkedMappingNode, key: &str) -> At {
    map.keys()
        .find(|k| k.as_str() == key)
        .map_or((1, 1), at_scalar)
}
