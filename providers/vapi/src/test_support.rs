//! Shared helpers of the unit tests.

use chrono::{DateTime, Utc};
use plugin_api::{
    CallDetails, CallEvent, CallHandle, CallId, CallRequest, CallStatus, Environment, Headers,
    HttpRequest, HttpResponse, Outbound, ParsedWebhook, PhoneNumber, Provider, ProviderContext,
    ProviderFactory, StatusUpdate, Turn, WebhookError, WebhookRequest,
};
use serde_json::{Map, Value, json};

use crate::VapiFactory;

/// The gateway call id the fixtures carry.
pub(crate) const CALL_ID: &str = "0190f6c2-8a1b-7c3d-9e4f-5a6b7c8d9e0f";
/// VAPI's call id in the fixtures.
pub(crate) const VAPI_CALL_ID: &str = "c2a8b1f0-1111-4c2e-9d35-2f6d3b7a9e01";
/// The control URL in the fixtures.
pub(crate) const CONTROL_URL: &str = "https://phone-call-websocket.aws-us-west-2-backend-production.vapi.ai/c2a8b1f0-1111-4c2e-9d35-2f6d3b7a9e01/control";
pub(crate) const API_KEY: &str = "vapi-private-test-key";
pub(crate) const WEBHOOK_SECRET: &str = "whsec_test_secret";

pub(crate) fn call_id() -> CallId {
    CALL_ID.parse().unwrap()
}

pub(crate) fn context(environment: Environment) -> ProviderContext {
    ProviderContext {
        name: "vapi".into(),
        environment,
        config_dir: None,
    }
}

pub(crate) fn base_config() -> Value {
    json!({
        "api_key": API_KEY,
        "assistant_id": "asst_123",
        "phone_number_id": "pn_456",
        "webhook_secret": WEBHOOK_SECRET,
    })
}

/// A provider built from `base_config()` with `overrides` applied (`null` removes a key).
pub(crate) fn provider(overrides: Value) -> Box<dyn Provider> {
    let mut config = base_config();
    if let (Some(config), Some(overrides)) = (config.as_object_mut(), overrides.as_object()) {
        for (key, value) in overrides {
            if value.is_null() {
                config.remove(key);
            } else {
                config.insert(key.clone(), value.clone());
            }
        }
    }
    VapiFactory
        .validate_config(&context(Environment::Development), &config)
        .unwrap()
}

pub(crate) fn request() -> CallRequest {
    let variables: Map<String, Value> =
        serde_json::from_value(json!({"customer_name": "Ada", "visits": 3})).unwrap();
    let metadata: Map<String, Value> =
        serde_json::from_value(json!({"driver_id": "drv-42"})).unwrap();
    CallRequest {
        call_id: call_id(),
        to: PhoneNumber::parse("+14155550123").unwrap(),
        agent_id: None,
        from_number_id: None,
        variables,
        metadata,
        first_message: None,
        created_at: Utc::now(),
    }
}

pub(crate) fn handle(provider_call_id: Option<&str>, provider_data: Option<Value>) -> CallHandle {
    CallHandle {
        call_id: call_id(),
        provider_call_id: provider_call_id.map(str::to_owned),
        telephony_ids: Default::default(),
        status: CallStatus::InProgress,
        provider_data,
    }
}

pub(crate) fn http(outbound: Outbound) -> HttpRequest {
    match outbound {
        Outbound::Http(request) => request,
        Outbound::Local(_) => panic!("vapi always uses the network"),
    }
}

pub(crate) fn answer(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: Default::default(),
        body: body.as_bytes().to_vec(),
    }
}

pub(crate) fn fixture(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap()
}

pub(crate) fn at_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap()
}

pub(crate) fn at_rfc3339(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .unwrap()
        .with_timezone(&Utc)
}

/// Parses a server message with no headers (parsing never looks at them).
pub(crate) fn parse(provider: &dyn Provider, body: &str) -> Result<ParsedWebhook, WebhookError> {
    let headers = Headers::new();
    provider.parse_webhook(&WebhookRequest {
        topic: None,
        headers: &headers,
        body: body.as_bytes(),
    })
}

pub(crate) fn details(events: &[CallEvent]) -> &CallDetails {
    events
        .iter()
        .find_map(|e| match e {
            CallEvent::Details(d) => Some(d),
            _ => None,
        })
        .unwrap()
}

pub(crate) fn status(events: &[CallEvent]) -> Option<&StatusUpdate> {
    events.iter().find_map(|e| match e {
        CallEvent::Status(s) => Some(s),
        _ => None,
    })
}

pub(crate) fn transcript(events: &[CallEvent]) -> Option<&[Turn]> {
    events.iter().find_map(|e| match e {
        CallEvent::Transcript { turns } => Some(turns.as_slice()),
        _ => None,
    })
}

/// Edits a fixture's JSON and serializes it back.
pub(crate) fn edited(fixture: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(fixture).unwrap();
    edit(&mut value);
    value.to_string()
}
