//! Events to applications: `/v1/event-endpoints` (admin) and the event log `/v1/events`.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::Value;

use super::security::Credentials;
use super::{
    ApiError, ApiResult, ApiTags, ListError, ReadError, cursor, operation_errors, page_limit,
};
use crate::audit::{self, Outcome, Record, Who};
use crate::auth::{Principal, Role};
use crate::delivery::{self, client, sign};
use crate::gateway::Gateway;
use crate::store::{
    Attempt, Delivery, DeliveryFilter, DeliveryStatus, Endpoint, EndpointChange, EventFilter,
    EventRecord, NewEndpoint,
};

/// How long the previous secret keeps signing after a rotation.
const ROTATION_OVERLAP_HOURS: i64 = 24;

/// An application endpoint events are delivered to (never its secret).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventEndpoint {
    /// The endpoint's id (`cfg_<name>` for endpoints declared in config).
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// A note to recognize the endpoint by.
    pub description: Option<String>,
    /// The event types delivered; omitted: every type.
    pub event_types: Option<Vec<String>>,
    /// A disabled endpoint receives nothing; its pending deliveries wait until it is enabled.
    pub enabled: bool,
    /// Why the gateway disabled it (e.g. it answered 410 Gone, or failed for `disable_after_hours`).
    pub disabled_reason: Option<String>,
    /// Declared in config (`[events.endpoints.<name>]`): the API cannot change it.
    pub read_only: bool,
    /// Until when the secret before the last rotation signs too.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Since when every attempt to this endpoint failed; omitted while it succeeds.
    pub failing_since: Option<DateTime<Utc>>,
    /// When the endpoint was created.
    pub created_at: DateTime<Utc>,
    /// When the endpoint last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Endpoint> for EventEndpoint {
    fn from(e: Endpoint) -> Self {
        let now = Utc::now();
        Self {
            read_only: e.source == "config",
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            previous_secret_expires_at: e.previous_secret_until.filter(|u| *u > now),
            failing_since: e.failing_since,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret: only in the answers that create or rotate it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventEndpointWithSecret {
    /// `whsec_` + base64 of 32 random bytes: verify deliveries with it (any Standard Webhooks library). Shown this once.
    pub secret: String,
    #[oai(flatten)]
    pub endpoint: EventEndpoint,
}

/// A new endpoint.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct CreateEventEndpoint {
    /// `http(s)` URL (only `https` in production); private destinations are refused.
    pub url: String,
    /// A note to recognize the endpoint by (at most 512 characters).
    pub description: Option<String>,
    /// Event types to deliver; omit for every type.
    pub event_types: Option<Vec<String>>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Changes to an endpoint; omitted fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct UpdateEventEndpoint {
    /// A new URL.
    pub url: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// New event types (at least one).
    pub event_types: Option<Vec<String>>,
    /// Enabling a disabled endpoint clears its `disabled_reason`; its pending deliveries resume.
    pub enabled: Option<bool>,
}

/// The endpoints.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventEndpointList {
    /// Config-declared endpoints first, then by id.
    pub items: Vec<EventEndpoint>,
}

/// One attempt of a delivery.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeliveryAttempt {
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// The endpoint's status code; omitted when no answer came.
    pub status_code: Option<u16>,
    /// From sending to the answer (or the failure), in milliseconds.
    pub latency_ms: i64,
    /// Why it failed: the status, a timeout, a refused connection or destination.
    pub error: Option<String>,
    /// The first 1 KiB of the answer.
    pub response_body: Option<String>,
}

