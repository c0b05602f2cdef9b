//! The `vapi` provider: outbound phone calls placed by a [VAPI](https://vapi.ai) assistant, its
//! server messages (status updates, live transcript, end-of-call report), hang-up through the
//! call's control URL, and reconciliation by fetching the call.
//!
//! Like every provider it does no I/O: it describes requests and reads answers and webhooks.
//!
//! # Config
//!
//! ```toml
//! [providers.vapi]
//! kind = "vapi"
//! api_key = "..."                  # or VAPI_API_KEY: the private key, sent as Bearer
//! assistant_id = "asst_..."        # default assistant; a call's agent_id overrides it
//! phone_number_id = "pn_..."       # default number; a call's from_number_id overrides it
//! server_url = "https://gw.example.com/webhooks/vapi"  # sent as the call's server URL when set
//! webhook_auth = "secret"          # secret | bearer | hmac
//! webhook_secret = "..."           # or VAPI_WEBHOOK_SECRET
//! # base_url = "https://api.vapi.ai"
//! # secret_header = "x-vapi-secret"      # webhook_auth = "secret"
//! # signature_header = "x-signature"     # webhook_auth = "hmac"
//! # timestamp_header = "x-timestamp"     # webhook_auth = "hmac"
//! # live_transcripts = true        # ask VAPI for final transcript messages
//! # request_timeout_ms = 10000
//! # allow_unsigned_webhooks = false      # development only; refused in production
//! ```
//!
//! Every problem is reported at once: missing `api_key`/`assistant_id`, unknown keys, values of
//! the wrong type, a `base_url` that is not an `http(s)://host[:port][/path]` URL, a
//! `server_url` that is not an `http(s)` URL (a query is allowed there), a `webhook_auth` other
//! than `secret`/`bearer`/`hmac`, header names that are not HTTP tokens, the same header for
//! signature and timestamp, a non-positive `request_timeout_ms`, and
//! `allow_unsigned_webhooks = true` in `production`. Startup warnings say when no
//! `webhook_secret` is set: every server message is then refused, or, with
//! `allow_unsigned_webhooks`, accepted unauthenticated.
//!
//! # Placing a call
//!
//! `POST {base_url}/call` with `Authorization: Bearer <api_key>` and:
//!
//! ```json
//! {"assistantId": "<agent_id or assistant_id>",
//!  "phoneNumberId": "<from_number_id or phone_number_id>",
//!  "customer": {"number": "+14155550123"},
//!  "assistantOverrides": {
//!    "variableValues": {"customer_name": "Ada"},
//!    "metadata": {"driver_id": "drv-42", "gateway_call_id": "<the gateway's call id>"},
//!    "serverMessages": ["status-update", "end-of-call-report", "hang",
//!                       "transcript[transcriptType=\"final\"]"],
//!    "firstMessage": "Hi Ada!",
//!    "server": {"url": "<server_url>"}}}
//! ```
//!
//! `variableValues` are the call's `variables` (left out when there are none); `metadata` is the
//! call's `metadata` plus `gateway_call_id`, which always wins (VAPI echoes it in every server
//! message as `message.call.assistantOverrides.metadata`, so messages can be tied to the call
//! before VAPI's id is known); the transcript entry of `serverMessages` is there only with
//! `live_transcripts = true` (the list replaces the assistant's own); `firstMessage` only when
//! the call has one; `server` only when `server_url` is set. With neither a `from_number_id` nor
//! a `phone_number_id`, the call is refused as an invalid request before anything is sent.
//!
//! The answer: a 2xx `Call` with an `id` accepts the call (`initiating`, or VAPI's status when it
//! is further along), with `phoneCallProviderId` as a telephony id (`twilio_call_sid` for
//! Twilio, `<phoneCallProvider>_call_id` otherwise) and `monitor.controlUrl` kept for hang-up;
//! 429 and 503 reject it retryably (VAPI did not act); any other 4xx rejects it for good; 500,
//! 502, 504, anything else, and a 2xx without a readable call are *indeterminate* (VAPI may have
//! dialled: the call waits for a server message or reconciliation). An error's `message` (a
//! string or a list of strings, joined with `; `) and `error` become the failure reason, e.g.
//! `VAPI answered HTTP 400: Bad Request: customer.number must be a valid phone number`.
//!
//! **The control URL is a secret**: whoever has it can end or steer the live call. It is stored
//! as the call's `provider_data` (hex-encoded, so the plugin API types that derive `Debug` do not
//! show it), never appears in this crate's errors or `Debug` output, and is only used as the
//! hang-up request's URL.
//!
//! # Server messages
//!
//! VAPI posts them to `/webhooks/<name>` (no topic: any `/webhooks/<name>/<topic>` is refused)
//! as `{"message": {"type": ..., "timestamp": <ms>, "call": {...}}}`.
//!
//! - `status-update`: a `Status` from the table below, dated by `timestamp` (an ended call by
//!   `call.endedAt` when given); when the message carries the telephony id or the
//!   `endedReason`, a `Details` first.
//! - `transcript` and `transcript[transcriptType="final"]` (both spellings): one live `Turn`:
//!   `role` `assistant` → agent, `user` → user; `transcriptType: final` is stored and sent to
//!   the live stream, `partial` goes to the live stream only (without `transcriptType`, only the
//!   `[transcriptType="final"]` spelling counts as final). The offset is `timestamp` minus
//!   `call.startedAt` when both are given. An empty transcript gives no event.
//! - `end-of-call-report`: `Details` (start and end times, `durationSeconds` (or `durationMs`),
//!   `cost` in USD, `call.costBreakdown` (else `costs`) as the cost breakdown, `analysis.summary`,
//!   `successEvaluation` → success (`"true"`/`"false"`, any case; scores and rubric text give
//!   none), the whole `analysis` object (with `structuredData` and the raw `successEvaluation`)
//!   as the analysis, `artifact.recordingUrl` (else `artifact.recording.mono.combinedUrl`) as the
//!   recording URL, `endedReason` as the end reason, and as vendor metadata the call's `type`,
//!   org, assistant, number and telephony fields plus every recording URL under `recordings`),
//!   then the post-call `Transcript` from `artifact.messages` (`bot` → agent, `user`, `system`,
//!   `tool_calls`/`tool_call_result` → tool; offsets from `secondsFromStart`; a tool call
//!   without words reads `name(arguments)`, a result `name: result`), which the gateway
//!   reconciles with the live turns without duplicates, then the terminal `Status`.
//! - `hang`, `conversation-update`, `speech-update`, `user-interrupted`, `model-output` and any
//!   type added later: acknowledged with no events; the receipt keeps the body.
//! - `assistant-request`, `tool-calls`, `transfer-destination-request`,
//!   `knowledge-base-request`: VAPI waits for an answer. **The gateway does not handle them**: it
//!   answers `200 {}` and records the receipt. Do not route assistants that rely on them to the
//!   gateway (their own tools and transfers should point at their own servers).
//!
//! Every message is correlated by `message.call.id` and by
//! `message.call.assistantOverrides.metadata.gateway_call_id` (when a UUID); a message whose call
//! the gateway does not know is answered 404 and stored as `unknown_call`. A body that is not
//! `{"message": {"type": ...}}` is malformed, as are a `status-update` without `status` and a
//! transcript without `role` or a string `transcript`.
//!
//! VAPI sends no event id, so the dedupe key is `{call.id}:{type}:{discriminator}:{timestamp}`:
//! the discriminator is the `status` of a status update and `{role}:{transcriptType}:{digest of
//! the words}` of a transcript; other types have none. An end-of-call report's key is
//! `{call.id}:end-of-call-report`, without the timestamp, so a call's report applies once. When
//! the message has no `call.id`, the gateway's id stands in; with neither, or without a
//! `timestamp`, the gateway dedupes on the body's hash.
//!
//! # Webhook authentication
//!
//! Chosen by `webhook_auth`, all compared in constant time:
//!
//! | `webhook_auth` | VAPI credential | What is checked |
//! |---|---|---|
//! | `secret` | legacy `server.secret`, or a bearer credential with a custom header and the `Bearer` prefix off | `secret_header` (default `x-vapi-secret`) equals `webhook_secret` |
//! | `bearer` | bearer credential | `Authorization: Bearer <webhook_secret>` |
//! | `hmac` | HMAC credential | `signature_header` (default `x-signature`) is the hex HMAC-SHA256, keyed with `webhook_secret`, of `"{timestamp}.{raw body}"`, where `{timestamp}` is the exact text of `timestamp_header` (default `x-timestamp`): unix seconds, unix milliseconds or RFC 3339, at most 5 minutes from the gateway's clock either way. A `sha256=` prefix is accepted. |
//!
//! With no `webhook_secret`, every message is refused (401) unless `allow_unsigned_webhooks` is
//! on (never in production). A configured secret is always enforced.
//!
//! # Statuses
//!
//! The one table of how VAPI values become normalized statuses. The raw `status` is kept as the
//! status event's vendor status and the raw `endedReason` as its reason and the call's end
//! reason, whatever it maps to.
//!
//! | VAPI `status` | `endedReason` | Normalized status |
//! |---|---|---|
//! | `scheduled`, `queued` | | `queued` (in the answer to `POST /call`: `initiating`) |
//! | `ringing` | | `ringing` |
//! | `in-progress`, `forwarding` | | `in_progress` |
//! | `ended` (and every end-of-call report) | `customer-busy` | `busy` |
//! | | `customer-did-not-answer` | `no_answer` |
//! | | `manually-canceled`, `scheduled-call-deleted`, `call-deleted` | `canceled` |
//! | | starting `pipeline-error-`, `call.start.error-`, `call-start-error-`, `call.in-progress.error-`, `call.ringing.error-`, `twilio-failed-`, `vonage-failed-`, `assistant-request-`, `assistant-not-` | `failed` |
//! | | `assistant-join-timed-out`, `customer-did-not-give-microphone-permission`, `phone-call-provider-bypass-enabled-but-no-call-received`, `twilio-reported-customer-misdialed`, `vonage-rejected`, `worker-shutdown`, `db-error`, `unknown-error` | `failed` |
//! | | any other value with a word (split on `-` and `.`) `error`, `failed`, `failure` or ending in `fault` | `failed` |
//! | | any other value, e.g. `customer-ended-call`, `assistant-ended-call`, `assistant-said-end-call-phrase`, `assistant-forwarded-call`, `voicemail`, `silence-timed-out`, `exceeded-max-duration`, `call.in-progress.twilio-completed-call`, `vonage-completed`, `call.forwarding.operator-busy`, or none at all | `completed` |
//! | `not-found`, `deletion-failed`, anything else | | no status event |
//!
//! A gateway hang-up ends the call through its control URL; the call becomes whatever VAPI then
//! reports (`manually-canceled` gives `canceled`; if VAPI reports a normal ending, it is
//! `completed`).
//!
//! # Hang-up
//!
//! `POST <monitor.controlUrl>` with `{"type":"end-call"}` (no API key: the URL itself is the
//! credential), and only to an `https` host under `vapi.ai` or to the configured `base_url`'s
//! origin: the URL comes from a vendor answer, so it may not aim the gateway anywhere else
//! (`build_hangup` fails with `ProviderError::InvalidRequest`). Any 2xx is accepted; the
//! status changes when VAPI reports the end. A call whose
//! create answer had no `monitor.controlUrl` cannot be hung up: `build_hangup` fails with
//! `ProviderError::InvalidRequest`.
//!
//! # Reconciliation
//!
//! `GET {base_url}/call/{id}` with the Bearer key answers a `Call`, read by the same code as the
//! end-of-call report (`Details`, the `Transcript` once the call has `ended`, and the status from
//! the table). Any non-2xx answer is a `ProviderError::Vendor` (retryable for 429 and 5xx); so is
//! a 2xx that is not a JSON object (retryable) or is another call (not retryable).
//!
//! # Setting up VAPI
//!
//! Point the server URL at `https://<gateway>/webhooks/<name>`: set `server_url` (sent with each
//! call), or set it on the assistant or phone number in the VAPI dashboard. Create a server
//! credential of the kind `webhook_auth` names (bearer token, or HMAC) with the same secret as
//! `webhook_secret`, and attach it to that server URL.

