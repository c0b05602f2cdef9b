use plugin_api::{CallStatus, CostUnit, CreateCallOutcome, HangupOutcome, Method, ProviderError};
use serde_json::{Value, json};

use crate::test_support::*;

const CREATE_REQUEST: &str = include_str!("../../tests/fixtures/create_call_request.json");
const CREATE_REQUEST_MINIMAL: &str =
    include_str!("../../tests/fixtures/create_call_request_minimal.json");
const CREATE_RESPONSE: &str = include_str!("../../tests/fixtures/create_call_response.json");
const ENDED: &str = include_str!("../../tests/fixtures/get_call_response_ended.json");
const LISTED: &str = include_str!("../../tests/fixtures/list_calls_response.json");

fn body(request: &plugin_api::HttpRequest) -> Value {
    serde_json::from_slice(request.body.as_deref().unwrap()).unwrap()
}

#[test]
fn create_sends_the_documented_body() {
    let provider = provider(json!({
        "agent_id": "agent_123",
        "webhook_url": "https://gw.example.com/webhooks/retell",
        "ring_duration_ms": 45000,
        "max_call_duration_ms": 600000,
    }));
    let sent = http(provider.build_create_call(&request()).unwrap());
    assert_eq!(sent.method, Method::Post);
    assert_eq!(sent.url, "https://api.retellai.com/v2/create-phone-call");
    assert_eq!(
        sent.headers.get("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(sent.headers.get("content-type"), Some("application/json"));
    assert_eq!(body(&sent), fixture(CREATE_REQUEST));
}

#[test]
fn a_minimal_create_leaves_out_what_is_not_set() {
    let mut request = request();
    request.variables.clear();
    request.metadata.clear();
    let sent = http(provider(json!({})).build_create_call(&request).unwrap());
    assert_eq!(body(&sent), fixture(CREATE_REQUEST_MINIMAL));
}

#[test]
fn a_client_gateway_call_id_never_wins_and_the_request_overrides_apply() {
    let mut request = request();
    request
        .metadata
        .insert("gateway_call_id".into(), json!("spoofed"));
    request.agent_id = Some("agent_other".into());
    request.from_number_id = Some("+14157775555".into());
    request.variables.insert("flag".into(), json!(true));
    request.variables.insert("nothing".into(), Value::Null);
    request.variables.insert("list".into(), json!([1, "a"]));
    let sent = body(&http(
        provider(json!({"agent_id": "agent_123"}))
            .build_create_call(&request)
            .unwrap(),
    ));
    assert_eq!(sent["metadata"]["gateway_call_id"], CALL_ID);
    assert_eq!(sent["idempotency_key"], CALL_ID);
    assert_eq!(sent["override_agent_id"], "agent_other");
    assert_eq!(sent["from_number"], "+14157775555");
    assert_eq!(
        sent["retell_llm_dynamic_variables"],
        json!({"customer_name": "Ada", "visits": "3", "flag": "true", "list": "[1,\"a\"]"})
    );
}

#[test]
fn the_idempotency_key_is_stable_for_a_call() {
    let provider = provider(json!({}));
    let first = provider.build_create_call(&request()).unwrap();
    let second = provider.build_create_call(&request()).unwrap();
    assert_eq!(first, second);
    let mut other = request();
    other.call_id = plugin_api::CallId::new();
    let other = body(&http(provider.build_create_call(&other).unwrap()));
    assert_ne!(other["idempotency_key"], CALL_ID);
}

#[test]
fn requests_retell_cannot_take_are_refused_before_sending() {
    let mut no_number = request();
    no_number.from_number_id = None;
    let error = provider(json!({"from_number": null}))
        .build_create_call(&no_number)
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::InvalidRequest(ref m) if m.contains("from_number")),
        "{error}"
    );
    let mut bad = request();
    bad.from_number_id = Some("pn_123".into());
    assert!(matches!(
        provider(json!({})).build_create_call(&bad),
        Err(ProviderError::InvalidRequest(_))
    ));
    let mut greeting = request();
    greeting.first_message = Some("Hi!".into());
    let error = provider(json!({}))
        .build_create_call(&greeting)
        .unwrap_err();
    assert!(error.to_string().contains("first message"), "{error}");
}

