use plugin_api::{CallEvent, CallStatus, CostUnit, Speaker, TranscriptSource, Turn, WebhookError};
use serde_json::{Value, json};

use crate::test_support::{
    CALL_ID, VAPI_CALL_ID, at_millis, at_rfc3339, call_id, details, edited, parse, provider,
    status, transcript,
};

const RINGING: &str = include_str!("../../tests/fixtures/message_status_update_ringing.json");
const IN_PROGRESS: &str =
    include_str!("../../tests/fixtures/message_status_update_in_progress.json");
const ENDED: &str = include_str!("../../tests/fixtures/message_status_update_ended.json");
const BUSY: &str = include_str!("../../tests/fixtures/message_status_update_ended_busy.json");
const UNKNOWN_REASON: &str =
    include_str!("../../tests/fixtures/message_status_update_ended_unknown_reason.json");
const STATUS_MINIMAL: &str =
    include_str!("../../tests/fixtures/message_status_update_minimal.json");
const FINAL: &str = include_str!("../../tests/fixtures/message_transcript_final.json");
const USER_FINAL: &str = include_str!("../../tests/fixtures/message_transcript_user_final.json");
const PARTIAL: &str = include_str!("../../tests/fixtures/message_transcript_partial.json");
const REPORT: &str = include_str!("../../tests/fixtures/message_end_of_call_report.json");
const REPORT_MINIMAL: &str =
    include_str!("../../tests/fixtures/message_end_of_call_report_minimal.json");
const REPORT_ERROR: &str =
    include_str!("../../tests/fixtures/message_end_of_call_report_pipeline_error.json");
const REPORT_SCORE: &str =
    include_str!("../../tests/fixtures/message_end_of_call_report_score.json");
const HANG: &str = include_str!("../../tests/fixtures/message_hang.json");
const ASSISTANT_REQUEST: &str = include_str!("../../tests/fixtures/message_assistant_request.json");

fn parsed(body: &str) -> plugin_api::ParsedWebhook {
    parse(&*provider(json!({})), body).unwrap()
}

fn turn(events: &[CallEvent]) -> &Turn {
    match events {
        [CallEvent::Turn(turn)] => turn,
        other => panic!("expected one turn, got {other:?}"),
    }
}

#[test]
fn every_message_is_correlated_by_both_ids() {
    for body in [
        RINGING,
        IN_PROGRESS,
        ENDED,
        BUSY,
        FINAL,
        PARTIAL,
        REPORT,
        REPORT_ERROR,
        HANG,
    ] {
        let parsed = parsed(body);
        assert_eq!(
            parsed.correlation.provider_call_id.as_deref(),
            Some(VAPI_CALL_ID),
            "{}",
            parsed.event_type
        );
        assert_eq!(parsed.correlation.gateway_call_id, Some(call_id()));
    }
}

#[test]
fn correlation_falls_back_and_ignores_what_is_not_a_uuid() {
    let only_gateway = edited(RINGING, |v| {
        v["message"]["call"].as_object_mut().unwrap().remove("id");
    });
    let parsed = parsed(&only_gateway);
    assert_eq!(parsed.correlation.provider_call_id, None);
    assert_eq!(parsed.correlation.gateway_call_id, Some(call_id()));
    assert_eq!(
        parsed.dedupe_key.as_deref(),
        Some(format!("{CALL_ID}:status-update:ringing:1795168801000").as_str())
    );

    let not_uuid = edited(RINGING, |v| {
        v["message"]["call"]["assistantOverrides"]["metadata"]["gateway_call_id"] = json!("abc");
    });
    let parsed = self::parsed(&not_uuid);
    assert_eq!(parsed.correlation.gateway_call_id, None);
    assert_eq!(
        parsed.correlation.provider_call_id.as_deref(),
        Some(VAPI_CALL_ID)
    );

    let minimal = self::parsed(STATUS_MINIMAL);
    assert!(minimal.correlation.is_empty());
    assert_eq!(minimal.dedupe_key, None);
    // Still has its event: the gateway answers 404 and stores the receipt as unknown_call.
    assert_eq!(
        status(&minimal.events).unwrap().status,
        CallStatus::InProgress
    );
}

