//! Registry and ECR API faults: `fault_proxy` between cb-step (and dockerd) and the bed's
//! registry or ECR API. Transient faults are retried and the run succeeds with a digest that
//! skopeo and sha256sum confirm; persistent ones fail in bounded time with a message naming the
//! host or endpoint, and leave neither a record entry nor an imagedefinitions.json entry.

use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::fault_proxy::{Action, Fault, Proxy};
use crate::harness::{
    Bed, ECR_PASSWORD, Outcome, Test, create_repository, fixture, raw_manifest_sha256, tally,
};

const RECORD: &str = ".cb-step/build-record.json";
/// Generous, and including the build before the push: dockerd alone spends about 50 s retrying
/// a layer upload that keeps failing, cb-step gives up on a hung push after 60 s, and the build
/// shares the machine with every other test.
const BOUND: Duration = Duration::from_secs(150);

const RESET: Action = Action::Reset { after: 64 * 1024 };
/// A manifest or an ECR answer, 16 bytes every 20 ms: a second or two for a manifest.
const SLOW: Action = Action::Slow {
    chunk: 16,
    every: Duration::from_millis(20),
};

fn record() -> Vec<u8> {
    std::fs::read(fixture("emit/record-one.json")).unwrap()
}

/// A layer of its own (unique text, then 256 KiB of random bytes), so each build uploads
/// blobs large enough to cut mid-upload.
const DOCKERFILE: &str = "FROM cb-step-testbed/busybox:latest\nCOPY hello.txt /hello.txt\nRUN head -c 262144 /dev/urandom > /noise\n";

/// An app of `DOCKERFILE`, next to a build record from an earlier step.
fn app(test: Test) -> Test {
    let hello = test.unique("hello");
    test.file("Dockerfile", DOCKERFILE)
        .file("hello.txt", hello)
        .file(RECORD, record())
}

/// Docker config `auths` for the proxied registry (`host:port` is not an ECR host name, so
/// cb-step takes the credentials from the Docker config, as for any other registry).
fn logged_in(test: Test, host: &str) -> Test {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{ECR_PASSWORD}"));
    let config = serde_json::json!({"auths": {host: {"auth": auth}}});
    test.file("docker/config.json", config.to_string())
}

/// What one run got wrong; empty when it ended as required.
type Verdict = Vec<String>;

fn expect(verdict: &mut Verdict, ok: bool, what: impl FnOnce() -> String) {
    if !ok {
        verdict.push(what());
    }
}

/// `build-push --tag v1 --latest` of `repository`, timed.
fn build_push(test: Test, repository: &str) -> (Outcome, Duration) {
    let started = Instant::now();
    let out = test
        .args(["build-push", "--repository", repository, "--tag", "v1"])
        .args(["--latest"])
        .run();
    (out, started.elapsed())
}

