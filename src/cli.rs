//! The command line as clap sees it: raw values only. `config` validates them.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// `0.1.0 (commit 1a2b3c4d5e6f)`
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CB_STEP_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "cb-step",
    version = VERSION,
    about = "The steps of a CodeBuild container build, without the fragile shell.",
    long_about = "The steps of a CodeBuild container build, without the fragile shell.\n\n\
        cb-step replaces the `printf … > imagedefinitions.json`, `docker login` and \
        `docker build/tag/push` lines of a buildspec with commands that validate their \
        inputs, pin images by digest and write their outputs atomically.",
    after_help = "Logging goes to stderr. Set the level with -v/-q or CB_STEP_LOG \
        (e.g. CB_STEP_LOG=debug). Exit codes are listed in the README."
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Less log output (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(
        name = "ecr-login",
        about = "Log in to ECR through the AWS credential chain and write the Docker config"
    )]
    EcrLogin(EcrLoginArgs),
    #[command(
        name = "build-push",
        about = "Build through the Docker Engine API (linux/amd64), tag, push, and pin by digest"
    )]
    BuildPush(Box<BuildPushArgs>),
    #[command(
        about = "Run a buildspec here, with CodeBuild's phases, variables, log format and artifacts"
    )]
    Run(RunArgs),
    #[command(
        about = "Check a buildspec without running it: YAML, schema, and CodeBuild's traps, with line and column"
    )]
    Lint(LintArgs),
    #[command(
        name = "emit-imagedefs",
        about = "Write imagedefinitions.json, imageDetail.json, appspec.yaml and taskdef.json, pinned by digest"
    )]
    EmitImagedefs(Box<EmitArgs>),
}

#[derive(Debug, Args)]
#[command(
    long_about = "Log in to ECR: get an authorization token through the AWS SDK's credential chain \
        (environment, profile, web identity, CodeBuild's container credentials, EC2 metadata), \
        check it against the registry (GET /v2/), and write it to $DOCKER_CONFIG/config.json \
        (else ~/.docker/config.json), keeping every other entry.\n\n\
        Prints each registry host on stdout, so `REGISTRY=$(cb-step ecr-login)` works. The \
        password appears nowhere else, at any log level, and never on a command line.",
    after_help = "Examples:\n  \
        cb-step ecr-login\n  \
        cb-step ecr-login --registry-id 123456789012 --registry-id 210987654321\n  \
        cb-step ecr-login --password-stdout | helm registry login --username AWS --password-stdin $REGISTRY"
)]
pub struct EcrLoginArgs {
    /// AWS region. Default: AWS_REGION, AWS_DEFAULT_REGION, then the profile's region.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// The 12-digit account id of a registry to log in to. Repeatable. Default: the caller's own.
    #[arg(long = "registry-id", value_name = "ACCOUNT")]
    pub registry_ids: Vec<String>,

    /// Print the password instead of the host (for helm, oras, …). Only when asked.
    #[arg(long)]
    pub password_stdout: bool,

    /// Skip checking the token against the registry.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Run a CodeBuild build locally from its buildspec, with CodeBuild's semantics: \
        the phases install, pre_build, build and post_build with their transitions, finally and \
        on-failure; one shell session for version 0.2; CodeBuild's variables \
        (CODEBUILD_SRC_DIR, CODEBUILD_RESOLVED_SOURCE_VERSION, …); secrets masked as ***; and \
        the artifacts copied to --artifacts. The log is in CodeBuild's format.\n\n\
        Exit 0 only when the build SUCCEEDED; 10 when it FAILED; 3 when the buildspec is \
        invalid (nothing runs); 130/143 when stopped by SIGINT/SIGTERM.\n\n\
        A buildspec with `batch` runs its builds (build-list, build-graph, build-matrix), each in \
        its own copy of the source, up to --jobs at once; the batch's status follows CodeBuild's \
        rules (fast-fail, ignore-failure) and gives the exit code.",
    after_help = "Examples:\n  \
        cb-step run\n  \
        cb-step run --buildspec ci/buildspec.yml --env-file secrets.env --artifacts /tmp/out"
)]
pub struct RunArgs {
    /// The buildspec. Default: <SOURCE>/buildspec.yml.
    #[arg(long, value_name = "FILE")]
    pub buildspec: Option<PathBuf>,

