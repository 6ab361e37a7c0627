//! A `build-push` run to interrupt mid-build or mid-push, and the daemon-side state that tells
//! a test when the run is there and, afterwards, that the work stopped: the build's processes
//! on this host (`/proc`), and the push's upload in the stand-in registry's storage.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{BIN, Bed, Test, create_repository, tally};

/// Where a test interrupts cb-step.
#[derive(Clone, Copy, PartialEq)]
pub enum Stage {
    /// In a `RUN` step that sleeps for five minutes, with BuildKit or the classic builder, for
    /// one image or for the one in an images file (`--images`).
    Build { classic: bool, images_file: bool },
    /// Uploading a layer of 150 MB of random bytes, which no compression shrinks: its push
    /// takes seconds. Built by the classic builder, whose layers go with the image rather than
    /// into BuildKit's cache.
    Push,
}

/// A test directory set up to reach a `Stage`.
pub struct Scenario {
    pub test: Test,
    pub stage: Stage,
    /// The test's own repository, created in the stand-in ECR; the image is `…/repo:v1`.
    pub repo: String,
    /// In the RUN step's `sh -c` command line, where `/proc` shows it.
    pub marker: String,
    args: Vec<String>,
}

impl Stage {
    pub const BUILDKIT: Stage = Stage::Build {
        classic: false,
        images_file: false,
    };
    pub const CLASSIC: Stage = Stage::Build {
        classic: true,
        images_file: false,
    };
    /// BuildKit, for the one image of an images file.
    pub const IMAGES: Stage = Stage::Build {
        classic: false,
        images_file: true,
    };

    /// A Dockerfile `FROM base` for this stage, the repository, and the arguments.
    pub fn prepare(self, base: &str, prefix: &str) -> Scenario {
        let test = Test::new();
        let repo = test.unique(prefix);
        let marker = format!("marker-{repo}");
        let run = match self {
            Stage::Build { .. } => format!("echo started && sleep 300 && echo {marker}"),
            Stage::Push => format!("head -c 150000000 /dev/urandom > /big && echo {marker}"),
        };
        let test = test
            .file("app/Dockerfile", format!("FROM {base}\nRUN {run}\n"))
            .file(
                "images.yml",
                format!("- repository: {repo}\n  context: app\n"),
            );
        create_repository(&repo, "us-east-1", false);
        let mut args = vec!["build-push", "--tag", "v1"];
        match self {
            Stage::Build {
                images_file: true, ..
            } => args.extend(["--images", "images.yml"]),
            _ => args.extend(["--repository", &repo, "app"]),
        }
        if matches!(self, Stage::Build { classic: true, .. } | Stage::Push) {
            args.extend(["--builder", "classic"]);
        }
        let args = args.into_iter().map(str::to_owned).collect();
        Scenario {
            test,
            stage: self,
            repo,
            marker,
            args,
        }
    }
}

impl Scenario {
    /// The image's reference.
    pub fn reference(&self) -> String {
        format!("{}/{}:v1", Bed::get().registry(), self.repo)
    }

    /// Starts cb-step and returns once it is in the stage: the RUN step's process is on this
    /// host, or the registry has received the first bytes of the upload.
    pub fn start(&self, env: &[(&str, &str)]) -> Running {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut run = Running::start(&self.test, &args, env);
        match self.stage {
            Stage::Build { .. } => {
                run.wait_until("the RUN step", Duration::from_secs(120), || {
                    !processes_with(&self.marker).is_empty()
                });
            }
            Stage::Push => {
                run.wait_until(
                    "the upload to the registry",
                    Duration::from_secs(300),
                    || uploading(&self.repo) > 0,
                );
            }
        }
        run
    }
}

