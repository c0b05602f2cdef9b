//! Retell's webhooks: the `x-retell-signature` check and the events each webhook gives.

use chrono::{DateTime, Utc};
use plugin_api::json::{Object, object, text};
use plugin_api::signature::{hmac_sha256, mac_matches};
use plugin_api::{
    CallEvent, CallStatus, Correlation, Headers, ParsedWebhook, StatusUpdate, TranscriptSource,
    Verification, WebhookError,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::record;

/// The header carrying Retell's signature: `v=<unix ms>,d=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "x-retell-signature";
/// How far a signature's timestamp may be from the gateway's clock, either way.
pub const SIGNATURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// The webhook types of a call that happen once per call: deduplicated by call and type alone.
const ONCE_PER_CALL: [&str; 3] = ["call_started", "call_ended", "call_analyzed"];

/// The lowercase hex HMAC-SHA256, keyed with `api_key`, of `body` followed by `timestamp_ms`.
fn digest(api_key: &str, body: &[u8], timestamp_ms: &str) -> [u8; 32] {
    hmac_sha256(api_key, &[body, timestamp_ms.as_bytes()])
}

/// The `x-retell-signature` value Retell sends for `body` at unix millisecond `timestamp_ms`:
/// what a mock Retell or local tooling needs to sign a webhook.
pub fn signature_header(api_key: &str, body: &[u8], timestamp_ms: i64) -> String {
    let v = timestamp_ms.to_string();
    format!("v={v},d={}", hex::encode(digest(api_key, body, &v)))
}

/// `v=(\d+),d=([0-9a-f]{64})`, exactly (as the SDK's `verify` full-matches it).
fn split_signature(header: &str) -> Option<(&str, &str)> {
    let (v, d) = header.strip_prefix("v=")?.split_once(",d=")?;
    let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    let hex = d.len() == 64 && d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (digits && hex).then_some((v, d))
}

fn reject(reason: impl Into<String>) -> Verification {
    Verification::Rejected(reason.into())
}

/// Checks `x-retell-signature` over the raw body. Without the header, the webhook is refused
/// unless `allow_unsigned_webhooks` is on; a header that is sent is always checked.
pub(crate) fn verify(
    config: &Config,
    headers: &Headers,
    body: &[u8],
    now: DateTime<Utc>,
) -> Verification {
    let Some(header) = headers.get(SIGNATURE_HEADER) else {
        return if config.allow_unsigned_webhooks {
            Verification::Unsigned
        } else {
            reject(format!("missing {SIGNATURE_HEADER} header"))
        };
    };
    let Some((v, d)) = split_signature(header.trim()) else {
        return reject(format!(
            "{SIGNATURE_HEADER} is not v=<unix ms>,d=<hex digest>"
        ));
    };
    let Ok(signed_at) = v.parse::<i64>() else {
        return reject(format!("{SIGNATURE_HEADER} has an unreadable timestamp"));
    };
    if (now.timestamp_millis() - signed_at).abs() > SIGNATURE_TOLERANCE_MS {
        return reject(format!(
            "{SIGNATURE_HEADER} was made more than 5 minutes from now: stale or replayed"
        ));
    }
    let expected = digest(config.api_key.expose(), body, v);
    match hex::decode(d) {
        Ok(given) if mac_matches(&given, &expected) => Verification::Verified,
        _ => reject(format!("{SIGNATURE_HEADER} does not match the body")),
    }
}

fn malformed(reason: impl Into<String>) -> WebhookError {
    WebhookError::Malformed(reason.into())
}

/// The first 16 hex digits of the body's SHA-256: tells apart deliveries of a type that repeats.
fn body_digest(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body)[..8])
}

/// Parses `{"event": ..., "call": {...}}` into events. See the crate docs for each type.
pub(crate) fn parse(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    let envelope: Value =
        serde_json::from_slice(body).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let envelope = envelope
        .as_object()
        .ok_or_else(|| malformed("not a JSON object"))?;
    let event = text(Some(envelope), "event")
        .map(str::trim)
        .ok_or_else(|| malformed("no event"))?;
    if event.starts_with("chat_") {
        // A chat agent's webhook: about no call. Acknowledged and recorded, nothing applied.
        return Ok(ParsedWebhook {
            event_type: event.to_owned(),
            ..ParsedWebhook::default()
        });
    }
    let call = object(Some(envelope), "call").ok_or_else(|| malformed("no call object"))?;
    let correlation = Correlation {
        gateway_call_id: record::gateway_call_id(Some(call)),
        provider_call_id: record::call_id(Some(call)).map(str::to_owned),
    };
    let base = match (&correlation.provider_call_id, correlation.gateway_call_id) {
        (Some(id), _) => id.clone(),
        (None, Some(id)) => id.to_string(),
        (None, None) => {
            return Err(malformed(
                "the call has neither call_id nor metadata.gateway_call_id",
            ));
        }
    };
    let dedupe_key = if ONCE_PER_CALL.contains(&event) {
        format!("{base}:{event}")
    } else {
        format!("{base}:{event}:{}", body_digest(body))
    };
    Ok(ParsedWebhook {
        event_type: event.to_owned(),
        dedupe_key: Some(dedupe_key),
        correlation,
        events: events(event, call),
        reply: None,
    })
}

/// A status `in_progress`, dated by the call's start.
fn in_progress(call: &Object, vendor_status: &str) -> CallEvent {
    let at = record::details(Some(call)).started_at;
    CallEvent::Status(StatusUpdate {
        status: CallStatus::InProgress,
        at,
        reason: None,
        vendor_status: Some(vendor_status.to_owned()),
    })
}

fn events(event: &str, call: &Object) -> Vec<CallEvent> {
    let details = || CallEvent::Details(record::details(Some(call)));
    match event {
        "call_started" => {
            let vendor_status = text(Some(call), "call_status").unwrap_or("ongoing");
            vec![details(), in_progress(call, vendor_status.trim())]
        }
        // The call's whole record; call_ended is terminal, call_analyzed adds the analysis.
        "call_ended" | "call_analyzed" => record::events(Some(call), Some("ended")),
        // The transcript so far: turns keyed by position, so each update replaces the last.
        "transcript_updated" => record::turns(Some(call), TranscriptSource::Live)
            .into_iter()
            .map(CallEvent::Turn)
            .collect(),
        "transfer_started" | "transfer_bridged" | "transfer_cancelled" => {
            vec![details(), in_progress(call, event)]
        }
        "transfer_ended" => vec![details()],
        // Types Retell adds later: acknowledged, the receipt keeps the body.
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
