//! A test-only plugin whose behaviour its config's `mode` chooses:
//!
//! - `"ok"`: a trivial, network-free provider: every call is accepted at once and completed by
//!   three unsigned webhooks it schedules (`ringing`, `in_progress`, `completed`), bodies
//!   `{"call_id", "state"}`;
//! - `"panic"`: panics in `build_create_call`, `verify_webhook` and `parse_webhook`;
//! - `"panic_on_config"`: panics while validating its config;
//! - `"slow"`: works like `"ok"`, but `build_create_call`, `verify_webhook` and `parse_webhook`
//!   first sleep [`SLOW_CALL`] (a hung plugin, for the gateway's per-call time limit).
//!
//! The isolation tests load it beside built-in providers to show that a panicking plugin fails
//! only its own requests.

use std::time::Duration;

use chrono::{DateTime, Utc};
use plugin_api::{
    Acceptance, CallEvent, CallRequest, CallStatus, Capabilities, ConfigKey, ConfigProblem,
    ConfigValueKind, Correlation, CreateCallOutcome, Headers, HttpResponse, LocalOutcome, Manifest,
    Outbound, ParsedWebhook, Provider, ProviderContext, ProviderError, ProviderFactory,
    ScheduledWebhook, StatusUpdate, Verification, WebhookError, WebhookRequest,
};
use serde_json::{Value, json};

#[derive(Debug, Default)]
pub struct FaultyFactory;

plugin_api::export_provider!(FaultyFactory);

/// How long a `"slow"` instance's calls take.
pub const SLOW_CALL: Duration = Duration::from_millis(1_500);

struct Faulty {
    panics: bool,
    /// Sleeps [`SLOW_CALL`] before answering.
    slow: bool,
    /// Says it accepts unsigned webhooks (it always answers `Unsigned`; the other modes do not
    /// say so, like a plugin built before the ABI could carry it).
    open: bool,
}

fn manifest() -> Manifest {
    Manifest {
        kind: "faulty".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: "Test plugin: panics or works, as its mode says".to_owned(),
        capabilities: Capabilities {
            outbound_call: true,
            ..Capabilities::default()
        },
        signature_scheme: None,
        config_keys: vec![ConfigKey::new(
            "mode",
            ConfigValueKind::String,
            "ok, open, panic, panic_on_config or slow",
        )],
        // Declared so the e2e tests see a plugin's credential header stored redacted.
        credential_headers: vec!["x-faulty-key".to_owned()],
    }
}

impl ProviderFactory for FaultyFactory {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    #[allow(clippy::panic)]
    fn validate_config(
        &self,
        _context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        if config["mode"]
            .as_str()
            .is_some_and(|mode| mode.starts_with("panic"))
        {
            // Its panics are expected: keep them out of the test output. (The hook is this
            // library's own: a plugin has its own copy of std.)
            std::panic::set_hook(Box::new(|_| {}));
        }
        match config["mode"].as_str() {
            Some("ok") => Ok(Box::new(Faulty {
                panics: false,
                slow: false,
                open: false,
            })),
            Some("open") => Ok(Box::new(Faulty {
                panics: false,
                slow: false,
                open: true,
            })),
            Some("panic") => Ok(Box::new(Faulty {
                panics: true,
                slow: false,
                open: false,
            })),
            Some("slow") => Ok(Box::new(Faulty {
                panics: false,
                slow: true,
                open: false,
            })),
            Some("panic_on_config") => panic!("faulty plugin: validate_config panics"),
            _ => Err(vec![ConfigProblem::new(
                "mode",
                "must be ok, open, panic, panic_on_config or slow",
            )]),
        }
    }
}

impl Faulty {
    #[allow(clippy::panic)]
    fn misbehave(&self, operation: &str) {
        if self.panics {
            panic!("faulty plugin: {operation} panics");
        }
        if self.slow {
            std::thread::sleep(SLOW_CALL);
        }
    }
}

impl Provider for Faulty {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    fn build_create_call(&self, request: &CallRequest) -> Result<Outbound, ProviderError> {
        self.misbehave("build_create_call");
        let id = request.call_id.to_string();
        let scheduled_webhooks = ["ringing", "in_progress", "completed"]
            .into_iter()
            .zip(1..)
            .map(|(state, step)| ScheduledWebhook {
                delay: Duration::from_millis(20 * step),
                topic: None,
                headers: Headers::new(),
                body: json!({"call_id": id, "state": state})
                    .to_string()
                    .into_bytes(),
            })
            .collect();
        Ok(Outbound::Local(LocalOutcome {
            response: HttpResponse::json(200, &json!({"id": format!("faulty-{id}")})),
            scheduled_webhooks,
        }))
    }

    fn parse_create_call_response(
        &self,
        _request: &CallRequest,
        response: &HttpResponse,
    ) -> CreateCallOutcome {
        let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
        match body["id"].as_str() {
            Some(id) if response.is_success() => CreateCallOutcome::Accepted(Acceptance {
                provider_call_id: Some(id.to_owned()),
                status: Some(CallStatus::Initiating),
                ..Acceptance::default()
            }),
            _ => CreateCallOutcome::Rejected {
                retryable: false,
                message: format!("faulty answered HTTP {}", response.status),
            },
        }
    }

    fn accepts_unsigned_webhooks(&self) -> Option<String> {
        self.open.then(|| "mode".to_owned())
    }

    /// `x-faulty-precheck: refuse` is refused on the headers alone.
    fn precheck_webhook(&self, _topic: Option<&str>, headers: &Headers) -> Option<Verification> {
        (headers.get("x-faulty-precheck") == Some("refuse"))
            .then(|| Verification::Rejected("refused on its headers".to_owned()))
    }

    fn verify_webhook(&self, _webhook: &WebhookRequest<'_>, _now: DateTime<Utc>) -> Verification {
        self.misbehave("verify_webhook");
        Verification::Unsigned
    }

    fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        self.misbehave("parse_webhook");
        let body: Value = serde_json::from_slice(webhook.body)
            .map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let (Some(call_id), Some(status)) = (
            body["call_id"].as_str().and_then(|id| id.parse().ok()),
            body["state"].as_str().and_then(|s| s.parse().ok()),
        ) else {
            return Err(WebhookError::Malformed(
                "needs call_id and state".to_owned(),
            ));
        };
        Ok(ParsedWebhook {
            event_type: "state".to_owned(),
            dedupe_key: None,
            correlation: Correlation {
                gateway_call_id: Some(call_id),
                provider_call_id: None,
            },
            events: vec![CallEvent::Status(StatusUpdate {
                status,
                at: None,
                reason: None,
                vendor_status: None,
            })],
            reply: None,
        })
    }
}
