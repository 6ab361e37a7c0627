//! `cb-step ecr-login`: AWS credential chain → ECR token → checked → Docker config.

use std::io::Write as _;

use crate::config::EcrLoginConfig;
use crate::docker_config;
use crate::error::Error;
use crate::registry::{ecr, verify};

pub fn execute(config: EcrLoginConfig) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(login(config))
}

async fn login(config: EcrLoginConfig) -> Result<(), Error> {
    let tokens = ecr::fetch_tokens(&config.ecr).await?;
    // Check before writing, so a token the registry refuses never lands in config.json.
    if config.verify {
        for token in &tokens {
            verify::check_login(&token.proxy_endpoint, &token.host, &token.credentials).await?;
        }
    }
    let path = docker_config::locate()?;
    let entries: Vec<_> = tokens
        .iter()
        .map(|t| (t.host.clone(), t.credentials.docker_auth()))
        .collect();
    for shadow in docker_config::store_auths(&path, &entries)? {
        tracing::warn!("{}", shadow.warning(&path));
    }
    let mut stdout = std::io::stdout().lock();
    for token in &tokens {
        let checked = if config.verify { "checked, " } else { "" };
        tracing::info!(
            "logged in to {} ({checked}written to {})",
            token.host,
            path.display()
        );
        if let Some(expires) = token.expires_at {
            tracing::debug!(
                "the token for {} expires at {expires} (Unix time)",
                token.host
            );
        }
        let line = if config.password_stdout {
            token.credentials.password.expose()
        } else {
            &token.host
        };
        let _ = writeln!(stdout, "{line}");
    }
    Ok(())
}
