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
    trace_tree: Option<PathBuf>,
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
            trace_tree: None,
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
        let mut command = if let Some(into) = &self.trace_tree {
            let mut strace = Command::new("strace");
            strace
                .args(["-ff", "-qq", "-v", "-s", "65536", "-e"])
                .arg("trace=execve,fork,vfork,clone,clone3")
                .arg("-o")
                .arg(into.join("pid"))
                .arg(BIN);
            strace
        } else if self.trace {
            let mut strace = Command::new("strace");
            strace
                .args(["-f", "-qq", "-e", "trace=execve", "-s", "65536", "-o"])
                .arg(self.dir.path().join("strace.log"))
                .arg(BIN);
            strace
        } else {
            Command::new(BIN)
        };
        let output = self.configure(&mut command).output().expect("run cb-step");
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
    pub fn run_measured(self) -> (Outcome, u64) {
        // wait4 reaps the child; `Child` is only its pid here.
        let (child, stdout, stderr) = self.spawn_piped();
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
            trace_tree: None,
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

impl Test {
    /// Runs cb-step under `strace -ff -v`: one trace file per process in `into` (a directory
    /// of the test's own, outside the one cb-step runs in, since the traces hold every
    /// environment), with each `execve`'s arguments and whole environment, and each fork and
    /// clone, so that [`process_tree`] can tell which program started which.
    pub fn traced_tree(mut self, into: &Path) -> Self {
        self.trace_tree = Some(into.to_owned());
        self
    }
}

impl Outcome {
    /// A new run in the same directory with the same environment, to be given its arguments
    /// (and tracing) afresh: `again` with the builder's options.
    pub fn then(self) -> Test {
        Test {
            dir: self.dir,
            args: Vec::new(),
            env: self.env,
            trace: false,
            trace_tree: None,
        }
    }
}

/// One `execve` of a traced run: what `/proc/<pid>/cmdline` and `/proc/<pid>/environ` held
/// right after it, for every process however short-lived, which polling `/proc` would miss.
#[derive(Debug, Clone)]
pub struct Exec {
    pub pid: u32,
    pub program: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    /// Whether the program started (a `PATH` search tries directories that fail first).
    pub ok: bool,
    /// Index in the list of the exec whose program started this process; `None` for the
    /// first one, cb-step itself.
    pub parent: Option<usize>,
}

/// Every `execve` in the traces that [`Test::traced_tree`] left in `dir`, each linked to the
/// program that started it: a process starts as a copy of its parent (clone, fork, vfork),
/// so it runs its parent's program until its own first successful `execve`.
pub fn process_tree(dir: &Path) -> Vec<Exec> {
    enum Event {
        Spawn(u32),
        Exec(String, Vec<String>, Vec<String>, bool),
    }
    let mut events: std::collections::BTreeMap<u32, Vec<Event>> = Default::default();
    for entry in fs::read_dir(dir).expect("trace directory") {
        let path = entry.unwrap().path();
        let Some(pid) = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(|e| e.parse().ok())
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
        let list = events.entry(pid).or_default();
        let mut pending = String::new();
        for line in text.lines() {
            // A call another one interrupted is printed in two halves.
            if let Some(head) = line.strip_suffix(" <unfinished ...>") {
                pending = head.to_owned();
                continue;
            }
            let joined;
            let line = match line.split_once(" resumed>") {
                Some((_, tail)) if line.starts_with("<... ") => {
                    joined = format!("{}{tail}", std::mem::take(&mut pending));
                    joined.as_str()
                }
                _ => line,
            };
            // strace pads short calls: `vfork()                  = 7163`.
            let result = line.rsplit_once(" = ").map(|(_, r)| r.trim());
            if ["clone(", "clone3(", "fork(", "vfork("]
                .iter()
                .any(|call| line.starts_with(call))
            {
                if let Some(child) = result.and_then(|r| r.parse::<u32>().ok()) {
                    list.push(Event::Spawn(child));
                }
            } else if let Some(rest) = line.strip_prefix("execve(") {
                let mut strings = c_strings(rest);
                let program = strings.0.remove(0);
                let ok = result == Some("0");
                list.push(Event::Exec(program, strings.1, strings.2, ok));
            }
        }
    }
    let spawned: std::collections::HashSet<u32> = events
        .values()
        .flatten()
        .filter_map(|e| match e {
            Event::Spawn(child) => Some(*child),
            Event::Exec(..) => None,
        })
        .collect();
    let mut execs = Vec::new();
    let mut queue: std::collections::VecDeque<(u32, Option<usize>)> = events
        .keys()
        .filter(|pid| !spawned.contains(pid))
        .map(|pid| (*pid, None))
        .collect();
    while let Some((pid, mut current)) = queue.pop_front() {
        for event in events.get(&pid).into_iter().flatten() {
            match event {
                Event::Spawn(child) => queue.push_back((*child, current)),
                Event::Exec(program, argv, env, ok) => {
                    execs.push(Exec {
                        pid,
                        program: program.clone(),
                        argv: argv.clone(),
                        env: env.clone(),
                        ok: *ok,
                        parent: current,
                    });
                    if *ok {
                        current = Some(execs.len() - 1);
                    }
                }
            }
        }
    }
    execs
}

/// `"path", ["arg", …], ["VAR=value", …]…` as strace prints it: the first string, then the
/// strings of the first and second arrays, with C escapes decoded.
fn c_strings(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut lists, mut depth, mut chars) = (vec![Vec::new(); 3], 0usize, text.chars());
    let mut arrays = 0;
    while let Some(c) = chars.next() {
        match c {
            '[' => {
                depth += 1;
                arrays += 1;
            }
            ']' => depth = depth.saturating_sub(1),
            '"' => {
                let mut bytes = Vec::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => bytes.push(b'\n'),
                            Some('t') => bytes.push(b'\t'),
                            Some('r') => bytes.push(b'\r'),
                            Some('x') => {
                                let hex: String = chars.by_ref().take(2).collect();
                                bytes.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
                            }
                            Some(d @ '0'..='7') => {
                                let mut value = d.to_digit(8).unwrap();
                                let rest = chars.clone().take(2).take_while(|c| c.is_digit(8));
                                for digit in rest.collect::<Vec<_>>() {
                                    value = value * 8 + digit.to_digit(8).unwrap();
                                    chars.next();
                                }
                                bytes.push(u8::try_from(value).unwrap_or(b'?'));
                            }
                            Some(other) => {
                                bytes.extend_from_slice(other.to_string().as_bytes());
                            }
                            None => break,
                        },
                        other => bytes.extend_from_slice(other.to_string().as_bytes()),
                    }
                }
                let string = String::from_utf8_lossy(&bytes).into_owned();
                let slot = if depth == 0 { 0 } else { arrays.min(2) };
                lists[slot].push(string);
            }
            ')' if depth == 0 => break,
            _ => {}
        }
    }
    let env = lists.pop().unwrap();
    let argv = lists.pop().unwrap();
    (lists.pop().unwrap(), argv, env)
}