impl From<Attempt> for DeliveryAttempt {
    fn from(a: Attempt) -> Self {
        Self {
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
            response_body: a.response_body,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", rename = "DeliveryStatus")]
pub enum DeliveryStatusView {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// An attempt was answered 2xx.
    Succeeded,
    /// The retry schedule ran out, or the endpoint answered 410.
    Failed,
}

impl From<DeliveryStatus> for DeliveryStatusView {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Succeeded => Self::Succeeded,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

/// One event's delivery to one endpoint.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventDelivery {
    /// The delivery's id.
    pub id: String,
    /// The event delivered (`webhook-id`).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event's call; omitted for `ping`.
    pub call_id: Option<uuid::Uuid>,
    /// The event's sequence within its call.
    pub sequence: i64,
    /// Where it stands.
    pub status: DeliveryStatusView,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the delivery was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Delivery> for EventDelivery {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            endpoint_id: d.endpoint_id,
            call_id: d.call_id.map(|c| c.as_uuid()),
            sequence: d.sequence,
            status: d.status.into(),
            next_attempt_at: d.next_attempt_at,
            attempts: d.attempt_log.into_iter().map(Into::into).collect(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventDeliveryPage {
    /// Deliveries, newest first, with their attempts.
    pub items: Vec<EventDelivery>,
    /// Pass as `cursor` for the next page; omitted on the last page.
    pub next_cursor: Option<String>,
}

/// An event as delivered: the same envelope for every provider. Its `data` is one of the
/// payload schemas `CallCreatedData`, `CallStatusChangedData`, `CallTranscriptTurnData`,
/// `CallTranscriptFinalizedData`, `CallEndedData`, `CallRecordingReadyData`, `PingData`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Event {
    /// `evt_<uuidv7>`; the `webhook-id` header of every delivery of it.
    pub id: String,
    /// `call.created`, `call.status_changed`, `call.transcript.turn`, `call.transcript.finalized`,
    /// `call.ended`, `call.recording.ready` or `ping`.
    #[oai(rename = "type")]
    pub kind: String,
    /// When the change that caused it was committed.
    pub created_at: DateTime<Utc>,
    /// The call; omitted for `ping`.
    pub call_id: Option<uuid::Uuid>,
    /// Increases by one per event of the call (drop anything older than what you have); 0 for `ping`.
    pub sequence: i64,
    /// The payload of the event's type.
    pub data: Value,
}

impl From<EventRecord> for Event {
    fn from(e: EventRecord) -> Self {
        let data = e.payload.get("data").cloned().unwrap_or(Value::Null);
        Self {
            id: e.id,
            kind: e.kind,
            created_at: e.created_at,
            call_id: e.call_id.map(|c| c.as_uuid()),
            sequence: e.sequence,
            data,
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventPage {
    /// Events, newest first.
    pub items: Vec<Event>,
    /// Pass as `cursor` for the next page; omitted on the last page.
    pub next_cursor: Option<String>,
}

/// What the test route's `ping` came to.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TestDelivery {
    /// The `ping` event sent.
    pub event_id: String,
    /// Whether the endpoint answered 2xx.
    pub succeeded: bool,
    /// The attempt.
    pub attempt: DeliveryAttempt,
}

/// Which endpoints to deliver to again.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct RedeliverRequest {
    /// Only this endpoint (whatever its filter); omit for every enabled endpoint whose filter matches.
    pub endpoint_id: Option<String>,
}

/// New deliveries made.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Redelivered {
    /// The deliveries created (see the endpoint's deliveries).
    pub delivery_ids: Vec<String>,
}

/// Since when to re-send.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ReplayRequest {
    /// Every event created at or after this time (RFC 3339) that the endpoint's filter matches.
    pub since: DateTime<Utc>,
}

/// How many events are re-sent.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Replayed {
    /// Deliveries created, one per event, in event order.
    pub deliveries: u64,
}

operation_errors! {
    /// Errors of creating or changing an endpoint.
    EndpointWriteError {
        /// The body is not valid JSON.
        BadRequest = 400,
        /// No such endpoint.
        NotFound = 404,
        /// The endpoint is declared in config and read-only.
        Conflict = 409,
        /// The body is not `application/json`.
        UnsupportedMediaType = 415,
        /// A field is invalid (URL, destination, event types); `details.field` names it.
        Unprocessable = 422,
        /// The database is unavailable; retry later.
        Unavailable = 503,
    }
}

#[derive(Debug, ApiResponse)]
pub enum EndpointCreated {
    #[oai(status = 201)]
    Created(Json<EventEndpointWithSecret>),
}

#[derive(Debug, ApiResponse)]
pub enum EndpointDeleted {
    #[oai(status = 204)]
    Deleted,
}

#[derive(Debug, ApiResponse)]
pub enum ReplayAccepted {
    #[oai(status = 202)]
    Accepted(Json<Replayed>),
}

#[derive(Debug, ApiResponse)]
pub enum RedeliveryAccepted {
    #[oai(status = 202)]
    Accepted(Json<Redelivered>),
}

operation_errors! {
    /// Errors of listing an endpoint's deliveries.
    DeliveryListError {
        /// A parameter does not parse.
        BadRequest = 400,
        /// No such endpoint.
        NotFound = 404,
        /// A filter, `limit` or `cursor` is invalid; `details.field` names it.
        Unprocessable = 422,
        /// The database is unavailable; retry later.
        Unavailable = 503,
    }
}

fn read_only(endpoint: &Endpoint) -> ApiResult<()> {
    if endpoint.source == "config" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "read_only",
            "this endpoint is declared in config ([events.endpoints]); change it there",
        ));
    }
    Ok(())
}

