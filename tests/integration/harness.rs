//! A builder for one run of the `cb-step` binary in its own temporary directory.
//!
//! Each test gets a fresh directory and a cleared environment, so tests run in parallel
//! without seeing each other's files or the developer's `CONTAINER_NAME`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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

/// The ECR stand-in that `.ci/testbed up` provisions: its variables, read from its env file.
/// Tests that need it fail loudly when it is missing; they are never skipped.
pub struct Bed {
    vars: Vec<(String, String)>,
}

impl Bed {
    pub fn get() -> &'static Bed {
        static BED: OnceLock<Bed> = OnceLock::new();
        BED.get_or_init(|| {
            let dir = std::env::var("CB_STEP_TESTBED_DIR")
                .unwrap_or_else(|_| "/var/tmp/cb-step-testbed".into());
            let path = Path::new(&dir).join("env");
            let text = fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "the test bed is not up ({}: {e}); run `bash .ci/testbed up`, or the README's test command `bash .ci/test`",
                    path.display()
                )
            });
            let vars = text
                .lines()
                .filter_map(|line| line.trim().strip_prefix("export "))
                .filter_map(|line| line.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim_matches(['"', '\'']).to_owned()))
                .collect();
            Bed { vars }
        })
    }

    #[track_caller]
    pub fn var(&self, name: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| {
                panic!("the test bed's env file has no {name}; run `bash .ci/testbed up`")
            })
    }

    pub fn registry(&self) -> &str {
        self.var("CB_STEP_TESTBED_REGISTRY")
    }

    /// The standard AWS variables that point the SDK (and the AWS CLI) at the stand-in.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .cloned()
            .collect()
    }
}

/// The password inside the stand-in's ECR token: what must never leak.
pub const ECR_PASSWORD: &str = "123456789012-auth-token";

/// Runs a helper tool (docker, skopeo, aws, sh) and returns its stdout; panics with its output
/// when it fails.
#[track_caller]
pub fn tool(program: &str, args: &[&str], env: &[(String, String)]) -> String {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Pushes the bed's base image as `image` with the docker CLI, removes it locally and pulls it
/// back: what a user's `docker push`/`docker pull` would do with the Docker config in `env`.
#[track_caller]
pub fn push_and_pull(image: &str, env: &[(String, String)]) {
    tool(
        "docker",
        &["tag", Bed::get().var("CB_STEP_TESTBED_BASE_IMAGE"), image],
        env,
    );
    tool("docker", &["push", image], env);
    tool("docker", &["rmi", image], env);
    tool("docker", &["pull", image], env);
    tool("docker", &["rmi", image], env);
}

pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    trace: bool,
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
            trace: false,
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

    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Points AWS at the test bed and docker at this test's own config (`<dir>/docker`).
    pub fn bed(mut self) -> Self {
        self.env.extend(Bed::get().aws_env());
        let docker_config = self
            .dir
            .path()
            .join("docker")
            .to_string_lossy()
            .into_owned();
        self.env.push(("DOCKER_CONFIG".into(), docker_config));
        self
    }

    /// A name no other test uses: for repositories and tags in the shared registry.
    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}-{}", unique_suffix(self.dir.path()))
    }

    /// Runs cb-step under `strace -f -e execve`, writing the trace to `<dir>/strace.log`, so
    /// a test can see every program cb-step started and with which arguments.
    pub fn traced(mut self) -> Self {
        self.trace = true;
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
        let mut command = if self.trace {
            let mut strace = Command::new("strace");
            strace
                .args(["-f", "-qq", "-e", "trace=execve", "-s", "65536", "-o"])
                .arg(self.dir.path().join("strace.log"))
                .arg(BIN);
            strace
        } else {
            Command::new(BIN)
        };
        let output = command
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
            env: self.env,
            dir: self.dir,
        }
    }
}

impl Test {
    /// `run`, and the peak resident set size of cb-step in KiB (`wait4`'s rusage of that one
    /// process, not of every child of the test binary).
    #[expect(clippy::zombie_processes, reason = "wait4 reaps the child")]
    pub fn run_measured(self) -> (Outcome, u64) {
        use std::io::Read;
        use std::process::Stdio;
        let mut child = Command::new(BIN)
            .args(&self.args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cb-step");
        let read = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                pipe.read_to_string(&mut text).expect("utf-8 output");
                text
            })
        };
        let stdout = read(Box::new(child.stdout.take().unwrap()));
        let stderr = read(Box::new(child.stderr.take().unwrap()));
        let pid = i32::try_from(child.id()).unwrap();
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills in; pid is our own unwaited child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
        assert!(libc::WIFEXITED(status), "cb-step was killed");
        let outcome = Outcome {
            status: libc::WEXITSTATUS(status),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
            args: self.args,
            env: self.env,
            dir: self.dir,
        };
        (outcome, u64::try_from(usage.ru_maxrss).unwrap())
    }
}

