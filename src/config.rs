//! Command-line values turned, once, into validated settings. Nothing past here sees clap.

use std::path::{Path, PathBuf};

use std::collections::HashMap;

use crate::cli::{BuildPushArgs, BuilderArg, EcrLoginArgs, EmitArgs, PinArg, RunArgs};
use crate::env_vars;
use crate::image::build::Builder;
use crate::image::error::ImageError;
use crate::image::images_file;
use crate::manifest::appspec::{CapacityProvider, Hook, Network};
use crate::manifest::error::ManifestError;
use crate::manifest::selection::{ContainerChoice, Pin};
use crate::record::build_record::BuildRecord;
use crate::record::container_name::ContainerName;
use crate::registry::ecr::EcrSettings;
use crate::registry::reference::{ImageRef, is_valid_tag};
use crate::registry::secret::Redacted;
use crate::runner::error::RunError;

/// The source directory: `$CODEBUILD_SRC_DIR`, else the current directory (as an empty path,
/// so that messages show `.cb-step/…` rather than `./.cb-step/…`).
pub fn source_dir() -> PathBuf {
    env_vars::get(env_vars::CODEBUILD_SRC_DIR).map_or_else(PathBuf::new, PathBuf::from)
}

pub struct RunConfig {
    pub buildspec: PathBuf,
    /// Absolute.
    pub source: PathBuf,
    pub artifacts: PathBuf,
    /// `--env-file` lines, then `--env` flags: later entries win.
    pub env: Vec<(String, String)>,
    pub image: Option<String>,
    /// `--no-batch`: a `batch` section is not run.
    pub no_batch: bool,
    /// How many builds of a batch run at once.
    pub jobs: usize,
    /// Set when this run is one build of a batch that `cb-step run` started.
    pub child: Option<crate::runner::batch::child::ChildOf>,
}

/// `--env`/`--env-file` by name only: they carry parameter-store and secrets-manager values.
impl std::fmt::Debug for RunConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunConfig")
            .field("buildspec", &self.buildspec)
            .field("source", &self.source)
            .field("artifacts", &self.artifacts)
            .field("env", &Redacted::names(self.env.iter().map(|(k, _)| k)))
            .field("image", &self.image)
            .field("no_batch", &self.no_batch)
            .field("jobs", &self.jobs)
            .field("child", &self.child)
            .finish()
    }
}

impl RunConfig {
    pub fn from_args(args: RunArgs) -> Result<Self, RunError> {
        let source = std::path::absolute(&args.source)
            .and_then(|p| p.canonicalize())
            .map_err(|source| RunError::Source {
                path: args.source.clone(),
                source,
            })?;
        let mut env = Vec::new();
        if let Some(path) = &args.env_file {
            let text = std::fs::read_to_string(path).map_err(|source| RunError::Read {
                path: path.clone(),
                source,
            })?;
            env = parse_env_file(path, &text)?;
        }
        let child = if args.batch_child {
            let settings = crate::runner::batch::child::ChildSettings::read(std::io::stdin())?;
            env.extend(settings.env);
            Some(settings.of)
        } else {
            None
        };
        for arg in &args.env {
            match arg.split_once('=') {
                Some((name, value)) if !name.is_empty() => {
                    env.push((name.to_owned(), value.to_owned()))
                }
                _ => return Err(RunError::EnvArg { arg: arg.clone() }),
            }
        }
        Ok(RunConfig {
            buildspec: args
                .buildspec
                .unwrap_or_else(|| source.join("buildspec.yml")),
            artifacts: args.artifacts.unwrap_or_else(|| {
                source
                    .join(crate::record::build_record::RECORD_DIR)
                    .join("artifacts")
            }),
            source,
            env,
            image: args.image,
            no_batch: args.no_batch || child.is_some(),
            jobs: args.jobs.map_or_else(online_cpus, usize::from),
            child,
        })
    }
}

/// `--env-file` text: `NAME=VALUE` lines, blank lines and `#` comments skipped; `path` names
/// the file in errors.
pub fn parse_env_file(path: &Path, text: &str) -> Result<Vec<(String, String)>, RunError> {
    let mut env = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                env.push((name.trim().to_owned(), value.to_owned()));
            }
            _ => {
                return Err(RunError::EnvFile {
                    path: path.to_owned(),
                    line: index + 1,
                    text: line.to_owned(),
                });
            }
        }
    }
    Ok(env)
}

