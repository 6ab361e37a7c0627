//! Everything that can go wrong between the AWS credential chain and a usable registry login.

use std::fmt;

/// The text of an underlying error, kept as the `source` so that it prints as `caused by:`.
#[derive(Debug)]
pub struct Detail(pub String);

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Detail {}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("no AWS region is set")]
    NoRegion,
    #[error("`{value}` is not an AWS account id (registry ids are 12 digits)")]
    BadRegistryId { value: String },
    #[error("no AWS credentials found")]
    NoCredentials {
        #[source]
        detail: Detail,
    },
    #[error("AWS rejected the credentials ({code}): {message}")]
    BadCredentials { code: String, message: String },
    #[error("access denied to `ecr:GetAuthorizationToken`: {message}")]
    AccessDenied { message: String },
    #[error("ECR rejected the request ({code}): {message}")]
    Rejected { code: String, message: String },
    #[error("cannot reach the ECR API at `{endpoint}` (region {region})")]
    Unreachable {
        endpoint: String,
        region: String,
        #[source]
        detail: Detail,
    },
    #[error("the ECR API at `{endpoint}` throttled or failed each of {attempts} attempts")]
    Unavailable {
        endpoint: String,
        attempts: u32,
        #[source]
        detail: Detail,
    },
    #[error("the ECR API at `{endpoint}` failed")]
    Api {
        endpoint: String,
        #[source]
        detail: Detail,
    },
    #[error("the ECR API at `{endpoint}` returned an authorization token cb-step cannot read")]
    MalformedToken { endpoint: String },
    #[error("registry `{registry}` rejected the ECR token (HTTP 401 on /v2/)")]
    RegistryRejected { registry: String },
    #[error("registry `{registry}` answered HTTP {status} on /v2/")]
    RegistryStatus { registry: String, status: u16 },
    #[error("cannot reach registry `{registry}`")]
    RegistryUnreachable {
        registry: String,
        #[source]
        detail: Detail,
    },
}

impl LoginError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            LoginError::NoRegion => {
                "pass `--region`, or set `AWS_REGION` (CodeBuild sets `AWS_REGION` and `AWS_DEFAULT_REGION` itself)".into()
            }
            LoginError::BadRegistryId { .. } => {
                "`--registry-id` takes the 12-digit account id that owns the registry, e.g. 123456789012; quote it in YAML so a leading 0 survives".into()
            }
            LoginError::NoCredentials { .. } => {
                "tried: environment (`AWS_ACCESS_KEY_ID`), profile (`AWS_PROFILE`, ~/.aws), web identity, container credentials (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, which CodeBuild sets for the project's service role) and EC2 instance metadata; locally, set `AWS_PROFILE` or run `aws configure`".into()
            }
            LoginError::BadCredentials { .. } => {
                "the access key is unknown or the session has expired; refresh the credentials (e.g. `aws sso login`) or check `AWS_PROFILE`".into()
            }
            LoginError::AccessDenied { .. } => {
                "allow `ecr:GetAuthorizationToken` on resource `*` in the policy of the CodeBuild service role (or the caller's IAM identity)".into()
            }
            LoginError::Rejected { .. } => {
                "check the `--registry-id` values: each must be an account whose registry grants you access".into()
            }
            LoginError::Unreachable { .. } => {
                "check the region, `AWS_ENDPOINT_URL_ECR`/`AWS_ENDPOINT_URL`, and the build's network (a VPC build needs a NAT gateway or an `ecr.api` VPC endpoint)".into()
            }
            LoginError::Unavailable { .. } => {
                "ECR is throttling or failing (ThrottlingException, HTTP 5xx); retry the build later, spread out parallel builds, or allow more attempts with `AWS_MAX_ATTEMPTS`".into()
            }
            LoginError::Api { .. } | LoginError::MalformedToken { .. } => return None,
            LoginError::RegistryRejected { .. } => {
                "the token is for another account or region than this registry; check `--region` and `--registry-id` (or skip the check with `--no-verify`)".into()
            }
            LoginError::RegistryStatus { .. } => {
                "the host may not be an ECR registry; skip the check with `--no-verify`".into()
            }
            LoginError::RegistryUnreachable { .. } => {
                "check the build's network (a VPC build needs a NAT gateway or an `ecr.dkr` VPC endpoint), or skip the check with `--no-verify`".into()
            }
        })
    }

    /// Could retrying later help? Scripts can tell a network problem from a refusal.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            LoginError::Unreachable { .. }
                | LoginError::Unavailable { .. }
                | LoginError::RegistryUnreachable { .. }
        )
    }

    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LoginError::NoRegion | LoginError::BadRegistryId { .. }
        )
    }
}
