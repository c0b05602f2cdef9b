//! `/v1/calls`: place calls and follow them.

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use plugin_api::{Call, CallId, CallStatus, PhoneNumber};
use poem::Body;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::range::ByteRange;
use super::security::Credentials;
use super::{
    ApiError, ApiResult, ApiTags, ErrorBody, ListError, ReadError, cursor, operation_errors,
    page_limit, parse_time,
};
use crate::audit;
use crate::auth::Role;
use crate::dispatch::{self, Created, NewCallRequest};
use crate::gateway::Gateway;
use crate::reconcile;
use crate::store::{CallFilter, StatusEvent};
use crate::views::{CallStatusView, CallView, TurnView};

/// Largest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;
/// Largest serialized `variables` or `metadata` object.
const MAX_MAP_BYTES: usize = 16 * 1024;

/// A request to place an outbound call.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example, deny_unknown_fields)]
pub struct CreateCallRequest {
    /// The number to call, E.164: `+` then 8 to 15 digits, not starting with 0.
    pub to: String,
    /// The provider instance to use (see `GET /v1/providers`); the default provider if omitted.
    pub provider: Option<String>,
    /// The vendor's agent or assistant id; the provider's configured default if omitted.
    pub agent_id: Option<String>,
    /// The vendor's id of the number to call from; the provider's configured default if omitted.
    pub from_number_id: Option<String>,
    /// Values for the agent's prompt (ElevenLabs dynamic variables, VAPI variable values).
    pub variables: Option<BTreeMap<String, Value>>,
    /// Your own data, stored with the call and passed to the vendor where it allows.
    pub metadata: Option<BTreeMap<String, Value>>,
    /// What the agent says first, where the provider supports overriding it.
    pub first_message: Option<String>,
}

impl poem_openapi::types::Example for CreateCallRequest {
    fn example() -> Self {
        let variables = serde_json::json!({"customer_name": "Ada"});
        Self {
            to: "+14155550123".into(),
            provider: Some("echo".into()),
            agent_id: None,
            from_number_id: None,
            variables: variables
                .as_object()
                .map(|m| m.clone().into_iter().collect()),
            metadata: None,
            first_message: None,
        }
    }
}

fn optional_text(field: &str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    match value {
        Some(v) if v.trim().is_empty() => Err(ApiError::invalid(
            field,
            format!("{field} must not be empty"),
        )),
        Some(v) if v.len() > max => Err(ApiError::invalid(
            field,
            format!("{field} is longer than {max} characters"),
        )),
        v => Ok(v),
    }
}

fn bounded_map(
    field: &str,
    value: Option<BTreeMap<String, Value>>,
) -> ApiResult<Map<String, Value>> {
    let value: Map<String, Value> = value.unwrap_or_default().into_iter().collect();
    if serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(0) > MAX_MAP_BYTES {
        return Err(ApiError::invalid(
            field,
            format!("{field} is larger than {MAX_MAP_BYTES} bytes"),
        ));
    }
    Ok(value)
}

impl CreateCallRequest {
    fn validate(self) -> ApiResult<NewCallRequest> {
        let to = PhoneNumber::parse(self.to.trim()).map_err(|e| {
            ApiError::invalid(
                "to",
                format!("`to` must be an E.164 number ('+' then 8 to 15 digits): {e}"),
            )
        })?;
        Ok(NewCallRequest {
            to,
            provider: optional_text("provider", self.provider, 64)?,
            agent_id: optional_text("agent_id", self.agent_id, 256)?,
            from_number_id: optional_text("from_number_id", self.from_number_id, 256)?,
            variables: bounded_map("variables", self.variables)?,
            metadata: bounded_map("metadata", self.metadata)?,
            first_message: optional_text("first_message", self.first_message, 4096)?,
        })
    }
}

