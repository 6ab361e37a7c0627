//! `cb-step build-push`: context → build → tag → push once → retag by manifest → verify → record.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::TagImageOptionsBuilder;
use futures_util::{StreamExt as _, stream};
use tokio::sync::Semaphore;

use crate::config::{BuildPushConfig, ImageSpec, Repository};
use crate::error::Error;
use crate::image::build::{self, BuildRequest, Builder};
use crate::image::content_key::{self, ContentKey, KeyInputs};
use crate::image::context::Context;
use crate::image::engine::{self, engine_error};
use crate::image::error::ImageError;
use crate::image::push;
use crate::record::build_record::{BuildRecord, RecordedImage};
use crate::registry::client::{Manifest, RegistryClient, RegistryError};
use crate::registry::credentials::RegistryCredentials;
use crate::registry::ecr::EcrSession;
use crate::registry::reference::is_valid_tag;
use crate::registry::{digest::Digest, ecr_host};
use crate::{docker_config, env_vars, process, report};

/// How long a stopped run waits for blocking work (a context file being read) before exiting.
const STOP_GRACE: Duration = Duration::from_secs(2);

pub fn execute(config: BuildPushConfig) -> Result<(), Error> {
    // From here on SIGINT and SIGTERM are noted, not the default death halfway through.
    process::catch_signals();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let result = runtime.block_on(async {
        tokio::select! {
            biased;
            result = build_push(config) => result,
            // Dropping the work closes its connections, and the daemon cancels what they
            // started: a build (the classic builder kills and removes its RUN container) or a
            // push. The record is written after the pushes, so none is.
            signal = process::stop_signal() => Err(Error::Stopped { signal }),
        }
    });
    runtime.shutdown_timeout(STOP_GRACE);
    result
}

