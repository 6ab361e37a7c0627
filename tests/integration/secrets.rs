//! Known secret values through every command at the highest verbosity, then looked for in all
//! that cb-step printed, wrote or started: stdout, stderr, every file under the test's
//! directory (records, artifacts, exported variables, temporary files), and the arguments and
//! environment of every process, traced with `strace -ff -v`.

use std::path::Path;

use crate::harness::{
    BIN, Bed, ECR_PASSWORD, Exec, Outcome, Test, create_repository, git_commit_all, proc_tree,
    process_tree, tally,
};

/// The `auth` value of config.json, `base64("AWS:" + password)`: the password, encoded.
const ECR_AUTH: &str = "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu";
const SECRETS_MANAGER: &str = "sm-value-Qm9vbGVhbg7c1f";
const PARAMETER_STORE: &str = "ps-value-Zm9vYmFy3d8a4b";
const ACCESS_KEY_ID: &str = "AKIACBSTEPSECRETS001";
const SECRET_ACCESS_KEY: &str = "cbStepSecretAccessKey/0123+abcdefghijKLMNop";
const SESSION_TOKEN: &str = "cbStepSessionToken0123456789FwoGZXIvYXdzEKL";

/// What "beyond what a command needs" means here, for each kind of value:
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The ECR password, plain or base64: in `$DOCKER_CONFIG/config.json` and, for
    /// `ecr-login --password-stdout`, on stdout. Nowhere else: cb-step hands it to dockerd
    /// over the Engine API's socket and to the registry in an HTTP header, never to a program,
    /// so no process has it in its arguments or environment.
    Registry,
    /// parameter-store and secrets-manager values, given in an `--env-file`: in the
    /// environment of the buildspec's shell and of what that shell starts, because CodeBuild
    /// gives them to the build's commands. Never in anything's arguments (a batch build gets
    /// them on its stdin), never in the environment of a program a cb-step starts for itself
    /// (git, a batch build's `cb-step run`), never in a file or in output (masked as `***`).
    /// While a build runs, its shell's saved environment (`env.sh`, in a 0700 temporary
    /// directory under `TMPDIR`, CodeBuild's own mechanism) holds them; it is gone when the
    /// build ends, and the scan after each command would see it otherwise.
    Build,
    /// The AWS access key, secret key and session token: in the environment of cb-step (the
    /// SDK's credential chain reads them there; a batch build's `cb-step run` too) and of the
    /// build's commands (CodeBuild gives a build its role's credentials). Never in arguments,
    /// output or files, and not in git's environment.
    Aws,
}

const KNOWN: [(&str, &str, Kind); 7] = [
    ("the ECR password", ECR_PASSWORD, Kind::Registry),
    ("the ECR auth (base64)", ECR_AUTH, Kind::Registry),
    ("the secrets-manager value", SECRETS_MANAGER, Kind::Build),
    ("the parameter-store value", PARAMETER_STORE, Kind::Build),
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID, Kind::Aws),
    ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY, Kind::Aws),
    ("AWS_SESSION_TOKEN", SESSION_TOKEN, Kind::Aws),
];

/// (secret, place) pairs checked, and the leaks found among them.
#[derive(Default)]
struct Scan {
    checked: u64,
    leaks: Vec<String>,
    /// Values found where they may be: proof that the scan saw them arrive at all.
    allowed: u64,
}

impl Scan {
    /// Checks every known value against `text`; `allowed` says which kinds may be there.
    fn check(&mut self, place: &str, text: &str, allowed: impl Fn(Kind) -> bool) {
        for (what, value, kind) in KNOWN {
            self.checked += 1;
            match (text.contains(value), allowed(kind)) {
                (true, false) => self.leaks.push(format!("{what} in {place}")),
                (true, true) => self.allowed += 1,
                (false, _) => {}
            }
        }
    }
}

fn is_cb_step(exec: &Exec) -> bool {
    exec.program == BIN
}

/// A shell `cb-step run` started for one of the buildspec's commands.
fn is_buildspec_shell(execs: &[Exec], index: usize) -> bool {
    let exec = &execs[index];
    exec.parent.is_some_and(|p| is_cb_step(&execs[p]))
        && exec
            .argv
            .get(1)
            .is_some_and(|script| script.contains("/cb-step-run.") && script.ends_with(".sh"))
}

