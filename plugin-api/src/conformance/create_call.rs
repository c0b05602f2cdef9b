//! The checks of placing a call: the request the provider describes, and how it reads answers.

use chrono::TimeDelta;
use serde_json::Value;

use super::mutations::garbage_bodies;
use super::{Env, Outcome, build_create_call, finish, guarded, parse, parse_response};
use crate::http::{Headers, HttpRequest, HttpResponse};
use crate::ids::CallId;
use crate::provider::{CreateCallOutcome, Outbound, Verification, WebhookRequest};

const NOT_OUTBOUND: &str = "not applicable: the manifest declares no outbound_call capability";

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(super) fn check_url(url: &str) -> Result<String, String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL contains whitespace or control characters".to_owned());
    }
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err("the URL is not an absolute http(s):// URL".to_owned());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err("the URL has no host".to_owned());
    }
    Ok(format!("{scheme}://{host}"))
}

fn check_http_request(request: &HttpRequest) -> Outcome {
    let mut problems = Vec::new();
    let origin = match check_url(&request.url) {
        Ok(origin) => origin,
        Err(problem) => {
            problems.push(problem);
            String::new()
        }
    };
    for (name, value) in request.headers.iter() {
        if name.is_empty() || !name.bytes().all(is_token_char) {
            problems.push(format!("header name {name:?} is not an HTTP token"));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            problems.push(format!(
                "the value of header '{name}' contains CR, LF or NUL"
            ));
        }
    }
    let content_type = request.headers.get("content-type");
    if let Some(body) = &request.body {
        let json = content_type.is_none_or(|ct| ct.to_ascii_lowercase().contains("json"));
        if json {
            if let Err(e) = serde_json::from_slice::<Value>(body) {
                problems.push(format!(
                    "the body is not JSON ({e}); content-type {}",
                    content_type.unwrap_or("not set")
                ));
            }
        }
    }
    finish(problems, || {
        format!(
            "{} {origin}, {} header(s), {}",
            serde_json::to_value(request.method)
                .ok()
                .and_then(|m| m.as_str().map(str::to_owned))
                .unwrap_or_default(),
            request.headers.0.len(),
            match &request.body {
                Some(body) => format!("{}-byte body", body.len()),
                None => "no body".to_owned(),
            }
        )
    })
}

pub(super) fn check_request_well_formed(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    match build_create_call(env)? {
        Outbound::Http(request) => check_http_request(&request),
        Outbound::Local(local) => {
            let mut problems = Vec::new();
            if !(100..=599).contains(&local.response.status) {
                problems.push(format!(
                    "the local answer has HTTP status {}",
                    local.response.status
                ));
            }
            match parse_response(env, &local.response)? {
                CreateCallOutcome::Accepted(_) => {}
                other => problems.push(format!(
                    "parse_create_call_response of its own local answer is not Accepted: {other:?}"
                )),
            }
            // A local provider's scheduled webhooks go through the same ingest pipeline as a
            // vendor's: each must pass verification at its delivery time and parse.
            for (index, hook) in local.scheduled_webhooks.iter().enumerate() {
                let at = TimeDelta::from_std(hook.delay)
                    .ok()
                    .and_then(|delay| env.request.created_at.checked_add_signed(delay))
                    .unwrap_or(env.request.created_at);
                let webhook = WebhookRequest {
                    topic: hook.topic.as_deref(),
                    headers: &hook.headers,
                    body: &hook.body,
                };
                match guarded(|| env.provider.verify_webhook(&webhook, at)) {
                    Err(panic) => {
                        problems.push(format!("scheduled webhook {index}: verify_webhook {panic}"))
                    }
                    Ok(Verification::Rejected(reason) | Verification::Error(reason)) => {
                        problems.push(format!("scheduled webhook {index} is refused: {reason}"))
                    }
                    Ok(_) => {}
                }
                if let Err(e) = parse(env, hook.topic.as_deref(), &hook.headers, &hook.body)? {
                    problems.push(format!("scheduled webhook {index} does not parse: {e}"));
                }
            }
            finish(problems, || {
                format!(
                    "local answer (HTTP {}) accepted; {} scheduled webhook(s) verify and parse",
                    local.response.status,
                    local.scheduled_webhooks.len()
                )
            })
        }
    }
}

pub(super) fn check_carries_call_id(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    let id = env.request.call_id.to_string();
    let contains = |bytes: &[u8]| String::from_utf8_lossy(bytes).contains(&id);
    match build_create_call(env)? {
        Outbound::Http(request) => {
            if request.url.contains(&id) {
                Ok("the URL carries the gateway call id".to_owned())
            } else if request.body.as_deref().is_some_and(contains) {
                Ok("the body carries the gateway call id".to_owned())
            } else {
                Err(format!(
                    "the gateway call id {id} is in neither the URL nor the body: the vendor's \
                     webhooks cannot be tied to the call before its own id is known"
                ))
            }
        }
        Outbound::Local(local) => {
            if contains(&local.response.body) {
                Ok("the local answer carries the gateway call id".to_owned())
            } else if local.scheduled_webhooks.iter().any(|h| contains(&h.body)) {
                Ok("the scheduled webhooks carry the gateway call id".to_owned())
            } else {
                Err(format!(
                    "the gateway call id {id} is in neither the local answer nor the scheduled \
                     webhooks"
                ))
            }
        }
    }
}

