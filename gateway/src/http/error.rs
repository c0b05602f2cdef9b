//! The one error renderer: every error the gateway answers (API operations, webhooks, the live
//! stream's handshake, the HTTP layer itself) is an [`ApiError`] rendered in the one
//! [`ErrorBody`] shape, and each layer's error type converts into it here, once.

use poem::Response;
use poem::http::StatusCode;
use poem_openapi::Object;
use poem_openapi::error::{
    ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use serde_json::json;
use tracing::{error, warn};

use super::current_request_id;
use crate::auth::AuthRejection;
use crate::dispatch::DispatchError;
use crate::ingest::IngestError;
use crate::replay::ReplayError;
use crate::store::StoreError;

/// What went wrong.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ErrorDetail {
    /// A stable, machine-readable code, e.g. `validation_failed`, `not_found`, `provider_rejected`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
    /// More about the problem, e.g. `{"field": "to"}` for a validation error.
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<serde_json::Value>,
}

/// The body of every error response (the `Error` schema).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example, rename = "Error")]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
    /// The request's id, also in the `X-Request-Id` response header and in the gateway's logs.
    pub request_id: String,
}

impl poem_openapi::types::Example for ErrorDetail {
    fn example() -> Self {
        Self {
            code: "validation_failed".into(),
            message: "`to` must be an E.164 number: '+' then 8 to 15 digits".into(),
            details: Some(serde_json::json!({"field": "to"})),
        }
    }
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        Self {
            error: ErrorDetail::example(),
            request_id: "0193a0c4-5b8e-7f31-9d2e-6c1b0a9f4e21".into(),
        }
    }
}

/// An error answer: a status and the [`ErrorBody`] to send. API operations convert it into
/// their own response enums (`api::operation_errors!`), so the spec lists exactly the statuses
/// each can answer; other routes send it with [`ApiError::into_response`].
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Box<ErrorBody>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self::build(status, code, message.into(), None)
    }

    /// 422 naming the offending field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let details = json!({"field": field});
        Self::build(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message.into(),
            Some(details),
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub(crate) fn build(
        status: StatusCode,
        code: &str,
        message: String,
        details: Option<serde_json::Value>,
    ) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message,
                    details,
                },
                request_id: current_request_id(),
            }),
        }
    }

    /// For extractors, which answer with `poem::Error`.
    pub fn into_poem(self) -> poem::Error {
        poem::Error::from_string(self.body.error.message, self.status)
    }

    /// The answer for a status alone (e.g. a bodiless error response from the framework).
    pub fn for_status(status: StatusCode) -> Self {
        let message = status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase();
        Self::new(status, code_for(status), message)
    }

    /// Errors the framework raises before a handler runs (bad JSON, wrong content type, bad
    /// parameter, unknown route, credentials refused by an extractor).
    pub fn from_framework(error: &poem::Error) -> Self {
        let (status, code, message) = classify(error);
        Self::new(status, code, message)
    }

    /// The response carrying this error as JSON.
    pub fn into_response(self) -> Response {
        let body = poem_openapi::types::ToJSON::to_json(&*self.body).unwrap_or_default();
        Response::builder()
            .status(self.status)
            .content_type("application/json")
            .body(body.to_string())
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        error!(error = %error, "storage error");
        match error {
            StoreError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable; retry later",
            ),
            _ => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            ),
        }
    }
}

impl From<AuthRejection> for ApiError {
    fn from(rejection: AuthRejection) -> Self {
        ApiError::new(rejection.status, rejection.code, rejection.message)
    }
}

impl From<DispatchError> for ApiError {
    fn from(error: DispatchError) -> Self {
        let message = error.to_string();
        match error {
            DispatchError::UnknownProvider(_) => ApiError::invalid("provider", message),
            DispatchError::Unsupported(..) => {
                ApiError::new(StatusCode::CONFLICT, "unsupported", message)
            }
            DispatchError::IdempotencyMismatch => {
                let details = json!({"field": "Idempotency-Key"});
                Self::build(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    message,
                    Some(details),
                )
            }
            DispatchError::IdempotencyInFlight => {
                ApiError::new(StatusCode::CONFLICT, "idempotency_key_in_flight", message)
            }
            DispatchError::CallNotFound => ApiError::not_found("call"),
            DispatchError::CallEnded(_) => {
                ApiError::new(StatusCode::CONFLICT, "call_ended", message)
            }
            DispatchError::NotPossible(_) => {
                ApiError::new(StatusCode::CONFLICT, "not_possible", message)
            }
            DispatchError::ProviderRejected { call_id, message } => Self::build(
                StatusCode::BAD_GATEWAY,
                "provider_rejected",
                message,
                Some(json!({"call_id": call_id.to_string()})),
            ),
            DispatchError::InvalidForProvider { call_id, message } => Self::build(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_for_provider",
                message,
                Some(json!({"call_id": call_id.to_string()})),
            ),
            DispatchError::Store(e) => e.into(),
        }
    }
}