/// The build's own processes: a buildspec shell, and whatever it starts, down to (not
/// including) what a cb-step among them starts for itself.
fn in_build(execs: &[Exec], index: usize) -> bool {
    if is_buildspec_shell(execs, index) {
        return true;
    }
    match execs[index].parent {
        Some(parent) if !is_cb_step(&execs[parent]) => in_build(execs, parent),
        _ => false,
    }
}

fn scan_children(scan: &mut Scan, trace: &Path) -> usize {
    let execs = process_tree(trace);
    assert!(
        execs.first().is_some_and(is_cb_step),
        "no trace of cb-step in {}",
        trace.display()
    );
    for index in 0..execs.len() {
        scan_process(scan, &execs, index);
    }
    execs.len()
}

/// The arguments and the environment of one process, by the rules of [`Kind`].
fn scan_process(scan: &mut Scan, execs: &[Exec], index: usize) {
    let exec = &execs[index];
    let started = if exec.ok { "" } else { " (not started)" };
    let mut lineage = Vec::new();
    let mut up = exec.parent;
    while let Some(p) = up {
        lineage.push(execs[p].argv.first().cloned().unwrap_or_default());
        up = execs[p].parent;
    }
    let name = format!(
        "pid {} `{}`{started}, started by {}",
        exec.pid,
        exec.argv.join(" "),
        lineage.join(" < ")
    );
    scan.check(
        &format!("the arguments of {name}"),
        &exec.argv.join("\0"),
        |_| false,
    );
    let build = in_build(execs, index);
    // cb-step itself, and the cb-step of each batch build, which runs its build's commands.
    let cb_step = exec.parent.is_none() || is_cb_step(exec);
    scan.check(
        &format!("the environment of {name}"),
        &exec.env.join("\0"),
        |kind| match kind {
            Kind::Registry => false,
            Kind::Build => build,
            Kind::Aws => build || cb_step,
        },
    );
}

/// Every file under `root`; the password may be only in `config`.
fn scan_files(scan: &mut Scan, root: &Path, config: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            count += 1;
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let text = if meta.is_file() {
                String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned()
            } else {
                std::fs::read_link(&path).unwrap().display().to_string()
            };
            let allowed = path == config;
            scan.check(&format!("the file {rel}"), &text, |kind| {
                allowed && kind == Kind::Registry
            });
        }
    }
    count
}

/// One command, traced; its output, the files and the children scanned; one tally per place.
/// `home` holds `DOCKER_CONFIG` (`home/docker`), outside the source as in CodeBuild (a batch
/// build copies the source).
fn check_command(
    test: Test,
    home: &Path,
    label: &str,
    args: &[&str],
    password_on_stdout: bool,
) -> Outcome {
    let trace = tempfile::tempdir().unwrap();
    let out = test
        .traced_tree(trace.path())
        .args(args.iter().copied())
        .run();
    let mut output = Scan::default();
    output.check(&format!("{label}: stdout"), &out.stdout, |kind| {
        password_on_stdout && kind == Kind::Registry
    });
    output.check(&format!("{label}: stderr"), &out.stderr, |_| false);
    let mut files = Scan::default();
    let config = home.join("docker/config.json");
    let count = scan_files(&mut files, out.path(), &config) + scan_files(&mut files, home, &config);
    let mut children = Scan::default();
    let processes = scan_children(&mut children, trace.path());
    for (place, scan) in [
        ("output", &output),
        ("files", &files),
        ("children's argv, env", &children),
    ] {
        let leaks = u64::try_from(scan.leaks.len()).unwrap();
        tally("secrets", &format!("{label}: {place}"), scan.checked, leaks);
    }
    let leaks: Vec<_> = [&output.leaks, &files.leaks, &children.leaks]
        .into_iter()
        .flatten()
        .collect();
    assert!(
        leaks.is_empty(),
        "{label}: {} leaks ({count} files, {processes} processes):\n{}\nstdout:\n{}\nstderr:\n{}",
        leaks.len(),
        leaks
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        out.stdout,
        out.stderr
    );
    if label.starts_with("run") {
        // Both build secrets and three AWS values in the environment of the build's shells.
        assert!(
            children.allowed >= 5,
            "{label}: the build's commands had no secrets"
        );
    }
    if password_on_stdout {
        assert!(output.allowed > 0, "{label}: no password on stdout");
    }
    out
}

