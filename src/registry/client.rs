//! The registry's HTTP API, for what the Engine API cannot do: read a manifest back to verify
//! its digest, and put it under more tags without uploading anything again.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};

use super::credentials::RegistryCredentials;
use super::digest::Digest;
use super::login_error::Detail;

const ACCEPTED: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";
const ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry `{host}`")]
    Unreachable {
        host: String,
        #[source]
        detail: Detail,
    },
    #[error("registry `{host}` refused to {action}: HTTP {status}")]
    Status {
        host: String,
        action: String,
        status: u16,
        #[source]
        detail: Detail,
    },
}

impl RegistryError {
    pub fn hint(&self) -> Option<String> {
        match self {
            RegistryError::Status { status: 401 | 403, .. } => Some(
                "the credentials may not read or write this repository; check the IAM policy (or the registry's permissions)".into(),
            ),
            RegistryError::Unreachable { .. } => Some("check the network path to the registry".into()),
            RegistryError::Status { .. } => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
}

impl Manifest {
    pub fn digest(&self) -> Digest {
        Digest::of_bytes(&self.bytes)
    }

    pub fn is_index(&self) -> bool {
        self.media_type.contains("index") || self.media_type.contains("manifest.list")
    }

    /// The config blob's digest: for images Docker builds, the image ID.
    pub fn config_digest(&self) -> Option<String> {
        let json: serde_json::Value = serde_json::from_slice(&self.bytes).ok()?;
        json["config"]["digest"].as_str().map(str::to_owned)
    }

    /// The compressed size of all layers.
    pub fn layer_bytes(&self) -> u64 {
        let json: serde_json::Value = serde_json::from_slice(&self.bytes).unwrap_or_default();
        json["layers"]
            .as_array()
            .map(|layers| layers.iter().filter_map(|l| l["size"].as_u64()).sum())
            .unwrap_or(0)
    }
}

pub struct RegistryClient {
    http: reqwest::Client,
    host: String,
    credentials: Option<RegistryCredentials>,
}

impl RegistryClient {
    pub fn new(
        host: &str,
        credentials: Option<RegistryCredentials>,
    ) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| RegistryError::Unreachable {
                host: host.to_owned(),
                detail: Detail(e.to_string()),
            })?;
        Ok(RegistryClient {
            http,
            host: host.to_owned(),
            credentials,
        })
    }

    /// The manifest `repository:reference`, or `None` when the registry has no such tag.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let url = format!(
            "https://{}/v2/{repository}/manifests/{reference}",
            self.host
        );
        let action = format!("read manifest `{repository}:{reference}`");
        let response = self
            .send(&action, repository, || {
                self.http.get(&url).header(ACCEPT, ACCEPTED)
            })
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = self.check(response, &action).await?;
        let header_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.unreachable(&e))?
            .to_vec();
        let media_type = header_type.unwrap_or_else(|| {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|j| j["mediaType"].as_str().map(str::to_owned))
                .unwrap_or_default()
        });
        Ok(Some(Manifest { bytes, media_type }))
    }

    /// Puts `manifest` under `tag`: a retag that moves no layer.
    pub async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        manifest: &Manifest,
    ) -> Result<(), RegistryError> {
        let url = format!("https://{}/v2/{repository}/manifests/{tag}", self.host);
        let action = format!("tag `{repository}:{tag}`");
        let response = self
            .send(&action, repository, || {
                self.http
                    .put(&url)
                    .header(CONTENT_TYPE, &manifest.media_type)
                    .body(manifest.bytes.clone())
            })
            .await?;
        self.check(response, &action).await.map(drop)
    }

    /// Sends with basic auth; on a bearer challenge, fetches a token and sends again. Connection
    /// failures, 5xx and 429 are retried with backoff.
    async fn send(
        &self,
        action: &str,
        repository: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut bearer: Option<String> = None;
        let mut attempt = 1;
        loop {
            let mut builder = request();
            builder = match (&bearer, &self.credentials) {
                (Some(token), _) => builder.bearer_auth(token),
                (None, Some(c)) => builder.basic_auth(&c.username, Some(c.password.expose())),
                (None, None) => builder,
            };
            let result = builder.send().await;
            let retry = match &result {
                Err(e) => e.is_connect() || e.is_timeout() || e.is_request(),
                Ok(r) => {
                    r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS
                }
            };
            if retry && attempt < ATTEMPTS {
                let wait = Duration::from_millis(300 * 2u64.pow(attempt - 1));
                tracing::warn!(
                    "registry {}: {action} failed, retrying in {wait:?}",
                    self.host
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            let response = result.map_err(|e| self.unreachable(&e))?;
            if response.status() == StatusCode::UNAUTHORIZED && bearer.is_none() {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if let Some(token) = self.bearer_token(&challenge, repository).await? {
                    bearer = Some(token);
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// The token flow of registries that answer `Bearer realm=…,service=…`.
    async fn bearer_token(
        &self,
        challenge: &str,
        repository: &str,
    ) -> Result<Option<String>, RegistryError> {
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            return Ok(None);
        };
        let field = |name: &str| {
            params.split(',').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"').to_owned())
            })
        };
        let Some(realm) = field("realm") else {
            return Ok(None);
        };
        let mut request = self
            .http
            .get(&realm)
            .query(&[("scope", format!("repository:{repository}:pull,push"))]);
        if let Some(service) = field("service") {
            request = request.query(&[("service", service)]);
        }
        if let Some(c) = &self.credentials {
            request = request.basic_auth(&c.username, Some(c.password.expose()));
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        Ok(json["token"]
            .as_str()
            .or(json["access_token"].as_str())
            .map(str::to_owned))
    }

    async fn check(
        &self,
        response: reqwest::Response,
        action: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Err(RegistryError::Status {
            host: self.host.clone(),
            action: action.to_owned(),
            status,
            detail: Detail(body.trim().chars().take(300).collect()),
        })
    }

    fn unreachable(&self, error: &reqwest::Error) -> RegistryError {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        RegistryError::Unreachable {
            host: self.host.clone(),
            detail: Detail(text),
        }
    }
}
