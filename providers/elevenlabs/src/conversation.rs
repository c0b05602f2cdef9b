//! A conversation (the `data` of `post_call_transcription`, and the answer of
//! `GET /v1/convai/conversations/{id}`) turned into normalized events. Webhooks and
//! reconciliation share this, so a fetched call ends exactly as a delivered webhook would end it.

use chrono::{DateTime, Utc};
use plugin_api::{
    CallDetails, CallEvent, CallId, CallStatus, Correlation, Cost, CostUnit, Speaker, StatusUpdate,
    TelephonyIds, TranscriptSource, Turn,
};
use serde_json::{Map, Value};

use plugin_api::json::{Object, number_at, object, plus_secs, text, unix_time};

/// Which call a vendor payload belongs to: the conversation id, and the gateway's id from
/// `user_id`, the `gateway_call_id` dynamic variable, or the client data's `user_id` (the first
/// that is a UUID).
pub(crate) fn correlation(data: &Object) -> Correlation {
    let client_data = object(Some(data), "conversation_initiation_client_data");
    let gateway_call_id = [
        text(Some(data), "user_id"),
        text(object(client_data, "dynamic_variables"), "gateway_call_id"),
        text(client_data, "user_id"),
    ]
    .into_iter()
    .flatten()
    .find_map(|raw| raw.trim().parse::<CallId>().ok());
    Correlation {
        gateway_call_id,
        provider_call_id: text(Some(data), "conversation_id").map(str::to_owned),
    }
}

/// Telephony ids of `metadata.phone_call`: the call SID (Twilio, or Exotel when the call went
/// through Exotel), the media stream SID, and for SIP trunks the SIP call id (`call_sid`, which
/// the SDK requires there, or `call_id`).
fn telephony_ids(phone_call: Option<&Object>) -> TelephonyIds {
    let kind = text(phone_call, "type");
    let mut ids = TelephonyIds::default();
    if kind == Some("sip_trunking") {
        if let Some(id) = text(phone_call, "call_sid").or_else(|| text(phone_call, "call_id")) {
            ids = ids.with("sip_call_id", id);
        }
        return ids;
    }
    let prefix = if kind == Some("exotel") {
        "exotel"
    } else {
        "twilio"
    };
    if let Some(sid) = text(phone_call, "call_sid") {
        ids = ids.with(&format!("{prefix}_call_sid"), sid);
    }
    if let Some(sid) = text(phone_call, "stream_sid") {
        ids = ids.with(&format!("{prefix}_stream_sid"), sid);
    }
    if let Some(id) = text(phone_call, "call_id") {
        ids = ids.with("sip_call_id", id);
    }
    ids
}

/// The cost to show (USD when the vendor gives it, else credits) and every figure it gave.
fn cost(metadata: Option<&Object>) -> (Option<Cost>, Option<Value>) {
    let usd = number_at(metadata, "cost_fiat");
    let credits = number_at(metadata, "cost");
    let cost = match (usd, credits) {
        (Some(amount), _) => Some(Cost {
            amount,
            unit: CostUnit::Usd,
        }),
        (None, Some(amount)) => Some(Cost {
            amount,
            unit: CostUnit::Credits,
        }),
        (None, None) => None,
    };
    let mut breakdown = Map::new();
    if let Some(credits) = credits {
        breakdown.insert("credits".to_owned(), Value::from(credits));
    }
    if let Some(usd) = usd {
        breakdown.insert("usd".to_owned(), Value::from(usd));
    }
    let breakdown = (!breakdown.is_empty()).then_some(Value::Object(breakdown));
    (cost, breakdown)
}

/// `analysis.call_successful`: `success` and `failure` are answers, anything else is not.
fn success(analysis: Option<&Object>) -> Option<bool> {
    match text(analysis, "call_successful") {
        Some("success") => Some(true),
        Some("failure") => Some(false),
        _ => None,
    }
}

/// The post-call transcript: turns without text (pure tool calls) are left out.
fn transcript(data: &Object) -> Vec<Turn> {
    let turns = data
        .get("transcript")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    turns
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|turn| {
            let message = text(Some(turn), "message")?;
            let role = text(Some(turn), "role").unwrap_or("unknown");
            Some(Turn {
                key: None,
                speaker: Speaker::parse(role),
                text: message.trim().to_owned(),
                offset_secs: number_at(Some(turn), "time_in_call_secs"),
                is_final: true,
                source: TranscriptSource::PostCall,
            })
        })
        .collect()
}

