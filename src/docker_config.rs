//! The Docker CLI's `config.json`: where `docker push`, skopeo, helm and oras find credentials.
//!
//! cb-step changes only `auths.<host>` and keeps every other key, registry and unknown field.
//! Concurrent logins serialise on an advisory lock on the config directory, and the file is
//! replaced atomically with mode 0600, so a reader never sees half a file.

use std::fs::{self, DirBuilder, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::atomic::{self, PendingFile, WriteError};
use crate::env_vars;
use crate::process;
use crate::registry::credentials::RegistryCredentials;
use crate::registry::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    #[error("neither `DOCKER_CONFIG` nor `HOME` is set, so there is no Docker config to write")]
    NoHome,
    #[error("cannot create the Docker config directory `{}`", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot lock the Docker config directory `{}`", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the Docker config `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the Docker config `{}` is not valid JSON", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the Docker config `{}` has {what} where a JSON object belongs", path.display())]
    Shape { path: PathBuf, what: &'static str },
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl DockerConfigError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DockerConfigError::NoHome => "set `DOCKER_CONFIG` to a directory for the Docker config".into(),
            DockerConfigError::Parse { .. } | DockerConfigError::Shape { .. } => {
                "cb-step will not overwrite a file it cannot read; fix or remove it, or point `DOCKER_CONFIG` at another directory".into()
            }
            _ => return None,
        })
    }

    pub fn is_output(&self) -> bool {
        matches!(
            self,
            DockerConfigError::CreateDir { .. }
                | DockerConfigError::Lock { .. }
                | DockerConfigError::Write(_)
        )
    }
}

/// A setting that makes docker ignore the `auths` entry cb-step wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shadow {
    CredsStore { store: String },
    CredHelper { host: String, helper: String },
}

impl Shadow {
    pub fn warning(&self, path: &Path) -> String {
        match self {
            Shadow::CredsStore { store } => format!(
                "`{}` sets `\"credsStore\": \"{store}\"`, so docker reads credentials from `docker-credential-{store}` and ignores the entry cb-step wrote; remove `credsStore`, or use a config of your own with `export DOCKER_CONFIG=$(mktemp -d)` before `cb-step ecr-login`",
                path.display()
            ),
            Shadow::CredHelper { host, helper } => format!(
                "`{}` sends `{host}` to `docker-credential-{helper}` (`credHelpers`), so docker ignores the entry cb-step wrote; remove that `credHelpers` entry, or drop `cb-step ecr-login` and let the helper log in",
                path.display()
            ),
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn locate() -> Result<PathBuf, DockerConfigError> {
    if let Some(dir) = env_vars::get(env_vars::DOCKER_CONFIG) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    env_vars::get(env_vars::HOME)
        .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
        .ok_or(DockerConfigError::NoHome)
}

/// Sets `auths.<host>.auth` for each entry and returns the settings that shadow them.
pub fn store_auths(
    path: &Path,
    entries: &[(String, Secret)],
) -> Result<Vec<Shadow>, DockerConfigError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.as_os_str().is_empty() && !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| DockerConfigError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
    }
    let lock_dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let lock = File::open(lock_dir).and_then(|f| f.lock().map(|()| f));
    let _lock = lock.map_err(|source| DockerConfigError::Lock {
        path: lock_dir.to_owned(),
        source,
    })?;

    // A symlinked config (dotfile managers) is updated where it points, not replaced.
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut config = read(&target)?;
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| DockerConfigError::Shape {
            path: path.to_owned(),
            what: "an `auths` value that is not an object",
        })?;
    for (host, auth) in entries {
        let mut entry = Map::new();
        entry.insert("auth".into(), Value::String(auth.expose().to_owned()));
        auths.insert(host.clone(), Value::Object(entry));
    }
    let mut contents = serde_json::to_vec_pretty(&config).expect("a JSON object always serializes");
    contents.push(b'\n');
    atomic::write_file(&PendingFile {
        path: target,
        contents,
        mode: Some(0o600),
    })?;
    Ok(shadows(&config, entries))
}

