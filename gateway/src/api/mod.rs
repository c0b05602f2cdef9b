//! The versioned JSON API under `/v1`, generated with poem-openapi: each area is its own
//! `#[OpenApi]` struct, composed into one service whose spec is served at `/openapi.json`.
//! Handlers take the running [`crate::gateway::Gateway`] as request data.

pub mod admin;
mod auth;
mod calls;
mod erasure;
mod events;
mod health;
mod optional_body;
mod providers;
mod range;
mod receipts;
pub mod security;
mod spec;

use poem_openapi::{OpenApiService, Tags};

pub use crate::http::error::{ApiError, ErrorBody, ErrorDetail};

pub use health::HealthApi;

#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Place, inspect and end calls.
    Calls,
    /// The configured provider instances.
    Providers,
    /// The audit trail of every inbound webhook.
    Webhooks,
    /// Liveness and readiness.
    Health,
    /// Log in, refresh tokens, log out.
    Auth,
    /// Manage users (admin).
    Users,
    /// Manage API keys (admin).
    ApiKeys,
    /// The audit log (admin).
    Audit,
    /// Events to applications: endpoints (admin), deliveries, the event log.
    Events,
}

/// Declares an operation's error responses: an `ApiResponse` enum with one variant per status,
/// converted from [`ApiError`] (a status the operation did not declare becomes a 500, which the
/// logs show as a bug).
macro_rules! operation_errors {
    ($(#[$meta:meta])* $name:ident { $($(#[doc = $doc:literal])* $variant:ident = $status:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, poem_openapi::ApiResponse)]
        #[oai(bad_request_handler = "crate::api::framework_error")]
        pub enum $name {
            /// Missing, invalid or expired credentials (see the `WWW-Authenticate` header).
            #[oai(status = 401)]
            Unauthorized(poem_openapi::payload::Json<crate::api::ErrorBody>),
            /// The caller's role does not allow this operation.
            #[oai(status = 403)]
            Forbidden(poem_openapi::payload::Json<crate::api::ErrorBody>),
            $($(#[doc = $doc])* #[oai(status = $status)] $variant(poem_openapi::payload::Json<crate::api::ErrorBody>),)+
            /// An unexpected error; the request id finds it in the logs.
            #[oai(status = 500)]
            Internal(poem_openapi::payload::Json<crate::api::ErrorBody>),
        }

        impl From<crate::api::ApiError> for $name {
            fn from(error: crate::api::ApiError) -> Self {
                match error.status.as_u16() {
                    401 => Self::Unauthorized(poem_openapi::payload::Json(*error.body)),
                    403 => Self::Forbidden(poem_openapi::payload::Json(*error.body)),
                    $($status => Self::$variant(poem_openapi::payload::Json(*error.body)),)+
                    status => {
                        tracing::error!(status, code = %error.body.error.code, "undeclared error status");
                        Self::Internal(poem_openapi::payload::Json(*crate::api::ApiError::internal().body))
                    }
                }
            }
        }

        impl From<crate::store::StoreError> for $name {
            fn from(error: crate::store::StoreError) -> Self {
                crate::api::ApiError::from(error).into()
            }
        }

        impl From<crate::auth::AuthRejection> for $name {
            fn from(error: crate::auth::AuthRejection) -> Self {
                crate::api::ApiError::from(error).into()
            }
        }

        impl From<crate::dispatch::DispatchError> for $name {
            fn from(error: crate::dispatch::DispatchError) -> Self {
                crate::api::ApiError::from(error).into()
            }
        }
    };
}
pub(crate) use operation_errors;

operation_errors! {
    /// Errors of reading one resource.
    ReadError {
        /// No such resource.
        NotFound = 404,
        /// The database is unavailable; retry later.
        Unavailable = 503,
    }
}

operation_errors! {
    /// Errors of listing resources.
    ListError {
        /// A parameter does not parse.
        BadRequest = 400,
        /// A filter, `limit` or `cursor` is invalid; `details.field` names it.
        Unprocessable = 422,
        /// The database is unavailable; retry later.
        Unavailable = 503,
    }
}

/// Errors the framework raises before a handler runs (bad JSON, wrong content type, ...),
/// in an operation's own error type.
pub(crate) fn framework_error<T: From<ApiError>>(error: poem::Error) -> T {
    ApiError::from_framework(&error).into()
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Opaque pagination cursors: clients pass them back, never build them.
pub(crate) mod cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn encode(position: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1:{position}"))
    }

    pub fn decode(cursor: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        String::from_utf8(raw)
            .ok()?
            .strip_prefix("v1:")
            .map(str::to_owned)
    }

    /// The `cursor` query parameter as a position of type `T`; 422 if this API did not make it.
    pub fn parse<T: std::str::FromStr>(cursor: Option<String>) -> super::ApiResult<Option<T>> {
        cursor
            .map(|c| {
                decode(&c)
                    .and_then(|position| position.parse().ok())
                    .ok_or_else(|| {
                        super::ApiError::invalid("cursor", "cursor is not one this API returned")
                    })
            })
            .transpose()
    }
}

/// The `limit` query parameter: 1..=200, default 50.
pub(crate) fn page_limit(limit: Option<i64>) -> ApiResult<u32> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=200) => Ok(n as u32),
        Some(_) => Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 200",
        )),
    }
}

