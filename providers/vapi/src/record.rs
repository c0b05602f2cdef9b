//! A call's record: the `end-of-call-report` server message and the `Call` that
//! `GET /call/{id}` answers carry the same facts (artifact, analysis, cost, times, ended
//! reason), in slightly different places. Both become events here, so a reconciled call ends
//! exactly as a delivered report would end it.

use chrono::{DateTime, Utc};
use plugin_api::{
    CallDetails, CallEvent, CallStatus, Cost, CostUnit, Speaker, StatusUpdate, TelephonyIds,
    TranscriptSource, Turn,
};
use serde_json::{Map, Value};

use crate::status;
use plugin_api::json::{Object, array_at, first_text, number_at, object, rfc3339_at, text};

/// Where a record's facts are: `source` is the report message (or the fetched `Call` itself),
/// `call` the `Call` object (the report's `message.call`). A fact is taken from `source` first,
/// then from `call`.
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    pub source: &'a Object,
    pub call: Option<&'a Object>,
}

impl<'a> Record<'a> {
    fn str(&self, key: &str) -> Option<&'a str> {
        text(Some(self.source), key).or_else(|| text(self.call, key))
    }

    fn num(&self, key: &str) -> Option<f64> {
        number_at(Some(self.source), key).or_else(|| number_at(self.call, key))
    }

    fn time(&self, key: &str) -> Option<DateTime<Utc>> {
        rfc3339_at(Some(self.source), key).or_else(|| rfc3339_at(self.call, key))
    }

    fn object(&self, key: &str) -> Option<&'a Object> {
        object(Some(self.source), key).or_else(|| object(self.call, key))
    }

    pub(crate) fn ended_reason(&self) -> Option<&'a str> {
        self.str("endedReason").map(str::trim)
    }
}

/// Telephony ids of a `Call`: `phoneCallProviderId` named after `phoneCallProvider`
/// (`twilio_call_sid` for Twilio, `<provider>_call_id` for the others, `phone_call_provider_id`
/// when the provider is not given).
pub(crate) fn telephony_ids(call: Option<&Object>) -> TelephonyIds {
    let Some(id) = text(call, "phoneCallProviderId") else {
        return TelephonyIds::default();
    };
    let name = match text(call, "phoneCallProvider").map(str::trim) {
        Some("twilio") => "twilio_call_sid".to_owned(),
        Some(provider)
            if provider
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            format!(
                "{}_call_id",
                provider.to_ascii_lowercase().replace('-', "_")
            )
        }
        _ => "phone_call_provider_id".to_owned(),
    };
    TelephonyIds::default().with(&name, id.trim())
}

/// `successEvaluation` as a verdict: `"true"`/`"false"` (any case) or a JSON boolean. Scores and
/// free text are no verdict; the raw value stays in the analysis either way.
pub(crate) fn success(analysis: Option<&Object>) -> Option<bool> {
    match analysis?.get("successEvaluation")? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The speaker of an `artifact.messages` role.
pub(crate) fn speaker(role: &str) -> Speaker {
    match role.trim() {
        "bot" | "assistant" => Speaker::Agent,
        "user" => Speaker::User,
        "system" => Speaker::System,
        "tool_calls" | "tool_call_result" | "tool" => Speaker::Tool,
        other => Speaker::parse(other),
    }
}

/// The words of one `artifact.messages` entry. A tool call without a `message` reads as
/// `name(arguments)` per call; a tool result as `name: result`.
fn message_text(message: &Object) -> Option<String> {
    if let Some(text) = text(Some(message), "message") {
        return Some(text.trim().to_owned());
    }
    match text(Some(message), "role") {
        Some("tool_calls") => {
            let calls: Vec<String> = array_at(Some(message), "toolCalls")
                .iter()
                .filter_map(Value::as_object)
                .filter_map(|call| {
                    let function = object(Some(call), "function");
                    let name = text(function, "name")?;
                    let arguments = text(function, "arguments").unwrap_or("");
                    Some(format!("{name}({arguments})"))
                })
                .collect();
            (!calls.is_empty()).then(|| calls.join("; "))
        }
        Some("tool_call_result") => {
            let result = text(Some(message), "result")?;
            Some(match text(Some(message), "name") {
                Some(name) => format!("{name}: {}", result.trim()),
                None => result.trim().to_owned(),
            })
        }
        _ => None,
    }
}

/// The post-call transcript from `artifact.messages`; entries without words are left out.
fn transcript(artifact: &Object) -> Option<Vec<Turn>> {
    let messages = artifact.get("messages")?.as_array()?;
    let turns = messages
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|message| {
            let text = message_text(message)?;
            Some(Turn {
                key: None,
                speaker: speaker(
                    plugin_api::json::text(Some(message), "role").unwrap_or("unknown"),
                ),
                text,
                offset_secs: number_at(Some(message), "secondsFromStart").filter(|s| *s >= 0.0),
                is_final: true,
                source: TranscriptSource::PostCall,
            })
        })
        .collect();
    Some(turns)
}