/// Why a failed conversation failed, as precisely as the vendor says.
fn failure_reason(metadata: Option<&Object>) -> String {
    let error = object(metadata, "error");
    if let Some(reason) = text(error, "reason") {
        return reason.to_owned();
    }
    match error.and_then(|e| e.get("code")) {
        Some(Value::String(code)) if !code.trim().is_empty() => return code.clone(),
        Some(Value::Number(code)) => return format!("error {code}"),
        _ => {}
    }
    text(metadata, "termination_reason")
        .unwrap_or("failed")
        .to_owned()
}

/// The call's status, from `metadata.phone_call.call_result` when it is one we know, else from
/// the conversation's `status`. `None` when neither says anything certain. See the crate docs
/// for the table.
fn status(
    data: &Object,
    metadata: Option<&Object>,
    started_at: Option<DateTime<Utc>>,
    at: Option<DateTime<Utc>>,
) -> Option<StatusUpdate> {
    let call_result = text(object(metadata, "phone_call"), "call_result");
    let conversation_status = text(Some(data), "status");
    let termination = text(metadata, "termination_reason").map(str::to_owned);
    let update = |status, reason: Option<String>, vendor_status: String| StatusUpdate {
        status,
        at,
        reason,
        vendor_status: Some(vendor_status),
    };
    if let Some(result) = call_result {
        let known = match result {
            "answered" => Some((CallStatus::Completed, termination.clone())),
            "voicemail" => Some((CallStatus::Completed, Some("voicemail".to_owned()))),
            "busy" => Some((CallStatus::Busy, Some("busy".to_owned()))),
            "no_answer" => Some((CallStatus::NoAnswer, Some("no_answer".to_owned()))),
            "failed" => Some((CallStatus::Failed, Some(failure_reason(metadata)))),
            _ => None,
        };
        if let Some((status, reason)) = known {
            return Some(update(status, reason, result.to_owned()));
        }
    }
    // An unknown call_result is kept (in vendor_status and as the reason) but decides nothing.
    let vendor_status = match (conversation_status, call_result) {
        (Some(status), Some(result)) => format!("{status}; call_result={result}"),
        (Some(status), None) => status.to_owned(),
        (None, _) => return None,
    };
    let unknown_result = call_result.map(|r| format!("call_result={r}"));
    match conversation_status? {
        "done" => Some(update(
            CallStatus::Completed,
            unknown_result.or(termination),
            vendor_status,
        )),
        "failed" => Some(update(
            CallStatus::Failed,
            Some(failure_reason(metadata)),
            vendor_status,
        )),
        "in-progress" | "processing" => Some(StatusUpdate {
            at: started_at,
            ..update(CallStatus::InProgress, None, vendor_status)
        }),
        // "initiated" may mean ringing or not yet dialled; unknown values are not guessed at.
        _ => None,
    }
}

/// The events of a conversation: `Details`, the post-call `Transcript`, then the call's status
/// when the vendor gives one. `event_at` (the webhook's `event_timestamp`) dates the status when
/// the conversation itself does not say when it ended.
pub(crate) fn events(data: &Object, event_at: Option<DateTime<Utc>>) -> Vec<CallEvent> {
    let metadata = object(Some(data), "metadata");
    let analysis = object(Some(data), "analysis");
    let started_at = metadata
        .and_then(|m| m.get("start_time_unix_secs"))
        .and_then(unix_time);
    let duration_secs = number_at(metadata, "call_duration_secs").filter(|d| *d >= 0.0);
    let ended_at = started_at
        .zip(duration_secs)
        .and_then(|(start, secs)| plus_secs(start, secs));
    let (cost, cost_breakdown) = cost(metadata);
    let details = CallDetails {
        provider_call_id: text(Some(data), "conversation_id").map(str::to_owned),
        telephony_ids: telephony_ids(object(metadata, "phone_call")),
        started_at,
        ended_at,
        duration_secs,
        cost,
        summary: text(analysis, "transcript_summary").map(str::to_owned),
        success: success(analysis),
        analysis: analysis.cloned().map(Value::Object),
        recording_url: None,
        end_reason: text(metadata, "termination_reason").map(str::to_owned),
        cost_breakdown,
        vendor_metadata: metadata.cloned().map(Value::Object),
    };
    let mut events = vec![
        CallEvent::Details(details),
        CallEvent::Transcript {
            turns: transcript(data),
        },
    ];
    if let Some(status) = status(data, metadata, started_at, ended_at.or(event_at)) {
        events.push(CallEvent::Status(status));
    }
    events
}

