//! Registry credentials, as the Docker config and the registry's basic auth want them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    pub username: String,
    pub password: Secret,
}

impl RegistryCredentials {
    /// `base64(username:password)`: the `auth` field of a Docker config entry.
    pub fn docker_auth(&self) -> Secret {
        Secret::new(STANDARD.encode(format!("{}:{}", self.username, self.password.expose())))
    }

    /// Decodes an ECR authorization token, `base64("AWS:<password>")`.
    pub fn from_ecr_token(token: &str) -> Option<Self> {
        let decoded = STANDARD.decode(token.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (username, password) = decoded.split_once(':')?;
        Some(RegistryCredentials {
            username: username.to_owned(),
            password: Secret::new(password.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_an_ecr_token_and_encodes_a_docker_auth() {
        // moto's token: base64("AWS:123456789012-auth-token")
        let creds =
            RegistryCredentials::from_ecr_token("QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu").unwrap();
        assert_eq!(creds.username, "AWS");
        assert_eq!(creds.password.expose(), "123456789012-auth-token");
        assert_eq!(
            creds.docker_auth().expose(),
            "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu"
        );
        assert!(format!("{creds:?}").contains("<redacted>"));
        assert!(!format!("{creds:?}").contains("auth-token"));
        // The Docker config's `auth` value is the password too, only encoded.
        assert_eq!(format!("{:?}", creds.docker_auth()), "<redacted>");
        assert_eq!(RegistryCredentials::from_ecr_token("not base64!"), None);
    }
}
