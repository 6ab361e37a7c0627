//! The registry's HTTP API, for what the Engine API cannot do: read a manifest back to verify
//! its digest, and put it under more tags without uploading anything again.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};

use super::credentials::RegistryCredentials;
use super::digest::Digest;
use super::http::{ATTEMPTS, Http, Response, basic, is_unavailable};
use super::login_error::Detail;

const ACCEPTED: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry `{host}`")]
    Unreachable {
        host: String,
        #[source]
        detail: Detail,
    },
    #[error("registry `{host}` failed to {action}: HTTP {status} after {attempts} attempts")]
    Unavailable {
        host: String,
        action: String,
        status: u16,
        attempts: u32,
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
            RegistryError::Unavailable { .. } => Some(
                "the registry is failing or throttling (HTTP 5xx/429); retry the build later".into(),
            ),
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
    http: Http,
    host: String,
    credentials: Option<RegistryCredentials>,
}

impl RegistryClient {
    pub fn new(
        host: &str,
        credentials: Option<RegistryCredentials>,
    ) -> Result<Self, RegistryError> {
        // A manifest is a few KiB: 20 s is generous, and 3 attempts of it stay near a minute.
        let http = Http::new(Duration::from_secs(20)).map_err(|f| RegistryError::Unreachable {
            host: host.to_owned(),
            detail: Detail(f.message),
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
            .send(
                &action,
                repository,
                Method::GET,
                &url,
                &[("accept", ACCEPTED.to_owned())],
                Bytes::new(),
            )
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        let response = self.check(response, &action)?;
        let header_type = response
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.body.to_vec();
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
        let headers = [("content-type", manifest.media_type.clone())];
        let response = self
            .send(
                &action,
                repository,
                Method::PUT,
                &url,
                &headers,
                Bytes::from(manifest.bytes.clone()),
            )
            .await?;
        self.check(response, &action).map(drop)
    }

    /// Sends with basic auth; on a bearer challenge, fetches a token and sends again. Connection
    /// failures, timeouts, resets of these idempotent requests, 5xx and 429 are retried (see
    /// `Http::send_retrying`).
    async fn send(
        &self,
        action: &str,
        repository: &str,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Response, RegistryError> {
        let mut bearer: Option<String> = None;
        let what = format!("registry {}: {action}", self.host);
        loop {
            let mut all: Vec<(&str, String)> = headers.to_vec();
            match (&bearer, &self.credentials) {
                (Some(token), _) => all.push(("authorization", format!("Bearer {token}"))),
                (None, Some(c)) => {
                    all.push(("authorization", basic(&c.username, c.password.expose())))
                }
                (None, None) => {}
            }
            let response = self
                .http
                .send_retrying(&what, method.clone(), url, &all, body.clone())
                .await
                .map_err(|f| RegistryError::Unreachable {
                    host: self.host.clone(),
                    detail: Detail(f.message),
                })?;
            if response.status == 401 && bearer.is_none() {
                let challenge = response
                    .headers
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
        let mut query = vec![(
            "scope".to_owned(),
            format!("repository:{repository}:pull,push"),
        )];
        if let Some(service) = field("service") {
            query.push(("service".to_owned(), service));
        }
        let Ok(url) = url::Url::parse_with_params(&realm, &query) else {
            return Ok(None);
        };
        let mut headers = Vec::new();
        if let Some(c) = &self.credentials {
            headers.push(("authorization", basic(&c.username, c.password.expose())));
        }
        let what = format!("registry {}: token from {realm}", self.host);
        let response = self
            .http
            .send_retrying(&what, Method::GET, url.as_str(), &headers, Bytes::new())
            .await
            .map_err(|f| RegistryError::Unreachable {
                host: self.host.clone(),
                detail: Detail(f.message),
            })?;
        let json: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
        Ok(json["token"]
            .as_str()
            .or(json["access_token"].as_str())
            .map(str::to_owned))
    }

    fn check(&self, response: Response, action: &str) -> Result<Response, RegistryError> {
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        let body = String::from_utf8_lossy(&response.body);
        let detail = Detail(body.trim().chars().take(300).collect());
        let (host, action, status) = (self.host.clone(), action.to_owned(), response.status);
        // `send` retried these already: the registry answered so on every attempt.
        Err(if is_unavailable(status) {
            RegistryError::Unavailable {
                host,
                action,
                status,
                attempts: ATTEMPTS,
                detail,
            }
        } else {
            RegistryError::Status {
                host,
                action,
                status,
                detail,
            }
        })
    }
}
