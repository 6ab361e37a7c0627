//! The build's environment: inherited < CodeBuild's own variables < `env.variables` <
//! `parameter-store`/`secrets-manager` < `--env`/`--env-file`. Secret values are remembered so
//! that every line of output can mask them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::RunError;
use crate::buildspec::model::Buildspec;
use crate::process;
use crate::registry::secret::Redacted;

#[derive(Debug, Clone)]
pub struct BuildIdentity {
    pub project: String,
    pub uuid: String,
    pub number: u64,
    pub region: String,
    pub image: String,
    /// `CODEBUILD_BATCH_BUILD_IDENTIFIER`, for a build of a batch.
    pub batch_identifier: Option<String>,
}

#[derive(Clone, Default)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    /// Values printed as `***` wherever they appear.
    pub secrets: Vec<String>,
}

impl Environment {
    /// `inherit`: start from this process's environment (on the host; in a container, the
    /// image's environment is underneath instead). `shown_source` is CODEBUILD_SRC_DIR as the
    /// commands see it.
    pub fn build(
        buildspec: &Buildspec,
        source: &Path,
        shown_source: &str,
        inherit: bool,
        identity: &BuildIdentity,
        overrides: &[(String, String)],
    ) -> Result<Self, RunError> {
        let mut vars: BTreeMap<String, String> = if inherit {
            std::env::vars().collect()
        } else {
            BTreeMap::new()
        };
        for (key, value) in codebuild_vars(source, shown_source, identity) {
            vars.insert(key, value);
        }
        for (key, value) in &buildspec.env.variables {
            vars.insert(key.clone(), value.clone());
        }
        let mut secrets = Vec::new();
        let secret_sources = buildspec
            .env
            .parameter_store
            .iter()
            .map(|p| (p, "parameter-store"))
            .chain(
                buildspec
                    .env
                    .secrets_manager
                    .iter()
                    .map(|p| (p, "secrets-manager")),
            );
        for ((name, reference), kind) in secret_sources {
            let value = overrides
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| RunError::MissingSecret {
                    name: name.clone(),
                    kind,
                    reference: reference.clone(),
                })?;
            if !value.is_empty() {
                secrets.push(value.clone());
            }
            vars.insert(name.clone(), value);
        }
        for (key, value) in overrides {
            vars.insert(key.clone(), value.clone());
        }
        // Longest first, so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Ok(Environment { vars, secrets })
    }

    /// `line` with every secret value replaced by `***`, as CodeBuild's log shows them.
    pub fn mask(&self, line: &str) -> String {
        let mut masked = line.to_owned();
        for secret in &self.secrets {
            masked = masked.replace(secret.as_str(), "***");
        }
        masked
    }
}

/// By name only: the values include secrets and the inherited AWS credentials.
impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("vars", &Redacted::names(self.vars.keys()))
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

fn codebuild_vars(
    source: &Path,
    shown_source: &str,
    identity: &BuildIdentity,
) -> Vec<(String, String)> {
    let git = |args: &[&str]| process::output("git", args, source);
    let id = format!("{}:{}", identity.project, identity.uuid);
    let account = std::env::var("AWS_ACCOUNT_ID").unwrap_or_else(|_| "000000000000".into());
    let start_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut vars = vec![
        ("CODEBUILD_CI".into(), "true".into()),
        ("CODEBUILD_SRC_DIR".into(), shown_source.to_owned()),
        (
            "CODEBUILD_BUILD_ARN".into(),
            format!("arn:aws:codebuild:{}:{account}:build/{id}", identity.region),
        ),
        ("CODEBUILD_BUILD_ID".into(), id),
        ("CODEBUILD_BUILD_NUMBER".into(), identity.number.to_string()),
        ("CODEBUILD_BUILD_IMAGE".into(), identity.image.clone()),
        ("CODEBUILD_BUILD_SUCCEEDING".into(), "1".into()),
        ("CODEBUILD_START_TIME".into(), start_ms.to_string()),
        ("CODEBUILD_LOG_PATH".into(), identity.uuid.clone()),
        (
            "CODEBUILD_INITIATOR".into(),
            std::env::var("USER").unwrap_or_else(|_| "cb-step".into()),
        ),
        ("AWS_REGION".into(), identity.region.clone()),
        ("AWS_DEFAULT_REGION".into(), identity.region.clone()),
    ];
    if let Some(identifier) = &identity.batch_identifier {
        vars.push((
            "CODEBUILD_BATCH_BUILD_IDENTIFIER".into(),
            identifier.clone(),
        ));
    }
    if let Some(commit) = git(&["rev-parse", "HEAD"]) {
        vars.push(("CODEBUILD_RESOLVED_SOURCE_VERSION".into(), commit.clone()));
        let branch = git(&["symbolic-ref", "--short", "-q", "HEAD"]);
        vars.push(("CODEBUILD_SOURCE_VERSION".into(), branch.unwrap_or(commit)));
    }
    if let Some(url) = git(&["remote", "get-url", "origin"]) {
        vars.push(("CODEBUILD_SOURCE_REPO_URL".into(), url));
    }
    vars
}

/// A random version-4 UUID, from the kernel's generator.
pub fn uuid() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut file, &mut bytes);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_longest_first() {
        let env = Environment {
            vars: BTreeMap::new(),
            secrets: vec!["hunter22".into(), "hunter2".into()],
        };
        assert_eq!(env.mask("pw=hunter22 and hunter2"), "pw=*** and ***");
        let shown = format!("{env:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn debug_shows_names_not_values() {
        let env = Environment {
            vars: BTreeMap::from([("DB_PASSWORD".to_owned(), "s3cr3t-value".to_owned())]),
            secrets: vec!["s3cr3t-value".into()],
        };
        assert_eq!(
            format!("{env:?}"),
            r#"Environment { vars: {"DB_PASSWORD": <redacted>}, secrets: 1 }"#
        );
    }

    #[test]
    fn uuids_are_version_4() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(uuid(), id);
    }
}
