//! ElevenLabs webhooks: the signed post-call webhook and the live-transcription tool webhook.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use chrono::{DateTime, Utc};
use plugin_api::{
    CallDetails, CallEvent, CallId, CallStatus, Correlation, ParsedWebhook, Recording, Speaker,
    StatusUpdate, TelephonyIds, TranscriptSource, Turn, Verification, WebhookError,
};
use serde_json::Value;

use crate::conversation;
use plugin_api::json::{Object, integer, number_at, object, text, unix_time};
use plugin_api::signature::{hex_mac_matches, same_secret, timestamped_hmac_sha256};

/// The header carrying the post-call webhook's signature: `t=<unix secs>,v0=<hex>`.
pub const SIGNATURE_HEADER: &str = "ElevenLabs-Signature";
/// The header carrying the live-transcription tool's shared secret.
pub const TRANSCRIPTION_SECRET_HEADER: &str = "x-transcription-secret";
/// A signature older than this (in seconds, by the gateway's clock) is refused, as the vendor's
/// own SDK does.
pub const MAX_SIGNATURE_AGE_SECS: i64 = 30 * 60;
/// A signature dated further than this in the future is refused (clock skew allowance).
pub const MAX_SIGNATURE_SKEW_SECS: i64 = 5 * 60;
/// The content type of `post_call_audio` recordings.
pub const AUDIO_CONTENT_TYPE: &str = "audio/mpeg";

/// The webhook endpoints of one instance, by topic (the last segment of `/webhooks/<name>/<topic>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    /// `/webhooks/<name>` or `/webhooks/<name>/post-call`.
    PostCall,
    /// `/webhooks/<name>/transcription`.
    Transcription,
}

impl Topic {
    pub(crate) fn parse(topic: Option<&str>) -> Result<Self, WebhookError> {
        match topic {
            None | Some("post-call") => Ok(Topic::PostCall),
            Some("transcription") => Ok(Topic::Transcription),
            Some(other) => Err(WebhookError::UnknownTopic(other.to_owned())),
        }
    }
}

/// The `ElevenLabs-Signature` header value for `body` signed with `secret` at `timestamp` (unix
/// seconds): what ElevenLabs sends. Handy for tests and local tooling that play the vendor.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = timestamped_hmac_sha256(secret, &timestamp.to_string(), body);
    format!("t={timestamp},v0={}", hex::encode(digest))
}

/// Checks an `ElevenLabs-Signature` header against the raw body: `t=` and one or more `v0=`
/// parts in any order, `t` within [`MAX_SIGNATURE_AGE_SECS`] before and
/// [`MAX_SIGNATURE_SKEW_SECS`] after `now`, and a `v0` equal (in constant time) to the HMAC.
/// Why a post-call webhook without its signature header is refused.
pub(crate) const MISSING_SIGNATURE: &str = "missing ElevenLabs-Signature header";

pub(crate) fn verify_signature(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Verification {
    let reject = |reason: &str| Verification::Rejected(reason.to_owned());
    let Some(header) = header else {
        return reject(MISSING_SIGNATURE);
    };
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        match name.trim() {
            "t" if timestamp.is_some() => return reject("signature header has more than one t="),
            "t" => timestamp = Some(value.trim()),
            "v0" => signatures.push(value.trim()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return reject("signature header has no t= timestamp");
    };
    let Ok(signed_at) = timestamp.parse::<i64>() else {
        return reject("signature timestamp is not a number of seconds");
    };
    let age = now.timestamp().saturating_sub(signed_at);
    if age > MAX_SIGNATURE_AGE_SECS {
        return Verification::Rejected(format!(
            "signature timestamp is {age} s old (at most {MAX_SIGNATURE_AGE_SECS} s accepted)"
        ));
    }
    if age < -MAX_SIGNATURE_SKEW_SECS {
        return Verification::Rejected(format!(
            "signature timestamp is {} s in the future (at most {MAX_SIGNATURE_SKEW_SECS} s accepted)",
            age.saturating_neg()
        ));
    }
    if signatures.is_empty() {
        return reject("signature header has no v0= signature");
    }
    let expected = timestamped_hmac_sha256(secret, timestamp, body);
    let matches = signatures
        .iter()
        .any(|candidate| hex_mac_matches(candidate, &expected));
    if matches {
        Verification::Verified
    } else {
        reject("signature does not match the body")
    }
}

/// Checks the live-transcription tool's shared secret. Both sides are hashed first so the
/// comparison is constant-time whatever their lengths.
pub(crate) fn verify_shared_secret(secret: &str, header: Option<&str>) -> Verification {
    let Some(given) = header else {
        return Verification::Rejected(format!("missing {TRANSCRIPTION_SECRET_HEADER} header"));
    };
    if same_secret(given.trim(), secret) {
        Verification::Verified
    } else {
        Verification::Rejected(format!("{TRANSCRIPTION_SECRET_HEADER} does not match"))
    }
}

fn malformed(message: impl Into<String>) -> WebhookError {
    WebhookError::Malformed(message.into())
}

/// Reads a body as a JSON object. serde_json's syntax errors name a line and column, never the
/// content, so they are safe to return even for audio payloads.
fn json_object(body: &[u8]) -> Result<Object, WebhookError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(malformed("body is not a JSON object")),
        Err(e) => Err(malformed(format!("body is not JSON: {e}"))),
    }
}

