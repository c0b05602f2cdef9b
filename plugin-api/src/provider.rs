//! The provider boundary: one trait every voice provider implements, built-in or loaded.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{Headers, HttpRequest, HttpResponse};
use crate::model::{CallEvent, CallHandle, CallRequest, Correlation, TelephonyIds};
use crate::status::CallStatus;

/// Version of this trait and of the types crossing it. Bumped on any breaking change.
pub const PROVIDER_API_VERSION: u32 = 1;

/// What a provider implementation can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub outbound_call: bool,
    pub hangup: bool,
    pub live_transcript: bool,
    pub post_call_report: bool,
    /// Can fetch a call's state from the vendor (used to reconcile calls whose webhooks went missing).
    pub fetch_call: bool,
    /// The vendor deduplicates creates by an idempotency key the create request carries (stable
    /// for a call: the same `CallRequest` always gives the same key, another call another key),
    /// so the gateway may send a create again when its outcome is unknown (a timeout after
    /// sending, `Indeterminate`), with the same key. Without it such a create is never resent.
    /// Added in 0.1 without an ABI change: a manifest without it reads as `false`.
    #[serde(default)]
    pub idempotent_create: bool,
    /// The provider's calls run inside the gateway process that placed them (a local simulator
    /// answering with [`Outbound::Local`] and its scheduled webhooks): no vendor moves them on,
    /// so a call still not ended when that process stops can never progress. A gateway that
    /// starts ends such calls left behind (`failed`, reason `interrupted: ...`). Added in 0.1
    /// without an ABI change: a manifest without it reads as `false`.
    #[serde(default)]
    pub in_process_calls: bool,
}

/// The type a config key's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigValueKind {
    String,
    Integer,
    Boolean,
    Float,
    /// A nested table, passed through as JSON.
    Table,
}

/// One key a provider's config table may have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigKey {
    pub name: String,
    pub kind: ConfigValueKind,
    pub required: bool,
    /// Never logged or returned by the API.
    pub secret: bool,
    /// A conventional environment variable that sets this key (e.g. `ELEVENLABS_API_KEY`).
    pub env: Option<String>,
    pub description: String,
}

impl ConfigKey {
    pub fn new(name: &str, kind: ConfigValueKind, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            required: false,
            secret: false,
            env: None,
            description: description.to_owned(),
        }
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    pub fn env(mut self, variable: &str) -> Self {
        self.env = Some(variable.to_owned());
        self
    }
}

/// What a provider implementation is: shown by `GET /v1/providers` and checked at startup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The `kind` that selects this implementation in config (`echo`, `elevenlabs`, ...).
    pub kind: String,
    pub version: String,
    pub description: String,
    pub capabilities: Capabilities,
    /// How webhooks are signed, e.g. `hmac-sha256 (x-echo-signature)`; `None` if unsigned.
    pub signature_scheme: Option<String>,
    /// Every key the provider's config table may have; any other key is a config error.
    pub config_keys: Vec<ConfigKey>,
    /// Lower-case names of the headers carrying credentials in this provider's webhooks (e.g. a
    /// configured shared-secret header): the gateway always stores their values redacted, on top
    /// of the names it redacts for every provider (`authorization`, `cookie`, `*token*`, ...).
    /// Absent from the JSON of providers built before it existed, which declare none.
    #[serde(default)]
    pub credential_headers: Vec<String>,
}

/// The deployment environment, for rules such as "unsigned webhooks never in production".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    #[default]
    Development,
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

/// What a provider is told about where it runs when it is built from its config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderContext {
    /// The instance name from config (`[providers.<name>]`), used in webhook URLs and API requests.
    pub name: String,
    pub environment: Environment,
    /// The folder of the config file, for paths in config (e.g. a plugin library's `path`).
    #[serde(default)]
    pub config_dir: Option<String>,
}

/// A problem in a provider's config, with the key it concerns (relative to the provider's table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Builds provider instances of one kind from their config. Registered once per kind.
pub trait ProviderFactory: Send + Sync {
    fn manifest(&self) -> Manifest;

    /// Validates an instance's config (a JSON object of the keys its manifest lists) and builds
    /// the instance. Reports every problem found, not just the first.
    fn validate_config(
        &self,
        context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>>;
}

/// How a provider carries out an outbound operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outbound {
    /// Send this request to the vendor and hand the response to the matching `parse_*` method.
    Http(HttpRequest),
    /// Nothing to send: the provider answers itself (a local simulator such as `echo`).
    Local(LocalOutcome),
}

