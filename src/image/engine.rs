//! The Docker Engine: one connection, with the API version agreed with the daemon, and a watch
//! on whether the daemon is still there.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt as _;
use tokio::sync::watch;

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

/// The connection to the daemon broke or could not be made: no answer from it, as opposed to
/// one that says no.
pub fn is_disconnect(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    matches!(
        e,
        E::IOError { .. }
            | E::HyperResponseError { .. }
            | E::HyperLegacyError { .. }
            | E::SocketNotFoundError(_)
            | E::RequestTimeoutError
    )
}

/// How long a failed build or push waits to hear whether the daemon went away: its own stream
/// and the watch break together, in either order.
const LOST_GRACE: Duration = Duration::from_millis(500);

/// Notices the daemon going away. Its `/events` stream, filtered to the daemon's own events so
/// that it stays quiet, breaks when dockerd exits, killed or stopped: a push retried against a
/// restarted daemon would otherwise carry on as if nothing had happened. A daemon that is
/// stopping (SIGTERM) first stops listening and kills its builds' containers, and a build
/// fails with exit 137 before the watch breaks: `during` asks the daemon afresh then.
///
/// Only a broken connection counts. An answer that refuses the stream, or a stream that ends
/// cleanly (a socket proxy's timeout, say), leaves the run without a watch, not failed.
pub struct Watch {
    lost: watch::Receiver<Option<String>>,
}

impl Watch {
    pub fn start(docker: &Docker) -> Watch {
        let (tell, lost) = watch::channel(None);
        let filters = HashMap::from([("type".to_owned(), vec!["daemon".to_owned()])]);
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        let mut events = docker.events(Some(options));
        tokio::spawn(async move {
            let why = loop {
                match events.next().await {
                    Some(Ok(_)) => {}
                    Some(Err(e)) if is_disconnect(&e) => {
                        break format!("its connection broke: {e}");
                    }
                    Some(Err(e)) => {
                        tracing::debug!("no watch on the Docker daemon: {e}");
                        return;
                    }
                    None => {
                        tracing::debug!("no watch on the Docker daemon: its event stream ended");
                        return;
                    }
                }
            };
            let _ = tell.send(Some(why));
        });
        Watch { lost }
    }

    /// Runs `work`, unless the daemon goes away first; a failure of `work` that comes with the
    /// daemon's going is reported as that.
    pub async fn during<T, E>(
        &self,
        doing: &str,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E>
    where
        E: From<ImageError> + std::error::Error + Send + Sync + 'static,
    {
        let cause: Box<dyn std::error::Error + Send + Sync> = tokio::select! {
            biased;
            why = gone_for_good(self.lost.clone()) => Box::new(Detail(why)),
            result = work => match result {
                Ok(value) => return Ok(value),
                // A daemon shutting down stops listening at once, but reports what its
                // shutdown did (a RUN step killed: exit 137) on the connection it had.
                Err(e) if !answers().await => Box::new(e),
                // Killed: the watch and `work`'s own stream broke together, in either order.
                Err(e) => match tokio::time::timeout(LOST_GRACE, gone(self.lost.clone())).await {
                    Ok(why) => Box::new(Detail(why)),
                    Err(_) => return Err(e),
                },
            },
        };
        Err(ImageError::DaemonLost {
            socket: socket(),
            doing: doing.to_owned(),
            cause,
        }
        .into())
    }
}

/// Whether a daemon answers a ping on a connection of its own: the pool's may lead to a
/// daemon that is shutting down and no longer accepts new ones.
async fn answers() -> bool {
    let Ok(docker) = Docker::connect_with_defaults() else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), docker.ping()).await,
        Ok(Ok(_))
    )
}

/// Why the daemon went away, once the watch broke and a ping on a new connection confirms it.
/// Otherwise never: `work`'s own outcome decides.
async fn gone_for_good(lost: watch::Receiver<Option<String>>) -> String {
    let why = gone(lost).await;
    if answers().await {
        std::future::pending().await
    } else {
        why
    }
}

/// Why the watch broke, once it has; never, if it ended without breaking.
async fn gone(mut lost: watch::Receiver<Option<String>>) -> String {
    let why = match lost.wait_for(Option::is_some).await {
        Ok(why) => why.clone(),
        Err(_) => None,
    };
    match why {
        Some(why) => why,
        None => std::future::pending().await,
    }
}
