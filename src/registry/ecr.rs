//! ECR authorization tokens through the AWS SDK's standard credential chain.
//!
//! Credentials, region and endpoint all come from the SDK's own sources (environment, profile,
//! web identity, CodeBuild's container credentials, IMDS; `AWS_ENDPOINT_URL_ECR` and
//! `AWS_ENDPOINT_URL`), so cb-step behaves exactly like the AWS CLI in the same build.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};

use super::credentials::RegistryCredentials;
use super::login_error::{Detail, LoginError};
use crate::env_vars;

/// A token for one registry. The host comes from the token's `proxyEndpoint`, never from
/// pieced-together account and region strings, so FIPS, China and dual-stack hosts just work.
#[derive(Debug, Clone)]
pub struct EcrToken {
    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com`
    pub host: String,
    /// `https://123456789012.dkr.ecr.us-east-1.amazonaws.com`
    pub proxy_endpoint: String,
    pub credentials: RegistryCredentials,
    /// Seconds since the epoch. Not acted on: the test bed's tokens are always "expired".
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct EcrSettings {
    /// Overrides `AWS_REGION` / `AWS_DEFAULT_REGION` / the profile's region.
    pub region: Option<String>,
    /// 12-digit account ids; empty means the caller's own registry.
    pub registry_ids: Vec<String>,
}

pub async fn sdk_config(region: Option<&str>) -> Result<aws_config::SdkConfig, LoginError> {
    // The SDK has no read timeout of its own: an endpoint that takes the request and never
    // answers would hold the build for ever. An ECR call answers in well under a second.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(3100))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(45))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    #[cfg(feature = "tls-ring")]
    {
        use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
        loader = loader.http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        );
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(LoginError::NoRegion);
    }
    Ok(config)
}

/// Where the ECR API calls go, for error messages.
fn api_endpoint(region: &str) -> String {
    env_vars::get(env_vars::AWS_ENDPOINT_URL_ECR)
        .or_else(|| env_vars::get(env_vars::AWS_ENDPOINT_URL))
        .unwrap_or_else(|| format!("https://api.ecr.{region}.amazonaws.com"))
}

/// One configured ECR client: region, endpoint and credentials resolved once.
pub struct EcrSession {
    client: aws_sdk_ecr::Client,
    region: String,
    endpoint: String,
    /// The SDK's retry budget per call (standard mode: 3, or `AWS_MAX_ATTEMPTS`).
    attempts: u32,
}

impl EcrSession {
    pub async fn connect(region: Option<&str>) -> Result<Self, LoginError> {
        let config = sdk_config(region).await?;
        let region = config.region().map(ToString::to_string).unwrap_or_default();
        let attempts = config.retry_config().map_or(1, |r| r.max_attempts());
        Ok(EcrSession {
            client: aws_sdk_ecr::Client::new(&config),
            endpoint: api_endpoint(&region),
            region,
            attempts,
        })
    }

    pub async fn tokens(&self, registry_ids: &[String]) -> Result<Vec<EcrToken>, LoginError> {
        for id in registry_ids {
            check_registry_id(id)?;
        }
        tracing::debug!(
            "asking {} for an ECR authorization token (region {})",
            self.endpoint,
            self.region
        );
        let mut request = self.client.get_authorization_token();
        if !registry_ids.is_empty() {
            // Deprecated because the token is valid for every registry the caller may use; it is
            // still the one way to learn each registry's `proxyEndpoint` rather than guess its host.
            #[expect(deprecated)]
            {
                request = request.set_registry_ids(Some(registry_ids.to_vec()));
            }
        }
        let output = request.send().await.map_err(|e| self.classify(e))?;
        let mut tokens = Vec::new();
        for data in output.authorization_data() {
            let endpoint = data.proxy_endpoint().unwrap_or_default();
            let host = endpoint
                .strip_prefix("https://")
                .or_else(|| endpoint.strip_prefix("http://"))
                .unwrap_or(endpoint)
                .trim_end_matches('/')
                .to_owned();
            let credentials = data
                .authorization_token()
                .and_then(RegistryCredentials::from_ecr_token);
            let (false, Some(credentials)) = (host.is_empty(), credentials) else {
                return Err(LoginError::MalformedToken {
                    endpoint: endpoint.to_owned(),
                });
            };
            tokens.push(EcrToken {
                host,
                proxy_endpoint: endpoint.to_owned(),
                credentials,
                expires_at: data.expires_at().map(|t| t.secs()),
            });
        }
        if tokens.is_empty() {
            return Err(LoginError::MalformedToken {
                endpoint: self.endpoint.clone(),
            });
        }
        Ok(tokens)
    }

