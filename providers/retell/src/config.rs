//! The `retell` config table: its keys, their defaults and every check made on them.

use std::time::Duration;

use plugin_api::config::{Key, Schema, Secret, Strings, UrlRule};
use plugin_api::{ConfigProblem, Environment, PhoneNumber, ProviderContext};
use serde_json::Value;

/// Retell's public API host, used when `base_url` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.retellai.com";
/// How long the gateway waits for Retell on each request when `request_timeout_ms` is not set.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// The largest webhook body accepted when `webhook_max_body_bytes` is not set: `call_analyzed`
/// carries the whole transcript three times (plain, with word timings, with tool calls).
pub const DEFAULT_WEBHOOK_MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// Retell's bounds of `agent_override.agent.ring_duration_ms`.
pub const RING_DURATION_MS: (u64, u64) = (5_000, 300_000);
/// Retell's bounds of `agent_override.agent.max_call_duration_ms`.
pub const MAX_CALL_DURATION_MS: (u64, u64) = (60_000, 7_200_000);

/// A validated `retell` instance config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Sent as `Authorization: Bearer`; also the key of webhook signatures.
    pub api_key: Secret,
    /// Without a trailing slash.
    pub base_url: String,
    pub agent_id: Option<String>,
    /// E.164.
    pub from_number: Option<String>,
    pub webhook_url: Option<String>,
    pub request_timeout: Duration,
    pub webhook_max_body_bytes: usize,
    pub allow_unsigned_webhooks: bool,
    pub ring_duration_ms: Option<u64>,
    pub max_call_duration_ms: Option<u64>,
}

const API_KEY: Key = Key::string(
    "api_key",
    "Retell API key (the one with the webhook badge), sent as Authorization: Bearer; it also \
     keys the webhook signatures",
)
.required()
.secret()
.env("RETELL_API_KEY");
const BASE_URL: Key = Key::url(
    "base_url",
    "API base URL (default https://api.retellai.com)",
    UrlRule::BASE,
)
.default(DEFAULT_BASE_URL);
const AGENT_ID: Key = Key::string(
    "agent_id",
    "Default agent, sent as override_agent_id; a call's agent_id overrides it (else the \
     number's outbound agent answers)",
);
const FROM_NUMBER: Key = Key::string(
    "from_number",
    "Default Retell number calls are placed from (E.164); a call's from_number_id overrides it",
);
/// A webhook URL may carry a query (a base URL gets paths appended, so it may not).
const WEBHOOK_URL: Key = Key::url(
    "webhook_url",
    "Public URL of this gateway's /webhooks/<name>, sent per call as the agent override's \
     webhook_url when set",
    UrlRule::EXACT,
);
const REQUEST_TIMEOUT_MS: Key = Key::positive(
    "request_timeout_ms",
    "Milliseconds to wait for Retell on each request (default 10000)",
    DEFAULT_REQUEST_TIMEOUT_MS,
);
const WEBHOOK_MAX_BODY_BYTES: Key = Key::positive(
    "webhook_max_body_bytes",
    "Largest webhook body accepted, in bytes (default 8388608)",
    DEFAULT_WEBHOOK_MAX_BODY_BYTES,
);
const ALLOW_UNSIGNED_WEBHOOKS: Key = Key::boolean(
    "allow_unsigned_webhooks",
    "Accept webhooks without x-retell-signature (default false; development only, refused in \
     production); a signature that is sent is always checked",
    false,
);
/// Positive here; Retell's bounds ([`RING_DURATION_MS`]) are checked at startup as a warning
/// (the gateway's manifest check cannot express a range, and Retell itself refuses the call).
const RING_DURATION: Key = Key::positive(
    "ring_duration_ms",
    "How long a call rings before it counts as not answered, sent per call when set \
     (Retell takes 5000..300000; its default 30000)",
    30_000,
);
const MAX_CALL_DURATION: Key = Key::positive(
    "max_call_duration_ms",
    "Longest call, sent per call when set (Retell takes 60000..7200000; its default 3600000)",
    3_600_000,
);

/// The keys of the `retell` config table, in the order the manifest lists them. String values
/// are read trimmed.
pub(crate) static SCHEMA: Schema = Schema::new(
    "retell",
    &[
        API_KEY,
        BASE_URL,
        AGENT_ID,
        FROM_NUMBER,
        WEBHOOK_URL,
        REQUEST_TIMEOUT_MS,
        WEBHOOK_MAX_BODY_BYTES,
        ALLOW_UNSIGNED_WEBHOOKS,
        RING_DURATION,
        MAX_CALL_DURATION,
    ],
)
.strings(Strings::Trimmed);

