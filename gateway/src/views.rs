//! The public JSON shapes of the normalized model, shared by every transport that shows them:
//! the `/v1` API (as its OpenAPI schemas) and the live stream's `call_completed`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use plugin_api::{Call, CallStatus, CostUnit, TranscriptSource, TranscriptTurn};
use poem_openapi::{Enum, Object};
use serde_json::Value;

/// The status of a call: `queued -> initiating -> ringing -> in_progress -> completed | failed |
/// no_answer | busy | canceled`. Statuses only move forward; the last five are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", rename = "CallStatus")]
pub enum CallStatusView {
    Queued,
    Initiating,
    Ringing,
    InProgress,
    Completed,
    Failed,
    NoAnswer,
    Busy,
    Canceled,
}

impl From<CallStatus> for CallStatusView {
    fn from(status: CallStatus) -> Self {
        match status {
            CallStatus::Queued => Self::Queued,
            CallStatus::Initiating => Self::Initiating,
            CallStatus::Ringing => Self::Ringing,
            CallStatus::InProgress => Self::InProgress,
            CallStatus::Completed => Self::Completed,
            CallStatus::Failed => Self::Failed,
            CallStatus::NoAnswer => Self::NoAnswer,
            CallStatus::Busy => Self::Busy,
            CallStatus::Canceled => Self::Canceled,
        }
    }
}

/// The unit of a call's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "CostUnit")]
pub enum CostUnitView {
    #[oai(rename = "USD")]
    Usd,
    #[oai(rename = "credits")]
    Credits,
}

/// A call, normalized across providers.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename = "Call")]
pub struct CallView {
    /// The gateway's id (UUIDv7, time-ordered).
    pub id: uuid::Uuid,
    /// The provider instance running the call.
    pub provider: String,
    /// The provider implementation.
    pub provider_kind: String,
    /// The vendor's id for the call (ElevenLabs `conversation_id`, VAPI call id); absent until the vendor accepts.
    pub provider_call_id: Option<String>,
    /// Telephony ids by name, e.g. `twilio_call_sid`.
    pub telephony_ids: BTreeMap<String, String>,
    /// The call's current status.
    pub status: CallStatusView,
    /// Why the call has its current status: e.g. `vendor_outcome_unknown` for a create whose outcome is
    /// not known yet, or the vendor's end reason.
    pub status_reason: Option<String>,
    /// The number called, E.164.
    pub to: String,
    /// The vendor's id of the number called from, when set.
    pub from_number_id: Option<String>,
    /// The vendor's agent or assistant id, when set.
    pub agent_id: Option<String>,
    /// Values for the agent's prompt, as sent in `POST /v1/calls`.
    pub variables: BTreeMap<String, Value>,
    /// Your own data, as sent in `POST /v1/calls`.
    pub metadata: BTreeMap<String, Value>,
    /// What the agent says first, when overridden.
    pub first_message: Option<String>,
    /// When the gateway stored the call.
    pub created_at: DateTime<Utc>,
    /// When the call last changed.
    pub updated_at: DateTime<Utc>,
    /// When the callee answered.
    pub started_at: Option<DateTime<Utc>>,
    /// When the call ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// How long the call lasted, in seconds, as the vendor reports it.
    pub duration_secs: Option<f64>,
    /// Absent when the vendor reported no cost (never a made-up 0).
    pub cost: Option<f64>,
    /// Absent exactly when `cost` is absent.
    pub cost_unit: Option<CostUnitView>,
    /// The vendor's summary of the conversation.
    pub summary: Option<String>,
    /// The vendor's verdict on whether the call achieved its goal.
    pub success: Option<bool>,
    /// The vendor's structured analysis, as it sent it.
    pub analysis: Option<Value>,
    /// The vendor's URL of the recording, when it sent one.
    pub recording_url: Option<String>,
    /// Why the call ended (e.g. `agent_ended_call`, `busy`).
    pub end_reason: Option<String>,
    /// Why the call failed, for `failed` calls.
    pub failure_reason: Option<String>,
    /// Every cost figure the vendor reported (e.g. `{"credits": 296, "usd": 0.12}`).
    pub cost_breakdown: Option<Value>,
    /// The vendor's own metadata about the call, as it sent it.
    pub vendor_metadata: Option<Value>,
    /// The `Idempotency-Key` the call was created with.
    pub idempotency_key: Option<String>,
    /// `true` when retention (`[retention] recordings_days`) removed the call's recording:
    /// `recording_url` is gone and `GET /v1/calls/{id}/recording` answers 404. Absent otherwise.
    pub recording_pruned: Option<bool>,
    /// `true` when retention (`[retention] transcripts_days`) removed the call's transcript:
    /// `GET /v1/calls/{id}/transcript` answers no turns. Absent otherwise.
    pub transcript_pruned: Option<bool>,
    /// `true` when the call's personal data was erased (`DELETE /v1/calls/{id}`, `POST
    /// /v1/erasure`): what is left is a tombstone (id, provider, status, times, cost), the number
    /// masked. Absent otherwise.
    pub erased: Option<bool>,
    /// When the call's personal data was erased; absent unless `erased`.
    pub erased_at: Option<DateTime<Utc>>,
}