/// Credentials for `host` as the docker CLI finds them: `credHelpers.<host>`, else `credsStore`,
/// else `auths.<host>.auth`. `None` means anonymous.
pub fn credentials_for(host: &str) -> Result<Option<RegistryCredentials>, DockerConfigError> {
    let path = locate()?;
    let config = read(&path)?;
    let helper = config
        .get("credHelpers")
        .and_then(|h| h.get(host))
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper {
        let program = format!("docker-credential-{helper}");
        let answer = process::output_with_input(&program, &["get"], host).and_then(|out| {
            let json: Value = serde_json::from_str(&out).ok()?;
            Some(RegistryCredentials {
                username: json["Username"].as_str()?.to_owned(),
                password: Secret::new(json["Secret"].as_str()?.to_owned()),
            })
        });
        if answer.is_none() {
            tracing::warn!("`{program} get` gave no credentials for {host}; pushing anonymously");
        }
        return Ok(answer);
    }
    Ok(stored_credentials(&config, host))
}

/// `auths.<host>.auth` decoded, when it is base64 of `user:password`.
pub fn stored_credentials(config: &Map<String, Value>, host: &str) -> Option<RegistryCredentials> {
    let auth = config
        .get("auths")
        .and_then(|a| a.get(host))
        .and_then(|e| e.get("auth"))
        .and_then(Value::as_str)?;
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let (username, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(RegistryCredentials {
        username: username.to_owned(),
        password: Secret::new(password.to_owned()),
    })
}

fn read(path: &Path) -> Result<Map<String, Value>, DockerConfigError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => {
            return Err(DockerConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(path, &bytes)
}

/// config.json's text as a JSON object (empty for a blank file); `path` names it in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Map<String, Value>, DockerConfigError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(DockerConfigError::Shape {
            path: path.to_owned(),
            what: "a top-level value that is not an object",
        }),
        Err(source) => Err(DockerConfigError::Parse {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The settings in `config` that make docker ignore the `auths` entries for `entries`' hosts.
pub fn shadows(config: &Map<String, Value>, entries: &[(String, Secret)]) -> Vec<Shadow> {
    let mut found = Vec::new();
    for (host, _) in entries {
        let helper = config
            .get("credHelpers")
            .and_then(|h| h.get(host))
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty());
        if let Some(helper) = helper {
            found.push(Shadow::CredHelper {
                host: host.clone(),
                helper: helper.to_owned(),
            });
        }
    }
    let store = config
        .get("credsStore")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if let Some(store) = store
        && found.len() < entries.len()
    {
        found.push(Shadow::CredsStore {
            store: store.to_owned(),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn entry(host: &str) -> (String, Secret) {
        (host.to_owned(), Secret::new("QVdTOnB3".into()))
    }

    #[test]
    fn merges_and_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"auths":{"ghcr.io":{"auth":"eDp5"}},"psFormat":"table {{.ID}}","experimental":"enabled"}"#,
        )
        .unwrap();
        let shadows = store_auths(&path, &[entry("r.example")]).unwrap();
        assert!(shadows.is_empty());
        let config: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(config["auths"]["ghcr.io"]["auth"], "eDp5");
        assert_eq!(config["auths"]["r.example"]["auth"], "QVdTOnB3");
        assert_eq!(config["psFormat"], "table {{.ID}}");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn creates_the_directory_with_mode_0700() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/.docker/config.json");
        store_auths(&path, &[entry("r.example")]).unwrap();
        let mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn reports_shadowing_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"credsStore":"desktop","credHelpers":{"a.example":"ecr-login"}}"#,
        )
        .unwrap();
        let shadows = store_auths(&path, &[entry("a.example"), entry("b.example")]).unwrap();
        assert_eq!(
            shadows,
            [
                Shadow::CredHelper {
                    host: "a.example".into(),
                    helper: "ecr-login".into()
                },
                Shadow::CredsStore {
                    store: "desktop".into()
                },
            ]
        );
    }

    #[test]
    fn refuses_to_overwrite_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            store_auths(&path, &[entry("r.example")]),
            Err(DockerConfigError::Parse { .. })
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), "{not json");
        fs::write(&path, r#"{"auths": []}"#).unwrap();
        assert!(matches!(
            store_auths(&path, &[entry("r.example")]),
            Err(DockerConfigError::Shape { .. })
        ));
    }

    #[test]
    fn concurrent_writers_keep_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::thread::scope(|scope| {
            for i in 0..10 {
                let path = &path;
                scope.spawn(move || store_auths(path, &[entry(&format!("r{i}.example"))]).unwrap());
            }
        });
        let config: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(config["auths"].as_object().unwrap().len(), 10);
    }
}