#[cfg(test)]
mod tests {
    use plugin_api::{CallEvent, CallStatus, CostUnit, Speaker, TranscriptSource};
    use serde_json::json;

    use crate::test_support::{at, call_id, details, edited, parse, provider, status, transcript};

    const FULL: &str = include_str!("../tests/fixtures/webhook_post_call_transcription.json");
    const SAMPLE: &str =
        include_str!("../tests/fixtures/webhook_post_call_transcription_vendor_sample.json");
    const MINIMAL: &str =
        include_str!("../tests/fixtures/webhook_post_call_transcription_minimal.json");
    const UNKNOWN: &str =
        include_str!("../tests/fixtures/webhook_post_call_transcription_unknown_enums.json");
    const SIP_BUSY: &str =
        include_str!("../tests/fixtures/webhook_post_call_transcription_sip_busy.json");
    const FAILED: &str =
        include_str!("../tests/fixtures/webhook_post_call_transcription_failed.json");

    fn events(body: &str) -> Vec<CallEvent> {
        parse(&*provider(json!({})), None, body).unwrap().events
    }

    /// The final status of the full fixture with `call_result` (or `status`) replaced.
    fn with(
        call_result: Option<&str>,
        conversation_status: &str,
    ) -> Option<(CallStatus, Option<String>, Option<String>)> {
        let body = edited(FULL, |v| {
            v["data"]["status"] = json!(conversation_status);
            match call_result {
                Some(result) => v["data"]["metadata"]["phone_call"]["call_result"] = json!(result),
                None => {
                    v["data"]["metadata"]["phone_call"]
                        .as_object_mut()
                        .unwrap()
                        .remove("call_result");
                }
            }
        });
        status(&events(&body)).map(|s| (s.status, s.reason.clone(), s.vendor_status.clone()))
    }

    #[test]
    fn full_transcription_webhook() {
        let parsed = parse(&*provider(json!({})), Some("post-call"), FULL).unwrap();
        assert_eq!(parsed.event_type, "post_call_transcription");
        assert_eq!(
            parsed.dedupe_key.as_deref(),
            Some("post_call_transcription:abc")
        );
        assert_eq!(parsed.correlation.provider_call_id.as_deref(), Some("abc"));
        assert_eq!(parsed.correlation.gateway_call_id, Some(call_id()));

        let events = &parsed.events;
        assert_eq!(events.len(), 3);
        assert!(matches!(events[0], CallEvent::Details(_)));
        assert!(matches!(events[1], CallEvent::Transcript { .. }));
        assert!(matches!(events[2], CallEvent::Status(_)));

        let details = details(events);
        assert_eq!(details.provider_call_id.as_deref(), Some("abc"));
        let ids = &details.telephony_ids.0;
        assert_eq!(
            ids.get("twilio_call_sid").map(String::as_str),
            Some("CA0123")
        );
        assert_eq!(
            ids.get("twilio_stream_sid").map(String::as_str),
            Some("MZ0123")
        );
        assert_eq!(details.started_at, Some(at(1_739_537_297)));
        assert_eq!(details.ended_at, Some(at(1_739_537_319)));
        assert_eq!(details.duration_secs, Some(22.0));
        let cost = details.cost.unwrap();
        assert_eq!((cost.amount, cost.unit), (0.0885, CostUnit::Usd));
        assert_eq!(
            details.cost_breakdown,
            Some(json!({"credits": 296.0, "usd": 0.0885}))
        );
        assert_eq!(
            details.summary.as_deref(),
            Some("Angelo asked for a fun fact and got one.")
        );
        assert_eq!(details.success, Some(true));
        assert_eq!(
            details.analysis.as_ref().unwrap()["call_successful"],
            "success"
        );
        assert_eq!(
            details.end_reason.as_deref(),
            Some("Call ended by remote party")
        );
        assert_eq!(
            details.vendor_metadata.as_ref().unwrap()["phone_call"]["direction"],
            "outbound"
        );
        assert_eq!(details.recording_url, None);

        let turns = transcript(events);
        assert_eq!(
            turns.len(),
            2,
            "the tool-call turn without a message is left out"
        );
        assert_eq!(turns[0].speaker, Speaker::Agent);
        assert_eq!(turns[0].text, "Hey there angelo. How are you?");
        assert_eq!(turns[0].offset_secs, Some(0.0));
        assert_eq!(turns[1].speaker, Speaker::User);
        assert_eq!(turns[1].offset_secs, Some(2.0));
        assert!(
            turns
                .iter()
                .all(|t| t.is_final && t.key.is_none() && t.source == TranscriptSource::PostCall)
        );

        let status = status(events).unwrap();
        assert_eq!(status.status, CallStatus::Completed);
        assert_eq!(status.reason.as_deref(), Some("Call ended by remote party"));
        assert_eq!(status.vendor_status.as_deref(), Some("answered"));
        assert_eq!(status.at, Some(at(1_739_537_319)));
    }

