//! Bad input, the quick form that CI runs on stable: a few hundred proptest cases per reader,
//! made by mutating the committed seeds, and a replay of every seed and every input a fuzzer
//! ever crashed on. The properties are the fuzz targets' own (`tests/fuzz/checks.rs`); the
//! long form is `bash bench/fuzz` (cargo-fuzz, ten minutes a target).

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

use crate::fuzz_checks as checks;
use crate::harness::{self, Test};

const CASES: u32 = 400;

/// Pieces that matter to one reader or another: YAML and JSON structure, reference and
/// pattern syntax, and values that sit on a length limit.
const TOKENS: &[&str] = &[
    "\n",
    "  ",
    "- ",
    ": ",
    ":",
    "'",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "<<: ",
    "|\n",
    ">-\n",
    "#",
    "\t",
    "\r\n",
    "\u{feff}",
    "\u{e9}",
    "\0",
    "\\",
    "/",
    "//",
    "..",
    "**",
    "*",
    "?",
    "!",
    "@",
    "sha256:",
    "=",
    "$",
    "${",
    "null",
    "true",
    "yes",
    "0.2",
    "-1",
    "4294967296",
    "1e999",
    "version",
    "phases",
    "batch",
    "build-matrix",
    "dynamic",
    "env",
    "variables",
    "commands",
    "auths",
    "auth",
    "credsStore",
    "credHelpers",
    "images",
    "container",
    "repository",
    "tags",
    "digest",
    "pushed",
    "[::1]",
    "localhost:5000",
];

/// A seed (or nothing) with up to eight edits: a token inserted, a run deleted, a byte
/// replaced, or a run repeated.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let edit = (0..4u8, any::<Index>(), any::<Index>(), any::<u8>());
    (
        any::<Index>(),
        prop::collection::vec(edit, 0..8),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(move |(pick, edits, noise)| {
            let mut input = if seeds.is_empty() || pick.index(8) == 0 {
                noise
            } else {
                pick.get(&seeds).clone()
            };
            for (kind, at, what, byte) in edits {
                let i = at.index(input.len() + 1);
                let len = what.index(16) + 1;
                let end = (i + len).min(input.len());
                match kind {
                    0 => {
                        let token = what.get(TOKENS).as_bytes();
                        input.splice(i..i, token.iter().copied());
                    }
                    1 => drop(input.drain(i..end)),
                    2 if i < input.len() => input[i] = byte,
                    _ => {
                        let run = input[i..end].to_vec();
                        input.splice(i..i, run.iter().cycle().take(run.len() * 8).copied());
                    }
                }
            }
            input
        })
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// The committed inputs for `target`: `seeds/<target>/*`, then `regressions/<target>/*`.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = fs::read_dir(fuzz_dir().join(kind).join(target)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = dir.map(|e| e.expect("list fuzz inputs").path()).collect();
        paths.sort();
        for path in paths {
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            found.push((path, bytes));
        }
    }
    found
}

fn check_of(target: &str) -> checks::Check {
    checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, check)| *check)
        .unwrap_or_else(|| panic!("no fuzz target `{target}` in tests/fuzz/checks.rs"))
}

fn proptest(target: &str) {
    let check = check_of(target);
    let seeds: Vec<Vec<u8>> = inputs(target).into_iter().map(|(_, b)| b).collect();
    assert!(!seeds.is_empty(), "no seeds in tests/fuzz/seeds/{target}");
    let tried = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&mutated(seeds), |input| {
        tried.fetch_add(1, Ordering::Relaxed);
        check(&input);
        Ok(())
    });
    harness::tally(
        "fuzz",
        &format!("{target} (proptest)"),
        tried.load(Ordering::Relaxed),
        u64::from(result.is_err()),
    );
    if let Err(failure) = result {
        panic!(
            "{target}: {failure}; save the input under tests/fuzz/regressions/{target}/ and fix the panic"
        );
    }
}

#[test]
fn buildspec_parse_and_lint() {
    proptest("buildspec");
}

#[test]
fn image_references_and_digests() {
    proptest("image_ref");
}

#[test]
fn dockerignore_patterns() {
    proptest("dockerignore");
}

#[test]
fn build_record_reader() {
    proptest("build_record");
}

#[test]
fn docker_config_reader() {
    proptest("docker_config");
}

#[test]
fn images_file_reader() {
    proptest("images_file");
}

#[test]
fn env_file_reader() {
    proptest("env_file");
}

/// Every seed and every regression input, through its target: each crash a fuzzer found
/// stays fixed. The directories hold only target names, so no input is silently skipped.
#[test]
fn committed_inputs_replay_without_a_panic() {
    let mut replayed = 0;
    let mut crashed = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in dir {
            let name = entry.expect("list tests/fuzz").file_name();
            check_of(name.to_str().expect("target names are UTF-8"));
        }
    }
    for (target, check) in checks::TARGETS {
        for (path, bytes) in inputs(target) {
            replayed += 1;
            if panic::catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
                crashed.push(path);
            }
        }
    }
    harness::tally(
        "fuzz",
        "seed and regression inputs replayed",
        replayed,
        crashed.len() as u64,
    );
    assert!(crashed.is_empty(), "these inputs panic: {crashed:?}");
}

/// The buildspecs a fuzzer or a probe crashed on, through the binary itself: `lint` and `run`
/// each end with an error that names the file and exit 3, not with a signal (a stack
/// overflow aborts, and the harness refuses an outcome without an exit code).
#[test]
fn regression_buildspecs_are_errors_in_lint_and_run() {
    let mut tried = 0;
    let mut bad = Vec::new();
    let regressions = inputs("buildspec").into_iter().filter(|(path, _)| {
        path.parent().and_then(Path::parent) == Some(&fuzz_dir().join("regressions"))
    });
    for (path, bytes) in regressions {
        for command in ["lint", "run"] {
            tried += 1;
            let out = Test::new()
                .file("buildspec.yml", &bytes)
                .args([command])
                .run();
            let shown = format!("{}{}", out.stdout, out.stderr);
            if out.status != 3 || !shown.contains("error: ") || !shown.contains("buildspec.yml:") {
                bad.push(format!(
                    "{command} {}: exit {}\n{shown}",
                    path.display(),
                    out.status
                ));
            }
        }
    }
    harness::tally(
        "fuzz",
        "regression buildspecs through lint and run",
        tried,
        bad.len() as u64,
    );
    assert!(tried > 0, "no regression buildspecs");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
