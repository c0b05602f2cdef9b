//! Outbound requests: placing a call and fetching a conversation, and reading the answers.

use plugin_api::{
    Acceptance, CallEvent, CallHandle, CallRequest, CallStatus, CreateCallOutcome, Headers,
    HttpRequest, HttpResponse, Method, ProviderError, TelephonyIds,
};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::conversation;
use plugin_api::http::path_segment;
use plugin_api::json::{Object, QUOTED_CHARS, text, truncate};

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "xi-api-key";
/// The dynamic variable (and `user_id`) carrying the gateway's call id to the vendor and back.
pub const GATEWAY_CALL_ID_VARIABLE: &str = "gateway_call_id";

/// `Some(s)` unless `s` is blank.
fn set(value: Option<&str>) -> Option<&str> {
    value.filter(|s| !s.trim().is_empty())
}

/// The outbound-call request for `request`.
pub(crate) fn build_create_call(
    config: &Config,
    request: &CallRequest,
) -> Result<HttpRequest, ProviderError> {
    let agent_id = set(request.agent_id.as_deref()).unwrap_or(&config.agent_id);
    let phone_number_id = set(request.from_number_id.as_deref())
        .or(config.agent_phone_number_id.as_deref())
        .ok_or_else(|| {
            ProviderError::InvalidRequest(
                "no agent_phone_number_id: pass from_number_id or set agent_phone_number_id in \
                 the provider config"
                    .to_owned(),
            )
        })?;
    let call_id = request.call_id.to_string();
    let mut variables = request.variables.clone();
    variables.insert(
        GATEWAY_CALL_ID_VARIABLE.to_owned(),
        Value::String(call_id.clone()),
    );
    let mut client_data = Map::new();
    client_data.insert("user_id".to_owned(), Value::String(call_id));
    client_data.insert("dynamic_variables".to_owned(), Value::Object(variables));
    if let Some(first_message) = set(request.first_message.as_deref()) {
        client_data.insert(
            "conversation_config_override".to_owned(),
            json!({"agent": {"first_message": first_message}}),
        );
    }
    let body = json!({
        "agent_id": agent_id,
        "agent_phone_number_id": phone_number_id,
        "to_number": request.to.as_str(),
        "conversation_initiation_client_data": client_data,
    });
    let url = format!(
        "{}{}",
        config.base_url,
        config.telephony.outbound_call_path()
    );
    Ok(HttpRequest::post_json(url, &body).header(API_KEY_HEADER, config.api_key.expose()))
}

/// The vendor's explanation of an error answer, made readable: `detail` as a string, a list of
/// `{loc, msg}` validation errors, or a `{status, message}` object; else a top-level `message`;
/// else the start of the body.
pub(crate) fn vendor_message(body: &[u8]) -> Option<String> {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return plugin_api::json::quoted_text(body);
    };
    let message = match parsed.get("detail") {
        Some(Value::String(detail)) => Some(detail.clone()),
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items.iter().map(validation_error).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        Some(Value::Object(detail)) => text(Some(detail), "message")
            .or_else(|| text(Some(detail), "status"))
            .map(str::to_owned),
        _ => None,
    };
    message
        .or_else(|| text(parsed.as_object(), "message").map(str::to_owned))
        .or_else(|| text(parsed.as_object(), "error").map(str::to_owned))
        .filter(|m| !m.trim().is_empty())
        .map(|m| truncate(m.trim(), QUOTED_CHARS))
}