const SECRET_VARS: &str = "env:\n  secrets-manager:\n    DB_PASSWORD: \"prod/db:password\"\n  parameter-store:\n    API_TOKEN: /app/api-token\n";

/// Echoes both values to stdout and stderr, and exports one and a value built from it
/// (CodeBuild refuses to export a secret; cb-step masks it in exported-variables.json).
fn echoing_buildspec() -> String {
    format!(
        "version: 0.2\n{SECRET_VARS}  exported-variables:\n    - DB_PASSWORD\n    - DSN\nphases:\n  build:\n    commands:\n      - echo \"db=$DB_PASSWORD token=$API_TOKEN\"\n      - echo \"$API_TOKEN\" >&2\n      - DSN=\"postgres://app:$DB_PASSWORD@db/app\"\nartifacts:\n  files: [hello.txt]\n"
    )
}

/// The tutorial's build, with cb-step called by the buildspec itself.
fn nested_buildspec() -> String {
    format!(
        "version: 0.2\n{SECRET_VARS}phases:\n  pre_build:\n    commands:\n      - cb-step -vv ecr-login\n  build:\n    commands:\n      - cb-step -vv build-push --repository \"$REPO\" --tag nested\n  post_build:\n    commands:\n      - cb-step -vv emit-imagedefs --image-detail\nartifacts:\n  files: [imagedefinitions.json, imageDetail.json]\n"
    )
}

/// A source directory with `DOCKER_CONFIG` in `home`, the known AWS values in its environment, cb-step on `PATH`, its
/// temporary files inside it (`TMPDIR`), both buildspecs, a repository and a commit; and the
/// `--env-file` with the build secrets, kept outside it in `inputs`.
fn source(inputs: &Path, home: &Path) -> (Test, String, String) {
    let env_file = inputs.join("secrets.env");
    std::fs::write(
        &env_file,
        format!("DB_PASSWORD={SECRETS_MANAGER}\nAPI_TOKEN={PARAMETER_STORE}\n"),
    )
    .unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap().display().to_string();
    // No RUN step: nothing here needs the daemon's network.
    let test = Test::new()
        .bed()
        .file(
            "Dockerfile",
            "FROM cb-step-testbed/busybox:latest\nCOPY hello.txt /hello.txt\n",
        )
        .file("hello.txt", "hello\n")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env(
            "PATH",
            &format!("{bin_dir}:{}", std::env::var("PATH").unwrap()),
        )
        .file("buildspec.yml", echoing_buildspec())
        .file("nested.yml", nested_buildspec())
        .file("batch.yml", batch_buildspec())
        .env("DOCKER_CONFIG", &home.join("docker").to_string_lossy())
        .file("tmp/.keep", "");
    let tmp = test.path().join("tmp").to_string_lossy().into_owned();
    let repo = test.unique("secrets");
    create_repository(&repo, "us-east-1", false);
    git_commit_all(test.path());
    let test = test.env("TMPDIR", &tmp);
    (test, repo, env_file.to_string_lossy().into_owned())
}

/// Two builds, each a `cb-step run` of its own that gets the variables on its stdin.
fn batch_buildspec() -> String {
    format!(
        "version: 0.2\n{SECRET_VARS}batch:\n  build-list:\n    - identifier: one\n    - identifier: two\nphases:\n  build:\n    commands:\n      - echo \"db=$DB_PASSWORD token=$API_TOKEN\"\nartifacts:\n  files: [hello.txt]\n"
    )
}

