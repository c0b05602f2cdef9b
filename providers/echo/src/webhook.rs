//! The echo provider's webhook format and its signature.
//!
//! `POST /webhooks/<name>` with a JSON body:
//!
//! ```json
//! {"event_id": "evt-1", "call_id": "<gateway call id>", "status": "ringing"}
//! {"event_id": "evt-2", "echo_call_id": "echo-<id>", "turn": {"speaker": "user", "text": "Hi", "offset_secs": 2.0}}
//! {"event_id": "evt-3", "call_id": "<id>", "status": "completed", "summary": "...", "success": true,
//!  "duration_secs": 12.5, "cost_usd": 0.0, "transcript": [{"speaker": "agent", "text": "Hello"}]}
//! ```
//!
//! `event_id` is required (it is the dedupe key), and `call_id` or `echo_call_id` names the call.
//! Every other field is optional; each one present becomes a normalized event. With a
//! `webhook_secret` configured, the header `x-echo-signature: t=<unix secs>,v1=<hex>` must carry
//! HMAC-SHA256 over `"<t>.<raw body>"`, with `t` at most five minutes from the gateway's clock.

use chrono::{DateTime, Utc};
use plugin_api::signature::{hex_mac_matches, timestamped_hmac_sha256};
use plugin_api::{
    CallDetails, CallEvent, CallId, CallStatus, Correlation, Cost, CostUnit, ParsedWebhook,
    Speaker, StatusUpdate, TranscriptSource, Turn, Verification, WebhookError, WebhookRequest,
};
use serde::{Deserialize, Serialize};

pub const SIGNATURE_HEADER: &str = "x-echo-signature";

/// How far the signature's timestamp may be from the gateway's clock, either way.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// An echo webhook body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoWebhook {
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CallStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<EchoTurn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<EchoTurn>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
}

/// A transcript turn in an echo webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoTurn {
    /// The turn's stable id: a second delivery with the same id updates the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub speaker: Speaker,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_secs: Option<f64>,
    #[serde(default = "yes")]
    pub r#final: bool,
}

fn yes() -> bool {
    true
}

impl EchoTurn {
    fn normalize(&self, source: TranscriptSource) -> Turn {
        Turn {
            key: self.id.clone(),
            speaker: self.speaker.clone(),
            text: self.text.clone(),
            offset_secs: self.offset_secs,
            is_final: self.r#final,
            source,
        }
    }
}

/// Parses an echo webhook body into normalized events.
pub fn parse(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    let hook: EchoWebhook =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if hook.event_id.trim().is_empty() {
        return Err(WebhookError::Malformed("event_id must not be empty".into()));
    }
    let gateway_call_id = hook
        .call_id
        .as_deref()
        .map(|id| {
            id.parse::<CallId>()
                .map_err(|_| WebhookError::Malformed(format!("call_id '{id}' is not a UUID")))
        })
        .transpose()?;
    let correlation = Correlation {
        gateway_call_id,
        provider_call_id: hook.echo_call_id.clone(),
    };
    if correlation.is_empty() {
        return Err(WebhookError::Malformed(
            "call_id or echo_call_id is required".into(),
        ));
    }
    let event_type = event_type(&hook).to_owned();
    Ok(ParsedWebhook {
        event_type,
        dedupe_key: Some(hook.event_id.clone()),
        correlation,
        events: events(hook),
        reply: None,
    })
}

fn event_type(hook: &EchoWebhook) -> &'static str {
    if hook.status.is_some_and(CallStatus::is_terminal) {
        "call_ended"
    } else if hook.status.is_some() {
        "status"
    } else if hook.turn.is_some() {
        "turn"
    } else {
        "update"
    }
}

/// Details first, then transcript, then status: when the status makes the call terminal,
/// everything the same webhook said about the call is already stored.
fn events(hook: EchoWebhook) -> Vec<CallEvent> {
    let mut events = Vec::new();
    let details = CallDetails {
        duration_secs: hook.duration_secs,
        cost: hook.cost_usd.map(|amount| Cost {
            amount,
            unit: CostUnit::Usd,
        }),
        summary: hook.summary.clone(),
        success: hook.success,
        recording_url: hook.recording_url.clone(),
        end_reason: hook
            .reason
            .clone()
            .filter(|_| hook.status.is_some_and(CallStatus::is_terminal)),
        ..CallDetails::default()
    };
    if details != CallDetails::default() {
        events.push(CallEvent::Details(details));
    }
    if let Some(turn) = &hook.turn {
        events.push(CallEvent::Turn(turn.normalize(TranscriptSource::Live)));
    }
    if let Some(transcript) = &hook.transcript {
        let turns = transcript
            .iter()
            .map(|t| t.normalize(TranscriptSource::PostCall))
            .collect();
        events.push(CallEvent::Transcript { turns });
    }
    if let Some(status) = hook.status {
        events.push(CallEvent::Status(StatusUpdate {
            status,
            at: hook.timestamp,
            reason: hook.reason,
            vendor_status: None,
        }));
    }
    events
}

