//! One image build through the Engine API, with the builder's output as plain lines.

use std::collections::{HashMap, HashSet};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures_util::StreamExt;

use super::context::Context;
use super::error::ImageError;
use crate::registry::secret::Redacted;
use crate::report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    BuildKit,
    Classic,
}

#[derive(Clone)]
pub struct BuildRequest {
    /// The reference the image is tagged with when built: `registry/repository:tag`.
    pub tag: String,
    pub platform: String,
    pub target: Option<String>,
    pub build_args: HashMap<String, String>,
    pub labels: HashMap<String, String>,
    pub no_cache: bool,
    pub pull: bool,
    pub cache_from: Vec<String>,
    pub builder: Builder,
    /// For `FROM` lines that name private registries.
    pub registry_auth: HashMap<String, DockerCredentials>,
}

/// bollard's `DockerCredentials` derives `Debug`, password and all: registries by name only.
impl std::fmt::Debug for BuildRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildRequest")
            .field("tag", &self.tag)
            .field("platform", &self.platform)
            .field("target", &self.target)
            .field("build_args", &self.build_args)
            .field("labels", &self.labels)
            .field("no_cache", &self.no_cache)
            .field("pull", &self.pull)
            .field("cache_from", &self.cache_from)
            .field("builder", &self.builder)
            .field("registry_auth", &Redacted::names(self.registry_auth.keys()))
            .finish()
    }
}

/// Builds and returns nothing: the image is found afterwards by its tag.
pub async fn build(
    docker: &Docker,
    context: Context,
    request: &BuildRequest,
) -> Result<(), ImageError> {
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(&context.dockerfile_name)
        .t(&request.tag)
        .platform(&request.platform)
        .rm(true)
        .forcerm(true)
        .nocache(request.no_cache)
        .buildargs(&request.build_args)
        .labels(&request.labels);
    if let Some(target) = &request.target {
        options = options.target(target);
    }
    if request.pull {
        options = options.pull("1");
    }
    if !request.cache_from.is_empty() {
        options = options.cachefrom(&request.cache_from);
    }
    options = match request.builder {
        Builder::Classic => options.version(BuilderVersion::BuilderV1),
        Builder::BuildKit => {
            let options = options.version(BuilderVersion::BuilderBuildKit);
            // bollard has `session` only with its `buildkit` feature.
            #[cfg(feature = "buildkit")]
            let options = options.session(&session_id());
            options
        }
    };
    let mut chunks = context.stream();
    let body = futures_util::stream::poll_fn(move |cx| chunks.poll_recv(cx));
    let mut stream = docker.build_image(
        options.build(),
        Some(request.registry_auth.clone()),
        Some(bollard::body_try_stream(body)),
    );
    let mut output = BuildOutput::default();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => output.record(info),
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(output.failure(error));
            }
            Err(e) => {
                return Err(ImageError::Engine {
                    action: "build the image".into(),
                    detail: crate::registry::login_error::Detail(e.to_string()),
                });
            }
        }
    }
    match output.vertex_error.take() {
        Some((step, message)) => Err(ImageError::Build {
            step: Some(step),
            message,
        }),
        None => Ok(()),
    }
}

#[cfg(feature = "buildkit")]
fn session_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("cb-step-{}-{nanos:x}", std::process::id())
}

/// Turns the classic builder's text and BuildKit's status messages into lines, and remembers
/// the step that was running when something failed.
#[derive(Default)]
struct BuildOutput {
    /// Classic: the last `Step N/M : …` line.
    step: Option<String>,
    /// BuildKit: vertex digests already announced, and their numbers.
    #[cfg(feature = "buildkit")]
    vertexes: HashMap<String, (usize, String)>,
    done: HashSet<String>,
    vertex_error: Option<(String, String)>,
    partial: String,
}

impl BuildOutput {
    fn record(&mut self, info: bollard::models::BuildInfo) {
        if let Some(text) = info.stream {
            self.partial.push_str(&text);
            while let Some(end) = self.partial.find('\n') {
                let line: String = self.partial.drain(..=end).collect();
                let line = line.trim_end();
                if let Some(step) = line.strip_prefix("Step ") {
                    self.step = Some(step.split_once(" : ").map_or(step, |(_, s)| s).to_owned());
                }
                if !line.is_empty() {
                    report::line(line);
                }
            }
        }
        #[cfg(feature = "buildkit")]
        if let Some(bollard::models::BuildInfoAux::BuildKit(status)) = info.aux {
            self.record_buildkit(status);
        }
    }

    #[cfg(feature = "buildkit")]
    fn record_buildkit(&mut self, status: bollard::moby::buildkit::v1::StatusResponse) {
        for vertex in status.vertexes {
            let next = self.vertexes.len() + 1;
            let (number, name) = self
                .vertexes
                .entry(vertex.digest.clone())
                .or_insert_with(|| (next, vertex.name.clone()))
                .clone();
            if vertex.started.is_some() && self.done.insert(format!("start {}", vertex.digest)) {
                report::line(&format!(
                    "#{number} {name}{}",
                    if vertex.cached { " (cached)" } else { "" }
                ));
            }
            if !vertex.error.is_empty() && self.vertex_error.is_none() {
                report::line(&format!("#{number} ERROR: {}", vertex.error));
                self.vertex_error = Some((name.clone(), vertex.error.clone()));
            }
        }
        for log in status.logs {
            let number = self.vertexes.get(&log.vertex).map_or(0, |(n, _)| *n);
            for line in String::from_utf8_lossy(&log.msg).lines() {
                report::line(&format!("#{number} {line}"));
            }
        }
    }

    fn failure(&mut self, message: String) -> ImageError {
        let step = self
            .vertex_error
            .take()
            .map(|(step, _)| step)
            .or_else(|| self.step.take());
        ImageError::Build { step, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_registry_passwords_out() {
        let credentials = DockerCredentials {
            username: Some("AWS".into()),
            password: Some("123456789012-auth-token".into()),
            ..Default::default()
        };
        // What the impl is for: bollard's own type prints the password.
        assert!(format!("{credentials:?}").contains("auth-token"));
        let request = BuildRequest {
            tag: "r/x:1".into(),
            platform: "linux/amd64".into(),
            target: None,
            build_args: HashMap::new(),
            labels: HashMap::new(),
            no_cache: false,
            pull: false,
            cache_from: Vec::new(),
            builder: Builder::BuildKit,
            registry_auth: HashMap::from([("r".to_owned(), credentials)]),
        };
        let shown = format!("{request:?}");
        assert!(
            shown.contains(r#"registry_auth: {"r": <redacted>}"#),
            "{shown}"
        );
        assert!(!shown.contains("auth-token"), "{shown}");
    }
}
