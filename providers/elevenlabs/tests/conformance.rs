//! The ElevenLabs provider passes the conformance suite every provider must pass.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use elevenlabs_provider::{ElevenLabsFactory, SIGNATURE_HEADER, signature_header};
use plugin_api::conformance::{Samples, Subject};
use plugin_api::{Headers, HttpResponse};
use serde_json::json;

const WEBHOOK_SECRET: &str = "wsec_conformance";

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
    // The post-call webhook: HMAC-signed over its body (the transcription tool's shared secret
    // does not cover the body, so it could not pass the tampered-body check).
    let body = include_bytes!("fixtures/webhook_post_call_transcription.json").to_vec();
    let unsigned = Headers::new().with("content-type", "application/json");
    let signed = unsigned.clone().with(
        SIGNATURE_HEADER,
        signature_header(WEBHOOK_SECRET, now().timestamp(), &body),
    );
    Subject {
        factory: &ElevenLabsFactory,
        valid_config: json!({
            "api_key": "xi-conformance-key",
            "agent_id": "agent_conformance",
            "agent_phone_number_id": "phnum_conformance",
            "webhook_secret": WEBHOOK_SECRET,
            "transcription_secret": "tsec_conformance",
        }),
        invalid_config: json!({
            "agent_id": "agent_conformance",
            "telephony": "pstn",
            "base_url": "not a url",
            "request_timeout_ms": -1,
        }),
        samples: Samples {
            now: now(),
            success_response: response(
                200,
                include_str!("fixtures/create_call_response_twilio.json"),
            ),
            error_response: response(401, include_str!("fixtures/create_call_response_401.json")),
            signed_webhook: Some((Some("post-call".to_owned()), signed, body)),
            unsigned_headers: unsigned,
        },
    }
}

// One test per check of the suite, named after it.
plugin_api::conformance_tests!(subject());
