use chrono::{DateTime, Utc};
use plugin_api::{
    CallEvent, CallStatus, Environment, Headers, Provider, ProviderFactory, Speaker,
    TranscriptSource, Verification, WebhookRequest,
};
use serde_json::json;

use crate::RetellFactory;
use crate::test_support::*;
use crate::webhook::{SIGNATURE_HEADER, signature_header};

/// The signing test vector of the vendor notes, computed with the official SDK.
const VECTOR_KEY: &str = "key_test_webhook";
const VECTOR_BODY: &str = r#"{"event":"call_ended","call":{"call_id":"call_1","call_type":"phone_call","call_status":"not_connected","direction":"outbound","disconnection_reason":"dial_busy","metadata":{"gateway_call_id":"gw-1"}}}"#;
const VECTOR_HEADER: &str =
    "v=1700000000000,d=b3acc8b78c73fa60a3fb5a9b2614985d4004da0c73b22bd741b819f5d0663641";

const STARTED: &str = include_str!("../../tests/fixtures/webhook_call_started.json");
const ENDED: &str = include_str!("../../tests/fixtures/webhook_call_ended.json");
const ANALYZED: &str = include_str!("../../tests/fixtures/webhook_call_analyzed.json");

fn at_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

fn verify(
    provider: &dyn Provider,
    body: &str,
    header: Option<&str>,
    now: DateTime<Utc>,
) -> Verification {
    let headers = match header {
        Some(value) => Headers::new().with(SIGNATURE_HEADER, value),
        None => Headers::new(),
    };
    provider.verify_webhook(
        &WebhookRequest {
            topic: None,
            headers: &headers,
            body: body.as_bytes(),
        },
        now,
    )
}

fn vector_provider(overrides: serde_json::Value) -> Box<dyn Provider> {
    let mut config = json!({"api_key": VECTOR_KEY});
    for (k, v) in overrides.as_object().cloned().unwrap_or_default() {
        config[k] = v;
    }
    RetellFactory
        .validate_config(&context(Environment::Development), &config)
        .unwrap()
}

#[test]
fn the_vendor_test_vector_verifies() {
    assert_eq!(
        signature_header(VECTOR_KEY, VECTOR_BODY.as_bytes(), 1_700_000_000_000),
        VECTOR_HEADER
    );
    let provider = vector_provider(json!({}));
    let now = at_millis(1_700_000_000_000);
    assert_eq!(
        verify(provider.as_ref(), VECTOR_BODY, Some(VECTOR_HEADER), now),
        Verification::Verified
    );
    // Within 5 minutes either way; not beyond.
    for ms in [-300_000, 300_000] {
        let at = at_millis(1_700_000_000_000 + ms);
        assert_eq!(
            verify(provider.as_ref(), VECTOR_BODY, Some(VECTOR_HEADER), at),
            Verification::Verified
        );
    }
    for ms in [-300_001, 300_001] {
        let at = at_millis(1_700_000_000_000 + ms);
        let verdict = verify(provider.as_ref(), VECTOR_BODY, Some(VECTOR_HEADER), at);
        assert!(
            matches!(verdict, Verification::Rejected(ref r) if r.contains("5 minutes")),
            "{verdict:?}"
        );
    }
}

#[test]
fn tampered_forged_and_missing_signatures_are_refused() {
    let provider = vector_provider(json!({}));
    let now = at_millis(1_700_000_000_000);
    let tampered = VECTOR_BODY.replace("dial_busy", "dial_no_answer");
    let other_time = VECTOR_HEADER.replace("v=1700000000000", "v=1700000000001");
    let upper = VECTOR_HEADER.replace("b3acc8", "B3ACC8");
    let swapped =
        "d=b3acc8b78c73fa60a3fb5a9b2614985d4004da0c73b22bd741b819f5d0663641,v=1700000000000";
    let short = "v=1700000000000,d=b3acc8";
    for (body, header) in [
        (tampered.as_str(), Some(VECTOR_HEADER)),
        (VECTOR_BODY, Some(other_time.as_str())),
        (VECTOR_BODY, Some(upper.as_str())),
        (VECTOR_BODY, Some(swapped)),
        (VECTOR_BODY, Some(short)),
        (VECTOR_BODY, Some("")),
        (VECTOR_BODY, None),
    ] {
        let verdict = verify(provider.as_ref(), body, header, now);
        assert!(
            matches!(verdict, Verification::Rejected(_)),
            "{header:?}: {verdict:?}"
        );
    }
    // Another key.
    let wrong = vector_provider(json!({"api_key": "key_other"}));
    assert!(matches!(
        verify(wrong.as_ref(), VECTOR_BODY, Some(VECTOR_HEADER), now),
        Verification::Rejected(_)
    ));
}

