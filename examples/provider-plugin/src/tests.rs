//! Unit tests: the provider is a pure translator, tested from recorded payloads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use plugin_api::{CallId, Environment, Headers, Method, PhoneNumber};
use serde_json::Map;

const SECRET: &str = "acme-secret";

fn context() -> ProviderContext {
    ProviderContext {
        name: "acme".into(),
        environment: Environment::Production,
        config_dir: None,
    }
}

fn acme(config: Value) -> Box<dyn Provider> {
    AcmeFactory
        .validate_config(&context(), &config)
        .unwrap_or_else(|problems| panic!("refused: {problems:?}"))
}

fn configured() -> Box<dyn Provider> {
    acme(json!({"api_key": "k-1", "webhook_secret": SECRET, "base_url": "http://acme.test/"}))
}

fn request() -> CallRequest {
    CallRequest {
        call_id: CallId::new(),
        to: PhoneNumber::parse("+14155550123").unwrap(),
        agent_id: None,
        from_number_id: None,
        variables: json!({"customer_name": "Ada"}).as_object().unwrap().clone(),
        metadata: Map::new(),
        first_message: None,
        created_at: Utc::now(),
    }
}

fn problems(config: Value) -> Vec<(String, String)> {
    match AcmeFactory.validate_config(&context(), &config) {
        Ok(_) => panic!("accepted {config}"),
        Err(problems) => problems.into_iter().map(|p| (p.key, p.message)).collect(),
    }
}

#[test]
fn config_lists_every_problem() {
    let mut found = problems(json!({"base_url": "ftp://x", "webhook_secret": 7, "colour": "blue"}));
    found.sort();
    let expected = [
        ("api_key", "missing: Acme's API key"),
        ("base_url", "must be an http(s) URL"),
        ("colour", "unknown key"),
        ("webhook_secret", "must be a non-empty string"),
    ];
    assert_eq!(found, expected.map(|(k, m)| (k.to_owned(), m.to_owned())));
    assert_eq!(problems(json!({"api_key": ""}))[0].0, "api_key");
    assert_eq!(
        problems(json!({"api_key": "k", "base_url": "https://"}))[0].0,
        "base_url"
    );
    assert_eq!(problems(json!([]))[0].1, "must be a table");
}

#[test]
fn base_url_has_a_default() {
    let default = acme(json!({"api_key": "k"}));
    let Outbound::Http(http) = default.build_create_call(&request()).unwrap() else {
        panic!("Acme is reached over HTTP");
    };
    assert_eq!(http.url, format!("{DEFAULT_BASE_URL}/v1/dial"));
}

#[test]
fn manifest_lists_the_keys_and_secrets() {
    let manifest = AcmeFactory.manifest();
    assert_eq!(manifest.kind, "acme");
    let secrets: Vec<_> = manifest
        .config_keys
        .iter()
        .filter(|k| k.secret)
        .map(|k| &k.name)
        .collect();
    assert_eq!(secrets, ["api_key", "webhook_secret"]);
    assert!(
        manifest
            .config_keys
            .iter()
            .any(|k| k.name == "api_key" && k.required)
    );
    assert_eq!(configured().manifest(), manifest);
}

#[test]
fn create_call_is_the_documented_request() {
    let request = request();
    let Outbound::Http(http) = configured().build_create_call(&request).unwrap() else {
        panic!("Acme is reached over HTTP");
    };
    assert_eq!(http.method, Method::Post);
    assert_eq!(http.url, "http://acme.test/v1/dial");
    assert_eq!(http.headers.get("authorization"), Some("Bearer k-1"));
    assert_eq!(http.headers.get("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&http.body.unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "phone": "+14155550123",
            "reference": request.call_id.to_string(),
            "variables": {"customer_name": "Ada"},
        })
    );
}

#[test]
fn create_call_answers() {
    let acme = configured();
    let outcome = |status, body: Value| {
        acme.parse_create_call_response(&request(), &HttpResponse::json(status, &body))
    };
    let CreateCallOutcome::Accepted(accepted) =
        outcome(201, json!({"dial_id": "d-1", "state": "ringing"}))
    else {
        panic!("not accepted");
    };
    assert_eq!(accepted.provider_call_id.as_deref(), Some("d-1"));
    // Whatever Acme's state, the call starts `initiating`: its webhooks move it on.
    assert_eq!(accepted.status, Some(CallStatus::Initiating));
    let CreateCallOutcome::Accepted(queued) = outcome(200, json!({"dial_id": "d-2"})) else {
        panic!("not accepted");
    };
    assert_eq!(queued.status, Some(CallStatus::Initiating));

    assert_eq!(
        outcome(429, json!({"error": "slow down"})),
        CreateCallOutcome::Rejected {
            retryable: true,
            message: "Acme answered HTTP 429: slow down".into()
        }
    );
    assert!(matches!(
        outcome(400, json!({"error": "bad phone"})),
        CreateCallOutcome::Rejected { retryable: false, message } if message.contains("bad phone")
    ));
    assert!(matches!(
        outcome(500, json!({})),
        CreateCallOutcome::Indeterminate { .. }
    ));
    assert!(matches!(
        outcome(200, json!({"id": "x"})),
        CreateCallOutcome::Indeterminate { .. }
    ));
    let garbage = HttpResponse {
        status: 200,
        headers: Headers::new(),
        body: b"<html>".to_vec(),
    };
    assert!(matches!(
        acme.parse_create_call_response(&request(), &garbage),
        CreateCallOutcome::Indeterminate { .. }
    ));
}

fn webhook_headers(body: &[u8]) -> Headers {
    Headers::new().with(SIGNATURE_HEADER, sign(SECRET, body))
}