/// One `{loc, msg}` entry of a 422 answer, as `to_number: msg` (the leading `body` is dropped).
fn validation_error(item: &Value) -> String {
    let message = item
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or("invalid value");
    let location: Vec<String> = item
        .get("loc")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|part| match part {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .skip_while(|part| part == "body")
        .collect();
    if location.is_empty() {
        message.to_owned()
    } else {
        format!("{}: {message}", location.join("."))
    }
}

/// `ElevenLabs answered HTTP <status>[: <vendor message>]`.
fn answered(response: &HttpResponse) -> String {
    plugin_api::json::answered(
        "ElevenLabs",
        response.status,
        vendor_message(&response.body),
    )
}

/// Reads the answer to the outbound-call request. See the crate docs for the classes.
pub(crate) fn parse_create_call_response(response: &HttpResponse) -> CreateCallOutcome {
    let status = response.status;
    if response.is_success() {
        return parse_accepted(response);
    }
    match status {
        429 | 503 => CreateCallOutcome::Rejected {
            retryable: true,
            message: answered(response),
        },
        400..=499 => CreateCallOutcome::Rejected {
            retryable: false,
            message: answered(response),
        },
        // 5xx other than 503, and anything unexpected (1xx, 3xx): the vendor may have acted.
        _ => CreateCallOutcome::Indeterminate {
            message: answered(response),
        },
    }
}

fn parse_accepted(response: &HttpResponse) -> CreateCallOutcome {
    let indeterminate = |why: &str| CreateCallOutcome::Indeterminate {
        message: format!("ElevenLabs answered HTTP {} but {why}", response.status),
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&response.body) else {
        return indeterminate("the body is not a JSON object");
    };
    let message = text(Some(&body), "message");
    match body.get("success") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            return CreateCallOutcome::Rejected {
                retryable: false,
                message: match message {
                    Some(m) => format!(
                        "ElevenLabs did not place the call: {}",
                        truncate(m.trim(), QUOTED_CHARS)
                    ),
                    None => "ElevenLabs did not place the call (success: false)".to_owned(),
                },
            };
        }
        _ => return indeterminate("without a boolean 'success'"),
    }
    CreateCallOutcome::Accepted(Acceptance {
        provider_call_id: text(Some(&body), "conversation_id").map(str::to_owned),
        telephony_ids: accepted_ids(&body),
        status: Some(CallStatus::Initiating),
        provider_data: None,
    })
}

/// `callSid` (camelCase on the wire) of a Twilio answer, `sip_call_id` of a SIP trunk answer.
fn accepted_ids(body: &Object) -> TelephonyIds {
    let mut ids = TelephonyIds::default();
    if let Some(sid) = text(Some(body), "callSid").or_else(|| text(Some(body), "call_sid")) {
        ids = ids.with("twilio_call_sid", sid);
    }
    if let Some(id) = text(Some(body), "sip_call_id") {
        ids = ids.with("sip_call_id", id);
    }
    ids
}

/// `GET /v1/convai/conversations/{conversation_id}`.
/// Fetching a call: its conversation, or, when the create answer never gave the
/// `conversation_id` (e.g. it timed out), a lookup of the conversation by the gateway's id, which
/// the call carries as `user_id` (`GET /v1/convai/conversations?user_id=...`).
pub(crate) fn build_fetch_call(
    config: &Config,
    call: &CallHandle,
) -> Result<HttpRequest, ProviderError> {
    let url = match set(call.provider_call_id.as_deref()) {
        Some(conversation_id) => format!(
            "{}/v1/convai/conversations/{}",
            config.base_url,
            path_segment(conversation_id)
        ),
        None => format!(
            "{}/v1/convai/conversations?user_id={}&page_size=1",
            config.base_url, call.call_id
        ),
    };
    Ok(HttpRequest {
        method: Method::Get,
        url,
        headers: Headers::new()
            .with(API_KEY_HEADER, config.api_key.expose())
            .with("accept", "application/json"),
        body: None,
    })
}

/// Reads the answer to a lookup by `user_id`: the conversation's id, so the next fetch can read
/// the whole conversation. No conversation (yet): nothing is known.
fn parse_conversation_lookup(data: &Map<String, Value>) -> Vec<CallEvent> {
    let found = data
        .get("conversations")
        .and_then(Value::as_array)
        .and_then(|list| list.first())
        .and_then(Value::as_object)
        .and_then(|first| text(Some(first), "conversation_id"));
    found
        .map(|conversation_id| {
            vec![CallEvent::Details(plugin_api::CallDetails {
                provider_call_id: Some(conversation_id.to_owned()),
                ..plugin_api::CallDetails::default()
            })]
        })
        .unwrap_or_default()
}