    /// The source directory (CODEBUILD_SRC_DIR).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub source: PathBuf,

    /// Where the artifacts go. Default: <SOURCE>/.cb-step/artifacts.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,

    /// A variable NAME=VALUE, over everything else; also the value of a parameter-store or
    /// secrets-manager variable of that NAME. Repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// A file of NAME=VALUE lines (`#` comments; quotes are kept, as CodeBuild's local agent does).
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// Run the phases inside a container of this (local) image, with the source mounted at
    /// /codebuild/output/src1/src and the Docker socket mounted. Default: on this machine.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// Run a buildspec that has a `batch` section as one build, as a non-batch start-build
    /// does: the phases run, the batch's builds do not.
    #[arg(long)]
    pub no_batch: bool,

    /// How many builds of a batch run at once. Default: the number of CPUs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// Internal: this run is one build of a batch, and its settings come as JSON on stdin.
    #[arg(long, hide = true)]
    pub batch_child: bool,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Check a buildspec without running it: YAML syntax, the schema of versions 0.1 and \
        0.2, and the traps that fail builds late (an unquoted `: ` in a command, a misspelled \
        phase, bash syntax under sh, a folded `\\` continuation, `$VAR` in env.variables, \
        artifact paths that leave the source). Errors exit 3; warnings alone exit 0. \
        `cb-step run` makes the same checks first."
)]
pub struct LintArgs {
    /// The buildspec. Default: buildspec.yml.
    #[arg(value_name = "FILE", default_value = "buildspec.yml")]
    pub file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BuilderArg {
    /// BuildKit, through the Engine API's session (the default).
    Buildkit,
    /// The legacy builder (`DOCKER_BUILDKIT=0`).
    Classic,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Build an image through the Docker Engine API, tag it, push it once, add its other \
        tags with a manifest PUT (no second upload), and verify the pushed digest against the \
        registry.\n\n\
        The platform is pinned to linux/amd64 unless --platform says otherwise, and checked after \
        the build. For ECR repositories cb-step gets the token itself through the AWS credential \
        chain (no `ecr-login` needed). stdout gets the digest-pinned reference; the build record \
        in .cb-step/ gets the image, for `emit-imagedefs`.\n\n\
        Each image gets a content key: a sha256 of its context after .dockerignore, Dockerfile, \
        build args, target and platform, pushed as the tag `ctx-<12 hex>`. When the registry \
        already has that tag, nothing is built or uploaded: the new tags are added to the \
        existing manifest, and the record marks the image as reused (`--force` builds anyway).\n\n\
        `--images FILE` builds many images at once (--jobs at a time, one ECR login), from a \
        YAML list:\n\n  \
        - container: web          # default: the repository's last path component\n    \
          repository: shop/web    # required\n    \
          context: services/web   # default: the file's directory; paths are relative to it\n    \
          dockerfile: services/web/Dockerfile   # default: <context>/Dockerfile\n    \
          target: runtime\n    \
          build-args: {GO_VERSION: \"1.22\"}   # over --build-arg\n    \
          platform: linux/amd64   # default: --platform",
    after_help = "Examples:\n  \
        cb-step build-push --repository my-service --tag-from-commit --latest\n  \
        cb-step build-push --images images.yml --tag-from-commit --latest\n  \
        cb-step build-push app/ --file app/Dockerfile --repository 123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app --tag v1.2.3\n  \
        IMAGE=$(cb-step build-push --repository my-service --tag-from-build-number)"
)]
pub struct BuildPushArgs {
    /// The build context directory.
    #[arg(value_name = "CONTEXT", default_value = ".", conflicts_with = "images")]
    pub context: PathBuf,