    #[test]
    fn vendor_sample_correlates_through_the_dynamic_variable() {
        let parsed = parse(&*provider(json!({})), None, SAMPLE).unwrap();
        assert_eq!(
            parsed.correlation.gateway_call_id,
            Some(call_id()),
            "user_id 'gw-call-7f3c' is no UUID, so the gateway_call_id variable is used"
        );
        let details = details(&parsed.events);
        let cost = details.cost.unwrap();
        assert_eq!((cost.amount, cost.unit), (296.0, CostUnit::Credits));
        assert_eq!(details.cost_breakdown, Some(json!({"credits": 296.0})));
        assert_eq!(
            details.end_reason, None,
            "an empty termination_reason is no reason"
        );
        assert_eq!(
            details
                .telephony_ids
                .0
                .get("twilio_call_sid")
                .map(String::as_str),
            Some("CA...")
        );
        let status = status(&parsed.events).unwrap();
        assert_eq!(status.status, CallStatus::Completed);
        assert_eq!(status.vendor_status.as_deref(), Some("done"));
        assert_eq!(status.reason, None);
    }

    #[test]
    fn missing_optional_fields_are_not_invented() {
        let parsed = parse(&*provider(json!({})), None, MINIMAL).unwrap();
        assert_eq!(parsed.correlation.gateway_call_id, None);
        assert_eq!(
            parsed.correlation.provider_call_id.as_deref(),
            Some("conv_min")
        );
        let details = details(&parsed.events);
        assert_eq!(details.cost, None, "no cost is None, never 0");
        assert_eq!(details.cost_breakdown, None);
        assert_eq!(details.summary, None);
        assert_eq!(details.success, None);
        assert_eq!(details.analysis, None);
        assert!(details.telephony_ids.is_empty());
        assert_eq!(details.duration_secs, Some(0.0));
        assert!(transcript(&parsed.events).is_empty());
        let status = status(&parsed.events).unwrap();
        assert_eq!(status.status, CallStatus::Completed);
        assert_eq!(status.at, Some(at(1_739_537_297)));
    }

    #[test]
    fn event_timestamp_dates_the_status_when_the_conversation_does_not() {
        let body = edited(MINIMAL, |v| {
            v["data"]["metadata"] = json!({});
        });
        let dated = events(&body);
        assert_eq!(details(&dated).started_at, None);
        assert_eq!(status(&dated).unwrap().at, Some(at(1_739_537_400)));
        let body = edited(&body, |v| v["event_timestamp"] = json!("soon"));
        assert_eq!(status(&events(&body)).unwrap().at, None);
    }

    #[test]
    fn unknown_values_are_kept_not_guessed() {
        let parsed = parse(&*provider(json!({})), None, UNKNOWN).unwrap();
        assert_eq!(
            parsed.correlation.gateway_call_id,
            Some(call_id()),
            "falls back to the client data's user_id"
        );
        assert_eq!(
            status(&parsed.events),
            None,
            "status 'archived' decides nothing"
        );
        let details = details(&parsed.events);
        assert_eq!(details.success, None);
        assert_eq!(details.summary, None);
        assert_eq!(details.cost, None);
        let turns = transcript(&parsed.events);
        assert_eq!(turns.len(), 1, "the blank user turn is left out");
        assert_eq!(turns[0].speaker, Speaker::Other("narrator".into()));
    }

