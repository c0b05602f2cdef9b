//! A Retell call object (the `call` of every webhook, the answer of `GET /v2/get-call/{id}`, an
//! item of `POST /v3/list-calls`) read into normalized events. Webhooks and fetches use the same
//! code, so a reconciled call ends exactly as a delivered `call_analyzed` would end it.

use chrono::{DateTime, Utc};
use plugin_api::json::{Object, array_at, millis_time, number_at, object, text};
use plugin_api::{
    CallDetails, CallEvent, CallId, CallStatus, Cost, CostUnit, Speaker, StatusUpdate,
    TelephonyIds, TranscriptSource, Turn,
};
use serde_json::{Map, Value};

use crate::status;

/// The `metadata` key carrying the gateway's call id to Retell and back.
pub const GATEWAY_CALL_ID_KEY: &str = "gateway_call_id";

/// Retell's call id.
pub(crate) fn call_id(call: Option<&Object>) -> Option<&str> {
    text(call, "call_id").map(str::trim)
}

/// The gateway's call id Retell echoes in `metadata.gateway_call_id`, when it is one.
pub(crate) fn gateway_call_id(call: Option<&Object>) -> Option<CallId> {
    text(object(call, "metadata"), GATEWAY_CALL_ID_KEY)?
        .trim()
        .parse()
        .ok()
}

fn millis(call: Option<&Object>, key: &str) -> Option<DateTime<Utc>> {
    millis_time(number_at(call, key)?)
}

/// The carrier's call id, when Retell reports one (`telephony_identifier.twilio_call_sid`).
pub(crate) fn telephony_ids(call: Option<&Object>) -> TelephonyIds {
    match text(object(call, "telephony_identifier"), "twilio_call_sid") {
        Some(sid) => TelephonyIds::default().with("twilio_call_sid", sid.trim()),
        None => TelephonyIds::default(),
    }
}

/// Vendor facts worth keeping that have no normalized field.
fn vendor_metadata(call: Option<&Object>) -> Option<Value> {
    const KEPT: [&str; 10] = [
        "call_type",
        "agent_id",
        "agent_version",
        "agent_name",
        "direction",
        "recording_multi_channel_url",
        "scrubbed_recording_url",
        "public_log_url",
        "transfer_destination",
        "transfer_end_timestamp",
    ];
    let call = call?;
    let kept: Map<String, Value> = KEPT
        .iter()
        .filter_map(|key| {
            let value = call.get(*key)?;
            (!value.is_null()).then(|| ((*key).to_owned(), value.clone()))
        })
        .collect();
    (!kept.is_empty()).then_some(Value::Object(kept))
}

/// The facts of the call: ids, times, duration, cost (cents → USD, the breakdown as Retell gave
/// it), analysis, recording, end reason.
pub(crate) fn details(call: Option<&Object>) -> CallDetails {
    let started_at = millis(call, "start_timestamp");
    let ended_at = millis(call, "end_timestamp");
    let duration_secs = number_at(call, "duration_ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| {
            let (start, end) = (started_at?, ended_at?);
            Some((end - start).num_milliseconds() as f64 / 1000.0)
        })
        .filter(|secs| *secs >= 0.0);
    let call_cost = object(call, "call_cost");
    let cost = number_at(call_cost, "combined_cost").map(|cents| Cost {
        amount: cents / 100.0,
        unit: CostUnit::Usd,
    });
    let analysis = object(call, "call_analysis");
    CallDetails {
        provider_call_id: call_id(call).map(str::to_owned),
        telephony_ids: telephony_ids(call),
        started_at,
        ended_at,
        duration_secs,
        cost,
        summary: text(analysis, "call_summary").map(|s| s.trim().to_owned()),
        success: analysis
            .and_then(|a| a.get("call_successful"))
            .and_then(Value::as_bool),
        analysis: analysis.map(|a| Value::Object(a.clone())),
        recording_url: text(call, "recording_url").map(|s| s.trim().to_owned()),
        end_reason: reason(call).map(str::to_owned),
        cost_breakdown: call_cost.map(|c| Value::Object(c.clone())),
        vendor_metadata: vendor_metadata(call),
    }
}

/// The raw `disconnection_reason`.
pub(crate) fn reason(call: Option<&Object>) -> Option<&str> {
    text(call, "disconnection_reason").map(str::trim)
}

