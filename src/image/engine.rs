//! The Docker Engine: one connection, with the API version agreed with the daemon.

use bollard::Docker;

use super::error::ImageError;
use crate::registry::login_error::Detail;

/// What `DOCKER_HOST` names, or the default socket: for messages.
pub fn socket() -> String {
    crate::env_vars::get(crate::env_vars::DOCKER_HOST)
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

/// Connects as the docker CLI would (honouring `DOCKER_HOST`) and checks that a daemon answers.
pub async fn connect() -> Result<Docker, ImageError> {
    let no_daemon = |e: bollard::errors::Error| ImageError::NoDaemon {
        socket: socket(),
        detail: Detail(e.to_string()),
    };
    let docker = Docker::connect_with_defaults().map_err(no_daemon)?;
    // dockerd 20.10 speaks API 1.41; bollard defaults to 1.53.
    let docker = docker.negotiate_version().await.map_err(no_daemon)?;
    docker.ping().await.map_err(no_daemon)?;
    Ok(docker)
}

pub fn engine_error(action: &str) -> impl Fn(bollard::errors::Error) -> ImageError + '_ {
    move |e| ImageError::Engine {
        action: action.to_owned(),
        detail: Detail(e.to_string()),
    }
}