/// The main recording: `artifact.recordingUrl`, else the combined mono recording, else a
/// top-level `recordingUrl` (older reports).
fn recording_url(record: &Record<'_>, artifact: Option<&Object>) -> Option<String> {
    let mono = object(object(artifact, "recording"), "mono");
    text(artifact, "recordingUrl")
        .or_else(|| text(mono, "combinedUrl"))
        .or_else(|| text(Some(record.source), "recordingUrl"))
        .map(|s| s.trim().to_owned())
}

/// The call's other facts worth keeping, under their VAPI names: what kind of call, which
/// org/assistant/number/telephony placed it, and every recording URL. The control and listen
/// URLs (`monitor`) are never copied.
fn vendor_metadata(record: &Record<'_>, artifact: Option<&Object>) -> Option<Value> {
    const CALL_FIELDS: [&str; 10] = [
        "type",
        "orgId",
        "assistantId",
        "phoneNumberId",
        "squadId",
        "workflowId",
        "campaignId",
        "phoneCallProvider",
        "phoneCallTransport",
        "phoneCallProviderId",
    ];
    const RECORDING_FIELDS: [&str; 4] = [
        "recordingUrl",
        "stereoRecordingUrl",
        "videoRecordingUrl",
        "recording",
    ];
    let mut metadata = Map::new();
    for field in CALL_FIELDS {
        if let Some(value) = record
            .call
            .and_then(|c| c.get(field))
            .filter(|v| !v.is_null())
        {
            metadata.insert(field.to_owned(), value.clone());
        }
    }
    let mut recordings = Map::new();
    for field in RECORDING_FIELDS {
        if let Some(value) = artifact.and_then(|a| a.get(field)).filter(|v| !v.is_null()) {
            recordings.insert(field.to_owned(), value.clone());
        }
    }
    if !recordings.is_empty() {
        metadata.insert("recordings".to_owned(), Value::Object(recordings));
    }
    (!metadata.is_empty()).then_some(Value::Object(metadata))
}

/// The duration VAPI gives: `durationSeconds`, else `durationMs`, else `durationMinutes`.
fn duration_secs(record: &Record<'_>) -> Option<f64> {
    record
        .num("durationSeconds")
        .or_else(|| record.num("durationMs").map(|ms| ms / 1000.0))
        .or_else(|| record.num("durationMinutes").map(|m| m * 60.0))
        .filter(|d| *d >= 0.0)
}

/// The facts of a record as `Details`.
fn details(record: &Record<'_>) -> CallDetails {
    let artifact = record.object("artifact");
    let analysis = record.object("analysis");
    let cost_breakdown = object(record.call, "costBreakdown")
        .or_else(|| object(Some(record.source), "costBreakdown"))
        .map(|b| Value::Object(b.clone()))
        .or_else(|| {
            let costs = array_at(Some(record.source), "costs");
            let costs = if costs.is_empty() {
                array_at(record.call, "costs")
            } else {
                costs
            };
            (!costs.is_empty()).then(|| Value::Array(costs.to_vec()))
        });
    CallDetails {
        provider_call_id: text(record.call, "id").map(|s| s.trim().to_owned()),
        telephony_ids: telephony_ids(record.call),
        started_at: record.time("startedAt"),
        ended_at: record.time("endedAt"),
        duration_secs: duration_secs(record),
        cost: record.num("cost").map(|amount| Cost {
            amount,
            unit: CostUnit::Usd,
        }),
        summary: first_text(analysis, &["summary"])
            .or_else(|| text(Some(record.source), "summary"))
            .map(|s| s.trim().to_owned()),
        success: success(analysis),
        analysis: analysis
            .filter(|a| !a.is_empty())
            .map(|a| Value::Object(a.clone())),
        recording_url: recording_url(record, artifact),
        end_reason: record.ended_reason().map(str::to_owned),
        cost_breakdown,
        vendor_metadata: vendor_metadata(record, artifact),
    }
}

