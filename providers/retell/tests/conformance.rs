//! The Retell provider passes the conformance suite every provider must pass.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use plugin_api::conformance::{Samples, Subject};
use plugin_api::{Headers, HttpResponse};
use retell_provider::{RetellFactory, SIGNATURE_HEADER, signature_header};
use serde_json::json;

const API_KEY: &str = "key_conformance";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn response(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: Headers::new().with("content-type", "application/json"),
        body: body.as_bytes().to_vec(),
    }
}

fn subject() -> Subject<'static> {
    let body = include_bytes!("fixtures/webhook_call_analyzed.json").to_vec();
    let unsigned = Headers::new().with("content-type", "application/json");
    let signed = unsigned.clone().with(
        SIGNATURE_HEADER,
        signature_header(API_KEY, &body, now().timestamp_millis()),
    );
    Subject {
        factory: &RetellFactory,
        valid_config: json!({"api_key": API_KEY, "from_number": "+14157774444"}),
        invalid_config: json!({"api_key": 42, "from_number": "pn_1", "ring_duration_ms": 1}),
        samples: Samples {
            now: now(),
            success_response: response(201, include_str!("fixtures/create_call_response.json")),
            error_response: response(400, include_str!("fixtures/error_400.json")),
            signed_webhook: Some((None, signed, body)),
            unsigned_headers: unsigned,
        },
    }
}

// One test per check of the suite, named after it.
plugin_api::conformance_tests!(subject());
