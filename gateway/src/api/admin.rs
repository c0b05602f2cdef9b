//! Administration (admin role): users, API keys and the audit log.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::security::Credentials;
use super::{
    ApiError, ApiResult, ApiTags, ListError, ReadError, cursor, operation_errors, page_limit,
};
use crate::audit::{self, Outcome, Record, Who};
use crate::auth::{Principal, Role, password};
use crate::gateway::Gateway;
use crate::store::{
    ApiKeyRecord, AuditEntry, AuditFilter, NewUser, UserChange, UserRecord, is_conflict,
};

/// A user (never the password).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// The login name (lowercase).
    pub username: String,
    /// The user's email; also accepted as the login name.
    pub email: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    /// A disabled user cannot log in and its tokens stop working.
    pub disabled: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the user last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<UserRecord> for User {
    fn from(user: UserRecord) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            role: user.role,
            disabled: user.disabled,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// A new user.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct CreateUser {
    /// 3 to 64 characters: lowercase letters, digits, `.`, `_`, `-`.
    pub username: String,
    /// A unique email address; also accepted as the login name.
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
}

/// Changes to a user; omitted fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct UpdateUser {
    /// A new role: `admin`, `operator` or `viewer`.
    pub role: Option<String>,
    /// Disabling signs the user out everywhere at once.
    pub disabled: Option<bool>,
    /// A new password (at least 12 characters); signs the user out everywhere.
    pub password: Option<String>,
}

/// The users.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserList {
    /// Every user, by username.
    pub items: Vec<User>,
}

/// An API key as listed (never the key).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyInfo {
    /// The key's id (for `DELETE /v1/api-keys/{id}`).
    pub id: String,
    /// A name to recognize the key by.
    pub name: String,
    /// The key's first characters, to recognize it.
    pub prefix: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    /// The id of the user (or API key) that created it.
    pub created_by: Option<String>,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key stops working; omitted for a key that does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was revoked; omitted for a key in use.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key was last used (recorded at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for ApiKeyInfo {
    fn from(key: ApiKeyRecord) -> Self {
        Self {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            role: key.role,
            created_by: key.created_by,
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// A new API key.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct CreateApiKey {
    /// A name to recognize the key by (1 to 128 characters).
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    /// When the key stops working (RFC 3339, in the future); omit for a key that does not expire.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created API key: `key` is shown this once and never again.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreatedApiKey {
    /// Send as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
    pub key: String,
    #[oai(flatten)]
    pub info: ApiKeyInfo,
}

/// The API keys.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyList {
    /// Every API key, newest first, revoked ones included.
    pub items: Vec<ApiKeyInfo>,
}

/// One audited action.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEvent {
    /// The record's id.
    pub id: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// `user`, `api_key`, `anonymous` or `cli`.
    pub actor_type: String,
    /// The user's or key's id; omitted for anonymous actors and the CLI.
    pub actor_id: Option<String>,
    /// The username or key name (for a failed login, the name tried).
    pub actor_name: Option<String>,
    /// e.g. `auth.login`, `user.create`, `api_key.revoke`, `call.create`.
    pub action: String,
    /// What the action concerned, e.g. `user:<id>`, `call:<id>`.
    pub target: Option<String>,
    /// The client's IP address, when known.
    pub client_addr: Option<String>,
    /// The request that did it (also in the logs).
    pub request_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// More about the outcome, e.g. why a login failed.
    pub detail: Option<String>,
}

impl From<AuditEntry> for AuditEvent {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            action: e.action,
            target: e.target,
            client_addr: e.client_addr,
            request_id: e.request_id,
            outcome: e.outcome,
            detail: e.detail,
        }
    }
}

/// A page of audit records, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditPage {
    /// Audit records, newest first.
    pub items: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; omitted on the last page.
    pub next_cursor: Option<String>,
}

operation_errors! {
    /// Errors of creating or changing a user or key.
    WriteError {
        /// The body is not valid JSON.
        BadRequest = 400,
        /// No such user.
        NotFound = 404,
        /// The username or email is taken.
        Conflict = 409,
        /// The body is not `application/json`.
        UnsupportedMediaType = 415,
        /// A field is invalid; `details.field` names it.
        Unprocessable = 422,
        /// The database is unavailable; retry later.
        Unavailable = 503,
    }
}

#[derive(Debug, ApiResponse)]
pub enum UserCreated {
    #[oai(status = 201)]
    Created(Json<User>),
}

#[derive(Debug, ApiResponse)]
pub enum KeyCreated {
    #[oai(status = 201)]
    Created(Json<CreatedApiKey>),
}

