//! The `vapi` config table: its keys, their defaults and every check made on them.

use std::time::Duration;

use plugin_api::config::{Key, Schema, Secret, Strings, UrlRule};
use plugin_api::{ConfigProblem, Environment, ProviderContext};
use serde_json::Value;

/// VAPI's public API host, used when `base_url` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.vapi.ai";
/// How long the gateway waits for VAPI on each request when `request_timeout_ms` is not set.
pub const DEFAULT_REQUEST_TIMEOUT_MS: i64 = 10_000;
/// The header carrying the shared secret when `webhook_auth = "secret"` and `secret_header` is
/// not set (VAPI's legacy `server.secret` header).
pub const DEFAULT_SECRET_HEADER: &str = "x-vapi-secret";
/// The header carrying the HMAC signature when `signature_header` is not set.
pub const DEFAULT_SIGNATURE_HEADER: &str = "x-signature";
/// The header carrying the signed timestamp when `timestamp_header` is not set.
pub const DEFAULT_TIMESTAMP_HEADER: &str = "x-timestamp";

/// How VAPI proves a server message comes from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebhookAuth {
    /// The secret itself in `secret_header`.
    Secret,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// Hex HMAC-SHA256 of `"{timestamp}.{raw body}"` in `signature_header`, the timestamp in
    /// `timestamp_header`.
    Hmac,
}

impl WebhookAuth {
    /// The `webhook_auth` option read (one of [`WEBHOOK_AUTH`]'s).
    fn from_choice(choice: &str) -> Self {
        match choice {
            "bearer" => WebhookAuth::Bearer,
            "hmac" => WebhookAuth::Hmac,
            _ => WebhookAuth::Secret,
        }
    }
}

/// A validated `vapi` instance config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub api_key: Secret,
    /// Without a trailing slash.
    pub base_url: String,
    pub assistant_id: String,
    pub phone_number_id: Option<String>,
    pub server_url: Option<String>,
    pub webhook_auth: WebhookAuth,
    pub webhook_secret: Option<Secret>,
    pub secret_header: String,
    pub signature_header: String,
    pub timestamp_header: String,
    pub live_transcripts: bool,
    pub request_timeout: Duration,
    pub allow_unsigned_webhooks: bool,
}

const API_KEY: Key = Key::string(
    "api_key",
    "VAPI private API key, sent as Authorization: Bearer",
)
.required()
.secret()
.env("VAPI_API_KEY");
const BASE_URL: Key = Key::url(
    "base_url",
    "API base URL (default https://api.vapi.ai)",
    UrlRule::BASE,
)
.default(DEFAULT_BASE_URL);
const ASSISTANT_ID: Key = Key::string(
    "assistant_id",
    "Default assistant placing calls; a call's agent_id overrides it",
)
.required();
const PHONE_NUMBER_ID: Key = Key::string(
    "phone_number_id",
    "Default VAPI phone number id calls are placed from; a call's from_number_id overrides it",
);
/// A server URL may carry a query (a base URL gets paths appended, so it may not).
const SERVER_URL: Key = Key::url(
    "server_url",
    "Public URL of this gateway's /webhooks/<name>, sent as the call's server URL when set",
    UrlRule::EXACT,
);
const WEBHOOK_AUTH: Key = Key::one_of(
    "webhook_auth",
    "How server messages are authenticated: secret, bearer or hmac (default secret)",
    &["secret", "bearer", "hmac"],
);
const WEBHOOK_SECRET: Key = Key::string(
    "webhook_secret",
    "The shared secret, bearer token or HMAC key of VAPI's server credential",
)
.secret()
.env("VAPI_WEBHOOK_SECRET");
const SECRET_HEADER: Key = Key::header_name(
    "secret_header",
    "Header carrying the shared secret for webhook_auth = secret (default x-vapi-secret)",
)
.default(DEFAULT_SECRET_HEADER);
const SIGNATURE_HEADER: Key = Key::header_name(
    "signature_header",
    "Header carrying the hex HMAC-SHA256 for webhook_auth = hmac (default x-signature)",
)
.default(DEFAULT_SIGNATURE_HEADER);
const TIMESTAMP_HEADER: Key = Key::header_name(
    "timestamp_header",
    "Header carrying the signed timestamp for webhook_auth = hmac (default x-timestamp)",
)
.default(DEFAULT_TIMESTAMP_HEADER);
const LIVE_TRANSCRIPTS: Key = Key::boolean(
    "live_transcripts",
    "Ask VAPI for final transcript messages during the call (default true)",
    true,
);
const REQUEST_TIMEOUT_MS: Key = Key::positive(
    "request_timeout_ms",
    "Milliseconds to wait for VAPI on each request (default 10000)",
    DEFAULT_REQUEST_TIMEOUT_MS as u64,
);
const ALLOW_UNSIGNED_WEBHOOKS: Key = Key::boolean(
    "allow_unsigned_webhooks",
    "Accept server messages when no webhook_secret is set (default false; refused in production)",
    false,
);