#[derive(Debug, ApiResponse)]
pub enum CreateCallResponse {
    /// The provider accepted the call.
    #[oai(status = 201)]
    Created(Json<CallView>, #[oai(header = "Location")] String),
    /// The same `Idempotency-Key` and body were sent before: this is the original call, and no
    /// second call was placed.
    #[oai(status = 200)]
    Replayed(
        Json<CallView>,
        #[oai(header = "Idempotent-Replayed")] String,
    ),
    /// The call is stored but the provider's answer is not known yet; follow it with `GET /v1/calls/{id}`.
    #[oai(status = 202)]
    Pending(Json<CallView>, #[oai(header = "Location")] String),
}

#[derive(Debug, ApiResponse)]
pub enum GetCallResponse {
    #[oai(status = 200)]
    Ok(Json<CallView>),
}

#[derive(ApiResponse)]
pub enum RecordingResponse {
    /// The call's audio recording.
    #[oai(status = 200, content_type = "audio/mpeg")]
    Ok(
        Binary<Body>,
        #[oai(header = "Accept-Ranges")] String,
        #[oai(header = "Content-Length")] u64,
    ),
    /// The requested bytes of the recording (`Range: bytes=a-b`, `bytes=a-` or `bytes=-n`).
    #[oai(status = 206, content_type = "audio/mpeg")]
    Partial(
        Binary<Body>,
        #[oai(header = "Accept-Ranges")] String,
        #[oai(header = "Content-Range")] String,
        #[oai(header = "Content-Length")] u64,
    ),
    /// No byte of the recording is in the requested range; `Content-Range: bytes */<size>`
    /// gives its size.
    #[oai(status = 416)]
    RangeNotSatisfiable(Json<ErrorBody>, #[oai(header = "Content-Range")] String),
}

#[derive(Debug, ApiResponse)]
pub enum HangupResponse {
    /// The provider was asked to end the call; its status changes when the provider reports it.
    #[oai(status = 202)]
    Accepted(Json<CallView>),
}

/// A page of calls, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CallPage {
    /// Calls, newest first.
    pub items: Vec<CallView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A call's transcript, in order.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Transcript {
    /// The call.
    pub call_id: uuid::Uuid,
    /// Turns in order of `seq`.
    pub turns: Vec<TurnView>,
}

/// One status change the gateway received, applied or not.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StatusEventView {
    /// The event's sequence number (ascending in arrival order).
    pub id: i64,
    /// The status before; omitted for the first event.
    pub from_status: Option<CallStatusView>,
    /// The status reported.
    pub to_status: CallStatusView,
    /// False for late or duplicate events that did not change the call (kept for the record).
    pub applied: bool,
    /// Why (e.g. the vendor's end reason).
    pub reason: Option<String>,
    /// The vendor's own status string.
    pub vendor_status: Option<String>,
    /// `api`, `dispatch` or `webhook`.
    pub source: String,
    /// The webhook receipt that carried it.
    pub receipt_id: Option<String>,
    /// When the vendor says it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// When the gateway recorded it.
    pub recorded_at: DateTime<Utc>,
}

impl From<StatusEvent> for StatusEventView {
    fn from(event: StatusEvent) -> Self {
        Self {
            id: event.id,
            from_status: event.from_status.map(Into::into),
            to_status: event.to_status.into(),
            applied: event.applied,
            reason: event.reason,
            vendor_status: event.vendor_status,
            source: event.source,
            receipt_id: event.receipt_id,
            occurred_at: event.occurred_at,
            recorded_at: event.recorded_at,
        }
    }
}

/// A call's status history, oldest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StatusHistory {
    /// The call.
    pub call_id: uuid::Uuid,
    /// Status changes, oldest first.
    pub events: Vec<StatusEventView>,
}

/// The call an outcome concerns, for the audit log.
trait AuditedCall {
    fn call_id(&self) -> Option<CallId>;
}

impl AuditedCall for Result<Created, dispatch::DispatchError> {
    fn call_id(&self) -> Option<CallId> {
        match self {
            Ok(Created::Accepted(c) | Created::Pending(c) | Created::Replayed(c)) => Some(c.id),
            Ok(Created::Rejected { call, .. }) => Some(call.id),
            Err(dispatch::DispatchError::ProviderRejected { call_id, .. })
            | Err(dispatch::DispatchError::InvalidForProvider { call_id, .. }) => Some(*call_id),
            Err(_) => None,
        }
    }
}

impl AuditedCall for Result<Call, dispatch::DispatchError> {
    fn call_id(&self) -> Option<CallId> {
        self.as_ref().ok().map(|c| c.id)
    }
}

async fn audit_call<T: AuditedCall>(
    gateway: &Arc<Gateway>,
    req: &poem::Request,
    principal: &crate::auth::Principal,
    action: &str,
    outcome: &T,
) {
    let call_id = outcome.call_id();
    let record = audit::Record {
        who: audit::Who::Principal(principal),
        action,
        target: call_id.map(|id| format!("call:{id}")),
        client_addr: gateway.auth.client_addr(req),
        outcome: if call_id.is_some() {
            audit::Outcome::Success
        } else {
            audit::Outcome::Failure
        },
        detail: None,
    };
    audit::record(gateway, record).await;
}