#[derive(Debug, ApiResponse)]
pub enum KeyRevoked {
    #[oai(status = 204)]
    Revoked,
}

/// Usernames are simple so they are unambiguous in logs and logins.
pub fn check_username(username: &str) -> Result<String, String> {
    let username = username.trim().to_lowercase();
    let valid = (3..=64).contains(&username.len())
        && username.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if valid {
        Ok(username)
    } else {
        Err("username must be 3 to 64 of a-z, 0-9, '.', '_', '-'".into())
    }
}

pub fn check_email(email: &str) -> Result<String, String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err("email is not a valid address".into())
    }
}

fn role(field: &str, raw: &str) -> ApiResult<Role> {
    raw.parse().map_err(|e: String| ApiError::invalid(field, e))
}

/// Appends an admin's successful change to the audit log.
pub(crate) async fn audit_admin(
    gateway: &Arc<Gateway>,
    req: &Request,
    who: &Principal,
    action: &str,
    target: String,
    detail: Option<String>,
) {
    let record = Record {
        who: Who::Principal(who),
        action,
        target: Some(target),
        client_addr: gateway.auth.client_addr(req),
        outcome: Outcome::Success,
        detail,
    };
    audit::record(gateway, record).await;
}

#[derive(Debug, Clone, Copy)]
pub struct AdminApi;