/// A run that had to succeed: the printed digest is what the registry serves for every tag
/// (through 443, past the proxy), and the record has it.
fn pushed(out: &Outcome, repo: &str) -> Verdict {
    let mut verdict = Vec::new();
    if out.status != 0 {
        return vec![format!("exit {}:\n{}", out.status, out.stderr)];
    }
    let Some((_, digest)) = out.stdout.trim().split_once('@') else {
        return vec![format!("no digest printed: {:?}", out.stdout)];
    };
    let direct = format!("{}/{repo}", Bed::get().registry());
    for tag in ["v1", "latest"] {
        let served = raw_manifest_sha256(&format!("{direct}:{tag}"));
        expect(&mut verdict, served == digest, || {
            format!("{tag}: registry serves {served}, cb-step printed {digest}")
        });
    }
    let record = out.json(RECORD);
    let entry = record["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["repository"] == repo);
    expect(
        &mut verdict,
        entry.is_some_and(|e| e["digest"] == digest),
        || format!("record: {record:#}"),
    );
    verdict
}

/// A run that had to fail: in bounded time, with `code`, a message naming `names`, the record
/// byte for byte as before, and no imagedefinitions.json entry for `repo` (emit-imagedefs
/// run afterwards sees only the record's earlier image).
fn failed(out: Outcome, took: Duration, code: i32, names: &str, repo: &str) -> Verdict {
    let mut verdict = Vec::new();
    expect(&mut verdict, took < BOUND, || format!("took {took:?}"));
    expect(&mut verdict, out.status == code, || {
        format!("exit {}, not {code}", out.status)
    });
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_owned();
    expect(&mut verdict, error.contains(names), || {
        format!("the error does not name `{names}`")
    });
    expect(&mut verdict, out.stderr.contains("hint: "), || {
        "no hint".into()
    });
    expect(&mut verdict, out.stdout.is_empty(), || {
        format!("stdout: {:?}", out.stdout)
    });
    let unchanged = std::fs::read(out.path().join(RECORD)).ok() == Some(record());
    expect(&mut verdict, unchanged, || "the record changed".into());
    if !verdict.is_empty() {
        verdict.push(format!("stderr:\n{}", out.stderr));
    }
    let emitted = out.again(["emit-imagedefs"]);
    let definitions = std::fs::read_to_string(emitted.path().join("imagedefinitions.json"));
    expect(
        &mut verdict,
        emitted.status == 0 && definitions.as_ref().is_ok_and(|d| !d.contains(repo)),
        || format!("imagedefinitions.json: {definitions:?}"),
    );
    verdict
}

/// The runs of one check: `tried` is what their proxies injected, `bad` the runs that went
/// wrong. `finish` tallies and asserts.
#[derive(Default)]
struct Runs {
    tried: u64,
    verdicts: Vec<(String, Verdict)>,
}

impl Runs {
    fn add(&mut self, name: &str, proxy: &Proxy, verdict: Verdict) {
        self.tried += proxy.injected();
        self.verdicts.push((name.to_owned(), verdict));
    }

    #[track_caller]
    fn finish(self, check: &str) {
        let bad: Vec<_> = self
            .verdicts
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        tally("faults", check, self.tried, bad.len() as u64);
        assert!(self.tried > 0, "{check}: no fault was injected");
        assert!(bad.is_empty(), "{check}: {bad:#?}");
    }
}

/// A persistent fault has to have met every attempt: at least `attempts` injected.
fn met_every_attempt(verdict: &mut Verdict, proxy: &Proxy, attempts: u64) {
    expect(verdict, proxy.injected() >= attempts, || {
        format!(
            "{} faults injected, not {attempts}:\n{proxy}",
            proxy.injected()
        )
    });
}

/// Checks that the plan was spent as written: each line with a budget used all of it.
fn spent(proxy: &Proxy) -> Verdict {
    let unspent = proxy.unspent();
    if unspent.is_empty() {
        return unspent;
    }
    vec![format!("{}; requests:\n{proxy}", unspent.join(", "))]
}

/// Tallies and asserts one `build-push` that had to survive every fault of `proxy`'s plan.
#[track_caller]
fn survived(check: &str, proxy: &Proxy, out: &Outcome, repo: &str) {
    let mut verdict = pushed(out, repo);
    verdict.extend(spent(proxy));
    let mut runs = Runs::default();
    runs.add("build-push", proxy, verdict);
    runs.finish(check);
}

/// `build-push` of a new repository through a registry proxy with `plan`.
fn through_registry(plan: Vec<Fault>, prefix: &str) -> (Proxy, Outcome, Duration, String) {
    let proxy = Proxy::registry(plan);
    let test = app(Test::new().bed());
    let repo = test.unique(prefix);
    let test = logged_in(test, &proxy.host());
    let (out, took) = build_push(test, &format!("{}/{repo}", proxy.host()));
    (proxy, out, took, repo)
}

#[test]
fn registry_faults_on_the_daemons_push_are_retried() {
    let (proxy, out, _, repo) = through_registry(
        vec![
            // dockerd retries a layer upload itself.
            Fault::on("PATCH", "/blobs/uploads/")
                .by_daemon()
                .times(RESET, 1),
            // A failed manifest PUT fails the push; cb-step pushes again (the layers are there).
            Fault::on("PUT", "/manifests/v1")
                .by_daemon()
                .times(Action::Status(503), 1),
            Fault::on("PUT", "/manifests/v1")
                .by_daemon()
                .times(Action::Reset { after: 100 }, 1),
        ],
        "faults-daemon",
    );
    survived(
        "registry, transient: dockerd's push (resets, 503)",
        &proxy,
        &out,
        &repo,
    );
}

#[test]
fn registry_faults_on_cb_steps_own_requests_are_retried() {
    let own = |method, path, action| Fault::on(method, path).by_cb_step().times(action, 1);
    let (proxy, out, _, repo) = through_registry(
        vec![
            // The content-key lookup: a 503, then no answer at all (the client's 20 s timeout).
            own("GET", "/manifests/ctx-", Action::Status(503)),
            own("GET", "/manifests/ctx-", Action::Stall),
            // The verify GET: 500, a reset, then a slow but complete answer.
            own("GET", "/manifests/sha256:", Action::Status(500)),
            own("GET", "/manifests/sha256:", Action::Reset { after: 0 }),
            own("GET", "/manifests/sha256:", SLOW),
            // The manifest PUT that adds `latest`.
            own("PUT", "/manifests/latest", Action::Status(429)),
            own("PUT", "/manifests/latest", Action::Reset { after: 100 }),
        ],
        "faults-own",
    );
    survived(
        "registry, transient: cb-step's (5xx, 429, reset, slow, hang)",
        &proxy,
        &out,
        &repo,
    );
}

#[test]
fn persistent_registry_faults_fail_in_bounded_time_and_leave_no_outputs() {
    let cases: Vec<(&str, Fault)> = vec![
        (
            "daemon manifest PUT 503",
            Fault::on("PUT", "/manifests/v1")
                .by_daemon()
                .always(Action::Status(503)),
        ),
        (
            "verify GET 503",
            Fault::on("GET", "/manifests/sha256:")
                .by_cb_step()
                .always(Action::Status(503)),
        ),
        (
            "verify GET stalled",
            Fault::on("GET", "/manifests/sha256:")
                .by_cb_step()
                .always(Action::Stall),
        ),
        (
            "tag PUT reset",
            Fault::on("PUT", "/manifests/latest")
                .by_cb_step()
                .always(Action::Reset { after: 100 }),
        ),
    ];
    let mut runs = Runs::default();
    for (name, fault) in cases {
        let (proxy, out, took, repo) = through_registry(vec![fault], "faults-persist");
        let mut verdict = failed(out, took, 8, &proxy.host(), &repo);
        met_every_attempt(&mut verdict, &proxy, 3);
        runs.add(name, &proxy, verdict);
    }
    runs.finish("registry, persistent: 503, reset, stall (fails, no outputs)");
}

#[test]
fn a_layer_upload_that_keeps_failing_ends_in_bounded_time() {
    let (proxy, out, took, repo) = through_registry(
        vec![
            Fault::on("PATCH", "/blobs/uploads/")
                .by_daemon()
                .always(RESET),
        ],
        "faults-layer",
    );
    let mut verdict = failed(out, took, 8, &proxy.host(), &repo);
    // dockerd's own 5 attempts at a layer; cb-step does not push again on top of them.
    met_every_attempt(&mut verdict, &proxy, 5);
    let mut runs = Runs::default();
    runs.add("build-push", &proxy, verdict);
    runs.finish("registry, persistent: reset mid-upload (fails, no outputs)");
}

#[test]
fn registry_faults_during_ecr_logins_check() {
    let check = || Fault::on("GET", "/v2/").exact();
    let mut runs = Runs::default();
    // Transient: a 503 and a reset, then the check goes through.
    let registry = Proxy::registry(vec![
        check().times(Action::Status(503), 1),
        check().times(Action::Reset { after: 0 }, 1),
    ]);
    let (out, _) = ecr_login(&Proxy::ecr_for(&registry, Vec::new()));
    let mut verdict = spent(&registry);
    let config = std::fs::read_to_string(out.path().join("docker/config.json"));
    expect(
        &mut verdict,
        out.status == 0 && config.is_ok_and(|c| c.contains(&registry.host())),
        || format!("exit {}:\n{}", out.status, out.stderr),
    );
    runs.add("transient", &registry, verdict);
    // Persistent: 503 on every attempt.
    let registry = Proxy::registry(vec![check().always(Action::Status(503))]);
    let (out, took) = ecr_login(&Proxy::ecr_for(&registry, Vec::new()));
    let mut verdict = Vec::new();
    refused_in_time(&mut verdict, &out, took, &registry.host());
    met_every_attempt(&mut verdict, &registry, 3);
    runs.add("persistent", &registry, verdict);
    runs.finish("registry: ecr-login's check (503, reset; persistent 503)");
}

/// An `ecr-login` that had to fail: in bounded time, exit 6, naming `names`, no config.json.
fn refused_in_time(verdict: &mut Verdict, out: &Outcome, took: Duration, names: &str) {
    expect(verdict, took < BOUND, || format!("took {took:?}"));
    expect(verdict, out.status == 6, || {
        format!("exit {}, not 6:\n{}", out.status, out.stderr)
    });
    expect(verdict, out.stderr.contains(names), || {
        format!("`{names}` is not named:\n{}", out.stderr)
    });
    expect(
        verdict,
        !out.path().join("docker/config.json").exists(),
        || "config.json written".into(),
    );
}

#[test]
fn a_registry_that_hangs_the_daemons_push_ends_in_bounded_time() {
    // dockerd waits for ever for an answer to its manifest PUT; cb-step gives up after 60 s
    // without a word from the push.
    let (proxy, out, took, repo) = through_registry(
        vec![
            Fault::on("PUT", "/manifests/v1")
                .by_daemon()
                .always(Action::Stall),
        ],
        "faults-hang",
    );
    let mut verdict = failed(out, took, 8, &proxy.host(), &repo);
    met_every_attempt(&mut verdict, &proxy, 1);
    let mut runs = Runs::default();
    runs.add("build-push", &proxy, verdict);
    runs.finish("registry, persistent: dockerd's manifest PUT hangs (fails)");
}

/// `--images`: one image's push fails for good, the other's goes through. The record gets the
/// one that was pushed, and nothing of the other; the entry from before stays.
#[test]
fn with_many_images_only_the_pushed_ones_reach_the_record() {
    let test = Test::new().bed();
    let (good, bad) = (test.unique("faults-good"), test.unique("faults-bad"));
    let proxy = Proxy::registry(vec![
        Fault::on("GET", format!("/v2/{bad}/manifests/sha256:"))
            .by_cb_step()
            .always(Action::Status(503)),
    ]);
    let images = format!(
        "- {{container: good, repository: {host}/{good}, context: good}}\n\
         - {{container: bad, repository: {host}/{bad}, context: bad}}\n",
        host = proxy.host()
    );
    let mut test = logged_in(test, &proxy.host()).file(RECORD, record());
    for name in [&good, &bad] {
        let dir = if *name == good { "good" } else { "bad" };
        test = test
            .file(&format!("{dir}/Dockerfile"), DOCKERFILE)
            .file(&format!("{dir}/hello.txt"), name.as_str());
    }
    let started = Instant::now();
    let out = test
        .file("images.yml", images)
        .args(["build-push", "--images", "images.yml", "--tag", "v1"])
        .run();
    let took = started.elapsed();
    let mut verdict = Vec::new();
    expect(&mut verdict, took < BOUND, || format!("took {took:?}"));
    expect(&mut verdict, out.status == 8, || {
        format!("exit {}, not 8:\n{}", out.status, out.stderr)
    });
    let record = out.json(RECORD);
    let mut repositories: Vec<_> = record["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["repository"].as_str().unwrap_or_default().to_owned())
        .collect();
    repositories.sort();
    expect(
        &mut verdict,
        repositories == [good.clone(), "my-service".to_owned()],
        || format!("record: {record:#}"),
    );
    let emitted = out.again(["emit-imagedefs"]);
    let definitions =
        std::fs::read_to_string(emitted.path().join("imagedefinitions.json")).unwrap_or_default();
    expect(
        &mut verdict,
        definitions.contains(&good) && !definitions.contains(&bad),
        || format!("imagedefinitions.json: {definitions}"),
    );
    met_every_attempt(&mut verdict, &proxy, 3);
    let mut runs = Runs::default();
    runs.add("build-push --images", &proxy, verdict);
    runs.finish("registry, persistent: one of two images (only the other recorded)");
}

/// `ecr-login` with the ECR API behind `proxy`.
fn ecr_login(proxy: &Proxy) -> (Outcome, Duration) {
    ecr_login_with(Test::new().bed(), proxy)
}

fn ecr_login_with(test: Test, proxy: &Proxy) -> (Outcome, Duration) {
    let started = Instant::now();
    let out = test
        .env("AWS_ENDPOINT_URL_ECR", &proxy.url())
        .args(["ecr-login"])
        .run();
    (out, started.elapsed())
}

#[test]
fn ecr_api_faults_during_ecr_login_are_retried() {
    // The SDK sends each call at most 3 times (`AWS_MAX_ATTEMPTS`): the faults, then the real
    // answer.
    let plans: Vec<(&str, &str, Vec<Action>)> = vec![
        (
            "503, throttled",
            "3",
            vec![Action::Status(503), Action::Throttle],
        ),
        (
            "reset, 500",
            "3",
            vec![Action::Reset { after: 0 }, Action::Status(500)],
        ),
        ("throttled, slow", "3", vec![Action::Throttle, SLOW]),
        // The SDK gives up on an attempt after 10 s (cb-step sets that timeout).
        (
            "stalled, throttled",
            "3",
            vec![Action::Stall, Action::Throttle],
        ),
        // What the hint of a persistent failure suggests.
        ("4 throttled, 5 attempts", "5", vec![Action::Throttle; 4]),
    ];
    let mut runs = Runs::default();
    for (name, attempts, actions) in plans {
        let proxy = Proxy::ecr(
            actions
                .into_iter()
                .map(|a| Fault::ecr("GetAuthorizationToken").times(a, 1))
                .collect(),
        );
        let test = Test::new().bed().env("AWS_MAX_ATTEMPTS", attempts);
        let (out, _) = ecr_login_with(test, &proxy);
        let mut verdict = spent(&proxy);
        let config = std::fs::read_to_string(out.path().join("docker/config.json"));
        expect(
            &mut verdict,
            out.status == 0 && config.is_ok_and(|c| c.contains(Bed::get().registry())),
            || format!("exit {}:\n{}", out.status, out.stderr),
        );
        runs.add(name, &proxy, verdict);
    }
    runs.finish("ECR API, transient: login (5xx, throttle, reset, slow, hang)");
}

#[test]
fn persistent_ecr_api_faults_fail_ecr_login_in_bounded_time() {
    let cases = [
        ("throttled", Action::Throttle),
        ("503", Action::Status(503)),
        ("reset", Action::Reset { after: 0 }),
        ("stalled", Action::Stall),
    ];
    let mut runs = Runs::default();
    for (name, action) in cases {
        let proxy = Proxy::ecr(vec![Fault::ecr("GetAuthorizationToken").always(action)]);
        let (out, took) = ecr_login(&proxy);
        let mut verdict = Vec::new();
        refused_in_time(&mut verdict, &out, took, &proxy.url());
        met_every_attempt(&mut verdict, &proxy, 3);
        runs.add(name, &proxy, verdict);
    }
    runs.finish("ECR API, persistent: ecr-login (throttle, 503, reset, stall)");
}

#[test]
fn ecr_api_faults_during_build_push_are_retried() {
    let proxy = Proxy::ecr(vec![
        Fault::ecr("GetAuthorizationToken").times(Action::Throttle, 1),
        Fault::ecr("DescribeRepositories").times(Action::Status(503), 1),
        Fault::ecr("DescribeRepositories").times(Action::Reset { after: 0 }, 1),
    ]);
    let test = app(Test::new().bed());
    let repo = test.unique("faults-ecr");
    create_repository(&repo, "us-east-1", false);
    let (out, _) = build_push(test.env("AWS_ENDPOINT_URL_ECR", &proxy.url()), &repo);
    survived(
        "ECR API, transient: build-push (throttling, 503, reset)",
        &proxy,
        &out,
        &repo,
    );
}

#[test]
fn persistent_ecr_api_faults_fail_build_push_in_bounded_time() {
    let mut runs = Runs::default();
    for operation in ["GetAuthorizationToken", "DescribeRepositories"] {
        let proxy = Proxy::ecr(vec![Fault::ecr(operation).always(Action::Throttle)]);
        let test = app(Test::new().bed());
        let repo = test.unique("faults-ecr-persist");
        create_repository(&repo, "us-east-1", false);
        let (out, took) = build_push(test.env("AWS_ENDPOINT_URL_ECR", &proxy.url()), &repo);
        let mut verdict = failed(out, took, 6, &proxy.url(), &repo);
        met_every_attempt(&mut verdict, &proxy, 3);
        runs.add(operation, &proxy, verdict);
    }
    runs.finish("ECR API, persistent: build-push throttled (fails, no outputs)");
}