fn call_id(raw: &str) -> ApiResult<CallId> {
    raw.parse().map_err(|_| ApiError::not_found("call"))
}

async fn existing_call(gateway: &Gateway, raw: &str) -> ApiResult<Call> {
    gateway
        .store
        .get_call(call_id(raw)?)
        .await?
        .ok_or_else(|| ApiError::not_found("call"))
}

operation_errors! {
    /// Errors of placing a call.
    CreateCallError {
        /// The body is not valid JSON.
        BadRequest = 400,
        /// A request with this `Idempotency-Key` is still being processed (or died less than `gateway.idempotency_claim_timeout_secs` ago).
        Conflict = 409,
        /// The body is larger than `server.max_body_bytes`.
        PayloadTooLarge = 413,
        /// The body is not `application/json`.
        UnsupportedMediaType = 415,
        /// A field is invalid (`details.field` names it), or the `Idempotency-Key` was used with another body.
        Unprocessable = 422,
        /// The provider refused or could not be reached; the call is stored as `failed` and `call_id` names it.
        BadGateway = 502,
        /// The database is unavailable; retry later.
        Unavailable = 503,
    }
}

operation_errors! {
    /// Errors of asking the provider about a call (hang up, refresh).
    HangupError {
        /// No such call.
        NotFound = 404,
        /// The call has already ended, or its provider cannot do this.
        Conflict = 409,
        /// The provider refused or could not be reached.
        BadGateway = 502,
        /// The database is unavailable; retry later.
        Unavailable = 503,
    }
}

operation_errors! {
    /// Errors of erasing a call.
    EraseError {
        /// No such call.
        NotFound = 404,
        /// The database is unavailable; retry later.
        Unavailable = 503,
    }
}

#[derive(Debug, ApiResponse)]
pub enum EraseResponse {
    /// The call's personal data is erased (now, or by an earlier request: nothing changed
    /// then). What is left is its tombstone: `erased` and `erased_at` say so.
    #[oai(status = 200)]
    Erased(Json<CallView>),
}

#[derive(Debug, Clone, Copy)]
pub struct CallsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Calls")]
impl CallsApi {
    /// Place an outbound call.
    ///
    /// The call is stored (`queued`) before the provider is asked, then updated with the
    /// vendor's ids, or marked `failed` with the vendor's error (502, with the call's id).
    /// Send an `Idempotency-Key` to make retries safe: the same key and body return the original
    /// call (200, `Idempotent-Replayed: true`); the same key with another body is 422; while the
    /// first request is still in flight, 409. Keys are kept 24 hours (`[retention] idempotency_hours`).
    /// A first request that died mid-flight is taken over by a retry with the same key and body
    /// after `gateway.idempotency_claim_timeout_secs`, which settles the stored call without
    /// placing it twice.
    #[oai(path = "/calls", method = "post", operation_id = "createCall")]
    async fn create(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &poem::Request,
        auth: Credentials,
        body: Json<CreateCallRequest>,
        /// Makes retries safe (at most 255 characters).
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
    ) -> Result<CreateCallResponse, CreateCallError> {
        let principal = auth.require(Role::Operator)?;
        let request = body.0.validate()?;
        let key = match idempotency_key.0 {
            Some(key) if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY => {
                return Err(ApiError::invalid(
                    "Idempotency-Key",
                    "Idempotency-Key must be 1 to 255 characters",
                )
                .into());
            }
            key => key,
        };
        let created = dispatch::create_call(&gateway, request, key, Some(principal.scope())).await;
        audit_call(&gateway, req, principal, "call.create", &created).await;
        match created? {
            Created::Accepted(call) => {
                let location = format!("/v1/calls/{}", call.id);
                Ok(CreateCallResponse::Created(Json(call.into()), location))
            }
            Created::Pending(call) => {
                let location = format!("/v1/calls/{}", call.id);
                Ok(CreateCallResponse::Pending(Json(call.into()), location))
            }
            Created::Replayed(call) => Ok(CreateCallResponse::Replayed(
                Json(call.into()),
                "true".to_owned(),
            )),
            Created::Rejected { call, message } => Err(dispatch::DispatchError::ProviderRejected {
                call_id: call.id,
                message,
            }
            .into()),
        }
    }