pub struct Outcome {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Outcome {
    /// Runs cb-step again, in the same directory with the same environment.
    pub fn again<I, S>(self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Test {
            dir: self.dir,
            args: args.into_iter().map(Into::into).collect(),
            env: self.env,
            trace: false,
        }
        .run()
    }

    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(
            self.status, 0,
            "cb-step {:?} failed:\n{}\n{}",
            self.args, self.stdout, self.stderr
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

    pub fn path(&self) -> &Path {
        self.dir.path()
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

    /// What the user saw, with the temporary directory replaced by `[DIR]` and the test's
    /// unique names by `[ID]`.
    pub fn snapshot(&self) -> String {
        let dir = self.dir.path().to_string_lossy().into_owned();
        format!(
            "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
        .replace(&dir, "[DIR]")
        .replace(&unique_suffix(self.dir.path()), "[ID]")
    }
}

/// The lowercase letters and digits of the test directory's name: unique per test.
fn unique_suffix(dir: &Path) -> String {
    dir.file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
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

/// Makes `dir` a git repository with one commit of everything in it, and returns the commit.
#[track_caller]
pub fn git_commit_all(dir: &Path) -> String {
    let dir = dir.to_string_lossy().into_owned();
    let git = |args: &[&str]| {
        let mut all = vec![
            "-C",
            dir.as_str(),
            "-c",
            "user.email=test@example.com",
            "-c",
            "user.name=test",
        ];
        all.extend_from_slice(args);
        tool("git", &all, &[])
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "fixture"]);
    git(&["rev-parse", "HEAD"]).trim().to_owned()
}

/// Creates an ECR repository in the stand-in's ECR API (moto), as `aws ecr create-repository`.
#[track_caller]
pub fn create_repository(name: &str, region: &str, immutable: bool) {
    let bed = Bed::get();
    let mutability = if immutable { "IMMUTABLE" } else { "MUTABLE" };
    tool(
        bed.var("CB_STEP_TESTBED_AWS"),
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            name,
            "--region",
            region,
            "--image-tag-mutability",
            mutability,
        ],
        &bed.aws_env(),
    );
}

/// `skopeo inspect` of `reference` with the stand-in's credentials: (digest, os/arch, labels).
#[track_caller]
/// Many mutable repositories in us-east-1 at once, through moto's JSON API (the AWS CLI
/// takes half a second to start, for each one).
pub fn create_repositories(names: &[String]) {
    let endpoint = Bed::get().var("AWS_ENDPOINT_URL_ECR").to_owned();
    for name in names {
        let body = format!("{{\"repositoryName\":\"{name}\"}}");
        let answer = tool(
            "curl",
            &[
                "-sS",
                "-X",
                "POST",
                &endpoint,
                "-H",
                "X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.CreateRepository",
                "-H",
                "Content-Type: application/x-amz-json-1.1",
                "-H",
                "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=0",
                "-d",
                &body,
            ],
            &[],
        );
        assert!(answer.contains("repositoryArn"), "{answer}");
    }
}

pub fn inspect(reference: &str) -> (String, String, serde_json::Value) {
    let creds = format!("AWS:{ECR_PASSWORD}");
    let image = format!("docker://{reference}");
    let info: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", "--creds", &creds, &image],
        &[],
    ))
    .unwrap();
    (
        info["Digest"].as_str().unwrap().to_owned(),
        format!(
            "{}/{}",
            info["Os"].as_str().unwrap(),
            info["Architecture"].as_str().unwrap()
        ),
        info["Labels"].clone(),
    )
}

/// `sha256sum` of the manifest bytes the registry serves for `reference`.
#[track_caller]
pub fn raw_manifest_sha256(reference: &str) -> String {
    let script =
        format!("skopeo inspect --raw --creds AWS:{ECR_PASSWORD} docker://{reference} | sha256sum");
    let out = tool("sh", &["-c", &script], &[]);
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}

/// Records what a reliability test tried and how much of it went wrong, for the table that
/// `tests/reliability/report` prints after `cargo test` (issue: faults survived, secrets not
/// leaked, writers not lost, fuzz inputs without a crash). `bad` is what the test asserts is
/// zero, so a red test and a non-zero count go together; the tally only makes the work visible.
///
/// One file per call under `target/tmp/reliability/`, written whole, so parallel tests never
/// interleave lines: `area<TAB>check<TAB>tried<TAB>bad`.
pub fn tally(area: &str, check: &str, tried: u64, bad: u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    fs::create_dir_all(&dir).expect("create the reliability tally directory");
    let name = format!(
        "{}-{}.tsv",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let line = format!(
        "{area}\t{}\t{tried}\t{bad}\n",
        check.replace(['\t', '\n'], " ")
    );
    let temp = dir.join(format!(".{name}"));
    fs::write(&temp, line).expect("write a tally");
    fs::rename(&temp, dir.join(name)).expect("publish a tally");
}
