//! `cb-step build-push`: context → build → tag → push once → retag by manifest → verify → record.

use std::collections::HashMap;
use std::time::Instant;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::TagImageOptionsBuilder;

use crate::config::{BuildPushConfig, Repository};
use crate::error::Error;
use crate::image::build::{self, BuildRequest, Builder};
use crate::image::context::Context;
use crate::image::engine::{self, engine_error};
use crate::image::error::ImageError;
use crate::image::push;
use crate::record::build_record::{BuildRecord, RecordedImage};
use crate::record::container_name::ContainerName;
use crate::registry::client::{Manifest, RegistryClient};
use crate::registry::credentials::RegistryCredentials;
use crate::registry::ecr::EcrSession;
use crate::registry::reference::is_valid_tag;
use crate::registry::{digest::Digest, ecr_host};
use crate::{docker_config, env_vars, process, report};

pub fn execute(config: BuildPushConfig) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(build_push(config))
}

/// Where the image goes, and with which credentials.
struct Target {
    host: String,
    name: String,
    credentials: Option<RegistryCredentials>,
    immutable: bool,
}

impl Target {
    fn reference(&self) -> String {
        format!("{}/{}", self.host, self.name)
    }

    fn docker_credentials(&self) -> DockerCredentials {
        DockerCredentials {
            username: self.credentials.as_ref().map(|c| c.username.clone()),
            password: self
                .credentials
                .as_ref()
                .map(|c| c.password.expose().to_owned()),
            serveraddress: Some(self.host.clone()),
            ..Default::default()
        }
    }
}

