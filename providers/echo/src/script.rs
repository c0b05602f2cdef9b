//! The scripted conversation echo plays, as a list of webhooks to deliver later.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use plugin_api::{CallHandle, CallRequest, CallStatus, Headers, ScheduledWebhook, Speaker};
use serde_json::Value;

use crate::webhook::{EchoTurn, EchoWebhook, SIGNATURE_HEADER, sign};

/// What the simulated caller says when the request gives no `echo_user_text` variable.
const DEFAULT_USER_TEXT: &str = "Hi! Could you repeat this back to me, please?";

/// One webhook of the script, `after` the call was accepted.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    after: Duration,
    hook: EchoWebhook,
}

/// How the scripted call ends, chosen by the variable `echo_outcome`.
enum Ending {
    Conversation,
    Early(CallStatus),
}

fn ending(request: &CallRequest) -> Ending {
    match request
        .variables
        .get("echo_outcome")
        .and_then(Value::as_str)
    {
        Some("busy") => Ending::Early(CallStatus::Busy),
        Some("no_answer") => Ending::Early(CallStatus::NoAnswer),
        Some("failed") => Ending::Early(CallStatus::Failed),
        _ => Ending::Conversation,
    }
}

fn text_variable<'a>(request: &'a CallRequest, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| request.variables.get(*name).and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty())
}

fn greeting(request: &CallRequest) -> String {
    if let Some(first) = request.first_message.as_deref().filter(|s| !s.is_empty()) {
        return first.to_owned();
    }
    let name = text_variable(request, &["customer_name", "name", "first_name"]).unwrap_or("there");
    format!("Hello {name}, this is the echo agent. Say anything and I will repeat it.")
}

fn turn(id: String, speaker: Speaker, text: String, offset: Duration) -> EchoTurn {
    EchoTurn {
        id: Some(id),
        speaker,
        text,
        offset_secs: Some(offset.as_secs_f64()),
        r#final: true,
    }
}

/// The steps of a call: ringing, answered, three turns, completed (or an early end).
pub(crate) fn conversation(request: &CallRequest, echo_id: &str, interval: Duration) -> Vec<Step> {
    let base = EchoWebhook {
        call_id: Some(request.call_id.to_string()),
        echo_call_id: Some(echo_id.to_owned()),
        ..EchoWebhook::default()
    };
    let at = |n: u32| interval * n;
    let step = |n: u32, name: &str, fill: &dyn Fn(&mut EchoWebhook)| {
        let mut hook = EchoWebhook {
            event_id: format!("{echo_id}:{name}"),
            timestamp: Some(request.created_at + delta(at(n))),
            ..base.clone()
        };
        fill(&mut hook);
        Step { after: at(n), hook }
    };
    let ringing = step(1, "ringing", &|h| h.status = Some(CallStatus::Ringing));
    if let Ending::Early(status) = ending(request) {
        let reason = format!("echo_outcome={}", status.as_str());
        let end = step(2, "ended", &|h| {
            h.status = Some(status);
            h.reason = Some(reason.clone());
            h.success = Some(false);
        });
        return vec![ringing, end];
    }

    let greeting = greeting(request);
    let user_text = text_variable(request, &["echo_user_text"])
        .unwrap_or(DEFAULT_USER_TEXT)
        .to_owned();
    let turns = [
        turn(
            format!("{echo_id}:turn-1"),
            Speaker::Agent,
            greeting,
            interval,
        ),
        turn(
            format!("{echo_id}:turn-2"),
            Speaker::User,
            user_text.clone(),
            at(2),
        ),
        turn(
            format!("{echo_id}:turn-3"),
            Speaker::Agent,
            format!("You said: {user_text}"),
            at(3),
        ),
    ];
    let talk_time = at(4);
    let name =
        text_variable(request, &["customer_name", "name", "first_name"]).unwrap_or("the caller");
    let mut steps = vec![
        ringing,
        step(2, "answered", &|h| h.status = Some(CallStatus::InProgress)),
    ];
    for (n, t) in (3..).zip(&turns) {
        steps.push(step(n, &format!("turn-{}", n - 2), &|h| {
            h.turn = Some(t.clone())
        }));
    }
    steps.push(step(6, "completed", &|h| {
        h.status = Some(CallStatus::Completed);
        h.reason = Some("agent_ended_call".to_owned());
        h.summary = Some(format!(
            "Echo call with {name}: the agent greeted, the caller spoke and the agent echoed it back."
        ));
        h.success = Some(true);
        h.duration_secs = Some(talk_time.as_secs_f64());
        h.cost_usd = Some(0.0);
        h.transcript = Some(turns.to_vec());
    }));
    steps
}

/// Hanging up: a call not yet answered is canceled, an answered one completes.
pub(crate) fn hangup(call: &CallHandle, echo_id: &str) -> Vec<Step> {
    let status = if call.status == CallStatus::InProgress {
        CallStatus::Completed
    } else {
        CallStatus::Canceled
    };
    vec![Step {
        after: Duration::ZERO,
        hook: EchoWebhook {
            event_id: format!("{echo_id}:hangup"),
            call_id: Some(call.call_id.to_string()),
            echo_call_id: Some(echo_id.to_owned()),
            status: Some(status),
            reason: Some("hangup_requested".to_owned()),
            ..EchoWebhook::default()
        },
    }]
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// Serializes (and signs, with a secret) each step as a webhook body.
pub(crate) fn schedule(
    steps: &[Step],
    accepted_at: DateTime<Utc>,
    secret: Option<&str>,
) -> Vec<ScheduledWebhook> {
    steps
        .iter()
        .map(|step| {
            let body = serde_json::to_vec(&step.hook).unwrap_or_default();
            let mut headers = Headers::new().with("content-type", "application/json");
            if let Some(secret) = secret {
                let signed_at = (accepted_at + delta(step.after)).timestamp();
                headers = headers.with(SIGNATURE_HEADER, sign(secret, signed_at, &body));
            }
            ScheduledWebhook {
                delay: step.after,
                topic: None,
                headers,
                body,
            }
        })
        .collect()
}