/// Whether `key` is given at all (a `null` counts as not set).
fn given(config: &Value, key: &Key) -> bool {
    config.get(key.name()).is_some_and(|v| !v.is_null())
}

/// Validates an instance's config table, reporting every problem found.
pub(crate) fn validate(
    context: &ProviderContext,
    config: &Value,
) -> Result<Config, Vec<ConfigProblem>> {
    let mut read = SCHEMA.read(config)?;
    let api_key = read.secret(&API_KEY);
    let base_url = read.string(&BASE_URL);
    let agent_id = read.optional_string(&AGENT_ID);
    let from_number = read.optional_string(&FROM_NUMBER);
    if let Some(number) = &from_number {
        if PhoneNumber::parse(number).is_err() {
            read.problem(
                &FROM_NUMBER,
                format!("must be an E.164 number such as +14155550123, not '{number}'"),
            );
        }
    }
    let webhook_url = read.optional_string(&WEBHOOK_URL);
    let request_timeout = Duration::from_millis(read.integer(&REQUEST_TIMEOUT_MS));
    let webhook_max_body_bytes =
        usize::try_from(read.integer(&WEBHOOK_MAX_BODY_BYTES)).unwrap_or(usize::MAX);
    let allow_unsigned_webhooks = read.boolean(&ALLOW_UNSIGNED_WEBHOOKS);
    if allow_unsigned_webhooks && context.environment == Environment::Production {
        read.problem(
            &ALLOW_UNSIGNED_WEBHOOKS,
            "unsigned webhooks are refused in production: Retell signs every webhook with the \
             API key",
        );
    }
    let ring = read.integer(&RING_DURATION);
    let ring_duration_ms = given(config, &RING_DURATION).then_some(ring);
    let max = read.integer(&MAX_CALL_DURATION);
    let max_call_duration_ms = given(config, &MAX_CALL_DURATION).then_some(max);
    read.finish(Config {
        api_key,
        base_url,
        agent_id,
        from_number,
        webhook_url,
        request_timeout,
        webhook_max_body_bytes,
        allow_unsigned_webhooks,
        ring_duration_ms,
        max_call_duration_ms,
    })
}

impl Config {
    /// Warnings worth logging at startup.
    pub(crate) fn startup_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.allow_unsigned_webhooks {
            warnings.push(
                "allow_unsigned_webhooks is on: anyone who can reach the Retell webhook URL can \
                 change call records with an unsigned request"
                    .to_owned(),
            );
        }
        for (key, value, (min, max)) in [
            ("ring_duration_ms", self.ring_duration_ms, RING_DURATION_MS),
            (
                "max_call_duration_ms",
                self.max_call_duration_ms,
                MAX_CALL_DURATION_MS,
            ),
        ] {
            if let Some(value) = value.filter(|v| !(min..=max).contains(v)) {
                warnings.push(format!(
                    "{key} = {value} is outside Retell's {min}..{max}: Retell will refuse every call"
                ));
            }
        }
        if self.from_number.is_none() {
            warnings.push(
                "no from_number is set: every call must name its Retell number in from_number_id"
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
            name: "retell".into(),
            environment,
            config_dir: None,
        }
    }

    fn minimal() -> Value {
        json!({"api_key": "key_test", "from_number": "+14157774444"})
    }

    fn problems(config: Value, environment: Environment) -> Vec<ConfigProblem> {
        validate(&context(environment), &config).err().unwrap()
    }