/// Parses a post-call webhook: the envelope `{type, event_timestamp, data}`.
pub(crate) fn parse_post_call(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    let envelope = json_object(body)?;
    let kind = text(Some(&envelope), "type")
        .ok_or_else(|| malformed("missing type"))?
        .to_owned();
    let event_at = envelope.get("event_timestamp").and_then(unix_time);
    let data = envelope.get("data").and_then(Value::as_object);
    let dedupe_key = text(data, "conversation_id").map(|id| format!("{kind}:{id}"));
    let known = matches!(
        kind.as_str(),
        "post_call_transcription" | "post_call_audio" | "call_initiation_failure"
    );
    if !known {
        // A type added after this code was written: acknowledged with no events (see the crate
        // docs), the receipt keeps the body.
        return Ok(ParsedWebhook {
            event_type: kind,
            dedupe_key,
            correlation: Correlation::default(),
            events: Vec::new(),
            reply: None,
        });
    }
    let data = data.ok_or_else(|| malformed(format!("{kind}: data must be an object")))?;
    let correlation = conversation::correlation(data);
    let events = match kind.as_str() {
        "post_call_transcription" => {
            if correlation.provider_call_id.is_none() {
                return Err(malformed(
                    "post_call_transcription: data.conversation_id is required",
                ));
            }
            conversation::events(data, event_at)
        }
        "post_call_audio" => vec![recording(data)?],
        _ => initiation_failure(data, event_at),
    };
    if correlation.is_empty() {
        return Err(malformed(format!(
            "{kind}: names no call (no conversation_id, user_id or gateway_call_id)"
        )));
    }
    Ok(ParsedWebhook {
        event_type: kind,
        dedupe_key,
        correlation,
        events,
        reply: None,
    })
}

/// `post_call_audio`: the base64 MP3 of the whole call. Errors never quote the audio.
fn recording(data: &Object) -> Result<CallEvent, WebhookError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let encoded = match data.get("full_audio") {
        Some(Value::String(encoded)) if !encoded.is_empty() => encoded,
        Some(Value::String(_)) => return Err(malformed("post_call_audio: full_audio is empty")),
        Some(_) => return Err(malformed("post_call_audio: full_audio must be a string")),
        None => return Err(malformed("post_call_audio: full_audio is missing")),
    };
    let data = LENIENT
        .decode(encoded)
        .or_else(|_| general_purpose::URL_SAFE.decode(encoded))
        .map_err(|_| malformed("post_call_audio: full_audio is not valid base64"))?;
    Ok(CallEvent::Recording(Recording {
        content_type: AUDIO_CONTENT_TYPE.to_owned(),
        data,
    }))
}