/// The events of a record: `Details`, then (once the call has ended) the post-call
/// `Transcript`, then the call's `Status`.
///
/// `vapi_status` is the call's VAPI status (`ended` for a report); `fallback_at` dates a
/// terminal status when the record does not say when the call ended.
pub(crate) fn events(
    record: Record<'_>,
    vapi_status: Option<&str>,
    fallback_at: Option<DateTime<Utc>>,
) -> Vec<CallEvent> {
    let details = details(&record);
    let ended = vapi_status == Some("ended");
    let mut events = Vec::with_capacity(3);
    let started_at = details.started_at;
    let ended_at = details.ended_at;
    events.push(CallEvent::Details(details));
    if ended {
        if let Some(turns) = record.object("artifact").and_then(transcript) {
            events.push(CallEvent::Transcript { turns });
        }
    }
    let ended_reason = record.ended_reason();
    if let Some(normalized) = vapi_status.and_then(|s| status::from_vapi_status(s, ended_reason)) {
        let at = match normalized {
            s if s.is_terminal() => ended_at.or(fallback_at),
            CallStatus::InProgress => started_at,
            _ => None,
        };
        events.push(CallEvent::Status(StatusUpdate {
            status: normalized,
            at,
            reason: if ended {
                ended_reason.map(str::to_owned)
            } else {
                None
            },
            vendor_status: vapi_status.map(str::to_owned),
        }));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Object {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn telephony_ids_are_named_after_the_provider() {
        let ids = |call: Value| telephony_ids(Some(&object(call))).0;
        assert_eq!(
            ids(json!({"phoneCallProvider": "twilio", "phoneCallProviderId": "CA1"}))
                .get("twilio_call_sid")
                .map(String::as_str),
            Some("CA1")
        );
        assert!(
            ids(json!({"phoneCallProvider": "vonage", "phoneCallProviderId": "v-1"}))
                .contains_key("vonage_call_id")
        );
        assert!(ids(json!({"phoneCallProviderId": "x"})).contains_key("phone_call_provider_id"));
        assert!(
            ids(json!({"phoneCallProvider": "we ird", "phoneCallProviderId": "x"}))
                .contains_key("phone_call_provider_id")
        );
        assert!(ids(json!({"phoneCallProvider": "twilio"})).is_empty());
    }

    #[test]
    fn success_evaluation_verdicts() {
        let verdict = |raw: Value| success(Some(&object(json!({"successEvaluation": raw}))));
        assert_eq!(verdict(json!("true")), Some(true));
        assert_eq!(verdict(json!(" FALSE ")), Some(false));
        assert_eq!(verdict(json!(true)), Some(true));
        assert_eq!(verdict(json!("8")), None);
        assert_eq!(verdict(json!("Pass")), None);
        assert_eq!(verdict(json!(null)), None);
        assert_eq!(success(None), None);
    }

    #[test]
    fn speakers() {
        assert_eq!(speaker("bot"), Speaker::Agent);
        assert_eq!(speaker("assistant"), Speaker::Agent);
        assert_eq!(speaker("user"), Speaker::User);
        assert_eq!(speaker("system"), Speaker::System);
        assert_eq!(speaker("tool_calls"), Speaker::Tool);
        assert_eq!(speaker("tool_call_result"), Speaker::Tool);
        assert_eq!(speaker("narrator"), Speaker::Other("narrator".into()));
    }

    #[test]
    fn tool_messages_without_words_are_described() {
        let calls = object(json!({
            "role": "tool_calls", "message": "", "time": 1, "secondsFromStart": 3,
            "toolCalls": [{"id": "t1", "type": "function",
                           "function": {"name": "book", "arguments": "{\"day\":\"mon\"}"}}]
        }));
        assert_eq!(
            message_text(&calls).as_deref(),
            Some(r#"book({"day":"mon"})"#)
        );
        let result = object(json!({
            "role": "tool_call_result", "toolCallId": "t1", "name": "book",
            "result": "booked", "time": 1, "secondsFromStart": 4
        }));
        assert_eq!(message_text(&result).as_deref(), Some("book: booked"));
        let silent = object(json!({"role": "user", "message": "  ", "time": 1}));
        assert_eq!(message_text(&silent), None);
    }

    #[test]
    fn fetched_running_call_has_no_transcript_yet() {
        let call = object(json!({
            "id": "c1", "status": "in-progress", "startedAt": "2026-11-20T10:00:05Z",
            "artifact": {"messages": [{"role": "bot", "message": "Hi", "time": 1, "secondsFromStart": 0.5}]}
        }));
        let events = events(
            Record {
                source: &call,
                call: Some(&call),
            },
            Some("in-progress"),
            None,
        );
        assert_eq!(events.len(), 2, "{events:?}");
        let CallEvent::Status(update) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(update.status, CallStatus::InProgress);
        assert_eq!(update.at, DateTime::from_timestamp(1_795_168_805, 0));
        assert_eq!(update.reason, None);
    }
}
