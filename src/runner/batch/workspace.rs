//! Where a batch's builds run and leave their artifacts: `.cb-step/batch/<identifier>/source`,
//! a fresh copy of the source for each build, and `<artifacts>/<identifier>`.

use std::path::{Path, PathBuf};

use crate::record::build_record::RECORD_DIR;
use crate::runner::artifacts;
use crate::runner::error::RunError;

pub struct Workspace {
    /// This binary, which each build runs as.
    pub exe: PathBuf,
    /// `<source>/.cb-step/batch`: one directory per build.
    pub state: PathBuf,
    /// Absolute.
    pub artifacts: PathBuf,
    /// What the copies leave out: cb-step's own directory, and the artifacts directory when
    /// it is inside the source.
    pub skip: Vec<PathBuf>,
}

impl Workspace {
    /// Clears what an earlier batch left in `.cb-step/batch` and the artifacts directory.
    pub fn prepare(
        source: &Path,
        artifacts: &Path,
        identifiers: &[&str],
    ) -> Result<Self, RunError> {
        let state_error = |path: &Path| {
            let path = path.to_owned();
            move |source| RunError::State { path, source }
        };
        let artifacts = std::path::absolute(artifacts).map_err(state_error(artifacts))?;
        let state = source.join(RECORD_DIR).join("batch");
        if state.exists() {
            std::fs::remove_dir_all(&state).map_err(state_error(&state))?;
        }
        std::fs::create_dir_all(&state).map_err(state_error(&state))?;
        artifacts::prepare_batch(&artifacts, identifiers)?;
        let exe = std::env::current_exe().map_err(state_error(Path::new("cb-step")))?;
        Ok(Workspace {
            exe,
            state,
            skip: vec![source.join(RECORD_DIR), artifacts.clone()],
            artifacts,
        })
    }
}
