//! The `echo` provider: a voice provider that needs no network and no keys.
//!
//! It accepts every call at once and plays a short scripted conversation by scheduling its own
//! webhooks, which the gateway delivers to `/webhooks/<name>` through the same ingest pipeline
//! vendor webhooks take (signature check, receipts, dedupe, state machine, live stream). A
//! newcomer sees a complete call with a transcript seconds after starting the gateway, and
//! frontend teams can rehearse failure paths with the variable `echo_outcome`.
//!
//! Its webhooks are small JSON documents; see [`webhook::EchoWebhook`] for the format.

mod script;
pub mod webhook;

use std::time::Duration;

use chrono::{DateTime, Utc};
use plugin_api::config::{Key, Schema, Secret, Strings};
use plugin_api::{
    Acceptance, CallHandle, CallRequest, CallStatus, Capabilities, ConfigProblem,
    CreateCallOutcome, HttpResponse, LocalOutcome, Manifest, Outbound, ParsedWebhook, Provider,
    ProviderContext, ProviderError, ProviderFactory, Verification, WebhookError, WebhookRequest,
};
use serde_json::{Value, json};

pub use webhook::SIGNATURE_HEADER;

/// The pace of the scripted conversation when `turn_interval_ms` is not set.
pub const DEFAULT_TURN_INTERVAL_MS: u64 = 500;

/// Registers the `echo` kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct EchoFactory;

/// One configured echo instance.
#[derive(Debug, Clone)]
pub struct EchoProvider {
    turn_interval: Duration,
    webhook_secret: Option<Secret>,
}

const TURN_INTERVAL_MS: Key = Key::integer_between(
    "turn_interval_ms",
    "Milliseconds between the scripted call's steps (default 500)",
    DEFAULT_TURN_INTERVAL_MS,
    0,
    600_000,
);
const WEBHOOK_SECRET: Key = Key::string(
    "webhook_secret",
    "HMAC secret for webhooks to /webhooks/<name>; empty accepts unsigned webhooks (refused in production)",
)
.secret()
.env("ECHO_WEBHOOK_SECRET");

/// The `echo` config table. Only an empty `webhook_secret` counts as not set.
static SCHEMA: Schema =
    Schema::new("echo", &[TURN_INTERVAL_MS, WEBHOOK_SECRET]).strings(Strings::EmptyIsUnset);

fn manifest() -> Manifest {
    Manifest {
        kind: "echo".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: "Local provider for development: plays a scripted conversation, no network"
            .to_owned(),
        capabilities: Capabilities {
            outbound_call: true,
            hangup: true,
            live_transcript: true,
            post_call_report: true,
            fetch_call: false,
            // Creates are never resent when their outcome is unknown.
            idempotent_create: false,
            // Its calls are scripted in the gateway's process: a restart ends them.
            in_process_calls: true,
        },
        signature_scheme: Some(format!(
            "hmac-sha256 ({SIGNATURE_HEADER}: t=<unix>,v1=<hex>)"
        )),
        config_keys: SCHEMA.config_keys(),
        credential_headers: Vec::new(),
    }
}

impl ProviderFactory for EchoFactory {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    fn validate_config(
        &self,
        _context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        let mut read = SCHEMA.read(config)?;
        let echo = EchoProvider {
            turn_interval: Duration::from_millis(read.integer(&TURN_INTERVAL_MS)),
            webhook_secret: read.optional_secret(&WEBHOOK_SECRET),
        };
        Ok(Box::new(read.finish(echo)?))
    }
}

impl EchoProvider {
    pub fn new(turn_interval: Duration, webhook_secret: Option<String>) -> Self {
        Self {
            turn_interval,
            webhook_secret: webhook_secret.map(Secret::new),
        }
    }

    /// The id echo gives a call: derived from the gateway's id, so it is stable.
    pub fn echo_call_id(call_id: &plugin_api::CallId) -> String {
        format!("echo-{call_id}")
    }

    fn local(&self, body: Value, script: Vec<script::Step>, at: DateTime<Utc>) -> Outbound {
        Outbound::Local(LocalOutcome {
            response: HttpResponse::json(200, &body),
            scheduled_webhooks: script::schedule(
                &script,
                at,
                self.webhook_secret.as_ref().map(Secret::expose),
            ),
        })
    }
}

impl Provider for EchoProvider {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    fn build_create_call(&self, request: &CallRequest) -> Result<Outbound, ProviderError> {
        let echo_id = Self::echo_call_id(&request.call_id);
        let script = script::conversation(request, &echo_id, self.turn_interval);
        let answer = json!({"echo_call_id": echo_id, "status": "initiating"});
        Ok(self.local(answer, script, request.created_at))
    }