/// The CPUs online, at least 1. sysconf rather than `std::thread::available_parallelism`,
/// whose cgroup parsing would cost the static binary more than it is worth here.
fn online_cpus() -> usize {
    // SAFETY: sysconf(3) only reads system configuration.
    let count = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(count).unwrap_or(1).max(1)
}

/// Where the image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repository {
    /// A repository in the caller's default ECR registry; the host comes from the token.
    DefaultEcr { name: String },
    /// `host/name`, ECR or not.
    Full { host: String, name: String },
}

/// One image to build: from the command line, or one entry of `--images`.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    pub repository: Repository,
    pub container: ContainerName,
    pub platform: String,
    pub target: Option<String>,
    pub build_args: HashMap<String, String>,
}

#[derive(Debug)]
pub struct BuildPushConfig {
    /// In the order given; one unless `--images`.
    pub images: Vec<ImageSpec>,
    /// `--images` was given: output gets per-image prefixes and a summary.
    pub many: bool,
    pub jobs: usize,
    pub force: bool,
    pub print_key: bool,
    pub region: Option<String>,
    /// `Some(length)` with `--tag-from-commit`.
    pub commit_tag_length: Option<usize>,
    pub tag_from_build_number: bool,
    pub tags: Vec<String>,
    pub latest: bool,
    pub builder: Builder,
    pub labels: HashMap<String, String>,
    pub no_cache: bool,
    pub pull: bool,
    pub cache_from: Vec<String>,
    pub push: bool,
    pub record: PathBuf,
}

impl BuildPushConfig {
    pub fn from_args(args: BuildPushArgs) -> Result<Self, ImageError> {
        for tag in &args.tags {
            if !is_valid_tag(tag) {
                return Err(ImageError::InvalidTag { tag: tag.clone() });
            }
        }
        check_platform(&args.platform, "--platform")?;
        let mut build_args = HashMap::new();
        for arg in &args.build_args {
            let (key, value) = match arg.split_once('=') {
                Some((key, value)) => (key, Some(value.to_owned())),
                None => (arg.as_str(), std::env::var(arg).ok()),
            };
            if key.is_empty() {
                return Err(ImageError::BuildArg { arg: arg.clone() });
            }
            if let Some(value) = value {
                build_args.insert(key.to_owned(), value);
            }
        }
        let mut labels = HashMap::new();
        for arg in &args.labels {
            match arg.split_once('=') {
                Some((key, value)) if !key.is_empty() => {
                    labels.insert(key.to_owned(), value.to_owned());
                }
                _ => return Err(ImageError::Label { arg: arg.clone() }),
            }
        }
        let images = match &args.images {
            Some(path) => images_from_file(path, &args.platform, &build_args)?,
            None => vec![single_image(&args, build_args)?],
        };
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(BuildPushConfig {
            record: args
                .record
                .unwrap_or_else(|| BuildRecord::path_in(&source_dir())),
            images,
            many: args.images.is_some(),
            jobs: args.jobs.map_or(cpus, usize::from),
            force: args.force,
            print_key: args.print_key,
            region: args.region,
            commit_tag_length: args.tag_from_commit.then_some(usize::from(args.tag_length)),
            tag_from_build_number: args.tag_from_build_number,
            tags: args.tags,
            latest: args.latest,
            builder: match args.builder {
                BuilderArg::Buildkit => Builder::BuildKit,
                BuilderArg::Classic => Builder::Classic,
            },
            labels,
            no_cache: args.no_cache,
            pull: args.pull,
            cache_from: args.cache_from,
            push: !args.no_push,
        })
    }
}

