use plugin_api::{
    CallEvent, CallStatus, CostUnit, CreateCallOutcome, HangupOutcome, HttpRequest, Method,
    ProviderError, Speaker,
};
use serde_json::{Value, json};

use crate::control::ControlUrl;
use crate::test_support::{
    API_KEY, CALL_ID, CONTROL_URL, VAPI_CALL_ID, answer, at_rfc3339, details, fixture, handle,
    http, provider, request, status, transcript,
};

fn body(request: &HttpRequest) -> Value {
    serde_json::from_slice(request.body.as_deref().unwrap()).unwrap()
}

fn outcome(status: u16, body: &str) -> CreateCallOutcome {
    provider(json!({})).parse_create_call_response(&request(), &answer(status, body))
}

fn accepted(status: u16, body: &str) -> plugin_api::Acceptance {
    match outcome(status, body) {
        CreateCallOutcome::Accepted(acceptance) => acceptance,
        other => panic!("not accepted: {other:?}"),
    }
}

fn control_data() -> Value {
    ControlUrl::new(CONTROL_URL).unwrap().to_provider_data()
}

#[test]
fn create_request_carries_defaults_metadata_and_server_messages() {
    let built = http(provider(json!({})).build_create_call(&request()).unwrap());
    assert_eq!(built.method, Method::Post);
    assert_eq!(built.url, "https://api.vapi.ai/call");
    assert_eq!(
        built.headers.get("Authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(built.headers.get("content-type"), Some("application/json"));
    assert_eq!(
        body(&built),
        fixture(include_str!(
            "../../tests/fixtures/create_call_request.json"
        ))
    );
}

#[test]
fn create_request_takes_the_call_s_assistant_number_and_first_message() {
    let provider = provider(json!({
        "base_url": "http://127.0.0.1:9000/",
        "server_url": "https://gw.example.com/webhooks/vapi",
        "live_transcripts": false,
    }));
    let mut request = request();
    request.agent_id = Some("asst_from_request".into());
    request.from_number_id = Some("pn_from_request".into());
    request.first_message = Some("Hi Ada, this is the clinic calling about tomorrow.".into());
    request.variables.clear();
    let built = http(provider.build_create_call(&request).unwrap());
    assert_eq!(built.url, "http://127.0.0.1:9000/call");
    assert_eq!(
        body(&built),
        fixture(include_str!(
            "../../tests/fixtures/create_call_request_overrides.json"
        ))
    );
}

#[test]
fn gateway_call_id_cannot_be_spoofed_and_blank_overrides_are_ignored() {
    let mut request = request();
    request
        .metadata
        .insert("gateway_call_id".into(), json!("someone-else"));
    request.agent_id = Some("  ".into());
    request.first_message = Some(" ".into());
    let sent = body(&http(
        provider(json!({})).build_create_call(&request).unwrap(),
    ));
    let overrides = &sent["assistantOverrides"];
    assert_eq!(overrides["metadata"]["gateway_call_id"], CALL_ID);
    assert_eq!(overrides["metadata"]["driver_id"], "drv-42");
    assert_eq!(sent["assistantId"], "asst_123");
    assert!(overrides.get("firstMessage").is_none());
    assert!(overrides.get("server").is_none());
}

#[test]
fn a_phone_number_is_required() {
    let provider = provider(json!({"phone_number_id": null}));
    let Err(ProviderError::InvalidRequest(message)) = provider.build_create_call(&request()) else {
        panic!("accepted a call with no phone number")
    };
    assert!(message.contains("phone_number_id"), "{message}");
    let mut request = request();
    request.from_number_id = Some("pn_x".into());
    let sent = body(&http(provider.build_create_call(&request).unwrap()));
    assert_eq!(sent["phoneNumberId"], "pn_x");
}

#[test]
fn accepted_call_keeps_its_id_and_control_url() {
    let acceptance = accepted(201, include_str!("../../tests/fixtures/call_response.json"));
    assert_eq!(acceptance.provider_call_id.as_deref(), Some(VAPI_CALL_ID));
    assert_eq!(acceptance.status, Some(CallStatus::Initiating));
    assert!(acceptance.telephony_ids.is_empty());
    let control = ControlUrl::from_provider_data(acceptance.provider_data.as_ref()).unwrap();
    assert_eq!(control.expose(), CONTROL_URL);
}

#[test]
fn accepted_ringing_twilio_call() {
    let acceptance = accepted(
        201,
        include_str!("../../tests/fixtures/call_response_twilio_ringing.json"),
    );
    assert_eq!(acceptance.status, Some(CallStatus::Ringing));
    assert_eq!(
        acceptance
            .telephony_ids
            .0
            .get("twilio_call_sid")
            .map(String::as_str),
        Some("CA0123456789abcdef0123456789abcdef")
    );
}

#[test]
fn accepted_call_without_optional_fields() {
    let acceptance = accepted(
        200,
        include_str!("../../tests/fixtures/call_response_minimal.json"),
    );
    assert_eq!(acceptance.provider_call_id.as_deref(), Some(VAPI_CALL_ID));
    assert_eq!(acceptance.status, Some(CallStatus::Initiating));
    assert_eq!(acceptance.provider_data, None);
}

#[test]
fn the_control_url_never_shows_in_debug_output() {
    let outcome = outcome(201, include_str!("../../tests/fixtures/call_response.json"));
    let shown = format!("{outcome:?}");
    assert!(!shown.contains("vapi.ai"), "{shown}");
    assert!(!shown.contains("/control"), "{shown}");
    let handle = handle(Some(VAPI_CALL_ID), Some(control_data()));
    assert!(!format!("{handle:?}").contains("vapi.ai"));
}

#[test]
fn validation_errors_are_final_and_readable() {
    for (status, body, expected) in [
        (
            400,
            include_str!("../../tests/fixtures/error_400_list.json"),
            "VAPI answered HTTP 400: Bad Request: customer.number must be a valid phone number \
             in the E.164 format; phoneNumberId must be a UUID",
        ),
        (
            400,
            include_str!("../../tests/fixtures/error_400_string.json"),
            "VAPI answered HTTP 400: Bad Request: Couldn't Get Assistant. `assistantId` asst_123 \
             Does Not Exist.",
        ),
        (
            401,
            include_str!("../../tests/fixtures/error_401.json"),
            "VAPI answered HTTP 401: Unauthorized: Invalid Key. Hot tip, you may be using the \
             private key instead of the public key, or vice versa.",
        ),
        (
            404,
            include_str!("../../tests/fixtures/error_404.json"),
            "VAPI answered HTTP 404: Not Found",
        ),
        (
            402,
            r#"{"error":"Payment Required"}"#,
            "VAPI answered HTTP 402: Payment Required",
        ),
        (
            400,
            r#"{"message":[],"statusCode":400}"#,
            r#"VAPI answered HTTP 400: {"message":[],"statusCode":400}"#,
        ),
        (
            408,
            "<html>timeout</html>",
            "VAPI answered HTTP 408: <html>timeout</html>",
        ),
        (422, "", "VAPI answered HTTP 422"),
        (409, "{}", "VAPI answered HTTP 409"),
    ] {
        assert_eq!(
            outcome(status, body),
            CreateCallOutcome::Rejected {
                retryable: false,
                message: expected.into()
            },
            "{status} {body}"
        );
    }
}

#[test]
fn rate_limits_and_unavailability_are_retryable() {
    for (status, body, expected) in [
        (
            429,
            include_str!("../../tests/fixtures/error_429.json"),
            "Too Many Requests",
        ),
        (
            503,
            include_str!("../../tests/fixtures/error_503.json"),
            "Service Unavailable",
        ),
    ] {
        let CreateCallOutcome::Rejected { retryable, message } = outcome(status, body) else {
            panic!("not rejected")
        };
        assert!(retryable, "{status}");
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn server_errors_and_unreadable_successes_are_indeterminate() {
    for (status, body) in [
        (
            500,
            r#"{"message":"Internal server error","statusCode":500}"#,
        ),
        (502, "Bad Gateway"),
        (504, ""),
        (520, ""),
        (302, ""),
        (201, "not json"),
        (201, r#"["c1"]"#),
        (201, r#"{"status":"queued"}"#),
        (201, r#"{"id":"  "}"#),
        (201, r#"{"results":[],"errors":[]}"#),
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
    let body = json!({"message": "x".repeat(5000)}).to_string();
    let CreateCallOutcome::Rejected { message, .. } = outcome(400, &body) else {
        panic!("not rejected")
    };
    assert!(message.chars().count() < 400, "{}", message.len());
}

#[test]
fn hangup_posts_end_call_to_the_control_url() {
    let provider = provider(json!({}));
    let handle = handle(Some(VAPI_CALL_ID), Some(control_data()));
    let built = http(provider.build_hangup(&handle).unwrap());
    assert_eq!(built.method, Method::Post);
    assert_eq!(built.url, CONTROL_URL);
    assert_eq!(body(&built), json!({"type": "end-call"}));
    assert_eq!(built.headers.get("content-type"), Some("application/json"));
    assert_eq!(built.headers.get("authorization"), None);
}

#[test]
fn hangup_without_a_control_url_is_an_invalid_request() {
    let provider = provider(json!({}));
    for data in [
        None,
        Some(json!({})),
        Some(json!({"controlUrl": CONTROL_URL})),
    ] {
        let result = provider.build_hangup(&handle(Some(VAPI_CALL_ID), data));
        let Err(ProviderError::InvalidRequest(message)) = result else {
            panic!("{result:?}")
        };
        assert!(message.contains("control URL"), "{message}");
    }
}

#[test]
fn hangup_to_a_control_url_off_vapi_is_an_invalid_request() {
    let provider = provider(json!({}));
    for url in [
        "https://attacker.example/control",
        "http://phone-call-websocket.vapi.ai/c/control",
        "http://169.254.169.254/latest/meta-data",
    ] {
        let data = json!({"control_url_hex": hex::encode(url)});
        let result = provider.build_hangup(&handle(Some(VAPI_CALL_ID), Some(data)));
        let Err(ProviderError::InvalidRequest(message)) = result else {
            panic!("{url}: {result:?}")
        };
        assert!(message.contains("not on a VAPI host"), "{message}");
    }
}

#[test]
fn hangup_answers() {
    let provider = provider(json!({}));
    let handle = handle(Some(VAPI_CALL_ID), Some(control_data()));
    for status in [200, 201, 204] {
        assert_eq!(
            provider.parse_hangup_response(&handle, &answer(status, "")),
            HangupOutcome::Accepted
        );
    }
    let rejected = provider.parse_hangup_response(
        &handle,
        &answer(404, include_str!("../../tests/fixtures/error_404.json")),
    );
    let HangupOutcome::Rejected { message } = &rejected else {
        panic!("{rejected:?}")
    };
    assert_eq!(message, "VAPI answered HTTP 404: Not Found");
    assert!(!format!("{rejected:?}").contains("vapi.ai"));
}

#[test]
fn fetch_request() {
    let built = http(
        provider(json!({"base_url": "http://127.0.0.1:9000/"}))
            .build_fetch_call(&handle(Some(VAPI_CALL_ID), None))
            .unwrap(),
    );
    assert_eq!(built.method, Method::Get);
    assert_eq!(
        built.url,
        format!("http://127.0.0.1:9000/call/{VAPI_CALL_ID}")
    );
    assert_eq!(
        built.headers.get("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(built.body, None);

    let odd = http(
        provider(json!({}))
            .build_fetch_call(&handle(Some("a/b c?"), None))
            .unwrap(),
    );
    assert!(odd.url.ends_with("/call/a%2Fb%20c%3F"), "{}", odd.url);
    assert!(matches!(
        provider(json!({})).build_fetch_call(&handle(None, None)),
        Err(ProviderError::InvalidRequest(_))
    ));
}

#[test]
fn fetched_ended_call_gives_the_report_s_events() {
    let events = provider(json!({}))
        .parse_fetch_call_response(
            &handle(Some(VAPI_CALL_ID), Some(control_data())),
            &answer(
                200,
                include_str!("../../tests/fixtures/call_response_ended.json"),
            ),
        )
        .unwrap();
    assert!(matches!(events[0], CallEvent::Details(_)));
    assert!(matches!(events[1], CallEvent::Transcript { .. }));
    assert!(matches!(events[2], CallEvent::Status(_)));
    let details = details(&events);
    assert_eq!(details.provider_call_id.as_deref(), Some(VAPI_CALL_ID));
    assert_eq!(details.started_at, Some(at_rfc3339("2026-11-20T10:00:05Z")));
    assert_eq!(details.ended_at, Some(at_rfc3339("2026-11-20T10:00:40Z")));
    assert_eq!(details.duration_secs, None);
    let cost = details.cost.unwrap();
    assert_eq!((cost.amount, cost.unit), (0.12, CostUnit::Usd));
    assert_eq!(details.cost_breakdown.as_ref().unwrap()["total"], 0.12);
    assert_eq!(details.summary.as_deref(), Some("Ada confirmed."));
    assert_eq!(details.success, Some(true));
    assert_eq!(
        details.recording_url.as_deref(),
        Some("https://storage.vapi.ai/rec.wav")
    );
    assert_eq!(details.end_reason.as_deref(), Some("customer-ended-call"));
    let metadata = details.vendor_metadata.as_ref().unwrap();
    assert_eq!(
        metadata["recordings"]["stereoRecordingUrl"],
        "https://storage.vapi.ai/rec-stereo.wav"
    );
    assert!(!metadata.to_string().contains("/control"), "{metadata}");
    let turns = transcript(&events).unwrap();
    let spoken: Vec<(Speaker, &str)> = turns
        .iter()
        .map(|t| (t.speaker.clone(), t.text.as_str()))
        .collect();
    assert_eq!(
        spoken,
        [
            (Speaker::System, "You are a friendly clinic assistant."),
            (Speaker::Agent, "Hi Ada"),
            (Speaker::User, "Hello")
        ]
    );
    let status = status(&events).unwrap();
    assert_eq!(status.status, CallStatus::Completed);
    assert_eq!(status.reason.as_deref(), Some("customer-ended-call"));
    assert_eq!(status.vendor_status.as_deref(), Some("ended"));
    assert_eq!(status.at, Some(at_rfc3339("2026-11-20T10:00:40Z")));
}

#[test]
fn fetched_running_call_is_in_progress_without_a_transcript() {
    let events = provider(json!({}))
        .parse_fetch_call_response(
            &handle(Some(VAPI_CALL_ID), None),
            &answer(
                200,
                include_str!("../../tests/fixtures/call_response_in_progress.json"),
            ),
        )
        .unwrap();
    assert!(transcript(&events).is_none());
    let status = status(&events).unwrap();
    assert_eq!(status.status, CallStatus::InProgress);
    assert_eq!(status.at, Some(at_rfc3339("2026-11-20T10:00:05Z")));
    assert_eq!(
        details(&events)
            .telephony_ids
            .0
            .get("twilio_call_sid")
            .map(String::as_str),
        Some("CA0123456789abcdef0123456789abcdef")
    );
}

#[test]
fn fetched_call_without_a_status_gives_details_only() {
    let events = provider(json!({}))
        .parse_fetch_call_response(
            &handle(Some(VAPI_CALL_ID), None),
            &answer(
                200,
                include_str!("../../tests/fixtures/call_response_minimal.json"),
            ),
        )
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        details(&events).provider_call_id.as_deref(),
        Some(VAPI_CALL_ID)
    );
    let unknown = provider(json!({}))
        .parse_fetch_call_response(
            &handle(Some(VAPI_CALL_ID), None),
            &answer(
                200,
                &format!(r#"{{"id":"{VAPI_CALL_ID}","status":"not-found"}}"#),
            ),
        )
        .unwrap();
    assert!(status(&unknown).is_none());
}

#[test]
fn fetch_errors_are_vendor_errors() {
    let provider = provider(json!({}));
    let handle = handle(Some(VAPI_CALL_ID), Some(control_data()));
    let fetch =
        |status, body: &str| provider.parse_fetch_call_response(&handle, &answer(status, body));
    assert_eq!(
        fetch(404, include_str!("../../tests/fixtures/error_404.json")),
        Err(ProviderError::Vendor {
            status: 404,
            retryable: false,
            message: "VAPI answered HTTP 404: Not Found".into()
        })
    );
    assert!(matches!(
        fetch(401, include_str!("../../tests/fixtures/error_401.json")),
        Err(ProviderError::Vendor {
            status: 401,
            retryable: false,
            ..
        })
    ));
    for status in [429, 500, 503] {
        assert!(
            matches!(
                fetch(status, ""),
                Err(ProviderError::Vendor {
                    retryable: true,
                    ..
                })
            ),
            "{status}"
        );
    }
    assert!(matches!(
        fetch(200, "<html>"),
        Err(ProviderError::Vendor {
            retryable: true,
            ..
        })
    ));
    let other = fetch(200, r#"{"id":"another-call","status":"ended"}"#);
    assert!(
        matches!(
            &other,
            Err(ProviderError::Vendor {
                retryable: false,
                message,
                ..
            }) if message.contains("another-call")
        ),
        "{other:?}"
    );
    for result in [fetch(404, ""), fetch(500, "oops"), other] {
        let shown = format!("{result:?} {}", result.clone().err().unwrap());
        assert!(!shown.contains("vapi.ai"), "{shown}");
    }
}