/// The answer of a provider that needs no network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalOutcome {
    /// Handed to the matching `parse_*` method as if the vendor had sent it.
    pub response: HttpResponse,
    /// Webhooks the gateway delivers to this provider's own webhook endpoint later, through the
    /// same ingest pipeline vendor webhooks use. Any still pending for the call are dropped when
    /// a later operation on the call schedules its own.
    pub scheduled_webhooks: Vec<ScheduledWebhook>,
}

/// A webhook to deliver to the provider's own endpoint after a delay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledWebhook {
    pub delay: Duration,
    pub topic: Option<String>,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A vendor accepted a call. `Debug` leaves out `provider_data`, which may hold credentials.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Acceptance {
    /// The vendor's call id, if its answer carries one.
    pub provider_call_id: Option<String>,
    pub telephony_ids: TelephonyIds,
    /// The status the call is in now (usually `initiating` or `ringing`).
    pub status: Option<CallStatus>,
    /// Data the provider needs later (e.g. a control URL for hang-up). Stored, never returned by
    /// the API and never logged: treat it as a secret.
    pub provider_data: Option<Value>,
}

impl std::fmt::Debug for Acceptance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptance")
            .field("provider_call_id", &self.provider_call_id)
            .field("telephony_ids", &self.telephony_ids)
            .field("status", &self.status)
            .field(
                "provider_data",
                &self.provider_data.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The vendor's answer to a request to place a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateCallOutcome {
    Accepted(Acceptance),
    /// The vendor refused. `retryable` is true only where the vendor cannot have acted on the
    /// request (rate limited, unavailable): a retry must never ring a person twice.
    Rejected {
        retryable: bool,
        message: String,
    },
    /// The vendor may or may not have placed the call (e.g. it answered 500 or 504). Not retried:
    /// the call stays `initiating` until a webhook or reconciliation settles it.
    Indeterminate {
        message: String,
    },
}

/// The vendor's answer to a hang-up request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupOutcome {
    Accepted,
    Rejected { message: String },
}

/// An inbound webhook, as the gateway received it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The optional last path segment: `/webhooks/<provider>/<topic>`.
    pub topic: Option<&'a str>,
    pub headers: &'a Headers,
    /// The raw body bytes, exactly as received: signatures are computed over them.
    pub body: &'a [u8],
}

/// The outcome of a signature check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Verification {
    /// The signature is present and valid.
    Verified,
    /// No signature is configured and the provider's config allows unsigned webhooks (never
    /// accepted in production; see [`Provider::accepts_unsigned_webhooks`]).
    Unsigned,
    /// Refuse the webhook; the reason is recorded and returned to the sender.
    Rejected(String),
    /// The check itself failed (e.g. a provider plugin panicked): a server error, worth retrying.
    Error(String),
}

/// A webhook, parsed into normalized events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ParsedWebhook {
    /// The vendor's event type, for the receipt (`status-update`, `post_call_transcription`, ...).
    pub event_type: String,
    /// Identifies this delivery: a second webhook with the same key is acknowledged and not
    /// applied again. `None` lets the gateway use a hash of the body.
    pub dedupe_key: Option<String>,
    /// Which call the events belong to; empty for webhooks that concern no call.
    pub correlation: Correlation,
    pub events: Vec<CallEvent>,
    /// The body to answer the vendor with, for webhooks the vendor expects a specific answer to
    /// (e.g. VAPI's request-response messages); `None` answers the gateway's usual receipt.
    pub reply: Option<serde_json::Value>,
}

/// Errors of a provider operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderError {
    #[error("this provider does not support {0}")]
    Unsupported(String),
    /// A dynamically loaded provider failed (panicked or answered malformed data).
    #[error("provider plugin failed: {0}")]
    Plugin(String),
    #[error("invalid request for this provider: {0}")]
    InvalidRequest(String),
    /// The vendor answered with an error; `retryable` if asking again later may succeed (429,
    /// 5xx), not if it cannot (404, 401).
    #[error("the vendor answered HTTP {status}: {message}")]
    Vendor {
        status: u16,
        retryable: bool,
        message: String,
    },
}

