//! A validated buildspec: what `run` executes and `lint` has checked.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Each command in a shell of its own.
    V01,
    /// One shell session for the whole build: `cd` and variables persist.
    V02,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhaseName {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl PhaseName {
    pub const ALL: [PhaseName; 4] = [
        PhaseName::Install,
        PhaseName::PreBuild,
        PhaseName::Build,
        PhaseName::PostBuild,
    ];

    /// As written in the buildspec.
    pub fn key(self) -> &'static str {
        match self {
            PhaseName::Install => "install",
            PhaseName::PreBuild => "pre_build",
            PhaseName::Build => "build",
            PhaseName::PostBuild => "post_build",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        PhaseName::ALL.into_iter().find(|p| p.key() == key)
    }
}

/// As CodeBuild's log writes it: `PRE_BUILD`.
impl fmt::Display for PhaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key().to_ascii_uppercase())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub text: String,
    /// 1-based line of the command in the buildspec.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    Abort,
    Continue,
    /// Retry the phase up to `count` more times, while the failure's output matches `pattern`.
    Retry {
        count: u32,
        pattern: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub name: PhaseName,
    pub run_as: Option<String>,
    pub on_failure: Option<OnFailure>,
    pub commands: Vec<Command>,
    pub finally: Vec<Command>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    pub shell: Option<String>,
    /// Literal values, in the buildspec's order.
    pub variables: Vec<(String, String)>,
    /// Name → parameter name; values come from `--env`/`--env-file` locally.
    pub parameter_store: Vec<(String, String)>,
    /// Name → `secret-id:json-key:…`; values come from `--env`/`--env-file` locally.
    pub secrets_manager: Vec<(String, String)>,
    pub exported_variables: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactSet {
    pub files: Vec<String>,
    pub base_directory: Option<String>,
    pub discard_paths: bool,
    pub exclude_paths: Vec<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Artifacts {
    pub primary: ArtifactSet,
    /// `artifactIdentifier` → set, copied into a subdirectory of that name.
    pub secondary: Vec<(String, ArtifactSet)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildspec {
    pub version: Version,
    pub run_as: Option<String>,
    pub env: Env,
    /// The phases present, in CodeBuild's order.
    pub phases: Vec<Phase>,
    pub artifacts: Option<Artifacts>,
    /// Report group → file set, collected like artifacts.
    pub reports: Vec<(String, ArtifactSet)>,
    /// `cache.paths`: accepted and reported, not acted on locally.
    pub cache_paths: Vec<String>,
    /// `batch`: the child builds `run` starts instead of running the phases itself.
    pub batch: Option<super::batch::Batch>,
}

impl Buildspec {
    pub fn phase(&self, name: PhaseName) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }
}
