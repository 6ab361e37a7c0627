//! `docker push` of one tag through the Engine API, and the digest the daemon reports.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::PushImageOptionsBuilder;
use futures_util::StreamExt;

use super::error::ImageError;
use crate::registry::digest::Digest;

/// Attempts for a push whose failure looks transient (resets, 5xx, throttling).
const ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub layers_uploaded: usize,
    pub layers_present: usize,
    pub duration: Duration,
}

/// Pushes `name:tag` and returns the manifest digest from the push stream. bollard 0.21 drops
/// the stream's `aux` record, so the digest comes from the `<tag>: digest: sha256:… size: N`
/// status line the daemon also sends.
pub async fn push(
    docker: &Docker,
    name: &str,
    tag: &str,
    credentials: &DockerCredentials,
) -> Result<Pushed, ImageError> {
    let reference = format!("{name}:{tag}");
    let mut attempt = 1;
    loop {
        match push_once(docker, name, tag, credentials).await {
            Ok(pushed) => return Ok(pushed),
            Err(message) if attempt < ATTEMPTS && is_transient(&message) => {
                let wait = Duration::from_millis(500 * 2u64.pow(attempt - 1));
                tracing::warn!("push of {reference} failed ({message}); retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(message) if message.is_empty() => {
                return Err(ImageError::NoDigest { reference });
            }
            Err(message) => {
                return Err(ImageError::Push {
                    reference,
                    message,
                    anonymous: credentials.username.is_none(),
                });
            }
        }
    }
}

async fn push_once(
    docker: &Docker,
    name: &str,
    tag: &str,
    credentials: &DockerCredentials,
) -> Result<Pushed, String> {
    let started = Instant::now();
    let options = PushImageOptionsBuilder::default().tag(tag).build();
    let mut stream = docker.push_image(name, Some(options), Some(credentials.clone()));
    let mut digest = None;
    let (mut uploaded, mut present) = (0, 0);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| match e {
            bollard::errors::Error::DockerStreamError { error } => error,
            other => other.to_string(),
        })?;
        let Some(status) = info.status else { continue };
        match status.as_str() {
            "Pushed" => uploaded += 1,
            "Layer already exists" => present += 1,
            _ => {}
        }
        if let Some((_, rest)) = status.split_once(": digest: ") {
            let value = rest.split_whitespace().next().unwrap_or_default();
            digest = Some(Digest::parse(value).map_err(|e| e.to_string())?);
        }
    }
    let digest = digest.ok_or_else(String::new)?;
    Ok(Pushed {
        digest,
        layers_uploaded: uploaded,
        layers_present: present,
        duration: started.elapsed(),
    })
}

fn is_transient(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "connection reset",
        "broken pipe",
        "eof",
        "timeout",
        "timed out",
        "toomanyrequests",
        "too many requests",
        "throttl",
        "500 internal",
        "502 bad gateway",
        "503 service",
        "504 gateway",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn transient_failures_are_told_apart() {
        assert!(is_transient("read tcp: connection reset by peer"));
        assert!(is_transient(
            "received unexpected HTTP status: 503 Service Unavailable"
        ));
        assert!(is_transient("toomanyrequests: Rate exceeded"));
        assert!(!is_transient("unauthorized: authentication required"));
        assert!(!is_transient("name unknown: The repository does not exist"));
    }
}
