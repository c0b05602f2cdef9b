//! `/v1/auth`: the OAuth2 password flow, refresh-token rotation, logout and "who am I".

use std::sync::Arc;

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::security::Credentials;
use super::{ApiError, ApiTags, ErrorBody, operation_errors};
use crate::audit::{self, Outcome, Record, Who};
use crate::auth::{Actor, AuthError, RefreshFailure, Role, TokenPair};
use crate::gateway::Gateway;
use crate::store::UserRecord;

/// The OAuth2 token request (`application/x-www-form-urlencoded`).
#[derive(Debug, Object, serde::Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct TokenRequest {
    /// `password` or `refresh_token`.
    pub grant_type: String,
    /// Username or email (`password` grant).
    pub username: Option<String>,
    /// (`password` grant)
    pub password: Option<String>,
    /// (`refresh_token` grant)
    pub refresh_token: Option<String>,
    /// Accepted and ignored: roles, not scopes, decide what a token may do.
    pub scope: Option<String>,
    /// Accepted and ignored.
    pub client_id: Option<String>,
    /// Accepted and ignored.
    pub client_secret: Option<String>,
}

/// A new access token and the refresh token to get the next one.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TokenResponse {
    /// A JWT; send it as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single use: trade it for a new pair at `POST /v1/auth/refresh` (or the token endpoint).
    pub refresh_token: String,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "bearer".into(),
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token,
        }
    }
}

/// A refresh token.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RefreshRequest {
    /// A refresh token from `POST /v1/auth/token` or `POST /v1/auth/refresh`.
    pub refresh_token: String,
}

/// The caller.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Me {
    /// `user` or `api_key`.
    pub kind: String,
    /// The user's or API key's id.
    pub id: String,
    /// Username, or the API key's name.
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    /// For users.
    pub email: Option<String>,
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "crate::api::framework_error")]
pub enum TokenGrantError {
    /// The request is malformed or the grant type is not supported.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Wrong username or password, or an invalid, expired or reused refresh token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The body is not form-encoded (token endpoint) or JSON (refresh).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The JSON body does not have the documented shape (refresh); `details.field` may name the field.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many failed logins for this username or address; see `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] String),
    /// An unexpected error.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable, or too many logins are being checked at once; retry later
    /// (after `Retry-After`, when given).
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        #[oai(header = "Retry-After")] Option<String>,
    ),
}

impl From<ApiError> for TokenGrantError {
    fn from(error: ApiError) -> Self {
        let body = Json(*error.body);
        match error.status {
            StatusCode::BAD_REQUEST => Self::BadRequest(body),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable(body),
            StatusCode::UNAUTHORIZED => Self::Unauthorized(body),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(body),
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable(body, None),
            _ => Self::Internal(body),
        }
    }
}

impl From<AuthError> for TokenGrantError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Rejected(rejection) if rejection.status == StatusCode::TOO_MANY_REQUESTS => {
                let wait = rejection.retry_after.unwrap_or(1).to_string();
                Self::TooManyRequests(Json(*ApiError::from(rejection).body), wait)
            }
            AuthError::Rejected(rejection)
                if rejection.status == StatusCode::SERVICE_UNAVAILABLE =>
            {
                let wait = rejection.retry_after.map(|w| w.to_string());
                Self::Unavailable(Json(*ApiError::from(rejection).body), wait)
            }
            AuthError::Rejected(rejection) => ApiError::from(rejection).into(),
            AuthError::Store(e) => ApiError::from(e).into(),
        }
    }
}

operation_errors! {
    /// Errors of logging out.
    LogoutError {
        /// The body is not valid JSON.
        BadRequest = 400,
        /// The body is not `application/json`.
        UnsupportedMediaType = 415,
        /// The JSON body does not have the documented shape.
        Unprocessable = 422,
        /// The database is unavailable; retry later.
        Unavailable = 503,
    }
}

#[derive(Debug, ApiResponse)]
pub enum LoggedOut {
    /// The refresh token's family is revoked (also when the token was unknown).
    #[oai(status = 204)]
    Done,
}

fn invalid_refresh() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
        "invalid, expired or revoked refresh token",
    )
}

#[derive(Debug, Clone, Copy)]
pub struct AuthApi;