#[test]
fn unsigned_webhooks_only_when_allowed_and_a_sent_signature_is_always_checked() {
    let open = vector_provider(json!({"allow_unsigned_webhooks": true}));
    let now = at_millis(1_700_000_000_000);
    assert_eq!(
        verify(open.as_ref(), VECTOR_BODY, None, now),
        Verification::Unsigned
    );
    let bad = VECTOR_HEADER.replace("b3acc8", "000000");
    assert!(matches!(
        verify(open.as_ref(), VECTOR_BODY, Some(&bad), now),
        Verification::Rejected(_)
    ));
    let closed = vector_provider(json!({}));
    let verdict = verify(closed.as_ref(), VECTOR_BODY, None, now);
    assert!(
        matches!(verdict, Verification::Rejected(ref r) if r.contains("missing")),
        "{verdict:?}"
    );
}

#[test]
fn the_test_vector_parses_as_busy_correlated_by_retell_id() {
    // `gw-1` is no gateway id (not a UUID): Retell's id correlates.
    let parsed = parse(provider(json!({})).as_ref(), VECTOR_BODY).unwrap();
    assert_eq!(parsed.event_type, "call_ended");
    assert_eq!(parsed.dedupe_key.as_deref(), Some("call_1:call_ended"));
    assert_eq!(
        parsed.correlation.provider_call_id.as_deref(),
        Some("call_1")
    );
    assert_eq!(parsed.correlation.gateway_call_id, None);
    let status = status(&parsed.events).unwrap();
    assert_eq!(status.status, CallStatus::Busy);
    assert_eq!(status.vendor_status.as_deref(), Some("not_connected"));
    assert_eq!(status.reason.as_deref(), Some("dial_busy"));
}

#[test]
fn call_started_is_in_progress() {
    let parsed = parse(provider(json!({})).as_ref(), STARTED).unwrap();
    assert_eq!(parsed.event_type, "call_started");
    assert_eq!(
        parsed.dedupe_key,
        Some(format!("{RETELL_CALL_ID}:call_started"))
    );
    assert_eq!(parsed.correlation.gateway_call_id, Some(call_id()));
    let details = details(&parsed.events);
    assert_eq!(details.started_at, Some(at_millis(1_763_632_805_000)));
    assert!(details.telephony_ids.0.contains_key("twilio_call_sid"));
    let status = status(&parsed.events).unwrap();
    assert_eq!(
        (status.status, status.vendor_status.as_deref()),
        (CallStatus::InProgress, Some("ongoing"))
    );
    assert_eq!(status.at, Some(at_millis(1_763_632_805_000)));
    assert!(matches!(parsed.events.last(), Some(CallEvent::Status(_))));
}

