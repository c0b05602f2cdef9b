//! Fake providers for the suite's own tests: a small vendor that gets one thing wrong on demand,
//! and one that panics everywhere.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::conformance::{CheckResult, Samples, Subject, call_id, run};
use crate::http::{Headers, HttpRequest, HttpResponse};
use crate::ids::CallId;
use crate::model::CallRequest;
use crate::model::{CallEvent, Correlation, StatusUpdate};
use crate::provider::{
    Acceptance, Capabilities, ConfigKey, ConfigProblem, ConfigValueKind, CreateCallOutcome,
    LocalOutcome, Manifest, Outbound, ParsedWebhook, Provider, ProviderContext, ProviderError,
    ProviderFactory, Verification, WebhookError, WebhookRequest,
};
use crate::status::CallStatus;

pub(super) const SIGNATURE: &str = "x-fake-signature";
pub(super) const SECRET: &str = "fake-secret";

/// What a fake provider gets wrong.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Faults {
    pub(super) bad_manifest: bool,
    pub(super) accepts_any_config: bool,
    pub(super) forgets_call_id: bool,
    pub(super) relative_url: bool,
    pub(super) accepts_anything: bool,
    pub(super) signs_without_body: bool,
    pub(super) accepts_unsigned: bool,
    pub(super) unstable_dedupe_key: bool,
    pub(super) panics_on_garbage: bool,
    pub(super) local: bool,
    pub(super) no_outbound: bool,
    /// Declares `idempotent_create`, sending the call id as `idempotency_key`.
    pub(super) idempotent: bool,
    /// With `idempotent`: the key changes each time the request is built.
    pub(super) unstable_idempotency_key: bool,
    /// Answers as a dynamic plugin's adapter does when the plugin panicked.
    pub(super) fails_like_a_plugin: bool,
}

/// A small vendor: `POST https://fake.test/v1/calls` with `{"to", "reference", "name"}`,
/// answering `{"id"}`; webhooks `{"id", "call", "state"}` signed with a keyed FNV-1a hash of
/// the body (a stand-in for an HMAC: plugin-api has no crypto).
pub(super) struct FakeFactory(pub(super) Faults);

struct Fake {
    faults: Faults,
    api_key: String,
    secret: String,
    deliveries: AtomicU64,
}

