//! Shared helpers of the unit tests.

use chrono::Utc;
use plugin_api::{
    CallDetails, CallEvent, CallHandle, CallId, CallRequest, CallStatus, Environment, Headers,
    HttpRequest, HttpResponse, Outbound, ParsedWebhook, PhoneNumber, Provider, ProviderContext,
    ProviderFactory, StatusUpdate, Turn, WebhookError, WebhookRequest,
};
use serde_json::{Map, Value, json};

use crate::RetellFactory;

/// The gateway call id the fixtures carry.
pub(crate) const CALL_ID: &str = "0190f6c2-8a1b-7c3d-9e4f-5a6b7c8d9e0f";
/// Retell's call id in the fixtures.
pub(crate) const RETELL_CALL_ID: &str = "call_a4441234567890777c4a4a123e6";
pub(crate) const API_KEY: &str = "key_test_retell_private";

pub(crate) fn call_id() -> CallId {
    CALL_ID.parse().unwrap()
}

pub(crate) fn context(environment: Environment) -> ProviderContext {
    ProviderContext {
        name: "retell".into(),
        environment,
        config_dir: None,
    }
}

pub(crate) fn base_config() -> Value {
    json!({"api_key": API_KEY, "from_number": "+14157774444"})
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
    RetellFactory
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
        status: CallStatus::InProgress,
        provider_data: None,
    }
}

pub(crate) fn http(outbound: Outbound) -> HttpRequest {
    match outbound {
        Outbound::Http(request) => request,
        Outbound::Local(_) => panic!("retell always uses the network"),
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

/// Parses a webhook with no headers (parsing never looks at them).
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
