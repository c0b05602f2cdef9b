//! `/v1/webhook-receipts`: the audit trail of inbound webhooks.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use super::admin::audit_admin;
use super::optional_body::OptionalJson;
use super::security::Credentials;
use super::{ApiError, ApiTags, ListError, ReadError, cursor, operation_errors, page_limit};
use crate::auth::Role;
use crate::gateway::Gateway;
use crate::replay::{self, MAX_RANGE_REPLAY, RangeReplay, RangeReplayed};
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

impl From<OutcomeView> for ReceiptOutcome {
    fn from(outcome: OutcomeView) -> Self {
        match outcome {
            OutcomeView::Applied => Self::Applied,
            OutcomeView::Duplicate => Self::Duplicate,
            OutcomeView::Rejected => Self::Rejected,
            OutcomeView::UnknownCall => Self::UnknownCall,
        }
    }
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
    /// The receipt this one replays (`POST /v1/webhook-receipts/{id}/replay`); omitted for webhooks as received.
    pub replay_of: Option<String>,
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
            replay_of: receipt.replay_of,
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

/// How to replay one receipt; the body may be omitted.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example, deny_unknown_fields)]
pub struct ReplayOptions {
    /// Apply the events again even if this delivery was applied to its call before (default `false`: then the replay is a `duplicate`). Applying again is idempotent: statuses only move forward, turns already stored are not added again; the new receipt is `applied` if that changed the call (a field, its status or new turns), else `duplicate`.
    pub force: Option<bool>,
}

impl poem_openapi::types::Example for ReplayOptions {
    fn example() -> Self {
        Self { force: Some(false) }
    }
}

/// Which stored webhooks to replay.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example, deny_unknown_fields)]
pub struct ReplayRangeRequest {
    /// The provider instance the webhooks were sent to (see `GET /v1/providers`).
    pub provider: String,
    /// Webhooks received at or after this time (RFC 3339).
    pub since: DateTime<Utc>,
    /// Webhooks received before this time (RFC 3339); now if omitted.
    pub until: Option<DateTime<Utc>>,
    /// Only webhooks with this outcome, e.g. `unknown_call` (those that arrived before their call existed).
    pub outcome: Option<OutcomeView>,
    /// Apply the events of deliveries applied before again (default `false`), as for one receipt.
    pub force: Option<bool>,
    /// At most this many receipts, 1 to 1000 (default 1000); `next_cursor` says when more match.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous answer, with the same filter: go on after the receipts it took.
    pub cursor: Option<String>,
}

impl poem_openapi::types::Example for ReplayRangeRequest {
    fn example() -> Self {
        Self {
            provider: "vapi".into(),
            since: DateTime::parse_from_rfc3339("2026-12-20T09:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            until: None,
            outcome: Some(OutcomeView::UnknownCall),
            force: None,
            limit: None,
            cursor: None,
        }
    }
}

/// How many replays came to each outcome.
#[derive(Debug, Object)]
pub struct ReplayOutcomes {
    /// Their events were applied to a call.
    pub applied: u64,
    /// Applied before (and not forced, or forcing changed nothing).
    pub duplicate: u64,
    /// Their call is still not known.
    pub unknown_call: u64,
    /// The provider now refuses the stored body (see each receipt's `reason`).
    pub rejected: u64,
}

/// What a range replay did.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ReplayRangeResult {
    /// Receipts replayed: one new receipt each.
    pub replayed: u64,
    /// Receipts that matched but were not replayed: refused when received, or their body is not (fully) stored.
    pub skipped: u64,
    /// The new receipts by outcome.
    pub outcomes: ReplayOutcomes,
    /// The ids of the new receipts, in the order their originals were received.
    pub receipts: Vec<String>,
    /// More receipts match: send the same request with this as `cursor`. Omitted when all were taken.
    pub next_cursor: Option<String>,
}

impl poem_openapi::types::Example for ReplayRangeResult {
    fn example() -> Self {
        Self {
            replayed: 2,
            skipped: 1,
            outcomes: ReplayOutcomes {
                applied: 2,
                duplicate: 0,
                unknown_call: 0,
                rejected: 0,
            },
            receipts: vec![
                "0193a0c4-6a10-7c2e-8f00-2b9d1e0c7a11".into(),
                "0193a0c4-6a10-7c2e-8f00-2b9d1e0c7a12".into(),
            ],
            next_cursor: None,
        }
    }
}

impl From<RangeReplayed> for ReplayRangeResult {
    fn from(done: RangeReplayed) -> Self {
        let counts = done.outcomes;
        Self {
            replayed: done.replayed,
            skipped: done.skipped,
            outcomes: ReplayOutcomes {
                applied: counts.applied,
                duplicate: counts.duplicate,
                unknown_call: counts.unknown_call,
                rejected: counts.rejected,
            },
            receipts: done.receipts,
            next_cursor: done.next.map(|id| cursor::encode(&id)),
        }
    }
}

operation_errors! {
    /// Errors of replaying one receipt.
    ReceiptReplayError {
        /// The body is not valid JSON.
        BadRequest = 400,
        /// No such receipt.
        NotFound = 404,
        /// The receipt cannot be replayed: it was refused when received, its body is no longer (fully) stored, or its provider instance is no longer configured; `details.reason` says which.
        Conflict = 409,
        /// The body is not `application/json`.
        UnsupportedMediaType = 415,
        /// A field is invalid.
        Unprocessable = 422,
        /// The database or the recordings directory is unavailable; retry later.
        Unavailable = 503,
    }
}

operation_errors! {
    /// Errors of replaying a range of receipts.
    RangeReplayError {
        /// The body is not valid JSON.
        BadRequest = 400,
        /// The body is not `application/json`.
        UnsupportedMediaType = 415,
        /// A field is invalid (an unknown provider, `until` not after `since`, `limit`, `cursor`); `details.field` names it.
        Unprocessable = 422,
        /// The database or the recordings directory is unavailable; retry later.
        Unavailable = 503,
    }
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

    /// Replay one stored webhook (admin).
    ///
    /// Runs the receipt's stored body, headers and topic through parse and apply again, with the provider code running now; its signature is not checked again (it was when it arrived), so refused receipts cannot be replayed (409, with the reason). The replay is a new receipt with its own outcome and `replay_of` naming the original, which is not changed; the answer is that receipt, as `GET /v1/webhook-receipts/{id}` shows it. Dedupe holds: a delivery already applied to its call gives a `duplicate`, unless `force` applies its events again. Admin only; audited.
    #[oai(
        path = "/webhook-receipts/:id/replay",
        method = "post",
        operation_id = "replayWebhookReceipt"
    )]
    async fn replay(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        id: Path<String>,
        body: OptionalJson<ReplayOptions>,
    ) -> Result<Json<WebhookReceipt>, ReceiptReplayError> {
        let admin = auth.require(Role::Admin)?;
        let force = body.0.and_then(|o| o.force).unwrap_or(false);
        let replayed = replay::replay(&gateway, &id.0, force)
            .await
            .map_err(ApiError::from)?;
        audit_admin(
            &gateway,
            req,
            admin,
            "webhook_receipt.replay",
            format!("webhook_receipt:{}", id.0),
            Some(format!(
                "replay={} outcome={} force={force}",
                replayed.id,
                replayed.outcome.as_str()
            )),
        )
        .await;
        Ok(Json(replayed.into()))
    }

    /// Replay the stored webhooks of a provider instance received in a time range (admin).
    ///
    /// Replays, oldest first, every receipt `provider` received from `since` until `until` (now if omitted) with `outcome` if given, as one-receipt replays do (each a new receipt naming its original); replays themselves are not taken again. Refused receipts and those whose body is not (fully) stored are skipped and counted. Typical use: webhooks stored `unknown_call` because they arrived before their call existed, replayed once it does. At most `limit` (up to 1000) receipts per request: when more match, `next_cursor` is set; send the same request with it as `cursor` to go on. Admin only; audited.
    #[oai(
        path = "/webhook-receipts/replay",
        method = "post",
        operation_id = "replayWebhookReceipts"
    )]
    async fn replay_range(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        body: Json<ReplayRangeRequest>,
    ) -> Result<Json<ReplayRangeResult>, RangeReplayError> {
        let admin = auth.require(Role::Admin)?;
        let body = body.0;
        if body.until.is_some_and(|until| until <= body.since) {
            return Err(ApiError::invalid("until", "until must be after since").into());
        }
        let limit = match body.limit {
            None => MAX_RANGE_REPLAY,
            Some(n @ 1..=MAX_RANGE_REPLAY) => n,
            Some(_) => {
                let message = format!("limit must be between 1 and {MAX_RANGE_REPLAY}");
                return Err(ApiError::invalid("limit", message).into());
            }
        };
        let range = RangeReplay {
            provider: body.provider,
            since: body.since,
            until: body.until,
            outcome: body.outcome.map(Into::into),
            after_id: cursor::parse(body.cursor)?,
            limit,
            force: body.force.unwrap_or(false),
        };
        let done = replay::replay_range(&gateway, &range)
            .await
            .map_err(ApiError::from)?;
        let counts = done.outcomes;
        let filter = format!(
            "provider={} since={} until={} outcome={} force={}",
            range.provider,
            range.since.to_rfc3339(),
            range.until.map_or("-".to_owned(), |t| t.to_rfc3339()),
            range.outcome.map_or("-", ReceiptOutcome::as_str),
            range.force,
        );
        audit_admin(
            &gateway,
            req,
            admin,
            "webhook_receipt.replay_range",
            format!("provider:{}", range.provider),
            Some(format!(
                "{filter} replayed={} skipped={} applied={} duplicate={} unknown_call={} rejected={} more={}",
                done.replayed,
                done.skipped,
                counts.applied,
                counts.duplicate,
                counts.unknown_call,
                counts.rejected,
                done.next.is_some(),
            )),
        )
        .await;
        Ok(Json(done.into()))
    }
}