#[OpenApi(prefix_path = "/v1")]
impl AdminApi {
    /// Create a user (admin).
    ///
    /// Username and email must be unused (409 otherwise); the password is hashed with argon2id. Admin only; audited.
    #[oai(
        path = "/users",
        method = "post",
        operation_id = "createUser",
        tag = "ApiTags::Users"
    )]
    async fn create_user(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        body: Json<CreateUser>,
    ) -> Result<UserCreated, WriteError> {
        let admin = auth.require(Role::Admin)?;
        let body = body.0;
        let username =
            check_username(&body.username).map_err(|e| ApiError::invalid("username", e))?;
        let email = check_email(&body.email).map_err(|e| ApiError::invalid("email", e))?;
        let role = role("role", &body.role)?;
        password::check_rules(&body.password).map_err(|e| ApiError::invalid("password", e))?;
        let password_hash = gateway
            .auth
            .hasher()
            .hash(body.password)
            .await
            .map_err(|_| ApiError::internal())?;
        let new = NewUser {
            username,
            email,
            password_hash,
            role: role.as_str().to_owned(),
        };
        let user = match gateway.store.create_user(&new).await {
            Ok(user) => user,
            Err(e) if is_conflict(&e) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "username or email already taken",
                )
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        audit_admin(
            &gateway,
            req,
            admin,
            "user.create",
            format!("user:{}", user.id),
            Some(format!("role={role}")),
        )
        .await;
        Ok(UserCreated::Created(Json(user.into())))
    }

    /// List users (admin).
    ///
    /// Every user with role and state, never passwords. Admin only.
    #[oai(
        path = "/users",
        method = "get",
        operation_id = "listUsers",
        tag = "ApiTags::Users"
    )]
    async fn list_users(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
    ) -> Result<Json<UserList>, ReadError> {
        auth.require(Role::Admin)?;
        let items = gateway
            .store
            .list_users()
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(UserList { items }))
    }

    /// Change a user's role, disable or enable them, or set a new password (admin).
    ///
    /// Change the role, disable or enable, or set a new password. Disabling or a new password signs the user out everywhere at once. Admin only; audited.
    #[oai(
        path = "/users/:id",
        method = "patch",
        operation_id = "updateUser",
        tag = "ApiTags::Users"
    )]
    async fn update_user(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        id: Path<String>,
        body: Json<UpdateUser>,
    ) -> Result<Json<User>, WriteError> {
        let admin = auth.require(Role::Admin)?;
        let body = body.0;
        let role = body.role.as_deref().map(|r| role("role", r)).transpose()?;
        let password_hash = match body.password {
            Some(password) => {
                password::check_rules(&password).map_err(|e| ApiError::invalid("password", e))?;
                Some(
                    gateway
                        .auth
                        .hasher()
                        .hash(password)
                        .await
                        .map_err(|_| ApiError::internal())?,
                )
            }
            None => None,
        };
        let change = UserChange {
            role: role.map(|r| r.as_str().to_owned()),
            disabled: body.disabled,
            password_hash,
        };
        let detail = format!(
            "role={} disabled={} password_changed={}",
            change.role.as_deref().unwrap_or("-"),
            change
                .disabled
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            change.password_hash.is_some()
        );
        let user = gateway
            .store
            .update_user(&id.0, &change)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        audit_admin(
            &gateway,
            req,
            admin,
            "user.update",
            format!("user:{}", user.id),
            Some(detail),
        )
        .await;
        Ok(Json(user.into()))
    }

    /// Create an API key (admin). The key is in this answer only.
    ///
    /// The key (`vgk_...`) is in the answer this once; the gateway stores only its SHA-256. Send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`. It works until it is revoked or expires, and not while the admin who created it is disabled. Admin only; audited.
    #[oai(
        path = "/api-keys",
        method = "post",
        operation_id = "createApiKey",
        tag = "ApiTags::ApiKeys"
    )]
    async fn create_key(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        body: Json<CreateApiKey>,
    ) -> Result<KeyCreated, WriteError> {
        let admin = auth.require(Role::Admin)?;
        let body = body.0;
        let name = body.name.trim();
        if name.is_empty() || name.len() > 128 {
            return Err(ApiError::invalid("name", "name must be 1 to 128 characters").into());
        }
        let role = role("role", &body.role)?;
        if body.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(ApiError::invalid("expires_at", "expires_at must be in the future").into());
        }
        let (key, record) = crate::auth::issue_api_key(
            &gateway.store,
            name,
            role,
            Some(admin.id()),
            body.expires_at,
        )
        .await?;
        audit_admin(
            &gateway,
            req,
            admin,
            "api_key.create",
            format!("api_key:{}", record.id),
            Some(format!("role={role}")),
        )
        .await;
        Ok(KeyCreated::Created(Json(CreatedApiKey {
            key,
            info: record.into(),
        })))
    }

    /// List API keys (admin); never the keys themselves.
    ///
    /// Every key with its prefix, role and dates, newest first (revoked keys included); the keys themselves are never shown again. Admin only.
    #[oai(
        path = "/api-keys",
        method = "get",
        operation_id = "listApiKeys",
        tag = "ApiTags::ApiKeys"
    )]
    async fn list_keys(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
    ) -> Result<Json<ApiKeyList>, ReadError> {
        auth.require(Role::Admin)?;
        let items = gateway
            .store
            .list_api_keys()
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(ApiKeyList { items }))
    }

    /// Revoke an API key (admin).
    ///
    /// The key stops working at once; revoking a revoked key is 204 again (its first revocation time is kept). Admin only; audited.
    #[oai(
        path = "/api-keys/:id",
        method = "delete",
        operation_id = "revokeApiKey",
        tag = "ApiTags::ApiKeys"
    )]
    async fn revoke_key(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<KeyRevoked, ReadError> {
        let admin = auth.require(Role::Admin)?;
        if !gateway.store.revoke_api_key(&id.0).await? {
            return Err(ApiError::not_found("API key").into());
        }
        audit_admin(
            &gateway,
            req,
            admin,
            "api_key.revoke",
            format!("api_key:{}", id.0),
            None,
        )
        .await;
        Ok(KeyRevoked::Revoked)
    }

    /// The audit log, newest first (admin).
    ///
    /// Logins, token reuse, logouts, user and key changes, call creation and hang-ups, newest first, with cursor pagination. Admin only.
    #[oai(
        path = "/audit",
        method = "get",
        operation_id = "listAuditEvents",
        tag = "ApiTags::Audit"
    )]
    #[allow(clippy::too_many_arguments)] // one per query parameter
    async fn audit(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        /// Only this action, e.g. `auth.login`.
        action: Query<Option<String>>,
        /// Only this actor (user or API key id).
        actor_id: Query<Option<String>>,
        /// Only `success`, `failure` or `denied`.
        outcome: Query<Option<String>>,
        /// Page size, 1 to 200 (default 50).
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<AuditPage>, ListError> {
        auth.require(Role::Admin)?;
        let before_id = cursor::parse(cursor.0)?;
        let filter = AuditFilter {
            action: action.0,
            actor_id: actor_id.0,
            outcome: outcome.0,
            before_id,
            limit: page_limit(limit.0)?,
        };
        let (entries, next) = gateway.store.list_audit(&filter).await?;
        Ok(Json(AuditPage {
            items: entries.into_iter().map(Into::into).collect(),
            next_cursor: next.map(|id| cursor::encode(&id)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails() {
        assert_eq!(check_username(" Ada.L ").unwrap(), "ada.l");
        assert!(check_username("ab").is_err());
        assert!(check_username("with space").is_err());
        assert_eq!(check_email("Ada@Example.com").unwrap(), "ada@example.com");
        for bad in ["ada", "@example.com", "ada@localhost", "a b@example.com"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