    /// The Dockerfile. Default: `<CONTEXT>/Dockerfile`.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "PATH",
        conflicts_with = "images"
    )]
    pub dockerfile: Option<PathBuf>,

    /// Build every image listed in this YAML file (see above) instead of one.
    #[arg(long, value_name = "FILE", help_heading = "Many images")]
    pub images: Option<PathBuf>,

    /// How many images to build at once with --images. Default: the number of CPUs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), help_heading = "Many images")]
    pub jobs: Option<u16>,

    /// Build and push even when the registry has an image with the same content key.
    #[arg(long, help_heading = "Build")]
    pub force: bool,

    /// Print each image's content key (`CONTAINER ctx-<12 hex> <sha256>`) and stop: no daemon,
    /// no registry. Shows which services changed.
    #[arg(long, help_heading = "Build")]
    pub print_key: bool,

    /// An ECR repository in your default registry (`my-service`), or a full `HOST/NAME`.
    /// Default: $IMAGE_REPO_NAME.
    // Not clap's `env`: clap counts a value from the environment as given, and IMAGE_REPO_NAME,
    // set in many buildspecs, would then conflict with --images.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Where",
        conflicts_with = "images"
    )]
    pub repository: Option<String>,

    /// The container name recorded for emit-imagedefs. Default: $CONTAINER_NAME, else the
    /// repository's last path component.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Where",
        conflicts_with = "images"
    )]
    pub container: Option<String>,

    /// AWS region for ECR. Default: the region in the repository's host, else AWS_REGION.
    #[arg(long, value_name = "REGION", help_heading = "Where")]
    pub region: Option<String>,

    /// Tag with the first --tag-length characters of the commit
    /// (CODEBUILD_RESOLVED_SOURCE_VERSION, else `git rev-parse HEAD` of the context).
    #[arg(long, help_heading = "Tags")]
    pub tag_from_commit: bool,

    /// Length of the commit tag.
    #[arg(long, value_name = "N", default_value_t = 7, value_parser = clap::value_parser!(u8).range(4..=40), help_heading = "Tags")]
    pub tag_length: u8,

    /// Tag with $CODEBUILD_BUILD_NUMBER.
    #[arg(long, help_heading = "Tags")]
    pub tag_from_build_number: bool,

    /// An extra tag. Repeatable.
    #[arg(long = "tag", value_name = "TAG", help_heading = "Tags")]
    pub tags: Vec<String>,

    /// Also tag `latest`.
    #[arg(long, help_heading = "Tags")]
    pub latest: bool,

    /// Which builder runs the Dockerfile.
    #[arg(long, value_enum, default_value = "buildkit", help_heading = "Build")]
    pub builder: BuilderArg,

    /// Target platform; the built image's config is checked against it.
    #[arg(
        long,
        value_name = "OS/ARCH",
        default_value = "linux/amd64",
        help_heading = "Build"
    )]
    pub platform: String,

    /// Build this stage of a multi-stage Dockerfile.
    #[arg(
        long,
        value_name = "STAGE",
        help_heading = "Build",
        conflicts_with = "images"
    )]
    pub target: Option<String>,

    /// K=V, or K alone to take the value from the environment (skipped when unset, as docker does). Repeatable.
    #[arg(long = "build-arg", value_name = "K[=V]", help_heading = "Build")]
    pub build_args: Vec<String>,

    /// An image label K=V, on top of the OCI labels cb-step adds. Repeatable.
    #[arg(long = "label", value_name = "K=V", help_heading = "Build")]
    pub labels: Vec<String>,

    /// Do not use the build cache.
    #[arg(long, help_heading = "Build")]
    pub no_cache: bool,

    /// Always pull the base images.
    #[arg(long, help_heading = "Build")]
    pub pull: bool,

    /// An image to use as a cache source (classic builder: a local or pullable image). Repeatable.
    #[arg(long = "cache-from", value_name = "REF", help_heading = "Build")]
    pub cache_from: Vec<String>,

    /// Build and tag only. The record says the image was not pushed.
    #[arg(long, help_heading = "Output")]
    pub no_push: bool,

    /// The build record to update. Default: <source dir>/.cb-step/build-record.json.
    #[arg(
        long,
        value_name = "FILE",
        env = "CB_STEP_RECORD",
        help_heading = "Output"
    )]
    pub record: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PinArg {
    /// `repo@sha256:…`: deploy exactly what was pushed.
    Digest,
    /// `repo:tag`: deploy whatever the tag points at when the deploy runs.
    Tag,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Write the deploy artifacts of CodePipeline's ECS and CodeDeployToECS actions.\n\n\
        Images come from the build record that `cb-step build-push` leaves in \
        `.cb-step/build-record.json` under the source directory ($CODEBUILD_SRC_DIR, or the \
        current directory), or from `--image NAME=URI`. Every requested file is written, or \
        none is: nothing is changed on error. The paths written are printed on stdout.",
    after_help = "Examples:\n  \
        cb-step emit-imagedefs --image web=123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc1234\n  \
        cb-step emit-imagedefs --container web --image-detail --appspec --container-port 8080 \\\n      \
        --taskdef ecs/taskdef.template.json"
)]
pub struct EmitArgs {
    /// An image built some other way: CONTAINER=URI, e.g. web=1234.dkr.ecr.us-east-1.amazonaws.com/web:abc1234. Repeatable.
    #[arg(long = "image", value_name = "NAME=URI", help_heading = "Inputs")]
    pub images: Vec<String>,