/// Why a webhook body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookError {
    #[error("malformed webhook: {0}")]
    Malformed(String),
    #[error("unknown webhook topic '{0}'")]
    UnknownTopic(String),
    /// A dynamically loaded provider failed (panicked or answered malformed data).
    #[error("provider plugin failed: {0}")]
    Plugin(String),
}

/// A voice provider, as a pure translator between the normalized model and a vendor's wire
/// format. Implementations do no I/O: the gateway sends the requests they describe (with its own
/// timeouts, retries and tracing), owns the database and supplies the clock.
///
/// # A worked example
///
/// A minimal provider for an invented vendor whose API takes `{"phone": ...}` at `/dial` and
/// answers `{"id": ...}`, and whose webhooks are `{"id": ..., "state": ...}`:
///
/// ```
/// use chrono::{DateTime, Utc};
/// use plugin_api::*;
///
/// struct Acme { base_url: String }
///
/// impl Provider for Acme {
///     fn manifest(&self) -> Manifest {
///         Manifest {
///             kind: "acme".into(),
///             version: "0.1.0".into(),
///             description: "Acme Voice".into(),
///             capabilities: Capabilities { outbound_call: true, ..Default::default() },
///             signature_scheme: None,
///             config_keys: vec![],
///             credential_headers: vec![],
///         }
///     }
///
///     fn build_create_call(&self, request: &CallRequest) -> Result<Outbound, ProviderError> {
///         let body = serde_json::json!({
///             "phone": request.to.as_str(),
///             "reference": request.call_id.to_string(),
///         });
///         Ok(Outbound::Http(HttpRequest::post_json(format!("{}/dial", self.base_url), &body)))
///     }
///
///     fn parse_create_call_response(&self, _request: &CallRequest, response: &HttpResponse) -> CreateCallOutcome {
///         let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
///         match body["id"].as_str() {
///             Some(id) if response.is_success() => CreateCallOutcome::Accepted(Acceptance {
///                 provider_call_id: Some(id.to_owned()),
///                 status: Some(CallStatus::Initiating),
///                 ..Default::default()
///             }),
///             _ => CreateCallOutcome::Rejected {
///                 retryable: response.status == 429 || response.status == 503,
///                 message: format!("acme answered {}", response.status),
///             },
///         }
///     }
///
///     fn verify_webhook(&self, _webhook: &WebhookRequest<'_>, _now: DateTime<Utc>) -> Verification {
///         Verification::Unsigned
///     }
///
///     fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
///         let body: serde_json::Value = serde_json::from_slice(webhook.body)
///             .map_err(|e| WebhookError::Malformed(e.to_string()))?;
///         let status = match body["state"].as_str() {
///             Some("ringing") => CallStatus::Ringing,
///             Some("done") => CallStatus::Completed,
///             other => return Err(WebhookError::Malformed(format!("unknown state {other:?}"))),
///         };
///         Ok(ParsedWebhook {
///             event_type: "state".into(),
///             dedupe_key: None,
///             correlation: Correlation {
///                 provider_call_id: body["id"].as_str().map(str::to_owned),
///                 ..Default::default()
///             },
///             events: vec![CallEvent::Status(StatusUpdate {
///                 status, at: None, reason: None, vendor_status: None,
///             })],
///
///             reply: None,
///         })
///     }
/// }
///
/// // Providers are tested from recorded payloads, no network needed:
/// let acme = Acme { base_url: "http://acme.test".into() };
/// let answer = HttpResponse::json(200, &serde_json::json!({"id": "c-1"}));
/// let request = CallRequest {
///     call_id: CallId::new(),
///     to: PhoneNumber::parse("+14155550123").unwrap(),
///     agent_id: None, from_number_id: None,
///     variables: Default::default(), metadata: Default::default(),
///     first_message: None, created_at: Utc::now(),
/// };
/// assert!(matches!(acme.parse_create_call_response(&request, &answer), CreateCallOutcome::Accepted(_)));
/// ```
pub trait Provider: Send + Sync {
    fn manifest(&self) -> Manifest;

    /// The largest webhook body this provider accepts; `None` uses the gateway's `max_body_bytes`.
    fn webhook_body_limit(&self) -> Option<usize> {
        None
    }

