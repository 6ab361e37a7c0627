//! What every fuzzed input must satisfy, one function per reader: no panic, and the
//! properties below. The cargo-fuzz targets (`fuzz_targets/`) and the quick proptest form
//! (`tests/integration/fuzz_inputs.rs`) both call these, so the two cannot drift apart.
//!
//! Each function takes the raw bytes a file or argument would hold. Text readers see only
//! UTF-8, as cb-step reads them with `read_to_string` (invalid UTF-8 is an I/O error there).

use std::path::Path;

use cb_step::buildspec::batch::is_identifier;
use cb_step::buildspec::children;
use cb_step::buildspec::diagnostic::{self, Severity};
use cb_step::buildspec::parse;
use cb_step::config::parse_env_file;
use cb_step::docker_config;
use cb_step::image::ignore::{DockerIgnore, glob};
use cb_step::image::images_file;
use cb_step::record::build_record::BuildRecord;
use cb_step::registry::credentials::RegistryCredentials;
use cb_step::registry::digest::Digest;
use cb_step::registry::reference::ImageRef;
use cb_step::registry::secret::Secret;

/// One reader's check: panics when `data` breaks a property.
pub type Check = fn(&[u8]);

/// The targets, by the names `bench/fuzz` and the seed directories use.
pub const TARGETS: [(&str, Check); 7] = [
    ("buildspec", buildspec),
    ("image_ref", image_ref),
    ("dockerignore", dockerignore),
    ("build_record", build_record),
    ("docker_config", docker_config),
    ("images_file", images_file),
    ("env_file", env_file),
];

/// A path that names no file, so `lint`'s check of a batch's buildspecs finds none.
const NOWHERE: &str = "/nonexistent/cb-step-fuzz";

/// `cb-step lint` and the batch planning of `cb-step run`, without running anything.
pub fn buildspec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse::parse(text);
    // YAML's line breaks: `\n`, `\r\n`, and a lone `\r`, which `str::lines` does not split on.
    let lines = diagnostic::yaml_lines(text).count();
    assert_eq!(
        lines,
        text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 1
    );
    for d in &parsed.diagnostics {
        // A finding points at a line of the file and shows it, or (the end of an unclosed
        // `{` or `[`) just past the last one.
        assert!(
            d.line >= 1 && d.line <= lines + 1,
            "line {} of {lines}",
            d.line
        );
        assert!(d.column >= 1, "column {}", d.column);
        assert!(!d.message.is_empty());
        let shown = d.render("buildspec.yml", text);
        assert!(shown.contains("buildspec.yml:"), "{shown}");
        let excerpt = format!("\n{} | ", d.line);
        assert!(d.line > lines || shown.contains(&excerpt), "{shown}");
    }
    let errors = parsed.errors().count();
    assert_eq!(parsed.buildspec.is_some(), errors == 0, "{parsed:?}");
    let Some(batch) = parsed.buildspec.as_ref().and_then(|b| b.batch.as_ref()) else {
        return;
    };
    let checked = children::check(batch, Path::new(NOWHERE), Path::new(NOWHERE));
    for d in &checked.top {
        assert_eq!(d.severity, Severity::Error);
        d.render("buildspec.yml", text);
    }
    let builds = batch.builds();
    let mut names: Vec<&str> = builds.iter().map(|b| b.identifier.as_str()).collect();
    assert!(names.iter().all(|n| is_identifier(n)), "{names:?}");
    names.sort_unstable();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "identifiers are not unique");
}

