//! `POST /webhooks/{provider}` and `POST /webhooks/{provider}/{topic}`: the raw bytes go to the
//! named provider through [`crate::ingest`]; the answer is sent only after the commit.
//!
//! Senders are not authenticated until their signature is checked, so what they can make the
//! gateway hold is bounded before that: each body by its provider's limit, and all bodies being
//! read or ingested together by `[server] max_webhook_bytes_in_flight` ([`BodyBudget`]).

use std::sync::Arc;

use futures_util::StreamExt;
use plugin_api::Headers;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use crate::config::ServerConfig;
use crate::gateway::Gateway;
use crate::http::ApiError;
use crate::ingest::{InboundWebhook, IngestError, Ingested, ingest, precheck};

/// The webhook body bytes all senders together may have buffered at once, shared by the webhook
/// routes. A webhook holds its share from before its body is read (its `Content-Length`, or
/// chunk by chunk as it arrives) until it is answered.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
}

impl BodyBudget {
    pub fn new(server: &ServerConfig) -> Self {
        let bytes = usize::try_from(server.max_webhook_bytes_in_flight).unwrap_or(usize::MAX);
        Self {
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// `more` bytes added to `held`, if the budget has them now.
    fn take(&self, held: &mut Option<OwnedSemaphorePermit>, more: usize) -> bool {
        let Ok(more) = u32::try_from(more) else {
            return false;
        };
        match Arc::clone(&self.bytes).try_acquire_many_owned(more) {
            Ok(permit) => {
                match held {
                    Some(held) => held.merge(permit),
                    None => *held = Some(permit),
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// Why a body was not read.
enum Unread {
    TooLarge,
    Busy,
    Broken(String),
}

/// Reads a body of at most `limit` bytes, taking its bytes from `budget` first: the declared
/// length before anything is read, then whatever arrives beyond it.
async fn read_body(
    body: Body,
    declared: Option<u64>,
    limit: usize,
    budget: &BodyBudget,
) -> Result<(Vec<u8>, Option<OwnedSemaphorePermit>), Unread> {
    let mut held = None;
    let mut reserved = 0;
    if let Some(declared) = declared {
        reserved = usize::try_from(declared).map_err(|_| Unread::TooLarge)?;
        if !budget.take(&mut held, reserved) {
            return Err(Unread::Busy);
        }
    }
    let mut data = Vec::with_capacity(reserved.min(limit));
    let mut chunks = std::pin::pin!(body.into_bytes_stream());
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| Unread::Broken(e.to_string()))?;
        let len = data.len() + chunk.len();
        if len > limit {
            return Err(Unread::TooLarge);
        }
        if len > reserved {
            if !budget.take(&mut held, len - reserved) {
                return Err(Unread::Busy);
            }
            reserved = len;
        }
        data.extend_from_slice(&chunk);
    }
    Ok((data, held))
}

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
    budget: &BodyBudget,
    req: &Request,
    body: Body,
    provider: String,
    topic: Option<String>,
) -> Response {
    let Some(instance) = gateway.provider(&provider) else {
        return ApiError::from(IngestError::UnknownProvider(provider)).into_response();
    };
    // Schemes that authenticate by a header are checked before anything of the body is read.
    let mut inbound = InboundWebhook {
        provider,
        topic,
        headers: headers_of(req),
        body: Vec::new(),
    };
    if let Err(e) = precheck(gateway, &inbound).await {
        return ApiError::from(e).into_response();
    }
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
    // Held until the webhook is answered: its bytes live that long.
    let (body, _held) = match read_body(body, declared, limit, budget).await {
        Ok(read) => read,
        Err(Unread::TooLarge) => return too_large(),
        Err(Unread::Busy) => {
            warn!("webhook refused: max_webhook_bytes_in_flight reached");
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "too many webhook bytes in flight; retry later",
            )
            .into_response();
            response
                .headers_mut()
                .insert(poem::http::header::RETRY_AFTER, 1.into());
            return response;
        }
        Err(Unread::Broken(reason)) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", reason)
                .into_response();
        }
    };
    inbound.body = body;
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
    budget: Data<&BodyBudget>,
) -> Response {
    receive(&gateway, &budget, req, body, provider, None).await
}

#[handler]
pub async fn provider_topic_webhook(
    req: &Request,
    body: Body,
    Path((provider, topic)): Path<(String, String)>,
    gateway: Data<&Arc<Gateway>>,
    budget: Data<&BodyBudget>,
) -> Response {
    receive(&gateway, &budget, req, body, provider, Some(topic)).await
}
