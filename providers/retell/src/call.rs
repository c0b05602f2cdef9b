//! Outbound requests: placing a call, stopping it, fetching it (by Retell's id, or finding it by
//! the gateway's id); and reading the answers.

use plugin_api::http::path_segment;
use plugin_api::json::{Object, QUOTED_CHARS, text, truncate};
use plugin_api::{
    Acceptance, CallDetails, CallEvent, CallHandle, CallRequest, CallStatus, CreateCallOutcome,
    HangupOutcome, Headers, HttpRequest, HttpResponse, Method, PhoneNumber, ProviderError,
};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::record::{self, GATEWAY_CALL_ID_KEY};
use crate::status;

/// Where calls are placed.
pub const CREATE_PATH: &str = "/v2/create-phone-call";
/// Where a call is fetched: `{GET_PATH}/{call_id}`.
pub const GET_PATH: &str = "/v2/get-call";
/// Where a live call is ended: `{STOP_PATH}/{call_id}`.
pub const STOP_PATH: &str = "/v2/stop-call";
/// Where calls are searched (by the gateway's id in their metadata).
pub const LIST_PATH: &str = "/v3/list-calls";

/// `Some(s)` unless `s` is blank.
fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|s| !s.is_empty())
}

fn bearer(config: &Config) -> String {
    format!("Bearer {}", config.api_key.expose())
}

/// Retell's dynamic variables are strings: a string is sent as it is, anything else as its
/// JSON text (`3` → `"3"`, `true` → `"true"`); `null` is left out.
fn dynamic_variables(variables: &Map<String, Value>) -> Map<String, Value> {
    variables
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (name.clone(), Value::String(text))
        })
        .collect()
}

/// `POST {base_url}/v2/create-phone-call` for `request`. See the crate docs for the body.
pub(crate) fn build_create_call(
    config: &Config,
    request: &CallRequest,
) -> Result<HttpRequest, ProviderError> {
    if set(request.first_message.as_deref()).is_some() {
        return Err(ProviderError::InvalidRequest(
            "Retell takes no per-call first message: set the agent's begin message, or pass \
             the text as a variable the agent's prompt uses"
                .to_owned(),
        ));
    }
    let from_number = match set(request.from_number_id.as_deref()) {
        Some(number) => PhoneNumber::parse(number)
            .map(|n| n.as_str().to_owned())
            .map_err(|_| {
                ProviderError::InvalidRequest(
                    "from_number_id must be a Retell number in E.164 form, e.g. +14157774444"
                        .to_owned(),
                )
            })?,
        None => config.from_number.clone().ok_or_else(|| {
            ProviderError::InvalidRequest(
                "no Retell number to call from: pass from_number_id or set from_number in the \
                 provider config"
                    .to_owned(),
            )
        })?,
    };
    let call_id = request.call_id.to_string();
    let mut metadata = request.metadata.clone();
    // Set last, so a client's own `gateway_call_id` can never misdirect the call's webhooks.
    metadata.insert(
        GATEWAY_CALL_ID_KEY.to_owned(),
        Value::String(call_id.clone()),
    );
    let mut body = Map::new();
    body.insert("from_number".to_owned(), json!(from_number));
    body.insert("to_number".to_owned(), json!(request.to.as_str()));
    if let Some(agent) = set(request.agent_id.as_deref()).or(config.agent_id.as_deref()) {
        body.insert("override_agent_id".to_owned(), json!(agent));
    }
    if !request.variables.is_empty() {
        body.insert(
            "retell_llm_dynamic_variables".to_owned(),
            Value::Object(dynamic_variables(&request.variables)),
        );
    }
    body.insert("metadata".to_owned(), Value::Object(metadata));
    // Retell creates no second call for a key it saw within the hour: retries are safe.
    body.insert("idempotency_key".to_owned(), json!(call_id));
    let mut agent = Map::new();
    if let Some(url) = &config.webhook_url {
        agent.insert("webhook_url".to_owned(), json!(url));
    }
    if let Some(ms) = config.ring_duration_ms {
        agent.insert("ring_duration_ms".to_owned(), json!(ms));
    }
    if let Some(ms) = config.max_call_duration_ms {
        agent.insert("max_call_duration_ms".to_owned(), json!(ms));
    }
    if !agent.is_empty() {
        body.insert("agent_override".to_owned(), json!({ "agent": agent }));
    }
    Ok(HttpRequest::post_json(
        format!("{}{CREATE_PATH}", config.base_url),
        &Value::Object(body),
    )
    .header("authorization", bearer(config)))
}

