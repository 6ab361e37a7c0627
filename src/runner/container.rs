//! `run --image`: the phases run inside a container of the build image, through the Docker
//! Engine API, as CodeBuild runs them in its build container. This is the local agent's job
//! without the agent: no agent image, no docker-compose, no TTY.
//!
//! The source directory is mounted at a CodeBuild-like path, the session's scripts and saved
//! environment beside it, and the Docker socket, so `docker build` works inside. The container
//! idles in a loop; each command is a `docker exec` of its wrapper script, with the image's own
//! environment underneath the build's variables.

use std::collections::BTreeMap;
use std::path::Path;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{KillContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use futures_util::StreamExt;

use super::error::RunError;
use super::phases::Executor;
use super::shell::Session;
use crate::process::{self, Ended, User};
use crate::registry::login_error::Detail;

/// Where the source is mounted: the shape of CodeBuild's `/codebuild/output/src<N>/src`.
pub const SOURCE: &str = "/codebuild/output/src1/src";
/// Where the session's scripts and saved environment are mounted.
pub const STATE: &str = "/codebuild/output/tmp";

pub struct Container {
    runtime: tokio::runtime::Runtime,
    docker: Docker,
    id: String,
    image: String,
}

impl Container {
    pub fn start(image: &str, source: &Path, state: &Path) -> Result<Self, RunError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| RunError::State {
                path: state.to_owned(),
                source,
            })?;
        let failed = |detail: String| RunError::Container {
            image: image.to_owned(),
            detail: Detail(detail),
        };
        let (docker, id) = runtime.block_on(async {
            let docker = crate::image::engine::connect()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let body = ContainerCreateBody {
                image: Some(image.to_owned()),
                entrypoint: Some(vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "while :; do sleep 3600; done".into(),
                ]),
                cmd: Some(Vec::new()),
                working_dir: Some(SOURCE.into()),
                // Lets `docker ps --filter label=…` find the build containers of a source.
                labels: Some(
                    [("cb-step.source".to_owned(), source.display().to_string())]
                        .into_iter()
                        .collect(),
                ),
                host_config: Some(HostConfig {
                    binds: Some(vec![
                        format!("{}:{SOURCE}", source.display()),
                        format!("{}:{STATE}", state.display()),
                        "/var/run/docker.sock:/var/run/docker.sock".into(),
                    ]),
                    // The registry and AWS endpoints the build talks to are the host's.
                    network_mode: Some("host".into()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let created = docker
                .create_container(None, body)
                .await
                .map_err(|e| failed(e.to_string()))?;
            docker
                .start_container(&created.id, None)
                .await
                .map_err(|e| failed(e.to_string()))?;
            Ok::<_, RunError>((docker, created.id))
        })?;
        Ok(Container {
            runtime,
            docker,
            id,
            image: image.to_owned(),
        })
    }
}

impl Executor for Container {
    fn run(
        &mut self,
        session: &Session,
        script: &Path,
        env: &BTreeMap<String, String>,
        user: Option<&User>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Ended, RunError> {
        let name = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let config = ExecConfig {
            cmd: Some(vec![session.shell.clone(), format!("{STATE}/{name}")]),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            user: user.map(|u| u.name.clone()),
            working_dir: Some(SOURCE.into()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let failed = |e: bollard::errors::Error| RunError::Container {
            image: self.image.clone(),
            detail: Detail(e.to_string()),
        };
        let (docker, id) = (&self.docker, &self.id);
        self.runtime.block_on(async {
            let exec = docker.create_exec(id, config).await.map_err(failed)?;
            let started = docker.start_exec(&exec.id, None).await.map_err(failed)?;
            if let bollard::exec::StartExecResults::Attached { mut output, .. } = started {
                let mut partial = String::new();
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
                loop {
                    tokio::select! {
                        item = output.next() => {
                            let Some(item) = item else { break };
                            let Ok(chunk) = item else { break };
                            partial.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                            while let Some(end) = partial.find('\n') {
                                let line: String = partial.drain(..=end).collect();
                                on_line(line.trim_end_matches(['\n', '\r']));
                            }
                        }
                        _ = tick.tick() => {
                            if let Some(signal) = process::received_signal() {
                                let name = if signal == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
                                let options = KillContainerOptionsBuilder::default().signal(name).build();
                                let _ = docker.kill_container(id, Some(options)).await;
                                return Ok(Ended::Signalled(signal));
                            }
                        }
                    }
                }
                if !partial.is_empty() {
                    on_line(&partial);
                }
            }
            let inspect = docker.inspect_exec(&exec.id).await.map_err(failed)?;
            let code = inspect.exit_code.unwrap_or(1);
            Ok(Ended::Exited(i32::try_from(code).unwrap_or(1)))
        })
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        let _ = self
            .runtime
            .block_on(self.docker.remove_container(&self.id, Some(options)));
    }
}