/// `--image NAME=URI`, repository URIs, and digests from the registry.
pub fn image_ref(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ImageRef::parse(text) {
        Ok(reference) => {
            // Kept exactly as written, so what is deployed is what the user wrote.
            assert_eq!(reference.to_string(), text);
            assert_eq!(
                ImageRef::parse(&reference.to_string()),
                Ok(reference.clone())
            );
            let repository = reference.repository();
            assert!(!repository.is_empty(), "{text}");
            assert!(reference.name().ends_with(repository));
            if let Some(registry) = reference.registry() {
                assert!(reference.name().starts_with(registry));
            }
            if let Some(digest) = reference.digest() {
                assert!(
                    reference
                        .pinned_by_digest()
                        .unwrap()
                        .ends_with(digest.as_str())
                );
            }
            if let Some(tag) = reference.tag() {
                assert!(reference.pinned_by_tag().unwrap().ends_with(tag));
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            let _ = e.hint();
        }
    }
    match Digest::parse(text) {
        Ok(digest) => {
            assert_eq!(digest.as_str().len(), 71, "{text}");
            assert_eq!(digest.hex().len(), 64);
            assert_eq!(Digest::parse(&digest.to_string()), Ok(digest.clone()));
            let json = serde_json::to_string(&digest).unwrap();
            assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// `.dockerignore` text, then after a NUL byte the context's paths, one a line.
pub fn dockerignore(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (patterns, paths) = text.split_once('\0').unwrap_or((text, ""));
    let always = ["Dockerfile", ".dockerignore"];
    for line in patterns.lines() {
        let _ = glob(line);
    }
    match DockerIgnore::parse(patterns, &always) {
        Ok(ignore) => {
            // Docker always sends these, whatever the patterns say.
            for name in always {
                assert!(!ignore.is_excluded(name), "{name} excluded by {patterns:?}");
                let _ = ignore.excludes_always_sent(name);
            }
            let _ = ignore.has_exceptions();
            for path in paths.lines() {
                let _ = ignore.is_excluded(path);
            }
        }
        Err(e) => assert!(e.to_string().starts_with("line "), "{e}"),
    }
}

/// `.cb-step/build-record.json`.
pub fn build_record(data: &[u8]) {
    let path = Path::new(".cb-step/build-record.json");
    match BuildRecord::from_json(path, data) {
        Ok(record) => {
            // What `build-push` writes back must read again as the same record.
            let again = serde_json::to_vec_pretty(&record).unwrap();
            assert_eq!(BuildRecord::from_json(path, &again).unwrap(), record);
            for image in &record.images {
                assert!(ImageRef::parse(&image.name()).is_ok(), "{}", image.name());
            }
        }
        Err(e) => {
            assert!(e.to_string().contains("build-record.json"), "{e}");
            assert!(e.hint().is_some(), "{e}");
        }
    }
}

/// The Docker CLI's `config.json`, as `ecr-login` updates it and `build-push` reads it.
pub fn docker_config(data: &[u8]) {
    let path = Path::new("config.json");
    let config = match docker_config::parse(path, data) {
        Ok(config) => config,
        Err(e) => {
            assert!(e.to_string().contains("config.json"), "{e}");
            assert!(e.hint().is_some(), "{e}");
            return;
        }
    };
    let hosts: Vec<String> = config
        .get("auths")
        .and_then(|a| a.as_object())
        .map(|a| a.keys().cloned().collect())
        .unwrap_or_default();
    let mut entries = vec![("registry.example".to_owned(), Secret::new("x".into()))];
    for host in &hosts {
        if let Some(found) = docker_config::stored_credentials(&config, host) {
            // What ecr-login writes for these credentials reads back as the same.
            let again = RegistryCredentials::from_ecr_token(found.docker_auth().expose());
            assert_eq!(again.as_ref(), Some(&found));
        }
        entries.push((host.clone(), Secret::new("x".into())));
    }
    for shadow in docker_config::shadows(&config, &entries) {
        assert!(!shadow.warning(path).is_empty());
    }
    // Every other key survives a rewrite.
    let text = serde_json::to_vec_pretty(&config).unwrap();
    assert_eq!(docker_config::parse(path, &text).unwrap(), config);
}

/// `build-push --images FILE`.
pub fn images_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match images_file::parse(text) {
        Ok(entries) => assert!(!entries.is_empty()),
        Err((line, message)) => {
            assert!(!message.is_empty());
            // serde_yaml is YAML 1.1, which also breaks lines at NEL, LS and PS.
            let breaks = ['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'];
            let lines = text.replace("\r\n", "\n").matches(breaks).count() + 1;
            assert!(line <= lines + 1, "line {line} of {lines}: {message}");
        }
    }
}

/// `run --env-file FILE`.
pub fn env_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_env_file(Path::new("vars.env"), text) {
        Ok(vars) => {
            for (name, _) in vars {
                assert!(!name.is_empty() && name.trim() == name, "{name:?}");
            }
        }
        Err(e) => assert!(e.to_string().contains("vars.env"), "{e}"),
    }
}