    /// `repository_is_immutable` for many repositories of one registry, in one call per 100
    /// (DescribeRepositories' limit). When one is missing the call fails as a whole; then each
    /// is asked alone, to tell which.
    pub async fn repositories_are_immutable(
        &self,
        account: &str,
        names: &[String],
    ) -> Result<HashMap<String, Option<bool>>, LoginError> {
        let mut found = HashMap::new();
        for chunk in names.chunks(100) {
            let result = self
                .client
                .describe_repositories()
                .registry_id(account)
                .set_repository_names(Some(chunk.to_vec()))
                .send()
                .await;
            match result {
                Ok(output) => {
                    for repository in output.repositories() {
                        let immutable = repository
                            .image_tag_mutability()
                            .is_some_and(|m| m.as_str().starts_with("IMMUTABLE"));
                        found.insert(
                            repository.repository_name().unwrap_or_default().to_owned(),
                            Some(immutable),
                        );
                    }
                }
                Err(SdkError::ServiceError(e)) if e.err().is_repository_not_found_exception() => {
                    for name in chunk {
                        let immutable = self.repository_is_immutable(account, name).await?;
                        found.insert(name.clone(), immutable);
                    }
                }
                Err(e) => return Err(self.classify(e)),
            }
        }
        for name in names {
            found.entry(name.clone()).or_insert(None);
        }
        Ok(found)
    }

    fn classify<E>(&self, error: SdkError<E>) -> LoginError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        classify_any(error, &self.endpoint, &self.region, self.attempts)
    }

    /// Whether the repository's tags are immutable, or `None` when it does not exist.
    pub async fn repository_is_immutable(
        &self,
        account: &str,
        name: &str,
    ) -> Result<Option<bool>, LoginError> {
        let result = self
            .client
            .describe_repositories()
            .registry_id(account)
            .repository_names(name)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.repositories().first().map(|r| {
                r.image_tag_mutability()
                    .is_some_and(|m| m.as_str().starts_with("IMMUTABLE"))
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_repository_not_found_exception() => {
                Ok(None)
            }
            Err(e) => Err(self.classify(e)),
        }
    }
}

fn check_registry_id(id: &str) -> Result<(), LoginError> {
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LoginError::BadRegistryId {
            value: id.to_owned(),
        });
    }
    Ok(())
}

pub async fn fetch_tokens(settings: &EcrSettings) -> Result<Vec<EcrToken>, LoginError> {
    for id in &settings.registry_ids {
        check_registry_id(id)?;
    }
    EcrSession::connect(settings.region.as_deref())
        .await?
        .tokens(&settings.registry_ids)
        .await
}

/// ECR's (and the SDK's) throttling codes; the SDK retries them, with backoff.
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