#![warn(missing_debug_implementations)]

mod auth;
mod call;
mod config;
mod control;
mod message;
mod record;
mod status;

use std::time::Duration;

use chrono::{DateTime, Utc};
use plugin_api::{
    CallEvent, CallHandle, CallRequest, Capabilities, ConfigProblem, CreateCallOutcome,
    HangupOutcome, Headers, HttpResponse, Manifest, Outbound, ParsedWebhook, Provider,
    ProviderContext, ProviderError, ProviderFactory, Verification, WebhookError, WebhookRequest,
};
use serde_json::Value;

pub use auth::{SIGNATURE_TOLERANCE_SECS, hmac_signature};
pub use call::{END_CALL_BODY, FINAL_TRANSCRIPT_MESSAGE, GATEWAY_CALL_ID_KEY};
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SECRET_HEADER, DEFAULT_SIGNATURE_HEADER,
    DEFAULT_TIMESTAMP_HEADER,
};
pub use message::REQUEST_RESPONSE_TYPES;

use config::{Config, WebhookAuth};

/// The largest server message accepted. End-of-call reports carry the whole conversation
/// (twice: `messages` and `messagesOpenAIFormatted`) and the call with its assistant, so they
/// outgrow the gateway's usual limit on long calls.
pub const WEBHOOK_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Registers the `vapi` kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct VapiFactory;