fn single_image(
    args: &BuildPushArgs,
    build_args: HashMap<String, String>,
) -> Result<ImageSpec, ImageError> {
    let value = args
        .repository
        .clone()
        .or_else(|| env_vars::get(env_vars::IMAGE_REPO_NAME))
        .ok_or(ImageError::NoRepository)?;
    let repository = parse_repository(&value)?;
    let container = match (&args.container, env_vars::get(env_vars::CONTAINER_NAME)) {
        (Some(name), _) => Some((name.clone(), format!("`--container {name}`"))),
        (None, Some(name)) => Some((name.clone(), format!("`CONTAINER_NAME={name}`"))),
        (None, None) => None,
    };
    let container = match container {
        Some((name, origin)) => ContainerName::parse(&name)
            .map_err(|reason| ImageError::Container { origin, reason })?,
        None => default_container(&repository)?,
    };
    let dockerfile = args
        .dockerfile
        .clone()
        .unwrap_or_else(|| crate::image::context::under(&args.context, "Dockerfile"));
    Ok(ImageSpec {
        context: args.context.clone(),
        dockerfile,
        repository,
        container,
        platform: args.platform.clone(),
        target: args.target.clone(),
        build_args,
    })
}

/// `--images FILE`: the command line's `--platform` and `--build-arg` are defaults under each
/// entry's own.
fn images_from_file(
    path: &Path,
    platform: &str,
    build_args: &HashMap<String, String>,
) -> Result<Vec<ImageSpec>, ImageError> {
    let mut images: Vec<ImageSpec> = Vec::new();
    for (index, entry) in images_file::read(path)?.into_iter().enumerate() {
        let at = format!("`{}`, image {}", path.display(), index + 1);
        let repository = parse_repository(&entry.repository)?;
        let container = match &entry.container {
            Some(name) => ContainerName::parse(name).map_err(|reason| ImageError::Container {
                origin: format!("{at}: `container: {name}`"),
                reason,
            })?,
            None => default_container(&repository)?,
        };
        if images.iter().any(|i| i.container == container) {
            return Err(ImageError::DuplicateContainer {
                path: path.to_owned(),
                container: container.to_string(),
            });
        }
        let platform = entry.platform.unwrap_or_else(|| platform.to_owned());
        check_platform(&platform, &format!("{at}: `platform`"))?;
        let mut args = build_args.clone();
        args.extend(entry.build_args);
        let context = entry.context.unwrap_or_else(|| PathBuf::from("."));
        let dockerfile = entry
            .dockerfile
            .unwrap_or_else(|| crate::image::context::under(&context, "Dockerfile"));
        images.push(ImageSpec {
            context,
            dockerfile,
            repository,
            container,
            platform,
            target: entry.target,
            build_args: args,
        });
    }
    Ok(images)
}

fn parse_repository(value: &str) -> Result<Repository, ImageError> {
    let image = ImageRef::parse(value).map_err(|reason| ImageError::Repository {
        value: value.to_owned(),
        reason,
    })?;
    if image.tag().is_some() || image.digest().is_some() {
        return Err(ImageError::Repository {
            value: value.to_owned(),
            reason: crate::registry::reference::ReferenceError::Tag {
                reference: value.to_owned(),
                tag: "(a tag or digest belongs in `--tag`, not in `--repository`)".into(),
            },
        });
    }
    Ok(match image.registry() {
        Some(host) => Repository::Full {
            host: host.to_owned(),
            name: image.repository().to_owned(),
        },
        None => Repository::DefaultEcr {
            name: image.repository().to_owned(),
        },
    })
}