/// The keys of the `vapi` config table, in the order the manifest lists them. String values
/// are read trimmed.
pub(crate) static SCHEMA: Schema = Schema::new(
    "vapi",
    &[
        API_KEY,
        BASE_URL,
        ASSISTANT_ID,
        PHONE_NUMBER_ID,
        SERVER_URL,
        WEBHOOK_AUTH,
        WEBHOOK_SECRET,
        SECRET_HEADER,
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        LIVE_TRANSCRIPTS,
        REQUEST_TIMEOUT_MS,
        ALLOW_UNSIGNED_WEBHOOKS,
    ],
)
.strings(Strings::Trimmed);

/// Validates an instance's config table, reporting every problem found.
pub(crate) fn validate(
    context: &ProviderContext,
    config: &Value,
) -> Result<Config, Vec<ConfigProblem>> {
    let mut read = SCHEMA.read(config)?;
    let api_key = read.secret(&API_KEY);
    let base_url = read.string(&BASE_URL);
    let assistant_id = read.string(&ASSISTANT_ID);
    let phone_number_id = read.optional_string(&PHONE_NUMBER_ID);
    let server_url = read.optional_string(&SERVER_URL);
    let webhook_auth = WebhookAuth::from_choice(read.choice(&WEBHOOK_AUTH));
    let webhook_secret = read.optional_secret(&WEBHOOK_SECRET);
    let secret_header = read.string(&SECRET_HEADER);
    let signature_header = read.string(&SIGNATURE_HEADER);
    let timestamp_header = read.string(&TIMESTAMP_HEADER);
    let both_read = !read.has_problem(&SIGNATURE_HEADER) && !read.has_problem(&TIMESTAMP_HEADER);
    if both_read && signature_header == timestamp_header {
        read.problem(
            &TIMESTAMP_HEADER,
            "must differ from signature_header: both values are needed",
        );
    }
    let live_transcripts = read.boolean(&LIVE_TRANSCRIPTS);
    let request_timeout = Duration::from_millis(read.integer(&REQUEST_TIMEOUT_MS));
    let allow_unsigned_webhooks = read.boolean(&ALLOW_UNSIGNED_WEBHOOKS);
    if allow_unsigned_webhooks && context.environment == Environment::Production {
        read.problem(
            &ALLOW_UNSIGNED_WEBHOOKS,
            "unsigned webhooks are refused in production: set webhook_secret instead",
        );
    }
    read.finish(Config {
        api_key,
        base_url,
        assistant_id,
        phone_number_id,
        server_url,
        webhook_auth,
        webhook_secret,
        secret_header,
        signature_header,
        timestamp_header,
        live_transcripts,
        request_timeout,
        allow_unsigned_webhooks,
    })
}

impl Config {
    /// The key that lets server messages in unsigned, if this instance does.
    pub(crate) fn accepts_unsigned_webhooks(&self) -> Option<String> {
        (self.allow_unsigned_webhooks && self.webhook_secret.is_none())
            .then(|| ALLOW_UNSIGNED_WEBHOOKS.name().to_owned())
    }