#[test]
fn status_updates_follow_the_table() {
    for (body, expected, vendor) in [
        (RINGING, CallStatus::Ringing, "ringing"),
        (IN_PROGRESS, CallStatus::InProgress, "in-progress"),
        (ENDED, CallStatus::Completed, "ended"),
        (BUSY, CallStatus::Busy, "ended"),
        (UNKNOWN_REASON, CallStatus::Failed, "ended"),
        (STATUS_MINIMAL, CallStatus::InProgress, "forwarding"),
    ] {
        let parsed = parsed(body);
        assert_eq!(parsed.event_type, "status-update");
        assert_eq!(parsed.reply, None);
        let update = status(&parsed.events).unwrap();
        assert_eq!(update.status, expected, "{body}");
        assert_eq!(update.vendor_status.as_deref(), Some(vendor));
    }
    for vapi_status in ["scheduled", "queued"] {
        let body = edited(RINGING, |v| v["message"]["status"] = json!(vapi_status));
        assert_eq!(
            status(&parsed(&body).events).unwrap().status,
            CallStatus::Queued
        );
    }
    for silent in ["not-found", "deletion-failed", "teleporting"] {
        let body = edited(IN_PROGRESS, |v| v["message"]["status"] = json!(silent));
        let parsed = parsed(&body);
        assert!(parsed.events.is_empty(), "{silent}: {:?}", parsed.events);
        assert!(parsed.dedupe_key.unwrap().contains(silent));
    }
}

#[test]
fn status_updates_are_dated_and_carry_telephony_ids() {
    let ringing = parsed(RINGING);
    assert_eq!(
        ringing.dedupe_key.as_deref(),
        Some(format!("{VAPI_CALL_ID}:status-update:ringing:1795168801000").as_str())
    );
    let [CallEvent::Details(details), CallEvent::Status(update)] = ringing.events.as_slice() else {
        panic!("{:?}", ringing.events)
    };
    assert_eq!(
        details
            .telephony_ids
            .0
            .get("twilio_call_sid")
            .map(String::as_str),
        Some("CA0123456789abcdef0123456789abcdef")
    );
    assert_eq!(details.end_reason, None);
    assert_eq!(update.at, Some(at_millis(1_795_168_801_000)));
    assert_eq!(update.reason, None);
    // The control URL the message carries goes nowhere.
    assert!(!format!("{ringing:?}").contains("/control"));

    let in_progress = parsed(IN_PROGRESS);
    assert_eq!(in_progress.events.len(), 1, "{:?}", in_progress.events);
    assert_eq!(
        status(&in_progress.events).unwrap().at,
        Some(at_millis(1_795_168_805_000))
    );
}

#[test]
fn ended_status_keeps_the_raw_reason() {
    let ended = parsed(ENDED);
    let update = status(&ended.events).unwrap();
    assert_eq!(update.reason.as_deref(), Some("customer-ended-call"));
    // Dated by the call's endedAt, not by when the message was sent.
    assert_eq!(update.at, Some(at_rfc3339("2026-11-20T10:00:40Z")));
    assert_eq!(
        details(&ended.events).end_reason.as_deref(),
        Some("customer-ended-call")
    );

    let unknown = parsed(UNKNOWN_REASON);
    let update = status(&unknown.events).unwrap();
    assert_eq!(update.status, CallStatus::Failed);
    assert_eq!(
        update.reason.as_deref(),
        Some("call.in-progress.error-vapifault-brand-new-voice-failed")
    );
    assert_eq!(update.at, Some(at_millis(1_795_168_812_000)));

    let busy = parsed(BUSY);
    assert_eq!(
        status(&busy.events).unwrap().reason.as_deref(),
        Some("customer-busy")
    );

    let unknown_normal = edited(ENDED, |v| {
        v["message"]["endedReason"] = json!("customer-waved-goodbye")
    });
    let update = parsed(&unknown_normal);
    let update = status(&update.events).unwrap();
    assert_eq!(update.status, CallStatus::Completed);
    assert_eq!(update.reason.as_deref(), Some("customer-waved-goodbye"));

    let no_reason = edited(ENDED, |v| {
        v["message"].as_object_mut().unwrap().remove("endedReason");
    });
    let parsed = parsed(&no_reason);
    let update = status(&parsed.events).unwrap();
    assert_eq!(update.status, CallStatus::Completed);
    assert_eq!(update.reason, None);
}

