//! **Acme Voice**, an invented vendor, as a dynamic provider plugin: the same code a built-in
//! provider is, plus one `export_provider!` line. See `docs/writing-a-provider.md`.
//!
//! - `POST {base_url}/v1/dial`, `Authorization: Bearer <api_key>`, `{"phone", "reference":
//!   <gateway call id>, "variables"}` answers `{"dial_id", "state"}`.
//! - Webhooks `{"event_id", "dial_id", "reference", "state", "line"?: {"speaker", "text", "at"},
//!   "summary"?, "cost_usd"?}` carry `x-acme-signature: <hex hmac-sha256(webhook_secret, body)>`.

use chrono::{DateTime, Utc};
use plugin_api::config::{Key, Schema, Secret, Strings, UrlRule};
use plugin_api::signature::{hex_mac_matches, hmac_sha256};
use plugin_api::*;
use serde_json::{Value, json};

pub const SIGNATURE_HEADER: &str = "x-acme-signature";
pub const DEFAULT_BASE_URL: &str = "https://api.acme-voice.example";

/// Registers the `acme` kind (the export macro needs `Default`).
#[derive(Debug, Default)]
pub struct AcmeFactory;

plugin_api::export_provider!(AcmeFactory);

/// One configured instance (`Secret`s print as `[redacted]`).
#[derive(Debug)]
struct Acme {
    base_url: String,
    api_key: Secret,
    webhook_secret: Option<Secret>,
}

/// The [`SIGNATURE_HEADER`] value for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret, &[body]))
}

const BASE_URL: Key = Key::url(
    "base_url",
    "Acme's API root URL",
    UrlRule::BASE.message("must be an http(s) URL"),
)
.default(DEFAULT_BASE_URL);
const API_KEY: Key = Key::string("api_key", "Sent as a Bearer token")
    .required()
    .secret()
    .env("ACME_API_KEY")
    .missing_message("missing: Acme's API key");
const WEBHOOK_SECRET: Key = Key::string("webhook_secret", "Signs Acme's webhooks")
    .secret()
    .env("ACME_WEBHOOK_SECRET");

/// Every config key, described once: the manifest lists them and `validate_config` reads them.
/// A key that is given must be a non-empty string.
static CONFIG: Schema =
    Schema::new("acme", &[BASE_URL, API_KEY, WEBHOOK_SECRET]).strings(Strings::NonEmpty);

fn manifest() -> Manifest {
    Manifest {
        kind: "acme".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: "Acme Voice (example plugin)".to_owned(),
        capabilities: Capabilities {
            outbound_call: true,
            live_transcript: true,
            post_call_report: true,
            ..Capabilities::default()
        },
        signature_scheme: Some(format!("hmac-sha256 ({SIGNATURE_HEADER}: hex)")),
        config_keys: CONFIG.config_keys(),
        // Its signature is an HMAC, not a credential: nothing to redact beyond the usual.
        credential_headers: Vec::new(),
    }
}

impl ProviderFactory for AcmeFactory {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    /// Lists every problem, not just the first.
    fn validate_config(
        &self,
        _context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        let Some(table) = config.as_object() else {
            return Err(vec![ConfigProblem::new("", "must be a table")]);
        };
        let mut read = CONFIG.read_table(table);
        let acme = Acme {
            base_url: read.string(&BASE_URL),
            api_key: read.secret(&API_KEY),
            webhook_secret: read.optional_secret(&WEBHOOK_SECRET),
        };
        Ok(Box::new(read.finish(acme)?))
    }
}

impl Provider for Acme {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    fn build_create_call(&self, request: &CallRequest) -> Result<Outbound, ProviderError> {
        let body = json!({
            "phone": request.to.as_str(),
            "reference": request.call_id.to_string(),
            "variables": request.variables,
        });
        let http = HttpRequest::post_json(format!("{}/v1/dial", self.base_url), &body);
        Ok(Outbound::Http(http.header(
            "authorization",
            format!("Bearer {}", self.api_key.expose()),
        )))
    }