    /// Warnings worth logging at startup.
    pub(crate) fn startup_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        match (&self.webhook_secret, self.allow_unsigned_webhooks) {
            (None, true) => warnings.push(
                "allow_unsigned_webhooks is on and no webhook_secret is set: anyone who can reach \
                 the VAPI webhook URL can change call records"
                    .to_owned(),
            ),
            (None, false) => warnings.push(
                "no webhook_secret is set: every VAPI server message will be refused (401) until \
                 one is configured"
                    .to_owned(),
            ),
            (Some(_), _) => {}
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
            name: "vapi".into(),
            environment,
            config_dir: None,
        }
    }

    fn minimal() -> Value {
        json!({"api_key": "vapi-key", "assistant_id": "asst_1", "webhook_secret": "whsec"})
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
        assert_eq!(config.base_url, "https://api.vapi.ai");
        assert_eq!(config.assistant_id, "asst_1");
        assert_eq!(config.phone_number_id, None);
        assert_eq!(config.server_url, None);
        assert_eq!(config.webhook_auth, WebhookAuth::Secret);
        assert_eq!(config.secret_header, "x-vapi-secret");
        assert_eq!(config.signature_header, "x-signature");
        assert_eq!(config.timestamp_header, "x-timestamp");
        assert!(config.live_transcripts);
        assert_eq!(config.request_timeout, Duration::from_millis(10_000));
        assert!(!config.allow_unsigned_webhooks);
    }

    #[test]
    fn full_config_is_read() {
        let config = validate(
            &context(Environment::Development),
            &json!({
                "api_key": "vapi-key",
                "base_url": "http://127.0.0.1:9000/",
                "assistant_id": "asst_1",
                "phone_number_id": "pn_1",
                "server_url": "https://gw.example.com/webhooks/vapi?tenant=a",
                "webhook_auth": "hmac",
                "webhook_secret": "whsec",
                "secret_header": "X-Custom-Secret",
                "signature_header": "X-Sig",
                "timestamp_header": "X-Ts",
                "live_transcripts": false,
                "request_timeout_ms": 2500,
                "allow_unsigned_webhooks": true,
            }),
        )
        .unwrap();
        assert_eq!(config.base_url, "http://127.0.0.1:9000");
        assert_eq!(config.phone_number_id.as_deref(), Some("pn_1"));
        assert_eq!(
            config.server_url.as_deref(),
            Some("https://gw.example.com/webhooks/vapi?tenant=a")
        );
        assert_eq!(config.webhook_auth, WebhookAuth::Hmac);
        assert_eq!(config.secret_header, "x-custom-secret");
        assert_eq!(config.signature_header, "x-sig");
        assert_eq!(config.timestamp_header, "x-ts");
        assert!(!config.live_transcripts);
        assert_eq!(config.request_timeout, Duration::from_millis(2500));
        assert!(config.allow_unsigned_webhooks);
    }

    #[test]
    fn every_problem_is_reported() {
        let found = problems(
            json!({
                "api_key": "",
                "base_url": "ftp://api.vapi.ai",
                "assistant_id": 7,
                "server_url": "gw.example.com/webhooks/vapi",
                "webhook_auth": "basic",
                "secret_header": "x vapi secret",
                "signature_header": "x-same",
                "timestamp_header": "X-Same",
                "live_transcripts": "yes",
                "request_timeout_ms": 0,
                "allow_unsigned_webhooks": true,
                "colour": "blue",
            }),
            Environment::Production,
        );
        assert_eq!(
            keys(&found),
            [
                "allow_unsigned_webhooks",
                "api_key",
                "assistant_id",
                "base_url",
                "colour",
                "live_transcripts",
                "request_timeout_ms",
                "secret_header",
                "server_url",
                "timestamp_header",
                "webhook_auth",
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
        assert!(message("webhook_auth").contains("basic"));
        assert!(message("request_timeout_ms").contains("positive"));
        assert!(message("api_key").contains("missing"));
        assert_eq!(message("assistant_id"), "expected a string");
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
    fn bad_urls_are_refused() {
        for bad in [
            "api.vapi.ai",
            "https://",
            "https:///call",
            "https://api.vapi.ai?x=1",
            "https://user:pw@api.vapi.ai",
            "https://api vapi.ai",
            "https://api.vapi.ai:http",
            "https://api_vapi.ai",
            "https://[]",
        ] {
            let mut config = minimal();
            config["base_url"] = json!(bad);
            let found = problems(config, Environment::Development);
            assert_eq!(keys(&found), ["base_url"], "{bad}");
        }
        for good in [
            "http://127.0.0.1:8089",
            "https://api.vapi.ai/",
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
        let mut config = minimal();
        config["server_url"] = json!("https://gw.example.com/webhooks/vapi#frag");
        assert_eq!(
            keys(&problems(config, Environment::Development)),
            ["server_url"]
        );
    }

    #[test]
    fn missing_keys_are_reported_and_tables_required() {
        assert_eq!(
            keys(&problems(json!({}), Environment::Development)),
            ["api_key", "assistant_id"]
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
        assert!(
            !shown.contains("vapi-key") && !shown.contains("whsec"),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn startup_warnings_name_missing_secrets() {
        let warnings = |config: &Value| {
            validate(&context(Environment::Development), config)
                .unwrap()
                .startup_warnings()
        };
        assert!(warnings(&minimal()).is_empty());
        let mut config = minimal();
        config["webhook_secret"] = Value::Null;
        let refused = warnings(&config);
        assert_eq!(refused.len(), 1);
        assert!(refused[0].contains("refused"), "{refused:?}");
        config["allow_unsigned_webhooks"] = json!(true);
        let open = warnings(&config);
        assert_eq!(open.len(), 1);
        assert!(open[0].contains("allow_unsigned_webhooks"), "{open:?}");
    }

    #[test]
    fn only_an_open_instance_says_it_accepts_unsigned_webhooks() {
        let accepts = |config: &Value| {
            validate(&context(Environment::Development), config)
                .unwrap()
                .accepts_unsigned_webhooks()
        };
        assert_eq!(accepts(&minimal()), None);
        let mut config = minimal();
        config["webhook_secret"] = Value::Null;
        assert_eq!(accepts(&config), None, "refused, not accepted");
        config["allow_unsigned_webhooks"] = json!(true);
        assert_eq!(accepts(&config).as_deref(), Some("allow_unsigned_webhooks"));
    }
}
