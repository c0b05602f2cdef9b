//! Password hashing (argon2id) off the async runtime, and the password rules.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (hashing cost grows with length).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Whether a password may be set; the message says why not.
pub fn check_rules(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!(
            "password must be at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    if password.trim().is_empty() {
        return Err("password must not be blank".into());
    }
    Ok(())
}

/// Hashes with argon2id and a random salt, on a blocking thread.
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt_bytes: [u8; 16] = rand::random();
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| format!("cannot encode salt: {e}"))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| format!("cannot hash password: {e}"))
    })
    .await
    .map_err(|e| format!("hashing task failed: {e}"))?
}

/// Checks a password against a stored hash, on a blocking thread. A malformed hash never matches.
pub async fn verify(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(check_rules("short").is_err());
        assert!(check_rules("exactly12chr").is_ok());
        assert!(check_rules(&" ".repeat(20)).is_err());
        assert!(check_rules(&"x".repeat(2000)).is_err());
    }

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let first = hash("correct horse battery".into()).await.unwrap();
        let second = hash("correct horse battery".into()).await.unwrap();
        assert_ne!(first, second, "salted");
        assert!(first.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), first.clone()).await);
        assert!(!verify("wrong horse battery".into(), first).await);
        assert!(!verify("anything".into(), "not a hash".into()).await);
    }
}
