//! The `elevenlabs` provider: outbound phone calls placed by an
//! [ElevenLabs Agents Platform](https://elevenlabs.io/docs/agents-platform) agent over a Twilio
//! or SIP trunk number, their post-call reports, an optional live transcript, and
//! reconciliation by fetching the conversation.
//!
//! Like every provider it does no I/O: it describes requests and reads answers and webhooks.
//!
//! # Config
//!
//! ```toml
//! [providers.eleven]
//! kind = "elevenlabs"
//! api_key = "..."                  # or ELEVENLABS_API_KEY; sent as xi-api-key
//! agent_id = "agent_..."           # default agent; a call's agent_id overrides it
//! agent_phone_number_id = "phnum_..." # default caller number; a call's from_number_id overrides it
//! telephony = "twilio"             # or "sip_trunk": how that number is connected (default twilio)
//! webhook_secret = "wsec_..."      # or ELEVENLABS_WEBHOOK_SECRET: post-call webhook HMAC secret
//! transcription_secret = "..."     # or ELEVENLABS_TRANSCRIPTION_SECRET: live tool shared secret
//! # base_url = "https://api.elevenlabs.io"  # e.g. https://api.eu.residency.elevenlabs.io
//! # request_timeout_ms = 10000
//! # webhook_max_body_bytes = 52428800       # post_call_audio carries the whole MP3 as base64
//! # allow_unsigned_webhooks = false         # refused in production
//! ```
//!
//! Every problem is reported at once: a `telephony` other than `twilio`/`sip_trunk`, a
//! `base_url` that is not an `http(s)://host[:port][/path]` URL, a non-positive
//! `request_timeout_ms` or `webhook_max_body_bytes`, and `allow_unsigned_webhooks = true` in the
//! `production` environment.
//!
//! **Unsigned webhooks.** With `allow_unsigned_webhooks = true`, a webhook endpoint whose secret
//! is not configured accepts anything. A provider cannot log: `Provider::startup_warnings` says
//! so, and the gateway logs it at startup.
//! (A configured secret is always enforced, whatever `allow_unsigned_webhooks` says.)
//!
//! # Placing a call
//!
//! `POST {base_url}/v1/convai/twilio/outbound-call` (or `/v1/convai/sip-trunk/outbound-call`)
//! with `xi-api-key`, carrying `agent_id`, `agent_phone_number_id`, `to_number` and
//! `conversation_initiation_client_data`: `user_id` and the dynamic variable `gateway_call_id`
//! are the gateway's call id (so every later webhook can be tied to the call even before the
//! vendor's `conversation_id` is known), the other dynamic variables are the call's `variables`,
//! and `first_message` becomes `conversation_config_override.agent.first_message` (the agent must
//! allow that override in its security settings). A call's `metadata` is not sent: the vendor has
//! no field for opaque client data.
//!
//! The answer: 2xx with `success: true` accepts the call (`initiating`, with `conversation_id`
//! and the Twilio `callSid` or `sip_call_id` when given); 2xx with `success: false` and any 4xx
//! but 429 reject it for good; 429 and 503 reject it retryably (the vendor did not act); 500,
//! 502, 504, any other answer and a 2xx whose body cannot be read are *indeterminate*: the vendor
//! may have dialled, so the call waits for a webhook or reconciliation.
//!
//! # Webhooks to set up in ElevenLabs
//!
//! | ElevenLabs setting | URL | Authentication |
//! |---|---|---|
//! | Agents Platform → Settings → Post-call webhook (enable transcription, audio and call-initiation-failure events as wanted) | `https://<gateway>/webhooks/<name>` or `https://<gateway>/webhooks/<name>/post-call` | HMAC: copy the webhook's secret into `webhook_secret` |
//! | Agent → Tools → a *webhook* (server) tool, POST | `https://<gateway>/webhooks/<name>/transcription` | header `x-transcription-secret` set to `transcription_secret` (store it as a workspace secret) |
//!
//! `<name>` is the instance name (`[providers.<name>]`). Any other topic is answered as unknown
//! (and refused at the signature step, since no secret covers it).
//!
//! **Post-call webhook** (`{type, event_timestamp, data}`, signed with
//! `ElevenLabs-Signature: t=<unix>,v0=<hex>`: HMAC-SHA256 of `"{t}.{raw body}"` with the secret,
//! compared in constant time, `t` at most 30 minutes old and 5 minutes ahead of the gateway's
//! clock):
//!
//! - `post_call_transcription`: `Details` (times, duration, cost, summary, success, analysis,
//!   termination reason, raw `metadata`), the post-call `Transcript`, then the `Status` from the
//!   table below.
//! - `call_initiation_failure`: `Details` (with the telephony provider's payload `data.metadata`
//!   as vendor metadata) and a terminal `Status`.
//! - `post_call_audio`: a `Recording` (`audio/mpeg`) of the decoded `full_audio`.
//! - **Any other `type` is acknowledged with no events** rather than answered 400. ElevenLabs adds
//!   webhook types over time and answers every webhook type to the same URL; a 4xx teaches it
//!   nothing (it never retries 4xx), shows up as a failing webhook in its dashboard and counts
//!   towards disabling the webhook, while acknowledging loses nothing: the gateway stores the
//!   body in the receipt, where an operator can find it by its `event_type`. Bodies that are not
//!   an envelope at all (no JSON, no `type`, a known type without `data`) are malformed.
//!
//! Each delivery's dedupe key is `"{type}:{conversation_id}"` (the vendor sends no event id). The
//! call is found by `conversation_id`, and by the gateway's id from `data.user_id`, else the
//! dynamic variable `gateway_call_id`, else the client data's `user_id` (the first that is a
//! UUID).
//!
//! **Live transcription tool.** ElevenLabs pushes nothing while a Twilio/SIP call runs (except an
//! Enterprise-only monitor socket), so a live transcript comes from a webhook tool the agent calls
//! itself, e.g. instructed in its prompt to report each exchange. The tool posts a JSON body:
//!
//! ```json
//! {"call_id": "{{gateway_call_id}}", "speaker": "user", "message": "I'd like to reschedule.",
//!  "sequence": 3, "time_in_call_secs": 12.4}
//! ```
//!
//! - `call_id` (required): the gateway's call id (the dynamic variable `gateway_call_id`, set as
//!   a constant value of the tool parameter) or the `conversation_id`
//!   (`{{system__conversation_id}}`); a UUID is taken as the gateway's id.
//! - `speaker` (required): `agent` or `user`.
//! - `message` (required, not empty): the words spoken.
//! - `sequence` (optional, integer ≥ 0): numbers the turns; a repeated `sequence` is a duplicate
//!   (dedupe key `transcription:{call_id}:{sequence}`, turn key `live-{sequence}`). Without it
//!   the gateway dedupes on the body's hash.
//! - `time_in_call_secs` (optional, number): seconds since the call started.
//!
//! Each becomes one final, live `Turn`; the post-call transcript is later reconciled with them.
//! Such turns are what the agent's LLM chose to report, not a verbatim speech-to-text feed: the
//! post-call transcript is authoritative.
//!
//! # Statuses
//!
//! The one table of how ElevenLabs values become normalized statuses. The raw value is always
//! kept as the status event's `vendor_status`.
//!
//! | Where | Vendor value | Normalized status | Reason |
//! |---|---|---|---|
//! | outbound-call answer | `success: true` | `initiating` | |
//! | `metadata.phone_call.call_result` (decides when known) | `answered` | `completed` | `termination_reason` |
//! | | `voicemail` | `completed` | `voicemail` |
//! | | `busy` | `busy` | `busy` |
//! | | `no_answer` | `no_answer` | `no_answer` |
//! | | `failed` | `failed` | `metadata.error` reason or code, else `termination_reason`, else `failed` |
//! | | anything else | decided by `status` below | `call_result=<value>` |
//! | conversation `status` (no known `call_result`) | `done` | `completed` | `termination_reason` |
//! | | `failed` | `failed` | as for `call_result: failed` |
//! | | `in-progress`, `processing` | `in_progress` | |
//! | | `initiated` | no status event (ringing or not yet dialled: unknown) | |
//! | | anything else | no status event | |
//! | `call_initiation_failure` `failure_reason` | `busy` | `busy` | the raw `failure_reason` |
//! | | `no-answer`, `no_answer` | `no_answer` | the raw `failure_reason` |
//! | | `unknown` or missing | from Twilio's `CallStatus` in `data.metadata.body` if `busy`/`no-answer`, else `failed` | `failure_reason`, else `CallStatus` |
//! | | anything else | `failed` | the raw `failure_reason` |
//!
//! `analysis.call_successful` maps to `success`: `success` → true, `failure` → false, anything
//! else (`unknown`) → not set. The cost is `metadata.cost_fiat` in USD when present, else
//! `metadata.cost` in credits, else not set (never 0); `cost_breakdown` lists every figure given
//! (`{"credits": .., "usd": ..}`).
//!
//! # Reconciliation
//!
//! `GET {base_url}/v1/convai/conversations/{conversation_id}` answers with the shape of the
//! `post_call_transcription` webhook's `data`, and gives the same events. A 404 is reported as an
//! error rather than a `failed` call: a call the vendor accepted always has a conversation, so a
//! 404 means a misconfiguration (another workspace's key, the wrong regional `base_url`) that a
//! terminal status would hide for good, while an error leaves the call to be retried with back-off
//! and shows in the logs.

