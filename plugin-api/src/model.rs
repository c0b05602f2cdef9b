//! The normalized call model that every provider translates to and from.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{CallId, PhoneNumber};
use crate::status::CallStatus;

/// What the gateway asks a provider to do when a client places a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    /// The gateway's id, stored before the vendor is called. Providers pass it to the vendor
    /// (dynamic variables, metadata) so webhooks can be correlated before the vendor id is known.
    pub call_id: CallId,
    pub to: PhoneNumber,
    /// The vendor's agent/assistant; `None` means the provider's configured default.
    pub agent_id: Option<String>,
    /// The vendor's caller number id; `None` means the provider's configured default.
    pub from_number_id: Option<String>,
    /// Values the agent's prompt can use (ElevenLabs dynamic variables, VAPI variable values).
    pub variables: Map<String, Value>,
    /// The client's own data (e.g. an external driver id), passed through where the vendor allows.
    pub metadata: Map<String, Value>,
    pub first_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What the gateway knows of a placed call when it asks a provider about it (hang-up, fetch).
/// `Debug` leaves out `provider_data`, which may hold credentials.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CallHandle {
    pub call_id: CallId,
    pub provider_call_id: Option<String>,
    pub telephony_ids: TelephonyIds,
    pub status: CallStatus,
    /// The opaque data the provider returned when the call was accepted (e.g. a control URL).
    pub provider_data: Option<Value>,
}

impl fmt::Debug for CallHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallHandle")
            .field("call_id", &self.call_id)
            .field("provider_call_id", &self.provider_call_id)
            .field("telephony_ids", &self.telephony_ids)
            .field("status", &self.status)
            .field(
                "provider_data",
                &self.provider_data.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Telephony-level ids of a call, by name (`twilio_call_sid`, `sip_call_id`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TelephonyIds(pub BTreeMap<String, String>);

impl TelephonyIds {
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `other`'s ids, keeping ours where both have one.
    pub fn merge(&mut self, other: &TelephonyIds) {
        for (name, value) in &other.0 {
            self.0.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
}

/// Who spoke a transcript turn.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Speaker {
    Agent,
    User,
    System,
    Tool,
    /// A role the vendor added that we do not know yet.
    Other(String),
}

impl Speaker {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "agent" | "assistant" | "bot" => Speaker::Agent,
            "user" | "customer" => Speaker::User,
            "system" => Speaker::System,
            "tool" | "function" => Speaker::Tool,
            other => Speaker::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Speaker::Agent => "agent",
            Speaker::User => "user",
            Speaker::System => "system",
            Speaker::Tool => "tool",
            Speaker::Other(other) => other,
        }
    }
}

impl fmt::Display for Speaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Speaker {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Speaker {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|raw| Speaker::parse(&raw))
    }
}

/// Where a transcript turn came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptSource {
    /// Delivered while the call ran.
    Live,
    /// Part of the vendor's report after the call.
    PostCall,
}

impl TranscriptSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TranscriptSource::Live => "live",
            TranscriptSource::PostCall => "post_call",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "live" => Some(TranscriptSource::Live),
            "post_call" => Some(TranscriptSource::PostCall),
            _ => None,
        }
    }
}

/// The unit a call's cost is in. Unknown cost is `None` on the call, never `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CostUnit {
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "credits")]
    Credits,
}

impl CostUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            CostUnit::Usd => "USD",
            CostUnit::Credits => "credits",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "USD" => Some(CostUnit::Usd),
            "credits" => Some(CostUnit::Credits),
            _ => None,
        }
    }
}

/// An amount with its unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub amount: f64,
    pub unit: CostUnit,
}

/// One transcript turn as a provider reports it; the gateway assigns the sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// The vendor's stable id for the turn, when it has one: a second delivery of the same key
    /// updates the turn instead of adding one.
    pub key: Option<String>,
    pub speaker: Speaker,
    pub text: String,
    /// Seconds from the start of the call.
    pub offset_secs: Option<f64>,
    /// `false` for a partial turn that a later event will replace.
    pub is_final: bool,
    pub source: TranscriptSource,
}

