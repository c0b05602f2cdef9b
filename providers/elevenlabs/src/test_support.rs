//! Shared helpers of the unit tests.

use chrono::{DateTime, Utc};
use plugin_api::{
    CallDetails, CallEvent, CallHandle, CallId, CallRequest, CallStatus, Environment, Headers,
    ParsedWebhook, PhoneNumber, Provider, ProviderContext, ProviderFactory, StatusUpdate, Turn,
    WebhookError, WebhookRequest,
};
use serde_json::{Map, Value, json};

use crate::ElevenLabsFactory;

/// The gateway call id the fixtures carry.
pub(crate) const CALL_ID: &str = "0190b9a4-7c1e-7b3a-9c2d-4e5f60718293";
/// The post-call webhook secret of the vendor's test vector.
pub(crate) const WEBHOOK_SECRET: &str = "wsec_test_secret";
pub(crate) const TRANSCRIPTION_SECRET: &str = "tsec_live_123";
pub(crate) const API_KEY: &str = "xi-test-key";

pub(crate) fn call_id() -> CallId {
    CALL_ID.parse().unwrap()
}

pub(crate) fn context(environment: Environment) -> ProviderContext {
    ProviderContext {
        name: "eleven".into(),
        environment,
        config_dir: None,
    }
}

pub(crate) fn base_config() -> Value {
    json!({
        "api_key": API_KEY,
        "agent_id": "agent_config_default",
        "agent_phone_number_id": "phnum_config_default",
        "webhook_secret": WEBHOOK_SECRET,
        "transcription_secret": TRANSCRIPTION_SECRET,
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
    ElevenLabsFactory
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

pub(crate) fn handle(provider_call_id: Option<&str>) -> CallHandle {
    CallHandle {
        call_id: call_id(),
        provider_call_id: provider_call_id.map(str::to_owned),
        telephony_ids: Default::default(),
        status: CallStatus::Initiating,
        provider_data: None,
    }
}

pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

/// Parses a webhook with no headers (parsing never looks at them).
pub(crate) fn parse(
    provider: &dyn Provider,
    topic: Option<&str>,
    body: &str,
) -> Result<ParsedWebhook, WebhookError> {
    let headers = Headers::new();
    provider.parse_webhook(&WebhookRequest {
        topic,
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

pub(crate) fn transcript(events: &[CallEvent]) -> &[Turn] {
    events
        .iter()
        .find_map(|e| match e {
            CallEvent::Transcript { turns } => Some(turns.as_slice()),
            _ => None,
        })
        .unwrap()
}

/// Edits a fixture's JSON and serializes it back.
pub(crate) fn edited(fixture: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(fixture).unwrap();
    edit(&mut value);
    value.to_string()
}
