//! The `retell` provider: outbound phone calls placed by a [Retell AI](https://www.retellai.com)
//! agent, its signed webhooks (status, transcript, cost, analysis), hang-up, reconciliation by
//! fetching the call, and creates Retell deduplicates by an idempotency key.
//!
//! Like every provider it does no I/O: it describes requests and reads answers and webhooks.
//!
//! # Config
//!
//! ```toml
//! [providers.retell]
//! kind = "retell"
//! api_key = "key_..."              # or RETELL_API_KEY: sent as Bearer; also keys webhook signatures
//! from_number = "+14157774444"     # default Retell number; a call's from_number_id overrides it
//! agent_id = "agent_..."           # default agent (override_agent_id); a call's agent_id overrides it
//! webhook_url = "https://gw.example.com/webhooks/retell"  # sent per call when set
//! # base_url = "https://api.retellai.com"
//! # request_timeout_ms = 10000
//! # webhook_max_body_bytes = 8388608
//! # ring_duration_ms = 30000       # 5000..300000, sent per call when set
//! # max_call_duration_ms = 3600000 # 60000..7200000, sent per call when set
//! # allow_unsigned_webhooks = false      # development only; refused in production
//! ```
//!
//! Every problem is reported at once, each with its key: a missing `api_key`, unknown keys,
//! values of the wrong type, a `base_url` that is not an `http(s)://host[:port][/path]` URL, a
//! `webhook_url` that is not an `http(s)` URL (a query is allowed there), a `from_number` that is
//! not E.164, non-positive `request_timeout_ms`, `webhook_max_body_bytes`, `ring_duration_ms` or
//! `max_call_duration_ms`, and `allow_unsigned_webhooks = true` in `production`. Startup
//! warnings say when `ring_duration_ms` or `max_call_duration_ms` is outside Retell's bounds
//! (Retell would refuse every call), when no `from_number` is set, and when
//! `allow_unsigned_webhooks` is on.
//!
//! # Placing a call
//!
//! `POST {base_url}/v2/create-phone-call` with `Authorization: Bearer <api_key>` and:
//!
//! ```json
//! {"from_number": "<from_number_id or from_number>", "to_number": "+14155550123",
//!  "override_agent_id": "<agent_id>",
//!  "retell_llm_dynamic_variables": {"customer_name": "Ada", "slot": "3"},
//!  "metadata": {"crm_id": "drv-42", "gateway_call_id": "<the gateway's call id>"},
//!  "idempotency_key": "<the gateway's call id>",
//!  "agent_override": {"agent": {"webhook_url": "<webhook_url>", "ring_duration_ms": 45000,
//!                               "max_call_duration_ms": 600000}}}
//! ```
//!
//! `override_agent_id` only with an agent (else the number's outbound agent answers);
//! `retell_llm_dynamic_variables` only with variables, each a string (a string as it is,
//! anything else as its JSON text: Retell takes strings only); `metadata` is the call's metadata
//! plus `gateway_call_id`, which always wins (Retell echoes it in every webhook, in the call
//! object and in list-calls, so webhooks can be tied to the call before Retell's id is known);
//! `agent_override.agent` only with one of its keys set. A call with a `first_message` is
//! refused (Retell has none per call), as is one with no number to call from or a
//! `from_number_id` that is not E.164, before anything is sent.
//!
//! The answer: a 2xx with a `call_id` accepts the call (`registered` is `initiating`); 429 and
//! 503 reject it retryably (Retell did not act); 408 and 409 are *indeterminate*; any other 4xx
//! (400, 401, 402, 403, 404, 422, ...) rejects it for good; 500, 502, 504, anything else, and a 2xx
//! without a readable call are *indeterminate*. The failure reason quotes Retell's `message`,
//! e.g. `Retell answered HTTP 402: Payment required`.
//!
//! **Idempotent creates.** Retell creates no second call for an `idempotency_key` it saw within
//! the hour, so the manifest declares `idempotent_create`: the gateway sends an indeterminate
//! create again (at most its usual three attempts, with backoff), with the same key, and a call
//! Retell had placed after all is answered again instead of dialled twice.
//!
//! # Webhooks
//!
//! Retell posts `{"event": ..., "call": {...}}` to `/webhooks/<name>` (no topic: any
//! `/webhooks/<name>/<topic>` is refused), each signed in `x-retell-signature:
//! v=<unix ms>,d=<hex>`: the lowercase hex HMAC-SHA256, keyed with the API key, of the raw body
//! followed by the decimal `v`. The header must be exactly that shape, `v` within 5 minutes of
//! the gateway's clock either way, and the digest equal in constant time. Without the header a
//! webhook is refused (401) unless `allow_unsigned_webhooks` is on (never in production); a header
//! that is sent is always checked.
//!
//! - `call_started`: `Details` (start time, ...) and `in_progress`.
//! - `call_ended` and `call_analyzed`: the whole call record: `Details` (start and end from the
//!   millisecond timestamps, `duration_ms`, `call_cost.combined_cost` in cents as USD with the
//!   whole `call_cost` as the cost breakdown, `call_analysis.call_summary` as the summary,
//!   `call_successful` as success, the whole `call_analysis` (sentiment, voicemail, custom
//!   analysis data) as the analysis, `recording_url`, `disconnection_reason` as the end reason,
//!   `telephony_identifier.twilio_call_sid` as a telephony id, and agent, direction, log and
//!   extra recording URLs as vendor metadata), the post-call `Transcript` from
//!   `transcript_object` (`agent`, `user`, `transfer_target`; offsets from the first word's
//!   `start`; keyed by position), then the status from the table below.
//! - `transcript_updated`: the transcript so far as live turns keyed by position, so each update
//!   replaces the turn that grew and the post-call transcript adds no duplicate.
//! - `transfer_started`, `transfer_bridged`, `transfer_cancelled`: `Details` and `in_progress`;
//!   `transfer_ended`: `Details`.
//! - `chat_started`, `chat_ended`, `chat_analyzed` (chat agents): about no call; acknowledged and
//!   recorded with no events. Any other type: acknowledged with no events.
//!
//! A call webhook is correlated by `call.metadata.gateway_call_id` (when a UUID) and by
//! `call.call_id`; one whose call the gateway does not know is answered 404 and stored as
//! `unknown_call`. A body that is not `{"event": ..., "call": {...}}` with a call id or gateway id
//! is malformed (a chat event needs no call).
//!
//! Retell sends no event id, so the dedupe key is `{call_id}:{event}` for `call_started`,
//! `call_ended` and `call_analyzed` (each happens once per call: a redelivery, changed or not,
//! applies once), and `{call_id}:{event}:{digest of the body}` for the types that repeat
//! (`transcript_updated`, the transfer events, types added later). Without a `call_id` the
//! gateway's id stands in.
//!
//! # Statuses
//!
//! The reason decides first, then `call_status`. The raw `call_status` is the status event's
//! vendor status and the raw `disconnection_reason` its reason and the call's end reason.
//!
//! | `call_status` | `disconnection_reason` | Normalized status |
//! |---|---|---|
//! | `registered` | | `initiating` |
//! | `ongoing` (and `call_started`) | | `in_progress` |
//! | any final one | `dial_busy`, `user_declined` | `busy` |
//! | | `dial_no_answer` | `no_answer` |
//! | | `dial_failed`, `invalid_destination`, `telephony_provider_permission_denied`, `telephony_provider_unavailable`, `sip_routing_error`, `marked_as_spam` | `failed` |
//! | | `concurrency_limit_reached`, `no_valid_payment`, `scam_detected`, `credit_exhausted`, `budget_reached`, `no_concurrency_fallback`, `network_blocked`, `registered_call_timeout`, any `error_*` | `failed` |
//! | | `user_hangup`, `agent_hangup`, `call_transfer`, `transfer_bridged`, `transfer_cancelled`, `voicemail_reached`, `ivr_reached`, `inactivity`, `max_duration_reached`, `user_requested_dnc`, `user_requested_callback`, `call_take_over`, `manual_stopped` | `completed` (the gateway makes it `canceled` when it asked for the hang-up) |
//! | `ended` | any other value, or none | `completed` |
//! | `not_connected`, `error` | any other value, or none | `failed` |
//! | anything else | | no status event |
//!
//! # Hang-up
//!
//! `POST {base_url}/v2/stop-call/{call_id}` with the Bearer key and no body; any 2xx (Retell
//! answers 204) is accepted, and the status changes when Retell's `call_ended` arrives
//! (`manual_stopped`: `canceled`). A 400, 404, 409 or 422 is refused with a message saying the
//! call may have ended already (Retell documents no answer for that case; a refresh shows how it
//! ended).
//!
//! # Reconciliation
//!
//! `GET {base_url}/v2/get-call/{call_id}` answers the call object, read by the same code as the
//! webhooks. A call whose create answer never came (no Retell id yet) is searched with
//! `POST {base_url}/v3/list-calls` and `{"filter_criteria": {"metadata": [{"key":
//! "gateway_call_id", "type": "string", "op": "eq", "value": "<id>"}]}, "limit": 10}`; the item
//! naming the gateway's id gives the Retell id only (list items carry no transcript), and the
//! gateway then fetches the call by that id. Any non-2xx answer is a
//! `ProviderError::Vendor` (retryable for 429 and 5xx); so is a body that is not JSON
//! (retryable), a list without the call (retryable) and another call (not retryable).
//!
//! # Setting up Retell
//!
//! Use the API key marked with the webhook badge in Retell's dashboard as `api_key`: Retell signs
//! webhooks with it. Point the agent's webhook URL at `https://<gateway>/webhooks/<name>`, or set
//! `webhook_url` (sent with each call). Buy or import the number in Retell and set it as
//! `from_number`.