#![warn(missing_debug_implementations)]

mod call;
mod config;
mod conversation;
pub mod webhook;

use std::time::Duration;

use chrono::{DateTime, Utc};
use plugin_api::{
    CallEvent, CallHandle, CallRequest, Capabilities, ConfigProblem, CreateCallOutcome, Headers,
    HttpResponse, Manifest, Outbound, ParsedWebhook, Provider, ProviderContext, ProviderError,
    ProviderFactory, Verification, WebhookError, WebhookRequest,
};
use serde_json::Value;

pub use call::{API_KEY_HEADER, GATEWAY_CALL_ID_VARIABLE};
pub use config::{DEFAULT_BASE_URL, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_WEBHOOK_MAX_BODY_BYTES};
pub use webhook::{SIGNATURE_HEADER, TRANSCRIPTION_SECRET_HEADER, signature_header};

use config::Config;
use webhook::Topic;

/// Registers the `elevenlabs` kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct ElevenLabsFactory;

/// One configured ElevenLabs instance.
#[derive(Debug, Clone)]
struct ElevenLabsProvider {
    config: Config,
}

fn manifest() -> Manifest {
    Manifest {
        kind: "elevenlabs".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: "ElevenLabs Agents Platform: outbound calls over Twilio or a SIP trunk, \
                      post-call webhooks, live transcript tool, conversation fetch"
            .to_owned(),
        capabilities: Capabilities {
            outbound_call: true,
            hangup: false,
            live_transcript: true,
            post_call_report: true,
            fetch_call: true,
            // Creates are never resent when their outcome is unknown.
            idempotent_create: false,
            in_process_calls: false,
        },
        signature_scheme: Some(format!(
            "hmac-sha256 ({SIGNATURE_HEADER}: t=<unix>,v0=<hex hmac-sha256 of \"<t>.<body>\">); \
             live transcription: shared secret in {TRANSCRIPTION_SECRET_HEADER}"
        )),
        config_keys: config::SCHEMA.config_keys(),
        credential_headers: vec![TRANSCRIPTION_SECRET_HEADER.to_owned()],
    }
}

