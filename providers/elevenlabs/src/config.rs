//! The `elevenlabs` config table: its keys, their defaults and every check made on them.

use std::fmt;
use std::time::Duration;

use plugin_api::{ConfigKey, ConfigProblem, ConfigValueKind, Environment, ProviderContext};
use serde_json::{Map, Value};

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
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "twilio" => Some(Telephony::Twilio),
            "sip_trunk" => Some(Telephony::SipTrunk),
            _ => None,
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
#[derive(Clone)]
pub(crate) struct Config {
    pub api_key: String,
    /// Without a trailing slash.
    pub base_url: String,
    pub agent_id: String,
    pub agent_phone_number_id: Option<String>,
    pub telephony: Telephony,
    pub webhook_secret: Option<String>,
    pub transcription_secret: Option<String>,
    pub request_timeout: Duration,
    pub webhook_max_body_bytes: usize,
    pub allow_unsigned_webhooks: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { "[redacted]" } else { "[not set]" };
        f.debug_struct("Config")
            .field("api_key", &redacted(!self.api_key.is_empty()))
            .field("base_url", &self.base_url)
            .field("agent_id", &self.agent_id)
            .field("agent_phone_number_id", &self.agent_phone_number_id)
            .field("telephony", &self.telephony)
            .field("webhook_secret", &redacted(self.webhook_secret.is_some()))
            .field(
                "transcription_secret",
                &redacted(self.transcription_secret.is_some()),
            )
            .field("request_timeout", &self.request_timeout)
            .field("webhook_max_body_bytes", &self.webhook_max_body_bytes)
            .field("allow_unsigned_webhooks", &self.allow_unsigned_webhooks)
            .finish()
    }
}

/// The keys of the `elevenlabs` config table, as the manifest lists them.
pub(crate) fn config_keys() -> Vec<ConfigKey> {
    use ConfigValueKind::{Boolean, Integer, String};
    vec![
        ConfigKey::new("api_key", String, "ElevenLabs API key, sent as xi-api-key")
            .required()
            .secret()
            .env("ELEVENLABS_API_KEY"),
        ConfigKey::new(
            "base_url",
            String,
            "API base URL, e.g. a regional host (default https://api.elevenlabs.io)",
        ),
        ConfigKey::new(
            "agent_id",
            String,
            "Default agent placing calls; a call's agent_id overrides it",
        )
        .required(),
        ConfigKey::new(
            "agent_phone_number_id",
            String,
            "Default ElevenLabs phone number id calls are placed from; a call's from_number_id overrides it",
        ),
        ConfigKey::new(
            "telephony",
            String,
            "How that number is connected: twilio or sip_trunk (default twilio)",
        ),
        ConfigKey::new(
            "webhook_secret",
            String,
            "HMAC secret of the post-call webhook (ElevenLabs-Signature header)",
        )
        .secret()
        .env("ELEVENLABS_WEBHOOK_SECRET"),
        ConfigKey::new(
            "transcription_secret",
            String,
            "Shared secret the live-transcription tool sends in the x-transcription-secret header",
        )
        .secret()
        .env("ELEVENLABS_TRANSCRIPTION_SECRET"),
        ConfigKey::new(
            "request_timeout_ms",
            Integer,
            "Milliseconds to wait for ElevenLabs on each request (default 10000)",
        ),
        ConfigKey::new(
            "webhook_max_body_bytes",
            Integer,
            "Largest webhook body accepted; post_call_audio carries the whole recording (default 52428800)",
        ),
        ConfigKey::new(
            "allow_unsigned_webhooks",
            Boolean,
            "Accept webhooks when no secret is configured (default false; refused in production)",
        ),
    ]
}

/// Reads the keys of one table, collecting every problem instead of stopping at the first.
struct Reader<'a> {
    table: &'a Map<String, Value>,
    problems: Vec<ConfigProblem>,
}

impl<'a> Reader<'a> {
    /// A string value; an empty or blank string counts as not set.
    fn string(&mut self, key: &str) -> Option<String> {
        match self.table.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problems
                    .push(ConfigProblem::new(key, "expected a string"));
                None
            }
        }
    }

    fn required_string(&mut self, key: &str) -> Option<String> {
        let value = self.string(key);
        if value.is_none() && !self.problems.iter().any(|p| p.key == key) {
            self.problems.push(ConfigProblem::new(
                key,
                "missing: required by kind 'elevenlabs'",
            ));
        }
        value
    }

    /// A positive integer, or `default` when the key is not set.
    fn positive(&mut self, key: &str, default: i64) -> Option<u64> {
        let value = match self.table.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(n) => n,
                None => {
                    self.problems
                        .push(ConfigProblem::new(key, "expected an integer"));
                    return None;
                }
            },
            Some(_) => {
                self.problems
                    .push(ConfigProblem::new(key, "expected an integer"));
                return None;
            }
        };
        if value <= 0 {
            self.problems.push(ConfigProblem::new(
                key,
                format!("must be a positive number, not {value}"),
            ));
            return None;
        }
        u64::try_from(value).ok()
    }

    fn boolean(&mut self, key: &str) -> bool {
        match self.table.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.problems
                    .push(ConfigProblem::new(key, "expected true or false"));
                false
            }
        }
    }
}

