//! The `elevenlabs` config table: its keys, their defaults and every check made on them.

use std::time::Duration;

use plugin_api::config::{Key, Reader, Schema, Secret, UrlRule};
use plugin_api::{ConfigProblem, Environment, ProviderContext};
use serde_json::Value;

/// The vendor's public API host, used when `base_url` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.elevenlabs.io";
/// How long the gateway waits for ElevenLabs on each request when `request_timeout_ms` is not set.
pub const DEFAULT_REQUEST_TIMEOUT_MS: i64 = 10_000;
/// The largest webhook body accepted when `webhook_max_body_bytes` is not set: `post_call_audio`
/// carries a whole call's MP3 as base64, so this is far above the gateway's usual limit.
pub const DEFAULT_WEBHOOK_MAX_BODY_BYTES: i64 = 52_428_800;

/// How ElevenLabs reaches the phone network for outbound calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Telephony {
    /// A Twilio number imported into ElevenLabs: `/v1/convai/twilio/outbound-call`.
    Twilio,
    /// A SIP trunk number: `/v1/convai/sip-trunk/outbound-call`.
    SipTrunk,
}

impl Telephony {
    /// The `telephony` option read (one of [`TELEPHONY`]'s).
    fn from_choice(choice: &str) -> Self {
        if choice == "sip_trunk" {
            Telephony::SipTrunk
        } else {
            Telephony::Twilio
        }
    }

    /// The path of the outbound-call endpoint, relative to `base_url`.
    pub(crate) fn outbound_call_path(self) -> &'static str {
        match self {
            Telephony::Twilio => "/v1/convai/twilio/outbound-call",
            Telephony::SipTrunk => "/v1/convai/sip-trunk/outbound-call",
        }
    }
}

/// A validated `elevenlabs` instance config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub api_key: Secret,
    /// Without a trailing slash.
    pub base_url: String,
    pub agent_id: String,
    pub agent_phone_number_id: Option<String>,
    pub telephony: Telephony,
    pub webhook_secret: Option<Secret>,
    pub transcription_secret: Option<Secret>,
    pub request_timeout: Duration,
    pub webhook_max_body_bytes: usize,
    pub allow_unsigned_webhooks: bool,
}

const API_KEY: Key = Key::string("api_key", "ElevenLabs API key, sent as xi-api-key")
    .required()
    .secret()
    .env("ELEVENLABS_API_KEY");
const BASE_URL: Key = Key::url(
    "base_url",
    "API base URL, e.g. a regional host (default https://api.elevenlabs.io)",
    UrlRule::BASE
        .schemes_hint("https://")
        .credentials_hint("use api_key"),
)
.default(DEFAULT_BASE_URL);
const AGENT_ID: Key = Key::string(
    "agent_id",
    "Default agent placing calls; a call's agent_id overrides it",
)
.required();
const AGENT_PHONE_NUMBER_ID: Key = Key::string(
    "agent_phone_number_id",
    "Default ElevenLabs phone number id calls are placed from; a call's from_number_id overrides it",
);
const TELEPHONY: Key = Key::one_of(
    "telephony",
    "How that number is connected: twilio or sip_trunk (default twilio)",
    &["twilio", "sip_trunk"],
);
const WEBHOOK_SECRET: Key = Key::string(
    "webhook_secret",
    "HMAC secret of the post-call webhook (ElevenLabs-Signature header)",
)
.secret()
.env("ELEVENLABS_WEBHOOK_SECRET");
const TRANSCRIPTION_SECRET: Key = Key::string(
    "transcription_secret",
    "Shared secret the live-transcription tool sends in the x-transcription-secret header",
)
.secret()
.env("ELEVENLABS_TRANSCRIPTION_SECRET");
const REQUEST_TIMEOUT_MS: Key = Key::positive(
    "request_timeout_ms",
    "Milliseconds to wait for ElevenLabs on each request (default 10000)",
    DEFAULT_REQUEST_TIMEOUT_MS as u64,
);
const WEBHOOK_MAX_BODY_BYTES: Key = Key::positive(
    "webhook_max_body_bytes",
    "Largest webhook body accepted; post_call_audio carries the whole recording (default 52428800)",
    DEFAULT_WEBHOOK_MAX_BODY_BYTES as u64,
);
const ALLOW_UNSIGNED_WEBHOOKS: Key = Key::boolean(
    "allow_unsigned_webhooks",
    "Accept webhooks when no secret is configured (default false; refused in production)",
    false,
);

/// The keys of the `elevenlabs` config table, in the order the manifest lists them.
pub(crate) static SCHEMA: Schema = Schema::new(
    "elevenlabs",
    &[
        API_KEY,
        BASE_URL,
        AGENT_ID,
        AGENT_PHONE_NUMBER_ID,
        TELEPHONY,
        WEBHOOK_SECRET,
        TRANSCRIPTION_SECRET,
        REQUEST_TIMEOUT_MS,
        WEBHOOK_MAX_BODY_BYTES,
        ALLOW_UNSIGNED_WEBHOOKS,
    ],
);