#![warn(missing_debug_implementations)]

mod call;
mod config;
mod record;
mod status;
mod webhook;

use std::time::Duration;

use chrono::{DateTime, Utc};
use plugin_api::{
    CallEvent, CallHandle, CallRequest, Capabilities, ConfigProblem, CreateCallOutcome,
    HangupOutcome, HttpResponse, Manifest, Outbound, ParsedWebhook, Provider, ProviderContext,
    ProviderError, ProviderFactory, Verification, WebhookError, WebhookRequest,
};
use serde_json::Value;

pub use call::{CREATE_PATH, GET_PATH, LIST_PATH, STOP_PATH};
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_WEBHOOK_MAX_BODY_BYTES,
    MAX_CALL_DURATION_MS, RING_DURATION_MS,
};
pub use record::GATEWAY_CALL_ID_KEY;
pub use webhook::{SIGNATURE_HEADER, SIGNATURE_TOLERANCE_MS, signature_header};

use config::Config;

/// Registers the `retell` kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct RetellFactory;

/// One configured Retell instance. Its `Debug` is the config's, with the API key redacted.
#[derive(Debug, Clone)]
struct RetellProvider {
    config: Config,
}

fn manifest() -> Manifest {
    Manifest {
        kind: "retell".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: "Retell AI: outbound calls, webhooks (status, transcript, cost, analysis), \
                      hang-up, call fetch, idempotent creates"
            .to_owned(),
        capabilities: Capabilities {
            outbound_call: true,
            hangup: true,
            live_transcript: true,
            post_call_report: true,
            fetch_call: true,
            idempotent_create: true,
            in_process_calls: false,
        },
        signature_scheme: Some(format!(
            "hmac-sha256 ({SIGNATURE_HEADER}: v=<unix ms>,d=<hex hmac-sha256 of <body><v>, \
             keyed with the API key>; 5 min tolerance)"
        )),
        config_keys: config::SCHEMA.config_keys(),
        // Retell signs webhooks with an HMAC; no header carries a credential itself.
        credential_headers: Vec::new(),
    }
}

