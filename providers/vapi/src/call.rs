//! Outbound requests: placing a call, hanging it up, fetching it; and reading the answers.

use plugin_api::{
    Acceptance, CallEvent, CallHandle, CallRequest, CallStatus, CreateCallOutcome, HangupOutcome,
    Headers, HttpRequest, HttpResponse, Method, ProviderError,
};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::control::ControlUrl;
use crate::record::{self, Record};
use crate::status;
use plugin_api::http::path_segment;
use plugin_api::json::{Object, QUOTED_CHARS, object, text, truncate};

/// The `assistantOverrides.metadata` key carrying the gateway's call id to VAPI and back.
pub const GATEWAY_CALL_ID_KEY: &str = "gateway_call_id";
/// The server message type asking for final transcripts only.
pub const FINAL_TRANSCRIPT_MESSAGE: &str = r#"transcript[transcriptType="final"]"#;
/// The body that ends a live call through its control URL.
pub const END_CALL_BODY: &str = r#"{"type":"end-call"}"#;

/// `Some(s)` unless `s` is blank.
fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|s| !s.is_empty())
}

fn bearer(config: &Config) -> String {
    format!("Bearer {}", config.api_key.expose())
}

/// The server messages each call asks for.
fn server_messages(config: &Config) -> Vec<&'static str> {
    let mut messages = vec!["status-update", "end-of-call-report", "hang"];
    if config.live_transcripts {
        messages.push(FINAL_TRANSCRIPT_MESSAGE);
    }
    messages
}

/// `POST {base_url}/call` for `request`. See the crate docs for the body.
pub(crate) fn build_create_call(
    config: &Config,
    request: &CallRequest,
) -> Result<HttpRequest, ProviderError> {
    let assistant_id = set(request.agent_id.as_deref()).unwrap_or(&config.assistant_id);
    let phone_number_id = set(request.from_number_id.as_deref())
        .or(config.phone_number_id.as_deref())
        .ok_or_else(|| {
            ProviderError::InvalidRequest(
                "no VAPI phone number: pass from_number_id or set phone_number_id in the \
                 provider config"
                    .to_owned(),
            )
        })?;
    let mut metadata = request.metadata.clone();
    // Set last, so a client's own `gateway_call_id` can never misdirect the call's messages.
    metadata.insert(
        GATEWAY_CALL_ID_KEY.to_owned(),
        Value::String(request.call_id.to_string()),
    );
    let mut overrides = Map::new();
    if !request.variables.is_empty() {
        overrides.insert(
            "variableValues".to_owned(),
            Value::Object(request.variables.clone()),
        );
    }
    overrides.insert("metadata".to_owned(), Value::Object(metadata));
    overrides.insert("serverMessages".to_owned(), json!(server_messages(config)));
    if let Some(first_message) = set(request.first_message.as_deref()) {
        overrides.insert("firstMessage".to_owned(), json!(first_message));
    }
    if let Some(url) = &config.server_url {
        overrides.insert("server".to_owned(), json!({ "url": url }));
    }
    let body = json!({
        "assistantId": assistant_id,
        "phoneNumberId": phone_number_id,
        "customer": {"number": request.to.as_str()},
        "assistantOverrides": overrides,
    });
    Ok(
        HttpRequest::post_json(format!("{}/call", config.base_url), &body)
            .header("authorization", bearer(config)),
    )
}

/// VAPI's explanation of an error answer: `message` (a string or a list of strings, joined),
/// with `error` (e.g. `Bad Request`) when it adds something; else the start of the body.
pub(crate) fn vendor_message(body: &[u8]) -> Option<String> {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return plugin_api::json::quoted_text(body);
    };
    let object = parsed.as_object();
    let message = match object.and_then(|o| o.get("message")) {
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|item| match item {
                    Value::String(s) => Some(s.trim().to_owned()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                })
                .filter(|s| !s.is_empty())
                .collect();
            Some(parts.join("; "))
        }
        _ => None,
    }
    .filter(|m| !m.is_empty());
    let error = text(object, "error").map(str::trim);
    let text = match (error, message) {
        (Some(error), Some(message)) if error != message => format!("{error}: {message}"),
        (_, Some(message)) => message,
        (Some(error), None) => error.to_owned(),
        (None, None) => {
            let raw = parsed.to_string();
            if raw == "{}" || raw == "null" {
                return None;
            }
            raw
        }
    };
    Some(truncate(&text, QUOTED_CHARS))
}

/// `VAPI answered HTTP <status>[: <vendor message>]`.
fn answered(response: &HttpResponse) -> String {
    plugin_api::json::answered("VAPI", response.status, vendor_message(&response.body))
}

/// Reads the answer to `POST /call`. See the crate docs for the classes.
pub(crate) fn parse_create_call_response(response: &HttpResponse) -> CreateCallOutcome {
    if response.is_success() {
        return parse_created(response);
    }
    match response.status {
        // VAPI did not act: asking again later is safe.
        429 | 503 => CreateCallOutcome::Rejected {
            retryable: true,
            message: answered(response),
        },
        400..=499 => CreateCallOutcome::Rejected {
            retryable: false,
            message: answered(response),
        },
        // 500, 502, 504 and anything unexpected: VAPI may have placed the call.
        _ => CreateCallOutcome::Indeterminate {
            message: answered(response),
        },
    }
}

