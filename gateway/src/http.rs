//! HTTP plumbing shared by every route: request ids, access logs, body limits, and one JSON
//! error shape for every failure, including those the framework produces itself.

use std::time::Instant;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::{
    ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// An incoming id is kept only if it is short and plain, so it is safe in logs and headers.
fn sane_request_id(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Builds the JSON error body every route answers with.
pub fn error_json(
    code: &str,
    message: &str,
    details: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(details) = details {
        error["details"] = details;
    }
    json!({"error": error, "request_id": current_request_id()})
}

fn json_error_response(status: StatusCode, code: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(error_json(code, message, None).to_string())
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
pub fn classify(error: &poem::Error) -> (StatusCode, &'static str, String) {
    if let Some(rejection) = error.downcast_ref::<crate::auth::AuthRejection>() {
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

/// Turns a bodiless or non-JSON error response into the JSON error shape.
fn ensure_json_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let message = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase();
    let mut replacement = json_error_response(status, code_for(status), &message);
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    replacement
}

/// Outermost middleware: request id, span, access log, JSON errors.
pub async fn around<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    // The path only: query strings may carry tokens.
    let span = info_span!("request", request_id = %request_id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    let handled = REQUEST_ID.scope(request_id.clone(), async move {
        let response = match next.call(req).await {
            Ok(output) => output.into_response(),
            // A handler's own error response (already in the JSON shape) passes through.
            Err(error) if error.is_from_response() => error.into_response(),
            Err(error) => {
                let (status, code, message) = classify(&error);
                if status.is_server_error() {
                    warn!(error = %error, "request failed");
                }
                json_error_response(status, code, &message)
            }
        };
        ensure_json_error(response)
    });
    let mut response = handled.instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if response.status() == StatusCode::UNAUTHORIZED
        && !response.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"voice-gateway\""),
        );
    }
    span.in_scope(|| {
        info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request handled"
        )
    });
    Ok(response)
}

/// Caps request bodies for the JSON API at `max` bytes (413 beyond), whether or not the client
/// sent a `Content-Length`.
pub async fn limit_body<E: Endpoint>(
    next: E,
    mut req: Request,
    max: usize,
) -> poem::Result<Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Ok(json_error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("request body exceeds {max} bytes"),
        ));
    }
    if declared.is_none() {
        let body = req.take_body();
        match body.into_bytes_limit(max).await {
            Ok(bytes) => req.set_body(Body::from(bytes)),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                return Ok(json_error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    &format!("request body exceeds {max} bytes"),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_must_be_plain() {
        assert!(sane_request_id("abc-123_x.y:z"));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("has space"));
        assert!(!sane_request_id("new\nline"));
        assert!(!sane_request_id(&"a".repeat(129)));
    }

    #[test]
    fn payload_errors_split_into_malformed_and_invalid() {
        let syntax: poem::Error = ParseRequestPayloadError {
            reason: "expected value at line 1 column 1".into(),
        }
        .into();
        assert_eq!(classify(&syntax).0, StatusCode::BAD_REQUEST);
        let schema: poem::Error = ParseRequestPayloadError {
            reason: "failed to parse \"string\": Type \"string\" expects an input value.".into(),
        }
        .into();
        assert_eq!(classify(&schema).0, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
