//! A buildspec's `batch` section (semantics §1.4), and the child builds it stands for.
//!
//! `build-list` and `build-graph` name their builds. A `build-matrix` does not: CodeBuild's own
//! names for matrix builds are not in our reference, so cb-step makes readable ones from the
//! combination's values (see [`Batch::builds`]).

/// A 1-based (line, column) in the buildspec.
pub type At = (usize, usize);

/// A value with where it was written, for diagnostics about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub at: At,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The `batch` key.
    pub at: At,
    pub fast_fail: bool,
    pub kind: BatchKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchKind {
    List(Vec<Task>),
    Graph(Vec<Task>),
    Matrix(Matrix),
    /// Test sharding with CodeBuild's `codebuild-tests-run`; parsed, not run.
    Fanout {
        parallelism: u32,
        at: At,
    },
}

impl BatchKind {
    /// As written in the buildspec.
    pub fn key(&self) -> &'static str {
        match self {
            BatchKind::List(_) => "build-list",
            BatchKind::Graph(_) => "build-graph",
            BatchKind::Matrix(_) => "build-matrix",
            BatchKind::Fanout { .. } => "build-fanout",
        }
    }
}

/// One entry of a build-list or build-graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub identifier: Located<String>,
    /// Relative to the source directory; `None`: the batch's own buildspec.
    pub buildspec: Option<Located<String>>,
    pub depend_on: Vec<Located<String>>,
    pub env: TaskEnv,
    pub ignore_failure: bool,
}

/// A task's `env`: overrides of the project's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskEnv {
    pub image: Option<String>,
    pub compute_type: Option<String>,
    pub fleet: Option<String>,
    pub env_type: Option<String>,
    pub privileged_mode: bool,
    /// Over the buildspec's `env.variables`, under `--env`.
    pub variables: Vec<(String, String)>,
}

impl TaskEnv {
    /// The settings that choose CodeBuild's hardware, which a local run has no use for.
    pub fn hardware(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.compute_type.is_some() {
            names.push("compute-type");
        }
        if self.fleet.is_some() {
            names.push("fleet");
        }
        if self.env_type.is_some() {
            names.push("type");
        }
        if self.privileged_mode {
            names.push("privileged-mode");
        }
        names
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matrix {
    /// `static.ignore-failure`: for every build of the matrix.
    pub ignore_failure: bool,
    pub privileged_mode: bool,
    pub env_type: Option<String>,
    pub buildspecs: Vec<Located<String>>,
    pub images: Vec<String>,
    pub compute_types: Vec<String>,
    /// Name → its values, in the buildspec's order.
    pub variables: Vec<(String, Vec<String>)>,
}

/// One child build, as the batch asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub identifier: String,
    pub buildspec: Option<String>,
    pub depend_on: Vec<String>,
    pub env: TaskEnv,
    pub ignore_failure: bool,
}

impl Batch {
    /// Every child build, in the order the buildspec lists them. A matrix gives one build per
    /// combination of its `dynamic` lists, the last list varying fastest: buildspec × image ×
    /// compute-type × each variable in order. Its identifier joins the combination's values,
    /// each made of letters, digits and `_` (`ci/unit.yml` → `ci_unit`, variable `NODE: 20` →
    /// `NODE_20`); a name already taken gets `_2`, `_3`, ….
    pub fn builds(&self) -> Vec<Build> {
        match &self.kind {
            BatchKind::List(tasks) | BatchKind::Graph(tasks) => tasks
                .iter()
                .map(|task| Build {
                    identifier: task.identifier.value.clone(),
                    buildspec: task.buildspec.as_ref().map(|b| b.value.clone()),
                    depend_on: task.depend_on.iter().map(|d| d.value.clone()).collect(),
                    env: task.env.clone(),
                    ignore_failure: task.ignore_failure,
                })
                .collect(),
            BatchKind::Matrix(matrix) => matrix.builds(),
            BatchKind::Fanout { .. } => Vec::new(),
        }
    }
}

/// One value of one matrix dimension: what it sets, and its part of the identifier.
#[derive(Clone)]
enum Choice {
    Buildspec(String),
    Image(String),
    ComputeType(String),
    Variable(String, String),
}

impl Choice {
    fn name_part(&self) -> String {
        match self {
            Choice::Buildspec(path) => {
                let stem = path
                    .strip_suffix(".yml")
                    .or_else(|| path.strip_suffix(".yaml"))
                    .unwrap_or(path);
                identifier_part(stem)
            }
            Choice::Image(value) | Choice::ComputeType(value) => identifier_part(value),
            Choice::Variable(name, value) => {
                format!("{}_{}", identifier_part(name), identifier_part(value))
            }
        }
    }
}

impl Matrix {
    fn dimensions(&self) -> Vec<Vec<Choice>> {
        let mut dimensions = Vec::new();
        if !self.buildspecs.is_empty() {
            dimensions.push(
                self.buildspecs
                    .iter()
                    .map(|b| Choice::Buildspec(b.value.clone()))
                    .collect(),
            );
        }
        if !self.images.is_empty() {
            dimensions.push(self.images.iter().cloned().map(Choice::Image).collect());
        }
        if !self.compute_types.is_empty() {
            dimensions.push(
                self.compute_types
                    .iter()
                    .cloned()
                    .map(Choice::ComputeType)
                    .collect(),
            );
        }
        for (name, values) in &self.variables {
            if !values.is_empty() {
                dimensions.push(
                    values
                        .iter()
                        .map(|v| Choice::Variable(name.clone(), v.clone()))
                        .collect(),
                );
            }
        }
        dimensions
    }