fn verify(acme: &dyn Provider, headers: &Headers, body: &[u8]) -> Verification {
    let webhook = WebhookRequest {
        topic: None,
        headers,
        body,
    };
    acme.verify_webhook(&webhook, Utc::now())
}

#[test]
fn webhooks_are_verified_over_the_raw_body() {
    let acme = configured();
    let body = br#"{"event_id":"e-1","dial_id":"d-1","state":"ringing"}"#;
    assert_eq!(
        verify(&*acme, &webhook_headers(body), body),
        Verification::Verified
    );
    let upper = Headers::new().with("X-Acme-Signature", sign(SECRET, body).to_uppercase());
    assert_eq!(verify(&*acme, &upper, body), Verification::Verified);

    let tampered = br#"{"event_id":"e-1","dial_id":"d-2","state":"ringing"}"#;
    assert!(matches!(
        verify(&*acme, &webhook_headers(body), tampered),
        Verification::Rejected(_)
    ));
    let wrong_key = Headers::new().with(SIGNATURE_HEADER, sign("other", body));
    assert!(matches!(
        verify(&*acme, &wrong_key, body),
        Verification::Rejected(_)
    ));
    let not_hex = Headers::new().with(SIGNATURE_HEADER, "zz");
    assert!(matches!(
        verify(&*acme, &not_hex, body),
        Verification::Rejected(_)
    ));
    assert_eq!(
        verify(&*acme, &Headers::new(), body),
        Verification::Rejected("missing x-acme-signature".into())
    );
    let open = acme_without_secret();
    assert!(matches!(
        verify(&*open, &webhook_headers(body), body),
        Verification::Rejected(_)
    ));
}

fn acme_without_secret() -> Box<dyn Provider> {
    acme(json!({"api_key": "k"}))
}

fn parse(body: Value) -> Result<ParsedWebhook, WebhookError> {
    let headers = Headers::new();
    let body = body.to_string();
    configured().parse_webhook(&WebhookRequest {
        topic: None,
        headers: &headers,
        body: body.as_bytes(),
    })
}

fn status(parsed: &ParsedWebhook) -> CallStatus {
    match parsed.events.last() {
        Some(CallEvent::Status(update)) => update.status,
        other => panic!("the last event is not a status: {other:?}"),
    }
}

#[test]
fn webhooks_become_normalized_events() {
    let id = CallId::new();
    let ringing =
        parse(json!({"event_id": "e-1", "dial_id": "d-1", "reference": id.to_string(), "state": "ringing"}))
            .unwrap();
    assert_eq!(ringing.event_type, "ringing");
    assert_eq!(ringing.dedupe_key.as_deref(), Some("e-1"));
    assert_eq!(ringing.correlation.gateway_call_id, Some(id));
    assert_eq!(ringing.correlation.provider_call_id.as_deref(), Some("d-1"));
    assert_eq!(ringing.events.len(), 1);
    assert_eq!(status(&ringing), CallStatus::Ringing);

    let talking = parse(json!({
        "event_id": "e-2", "dial_id": "d-1", "state": "talking",
        "line": {"speaker": "customer", "text": "Hello?", "at": 1.5},
    }))
    .unwrap();
    assert_eq!(
        talking.events[0],
        CallEvent::Turn(Turn {
            key: Some("e-2".into()),
            speaker: Speaker::User,
            text: "Hello?".into(),
            offset_secs: Some(1.5),
            is_final: true,
            source: TranscriptSource::Live,
        })
    );
    assert_eq!(status(&talking), CallStatus::InProgress);

    let finished = parse(json!({
        "event_id": "e-3", "dial_id": "d-1", "state": "finished",
        "summary": "Booked.", "cost_usd": 0.42,
    }))
    .unwrap();
    let CallEvent::Details(details) = &finished.events[0] else {
        panic!("details first: {:?}", finished.events);
    };
    assert_eq!(details.summary.as_deref(), Some("Booked."));
    assert_eq!(
        details.cost,
        Some(Cost {
            amount: 0.42,
            unit: CostUnit::Usd
        })
    );
    assert_eq!(status(&finished), CallStatus::Completed);

    for (state, expected) in [
        ("failed", CallStatus::Failed),
        ("busy", CallStatus::Busy),
        ("unanswered", CallStatus::NoAnswer),
    ] {
        let parsed = parse(json!({"event_id": "e", "dial_id": "d", "state": state})).unwrap();
        let Some(CallEvent::Status(update)) = parsed.events.last() else {
            panic!("no status for {state}");
        };
        assert_eq!(
            (update.status, update.vendor_status.as_deref()),
            (expected, Some(state))
        );
    }
}

#[test]
fn bad_webhooks_are_malformed_never_a_panic() {
    for body in [
        json!({"dial_id": "d", "state": "ringing"}),
        json!({"event_id": "e", "dial_id": "d"}),
        json!({"event_id": "e", "dial_id": "d", "state": "dancing"}),
        json!({"event_id": "e", "reference": "not-a-uuid", "state": "ringing"}),
        json!({"event_id": "", "dial_id": "d", "state": "ringing"}),
        json!([1, 2]),
        json!(null),
    ] {
        assert!(
            matches!(parse(body.clone()), Err(WebhookError::Malformed(_))),
            "{body}"
        );
    }
    let headers = Headers::new();
    let topic = configured().parse_webhook(&WebhookRequest {
        topic: Some("extra"),
        headers: &headers,
        body: b"{}",
    });
    assert_eq!(topic, Err(WebhookError::UnknownTopic("extra".into())));
}
