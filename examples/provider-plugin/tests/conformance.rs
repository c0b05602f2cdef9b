//! The example plugin passes the conformance suite every provider must pass (the gateway's
//! `plugin check` runs the same suite against the built library).

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use plugin_api::conformance::{self, Samples, Subject};
use plugin_api::{Headers, HttpResponse};
use serde_json::json;
use voice_gateway_example_plugin::{AcmeFactory, SIGNATURE_HEADER, sign};

const SECRET: &str = "acme-conformance-secret";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn subject() -> Subject<'static> {
    let body = json!({
        "event_id": "evt-conformance-1",
        "dial_id": "dial-1",
        "reference": conformance::call_id().to_string(),
        "state": "talking",
        "line": {"speaker": "agent", "text": "Hello Ada!", "at": 0.5},
    })
    .to_string()
    .into_bytes();
    let unsigned = Headers::new().with("content-type", "application/json");
    let signed = unsigned.clone().with(SIGNATURE_HEADER, sign(SECRET, &body));
    Subject {
        factory: &AcmeFactory,
        valid_config: json!({
            "api_key": "acme-key",
            "webhook_secret": SECRET,
            "base_url": "https://acme.test",
        }),
        invalid_config: json!({"api_key": 42, "base_url": "acme.test", "colour": "blue"}),
        samples: Samples {
            now: now(),
            success_response: HttpResponse::json(
                201,
                &json!({"dial_id": "dial-1", "state": "queued"}),
            ),
            error_response: HttpResponse::json(400, &json!({"error": "phone is not valid"})),
            signed_webhook: Some((None, signed, body)),
            unsigned_headers: unsigned,
        },
    }
}

// One test per check of the suite, named after it.
plugin_api::conformance_tests!(subject());
