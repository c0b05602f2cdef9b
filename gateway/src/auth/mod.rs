//! Authentication and authorization: who is calling, and may they.
//!
//! Users log in with the OAuth2 password flow and get a short-lived JWT access token plus an
//! opaque, rotating refresh token; services use API keys. Every credential becomes a
//! [`Principal`] with a [`Role`]; routes check the role they need with [`Principal::require`].

pub mod client;
mod limiter;
pub mod password;
pub mod secret;
pub mod tokens;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use poem::error::ResponseError;
use poem::http::StatusCode;

use crate::config::AuthConfig;
use crate::store::{Store, StoreError, UserRecord};
pub use limiter::LoginLimiter;
use tokens::{API_KEY_PREFIX, JwtKeys, TokenError};

/// What a principal may do; each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads calls, transcripts, events and providers.
    Viewer,
    /// Also places and hangs up calls.
    Operator,
    /// Also manages users, API keys, webhook receipts and the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role '{other}' (admin, operator, viewer)")),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User { id: String, username: String },
    ApiKey { id: String, name: String },
}

/// An authenticated caller and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    pub role: Role,
    /// When the credential stops being valid (long-lived connections end then).
    pub expires_at: Option<chrono::DateTime<Utc>>,
}

impl Principal {
    /// `Ok` if the principal has at least `role`; a 403 rejection otherwise.
    pub fn require(&self, role: Role) -> Result<&Self, AuthRejection> {
        if self.role >= role {
            Ok(self)
        } else {
            Err(AuthRejection::forbidden(role))
        }
    }

    /// Scopes per-caller data such as idempotency keys.
    pub fn scope(&self) -> String {
        match &self.actor {
            Actor::User { id, .. } => format!("user:{id}"),
            Actor::ApiKey { id, .. } => format!("key:{id}"),
        }
    }

    pub fn id(&self) -> &str {
        match &self.actor {
            Actor::User { id, .. } | Actor::ApiKey { id, .. } => id,
        }
    }

    pub fn name(&self) -> &str {
        match &self.actor {
            Actor::User { username, .. } => username,
            Actor::ApiKey { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.actor {
            Actor::User { .. } => "user",
            Actor::ApiKey { .. } => "api_key",
        }
    }
}

/// A refused request: 401 (who are you?), 403 (not allowed), 429 (too many failures) or 503
/// (too many password checks at once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthRejection {
    pub status: StatusCode,
    /// `unauthorized`, `token_expired`, `invalid_credentials`, `forbidden`, `too_many_attempts`,
    /// `busy`.
    pub code: &'static str,
    pub message: String,
    /// For 429 and 503: seconds until a retry may succeed.
    pub retry_after: Option<u64>,
}

impl AuthRejection {
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn forbidden(role: Role) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: format!("this operation needs the {role} role"),
            retry_after: None,
        }
    }

    fn too_many(wait: Duration) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "too_many_attempts",
            message: "too many failed logins; try again later".into(),
            retry_after: Some(wait.as_secs().max(1)),
        }
    }
}

impl AuthRejection {
    fn busy() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "busy",
            message: "too many logins at once; try again shortly".into(),
            retry_after: Some(1),
        }
    }
}

impl ResponseError for AuthRejection {
    fn status(&self) -> StatusCode {
        self.status
    }
}

/// Why authenticating failed: refused, or the database could not say.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Rejected(#[from] AuthRejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Access and refresh token, as the token endpoint answers them.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
}

/// The authentication service: keys, token lifetimes and the login limiter.
#[derive(Debug)]
pub struct Auth {
    keys: JwtKeys,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
    limiter: LoginLimiter,
    hasher: password::Hasher,
    proxies: client::TrustedProxies,
    /// When this process last recorded each API key's use (see [`Auth::record_key_use`]).
    key_uses: Mutex<HashMap<String, chrono::DateTime<Utc>>>,
    /// Verified against when the user does not exist, so unknown users take as long as wrong passwords.
    decoy_hash: String,
}

/// How often an API key's `last_used_at` is written at most.
pub const KEY_USE_INTERVAL: TimeDelta = TimeDelta::minutes(1);

/// Longest login (username or email) that can match a user: the longest email accepted.
pub const MAX_LOGIN_BYTES: usize = 254;

fn invalid_token() -> AuthRejection {
    AuthRejection::unauthorized("unauthorized", "invalid or revoked credentials")
}