    /// Get a call.
    ///
    /// The call as the gateway knows it now: status, vendor ids, times, cost, summary and analysis when the vendor reported them. Any role.
    #[oai(path = "/calls/:id", method = "get", operation_id = "getCall")]
    async fn get(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<GetCallResponse, ReadError> {
        auth.require(Role::Viewer)?;
        let call = existing_call(&gateway, &id.0).await?;
        Ok(GetCallResponse::Ok(Json(call.into())))
    }

    /// List calls, newest first, with optional filters and cursor pagination.
    ///
    /// Filters combine (all must match). `next_cursor` is omitted on the last page; pass it back as `cursor` for the next one. Any role.
    #[oai(path = "/calls", method = "get", operation_id = "listCalls")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        /// Only calls with this status.
        status: Query<Option<String>>,
        /// Only calls of this provider instance.
        provider: Query<Option<String>>,
        /// Only calls to this number (E.164).
        to: Query<Option<String>>,
        /// Only calls created after this time (RFC 3339).
        created_after: Query<Option<String>>,
        /// Only calls created before this time (RFC 3339).
        created_before: Query<Option<String>>,
        /// Page size, 1 to 200 (default 50).
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<CallPage>, ListError> {
        auth.require(Role::Viewer)?;
        let status = status
            .0
            .map(|s| {
                s.parse::<CallStatus>()
                    .map_err(|e| ApiError::invalid("status", e.to_string()))
            })
            .transpose()?;
        let to =
            to.0.map(|t| {
                PhoneNumber::parse(&t)
                    .map(|p| p.as_str().to_owned())
                    .map_err(|e| {
                        ApiError::invalid("to", format!("`to` must be an E.164 number: {e}"))
                    })
            })
            .transpose()?;
        let before_id = cursor::parse(cursor.0)?;
        let filter = CallFilter {
            status,
            provider: provider.0,
            to,
            created_after: parse_time("created_after", created_after.0)?,
            created_before: parse_time("created_before", created_before.0)?,
            before_id,
            limit: page_limit(limit.0)?,
        };
        let page = gateway.store.list_calls(&filter).await?;
        Ok(Json(CallPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next.map(|id| cursor::encode(&id.to_string())),
        }))
    }