pub(super) fn check_create_call_deterministic(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    let first = build_create_call(env)?;
    let second = build_create_call(env)?;
    if first == second {
        Ok("building the same request twice gives equal results".to_owned())
    } else {
        Err("building the same request twice gives different results".to_owned())
    }
}

/// The gateway call id of the "another call" request of [`check_idempotency_key_stable`].
const OTHER_CALL_ID: uuid::Uuid = uuid::Uuid::from_u128(0x0190_f00d_c0de_7a11_8bad_c0ff_ee00_0002);

/// A provider declaring `idempotent_create` lets the gateway resend a create whose outcome is
/// unknown, trusting the vendor to deduplicate it by the key the request carries. So the request
/// must be the same each time it is built for a call (the same key: a resend is the same
/// request), and another call's request must differ and carry that call's id (a key per call,
/// derived from its id: one key for two calls would lose the second).
pub(super) fn check_idempotency_key_stable(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    if !env.idempotent_create {
        return Ok(
            "not applicable: the manifest declares no idempotent_create capability (creates of \
             unknown outcome are never resent)"
                .to_owned(),
        );
    }
    let first = build_create_call(env)?;
    let again = build_create_call(env)?;
    if first != again {
        return Err(
            "building the same call's create twice gives different requests: a resent create \
             would not carry the same idempotency key"
                .to_owned(),
        );
    }
    let mut other = env.request.clone();
    other.call_id = CallId::from_uuid(OTHER_CALL_ID);
    let other_id = other.call_id.to_string();
    let second = match guarded(|| env.provider.build_create_call(&other)) {
        Err(panic) => return Err(format!("build_create_call for another call {panic}")),
        Ok(Err(e)) => return Err(format!("build_create_call for another call failed: {e}")),
        Ok(Ok(outbound)) => outbound,
    };
    let carries = |outbound: &Outbound| match outbound {
        Outbound::Http(request) => {
            request.url.contains(&other_id)
                || request
                    .body
                    .as_deref()
                    .is_some_and(|b| String::from_utf8_lossy(b).contains(&other_id))
        }
        Outbound::Local(local) => String::from_utf8_lossy(&local.response.body).contains(&other_id),
    };
    if second == first {
        Err(
            "another call's create is the same request: the vendor would take it for a \
             resend of the first and place one call for two"
                .to_owned(),
        )
    } else if !carries(&second) {
        Err(format!(
            "another call's create does not carry its gateway call id {other_id}: the \
             idempotency key must be derived from the call id"
        ))
    } else {
        Ok(
            "the same call gives the same request; another call another one, carrying its id"
                .to_owned(),
        )
    }
}

pub(super) fn check_response_success(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    match parse_response(env, &env.subject.samples.success_response)? {
        CreateCallOutcome::Accepted(acceptance) => Ok(format!(
            "accepted, vendor call id {}",
            acceptance
                .provider_call_id
                .as_deref()
                .unwrap_or("not given")
        )),
        other => Err(format!("the success sample is not Accepted: {other:?}")),
    }
}

pub(super) fn check_response_vendor_error(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    let status = env.subject.samples.error_response.status;
    match parse_response(env, &env.subject.samples.error_response)? {
        CreateCallOutcome::Accepted(acceptance) => Err(format!(
            "the vendor error sample (HTTP {status}) is Accepted: {acceptance:?}"
        )),
        CreateCallOutcome::Rejected { message, .. }
        | CreateCallOutcome::Indeterminate { message }
            if message.trim().is_empty() =>
        {
            Err(format!(
                "the vendor error sample (HTTP {status}) gives an empty message"
            ))
        }
        CreateCallOutcome::Rejected { retryable, message } => Ok(format!(
            "HTTP {status} rejected (retryable: {retryable}): {message}"
        )),
        CreateCallOutcome::Indeterminate { message } => {
            Ok(format!("HTTP {status} indeterminate: {message}"))
        }
    }
}

pub(super) fn check_response_garbage(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    let mut bodies = garbage_bodies();
    let success = &env.subject.samples.success_response.body;
    bodies.push((
        "the success sample cut in half",
        success
            .get(..success.len() / 2)
            .unwrap_or_default()
            .to_vec(),
    ));
    let mut problems = Vec::new();
    let mut tried = 0;
    for status in [200, 500] {
        for (label, body) in &bodies {
            tried += 1;
            let response = HttpResponse {
                status,
                headers: Headers::new().with("content-type", "application/json"),
                body: body.clone(),
            };
            match parse_response(env, &response) {
                Err(panic) => problems.push(format!("HTTP {status} with {label}: {panic}")),
                Ok(CreateCallOutcome::Accepted(_)) if status >= 300 => {
                    problems.push(format!("HTTP {status} with {label} is Accepted"))
                }
                Ok(
                    CreateCallOutcome::Rejected { message, .. }
                    | CreateCallOutcome::Indeterminate { message },
                ) if message.trim().is_empty() => {
                    problems.push(format!("HTTP {status} with {label} gives an empty message"))
                }
                Ok(_) => {}
            }
        }
    }
    finish(problems, || {
        format!("{tried} garbage answers handled without a panic")
    })
}