#[test]
fn call_analyzed_completes_with_transcript_cost_and_analysis() {
    let parsed = parse(provider(json!({})).as_ref(), ANALYZED).unwrap();
    assert_eq!(
        parsed.dedupe_key,
        Some(format!("{RETELL_CALL_ID}:call_analyzed"))
    );
    let details = details(&parsed.events);
    assert_eq!(details.started_at, Some(at_millis(1_763_632_805_000)));
    assert_eq!(details.ended_at, Some(at_millis(1_763_632_840_000)));
    assert_eq!(details.duration_secs, Some(35.0));
    assert_eq!(details.cost.map(|c| c.amount), Some(0.126));
    assert_eq!(
        details.cost_breakdown.as_ref().unwrap()["product_costs"][2]["cost"],
        8.23
    );
    assert_eq!(details.success, Some(true));
    let analysis = details.analysis.as_ref().unwrap();
    assert_eq!(
        analysis["custom_analysis_data"],
        json!({"confirmed": true, "slot": "Monday 9:00"})
    );
    assert_eq!(analysis["user_sentiment"], "Positive");
    assert_eq!(details.end_reason.as_deref(), Some("user_hangup"));
    assert!(
        details
            .recording_url
            .as_deref()
            .unwrap()
            .ends_with("recording.wav")
    );
    let metadata = details.vendor_metadata.as_ref().unwrap();
    assert_eq!(metadata["agent_id"], "agent_123");
    assert!(metadata["public_log_url"].is_string());
    let turns = transcript(&parsed.events).unwrap();
    let shown: Vec<(Speaker, &str, Option<f64>)> = turns
        .iter()
        .map(|t| (t.speaker.clone(), t.text.as_str(), t.offset_secs))
        .collect();
    assert_eq!(
        shown,
        [
            (Speaker::Agent, "Hi Ada", Some(0.5)),
            (Speaker::User, "Hello", Some(2.1)),
            (Speaker::Agent, "You're booked for Monday at 9.", Some(3.0)),
        ]
    );
    assert!(
        turns
            .iter()
            .all(|t| t.source == TranscriptSource::PostCall && t.is_final)
    );
    let status = status(&parsed.events).unwrap();
    assert_eq!(status.status, CallStatus::Completed);
    assert_eq!(status.at, Some(at_millis(1_763_632_840_000)));
    assert!(
        matches!(parsed.events.last(), Some(CallEvent::Status(_))),
        "the status comes last"
    );
}

#[test]
fn call_ended_completes_without_analysis() {
    let parsed = parse(provider(json!({})).as_ref(), ENDED).unwrap();
    let details = details(&parsed.events);
    assert_eq!(details.analysis, None);
    assert_eq!(details.summary, None);
    assert_eq!(
        status(&parsed.events).unwrap().status,
        CallStatus::Completed
    );
}

#[test]
fn endings_map_to_statuses() {
    let provider = provider(json!({}));
    for (raw, expected, reason) in [
        (
            include_str!("../../tests/fixtures/webhook_call_ended_busy.json"),
            CallStatus::Busy,
            "dial_busy",
        ),
        (
            include_str!("../../tests/fixtures/webhook_call_ended_no_answer.json"),
            CallStatus::NoAnswer,
            "dial_no_answer",
        ),
        (
            include_str!("../../tests/fixtures/webhook_call_ended_failed.json"),
            CallStatus::Failed,
            "concurrency_limit_reached",
        ),
        (
            include_str!("../../tests/fixtures/webhook_call_analyzed_voicemail.json"),
            CallStatus::Completed,
            "voicemail_reached",
        ),
        (
            include_str!("../../tests/fixtures/webhook_call_analyzed_transfer.json"),
            CallStatus::Completed,
            "call_transfer",
        ),
        (
            include_str!("../../tests/fixtures/webhook_call_ended_unknown_reason.json"),
            CallStatus::Completed,
            "agent_teleported",
        ),
    ] {
        let parsed = parse(provider.as_ref(), raw).unwrap();
        let status = status(&parsed.events).unwrap();
        assert_eq!(status.status, expected, "{reason}");
        assert_eq!(status.reason.as_deref(), Some(reason));
        assert_eq!(details(&parsed.events).end_reason.as_deref(), Some(reason));
    }
    let voicemail = parse(
        provider.as_ref(),
        include_str!("../../tests/fixtures/webhook_call_analyzed_voicemail.json"),
    )
    .unwrap();
    assert_eq!(
        details(&voicemail.events).analysis.as_ref().unwrap()["in_voicemail"],
        true
    );
    let transfer = parse(
        provider.as_ref(),
        include_str!("../../tests/fixtures/webhook_call_analyzed_transfer.json"),
    )
    .unwrap();
    let turns = transcript(&transfer.events).unwrap();
    assert_eq!(turns[3].speaker, Speaker::Other("transfer_target".into()));
    assert_eq!(
        details(&transfer.events).vendor_metadata.as_ref().unwrap()["transfer_destination"],
        "+14155550199"
    );
}