/// One configured VAPI instance. Its `Debug` is the config's, with secrets redacted.
#[derive(Debug, Clone)]
struct VapiProvider {
    config: Config,
}

fn manifest(config: Option<&Config>) -> Manifest {
    let signature_scheme = match config {
        None => format!(
            "per instance (webhook_auth): shared secret header (default {DEFAULT_SECRET_HEADER}), \
             Authorization: Bearer, or hex hmac-sha256 of \"<timestamp>.<body>\" \
             ({DEFAULT_SIGNATURE_HEADER}, {DEFAULT_TIMESTAMP_HEADER})"
        ),
        Some(config) => match config.webhook_auth {
            WebhookAuth::Secret => format!("shared secret ({})", config.secret_header),
            WebhookAuth::Bearer => "bearer token (Authorization: Bearer)".to_owned(),
            WebhookAuth::Hmac => format!(
                "hmac-sha256 ({}: hex of \"<{}>.<body>\", {SIGNATURE_TOLERANCE_SECS} s tolerance)",
                config.signature_header, config.timestamp_header
            ),
        },
    };
    Manifest {
        kind: "vapi".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: "VAPI: outbound calls, server messages (status, live transcript, \
                      end-of-call report), hang-up, call fetch"
            .to_owned(),
        capabilities: Capabilities {
            outbound_call: true,
            hangup: true,
            live_transcript: config.is_none_or(|c| c.live_transcripts),
            post_call_report: true,
            fetch_call: true,
            // Creates are never resent when their outcome is unknown.
            idempotent_create: false,
            in_process_calls: false,
        },
        signature_scheme: Some(signature_scheme),
        config_keys: config::SCHEMA.config_keys(),
        // The shared secret travels in clear in its header (read lower-cased from config).
        credential_headers: vec![
            config
                .map_or(DEFAULT_SECRET_HEADER, |c| c.secret_header.as_str())
                .to_owned(),
        ],
    }
}

