//! The JWT signing secret: from config (`JWT_SECRET`), or in development one generated once and
//! kept in a file readable by its owner only.

use std::path::Path;

use plugin_api::Environment;
use tokio::io::AsyncWriteExt;

use crate::config::{AuthConfig, MIN_SECRET_BYTES};

/// The secret to sign access tokens with.
pub async fn resolve(config: &AuthConfig, environment: Environment) -> Result<Vec<u8>, String> {
    if !config.jwt_secret.is_empty() {
        return Ok(config.jwt_secret.as_bytes().to_vec());
    }
    if environment == Environment::Production {
        // Config validation already refuses this; kept so no path signs with a generated key.
        return Err("auth.jwt_secret (JWT_SECRET) is required in production".into());
    }
    load_or_create(Path::new(&config.jwt_secret_file)).await
}

async fn load_or_create(path: &Path) -> Result<Vec<u8>, String> {
    match tokio::fs::read_to_string(path).await {
        Ok(existing) if existing.trim().len() >= MIN_SECRET_BYTES => {
            return Ok(existing.trim().as_bytes().to_vec());
        }
        Ok(_) => {
            return Err(format!(
                "{} holds a secret shorter than {MIN_SECRET_BYTES} bytes",
                path.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let secret = super::tokens::random_secret() + &super::tokens::random_secret();
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .await
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(secret.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    file.sync_all().await.map_err(|e| e.to_string())?;
    tracing::info!(path = %path.display(), "generated a development JWT secret");
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn generated_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let config = AuthConfig {
            jwt_secret_file: dir.path().join("sub/jwt-secret").display().to_string(),
            ..AuthConfig::default()
        };
        let first = resolve(&config, Environment::Development).await.unwrap();
        let second = resolve(&config, Environment::Development).await.unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= MIN_SECRET_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&config.jwt_secret_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(resolve(&config, Environment::Production).await.is_err());
        let configured = AuthConfig {
            jwt_secret: "x".repeat(40),
            ..config
        };
        assert_eq!(
            resolve(&configured, Environment::Production).await.unwrap(),
            b"x".repeat(40)
        );
    }
}