#[test]
fn a_minimal_call_analyzed_still_completes() {
    let parsed = parse(
        provider(json!({})).as_ref(),
        include_str!("../../tests/fixtures/webhook_call_analyzed_minimal.json"),
    )
    .unwrap();
    let details = details(&parsed.events);
    assert_eq!(
        (details.cost, details.duration_secs, details.started_at),
        (None, None, None)
    );
    assert!(transcript(&parsed.events).is_none());
    assert_eq!(
        status(&parsed.events).unwrap().status,
        CallStatus::Completed
    );
    // Without call_status, call_ended is an ending.
    let bare =
        r#"{"event":"call_ended","call":{"call_id":"c1","disconnection_reason":"dial_no_answer"}}"#;
    assert_eq!(
        status(&parse(provider(json!({})).as_ref(), bare).unwrap().events)
            .unwrap()
            .status,
        CallStatus::NoAnswer
    );
}

#[test]
fn transcript_updates_are_live_turns_keyed_by_position() {
    let parsed = parse(
        provider(json!({})).as_ref(),
        include_str!("../../tests/fixtures/webhook_transcript_updated.json"),
    )
    .unwrap();
    let turns: Vec<_> = parsed
        .events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Turn(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(turns.len(), 2);
    assert!(
        turns
            .iter()
            .all(|t| t.source == TranscriptSource::Live && t.is_final)
    );
    assert_eq!(turns[1].key.as_deref(), Some("turn-1"));
    let key = parsed.dedupe_key.unwrap();
    assert!(
        key.starts_with(&format!("{RETELL_CALL_ID}:transcript_updated:")),
        "{key}"
    );
    // A longer transcript is another delivery.
    let longer = edited(
        include_str!("../../tests/fixtures/webhook_transcript_updated.json"),
        |v| {
            v["call"]["transcript_object"][1]["content"] = json!("Hello there");
        },
    );
    assert_ne!(
        parse(provider(json!({})).as_ref(), &longer)
            .unwrap()
            .dedupe_key,
        Some(key)
    );
}

#[test]
fn transfer_events_keep_the_call_in_progress() {
    for raw in [
        include_str!("../../tests/fixtures/webhook_transfer_started.json"),
        include_str!("../../tests/fixtures/webhook_transfer_bridged.json"),
    ] {
        let parsed = parse(provider(json!({})).as_ref(), raw).unwrap();
        let status = status(&parsed.events).unwrap();
        assert_eq!(status.status, CallStatus::InProgress);
        assert_eq!(
            status.vendor_status.as_deref(),
            Some(parsed.event_type.as_str())
        );
        assert!(parsed.dedupe_key.unwrap().contains(&parsed.event_type));
    }
}

#[test]
fn chat_and_unknown_events_are_acknowledged_without_events() {
    let chat = parse(
        provider(json!({})).as_ref(),
        include_str!("../../tests/fixtures/webhook_chat_started.json"),
    )
    .unwrap();
    assert_eq!(chat.event_type, "chat_started");
    assert!(chat.events.is_empty() && chat.correlation.is_empty() && chat.dedupe_key.is_none());
    let later = r#"{"event":"call_paused","call":{"call_id":"c1"}}"#;
    let later = parse(provider(json!({})).as_ref(), later).unwrap();
    assert!(later.events.is_empty());
    assert_eq!(later.correlation.provider_call_id.as_deref(), Some("c1"));
}

#[test]
fn bodies_that_are_not_retell_webhooks_are_malformed() {
    for bad in [
        "not json",
        "[1]",
        r#"{"call":{"call_id":"c1"}}"#,
        r#"{"event":"call_ended"}"#,
        r#"{"event":"call_ended","call":"c1"}"#,
        r#"{"event":"call_ended","call":{"call_status":"ended"}}"#,
    ] {
        assert!(parse(provider(json!({})).as_ref(), bad).is_err(), "{bad}");
    }
}
