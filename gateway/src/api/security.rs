//! The security schemes of the API, and the extractor that turns credentials into a
//! [`Principal`]. A handler that takes [`Credentials`] cannot run unauthenticated; it then states
//! the role it needs with `credentials.require(Role::...)`.

use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};

use crate::auth::{AuthError, AuthRejection, Principal, Role};
use crate::gateway::Gateway;

/// An access token from `POST /v1/auth/token` (OAuth2 password flow), or an API key, as
/// `Authorization: Bearer ...`.
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "oauth2",
    ty = "oauth2",
    flows(password(token_url = "/v1/auth/token")),
    checker = "check_bearer"
)]
pub struct BearerCredentials(Principal);

/// An access token or an API key as `Authorization: Bearer ...`, for clients that do not speak
/// OAuth2 (the same check as `oauth2`).
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "bearer",
    ty = "bearer",
    bearer_format = "JWT or vgk_ API key",
    checker = "check_bearer"
)]
pub struct HttpBearerCredentials(Principal);

/// An API key (`vgk_...`) in the `X-API-Key` header.
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "api_key",
    ty = "api_key",
    key_name = "X-API-Key",
    key_in = "header",
    checker = "check_api_key"
)]
pub struct ApiKeyCredentials(Principal);

/// Any accepted credential.
#[derive(Debug, SecurityScheme)]
pub enum Credentials {
    ApiKey(ApiKeyCredentials),
    HttpBearer(HttpBearerCredentials),
    Bearer(BearerCredentials),
}

impl Credentials {
    pub fn principal(&self) -> &Principal {
        match self {
            Credentials::ApiKey(ApiKeyCredentials(p))
            | Credentials::HttpBearer(HttpBearerCredentials(p))
            | Credentials::Bearer(BearerCredentials(p)) => p,
        }
    }

    /// The principal, if it has at least `role` (403 otherwise).
    pub fn require(&self, role: Role) -> Result<&Principal, AuthRejection> {
        self.principal().require(role)
    }
}

async fn authenticate(req: &Request, credential: &str) -> poem::Result<Principal> {
    let Some(gateway) = req.data::<Arc<Gateway>>() else {
        return Err(poem::Error::from_status(
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        ));
    };
    match gateway.auth.authenticate(&gateway.store, credential).await {
        Ok(principal) => Ok(principal),
        Err(AuthError::Rejected(rejection)) => Err(rejection.into()),
        Err(AuthError::Store(e)) => Err(crate::api::ApiError::from(e).into_poem()),
    }
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    authenticate(req, &bearer.token).await
}

async fn check_api_key(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    authenticate(req, &key.key).await
}