impl AuthApi {
    async fn password_grant(
        gateway: &Arc<Gateway>,
        req: &Request,
        login: Option<String>,
        password: Option<String>,
    ) -> Result<TokenResponse, TokenGrantError> {
        let (Some(login), Some(password)) = (login, password) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "username and password are required",
            )
            .into());
        };
        let addr = gateway.auth.client_addr(req);
        let user = match gateway
            .auth
            .login(&gateway.store, &login, &password, addr.as_deref())
            .await
        {
            Ok(user) => user,
            // A refusal before the password was looked at (too many attempts) is a flood's
            // answer: not audited, so floods add no rows (the access log has them).
            Err(AuthError::Rejected(r)) if r.status == StatusCode::TOO_MANY_REQUESTS => {
                return Err(AuthError::Rejected(r).into());
            }
            Err(e) => {
                let detail = match &e {
                    AuthError::Rejected(r) => Some(r.code.to_owned()),
                    AuthError::Store(_) => Some("storage error".to_owned()),
                };
                let record = Record {
                    who: Who::Anonymous(Some(&login)),
                    action: "auth.login",
                    target: None,
                    client_addr: addr,
                    outcome: Outcome::Failure,
                    detail,
                };
                audit::record(gateway, record).await;
                return Err(e.into());
            }
        };
        let pair = gateway.auth.issue(&gateway.store, &user, None).await?;
        audit::record(gateway, login_record(&user, "auth.login", addr)).await;
        Ok(pair.into())
    }

    async fn refresh_grant(
        gateway: &Arc<Gateway>,
        req: &Request,
        token: &str,
    ) -> Result<TokenResponse, TokenGrantError> {
        let addr = gateway.auth.client_addr(req);
        match gateway.auth.refresh(&gateway.store, token).await {
            Ok((user, pair)) => {
                audit::record(gateway, login_record(&user, "auth.refresh", addr)).await;
                Ok(pair.into())
            }
            Err(RefreshFailure::Invalid) => Err(invalid_refresh().into()),
            Err(RefreshFailure::Reused { user_id }) => {
                let name = match gateway.store.user_by_id(&user_id).await {
                    Ok(Some(user)) => user.username,
                    _ => String::new(),
                };
                let record = Record {
                    who: Who::User {
                        id: &user_id,
                        name: &name,
                    },
                    action: "auth.refresh_token_reused",
                    target: Some(format!("user:{user_id}")),
                    client_addr: addr,
                    outcome: Outcome::Denied,
                    detail: Some("token family revoked".into()),
                };
                audit::record(gateway, record).await;
                Err(invalid_refresh().into())
            }
            Err(RefreshFailure::Store(e)) => Err(ApiError::from(e).into()),
        }
    }
}

fn login_record<'a>(user: &'a UserRecord, action: &'a str, addr: Option<String>) -> Record<'a> {
    Record {
        who: Who::User {
            id: &user.id,
            name: &user.username,
        },
        action,
        target: None,
        client_addr: addr,
        outcome: Outcome::Success,
        detail: None,
    }
}

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Get tokens (OAuth2 password grant, or a refresh-token grant).
    ///
    /// `grant_type=password` with `username` (username or email) and `password`;
    /// `grant_type=refresh_token` with `refresh_token`. Wrong credentials and unknown users get the
    /// same answer. Failed logins per username and per address are limited (429, `Retry-After`);
    /// when too many logins are being checked at once, 503 with `Retry-After`.
    #[oai(path = "/token", method = "post", operation_id = "getToken")]
    async fn token(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        body: Form<TokenRequest>,
    ) -> Result<Json<TokenResponse>, TokenGrantError> {
        let body = body.0;
        let response = match body.grant_type.as_str() {
            "password" => Self::password_grant(&gateway, req, body.username, body.password).await?,
            "refresh_token" => {
                let token = body.refresh_token.unwrap_or_default();
                Self::refresh_grant(&gateway, req, &token).await?
            }
            other => {
                let message = format!("unsupported grant_type '{other}' (password, refresh_token)");
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    message,
                )
                .into());
            }
        };
        Ok(Json(response))
    }

    /// Trade a refresh token for a new pair. Each refresh token works once; presenting a used one
    /// revokes every token of that login.
    ///
    /// A JSON alternative to `grant_type=refresh_token` at `POST /v1/auth/token`, with the same answers.
    #[oai(path = "/refresh", method = "post", operation_id = "refreshToken")]
    async fn refresh(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        body: Json<RefreshRequest>,
    ) -> Result<Json<TokenResponse>, TokenGrantError> {
        Ok(Json(
            Self::refresh_grant(&gateway, req, &body.0.refresh_token).await?,
        ))
    }

    /// Log out: revoke the refresh token and every token descending from the same login, its
    /// access tokens included.
    ///
    /// Answers 204 whether or not the token was known, so the answer tells nothing about which tokens exist.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        body: Json<RefreshRequest>,
    ) -> Result<LoggedOut, LogoutError> {
        let revoked = gateway
            .auth
            .logout(&gateway.store, &body.0.refresh_token)
            .await?;
        if let Some(user_id) = revoked {
            let record = Record {
                who: Who::User {
                    id: &user_id,
                    name: "",
                },
                action: "auth.logout",
                target: None,
                client_addr: gateway.auth.client_addr(req),
                outcome: Outcome::Success,
                detail: None,
            };
            audit::record(&gateway, record).await;
        }
        Ok(LoggedOut::Done)
    }

    /// Who am I: the authenticated user or API key.
    ///
    /// The principal the credentials resolve to: a user (with email) or an API key, and its role.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
    ) -> Result<Json<Me>, super::ReadError> {
        let principal = auth.require(Role::Viewer)?;
        let email = match &principal.actor {
            Actor::User { id, .. } => gateway.store.user_by_id(id).await?.map(|u| u.email),
            Actor::ApiKey { .. } => None,
        };
        Ok(Json(Me {
            kind: principal.kind().to_owned(),
            id: principal.id().to_owned(),
            name: principal.name().to_owned(),
            role: principal.role.as_str().to_owned(),
            email,
        }))
    }
}