#[test]
fn final_transcripts_in_both_spellings_are_live_turns() {
    let assistant = parsed(FINAL);
    assert_eq!(
        assistant.event_type,
        r#"transcript[transcriptType="final"]"#
    );
    let turn = turn(&assistant.events);
    assert_eq!(turn.speaker, Speaker::Agent);
    assert_eq!(turn.text, "Hi Ada");
    assert!(turn.is_final);
    assert_eq!(turn.source, TranscriptSource::Live);
    assert_eq!(turn.key, None);
    // 10:00:06.600 (timestamp) minus 10:00:05 (call.startedAt).
    assert_eq!(turn.offset_secs, Some(1.6));

    let user = parsed(USER_FINAL);
    assert_eq!(user.event_type, "transcript");
    let turn = self::turn(&user.events);
    assert_eq!(turn.speaker, Speaker::User);
    assert_eq!(turn.text, "Hello");
    assert!(turn.is_final);
    assert_eq!(turn.offset_secs, None);
}

#[test]
fn partial_transcripts_are_not_final() {
    let partial = parsed(PARTIAL);
    let turn = turn(&partial.events);
    assert!(!turn.is_final);
    assert_eq!(turn.text, "Hel");
    assert_eq!(turn.source, TranscriptSource::Live);
}

#[test]
fn transcript_type_decides_and_the_spelling_is_the_fallback() {
    let no_type_plain = edited(PARTIAL, |v| {
        v["message"]
            .as_object_mut()
            .unwrap()
            .remove("transcriptType");
    });
    assert!(!turn(&parsed(&no_type_plain).events).is_final);
    let no_type_final = edited(FINAL, |v| {
        v["message"]
            .as_object_mut()
            .unwrap()
            .remove("transcriptType");
    });
    assert!(turn(&parsed(&no_type_final).events).is_final);
    let empty = edited(FINAL, |v| v["message"]["transcript"] = json!("   "));
    let parsed = parsed(&empty);
    assert!(parsed.events.is_empty());
    assert!(parsed.dedupe_key.is_some());
}

#[test]
fn transcript_dedupe_keys_tell_words_roles_and_times_apart() {
    let key = |body: &str| parsed(body).dedupe_key.unwrap();
    let final_key = key(FINAL);
    assert!(
        final_key.starts_with(&format!(
            "{VAPI_CALL_ID}:transcript[transcriptType=\"final\"]:assistant:final:"
        )),
        "{final_key}"
    );
    assert!(final_key.ends_with(":1795168806600"), "{final_key}");
    assert_eq!(key(FINAL), final_key);
    let other_words = edited(FINAL, |v| v["message"]["transcript"] = json!("Bye Ada"));
    let other_role = edited(FINAL, |v| v["message"]["role"] = json!("user"));
    let other_time = edited(FINAL, |v| {
        v["message"]["timestamp"] = json!(1_795_168_806_601_u64)
    });
    for other in [other_words, other_role, other_time] {
        assert_ne!(key(&other), final_key);
    }
    assert_ne!(key(PARTIAL), key(USER_FINAL));
    let no_timestamp = edited(FINAL, |v| {
        v["message"].as_object_mut().unwrap().remove("timestamp");
    });
    assert_eq!(parsed(&no_timestamp).dedupe_key, None);
}