/// `call_initiation_failure`: the call never connected. Its fields are only loosely documented,
/// so everything is optional: `failure_reason` decides the status, and when it is missing or
/// `unknown` the Twilio `CallStatus` in `metadata.body` may refine it.
fn initiation_failure(data: &Object, event_at: Option<DateTime<Utc>>) -> Vec<CallEvent> {
    let metadata = object(Some(data), "metadata");
    let provider_body = object(metadata, "body");
    let failure_reason = text(Some(data), "failure_reason");
    let twilio_status = text(provider_body, "CallStatus");
    let decisive = match failure_reason {
        None | Some("unknown") => twilio_status.or(failure_reason),
        Some(reason) => Some(reason),
    };
    let status = match decisive {
        Some("busy") => CallStatus::Busy,
        Some("no-answer" | "no_answer") => CallStatus::NoAnswer,
        _ => CallStatus::Failed,
    };
    let mut telephony_ids = TelephonyIds::default();
    if let Some(sid) = text(provider_body, "CallSid") {
        telephony_ids = telephony_ids.with("twilio_call_sid", sid);
    }
    if let Some(id) = text(provider_body, "call_id").or_else(|| text(provider_body, "sip_call_id"))
    {
        telephony_ids = telephony_ids.with("sip_call_id", id);
    }
    let reason = failure_reason.or(twilio_status).map(str::to_owned);
    vec![
        CallEvent::Details(CallDetails {
            provider_call_id: text(Some(data), "conversation_id").map(str::to_owned),
            telephony_ids,
            vendor_metadata: metadata.cloned().map(Value::Object),
            ..CallDetails::default()
        }),
        CallEvent::Status(StatusUpdate {
            status,
            at: event_at,
            reason: reason.clone(),
            vendor_status: reason,
        }),
    ]
}