    fn parse_create_call_response(
        &self,
        _request: &CallRequest,
        response: &HttpResponse,
    ) -> CreateCallOutcome {
        let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
        match body["echo_call_id"].as_str() {
            Some(id) if response.is_success() => CreateCallOutcome::Accepted(Acceptance {
                provider_call_id: Some(id.to_owned()),
                status: Some(CallStatus::Initiating),
                ..Acceptance::default()
            }),
            _ => CreateCallOutcome::Rejected {
                retryable: false,
                message: format!("echo answered HTTP {}", response.status),
            },
        }
    }

    fn accepts_unsigned_webhooks(&self) -> Option<String> {
        self.webhook_secret
            .is_none()
            .then(|| WEBHOOK_SECRET.name().to_owned())
    }

    fn verify_webhook(&self, webhook: &WebhookRequest<'_>, now: DateTime<Utc>) -> Verification {
        match &self.webhook_secret {
            None => Verification::Unsigned,
            Some(secret) => webhook::verify(secret.expose(), webhook, now),
        }
    }

    fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        if let Some(topic) = webhook.topic {
            return Err(WebhookError::UnknownTopic(topic.to_owned()));
        }
        webhook::parse(webhook.body)
    }

    /// Hanging up ends the script: a ringing call is canceled, a running one completes.
    fn build_hangup(&self, call: &CallHandle) -> Result<Outbound, ProviderError> {
        let echo_id = call
            .provider_call_id
            .clone()
            .unwrap_or_else(|| Self::echo_call_id(&call.call_id));
        let script = script::hangup(call, &echo_id);
        Ok(self.local(json!({"hung_up": echo_id}), script, Utc::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{CallEvent, CallId, Headers, PhoneNumber};
    use serde_json::Map;

    fn request(variables: Value) -> CallRequest {
        let variables: Map<String, Value> = serde_json::from_value(variables).unwrap();
        CallRequest {
            call_id: CallId::new(),
            to: PhoneNumber::parse("+14155550123").unwrap(),
            agent_id: None,
            from_number_id: None,
            variables,
            metadata: Map::new(),
            first_message: None,
            created_at: Utc::now(),
        }
    }

    fn provider(secret: Option<&str>) -> EchoProvider {
        EchoProvider::new(Duration::from_millis(100), secret.map(str::to_owned))
    }

    fn scheduled(outbound: Outbound) -> LocalOutcome {
        match outbound {
            Outbound::Local(local) => local,
            Outbound::Http(_) => panic!("echo never uses the network"),
        }
    }

    /// Runs every scheduled webhook through verify + parse, as the gateway does.
    fn play(provider: &EchoProvider, local: &LocalOutcome) -> Vec<ParsedWebhook> {
        local
            .scheduled_webhooks
            .iter()
            .map(|hook| {
                let request = WebhookRequest {
                    topic: hook.topic.as_deref(),
                    headers: &hook.headers,
                    body: &hook.body,
                };
                let verdict = provider.verify_webhook(&request, Utc::now() + hook.delay);
                assert_ne!(verdict, Verification::Rejected(String::new()));
                assert!(!matches!(verdict, Verification::Rejected(_)), "{verdict:?}");
                provider.parse_webhook(&request).unwrap()
            })
            .collect()
    }

    fn statuses(parsed: &[ParsedWebhook]) -> Vec<CallStatus> {
        parsed
            .iter()
            .flat_map(|p| &p.events)
            .filter_map(|e| match e {
                CallEvent::Status(s) => Some(s.status),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn accepts_at_once_and_plays_a_complete_conversation() {
        let echo = provider(Some("s3cret"));
        let request = request(json!({"customer_name": "Ada"}));
        let local = scheduled(echo.build_create_call(&request).unwrap());
        let outcome = echo.parse_create_call_response(&request, &local.response);
        let CreateCallOutcome::Accepted(acceptance) = outcome else {
            panic!("echo rejected: {outcome:?}")
        };
        assert_eq!(
            acceptance.provider_call_id.as_deref(),
            Some(EchoProvider::echo_call_id(&request.call_id).as_str())
        );

        let parsed = play(&echo, &local);
        assert_eq!(
            statuses(&parsed),
            [
                CallStatus::Ringing,
                CallStatus::InProgress,
                CallStatus::Completed
            ]
        );
        let turns: Vec<_> = parsed
            .iter()
            .flat_map(|p| &p.events)
            .filter_map(|e| match e {
                CallEvent::Turn(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(turns.len(), 3);
        assert!(turns[0].text.contains("Ada"), "{}", turns[0].text);
        assert_eq!(turns[2].text, format!("You said: {}", turns[1].text));
        let details = parsed
            .iter()
            .flat_map(|p| &p.events)
            .find_map(|e| match e {
                CallEvent::Details(d) => Some(d.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(details.success, Some(true));
        assert!(details.summary.is_some() && details.duration_secs.is_some());
        assert_eq!(
            details.cost.map(|c| (c.amount, c.unit.as_str())),
            Some((0.0, "USD"))
        );
        let keys: std::collections::HashSet<_> =
            parsed.iter().map(|p| p.dedupe_key.clone()).collect();
        assert_eq!(
            keys.len(),
            parsed.len(),
            "every step has its own dedupe key"
        );
        assert!(
            parsed
                .iter()
                .all(|p| p.correlation.gateway_call_id == Some(request.call_id))
        );
    }

    #[test]
    fn steps_are_paced_by_the_turn_interval() {
        let local = scheduled(
            provider(None)
                .build_create_call(&request(json!({})))
                .unwrap(),
        );
        let delays: Vec<_> = local.scheduled_webhooks.iter().map(|h| h.delay).collect();
        assert!(delays.windows(2).all(|w| w[0] < w[1]), "{delays:?}");
        assert_eq!(delays[0], Duration::from_millis(100));
    }

    #[test]
    fn echo_outcome_ends_the_call_that_way() {
        for (outcome, status) in [
            ("busy", CallStatus::Busy),
            ("no_answer", CallStatus::NoAnswer),
            ("failed", CallStatus::Failed),
        ] {
            let echo = provider(None);
            let local = scheduled(
                echo.build_create_call(&request(json!({"echo_outcome": outcome})))
                    .unwrap(),
            );
            let parsed = play(&echo, &local);
            assert_eq!(
                statuses(&parsed),
                [CallStatus::Ringing, status],
                "{outcome}"
            );
        }
    }

    #[test]
    fn hangup_cancels_a_ringing_call_and_completes_a_running_one() {
        let echo = provider(None);
        for (current, expected) in [
            (CallStatus::Ringing, CallStatus::Canceled),
            (CallStatus::InProgress, CallStatus::Completed),
        ] {
            let handle = CallHandle {
                call_id: CallId::new(),
                provider_call_id: None,
                telephony_ids: Default::default(),
                status: current,
                provider_data: None,
            };
            let local = scheduled(echo.build_hangup(&handle).unwrap());
            assert_eq!(statuses(&play(&echo, &local)), [expected]);
        }
    }

    #[test]
    fn config_is_validated() {
        let context = ProviderContext {
            name: "echo".into(),
            environment: Default::default(),
            config_dir: None,
        };
        assert!(EchoFactory.validate_config(&context, &json!({})).is_ok());
        let problems = EchoFactory
            .validate_config(&context, &json!({"turn_interval_ms": -1}))
            .err()
            .unwrap();
        assert_eq!(problems[0].key, "turn_interval_ms");
        assert_eq!(problems[0].message, "must be between 0 and 600000");
        for fine in [
            json!({"turn_interval_ms": 0}),
            json!({"turn_interval_ms": 600_000}),
        ] {
            assert!(
                EchoFactory.validate_config(&context, &fine).is_ok(),
                "{fine}"
            );
        }
        // Only an empty secret accepts unsigned webhooks; a blank one is a secret.
        let unsigned = |config: Value| {
            let echo = EchoFactory.validate_config(&context, &config).unwrap();
            let headers = Headers::new();
            let webhook = WebhookRequest {
                topic: None,
                headers: &headers,
                body: b"{}",
            };
            let verdict = echo.verify_webhook(&webhook, Utc::now()) == Verification::Unsigned;
            // It says so before any webhook arrives, naming the key that closes it.
            let declared = echo.accepts_unsigned_webhooks();
            assert_eq!(declared.is_some(), verdict, "{config}");
            assert!(declared.is_none_or(|key| key == "webhook_secret"));
            verdict
        };
        assert!(unsigned(json!({"webhook_secret": ""})));
        assert!(unsigned(json!({})));
        assert!(!unsigned(json!({"webhook_secret": " "})));
    }

    #[test]
    fn topics_are_refused() {
        let headers = Headers::new();
        let request = WebhookRequest {
            topic: Some("post-call"),
            headers: &headers,
            body: b"{}",
        };
        assert!(matches!(
            provider(None).parse_webhook(&request),
            Err(WebhookError::UnknownTopic(_))
        ));
    }
}