/// Checks `base_url` and returns it without a trailing slash.
fn base_url(raw: &str) -> Result<String, String> {
    if raw.chars().any(char::is_whitespace) {
        return Err(format!("'{raw}' is not a URL: it contains whitespace"));
    }
    let Some(rest) = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
    else {
        return Err(format!("'{raw}' is not a URL: it must start with https://"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("'{raw}' is not a URL: it has no host"));
    }
    if authority.contains('@') {
        return Err("must not contain credentials: use api_key".to_owned());
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "'{raw}' must not have a query or fragment: paths are appended to it"
        ));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !authority.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok = !host.is_empty()
        && (host.starts_with('[') && host.ends_with(']')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(format!("'{raw}' is not a URL: bad host or port"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// Validates an instance's config table, reporting every problem found.
pub(crate) fn validate(
    context: &ProviderContext,
    config: &Value,
) -> Result<Config, Vec<ConfigProblem>> {
    let Some(table) = config.as_object() else {
        return Err(vec![ConfigProblem::new("", "expected a table")]);
    };
    let mut reader = Reader {
        table,
        problems: Vec::new(),
    };
    let known = config_keys();
    for key in table.keys() {
        if !known.iter().any(|k| &k.name == key) {
            reader.problems.push(ConfigProblem::new(key, "unknown key"));
        }
    }

    let api_key = reader.required_string("api_key");
    let base_url = reader
        .string("base_url")
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let base_url = match self::base_url(&base_url) {
        Ok(url) => Some(url),
        Err(message) => {
            reader
                .problems
                .push(ConfigProblem::new("base_url", message));
            None
        }
    };
    let agent_id = reader.required_string("agent_id");
    let agent_phone_number_id = reader.string("agent_phone_number_id");
    let telephony = match reader.string("telephony") {
        None => Some(Telephony::Twilio),
        Some(raw) => {
            let parsed = Telephony::parse(&raw);
            if parsed.is_none() {
                reader.problems.push(ConfigProblem::new(
                    "telephony",
                    format!("must be 'twilio' or 'sip_trunk', not '{raw}'"),
                ));
            }
            parsed
        }
    };
    let webhook_secret = reader.string("webhook_secret");
    let transcription_secret = reader.string("transcription_secret");
    let request_timeout_ms = reader.positive("request_timeout_ms", DEFAULT_REQUEST_TIMEOUT_MS);
    let webhook_max_body_bytes =
        reader.positive("webhook_max_body_bytes", DEFAULT_WEBHOOK_MAX_BODY_BYTES);
    let webhook_max_body_bytes = match webhook_max_body_bytes.map(usize::try_from) {
        Some(Ok(bytes)) => Some(bytes),
        Some(Err(_)) => {
            reader.problems.push(ConfigProblem::new(
                "webhook_max_body_bytes",
                "is too large for this platform",
            ));
            None
        }
        None => None,
    };
    let allow_unsigned_webhooks = reader.boolean("allow_unsigned_webhooks");
    if allow_unsigned_webhooks && context.environment == Environment::Production {
        reader.problems.push(ConfigProblem::new(
            "allow_unsigned_webhooks",
            "unsigned webhooks are refused in production: set webhook_secret (and transcription_secret) instead",
        ));
    }

    match (
        api_key,
        base_url,
        agent_id,
        telephony,
        request_timeout_ms,
        webhook_max_body_bytes,
    ) {
        (
            Some(api_key),
            Some(base_url),
            Some(agent_id),
            Some(telephony),
            Some(timeout_ms),
            Some(webhook_max_body_bytes),
        ) if reader.problems.is_empty() => Ok(Config {
            api_key,
            base_url,
            agent_id,
            agent_phone_number_id,
            telephony,
            webhook_secret,
            transcription_secret,
            request_timeout: Duration::from_millis(timeout_ms),
            webhook_max_body_bytes,
            allow_unsigned_webhooks,
        }),
        _ => Err(reader.problems),
    }
}

impl Config {
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
        assert_eq!(config.webhook_secret, None);
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
        ] {
            let mut config = minimal();
            config["base_url"] = json!(bad);
            let found = problems(config, Environment::Development);
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert_eq!(found[0].key, "base_url", "{bad}");
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
}