#[test]
fn no_command_leaks_a_secret_at_any_verbosity() {
    let (inputs, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut next, repo, env_file) = source(inputs.path(), home.path());
    let repo_var = format!("REPO={repo}");
    let registry = Bed::get().registry();
    // A bare level is cb-step's own; the list asks every crate for its trace too.
    for (levels, log) in [
        ("-vv, trace", "trace"),
        (
            "-vv, all crates at trace",
            "trace,aws_smithy_runtime=trace,aws_config=trace,aws_sigv4=trace,hyper=trace,bollard=trace",
        ),
    ] {
        let commands: [(&str, Vec<&str>, bool); 8] = [
            ("ecr-login", vec!["ecr-login"], false),
            (
                "ecr-login --password-stdout",
                vec!["ecr-login", "--password-stdout"],
                true,
            ),
            ("lint", vec!["lint"], false),
            (
                "build-push",
                vec!["build-push", "--repository", &repo, "--tag", "v1"],
                false,
            ),
            ("emit-imagedefs", vec!["emit-imagedefs"], false),
            (
                "run, secrets echoed",
                vec!["run", "--env-file", &env_file],
                false,
            ),
            (
                "run, a batch of two",
                vec!["run", "--buildspec", "batch.yml", "--env-file", &env_file],
                false,
            ),
            (
                "run, cb-step inside",
                vec![
                    "run",
                    "--buildspec",
                    "nested.yml",
                    "--env-file",
                    &env_file,
                    "--env",
                    &repo_var,
                ],
                false,
            ),
        ];
        for (label, args, password_on_stdout) in commands {
            let label = format!("{label} [{levels}]");
            let args: Vec<&str> = ["-vv"].into_iter().chain(args).collect();
            let out = check_command(
                next.env("CB_STEP_LOG", log),
                home.path(),
                &label,
                &args,
                password_on_stdout,
            )
            .success();
            if label.starts_with("lint") {
                let warning =
                    "`DB_PASSWORD` is a secrets-manager variable, which CodeBuild does not export";
                assert!(
                    out.stdout.contains(warning) || out.stderr.contains(warning),
                    "{}",
                    out.stderr
                );
            }
            if label.starts_with("run, secrets") {
                // The values did reach the build's commands, masked in what they printed.
                assert!(out.stdout.contains("db=*** token=***"), "{}", out.stdout);
                assert_eq!(
                    out.json(".cb-step/artifacts/exported-variables.json"),
                    serde_json::json!({"DB_PASSWORD": "***", "DSN": "postgres://app:***@db/app"})
                );
            }
            next = out.then();
        }
    }
    let read = |path: &str| std::fs::read_to_string(next.path().join(path)).unwrap();
    let config = std::fs::read_to_string(home.path().join("docker/config.json")).unwrap();
    assert!(config.contains(ECR_AUTH), "{config}");
    assert!(
        read(".cb-step/artifacts/imagedefinitions.json")
            .contains(&format!("{registry}/{repo}@sha256:"))
    );
}

/// The same rules, read from `/proc/<pid>/cmdline` and `environ` of cb-step's descendants while
/// a build runs: a check of the traces by another route (it sees only what lives long enough
/// to be polled, so the build sleeps a little at each step).
#[test]
fn children_in_proc_hold_no_secret_while_they_run() {
    let (inputs, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (test, repo, env_file) = source(inputs.path(), home.path());
    let slow = nested_buildspec().replace("      - cb-step", "      - sleep 0.3\n      - cb-step");
    let mut scan = Scan::default();
    let mut seen = std::collections::HashSet::new();
    let out = test
        .file("slow.yml", slow)
        .args([
            "-vv",
            "run",
            "--buildspec",
            "slow.yml",
            "--env-file",
            &env_file,
        ])
        .args(["--env", &format!("REPO={repo}")])
        .run_watched(|pid| {
            let execs = proc_tree(pid);
            for index in 0..execs.len() {
                let exec = &execs[index];
                // A fork that has not run its own program yet is its parent again.
                let copy = exec.parent.is_some_and(|p| {
                    execs[p].program == exec.program && execs[p].argv == exec.argv
                });
                if !copy && seen.insert((exec.pid, exec.argv.clone())) {
                    scan_process(&mut scan, &execs, index);
                }
            }
        })
        .success();
    let leaks = u64::try_from(scan.leaks.len()).unwrap();
    tally(
        "secrets",
        "run, cb-step inside: /proc cmdline, environ",
        scan.checked,
        leaks,
    );
    assert!(scan.leaks.is_empty(), "{}", scan.leaks.join("\n"));
    let sleeps = seen
        .iter()
        .filter(|(_, argv)| argv.first().is_some_and(|a| a == "sleep"));
    assert!(
        sleeps.count() >= 3,
        "the build's commands were not seen: {seen:?}\n{}",
        out.stdout
    );
    assert!(
        scan.allowed >= 5,
        "no build secrets seen in the build's environment"
    );
}