    /// Pick this container, or rename the build record's only image to it.
    /// Default: $CONTAINER_NAME (applied to build-record images only).
    #[arg(long, value_name = "NAME", help_heading = "Inputs")]
    pub container: Option<String>,

    /// Read images from this build record. Without `--image`, the default record is read.
    #[arg(
        long,
        value_name = "FILE",
        env = "CB_STEP_RECORD",
        help_heading = "Inputs"
    )]
    pub record: Option<PathBuf>,

    /// Directory to write the files into (created if missing).
    #[arg(long, value_name = "DIR", help_heading = "Outputs")]
    pub output_dir: Option<PathBuf>,

    /// How to pin images. Default: by digest when the digest is known, else by tag.
    #[arg(long, value_enum, value_name = "HOW", help_heading = "Outputs")]
    pub pin: Option<PinArg>,

    /// Also write imageDetail.json (CodeDeployToECS); needs exactly one image.
    #[arg(long, help_heading = "Outputs")]
    pub image_detail: bool,

    /// Also write appspec.yaml for a CodeDeploy blue/green ECS deployment; needs exactly one image.
    #[arg(long, requires = "container_port", help_heading = "appspec.yaml")]
    pub appspec: bool,

    /// The port the load balancer sends traffic to.
    #[arg(long, value_name = "PORT", requires = "appspec", value_parser = clap::value_parser!(u16).range(1..), help_heading = "appspec.yaml")]
    pub container_port: Option<u16>,

    /// Fargate platform version, e.g. LATEST or 1.4.0.
    #[arg(
        long,
        value_name = "VERSION",
        requires = "appspec",
        help_heading = "appspec.yaml"
    )]
    pub platform_version: Option<String>,

    /// A lifecycle hook: NAME=FUNCTION, NAME one of BeforeInstall, AfterInstall,
    /// AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic. Repeatable.
    #[arg(
        long = "hook",
        value_name = "NAME=FUNCTION",
        requires = "appspec",
        help_heading = "appspec.yaml"
    )]
    pub hooks: Vec<String>,

    /// A subnet for the awsvpc network configuration. Repeatable.
    #[arg(
        long = "subnet",
        value_name = "ID",
        requires = "appspec",
        help_heading = "appspec.yaml"
    )]
    pub subnets: Vec<String>,

    /// A security group for the awsvpc network configuration. Repeatable.
    #[arg(
        long = "security-group",
        value_name = "ID",
        requires = "appspec",
        help_heading = "appspec.yaml"
    )]
    pub security_groups: Vec<String>,

    /// Whether tasks get a public IP (awsvpc network configuration).
    #[arg(long, value_name = "ENABLED|DISABLED", requires = "appspec", value_parser = ["ENABLED", "DISABLED"], help_heading = "appspec.yaml")]
    pub assign_public_ip: Option<String>,

    /// A capacity provider strategy item: NAME[,base=N][,weight=N]. Repeatable.
    #[arg(
        long = "capacity-provider",
        value_name = "SPEC",
        requires = "appspec",
        help_heading = "appspec.yaml"
    )]
    pub capacity_providers: Vec<String>,

    /// Also write taskdef.json from this task definition template, with the container's
    /// image set to `<IMAGE1_NAME>` (or the image URI with --render).
    #[arg(long, value_name = "TEMPLATE", help_heading = "taskdef.json")]
    pub taskdef: Option<PathBuf>,

    /// Put the resolved image URI into taskdef.json instead of the placeholder.
    #[arg(long, requires = "taskdef", help_heading = "taskdef.json")]
    pub render: bool,

    /// Placeholder name, without angle brackets, as in the action's Image1ContainerName.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "IMAGE1_NAME",
        conflicts_with = "render",
        requires = "taskdef",
        help_heading = "taskdef.json"
    )]
    pub placeholder: String,
}