fn check_platform(value: &str, origin: &str) -> Result<(), ImageError> {
    let parts: Vec<&str> = value.split('/').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        return Err(ImageError::PlatformSyntax {
            origin: origin.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// The repository's last path component, as a container name.
fn default_container(repository: &Repository) -> Result<ContainerName, ImageError> {
    let (Repository::DefaultEcr { name } | Repository::Full { name, .. }) = repository;
    let last = name.rsplit('/').next().unwrap_or(name);
    ContainerName::parse(last).map_err(|reason| ImageError::Container {
        origin: format!("the container name taken from repository `{name}`"),
        reason,
    })
}

#[derive(Debug)]
pub struct EcrLoginConfig {
    pub ecr: EcrSettings,
    pub verify: bool,
    pub password_stdout: bool,
}

impl EcrLoginConfig {
    pub fn from_args(args: EcrLoginArgs) -> Self {
        EcrLoginConfig {
            ecr: EcrSettings {
                region: args.region,
                registry_ids: args.registry_ids,
            },
            verify: !args.no_verify,
            password_stdout: args.password_stdout,
        }
    }
}

#[derive(Debug)]
pub struct EmitConfig {
    /// `(argument as given, container, image)` for each `--image`.
    pub images: Vec<(String, ContainerName, ImageRef)>,
    /// The build record to read, if any.
    pub record: Option<PathBuf>,
    pub container: Option<ContainerChoice>,
    pub output_dir: PathBuf,
    pub pin: Option<Pin>,
    pub image_detail: bool,
    pub appspec: Option<AppSpecSettings>,
    pub taskdef: Option<TaskdefSettings>,
}

/// Everything of appspec.yaml but the container, which is chosen from the images.
#[derive(Debug)]
pub struct AppSpecSettings {
    pub container_port: u16,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    pub capacity_providers: Vec<CapacityProvider>,
    pub hooks: Vec<(Hook, String)>,
}

#[derive(Debug)]
pub struct TaskdefSettings {
    pub template: PathBuf,
    /// `None` renders the image URI into the file.
    pub placeholder: Option<String>,
}

impl EmitConfig {
    pub fn from_args(args: EmitArgs) -> Result<Self, ManifestError> {
        let images = args
            .images
            .iter()
            .map(|arg| parse_image_arg(arg))
            .collect::<Result<Vec<_>, _>>()?;
        // `--image` alone means "exactly these images"; a record is merged in only when named.
        let record = match (&args.record, images.is_empty()) {
            (Some(path), _) => Some(path.clone()),
            (None, true) => Some(BuildRecord::path_in(&source_dir())),
            (None, false) => None,
        };
        let container = match args.container {
            Some(name) => Some(ContainerChoice {
                name: parse_container(&name, format!("`--container {name}`"))?,
                from_env: false,
            }),
            None => env_vars::get(env_vars::CONTAINER_NAME)
                .map(|name| {
                    parse_container(&name, format!("`CONTAINER_NAME={name}`")).map(|name| {
                        ContainerChoice {
                            name,
                            from_env: true,
                        }
                    })
                })
                .transpose()?,
        };
        let appspec = match args.container_port.filter(|_| args.appspec) {
            Some(container_port) => Some(AppSpecSettings {
                container_port,
                platform_version: args.platform_version,
                network: network(args.subnets, args.security_groups, args.assign_public_ip)?,
                capacity_providers: args
                    .capacity_providers
                    .iter()
                    .map(|arg| parse_capacity_provider(arg))
                    .collect::<Result<_, _>>()?,
                hooks: parse_hooks(&args.hooks)?,
            }),
            None => None,
        };
        Ok(EmitConfig {
            images,
            record,
            container,
            output_dir: args.output_dir.unwrap_or_default(),
            pin: args.pin.map(|p| match p {
                PinArg::Digest => Pin::Digest,
                PinArg::Tag => Pin::Tag,
            }),
            image_detail: args.image_detail,
            appspec,
            taskdef: args.taskdef.map(|template| TaskdefSettings {
                template,
                placeholder: (!args.render).then(|| format!("<{}>", args.placeholder)),
            }),
        })
    }
}

fn parse_container(name: &str, origin: String) -> Result<ContainerName, ManifestError> {
    ContainerName::parse(name).map_err(|reason| ManifestError::ContainerName { origin, reason })
}

fn parse_image_arg(arg: &str) -> Result<(String, ContainerName, ImageRef), ManifestError> {
    let Some((name, uri)) = arg.split_once('=') else {
        return Err(ManifestError::ImageArgSyntax {
            arg: arg.to_owned(),
        });
    };
    let container = parse_container(name, format!("`--image {arg}`"))?;
    let image = ImageRef::parse(uri).map_err(|reason| ManifestError::Reference {
        arg: arg.to_owned(),
        reason,
    })?;
    if image.tag().is_none() && image.digest().is_none() {
        return Err(ManifestError::Unpinned {
            arg: arg.to_owned(),
        });
    }
    Ok((arg.to_owned(), container, image))
}

fn parse_hooks(args: &[String]) -> Result<Vec<(Hook, String)>, ManifestError> {
    let mut hooks: Vec<(Hook, String)> = Vec::new();
    for arg in args {
        let problem = |problem: &str| ManifestError::Hook {
            arg: arg.clone(),
            problem: problem.to_owned(),
        };
        let (name, function) = arg
            .split_once('=')
            .ok_or_else(|| problem("not of the form NAME=FUNCTION"))?;
        let hook: Hook = name
            .parse()
            .map_err(|()| problem(&format!("unknown hook `{name}`")))?;
        if function.is_empty() {
            return Err(problem("the function name is empty"));
        }
        if hooks.iter().any(|(h, _)| *h == hook) {
            return Err(problem(&format!("`{hook}` is given more than once")));
        }
        hooks.push((hook, function.to_owned()));
    }
    hooks.sort_by_key(|(hook, _)| *hook);
    Ok(hooks)
}

fn network(
    subnets: Vec<String>,
    security_groups: Vec<String>,
    assign_public_ip: Option<String>,
) -> Result<Option<Network>, ManifestError> {
    if subnets.is_empty() && security_groups.is_empty() && assign_public_ip.is_none() {
        return Ok(None);
    }
    let mut missing = Vec::new();
    if subnets.is_empty() {
        missing.push("`--subnet`");
    }
    if security_groups.is_empty() {
        missing.push("`--security-group`");
    }
    if assign_public_ip.is_none() {
        missing.push("`--assign-public-ip`");
    }
    if !missing.is_empty() {
        return Err(ManifestError::NetworkIncomplete { missing });
    }
    Ok(Some(Network {
        subnets,
        security_groups,
        assign_public_ip: assign_public_ip.as_deref() == Some("ENABLED"),
    }))
}

fn parse_capacity_provider(arg: &str) -> Result<CapacityProvider, ManifestError> {
    let problem = |problem: String| ManifestError::CapacityProvider {
        arg: arg.to_owned(),
        problem,
    };
    let mut parts = arg.split(',');
    let name = parts.next().unwrap_or_default();
    if name.is_empty() || name.contains('=') {
        return Err(problem("the capacity provider name comes first".into()));
    }
    let mut provider = CapacityProvider {
        base: None,
        capacity_provider: name.to_owned(),
        weight: None,
    };
    for part in parts {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| problem(format!("`{part}` is not KEY=N")))?;
        let number: u32 = value
            .parse()
            .map_err(|_| problem(format!("`{value}` is not a whole number")))?;
        match key {
            "base" if number <= 100_000 => provider.base = Some(number),
            "weight" if number <= 1000 => provider.weight = Some(number),
            "base" | "weight" => {
                return Err(problem(format!(
                    "`{key}` is out of range (base 0-100000, weight 0-1000)"
                )));
            }
            _ => return Err(problem(format!("unknown key `{key}` (use base or weight)"))),
        }
    }
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_config_debug_hides_env_values() {
        let config = RunConfig {
            buildspec: "buildspec.yml".into(),
            source: "/src".into(),
            artifacts: "out".into(),
            env: vec![("API_KEY".into(), "sk-live-1234".into())],
            image: None,
            no_batch: false,
            jobs: 1,
            child: None,
        };
        let shown = format!("{config:?}");
        assert!(shown.contains(r#"{"API_KEY": <redacted>}"#), "{shown}");
        assert!(!shown.contains("sk-live-1234"), "{shown}");
    }

    #[test]
    fn capacity_provider_spec() {
        let p = parse_capacity_provider("FARGATE_SPOT,base=1,weight=2").unwrap();
        assert_eq!(
            (p.capacity_provider.as_str(), p.base, p.weight),
            ("FARGATE_SPOT", Some(1), Some(2))
        );
        assert!(parse_capacity_provider("FARGATE,size=2").is_err());
        assert!(parse_capacity_provider("weight=2").is_err());
        assert!(parse_capacity_provider("FARGATE,weight=x").is_err());
    }

    #[test]
    fn hooks_are_validated_and_ordered() {
        let hooks = parse_hooks(&["AfterAllowTraffic=b".into(), "BeforeInstall=a".into()]).unwrap();
        assert_eq!(hooks[0].0, Hook::BeforeInstall);
        assert!(parse_hooks(&["BeforeDeploy=x".into()]).is_err());
        assert!(parse_hooks(&["BeforeInstall=".into()]).is_err());
        assert!(parse_hooks(&["BeforeInstall=a".into(), "BeforeInstall=b".into()]).is_err());
    }
}