/// The `x-echo-signature` value for `body` signed at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = timestamped_hmac_sha256(secret, &timestamp.to_string(), body);
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Checks the signature header against the raw body, in constant time.
pub fn verify(secret: &str, webhook: &WebhookRequest<'_>, now: DateTime<Utc>) -> Verification {
    let Some(header) = webhook.headers.get(SIGNATURE_HEADER) else {
        return Verification::Rejected(format!("missing {SIGNATURE_HEADER} header"));
    };
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Verification::Rejected("signature has no valid timestamp".into());
    };
    if (now.timestamp() - timestamp).abs() > SIGNATURE_TOLERANCE_SECS {
        return Verification::Rejected("signature timestamp outside the tolerance window".into());
    }
    let expected = timestamped_hmac_sha256(secret, &timestamp.to_string(), webhook.body);
    // Every candidate is compared, so timing does not tell which one matched.
    let matches = signatures
        .iter()
        .fold(false, |found, sig| found | hex_mac_matches(sig, &expected));
    if matches {
        Verification::Verified
    } else {
        Verification::Rejected("signature does not match".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::Headers;

    const BODY: &[u8] = br#"{"event_id":"e1","echo_call_id":"echo-1","status":"ringing"}"#;

    fn check(header: Option<&str>, now: i64) -> Verification {
        let mut headers = Headers::new();
        if let Some(h) = header {
            headers = headers.with("X-Echo-Signature", h);
        }
        let request = WebhookRequest {
            topic: None,
            headers: &headers,
            body: BODY,
        };
        verify(
            "secret",
            &request,
            DateTime::from_timestamp(now, 0).unwrap(),
        )
    }

    #[test]
    fn signature_round_trips() {
        let header = sign("secret", 1_700_000_000, BODY);
        assert_eq!(check(Some(&header), 1_700_000_100), Verification::Verified);
    }

    #[test]
    fn known_vector() {
        // Computed independently: printf '1700000000.%s' "$BODY" | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign("secret", 1_700_000_000, BODY),
            "t=1700000000,v1=d21af7c75d7cac884dcb09ca147b63b1c7a647ea74713dbed27a0f059a031e3a"
        );
    }

    #[test]
    fn rejects_bad_signatures() {
        let good = sign("secret", 1_700_000_000, BODY);
        let wrong_key = sign("other", 1_700_000_000, BODY);
        assert!(matches!(
            check(None, 1_700_000_000),
            Verification::Rejected(_)
        ));
        assert!(matches!(
            check(Some(&wrong_key), 1_700_000_000),
            Verification::Rejected(_)
        ));
        assert!(matches!(
            check(Some(&good), 1_700_000_301),
            Verification::Rejected(_)
        ));
        assert!(matches!(
            check(Some(&good), 1_699_999_000),
            Verification::Rejected(_)
        ));
        assert!(matches!(
            check(Some("t=abc,v1=00"), 1_700_000_000),
            Verification::Rejected(_)
        ));
    }

    #[test]
    fn parses_every_field() {
        let body = br#"{"event_id":"e9","call_id":"0190f5e4-8a4b-7cc2-9a53-3d0f5b1e2a10","status":"completed",
            "reason":"agent_hung_up","summary":"s","success":true,"duration_secs":3.5,"cost_usd":0.0,
            "transcript":[{"speaker":"agent","text":"Hi"},{"speaker":"user","text":"Yo","offset_secs":1.0,"id":"t2"}]}"#;
        let parsed = parse(body).unwrap();
        assert_eq!(parsed.dedupe_key.as_deref(), Some("e9"));
        assert_eq!(parsed.event_type, "call_ended");
        assert_eq!(parsed.events.len(), 3);
        assert!(
            matches!(&parsed.events[0], CallEvent::Details(d) if d.end_reason.as_deref() == Some("agent_hung_up"))
        );
        assert!(
            matches!(&parsed.events[1], CallEvent::Transcript { turns } if turns.len() == 2 && turns[1].key.as_deref() == Some("t2"))
        );
        assert!(
            matches!(&parsed.events[2], CallEvent::Status(s) if s.status == CallStatus::Completed)
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        for body in [
            &b"not json"[..],
            br#"{"call_id":"x"}"#,
            br#"{"event_id":"e","status":"ringing"}"#,
            br#"{"event_id":"e","call_id":"not-a-uuid"}"#,
            br#"{"event_id":"e","echo_call_id":"a","status":"exploded"}"#,
            br#"{"event_id":"e","echo_call_id":"a","surprise":1}"#,
            br#"{"event_id":" ","echo_call_id":"a"}"#,
        ] {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