impl ProviderFactory for RetellFactory {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    fn validate_config(
        &self,
        context: &ProviderContext,
        config: &Value,
    ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
        let config = config::validate(context, config)?;
        Ok(Box::new(RetellProvider { config }))
    }
}

impl Provider for RetellProvider {
    fn manifest(&self) -> Manifest {
        manifest()
    }

    fn webhook_body_limit(&self) -> Option<usize> {
        Some(self.config.webhook_max_body_bytes)
    }

    fn accepts_unsigned_webhooks(&self) -> Option<String> {
        self.config
            .allow_unsigned_webhooks
            .then(|| "allow_unsigned_webhooks".to_owned())
    }

    fn startup_warnings(&self) -> Vec<String> {
        self.config.startup_warnings()
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

    fn verify_webhook(&self, webhook: &WebhookRequest<'_>, now: DateTime<Utc>) -> Verification {
        if let Some(topic) = webhook.topic {
            return Verification::Rejected(format!(
                "unknown webhook topic '{topic}': Retell posts to /webhooks/<name>"
            ));
        }
        webhook::verify(&self.config, webhook.headers, webhook.body, now)
    }

    fn parse_webhook(&self, webhook: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        if let Some(topic) = webhook.topic {
            return Err(WebhookError::UnknownTopic(topic.to_owned()));
        }
        webhook::parse(webhook.body)
    }

    fn build_hangup(&self, call: &CallHandle) -> Result<Outbound, ProviderError> {
        call::build_hangup(&self.config, call).map(Outbound::Http)
    }

    fn parse_hangup_response(&self, _call: &CallHandle, response: &HttpResponse) -> HangupOutcome {
        call::parse_hangup_response(response)
    }

    fn build_fetch_call(&self, call: &CallHandle) -> Result<Outbound, ProviderError> {
        Ok(Outbound::Http(call::build_fetch_call(&self.config, call)))
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
    use crate::test_support::{context, provider};
    use plugin_api::{ConfigValueKind, Environment, Headers};
    use serde_json::json;

    #[test]
    fn manifest_lists_exactly_the_config_keys() {
        let manifest = RetellFactory.manifest();
        assert_eq!(manifest.kind, "retell");
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
                ("api_key", String, true, true, Some("RETELL_API_KEY")),
                ("base_url", String, false, false, None),
                ("agent_id", String, false, false, None),
                ("from_number", String, false, false, None),
                ("webhook_url", String, false, false, None),
                ("request_timeout_ms", Integer, false, false, None),
                ("webhook_max_body_bytes", Integer, false, false, None),
                ("allow_unsigned_webhooks", Boolean, false, false, None),
                ("ring_duration_ms", Integer, false, false, None),
                ("max_call_duration_ms", Integer, false, false, None),
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
    fn manifest_declares_idempotent_creates() {
        let all = Capabilities {
            outbound_call: true,
            hangup: true,
            live_transcript: true,
            post_call_report: true,
            fetch_call: true,
            idempotent_create: true,
            in_process_calls: false,
        };
        assert_eq!(RetellFactory.manifest().capabilities, all);
        assert_eq!(provider(json!({})).manifest(), RetellFactory.manifest());
        let scheme = RetellFactory.manifest().signature_scheme.unwrap();
        assert!(scheme.contains(SIGNATURE_HEADER), "{scheme}");
    }

    #[test]
    fn limits_come_from_the_config() {
        let default = provider(json!({}));
        assert_eq!(default.request_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(default.webhook_body_limit(), Some(8 * 1024 * 1024));
        let tuned = provider(json!({"request_timeout_ms": 2500, "webhook_max_body_bytes": 4096}));
        assert_eq!(tuned.request_timeout(), Some(Duration::from_millis(2500)));
        assert_eq!(tuned.webhook_body_limit(), Some(4096));
    }

    #[test]
    fn factory_reports_every_problem() {
        let problems = RetellFactory
            .validate_config(
                &context(Environment::Production),
                &json!({"api_key": "k", "base_url": "not a url", "allow_unsigned_webhooks": true}),
            )
            .err()
            .unwrap();
        let mut keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["allow_unsigned_webhooks", "base_url"]);
    }

    #[test]
    fn topics_are_refused() {
        let provider = provider(json!({"allow_unsigned_webhooks": true}));
        let headers = Headers::new();
        let webhook = WebhookRequest {
            topic: Some("events"),
            headers: &headers,
            body: br#"{"event":"call_started","call":{"call_id":"c1"}}"#,
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
    fn provider_debug_redacts_the_api_key() {
        let shown = format!("{:?}", provider(json!({})).manifest());
        assert!(!shown.contains(crate::test_support::API_KEY), "{shown}");
        let config = config::validate(
            &context(Environment::Development),
            &crate::test_support::base_config(),
        )
        .unwrap();
        let shown = format!("{:?}", RetellProvider { config });
        assert!(!shown.contains(crate::test_support::API_KEY), "{shown}");
    }
}