/// Retell's explanation of an error answer: `message` (with `error` when it adds something),
/// else the start of the body.
pub(crate) fn vendor_message(body: &[u8]) -> Option<String> {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return plugin_api::json::quoted_text(body);
    };
    let object = parsed.as_object();
    let message = text(object, "message").map(str::trim);
    let error = text(object, "error").map(str::trim);
    let text = match (error, message) {
        (Some(error), Some(message)) if error != message => format!("{error}: {message}"),
        (_, Some(message)) => message.to_owned(),
        (Some(error), None) => error.to_owned(),
        (None, None) => {
            let raw = parsed.to_string();
            if raw == "{}" || raw == "null" || raw == "\"\"" {
                return None;
            }
            raw
        }
    };
    Some(truncate(&text, QUOTED_CHARS))
}

/// `Retell answered HTTP <status>[: <vendor message>]`.
fn answered(response: &HttpResponse) -> String {
    plugin_api::json::answered("Retell", response.status, vendor_message(&response.body))
}

/// Reads the answer to `POST /v2/create-phone-call`. See the crate docs for the classes.
pub(crate) fn parse_create_call_response(response: &HttpResponse) -> CreateCallOutcome {
    if response.is_success() {
        return parse_created(response);
    }
    match response.status {
        // Retell did not act: asking again later is safe.
        429 | 503 => CreateCallOutcome::Rejected {
            retryable: true,
            message: answered(response),
        },
        // A request timeout or a conflict may mean Retell is still working on the key.
        408 | 409 => CreateCallOutcome::Indeterminate {
            message: answered(response),
        },
        400..=499 => CreateCallOutcome::Rejected {
            retryable: false,
            message: answered(response),
        },
        // 500, 502, 504 and anything unexpected: Retell may have placed the call.
        _ => CreateCallOutcome::Indeterminate {
            message: answered(response),
        },
    }
}

fn parse_created(response: &HttpResponse) -> CreateCallOutcome {
    let Ok(Value::Object(call)) = serde_json::from_slice::<Value>(&response.body) else {
        return CreateCallOutcome::Indeterminate {
            message: format!(
                "Retell answered HTTP {} with a body that is not a JSON object",
                response.status
            ),
        };
    };
    let Some(id) = record::call_id(Some(&call)) else {
        return CreateCallOutcome::Indeterminate {
            message: format!("Retell answered HTTP {} without a call_id", response.status),
        };
    };
    CreateCallOutcome::Accepted(Acceptance {
        provider_call_id: Some(id.to_owned()),
        telephony_ids: record::telephony_ids(Some(&call)),
        status: Some(accepted_status(&call)),
        provider_data: None,
    })
}

/// The status of a just-created call: `registered` (and anything unknown) is `initiating`.
fn accepted_status(call: &Object) -> CallStatus {
    let retell_status = text(Some(call), "call_status").map(str::trim);
    let reason = record::reason(Some(call));
    match retell_status.and_then(|s| status::from_retell(s, reason)) {
        None | Some(CallStatus::Queued) => CallStatus::Initiating,
        Some(other) => other,
    }
}

fn vendor_id(call: &CallHandle, what: &str) -> Result<String, ProviderError> {
    set(call.provider_call_id.as_deref())
        .map(str::to_owned)
        .ok_or_else(|| {
            ProviderError::InvalidRequest(format!("the call has no Retell call id to {what}"))
        })
}

/// `POST {base_url}/v2/stop-call/{call_id}`, no body.
pub(crate) fn build_hangup(
    config: &Config,
    call: &CallHandle,
) -> Result<HttpRequest, ProviderError> {
    let id = vendor_id(call, "stop")?;
    Ok(HttpRequest {
        method: Method::Post,
        url: format!("{}{STOP_PATH}/{}", config.base_url, path_segment(&id)),
        headers: Headers::new().with("authorization", bearer(config)),
        body: None,
    })
}

/// 204 (any 2xx) means Retell is ending the call; the status changes when its `call_ended`
/// arrives. A 4xx for a call Retell holds no longer live is explained as such.
pub(crate) fn parse_hangup_response(response: &HttpResponse) -> HangupOutcome {
    if response.is_success() {
        return HangupOutcome::Accepted;
    }
    let message = match response.status {
        400 | 404 | 409 | 422 => format!(
            "Retell did not stop the call, which may have ended already (refresh it to see how): \
             {}",
            answered(response)
        ),
        _ => answered(response),
    };
    HangupOutcome::Rejected { message }
}