/// Validates an instance's config table, reporting every problem found.
pub(crate) fn validate(
    context: &ProviderContext,
    config: &Value,
) -> Result<Config, Vec<ConfigProblem>> {
    let mut read = SCHEMA.read(config)?;
    let config = Config {
        api_key: read.secret(&API_KEY),
        base_url: read.string(&BASE_URL),
        agent_id: read.string(&AGENT_ID),
        agent_phone_number_id: read.optional_string(&AGENT_PHONE_NUMBER_ID),
        telephony: Telephony::from_choice(read.choice(&TELEPHONY)),
        webhook_secret: read.optional_secret(&WEBHOOK_SECRET),
        transcription_secret: read.optional_secret(&TRANSCRIPTION_SECRET),
        request_timeout: Duration::from_millis(read.integer(&REQUEST_TIMEOUT_MS)),
        webhook_max_body_bytes: body_limit(&mut read),
        allow_unsigned_webhooks: read.boolean(&ALLOW_UNSIGNED_WEBHOOKS),
    };
    if config.allow_unsigned_webhooks && context.environment == Environment::Production {
        read.problem(
            &ALLOW_UNSIGNED_WEBHOOKS,
            "unsigned webhooks are refused in production: set webhook_secret (and transcription_secret) instead",
        );
    }
    read.finish(config)
}

/// `webhook_max_body_bytes` as a size this platform can hold.
fn body_limit(read: &mut Reader<'_>) -> usize {
    let bytes = read.integer(&WEBHOOK_MAX_BODY_BYTES);
    usize::try_from(bytes).unwrap_or_else(|_| {
        read.problem(&WEBHOOK_MAX_BODY_BYTES, "is too large for this platform");
        0
    })
}

impl Config {
    /// The key that lets an endpoint without its secret accept unsigned webhooks, if it does.
    pub(crate) fn accepts_unsigned_webhooks(&self) -> Option<String> {
        let open = self.webhook_secret.is_none() || self.transcription_secret.is_none();
        (self.allow_unsigned_webhooks && open).then(|| ALLOW_UNSIGNED_WEBHOOKS.name().to_owned())
    }