/// The words of a transcript entry: `content`, else its `words` joined.
fn content(entry: &Object) -> Option<String> {
    if let Some(content) = text(Some(entry), "content") {
        return Some(content.trim().to_owned());
    }
    let words: Vec<&str> = array_at(Some(entry), "words")
        .iter()
        .filter_map(|w| text(w.as_object(), "word"))
        .map(str::trim)
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The turns of `transcript_object`: `agent`, `user` and `transfer_target` (kept as a speaker of
/// its own), keyed by position so a later, longer transcript updates them; the offset is the
/// first word's `start` (seconds of call audio).
pub(crate) fn turns(call: Option<&Object>, source: TranscriptSource) -> Vec<Turn> {
    array_at(call, "transcript_object")
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            let entry = entry.as_object()?;
            let speaker = Speaker::parse(text(Some(entry), "role")?.trim());
            let text = content(entry)?;
            let offset_secs = array_at(Some(entry), "words")
                .first()
                .and_then(|w| number_at(w.as_object(), "start"))
                .filter(|s| *s >= 0.0);
            Some(Turn {
                key: Some(format!("turn-{index}")),
                speaker,
                text,
                offset_secs,
                is_final: true,
                source,
            })
        })
        .collect()
}

/// The status the call object states, dated by its end (or start).
pub(crate) fn status_event(
    call: Option<&Object>,
    fallback: Option<&str>,
    vendor_status: Option<&str>,
) -> Option<CallEvent> {
    let call_status = text(call, "call_status").map(str::trim).or(fallback)?;
    let reason = reason(call);
    let normalized = status::from_retell(call_status, reason)?;
    let at = match normalized {
        CallStatus::InProgress => millis(call, "start_timestamp"),
        s if s.is_terminal() => millis(call, "end_timestamp"),
        _ => None,
    };
    Some(CallEvent::Status(StatusUpdate {
        status: normalized,
        at,
        reason: reason.map(str::to_owned),
        vendor_status: Some(vendor_status.unwrap_or(call_status).to_owned()),
    }))
}

/// Every event a finished (or fetched) call object gives: `Details`, the post-call `Transcript`
/// when there is one, then the status (`fallback` when the object has no `call_status`).
pub(crate) fn events(call: Option<&Object>, fallback: Option<&str>) -> Vec<CallEvent> {
    let mut events = vec![CallEvent::Details(details(call))];
    let turns = turns(call, TranscriptSource::PostCall);
    if !turns.is_empty() {
        events.push(CallEvent::Transcript { turns });
    }
    events.extend(status_event(call, fallback, None));
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object_of(value: Value) -> Object {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn cost_is_converted_from_cents_and_the_breakdown_kept() {
        let call = object_of(json!({"call_id": "c1", "call_cost": {"combined_cost": 12.6,
            "product_costs": [{"product": "elevenlabs_tts", "cost": 2.5}]}}));
        let details = details(Some(&call));
        assert_eq!(
            details.cost,
            Some(Cost {
                amount: 0.126,
                unit: CostUnit::Usd
            })
        );
        assert_eq!(
            details.cost_breakdown.unwrap()["product_costs"][0]["cost"],
            2.5
        );
        let free = object_of(json!({"call_cost": {"combined_cost": 0}}));
        assert_eq!(
            super::details(Some(&free)).cost.map(|c| c.amount),
            Some(0.0)
        );
        assert_eq!(
            super::details(Some(&object_of(json!({})))).cost,
            None,
            "never 0"
        );
    }

    #[test]
    fn times_are_milliseconds_and_duration_falls_back_to_them() {
        let call = object_of(json!({"start_timestamp": 1_763_632_805_000_i64,
            "end_timestamp": 1_763_632_840_500_i64}));
        let details = details(Some(&call));
        assert_eq!(
            details.started_at,
            DateTime::from_timestamp(1_763_632_805, 0)
        );
        assert_eq!(details.duration_secs, Some(35.5));
    }

    #[test]
    fn turns_are_keyed_by_position_with_offsets() {
        let call = object_of(json!({"transcript_object": [
            {"role": "agent", "content": "Hi Ada", "words": [{"word": "Hi", "start": 0.5, "end": 0.7}]},
            {"role": "user", "words": [{"word": "Hello", "start": 1.2}, {"word": "there"}]},
            {"role": "transfer_target", "content": "Front desk"},
            {"role": "user", "content": "  "},
            {"content": "no role"},
            "garbage"
        ]}));
        let turns = turns(Some(&call), TranscriptSource::PostCall);
        let shown: Vec<(String, &str, Option<f64>, Option<&str>)> = turns
            .iter()
            .map(|t| {
                (
                    t.speaker.to_string(),
                    t.text.as_str(),
                    t.offset_secs,
                    t.key.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("agent".to_owned(), "Hi Ada", Some(0.5), Some("turn-0")),
                ("user".to_owned(), "Hello there", Some(1.2), Some("turn-1")),
                (
                    "transfer_target".to_owned(),
                    "Front desk",
                    None,
                    Some("turn-2")
                ),
            ]
        );
    }
}
