//! The `vapi` config table: its keys, their defaults and every check made on them.

use std::fmt;
use std::time::Duration;

use plugin_api::{ConfigKey, ConfigProblem, ConfigValueKind, Environment, ProviderContext};
use serde_json::{Map, Value};

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
    fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "secret" => Some(WebhookAuth::Secret),
            "bearer" => Some(WebhookAuth::Bearer),
            "hmac" => Some(WebhookAuth::Hmac),
            _ => None,
        }
    }
}

/// A validated `vapi` instance config.
#[derive(Clone)]
pub(crate) struct Config {
    pub api_key: String,
    /// Without a trailing slash.
    pub base_url: String,
    pub assistant_id: String,
    pub phone_number_id: Option<String>,
    pub server_url: Option<String>,
    pub webhook_auth: WebhookAuth,
    pub webhook_secret: Option<String>,
    pub secret_header: String,
    pub signature_header: String,
    pub timestamp_header: String,
    pub live_transcripts: bool,
    pub request_timeout: Duration,
    pub allow_unsigned_webhooks: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { "[redacted]" } else { "[not set]" };
        f.debug_struct("Config")
            .field("api_key", &redacted(!self.api_key.is_empty()))
            .field("base_url", &self.base_url)
            .field("assistant_id", &self.assistant_id)
            .field("phone_number_id", &self.phone_number_id)
            .field("server_url", &self.server_url)
            .field("webhook_auth", &self.webhook_auth)
            .field("webhook_secret", &redacted(self.webhook_secret.is_some()))
            .field("secret_header", &self.secret_header)
            .field("signature_header", &self.signature_header)
            .field("timestamp_header", &self.timestamp_header)
            .field("live_transcripts", &self.live_transcripts)
            .field("request_timeout", &self.request_timeout)
            .field("allow_unsigned_webhooks", &self.allow_unsigned_webhooks)
            .finish()
    }
}

/// The keys of the `vapi` config table, as the manifest lists them.
pub(crate) fn config_keys() -> Vec<ConfigKey> {
    use ConfigValueKind::{Boolean, Integer, String};
    vec![
        ConfigKey::new(
            "api_key",
            String,
            "VAPI private API key, sent as Authorization: Bearer",
        )
        .required()
        .secret()
        .env("VAPI_API_KEY"),
        ConfigKey::new(
            "base_url",
            String,
            "API base URL (default https://api.vapi.ai)",
        ),
        ConfigKey::new(
            "assistant_id",
            String,
            "Default assistant placing calls; a call's agent_id overrides it",
        )
        .required(),
        ConfigKey::new(
            "phone_number_id",
            String,
            "Default VAPI phone number id calls are placed from; a call's from_number_id overrides it",
        ),
        ConfigKey::new(
            "server_url",
            String,
            "Public URL of this gateway's /webhooks/<name>, sent as the call's server URL when set",
        ),
        ConfigKey::new(
            "webhook_auth",
            String,
            "How server messages are authenticated: secret, bearer or hmac (default secret)",
        ),
        ConfigKey::new(
            "webhook_secret",
            String,
            "The shared secret, bearer token or HMAC key of VAPI's server credential",
        )
        .secret()
        .env("VAPI_WEBHOOK_SECRET"),
        ConfigKey::new(
            "secret_header",
            String,
            "Header carrying the shared secret for webhook_auth = secret (default x-vapi-secret)",
        ),
        ConfigKey::new(
            "signature_header",
            String,
            "Header carrying the hex HMAC-SHA256 for webhook_auth = hmac (default x-signature)",
        ),
        ConfigKey::new(
            "timestamp_header",
            String,
            "Header carrying the signed timestamp for webhook_auth = hmac (default x-timestamp)",
        ),
        ConfigKey::new(
            "live_transcripts",
            Boolean,
            "Ask VAPI for final transcript messages during the call (default true)",
        ),
        ConfigKey::new(
            "request_timeout_ms",
            Integer,
            "Milliseconds to wait for VAPI on each request (default 10000)",
        ),
        ConfigKey::new(
            "allow_unsigned_webhooks",
            Boolean,
            "Accept server messages when no webhook_secret is set (default false; refused in production)",
        ),
    ]
}