    /// Warnings worth logging at startup, e.g. that this instance accepts unsigned webhooks.
    pub(crate) fn startup_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.allow_unsigned_webhooks && self.webhook_secret.is_none() {
            warnings.push(
                "allow_unsigned_webhooks is on and no webhook_secret is set: anyone who can reach \
                 the post-call webhook URL can change call records"
                    .to_owned(),
            );
        }
        if self.allow_unsigned_webhooks && self.transcription_secret.is_none() {
            warnings.push(
                "allow_unsigned_webhooks is on and no transcription_secret is set: the live \
                 transcription webhook accepts unauthenticated turns"
                    .to_owned(),
            );
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(environment: Environment) -> ProviderContext {
        ProviderContext {
            name: "eleven".into(),
            environment,
            config_dir: None,
        }
    }

    fn minimal() -> Value {
        json!({"api_key": "xi-key", "agent_id": "agent_1"})
    }

    fn problems(config: Value, environment: Environment) -> Vec<ConfigProblem> {
        validate(&context(environment), &config).err().unwrap()
    }

    #[test]
    fn minimal_config_takes_the_defaults() {
        let config = validate(&context(Environment::Production), &minimal()).unwrap();
        assert_eq!(config.base_url, "https://api.elevenlabs.io");
        assert_eq!(config.telephony, Telephony::Twilio);
        assert_eq!(config.request_timeout, Duration::from_millis(10_000));
        assert_eq!(config.webhook_max_body_bytes, 52_428_800);
        assert!(!config.allow_unsigned_webhooks);
        assert_eq!(config.agent_phone_number_id, None);
        assert!(config.webhook_secret.is_none());
    }

    #[test]
    fn full_config_is_read() {
        let config = validate(
            &context(Environment::Development),
            &json!({
                "api_key": "xi-key",
                "base_url": "https://api.eu.residency.elevenlabs.io/",
                "agent_id": "agent_1",
                "agent_phone_number_id": "phnum_1",
                "telephony": "sip_trunk",
                "webhook_secret": "wsec_1",
                "transcription_secret": "tsec_1",
                "request_timeout_ms": 2500,
                "webhook_max_body_bytes": 1024,
                "allow_unsigned_webhooks": true,
            }),
        )
        .unwrap();
        assert_eq!(config.base_url, "https://api.eu.residency.elevenlabs.io");
        assert_eq!(config.telephony, Telephony::SipTrunk);
        assert_eq!(config.agent_phone_number_id.as_deref(), Some("phnum_1"));
        assert_eq!(config.request_timeout, Duration::from_millis(2500));
        assert_eq!(config.webhook_max_body_bytes, 1024);
        assert!(config.allow_unsigned_webhooks);
    }

    #[test]
    fn every_problem_is_reported() {
        let found = problems(
            json!({
                "api_key": "",
                "base_url": "ftp://api.elevenlabs.io",
                "agent_id": "agent_1",
                "telephony": "vonage",
                "request_timeout_ms": 0,
                "webhook_max_body_bytes": -5,
                "allow_unsigned_webhooks": true,
            }),
            Environment::Production,
        );
        let mut keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "allow_unsigned_webhooks",
                "api_key",
                "base_url",
                "request_timeout_ms",
                "telephony",
                "webhook_max_body_bytes",
            ],
            "{found:?}"
        );
        let telephony = found.iter().find(|p| p.key == "telephony").unwrap();
        assert!(
            telephony.message.contains("vonage"),
            "{}",
            telephony.message
        );
        let timeout = found
            .iter()
            .find(|p| p.key == "request_timeout_ms")
            .unwrap();
        assert!(timeout.message.contains("positive"), "{}", timeout.message);
    }

    #[test]
    fn unsigned_webhooks_are_refused_only_in_production() {
        let mut config = minimal();
        config["allow_unsigned_webhooks"] = json!(true);
        let found = problems(config.clone(), Environment::Production);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "allow_unsigned_webhooks");
        assert!(found[0].message.contains("production"));
        assert!(validate(&context(Environment::Staging), &config).is_ok());
        assert!(validate(&context(Environment::Development), &config).is_ok());
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "api.elevenlabs.io",
            "https://",
            "https:///v1",
            "https://api.elevenlabs.io?x=1",
            "https://user:pw@api.elevenlabs.io",
            "https://api elevenlabs.io",
            "https://api.elevenlabs.io:http",
            "https://api_elevenlabs.io",
            "https://[]",
        ] {
            let mut config = minimal();
            config["base_url"] = json!(bad);
            let found = problems(config, Environment::Development);
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert_eq!(found[0].key, "base_url", "{bad}");
        }
        for (bad, message) in [
            (
                "ftp://api.elevenlabs.io",
                "'ftp://api.elevenlabs.io' is not a URL: it must start with https://",
            ),
            (
                "https://user:pw@api.elevenlabs.io",
                "must not contain credentials: use api_key",
            ),
        ] {
            let mut config = minimal();
            config["base_url"] = json!(bad);
            assert_eq!(
                problems(config, Environment::Development)[0].message,
                message
            );
        }
        for good in [
            "http://127.0.0.1:8089",
            "https://api.us.elevenlabs.io",
            "http://[::1]:9000/proxy/",
            "http://localhost",
        ] {
            let mut config = minimal();
            config["base_url"] = json!(good);
            assert!(
                validate(&context(Environment::Development), &config).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn missing_keys_and_wrong_types_are_reported_too() {
        let found = problems(
            json!({"request_timeout_ms": "fast", "allow_unsigned_webhooks": "yes", "colour": 1}),
            Environment::Development,
        );
        let mut keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "agent_id",
                "allow_unsigned_webhooks",
                "api_key",
                "colour",
                "request_timeout_ms"
            ]
        );
        assert_eq!(
            problems(json!([]), Environment::Development)[0].message,
            "expected a table"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let mut config = minimal();
        config["webhook_secret"] = json!("wsec_very_secret");
        let config = validate(&context(Environment::Development), &config).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("xi-key") && !shown.contains("wsec_very_secret"));
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn unsigned_webhooks_produce_startup_warnings() {
        let warnings = |config: &Value| {
            validate(&context(Environment::Development), config)
                .unwrap()
                .startup_warnings()
        };
        assert!(warnings(&minimal()).is_empty());
        let mut config = minimal();
        config["allow_unsigned_webhooks"] = json!(true);
        assert_eq!(warnings(&config).len(), 2);
        config["webhook_secret"] = json!("wsec");
        config["transcription_secret"] = json!("tsec");
        assert!(warnings(&config).is_empty());
    }

    #[test]
    fn an_endpoint_left_open_says_it_accepts_unsigned_webhooks() {
        let accepts = |config: &Value| {
            validate(&context(Environment::Development), config)
                .unwrap()
                .accepts_unsigned_webhooks()
        };
        let mut config = minimal();
        assert_eq!(accepts(&config), None);
        config["allow_unsigned_webhooks"] = json!(true);
        assert_eq!(accepts(&config).as_deref(), Some("allow_unsigned_webhooks"));
        config["webhook_secret"] = json!("wsec");
        assert!(
            accepts(&config).is_some(),
            "the transcription endpoint is open"
        );
        config["transcription_secret"] = json!("tsec");
        assert_eq!(accepts(&config), None);
    }
}