/// Where the image goes, and with which credentials.
struct Target {
    host: String,
    name: String,
    credentials: Option<RegistryCredentials>,
    immutable: bool,
    /// Shared by every image of the registry.
    client: Arc<RegistryClient>,
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

/// Images whose content keys are looked up at once, whatever `--jobs` says.
const LOOKUPS: usize = 16;

/// What became of one image, and its build record entry.
struct Shipped {
    reference: String,
    digest: Option<Digest>,
    reused: bool,
    entry: RecordedImage,
}

async fn build_push(config: BuildPushConfig) -> Result<(), Error> {
    let started = Instant::now();
    if config.print_key {
        for image in &config.images {
            let (_, _, key) = content(config.builder, image)?;
            println!("{} {} {}", image.container, key.tag(), key.hex());
        }
        return Ok(());
    }
    let targets = resolve_targets(&config).await?;
    let docker = engine::connect().await?;
    let watch = engine::Watch::start(&docker);
    let config = &config;
    if !config.many {
        let builds = Semaphore::new(1);
        let on = Engine {
            docker: &docker,
            watch: &watch,
        };
        let shipped = ship(config, on, &builds, &config.images[0], &targets[0]).await?;
        BuildRecord::upsert(&config.record, shipped.entry)?;
        println!("{}", shipped.reference);
        return Ok(());
    }
    report::line(&format!(
        "build-push: {} images from the images file, {} at a time",
        config.images.len(),
        config.jobs
    ));
    // --jobs bounds the builds; looking up content keys and retagging reused images is a few
    // small requests each, so more of them run at once.
    let builds = Semaphore::new(config.jobs);
    let mut outcomes: Vec<(usize, Result<Shipped, Error>, Duration)> =
        stream::iter(config.images.iter().zip(&targets).enumerate())
            .map(|(index, (image, target))| {
                let builds = &builds;
                let on = Engine {
                    docker: &docker,
                    watch: &watch,
                };
                async move {
                    let started = Instant::now();
                    let prefix = format!("[{}] ", image.container);
                    let result =
                        report::prefixed(prefix.clone(), ship(config, on, builds, image, target))
                            .await;
                    if let Err(error) = &result {
                        for line in error.render().lines() {
                            eprintln!("{prefix}{line}");
                        }
                    }
                    (index, result, started.elapsed())
                }
            })
            .buffer_unordered(config.jobs.max(LOOKUPS))
            .collect()
            .await;
    outcomes.sort_by_key(|(index, ..)| *index);
    // One write for every image that was pushed, even when others failed.
    let entries: Vec<RecordedImage> = outcomes
        .iter()
        .filter_map(|(_, result, _)| result.as_ref().ok().map(|s| s.entry.clone()))
        .collect();
    if !entries.is_empty() {
        BuildRecord::upsert_all(&config.record, entries)?;
    }
    summary(config, &outcomes, started.elapsed());
    let mut failed = Vec::new();
    let mut code = None;
    for (index, result, _) in &outcomes {
        match result {
            Ok(shipped) => println!("{}", shipped.reference),
            Err(error) => {
                failed.push(config.images[*index].container.to_string());
                code.get_or_insert(error.exit_code());
            }
        }
    }
    match code {
        None => Ok(()),
        Some(code) => Err(ImageError::ImagesFailed {
            failed: failed.len(),
            total: outcomes.len(),
            names: failed.join(", "),
            code,
        }
        .into()),
    }
}

/// The table that ends a run of `--images`.
fn summary(
    config: &BuildPushConfig,
    outcomes: &[(usize, Result<Shipped, Error>, Duration)],
    total: Duration,
) {
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .map(|(index, result, took)| {
            let container = config.images[*index].container.to_string();
            let (image, result) = match result {
                Ok(s) if s.reused => (s.reference.clone(), "reused"),
                Ok(s) if s.digest.is_some() => (s.reference.clone(), "pushed"),
                Ok(s) => (s.reference.clone(), "built"),
                Err(_) => ("-".to_owned(), "FAILED"),
            };
            [
                container,
                result.to_owned(),
                format!("{:.1}s", took.as_secs_f64()),
                image,
            ]
        })
        .collect();
    let header = ["CONTAINER", "RESULT", "TIME", "IMAGE"].map(str::to_owned);
    let mut widths = [0; 3];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let reused = rows.iter().filter(|r| r[1] == "reused").count();
    let failed = rows.iter().filter(|r| r[1] == "FAILED").count();
    report::line(&format!(
        "build-push: {} images in {:.1}s: {} built, {reused} reused, {failed} failed",
        rows.len(),
        total.as_secs_f64(),
        rows.len() - reused - failed
    ));
    for row in std::iter::once(&header).chain(&rows) {
        report::line(&format!(
            "  {:w0$}  {:w1$}  {:>w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
}

/// The image's context, its Dockerfile's bytes, and its content key.
fn content(builder: Builder, image: &ImageSpec) -> Result<(Context, Vec<u8>, ContentKey), Error> {
    let context = Context::scan(
        &image.context,
        &image.dockerfile,
        builder == Builder::Classic,
    )?;
    let dockerfile =
        std::fs::read(&image.dockerfile).map_err(|source| ImageError::ContextRead {
            path: image.dockerfile.clone(),
            source,
        })?;
    let hashing = Instant::now();
    let inputs = KeyInputs {
        dockerfile: &dockerfile,
        build_args: &image.build_args,
        target: image.target.as_deref(),
        platform: &image.platform,
    };
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let key = content_key::compute(&context, &inputs, threads)?;
    tracing::debug!(
        "content key {} of {} entries in {:.3}s",
        key.hex(),
        context.len(),
        hashing.elapsed().as_secs_f64()
    );
    Ok((context, dockerfile, key))
}

/// The daemon, and the watch on whether it is still there.
#[derive(Clone, Copy)]
struct Engine<'a> {
    docker: &'a Docker,
    watch: &'a engine::Watch,
}

/// One image: context → content key → (reuse | build → tag → push → verify) → record.
async fn ship(
    config: &BuildPushConfig,
    Engine { docker, watch }: Engine<'_>,
    builds: &Semaphore,
    image: &ImageSpec,
    target: &Target,
) -> Result<Shipped, Error> {
    let commit = resolve_commit(&image.context);
    let mut tags = tags(config, &image.context, commit.as_deref())?;
    let (mut context, original, key) =
        tokio::task::block_in_place(|| content(config.builder, image))?;
    if !tags.contains(&key.tag()) {
        tags.push(key.tag());
    }
    if config.push && !config.force {
        let registry = &*target.client;
        let found = match registry.manifest(&target.name, &key.tag()).await {
            Ok(found) => found,
            // Credentials that may push but not pull, or none at all: the push says which.
            Err(RegistryError::Status {
                status: 401 | 403, ..
            }) => {
                tracing::debug!("cannot look up {}; building", key.tag());
                None
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(manifest) = found {
            let digest = reuse(target, registry, &tags, &key, &manifest).await?;
            return Ok(Shipped {
                reference: format!("{}@{digest}", target.reference()),
                entry: entry(image, target, &tags, Some(&digest), true, commit),
                digest: Some(digest),
                reused: true,
            });
        }
    }

    let _slot = builds
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let mut labels = labels(config, &image.context, commit.as_deref(), &tags[0]);
    // Without --target the labelled stage is the last one, where an appended LABEL lands.
    if config.builder == Builder::Classic
        && image.target.is_none()
        && let Some(labelled) = crate::image::labels::append(&original, &labels)
    {
        context.replace_dockerfile(labelled, true)?;
        labels.clear();
    }
    let primary = format!("{}:{}", target.reference(), tags[0]);
    report::line(&format!(
        "build-push: building {primary} for {} with {} ({} entries in the context, content key {})",
        image.platform,
        match config.builder {
            Builder::BuildKit => "BuildKit",
            Builder::Classic => "the classic builder",
        },
        context.len(),
        key.tag()
    ));

    let mut registry_auth = HashMap::new();
    if target.credentials.is_some() {
        registry_auth.insert(target.host.clone(), target.docker_credentials());
    }
    let request = BuildRequest {
        tag: primary.clone(),
        platform: image.platform.clone(),
        target: image.target.clone(),
        build_args: image.build_args.clone(),
        labels,
        no_cache: config.no_cache,
        pull: config.pull,
        cache_from: config.cache_from.clone(),
        builder: config.builder,
        registry_auth,
    };
    let started = Instant::now();
    let building = async {
        build::build(docker, context, &request).await?;
        let image_id = check_platform(docker, &primary, &image.platform).await?;
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
        Ok::<_, ImageError>(image_id)
    };
    let image_id = watch
        .during(&format!("building `{primary}`"), building)
        .await?;

    let digest = if config.push {
        let pushing = publish(docker, target, &tags, &image_id);
        Some(
            watch
                .during(&format!("pushing `{primary}`"), pushing)
                .await?,
        )
    } else {
        report::line(&format!("build-push: not pushed (--no-push): {primary}"));
        None
    };
    Ok(Shipped {
        entry: entry(image, target, &tags, digest.as_ref(), false, commit),
        reference: match &digest {
            Some(digest) => format!("{}@{digest}", target.reference()),
            None => primary,
        },
        digest,
        reused: false,
    })
}

fn entry(
    image: &ImageSpec,
    target: &Target,
    tags: &[String],
    digest: Option<&Digest>,
    reused: bool,
    commit: Option<String>,
) -> RecordedImage {
    RecordedImage {
        container: image.container.clone(),
        registry: target.host.clone(),
        repository: target.name.clone(),
        tags: tags.to_vec(),
        digest: digest.cloned(),
        platform: image.platform.clone(),
        pushed: digest.is_some(),
        reused,
        commit,
        build_id: env_vars::get(env_vars::CODEBUILD_BUILD_ID),
    }
}

/// The registry has an image built from the same content: give it this build's tags with
/// manifest PUTs, and upload nothing. On an immutable repository a tag that already holds
/// this image is left alone, and one that holds another image stops the run.
async fn reuse(
    target: &Target,
    registry: &RegistryClient,
    tags: &[String],
    key: &ContentKey,
    manifest: &Manifest,
) -> Result<Digest, Error> {
    let digest = manifest.digest();
    let reference = format!("{}:{}", target.reference(), key.tag());
    if manifest.is_index() {
        return Err(ImageError::NotSingleManifest {
            reference,
            media_type: manifest.media_type.clone(),
        }
        .into());
    }
    report::line(&format!(
        "build-push: {reference} already holds this content ({digest}); not building, tagging it"
    ));
    let started = Instant::now();
    let mut added = Vec::new();
    for tag in tags.iter().filter(|t| **t != key.tag()) {
        if target.immutable
            && let Some(existing) = registry.manifest(&target.name, tag).await?
        {
            if existing.digest() == digest {
                continue;
            }
            return Err(ImageError::ImmutableTag {
                repository: target.name.clone(),
                tag: tag.clone(),
                existing: existing.digest().to_string(),
            }
            .into());
        }
        registry.put_manifest(&target.name, tag, manifest).await?;
        added.push(tag.as_str());
    }
    report::line(&format!(
        "build-push: reused {}@{digest}; tagged {} by manifest in {:.2}s",
        target.reference(),
        if added.is_empty() {
            "nothing new".to_owned()
        } else {
            added.join(", ")
        },
        started.elapsed().as_secs_f64()
    ));
    Ok(digest)
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
    let registry = &*target.client;
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

/// The registry and repository of every image, with one ECR token per registry and one
/// session per region however many images share them.
async fn resolve_targets(config: &BuildPushConfig) -> Result<Vec<Target>, Error> {
    let mut sessions: HashMap<Option<String>, EcrSession> = HashMap::new();
    let mut registries: HashMap<String, (Option<RegistryCredentials>, Arc<RegistryClient>)> =
        HashMap::new();
    let mut default_host = None;
    // host, repository, and the session (by region) that answers for it when it is ECR.
    let mut wanted: Vec<(String, String, Option<Option<String>>)> = Vec::new();
    for image in &config.images {
        let (host, name, session) = match &image.repository {
            Repository::DefaultEcr { name } => {
                let region = config.region.clone();
                if default_host.is_none() {
                    let token = session(&mut sessions, &region)
                        .await?
                        .tokens(&[])
                        .await?
                        .remove(0);
                    let client = RegistryClient::new(&token.host, Some(token.credentials.clone()))?;
                    registries.insert(
                        token.host.clone(),
                        (Some(token.credentials), Arc::new(client)),
                    );
                    default_host = Some(token.host);
                }
                let host = default_host.clone().expect("set above");
                (host, name.clone(), Some(region))
            }
            Repository::Full { host, name } => match ecr_host::parse(host) {
                Some(ecr) => {
                    let region = Some(config.region.clone().unwrap_or(ecr.region));
                    if !registries.contains_key(host) {
                        let token = session(&mut sessions, &region)
                            .await?
                            .tokens(std::slice::from_ref(&ecr.account))
                            .await?
                            .remove(0);
                        let client = RegistryClient::new(host, Some(token.credentials.clone()))?;
                        registries
                            .insert(host.clone(), (Some(token.credentials), Arc::new(client)));
                    }
                    (host.clone(), name.clone(), Some(region))
                }
                None => {
                    if !registries.contains_key(host) {
                        let credentials = docker_config::credentials_for(host)?;
                        let client = RegistryClient::new(host, credentials.clone())?;
                        registries.insert(host.clone(), (credentials, Arc::new(client)));
                    }
                    (host.clone(), name.clone(), None)
                }
            },
        };
        wanted.push((host, name, session));
    }
    // One DescribeRepositories per registry (per 100 repositories), not one per image.
    let mut by_registry: HashMap<(&Option<String>, String), Vec<String>> = HashMap::new();
    for (host, name, session) in &wanted {
        if let Some(region) = session {
            let account = ecr_host::parse(host).map(|h| h.account).unwrap_or_default();
            let names = by_registry.entry((region, account)).or_default();
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    let mut known: HashMap<(String, String), Option<bool>> = HashMap::new();
    for ((region, account), names) in &by_registry {
        let found = sessions[*region]
            .repositories_are_immutable(account, names)
            .await?;
        known.extend(found.into_iter().map(|(n, i)| ((account.clone(), n), i)));
    }
    let mut immutable = Vec::new();
    for (host, name, session) in &wanted {
        if session.is_none() {
            immutable.push(false);
            continue;
        }
        let account = ecr_host::parse(host).map(|h| h.account).unwrap_or_default();
        match known.get(&(account, name.clone())).copied().flatten() {
            Some(flag) => immutable.push(flag),
            None => {
                return Err(ImageError::UnknownRepository {
                    repository: name.clone(),
                    registry: host.clone(),
                }
                .into());
            }
        }
    }
    Ok(wanted
        .into_iter()
        .zip(immutable)
        .map(|((host, name, _), immutable)| {
            let (credentials, client) = registries[&host].clone();
            Target {
                host,
                name,
                credentials,
                immutable,
                client,
            }
        })
        .collect())
}

async fn session<'a>(
    sessions: &'a mut HashMap<Option<String>, EcrSession>,
    region: &Option<String>,
) -> Result<&'a EcrSession, Error> {
    if !sessions.contains_key(region) {
        let session = EcrSession::connect(region.as_deref()).await?;
        sessions.insert(region.clone(), session);
    }
    Ok(&sessions[region])
}

/// `CODEBUILD_RESOLVED_SOURCE_VERSION`, else the context's git HEAD.
fn resolve_commit(context: &Path) -> Option<String> {
    env_vars::get(env_vars::CODEBUILD_RESOLVED_SOURCE_VERSION)
        .or_else(|| process::output("git", &["rev-parse", "HEAD"], context))
}

fn tags(
    config: &BuildPushConfig,
    context: &Path,
    commit: Option<&str>,
) -> Result<Vec<String>, ImageError> {
    let mut tags = Vec::new();
    if let Some(length) = config.commit_tag_length {
        let commit = commit.ok_or_else(|| ImageError::NoCommit {
            context: context.to_owned(),
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
    context: &Path,
    commit: Option<&str>,
    version: &str,
) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    let oci = |key: &str| format!("org.opencontainers.image.{key}");
    if let Some(commit) = commit {
        labels.insert(oci("revision"), commit.to_owned());
    }
    let source = env_vars::get(env_vars::CODEBUILD_SOURCE_REPO_URL)
        .or_else(|| process::output("git", &["remote", "get-url", "origin"], context));
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