    #[test]
    fn every_call_result() {
        let own = |s: &str| Some(s.to_owned());
        assert_eq!(
            with(Some("answered"), "done"),
            Some((
                CallStatus::Completed,
                own("Call ended by remote party"),
                own("answered")
            ))
        );
        assert_eq!(
            with(Some("voicemail"), "done"),
            Some((CallStatus::Completed, own("voicemail"), own("voicemail")))
        );
        assert_eq!(
            with(Some("busy"), "done"),
            Some((CallStatus::Busy, own("busy"), own("busy")))
        );
        assert_eq!(
            with(Some("no_answer"), "done"),
            Some((CallStatus::NoAnswer, own("no_answer"), own("no_answer")))
        );
        assert_eq!(
            with(Some("failed"), "done"),
            Some((
                CallStatus::Failed,
                own("Call ended by remote party"),
                own("failed")
            ))
        );
        assert_eq!(
            with(Some("busy"), "processing"),
            Some((CallStatus::Busy, own("busy"), own("busy"))),
            "a known call_result decides even before processing is done"
        );
        assert_eq!(
            with(Some("machine_screened"), "done"),
            Some((
                CallStatus::Completed,
                own("call_result=machine_screened"),
                own("done; call_result=machine_screened")
            ))
        );
        assert_eq!(with(Some("machine_screened"), "archived"), None);
    }

    #[test]
    fn every_conversation_status() {
        let own = |s: &str| Some(s.to_owned());
        assert_eq!(
            with(None, "done"),
            Some((
                CallStatus::Completed,
                own("Call ended by remote party"),
                own("done")
            ))
        );
        assert_eq!(
            with(None, "failed"),
            Some((
                CallStatus::Failed,
                own("Call ended by remote party"),
                own("failed")
            ))
        );
        assert_eq!(
            with(None, "in-progress"),
            Some((CallStatus::InProgress, None, own("in-progress")))
        );
        assert_eq!(
            with(None, "processing"),
            Some((CallStatus::InProgress, None, own("processing")))
        );
        assert_eq!(with(None, "initiated"), None);
        assert_eq!(with(None, "teleported"), None);
    }

    #[test]
    fn failed_conversation_says_why() {
        let parsed = parse(&*provider(json!({})), None, FAILED).unwrap();
        assert_eq!(parsed.correlation.gateway_call_id, Some(call_id()));
        let status = status(&parsed.events).unwrap();
        assert_eq!(status.status, CallStatus::Failed);
        assert_eq!(status.reason.as_deref(), Some("LLM provider unavailable"));
        let body = edited(FAILED, |v| {
            v["data"]["metadata"]["error"] = json!({"code": 1011});
        });
        assert_eq!(status_reason(&body).as_deref(), Some("error 1011"));
    }

    fn status_reason(body: &str) -> Option<String> {
        status(&events(body)).and_then(|s| s.reason.clone())
    }

    #[test]
    fn sip_call_that_was_busy() {
        let events = events(SIP_BUSY);
        let details = details(&events);
        assert_eq!(
            details
                .telephony_ids
                .0
                .get("sip_call_id")
                .map(String::as_str),
            Some("7f1c2e@sip.example.net")
        );
        assert!(!details.telephony_ids.0.contains_key("twilio_call_sid"));
        let cost = details.cost.unwrap();
        assert_eq!(
            (cost.amount, cost.unit),
            (0.0, CostUnit::Credits),
            "a cost the vendor reports as 0 is kept"
        );
        assert_eq!(status(&events).unwrap().status, CallStatus::Busy);
    }

    #[test]
    fn exotel_ids_are_not_called_twilio() {
        let body = edited(FULL, |v| {
            v["data"]["metadata"]["phone_call"]["type"] = json!("exotel");
        });
        let events = events(&body);
        let ids = &details(&events).telephony_ids.0;
        assert_eq!(
            ids.get("exotel_call_sid").map(String::as_str),
            Some("CA0123")
        );
        assert!(!ids.contains_key("twilio_call_sid"));
    }

    #[test]
    fn numbers_sent_as_strings_are_read() {
        let body = edited(FULL, |v| {
            v["data"]["metadata"]["start_time_unix_secs"] = json!("1739537297");
            v["data"]["metadata"]["call_duration_secs"] = json!("22");
            v["data"]["metadata"]["cost"] = json!("296");
            v["data"]["metadata"]["cost_fiat"] = json!(null);
        });
        let events = events(&body);
        let details = details(&events);
        assert_eq!(details.ended_at, Some(at(1_739_537_319)));
        assert_eq!(details.cost.map(|c| c.unit), Some(CostUnit::Credits));
    }
}
