//! Recognising ECR registries by host name, with the ECR credential helper's own expression.

use std::sync::OnceLock;

use regex_lite::Regex;

/// Verbatim from awslabs/amazon-ecr-credential-helper `ecr-login/api/client.go`.
const ECR_HOST: &str = r"^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(amazonaws\.(?:com(?:\.cn)?|eu)|on\.(?:aws|amazonwebservices\.com\.cn)|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    pub account: String,
    pub region: String,
}

pub fn parse(host: &str) -> Option<EcrHost> {
    static REGEX: OnceLock<Regex> = OnceLock::new();
    let regex = REGEX.get_or_init(|| Regex::new(ECR_HOST).expect("a fixed expression compiles"));
    let captures = regex.captures(host.strip_prefix("https://").unwrap_or(host))?;
    Some(EcrHost {
        account: captures[1].to_owned(),
        region: captures[3].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_ecr_hosts_in_every_partition() {
        let host = parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap();
        assert_eq!(
            (host.account.as_str(), host.region.as_str()),
            ("123456789012", "us-east-1")
        );
        assert!(parse("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").is_some());
        assert!(parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").is_some());
        assert!(parse("123456789012.dkr-ecr.eu-west-1.on.aws").is_some());
        assert!(parse("ghcr.io").is_none());
        assert!(parse("public.ecr.aws").is_none());
        assert!(parse("12345.dkr.ecr.us-east-1.amazonaws.com").is_none());
    }
}