#[test]
fn end_of_call_report_gives_details_transcript_and_status() {
    let report = parsed(REPORT);
    assert_eq!(report.event_type, "end-of-call-report");
    assert_eq!(report.reply, None);
    assert!(matches!(report.events[0], CallEvent::Details(_)));
    assert!(matches!(report.events[1], CallEvent::Transcript { .. }));
    assert!(matches!(report.events[2], CallEvent::Status(_)));
    assert_eq!(report.events.len(), 3);

    let details = details(&report.events);
    assert_eq!(details.provider_call_id.as_deref(), Some(VAPI_CALL_ID));
    assert_eq!(
        details
            .telephony_ids
            .0
            .get("twilio_call_sid")
            .map(String::as_str),
        Some("CA0123456789abcdef0123456789abcdef")
    );
    assert_eq!(details.started_at, Some(at_rfc3339("2026-11-20T10:00:05Z")));
    assert_eq!(details.ended_at, Some(at_rfc3339("2026-11-20T10:00:40Z")));
    assert_eq!(details.duration_secs, Some(35.0));
    let cost = details.cost.unwrap();
    assert_eq!((cost.amount, cost.unit), (0.12, CostUnit::Usd));
    assert_eq!(
        details.cost_breakdown,
        Some(
            json!({"transport": 0.01, "stt": 0.02, "llm": 0.04, "tts": 0.03, "vapi": 0.02, "total": 0.12})
        )
    );
    assert_eq!(details.summary.as_deref(), Some("Ada confirmed."));
    assert_eq!(details.success, Some(true));
    assert_eq!(
        details.analysis,
        Some(json!({
            "summary": "Ada confirmed.",
            "structuredData": {"confirmed": true, "slot": "Monday 9:00"},
            "successEvaluation": "true"
        }))
    );
    assert_eq!(
        details.recording_url.as_deref(),
        Some("https://storage.vapi.ai/rec.wav")
    );
    assert_eq!(details.end_reason.as_deref(), Some("customer-ended-call"));
    assert_eq!(
        details.vendor_metadata,
        Some(json!({
            "type": "outboundPhoneCall",
            "orgId": "org_1",
            "assistantId": "asst_123",
            "phoneNumberId": "pn_456",
            "phoneCallProvider": "twilio",
            "phoneCallTransport": "pstn",
            "phoneCallProviderId": "CA0123456789abcdef0123456789abcdef",
            "recordings": {
                "recordingUrl": "https://storage.vapi.ai/rec.wav",
                "stereoRecordingUrl": "https://storage.vapi.ai/rec-stereo.wav"
            }
        }))
    );

    let turns = transcript(&report.events).unwrap();
    let lines: Vec<(Speaker, &str, Option<f64>)> = turns
        .iter()
        .map(|t| (t.speaker.clone(), t.text.as_str(), t.offset_secs))
        .collect();
    assert_eq!(
        lines,
        [
            (
                Speaker::System,
                "You are a friendly clinic assistant.",
                Some(0.0)
            ),
            (Speaker::Agent, "Hi Ada", Some(0.5)),
            (Speaker::User, "Hello", Some(2.1)),
            (Speaker::Agent, "Let me check your appointment.", Some(3.0)),
            (
                Speaker::Tool,
                r#"lookup_appointment({"patient":"Ada"})"#,
                Some(4.6)
            ),
            (Speaker::Tool, "lookup_appointment: Monday 9:00", Some(5.0)),
            (Speaker::Agent, "You're booked for Monday at 9.", Some(5.5)),
        ]
    );
    assert!(
        turns
            .iter()
            .all(|t| t.is_final && t.source == TranscriptSource::PostCall && t.key.is_none())
    );

    let update = status(&report.events).unwrap();
    assert_eq!(update.status, CallStatus::Completed);
    assert_eq!(update.reason.as_deref(), Some("customer-ended-call"));
    assert_eq!(update.vendor_status.as_deref(), Some("ended"));
    assert_eq!(update.at, Some(at_rfc3339("2026-11-20T10:00:40Z")));
    assert!(!format!("{report:?}").contains("/control"));
}

#[test]
fn end_of_call_report_applies_once_whatever_its_timestamp() {
    let first = parsed(REPORT).dedupe_key.unwrap();
    assert_eq!(first, format!("{VAPI_CALL_ID}:end-of-call-report"));
    let resent = edited(REPORT, |v| {
        v["message"]["timestamp"] = json!(1_795_168_899_000_u64)
    });
    assert_eq!(parsed(&resent).dedupe_key.unwrap(), first);
    assert_eq!(parsed(REPORT_MINIMAL).dedupe_key.unwrap(), first);
}