/// Reads keys out of the config table, collecting every problem instead of stopping at the
/// first.
struct Reader<'a> {
    table: &'a Map<String, Value>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem::new(key, message));
    }

    /// A string value, trimmed; a blank string counts as not set.
    fn string(&mut self, key: &str) -> Option<String> {
        match self.table.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => {
                self.problem(key, "expected a string");
                None
            }
        }
    }

    fn required_string(&mut self, key: &str) -> Option<String> {
        let value = self.string(key);
        if value.is_none() && !self.problems.iter().any(|p| p.key == key) {
            self.problem(key, "missing: required by kind 'vapi'");
        }
        value
    }

    /// A positive integer, or `default` when the key is not set.
    fn positive(&mut self, key: &str, default: i64) -> Option<u64> {
        let value = match self.table.get(key) {
            None | Some(Value::Null) => default,
            Some(value) => match value.as_i64() {
                Some(n) => n,
                None => {
                    self.problem(key, "expected an integer");
                    return None;
                }
            },
        };
        if value <= 0 {
            self.problem(key, format!("must be a positive number, not {value}"));
            return None;
        }
        u64::try_from(value).ok()
    }

    fn boolean(&mut self, key: &str, default: bool) -> bool {
        match self.table.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.problem(key, "expected true or false");
                default
            }
        }
    }

    /// A header name (an HTTP token), lower-cased, or `default`.
    fn header_name(&mut self, key: &str, default: &str) -> Option<String> {
        let name = self.string(key).unwrap_or_else(|| default.to_owned());
        let token = name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        });
        if token {
            Some(name.to_ascii_lowercase())
        } else {
            self.problem(key, format!("'{name}' is not a valid HTTP header name"));
            None
        }
    }
}

/// Checks an `http(s)://host[:port][/path]` URL and returns it without a trailing slash.
/// `query` allows a query string (a server URL may carry one; a base URL gets paths appended).
fn http_url(raw: &str, query: bool) -> Result<String, String> {
    if raw.chars().any(char::is_whitespace) {
        return Err(format!("'{raw}' is not a URL: it contains whitespace"));
    }
    let Some(rest) = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
    else {
        return Err(format!(
            "'{raw}' is not a URL: it must start with https:// or http://"
        ));
    };
    if rest.contains('#') || (!query && rest.contains('?')) {
        return Err(format!(
            "'{raw}' must not have {}",
            if query {
                "a fragment"
            } else {
                "a query or fragment: paths are appended to it"
            }
        ));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("'{raw}' is not a URL: it has no host"));
    }
    if authority.contains('@') {
        return Err("must not contain credentials".to_owned());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !authority.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let bracketed = host.len() > 2 && host.starts_with('[') && host.ends_with(']');
    let host_ok = bracketed
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(format!("'{raw}' is not a URL: bad host or port"));
    }
    Ok(if query {
        raw.to_owned()
    } else {
        raw.trim_end_matches('/').to_owned()
    })
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
            reader.problem(key, "unknown key");
        }
    }

    let api_key = reader.required_string("api_key");
    let base_url = reader
        .string("base_url")
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let base_url = match http_url(&base_url, false) {
        Ok(url) => Some(url),
        Err(message) => {
            reader.problem("base_url", message);
            None
        }
    };
    let assistant_id = reader.required_string("assistant_id");
    let phone_number_id = reader.string("phone_number_id");
    let server_url = match reader.string("server_url") {
        None => Ok(None),
        Some(raw) => match http_url(&raw, true) {
            Ok(url) => Ok(Some(url)),
            Err(message) => {
                reader.problem("server_url", message);
                Err(())
            }
        },
    };
    let webhook_auth = match reader.string("webhook_auth") {
        None => Some(WebhookAuth::Secret),
        Some(raw) => {
            let parsed = WebhookAuth::parse(&raw);
            if parsed.is_none() {
                reader.problem(
                    "webhook_auth",
                    format!("must be 'secret', 'bearer' or 'hmac', not '{raw}'"),
                );
            }
            parsed
        }
    };
    let webhook_secret = reader.string("webhook_secret");
    let secret_header = reader.header_name("secret_header", DEFAULT_SECRET_HEADER);
    let signature_header = reader.header_name("signature_header", DEFAULT_SIGNATURE_HEADER);
    let timestamp_header = reader.header_name("timestamp_header", DEFAULT_TIMESTAMP_HEADER);
    if let (Some(signature), Some(timestamp)) = (&signature_header, &timestamp_header) {
        if signature == timestamp {
            reader.problem(
                "timestamp_header",
                "must differ from signature_header: both values are needed",
            );
        }
    }
    let live_transcripts = reader.boolean("live_transcripts", true);
    let request_timeout_ms = reader.positive("request_timeout_ms", DEFAULT_REQUEST_TIMEOUT_MS);
    let allow_unsigned_webhooks = reader.boolean("allow_unsigned_webhooks", false);
    if allow_unsigned_webhooks && context.environment == Environment::Production {
        reader.problem(
            "allow_unsigned_webhooks",
            "unsigned webhooks are refused in production: set webhook_secret instead",
        );
    }

    match (
        api_key,
        base_url,
        assistant_id,
        server_url,
        webhook_auth,
        secret_header,
        signature_header,
        timestamp_header,
        request_timeout_ms,
    ) {
        (
            Some(api_key),
            Some(base_url),
            Some(assistant_id),
            Ok(server_url),
            Some(webhook_auth),
            Some(secret_header),
            Some(signature_header),
            Some(timestamp_header),
            Some(timeout_ms),
        ) if reader.problems.is_empty() => Ok(Config {
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
            request_timeout: Duration::from_millis(timeout_ms),
            allow_unsigned_webhooks,
        }),
        _ => Err(reader.problems),
    }
}

impl Config {
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
}