async fn checked_url(gateway: &Gateway, url: &str) -> ApiResult<String> {
    let url = url.trim().to_owned();
    delivery::check_url_syntax(&url, gateway.settings.log.environment)
        .map_err(|e| ApiError::invalid("url", e))?;
    client::check_destination(&url, gateway.settings.events.allow_private_destinations)
        .await
        .map_err(|e| ApiError::invalid("url", e))?;
    Ok(url)
}

fn checked_types(types: Option<Vec<String>>) -> ApiResult<Option<Vec<String>>> {
    if let Some(types) = &types {
        delivery::check_event_types(types).map_err(|e| ApiError::invalid("event_types", e))?;
    }
    Ok(types.map(|mut t| {
        t.dedup();
        t
    }))
}

fn checked_description(description: Option<String>) -> ApiResult<Option<String>> {
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 512)
    {
        return Err(ApiError::invalid(
            "description",
            "description must be at most 512 characters",
        ));
    }
    Ok(description)
}

async fn existing(gateway: &Gateway, id: &str) -> ApiResult<Endpoint> {
    gateway
        .store
        .get_endpoint(id)
        .await?
        .ok_or_else(|| ApiError::not_found("event endpoint"))
}

async fn audit_change(
    gateway: &Arc<Gateway>,
    req: &Request,
    who: &Principal,
    action: &str,
    id: &str,
    detail: Option<String>,
) {
    let record = Record {
        who: Who::Principal(who),
        action,
        target: Some(format!("event_endpoint:{id}")),
        client_addr: req
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string()),
        outcome: Outcome::Success,
        detail,
    };
    audit::record(gateway, record).await;
}