impl ProviderFactory for ElevenLabsFactory {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    fn validate_config(
        &self,
        context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        let config = config::validate(context, config)?;
        Ok(Box::new(ElevenLabsProvider { config }))
    }
}

impl ElevenLabsProvider {
    /// A webhook endpoint whose secret is not configured.
    fn unsigned(&self, secret: &str) -> Verification {
        if self.config.allow_unsigned_webhooks {
            Verification::Unsigned
        } else {
            Verification::Rejected(format!("no {secret} configured"))
        }
    }
}

impl Provider for ElevenLabsProvider {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    fn webhook_body_limit(&self) -> Option<usize> {
        Some(self.config.webhook_max_body_bytes)
    }

    fn request_timeout(&self) -> Option<Duration> {
        Some(self.config.request_timeout)
    }

    fn startup_warnings(&self) -> Vec<String> {
        self.config.startup_warnings()
    }

    fn accepts_unsigned_webhooks(&self) -> Option<String> {
        self.config.accepts_unsigned_webhooks()
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

    /// The transcription tool's shared secret, an endpoint without its secret and a missing
    /// signature header are decided before the body is read; the post-call HMAC needs it.
    fn precheck_webhook(&self, topic: Option<&str>, headers: &Headers) -> Option<Verification> {
        match Topic::parse(topic) {
            Ok(Topic::PostCall) => match &self.config.webhook_secret {
                Some(_) if headers.get(SIGNATURE_HEADER).is_some() => None,
                Some(_) => Some(Verification::Rejected(
                    webhook::MISSING_SIGNATURE.to_owned(),
                )),
                None => Some(self.unsigned("webhook_secret")),
            },
            Ok(Topic::Transcription) => Some(match &self.config.transcription_secret {
                Some(secret) => webhook::verify_shared_secret(
                    secret.expose(),
                    headers.get(TRANSCRIPTION_SECRET_HEADER),
                ),
                None => self.unsigned("transcription_secret"),
            }),
            Err(e) => Some(Verification::Rejected(e.to_string())),
        }
    }

    fn verify_webhook(&self, webhook: &WebhookRequest<'_>, now: DateTime<Utc>) -> Verification {
        match Topic::parse(webhook.topic) {
            Ok(Topic::PostCall) => match &self.config.webhook_secret {
                Some(secret) => webhook::verify_signature(
                    secret.expose(),
                    webhook.headers.get(SIGNATURE_HEADER),
                    webhook.body,
                    now,
                ),
                None => self.unsigned("webhook_secret"),
            },
            Ok(Topic::Transcription) => match &self.config.transcription_secret {
                Some(secret) => webhook::verify_shared_secret(
                    secret.expose(),
                    webhook.headers.get(TRANSCRIPTION_SECRET_HEADER),
                ),
                None => self.unsigned("transcription_secret"),
            },
            // No secret covers an unknown endpoint, so nothing can vouch for it.
            Err(e) => Verification::Rejected(e.to_string()),
        }
    }

    fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        match Topic::parse(webhook.topic)? {
            Topic::PostCall => webhook::parse_post_call(webhook.body),
            Topic::Transcription => webhook::parse_transcription(webhook.body),
        }
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
    use crate::test_support::{base_config, context};
    use plugin_api::{ConfigValueKind, Environment};
    use serde_json::json;

    #[test]
    fn manifest_lists_exactly_the_config_keys() {
        let manifest = ElevenLabsFactory.manifest();
        assert_eq!(manifest.kind, "elevenlabs");
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
                ("api_key", String, true, true, Some("ELEVENLABS_API_KEY")),
                ("base_url", String, false, false, None),
                ("agent_id", String, true, false, None),
                ("agent_phone_number_id", String, false, false, None),
                ("telephony", String, false, false, None),
                (
                    "webhook_secret",
                    String,
                    false,
                    true,
                    Some("ELEVENLABS_WEBHOOK_SECRET")
                ),
                (
                    "transcription_secret",
                    String,
                    false,
                    true,
                    Some("ELEVENLABS_TRANSCRIPTION_SECRET")
                ),
                ("request_timeout_ms", Integer, false, false, None),
                ("webhook_max_body_bytes", Integer, false, false, None),
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
    fn manifest_states_capabilities_and_signature() {
        let manifest = ElevenLabsFactory.manifest();
        assert_eq!(
            manifest.capabilities,
            Capabilities {
                outbound_call: true,
                hangup: false,
                live_transcript: true,
                post_call_report: true,
                fetch_call: true,
                // Creates are never resent when their outcome is unknown.
                idempotent_create: false,
                in_process_calls: false,
            }
        );
        let scheme = manifest.signature_scheme.clone().unwrap();
        assert!(
            scheme.contains("ElevenLabs-Signature: t=<unix>,v0=<hex"),
            "{scheme}"
        );
        let provider = ElevenLabsFactory
            .validate_config(&context(Environment::Production), &base_config())
            .unwrap();
        assert_eq!(provider.manifest(), manifest);
    }

    #[test]
    fn limits_come_from_the_config() {
        let production = context(Environment::Production);
        let provider = ElevenLabsFactory
            .validate_config(&production, &base_config())
            .unwrap();
        assert_eq!(provider.webhook_body_limit(), Some(52_428_800));
        assert_eq!(provider.request_timeout(), Some(Duration::from_secs(10)));

        let mut config = base_config();
        config["request_timeout_ms"] = json!(2500);
        config["webhook_max_body_bytes"] = json!(4096);
        let provider = ElevenLabsFactory
            .validate_config(&production, &config)
            .unwrap();
        assert_eq!(provider.webhook_body_limit(), Some(4096));
        assert_eq!(
            provider.request_timeout(),
            Some(Duration::from_millis(2500))
        );
    }

    #[test]
    fn factory_reports_every_problem() {
        let mut config = base_config();
        config["telephony"] = json!("pstn");
        config["base_url"] = json!("not a url");
        config["request_timeout_ms"] = json!(-1);
        config["allow_unsigned_webhooks"] = json!(true);
        let problems = ElevenLabsFactory
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
                "telephony"
            ]
        );
    }

    #[test]
    fn hangup_is_unsupported() {
        let provider = crate::test_support::provider(json!({}));
        let handle = crate::test_support::handle(Some("conv_abc123"));
        assert_eq!(
            provider.build_hangup(&handle),
            Err(ProviderError::Unsupported("hang-up".into()))
        );
    }
}