pub(crate) fn parse_time(
    field: &str,
    raw: Option<String>,
) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    raw.map(|raw| {
        chrono::DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| ApiError::invalid(field, format!("{field} must be an RFC 3339 timestamp")))
    })
    .transpose()
}

/// The title of the generated spec.
pub const TITLE: &str = "Voice Gateway";

const DESCRIPTION: &str = "One API for outbound AI phone calls, whatever voice vendor runs them.\n\n\
Place a call with `POST /v1/calls`, follow it with `GET /v1/calls/{id}` and its transcript. Vendors send \
webhooks to `POST /webhooks/{provider}` (or `/webhooks/{provider}/{topic}`), where `{provider}` is the \
instance name from config; each is verified, stored raw and normalized into the same call model. \
Every error has the shape `{\"error\": {\"code\", \"message\", \"details\"?}, \"request_id\"}`.";

/// Every API area, composed.
pub type Apis = (
    HealthApi,
    auth::AuthApi,
    calls::CallsApi,
    erasure::ErasureApi,
    providers::ProvidersApi,
    receipts::ReceiptsApi,
    admin::AdminApi,
    events::EventsApi,
);

/// The API service; the same value backs `/openapi.json`, `/docs` and `voice-gateway openapi`.
/// Handlers reach the running [`Gateway`] through request data, so the spec needs no server.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            HealthApi,
            auth::AuthApi,
            calls::CallsApi,
            erasure::ErasureApi,
            providers::ProvidersApi,
            receipts::ReceiptsApi,
            admin::AdminApi,
            events::EventsApi,
        ),
        TITLE,
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
    .license(poem_openapi::LicenseObject::new("Apache-2.0"))
}

/// The OpenAPI document as served at `/openapi.json`: the generated one, completed
/// (`spec::complete`).
pub fn spec_json() -> String {
    spec::complete(&service().spec())
}

/// The endpoints of `/openapi.json` and `/docs` (Swagger UI), both showing [`spec_json`].
pub fn spec_endpoints() -> (impl poem::Endpoint, impl poem::Endpoint) {
    let service = service();
    let generated = service.spec();
    let document = spec::complete(&generated);
    let html = service.swagger_ui_html().replace(&generated, &document);
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(document.clone())
    });
    let docs = poem::endpoint::make_sync(move |_| {
        let mut page = poem::IntoResponse::into_response(poem::web::Html(html.clone()));
        crate::http::headers::docs_headers(&html, page.headers_mut());
        page
    });
    (spec, docs)
}