#[test]
fn end_of_call_report_without_optional_fields() {
    let report = parsed(REPORT_MINIMAL);
    assert_eq!(report.events.len(), 2, "{:?}", report.events);
    let details = details(&report.events);
    assert_eq!(details.provider_call_id.as_deref(), Some(VAPI_CALL_ID));
    assert_eq!(details.started_at, None);
    assert_eq!(details.ended_at, None);
    assert_eq!(details.duration_secs, None);
    assert_eq!(details.cost, None);
    assert_eq!(details.cost_breakdown, None);
    assert_eq!(details.summary, None);
    assert_eq!(details.success, None);
    assert_eq!(details.analysis, None);
    assert_eq!(details.recording_url, None);
    assert_eq!(details.vendor_metadata, Some(json!({"orgId": "org_1"})));
    assert_eq!(
        details.end_reason.as_deref(),
        Some("customer-hung-up-in-a-new-way")
    );
    assert!(transcript(&report.events).is_none());
    let update = status(&report.events).unwrap();
    // An unknown reason outside the error families is a normal ending, kept raw.
    assert_eq!(update.status, CallStatus::Completed);
    assert_eq!(
        update.reason.as_deref(),
        Some("customer-hung-up-in-a-new-way")
    );
    assert_eq!(update.at, None);
    assert_eq!(report.correlation.gateway_call_id, None);
}

#[test]
fn end_of_call_report_of_a_failed_call() {
    let report = parsed(REPORT_ERROR);
    let details = details(&report.events);
    assert_eq!(details.success, Some(false));
    assert_eq!(
        details.analysis,
        Some(json!({"successEvaluation": "false"}))
    );
    assert_eq!(
        details.recording_url.as_deref(),
        Some("https://storage.vapi.ai/mono.wav")
    );
    assert_eq!(details.cost.map(|c| c.amount), Some(0.03));
    assert_eq!(transcript(&report.events).unwrap().len(), 1);
    let update = status(&report.events).unwrap();
    assert_eq!(update.status, CallStatus::Failed);
    assert_eq!(
        update.reason.as_deref(),
        Some("pipeline-error-openai-llm-failed")
    );
}

#[test]
fn end_of_call_report_with_a_score_keeps_it_raw() {
    let report = parsed(REPORT_SCORE);
    let details = details(&report.events);
    assert_eq!(details.success, None);
    assert_eq!(details.analysis.as_ref().unwrap()["successEvaluation"], "3");
    assert_eq!(details.summary.as_deref(), Some("Reached voicemail."));
    assert_eq!(transcript(&report.events), Some(&[][..]));
    assert_eq!(
        status(&report.events).unwrap().status,
        CallStatus::Completed
    );
}

#[test]
fn end_of_call_report_reads_older_shapes() {
    let older = edited(REPORT_SCORE, |v| {
        let message = v["message"].as_object_mut().unwrap();
        message.insert("analysis".into(), json!({}));
        message.insert("summary".into(), json!("Top-level summary."));
        message.insert(
            "recordingUrl".into(),
            json!("https://storage.vapi.ai/old.wav"),
        );
        message.insert("durationMs".into(), json!(44_000));
        message.insert("costs".into(), json!([{"type": "vapi", "cost": 0.05}]));
    });
    let parsed = parsed(&older);
    let details = details(&parsed.events);
    assert_eq!(details.summary.as_deref(), Some("Top-level summary."));
    assert_eq!(
        details.recording_url.as_deref(),
        Some("https://storage.vapi.ai/old.wav")
    );
    assert_eq!(details.duration_secs, Some(44.0));
    assert_eq!(
        details.cost_breakdown,
        Some(json!([{"type": "vapi", "cost": 0.05}]))
    );
    assert_eq!(details.analysis, None);
}