fn unknown_topic(topic: &str) -> Verification {
    Verification::Rejected(format!(
        "unknown webhook topic '{topic}': VAPI posts to /webhooks/<name>"
    ))
}

impl ProviderFactory for VapiFactory {
    fn manifest(&self) -> Manifest {
        manifest(None)
    }

    fn validate_config(
        &self,
        context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        let config = config::validate(context, config)?;
        Ok(Box::new(VapiProvider { config }))
    }
}

impl Provider for VapiProvider {
    fn manifest(&self) -> Manifest {
        manifest(Some(&self.config))
    }

    fn webhook_body_limit(&self) -> Option<usize> {
        Some(WEBHOOK_MAX_BODY_BYTES)
    }

    /// Server messages carry the call with its `monitor` URLs (`controlUrl` ends or steers the
    /// call, `listenUrl` streams its audio): stored receipts keep neither.
    fn redact_webhook_body(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut envelope: Value = serde_json::from_slice(body).ok()?;
        let monitor = envelope
            .pointer_mut("/message/call/monitor")?
            .as_object_mut()?;
        let mut changed = false;
        for (_, url) in monitor.iter_mut().filter(|(key, _)| key.ends_with("Url")) {
            *url = Value::String("[redacted]".to_owned());
            changed = true;
        }
        changed
            .then(|| serde_json::to_vec(&envelope).ok())
            .flatten()
    }

