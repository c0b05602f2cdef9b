//! The frames of the live call-update protocol (the seed's, with additive extensions).

use chrono::{DateTime, Utc};
use plugin_api::{Call, CallStatus, TranscriptTurn, Turn};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Client -> server. Exactly one of `subscribe` or `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMessage {
    pub subscribe: Option<String>,
    pub unsubscribe: Option<String>,
    /// With `subscribe`: replay stored turns with a sequence number above this first.
    pub after_seq: Option<i64>,
}

/// Error codes sent in `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    CallNotFound,
    InvalidIdentifier,
    InvalidMessage,
    Unauthorized,
    TokenExpired,
    TooManySubscriptions,
    Forbidden,
    Internal,
}

impl ErrorCode {
    /// Every code, for the documentation.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::CallNotFound,
        ErrorCode::InvalidIdentifier,
        ErrorCode::InvalidMessage,
        ErrorCode::Unauthorized,
        ErrorCode::TokenExpired,
        ErrorCode::TooManySubscriptions,
        ErrorCode::Forbidden,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::CallNotFound => "CALL_NOT_FOUND",
            ErrorCode::InvalidIdentifier => "INVALID_IDENTIFIER",
            ErrorCode::InvalidMessage => "INVALID_MESSAGE",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::TokenExpired => "TOKEN_EXPIRED",
            ErrorCode::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// What the code means, as documented in the AsyncAPI document.
    pub fn description(self) -> &'static str {
        match self {
            ErrorCode::CallNotFound => "no call has this identifier",
            ErrorCode::InvalidIdentifier => {
                "the identifier is not 1 to 128 letters, digits, '-', '_', '.', ':'"
            }
            ErrorCode::InvalidMessage => {
                "the frame is not JSON, has unknown keys, is binary or exceeds [live] max_frame_bytes"
            }
            ErrorCode::Unauthorized => {
                "the credential was revoked (API key deleted, user disabled, logged out); the connection closes (1008)"
            }
            ErrorCode::TokenExpired => {
                "the token expired; the connection closes (1008): reconnect with a fresh token and resume with after_seq"
            }
            ErrorCode::TooManySubscriptions => {
                "the connection follows [live] max_subscriptions_per_connection calls already"
            }
            ErrorCode::Forbidden => "reserved: the caller may not follow this call",
            ErrorCode::Internal => "storage is unavailable; try again",
        }
    }
}

/// Server -> client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    SubscriptionConfirmed {
        identifier: String,
        call_id: String,
        provider: String,
        provider_call_id: Option<String>,
        status: CallStatus,
    },
    UnsubscribeConfirmed {
        identifier: String,
        call_id: Option<String>,
    },
    Transcription {
        call_id: String,
        /// `None` for partial turns, which are never stored.
        seq: Option<i64>,
        speaker: String,
        text: String,
        offset_secs: Option<f64>,
        #[serde(rename = "final")]
        is_final: bool,
        source: &'static str,
        timestamp: DateTime<Utc>,
    },
    CallStatus {
        call_id: String,
        status: CallStatus,
        previous_status: Option<CallStatus>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        timestamp: DateTime<Utc>,
    },
    CallCompleted {
        /// The full normalized call, as `GET /v1/calls/{id}` returns it.
        call: Value,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        identifier: Option<String>,
    },
}

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>, identifier: Option<&str>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            identifier: identifier.map(str::to_owned),
        }
    }

    pub fn turn(turn: &TranscriptTurn) -> Self {
        Self::Transcription {
            call_id: turn.call_id.to_string(),
            seq: Some(turn.seq),
            speaker: turn.speaker.as_str().to_owned(),
            text: turn.text.clone(),
            offset_secs: turn.offset_secs,
            is_final: true,
            source: turn.source.as_str(),
            timestamp: turn.created_at,
        }
    }

    pub fn partial(call_id: &str, turn: &Turn) -> Self {
        Self::Transcription {
            call_id: call_id.to_owned(),
            seq: None,
            speaker: turn.speaker.as_str().to_owned(),
            text: turn.text.clone(),
            offset_secs: turn.offset_secs,
            is_final: turn.is_final,
            source: turn.source.as_str(),
            timestamp: Utc::now(),
        }
    }

    pub fn completed(call: &Call) -> Self {
        let view = crate::views::call_json(call.clone());
        Self::CallCompleted { call: view }
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"INTERNAL","message":"encoding failed"}"#.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_strictly() {
        let ok: ClientMessage =
            serde_json::from_str(r#"{"subscribe":"abc","after_seq":3}"#).unwrap();
        assert_eq!(ok.subscribe.as_deref(), Some("abc"));
        assert_eq!(ok.after_seq, Some(3));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"subscribe":"a","extra":1}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>("[]").is_err());
    }

    #[test]
    fn server_messages_have_the_seed_shape() {
        let error = ServerMessage::error(ErrorCode::CallNotFound, "no such call", Some("x"));
        let json: Value = serde_json::from_str(&error.to_text()).unwrap();
        assert_eq!(json["type"], "error");
        assert_eq!(json["code"], "CALL_NOT_FOUND");
        assert_eq!(json["identifier"], "x");
        let status = ServerMessage::CallStatus {
            call_id: "c".into(),
            status: CallStatus::InProgress,
            previous_status: Some(CallStatus::Ringing),
            reason: None,
            timestamp: Utc::now(),
        };
        let json: Value = serde_json::from_str(&status.to_text()).unwrap();
        assert_eq!(json["type"], "call_status");
        assert_eq!(json["status"], "in_progress");
        assert_eq!(json["previous_status"], "ringing");
        assert!(json.get("reason").is_none());
    }
}
