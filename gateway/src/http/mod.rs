//! HTTP plumbing shared by every route: request ids, access logs, body limits, and one JSON
//! error shape for every failure, including those the framework produces itself. Every 503
//! (the database lost, a PostgreSQL statement timeout, a full budget) carries `Retry-After`
//! ([`UNAVAILABLE_RETRY_AFTER_SECS`] unless the route set its own).

use std::time::Instant;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tracing::{Instrument, info, info_span, warn};

pub mod error;
pub mod headers;

pub use error::ApiError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// `Retry-After` of a 503 that did not name its own wait, in seconds.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

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
    let mut replacement = ApiError::for_status(status).into_response();
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
    let path = req.uri().path().to_owned();
    // The path only: query strings may carry tokens.
    let span =
        info_span!("request", request_id = %request_id, method = %req.method(), path = %path);
    let started = Instant::now();
    let handled = REQUEST_ID.scope(request_id.clone(), async move {
        let response = match next.call(req).await {
            Ok(output) => output.into_response(),
            // A handler's own error response (already in the JSON shape) passes through.
            Err(error) if error.is_from_response() => error.into_response(),
            Err(error) => {
                let answer = ApiError::from_framework(&error);
                if answer.status.is_server_error() {
                    warn!(error = %error, "request failed");
                }
                answer.into_response()
            }
        };
        ensure_json_error(response)
    });
    let mut response = handled.instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    headers::secure(&path, response.headers_mut());
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_SECS.into());
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

fn too_large(max: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body exceeds {max} bytes"),
    )
    .into_response()
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
        return Ok(too_large(max));
    }
    if declared.is_none() {
        let body = req.take_body();
        match body.into_bytes_limit(max).await {
            Ok(bytes) => req.set_body(Body::from(bytes)),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                return Ok(too_large(max));
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
}
