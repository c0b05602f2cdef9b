//! The echo provider passes the conformance suite every provider must pass.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use echo_provider::{EchoFactory, SIGNATURE_HEADER, webhook};
use plugin_api::conformance::{self, Samples, Subject};
use plugin_api::{Environment, Headers, HttpResponse, Outbound, ProviderContext, ProviderFactory};
use serde_json::{Value, json};

const SECRET: &str = "echo-conformance-secret";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn valid_config() -> Value {
    // With a secret, echo signs its webhooks and refuses unsigned ones.
    json!({"webhook_secret": SECRET, "turn_interval_ms": 100})
}

/// Echo answers itself: its success sample is its own local answer to the suite's request.
fn local_answer() -> HttpResponse {
    let context = ProviderContext {
        name: conformance::INSTANCE_NAME.into(),
        environment: Environment::Development,
        config_dir: None,
    };
    let echo = EchoFactory
        .validate_config(&context, &valid_config())
        .unwrap();
    let request = conformance::call_request(now()).unwrap();
    match echo.build_create_call(&request).unwrap() {
        Outbound::Local(local) => local.response,
        Outbound::Http(_) => panic!("echo never uses the network"),
    }
}

fn subject() -> Subject<'static> {
    let body = json!({
        "event_id": "evt-conformance-1",
        "call_id": conformance::call_id().to_string(),
        "status": "ringing",
    })
    .to_string()
    .into_bytes();
    let unsigned = Headers::new().with("content-type", "application/json");
    let signed = unsigned.clone().with(
        SIGNATURE_HEADER,
        webhook::sign(SECRET, now().timestamp(), &body),
    );
    Subject {
        factory: &EchoFactory,
        valid_config: valid_config(),
        invalid_config: json!({"turn_interval_ms": -1, "colour": "blue"}),
        samples: Samples {
            now: now(),
            success_response: local_answer(),
            error_response: HttpResponse::json(500, &json!({"error": "echo is down"})),
            signed_webhook: Some((None, signed, body)),
            unsigned_headers: unsigned,
        },
    }
}

// One test per check of the suite, named after it.
plugin_api::conformance_tests!(subject());