fn parse_created(response: &HttpResponse) -> CreateCallOutcome {
    let Ok(Value::Object(call)) = serde_json::from_slice::<Value>(&response.body) else {
        return CreateCallOutcome::Indeterminate {
            message: format!(
                "VAPI answered HTTP {} with a body that is not a JSON object",
                response.status
            ),
        };
    };
    let Some(id) = text(Some(&call), "id") else {
        return CreateCallOutcome::Indeterminate {
            message: format!("VAPI answered HTTP {} without a call id", response.status),
        };
    };
    CreateCallOutcome::Accepted(Acceptance {
        provider_call_id: Some(id.trim().to_owned()),
        telephony_ids: record::telephony_ids(Some(&call)),
        status: Some(accepted_status(&call)),
        provider_data: text(object(Some(&call), "monitor"), "controlUrl")
            .and_then(ControlUrl::new)
            .map(|url| url.to_provider_data()),
    })
}

/// The status of a just-created call: VAPI's `queued`/`scheduled` (and anything unknown) mean
/// the gateway's `initiating`.
fn accepted_status(call: &Object) -> CallStatus {
    let vapi_status = text(Some(call), "status").map(str::trim);
    let ended_reason = text(Some(call), "endedReason");
    match vapi_status.and_then(|s| status::from_vapi_status(s, ended_reason)) {
        None | Some(CallStatus::Queued) => CallStatus::Initiating,
        Some(other) => other,
    }
}

/// `POST <monitor.controlUrl>` with `{"type":"end-call"}`. The control URL is a capability URL
/// of the live call, so the API key is not sent to it.
/// Sent only to an `https` VAPI host or the configured API's origin (see
/// [`ControlUrl::allowed_for`]).
pub(crate) fn build_hangup(
    config: &Config,
    call: &CallHandle,
) -> Result<HttpRequest, ProviderError> {
    let control = ControlUrl::from_provider_data(call.provider_data.as_ref()).ok_or_else(|| {
        ProviderError::InvalidRequest(
            "this call has no VAPI control URL (VAPI's answer carried no monitor.controlUrl), \
             so it cannot be hung up through the gateway"
                .to_owned(),
        )
    })?;
    if !control.allowed_for(&config.base_url) {
        return Err(ProviderError::InvalidRequest(
            "this call's control URL is not on a VAPI host (https, *.vapi.ai) nor on the \
             configured base_url, so the gateway does not send the hang-up there"
                .to_owned(),
        ));
    }
    Ok(HttpRequest {
        method: Method::Post,
        url: control.expose().to_owned(),
        headers: Headers::new().with("content-type", "application/json"),
        body: Some(END_CALL_BODY.as_bytes().to_vec()),
    })
}

/// Any 2xx means VAPI took the end-call command; the status changes when VAPI reports the end.
pub(crate) fn parse_hangup_response(response: &HttpResponse) -> HangupOutcome {
    if response.is_success() {
        HangupOutcome::Accepted
    } else {
        HangupOutcome::Rejected {
            message: answered(response),
        }
    }
}

/// `GET {base_url}/call/{id}`.
pub(crate) fn build_fetch_call(
    config: &Config,
    call: &CallHandle,
) -> Result<HttpRequest, ProviderError> {
    let id = set(call.provider_call_id.as_deref()).ok_or_else(|| {
        ProviderError::InvalidRequest("the call has no VAPI call id to fetch".to_owned())
    })?;
    Ok(HttpRequest {
        method: Method::Get,
        url: format!("{}/call/{}", config.base_url, path_segment(id)),
        headers: Headers::new()
            .with("authorization", bearer(config))
            .with("accept", "application/json"),
        body: None,
    })
}

/// Reads a fetched `Call` into the events its end-of-call report gives (see [`record`]).
pub(crate) fn parse_fetch_call_response(
    call: &CallHandle,
    response: &HttpResponse,
) -> Result<Vec<CallEvent>, ProviderError> {
    if !response.is_success() {
        return Err(ProviderError::Vendor {
            status: response.status,
            retryable: response.status == 429 || response.status >= 500,
            message: answered(response),
        });
    }
    let Ok(Value::Object(fetched)) = serde_json::from_slice::<Value>(&response.body) else {
        return Err(ProviderError::Vendor {
            status: response.status,
            retryable: true,
            message: format!(
                "VAPI answered HTTP {} with a body that is not a JSON object",
                response.status
            ),
        });
    };
    let expected = set(call.provider_call_id.as_deref());
    if let Some(id) = text(Some(&fetched), "id").map(str::trim) {
        if Some(id) != expected {
            return Err(ProviderError::Vendor {
                status: response.status,
                retryable: false,
                message: format!("VAPI answered with call '{id}', not the one asked for"),
            });
        }
    }
    let vapi_status = text(Some(&fetched), "status").map(str::trim);
    let mut events = record::events(
        Record {
            source: &fetched,
            call: Some(&fetched),
        },
        vapi_status,
        None,
    );
    if let Some(CallEvent::Details(details)) = events.first_mut() {
        if details.provider_call_id.is_none() {
            details.provider_call_id = expected.map(str::to_owned);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