/// What a file is, to tell whether anything touched it: size, modification time, mode and
/// sha256 of a file; the target of a symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub size: u64,
    pub mtime_ns: i128,
    pub mode: u32,
    pub content: String,
}

/// Every file under `root` (symlinks as links, not followed), by path relative to `root`;
/// none when there is no `root`.
pub fn fingerprints(root: &Path) -> std::collections::BTreeMap<String, Fingerprint> {
    use sha2::Digest as _;
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack: Vec<_> = root.is_dir().then(|| root.to_owned()).into_iter().collect();
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let content = if meta.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else {
                format!("{:x}", sha2::Sha256::digest(fs::read(&path).unwrap()))
            };
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(
                rel,
                Fingerprint {
                    size: meta.len(),
                    mtime_ns: i128::from(meta.mtime()) * 1_000_000_000
                        + i128::from(meta.mtime_nsec()),
                    mode: meta.mode(),
                    content,
                },
            );
        }
    }
    out
}

type Reader = std::thread::JoinHandle<String>;

impl Test {
    /// The arguments, directory and environment of every run.
    fn configure<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .args(&self.args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
    }

    /// cb-step started as `run` starts it, with threads reading its stdout and stderr.
    fn spawn_piped(&self) -> (std::process::Child, Reader, Reader) {
        use std::io::Read;
        use std::process::Stdio;
        let mut child = self
            .configure(&mut Command::new(BIN))
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
        (child, stdout, stderr)
    }

    /// `run`, calling `watch` with cb-step's pid every few milliseconds while it runs, to look
    /// at it and its children in `/proc`.
    pub fn run_watched(self, mut watch: impl FnMut(u32)) -> Outcome {
        let (mut child, stdout, stderr) = self.spawn_piped();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            watch(child.id());
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        Outcome {
            status: status.code().expect("exited, not killed"),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
            args: self.args,
            env: self.env,
            dir: self.dir,
        }
    }
}

/// `root` and its descendants as `/proc` shows them now: each one's program
/// (`/proc/<pid>/exe`), `cmdline` and `environ`, linked to its parent as [`process_tree`]
/// links them. A process that ends while being read is left out.
pub fn proc_tree(root: u32) -> Vec<Exec> {
    let read = |pid: u32, what: &str| fs::read(format!("/proc/{pid}/{what}")).ok();
    let split = |bytes: Vec<u8>| -> Vec<String> {
        bytes
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    };
    // (pid, parent pid) of every process; the command name in `stat` may hold spaces and
    // parentheses, so the fields are counted from its last `)`.
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = String::from_utf8(read(pid, "stat")?).ok()?;
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut execs: Vec<Exec> = Vec::new();
    let mut queue = std::collections::VecDeque::from([(root, None)]);
    while let Some((pid, parent)) = queue.pop_front() {
        let (Some(cmdline), Some(environ), Ok(exe)) = (
            read(pid, "cmdline"),
            read(pid, "environ"),
            fs::read_link(format!("/proc/{pid}/exe")),
        ) else {
            continue;
        };
        execs.push(Exec {
            pid,
            program: exe.to_string_lossy().into_owned(),
            argv: split(cmdline),
            env: split(environ),
            ok: true,
            parent,
        });
        let index = execs.len() - 1;
        for (child, _) in parents.iter().filter(|(_, ppid)| *ppid == pid) {
            queue.push_back((*child, Some(index)));
        }
    }
    execs
}
