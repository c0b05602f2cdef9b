//! Access tokens (JWT, HS256 pinned), refresh tokens and API keys (opaque, stored hashed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Prefix of API keys, so they are recognizable (and findable by secret scanners).
pub const API_KEY_PREFIX: &str = "vgk_";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
    pub aud: String,
    /// The user's token generation when issued; a revocation bumps it.
    pub generation: i64,
    /// The login (refresh-token family) the token belongs to; logging out or the reuse of a
    /// retired refresh token revokes it. Absent in tokens issued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Signs and checks access tokens. Only HS256 is accepted: `alg: none` and every other
/// algorithm are refused before the signature is looked at.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// A signed token for `user_id` with `role`, valid `ttl_secs`, in no login.
    pub fn issue(
        &self,
        user_id: &str,
        role: &str,
        generation: i64,
        ttl_secs: i64,
    ) -> Result<String, String> {
        self.issue_in(None, user_id, role, generation, ttl_secs)
    }

    /// A signed token for `user_id` with `role`, valid `ttl_secs`, in the login `family`.
    pub fn issue_in(
        &self,
        family: Option<&str>,
        user_id: &str,
        role: &str,
        generation: i64,
        ttl_secs: i64,
    ) -> Result<String, String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_owned(),
            role: role.to_owned(),
            iat: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::now_v7().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            generation,
            sid: family.map(str::to_owned),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| e.to_string())
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// A new opaque secret: 32 random bytes, URL-safe.
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How opaque tokens and keys are stored: they are random and long, so a plain SHA-256 is safe.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new API key: the prefix and a random secret.
pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            b"0123456789abcdef0123456789abcdef",
            "voice-gateway",
            "voice-gateway-api",
        )
    }

    #[test]
    fn issued_tokens_verify() {
        let token = keys().issue("u1", "admin", 0, 60).unwrap();
        let claims = keys().verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role.as_str()), ("u1", "admin"));
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(claims.sid, None);
        let token = keys().issue_in(Some("f1"), "u1", "admin", 0, 60).unwrap();
        assert_eq!(keys().verify(&token).unwrap().sid.as_deref(), Some("f1"));
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let expired = keys().issue("u1", "admin", 0, -60).unwrap();
        assert_eq!(keys().verify(&expired), Err(TokenError::Expired));
        let token = keys().issue("u1", "viewer", 0, 60).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap())
                .unwrap()
                .replace("viewer", "admin"),
        );
        parts[1] = forged;
        assert_eq!(keys().verify(&parts.join(".")), Err(TokenError::Invalid));
        let other = JwtKeys::new(
            b"another-secret-another-secret-xx",
            "voice-gateway",
            "voice-gateway-api",
        );
        assert_eq!(
            keys().verify(&other.issue("u1", "admin", 0, 60).unwrap()),
            Err(TokenError::Invalid)
        );
        let wrong_audience = JwtKeys::new(
            b"0123456789abcdef0123456789abcdef",
            "voice-gateway",
            "elsewhere",
        );
        assert_eq!(
            keys().verify(&wrong_audience.issue("u1", "admin", 0, 60).unwrap()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let token = keys().issue("u1", "admin", 0, 60).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
        ] {
            let forged = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header));
            assert_eq!(keys().verify(&forged), Err(TokenError::Invalid), "{header}");
        }
    }

    #[test]
    fn api_keys_are_prefixed_and_digests_stable() {
        let key = new_api_key();
        assert!(key.starts_with(API_KEY_PREFIX) && key.len() > 40);
        assert_eq!(digest(&key), digest(&key));
        assert_ne!(digest(&key), digest(&new_api_key()));
    }
}