fn invalid_login() -> AuthRejection {
    AuthRejection::unauthorized("invalid_credentials", "invalid username or password")
}

impl Auth {
    pub async fn new(
        config: &AuthConfig,
        proxies: client::TrustedProxies,
        secret: &[u8],
    ) -> Result<Self, String> {
        Ok(Self {
            keys: JwtKeys::new(secret, &config.issuer, &config.audience),
            access_ttl_secs: i64::try_from(config.access_token_ttl_secs).unwrap_or(900),
            refresh_ttl_secs: i64::try_from(config.refresh_token_ttl_secs).unwrap_or(30 * 86_400),
            limiter: LoginLimiter::new(
                usize::try_from(config.login_max_failures).unwrap_or(5),
                usize::try_from(config.login_max_failures_per_address).unwrap_or(20),
                Duration::from_secs(config.login_window_secs),
            ),
            proxies,
            key_uses: Mutex::new(HashMap::new()),
            hasher: password::Hasher::for_this_machine(),
            decoy_hash: password::hash(tokens::random_secret()).await?,
        })
    }

    /// Validates a bearer credential (access token or API key). The one check every route and
    /// the live-update WebSocket use.
    pub async fn authenticate(
        &self,
        store: &Store,
        credential: &str,
    ) -> Result<Principal, AuthError> {
        if credential.starts_with(API_KEY_PREFIX) {
            let key = store
                .api_key_by_hash(&tokens::digest(credential))
                .await?
                .ok_or_else(invalid_token)?;
            let role = key.role.parse().map_err(|_| invalid_token())?;
            self.record_key_use(store, &key);
            return Ok(Principal {
                actor: Actor::ApiKey {
                    id: key.id,
                    name: key.name,
                },
                role,
                expires_at: key.expires_at,
            });
        }
        let claims = self.keys.verify(credential).map_err(|e| match e {
            TokenError::Expired => {
                AuthRejection::unauthorized("token_expired", "the access token has expired")
            }
            TokenError::Invalid => invalid_token(),
        })?;
        let (user, family_revoked) = store
            .user_for_access_token(&claims.sub, claims.sid.as_deref())
            .await?
            .ok_or_else(invalid_token)?;
        if user.disabled || claims.generation != user.token_generation || family_revoked {
            return Err(invalid_token().into());
        }
        Ok(Principal {
            expires_at: chrono::DateTime::from_timestamp(claims.exp, 0),
            role: user.role.parse().map_err(|_| invalid_token())?,
            actor: Actor::User {
                id: user.id,
                username: user.username,
            },
        })
    }