#[derive(Debug, Clone, Copy)]
pub struct EventsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Events")]
impl EventsApi {
    /// Register an application endpoint (admin). Its secret is in this answer only.
    ///
    /// From now on every event of every call whose type the filter matches is posted to `url`, signed per Standard Webhooks with the `secret` in this answer (`whsec_` + base64 of 32 random bytes; shown once). The URL must be `http(s)` (`https` in production); destinations resolving to loopback, private, link-local, unique-local or metadata addresses are refused (422) unless `[events] allow_private_destinations`. Admin only; audited.
    #[oai(
        path = "/event-endpoints",
        method = "post",
        operation_id = "createEventEndpoint"
    )]
    async fn create(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        body: Json<CreateEventEndpoint>,
    ) -> Result<EndpointCreated, EndpointWriteError> {
        let admin = auth.require(Role::Admin)?;
        let body = body.0;
        let url = checked_url(&gateway, &body.url).await?;
        let new = NewEndpoint {
            id: format!("ep_{}", uuid::Uuid::now_v7().simple()),
            source: "api".to_owned(),
            url,
            description: checked_description(body.description)?,
            event_types: checked_types(body.event_types)?,
            enabled: body.enabled.unwrap_or(true),
            secret: sign::new_secret(),
        };
        let endpoint = gateway.store.create_endpoint(&new).await?;
        audit_change(
            &gateway,
            req,
            admin,
            "event_endpoint.create",
            &endpoint.id,
            None,
        )
        .await;
        Ok(EndpointCreated::Created(Json(EventEndpointWithSecret {
            secret: new.secret,
            endpoint: endpoint.into(),
        })))
    }

    /// List application endpoints (admin).
    ///
    /// Every endpoint, config-declared ones (`read_only`) first; never the secrets. Admin only.
    #[oai(
        path = "/event-endpoints",
        method = "get",
        operation_id = "listEventEndpoints"
    )]
    async fn list(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
    ) -> Result<Json<EventEndpointList>, ReadError> {
        auth.require(Role::Admin)?;
        let items = gateway
            .store
            .list_endpoints()
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(EventEndpointList { items }))
    }

    /// Get one application endpoint (admin).
    ///
    /// The endpoint, never its secret. Admin only.
    #[oai(
        path = "/event-endpoints/:id",
        method = "get",
        operation_id = "getEventEndpoint"
    )]
    async fn get(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<Json<EventEndpoint>, ReadError> {
        auth.require(Role::Admin)?;
        Ok(Json(existing(&gateway, &id.0).await?.into()))
    }

    /// Change an application endpoint (admin).
    ///
    /// Change its URL, description or filter, or enable or disable it. Config-declared endpoints are read-only (409). Admin only; audited.
    #[oai(
        path = "/event-endpoints/:id",
        method = "patch",
        operation_id = "updateEventEndpoint"
    )]
    async fn update(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        id: Path<String>,
        body: Json<UpdateEventEndpoint>,
    ) -> Result<Json<EventEndpoint>, EndpointWriteError> {
        let admin = auth.require(Role::Admin)?;
        let body = body.0;
        read_only(&existing(&gateway, &id.0).await?)?;
        let url = match &body.url {
            Some(url) => Some(checked_url(&gateway, url).await?),
            None => None,
        };
        let change = EndpointChange {
            url,
            description: checked_description(body.description)?.map(Some),
            event_types: checked_types(body.event_types)?.map(Some),
            enabled: body.enabled,
        };
        let detail = format!(
            "url_changed={} event_types_changed={} enabled={}",
            change.url.is_some(),
            change.event_types.is_some(),
            change
                .enabled
                .map(|e| e.to_string())
                .unwrap_or_else(|| "-".into())
        );
        let endpoint = gateway
            .store
            .update_endpoint(&id.0, &change)
            .await?
            .ok_or_else(|| ApiError::not_found("event endpoint"))?;
        audit_change(
            &gateway,
            req,
            admin,
            "event_endpoint.update",
            &endpoint.id,
            Some(detail),
        )
        .await;
        Ok(Json(endpoint.into()))
    }

    /// Delete an application endpoint (admin).
    ///
    /// The endpoint and its deliveries are deleted; events stay in the log. Config-declared endpoints are read-only (409). Admin only; audited.
    #[oai(
        path = "/event-endpoints/:id",
        method = "delete",
        operation_id = "deleteEventEndpoint"
    )]
    async fn delete(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<EndpointDeleted, EndpointWriteError> {
        let admin = auth.require(Role::Admin)?;
        read_only(&existing(&gateway, &id.0).await?)?;
        if !gateway.store.delete_endpoint(&id.0).await? {
            return Err(ApiError::not_found("event endpoint").into());
        }
        audit_change(&gateway, req, admin, "event_endpoint.delete", &id.0, None).await;
        Ok(EndpointDeleted::Deleted)
    }

    /// Rotate an endpoint's secret (admin). The new secret is in this answer only.
    ///
    /// For 24 hours both the old and the new secret sign every delivery (two space-separated signatures in `webhook-signature`), so the receiver can switch without a gap. Config-declared endpoints are read-only (409). Admin only; audited.
    #[oai(
        path = "/event-endpoints/:id/rotate-secret",
        method = "post",
        operation_id = "rotateEventEndpointSecret"
    )]
    async fn rotate(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<Json<EventEndpointWithSecret>, EndpointWriteError> {
        let admin = auth.require(Role::Admin)?;
        read_only(&existing(&gateway, &id.0).await?)?;
        let secret = sign::new_secret();
        let until = Utc::now() + TimeDelta::hours(ROTATION_OVERLAP_HOURS);
        let endpoint = gateway
            .store
            .rotate_endpoint_secret(&id.0, &secret, until)
            .await?
            .ok_or_else(|| ApiError::not_found("event endpoint"))?;
        audit_change(
            &gateway,
            req,
            admin,
            "event_endpoint.rotate_secret",
            &id.0,
            None,
        )
        .await;
        Ok(Json(EventEndpointWithSecret {
            secret,
            endpoint: endpoint.into(),
        }))
    }

    /// Send a `ping` to an endpoint now (admin) and answer with the attempt's result.
    ///
    /// The `ping` event is signed like every other event and sent once (no retries), whatever the endpoint's filter or state; the attempt is recorded in its deliveries. Admin only; audited.
    #[oai(
        path = "/event-endpoints/:id/test",
        method = "post",
        operation_id = "testEventEndpoint"
    )]
    async fn test(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<Json<TestDelivery>, ReadError> {
        let admin = auth.require(Role::Admin)?;
        let endpoint = existing(&gateway, &id.0).await?;
        let lease = Utc::now()
            + TimeDelta::milliseconds(gateway.settings.events.request_timeout_ms as i64)
            + TimeDelta::seconds(30);
        let claimed = gateway.store.create_ping(&endpoint, lease).await?;
        let event_id = claimed.event_id.clone();
        let delivered = delivery::deliver(&gateway, claimed, true).await;
        audit_change(
            &gateway,
            req,
            admin,
            "event_endpoint.test",
            &id.0,
            Some(format!("succeeded={}", delivered.succeeded)),
        )
        .await;
        Ok(Json(TestDelivery {
            event_id,
            succeeded: delivered.succeeded,
            attempt: delivered.attempt.into(),
        }))
    }

    /// An endpoint's deliveries, newest first, with every attempt (admin).
    ///
    /// Filter by `status`; `next_cursor` is omitted on the last page. Admin only.
    #[oai(
        path = "/event-endpoints/:id/deliveries",
        method = "get",
        operation_id = "listEventDeliveries"
    )]
    async fn deliveries(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        id: Path<String>,
        /// Only deliveries in this state: `pending`, `succeeded` or `failed`.
        status: Query<Option<String>>,
        /// Page size, 1 to 200 (default 50).
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<EventDeliveryPage>, DeliveryListError> {
        auth.require(Role::Admin)?;
        let status = status
            .0
            .map(|s| {
                DeliveryStatus::parse(&s).ok_or_else(|| {
                    ApiError::invalid(
                        "status",
                        format!("unknown status '{s}' (valid: pending, succeeded, failed)"),
                    )
                })
            })
            .transpose()?;
        let filter = DeliveryFilter {
            endpoint_id: id.0.clone(),
            status,
            before_id: cursor::parse(cursor.0)?,
            limit: page_limit(limit.0)?,
        };
        if gateway.store.get_endpoint(&id.0).await?.is_none() {
            return Err(ApiError::not_found("event endpoint").into());
        }
        let (items, next) = gateway.store.list_deliveries(&filter).await?;
        Ok(Json(EventDeliveryPage {
            items: items.into_iter().map(Into::into).collect(),
            next_cursor: next.map(|id| cursor::encode(&id)),
        }))
    }

    /// Re-send every matching event since a time to an endpoint (admin).
    ///
    /// Recovery after the application's outage: one new delivery per event created at or after `since` that the endpoint's filter matches, sent in order per call. Admin only; audited.
    #[oai(
        path = "/event-endpoints/:id/replay",
        method = "post",
        operation_id = "replayEvents"
    )]
    async fn replay(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        id: Path<String>,
        body: Json<ReplayRequest>,
    ) -> Result<ReplayAccepted, EndpointWriteError> {
        let admin = auth.require(Role::Admin)?;
        let count = gateway
            .store
            .replay(&id.0, body.0.since)
            .await?
            .ok_or_else(|| ApiError::not_found("event endpoint"))?;
        audit_change(
            &gateway,
            req,
            admin,
            "event_endpoint.replay",
            &id.0,
            Some(format!(
                "since={} deliveries={count}",
                body.0.since.to_rfc3339()
            )),
        )
        .await;
        Ok(ReplayAccepted::Accepted(Json(Replayed {
            deliveries: count,
        })))
    }

    /// The event log, newest first (viewer).
    ///
    /// Every event sent to applications, kept `[events] retention_days`. Each is the envelope `{id, type, created_at, call_id, sequence, data}`; `data` is one of `CallCreatedData`, `CallStatusChangedData`, `CallTranscriptTurnData`, `CallTranscriptFinalizedData`, `CallEndedData`, `CallRecordingReadyData` or `PingData` (see the schemas). Viewers may read it.
    #[oai(path = "/events", method = "get", operation_id = "listEvents")]
    async fn events(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        /// Only events of this call.
        call_id: Query<Option<String>>,
        /// Only events of this type, e.g. `call.ended`.
        #[oai(name = "type")]
        kind: Query<Option<String>>,
        /// Page size, 1 to 200 (default 50).
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<EventPage>, ListError> {
        auth.require(Role::Viewer)?;
        let call_id = call_id
            .0
            .map(|c| {
                c.parse()
                    .map_err(|_| ApiError::invalid("call_id", "call_id must be a UUID"))
            })
            .transpose()?;
        let filter = EventFilter {
            call_id,
            kind: kind.0,
            before_id: cursor::parse(cursor.0)?,
            limit: page_limit(limit.0)?,
        };
        let (items, next) = gateway.store.list_events(&filter).await?;
        Ok(Json(EventPage {
            items: items.into_iter().map(Into::into).collect(),
            next_cursor: next.map(|id| cursor::encode(&id)),
        }))
    }

    /// Get one event (viewer).
    ///
    /// The envelope as delivered. Viewers may read it.
    #[oai(path = "/events/:id", method = "get", operation_id = "getEvent")]
    async fn event(
        &self,
        gateway: Data<&Arc<Gateway>>,
        auth: Credentials,
        id: Path<String>,
    ) -> Result<Json<Event>, ReadError> {
        auth.require(Role::Viewer)?;
        let event = gateway
            .store
            .get_event(&id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("event"))?;
        Ok(Json(event.into()))
    }

    /// Deliver an event again (admin).
    ///
    /// To every enabled endpoint whose filter matches, or only to `endpoint_id` (whatever its filter). The deliveries keep the event's id, so receivers see a duplicate `webhook-id` (at-least-once). Admin only; audited.
    #[oai(
        path = "/events/:id/redeliver",
        method = "post",
        operation_id = "redeliverEvent"
    )]
    async fn redeliver(
        &self,
        gateway: Data<&Arc<Gateway>>,
        req: &Request,
        auth: Credentials,
        id: Path<String>,
        body: Json<RedeliverRequest>,
    ) -> Result<RedeliveryAccepted, EndpointWriteError> {
        let admin = auth.require(Role::Admin)?;
        let endpoint = body.0.endpoint_id;
        let ids = gateway
            .store
            .redeliver(&id.0, endpoint.as_deref())
            .await?
            .ok_or_else(|| ApiError::not_found("event or event endpoint"))?;
        let record = Record {
            who: Who::Principal(admin),
            action: "event.redeliver",
            target: Some(format!("event:{}", id.0)),
            client_addr: req
                .remote_addr()
                .as_socket_addr()
                .map(|a| a.ip().to_string()),
            outcome: Outcome::Success,
            detail: Some(format!("deliveries={}", ids.len())),
        };
        audit::record(&gateway, record).await;
        Ok(RedeliveryAccepted::Accepted(Json(Redelivered {
            delivery_ids: ids,
        })))
    }
}