    fn keys(problems: &[ConfigProblem]) -> Vec<&str> {
        let mut keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn minimal_config_takes_the_defaults() {
        let config = validate(&context(Environment::Production), &minimal()).unwrap();
        assert_eq!(config.base_url, "https://api.retellai.com");
        assert_eq!(config.agent_id, None);
        assert_eq!(config.from_number.as_deref(), Some("+14157774444"));
        assert_eq!(config.webhook_url, None);
        assert_eq!(config.request_timeout, Duration::from_millis(10_000));
        assert_eq!(config.webhook_max_body_bytes, 8 * 1024 * 1024);
        assert!(!config.allow_unsigned_webhooks);
        assert_eq!(config.ring_duration_ms, None);
        assert_eq!(config.max_call_duration_ms, None);
    }

    #[test]
    fn full_config_is_read() {
        let config = validate(
            &context(Environment::Development),
            &json!({
                "api_key": " key_test ",
                "base_url": "http://127.0.0.1:9000/",
                "agent_id": "agent_123",
                "from_number": "+14157774444",
                "webhook_url": "https://gw.example.com/webhooks/retell?tenant=a",
                "request_timeout_ms": 2500,
                "webhook_max_body_bytes": 4096,
                "allow_unsigned_webhooks": true,
                "ring_duration_ms": 45000,
                "max_call_duration_ms": 600000,
            }),
        )
        .unwrap();
        assert_eq!(config.api_key.expose(), "key_test");
        assert_eq!(config.base_url, "http://127.0.0.1:9000");
        assert_eq!(config.agent_id.as_deref(), Some("agent_123"));
        assert_eq!(
            config.webhook_url.as_deref(),
            Some("https://gw.example.com/webhooks/retell?tenant=a")
        );
        assert_eq!(config.request_timeout, Duration::from_millis(2500));
        assert_eq!(config.webhook_max_body_bytes, 4096);
        assert!(config.allow_unsigned_webhooks);
        assert_eq!(config.ring_duration_ms, Some(45_000));
        assert_eq!(config.max_call_duration_ms, Some(600_000));
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let found = problems(
            json!({
                "api_key": "",
                "base_url": "ftp://api.retellai.com",
                "agent_id": 7,
                "from_number": "4157774444",
                "webhook_url": "gw.example.com/webhooks/retell",
                "request_timeout_ms": 0,
                "webhook_max_body_bytes": -1,
                "allow_unsigned_webhooks": true,
                "ring_duration_ms": 0,
                "max_call_duration_ms": "long",
                "colour": "blue",
            }),
            Environment::Production,
        );
        assert_eq!(
            keys(&found),
            [
                "agent_id",
                "allow_unsigned_webhooks",
                "api_key",
                "base_url",
                "colour",
                "from_number",
                "max_call_duration_ms",
                "request_timeout_ms",
                "ring_duration_ms",
                "webhook_max_body_bytes",
                "webhook_url",
            ],
            "{found:?}"
        );
        let message = |key: &str| {
            found
                .iter()
                .find(|p| p.key == key)
                .map(|p| p.message.clone())
                .unwrap()
        };
        assert!(message("api_key").contains("missing"));
        assert!(message("from_number").contains("E.164"));
        assert_eq!(
            message("ring_duration_ms"),
            "must be a positive number, not 0"
        );
        assert_eq!(message("max_call_duration_ms"), "expected an integer");
        assert!(message("allow_unsigned_webhooks").contains("production"));
    }

    #[test]
    fn unsigned_webhooks_are_refused_only_in_production() {
        let mut config = minimal();
        config["allow_unsigned_webhooks"] = json!(true);
        let found = problems(config.clone(), Environment::Production);
        assert_eq!(keys(&found), ["allow_unsigned_webhooks"]);
        assert!(validate(&context(Environment::Staging), &config).is_ok());
        assert!(validate(&context(Environment::Development), &config).is_ok());
    }

    #[test]
    fn missing_keys_are_reported_and_tables_required() {
        assert_eq!(
            keys(&problems(json!({}), Environment::Development)),
            ["api_key"]
        );
        assert_eq!(
            problems(json!([]), Environment::Development)[0].message,
            "expected a table"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = validate(&context(Environment::Development), &minimal()).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("key_test"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn startup_warnings() {
        let warnings = |config: &Value| {
            validate(&context(Environment::Development), config)
                .unwrap()
                .startup_warnings()
        };
        assert!(warnings(&minimal()).is_empty());
        let open = warnings(&json!({"api_key": "k", "allow_unsigned_webhooks": true}));
        assert_eq!(open.len(), 2, "{open:?}");
        let out_of_range = warnings(&json!({"api_key": "k", "from_number": "+14157774444",
            "ring_duration_ms": 1000, "max_call_duration_ms": 600000}));
        assert_eq!(out_of_range.len(), 1, "{out_of_range:?}");
        assert!(
            out_of_range[0].contains("ring_duration_ms = 1000"),
            "{out_of_range:?}"
        );
    }
}