/// A status change the vendor reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub status: CallStatus,
    /// When it happened, if the vendor says.
    pub at: Option<DateTime<Utc>>,
    /// Why the call ended or failed (`busy`, `customer-ended-call`, ...).
    pub reason: Option<String>,
    /// The vendor's own status string, kept for the history.
    pub vendor_status: Option<String>,
}

/// Facts about a call the vendor reported; `None` fields leave what is stored alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallDetails {
    pub provider_call_id: Option<String>,
    pub telephony_ids: TelephonyIds,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<f64>,
    pub cost: Option<Cost>,
    pub summary: Option<String>,
    pub success: Option<bool>,
    pub analysis: Option<Value>,
    pub recording_url: Option<String>,
    pub end_reason: Option<String>,
    /// Every cost figure the vendor reported (e.g. credits and USD), when `cost` shows only one.
    pub cost_breakdown: Option<Value>,
    /// The vendor's own metadata about the call, kept as it was sent.
    pub vendor_metadata: Option<Value>,
}

/// A call's audio recording, delivered in a webhook. The gateway stores it outside the
/// database and serves it; it is never logged.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// e.g. `audio/mpeg`.
    pub content_type: String,
    pub data: Vec<u8>,
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording")
            .field("content_type", &self.content_type)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// One normalized thing that happened to a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallEvent {
    Status(StatusUpdate),
    /// One turn, usually live.
    Turn(Turn),
    /// The complete transcript after the call: reconciled with the turns already stored.
    Transcript {
        turns: Vec<Turn>,
    },
    Details(CallDetails),
    Recording(Recording),
}

/// How a webhook is tied to a call: by the vendor's id, the gateway's id, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correlation {
    pub gateway_call_id: Option<CallId>,
    pub provider_call_id: Option<String>,
}

impl Correlation {
    pub fn is_empty(&self) -> bool {
        self.gateway_call_id.is_none() && self.provider_call_id.is_none()
    }
}

/// A call as the gateway stores and serves it: the one model every provider's calls become.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub id: CallId,
    /// The provider instance name from config.
    pub provider: String,
    /// The provider implementation (`echo`, `elevenlabs`, ...).
    pub provider_kind: String,
    /// The vendor's id (ElevenLabs `conversation_id`, VAPI `call.id`); `None` until accepted.
    pub provider_call_id: Option<String>,
    pub telephony_ids: TelephonyIds,
    pub status: CallStatus,
    /// Why the call has its current status (e.g. `vendor_outcome_unknown`, `busy`).
    pub status_reason: Option<String>,
    pub to: PhoneNumber,
    pub from_number_id: Option<String>,
    pub agent_id: Option<String>,
    pub variables: Map<String, Value>,
    pub metadata: Map<String, Value>,
    pub first_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<f64>,
    /// `None` when the vendor did not report a cost: never a made-up `0`.
    pub cost: Option<Cost>,
    pub summary: Option<String>,
    pub success: Option<bool>,
    pub analysis: Option<Value>,
    pub recording_url: Option<String>,
    pub end_reason: Option<String>,
    pub failure_reason: Option<String>,
    pub cost_breakdown: Option<Value>,
    pub vendor_metadata: Option<Value>,
    pub idempotency_key: Option<String>,
    pub created_by: Option<String>,
    /// What retention or erasure removed from the call (nothing, for a call as it was made).
    #[serde(default)]
    pub removed: Removed,
}

/// What the gateway's retention or erasure removed from a stored call, so that answers can
/// say so instead of showing the data as never received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// Retention removed the recording (the file and the reference to it).
    pub recording: bool,
    /// Retention removed the transcript's turns.
    pub transcript: bool,
    /// When the call's personal data was erased; the call is a tombstone since.
    pub erased_at: Option<DateTime<Utc>>,
}

/// A stored transcript turn, numbered by the gateway in the order turns arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptTurn {
    pub call_id: CallId,
    pub seq: i64,
    pub speaker: Speaker,
    pub text: String,
    pub offset_secs: Option<f64>,
    pub is_final: bool,
    pub source: TranscriptSource,
    pub created_at: DateTime<Utc>,
}
