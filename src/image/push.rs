//! `docker push` of one tag through the Engine API, and the digest the daemon reports.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::PushImageOptionsBuilder;
use futures_util::StreamExt;

use super::error::ImageError;
use crate::registry::digest::Digest;
use crate::registry::http::back_off;

/// Attempts for a push whose failure looks transient (resets, 5xx, throttling). dockerd
/// retries a failed layer upload itself (5 attempts, 5 s, 10 s, … apart); a push that failed
/// while a layer was in those retries is not started again, so a registry that keeps failing
/// uploads ends the push in bounded time instead of three times dockerd's.
const ATTEMPTS: u32 = 3;

/// How long the push stream may say nothing once every layer is in the registry. dockerd does
/// not time out a registry that stops answering (a manifest PUT that never gets a reply waits
/// for ever); dropping the stream cancels the push in the daemon.
const SILENCE: Duration = Duration::from_secs(60);
/// The same while layers upload: longer, as a layer may wait (silently, after `Waiting`) for
/// one of dockerd's upload slots, which all parallel pushes share.
const UPLOAD_SILENCE: Duration = Duration::from_secs(600);

/// Why one push did not give a digest. An empty message: the stream ended without one.
struct Failed {
    message: String,
    /// Pushing again would not help in bounded time: dockerd had spent its own retries on a
    /// layer, or the registry hung.
    spent: bool,
}

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
        let failed = match push_once(docker, name, tag, credentials).await {
            Ok(pushed) => return Ok(pushed),
            Err(failed) => failed,
        };
        // A push that dockerd had already spent its own retries on is not started again.
        let retryable = !failed.spent && is_transient(&failed.message);
        if retryable && attempt < ATTEMPTS {
            let what = format!("push of {reference} failed ({})", failed.message);
            back_off(Duration::from_millis(500), attempt, &what).await;
            attempt += 1;
            continue;
        }
        if failed.message.is_empty() {
            return Err(ImageError::NoDigest { reference });
        }
        let message = if retryable {
            format!("{} (gave up after {attempt} attempts)", failed.message)
        } else {
            failed.message
        };
        return Err(ImageError::Push {
            reference,
            message,
            anonymous: credentials.username.is_none(),
            transient: retryable || failed.spent,
        });
    }
}

/// What the push stream has said so far.
#[derive(Debug, Default)]
struct Progress {
    /// Layers announced (`Preparing`), and those in the registry (pushed, present, mounted).
    layers: usize,
    done: usize,
    uploaded: usize,
    present: usize,
    /// bollard's push records carry no layer id, so this is "dockerd retried a layer and no
    /// layer got pushed since": true while uploads keep failing, false once a retry got through.
    retrying: bool,
}

impl Progress {
    fn see(&mut self, status: &str) {
        match status {
            "Preparing" => self.layers += 1,
            "Pushed" => {
                self.uploaded += 1;
                self.done += 1;
                self.retrying = false;
            }
            "Layer already exists" => {
                self.present += 1;
                self.done += 1;
            }
            s if s.starts_with("Mounted from ") => self.done += 1,
            s if s.starts_with("Retrying in ") => self.retrying = true,
            _ => {}
        }
    }

    /// How long the stream may now say nothing.
    fn silence(&self) -> Duration {
        if self.layers > 0 && self.done >= self.layers {
            SILENCE
        } else {
            UPLOAD_SILENCE
        }
    }

    fn failed(&self, message: String) -> Failed {
        Failed {
            message: if self.retrying && !message.is_empty() {
                format!("{message} (dockerd retried the upload itself)")
            } else {
                message
            },
            spent: self.retrying,
        }
    }
}

async fn push_once(
    docker: &Docker,
    name: &str,
    tag: &str,
    credentials: &DockerCredentials,
) -> Result<Pushed, Failed> {
    let started = Instant::now();
    let options = PushImageOptionsBuilder::default().tag(tag).build();
    let mut stream = docker.push_image(name, Some(options), Some(credentials.clone()));
    let mut digest = None;
    let mut progress = Progress::default();
    loop {
        let silence = progress.silence();
        let Ok(next) = tokio::time::timeout(silence, stream.next()).await else {
            return Err(Failed {
                message: format!(
                    "dockerd reported nothing for {} s; the registry may have stopped answering",
                    silence.as_secs()
                ),
                spent: true,
            });
        };
        let Some(item) = next else { break };
        let info = item.map_err(|e| {
            progress.failed(match e {
                bollard::errors::Error::DockerStreamError { error } => error,
                other => other.to_string(),
            })
        })?;
        let Some(status) = info.status else { continue };
        if status.starts_with("Retrying in ") {
            tracing::debug!("push of {name}:{tag}: dockerd: {status}");
        }
        progress.see(&status);
        if let Some((_, rest)) = status.split_once(": digest: ") {
            let value = rest.split_whitespace().next().unwrap_or_default();
            digest = Some(Digest::parse(value).map_err(|e| progress.failed(e.to_string()))?);
        }
    }
    let digest = digest.ok_or_else(|| progress.failed(String::new()))?;
    Ok(Pushed {
        digest,
        layers_uploaded: progress.uploaded,
        layers_present: progress.present,
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
    use super::{Progress, SILENCE, UPLOAD_SILENCE, is_transient};

    #[test]
    fn the_stream_may_be_silent_for_long_only_while_layers_upload() {
        let mut progress = Progress::default();
        assert_eq!(progress.silence(), UPLOAD_SILENCE);
        for status in ["Preparing", "Preparing", "Preparing", "Waiting", "Pushed"] {
            progress.see(status);
        }
        assert_eq!(progress.silence(), UPLOAD_SILENCE);
        progress.see("Layer already exists");
        progress.see("Mounted from team/base");
        assert_eq!(progress.silence(), SILENCE);
    }

    #[test]
    fn a_layer_in_dockerds_retries_spends_the_push_until_one_gets_through() {
        let mut progress = Progress::default();
        progress.see("Preparing");
        progress.see("Retrying in 5 seconds");
        let failed = progress.failed("write: broken pipe".into());
        assert!(failed.spent);
        assert!(
            failed
                .message
                .ends_with("(dockerd retried the upload itself)")
        );
        progress.see("Pushed");
        assert!(!progress.failed("503 Service Unavailable".into()).spent);
        assert!(progress.failed(String::new()).message.is_empty());
    }

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
