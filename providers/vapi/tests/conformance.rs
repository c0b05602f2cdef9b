//! The VAPI provider passes the conformance suite every provider must pass.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use plugin_api::conformance::{Samples, Subject};
use plugin_api::{Headers, HttpResponse};
use serde_json::json;
use vapi_provider::{
    DEFAULT_SIGNATURE_HEADER, DEFAULT_TIMESTAMP_HEADER, VapiFactory, hmac_signature,
};

const WEBHOOK_SECRET: &str = "whsec_conformance";

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
    // `webhook_auth = "hmac"`: the one VAPI scheme that covers the body (a shared secret or a
    // bearer token could not pass the tampered-body check).
    let body = include_bytes!("fixtures/message_status_update_ringing.json").to_vec();
    let timestamp = now().timestamp().to_string();
    let unsigned = Headers::new()
        .with("content-type", "application/json")
        .with(DEFAULT_TIMESTAMP_HEADER, timestamp.clone());
    let signed = unsigned.clone().with(
        DEFAULT_SIGNATURE_HEADER,
        hmac_signature(WEBHOOK_SECRET, &timestamp, &body),
    );
    Subject {
        factory: &VapiFactory,
        valid_config: json!({
            "api_key": "vapi-conformance-key",
            "assistant_id": "asst_conformance",
            "phone_number_id": "pn_conformance",
            "webhook_auth": "hmac",
            "webhook_secret": WEBHOOK_SECRET,
        }),
        invalid_config: json!({
            "assistant_id": "asst_conformance",
            "webhook_auth": "carrier-pigeon",
            "request_timeout_ms": 0,
        }),
        samples: Samples {
            now: now(),
            success_response: response(201, include_str!("fixtures/call_response.json")),
            error_response: response(400, include_str!("fixtures/error_400_string.json")),
            signed_webhook: Some((None, signed, body)),
            unsigned_headers: unsigned,
        },
    }
}

// One test per check of the suite, named after it.
plugin_api::conformance_tests!(subject());
