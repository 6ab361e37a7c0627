//! Checks credentials against a registry the way `docker login` does: `GET /v2/`.

use std::time::Duration;

use bytes::Bytes;
use http::Method;

use super::credentials::RegistryCredentials;
use super::http::{ATTEMPTS, Http, basic, is_unavailable};
use super::login_error::{Detail, LoginError};

pub async fn check_login(
    proxy_endpoint: &str,
    registry: &str,
    credentials: &RegistryCredentials,
) -> Result<(), LoginError> {
    let unreachable = |message: String| LoginError::RegistryUnreachable {
        registry: registry.to_owned(),
        detail: Detail(message),
    };
    let http = Http::new(Duration::from_secs(20)).map_err(|f| unreachable(f.message))?;
    let url = format!("{}/v2/", proxy_endpoint.trim_end_matches('/'));
    tracing::debug!("checking the login with GET {url}");
    let authorization = basic(&credentials.username, credentials.password.expose());
    let what = format!("registry {registry}: login check");
    let response = http
        .send_retrying(
            &what,
            Method::GET,
            &url,
            &[("authorization", authorization)],
            Bytes::new(),
        )
        .await
        .map_err(|f| unreachable(f.message))?;
    match response.status {
        200..=299 => Ok(()),
        401 | 403 => Err(LoginError::RegistryRejected {
            registry: registry.to_owned(),
        }),
        status if is_unavailable(status) => Err(unreachable(format!(
            "HTTP {status} after {ATTEMPTS} attempts"
        ))),
        status => Err(LoginError::RegistryStatus {
            registry: registry.to_owned(),
            status,
        }),
    }
}
