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
use crate::http::ApiError;
use crate::ingest::{InboundWebhook, IngestError, Ingested, ingest};

fn respond(status: StatusCode, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
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
        return ApiError::from(IngestError::UnknownProvider(provider)).into_response();
    };
    let default_limit =
        usize::try_from(gateway.settings.server.max_body_bytes).unwrap_or(usize::MAX);
    let limit = instance
        .provider
        .webhook_body_limit()
        .unwrap_or(default_limit);
    let too_large = || {
        warn!(limit, "webhook body too large");
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("webhook body exceeds {limit} bytes"),
        )
        .into_response()
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
            return ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.to_string())
                .into_response();
        }
    };
    let inbound = InboundWebhook {
        provider,
        topic,
        headers: headers_of(req),
        body,
    };
    match ingest(gateway, inbound).await {
        Ok(Ingested {
            reply: Some(reply), ..
        }) => respond(StatusCode::OK, reply),
        Ok(ingested) => {
            let mut ack = json!({
                "status": "ok",
                "receipt_id": ingested.receipt_id,
                "outcome": ingested.outcome.as_str(),
            });
            // Absent values are omitted, as everywhere in the API.
            if let Some(call_id) = ingested.call_id {
                ack["call_id"] = json!(call_id.to_string());
            }
            respond(StatusCode::OK, ack)
        }
        Err(e) => ApiError::from(e).into_response(),
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