/// Reads a fetched conversation into the same events its `post_call_transcription` webhook
/// gives. A 404 is an error, not a failed call: see the crate docs.
pub(crate) fn parse_fetch_call_response(
    call: &CallHandle,
    response: &HttpResponse,
) -> Result<Vec<CallEvent>, ProviderError> {
    if response.status == 404 {
        return Err(ProviderError::Vendor {
            status: 404,
            retryable: false,
            message: format!(
                "conversation not found at ElevenLabs ({})",
                answered(response)
            ),
        });
    }
    if !response.is_success() {
        return Err(ProviderError::Vendor {
            status: response.status,
            retryable: response.status == 429 || response.status >= 500,
            message: answered(response),
        });
    }
    let Ok(Value::Object(data)) = serde_json::from_slice::<Value>(&response.body) else {
        return Err(ProviderError::InvalidRequest(format!(
            "ElevenLabs answered HTTP {} with a body that is not a JSON object",
            response.status
        )));
    };
    if set(call.provider_call_id.as_deref()).is_none() {
        return Ok(parse_conversation_lookup(&data));
    }
    let expected = call.provider_call_id.as_deref();
    match text(Some(&data), "conversation_id") {
        Some(id) if Some(id) != expected => {
            return Err(ProviderError::InvalidRequest(format!(
                "ElevenLabs answered with conversation '{id}', not the one asked for"
            )));
        }
        _ => {}
    }
    let mut events = conversation::events(&data, None);
    if let Some(CallEvent::Details(details)) = events.first_mut() {
        if details.provider_call_id.is_none() {
            details.provider_call_id = expected.map(str::to_owned);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use plugin_api::{CallEvent, CallStatus, CreateCallOutcome, HttpRequest, HttpResponse};
    use plugin_api::{Method, Outbound, ProviderError, Speaker};
    use serde_json::{Value, json};

    use crate::test_support::{
        API_KEY, CALL_ID, at, details, handle, provider, request, status, transcript,
    };

    fn http(outbound: Outbound) -> HttpRequest {
        match outbound {
            Outbound::Http(request) => request,
            Outbound::Local(_) => panic!("elevenlabs always uses the network"),
        }
    }

    fn body(request: &HttpRequest) -> Value {
        serde_json::from_slice(request.body.as_deref().unwrap()).unwrap()
    }

    fn fixture(raw: &str) -> Value {
        serde_json::from_str(raw).unwrap()
    }

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn outcome(status: u16, body: &str) -> CreateCallOutcome {
        provider(json!({})).parse_create_call_response(&request(), &answer(status, body))
    }

    #[test]
    fn twilio_request_carries_the_defaults_and_the_gateway_id() {
        let built = http(provider(json!({})).build_create_call(&request()).unwrap());
        assert_eq!(built.method, Method::Post);
        assert_eq!(
            built.url,
            "https://api.elevenlabs.io/v1/convai/twilio/outbound-call"
        );
        assert_eq!(built.headers.get("xi-api-key"), Some(API_KEY));
        assert_eq!(built.headers.get("Content-Type"), Some("application/json"));
        assert_eq!(
            body(&built),
            fixture(include_str!(
                "../tests/fixtures/create_call_request_twilio.json"
            ))
        );
    }

    #[test]
    fn sip_request_takes_the_call_s_agent_number_and_first_message() {
        let provider = provider(json!({
            "telephony": "sip_trunk",
            "base_url": "https://api.us.elevenlabs.io/",
        }));
        let mut request = request();
        request.agent_id = Some("agent_from_request".into());
        request.from_number_id = Some("phnum_from_request".into());
        request.first_message = Some("Hi Ada, this is the clinic calling about tomorrow.".into());
        request.variables.clear();
        let built = http(provider.build_create_call(&request).unwrap());
        assert_eq!(
            built.url,
            "https://api.us.elevenlabs.io/v1/convai/sip-trunk/outbound-call"
        );
        assert_eq!(
            body(&built),
            fixture(include_str!(
                "../tests/fixtures/create_call_request_sip.json"
            ))
        );
    }

    #[test]
    fn metadata_is_not_sent_and_gateway_call_id_cannot_be_spoofed() {
        let mut request = request();
        request
            .variables
            .insert("gateway_call_id".into(), json!("someone-else"));
        request.first_message = Some("  ".into());
        let sent = body(&http(
            provider(json!({})).build_create_call(&request).unwrap(),
        ));
        let client_data = &sent["conversation_initiation_client_data"];
        assert_eq!(client_data["dynamic_variables"]["gateway_call_id"], CALL_ID);
        assert!(client_data.get("conversation_config_override").is_none());
        assert!(!sent.to_string().contains("drv-42"), "{sent}");
    }

    #[test]
    fn a_caller_number_is_required() {
        let provider = provider(json!({"agent_phone_number_id": null}));
        let Err(ProviderError::InvalidRequest(message)) = provider.build_create_call(&request())
        else {
            panic!("accepted a call with no caller number")
        };
        assert!(message.contains("agent_phone_number_id"), "{message}");
        let mut request = request();
        request.from_number_id = Some("phnum_x".into());
        assert!(provider.build_create_call(&request).is_ok());
    }

    #[test]
    fn accepted_twilio_call() {
        let CreateCallOutcome::Accepted(acceptance) = outcome(
            200,
            include_str!("../tests/fixtures/create_call_response_twilio.json"),
        ) else {
            panic!("not accepted")
        };
        assert_eq!(acceptance.provider_call_id.as_deref(), Some("conv_abc123"));
        assert_eq!(
            acceptance
                .telephony_ids
                .0
                .get("twilio_call_sid")
                .map(String::as_str),
            Some("CA1234567890abcdef")
        );
        assert_eq!(acceptance.status, Some(CallStatus::Initiating));
        assert_eq!(acceptance.provider_data, None);
    }

    #[test]
    fn accepted_sip_call() {
        let CreateCallOutcome::Accepted(acceptance) = outcome(
            201,
            include_str!("../tests/fixtures/create_call_response_sip.json"),
        ) else {
            panic!("not accepted")
        };
        assert_eq!(acceptance.provider_call_id.as_deref(), Some("conv_sip456"));
        assert_eq!(
            acceptance
                .telephony_ids
                .0
                .get("sip_call_id")
                .map(String::as_str),
            Some("7f1c2e@sip.example.net")
        );
        assert!(!acceptance.telephony_ids.0.contains_key("twilio_call_sid"));
    }

    #[test]
    fn accepted_without_a_conversation_id() {
        let CreateCallOutcome::Accepted(acceptance) = outcome(
            200,
            include_str!("../tests/fixtures/create_call_response_no_conversation_id.json"),
        ) else {
            panic!("not accepted")
        };
        assert_eq!(acceptance.provider_call_id, None);
        assert_eq!(acceptance.status, Some(CallStatus::Initiating));
    }

    #[test]
    fn success_false_is_a_final_rejection() {
        let rejected = outcome(
            200,
            include_str!("../tests/fixtures/create_call_response_success_false.json"),
        );
        let CreateCallOutcome::Rejected { retryable, message } = rejected else {
            panic!("{rejected:?}")
        };
        assert!(!retryable);
        assert!(message.contains("not assigned to an agent"), "{message}");
    }

    #[test]
    fn validation_errors_are_readable() {
        let CreateCallOutcome::Rejected { retryable, message } = outcome(
            422,
            include_str!("../tests/fixtures/create_call_response_422_list.json"),
        ) else {
            panic!("not rejected")
        };
        assert!(!retryable);
        assert_eq!(
            message,
            "ElevenLabs answered HTTP 422: to_number: Value error, invalid phone number; \
             agent_phone_number_id: Field required"
        );
        let CreateCallOutcome::Rejected { message, .. } = outcome(
            422,
            include_str!("../tests/fixtures/create_call_response_422_string.json"),
        ) else {
            panic!("not rejected")
        };
        assert_eq!(
            message,
            "ElevenLabs answered HTTP 422: agent_phone_number_id does not belong to this workspace"
        );
    }

    #[test]
    fn other_client_errors_are_final() {
        for (status, body, expected) in [
            (
                401,
                include_str!("../tests/fixtures/create_call_response_401.json"),
                "ElevenLabs answered HTTP 401: Invalid API key",
            ),
            (
                404,
                r#"{"message":"agent not found"}"#,
                "ElevenLabs answered HTTP 404: agent not found",
            ),
            (400, "", "ElevenLabs answered HTTP 400"),
            (
                408,
                "<html>timeout</html>",
                "ElevenLabs answered HTTP 408: <html>timeout</html>",
            ),
        ] {
            assert_eq!(
                outcome(status, body),
                CreateCallOutcome::Rejected {
                    retryable: false,
                    message: expected.into()
                }
            );
        }
    }

    #[test]
    fn rate_limits_and_unavailability_are_retryable() {
        for status in [429, 503] {
            let CreateCallOutcome::Rejected { retryable, message } = outcome(
                status,
                include_str!("../tests/fixtures/create_call_response_429.json"),
            ) else {
                panic!("not rejected")
            };
            assert!(retryable, "{status}");
            assert!(
                message.contains("Too many concurrent requests"),
                "{message}"
            );
        }
    }

    #[test]
    fn server_errors_and_unreadable_successes_are_indeterminate() {
        for (status, body) in [
            (500, r#"{"detail":"Internal Server Error"}"#),
            (502, "Bad Gateway"),
            (504, ""),
            (520, ""),
            (302, ""),
            (200, "not json"),
            (200, r#"["success"]"#),
            (200, r#"{"conversation_id":"conv_1"}"#),
            (202, r#"{"success":"yes"}"#),
        ] {
            let result = outcome(status, body);
            assert!(
                matches!(result, CreateCallOutcome::Indeterminate { .. }),
                "{status} {body}: {result:?}"
            );
        }
    }

    #[test]
    fn long_error_bodies_are_cut() {
        let body = "x".repeat(5000);
        let CreateCallOutcome::Rejected { message, .. } = outcome(400, &body) else {
            panic!("not rejected")
        };
        assert!(message.len() < 400, "{}", message.len());
    }

    #[test]
    fn fetch_request() {
        let built = http(
            provider(json!({"base_url": "http://127.0.0.1:9000/"}))
                .build_fetch_call(&handle(Some("conv_abc123")))
                .unwrap(),
        );
        assert_eq!(built.method, Method::Get);
        assert_eq!(
            built.url,
            "http://127.0.0.1:9000/v1/convai/conversations/conv_abc123"
        );
        assert_eq!(built.headers.get("xi-api-key"), Some(API_KEY));
        assert_eq!(built.body, None);

        let odd = http(
            provider(json!({}))
                .build_fetch_call(&handle(Some("a/b c?")))
                .unwrap(),
        );
        assert!(
            odd.url.ends_with("/conversations/a%2Fb%20c%3F"),
            "{}",
            odd.url
        );

        // Without a conversation_id, the conversation is looked up by the gateway's id.
        let lookup = handle(None);
        let Ok(Outbound::Http(by_user)) = provider(json!({})).build_fetch_call(&lookup) else {
            panic!("a call without a conversation_id is looked up by user_id")
        };
        assert_eq!(
            by_user.url,
            format!(
                "https://api.elevenlabs.io/v1/convai/conversations?user_id={}&page_size=1",
                lookup.call_id
            )
        );
    }

    #[test]
    fn a_lookup_by_user_id_finds_the_conversation() {
        let lookup = handle(None);
        let found = answer(
            200,
            r#"{"conversations":[{"conversation_id":"conv_found","status":"done"}],"has_more":false}"#,
        );
        let events = provider(json!({}))
            .parse_fetch_call_response(&lookup, &found)
            .unwrap();
        assert!(matches!(
            &events[..],
            [CallEvent::Details(d)] if d.provider_call_id.as_deref() == Some("conv_found")
        ));
        let none = answer(200, r#"{"conversations":[],"has_more":false}"#);
        let events = provider(json!({}))
            .parse_fetch_call_response(&lookup, &none)
            .unwrap();
        assert!(events.is_empty(), "nothing known yet");
    }

    #[test]
    fn fetched_conversation_gives_the_webhook_s_events() {
        let events = provider(json!({}))
            .parse_fetch_call_response(
                &handle(Some("conv_abc123")),
                &answer(
                    200,
                    include_str!("../tests/fixtures/fetch_conversation_done.json"),
                ),
            )
            .unwrap();
        assert!(matches!(events[0], CallEvent::Details(_)));
        let details = details(&events);
        assert_eq!(details.provider_call_id.as_deref(), Some("conv_abc123"));
        assert_eq!(details.duration_secs, Some(41.0));
        assert_eq!(details.ended_at, Some(at(1_739_537_338)));
        assert_eq!(details.success, None);
        assert_eq!(details.cost_breakdown, Some(json!({"credits": 512.0})));
        let turns = transcript(&events);
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[1].speaker, Speaker::User);
        let status = status(&events).unwrap();
        assert_eq!(status.status, CallStatus::Completed);
        assert_eq!(status.reason.as_deref(), Some("voicemail"));
        assert_eq!(status.vendor_status.as_deref(), Some("voicemail"));
        assert_eq!(status.at, Some(at(1_739_537_338)));
    }

    #[test]
    fn fetched_running_conversation_is_in_progress() {
        let events = provider(json!({}))
            .parse_fetch_call_response(
                &handle(Some("conv_abc123")),
                &answer(
                    200,
                    include_str!("../tests/fixtures/fetch_conversation_in_progress.json"),
                ),
            )
            .unwrap();
        let status = status(&events).unwrap();
        assert_eq!(status.status, CallStatus::InProgress);
        assert_eq!(status.vendor_status.as_deref(), Some("in-progress"));
        assert_eq!(status.at, Some(at(1_739_537_297)));
    }

    #[test]
    fn fetch_errors() {
        let provider = provider(json!({}));
        let handle = handle(Some("conv_abc123"));
        let fetch =
            |status, body: &str| provider.parse_fetch_call_response(&handle, &answer(status, body));
        let Err(ProviderError::Vendor {
            status: 404,
            retryable: false,
            message,
        }) = fetch(
            404,
            include_str!("../tests/fixtures/fetch_conversation_404.json"),
        )
        else {
            panic!("a 404 is a permanent vendor error")
        };
        assert!(message.contains("not found"), "{message}");
        assert!(
            message.contains("Conversation conv_abc123 not found"),
            "{message}"
        );
        let invalid_key = r#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#;
        assert!(matches!(
            fetch(401, invalid_key),
            Err(ProviderError::Vendor {
                status: 401,
                retryable: false,
                ..
            })
        ));
        assert!(matches!(
            fetch(500, ""),
            Err(ProviderError::Vendor {
                status: 500,
                retryable: true,
                ..
            })
        ));
        for body in [
            "<html>",
            r#"{"conversation_id":"conv_other","status":"done"}"#,
        ] {
            assert!(
                matches!(fetch(200, body), Err(ProviderError::InvalidRequest(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn fetched_conversation_without_its_id_keeps_the_handle_s() {
        let events = provider(json!({}))
            .parse_fetch_call_response(
                &handle(Some("conv_abc123")),
                &answer(200, r#"{"status":"done","metadata":{},"transcript":[]}"#),
            )
            .unwrap();
        assert_eq!(
            details(&events).provider_call_id.as_deref(),
            Some("conv_abc123")
        );
        assert_eq!(status(&events).unwrap().status, CallStatus::Completed);
    }
}
