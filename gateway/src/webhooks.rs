//! `POST /webhooks/{provider}` and `POST /webhooks/{provider}/{topic}`: the raw bytes go to the
//! named provider through [`crate::ingest`]; the answer is sent only after the commit.

use std::sync::Arc;

use plugin_api::Headers;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde_json::json;
use tracing::warn;

use crate::gateway::Gateway;
use crate::http::error_json;
use crate::ingest::{Delivery, IngestError, Ingested, ingest};
use crate::store::StoreError;

fn respond(status: StatusCode, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    details: Option<serde_json::Value>,
) -> Response {
    respond(status, error_json(code, message, details))
}

fn headers_of(req: &Request) -> Headers {
    Headers(
        req.headers()
            .iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|v| (name.as_str().to_owned(), v.to_owned()))
            })
            .collect(),
    )
}

async fn receive(
    gateway: &Arc<Gateway>,
    req: &Request,
    body: Body,
    provider: String,
    topic: Option<String>,
) -> Response {
    let Some(instance) = gateway.provider(&provider) else {
        let message = format!("no provider named '{provider}' is configured");
        return error(StatusCode::NOT_FOUND, "unknown_provider", &message, None);
    };
    let default_limit =
        usize::try_from(gateway.settings.server.max_body_bytes).unwrap_or(usize::MAX);
    let limit = instance
        .provider
        .webhook_body_limit()
        .unwrap_or(default_limit);
    let too_large = || {
        warn!(limit, "webhook body too large");
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("webhook body exceeds {limit} bytes"),
            None,
        )
    };
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large();
    }
    let body = match body.into_bytes_limit(limit).await {
        Ok(bytes) => bytes.to_vec(),
        Err(poem::error::ReadBodyError::PayloadTooLarge) => return too_large(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                &e.to_string(),
                None,
            );
        }
    };
    let delivery = Delivery {
        provider,
        topic,
        headers: headers_of(req),
        body,
    };
    match ingest(gateway, delivery).await {
        Ok(Ingested {
            reply: Some(reply), ..
        }) => respond(StatusCode::OK, reply),
        Ok(ingested) => respond(
            StatusCode::OK,
            json!({
                "status": "ok",
                "receipt_id": ingested.receipt_id,
                "outcome": ingested.outcome.as_str(),
                "call_id": ingested.call_id.map(|c| c.to_string()),
            }),
        ),
        Err(e) => ingest_error(e),
    }
}

/// 4xx where resending the same webhook cannot help; 503 where it can (so vendors retry).
fn ingest_error(e: IngestError) -> Response {
    let message = e.to_string();
    match e {
        IngestError::UnknownProvider(_) => {
            error(StatusCode::NOT_FOUND, "unknown_provider", &message, None)
        }
        IngestError::BadSignature(_) => error(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            &message,
            None,
        ),
        IngestError::Malformed(_) => {
            error(StatusCode::BAD_REQUEST, "malformed_webhook", &message, None)
        }
        IngestError::UnknownCall { receipt_id } => error(
            StatusCode::NOT_FOUND,
            "unknown_call",
            &message,
            Some(json!({"receipt_id": receipt_id})),
        ),
        IngestError::Store(StoreError::Unavailable(_)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "storage unavailable; retry later",
            None,
        ),
        IngestError::ProviderFailed(reason) => {
            warn!(%reason, "provider failed on a webhook");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "provider_failed",
                &message,
                None,
            )
        }
        IngestError::Recording(io) => {
            warn!(error = %io, "recording not stored");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "recording storage unavailable; retry later",
                None,
            )
        }
        IngestError::Store(store) => {
            warn!(error = %store, "webhook not stored");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
                None,
            )
        }
    }
}

#[handler]
pub async fn provider_webhook(
    req: &Request,
    body: Body,
    Path(provider): Path<String>,
    gateway: Data<&Arc<Gateway>>,
) -> Response {
    receive(&gateway, req, body, provider, None).await
}

#[handler]
pub async fn provider_topic_webhook(
    req: &Request,
    body: Body,
    Path((provider, topic)): Path<(String, String)>,
    gateway: Data<&Arc<Gateway>>,
) -> Response {
    receive(&gateway, req, body, provider, Some(topic)).await
}
