//! VAPI server messages (`{"message": {"type": ..., "timestamp": <ms>, "call": {...}, ...}}`)
//! turned into normalized events. The crate docs describe each type.

use chrono::{DateTime, Utc};
use plugin_api::{
    CallDetails, CallEvent, CallId, CallStatus, Correlation, ParsedWebhook, StatusUpdate,
    TranscriptSource, Turn, WebhookError,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::call::GATEWAY_CALL_ID_KEY;
use crate::record::{self, Record};
use crate::status;
use plugin_api::json::{Object, millis_time, number_at, object, raw_text, rfc3339_at, text};

/// Message types VAPI waits on for an answer. The gateway does not handle them: it answers
/// `200 {}` and records the receipt.
pub const REQUEST_RESPONSE_TYPES: [&str; 4] = [
    "assistant-request",
    "tool-calls",
    "transfer-destination-request",
    "knowledge-base-request",
];

fn malformed(message: impl Into<String>) -> WebhookError {
    WebhookError::Malformed(message.into())
}

/// Which call a message is about: `message.call.id`, and the gateway's id from
/// `message.call.assistantOverrides.metadata.gateway_call_id` (when it is a UUID).
pub(crate) fn correlation(message: &Object) -> Correlation {
    let call = object(Some(message), "call");
    let metadata = object(object(call, "assistantOverrides"), "metadata");
    Correlation {
        gateway_call_id: text(metadata, GATEWAY_CALL_ID_KEY)
            .and_then(|raw| raw.trim().parse::<CallId>().ok()),
        provider_call_id: text(call, "id").map(|id| id.trim().to_owned()),
    }
}

/// A short, stable digest of a transcript's words for dedupe keys.
fn digest(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    hex::encode(&hash[..8])
}

/// The dedupe key of a message: `{call}:{type}[:{discriminator}]:{timestamp}`, where `{call}`
/// is `call.id` (else the gateway's id). An end-of-call report's key is `{call}:end-of-call-report`
/// whatever its timestamp, so a call's report applies once. `None` (the gateway then dedupes on
/// the body's hash) when the message names no call, or has no timestamp where one is needed.
fn dedupe_key(
    kind: &str,
    correlation: &Correlation,
    discriminator: Option<&str>,
    timestamp: Option<&str>,
) -> Option<String> {
    let call = correlation
        .provider_call_id
        .clone()
        .or_else(|| correlation.gateway_call_id.map(|id| id.to_string()))?;
    if kind == "end-of-call-report" {
        return Some(format!("{call}:{kind}"));
    }
    let timestamp = timestamp?;
    Some(match discriminator {
        Some(d) => format!("{call}:{kind}:{d}:{timestamp}"),
        None => format!("{call}:{kind}:{timestamp}"),
    })
}

/// Parses a server message body.
pub(crate) fn parse(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    let envelope = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(envelope)) => envelope,
        Ok(_) => return Err(malformed("body is not a JSON object")),
        // serde_json's errors name a line and column, never the content.
        Err(e) => return Err(malformed(format!("body is not JSON: {e}"))),
    };
    let message = object(Some(&envelope), "message")
        .ok_or_else(|| malformed("missing the \"message\" object"))?;
    let kind = text(Some(message), "type")
        .map(str::trim)
        .ok_or_else(|| malformed("message.type is missing"))?;
    let correlation = correlation(message);
    let timestamp = message.get("timestamp").and_then(raw_text);
    let sent_at = number_at(Some(message), "timestamp").and_then(millis_time);

    let mut discriminator = None;
    let mut reply = None;
    let events = match kind {
        "status-update" => {
            let (events, vapi_status) = status_update(message, sent_at)?;
            discriminator = Some(vapi_status);
            events
        }
        _ if kind.starts_with("transcript") => {
            let (events, key) = transcript(kind, message, sent_at)?;
            discriminator = Some(key);
            events
        }
        // A report naming no call still has events, so the gateway answers 404 and stores the
        // receipt as `unknown_call`.
        "end-of-call-report" => record::events(
            Record {
                source: message,
                call: object(Some(message), "call"),
            },
            Some("ended"),
            sent_at,
        ),
        _ if REQUEST_RESPONSE_TYPES.contains(&kind) => {
            reply = Some(json!({}));
            Vec::new()
        }
        // `hang`, `conversation-update`, `speech-update`, `user-interrupted`, `model-output` and
        // types added later: acknowledged, the receipt keeps the body.
        _ => Vec::new(),
    };
    Ok(ParsedWebhook {
        event_type: kind.to_owned(),
        dedupe_key: dedupe_key(
            kind,
            &correlation,
            discriminator.as_deref(),
            timestamp.as_deref(),
        ),
        correlation,
        events,
        reply,
    })
}