    fn builds(&self) -> Vec<Build> {
        let dimensions = self.dimensions();
        if dimensions.is_empty() {
            return Vec::new();
        }
        let mut combinations: Vec<Vec<Choice>> = vec![Vec::new()];
        for dimension in &dimensions {
            combinations = combinations
                .into_iter()
                .flat_map(|prefix| {
                    dimension.iter().map(move |choice| {
                        let mut next = prefix.clone();
                        next.push(choice.clone());
                        next
                    })
                })
                .collect();
        }
        let mut taken: Vec<String> = Vec::new();
        combinations
            .into_iter()
            .map(|combination| {
                let parts: Vec<String> = combination.iter().map(Choice::name_part).collect();
                let mut base = parts.join("_");
                if base.is_empty() {
                    base = "build".into();
                }
                let mut identifier = base.clone();
                let mut n = 2;
                while taken.contains(&identifier) {
                    identifier = format!("{base}_{n}");
                    n += 1;
                }
                taken.push(identifier.clone());
                let mut build = Build {
                    identifier,
                    buildspec: None,
                    depend_on: Vec::new(),
                    env: TaskEnv {
                        env_type: self.env_type.clone(),
                        privileged_mode: self.privileged_mode,
                        ..TaskEnv::default()
                    },
                    ignore_failure: self.ignore_failure,
                };
                for choice in combination {
                    match choice {
                        Choice::Buildspec(path) => build.buildspec = Some(path),
                        Choice::Image(image) => build.env.image = Some(image),
                        Choice::ComputeType(kind) => build.env.compute_type = Some(kind),
                        Choice::Variable(name, value) => build.env.variables.push((name, value)),
                    }
                }
                build
            })
            .collect()
    }
}

/// Letters, digits and `_`: what CodeBuild allows in a batch identifier.
pub fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` with every run of other characters turned into one `_`, trimmed of `_`.
fn identifier_part(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(value: &str) -> Located<String> {
        Located {
            value: value.into(),
            at: (1, 1),
        }
    }

    #[test]
    fn a_matrix_is_every_combination_with_readable_names() {
        let matrix = Matrix {
            ignore_failure: true,
            buildspecs: vec![located("ci/unit.yml"), located("ci/e2e.yaml")],
            variables: vec![
                ("NODE".into(), vec!["18".into(), "20.1".into()]),
                ("OS".into(), vec!["linux".into()]),
            ],
            ..Matrix::default()
        };
        let batch = Batch {
            at: (1, 1),
            fast_fail: false,
            kind: BatchKind::Matrix(matrix),
        };
        let builds = batch.builds();
        let names: Vec<&str> = builds.iter().map(|b| b.identifier.as_str()).collect();
        assert_eq!(
            names,
            [
                "ci_unit_NODE_18_OS_linux",
                "ci_unit_NODE_20_1_OS_linux",
                "ci_e2e_NODE_18_OS_linux",
                "ci_e2e_NODE_20_1_OS_linux",
            ]
        );
        assert_eq!(builds[3].buildspec.as_deref(), Some("ci/e2e.yaml"));
        assert_eq!(
            builds[3].env.variables,
            [
                ("NODE".to_owned(), "20.1".to_owned()),
                ("OS".to_owned(), "linux".to_owned())
            ]
        );
        assert!(builds.iter().all(|b| b.ignore_failure));
        assert!(builds.iter().all(|b| is_identifier(&b.identifier)));
    }

    #[test]
    fn matrix_names_that_collide_get_a_number() {
        let matrix = Matrix {
            images: vec!["img:1.2".into(), "img/1.2".into(), "img_1_2".into()],
            ..Matrix::default()
        };
        let names: Vec<String> = matrix.builds().into_iter().map(|b| b.identifier).collect();
        assert_eq!(names, ["img_1_2", "img_1_2_2", "img_1_2_3"]);
    }

    #[test]
    fn identifiers_are_letters_digits_and_underscores() {
        assert!(is_identifier("build_1"));
        assert!(!is_identifier("build-1"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("a/b"));
    }
}