/// `attempts`: how many times the SDK sent the call before it gave up on a retryable error.
fn classify_any<E>(error: SdkError<E>, endpoint: &str, region: &str, attempts: u32) -> LoginError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let chain = error_chain(&error);
    if let SdkError::ServiceError(service) = &error {
        let mut code = service.err().code().unwrap_or_default().to_owned();
        let mut message = service.err().message().unwrap_or_default().to_owned();
        if code.is_empty() {
            // Something between us and ECR (a proxy, a gateway, a stand-in) answered in a form
            // the SDK does not parse for this service; read the error from the body ourselves.
            let raw = service.raw();
            let body = String::from_utf8_lossy(raw.body().bytes().unwrap_or_default());
            (code, message) = error_fields(&body);
            if code.is_empty() {
                code = format!("HTTP {}", raw.status().as_u16());
            }
        }
        let status = service.raw().status().as_u16();
        if THROTTLING.contains(&code.as_str()) || status >= 500 {
            return LoginError::Unavailable {
                endpoint: endpoint.to_owned(),
                attempts,
                detail: Detail(
                    format!("{code}: {message}")
                        .trim_end_matches(": ")
                        .to_owned(),
                ),
            };
        }
        return match code.as_str() {
            "AccessDeniedException" | "AccessDenied" => LoginError::AccessDenied { message },
            "InvalidParameterException" => LoginError::Rejected { code, message },
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException" => LoginError::BadCredentials { code, message },
            _ => LoginError::Api {
                endpoint: endpoint.to_owned(),
                detail: Detail(format!("{code}: {message}")),
            },
        };
    }
    // The SDK reports an empty credential chain as a dispatch failure caused by a
    // `CredentialsError`, before any request is sent.
    if caused_by::<aws_credential_types::provider::error::CredentialsError>(&error) {
        return LoginError::NoCredentials {
            detail: Detail(chain),
        };
    }
    match &error {
        // An answer the SDK could not read as an error document (a gateway's HTML page).
        SdkError::ResponseError(response) if response.raw().status().as_u16() >= 500 => {
            LoginError::Unavailable {
                endpoint: endpoint.to_owned(),
                attempts,
                detail: Detail(chain),
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => LoginError::Unreachable {
            endpoint: endpoint.to_owned(),
            region: region.to_owned(),
            detail: Detail(chain),
        },
        _ => LoginError::Api {
            endpoint: endpoint.to_owned(),
            detail: Detail(chain),
        },
    }
}

/// The code and message of an AWS error document, in the XML form of the query protocols
/// (`<Code>…</Code><Message>…</Message>`) or the JSON form (`"__type"`, `"message"`).
fn error_fields(body: &str) -> (String, String) {
    let between = |open: &str, close: &str| {
        let start = body.find(open)? + open.len();
        let end = body[start..].find(close)? + start;
        Some(body[start..end].trim().to_owned())
    };
    if let Some(code) = between("<Code>", "</Code>") {
        return (code, between("<Message>", "</Message>").unwrap_or_default());
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| json.get(n).and_then(|v| v.as_str()))
                .unwrap_or_default()
                .to_owned()
        };
        // `__type` may carry a namespace: `com.amazonaws.ecr#AccessDeniedException`.
        let code = field(&["__type", "code"]);
        let code = code.rsplit('#').next().unwrap_or_default().to_owned();
        return (code, field(&["message", "Message"]));
    }
    (String::new(), String::new())
}

fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if cause.is::<E>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The messages of an error and its causes, joined: SDK errors put the useful part deep.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::{EcrToken, RegistryCredentials, error_fields};

    #[test]
    fn a_token_debug_prints_no_password() {
        let token = EcrToken {
            host: "123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
            proxy_endpoint: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
            credentials: RegistryCredentials::from_ecr_token(
                "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu",
            )
            .unwrap(),
            expires_at: None,
        };
        let shown = format!("{token:?} {token:#?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("auth-token"), "{shown}");
    }

    #[test]
    fn reads_aws_error_documents_in_either_form() {
        let xml = r#"<?xml version="1.0"?><ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: x is not authorized</Message></Error></Errors></ErrorResponse>"#;
        assert_eq!(
            error_fields(xml),
            ("AccessDenied".into(), "User: x is not authorized".into())
        );
        let json = r#"{"__type":"com.amazonaws.ecr#AccessDeniedException","message":"no"}"#;
        assert_eq!(
            error_fields(json),
            ("AccessDeniedException".into(), "no".into())
        );
        assert_eq!(
            error_fields("<html>Forbidden</html>"),
            (String::new(), String::new())
        );
    }
}