/// `status-update`: a `Status` (see the crate docs' table), preceded by `Details` when the
/// message carries an `endedReason` or telephony ids. Returns the raw status for the dedupe key.
fn status_update(
    message: &Object,
    sent_at: Option<DateTime<Utc>>,
) -> Result<(Vec<CallEvent>, String), WebhookError> {
    let vapi_status = text(Some(message), "status")
        .map(str::trim)
        .ok_or_else(|| malformed("status-update: status is missing"))?;
    let call = object(Some(message), "call");
    let ended_reason = text(Some(message), "endedReason")
        .or_else(|| text(call, "endedReason"))
        .map(str::trim);
    let mut events = Vec::new();
    let telephony_ids = record::telephony_ids(call);
    let ended = vapi_status == "ended";
    if !telephony_ids.is_empty() || (ended && ended_reason.is_some()) {
        events.push(CallEvent::Details(CallDetails {
            provider_call_id: text(call, "id").map(|id| id.trim().to_owned()),
            telephony_ids,
            end_reason: ended_reason.filter(|_| ended).map(str::to_owned),
            ..CallDetails::default()
        }));
    }
    if let Some(normalized) = status::from_vapi_status(vapi_status, ended_reason) {
        let at = match normalized {
            s if s.is_terminal() => rfc3339_at(call, "endedAt").or(sent_at),
            CallStatus::InProgress => sent_at.or_else(|| rfc3339_at(call, "startedAt")),
            _ => sent_at,
        };
        events.push(CallEvent::Status(StatusUpdate {
            status: normalized,
            at,
            reason: ended_reason.filter(|_| ended).map(str::to_owned),
            vendor_status: Some(vapi_status.to_owned()),
        }));
    }
    Ok((events, vapi_status.to_owned()))
}

/// `transcript` / `transcript[transcriptType="final"]`: one live `Turn`, final or partial.
/// Returns `role:transcriptType:digest` for the dedupe key.
fn transcript(
    kind: &str,
    message: &Object,
    sent_at: Option<DateTime<Utc>>,
) -> Result<(Vec<CallEvent>, String), WebhookError> {
    let role = text(Some(message), "role")
        .map(str::trim)
        .ok_or_else(|| malformed("transcript: role is missing"))?;
    let text = match message.get("transcript") {
        Some(Value::String(text)) => text.trim(),
        _ => return Err(malformed("transcript: transcript must be a string")),
    };
    let transcript_type = plugin_api::json::text(Some(message), "transcriptType").map(str::trim);
    let is_final = match transcript_type {
        Some(t) => t == "final",
        // Without `transcriptType`, only the type's own spelling can say it is final.
        None => kind.contains(r#"transcriptType="final""#),
    };
    let key = format!(
        "{role}:{}:{}",
        transcript_type.unwrap_or(if is_final { "final" } else { "partial" }),
        digest(text)
    );
    if text.is_empty() {
        return Ok((Vec::new(), key));
    }
    let started_at = rfc3339_at(object(Some(message), "call"), "startedAt");
    let offset_secs = started_at.zip(sent_at).and_then(|(start, at)| {
        let millis = (at - start).num_milliseconds();
        (millis >= 0).then(|| millis as f64 / 1000.0)
    });
    let turn = Turn {
        key: None,
        speaker: record::speaker(role),
        text: text.to_owned(),
        offset_secs,
        is_final,
        source: TranscriptSource::Live,
    };
    Ok((vec![CallEvent::Turn(turn)], key))
}

#[cfg(test)]
mod tests;