#[test]
fn informational_messages_are_acknowledged_without_events() {
    let hang = parsed(HANG);
    assert_eq!(hang.event_type, "hang");
    assert!(hang.events.is_empty());
    assert_eq!(hang.reply, None);
    assert_eq!(
        hang.dedupe_key.as_deref(),
        Some(format!("{VAPI_CALL_ID}:hang:1795168820000").as_str())
    );
    for kind in [
        "conversation-update",
        "speech-update",
        "user-interrupted",
        "model-output",
        "some-type-added-next-year",
    ] {
        let body = edited(HANG, |v| v["message"]["type"] = json!(kind));
        let parsed = parsed(&body);
        assert_eq!(parsed.event_type, kind);
        assert!(parsed.events.is_empty(), "{kind}");
        assert_eq!(parsed.reply, None, "{kind}");
        assert_eq!(
            parsed.correlation.provider_call_id.as_deref(),
            Some(VAPI_CALL_ID)
        );
    }
}

#[test]
fn request_response_messages_are_answered_with_an_empty_object() {
    let request = parsed(ASSISTANT_REQUEST);
    assert_eq!(request.event_type, "assistant-request");
    assert!(request.events.is_empty());
    assert_eq!(request.reply, Some(json!({})));
    assert_eq!(
        request.correlation.provider_call_id.as_deref(),
        Some("d9e8f7a6-2222-4b3c-8d4e-1f2a3b4c5d6e")
    );
    for kind in [
        "tool-calls",
        "transfer-destination-request",
        "knowledge-base-request",
    ] {
        let body = edited(ASSISTANT_REQUEST, |v| v["message"]["type"] = json!(kind));
        let parsed = parsed(&body);
        assert_eq!(parsed.reply, Some(json!({})), "{kind}");
        assert!(parsed.events.is_empty());
    }
}

#[test]
fn malformed_bodies() {
    for (body, expected) in [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        (r#"{"type":"status-update"}"#, "message"),
        (r#"{"message":"hi"}"#, "message"),
        (r#"{"message":{}}"#, "message.type"),
        (r#"{"message":{"type":""}}"#, "message.type"),
        (r#"{"message":{"type":"status-update"}}"#, "status"),
        (
            r#"{"message":{"type":"transcript","transcript":"hi"}}"#,
            "role",
        ),
        (
            r#"{"message":{"type":"transcript","role":"user","transcript":5}}"#,
            "string",
        ),
    ] {
        match parse(&*provider(json!({})), body) {
            Err(WebhookError::Malformed(message)) => {
                assert!(message.contains(expected), "{body}: {message}")
            }
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn errors_never_quote_the_payload() {
    let body =
        r#"{"message":{"type":"transcript","role":"user","transcript":{"secret":"4111 1111"}}}"#;
    let Err(WebhookError::Malformed(message)) = parse(&*provider(json!({})), body) else {
        panic!("accepted")
    };
    assert!(!message.contains("4111"), "{message}");
}

#[test]
fn a_full_call_in_order() {
    // What a call's messages give, in the order VAPI sends them.
    let bodies = [
        RINGING,
        IN_PROGRESS,
        FINAL,
        PARTIAL,
        USER_FINAL,
        ENDED,
        REPORT,
    ];
    let parsed: Vec<_> = bodies.iter().map(|b| self::parsed(b)).collect();
    let keys: std::collections::BTreeSet<_> = parsed
        .iter()
        .map(|p| p.dedupe_key.clone().unwrap())
        .collect();
    assert_eq!(keys.len(), bodies.len(), "every delivery has its own key");
    let live: Vec<&str> = parsed
        .iter()
        .flat_map(|p| &p.events)
        .filter_map(|e| match e {
            CallEvent::Turn(t) if t.is_final => Some(t.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(live, ["Hi Ada", "Hello"]);
    let statuses: Vec<CallStatus> = parsed
        .iter()
        .filter_map(|p| status(&p.events).map(|s| s.status))
        .collect();
    assert_eq!(
        statuses,
        [
            CallStatus::Ringing,
            CallStatus::InProgress,
            CallStatus::Completed,
            CallStatus::Completed
        ]
    );
    let report_words: Vec<&str> = transcript(&parsed[6].events)
        .unwrap()
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    for word in live {
        assert!(report_words.contains(&word), "{word}");
    }
}

#[test]
fn report_value_is_kept_verbatim() {
    let value: Value = serde_json::from_str(REPORT).unwrap();
    let report = parsed(REPORT);
    assert_eq!(
        details(&report.events).analysis.as_ref(),
        value["message"].get("analysis")
    );
}
