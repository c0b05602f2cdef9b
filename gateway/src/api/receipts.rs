//! `/v1/webhook-receipts`: the audit trail of inbound webhooks.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use super::security::Credentials;
use super::{ApiError, ApiTags, ListError, ReadError, cursor, page_limit};
use crate::auth::Role;
use crate::gateway::Gateway;
use crate::store::{Receipt, ReceiptFilter, ReceiptOutcome};

/// What became of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", rename = "ReceiptOutcome")]
pub enum OutcomeView {
    /// Its events were applied to a call.
    Applied,
    /// The same delivery was applied before; acknowledged, not applied again.
    Duplicate,
    /// Refused: bad signature or malformed (see `reason`).
    Rejected,
    /// Its call is not known to this gateway.
    UnknownCall,
}

impl From<ReceiptOutcome> for OutcomeView {
    fn from(outcome: ReceiptOutcome) -> Self {
        match outcome {
            ReceiptOutcome::Applied => Self::Applied,
            ReceiptOutcome::Duplicate => Self::Duplicate,
            ReceiptOutcome::Rejected => Self::Rejected,
            ReceiptOutcome::UnknownCall => Self::UnknownCall,
        }
    }
}

/// An inbound webhook as stored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookReceipt {
    /// The receipt's id.
    pub id: String,
    /// The provider instance it was sent to.
    pub provider: String,
    /// The optional topic segment of the URL.
    pub topic: Option<String>,
    /// When the gateway received it.
    pub received_at: DateTime<Utc>,
    /// Header names and values; credentials are redacted.
    pub headers: Vec<Vec<String>>,
    /// `verified`, `unsigned` or `invalid`.
    pub signature: String,
    /// The vendor's event type.
    pub event_type: Option<String>,
    /// The key duplicates are recognized by: the vendor's event id, else a SHA-256 of the body.
    pub dedupe_key: Option<String>,
    /// The call it concerns, when one matched.
    pub call_id: Option<uuid::Uuid>,
    /// What became of it.
    pub outcome: OutcomeView,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// Size of the body as received.
    pub body_size: i64,
    /// Whether the stored body was cut at `gateway.receipt_body_limit_bytes`.
    pub body_truncated: bool,
    /// The raw body (only when one receipt is fetched): UTF-8 text, or base64 (see `body_encoding`).
    #[oai(skip_serializing_if_is_none)]
    pub body: Option<String>,
    /// `utf8` or `base64`.
    #[oai(skip_serializing_if_is_none)]
    pub body_encoding: Option<String>,
    /// `true` when retention (`[retention] webhook_bodies_days`) or an erasure removed the raw
    /// body: the receipt stays, `body` is omitted. Absent otherwise.
    pub body_pruned: Option<bool>,
}

impl From<Receipt> for WebhookReceipt {
    fn from(receipt: Receipt) -> Self {
        let body = receipt.body.filter(|_| !receipt.body_pruned);
        let (body, body_encoding) = match body {
            None => (None, None),
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(text) => (Some(text), Some("utf8".to_owned())),
                Err(e) => (
                    Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
                    Some("base64".to_owned()),
                ),
            },
        };
        Self {
            id: receipt.id,
            provider: receipt.provider,
            topic: receipt.topic,
            received_at: receipt.received_at,
            headers: receipt
                .headers
                .into_iter()
                .map(|(n, v)| vec![n, v])
                .collect(),
            signature: receipt.signature,
            event_type: receipt.event_type,
            dedupe_key: receipt.dedupe_key,
            call_id: receipt.call_id.map(|c| c.as_uuid()),
            outcome: receipt.outcome.into(),
            reason: receipt.reason,
            body_size: receipt.body_size,
            body_truncated: receipt.body_truncated,
            body,
            body_encoding,
            body_pruned: receipt.body_pruned.then_some(true),
        }
    }
}

/// A page of receipts, newest first; bodies omitted.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookReceiptPage {
    /// Receipts, newest first, without bodies.
    pub items: Vec<WebhookReceipt>,
    /// Pass as `cursor` for the next page; omitted on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct ReceiptsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Webhooks")]
impl ReceiptsApi {
    /// List webhook receipts, newest first (raw bodies omitted; get one receipt for its body).
    ///
    /// Filters combine; `next_cursor` is omitted on the last page. Admin only.
    #[oai(
        path = "/webhook-receipts",
        method = "get",
        operation_id = "listWebhookReceipts"
    )]
    #[allow(clippy::too_many_arguments)] // one per query parameter
    async fn list(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        /// Only receipts for this provider instance.
        provider: Query<Option<String>>,
        /// Only receipts with this outcome: `applied`, `duplicate`, `rejected`, `unknown_call`.
        outcome: Query<Option<String>>,
        /// Only receipts resolved to this call.
        call_id: Query<Option<String>>,
        /// Page size, 1 to 200 (default 50).
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<WebhookReceiptPage>, ListError> {
        auth.require(Role::Admin)?;
        let outcome = outcome
            .0
            .map(|o| {
                ReceiptOutcome::parse(&o)
                    .ok_or_else(|| ApiError::invalid("outcome", format!("unknown outcome '{o}'")))
            })
            .transpose()?;
        let call_id = call_id
            .0
            .map(|c| {
                c.parse()
                    .map_err(|_| ApiError::invalid("call_id", "call_id must be a UUID"))
            })
            .transpose()?;
        let before_id = cursor::parse(cursor.0)?;
        let filter = ReceiptFilter {
            provider: provider.0,
            outcome,
            call_id,
            before_id,
            limit: page_limit(limit.0)?,
        };
        let page = gateway.store.list_receipts(&filter).await?;
        Ok(Json(WebhookReceiptPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next.map(|id| cursor::encode(&id)),
        }))
    }

    /// Get one webhook receipt, with its raw body.
    ///
    /// The receipt with its headers (credentials redacted) and stored raw body. Admin only.
    #[oai(
        path = "/webhook-receipts/:id",
        method = "get",
        operation_id = "getWebhookReceipt"
    )]
    async fn get(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<Json<WebhookReceipt>, ReadError> {
        auth.require(Role::Admin)?;
        let receipt = gateway
            .store
            .get_receipt(&id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("webhook receipt"))?;
        Ok(Json(receipt.into()))
    }
}