/// `GET {base_url}/v2/get-call/{call_id}`; for a call whose create answer never came,
/// `POST {base_url}/v3/list-calls` filtered by `metadata.gateway_call_id`.
pub(crate) fn build_fetch_call(config: &Config, call: &CallHandle) -> HttpRequest {
    match set(call.provider_call_id.as_deref()) {
        Some(id) => HttpRequest {
            method: Method::Get,
            url: format!("{}{GET_PATH}/{}", config.base_url, path_segment(id)),
            headers: Headers::new()
                .with("authorization", bearer(config))
                .with("accept", "application/json"),
            body: None,
        },
        None => HttpRequest::post_json(
            format!("{}{LIST_PATH}", config.base_url),
            &list_calls_body(call),
        )
        .header("authorization", bearer(config))
        .header("accept", "application/json"),
    }
}

/// The search for the gateway's call in Retell's call list.
pub(crate) fn list_calls_body(call: &CallHandle) -> Value {
    json!({
        "filter_criteria": {"metadata": [{
            "key": GATEWAY_CALL_ID_KEY, "type": "string", "op": "eq",
            "value": call.call_id.to_string(),
        }]},
        "limit": 10,
    })
}

fn vendor_error(response: &HttpResponse, retryable: bool, message: String) -> ProviderError {
    ProviderError::Vendor {
        status: response.status,
        retryable,
        message,
    }
}

/// Reads a fetched call into events (see [`record`]); from the call list searched for it, only
/// the Retell id (list items carry no transcript).
pub(crate) fn parse_fetch_call_response(
    call: &CallHandle,
    response: &HttpResponse,
) -> Result<Vec<CallEvent>, ProviderError> {
    if !response.is_success() {
        let retryable = response.status == 429 || response.status >= 500;
        return Err(vendor_error(response, retryable, answered(response)));
    }
    let not_json = || {
        vendor_error(
            response,
            true,
            format!(
                "Retell answered HTTP {} with a body that is not the expected JSON",
                response.status
            ),
        )
    };
    let parsed: Value = serde_json::from_slice(&response.body).map_err(|_| not_json())?;
    let expected = set(call.provider_call_id.as_deref());
    let fetched = match expected {
        Some(expected) => {
            let fetched = parsed.as_object().ok_or_else(not_json)?;
            if let Some(id) = record::call_id(Some(fetched)) {
                if id != expected {
                    return Err(vendor_error(
                        response,
                        false,
                        format!("Retell answered with call '{id}', not the one asked for"),
                    ));
                }
            }
            fetched
        }
        None => found_in_list(call, &parsed).ok_or_else(|| {
            vendor_error(
                response,
                true,
                format!(
                    "Retell lists no call with metadata.gateway_call_id = {} (yet)",
                    call.call_id
                ),
            )
        })?,
    };
    if expected.is_none() {
        // A list item is a slim call (no transcript): it gives the Retell id, and the fetch by
        // that id that follows gives the rest.
        return Ok(vec![CallEvent::Details(CallDetails {
            provider_call_id: record::call_id(Some(fetched)).map(str::to_owned),
            telephony_ids: record::telephony_ids(Some(fetched)),
            ..CallDetails::default()
        })]);
    }
    let mut events = record::events(Some(fetched), None);
    if let Some(CallEvent::Details(details)) = events.first_mut() {
        if details.provider_call_id.is_none() {
            details.provider_call_id = expected.map(str::to_owned);
        }
    }
    Ok(events)
}

/// The item of a list-calls answer (`{"items": [...]}`, or a bare array) that is the gateway's
/// call: the one whose metadata names it.
fn found_in_list<'a>(call: &CallHandle, parsed: &'a Value) -> Option<&'a Object> {
    let items = match parsed {
        Value::Array(items) => items.as_slice(),
        Value::Object(list) => list.get("items").and_then(Value::as_array)?.as_slice(),
        _ => return None,
    };
    items.iter().filter_map(Value::as_object).find(|item| {
        record::gateway_call_id(Some(item)) == Some(call.call_id)
            && record::call_id(Some(item)).is_some()
    })
}

#[cfg(test)]
mod tests;