async fn build_push(config: BuildPushConfig) -> Result<(), Error> {
    let commit = resolve_commit(&config);
    let tags = tags(&config, commit.as_deref())?;
    let target = resolve_target(&config).await?;
    let docker = engine::connect().await?;
    let mut context = Context::scan(
        &config.context,
        &config.dockerfile,
        config.builder == Builder::Classic,
    )?;
    let mut labels = labels(&config, commit.as_deref(), &tags[0]);
    // Without --target the labelled stage is the last one, where an appended LABEL lands.
    if config.builder == Builder::Classic && config.target.is_none() {
        let original =
            std::fs::read(&config.dockerfile).map_err(|source| ImageError::ContextRead {
                path: config.dockerfile.clone(),
                source,
            })?;
        if let Some(labelled) = crate::image::labels::append(&original, &labels) {
            context.replace_dockerfile(labelled, true)?;
            labels.clear();
        }
    }
    let primary = format!("{}:{}", target.reference(), tags[0]);
    report::line(&format!(
        "build-push: building {primary} for {} with {} ({} entries in the context)",
        config.platform,
        match config.builder {
            Builder::BuildKit => "BuildKit",
            Builder::Classic => "the classic builder",
        },
        context.len()
    ));

    let mut registry_auth = HashMap::new();
    if target.credentials.is_some() {
        registry_auth.insert(target.host.clone(), target.docker_credentials());
    }
    let request = BuildRequest {
        tag: primary.clone(),
        platform: config.platform.clone(),
        target: config.target.clone(),
        build_args: config.build_args.clone(),
        labels,
        no_cache: config.no_cache,
        pull: config.pull,
        cache_from: config.cache_from.clone(),
        builder: config.builder,
        registry_auth,
    };
    let started = Instant::now();
    build::build(&docker, context, &request).await?;
    let image_id = check_platform(&docker, &primary, &config.platform).await?;
    report::line(&format!(
        "build-push: built {image_id} in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    for tag in &tags[1..] {
        let options = TagImageOptionsBuilder::default()
            .repo(&target.reference())
            .tag(tag)
            .build();
        docker
            .tag_image(&primary, Some(options))
            .await
            .map_err(engine_error("tag the image"))?;
    }

    let digest = if config.push {
        Some(publish(&docker, &target, &tags, &image_id).await?)
    } else {
        report::line(&format!("build-push: not pushed (--no-push): {primary}"));
        None
    };

    let container = match &config.container {
        Some(name) => name.clone(),
        None => default_container(&target.name)?,
    };
    BuildRecord::upsert(
        &config.record,
        RecordedImage {
            container,
            registry: target.host.clone(),
            repository: target.name.clone(),
            tags: tags.clone(),
            digest: digest.clone(),
            platform: config.platform.clone(),
            pushed: digest.is_some(),
            commit,
            build_id: env_vars::get(env_vars::CODEBUILD_BUILD_ID),
        },
    )?;
    match digest {
        Some(digest) => println!("{}@{digest}", target.reference()),
        None => println!("{primary}"),
    }
    Ok(())
}

/// Pushes the first tag, verifies the digest against the registry, and adds the other tags
/// with a manifest PUT. On an immutable repository, tags that already hold this very image are
/// left alone (a re-run succeeds), and tags that hold another image stop the push.
async fn publish(
    docker: &Docker,
    target: &Target,
    tags: &[String],
    image_id: &str,
) -> Result<Digest, Error> {
    let registry = RegistryClient::new(&target.host, target.credentials.clone())?;
    let mut existing: HashMap<&str, Manifest> = HashMap::new();
    if target.immutable {
        for tag in tags {
            if let Some(manifest) = registry.manifest(&target.name, tag).await? {
                if manifest.config_digest().as_deref() != Some(image_id) {
                    return Err(ImageError::ImmutableTag {
                        repository: target.name.clone(),
                        tag: tag.clone(),
                        existing: manifest.digest().to_string(),
                    }
                    .into());
                }
                existing.insert(tag, manifest);
            }
        }
    }
    let to_push: Vec<&String> = tags
        .iter()
        .filter(|t| !existing.contains_key(t.as_str()))
        .collect();
    let Some(first) = to_push.first() else {
        let manifest = existing.values().next().expect("every tag exists");
        report::line(
            "build-push: every tag already holds this image in the immutable repository; nothing to push",
        );
        return Ok(manifest.digest());
    };
    let pushed = push::push(
        docker,
        &target.reference(),
        first,
        &target.docker_credentials(),
    )
    .await?;
    let reference = format!("{}@{}", target.reference(), pushed.digest);
    let manifest = registry
        .manifest(&target.name, pushed.digest.as_str())
        .await?
        .ok_or_else(|| ImageError::NoDigest {
            reference: reference.clone(),
        })?;
    let actual = manifest.digest();
    if actual != pushed.digest {
        return Err(ImageError::DigestMismatch {
            reference,
            expected: pushed.digest.to_string(),
            actual: actual.to_string(),
        }
        .into());
    }
    if manifest.is_index() {
        return Err(ImageError::NotSingleManifest {
            reference,
            media_type: manifest.media_type,
        }
        .into());
    }
    report::line(&format!(
        "build-push: pushed {}:{first} ({} layers uploaded, {} already there, {} bytes compressed) in {:.1}s, digest verified",
        target.reference(),
        pushed.layers_uploaded,
        pushed.layers_present,
        manifest.layer_bytes(),
        pushed.duration.as_secs_f64()
    ));
    for tag in &to_push[1..] {
        let started = Instant::now();
        registry.put_manifest(&target.name, tag, &manifest).await?;
        report::line(&format!(
            "build-push: tagged {}:{tag} by manifest (no upload) in {:.2}s",
            target.reference(),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(actual)
}

async fn resolve_target(config: &BuildPushConfig) -> Result<Target, Error> {
    let (host, name) = match &config.repository {
        Repository::DefaultEcr { name } => {
            let session = EcrSession::connect(config.region.as_deref()).await?;
            let token = session.tokens(&[]).await?.remove(0);
            return ecr_target(&session, token.host, name, token.credentials).await;
        }
        Repository::Full { host, name } => (host, name),
    };
    if let Some(ecr) = ecr_host::parse(host) {
        let region = config.region.clone().unwrap_or(ecr.region);
        let session = EcrSession::connect(Some(&region)).await?;
        let token = session
            .tokens(std::slice::from_ref(&ecr.account))
            .await?
            .remove(0);
        return ecr_target(&session, host.clone(), name, token.credentials).await;
    }
    Ok(Target {
        host: host.clone(),
        name: name.clone(),
        credentials: docker_config::credentials_for(host)?,
        immutable: false,
    })
}

async fn ecr_target(
    session: &EcrSession,
    host: String,
    name: &str,
    credentials: RegistryCredentials,
) -> Result<Target, Error> {
    let account = ecr_host::parse(&host)
        .map(|h| h.account)
        .unwrap_or_default();
    let immutable = session
        .repository_is_immutable(&account, name)
        .await?
        .ok_or_else(|| ImageError::UnknownRepository {
            repository: name.to_owned(),
            registry: host.clone(),
        })?;
    Ok(Target {
        host,
        name: name.to_owned(),
        credentials: Some(credentials),
        immutable,
    })
}

/// `CODEBUILD_RESOLVED_SOURCE_VERSION`, else the context's git HEAD.
fn resolve_commit(config: &BuildPushConfig) -> Option<String> {
    env_vars::get(env_vars::CODEBUILD_RESOLVED_SOURCE_VERSION)
        .or_else(|| process::output("git", &["rev-parse", "HEAD"], &config.context))
}

fn tags(config: &BuildPushConfig, commit: Option<&str>) -> Result<Vec<String>, ImageError> {
    let mut tags = Vec::new();
    if let Some(length) = config.commit_tag_length {
        let commit = commit.ok_or_else(|| ImageError::NoCommit {
            context: config.context.clone(),
        })?;
        tags.push(commit.chars().take(length).collect::<String>());
    }
    if config.tag_from_build_number {
        tags.push(
            env_vars::get(env_vars::CODEBUILD_BUILD_NUMBER).ok_or(ImageError::NoBuildNumber)?,
        );
    }
    tags.extend(config.tags.iter().cloned());
    if config.latest {
        tags.push("latest".into());
    }
    let mut unique = Vec::new();
    for tag in tags {
        if !is_valid_tag(&tag) {
            return Err(ImageError::InvalidTag { tag });
        }
        if !unique.contains(&tag) {
            unique.push(tag);
        }
    }
    if unique.is_empty() {
        return Err(ImageError::NoTags);
    }
    Ok(unique)
}

/// The OCI annotations metadata-action writes, from what CodeBuild (or git) knows.
fn labels(
    config: &BuildPushConfig,
    commit: Option<&str>,
    version: &str,
) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    let oci = |key: &str| format!("org.opencontainers.image.{key}");
    if let Some(commit) = commit {
        labels.insert(oci("revision"), commit.to_owned());
    }
    let source = env_vars::get(env_vars::CODEBUILD_SOURCE_REPO_URL)
        .or_else(|| process::output("git", &["remote", "get-url", "origin"], &config.context));
    if let Some(source) = source {
        labels.insert(oci("source"), source);
    }
    labels.insert(oci("created"), created());
    labels.insert(oci("version"), version.to_owned());
    if let Some(id) = env_vars::get(env_vars::CODEBUILD_BUILD_ID) {
        labels.insert("com.amazonaws.codebuild.build-id".into(), id);
    }
    if let Some(arn) = env_vars::get(env_vars::CODEBUILD_BUILD_ARN) {
        labels.insert("com.amazonaws.codebuild.build-arn".into(), arn);
    }
    labels.extend(config.labels.clone());
    labels
}

/// RFC 3339; `SOURCE_DATE_EPOCH` makes it reproducible.
fn created() -> String {
    let seconds = env_vars::get(env_vars::SOURCE_DATE_EPOCH)
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or_default())
                .unwrap_or_default()
        });
    aws_sdk_ecr::primitives::DateTime::from_secs(seconds)
        .fmt(aws_sdk_ecr::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default()
}

/// The image's ID, after checking that its config says `platform`.
async fn check_platform(
    docker: &Docker,
    reference: &str,
    platform: &str,
) -> Result<String, ImageError> {
    let inspect = docker
        .inspect_image(reference)
        .await
        .map_err(engine_error("inspect the built image"))?;
    let mut found = format!(
        "{}/{}",
        inspect.os.unwrap_or_default(),
        inspect.architecture.unwrap_or_default()
    );
    let wants_variant = platform.split('/').count() == 3;
    if wants_variant && let Some(variant) = inspect.variant.filter(|v| !v.is_empty()) {
        found = format!("{found}/{variant}");
    }
    if found != platform {
        return Err(ImageError::Platform {
            expected: platform.to_owned(),
            found,
        });
    }
    Ok(inspect.id.unwrap_or_default())
}

/// The repository's last path component, as a container name.
fn default_container(repository: &str) -> Result<ContainerName, ImageError> {
    let name = repository.rsplit('/').next().unwrap_or(repository);
    ContainerName::parse(name).map_err(|reason| ImageError::Container {
        origin: format!("the container name taken from repository `{repository}`"),
        reason,
    })
}
