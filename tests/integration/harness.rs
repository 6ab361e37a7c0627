//! A builder for one run of the `cb-step` binary in its own temporary directory.
//!
//! Each test gets a fresh directory and a cleared environment, so tests run in parallel
//! without seeing each other's files or the developer's `CONTAINER_NAME`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_cb-step");
pub const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

pub fn digest(fill: char) -> String {
    format!("sha256:{}", fill.to_string().repeat(64))
}

pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::Builder::new()
                .prefix("cb-step-test.")
                .tempdir()
                .expect("temp dir"),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Writes `contents` to `path` inside the test directory.
    pub fn file(self, path: &str, contents: impl AsRef<[u8]>) -> Self {
        let full = self.dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, contents).unwrap();
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(self) -> Outcome {
        let output = Command::new(BIN)
            .args(&self.args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run cb-step");
        Outcome {
            status: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
            args: self.args,
            dir: self.dir,
        }
    }
}

pub struct Outcome {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl Outcome {
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(
            self.status, 0,
            "cb-step {:?} failed:\n{}",
            self.args, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32) -> Self {
        assert_eq!(
            self.status, code,
            "cb-step {:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.args, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn read(&self, path: &str) -> String {
        fs::read_to_string(self.dir.path().join(path))
            .unwrap_or_else(|e| panic!("read {path}: {e}\nstderr:\n{}", self.stderr))
    }

    #[track_caller]
    pub fn json(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(path)).expect("valid JSON")
    }

    /// The files in the test directory, sorted, hidden ones included.
    pub fn files(&self) -> Vec<String> {
        let mut names = Vec::new();
        collect(self.dir.path(), self.dir.path(), &mut names);
        names.sort();
        names
    }

    /// What the user saw, with the temporary directory replaced by `[DIR]`.
    pub fn snapshot(&self) -> String {
        let dir = self.dir.path().to_string_lossy().into_owned();
        format!(
            "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
        .replace(&dir, "[DIR]")
    }
}

fn collect(root: &Path, dir: &Path, names: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, names);
        } else {
            names.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}