/// cb-step running in the background, with its stderr collected as it comes.
pub struct Running {
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// How a background run ended.
pub struct Ended {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Running {
    /// `cb-step args…` in the test's directory, with the environment `Test::bed` gives a run
    /// plus `env`.
    pub fn start(test: &Test, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(test.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", test.path())
            .env("DOCKER_CONFIG", test.path().join("docker"))
            .envs(Bed::get().aws_env())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cb-step");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Running {
            child: Some(child),
            stderr,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.as_ref().unwrap().id()).unwrap()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Polls `ready` until it holds; panics after `bound`, or when cb-step ended first.
    #[track_caller]
    pub fn wait_until(&mut self, what: &str, bound: Duration, mut ready: impl FnMut() -> bool) {
        let started = Instant::now();
        while !ready() {
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && started.elapsed() < bound,
                "{what}: not seen within {bound:?} (cb-step {}):\n{}",
                match exited {
                    Some(status) => format!("exited: {status}"),
                    None => "still running".into(),
                },
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own unwaited child.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    /// Waits for cb-step to exit; one still running after `bound` is killed, and that fails the
    /// test: cb-step hung.
    #[track_caller]
    pub fn finish(mut self, bound: Duration) -> Ended {
        let mut child = self.child.take().unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > bound {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "cb-step still ran {bound:?} after the fault, and was killed:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        self.reader.take().unwrap().join().unwrap();
        Ended {
            code: status.code(),
            stdout,
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The processes on this host whose command line holds `marker`: a build's RUN step, whichever
/// daemon and builder runs it.
pub fn processes_with(marker: &str) -> Vec<i32> {
    let own = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if u32::try_from(pid) == Ok(own) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            found.push(pid);
        }
    }
    found
}

/// Polls `done` for at most `bound`; true once it holds.
pub fn within(bound: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if done() {
            return true;
        }
        if started.elapsed() > bound {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls until no process holds `marker`, for at most `bound`; true when none is left.
pub fn processes_gone(marker: &str, bound: Duration) -> bool {
    within(bound, || processes_with(marker).is_empty())
}

/// Where the stand-in registry keeps `repository` (distribution's filesystem layout).
fn repository_dir(repository: &str) -> PathBuf {
    Path::new(Bed::get().var("CB_STEP_TESTBED_DIR"))
        .join("registry/docker/registry/v2/repositories")
        .join(repository)
}

/// Bytes received so far by the registry's unfinished uploads into `repository`.
pub fn uploading(repository: &str) -> u64 {
    let Ok(uploads) = std::fs::read_dir(repository_dir(repository).join("_uploads")) else {
        return 0;
    };
    uploads
        .flatten()
        .filter_map(|upload| std::fs::metadata(upload.path().join("data")).ok())
        .map(|data| data.len())
        .sum()
}

/// Whether the registry holds `repository:tag`: a manifest was PUT under that tag.
pub fn tagged(repository: &str, tag: &str) -> bool {
    repository_dir(repository)
        .join("_manifests/tags")
        .join(tag)
        .exists()
}

/// Polls for `bound` that the registry's uploads into `repository` have stopped (no byte more
/// for two seconds, where a running push of random bytes sends megabytes a second) and no
/// manifest was tagged `tag`: the push is not carrying on without cb-step. True when it
/// stopped.
pub fn push_stopped(repository: &str, tag: &str, bound: Duration) -> bool {
    let started = Instant::now();
    let mut last = (uploading(repository), Instant::now());
    while started.elapsed() < bound {
        std::thread::sleep(Duration::from_millis(100));
        if tagged(repository, tag) {
            return false;
        }
        let now = uploading(repository);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(2) {
            return !tagged(repository, tag);
        }
    }
    false
}

/// What a stopped or failed build-push must not leave: a build record entry, an
/// imagedefinitions.json, or anything printed on stdout. Returns the first found.
pub fn leftovers(test: &Test, ended: &Ended) -> Option<String> {
    for output in [".cb-step", "imagedefinitions.json"] {
        if test.path().join(output).exists() {
            return Some(format!("{output} was written"));
        }
    }
    (!ended.stdout.trim().is_empty()).then(|| format!("stdout: {}", ended.stdout))
}

/// Removes the abandoned uploads of an interrupted push into this test's own `repository`
/// (the registry would keep them for a week): up to a large layer of random bytes each.
pub fn forget_uploads(repository: &str) {
    let _ = std::fs::remove_dir_all(repository_dir(repository).join("_uploads"));
}

impl Drop for Scenario {
    /// What a run left under the test's own names: the image in the shared daemon (when the
    /// build got that far), and the registry's abandoned upload.
    fn drop(&mut self) {
        let name = format!("{}/{}", Bed::get().registry(), self.repo);
        let tags = Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}", &name])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default();
        // Every tag: `v1` and the content key's.
        for tag in tags.lines() {
            let _ = Command::new("docker")
                .args(["rmi", "--force", tag])
                .output();
        }
        forget_uploads(&self.repo);
    }
}

/// Runs each case, tallies them (area `faults`, `name`: how many ran, how many went wrong),
/// and fails with every problem found.
pub fn check<C: Copy>(name: &str, cases: &[C], run: impl Fn(C) -> Option<String>) {
    let problems: Vec<String> = cases.iter().filter_map(|&case| run(case)).collect();
    tally("faults", name, cases.len() as u64, problems.len() as u64);
    assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n---\n"));
}