    fn parse_create_call_response(
        &self,
        _request: &CallRequest,
        response: &HttpResponse,
    ) -> CreateCallOutcome {
        let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
        let status = response.status;
        let error = body["error"].as_str().unwrap_or("no dial_id in the answer");
        let message = format!("Acme answered HTTP {status}: {error}");
        match (status, body["dial_id"].as_str()) {
            (200..=299, Some(id)) if !id.is_empty() => CreateCallOutcome::Accepted(Acceptance {
                provider_call_id: Some(id.to_owned()),
                status: Some(CallStatus::Initiating),
                ..Acceptance::default()
            }),
            // Acme did not act on these: worth retrying only when it was busy.
            (400..=499 | 503, _) => CreateCallOutcome::Rejected {
                retryable: matches!(status, 429 | 503),
                message,
            },
            // Any other 5xx, or a 2xx without a `dial_id`: Acme may have dialled.
            _ => CreateCallOutcome::Indeterminate { message },
        }
    }

    fn verify_webhook(&self, webhook: &WebhookRequest<'_>, _now: DateTime<Utc>) -> Verification {
        let Some(secret) = &self.webhook_secret else {
            return Verification::Rejected("no webhook_secret is configured".to_owned());
        };
        let Some(signature) = webhook.headers.get(SIGNATURE_HEADER) else {
            return Verification::Rejected(format!("missing {SIGNATURE_HEADER}"));
        };
        // Compared in constant time.
        if hex_mac_matches(signature, &hmac_sha256(secret.expose(), &[webhook.body])) {
            Verification::Verified
        } else {
            Verification::Rejected(format!("{SIGNATURE_HEADER} does not match the body"))
        }
    }

    fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        if let Some(topic) = webhook.topic {
            return Err(WebhookError::UnknownTopic(topic.to_owned()));
        }
        let malformed = |what: &str| WebhookError::Malformed(format!("not an Acme event: {what}"));
        let body: Value = serde_json::from_slice(webhook.body).unwrap_or_default();
        let text = |key: &str| body[key].as_str().filter(|s| !s.is_empty());
        let (Some(event_id), Some(state)) = (text("event_id"), text("state")) else {
            return Err(malformed("no event_id or state"));
        };
        let status = match state {
            "ringing" => CallStatus::Ringing,
            "talking" => CallStatus::InProgress,
            "finished" => CallStatus::Completed,
            "failed" => CallStatus::Failed,
            "busy" => CallStatus::Busy,
            "unanswered" => CallStatus::NoAnswer,
            _ => return Err(malformed("unknown state")),
        };
        let correlation = Correlation {
            gateway_call_id: text("reference").and_then(|r| r.parse().ok()),
            provider_call_id: text("dial_id").map(str::to_owned),
        };
        if correlation.is_empty() {
            return Err(malformed("no dial_id or reference"));
        }
        let turn = body["line"]["text"].as_str().map(|words| {
            CallEvent::Turn(Turn {
                key: Some(event_id.to_owned()),
                speaker: Speaker::parse(body["line"]["speaker"].as_str().unwrap_or_default()),
                text: words.to_owned(),
                offset_secs: body["line"]["at"].as_f64(),
                is_final: true,
                source: TranscriptSource::Live,
            })
        });
        let details = CallDetails {
            summary: text("summary").map(str::to_owned),
            cost: (body["cost_usd"].as_f64()).map(|amount| Cost {
                amount,
                unit: CostUnit::Usd,
            }),
            ..CallDetails::default()
        };
        let details = (details != CallDetails::default()).then_some(CallEvent::Details(details));
        let mut events: Vec<_> = turn.into_iter().chain(details).collect();
        events.push(CallEvent::Status(StatusUpdate {
            status,
            at: None,
            reason: None,
            vendor_status: Some(state.to_owned()),
        }));
        Ok(ParsedWebhook {
            event_type: state.to_owned(),
            dedupe_key: Some(event_id.to_owned()),
            correlation,
            events,
            reply: None,
        })
    }
}

#[cfg(test)]
mod tests;