    fn startup_warnings(&self) -> Vec<String> {
        self.config.startup_warnings()
    }

    fn accepts_unsigned_webhooks(&self) -> Option<String> {
        self.config.accepts_unsigned_webhooks()
    }

    fn request_timeout(&self) -> Option<Duration> {
        Some(self.config.request_timeout)
    }

    fn build_create_call(&self, request: &CallRequest) -> Result<Outbound, ProviderError> {
        call::build_create_call(&self.config, request).map(Outbound::Http)
    }

    fn parse_create_call_response(
        &self,
        _request: &CallRequest,
        response: &HttpResponse,
    ) -> CreateCallOutcome {
        call::parse_create_call_response(response)
    }

    /// A shared secret or bearer token is checked before the body is read.
    fn precheck_webhook(&self, topic: Option<&str>, headers: &Headers) -> Option<Verification> {
        if let Some(topic) = topic {
            return Some(unknown_topic(topic));
        }
        auth::precheck(&self.config, headers)
    }

    fn verify_webhook(&self, webhook: &WebhookRequest<'_>, now: DateTime<Utc>) -> Verification {
        if let Some(topic) = webhook.topic {
            return unknown_topic(topic);
        }
        auth::verify(&self.config, webhook.headers, webhook.body, now)
    }

    fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        if let Some(topic) = webhook.topic {
            return Err(WebhookError::UnknownTopic(topic.to_owned()));
        }
        message::parse(webhook.body)
    }

    fn build_hangup(&self, call: &CallHandle) -> Result<Outbound, ProviderError> {
        call::build_hangup(&self.config, call).map(Outbound::Http)
    }

    fn parse_hangup_response(&self, _call: &CallHandle, response: &HttpResponse) -> HangupOutcome {
        call::parse_hangup_response(response)
    }

    fn build_fetch_call(&self, call: &CallHandle) -> Result<Outbound, ProviderError> {
        call::build_fetch_call(&self.config, call).map(Outbound::Http)
    }

    fn parse_fetch_call_response(
        &self,
        call: &CallHandle,
        response: &HttpResponse,
    ) -> Result<Vec<CallEvent>, ProviderError> {
        call::parse_fetch_call_response(call, response)
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{base_config, context, provider};
    use plugin_api::{ConfigValueKind, Environment, Headers};
    use serde_json::json;

    #[test]
    fn manifest_lists_exactly_the_config_keys() {
        let manifest = VapiFactory.manifest();
        assert_eq!(manifest.kind, "vapi");
        let keys: Vec<(&str, ConfigValueKind, bool, bool, Option<&str>)> = manifest
            .config_keys
            .iter()
            .map(|k| {
                (
                    k.name.as_str(),
                    k.kind,
                    k.required,
                    k.secret,
                    k.env.as_deref(),
                )
            })
            .collect();
        use ConfigValueKind::{Boolean, Integer, String};
        assert_eq!(
            keys,
            [
                ("api_key", String, true, true, Some("VAPI_API_KEY")),
                ("base_url", String, false, false, None),
                ("assistant_id", String, true, false, None),
                ("phone_number_id", String, false, false, None),
                ("server_url", String, false, false, None),
                ("webhook_auth", String, false, false, None),
                (
                    "webhook_secret",
                    String,
                    false,
                    true,
                    Some("VAPI_WEBHOOK_SECRET")
                ),
                ("secret_header", String, false, false, None),
                ("signature_header", String, false, false, None),
                ("timestamp_header", String, false, false, None),
                ("live_transcripts", Boolean, false, false, None),
                ("request_timeout_ms", Integer, false, false, None),
                ("allow_unsigned_webhooks", Boolean, false, false, None),
            ]
        );
        assert!(
            manifest
                .config_keys
                .iter()
                .all(|k| !k.description.is_empty())
        );
    }

    #[test]
    fn manifest_states_capabilities_and_the_instance_s_scheme() {
        let all = Capabilities {
            outbound_call: true,
            hangup: true,
            live_transcript: true,
            post_call_report: true,
            fetch_call: true,
            // Creates are never resent when their outcome is unknown.
            idempotent_create: false,
            in_process_calls: false,
        };
        assert_eq!(VapiFactory.manifest().capabilities, all);
        let scheme = |overrides| provider(overrides).manifest().signature_scheme.unwrap();
        assert_eq!(scheme(json!({})), "shared secret (x-vapi-secret)");
        assert!(scheme(json!({"webhook_auth": "bearer"})).contains("Bearer"));
        assert!(scheme(json!({"webhook_auth": "hmac"})).contains("x-signature"));
        let quiet = provider(json!({"live_transcripts": false})).manifest();
        assert!(!quiet.capabilities.live_transcript);
        assert_eq!(quiet.config_keys, VapiFactory.manifest().config_keys);
    }

    #[test]
    fn limits_come_from_the_config() {
        let provider = provider(json!({}));
        assert_eq!(provider.request_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(provider.webhook_body_limit(), Some(WEBHOOK_MAX_BODY_BYTES));
        let quick = crate::test_support::provider(json!({"request_timeout_ms": 2500}));
        assert_eq!(quick.request_timeout(), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn factory_reports_every_problem() {
        let mut config = base_config();
        config["webhook_auth"] = json!("oauth");
        config["base_url"] = json!("not a url");
        config["request_timeout_ms"] = json!(-1);
        config["allow_unsigned_webhooks"] = json!(true);
        let problems = VapiFactory
            .validate_config(&context(Environment::Production), &config)
            .err()
            .unwrap();
        let mut keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "allow_unsigned_webhooks",
                "base_url",
                "request_timeout_ms",
                "webhook_auth"
            ]
        );
    }

    #[test]
    fn startup_warnings_reach_the_gateway() {
        assert!(provider(json!({})).startup_warnings().is_empty());
        let open = provider(json!({"webhook_secret": null, "allow_unsigned_webhooks": true}));
        assert_eq!(open.startup_warnings().len(), 1);
    }

    #[test]
    fn topics_are_refused() {
        let provider = provider(json!({"webhook_secret": null, "allow_unsigned_webhooks": true}));
        let headers = Headers::new();
        let webhook = WebhookRequest {
            topic: Some("events"),
            headers: &headers,
            body: br#"{"message":{"type":"hang"}}"#,
        };
        assert!(matches!(
            provider.verify_webhook(&webhook, Utc::now()),
            Verification::Rejected(_)
        ));
        assert_eq!(
            provider.parse_webhook(&webhook),
            Err(WebhookError::UnknownTopic("events".into()))
        );
    }

    #[test]
    fn provider_debug_redacts_secrets() {
        let shown = format!(
            "{:?}",
            VapiProvider {
                config: config::validate(&context(Environment::Development), &base_config())
                    .unwrap(),
            }
        );
        assert!(!shown.contains(crate::test_support::API_KEY), "{shown}");
        assert!(
            !shown.contains(crate::test_support::WEBHOOK_SECRET),
            "{shown}"
        );
    }
}

#[cfg(test)]
mod redaction_tests {
    use serde_json::{Value, json};

    #[test]
    fn stored_messages_lose_the_monitor_urls() {
        let provider = crate::test_support::provider(json!({}));
        let body = json!({"message": {"type": "status-update", "status": "ringing", "call": {
            "id": "c1", "monitor": {"controlUrl": "https://control.example/secret", "listenUrl": "wss://listen.example/secret"}}}});
        let stored = provider
            .redact_webhook_body(body.to_string().as_bytes())
            .unwrap();
        let stored: Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(
            stored["message"]["call"]["monitor"]["controlUrl"],
            "[redacted]"
        );
        assert_eq!(
            stored["message"]["call"]["monitor"]["listenUrl"],
            "[redacted]"
        );
        assert_eq!(stored["message"]["call"]["id"], "c1");
        let plain = json!({"message": {"type": "hang", "call": {"id": "c1"}}});
        assert!(
            provider
                .redact_webhook_body(plain.to_string().as_bytes())
                .is_none()
        );
    }
}