    /// The webhook body as it may be stored in the receipt (and shown by the API): providers
    /// whose vendors put credentials in webhooks (e.g. a call's control URL) return a copy
    /// without them. `None` stores the body as received.
    fn redact_webhook_body(&self, _body: &[u8]) -> Option<Vec<u8>> {
        None
    }

    /// Whether this instance, as configured, answers [`Verification::Unsigned`] to some webhooks:
    /// `Some(key)` names the config key (relative to the instance's table, e.g.
    /// `webhook_secret`) an operator sets or changes so that it does not. The gateway refuses to
    /// start in production with such an instance, listing `providers.<name>.<key>`; it also
    /// refuses `Unsigned` webhooks in production whatever this answers.
    fn accepts_unsigned_webhooks(&self) -> Option<String> {
        None
    }

    /// Things about this instance's config an operator should know (e.g. unsigned webhooks
    /// allowed); the gateway logs them as warnings at startup.
    fn startup_warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// How long the gateway waits for the vendor on each outbound request; `None` uses the
    /// gateway's `outbound_timeout_ms`.
    fn request_timeout(&self) -> Option<Duration> {
        None
    }

    /// Describes how to ask the vendor to place `request`.
    fn build_create_call(&self, request: &CallRequest) -> Result<Outbound, ProviderError>;

    /// Reads the vendor's answer to the request `build_create_call` described.
    fn parse_create_call_response(
        &self,
        request: &CallRequest,
        response: &HttpResponse,
    ) -> CreateCallOutcome;

    /// Checks what a webhook's headers alone can tell, before the gateway reads its body: for
    /// schemes that authenticate by a header (a shared secret, a bearer token), or an endpoint
    /// that has no secret. `Some(Rejected(reason))` (or `Some(Error(_))`) refuses the webhook
    /// unread, so unauthenticated senders cannot make the gateway buffer large bodies; `None`
    /// (the default: the check needs the body, e.g. an HMAC) or any other answer reads the body
    /// and calls [`Provider::verify_webhook`] as usual. Must compare secrets in constant time.
    fn precheck_webhook(&self, _topic: Option<&str>, _headers: &Headers) -> Option<Verification> {
        None
    }

    /// Checks a webhook's signature over its raw bytes. `now` comes from the gateway's clock
    /// (for timestamp windows). Must compare secrets in constant time.
    fn verify_webhook(&self, webhook: &WebhookRequest<'_>, now: DateTime<Utc>) -> Verification;

    /// Turns a verified webhook into normalized events.
    fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError>;

    /// Describes how to end a running call.
    fn build_hangup(&self, _call: &CallHandle) -> Result<Outbound, ProviderError> {
        Err(ProviderError::Unsupported("hang-up".into()))
    }

    fn parse_hangup_response(&self, _call: &CallHandle, response: &HttpResponse) -> HangupOutcome {
        if response.is_success() {
            HangupOutcome::Accepted
        } else {
            HangupOutcome::Rejected {
                message: format!("vendor answered HTTP {}", response.status),
            }
        }
    }

    /// Describes how to fetch a call's current state from the vendor.
    fn build_fetch_call(&self, _call: &CallHandle) -> Result<Outbound, ProviderError> {
        Err(ProviderError::Unsupported("fetching a call".into()))
    }

    fn parse_fetch_call_response(
        &self,
        _call: &CallHandle,
        _response: &HttpResponse,
    ) -> Result<Vec<CallEvent>, ProviderError> {
        Err(ProviderError::Unsupported("fetching a call".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin built before `idempotent_create` existed sends manifests without it: they still
    /// read, as "not idempotent", so plugin ABI 1 is unchanged.
    #[test]
    fn capabilities_without_idempotent_create_read_as_false() {
        let older = r#"{"outbound_call":true,"hangup":false,"live_transcript":true,
            "post_call_report":true,"fetch_call":true}"#;
        let read: Result<Capabilities, _> = serde_json::from_str(older);
        let expected = Capabilities {
            outbound_call: true,
            live_transcript: true,
            post_call_report: true,
            fetch_call: true,
            ..Capabilities::default()
        };
        assert_eq!(read.ok(), Some(expected));
        assert!(!expected.in_process_calls, "nor in-process");
        let declared = Capabilities {
            idempotent_create: true,
            ..expected
        };
        let written = serde_json::to_value(declared).unwrap_or_default();
        assert_eq!(written["idempotent_create"], true);
    }
}