    /// Records a key's use in the background, at most once per [`KEY_USE_INTERVAL`] per key:
    /// skipped when the stored time or this process's last write is recent enough.
    fn record_key_use(&self, store: &Store, key: &crate::store::ApiKeyRecord) {
        let now = Utc::now();
        let since = now - KEY_USE_INTERVAL;
        if key.last_used_at.is_some_and(|at| at >= since) {
            return;
        }
        let Ok(mut written) = self.key_uses.lock() else {
            return;
        };
        if written.get(&key.id).is_some_and(|at| *at >= since) {
            return;
        }
        written.retain(|_, at| *at >= since);
        written.insert(key.id.clone(), now);
        drop(written);
        let (store, id) = (store.clone(), key.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.record_api_key_use(&id, now, since).await {
                tracing::warn!(key_id = %id, error = %e, "could not record the API key's last use");
            }
        });
    }

    /// Checks a username-or-email and password. Unknown users and wrong passwords fail the same
    /// way, in about the same time; repeated failures per (login, address) and per address are
    /// limited (see [`LoginLimiter`]).
    /// The attempt is counted before the password is checked, and a login or password longer
    /// than any that can be set fails without hashing anything.
    pub async fn login(
        &self,
        store: &Store,
        login: &str,
        password: &str,
        client: Option<&str>,
    ) -> Result<UserRecord, AuthError> {
        let login = login.trim();
        let too_long = login.len() > MAX_LOGIN_BYTES
            || password.chars().count() > password::MAX_PASSWORD_CHARS;
        // Too long to be anyone: all such attempts share one key, so none grows the limiter.
        let key = if login.len() > MAX_LOGIN_BYTES {
            "(too long)".to_owned()
        } else {
            login.to_lowercase()
        };
        let attempt = self
            .limiter
            .begin(&key, client)
            .map_err(AuthRejection::too_many)?;
        if too_long {
            attempt.failed();
            return Err(invalid_login().into());
        }
        let found = store.user_for_login(login).await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, self.decoy_hash.clone()),
        };
        let matches = self
            .hasher
            .verify(password.to_owned(), hash)
            .await
            .map_err(|_| AuthRejection::busy())?;
        match user {
            Some(user) if matches && !user.disabled => {
                attempt.succeeded();
                Ok(user)
            }
            _ => {
                attempt.failed();
                Err(invalid_login().into())
            }
        }
    }

    /// The client address of `req` (behind trusted proxies, the one they forwarded): what login
    /// limits and the audit log go by.
    pub fn client_addr(&self, req: &poem::Request) -> Option<String> {
        self.proxies.client_addr(req)
    }

    /// The password hasher every login and password change goes through.
    pub fn hasher(&self) -> &password::Hasher {
        &self.hasher
    }

    /// Issues an access token and a refresh token in `family` (a new family for a login).
    pub async fn issue(
        &self,
        store: &Store,
        user: &UserRecord,
        family: Option<String>,
    ) -> Result<TokenPair, AuthError> {
        let family = family.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let access_token = self
            .keys
            .issue_in(
                Some(&family),
                &user.id,
                &user.role,
                user.token_generation,
                self.access_ttl_secs,
            )
            .map_err(|e| StoreError::Corrupt(format!("cannot sign token: {e}")))?;
        let refresh_token = tokens::random_secret();
        let expires = Utc::now() + TimeDelta::seconds(self.refresh_ttl_secs);
        store
            .insert_refresh_token(&user.id, &family, &tokens::digest(&refresh_token), expires)
            .await?;
        Ok(TokenPair {
            access_token,
            expires_in: self.access_ttl_secs,
            refresh_token,
        })
    }

    /// Logs out: revokes the refresh token's family, and with it the family's access tokens.
    /// Returns the token's user, if the token was known.
    pub async fn logout(
        &self,
        store: &Store,
        refresh_token: &str,
    ) -> Result<Option<String>, StoreError> {
        store
            .revoke_refresh_family(&tokens::digest(refresh_token), self.deny_until())
            .await
    }

    /// Until when a family revoked now must stay listed: past the expiry of the last access
    /// token it may have been issued (with the verifier's leeway and a margin).
    fn deny_until(&self) -> chrono::DateTime<Utc> {
        Utc::now() + TimeDelta::seconds(self.access_ttl_secs + 60)
    }

    /// Trades a refresh token for a new pair. A token used twice revokes its whole family.
    pub async fn refresh(
        &self,
        store: &Store,
        refresh_token: &str,
    ) -> Result<(UserRecord, TokenPair), RefreshFailure> {
        use crate::store::RefreshLookup;
        match store
            .use_refresh_token(&tokens::digest(refresh_token), self.deny_until())
            .await?
        {
            RefreshLookup::Invalid => Err(RefreshFailure::Invalid),
            RefreshLookup::Reused { user_id } => Err(RefreshFailure::Reused { user_id }),
            RefreshLookup::Rotated { user_id, family_id } => {
                let user = store
                    .user_by_id(&user_id)
                    .await?
                    .filter(|u| !u.disabled)
                    .ok_or(RefreshFailure::Invalid)?;
                let pair =
                    self.issue(store, &user, Some(family_id))
                        .await
                        .map_err(|e| match e {
                            AuthError::Store(s) => RefreshFailure::Store(s),
                            AuthError::Rejected(_) => RefreshFailure::Invalid,
                        })?;
                Ok((user, pair))
            }
        }
    }
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshFailure {
    #[error("invalid refresh token")]
    Invalid,
    /// A retired token came back: its family is revoked.
    #[error("refresh token reused; every token of its login was revoked")]
    Reused { user_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates an API key with `role` and stores its hash: the key itself (shown once, never stored)
/// and its record. `created_by` is the admin's user id, `None` when bootstrapped directly.
pub async fn issue_api_key(
    store: &Store,
    name: &str,
    role: Role,
    created_by: Option<&str>,
    expires_at: Option<chrono::DateTime<Utc>>,
) -> Result<(String, crate::store::ApiKeyRecord), StoreError> {
    let key = tokens::new_api_key();
    let prefix: String = key.chars().take(API_KEY_PREFIX.len() + 6).collect();
    let record = store
        .create_api_key(
            name,
            &prefix,
            &tokens::digest(&key),
            role.as_str(),
            created_by,
            expires_at,
        )
        .await?;
    Ok((key, record))
}