/// Parses the live-transcription tool webhook (the body is documented in the crate docs).
pub(crate) fn parse_transcription(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    let body = json_object(body)?;
    let call_id = text(Some(&body), "call_id")
        .map(str::trim)
        .ok_or_else(|| malformed("call_id is required"))?;
    let speaker = match text(Some(&body), "speaker").map(|s| Speaker::parse(s.trim())) {
        Some(speaker @ (Speaker::Agent | Speaker::User)) => speaker,
        _ => return Err(malformed("speaker must be \"agent\" or \"user\"")),
    };
    let message = text(Some(&body), "message")
        .map(str::trim)
        .ok_or_else(|| malformed("message is required and must not be empty"))?;
    let sequence = match body.get("sequence") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            integer(value)
                .filter(|n| *n >= 0)
                .ok_or_else(|| malformed("sequence must be a non-negative integer"))?,
        ),
    };
    let correlation = match call_id.parse::<CallId>() {
        Ok(id) => Correlation {
            gateway_call_id: Some(id),
            provider_call_id: None,
        },
        Err(_) => Correlation {
            gateway_call_id: None,
            provider_call_id: Some(call_id.to_owned()),
        },
    };
    Ok(ParsedWebhook {
        event_type: "transcription".to_owned(),
        dedupe_key: sequence.map(|n| format!("transcription:{call_id}:{n}")),
        correlation,
        events: vec![CallEvent::Turn(Turn {
            key: sequence.map(|n| format!("live-{n}")),
            speaker,
            text: message.to_owned(),
            offset_secs: number_at(Some(&body), "time_in_call_secs").filter(|s| *s >= 0.0),
            is_final: true,
            source: TranscriptSource::Live,
        })],
        reply: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{Headers, Provider, WebhookRequest};
    use serde_json::json;

    use crate::test_support::{
        TRANSCRIPTION_SECRET, WEBHOOK_SECRET, at, call_id, details, edited, parse, provider, status,
    };

    /// The vendor's test vector.
    const VECTOR_BODY: &str = r#"{"type":"call_initiation_failure","event_timestamp":1700000000,"data":{"agent_id":"agent_1","conversation_id":"conv_1","failure_reason":"busy","metadata":{"type":"twilio","body":{"CallSid":"CA1","CallStatus":"busy"}}}}"#;
    const VECTOR_HEADER: &str =
        "t=1700000000,v0=b85c086904fa47a7821f83695e8c8bce40d96827020ad1a59ac1c7dda3ab13dd";
    const VECTOR_T: i64 = 1_700_000_000;

    const FAILURE_NO_ANSWER: &str =
        include_str!("../tests/fixtures/webhook_call_initiation_failure_no_answer.json");
    const FAILURE_UNKNOWN: &str =
        include_str!("../tests/fixtures/webhook_call_initiation_failure_unknown.json");
    const AUDIO: &str = include_str!("../tests/fixtures/webhook_post_call_audio.json");
    const AUDIO_INVALID: &str =
        include_str!("../tests/fixtures/webhook_post_call_audio_invalid.json");
    const UNKNOWN_TYPE: &str = include_str!("../tests/fixtures/webhook_unknown_type.json");
    const LIVE: &str = include_str!("../tests/fixtures/transcription_tool.json");
    const LIVE_CONVERSATION: &str =
        include_str!("../tests/fixtures/transcription_tool_conversation_id.json");

    fn verify_with(
        provider: &dyn Provider,
        topic: Option<&str>,
        headers: Headers,
        body: &str,
        now: i64,
    ) -> Verification {
        provider.verify_webhook(
            &WebhookRequest {
                topic,
                headers: &headers,
                body: body.as_bytes(),
            },
            at(now),
        )
    }

    fn verify(header: &str, body: &str, now: i64) -> Verification {
        let headers = Headers::new().with("ElevenLabs-Signature", header);
        verify_with(&*provider(json!({})), None, headers, body, now)
    }

    fn rejected(verdict: Verification) -> String {
        match verdict {
            Verification::Rejected(reason) => reason,
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn vendor_test_vector() {
        assert_eq!(
            include_str!("../tests/fixtures/webhook_call_initiation_failure.json"),
            VECTOR_BODY,
            "the fixture holds the exact signed bytes"
        );
        assert_eq!(
            signature_header(WEBHOOK_SECRET, VECTOR_T, VECTOR_BODY.as_bytes()),
            VECTOR_HEADER
        );
        assert_eq!(
            verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_T + 60),
            Verification::Verified
        );
    }

    #[test]
    fn header_name_is_case_insensitive_and_parts_come_in_any_order() {
        let provider = provider(json!({}));
        for (name, value) in [
            ("elevenlabs-signature", VECTOR_HEADER.to_owned()),
            ("ELEVENLABS-SIGNATURE", VECTOR_HEADER.to_owned()),
            (
                "ElevenLabs-Signature",
                "v0=b85c086904fa47a7821f83695e8c8bce40d96827020ad1a59ac1c7dda3ab13dd,t=1700000000"
                    .to_owned(),
            ),
            (
                "ElevenLabs-Signature",
                " t=1700000000 , v0=00ff ,v0=b85c086904fa47a7821f83695e8c8bce40d96827020ad1a59ac1c7dda3ab13dd"
                    .to_owned(),
            ),
        ] {
            let headers = Headers::new().with(name, value.clone());
            assert_eq!(
                verify_with(&*provider, Some("post-call"), headers, VECTOR_BODY, VECTOR_T),
                Verification::Verified,
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn bad_signatures_are_rejected() {
        let tampered = VECTOR_BODY.replace("busy", "done");
        assert!(rejected(verify(VECTOR_HEADER, &tampered, VECTOR_T)).contains("does not match"));
        let other_secret = signature_header("wsec_other", VECTOR_T, VECTOR_BODY.as_bytes());
        assert!(rejected(verify(&other_secret, VECTOR_BODY, VECTOR_T)).contains("does not match"));
        let resigned_t = VECTOR_HEADER.replace("t=1700000000", "t=1700000001");
        assert!(rejected(verify(&resigned_t, VECTOR_BODY, VECTOR_T)).contains("does not match"));
        assert!(
            rejected(verify("t=1700000000,v0=zz", VECTOR_BODY, VECTOR_T))
                .contains("does not match")
        );
        assert!(rejected(verify("t=1700000000", VECTOR_BODY, VECTOR_T)).contains("no v0="));
        assert!(
            rejected(verify(
                "v0=b85c086904fa47a7821f83695e8c8bce40d96827020ad1a59ac1c7dda3ab13dd",
                VECTOR_BODY,
                VECTOR_T
            ))
            .contains("no t=")
        );
        assert!(rejected(verify("t=soon,v0=00", VECTOR_BODY, VECTOR_T)).contains("not a number"));
        assert!(
            rejected(verify(
                &format!("t=1,{VECTOR_HEADER}"),
                VECTOR_BODY,
                VECTOR_T
            ))
            .contains("more than one t=")
        );
        assert!(rejected(verify("", VECTOR_BODY, VECTOR_T)).contains("no t="));
    }

    #[test]
    fn missing_signature_is_rejected() {
        let verdict = verify_with(
            &*provider(json!({})),
            None,
            Headers::new(),
            VECTOR_BODY,
            VECTOR_T,
        );
        assert!(rejected(verdict).contains("missing ElevenLabs-Signature"));
    }

    #[test]
    fn stale_and_future_signatures_are_rejected() {
        assert_eq!(
            verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_T + 30 * 60),
            Verification::Verified,
            "exactly 30 minutes old is still accepted"
        );
        assert!(
            rejected(verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_T + 30 * 60 + 1)).contains("old")
        );
        assert!(rejected(verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_T + 86_400)).contains("old"));
        assert_eq!(
            verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_T - 5 * 60),
            Verification::Verified,
            "five minutes of clock skew is tolerated"
        );
        assert!(
            rejected(verify(VECTOR_HEADER, VECTOR_BODY, VECTOR_T - 5 * 60 - 1))
                .contains("in the future")
        );
        let far = format!("t={},v0=00", i64::MIN);
        assert!(rejected(verify(&far, VECTOR_BODY, VECTOR_T)).contains("old"));
    }

    #[test]
    fn no_secret_means_rejected_unless_unsigned_is_allowed() {
        let strict = provider(json!({"webhook_secret": null, "transcription_secret": null}));
        let lax = provider(json!({
            "webhook_secret": null,
            "transcription_secret": null,
            "allow_unsigned_webhooks": true,
        }));
        for topic in [None, Some("post-call")] {
            assert_eq!(
                verify_with(&*strict, topic, Headers::new(), VECTOR_BODY, VECTOR_T),
                Verification::Rejected("no webhook_secret configured".into())
            );
            assert_eq!(
                verify_with(&*lax, topic, Headers::new(), VECTOR_BODY, VECTOR_T),
                Verification::Unsigned
            );
        }
        assert_eq!(
            verify_with(
                &*strict,
                Some("transcription"),
                Headers::new(),
                LIVE,
                VECTOR_T
            ),
            Verification::Rejected("no transcription_secret configured".into())
        );
        assert_eq!(
            verify_with(&*lax, Some("transcription"), Headers::new(), LIVE, VECTOR_T),
            Verification::Unsigned
        );
    }

    #[test]
    fn a_configured_secret_is_enforced_even_when_unsigned_is_allowed() {
        let provider = provider(json!({"allow_unsigned_webhooks": true}));
        let verdict = verify_with(&*provider, None, Headers::new(), VECTOR_BODY, VECTOR_T);
        assert!(matches!(verdict, Verification::Rejected(_)));
        let verdict = verify_with(&*provider, Some("transcription"), Headers::new(), LIVE, 0);
        assert!(matches!(verdict, Verification::Rejected(_)));
    }

    #[test]
    fn transcription_secret() {
        let provider = provider(json!({}));
        let check = |value: Option<&str>| {
            let headers = match value {
                Some(v) => Headers::new().with("X-Transcription-Secret", v),
                None => Headers::new(),
            };
            verify_with(&*provider, Some("transcription"), headers, LIVE, 0)
        };
        assert_eq!(check(Some(TRANSCRIPTION_SECRET)), Verification::Verified);
        assert!(rejected(check(Some("tsec_live_12"))).contains("does not match"));
        assert!(rejected(check(Some(""))).contains("does not match"));
        assert!(rejected(check(None)).contains("missing x-transcription-secret"));
        // The post-call signature does not open the transcription endpoint.
        let headers = Headers::new().with("ElevenLabs-Signature", VECTOR_HEADER);
        assert!(matches!(
            verify_with(
                &*provider,
                Some("transcription"),
                headers,
                VECTOR_BODY,
                VECTOR_T
            ),
            Verification::Rejected(_)
        ));
    }

    #[test]
    fn unknown_topics() {
        let provider = provider(json!({"allow_unsigned_webhooks": true}));
        assert!(
            rejected(verify_with(
                &*provider,
                Some("status"),
                Headers::new(),
                "{}",
                0
            ))
            .contains("status")
        );
        assert_eq!(
            parse(&*provider, Some("status"), "{}"),
            Err(WebhookError::UnknownTopic("status".into()))
        );
    }

    #[test]
    fn initiation_failure_from_the_test_vector() {
        let parsed = parse(&*provider(json!({})), None, VECTOR_BODY).unwrap();
        assert_eq!(parsed.event_type, "call_initiation_failure");
        assert_eq!(
            parsed.dedupe_key.as_deref(),
            Some("call_initiation_failure:conv_1")
        );
        assert_eq!(
            parsed.correlation.provider_call_id.as_deref(),
            Some("conv_1")
        );
        assert_eq!(parsed.correlation.gateway_call_id, None);
        let details = details(&parsed.events);
        assert_eq!(details.provider_call_id.as_deref(), Some("conv_1"));
        assert_eq!(
            details
                .telephony_ids
                .0
                .get("twilio_call_sid")
                .map(String::as_str),
            Some("CA1")
        );
        assert_eq!(
            details.vendor_metadata,
            Some(json!({"type": "twilio", "body": {"CallSid": "CA1", "CallStatus": "busy"}}))
        );
        let status = status(&parsed.events).unwrap();
        assert_eq!(status.status, CallStatus::Busy);
        assert_eq!(status.reason.as_deref(), Some("busy"));
        assert_eq!(status.vendor_status.as_deref(), Some("busy"));
        assert_eq!(status.at, Some(at(VECTOR_T)));
    }

    #[test]
    fn initiation_failure_no_answer_over_sip() {
        let parsed = parse(&*provider(json!({})), None, FAILURE_NO_ANSWER).unwrap();
        assert_eq!(parsed.correlation.gateway_call_id, Some(call_id()));
        let status = status(&parsed.events).unwrap();
        assert_eq!(status.status, CallStatus::NoAnswer);
        assert_eq!(status.reason.as_deref(), Some("no-answer"));
        assert_eq!(
            status.at,
            Some(at(1_700_000_100)),
            "event_timestamp as a string"
        );
        assert_eq!(
            details(&parsed.events)
                .telephony_ids
                .0
                .get("sip_call_id")
                .map(String::as_str),
            Some("a84b4c76e66710@pc33.example.com")
        );
    }

    #[test]
    fn initiation_failure_reasons() {
        for (reason, expected) in [
            ("busy", CallStatus::Busy),
            ("no-answer", CallStatus::NoAnswer),
            ("no_answer", CallStatus::NoAnswer),
            ("unknown", CallStatus::Busy),
            ("carrier_rejected", CallStatus::Failed),
        ] {
            let body = edited(VECTOR_BODY, |v| v["data"]["failure_reason"] = json!(reason));
            let parsed = parse(&*provider(json!({})), None, &body).unwrap();
            let status = status(&parsed.events).unwrap();
            assert_eq!(status.status, expected, "{reason}");
            assert_eq!(status.reason.as_deref(), Some(reason));
        }
        let body = edited(VECTOR_BODY, |v| {
            v["data"]["failure_reason"] = json!(null);
            v["data"]["metadata"]["body"]["CallStatus"] = json!("failed");
        });
        let parsed = parse(&*provider(json!({})), None, &body).unwrap();
        let status = status(&parsed.events).unwrap();
        assert_eq!(status.status, CallStatus::Failed);
        assert_eq!(status.reason.as_deref(), Some("failed"));
    }

    #[test]
    fn initiation_failure_without_conversation_id() {
        let parsed = parse(&*provider(json!({})), None, FAILURE_UNKNOWN).unwrap();
        assert_eq!(
            parsed.dedupe_key, None,
            "the gateway hashes the body instead"
        );
        assert_eq!(parsed.correlation.provider_call_id, None);
        assert_eq!(parsed.correlation.gateway_call_id, Some(call_id()));
        let status = status(&parsed.events).unwrap();
        assert_eq!(
            status.status,
            CallStatus::NoAnswer,
            "refined by Twilio's CallStatus"
        );
        assert_eq!(status.reason.as_deref(), Some("unknown"));

        let anonymous = edited(FAILURE_UNKNOWN, |v| {
            v["data"]
                .as_object_mut()
                .unwrap()
                .remove("conversation_initiation_client_data");
        });
        assert!(matches!(
            parse(&*provider(json!({})), None, &anonymous),
            Err(WebhookError::Malformed(m)) if m.contains("names no call")
        ));
    }

    #[test]
    fn audio_becomes_a_recording() {
        let parsed = parse(&*provider(json!({})), None, AUDIO).unwrap();
        assert_eq!(parsed.event_type, "post_call_audio");
        assert_eq!(parsed.dedupe_key.as_deref(), Some("post_call_audio:abc"));
        assert_eq!(parsed.correlation.provider_call_id.as_deref(), Some("abc"));
        let [CallEvent::Recording(recording)] = parsed.events.as_slice() else {
            panic!("{:?}", parsed.events)
        };
        assert_eq!(recording.content_type, "audio/mpeg");
        assert!(recording.data.starts_with(b"ID3"));
        assert_eq!(recording.data.len(), 66);

        let unpadded = AUDIO.replace("AAAA\"}}", "AA\"}}");
        assert!(parse(&*provider(json!({})), None, &unpadded).is_ok());
    }

    #[test]
    fn bad_audio_is_malformed_without_quoting_it() {
        let Err(WebhookError::Malformed(message)) =
            parse(&*provider(json!({})), None, AUDIO_INVALID)
        else {
            panic!("accepted invalid base64")
        };
        assert!(message.contains("not valid base64"), "{message}");
        assert!(!message.contains("secret-audio"), "{message}");
        for (full_audio, expected) in [
            (json!(null), "must be a string"),
            (json!(42), "must be a string"),
            (json!(""), "empty"),
        ] {
            let body = edited(AUDIO, |v| v["data"]["full_audio"] = full_audio);
            let Err(WebhookError::Malformed(message)) = parse(&*provider(json!({})), None, &body)
            else {
                panic!("accepted")
            };
            assert!(message.contains(expected), "{message}");
        }
        let body = edited(AUDIO, |v| {
            v["data"].as_object_mut().unwrap().remove("full_audio");
        });
        assert!(parse(&*provider(json!({})), None, &body).is_err());
    }

    #[test]
    fn unknown_types_are_acknowledged_with_no_events() {
        let parsed = parse(&*provider(json!({})), None, UNKNOWN_TYPE).unwrap();
        assert_eq!(parsed.event_type, "post_call_sentiment");
        assert_eq!(
            parsed.dedupe_key.as_deref(),
            Some("post_call_sentiment:abc")
        );
        assert!(parsed.correlation.is_empty());
        assert!(parsed.events.is_empty());
    }

    #[test]
    fn malformed_envelopes() {
        let provider = provider(json!({}));
        for (body, expected) in [
            ("", "not JSON"),
            ("{\"type\":", "not JSON"),
            ("[]", "not a JSON object"),
            ("{\"data\":{}}", "missing type"),
            ("{\"type\":\"\",\"data\":{}}", "missing type"),
            (
                "{\"type\":\"post_call_transcription\"}",
                "data must be an object",
            ),
            (
                "{\"type\":\"post_call_transcription\",\"data\":{\"status\":\"done\"}}",
                "conversation_id is required",
            ),
        ] {
            let Err(WebhookError::Malformed(message)) = parse(&*provider, None, body) else {
                panic!("accepted {body}")
            };
            assert!(message.contains(expected), "{body}: {message}");
        }
    }

    #[test]
    fn live_turn_by_gateway_id() {
        let parsed = parse(&*provider(json!({})), Some("transcription"), LIVE).unwrap();
        assert_eq!(parsed.event_type, "transcription");
        assert_eq!(
            parsed.dedupe_key,
            Some(format!("transcription:{}:3", call_id()))
        );
        assert_eq!(parsed.correlation.gateway_call_id, Some(call_id()));
        assert_eq!(parsed.correlation.provider_call_id, None);
        let [CallEvent::Turn(turn)] = parsed.events.as_slice() else {
            panic!("{:?}", parsed.events)
        };
        assert_eq!(turn.key.as_deref(), Some("live-3"));
        assert_eq!(turn.speaker, Speaker::User);
        assert_eq!(turn.text, "I'd like to reschedule.");
        assert_eq!(turn.offset_secs, Some(12.4));
        assert!(turn.is_final);
        assert_eq!(turn.source, TranscriptSource::Live);
    }

    #[test]
    fn live_turn_by_conversation_id_without_sequence() {
        let parsed = parse(
            &*provider(json!({})),
            Some("transcription"),
            LIVE_CONVERSATION,
        )
        .unwrap();
        assert_eq!(parsed.dedupe_key, None);
        assert_eq!(parsed.correlation.gateway_call_id, None);
        assert_eq!(
            parsed.correlation.provider_call_id.as_deref(),
            Some("conv_abc123")
        );
        let [CallEvent::Turn(turn)] = parsed.events.as_slice() else {
            panic!("{:?}", parsed.events)
        };
        assert_eq!(turn.key, None);
        assert_eq!(turn.speaker, Speaker::Agent);
        assert_eq!(turn.offset_secs, None);
    }

    #[test]
    fn live_turn_tolerates_llm_style_values() {
        let body = edited(LIVE, |v| {
            v["sequence"] = json!("7");
            v["time_in_call_secs"] = json!("about a minute");
            v["speaker"] = json!("assistant");
        });
        let parsed = parse(&*provider(json!({})), Some("transcription"), &body).unwrap();
        let [CallEvent::Turn(turn)] = parsed.events.as_slice() else {
            panic!("{:?}", parsed.events)
        };
        assert_eq!(turn.key.as_deref(), Some("live-7"));
        assert_eq!(turn.speaker, Speaker::Agent);
        assert_eq!(turn.offset_secs, None);
    }

    #[test]
    fn bad_live_turns_are_malformed() {
        let provider = provider(json!({}));
        for (field, value, expected) in [
            ("message", json!(null), "message"),
            ("message", json!("  "), "message"),
            ("speaker", json!("system"), "speaker"),
            ("speaker", json!(null), "speaker"),
            ("call_id", json!(""), "call_id"),
            ("call_id", json!(7), "call_id"),
            ("sequence", json!(-1), "sequence"),
            ("sequence", json!("third"), "sequence"),
        ] {
            let body = edited(LIVE, |v| v[field] = value.clone());
            let Err(WebhookError::Malformed(message)) =
                parse(&*provider, Some("transcription"), &body)
            else {
                panic!("accepted {field} = {value}")
            };
            assert!(message.contains(expected), "{field}: {message}");
        }
        assert!(parse(&*provider, Some("transcription"), "[1]").is_err());
    }

    #[test]
    fn signed_by_the_helper_verifies_end_to_end() {
        let provider = provider(json!({}));
        let body = include_str!("../tests/fixtures/webhook_post_call_transcription.json");
        let headers = Headers::new().with(
            SIGNATURE_HEADER,
            signature_header(WEBHOOK_SECRET, 1_739_537_320, body.as_bytes()),
        );
        assert_eq!(
            verify_with(&*provider, None, headers, body, 1_739_537_330),
            Verification::Verified
        );
    }

    #[test]
    fn header_checks_come_before_the_body() {
        let provider = provider(json!({}));
        let precheck = |topic, headers: Headers| provider.precheck_webhook(topic, &headers);
        // The post-call HMAC needs the body; its missing header does not.
        let signed = Headers::new().with("ElevenLabs-Signature", "t=1,v0=00");
        assert_eq!(precheck(None, signed), None);
        assert_eq!(
            precheck(Some("post-call"), Headers::new()),
            Some(Verification::Rejected(MISSING_SIGNATURE.into()))
        );
        // The live tool's shared secret is decided on the headers alone.
        assert!(matches!(
            precheck(Some("transcription"), Headers::new()),
            Some(Verification::Rejected(_))
        ));
        assert!(matches!(
            precheck(
                Some("transcription"),
                Headers::new().with("x-transcription-secret", "wrong")
            ),
            Some(Verification::Rejected(_))
        ));
        assert!(matches!(
            precheck(Some("nope"), Headers::new()),
            Some(Verification::Rejected(_))
        ));
        let strict = crate::test_support::provider(
            json!({"webhook_secret": null, "transcription_secret": null}),
        );
        assert_eq!(
            strict.precheck_webhook(None, &Headers::new()),
            Some(Verification::Rejected(
                "no webhook_secret configured".into()
            ))
        );
    }
}