    /// Get a call's transcript, in order.
    ///
    /// Stored turns, live and post-call (reconciled: a post-call turn replaces the live one it matches). No turns once retention removed them (the call shows `transcript_pruned`) or the call was erased. Any role.
    #[oai(
        path = "/calls/:id/transcript",
        method = "get",
        operation_id = "getCallTranscript"
    )]
    async fn transcript(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<Json<Transcript>, ReadError> {
        auth.require(Role::Viewer)?;
        let call = existing_call(&gateway, &id.0).await?;
        let turns = gateway.store.transcript(call.id, 0).await?;
        Ok(Json(Transcript {
            call_id: call.id.as_uuid(),
            turns: turns.into_iter().map(TurnView::from).collect(),
        }))
    }

    /// Get a call's status history, including late events that did not change it.
    ///
    /// Every status report the gateway received for the call, oldest first, with whether it was applied (late `ringing` after `in_progress` is recorded, not applied). Any role.
    #[oai(
        path = "/calls/:id/events",
        method = "get",
        operation_id = "getCallEvents"
    )]
    async fn events(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<Json<StatusHistory>, ReadError> {
        auth.require(Role::Viewer)?;
        let call = existing_call(&gateway, &id.0).await?;
        let events = gateway.store.status_events(call.id).await?;
        Ok(Json(StatusHistory {
            call_id: call.id.as_uuid(),
            events: events.into_iter().map(Into::into).collect(),
        }))
    }

    /// Erase a call's personal data, leaving a tombstone.
    ///
    /// Removes the transcript, the recording (file and reference), variables, metadata, first
    /// message, summary, analysis, vendor metadata, the raw bodies of its webhook receipts
    /// (they show `body_pruned`) and its events to applications (with their pending
    /// deliveries), and masks the number (country code and last two digits). Kept, so counts
    /// and billing stay true: id, provider, status and history, times, duration, cost. A call
    /// erased before answers 200 with the same tombstone and nothing changes. Admin only;
    /// audited as `call.erase`.
    #[oai(path = "/calls/:id", method = "delete", operation_id = "eraseCall")]
    async fn erase(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &poem::Request,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<EraseResponse, EraseError> {
        let principal = auth.require(Role::Admin)?;
        let id = call_id(&id.0)?;
        let erasure = gateway
            .store
            .erase_call(id)
            .await?
            .ok_or_else(|| ApiError::not_found("call"))?;
        let record = audit::Record {
            who: audit::Who::Principal(principal),
            action: "call.erase",
            target: Some(format!("call:{id}")),
            client_addr: gateway.auth.client_addr(req),
            outcome: audit::Outcome::Success,
            detail: Some(format!("erased={}", u8::from(erasure.newly))),
        };
        audit::record(&gateway, record).await;
        Ok(EraseResponse::Erased(Json(erasure.call.into())))
    }

    /// Get a call's audio recording, when its provider delivered one.
    ///
    /// The audio the provider delivered, as stored by the gateway; 404 when there is none (with
    /// `details.pruned: true` when retention or an erasure removed it). One
    /// range of bytes may be asked for with `Range` (206, or 416 when no byte is in it); other
    /// ranges (several, other units) are ignored and the whole recording is sent. Any role.
    #[oai(
        path = "/calls/:id/recording",
        method = "get",
        operation_id = "getCallRecording"
    )]
    async fn recording(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        id: Path<String>,
        /// One range of bytes: `bytes=<first>-<last>`, `bytes=<first>-` or `bytes=-<suffix length>`.
        #[oai(name = "Range")]
        range: Header<Option<String>>,
    ) -> Result<RecordingResponse, ReadError> {
        auth.require(Role::Viewer)?;
        let call = existing_call(&gateway, &id.0).await?;
        if call.removed.recording || call.removed.erased_at.is_some() {
            return Err(ApiError::build(
                StatusCode::NOT_FOUND,
                "not_found",
                "recording pruned: retention or erasure removed it".to_owned(),
                Some(serde_json::json!({"pruned": true})),
            )
            .into());
        }
        let no_recording = || ApiError::not_found("recording");
        let path = gateway
            .store
            .recording_path(call.id)
            .await?
            .ok_or_else(no_recording)?;
        let unreadable = |e: std::io::Error| {
            tracing::error!(error = %e, "stored recording cannot be read");
            no_recording()
        };
        let mut file = tokio::fs::File::open(&path).await.map_err(unreadable)?;
        let size = file.metadata().await.map_err(unreadable)?.len();
        let bytes = || "bytes".to_owned();
        match ByteRange::parse(range.0.as_deref(), size) {
            ByteRange::Whole => {
                let body = Body::from_async_read(file);
                Ok(RecordingResponse::Ok(Binary(body), bytes(), size))
            }
            ByteRange::Part { start, end } => {
                file.seek(SeekFrom::Start(start))
                    .await
                    .map_err(unreadable)?;
                let length = end - start + 1;
                let body = Body::from_async_read(file.take(length));
                Ok(RecordingResponse::Partial(
                    Binary(body),
                    bytes(),
                    format!("bytes {start}-{end}/{size}"),
                    length,
                ))
            }
            ByteRange::Unsatisfiable => {
                let error = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("no byte of the recording ({size} bytes) is in the range"),
                );
                Ok(RecordingResponse::RangeNotSatisfiable(
                    Json(*error.body),
                    format!("bytes */{size}"),
                ))
            }
        }
    }

    /// Fetch a call's state from its vendor now and apply it (what reconciliation does for calls
    /// whose webhooks went missing). 409 when the provider cannot fetch calls or the call has no
    /// vendor id yet.
    ///
    /// Answers the call after the vendor's answer is applied. Operator or admin.
    #[oai(
        path = "/calls/:id/refresh",
        method = "post",
        operation_id = "refreshCall"
    )]
    async fn refresh(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<GetCallResponse, HangupError> {
        auth.require(Role::Operator)?;
        let call = reconcile::refresh(&gateway, call_id(&id.0)?).await?;
        Ok(GetCallResponse::Ok(Json(call.into())))
    }

    /// Hang up a call.
    ///
    /// 202 once the provider was asked; the call's status changes when the provider reports the
    /// end, and a call that then ends normally is recorded as `canceled` (end reason kept). 409
    /// when the call has already ended or its provider cannot hang up (e.g. the vendor gave no
    /// way to control the call).
    #[oai(
        path = "/calls/:id/hangup",
        method = "post",
        operation_id = "hangupCall"
    )]
    async fn hangup(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &poem::Request,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<HangupResponse, HangupError> {
        let principal = auth.require(Role::Operator)?;
        let hung_up = dispatch::hangup(&gateway, call_id(&id.0)?).await;
        audit_call(&gateway, req, principal, "call.hangup", &hung_up).await;
        Ok(HangupResponse::Accepted(Json(hung_up?.into())))
    }
}
