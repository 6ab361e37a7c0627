//! Checks credentials against a registry the way `docker login` does: `GET /v2/`.

use std::time::Duration;

use super::credentials::RegistryCredentials;
use super::login_error::{Detail, LoginError};

pub async fn check_login(
    proxy_endpoint: &str,
    registry: &str,
    credentials: &RegistryCredentials,
) -> Result<(), LoginError> {
    let unreachable = |e: reqwest::Error| LoginError::RegistryUnreachable {
        registry: registry.to_owned(),
        detail: Detail(chain(&e)),
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(unreachable)?;
    let url = format!("{}/v2/", proxy_endpoint.trim_end_matches('/'));
    tracing::debug!("checking the login with GET {url}");
    let response = client
        .get(&url)
        .basic_auth(&credentials.username, Some(credentials.password.expose()))
        .send()
        .await
        .map_err(unreachable)?;
    match response.status().as_u16() {
        200..=299 => Ok(()),
        401 | 403 => Err(LoginError::RegistryRejected {
            registry: registry.to_owned(),
        }),
        status => Err(LoginError::RegistryStatus {
            registry: registry.to_owned(),
            status,
        }),
    }
}

/// reqwest hides the cause (refused, DNS, certificate) in its source chain.
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