pub(super) fn signature(secret: &str, body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in secret.as_bytes().iter().chain(b".").chain(body) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn manifest(faults: Faults) -> Manifest {
    let mut keys = vec![
        ConfigKey::new("api_key", ConfigValueKind::String, "Fake API key")
            .required()
            .secret()
            .env("FAKE_API_KEY"),
        ConfigKey::new("webhook_secret", ConfigValueKind::String, "Webhook key").secret(),
    ];
    if faults.bad_manifest {
        keys.push(ConfigKey::new("api_key", ConfigValueKind::String, "again"));
        keys.push(ConfigKey::new("WebhookURL", ConfigValueKind::String, ""));
    }
    Manifest {
        kind: if faults.bad_manifest {
            "Fake-Kind"
        } else {
            "fake"
        }
        .to_owned(),
        version: if faults.bad_manifest { "one" } else { "0.1.0" }.to_owned(),
        description: "A fake vendor for the suite's own tests".to_owned(),
        capabilities: Capabilities {
            outbound_call: !faults.no_outbound,
            idempotent_create: faults.idempotent,
            ..Capabilities::default()
        },
        signature_scheme: Some(format!("fnv ({SIGNATURE})")),
        config_keys: keys,
        credential_headers: if faults.bad_manifest {
            vec!["X-Fake-Key".to_owned(), "x fake".to_owned()]
        } else {
            vec!["x-fake-key".to_owned()]
        },
    }
}

impl ProviderFactory for FakeFactory {
    fn manifest(&self) -> Manifest {
        manifest(self.0)
    }

    fn validate_config(
        &self,
        _context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        let fake = |api_key: &str, secret: &str| -> Box<dyn Provider> {
            Box::new(Fake {
                faults: self.0,
                api_key: api_key.to_owned(),
                secret: secret.to_owned(),
                deliveries: AtomicU64::new(0),
            })
        };
        if self.0.accepts_any_config {
            return Ok(fake("key", SECRET));
        }
        let Some(table) = config.as_object() else {
            return Err(vec![ConfigProblem::new("", "expected a table")]);
        };
        let mut problems = Vec::new();
        for key in table.keys() {
            if key != "api_key" && key != "webhook_secret" {
                problems.push(ConfigProblem::new(key, "unknown key"));
            }
        }
        let string = |key: &str| table.get(key).and_then(Value::as_str);
        let api_key = string("api_key").filter(|k| !k.is_empty());
        if api_key.is_none() {
            problems.push(ConfigProblem::new("api_key", "must be a non-empty string"));
        }
        let secret = string("webhook_secret").unwrap_or_default();
        match api_key {
            Some(api_key) if problems.is_empty() => Ok(fake(api_key, secret)),
            _ => Err(problems),
        }
    }
}

impl Provider for Fake {
    fn manifest(&self) -> Manifest {
        manifest(self.faults)
    }

    fn build_create_call(&self, request: &CallRequest) -> Result<Outbound, ProviderError> {
        if self.faults.no_outbound {
            return Err(ProviderError::Unsupported("outbound calls".into()));
        }
        let reference = if self.faults.forgets_call_id {
            Value::Null
        } else {
            json!(request.call_id.to_string())
        };
        let mut body = json!({
            "to": request.to.as_str(),
            "reference": reference,
            "name": request.variables.get("customer_name"),
        });
        if self.faults.idempotent {
            body["idempotency_key"] = if self.faults.unstable_idempotency_key {
                let n = self.deliveries.fetch_add(1, Ordering::Relaxed);
                json!(format!("key-{n}"))
            } else {
                reference.clone()
            };
        }
        if self.faults.local {
            return Ok(Outbound::Local(LocalOutcome {
                response: HttpResponse::json(
                    200,
                    &json!({"id": format!("fake-{}", request.call_id)}),
                ),
                scheduled_webhooks: Vec::new(),
            }));
        }
        let base = if self.faults.relative_url {
            ""
        } else {
            "https://fake.test"
        };
        Ok(Outbound::Http(
            HttpRequest::post_json(format!("{base}/v1/calls"), &body)
                .header("authorization", format!("Bearer {}", self.api_key)),
        ))
    }

    fn parse_create_call_response(
        &self,
        _request: &CallRequest,
        response: &HttpResponse,
    ) -> CreateCallOutcome {
        let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
        match (response.status, body.get("id").and_then(Value::as_str)) {
            _ if self.faults.accepts_anything => CreateCallOutcome::Accepted(Acceptance::default()),
            (200..=299, Some(id)) => CreateCallOutcome::Accepted(Acceptance {
                provider_call_id: Some(id.to_owned()),
                status: Some(CallStatus::Initiating),
                ..Acceptance::default()
            }),
            (status @ (429 | 503), _) => CreateCallOutcome::Rejected {
                retryable: true,
                message: format!("fake answered HTTP {status}"),
            },
            (status @ 400..=499, _) => CreateCallOutcome::Rejected {
                retryable: false,
                message: format!("fake answered HTTP {status}"),
            },
            (status, _) => CreateCallOutcome::Indeterminate {
                message: format!("fake answered HTTP {status}"),
            },
        }
    }

    fn verify_webhook(&self, webhook: &WebhookRequest<'_>, _now: DateTime<Utc>) -> Verification {
        let Some(given) = webhook.headers.get(SIGNATURE) else {
            return if self.faults.fails_like_a_plugin {
                Verification::Error("the plugin panicked".to_owned())
            } else if self.faults.accepts_unsigned {
                Verification::Unsigned
            } else {
                Verification::Rejected(format!("missing {SIGNATURE}"))
            };
        };
        let signed: &[u8] = if self.faults.signs_without_body {
            b""
        } else {
            webhook.body
        };
        if given == signature(&self.secret, signed) {
            Verification::Verified
        } else {
            Verification::Rejected("signature does not match".to_owned())
        }
    }

    fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        let malformed = |m: &str| WebhookError::Malformed(m.to_owned());
        let body: Value = match serde_json::from_slice(webhook.body) {
            Ok(body) => body,
            Err(e) if self.faults.panics_on_garbage => panic!("cannot read the body: {e}"),
            Err(_) if self.faults.fails_like_a_plugin => {
                return Err(WebhookError::Plugin("the plugin panicked".to_owned()));
            }
            Err(e) => return Err(WebhookError::Malformed(e.to_string())),
        };
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no id"))?;
        let call = body
            .get("call")
            .and_then(Value::as_str)
            .and_then(|c| c.parse::<CallId>().ok())
            .ok_or_else(|| malformed("no call"))?;
        let status = match body.get("state").and_then(Value::as_str) {
            Some("ringing") => CallStatus::Ringing,
            Some("done") => CallStatus::Completed,
            _ => return Err(malformed("unknown state")),
        };
        let delivery = self.deliveries.fetch_add(1, Ordering::Relaxed);
        Ok(ParsedWebhook {
            event_type: "state".to_owned(),
            dedupe_key: Some(if self.faults.unstable_dedupe_key {
                format!("{id}-{delivery}")
            } else {
                id.to_owned()
            }),
            correlation: Correlation {
                gateway_call_id: Some(call),
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

/// Panics in every method; its factory builds it unless the config says `panic_in_validate`.
pub(super) struct PanickyFactory;
struct Panicky;

impl ProviderFactory for PanickyFactory {
    fn manifest(&self) -> Manifest {
        panic!("no manifest today")
    }

    fn validate_config(
        &self,
        _context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        if config.get("panic_in_validate").is_some() {
            panic!("validate_config exploded");
        }
        Ok(Box::new(Panicky))
    }
}

impl Provider for Panicky {
    fn manifest(&self) -> Manifest {
        panic!("manifest exploded")
    }
    fn build_create_call(&self, _: &CallRequest) -> Result<Outbound, ProviderError> {
        panic!("build_create_call exploded")
    }
    fn parse_create_call_response(&self, _: &CallRequest, _: &HttpResponse) -> CreateCallOutcome {
        panic!("{}", String::from("parse_create_call_response exploded"))
    }
    fn verify_webhook(&self, _: &WebhookRequest<'_>, _: DateTime<Utc>) -> Verification {
        panic!("verify_webhook exploded")
    }
    fn parse_webhook(&self, _: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        std::panic::panic_any(42_u8)
    }
}

pub(super) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

pub(super) fn samples() -> Samples {
    let body = json!({"id": "evt-1", "call": call_id().to_string(), "state": "ringing"})
        .to_string()
        .into_bytes();
    let unsigned = Headers::new().with("content-type", "application/json");
    let signed = unsigned.clone().with(SIGNATURE, signature(SECRET, &body));
    Samples {
        now: now(),
        success_response: HttpResponse::json(201, &json!({"id": "fake-1"})),
        error_response: HttpResponse::json(422, &json!({"error": "bad number"})),
        signed_webhook: Some((None, signed, body)),
        unsigned_headers: unsigned,
    }
}

pub(super) fn subject(factory: &dyn ProviderFactory) -> Subject<'_> {
    Subject {
        factory,
        valid_config: json!({"api_key": "k-1", "webhook_secret": SECRET}),
        invalid_config: json!({"api_key": 7, "colour": "blue"}),
        samples: samples(),
    }
}

pub(super) fn failed(results: &[CheckResult]) -> Vec<&'static str> {
    results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.name)
        .collect()
}

pub(super) fn run_with(faults: Faults) -> Vec<CheckResult> {
    let factory = FakeFactory(faults);
    run(&subject(&factory))
}