impl From<Call> for CallView {
    fn from(call: Call) -> Self {
        Self {
            id: call.id.as_uuid(),
            provider: call.provider,
            provider_kind: call.provider_kind,
            provider_call_id: call.provider_call_id,
            telephony_ids: call.telephony_ids.0,
            status: call.status.into(),
            status_reason: call.status_reason,
            to: call.to.as_str().to_owned(),
            from_number_id: call.from_number_id,
            agent_id: call.agent_id,
            variables: call.variables.into_iter().collect(),
            metadata: call.metadata.into_iter().collect(),
            first_message: call.first_message,
            created_at: call.created_at,
            updated_at: call.updated_at,
            started_at: call.started_at,
            ended_at: call.ended_at,
            duration_secs: call.duration_secs,
            cost: call.cost.map(|c| c.amount),
            cost_unit: call.cost.map(|c| match c.unit {
                CostUnit::Usd => CostUnitView::Usd,
                CostUnit::Credits => CostUnitView::Credits,
            }),
            summary: call.summary,
            success: call.success,
            analysis: call.analysis,
            recording_url: call.recording_url,
            end_reason: call.end_reason,
            failure_reason: call.failure_reason,
            cost_breakdown: call.cost_breakdown,
            vendor_metadata: call.vendor_metadata,
            idempotency_key: call.idempotency_key,
            recording_pruned: call.removed.recording.then_some(true),
            transcript_pruned: call.removed.transcript.then_some(true),
            erased: call.removed.erased_at.map(|_| true),
            erased_at: call.removed.erased_at,
        }
    }
}

/// Where a transcript turn came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case", rename = "TranscriptSource")]
pub enum SourceView {
    /// Delivered while the call ran.
    Live,
    /// From the vendor's report after the call.
    PostCall,
}

/// One turn of a call's transcript.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TurnView {
    /// The gateway's sequence number: 1, 2, 3, ... in the order turns arrived.
    pub seq: i64,
    /// `agent`, `user`, `system`, `tool`, or a vendor's own role.
    pub speaker: String,
    /// What was said.
    pub text: String,
    /// Seconds from the start of the call, when the vendor says.
    pub offset_secs: Option<f64>,
    /// Stored turns are always final.
    #[oai(rename = "final")]
    pub is_final: bool,
    /// Whether the turn arrived live or from the post-call report.
    pub source: SourceView,
    /// When the gateway stored the turn.
    pub created_at: DateTime<Utc>,
}

impl From<TranscriptTurn> for TurnView {
    fn from(t: TranscriptTurn) -> Self {
        Self {
            seq: t.seq,
            speaker: t.speaker.as_str().to_owned(),
            text: t.text,
            offset_secs: t.offset_secs,
            is_final: t.is_final,
            source: match t.source {
                TranscriptSource::Live => SourceView::Live,
                TranscriptSource::PostCall => SourceView::PostCall,
            },
            created_at: t.created_at,
        }
    }
}

/// A call as the API renders it, as JSON.
pub fn call_json(call: Call) -> Value {
    poem_openapi::types::ToJSON::to_json(&CallView::from(call)).unwrap_or_default()
}