#[test]
fn a_created_call_is_accepted_as_initiating() {
    let outcome =
        provider(json!({})).parse_create_call_response(&request(), &answer(201, CREATE_RESPONSE));
    let CreateCallOutcome::Accepted(acceptance) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(acceptance.provider_call_id.as_deref(), Some(RETELL_CALL_ID));
    assert_eq!(acceptance.status, Some(CallStatus::Initiating));
    assert_eq!(acceptance.provider_data, None);
    let minimal = include_str!("../../tests/fixtures/create_call_response_minimal.json");
    let outcome = provider(json!({})).parse_create_call_response(&request(), &answer(201, minimal));
    assert!(
        matches!(outcome, CreateCallOutcome::Accepted(_)),
        "{outcome:?}"
    );
}

#[test]
fn each_error_class_is_classified_with_the_vendor_message() {
    let provider = provider(json!({}));
    let outcome = |status: u16, body: &str| {
        provider.parse_create_call_response(&request(), &answer(status, body))
    };
    for (status, fixture, quoted) in [
        (
            400,
            include_str!("../../tests/fixtures/error_400.json"),
            "to_number is not a valid E.164",
        ),
        (
            401,
            include_str!("../../tests/fixtures/error_401.json"),
            "Invalid API key",
        ),
        (
            402,
            include_str!("../../tests/fixtures/error_402.json"),
            "Payment required",
        ),
        (
            403,
            r#"{"status":"error","message":"Forbidden"}"#,
            "Forbidden",
        ),
        (
            422,
            include_str!("../../tests/fixtures/error_422.json"),
            "Cannot find requested asset",
        ),
    ] {
        match outcome(status, fixture) {
            CreateCallOutcome::Rejected {
                retryable: false,
                message,
            } => {
                assert!(
                    message.starts_with(&format!("Retell answered HTTP {status}: ")),
                    "{message}"
                );
                assert!(message.contains(quoted), "{message}");
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    for status in [429, 503] {
        let body = include_str!("../../tests/fixtures/error_429.json");
        assert!(
            matches!(
                outcome(status, body),
                CreateCallOutcome::Rejected {
                    retryable: true,
                    ..
                }
            ),
            "{status}"
        );
    }
    for status in [500, 502, 504, 408, 409] {
        let body = include_str!("../../tests/fixtures/error_500.json");
        assert!(
            matches!(
                outcome(status, body),
                CreateCallOutcome::Indeterminate { .. }
            ),
            "{status}"
        );
    }
    // A 2xx that is not a call: Retell may have placed it.
    for body in ["", "[]", r#"{"call_status":"registered"}"#, "<html>"] {
        assert!(
            matches!(outcome(201, body), CreateCallOutcome::Indeterminate { .. }),
            "{body}"
        );
    }
    // Bodies without a message still say something.
    let CreateCallOutcome::Rejected { message, .. } = outcome(400, "") else {
        panic!()
    };
    assert_eq!(message, "Retell answered HTTP 400");
    let CreateCallOutcome::Rejected { message, .. } = outcome(400, "plain text") else {
        panic!()
    };
    assert_eq!(message, "Retell answered HTTP 400: plain text");
}

#[test]
fn hangup_stops_the_call_by_its_id() {
    let provider = provider(json!({}));
    let sent = http(provider.build_hangup(&handle(Some("call/1 x"))).unwrap());
    assert_eq!(sent.method, Method::Post);
    assert_eq!(
        sent.url,
        "https://api.retellai.com/v2/stop-call/call%2F1%20x"
    );
    assert_eq!(sent.body, None);
    assert_eq!(
        sent.headers.get("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert!(matches!(
        provider.build_hangup(&handle(None)),
        Err(ProviderError::InvalidRequest(_))
    ));

    assert_eq!(
        provider.parse_hangup_response(&handle(Some("c")), &answer(204, "")),
        HangupOutcome::Accepted
    );
    let ended = provider.parse_hangup_response(
        &handle(Some("c")),
        &answer(422, r#"{"status":"error","message":"Call is not ongoing"}"#),
    );
    let HangupOutcome::Rejected { message } = ended else {
        panic!()
    };
    assert!(
        message.contains("may have ended already") && message.contains("Call is not ongoing"),
        "{message}"
    );
    let HangupOutcome::Rejected { message } =
        provider.parse_hangup_response(&handle(Some("c")), &answer(500, ""))
    else {
        panic!()
    };
    assert_eq!(message, "Retell answered HTTP 500");
}

#[test]
fn fetch_by_id_reads_the_whole_record() {
    let provider = provider(json!({}));
    let sent = http(
        provider
            .build_fetch_call(&handle(Some(RETELL_CALL_ID)))
            .unwrap(),
    );
    assert_eq!(sent.method, Method::Get);
    assert_eq!(
        sent.url,
        format!("https://api.retellai.com/v2/get-call/{RETELL_CALL_ID}")
    );
    assert_eq!(sent.body, None);

    let events = provider
        .parse_fetch_call_response(&handle(Some(RETELL_CALL_ID)), &answer(200, ENDED))
        .unwrap();
    let details = details(&events);
    assert_eq!(details.provider_call_id.as_deref(), Some(RETELL_CALL_ID));
    assert_eq!(
        details.cost.map(|c| (c.amount, c.unit)),
        Some((0.126, CostUnit::Usd))
    );
    assert_eq!(
        details.summary.as_deref(),
        Some("Ada confirmed her Monday 9:00 appointment.")
    );
    assert_eq!(
        details
            .telephony_ids
            .0
            .get("twilio_call_sid")
            .map(String::as_str),
        Some("CA0123456789abcdef0123456789abcdef")
    );
    assert_eq!(transcript(&events).map(<[_]>::len), Some(3));
    let status = status(&events).unwrap();
    assert_eq!(status.status, CallStatus::Completed);
    assert_eq!(status.vendor_status.as_deref(), Some("ended"));
    assert_eq!(status.reason.as_deref(), Some("user_hangup"));
}

#[test]
fn fetch_errors_are_vendor_errors() {
    let provider = provider(json!({}));
    let handle = handle(Some(RETELL_CALL_ID));
    let error = |status: u16, body: &str| {
        provider
            .parse_fetch_call_response(&handle, &answer(status, body))
            .unwrap_err()
    };
    assert!(matches!(
        error(422, include_str!("../../tests/fixtures/error_422.json")),
        ProviderError::Vendor {
            status: 422,
            retryable: false,
            ..
        }
    ));
    assert!(matches!(
        error(429, "{}"),
        ProviderError::Vendor {
            retryable: true,
            ..
        }
    ));
    assert!(matches!(
        error(500, "{}"),
        ProviderError::Vendor {
            retryable: true,
            ..
        }
    ));
    assert!(matches!(
        error(200, "not json"),
        ProviderError::Vendor {
            retryable: true,
            ..
        }
    ));
    let other = edited(ENDED, |v| v["call_id"] = json!("call_other"));
    assert!(matches!(
        error(200, &other),
        ProviderError::Vendor {
            retryable: false,
            ..
        }
    ));
}

#[test]
fn a_call_without_retell_id_is_found_by_the_gateway_id() {
    let provider = provider(json!({}));
    let sent = http(provider.build_fetch_call(&handle(None)).unwrap());
    assert_eq!(sent.method, Method::Post);
    assert_eq!(sent.url, "https://api.retellai.com/v3/list-calls");
    assert_eq!(
        body(&sent),
        json!({"filter_criteria": {"metadata": [{"key": "gateway_call_id", "type": "string",
            "op": "eq", "value": CALL_ID}]}, "limit": 10})
    );
    let events = provider
        .parse_fetch_call_response(&handle(None), &answer(200, LISTED))
        .unwrap();
    assert_eq!(
        details(&events).provider_call_id.as_deref(),
        Some(RETELL_CALL_ID)
    );
    // Only the id: the fetch by id that follows reads the whole call.
    assert_eq!(events.len(), 1);
    assert_eq!(status(&events), None);
    // A bare array is read too.
    let items = fixture(LISTED)["items"].to_string();
    assert!(
        provider
            .parse_fetch_call_response(&handle(None), &answer(200, &items))
            .is_ok()
    );
    // Another call's item, or none: not found yet.
    let others = edited(LISTED, |v| {
        v["items"][0]["metadata"]["gateway_call_id"] = json!("0190f6c2-0000-7000-8000-000000000000")
    });
    for body in [others.as_str(), r#"{"items":[],"has_more":false}"#, "{}"] {
        let error = provider
            .parse_fetch_call_response(&handle(None), &answer(200, body))
            .unwrap_err();
        assert!(
            matches!(error, ProviderError::Vendor { retryable: true, ref message, .. } if message.contains(CALL_ID)),
            "{error}"
        );
    }
}