/// 4xx where resending the same webhook cannot help; 503 where it can (so vendors retry).
impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let message = e.to_string();
        match e {
            IngestError::UnknownProvider(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_provider", message)
            }
            IngestError::BadSignature(_) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
            }
            IngestError::Malformed(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_webhook", message)
            }
            IngestError::UnknownCall { receipt_id } => ApiError::build(
                StatusCode::NOT_FOUND,
                "unknown_call",
                message,
                Some(json!({"receipt_id": receipt_id})),
            ),
            IngestError::Store(StoreError::Unavailable(_)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "storage unavailable; retry later",
            ),
            // Logged in the request's span (with its id); the unauthenticated sender learns nothing.
            IngestError::ProviderFailed(reason) => {
                warn!(%reason, "provider failed on a webhook");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "provider_failed",
                    "internal error",
                )
            }
            IngestError::ProviderTimedOut(_) => {
                warn!(%message, "provider timed out on a webhook");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "provider_timeout", message)
            }
            IngestError::Recording(io) => {
                warn!(error = %io, "recording not stored");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "recording storage unavailable; retry later",
                )
            }
            IngestError::Store(store) => {
                warn!(error = %store, "webhook not stored");
                ApiError::internal()
            }
        }
    }
}

/// A receipt that cannot be replayed is a conflict with its state; `details.reason` says which.
impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        let message = e.to_string();
        let conflict = |reason: &str| {
            ApiError::build(
                StatusCode::CONFLICT,
                "conflict",
                message.clone(),
                Some(json!({"reason": reason})),
            )
        };
        match e {
            ReplayError::NotFound => ApiError::not_found("webhook receipt"),
            ReplayError::UnknownProvider(_) => ApiError::invalid("provider", message),
            ReplayError::Refused(_) => conflict("refused"),
            ReplayError::BodyNotStored => conflict("body_not_stored"),
            ReplayError::BodyTruncated { .. } => conflict("body_truncated"),
            ReplayError::ProviderGone(_) => conflict("provider_not_configured"),
            ReplayError::Store(e) => e.into(),
            ReplayError::Ingest(e) => e.into(),
        }
    }
}

/// A stable code for each status the framework can answer on its own.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "error",
    }
}

/// Maps a framework error (unparseable JSON, wrong content type, bad parameter, unknown route)
/// to a status, code and message. Schema violations in a well-formed JSON body are 422.
fn classify(error: &poem::Error) -> (StatusCode, &'static str, String) {
    if let Some(rejection) = error.downcast_ref::<AuthRejection>() {
        return (rejection.status, rejection.code, rejection.message.clone());
    }
    if error.is::<poem_openapi::error::AuthorizationError>() {
        let message = "credentials required: an access token or an API key".to_owned();
        return (StatusCode::UNAUTHORIZED, "unauthorized", message);
    }
    if let Some(e) = error.downcast_ref::<ParseRequestPayloadError>() {
        let schema = [
            "failed to parse \"",
            "Expected input type",
            "expects an input value",
        ];
        // An empty body parses as a top-level null: malformed, not a field problem.
        let empty =
            e.reason.ends_with("found null.") && !e.reason.contains("occurred while parsing");
        return if schema.iter().any(|s| e.reason.contains(s)) && !empty {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                e.reason.clone(),
            )
        } else {
            (
                StatusCode::BAD_REQUEST,
                "malformed_body",
                format!("request body is not valid JSON: {}", e.reason),
            )
        };
    }
    if error.is::<ContentTypeError>() {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("{error}; send application/json"),
        );
    }
    if let Some(e) = error.downcast_ref::<ParseParamError>() {
        return (StatusCode::BAD_REQUEST, "invalid_parameter", e.to_string());
    }
    if let Some(e) = error.downcast_ref::<ParsePathError>() {
        return (StatusCode::BAD_REQUEST, "invalid_parameter", e.to_string());
    }
    let status = error.status();
    let message = match status {
        StatusCode::NOT_FOUND => "no such route".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_owned(),
        s if s.is_server_error() => "internal error".to_owned(),
        _ => error.to_string(),
    };
    (status, code_for(status), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_errors_split_into_malformed_and_invalid() {
        let syntax: poem::Error = ParseRequestPayloadError {
            reason: "expected value at line 1 column 1".into(),
        }
        .into();
        assert_eq!(
            ApiError::from_framework(&syntax).status,
            StatusCode::BAD_REQUEST
        );
        let schema: poem::Error = ParseRequestPayloadError {
            reason: "failed to parse \"string\": Type \"string\" expects an input value.".into(),
        }
        .into();
        assert_eq!(
            ApiError::from_framework(&schema).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
